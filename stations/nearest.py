"""The nearest stations to a point, optionally only those open at an instant.

The search walks the stations' GiST index in distance order (KNN ``<->``) and evaluates
opening hours in Python with the registry's own semantics (:mod:`stations.hours`), so
"open" here is exactly "open" everywhere else. When the nearest stations are closed it
keeps looking further out, fetching geometrically larger batches, up to ``within_m``.

Distances are geodesic metres on the WGS-84 spheroid (PostGIS ``ST_Distance`` on
geography). The index orders by planar distance in degrees, which is not geodesic order;
but a degree, in any direction, is at least ``_metres_per_degree(lat)`` metres long below
a latitude, so a station D degrees away is at least D times that many metres away. A
batch is final when its k-th result is nearer than that bound for the first station not
fetched. (A second, geography index would give geodesic order but cost imports 25 %.)
A search for amenities walks a second index that holds each station's amenity signature
beside its point (migration 0002), so a rare amenity costs about what a plain search does.

The plans are meant to be the index walks above; connections serving requests use
generic plans and no JIT (:data:`stations.db.SERVING_OPTIONS`), because a custom plan for
a rare filter may choose a bitmap scan and sort that is a hundred times slower.

"Open at ``at``" (and "open for ``open_for_min`` more minutes") is also pushed into the
query, so a night-time search does not ship thousands of closed stations to Python:
stations share a few hundred schedules, each is evaluated once, and the query keeps
stations whose schedule qualifies, plus any schedule this process has not seen yet or
whose times depend on the station's position (sunrise, sunset), both evaluated here.
The list of schedules is a per-process cache, refreshed every minute; being stale costs
speed, never correctness.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from stations import hours
from stations.availability import Judge
from stations.records import COLUMNS

_FIRST_BATCH = 8
# Metres per degree of longitude at the equator on WGS-84 (the smallest a degree gets,
# short of the cos(latitude) factor), with 1 % margin for the ellipsoid and rounding.
_EQUATOR_M_PER_DEG = 111_319.49 * 0.99
_SCHEDULES_TTL_S = 60.0

# A station as a search returns it (before its distance), here and in stations.snapshot.
RECORD_SQL = f"""s.id, {", ".join("s." + c for c in COLUMNS)}, ST_X(s.geom) AS lon,
       ST_Y(s.geom) AS lat, s.version, s.updated_at"""
RECORD_NAMES = ("id", *COLUMNS, "lon", "lat", "version", "updated_at")

_SELECT = f"""
WITH here AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS pt)
SELECT {RECORD_SQL},
       ST_Distance(s.geom::geography, here.pt::geography, true) AS distance_m,
       {{walk}} <-> here.pt AS degrees
FROM stations s, here
WHERE s.status = 'active'
  AND ST_DWithin({{walk}}, here.pt, %(within_deg)s)
  AND (%(any_hours)s OR s.opening_hours = ANY(%(open)s::text[])
       OR NOT s.opening_hours = ANY(%(known)s::text[]))
  {{amenities}}
ORDER BY {{walk}} <-> here.pt
LIMIT %(batch)s
"""
_QUERY = _SELECT.format(walk="s.geom", amenities="")
# The amenity index (migration 0002) is built on ST_Force2D(geom), the same points under
# another expression, so that this statement, and only this one, can walk it: left to
# costs, the planner may take the geometry-only index and filter row by row.
_QUERY_AMENITIES = _SELECT.format(
    walk="ST_Force2D(s.geom)",
    amenities="AND amenity_keys(s.amenities) @> amenity_keys(%(amenities)s::text[])\n"
    "  AND s.amenities @> %(amenities)s::text[]",
)


# the columns of _QUERY, and positions in its rows
_NAMES = (*RECORD_NAMES, "distance_m", "degrees")
_HOURS = _NAMES.index("opening_hours")
_LON, _LAT = _NAMES.index("lon"), _NAMES.index("lat")
_DISTANCE, _DEGREES = -2, -1


def nearest(
    conn: psycopg.Connection,
    lon: float,
    lat: float,
    *,
    at: dt.datetime,
    open_only: bool = True,
    open_for_min: int = 0,
    amenities: Sequence[str] = (),
    limit: int = 5,
    within_m: float = 5000,
) -> list[dict[str, Any]]:
    """Up to ``limit`` active stations within ``within_m`` of (lon, lat), nearest first.

    Each record carries ``distance_m`` (geodesic metres) and ``availability`` at ``at``.
    With ``open_only``, only stations open at ``at`` (and, with ``open_for_min``, still
    open that many minutes later) count, and the search goes further out past the rest.
    """
    judge = Judge(at, open_for_min)
    if open_only:
        open_literal, known_literal = _usable_schedules(conn, judge)
    else:
        open_literal, known_literal = "{}", "{}"
    # every station within within_m lies within this many degrees (see the module doc)
    reach_deg = within_m / _metres_per_degree(lat, 1.0)
    params = {
        "lon": lon,
        "lat": lat,
        "amenities": list(amenities),
        "within_deg": within_m / _metres_per_degree(lat, reach_deg),
        "any_hours": not open_only,
        "open": open_literal,
        "known": known_literal,
    }
    query = _QUERY_AMENITIES if amenities else _QUERY
    batch = max(_FIRST_BATCH, 2 * limit)
    while True:
        # plain tuples: only the few rows returned become dicts
        rows = conn.execute(query, {**params, "batch": batch}, prepare=True).fetchall()
        found = []
        for row in rows:
            state = judge.hours(row[_HOURS], row[_LON], row[_LAT])
            if row[_DISTANCE] <= within_m and (not open_only or judge.usable(state)):
                found.append((row, state))
        found.sort(key=lambda pair: (pair[0][_DISTANCE], pair[0][0]))
        if len(rows) < batch or _final(found, rows[-1][_DEGREES], limit, lat):
            return [
                dict(zip(_NAMES, row, strict=True), availability=state)
                for row, state in found[:limit]
            ]
        batch *= 4


def _usable_schedules(conn: psycopg.Connection, judge: Judge) -> tuple[str, str]:
    """Array literals of the schedules usable for ``judge`` and of all position-free ones.

    Schedules with sun times are left out of both: whether they are open depends on
    where each station is, so their rows always come back and are judged one by one.
    The usable set only changes when a schedule changes state or passes the point where
    it closes within ``open_for_min``, so it is kept until the earliest such instant.
    """
    pgconn = conn.pgconn  # (conn.info.dsn would parse the whole conninfo every call)
    key = (pgconn.host, pgconn.port, pgconn.db)
    cached = _CACHE.get(key)
    now = time.monotonic()
    if cached is None or now - cached.listed > _SCHEDULES_TTL_S:
        rows = conn.execute(
            "SELECT DISTINCT opening_hours FROM stations WHERE opening_hours IS NOT NULL"
        ).fetchall()
        schedules = tuple(sorted(r[0] for r in rows if not hours.uses_sun(r[0])))
        cached = _CACHE[key] = _Schedules(now, schedules, _array_literal(schedules))
    at, open_for = judge.at, judge.open_for
    window = cached.windows.get(open_for)
    if window is None or not window[0] <= at < window[1]:
        usable, ends = [], []
        for expr in cached.schedules:
            state = judge.hours(expr)
            if judge.usable(state):
                usable.append(expr)
                if state.open_until is not None:  # stops being usable open_for before it closes
                    ends.append(state.open_until - open_for)
            if state.next_change is not None:
                ends.append(state.next_change)
        until = min((e for e in ends if e > at), default=at + dt.timedelta(days=1))
        window = (at, until, _array_literal(tuple(usable)))
        if len(cached.windows) > 64:
            cached.windows.clear()
        cached.windows[open_for] = window  # one assignment: threads see all or none
    return window[2], cached.known_literal


@dataclass
class _Schedules:
    """The position-free schedules in use in one database, and which were usable when."""

    listed: float
    schedules: tuple[str, ...]
    known_literal: str
    # open_for -> (since, until, literal): the schedules usable at every instant in
    # [since, until) for searches asking for that many minutes
    windows: dict[dt.timedelta, tuple[dt.datetime, dt.datetime, str]] = field(default_factory=dict)


_CACHE: dict[tuple[bytes | None, bytes | None, bytes | None], _Schedules] = {}


@functools.lru_cache(maxsize=256)
def _array_literal(items: tuple[str, ...]) -> str:
    """A text[] literal, built once per set of schedules rather than escaped per request."""
    quoted = (item.replace("\\", "\\\\").replace('"', '\\"') for item in items)
    return "{" + ",".join(f'"{q}"' for q in quoted) + "}"


def _final(found: list[tuple[tuple, Any]], last_degrees: float, limit: int, lat: float) -> bool:
    """True when no station beyond this batch can be nearer than the k-th found."""
    if len(found) < limit:
        return False
    # every station not fetched is at least last_degrees away, in degrees
    kth = found[limit - 1][0][_DISTANCE]
    return kth < last_degrees * _metres_per_degree(lat, last_degrees)


def _metres_per_degree(lat: float, reach_deg: float) -> float:
    """A lower bound on the metres in one degree, any direction, within ``reach_deg`` of lat.

    East-west degrees are the shortest: 111.3 km x cos(latitude), smallest at the
    poleward edge of the reach (plus half a degree for a geodesic's poleward bulge).
    """
    edge = min(89.0, abs(lat) + reach_deg + 0.5)
    return _EQUATOR_M_PER_DEG * math.cos(math.radians(edge))
