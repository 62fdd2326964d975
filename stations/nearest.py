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

"Open at ``at``" is also pushed into the query, so a night-time search does not ship
thousands of closed stations to Python: stations share a few hundred schedules, each is
evaluated once, and the query keeps stations whose schedule is open, plus any schedule
this process has not seen yet (evaluated here). The list of schedules is a per-process
cache, refreshed every minute; being stale costs speed, never correctness.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from stations import hours
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
_DISTANCE, _DEGREES = -2, -1


def nearest(
    conn: psycopg.Connection,
    lon: float,
    lat: float,
    *,
    at: dt.datetime,
    open_only: bool = True,
    amenities: Sequence[str] = (),
    limit: int = 5,
    within_m: float = 5000,
) -> list[dict[str, Any]]:
    """Up to ``limit`` active stations within ``within_m`` of (lon, lat), nearest first.

    Each record carries ``distance_m`` (geodesic metres) and ``open`` / ``next_change``
    at ``at``. With ``open_only``, stations closed at ``at`` (or without published hours)
    are skipped and the search goes further out.
    """
    states: dict[str | None, tuple[bool, dt.datetime | None]] = {}
    open_literal, known_literal = _open_schedules(conn, at) if open_only else ("{}", "{}")
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
            expr = row[_HOURS]
            state = states.get(expr)
            if state is None:
                state = states[expr] = hours.state_or_closed(expr, at)
            if row[_DISTANCE] <= within_m and (state[0] or not open_only):
                found.append((row, state))
        found.sort(key=lambda pair: (pair[0][_DISTANCE], pair[0][0]))
        if len(rows) < batch or _final(found, rows[-1][_DEGREES], limit, lat):
            return [
                dict(zip(_NAMES, row, strict=True), open=state[0], next_change=state[1])
                for row, state in found[:limit]
            ]
        batch *= 4


def _open_schedules(conn: psycopg.Connection, at: dt.datetime) -> tuple[str, str]:
    """Array literals of the schedules open at ``at`` and of all schedules in use.

    The open set only changes when one of the schedules flips, so it is kept until the
    earliest flip (and the schedule list for a minute): most requests reuse both.
    """
    pgconn = conn.pgconn  # (conn.info.dsn would parse the whole conninfo every call)
    key = (pgconn.host, pgconn.port, pgconn.db)
    cached = _CACHE.get(key)
    now = time.monotonic()
    if cached is None or now - cached.listed > _SCHEDULES_TTL_S:
        rows = conn.execute(
            "SELECT DISTINCT opening_hours FROM stations WHERE opening_hours IS NOT NULL"
        ).fetchall()
        schedules = tuple(sorted(r[0] for r in rows))
        cached = _CACHE[key] = _Schedules(now, schedules, _array_literal(schedules))
    since, until, open_literal = cached.window
    if not since <= at < until:
        states = [(e, *hours.state_or_closed(e, at)) for e in cached.schedules]
        flips = [change for _e, _open, change in states if change is not None]
        until = min(flips, default=at + dt.timedelta(days=1))
        open_literal = _array_literal(tuple(e for e, is_open, _c in states if is_open))
        cached.window = (at, until, open_literal)  # one assignment: threads see all or none
    return open_literal, cached.known_literal


_NEVER_SINCE = dt.datetime.max.replace(tzinfo=dt.UTC)


@dataclass
class _Schedules:
    """The schedules in use in one database, and which were open over [since, until)."""

    listed: float
    schedules: tuple[str, ...]
    known_literal: str
    # (since, until, open literal): the schedules open at every instant in [since, until)
    window: tuple[dt.datetime, dt.datetime, str] = (_NEVER_SINCE, _NEVER_SINCE, "{}")


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
