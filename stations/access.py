"""Accessibility per district: stations per 1,000 weighted outdoor workers (2SFCA).

The districts are the county-level ones touching the planner's area, each whole. Stations
within the catchment of those districts count (active, with the amenities, open at
``at`` when given), and so does the demand within two catchments, which competes for the
same stations at the edges: a border district is not flattered by ignoring its
neighbours' workers. The method is :func:`geo.access.two_step_fca`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
import shapely

from geo import geojson
from geo.access import DECAYS, two_step_fca
from stations.coverage import Area, check_radius, load
from stations.errors import InvalidParameter

PER_WORKERS = 1000  # the score is stations per this many weighted workers


@dataclass(frozen=True)
class DistrictAccess:
    """One district's 2SFCA score and what it is made of."""

    code: str
    name: str
    geometry: shapely.Geometry
    score: float | None  # stations per 1,000 weighted workers; None: no demand here
    demand: float
    demand_with_access: float  # weight of points with at least one station in reach
    stations: int  # counted stations inside the district


def by_district(
    conn: psycopg.Connection,
    area: Area,
    *,
    catchment_m: float = 1000,
    at: dt.datetime | None = None,
    amenities: Sequence[str] = (),
    decay: str = "none",
    new_sites: Sequence[tuple[float, float]] = (),
) -> list[DistrictAccess]:
    """2SFCA scores of the county-level districts touching ``area``, by code.

    ``decay="gaussian"``: the enhanced 2SFCA (weights in :mod:`geo.access`). ``new_sites``
    (lon/lat) count as stations open at every hour: a plan's proposed stations.
    """
    catchment_m = check_radius(catchment_m, "catchment_m")
    if decay not in DECAYS:
        raise InvalidParameter(
            "decay",
            f"decay must be one of {', '.join(DECAYS)}, got {decay!r}",
            zh=f"距离衰减应为 {'、'.join(DECAYS)} 之一，收到 {decay!r}",
        )
    rows = conn.execute(
        """SELECT code, name, ST_AsBinary(geom) FROM districts
           WHERE level = 'county' AND ST_Intersects(geom, ST_GeomFromWKB(%s, 4326))
             AND NOT ST_Touches(geom, ST_GeomFromWKB(%s, 4326))
           ORDER BY code""",
        [shapely.to_wkb(area.geometry)] * 2,
    ).fetchall()
    if not rows:
        raise InvalidParameter("area", "no county-level district lies in the area")
    geoms = [shapely.from_wkb(r[2]) for r in rows]
    region = Area(shapely.union_all(geoms), area.label)
    layer = load(
        conn, region, reach_m=catchment_m, amenities=amenities, demand_reach_m=2 * catchment_m
    )
    stations = layer.stations_xy[layer.open_at(at)]
    if len(new_sites):
        proposed = layer.plane.points([p[0] for p in new_sites], [p[1] for p in new_sites])
        stations = np.concatenate([stations, proposed])
    _ratio, access = two_step_fca(
        stations, layer.demand_xy, layer.weights, catchment_m, decay=decay
    )
    out = []
    for (code, name, _wkb), geom in zip(rows, geoms, strict=True):
        plane_geom = layer.plane.forward(geom)
        shapely.prepare(plane_geom)
        points = shapely.contains_xy(plane_geom, layer.demand_xy[:, 0], layer.demand_xy[:, 1])
        inside = shapely.contains_xy(plane_geom, stations[:, 0], stations[:, 1])
        w = layer.weights[points]
        demand = float(w.sum())
        score = float((w * access[points]).sum() / demand * PER_WORKERS) if demand else None
        out.append(
            DistrictAccess(
                code=code,
                name=name,
                geometry=geom,
                score=score,
                demand=demand,
                demand_with_access=float(w[access[points] > 0].sum()),
                stations=int(inside.sum()),
            )
        )
    return out


def _properties(d: DistrictAccess) -> dict[str, Any]:
    return {
        "code": d.code,
        "name": d.name,
        "score": round(d.score, 4) if d.score is not None else None,
        "demand": round(d.demand, 1),
        "demand_with_access_ratio": round(d.demand_with_access / d.demand, 5) if d.demand else None,
        "stations": d.stations,
    }


def payload(
    districts: list[DistrictAccess],
    catchment_m: float,
    simplify_deg: float = 0.001,
    decay: str = "none",
) -> dict[str, Any]:
    """A FeatureCollection of districts (outlines simplified ~100 m) for a choropleth."""
    return {
        "type": "FeatureCollection",
        "catchment_m": catchment_m,
        "decay": decay,
        "score_unit": f"stations per {PER_WORKERS:,} weighted outdoor workers",
        "features": [
            {
                "type": "Feature",
                "geometry": geojson.geometry(
                    shapely.set_precision(
                        shapely.simplify(d.geometry, simplify_deg, preserve_topology=True), 1e-6
                    )
                ),
                "properties": _properties(d),
            }
            for d in districts
        ],
    }
