"""Accessibility by the two-step floating catchment area method (2SFCA, Luo & Wang 2003).

Step 1: each station's ratio is its capacity over the demand weight within its
catchment. Step 2: each demand point's accessibility is the sum of the ratios of the
stations within its catchment. A district's score is the demand-weighted mean over its
points, so a district whose workers share a few crowded stations scores low even when
some station stands inside it. Distances are plane metres (see :mod:`geo.coverage`).

With ``decay="gaussian"`` (the enhanced 2SFCA, Dai 2010) both steps weight each
station-worker pair by how far apart they are inside the catchment d0:

    G(d) = (exp(-½ (d/d0)²) - exp(-½)) / (1 - exp(-½))   for d ≤ d0, else 0

so a worker at the station counts whole (G(0) = 1), one at half the catchment 0.73, and
one at its edge not at all (G(d0) = 0): a station's nearby workers weigh on it more than
distant ones, and a worker's nearby station counts for more than one at the edge.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geo.siting import near, within

DECAYS = ("none", "gaussian")
_EDGE = math.exp(-0.5)


def two_step_fca(
    stations: ArrayLike,
    demand: ArrayLike,
    weights: ArrayLike,
    catchment_m: float,
    capacity: ArrayLike | None = None,
    decay: str = "none",
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(ratio per station, accessibility per demand point); capacity defaults to 1 each.

    A station with no demand in reach has ratio 0: it serves nobody counted here.
    ``decay``: "none" (every pair in the catchment counts whole) or "gaussian" (above).
    """
    w = np.asarray(weights, dtype=float)
    n_stations = len(np.asarray(stations).reshape(-1, 2))
    cap = np.ones(n_stations) if capacity is None else np.asarray(capacity, dtype=float)
    if decay == "gaussian":
        reach = near(stations, demand, catchment_m, lambda d: gaussian(d, catchment_m))
    elif decay == "none":
        reach = within(stations, demand, catchment_m).astype(float)
    else:
        raise ValueError(f"decay must be one of {', '.join(DECAYS)}, got {decay!r}")
    served = reach @ w
    ratio = np.divide(cap, served, out=np.zeros(n_stations), where=served > 0)
    return ratio, reach.T @ ratio


def gaussian(metres: ArrayLike, catchment_m: float) -> NDArray[np.float64]:
    """The enhanced 2SFCA's weight of a pair ``metres`` apart (see the module doc)."""
    d = np.asarray(metres, dtype=float)
    weight = (np.exp(-0.5 * (d / catchment_m) ** 2) - _EDGE) / (1 - _EDGE)
    return np.where(d <= catchment_m, np.clip(weight, 0.0, 1.0), 0.0)
