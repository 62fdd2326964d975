"""A full subsidy report over 100,000 stations, against brute-force spacing in the same run.

A scratch database gets the demo districts and demand, and ``--stations`` stations
scattered around the demo set's real positions with varied facts (opening years
2016-2021, floor areas, amenities, signs, staff). The measured report is the Shanxi
construction programme for 2021: every criterion, the geodesic spacing rule (300 m from
existing and already funded stations), the gap-demand order and the 200-place cap,
rendered as JSON. The comparison does the same spacing rule by brute force: each
station's distance to every station, in the same order, and must reach the same verdicts.

The stations carry a history (created as of 2016, 2 % suspended during 2021, 2 % after it,
1 % edited after it), so the report judges 2021 by the facts of 2021; it is timed beside
the same evaluation on today's facts (the comparison for reading the history), and the
XLSX a finance office files beside the JSON of the same evaluation.

    .venv/bin/python bench/subsidy.py [--stations 100000]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import shapely
from pyproj import Geod

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geo.coverage import plane_for  # noqa: E402
from stations import db  # noqa: E402
from stations.bulk import gc_paused  # noqa: E402
from stations.cluster import Cluster  # noqa: E402
from stations.demo import demo_dir, load_demand, load_districts  # noqa: E402
from stations.subsidy import evaluate, periods, programmes, report  # noqa: E402

BENCH_DB = "stations_bench_subsidy"
FULL = ["drinking_water", "food_heating", "rest_seating", "phone_charging", "toilet",
        "first_aid", "air_conditioning"]  # fmt: skip

FILL_SQL = """
INSERT INTO stations (code, name, district_code, district_name, geom, opening_hours,
                      amenities, floor_area_m2, host_type, built_by, level, opened_on, status,
                      has_sign, has_rules, has_staff)
SELECT 'B-' || lpad(g::text, 7, '0'), '测试驿站' || g, c.district_code, c.district_name,
       ST_SetSRID(ST_MakePoint(ST_X(c.geom) + (random() - 0.5) * 0.06 * c.spread,
                               ST_Y(c.geom) + (random() - 0.5) * 0.045 * c.spread), 4326),
       CASE WHEN g %% 97 = 0 THEN NULL ELSE 'Mo-Su 08:00-20:00' END,
       CASE WHEN g %% 13 = 0 THEN %(short)s::text[] ELSE %(full)s::text[] END,
       round((6 + random() * 80)::numeric, 1),
       'community', CASE WHEN g %% 5 = 0 THEN 'enterprise' ELSE 'union' END, 'district',
       date '2016-01-01' + (random() * 2190)::int,
       CASE WHEN g %% 41 = 0 THEN 'suspended' ELSE 'active' END,
       g %% 53 <> 0, true, g %% 59 <> 0
FROM generate_series(1, %(n)s) g
JOIN (SELECT row_number() OVER (ORDER BY code) - 1 AS k, district_code, district_name, geom,
             1 + (row_number() OVER (ORDER BY code) %% 5) AS spread
      FROM centres) c ON c.k = g %% %(centres)s
"""


HISTORY_SQL = """
INSERT INTO station_history (station_id, version, action, changed_by, effective_at, after)
SELECT id, version, 'create', 'bench', '2016-01-01 00:00+08', station_snapshot(s)
FROM stations s ORDER BY id
"""
CHANGES = (  # (effective time, change, which stations): the history a report must read
    ("2021-06-15 00:00+08", "status = 'suspended'", "id % 50 = 1"),
    ("2023-03-01 00:00+08", "status = 'suspended'", "id % 50 = 2"),
    ("2024-07-01 00:00+08", "floor_area_m2 = floor_area_m2 - 3, has_staff = false",
     "id % 100 = 3"),
)  # fmt: skip


def build(n: int) -> str:
    """A scratch database with ``n`` stations and their history (see the module doc)."""
    if db.uses_embedded():
        Cluster.from_settings().up()
    url = db.scratch_database(BENCH_DB)
    with db.connect(url) as conn:
        load_districts(conn, demo_dir() / "districts.geojson")
        load_demand(conn, demo_dir() / "demand.geojson")
        conn.execute("CREATE TEMP TABLE centres (code text, district_code text, "
                     "district_name text, geom geometry(Point, 4326))")  # fmt: skip
        with open(demo_dir() / "stations.csv", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        with conn.cursor().copy("COPY centres FROM STDIN") as copy:
            for r in rows:
                copy.write_row([r["code"], r["district_code"], r["district_name"],
                                f"SRID=4326;POINT({r['lon']} {r['lat']})"])  # fmt: skip
        conn.execute("ALTER TABLE stations DISABLE TRIGGER USER")  # created in one go below
        conn.execute(FILL_SQL, {"n": n, "centres": len(rows), "full": FULL, "short": FULL[:4]})
        conn.execute("ALTER TABLE stations ENABLE TRIGGER USER")
        conn.execute(HISTORY_SQL)
        conn.commit()
        for when, change, which in CHANGES:
            conn.execute("SELECT set_config('stations.effective_at', %s, true)", [when])
            conn.execute(f"UPDATE stations SET {change} WHERE {which}")
            conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE stations")
    return url


def brute_force_spacing(result: evaluate.Evaluation, radius_m: float) -> dict[str, bool]:
    """The spacing rule by brute force: every station against every other, in order.

    Candidates are taken in the report's places and held to the existing network and the
    stations funded before them; every other station to the funded ones (and, if new, to
    the network). Each is compared with all n stations by plane distance with a 0.3 %
    margin, and every station within that margin is decided by geodesic distance.
    """
    geod = Geod(ellps="WGS84")
    stations = [v.station for v in result.verdicts]
    lon = np.array([s["lon"] for s in stations])
    lat = np.array([s["lat"] for s in stations])
    plane = plane_for(shapely.box(lon.min(), lat.min(), lon.max(), lat.max()))
    xy = plane.points(lon, lat)
    older = np.array([s["opened_on"] is not None and s["opened_on"] < result.period.start
                      for s in stations])  # fmt: skip
    existing = older & np.array([s["status"] == "active" for s in stations])
    funded_so_far = np.zeros(len(stations), dtype=bool)
    funded = {v.station["code"] for v in result.verdicts if v.eligible}

    def clear(i: int, blockers: np.ndarray) -> bool:
        d = np.hypot(xy[:, 0] - xy[i, 0], xy[:, 1] - xy[i, 1])  # all n distances
        close = np.flatnonzero(blockers & (d <= radius_m * 1.003))
        close = close[close != i]
        if not len(close):
            return True
        _, _, metres = geod.inv(np.full(len(close), lon[i]), np.full(len(close), lat[i]),
                                lon[close], lat[close])  # fmt: skip
        return bool((np.atleast_1d(metres) > radius_m).all())

    verdict = {}
    placed = sorted((v.place, i) for i, v in enumerate(result.verdicts) if v.place is not None)
    for _place, i in placed:  # new stations in order: the network and those funded before
        ok = clear(i, existing | funded_so_far)
        verdict[stations[i]["code"]] = ok
        if ok and stations[i]["code"] in funded:
            funded_so_far[i] = True
    for i, s in enumerate(stations):  # everyone else: the funded, and the network if new
        if s["code"] not in verdict:
            verdict[s["code"]] = clear(i, funded_so_far | (existing if not older[i] else False))
    return verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    start = time.perf_counter()
    url = build(args.stations)
    print(f"{args.stations:,} stations built in {time.perf_counter() - start:.1f} s")
    loaded = programmes.load("shanxi-construction")
    period = periods.parse_period("2021")
    try:
        with db.connect(url, autocommit=True) as conn:
            times: dict[str, list[float]] = {k: [] for k in ("report", "then", "now", "xlsx")}
            for _ in range(args.repeat):  # alternated, so drift hits each side alike
                t0 = time.perf_counter()
                with gc_paused():  # as the API and CLI run it
                    result = evaluate.evaluate(conn, loaded, period)
                    t1 = time.perf_counter()
                    body = report.render(result, "json")
                t2 = time.perf_counter()
                with gc_paused():
                    xlsx = report.render(result, "xlsx")
                t3 = time.perf_counter()
                with gc_paused():
                    today = evaluate.evaluate(conn, loaded, period, as_it_was=False)
                t4 = time.perf_counter()
                times["report"].append(t2 - t0)
                times["then"].append(t1 - t0)
                times["xlsx"].append(t3 - t2)
                times["now"].append(t4 - t3)
            median = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
            report_s = median["report"]
            json_s = report_s - median["then"]
        eligible = sum(v.eligible for v in result.verdicts)
        spacing_fails = sum(
            1
            for v in result.verdicts
            for r in v.reasons
            if r.criterion == "spacing" and not r.passed
        )
        t0 = time.perf_counter()
        brute = brute_force_spacing(result, 300)
        brute_s = time.perf_counter() - t0
        ours = {
            v.station["code"]: next(r.passed for r in v.reasons if r.criterion == "spacing")
            for v in result.verdicts
        }
        agree = sum(ours[c] == brute[c] for c in ours)
        print(
            f"full report, {args.stations:,} stations (median of {args.repeat}): "
            f"{report_s:.2f} s (goal < 5 s); {eligible} funded of "
            f"{sum(1 for v in result.verdicts if v.place)} in the running, "
            f"{spacing_fails:,} stations closer than 300 m, {len(body) / 1e6:.0f} MB JSON"
        )
        from_history = sum(v.from_history for v in result.verdicts)
        differ = sum(
            a.eligible != b.eligible or a.amount_cny != b.amount_cny
            for a, b in zip(result.verdicts, today.verdicts, strict=True)
        )
        print(
            f"evaluation with the facts of 2021 (history of {from_history:,} stations): "
            f"{median['then']:.2f} s; on today's facts: {median['now']:.2f} s; "
            f"ratio {median['then'] / median['now']:.2f}x (goal <= 1.5x); "
            f"{differ:,} stations' verdicts differ between the two"
        )
        print(
            f"XLSX of the same report: {median['xlsx']:.2f} s (goal <= 8 s), "
            f"{len(xlsx) / 1e6:.1f} MB; JSON {json_s:.2f} s; XLSX / JSON = "
            f"{median['xlsx'] / json_s:.2f}"
        )
        print(
            f"spacing rule by brute force (same order, every pair): {brute_s:.2f} s; "
            f"report / brute force = {report_s / brute_s:.3f}; "
            f"verdicts agree for {agree:,} of {len(ours):,} stations"
        )
    finally:
        db.drop_database(url)


if __name__ == "__main__":
    main()
