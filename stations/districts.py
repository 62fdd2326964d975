"""Reading the administrative districts (province, cities, counties) as GeoJSON-ready records.

Boundaries leave PostGIS already wound by the right-hand rule (RFC 7946 §3.1.6: exterior
rings counter-clockwise, holes clockwise), so no caller has to remember to fix them.
"""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

from stations.errors import NotFound

LEVELS = ("province", "city", "county")

_SELECT = """
SELECT code, name, level, parent_code,
       ST_AsGeoJSON(ST_ForcePolygonCCW(geom), 7) AS geometry
FROM districts
"""


def _where(
    bbox: tuple[float, float, float, float] | None, level: str | None
) -> tuple[str, dict[str, Any]]:
    clauses, params = ["TRUE"], {}
    if bbox:
        clauses.append("geom && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)")
        params.update(zip(("x0", "y0", "x1", "y1"), bbox, strict=True))
    if level:
        clauses.append("level = %(level)s")
        params["level"] = level
    return " AND ".join(clauses), params


def _record(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "geometry": orjson.loads(row["geometry"])}


def count(
    conn: psycopg.Connection,
    bbox: tuple[float, float, float, float] | None = None,
    level: str | None = None,
) -> int:
    """How many districts touch ``bbox`` at ``level`` (OGC API ``numberMatched``)."""
    where, params = _where(bbox, level)
    return conn.execute(f"SELECT count(*) FROM districts WHERE {where}", params).fetchone()[0]


def page(
    conn: psycopg.Connection,
    bbox: tuple[float, float, float, float] | None,
    level: str | None,
    limit: int,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """One page of districts in code order (stable paging), geometry as a GeoJSON dict."""
    where, params = _where(bbox, level)
    params.update(limit=limit, offset=offset)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            _SELECT + f" WHERE {where} ORDER BY code LIMIT %(limit)s OFFSET %(offset)s", params
        ).fetchall()
    return [_record(r) for r in rows]


def get(conn: psycopg.Connection, code: str) -> dict[str, Any]:
    """One district by its 6-digit admin code, or :class:`NotFound`."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_SELECT + " WHERE code = %s", [code]).fetchone()
    if row is None:
        raise NotFound(f"no district with code {code}", zh=f"没有代码为 {code} 的行政区")
    return _record(row)


def extent(conn: psycopg.Connection) -> tuple[float, float, float, float] | None:
    """(min lon, min lat, max lon, max lat) of every district; None when there are none."""
    row = conn.execute(
        """SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
           FROM (SELECT ST_Extent(geom) e FROM districts) x"""
    ).fetchone()
    return None if row is None or row[0] is None else tuple(float(v) for v in row)
