"""Import station files (CSV, XLSX, GeoJSON): every row lands or none does.

Rows are parsed and checked in Python (types, vocabularies, hours with the reference
parser), then bulk-copied into a temporary table where PostGIS checks what needs the
stored data: the district exists and contains the point, codes and positions do not
clash. Only a file with no problem at all is applied, in one transaction: new codes are
inserted, known codes updated (the history trigger records the change), identical rows
left alone. Row numbers are those a person sees: spreadsheet rows (header = row 1) for
CSV and XLSX, feature numbers (from 1) for GeoJSON.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.dialects import postgresql
from tqdm import tqdm

from geo.crs import geodesic_distance_m
from stations import readers, schema
from stations.bulk import gc_paused
from stations.errors import ImportRejected
from stations.records import COLUMNS, parse_row

LOGGER = logging.getLogger(__name__)

# Boundaries in the registry are simplified; a point this close to its district still
# counts as inside. Swapped coordinates or a wrong district are kilometres off.
DISTRICT_TOLERANCE_M = 1000
# Two stations with the same name this close together are the same station.
SAME_PLACE_M = 25


@dataclass
class Problem:
    """One reason a row cannot be imported."""

    row: int
    field: str
    value: str
    reason: str
    reason_zh: str | None = None  # the reason in Chinese, where one is written

    def as_dict(self) -> dict[str, Any]:
        """Plain form for JSON reports."""
        out = {"row": self.row, "field": self.field, "value": self.value, "reason": self.reason}
        if self.reason_zh:
            out["reason_zh"] = self.reason_zh
        return out


@dataclass
class ImportResult:
    """What an import did (or, with ``dry_run``, would do)."""

    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    dry_run: bool = False
    problems: list[Problem] = field(default_factory=list)


_STAGE_COLUMNS = ("row_no", "given", *COLUMNS, "lon", "lat")
# bit i of import_rows.given: the row gave COLUMNS[i] (an absent column keeps stored values)
_BIT = {c: 1 << i for i, c in enumerate(COLUMNS)}


def _stage_sql() -> str:
    """The staging table, from the declared columns, the position and its point.

    Every column may be absent but the code, which matches rows.
    """
    dialect = postgresql.dialect()
    columns = ",\n    ".join(
        f"{c.name} {c.type.compile(dialect=dialect)}{' NOT NULL' if c.name == 'code' else ''}"
        for c in (schema.stations.c[name] for name in COLUMNS)
    )
    return f"""
CREATE TEMP TABLE import_rows (
    row_no integer NOT NULL, given bigint NOT NULL,
    {columns},
    lon double precision NOT NULL, lat double precision NOT NULL,
    geom geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326))
        STORED
) ON COMMIT DROP
"""


_STAGE_SQL = _stage_sql()


def import_file(
    conn: psycopg.Connection,
    path: str | Path,
    *,
    actor: str,
    dry_run: bool = False,
    progress: bool = False,
    staged: Callable[[], None] | None = None,
) -> ImportResult:
    """Validate and import one file on ``conn``; raises :class:`ImportRejected` on any problem.

    ``conn`` must not be in a transaction the caller wants kept separate: this function
    commits (or, on a dry run or a rejection, rolls back) the import as one transaction.
    """
    path = Path(path)
    rows = readers.read_rows(path)
    if progress:
        rows = tqdm(rows, desc=f"checking {path.name}", unit=" rows", leave=False)
    return import_rows(conn, rows, actor=actor, dry_run=dry_run, source=path.name, staged=staged)


def import_rows(
    conn: psycopg.Connection,
    rows: Iterable[tuple[int, dict[str, str]]],
    *,
    actor: str,
    dry_run: bool = False,
    source: str = "rows",
    staged: Callable[[], None] | None = None,
    effective: dt.datetime | None = None,
) -> ImportResult:
    """Import ``(row number, {field: text})`` pairs; see :func:`import_file`.

    ``effective``: when the rows' facts took effect, for records carried over from an
    earlier register (the history keeps it beside the time it was written; migration 0009).

    ``staged`` runs once the whole file is read and checked on its own, before anything
    reads the registry: the place to take a lock, so no lock waits on a slow or bad file.
    """
    result = ImportResult(dry_run=dry_run)
    codes: dict[str, int] = {}
    present: set[str] = set()
    try:
        with gc_paused(), conn.transaction():
            # ON COMMIT DROP does not fire when the caller's transaction goes on (a savepoint)
            conn.execute("DROP TABLE IF EXISTS pg_temp.import_rows")
            conn.execute(_STAGE_SQL)
            with conn.cursor().copy(
                f"COPY import_rows ({', '.join(_STAGE_COLUMNS)}) FROM STDIN"
            ) as copy:
                for row_no, given, record in _checked(rows, result, codes, present):
                    copy.write_row(
                        [row_no, given, *map(record.get, COLUMNS), record["lon"], record["lat"]]
                    )
            if staged is not None and not result.problems:
                staged()  # a file already refused is still checked below, without the lock
            _check_in_database(conn, result)
            if result.problems:
                _reject(result, source)
            _apply(conn, result, present, actor, effective)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    LOGGER.info(
        "import %s: %d rows, %d inserted, %d updated, %d unchanged%s",
        source,
        result.rows,
        result.inserted,
        result.updated,
        result.unchanged,
        " (dry run)" if dry_run else "",
    )
    return result


def _reject(result: ImportResult, source: str) -> None:
    result.problems.sort(key=lambda p: (p.row, p.field))
    raise ImportRejected(_summary(result, source), rows=[p.as_dict() for p in result.problems])


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


def _checked(
    rows: Iterable[tuple[int, dict[str, str]]],
    result: ImportResult,
    codes: dict[str, int],
    present: set[str],
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Parse rows, record their problems, and yield the rows worth checking in SQL.

    Yields ``(row number, bitmask of the columns the row gave, record)``.
    """
    masks: dict[frozenset[str], int] = {}  # CSV rows all give the same columns
    places: dict[str, list[tuple[int, float, float]]] = {}  # name -> rows with that name
    for row_no, cells in rows:
        result.rows += 1
        keys = frozenset(cells)
        given = masks.get(keys)
        if given is None:
            given = masks[keys] = sum(bit for c, bit in _BIT.items() if c in keys)
            present.update(keys)
        record, problems = parse_row(cells)
        for name, value, reason, reason_zh in problems:
            result.problems.append(Problem(row_no, name, value, reason, reason_zh))
        code = record.get("code")
        if code is not None:
            if code in codes:
                result.problems.append(
                    Problem(row_no, "code", code, f"code repeated in the file (row {codes[code]})")
                )
                continue
            codes[code] = row_no
        if not problems:
            if (earlier := _same_place(places, row_no, record)) is not None:
                result.problems.append(
                    Problem(
                        row_no, "name", record["name"], f"same name and position as row {earlier}"
                    )
                )
                continue
            if "amenities" in record:  # codes are [a-z_]: an array literal needs no quoting
                record["amenities"] = "{" + ",".join(record["amenities"]) + "}"
            yield row_no, given, record


def _same_place(
    places: dict[str, list[tuple[int, float, float]]], row_no: int, record: dict[str, Any]
) -> int | None:
    """The earlier row with this row's name within ``SAME_PLACE_M``, if any.

    Names rarely repeat, so the geodesic distance is only measured for the few that do.
    """
    name, lon, lat = record["name"], record["lon"], record["lat"]
    seen = places.setdefault(name, [])
    for earlier, lon0, lat0 in seen:
        if geodesic_distance_m(lon0, lat0, lon, lat) <= SAME_PLACE_M:
            return earlier
    seen.append((row_no, lon, lat))
    return None


_CHECKS = (
    # district known (by code or by unambiguous name), names agree
    """
    SELECT r.row_no, 'district_code', coalesce(r.district_code, ''),
           'unknown district code; load its boundary first'
    FROM import_rows r LEFT JOIN districts d ON d.code = r.district_code
    WHERE r.district_code IS NOT NULL AND d.code IS NULL
    """,
    """
    SELECT r.row_no, 'district_name', r.district_name,
           CASE WHEN count(d.code) > 1 THEN 'district name is ambiguous; give district_code'
                WHEN EXISTS (SELECT 1 FROM districts x WHERE x.name = r.district_name)
                THEN 'not a county-level district; give the 区/县 the station is in'
                ELSE 'unknown district name' END
    FROM import_rows r LEFT JOIN districts d ON d.name = r.district_name AND d.level = 'county'
    WHERE r.district_code IS NULL
    GROUP BY r.row_no, r.district_name HAVING count(d.code) <> 1
    """,
    """
    SELECT r.row_no, 'district_name', r.district_name,
           'does not match district ' || d.code || ' (' || d.name || ')'
    FROM import_rows r JOIN districts d ON d.code = r.district_code
    WHERE r.district_name IS NOT NULL AND r.district_name <> d.name
    """,
    # the point lies in its district (within the boundary tolerance)
    """
    SELECT r.row_no, 'lon/lat', r.lon || ',' || r.lat,
           'position is outside district ' || d.code || ' (' || d.name || ')'
    FROM import_rows r JOIN districts d ON d.code = r.district_code
    WHERE NOT ST_Covers(d.geom, r.geom)
      AND NOT ST_DWithin(d.geom::geography, r.geom::geography, %(tolerance)s)
    """,
    # a new station at the position and with the name of a stored one (two rows of the
    # file for one place are found while parsing, see _same_place)
    """
    SELECT r.row_no, 'name', r.name,
           'a station with this name already exists ' || round(ST_Distance(
               s.geom::geography, r.geom::geography)) || ' m away (code ' || s.code || ')'
    FROM import_rows r JOIN stations s ON s.name = r.name AND s.code <> r.code
    WHERE NOT EXISTS (SELECT 1 FROM stations x WHERE x.code = r.code)
      AND ST_DWithin(s.geom::geography, r.geom::geography, %(same_place)s)
    """,
)


def _check_in_database(conn: psycopg.Connection, result: ImportResult) -> None:
    """Fill district codes and geometry, then run the checks that need stored data."""
    conn.execute(
        """
        UPDATE import_rows r SET district_code = d.code
        FROM districts d
        WHERE r.district_code IS NULL AND d.level = 'county' AND d.name = r.district_name
          AND (SELECT count(*) FROM districts x
               WHERE x.level = 'county' AND x.name = r.district_name) = 1
        """
    )
    params = {"tolerance": DISTRICT_TOLERANCE_M, "same_place": SAME_PLACE_M}
    for sql in _CHECKS:
        for row_no, name, value, reason in conn.execute(sql, params):
            result.problems.append(Problem(row_no, name, value, reason))
    # rows that stay ambiguous must not reach the insert below
    conn.execute("DELETE FROM import_rows WHERE district_code IS NULL")


def _apply(
    conn: psycopg.Connection,
    result: ImportResult,
    present: set[str],
    actor: str,
    effective: dt.datetime | None,
) -> None:
    """Insert new codes, update changed ones; the history triggers log both."""
    conn.execute("SELECT set_config('stations.actor', %s, true)", [actor])
    conn.execute(
        "SELECT set_config('stations.effective_at', %s, true)",
        [effective.isoformat() if effective else ""],
    )
    result.inserted = conn.execute(
        f"""
        INSERT INTO stations ({", ".join(COLUMNS)}, geom)
        SELECT {", ".join(_new_value(c) for c in COLUMNS)}, r.geom
        FROM import_rows r JOIN districts d ON d.code = r.district_code
        WHERE NOT EXISTS (SELECT 1 FROM stations s WHERE s.code = r.code)
        ORDER BY r.row_no
        """
    ).rowcount
    staged = conn.execute("SELECT count(*) FROM import_rows").fetchone()[0]
    result.unchanged = result.rows - result.inserted
    if result.inserted == staged:
        return  # every row was new: nothing to update
    # the district (resolved from code or name) and the position are always given
    always = {"district_code": "r.district_code", "district_name": "d.name", "geom": "r.geom"}
    sets, differs = [], []
    for column, value in always.items():
        sets.append(f"{column} = {value}")
        differs.append(f"s.{column} IS DISTINCT FROM {value}")
    for column in COLUMNS:
        if column in always or column == "code" or column not in present:
            continue
        value = f"coalesce(r.{column}, s.{column})" if column == "status" else _new_value(column)
        given = f"(r.given & {_BIT[column]}) <> 0"
        sets.append(f"{column} = CASE WHEN {given} THEN {value} ELSE s.{column} END")
        differs.append(f"({given} AND s.{column} IS DISTINCT FROM {value})")
    result.updated = conn.execute(
        f"""
        UPDATE stations s SET {", ".join(sets)}
        FROM import_rows r JOIN districts d ON d.code = r.district_code
        WHERE s.code = r.code AND ({" OR ".join(differs)})
        """
    ).rowcount
    result.unchanged -= result.updated


def _new_value(column: str) -> str:
    """SQL for a column's value from the staged row (``d`` is its district)."""
    if column == "district_name":
        return "d.name"  # the registry's spelling, whatever the file said
    if column in _DEFAULTS:
        return f"coalesce(r.{column}, {_DEFAULTS[column]})"
    return f"r.{column}"


_DEFAULTS = {"amenities": "'{}'::text[]", "status": "'active'"}


def _summary(result: ImportResult, source: str) -> str:
    rows = sorted({p.row for p in result.problems})
    return (
        f"{source}: {len(result.problems)} problem(s) in {len(rows)} of {result.rows} row(s); "
        "nothing was imported"
    )
