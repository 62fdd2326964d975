"""Siting suggestions: where N new stations would newly cover the most outdoor workers.

Every existing station stays (those that count: active, with the amenities, open at
``at`` when given); the demand they already cover is not counted again. Candidates are
the planner's own sites, or else a grid over the area kept where it reaches uncovered
demand (:func:`geo.siting.candidate_grid`). The choice is greedy; see :mod:`geo.siting`
for why that is close to optimal and how it is checked against the exact optimum.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from geo import siting
from stations.coverage import Area, Layer, check_radius, load
from stations.errors import InvalidParameter

MAX_COUNT = 1000
MAX_CANDIDATES = 100_000
# Candidate-to-worker pairs within the radius: ~200 MB at most. Shanxi's own grid at 1 km
# is 177,000 pairs.
MAX_PAIRS = 20_000_000


@dataclass(frozen=True)
class Suggestion:
    """Chosen sites best first, with what they add, over the area's demand."""

    layer: Layer
    radius_m: float
    sites_xy: np.ndarray  # plane coordinates, best first
    gains: list[float]
    candidates: int
    demand_total: float
    demand_covered_before: float


def candidates_from_geojson(value: Any) -> list[tuple[float, float]]:
    """Lon/lat pairs from a FeatureCollection of Points, with errors naming the feature."""
    is_collection = isinstance(value, dict) and value.get("type") == "FeatureCollection"
    features = value.get("features") if is_collection else None
    if not isinstance(features, list):
        raise InvalidParameter("candidates", "candidates must be a GeoJSON FeatureCollection")
    if not 1 <= len(features) <= MAX_CANDIDATES:
        raise InvalidParameter(
            "candidates", f"candidates must hold 1 to {MAX_CANDIDATES:,} point features"
        )
    out = []
    for i, feature in enumerate(features):
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
        ok = isinstance(geometry, dict) and geometry.get("type") == "Point"
        ok = ok and isinstance(coords, list) and len(coords) in (2, 3)
        ok = ok and all(
            isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c)
            for c in coords
        )
        if not ok or not (-180 <= coords[0] <= 180 and -90 <= coords[1] <= 90):
            raise InvalidParameter(
                "candidates", f"candidate feature {i} must be a Point with lon/lat coordinates"
            )
        out.append((float(coords[0]), float(coords[1])))
    return out


def suggest(
    conn: psycopg.Connection,
    area: Area,
    *,
    count: int,
    radius_m: float = 1000,
    at: dt.datetime | None = None,
    amenities: Sequence[str] = (),
    candidates: Sequence[tuple[float, float]] | None = None,
    cell_m: float | None = None,
) -> Suggestion:
    """Up to ``count`` new sites for ``area``, best first (see the module doc)."""
    radius_m = check_radius(radius_m)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise InvalidParameter("count", f"count must be a whole number from 1 to {MAX_COUNT}")
    layer = load(conn, area, reach_m=radius_m, amenities=amenities)
    existing = layer.stations_xy[layer.open_at(at)]
    covered = siting.covered_by(existing, layer.demand_xy, radius_m)
    if candidates is not None:
        sites = layer.plane.points([c[0] for c in candidates], [c[1] for c in candidates])
    else:
        cell = cell_m or radius_m / 4
        sites = siting.candidate_grid(layer.area_plane, layer.demand_xy, covered, radius_m, cell)
    try:
        cover = siting.within(sites, layer.demand_xy, radius_m, max_pairs=MAX_PAIRS)
    except siting.TooManyPairs as exc:
        raise InvalidParameter(
            "candidates" if candidates is not None else "radius_m",
            f"the candidates reach too many workers at once ({exc}); use a smaller radius, "
            "a smaller area or fewer candidates",
        ) from None
    picks = siting.greedy(cover, layer.weights, covered, count)
    return Suggestion(
        layer=layer,
        radius_m=radius_m,
        sites_xy=sites[[p.site for p in picks]].reshape(-1, 2),
        gains=[p.gain for p in picks],
        candidates=len(sites),
        demand_total=float(layer.weights.sum()),
        demand_covered_before=float(layer.weights[covered].sum()),
    )


def payload(result: Suggestion, requested: int) -> dict[str, Any]:
    """The suggestion as the API and ``stations suggest`` give it (DESIGN.md, Payloads)."""
    lon_lat = result.layer.plane.lon_lat(result.sites_xy)
    features = []
    cumulative = result.demand_covered_before
    for rank, gain in enumerate(result.gains, start=1):
        cumulative += gain
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [round(float(v), 6) for v in lon_lat[rank - 1]],
                },
                "properties": {
                    "rank": rank,
                    "demand_newly_covered": round(gain, 1),
                    "cumulative_demand_covered": round(cumulative, 1),
                    "cumulative_demand_coverage_ratio": round(
                        cumulative / result.demand_total if result.demand_total else 1.0, 5
                    ),
                },
            }
        )
    return {
        "area": result.layer.area.label,
        "radius_m": result.radius_m,
        "requested": requested,
        "candidates": result.candidates,
        "demand_total": round(result.demand_total, 1),
        "demand_covered_before": round(result.demand_covered_before, 1),
        "demand_covered_after": round(cumulative, 1),
        "sites": {"type": "FeatureCollection", "features": features},
    }
