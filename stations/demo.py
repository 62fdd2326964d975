"""The one loader for the demo data set, shared by ``stations demo``, the tests and benches.

Loads ``data/demo``: real district boundaries (upserted), the demand layer (replaced) and
the stations (through the ordinary importer, so a second load changes nothing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import psycopg

from stations import db, settings
from stations.importer import ImportResult, import_file

LEVEL_ORDER = {"province": 0, "city": 1, "county": 2}


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
    stations = import_file(conn, folder / "stations.csv", actor="demo", progress=progress)
    return DemoResult(districts, demand, stations)


def demo_database(name: str, url: str | None = None) -> str:
    """The URL of database ``name`` beside ``url``'s, made afresh and holding the demo set.

    For tests and benchmarks, which must never touch the database people use.
    """
    scratch = db.scratch_database(name, url)
    with db.connect(scratch) as conn:
        load_demo(conn)
    return scratch
