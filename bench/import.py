"""Import 100,000 stations from CSV and from GeoJSON; print time, rate and peak memory.

Each import runs in a fresh process against a fresh scratch database (with the demo
districts), so its peak memory is its own. The comparison, measured in the same run, is a
bare ``COPY`` of the same points into a plain table: the floor any import can reach.

    .venv/bin/python bench/import.py [--rows N]
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stations import db  # noqa: E402
from stations.cluster import Cluster  # noqa: E402
from stations.demo import demo_dir, load_districts  # noqa: E402
from stations.records import FIELD_NAMES  # noqa: E402

BENCH_DB = "stations_bench"
HOURS = [
    "24/7",
    "Mo-Su 08:00-18:00",
    "Mo-Fr 08:00-20:00; PH off",
    "Mo-Su 20:00-06:00",
    "Mo-Sa 09:00-21:00; Su 10:00-18:00",
]
AMENITIES = [
    "drinking_water",
    "rest_seating",
    "phone_charging",
    "toilet",
    "food_heating",
    "first_aid",
    "wifi",
    "ebike_charging",
]


def generate(rows: int, folder: Path) -> tuple[Path, Path]:
    """Write ``rows`` stations inside Shanxi's counties as CSV and GeoJSON."""
    rng = random.Random(20210101)
    np_rng = np.random.default_rng(20210101)
    counties = [
        f
        for f in json.loads((demo_dir() / "districts.geojson").read_text())["features"]
        if f["properties"]["level"] == "county"
    ]
    per = rows // len(counties) + 1
    records = []
    for county in counties:
        geom = shape(county["geometry"])
        x0, y0, x1, y1 = geom.bounds
        shapely.prepare(geom)
        points: list[tuple[float, float]] = []
        while len(points) < per:
            xs, ys = np_rng.uniform(x0, x1, per * 4), np_rng.uniform(y0, y1, per * 4)
            inside = shapely.contains_xy(geom, xs, ys)
            points += list(zip(xs[inside].round(6), ys[inside].round(6), strict=True))
        for lon, lat in points[:per]:
            n = len(records) + 1
            records.append(
                {
                    "code": f"B-{n:06d}",
                    "name": f"{county['properties']['name']}测试驿站{n}",
                    "address": "",
                    "district_code": county["properties"]["code"],
                    "district_name": county["properties"]["name"],
                    "lon": f"{lon:.6f}",
                    "lat": f"{lat:.6f}",
                    "opening_hours": rng.choice(HOURS),
                    "amenities": ";".join(rng.sample(AMENITIES, 4)),
                    "floor_area_m2": f"{rng.uniform(8, 80):.1f}",
                    "host_type": "community",
                    "built_by": "union",
                    "level": "district",
                    "opened_on": "2020-06-01",
                    "status": "active",
                    "contact": "",
                    "has_sign": "true",
                    "has_rules": "true",
                    "has_staff": "true",
                }
            )
    records = records[:rows]
    csv_path, geojson_path = folder / "stations.csv", folder / "stations.geojson"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELD_NAMES)
        writer.writeheader()
        writer.writerows(records)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [float(r["lon"]), float(r["lat"])]},
            "properties": {k: v for k, v in r.items() if k not in ("lon", "lat")},
        }
        for r in records
    ]
    geojson_path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8",
    )
    return csv_path, geojson_path


def fresh_database() -> str:
    """An empty, migrated scratch database with the demo districts."""
    url = db.scratch_database(BENCH_DB)
    with db.connect(url) as conn:
        load_districts(conn, demo_dir() / "districts.geojson")
    return url


def _child(task: str, url: str, path: str, queue: mp.Queue) -> None:
    """Run one measured task in this (fresh) process and report seconds and peak RSS."""
    from stations.importer import import_file

    with db.connect(url) as conn:
        started = time.perf_counter()
        if task == "copy":
            conn.execute("CREATE TABLE bare (code text, geom geometry(Point, 4326))")
            with (
                open(path, encoding="utf-8") as fh,
                conn.cursor().copy("COPY bare (code, geom) FROM STDIN") as copy,
            ):
                for row in csv.DictReader(fh):
                    copy.write_row([row["code"], f"SRID=4326;POINT({row['lon']} {row['lat']})"])
            conn.commit()
            detail = ""
        else:
            result = import_file(conn, path, actor="bench")
            detail = f"{result.inserted} new, {result.updated} updated, {result.unchanged} same"
        seconds = time.perf_counter() - started
    queue.put((seconds, _peak_rss_mib(), detail))


def _peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited via exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(task: str, url: str, path: Path) -> tuple[float, float, str]:
    """Run ``task`` in a fresh process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(task, url, str(path), queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    if db.uses_embedded():
        Cluster.from_settings().up()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        csv_path, geojson_path = generate(args.rows, Path(tmp))
        print(
            f"generated {args.rows:,} stations in {time.perf_counter() - started:.1f} s "
            f"(CSV {csv_path.stat().st_size / 2**20:.0f} MiB, "
            f"GeoJSON {geojson_path.stat().st_size / 2**20:.0f} MiB)"
        )
        url = fresh_database()
        floor, floor_mem, _ = measure("copy", url, csv_path)
        print(f"{'bare COPY of the points':32s} {floor:6.2f} s  peak RSS {floor_mem:6.0f} MiB")
        for label, path in (
            ("import CSV (empty table)", csv_path),
            ("re-import CSV (no change)", csv_path),
            ("import GeoJSON (empty table)", geojson_path),
        ):
            if "empty" in label:
                url = fresh_database()
            seconds, mem, detail = measure("import", url, path)
            print(
                f"{label:32s} {seconds:6.2f} s  peak RSS {mem:6.0f} MiB  "
                f"{args.rows / seconds:8,.0f} rows/s  {seconds / floor:5.1f}x bare COPY  "
                f"goal < 10 s  [{detail}]"
            )
        db.drop_database(url)


if __name__ == "__main__":
    main()
