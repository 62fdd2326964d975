"""Demand zones of a gap report: where unserved workers are, county by county, ranked.

The geometry is :mod:`geo.zones`'s. Here each county's uncovered demand (the points the
report found in that county's gaps) is zoned on its own, so no zone crosses a county line
and none is larger than its county; each zone is then named: its county, and the nearest
existing station with its straight-line distance and whether it counts at the hour (a
station 600 m away that closes at 20:00 is a case for longer hours, not a new build).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from geo import geojson, siting
from geo import zones as geo_zones
from stations import coverage
from stations.coverage import GapReport, county_of
from stations.errors import InvalidParameter
from stations.siting import MAX_PAIRS  # worker pairs within the radius, per county here


@dataclass(frozen=True)
class Zone:
    """One zone of uncovered demand, on the report's plane."""

    part: int  # which of the report's parts (counties) holds it
    centre_xy: np.ndarray
    outline: BaseGeometry
    demand: float
    points: int
    nearest: int | None  # index of the nearest station among the layer's, if any
    nearest_m: float | None


def find(report: GapReport) -> list[Zone]:
    """The report's zones, most demand first (ties: county, then centre, for stability)."""
    layer = report.layer
    part_of = report.coverage.uncovered_in
    regions = _regions(report)
    found = []
    for part in np.unique(part_of[part_of >= 0]):
        index = np.flatnonzero(part_of == part)
        xy, w = layer.demand_xy[index], layer.weights[index]
        try:
            zoned = geo_zones.zones(xy, w, report.radius_m, max_pairs=MAX_PAIRS)
        except siting.TooManyPairs as exc:
            raise InvalidParameter(
                "radius_m",
                f"zoning the unserved workers would pair too many of them ({exc}); use a "
                "smaller radius or a smaller area",
                zh=f"划分需求区所需的人员点对过多（{exc}）；请减小半径或缩小区域",
            ) from None
        centres = xy[[z.centre for z in zoned]].reshape(-1, 2)
        shapes = geo_zones.outlines(centres, report.radius_m, regions[int(part)])
        for zone, centre, shape in zip(zoned, centres, shapes, strict=True):
            found.append((int(part), centre, shape, zone.demand, len(zone.members)))
    nearest_m, nearest = _nearest(layer.stations_xy, [f[1] for f in found])
    out = [
        Zone(part, centre, shape, demand, points, j, d)
        for (part, centre, shape, demand, points), j, d in zip(
            found, nearest, nearest_m, strict=True
        )
    ]
    out.sort(key=lambda z: (-z.demand, z.part, z.centre_xy[0], z.centre_xy[1]))
    return out


def _regions(report: GapReport) -> dict[int, BaseGeometry]:
    """The uncovered part of each county: its gap pieces as one geometry."""
    pieces: dict[int, list[BaseGeometry]] = {}
    for gap in report.coverage.gaps:
        pieces.setdefault(gap.part, []).append(gap.geometry)
    return {part: shapely.multipolygons(shapes) for part, shapes in pieces.items()}


def _nearest(
    stations_xy: np.ndarray, centres: list[np.ndarray]
) -> tuple[list[float | None], list[int | None]]:
    if not centres or not len(stations_xy):
        return [None] * len(centres), [None] * len(centres)
    distance, index = cKDTree(stations_xy).query(np.asarray(centres).reshape(-1, 2), k=1)
    return [float(d) for d in distance], [int(i) for i in index]


def payload(report: GapReport, found: list[Zone]) -> dict[str, Any]:
    """The zones as the API and ``stations gaps`` give them (DESIGN.md, Payloads)."""
    layer, plane = report.layer, report.plane
    features = []
    for rank, zone in enumerate(found, start=1):
        lon, lat = plane.lon_lat(zone.centre_xy)[0]
        nearest = None
        if zone.nearest is not None and zone.nearest_m is not None:
            station_lon, station_lat = layer.stations_lonlat[zone.nearest]
            nearest = {
                "id": layer.station_ids[zone.nearest],
                "name": layer.station_names[zone.nearest],
                "distance_m": round(zone.nearest_m),
                "counted": bool(report.counted[zone.nearest]),
                "coordinates": [round(station_lon, 6), round(station_lat, 6)],
            }
        features.append(
            {
                "type": "Feature",
                "geometry": geojson.geometry(coverage.lon_lat_polygon(plane, zone.outline)),
                "properties": {
                    "rank": rank,
                    "demand": round(zone.demand, 1),
                    "points": zone.points,
                    "area_km2": round(zone.outline.area / 1e6, 4),
                    "centre": [round(float(lon), 6), round(float(lat), 6)],
                    **county_of(report, zone.part),
                    "nearest_station": nearest,
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "demand_uncovered": round(sum(z.demand for z in found), 1),
        "features": features,
    }


def report_payload(report: GapReport) -> dict[str, Any]:
    """The gap report with its zones: what ``/coverage/gaps`` and ``stations gaps`` give."""
    return {**coverage.payload(report), "zones": payload(report, find(report))}
