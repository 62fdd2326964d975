"""Reading stations and districts from PostGIS: the queries the API and exports share.

Functions take a psycopg connection first and return plain dicts with ``lon``/``lat``,
so the web layer and the exporter serialise the same records.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg.rows import dict_row
from sqlalchemy import types as sqltypes

from stations import hours, schema
from stations.availability import Judge
from stations.errors import NotFound
from stations.records import COLUMNS

_SELECT = f"""
SELECT s.id, {", ".join("s." + c for c in COLUMNS)}, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat,
       s.version, s.created_at, s.updated_at
FROM stations s
"""


def _queryables() -> dict[str, tuple[str, str]]:
    """Properties a CQL2 filter may name: (SQL expression, kind), see stations.cql.

    Every stored field of the schema but lists (``amenities`` has its own parameter),
    its kind from the column's type; the point as ``geometry``.
    """
    kinds = ((sqltypes.Boolean, "boolean"), (sqltypes.Date, "date"),
             (sqltypes.Numeric, "number"), (sqltypes.Text, "text"))  # fmt: skip
    out = {}
    for name in COLUMNS:
        column_type = schema.stations.c[name].type
        kind = next((k for t, k in kinds if isinstance(column_type, t)), None)
        if kind is not None:
            out[name] = (f"s.{name}", kind)
    out["geometry"] = ("s.geom", "geometry")
    return out


QUERYABLES = _queryables()


@dataclass(frozen=True)
class StationFilter:
    """What a listing asks for; every part optional."""

    bbox: tuple[float, float, float, float] | None = None  # min_lon, min_lat, max_lon, max_lat
    district: str | None = None  # admin code or name, of a county, city or the province
    amenities: Sequence[str] = ()  # all required
    status: str | None = None  # active, suspended or closed
    condition: tuple[str, dict[str, Any]] | None = None  # SQL and parameters (stations.cql)
    opening_hours_in: Sequence[str] | None = None  # only these expressions (see open_at)
    ids_in: Sequence[int] = ()  # ... or these stations (sun times, judged one by one)
    active_only: bool = False

    def where(self) -> tuple[str, dict[str, Any]]:
        """SQL conditions and parameters; a district matches its own code or an ancestor's."""
        clauses, params = ["TRUE"], {}
        if self.bbox:
            clauses.append("s.geom && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)")
            params.update(zip(("x0", "y0", "x1", "y1"), self.bbox, strict=True))
        if self.district:
            clauses.append(
                """s.district_code IN (
                    WITH RECURSIVE tree AS (
                        SELECT code FROM districts WHERE code = %(d)s OR name = %(d)s
                        UNION SELECT c.code FROM districts c JOIN tree t ON c.parent_code = t.code
                    ) SELECT code FROM tree)"""
            )
            params["d"] = self.district
        if self.amenities:
            clauses.append("s.amenities @> %(am)s::text[]")
            params["am"] = list(self.amenities)
        if self.status:
            clauses.append("s.status = %(status)s")
            params["status"] = self.status
        if self.condition:
            clauses.append(self.condition[0])
            params.update(self.condition[1])
        if self.active_only:
            clauses.append("s.status = 'active'")
        if self.opening_hours_in is not None:
            clauses.append("(s.opening_hours = ANY(%(oh)s::text[]) OR s.id = ANY(%(ids)s))")
            params["oh"] = list(self.opening_hours_in)
            params["ids"] = list(self.ids_in)
        return " AND ".join(clauses), params


def open_at(conn: psycopg.Connection, flt: StationFilter, judge: Judge) -> StationFilter:
    """``flt`` narrowed to active stations open at ``judge.at`` (for its ``open_for_min``).

    Stations share a few hundred schedules at most, so each distinct expression is
    evaluated once with the registry's hours semantics and the database filters by it;
    schedules with sun times are judged per station, by id.
    """
    where, params = flt.where()
    active = f"FROM stations s WHERE {where} AND s.status = 'active'"
    exprs = [
        row[0]
        for row in conn.execute(
            f"SELECT DISTINCT s.opening_hours {active} AND s.opening_hours IS NOT NULL", params
        )
    ]
    usable = [e for e in exprs if not hours.uses_sun(e) and judge.usable(judge.hours(e))]
    sun = [e for e in exprs if hours.uses_sun(e)]
    ids = []
    if sun:  # only these stations' positions are needed, and only they are judged one by one
        rows = conn.execute(
            f"SELECT s.id, s.opening_hours, ST_X(s.geom), ST_Y(s.geom) {active} "
            "AND s.opening_hours = ANY(%(sun)s::text[])",
            {**params, "sun": sun},
        ).fetchall()
        ids = [i for i, expr, x, y in rows if judge.usable(judge.hours(expr, x, y))]
    return replace(flt, active_only=True, opening_hours_in=usable, ids_in=ids)


def get_station(
    conn: psycopg.Connection, station_id: int, *, for_update: bool = False
) -> dict[str, Any]:
    """One station by id, or :class:`NotFound`.

    ``for_update`` locks its row until the transaction ends (an edit reading what it is
    about to change).
    """
    lock = " FOR UPDATE OF s" if for_update else ""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_SELECT + " WHERE s.id = %s" + lock, [station_id]).fetchone()
    if row is None:
        raise NotFound(f"no station with id {station_id}")
    return row


def count_stations(conn: psycopg.Connection, flt: StationFilter, at_most: int | None = None) -> int:
    """How many stations match (OGC API ``numberMatched``).

    With ``at_most``, counting stops there: enough to tell a view that can be listed.
    """
    where, params = flt.where()
    if at_most is None:
        sql = f"SELECT count(*) FROM stations s WHERE {where}"
    else:
        params["at_most"] = at_most
        sql = f"SELECT count(*) FROM (SELECT 1 FROM stations s WHERE {where} LIMIT %(at_most)s) x"
    return conn.execute(sql, params).fetchone()[0]


def extent(
    conn: psycopg.Connection, *, active_only: bool = True
) -> tuple[float, float, float, float] | None:
    """(min lon, min lat, max lon, max lat) of the (active) stations; None when there are none."""
    where = "WHERE status = 'active'" if active_only else ""
    row = conn.execute(
        f"""SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
            FROM (SELECT ST_Extent(geom) e FROM stations {where}) x"""
    ).fetchone()
    return None if row is None or row[0] is None else tuple(float(v) for v in row)


def grid_counts(
    conn: psycopg.Connection, flt: StationFilter, columns: int, rows: int
) -> list[tuple[int, float, float]]:
    """(count, mean lon, mean lat) of each non-empty cell of a grid over ``flt.bbox``.

    For a view with too many stations to list: ``columns`` × ``rows`` cells.
    """
    assert flt.bbox is not None
    where, params = flt.where()
    x0, y0, x1, y1 = flt.bbox
    params.update(dx=max(x1 - x0, 1e-9) / columns, dy=max(y1 - y0, 1e-9) / rows)
    return conn.execute(
        f"""SELECT count(*), avg(ST_X(s.geom)), avg(ST_Y(s.geom)) FROM stations s
            WHERE {where}
            GROUP BY floor((ST_X(s.geom) - %(x0)s) / %(dx)s),
                     floor((ST_Y(s.geom) - %(y0)s) / %(dy)s)
            ORDER BY 2, 3""",
        params,
    ).fetchall()


def list_stations(
    conn: psycopg.Connection, flt: StationFilter, limit: int | None, offset: int = 0
) -> list[dict[str, Any]]:
    """One page of matching stations in id order (stable paging)."""
    where, params = flt.where()
    params.update(limit=limit, offset=offset)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            _SELECT + f" WHERE {where} ORDER BY s.id LIMIT %(limit)s OFFSET %(offset)s", params
        ).fetchall()


def iter_stations(conn: psycopg.Connection, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every station in code order, streamed with a server-side cursor (for exports)."""
    with conn.cursor(name="export_stations", row_factory=dict_row) as cur:
        cur.itersize = batch
        cur.execute(_SELECT + " ORDER BY s.code")
        yield from cur


def count_districts(conn: psycopg.Connection, code_or_name: str) -> int:
    """How many districts have this admin code or name (two counties share 城区)."""
    row = conn.execute(
        "SELECT count(*) FROM districts WHERE code = %s OR name = %s", [code_or_name] * 2
    ).fetchone()
    return row[0]


def history(conn: psycopg.Connection, station_id: int) -> list[dict[str, Any]]:
    """Every recorded change to a station, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT id, station_id, version, action, changed_at, changed_by, before, after
               FROM station_history WHERE station_id = %s ORDER BY id""",
            [station_id],
        ).fetchall()


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """``field -> {before, after}`` for the fields a history entry changed."""
    before, after = before or {}, after or {}
    return {
        k: {"before": before.get(k), "after": after.get(k)}
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    }


def version(conn: psycopg.Connection) -> int:
    """The whole registry's version: its generation, raised by every committed change.

    Generations follow commit order (migration 0004), so equal versions mean the same
    stations, which ``max(station_history.id)`` could not promise.
    """
    return conn.execute("SELECT generation FROM registry_generation").fetchone()[0]
