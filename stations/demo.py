"""The one loader for the demo data set, shared by ``stations demo``, the tests and benches.

Loads ``data/demo``: real district boundaries (upserted), the demand layer (replaced) and
the stations (through the ordinary importer, so a second load changes nothing). On a first
load the stations' past comes too: the register as it stood from ``REGISTER_FROM``, then
each status change of ``history.csv`` on its own day, so reports for past periods see the
stations as they were (``station_history.effective_at``).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import psycopg

from stations import db, readers, settings
from stations.hours.tz import SHANGHAI
from stations.importer import ImportResult, import_file, import_rows

LEVEL_ORDER = {"province": 0, "city": 1, "county": 2}
REGISTER_FROM = dt.date(2016, 1, 1)  # the demo register's records hold from this day


@dataclass
class DemoResult:
    """What a demo load did."""

    districts: int
    demand_points: int
    stations: ImportResult


def demo_dir() -> Path:
    """``data/demo`` under the configured data folder."""
    return Path(settings.path("STATIONS_DATA_DIR")) / "demo"


def load_districts(conn: psycopg.Connection, path: Path) -> int:
    """Upsert district boundaries from a GeoJSON FeatureCollection (parents first)."""
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    features.sort(key=lambda f: (LEVEL_ORDER[f["properties"]["level"]], f["properties"]["code"]))
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO districts (code, name, parent_code, level, geom)
            VALUES (%s, %s, %s, %s, ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326)))
            ON CONFLICT (code) DO UPDATE SET name = excluded.name,
                parent_code = excluded.parent_code, level = excluded.level, geom = excluded.geom
            """,
            [
                (
                    p["code"],
                    p["name"],
                    p.get("parent_code"),
                    p["level"],
                    json.dumps(f["geometry"]),
                )
                for f in features
                for p in [f["properties"]]
            ],
        )
    return len(features)


def load_demand(conn: psycopg.Connection, path: Path) -> int:
    """Replace the demand layer with the weighted points of a GeoJSON file."""
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    with conn.transaction():
        conn.execute("DELETE FROM demand_points")
        with conn.cursor().copy(
            "COPY demand_points (kind, weight, district_code, geom) FROM STDIN"
        ) as copy:
            for f in features:
                p, (lon, lat) = f["properties"], f["geometry"]["coordinates"][:2]
                copy.write_row(
                    [
                        p["kind"],
                        p["weight"],
                        p.get("district_code"),
                        f"SRID=4326;POINT({lon} {lat})",
                    ]
                )
    return len(features)


def load_demo(
    conn: psycopg.Connection, folder: Path | None = None, *, progress: bool = False
) -> DemoResult:
    """Load the whole demo set; safe to run again (stations already there stay unchanged)."""
    folder = folder or demo_dir()
    districts = load_districts(conn, folder / "districts.geojson")
    demand = load_demand(conn, folder / "demand.geojson")
    changes = _status_changes(folder / "history.csv")
    fresh = not conn.execute(
        "SELECT EXISTS (SELECT 1 FROM stations WHERE code = ANY(%s))", [list(changes)]
    ).fetchone()[0]
    if not fresh or not changes:
        stations = import_file(conn, folder / "stations.csv", actor="demo", progress=progress)
        return DemoResult(districts, demand, stations)
    first = {code: "active" for code in changes}  # every one of them was active until then
    rows = (
        (n, {**row, "status": first.get(row["code"], row["status"])})
        for n, row in readers.read_rows(folder / "stations.csv")
    )
    stations = import_rows(
        conn, rows, actor="demo", source="stations.csv", effective=_midnight(REGISTER_FROM)
    )
    by_day: dict[dt.date, list[tuple[str, str]]] = defaultdict(list)
    for code, steps in changes.items():
        for day, status in steps:
            by_day[day].append((code, status))
    for day in sorted(by_day):
        with conn.transaction():
            conn.execute("SELECT set_config('stations.actor', 'demo', true)")
            conn.execute(
                "SELECT set_config('stations.effective_at', %s, true)", [_midnight(day).isoformat()]
            )
            for code, status in by_day[day]:
                conn.execute("UPDATE stations SET status = %s WHERE code = %s", [status, code])
    return DemoResult(districts, demand, stations)


def _status_changes(path: Path) -> dict[str, list[tuple[dt.date, str]]]:
    """``history.csv``: per code, its status changes in order of day."""
    if not path.exists():
        return {}
    out: dict[str, list[tuple[dt.date, str]]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            out[row["code"]].append((dt.date.fromisoformat(row["effective_on"]), row["status"]))
    return {code: sorted(steps) for code, steps in out.items()}


def _midnight(day: dt.date) -> dt.datetime:
    """The start of ``day`` in Beijing time."""
    return dt.datetime.combine(day, dt.time(), SHANGHAI)


def demo_database(name: str, url: str | None = None) -> str:
    """The URL of database ``name`` beside ``url``'s, made afresh and holding the demo set.

    For tests and benchmarks, which must never touch the database people use.
    """
    scratch = db.scratch_database(name, url)
    with db.connect(scratch) as conn:
        load_demo(conn)
    return scratch
