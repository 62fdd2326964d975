"""The active stations as compact columns, read from PostgreSQL and kept on disk.

A worker's in-memory copy of the registry (:mod:`stations.snapshot`) needs, per station,
only what the search looks at (position, amenity signature, which schedule) plus the
record it answers with. Decoding a million rows into Python objects takes twenty
seconds of a core, so the rows come through ``COPY``: the numbers in COPY's binary form,
read straight into NumPy, the records in COPY's text form, one line each, decoded by
psycopg's own loaders only for the few stations a search returns.
A full copy is written by a separate process (``python -m stations.snapshot_store``),
shared by the workers of a machine, and mapped by each of them (``mmap``: pages are
read when touched and shared through the page cache).

Per station: 44 bytes of columns and about 250 bytes of record, of which a search
touches only the few it returns.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import IsolationLevel
from psycopg.adapt import Transformer
from psycopg.pq import Format

from stations.nearest import RECORD_SQL

ARRAYS = ("ids", "lon", "lat", "amenities", "schedule", "offsets")
_ACTIVE = "FROM stations s WHERE s.status = 'active' AND s.geom IS NOT NULL"
# The fixed-width columns in COPY's binary form: per row a field count, then for each
# field its length and its big-endian value.
_ROW = np.dtype(
    [("n", ">i2"), ("l1", ">i4"), ("id", ">i8"), ("l2", ">i4"), ("lon", ">f8"),
     ("l3", ">i4"), ("lat", ">f8"), ("l4", ">i4"), ("bits", ">i8"), ("l5", ">i4"),
     ("schedule", ">i4")]
)  # fmt: skip
_COPY_HEADER, _COPY_TRAILER = 19, 2  # signature, flags, extension length; the -1 count
# The amenity signature as bits of the sorted codes, worked out once per distinct set;
# the schedule as its position among the sorted distinct values (0: none published).
_NUMBERS = """
COPY (
    SELECT s.id, ST_X(s.geom), ST_Y(s.geom), coalesce(sig.bits, 0),
           coalesce(k.position, 0)::int4
    FROM stations s
    LEFT JOIN (
        SELECT d.amenities,
               (SELECT coalesce(bit_or(1::int8 << (array_position(%(codes)s::text[], a) - 1)), 0)
                FROM unnest(d.amenities) a) AS bits
        FROM (SELECT DISTINCT amenities FROM stations) d
    ) sig ON sig.amenities = s.amenities
    LEFT JOIN unnest(%(schedules)s::text[]) WITH ORDINALITY AS k (expr, position)
           ON k.expr = s.opening_hours
    WHERE s.status = 'active' AND s.geom IS NOT NULL
    ORDER BY s.id
) TO STDOUT (FORMAT binary)
"""
_RECORDS = f"COPY (SELECT {RECORD_SQL} {_ACTIVE} ORDER BY s.id) TO STDOUT"
_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|.)")
_SIMPLE = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def _unescape(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    if code in _SIMPLE:
        return _SIMPLE[code]
    if code[:1] == b"x":
        return bytes([int(code[1:], 16)])
    if code[:1].isdigit():
        return bytes([int(code, 8) & 0xFF])
    return code


def _fields(line: bytes) -> list[bytes | None]:
    """A row of COPY's text form as field values (NULL as None), escapes undone."""
    out: list[bytes | None] = []
    for field in line.split(b"\t"):
        if field == b"\\N":
            out.append(None)
        elif b"\\" in field:
            out.append(_ESCAPE.sub(_unescape, field))
        else:
            out.append(field)
    return out


def decode(line: bytes, types: tuple[int, ...]) -> tuple[Any, ...]:
    """A record from its COPY text line, typed by psycopg's loaders for ``types`` (OIDs)."""
    return _loader(types).load_sequence(_fields(line))


@lru_cache(maxsize=8)
def _loader(types: tuple[int, ...]) -> Transformer:
    transformer = Transformer()
    transformer.set_loader_types(list(types), Format.TEXT)
    return transformer


@dataclass(frozen=True)
class Columns:
    """The active stations of one generation as arrays, records in one blob."""

    generation: int
    ids: np.ndarray  # int64, ascending
    lon: np.ndarray
    lat: np.ndarray
    amenities: np.ndarray  # uint64, one bit per code in ``amenity_codes``
    schedule: np.ndarray  # int32 index into ``schedules``
    offsets: np.ndarray  # int64, len(ids) + 1: record i is blob[offsets[i]:offsets[i+1]-1]
    blob: bytes | mmap.mmap  # the records in COPY's text form, each ending in a newline
    schedules: tuple[str | None, ...]
    amenity_codes: tuple[str, ...]
    types: tuple[int, ...]  # the records' column types (PostgreSQL OIDs)

    def record(self, i: int) -> tuple[Any, ...]:
        """The stored record of the station at position ``i``."""
        start, end = int(self.offsets[i]), int(self.offsets[i + 1]) - 1
        return decode(bytes(self.blob[start:end]), self.types)


def _copy(conn: psycopg.Connection, sql: str, params: dict[str, Any] | None = None) -> bytes:
    out = bytearray()
    with conn.cursor().copy(sql, params) as copy:
        for chunk in copy:
            out += chunk
    return bytes(out)


def read(conn: psycopg.Connection) -> Columns:
    """Read every active station of the current generation into columns.

    One repeatable-read transaction, so the generation and every part agree.
    """
    previous = conn.isolation_level
    if conn.autocommit:
        conn.autocommit = False
        restore_autocommit = True
    else:
        restore_autocommit = False
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction():
            return _read(conn)
    finally:
        conn.isolation_level = previous
        if restore_autocommit:
            conn.autocommit = True


def _read(conn: psycopg.Connection) -> Columns:
    found = conn.execute("SELECT generation FROM registry_generation").fetchone()
    codes = [
        r[0] for r in conn.execute(f"SELECT DISTINCT unnest(s.amenities) {_ACTIVE} ORDER BY 1")
    ]
    if len(codes) > 64:
        raise ValueError(f"{len(codes)} amenity codes in use; the copy holds 64")
    schedules = [
        r[0]
        for r in conn.execute(
            f"SELECT DISTINCT s.opening_hours {_ACTIVE} AND s.opening_hours IS NOT NULL ORDER BY 1"
        )
    ]
    numbers = _copy(conn, _NUMBERS, {"codes": codes, "schedules": schedules})
    count = (len(numbers) - _COPY_HEADER - _COPY_TRAILER) // _ROW.itemsize
    rows = np.frombuffer(numbers, dtype=_ROW, offset=_COPY_HEADER, count=count)
    described = conn.execute(f"SELECT {RECORD_SQL} {_ACTIVE} LIMIT 0").description
    types = tuple(d.type_code for d in described)
    # COPY's text form escapes newlines inside values: a newline byte ends a record
    blob = _copy(conn, _RECORDS)
    ends = np.flatnonzero(np.frombuffer(blob, dtype=np.uint8) == 0x0A)
    if len(ends) != len(rows):
        raise ValueError(f"{len(rows)} stations but {len(ends)} records")
    offsets = np.concatenate(([0], ends + 1)).astype(np.int64)
    return Columns(
        generation=found[0] if found else 0,
        ids=rows["id"].astype(np.int64),
        lon=rows["lon"].astype(np.float64),
        lat=rows["lat"].astype(np.float64),
        amenities=rows["bits"].astype(np.int64).view(np.uint64),
        schedule=rows["schedule"].astype(np.int32),
        offsets=offsets,
        blob=blob,
        schedules=(None, *schedules),
        amenity_codes=tuple(codes),
        types=types,
    )


def write(columns: Columns, folder: Path) -> None:
    """Save columns to ``folder``: one .npy per array, the blob, then meta.json."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ARRAYS:
        np.save(folder / f"{name}.npy", getattr(columns, name))
    (folder / "records.bin").write_bytes(bytes(columns.blob) or b"\0")  # mmap needs a byte
    meta = {
        "generation": columns.generation,
        "schedules": list(columns.schedules),
        "amenity_codes": list(columns.amenity_codes),
        "types": list(columns.types),
    }
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def open_folder(folder: Path) -> Columns:
    """Map what :func:`write` saved (the files may be removed afterwards; maps stay)."""
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
    with open(folder / "records.bin", "rb") as fh:
        blob = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    return Columns(
        generation=meta["generation"],
        blob=blob,
        schedules=tuple(meta["schedules"]),
        amenity_codes=tuple(meta["amenity_codes"]),
        types=tuple(meta["types"]),
        **arrays,
    )


URL_ENV = "STATIONS_SNAPSHOT_URL"  # the database, passed by environment (not argv: ps shows it)


def main() -> None:
    """Child process: read the registry named by ``$STATIONS_SNAPSHOT_URL`` into argv[1]."""
    from stations import db

    folder = Path(sys.argv[1])
    with db.connect(os.environ[URL_ENV], options=db.SERVING_OPTIONS) as conn:
        write(read(conn), folder)


if __name__ == "__main__":
    main()
