"""Nearest-station latency and throughput at 10k, 100k and 1M stations.

For each size: a scratch database filled with stations around the demo set's real
positions; then, in the same run, the raw SQL KNN query through psycopg (the floor) and
``GET /api/v1/stations/nearest`` under ``stations serve`` with 2 workers on loopback,
for a plain daytime query, a rare-amenity query (about 1 % of stations), a night-time
query (most stations closed), and at 17:50 a plain query beside one asking for a
20-minute break (``open_for_min=20``: the stations closing at 18:00 are passed by).
Prints p50/p99 for one client, requests/s for 8 concurrent clients (separate processes),
the HTTP/SQL ratio, which engine answered (the worker's memory or PostGIS, from the
``Server-Timing`` header) and the workers' memory. A request that fails or times out is
counted and reported, never the end of the run.

    .venv/bin/python bench/nearest.py [--sizes 10000,100000,1000000] [--requests 1000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stations import db, nearest  # noqa: E402
from stations.availability import Judge  # noqa: E402
from stations.cluster import Cluster  # noqa: E402
from stations.demo import demo_dir, load_districts  # noqa: E402

BENCH_DB = "stations_bench_nearest"
RARE = "mother_baby_room"
DAY = "2025-11-19T10:00:00+08:00"  # a Wednesday
NIGHT = "2025-11-19T03:00:00+08:00"
DUSK = "2025-11-19T17:50:00+08:00"  # ten minutes before the 18:00 closers close
BREAK_MIN = 20

FILL_SQL = """
INSERT INTO stations (code, name, district_code, district_name, geom, opening_hours,
                      amenities, host_type, built_by, level, status)
SELECT 'B-' || g, '测试驿站' || g, c.district_code, c.district_name,
       ST_SetSRID(ST_MakePoint(ST_X(c.geom) + (random() - 0.5) * 0.04 * c.spread,
                               ST_Y(c.geom) + (random() - 0.5) * 0.03 * c.spread), 4326),
       (ARRAY['24/7', 'Mo-Su 08:00-18:00', 'Mo-Fr 08:30-17:30', 'Mo-Su 07:00-22:00',
              'Mo-Fr 08:00-20:00; PH off', 'Mo-Sa 09:00-21:00; Su 10:00-18:00',
              'Mo-Su 18:00-08:00', 'Mo-Fr 09:00-17:00; Sa-Su 10:00-16:00; PH off'])
           [1 + (g::bigint * 7919) %% 8],
       CASE WHEN g %% 100 = 0 THEN ARRAY['drinking_water', 'toilet', %(rare)s]
            ELSE ARRAY['drinking_water', 'rest_seating', 'phone_charging', 'toilet'] END,
       'community', 'union', 'district', 'active'
FROM generate_series(1, %(n)s) g
JOIN (SELECT row_number() OVER (ORDER BY code) - 1 AS k, district_code, district_name, geom,
             1 + (row_number() OVER (ORDER BY code) %% 5) AS spread
      FROM centres) c ON c.k = g %% %(centres)s
"""


def build(n: int) -> str:
    """A scratch database with ``n`` stations; history triggers off (it is scratch)."""
    url = db.scratch_database(BENCH_DB)
    with db.connect(url) as conn:
        load_districts(conn, demo_dir() / "districts.geojson")
        conn.execute(
            "CREATE TEMP TABLE centres (code text, district_code text, "
            "district_name text, geom geometry(Point, 4326))"
        )
        with open(demo_dir() / "stations.csv", encoding="utf-8") as fh:
            import csv

            rows = list(csv.DictReader(fh))
        with conn.cursor().copy("COPY centres FROM STDIN") as copy:
            for r in rows:
                copy.write_row(
                    [
                        r["code"],
                        r["district_code"],
                        r["district_name"],
                        f"SRID=4326;POINT({r['lon']} {r['lat']})",
                    ]
                )
        conn.execute("ALTER TABLE stations DISABLE TRIGGER USER")
        conn.execute(FILL_SQL, {"n": n, "rare": RARE, "centres": len(rows)})
        conn.execute("ALTER TABLE stations ENABLE TRIGGER USER")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE stations")
    return url


def probes(count: int, seed: int = 1) -> list[tuple[float, float]]:
    """Positions near the demo stations (where couriers are)."""
    import csv

    with open(demo_dir() / "stations.csv", encoding="utf-8") as fh:
        centres = [(float(r["lon"]), float(r["lat"])) for r in csv.DictReader(fh)]
    rng = random.Random(seed)
    return [
        (lon + rng.uniform(-0.01, 0.01), lat + rng.uniform(-0.01, 0.01))
        for lon, lat in (rng.choice(centres) for _ in range(count))
    ]


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(samples)
    return (
        statistics.median(ordered) * 1000,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    )


def raw_sql(url: str, points: list[tuple[float, float]], kind: str) -> list[float]:
    """The endpoint's own first query, prepared, one client, on a serving connection."""
    amenities = [RARE] if kind == "rare" else []
    at = dt.datetime.fromisoformat({"night": NIGHT, "dusk": DUSK, "break": DUSK}.get(kind, DAY))
    judge = Judge(at, BREAK_MIN if kind == "break" else 0)
    sql = nearest._QUERY_AMENITIES if amenities else nearest._QUERY
    timings = []
    with db.connect(url, autocommit=True, options=db.SERVING_OPTIONS) as conn:
        open_literal, known_literal = nearest._usable_schedules(conn, judge)
        for lon, lat in points:
            params = {
                "lon": lon,
                "lat": lat,
                "amenities": amenities,
                "within_deg": 0.06,
                "any_hours": False,
                "open": open_literal,
                "known": known_literal,
                "batch": 10,
            }
            started = time.perf_counter()
            conn.execute(sql, params, prepare=True).fetchall()
            timings.append(time.perf_counter() - started)
    return timings


def bare_knn(url: str, points: list[tuple[float, float]]) -> list[float]:
    """For scale: the 5 nearest active ids, nothing else (no hours, no distances)."""
    sql = (
        "SELECT id FROM stations WHERE status = 'active' "
        "ORDER BY geom <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326) LIMIT 5"
    )
    timings = []
    with db.connect(url, autocommit=True, options=db.SERVING_OPTIONS) as conn:
        for lon, lat in points:
            started = time.perf_counter()
            conn.execute(sql, [lon, lat], prepare=True).fetchall()
            timings.append(time.perf_counter() - started)
    return timings


def _request(port: int, target: str) -> float:
    """One GET on a new connection, as a phone behind a proxy makes it; seconds taken."""
    return _exchange(port, target)[0]


def _exchange(port: int, target: str) -> tuple[float, str]:
    """One GET; seconds taken and the engine named in ``Server-Timing`` ("" if none).

    A bare socket rather than http.client, so that the eight client processes sharing
    the server's two cores spend as little of them as they can.
    """
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    if not response.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError(response[:300].decode(errors="replace"))
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    engine = ""
    if 'desc="memory"' in head:
        engine = "memory"
    elif 'desc="postgis"' in head:
        engine = "postgis"
    return time.perf_counter() - started, engine


def memory_ready(port: int, seconds: float = 180.0) -> float | None:
    """Seconds until every worker answers from memory (10 in a row), or None."""
    started = time.perf_counter()
    streak = 0
    while streak < 10 and time.perf_counter() - started < seconds:
        try:
            streak = (
                streak + 1 if _exchange(port, _query(112.55, 37.87, "plain"))[1] == "memory" else 0
            )
        except (OSError, RuntimeError):
            streak = 0
        time.sleep(0.05)
    return time.perf_counter() - started if streak >= 10 else None


def one_client(port: int, targets: list[str]) -> tuple[list[float], int, Counter]:
    """Requests one after another: timings of those answered, failures, engines."""
    timings, errors, engines = [], 0, Counter()
    for target in targets:
        try:
            seconds, engine = _exchange(port, target)
        except (OSError, RuntimeError):  # a timeout or an error answer: counted, not fatal
            errors += 1
            continue
        timings.append(seconds)
        engines[engine or "none"] += 1
    return timings, errors, engines


def _query(lon: float, lat: float, kind: str) -> str:
    """The request target for one probe; ``floor`` is a route with no database work."""
    if kind == "floor":
        return "/api/v1/amenities"
    extra = {
        "plain": f"at={DAY}",
        "rare": f"at={DAY}&amenities={RARE}",
        "night": f"at={NIGHT}",
        "dusk": f"at={DUSK}",
        "break": f"at={DUSK}&open_for_min={BREAK_MIN}",
    }[kind]
    return f"/api/v1/stations/nearest?lat={lat:.6f}&lon={lon:.6f}&limit=5&" + extra.replace(
        "+", "%2B"
    )


def _client(
    port: int, points: list[tuple[float, float]], kind: str, seconds: float, out: mp.Queue
) -> None:
    done, errors, deadline = 0, 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        lon, lat = points[done % len(points)]
        try:
            _request(port, _query(lon, lat, kind))
        except Exception:  # noqa: BLE001 - counted and reported
            errors += 1
        done += 1
    out.put((done, errors))


def concurrent(
    port: int, points: list[tuple[float, float]], kind: str, clients: int = 8, seconds: float = 5.0
) -> tuple[float, int]:
    """Requests per second and errors with ``clients`` client processes."""
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_client, args=(port, points[i::clients], kind, seconds, out))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(r[0] for r in results) / seconds, sum(r[1] for r in results)


def serve(url: str, **extra: str) -> tuple[subprocess.Popen, int]:
    """``stations serve`` with 2 workers on a free loopback port (``extra``: settings)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": url, "STATIONS_RATE_LIMIT_PUBLIC": "off", **extra}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("stations")),
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            _request(port, "/api/v1/amenities")
            return proc, port
        except (OSError, RuntimeError):
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def worker_rss_mib(proc: subprocess.Popen) -> list[float]:
    """Resident memory of the web workers (the server's child processes)."""
    out = subprocess.run(
        ["ps", "--ppid", str(proc.pid), "-o", "rss="], capture_output=True, text=True, check=False
    ).stdout.split()
    return [int(kb) / 1024 for kb in out]


def postgis_pass(url: str, points: list[tuple[float, float]]) -> None:
    """The 17:50 queries again with the in-memory search off: every search in PostGIS."""
    proc, port = serve(url, STATIONS_NEAREST_MAX_AGE_S="off")
    try:
        p50 = {}
        for kind in ("dusk", "break"):
            one_client(port, [_query(lon, lat, kind) for lon, lat in points[:100]])  # warm
            timings, failed, engines = one_client(
                port, [_query(lon, lat, kind) for lon, lat in points]
            )
            p50[kind], p99 = percentiles(timings) if timings else (float("nan"),) * 2
            answered_by = ", ".join(f"{name} {count}" for name, count in engines.most_common())
            print(
                f"  {kind:5s}  memory off: HTTP p50 {p50[kind]:5.2f} ms p99 {p99:6.2f} ms, "
                f"{failed} failed | answered by {answered_by or 'nobody'}"
            )
        ratio = p50["break"] / p50["dusk"]
        print(f"  open_for_min={BREAK_MIN} in PostGIS against without: {ratio:.2f}x")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if db.uses_embedded():
        Cluster.from_settings().up()
    points = probes(args.requests)
    for n in (int(x) for x in args.sizes.split(",")):
        started = time.perf_counter()
        url = build(n)
        print(
            f"\n{n:,} stations (built in {time.perf_counter() - started:.0f} s); "
            f"bare 5-nearest ids by SQL: p50 {percentiles(bare_knn(url, points))[0]:.2f} ms"
        )
        proc, port = serve(url)
        http_p50 = {}
        try:
            ready = memory_ready(port)
            print(
                "  the workers' in-memory copy answered "
                + (f"{ready:.0f} s after the server started" if ready else "not within 180 s")
                + " (searches meanwhile: PostGIS)"
            )
            floor, floor_errors, _ = one_client(port, [_query(0, 0, "floor")] * len(points))
            f50, f99 = percentiles(floor)
            rate, _errors = concurrent(port, points, "floor", seconds=args.seconds)
            print(
                f"  floor  GET /api/v1/amenities (no database): HTTP p50 {f50:5.2f} ms "
                f"p99 {f99:6.2f} ms, {floor_errors} errors | 8 clients {rate:6.0f} req/s"
            )
            for kind in ("plain", "rare", "night", "dusk", "break"):
                one_client(port, [_query(lon, lat, kind) for lon, lat in points[:100]])  # warm
                s50, s99 = percentiles(raw_sql(url, points, kind))
                timings, failed, engines = one_client(
                    port, [_query(lon, lat, kind) for lon, lat in points]
                )
                h50, h99 = percentiles(timings) if timings else (float("nan"),) * 2
                rate, errors = concurrent(port, points, kind, seconds=args.seconds)
                http_p50[kind] = h50
                answered_by = ", ".join(f"{name} {count}" for name, count in engines.most_common())
                print(
                    f"  {kind:5s}  SQL p50 {s50:5.2f} ms p99 {s99:5.2f} ms | HTTP p50 "
                    f"{h50:5.2f} ms p99 {h99:6.2f} ms, {failed} failed | HTTP/SQL p50 "
                    f"{h50 / s50:4.1f}x | 8 clients {rate:6.0f} req/s, {errors} errors | "
                    f"answered by {answered_by or 'nobody'}"
                )
            print(
                f"  HTTP p50 against plain: rare {http_p50['rare'] / http_p50['plain']:.2f}x, "
                f"night {http_p50['night'] / http_p50['plain']:.2f}x; plain against the "
                f"no-database floor {http_p50['plain'] / f50:.1f}x; open_for_min={BREAK_MIN} "
                f"against the same instant without it {http_p50['break'] / http_p50['dusk']:.2f}x"
            )
            print(f"  worker RSS: {', '.join(f'{m:.0f} MiB' for m in worker_rss_mib(proc))}")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        postgis_pass(url, points)
        db.drop_database(url)
    print(
        "\ngoals at 1M: HTTP p50 <= 2 ms, p99 <= 10 ms, >= 1000 req/s with 8 clients, "
        "HTTP/SQL p50 <= 3, rare and night <= 3x plain, open_for_min=20 <= 1.2x plain"
    )


if __name__ == "__main__":
    main()
