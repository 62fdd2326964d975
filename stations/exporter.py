"""Write every station to CSV or GeoJSON in the form :mod:`stations.importer` reads back.

Export then import is a no-op: the same headers, the cell text of
:func:`stations.records.cell_text`, and coordinates written with ``repr`` so the floats
survive exactly.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import IO

import psycopg

from stations.records import FIELD_NAMES, cell_text, feature
from stations.registry import iter_stations

FORMATS = ("csv", "geojson")


def export(conn: psycopg.Connection, fmt: str, out: IO[str]) -> int:
    """Write all stations to ``out`` in ``fmt``; returns how many were written."""
    if fmt == "csv":
        return _export_csv(conn, out)
    if fmt == "geojson":
        return _export_geojson(conn, out)
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


def _export_csv(conn: psycopg.Connection, out: IO[str]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELD_NAMES)
    count = 0
    for record in iter_stations(conn):
        writer.writerow([cell_text(record.get(name)) for name in FIELD_NAMES])
        count += 1
    return count


def _export_geojson(conn: psycopg.Connection, out: IO[str]) -> int:
    out.write('{"type": "FeatureCollection", "features": [\n')
    count = 0
    for record in iter_stations(conn):
        item = feature({k: v for k, v in record.items() if k != "id"})
        item["id"] = record["code"]
        out.write((",\n" if count else "") + json.dumps(item, ensure_ascii=False))
        count += 1
    out.write("\n]}\n")
    return count
