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
fetched. (One index serves the nearest search, bounding boxes and imports; a second
geography index cost imports 25 %.)
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from stations import hours
from stations.records import COLUMNS

_FIRST_BATCH = 10
# Metres per degree of longitude at the equator on WGS-84 (the smallest a degree gets,
# short of the cos(latitude) factor), with 1 % margin for the ellipsoid and rounding.
_EQUATOR_M_PER_DEG = 111_319.49 * 0.99

# Candidates carry only what the search decides on; full records are read for the winners.
_CANDIDATES = """
WITH here AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS pt)
SELECT s.id, s.opening_hours,
       ST_Distance(s.geom::geography, here.pt::geography, true) AS distance_m,
       s.geom <-> here.pt AS degrees
FROM stations s, here
WHERE s.status = 'active'
  AND s.amenities @> %(amenities)s::text[]
  AND ST_DWithin(s.geom, here.pt, %(within_deg)s)
ORDER BY s.geom <-> here.pt
LIMIT %(batch)s
"""
_RECORDS = f"""
SELECT s.id, {", ".join("s." + c for c in COLUMNS)}, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat,
       s.version, s.updated_at
FROM stations s WHERE s.id = ANY(%s)
"""


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
    states: dict[str | None, tuple[bool, dt.datetime | None]] = {None: (False, None)}
    # every station within within_m lies within this many degrees (see the module doc)
    reach_deg = within_m / _metres_per_degree(lat, 1.0)
    within_deg = within_m / _metres_per_degree(lat, reach_deg)
    params = {"lon": lon, "lat": lat, "amenities": list(amenities), "within_deg": within_deg}
    batch = max(_FIRST_BATCH, 2 * limit)
    while True:
        rows = conn.execute(_CANDIDATES, {**params, "batch": batch}, prepare=True).fetchall()
        found = []
        for sid, expr, distance_m, _sphere_m in rows:
            if expr not in states:
                states[expr] = hours.state_or_closed(expr, at)
            if distance_m <= within_m and (states[expr][0] or not open_only):
                found.append((distance_m, sid, expr))
        found.sort()
        if len(rows) < batch or _final(found, rows, limit, lat):
            return _records(conn, found[:limit], states)
        batch *= 4


def _final(
    found: list[tuple[float, int, str | None]], rows: list[tuple], limit: int, lat: float
) -> bool:
    """True when no station beyond this batch can be nearer than the k-th found."""
    if len(found) < limit:
        return False
    degrees = rows[-1][3]  # every station not fetched is at least this far, in degrees
    return found[limit - 1][0] < degrees * _metres_per_degree(lat, degrees)


def _metres_per_degree(lat: float, reach_deg: float) -> float:
    """A lower bound on the metres in one degree, any direction, within ``reach_deg`` of lat.

    East-west degrees are the shortest: 111.3 km x cos(latitude), smallest at the
    poleward edge of the reach (plus half a degree for a geodesic's poleward bulge).
    """
    edge = min(89.0, abs(lat) + reach_deg + 0.5)
    return _EQUATOR_M_PER_DEG * math.cos(math.radians(edge))


def _records(
    conn: psycopg.Connection,
    winners: list[tuple[float, int, str | None]],
    states: dict[str | None, tuple[bool, dt.datetime | None]],
) -> list[dict[str, Any]]:
    """Full records of the winners, in order, with distance and open state."""
    if not winners:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        by_id = {r["id"]: r for r in cur.execute(_RECORDS, [[w[1] for w in winners]])}
    out = []
    for distance_m, sid, expr in winners:
        record = by_id[sid]
        record["distance_m"] = distance_m
        record["open"], record["next_change"] = states[expr]
        out.append(record)
    return out
