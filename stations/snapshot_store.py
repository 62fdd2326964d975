"""The active stations as compact columns, read from PostgreSQL and kept on disk.

A worker's in-memory copy of the registry (:mod:`stations.snapshot`) needs, per station,
only what the search looks at (position, amenity signature, which schedule) plus the
record it answers with. Decoding a million rows in Python holds a worker's interpreter
for many seconds, so a full copy is built by a separate process
(``python -m stations.snapshot_store``) that writes NumPy arrays and one blob of encoded
records to a folder; the worker maps the files (``mmap``: pages are read when touched
and shared with the page cache) and builds its k-d tree, which releases the GIL.

Per station: 44 bytes of columns and about 250 bytes of record (UTF-8 JSON), of which a
search touches only the few it returns.
"""

from __future__ import annotations

import datetime as dt
import json
import mmap
import os
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psycopg

from stations.nearest import RECORD_NAMES, RECORD_SQL

_HOURS = RECORD_NAMES.index("opening_hours")
_AMENITIES = RECORD_NAMES.index("amenities")
_OPENED = RECORD_NAMES.index("opened_on")
_UPDATED = RECORD_NAMES.index("updated_at")
_AREA = RECORD_NAMES.index("floor_area_m2")
_LON, _LAT = RECORD_NAMES.index("lon"), RECORD_NAMES.index("lat")
ARRAYS = ("ids", "lon", "lat", "amenities", "schedule", "offsets")

# One statement, so one database snapshot: the generation and the stations it stands for
# (a registry without active stations still gives the generation, on a row of NULLs).
LOAD_SQL = f"""
SELECT g.generation, {RECORD_SQL}
FROM registry_generation g
LEFT JOIN stations s ON s.status = 'active' AND s.geom IS NOT NULL
ORDER BY s.id
"""


def encode(row: tuple[Any, ...]) -> bytes:
    """A record (``RECORD_NAMES``) as compact JSON; dates as ISO text, areas as text."""
    values = list(row)
    if values[_AREA] is not None:
        values[_AREA] = str(values[_AREA])
    return orjson.dumps(values)


def decode(data: bytes | memoryview) -> tuple[Any, ...]:
    """The record :func:`encode` wrote, with the types PostgreSQL gives."""
    values = orjson.loads(data)
    if values[_AREA] is not None:
        values[_AREA] = Decimal(values[_AREA])
    if values[_OPENED] is not None:
        values[_OPENED] = dt.date.fromisoformat(values[_OPENED])
    values[_UPDATED] = dt.datetime.fromisoformat(values[_UPDATED])
    return tuple(values)


@dataclass(frozen=True)
class Columns:
    """The active stations of one generation as arrays, records in one blob."""

    generation: int
    ids: np.ndarray  # int64, ascending
    lon: np.ndarray
    lat: np.ndarray
    amenities: np.ndarray  # uint64, one bit per code in ``amenity_codes``
    schedule: np.ndarray  # int32 index into ``schedules``
    offsets: np.ndarray  # int64, len(ids) + 1: record i is blob[offsets[i]:offsets[i + 1]]
    blob: bytes | mmap.mmap
    schedules: tuple[str | None, ...]
    amenity_codes: tuple[str, ...]

    def record(self, i: int) -> tuple[Any, ...]:
        """The stored record of the station at position ``i``."""
        return decode(memoryview(self.blob)[int(self.offsets[i]) : int(self.offsets[i + 1])])


def read(conn: psycopg.Connection, batch: int = 20000) -> Columns:
    """Read every active station of the current generation into columns."""
    ids: list[int] = []
    lon: list[float] = []
    lat: list[float] = []
    signatures: list[frozenset[str]] = []
    schedule: list[int] = []
    schedules: dict[str | None, int] = {None: 0}
    offsets = [0]
    blob = bytearray()
    generation = None
    with conn.transaction(), conn.cursor(name="snapshot_load") as cur:
        cur.itersize = batch
        cur.execute(LOAD_SQL)
        for row in cur:
            generation = row[0]
            record = row[1:]
            if record[0] is None:
                continue
            ids.append(record[0])
            lon.append(record[_LON])
            lat.append(record[_LAT])
            signatures.append(frozenset(record[_AMENITIES] or ()))
            schedule.append(schedules.setdefault(record[_HOURS], len(schedules)))
            blob += encode(record)
            offsets.append(len(blob))
    if generation is None:  # (a cursor yields the NULL row too, so only on no rows at all)
        found = conn.execute("SELECT generation FROM registry_generation").fetchone()
        generation = found[0] if found else 0
    codes = tuple(sorted({code for s in signatures for code in s}))
    if len(codes) > 64:
        raise ValueError(f"{len(codes)} amenity codes in use; the copy holds 64")
    bits = {code: 1 << n for n, code in enumerate(codes)}
    by_signature = {s: sum(bits[c] for c in s) for s in set(signatures)}
    return Columns(
        generation=generation,
        ids=np.array(ids, dtype=np.int64),
        lon=np.array(lon, dtype=np.float64),
        lat=np.array(lat, dtype=np.float64),
        amenities=np.array([by_signature[s] for s in signatures], dtype=np.uint64),
        schedule=np.array(schedule, dtype=np.int32),
        offsets=np.array(offsets, dtype=np.int64),
        blob=bytes(blob),
        schedules=tuple(schedules),
        amenity_codes=codes,
    )


def write(columns: Columns, folder: Path) -> None:
    """Save columns to an empty ``folder``: one .npy per array, the blob, meta.json last."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ARRAYS:
        np.save(folder / f"{name}.npy", getattr(columns, name))
    (folder / "records.bin").write_bytes(bytes(columns.blob) or b"\0")  # mmap needs a byte
    meta = {
        "generation": columns.generation,
        "schedules": list(columns.schedules),
        "amenity_codes": list(columns.amenity_codes),
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
        **arrays,
    )


URL_ENV = "STATIONS_SNAPSHOT_URL"  # the database, passed by environment (not argv: ps shows it)


def main() -> None:
    """Child process: read the registry named by ``$STATIONS_SNAPSHOT_URL`` into argv[1]."""
    from stations import db

    folder = Path(sys.argv[1])
    with db.connect(os.environ[URL_ENV]) as conn:
        write(read(conn), folder)


if __name__ == "__main__":
    main()
