"""Write every station to CSV or GeoJSON in the form :mod:`stations.importer` reads back.

Export then import is a no-op: the same headers, the cell text of
:func:`stations.records.cell_text`, and coordinates written with ``repr`` so the floats
survive exactly; a cell a spreadsheet would run as a formula gets an apostrophe
(:func:`stations.records.inert`), which the importer takes off. After the fields come,
for people reading the file, the hours in words (Chinese) and each station's state at
the moment of the export (``state_at``), columns and properties the importer ignores.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import IO, Any

import psycopg

from stations import hours
from stations.availability import Judge, hours_text
from stations.records import FIELD_NAMES, cell_text, feature, inert
from stations.registry import iter_stations

FORMATS = ("csv", "geojson")


READ_ONLY = ("opening_hours_text", "state", "next_change", "state_at")


def export(conn: psycopg.Connection, fmt: str, out: IO[str], at: dt.datetime | None = None) -> int:
    """Write all stations to ``out`` in ``fmt``, states as of ``at`` (now); how many."""
    judge = Judge(at or dt.datetime.now(hours.SHANGHAI))
    if fmt == "csv":
        return _export_csv(conn, out, judge)
    if fmt == "geojson":
        return _export_geojson(conn, out, judge)
    raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")


def export_file(conn: psycopg.Connection, fmt: str, path: Path) -> int:
    """Export to a file (UTF-8; CSV with the header row first); all or nothing."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", newline="", encoding="utf-8") as fh:
            count = export(conn, fmt, fh)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return count


def _read_only(record: dict[str, Any], judge: Judge) -> list[str]:
    """The columns after the fields: hours in words, state, its next change, the instant."""
    state = judge.station(record)
    change = state.next_change.isoformat() if state.next_change else ""
    text = hours_text(record.get("opening_hours"), "zh")
    return [text, state.state, change, judge.at.isoformat(timespec="seconds")]


def _export_csv(conn: psycopg.Connection, out: IO[str], judge: Judge) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*FIELD_NAMES, *READ_ONLY])
    count = 0
    for record in iter_stations(conn):
        cells = [inert(cell_text(record.get(name))) for name in FIELD_NAMES]
        writer.writerow([*cells, *(inert(c) for c in _read_only(record, judge))])
        count += 1
    return count


def _export_geojson(conn: psycopg.Connection, out: IO[str], judge: Judge) -> int:
    out.write('{"type": "FeatureCollection", "features": [\n')
    count = 0
    for record in iter_stations(conn):
        extra = dict(zip(READ_ONLY, _read_only(record, judge), strict=True))
        extra["next_change"] = extra["next_change"] or None
        item = feature({k: v for k, v in record.items() if k != "id"}, extra)
        item["id"] = record["code"]
        out.write((",\n" if count else "") + json.dumps(item, ensure_ascii=False))
        count += 1
    out.write("\n]}\n")
    return count
