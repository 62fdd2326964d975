"""Siting suggestions: where N new stations would newly cover the most outdoor workers.

Every existing station stays (those that count: active, with the amenities, open at
``at`` when given); the demand they already cover is not counted again. Candidates are
the planner's own sites, or else a grid over the area kept where it reaches uncovered
demand (:func:`geo.siting.candidate_grid`). The choice is greedy; see :mod:`geo.siting`
for why that is close to optimal and how it is checked against the exact optimum.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from geo import covering, siting
from stations.coverage import Area, Layer, check_radius, is_number, load
from stations.errors import InvalidParameter

MAX_COUNT = 1000
MAX_CANDIDATES = 100_000
# Candidate-to-worker pairs within the radius: ~200 MB at most. Shanxi's own grid at 1 km
# is 177,000 pairs.
MAX_PAIRS = 20_000_000
METHODS = ("auto", "exact", "greedy")
MIN_TARGET = 0.001  # a share of demand: 0.1 % up to 1 (everyone)
# "auto" solves exactly up to this many candidate-worker pairs and greedily with a bound
# beyond; the demo's Shanxi at 1 km (89,000 candidates) solves exactly in about 2 s
EXACT_PAIRS = 2_000_000
EXACT_TIME_LIMIT_S = 60


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


def candidates_from_geojson(value: Any, param: str = "candidates") -> list[tuple[float, float]]:
    """Lon/lat pairs from a FeatureCollection of Points, with errors naming the feature."""
    is_collection = isinstance(value, dict) and value.get("type") == "FeatureCollection"
    features = value.get("features") if is_collection else None
    if not isinstance(features, list):
        raise InvalidParameter(param, f"{param} must be a GeoJSON FeatureCollection")
    if not 1 <= len(features) <= MAX_CANDIDATES:
        raise InvalidParameter(param, f"{param} must hold 1 to {MAX_CANDIDATES:,} point features")
    out = []
    for i, feature in enumerate(features):
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
        ok = isinstance(geometry, dict) and geometry.get("type") == "Point"
        ok = ok and isinstance(coords, list) and len(coords) in (2, 3)
        ok = ok and all(is_number(c) for c in coords)
        if not ok or not (-180 <= coords[0] <= 180 and -90 <= coords[1] <= 90):
            raise InvalidParameter(
                param, f"{param} feature {i} must be a Point with lon/lat coordinates"
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
    layer, covered, sites = _setting(conn, area, radius_m, at, amenities, candidates, cell_m)
    cover = _cover(sites, layer, radius_m, given=candidates is not None)
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


def _setting(
    conn: psycopg.Connection,
    area: Area,
    radius_m: float,
    at: dt.datetime | None,
    amenities: Sequence[str],
    candidates: Sequence[tuple[float, float]] | None,
    cell_m: float | None,
    *,
    workers_too: bool = False,
) -> tuple[Layer, np.ndarray, np.ndarray]:
    """The layer, which workers its counted stations cover, and the candidate sites.

    Without the planner's own candidates: the grid, and with ``workers_too`` the uncovered
    workers' own points as well (a station there covers them, so every target is met).
    """
    layer = load(conn, area, reach_m=radius_m, amenities=amenities)
    existing = layer.stations_xy[layer.open_at(at)]
    covered = siting.covered_by(existing, layer.demand_xy, radius_m)
    if candidates is not None:
        lon, lat = [c[0] for c in candidates], [c[1] for c in candidates]
        return layer, covered, layer.plane.points(lon, lat)
    cell = cell_m or radius_m / 4
    sites = siting.candidate_grid(layer.area_plane, layer.demand_xy, covered, radius_m, cell)
    if workers_too:
        sites = np.concatenate([sites, layer.demand_xy[~covered & (layer.weights > 0)]])
    return layer, covered, sites.reshape(-1, 2)


def _cover(sites: np.ndarray, layer: Layer, radius_m: float, *, given: bool) -> Any:
    """Which candidates reach which demand points, refused past :data:`MAX_PAIRS`."""
    try:
        return siting.within(sites, layer.demand_xy, radius_m, max_pairs=MAX_PAIRS)
    except siting.TooManyPairs as exc:
        raise InvalidParameter(
            "candidates" if given else "radius_m",
            f"the candidates reach too many workers at once ({exc}); use a smaller radius, "
            "a smaller area or fewer candidates",
            zh=f"候选点覆盖的人员点对过多（{exc}）；请减小半径、缩小区域或减少候选点",
        ) from None


@dataclass(frozen=True)
class FewestSites:
    """The fewest new sites meeting a demand target, and how sure that count is."""

    layer: Layer
    radius_m: float
    target: float
    sites_xy: np.ndarray  # plane coordinates, most newly covered demand first
    answer: covering.Fewest
    candidates: int
    demand_total: float
    demand_covered_before: float


def fewest(
    conn: psycopg.Connection,
    area: Area,
    *,
    target: float = 1.0,
    radius_m: float = 1000,
    at: dt.datetime | None = None,
    amenities: Sequence[str] = (),
    candidates: Sequence[tuple[float, float]] | None = None,
    method: str = "auto",
    time_limit_s: float = EXACT_TIME_LIMIT_S,
) -> FewestSites:
    """The fewest new sites so that ``target`` of the area's demand is within reach.

    Every existing station that counts stays. Without candidates of the planner's own,
    the grid of :func:`suggest` is used together with the uncovered demand points
    themselves, so that full coverage is always within reach of some choice.
    """
    radius_m = check_radius(radius_m)
    ok = isinstance(target, int | float) and not isinstance(target, bool)
    if not ok or not MIN_TARGET <= target <= 1:
        raise InvalidParameter(
            "target",
            f"target must be a share of demand from {MIN_TARGET:g} to 1 (0.95 for 95 %)",
            zh=f"target 须为 {MIN_TARGET:g} 到 1 之间的需求占比（95% 写作 0.95）",
        )
    if method not in METHODS:
        raise InvalidParameter("method", f"method must be one of {', '.join(METHODS)}")
    layer, covered, sites = _setting(
        conn, area, radius_m, at, amenities, candidates, None, workers_too=True
    )
    cover = _cover(sites, layer, radius_m, given=candidates is not None)
    total = float(layer.weights.sum())
    before = float(layer.weights[covered].sum())
    needed = target * total - before
    if method == "exact" and cover.nnz > EXACT_PAIRS:
        raise InvalidParameter(
            "method",
            f"{cover.nnz:,} candidate-worker pairs is more than the exact solver takes "
            f"({EXACT_PAIRS:,}); use method auto or greedy, or a smaller area",
            zh=f"候选点与需求点的配对有 {cover.nnz:,} 个，超过精确求解的上限 {EXACT_PAIRS:,}；"
            "请改用 auto 或 greedy，或缩小区域",
        )
    exact = cover.nnz <= EXACT_PAIRS and method != "greedy"
    try:
        answer = None
        if exact:
            try:
                answer = covering.exact(cover, layer.weights, covered, needed, time_limit_s)
            except covering.NoAnswer:  # out of time with nothing in hand: greedy always has
                answer = None
        if answer is None:
            answer = covering.greedy(cover, layer.weights, covered, needed)
    except covering.Unreachable as exc:
        share = (before + exc.reachable) / total if total else 1.0
        raise InvalidParameter(
            "target",
            f"the candidates can bring at most {share:.2%} of the demand within reach; "
            "lower the target or give more candidates",
            zh=f"候选点最多只能让 {share:.2%} 的需求在服务半径内；请降低目标或增加候选点",
        ) from None
    return FewestSites(
        layer=layer,
        radius_m=radius_m,
        target=float(target),
        sites_xy=sites[answer.sites].reshape(-1, 2),
        answer=answer,
        candidates=len(sites),
        demand_total=total,
        demand_covered_before=before,
    )


def fewest_payload(result: FewestSites) -> dict[str, Any]:
    """The fewest-sites answer as the API and ``stations fewest`` give it."""
    answer = result.answer
    body = payload(
        Suggestion(
            layer=result.layer,
            radius_m=result.radius_m,
            sites_xy=result.sites_xy,
            gains=answer.gains,
            candidates=result.candidates,
            demand_total=result.demand_total,
            demand_covered_before=result.demand_covered_before,
        ),
        len(answer.sites),
    )
    del body["requested"]
    return {
        **body,
        "target": result.target,
        "method": answer.method,
        "sites_count": len(answer.sites),
        "lower_bound": answer.lower_bound,
        "proven_optimal": answer.proven,
        "solver_seconds": round(answer.seconds, 3),
        "demand_coverage_ratio_before": _ratio(result.demand_covered_before, result.demand_total),
        "demand_coverage_ratio_after": _ratio(body["demand_covered_after"], result.demand_total),
    }


def _ratio(part: float, whole: float) -> float:
    return round(part / whole, 5) if whole else 1.0
