"""Plans side by side, with "no new station" first: what each buys and what it costs.

For one district, service radius and day, each plan (and the baseline of the stations
there now) is measured the same way:

- demand coverage at the start of each hour (24 values): the existing stations open
  then, plus the plan's sites, which are taken as open at every hour (a proposed station
  has no hours yet; a 24-hour station is what a night gap asks for);
- area and demand coverage with every existing station and the sites;
- the 2SFCA score of each county before (baseline) and after, and an equity figure: the
  Gini coefficient of the county scores, each county weighted by its demand (0: every
  worker's county equally served; 1: all access in one county);
- the cost: the number of sites times the programme's amount per station;
- for each proposed site: its county, the nearest existing station and the straight-line
  distance to it (an address hint), and the demand it newly covers, in plan order, all
  day and at the hour the stations there now serve least (``worst_hour``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from geo import siting
from geo.coverage import coverage_ratios
from stations import access, coverage
from stations.plans import Plan
from stations.subsidy import programmes

MAX_PLANS = 3
DEFAULT_PROGRAMME = "shanxi-construction"


def gini(values: ArrayLike, weights: ArrayLike) -> float:
    """The weighted Gini coefficient: mean absolute difference over twice the mean.

    G = Σᵢ Σⱼ wᵢ wⱼ |xᵢ − xⱼ| / (2 W² μ), W = Σ w, μ = Σ w x / W; 0 when all are equal.
    """
    x = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    total = w.sum()
    if not len(x) or total <= 0:
        return 0.0
    mean = float((w * x).sum() / total)
    if mean <= 0:
        return 0.0
    order = np.argsort(x)
    x, w = x[order], w[order]
    # Σᵢ Σⱼ wᵢ wⱼ |xᵢ − xⱼ| = 2 Σᵢ wᵢ xᵢ (W_<i − W_>i) over the sorted values
    below = np.cumsum(w) - w
    above = total - below - w
    pairs = 2 * float((w * x * (below - above)).sum())
    return pairs / (2 * total * total * mean)


def compare(
    conn: psycopg.Connection,
    plans: Sequence[Plan],
    *,
    district: str,
    radius_m: float,
    day: dt.date,
    programme_id: str = DEFAULT_PROGRAMME,
) -> dict[str, Any]:
    """Baseline and ``plans`` measured alike (see the module doc), as the API answers."""
    radius_m = coverage.check_radius(radius_m)
    area = coverage.resolve_area(conn, {"district": district})
    programme = programmes.load(programme_id).programme
    layer = coverage.load(conn, area, reach_m=radius_m)
    by_hour = layer.open_by_hour(day)
    columns = [("不新建 no new station", None, [])] + [(p.name, p, p.sites) for p in plans]
    measured = []  # (sites on the plane, hourly demand coverage, 2SFCA by county) per column
    for _name, _plan, sites in columns:
        xy = layer.plane.points([s[0] for s in sites], [s[1] for s in sites]).reshape(-1, 2)
        hourly = [
            round(h.demand_coverage_ratio, 5)
            for h in coverage.hours_of(layer, by_hour, radius_m, xy)
        ]
        after = access.by_district(conn, area, catchment_m=radius_m, new_sites=sites)
        measured.append((xy, hourly, after))
    _, baseline, before = measured[0]  # no new station: the stations there now
    worst = int(np.argmin(baseline))  # the hour they serve least
    existing_covered = siting.covered_by(layer.stations_xy, layer.demand_xy, radius_m)
    at_worst = siting.covered_by(layer.stations_xy[by_hour[:, worst]], layer.demand_xy, radius_m)
    out = []
    for (name, plan, sites), (xy, hourly, after) in zip(columns, measured, strict=True):
        all_day = coverage_ratios(
            layer.area_plane,
            np.concatenate([layer.stations_xy, xy]),
            radius_m,
            layer.demand_xy,
            layer.weights,
        )
        scored = [d for d in after if d.score is not None]
        out.append(
            {
                "id": plan.id if plan else None,
                "name": name,
                "version": plan.version if plan else None,
                "sites_count": len(sites),
                "cost_cny": round(len(sites) * programme.amount_cny, 2),
                "hourly_demand_coverage": hourly,
                "demand_coverage_ratio": round(all_day.demand_coverage_ratio, 5),
                "area_coverage_ratio": round(all_day.coverage_ratio, 5),
                "gini": round(gini([d.score for d in scored], [d.demand for d in scored]), 4),
                "counties": [
                    {
                        "code": a.code,
                        "name": a.name,
                        "score_before": _round(b.score),
                        "score_after": _round(a.score),
                    }
                    for b, a in zip(before, after, strict=True)
                ],
                "sites": _sites(conn, layer, (existing_covered, at_worst), xy, sites, radius_m),
            }
        )
    return {
        "area": area.label,
        "date": day.isoformat(),
        "radius_m": radius_m,
        "programme": {
            "id": programme.id,
            "name": programme.name,
            "amount_cny": programme.amount_cny,
            "accrual": programme.accrual,
        },
        "assumption": "proposed sites are counted as open at every hour",
        "worst_hour": worst,
        "plans": out,
    }


def _round(score: float | None) -> float | None:
    return round(score, 4) if score is not None else None


def _sites(
    conn: psycopg.Connection,
    layer: coverage.Layer,
    covered: tuple[np.ndarray, np.ndarray],
    xy: np.ndarray,
    lonlat: Sequence[tuple[float, float]],
    radius_m: float,
) -> list[dict[str, Any]]:
    """Each site's county, nearest existing station and the demand it newly covers.

    Newly covered twice, in plan order: beyond every existing station (all day), and
    beyond those open at the baseline's worst hour, where a night plan earns its keep.
    """
    if not len(lonlat):
        return []
    counties = dict(
        conn.execute(
            """SELECT i, d.code || ' ' || d.name
               FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS p(lon, lat, i)
               JOIN districts d ON d.level = 'county'
                AND ST_Covers(d.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))""",
            [[p[0] for p in lonlat], [p[1] for p in lonlat]],
        ).fetchall()
    )
    tree = cKDTree(layer.stations_xy) if len(layer.stations_xy) else None
    reach = siting.within(xy, layer.demand_xy, radius_m)
    taken, taken_worst = covered[0].copy(), covered[1].copy()
    out = []
    for i, (lon, lat) in enumerate(lonlat):
        row = reach.indices[reach.indptr[i] : reach.indptr[i + 1]]
        new, new_worst = row[~taken[row]], row[~taken_worst[row]]
        taken[new] = True
        taken_worst[new_worst] = True
        nearest = None
        if tree is not None:
            distance, j = tree.query(xy[i])
            nearest = {"name": layer.station_names[j], "distance_m": round(float(distance))}
        code_name = counties.get(i + 1)
        out.append(
            {
                "rank": i + 1,
                "coordinates": [round(lon, 6), round(lat, 6)],
                "county_code": code_name.split(" ", 1)[0] if code_name else None,
                "county_name": code_name.split(" ", 1)[1] if code_name else None,
                "nearest_station": nearest,
                "demand_newly_covered": round(float(layer.weights[new].sum()), 1),
                "demand_newly_covered_at_worst_hour": round(
                    float(layer.weights[new_worst].sum()), 1
                ),
            }
        )
    return out
