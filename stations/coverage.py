"""Coverage gaps of an area: which stations count, and what the area and its demand are.

The planner names an area by district (admin code or name), bbox or GeoJSON geometry;
stations count when active, holding every required amenity and, given an instant, open
then by the registry's own opening-hours semantics. Stations outside the area but within
the radius of its edge count too: a station across a district line serves both sides.
The geometry itself is :mod:`geo.coverage`'s.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo import geojson
from geo.coverage import Coverage, Plane, coverage, coverage_ratios, plane_for
from stations import hours
from stations.availability import Judge
from stations.errors import InvalidParameter

MAX_RADIUS_M = 50_000
MAX_VERTICES = 20_000  # a county outline has ~100-1,000; a drawn polygon far fewer
# The plane is accurate for a province; much wider and circles stop being circles.
MAX_SPAN_DEG = 25.0
_SEGMENT_DEG = 0.02  # long bbox/polygon edges are densified so the plane keeps their shape
AREA_KINDS = ("district", "bbox", "geometry")  # a request names its area by one


@dataclass(frozen=True)
class Area:
    """A planner's area in WGS-84 lon/lat, with what to call it."""

    geometry: BaseGeometry
    label: str


def resolve_area(conn: psycopg.Connection, spec: Mapping[str, Any]) -> Area:
    """The area a request names by exactly one of ``district``, ``bbox`` or ``geometry``."""
    given = [k for k in AREA_KINDS if spec.get(k) is not None]
    if len(given) != 1:
        raise InvalidParameter(
            "area", "give exactly one of district (admin code or name), bbox or geometry"
        )
    kind = given[0]
    value = spec[kind]
    if kind == "district":
        return _district(conn, _district_text(value))
    if kind == "bbox":
        area = Area(_bbox(value), "bbox " + ",".join(f"{v:g}" for v in value))
    else:
        area = Area(_polygon(value), "geometry")
    x0, y0, x1, y1 = area.geometry.bounds
    if x1 - x0 > MAX_SPAN_DEG or y1 - y0 > MAX_SPAN_DEG:
        raise InvalidParameter(
            kind,
            f"the area spans more than {MAX_SPAN_DEG:g} degrees; analyse a province or "
            "less at a time",
        )
    return Area(shapely.segmentize(area.geometry, _SEGMENT_DEG), area.label)


def _district_text(value: Any) -> str:
    text = str(value).strip() if isinstance(value, str) or is_number(value) else ""
    if not 1 <= len(text) <= 100 or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidParameter(
            "district", "district must be an admin code such as 140105 or a district name"
        )
    return text


def _district(conn: psycopg.Connection, code_or_name: str) -> Area:
    rows = conn.execute(
        "SELECT code, name, ST_AsBinary(geom) FROM districts WHERE code = %s OR name = %s",
        [code_or_name, code_or_name],
    ).fetchall()
    if not rows:
        raise InvalidParameter(
            "district",
            f"no district has the code or name {code_or_name!r}",
            zh=f"没有代码或名称为 {code_or_name!r} 的行政区（例如 140100 或 太原市）",
        )
    if len(rows) > 1:
        codes = ", ".join(f"{r[0]} ({r[1]})" for r in rows)
        raise InvalidParameter(
            "district",
            f"{code_or_name!r} names {len(rows)} districts; give a code: {codes}",
            zh=f"{code_or_name!r} 对应 {len(rows)} 个行政区，请写代码：{codes}",
        )
    code, name, wkb = rows[0]
    return Area(shapely.from_wkb(wkb), f"{name} ({code})")


def _bbox(value: Any) -> BaseGeometry:
    ok = isinstance(value, Sequence) and len(value) == 4
    ok = ok and all(is_number(v) for v in value)
    if ok:
        x0, y0, x1, y1 = value
        ok = -180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90
    if not ok:
        raise InvalidParameter(
            "bbox", "bbox must be [min_lon, min_lat, max_lon, max_lat] in degrees, min < max"
        )
    return shapely.box(*value)


def is_number(value: Any) -> bool:
    """A finite int or float that a float holds (not a bool, not 400 digits, not NaN)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _numbers_only(coords: Any, depth: int = 4) -> bool:
    """Nested lists, at most ``depth`` deep (a MultiPolygon's), of numbers only."""
    if isinstance(coords, list | tuple):
        return depth > 0 and all(_numbers_only(c, depth - 1) for c in coords)
    return is_number(coords)


def _polygon(value: Any) -> BaseGeometry:
    hint = "geometry must be a GeoJSON Polygon or MultiPolygon in lon/lat"
    coords = value.get("coordinates") if isinstance(value, dict) else None
    if not _numbers_only(coords):
        raise InvalidParameter("geometry", hint)
    try:
        geom = shape(value)
    except (
        AttributeError,
        IndexError,
        KeyError,
        TypeError,
        ValueError,
        shapely.errors.GEOSException,
    ):
        geom = None
    if geom is None or geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
        raise InvalidParameter("geometry", hint)
    if shapely.get_num_coordinates(geom) > MAX_VERTICES:
        raise InvalidParameter(
            "geometry", f"geometry has more than {MAX_VERTICES:,} vertices; simplify it"
        )
    x0, y0, x1, y1 = geom.bounds
    if not (-180 <= x0 and x1 <= 180 and -90 <= y0 and y1 <= 90):
        raise InvalidParameter("geometry", "geometry coordinates must be lon/lat degrees")
    if not geom.is_valid:
        # not repaired here: repairing a ring whose edges cross each other n times costs
        # O(n²) and more (a 150-point star took 19 s, 5,000 points 12 GB); say where
        reason = shapely.is_valid_reason(geom)
        raise InvalidParameter(
            "geometry",
            f"the outline is not a simple polygon ({reason}): its edges cross or touch; "
            "fix it (e.g. QGIS: Vector > Geometry Tools > Fix Geometries) and send it again",
            reason=reason,
        )
    if geom.is_empty or geom.area < 1e-9:  # square degrees: about 10 m²
        raise InvalidParameter("geometry", "geometry encloses no area")
    return geom


@dataclass(frozen=True)
class Layer:
    """What an analysis of an area reads: the stations that may count, and the demand.

    Stations are those active with the amenities, within ``reach_m`` of the area; their
    opening hours come along so that each instant picks its own subset (:meth:`open_at`).
    Demand is the points inside the area, or within ``demand_reach_m`` of it.
    """

    area: Area
    plane: Plane
    area_plane: BaseGeometry
    stations_xy: np.ndarray
    opening_hours: list[str | None]
    stations_lonlat: list[tuple[float, float]]  # WGS-84, for sun times
    station_ids: list[int]
    station_names: list[str]
    demand_xy: np.ndarray
    weights: np.ndarray

    def open_at(self, at: dt.datetime | None) -> np.ndarray:
        """Which stations are open at ``at`` (all of them when ``at`` is None)."""
        if at is None:
            return np.ones(len(self.opening_hours), dtype=bool)
        judge = Judge(at)
        return np.array(
            [
                judge.hours(expr, lon, lat).is_open
                for expr, (lon, lat) in zip(self.opening_hours, self.stations_lonlat, strict=True)
            ],
            dtype=bool,
        )

    def open_by_hour(self, day: dt.date) -> np.ndarray:
        """(stations, 24): open at the start of each hour of ``day`` (Asia/Shanghai)."""
        hours_ = [dt.datetime.combine(day, dt.time(h), hours.SHANGHAI) for h in range(24)]
        return np.column_stack([self.open_at(at) for at in hours_]).reshape(-1, 24)


@dataclass(frozen=True)
class Part:
    """A county-level district the area is cut along (no code: outside every county)."""

    code: str | None
    name: str | None
    geometry: BaseGeometry  # on the plane, within the area


@dataclass(frozen=True)
class GapReport:
    """The coverage of an area, the plane it was measured on and the stations counted."""

    area: Area
    coverage: Coverage
    radius_m: float
    layer: Layer  # what was read: every station that may count, the demand
    counted: np.ndarray  # which of the layer's stations count
    parts: Sequence[Part] = ()  # the counties the gaps are cut along

    @property
    def plane(self) -> Plane:
        """The equal-area plane everything was measured on."""
        return self.layer.plane

    @property
    def stations_xy(self) -> np.ndarray:
        """The stations counted, on the plane."""
        return self.layer.stations_xy[self.counted]

    @property
    def stations_counted(self) -> int:
        """How many stations the coverage is made of."""
        return int(np.count_nonzero(self.counted))


def check_radius(radius_m: float, name: str = "radius_m") -> float:
    """A service radius in range, else an error naming the parameter."""
    if not isinstance(radius_m, int | float) or not 1 <= radius_m <= MAX_RADIUS_M:
        raise InvalidParameter(name, f"{name} must be 1 to {MAX_RADIUS_M} metres")
    return float(radius_m)


def load(
    conn: psycopg.Connection,
    area: Area,
    *,
    reach_m: float,
    amenities: Sequence[str] = (),
    demand_reach_m: float = 0,
) -> Layer:
    """Stations within ``reach_m`` of ``area`` and its demand, on the area's plane."""
    plane = plane_for(area.geometry)
    wkb = shapely.to_wkb(area.geometry)
    rows = conn.execute(
        """SELECT ST_X(geom), ST_Y(geom), opening_hours, id, name FROM stations
           WHERE status = 'active' AND amenities @> %s::text[]
             AND ST_DWithin(geom, ST_GeomFromWKB(%s, 4326), %s)
           ORDER BY id""",
        [list(amenities), wkb, _degrees_for(reach_m, area.geometry)],
    ).fetchall()
    if demand_reach_m > 0:
        where = "ST_DWithin(geom, ST_GeomFromWKB(%s, 4326), %s)"
        args: list[Any] = [wkb, _degrees_for(demand_reach_m, area.geometry)]
    else:
        where, args = "ST_Intersects(geom, ST_GeomFromWKB(%s, 4326))", [wkb]
    demand = conn.execute(
        f"SELECT ST_X(geom), ST_Y(geom), weight FROM demand_points WHERE {where} ORDER BY id",
        args,
    ).fetchall()
    area_plane = plane.forward(area.geometry)
    shapely.prepare(area_plane)
    # the database's degree search is generous north-south; keep what is truly in reach
    xy = plane.points([r[0] for r in rows], [r[1] for r in rows])
    near = shapely.dwithin(area_plane, shapely.points(xy), reach_m) if len(xy) else []
    rows = [r for r, keep in zip(rows, near, strict=True) if keep]
    demand_xy = plane.points([d[0] for d in demand], [d[1] for d in demand])
    if demand_reach_m > 0:
        inside = shapely.dwithin(area_plane, shapely.points(demand_xy), demand_reach_m)
    else:  # inside on the plane, as coverage() decides it, so every analysis agrees
        inside = shapely.contains_xy(area_plane, demand_xy[:, 0], demand_xy[:, 1])
    return Layer(
        area=area,
        plane=plane,
        area_plane=area_plane,
        stations_xy=xy[np.asarray(near, dtype=bool)].reshape(-1, 2),
        opening_hours=[r[2] for r in rows],
        stations_lonlat=[(r[0], r[1]) for r in rows],
        station_ids=[r[3] for r in rows],
        station_names=[r[4] for r in rows],
        demand_xy=demand_xy[inside].reshape(-1, 2),
        weights=np.array([d[2] for d in demand], dtype=float)[inside],
    )


def gaps(
    conn: psycopg.Connection,
    area: Area,
    *,
    radius_m: float = 1000,
    at: dt.datetime | None = None,
    amenities: Sequence[str] = (),
) -> GapReport:
    """Coverage of ``area`` by the stations that count (see the module doc)."""
    radius_m = check_radius(radius_m)
    layer = load(conn, area, reach_m=radius_m, amenities=amenities)
    counted = layer.open_at(at)
    parts = counties(conn, area, layer.plane)
    result = coverage(
        layer.area_plane,
        layer.stations_xy[counted],
        radius_m,
        layer.demand_xy,
        layer.weights,
        parts=[p.geometry for p in parts] or None,
    )
    return GapReport(area, result, radius_m, layer, counted, parts)


def counties(conn: psycopg.Connection, area: Area, plane: Plane) -> list[Part]:
    """The area cut into its county-level districts, on the plane, and what no county holds.

    The cut is made in PostGIS on lon/lat and then projected, so the pieces meet exactly
    along county lines; a county touching the area only along its edge is no piece.
    """
    rows = conn.execute(
        """WITH a AS (SELECT ST_GeomFromWKB(%s, 4326) AS geom),
                cut AS (
                  SELECT d.code, d.name,
                         ST_CollectionExtract(ST_Intersection(d.geom, a.geom), 3) AS geom
                  FROM districts d, a
                  WHERE d.level = 'county' AND ST_Intersects(d.geom, a.geom))
           SELECT code, name, ST_AsBinary(geom) FROM cut WHERE NOT ST_IsEmpty(geom)
           UNION ALL
           SELECT NULL, NULL, ST_AsBinary(ST_CollectionExtract(
                    ST_Difference(a.geom, COALESCE((SELECT ST_Union(geom) FROM cut),
                                               ST_SetSRID('POLYGON EMPTY'::geometry, 4326))), 3))
           FROM a
           ORDER BY 1 NULLS LAST""",
        [shapely.to_wkb(area.geometry)],
    ).fetchall()
    parts = []
    for code, name, wkb in rows:
        geom = shapely.from_wkb(wkb) if wkb is not None else None
        if code is None and (geom is None or geom.is_empty or geom.area < 1e-9):
            continue  # nothing of the area lies outside the counties (about 10 m² or less)
        piece = plane.forward(geom)
        parts.append(Part(code, name, piece if piece.is_valid else shapely.make_valid(piece)))
    return parts


@dataclass(frozen=True)
class Hour:
    """Coverage at one hour of a day."""

    hour: int
    coverage_ratio: float
    demand_coverage_ratio: float
    stations_open: int


def hourly(
    conn: psycopg.Connection,
    area: Area,
    day: dt.date,
    *,
    radius_m: float = 1000,
    amenities: Sequence[str] = (),
) -> list[Hour]:
    """Coverage at the start of each hour of ``day`` (Asia/Shanghai), 24 entries."""
    radius_m = check_radius(radius_m)
    layer = load(conn, area, reach_m=radius_m, amenities=amenities)
    return hours_of(layer, layer.open_by_hour(day), radius_m)


def hours_of(
    layer: Layer, by_hour: np.ndarray, radius_m: float, new_xy: np.ndarray | None = None
) -> list[Hour]:
    """Coverage at each hour by the stations open then, and by ``new_xy`` at every hour.

    ``by_hour`` is stations × 24 (:meth:`Layer.open_by_hour`); ``new_xy`` are proposed
    sites on the plane, which have no hours yet. Hours with the same stations open share
    one computation: overnight and office hours repeat through the day.
    """
    extra = np.empty((0, 2)) if new_xy is None else np.asarray(new_xy).reshape(-1, 2)
    done: dict[bytes, Coverage] = {}
    out = []
    for hour in range(24):
        mask = by_hour[:, hour]
        key = np.packbits(mask).tobytes()
        if key not in done:
            done[key] = coverage_ratios(
                layer.area_plane,
                np.concatenate([layer.stations_xy[mask], extra]),
                radius_m,
                layer.demand_xy,
                layer.weights,
            )
        result = done[key]
        opened = int(mask.sum()) + len(extra)
        out.append(Hour(hour, result.coverage_ratio, result.demand_coverage_ratio, opened))
    return out


def hourly_payload(area: Area, day: dt.date, found: Sequence[Hour]) -> dict[str, Any]:
    """The hourly profile as the API and ``stations hourly`` give it (DESIGN.md, Payloads)."""
    return {
        "area": area.label,
        "date": day.isoformat(),
        "hours": [
            {
                "hour": h.hour,
                "coverage_ratio": round(h.coverage_ratio, 5),
                "demand_coverage_ratio": round(h.demand_coverage_ratio, 5),
                "stations_open": h.stations_open,
            }
            for h in found
        ],
    }


def lon_lat_polygon(plane: Plane, geom: BaseGeometry) -> BaseGeometry:
    """A plane polygon back in lon/lat, rounded to 1e-6 degrees (~0.1 m), kept valid."""
    back = plane.inverse(geom)
    return shapely.set_precision(back if back.is_valid else shapely.make_valid(back), 1e-6)


def _degrees_for(radius_m: float, area: BaseGeometry) -> float:
    """Degrees that surely span ``radius_m`` anywhere in ``area`` (east-west is shortest)."""
    lat = max(abs(area.bounds[1]), abs(area.bounds[3]))
    return radius_m / (111_000 * math.cos(math.radians(min(lat + 1, 89)))) * 1.05


def payload(report: GapReport) -> dict[str, Any]:
    """The report as the API and ``stations gaps`` give it (DESIGN.md, Payloads)."""
    result, plane = report.coverage, report.plane
    features = []
    for rank, gap in enumerate(result.gaps, start=1):
        point = plane.inverse(gap.point)
        features.append(
            {
                "type": "Feature",
                "geometry": geojson.geometry(lon_lat_polygon(plane, gap.geometry)),
                "properties": {
                    "rank": rank,
                    "area_km2": round(gap.area_m2 / 1e6, 4),
                    "demand": round(gap.demand, 1),
                    "point": [round(point.x, 6), round(point.y, 6)],
                    **county_of(report, gap.part),
                },
            }
        )
    return {
        "area": report.area.label,
        "radius_m": report.radius_m,
        "area_km2": round(result.area_m2 / 1e6, 4),
        "covered_km2": round(result.covered_m2 / 1e6, 4),
        "gap_km2": round(result.gap_m2 / 1e6, 4),
        "coverage_ratio": round(result.coverage_ratio, 5),
        "demand_total": round(result.demand_total, 1),
        "demand_covered": round(result.demand_covered, 1),
        "demand_coverage_ratio": round(result.demand_coverage_ratio, 5),
        "stations_counted": report.stations_counted,
        "gaps": {"type": "FeatureCollection", "features": features},
    }


def county_of(report: GapReport, part: int) -> dict[str, str | None]:
    """``county_code`` and ``county_name`` of one of the report's parts (None: no county)."""
    found = report.parts[part] if 0 <= part < len(report.parts) else None
    return {
        "county_code": found.code if found else None,
        "county_name": found.name if found else None,
    }
