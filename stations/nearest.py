"""The nearest stations to a point, optionally only those open at an instant.

The search walks the geography GiST index in distance order (KNN ``<->``) and evaluates
opening hours in Python with the registry's own semantics (:mod:`stations.hours`), so
"open" here is exactly "open" everywhere else. When the nearest stations are closed it
keeps looking further out, fetching geometrically larger batches, up to ``within_m``.

Distances are geodesic metres on the WGS-84 spheroid (PostGIS ``ST_Distance`` on
geography). The index orders by distance on a sphere, which differs from the spheroid by
at most ~0.56 %; a batch is therefore only final when its k-th result is nearer than the
sphere distance of the first station not fetched, shrunk by that margin.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from stations import hours
from stations.records import COLUMNS

# Largest relative difference between sphere and WGS-84 spheroid distances, with margin.
_SPHERE_MARGIN = 0.006
_FIRST_BATCH = 32

_QUERY = f"""
WITH here AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography AS pt)
SELECT s.id, {", ".join("s." + c for c in COLUMNS)}, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat,
       s.version, s.updated_at,
       ST_Distance(s.geom::geography, here.pt, true) AS distance_m,
       s.geom::geography <-> here.pt AS sphere_m
FROM stations s, here
WHERE s.status = 'active'
  AND s.amenities @> %(amenities)s::text[]
  AND ST_DWithin(s.geom::geography, here.pt, %(sphere_within_m)s, false)
ORDER BY s.geom::geography <-> here.pt
LIMIT %(batch)s
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
    params = {
        "lon": lon,
        "lat": lat,
        "amenities": list(amenities),
        "sphere_within_m": within_m * (1 + _SPHERE_MARGIN),
    }
    batch = max(_FIRST_BATCH, 4 * limit)
    while True:
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(_QUERY, {**params, "batch": batch}).fetchall()
        found = []
        for row in rows:
            expr = row["opening_hours"]
            if expr not in states:
                states[expr] = hours.state_at(expr, at)
            row["open"], row["next_change"] = states[expr]
            if row["distance_m"] <= within_m and (row["open"] or not open_only):
                found.append(row)
        found.sort(key=lambda r: (r["distance_m"], r["id"]))
        exhausted = len(rows) < batch
        if exhausted or _final(found, rows, limit):
            return found[:limit]
        batch *= 4


def _final(found: list[dict[str, Any]], rows: list[dict[str, Any]], limit: int) -> bool:
    """True when no station beyond this batch can be nearer than the k-th found."""
    if len(found) < limit:
        return False
    kth = found[limit - 1]["distance_m"]
    return kth < rows[-1]["sphere_m"] * (1 - _SPHERE_MARGIN)
