"""Accessibility by the two-step floating catchment area method (2SFCA, Luo & Wang 2003).

Step 1: each station's ratio is its capacity over the demand weight within its
catchment. Step 2: each demand point's accessibility is the sum of the ratios of the
stations within its catchment. A district's score is the demand-weighted mean over its
points, so a district whose workers share a few crowded stations scores low even when
some station stands inside it. Distances are plane metres (see :mod:`geo.coverage`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geo.siting import within


def two_step_fca(
    stations: ArrayLike,
    demand: ArrayLike,
    weights: ArrayLike,
    catchment_m: float,
    capacity: ArrayLike | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(ratio per station, accessibility per demand point); capacity defaults to 1 each.

    A station with no demand in reach has ratio 0: it serves nobody counted here.
    """
    w = np.asarray(weights, dtype=float)
    n_stations = len(np.asarray(stations).reshape(-1, 2))
    cap = np.ones(n_stations) if capacity is None else np.asarray(capacity, dtype=float)
    reach = within(stations, demand, catchment_m).astype(float)
    served = reach @ w
    ratio = np.divide(cap, served, out=np.zeros(n_stations), where=served > 0)
    return ratio, reach.T @ ratio
