"""Load on the public nearest search: a fixed request rate for a minute, from a second
process, against ``stations serve`` on loopback, with and without a read replica.

A throwaway cluster with the demo data is made for the run (and, for the second pass, a
streaming replica of it that the workers read from). A third pass, at the lowest rate
only, turns the workers' in-memory stations off (``STATIONS_NEAREST_MAX_AGE_S=off``), so
every search goes through PostGIS: the comparison for what the memory saves. A fourth,
at the highest rate, runs the workers with 4 Python threads each (the default of
``stations serve``) instead of 1, for what the threads cost.

The driver is a separate process running an open loop: request i is sent at
start + i/rate whether or not earlier ones have answered, so a slow server shows as
latency and errors rather than as a lower offered rate (no coordinated omission).
Latency counts from the moment a request was due. Each request asks for the nearest
open stations to a random point near a real station.

A fifth setup is a national-size registry: 200,000 more stations, at 500 searches/s,
once quiet and once with an editor changing a station every second, the workers'
resident memory printed after each: an edit must cost the searches nothing visible.

    .venv/bin/python bench/load.py [--rates 500,1000] [--seconds 60] [--workers 2]
                 [--threads 1] [--setup all|primary|replica|postgis|threads|national]

Prints, per setup: offered and achieved rate, p50/p90/p99/max latency, errors by kind,
the CPU time the server side (workers and PostgreSQL) used per request, and the share
of CPU time the hypervisor stole (other guests on the host): figures taken under steal
are not comparable with quiet ones.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

TIMEOUT_S = 5.0
NATIONAL, NATIONAL_RATE = 200_000, 500.0


# --- the driver (the second process) ---------------------------------------------------
#
# Written against asyncio's transports and protocols, with no task or future per
# request: the driver shares the two cores with the server, so every microsecond it
# spends per request is taken from the server's budget (it prints its own share).


class _Link(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, driver: _Driver) -> None:
        self.driver = driver
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.due = 0.0  # when the request in flight was due; 0 when idle
        self.request = b""
        self.reused = False
        self.body_at = -1  # where the body starts in the buffer, once the head is in
        self.length = 0
        self.close = False

    def send(self, request: bytes, due: float) -> None:
        self.request, self.due = request, due
        self.buffer.clear()
        self.body_at = -1
        self.transport.write(request)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.send(self.request, self.due)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.body_at < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self.body_at, self.length, self.close = end + 4, 0, False
            for line in bytes(buffer[:end]).split(b"\r\n")[1:]:
                name = line[:16].lower()
                if name.startswith(b"content-length:"):
                    self.length = int(line[15:])
                elif name.startswith(b"connection:"):
                    self.close = b"close" in line.lower()
        if len(buffer) - self.body_at >= self.length:
            self.driver.answered(self, int(buffer[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.due:
            self.driver.lost(self, exc)
        elif self in self.driver.idle:  # the server closed it while idle
            self.driver.idle.remove(self)


class _Driver:
    """Sends request i at start + i/rate on an idle connection or a new one."""

    def __init__(self, host: str, port: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.host, self.port = host, port
        self.idle: list[_Link] = []
        self.busy: set[_Link] = set()
        self.latency: list[float] = []
        self.last_answer = 0.0
        self.errors: Counter = Counter()
        self.start = self.loop.time() + 0.1

    def dispatch(self, request: bytes, due: float, reused_ok: bool = True) -> None:
        if self.idle and reused_ok:
            link = self.idle.pop()
            link.reused = True
            self.busy.add(link)
            link.send(request, due)
            return
        link = _Link(self)
        link.request, link.due = request, due
        self.busy.add(link)
        opening = self.loop.create_task(
            self.loop.create_connection(lambda: link, self.host, self.port)
        )
        opening.add_done_callback(lambda task: self._opened(link, task))

    def _opened(self, link: _Link, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is not None:
            exc = None if task.cancelled() else task.exception()
            if link.due:
                self._fail(link, type(exc).__name__ if exc else "cancelled")

    def answered(self, link: _Link, status: int) -> None:
        now = self.loop.time()
        self.latency.append(now - link.due)
        self.last_answer = now
        if status != 200:
            self.errors[f"HTTP {status}"] += 1
        link.due = 0.0
        self.busy.discard(link)
        if link.close:
            link.transport.close()
        else:
            self.idle.append(link)

    def lost(self, link: _Link, exc: Exception | None) -> None:
        self.busy.discard(link)
        if link.reused and not link.buffer:  # closed by the server while idle: once more
            request, due = link.request, link.due
            link.due = 0.0
            self.dispatch(request, due, reused_ok=False)
        else:
            self._fail(link, type(exc).__name__ if exc else "connection closed")

    def _fail(self, link: _Link, kind: str) -> None:
        link.due = 0.0
        self.busy.discard(link)
        self.errors[kind] += 1

    def expire(self) -> None:
        """Count requests past the timeout as errors and drop their connections."""
        cutoff = self.loop.time() - TIMEOUT_S
        for link in [link for link in self.busy if 0 < link.due < cutoff]:
            self._fail(link, "timeout")
            if link.transport is not None:
                link.transport.abort()


async def _drive(host: str, port: int, paths: list[str], rate: float, seconds: float) -> dict:
    requests = [f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode() for p in paths]
    driver = _Driver(host, port)
    loop, total, sent = driver.loop, int(rate * seconds), 0
    next_expiry = driver.start
    while sent < total:
        now = loop.time()
        due_until = min(total, int((now - driver.start) * rate) + 1)
        while sent < due_until:  # everything due by now goes out, late or not
            driver.dispatch(requests[sent % len(requests)], driver.start + sent / rate)
            sent += 1
        if now >= next_expiry:
            driver.expire()
            next_expiry = now + 0.1
        await asyncio.sleep(max(0.0, driver.start + sent / rate - loop.time()))
    while driver.busy:
        driver.expire()
        await asyncio.sleep(0.05)
    for link in driver.idle:
        link.transport.close()
    return {
        "latency": driver.latency,
        "last": driver.last_answer,
        "errors": driver.errors,
        "start": driver.start,
        "sent": sent,
    }


def drive_main(args: argparse.Namespace) -> None:
    """Run the open loop and print a JSON summary on stdout."""
    paths = json.loads(Path(args.paths).read_text())
    host, port = args.drive.rsplit(":", 1)
    out = asyncio.run(_drive(host, int(port), paths, args.rate, args.seconds))
    latency = sorted(out["latency"])

    def pct(q: float) -> float:
        return latency[min(len(latency) - 1, int(q * len(latency)))] * 1000 if latency else 0.0

    span = (out["last"] - out["start"]) if latency else 1.0
    print(
        json.dumps(
            {
                "sent": out["sent"],
                "answered": len(latency),
                "achieved_rate": len(latency) / span,
                "p50_ms": pct(0.50),
                "p90_ms": pct(0.90),
                "p99_ms": pct(0.99),
                "max_ms": latency[-1] * 1000 if latency else 0.0,
                "errors": dict(out["errors"]),
            }
        )
    )


# --- the run ---------------------------------------------------------------------------


def _cpu_seconds() -> tuple[float, float]:
    """CPU seconds the whole machine has spent busy (all cores), and stolen from it.

    From /proc/stat. Steal is time the hypervisor gave to other guests: it is not ours,
    so it is not counted as busy, and it is printed, as it makes figures incomparable.
    """
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq) / tick, steal / tick


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _paths(url: str, n: int = 20000) -> list[str]:
    from stations import db

    with db.connect(url) as conn:
        points = conn.execute(
            "SELECT ST_X(geom), ST_Y(geom) FROM stations WHERE status = 'active'"
        ).fetchall()
    rng = random.Random(20261122)
    paths = []
    for _ in range(n):
        lon, lat = rng.choice(points)
        lon += rng.uniform(-0.02, 0.02)
        lat += rng.uniform(-0.015, 0.015)
        paths.append(f"/api/v1/stations/nearest?lon={lon:.5f}&lat={lat:.5f}")
    return paths


def _drive_process(url: str, paths_file: Path, rate: float, seconds: float) -> dict:
    """Run the driver as a second process and read its summary."""
    argv = [sys.executable, __file__, "--drive", url.removeprefix("http://")]
    argv += ["--paths", str(paths_file), "--rate", str(rate), "--seconds", str(seconds)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _worker_rss_mib(url: str) -> list[float]:
    """Resident memory of the server's workers (granian's processes on that port)."""
    port = url.rsplit(":", 1)[1]
    out = subprocess.run(["ps", "-eo", "ppid,pid,rss,args"], capture_output=True, text=True)
    rows = [line.split(None, 3) for line in out.stdout.splitlines()[1:]]
    serving = [r for r in rows if len(r) == 4 and "granian" in r[3] and f"--port {port}" in r[3]]
    parents = {r[1] for r in serving}
    return [int(r[2]) / 1024 for r in serving if r[0] in parents]


class _Editor:
    """Changes one station a second on the primary, as an editor at work, until stopped."""

    def __init__(self, url: str) -> None:
        import threading

        self.url, self.stop, self.edits = url, threading.Event(), 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from stations import db

        rng = random.Random(7)
        with db.connect(self.url, autocommit=True) as conn:
            top = conn.execute("SELECT max(id) FROM stations").fetchone()[0]
            while not self.stop.wait(1.0):
                conn.execute(
                    "UPDATE stations SET name = %s WHERE id = (SELECT id FROM stations "
                    "WHERE id >= %s ORDER BY id LIMIT 1)",
                    [f"改名{self.edits}", rng.randrange(1, top)],
                )
                self.edits += 1

    def __enter__(self) -> _Editor:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _one_setup(
    name: str,
    env: dict,
    args: argparse.Namespace,
    paths_file: Path,
    rates: list[float],
    edit_url: str | None = None,
) -> list[dict]:
    import contextlib

    from live_server import serving

    results = []
    with serving(env, workers=args.workers) as (url, _log):
        warm = _drive_process(url, paths_file, 200, 3)  # every worker's pool and memory
        assert warm["answered"] > 0
        _wait_for_memory(url)
        for rate in rates:
            time.sleep(3)  # let a backlog from the run before drain
            (busy0, steal0), driver0, t0 = _cpu_seconds(), _children_cpu(), time.monotonic()
            editing = _Editor(edit_url) if edit_url else contextlib.nullcontext()
            with editing as editor:
                result = _drive_process(url, paths_file, rate, args.seconds)
            result["edits"] = getattr(editor, "edits", 0)
            result["rss_mib"] = _worker_rss_mib(url)
            (busy1, steal1), driver1 = _cpu_seconds(), _children_cpu()
            cores = os.cpu_count() or 1
            result["steal"] = (steal1 - steal0) / (cores * (time.monotonic() - t0))
            answered = max(1, result["answered"])
            result.update(setup=name, rate=rate)
            result["driver_cpu_ms_per_request"] = (driver1 - driver0) * 1000 / answered
            # everything else the machine did meanwhile: workers, PostgreSQL, the kernel
            server = (busy1 - busy0) - (driver1 - driver0)
            result["server_cpu_ms_per_request"] = server * 1000 / answered
            results.append(result)
    return results


def _wait_for_memory(url: str, seconds: float = 180) -> None:
    """Until every worker answers from memory (a national copy takes seconds to build)."""
    import urllib.request

    deadline, streak = time.monotonic() + seconds, 0
    while streak < 10 and time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/v1/stations/nearest?lat=37.87&lon=112.55") as r:
            streak = streak + 1 if 'desc="memory"' in r.headers.get("Server-Timing", "") else 0
        time.sleep(0.1)


def _national(url: str, stations: int) -> None:
    """Add ``stations`` stations around the demo set's (bench/nearest.py's generator)."""
    import csv

    sys.path.insert(0, str(ROOT / "bench"))
    from nearest import FILL_SQL, RARE

    from stations import db
    from stations.demo import demo_dir

    with db.connect(url) as conn:
        conn.execute(
            "CREATE TEMP TABLE centres (code text, district_code text, "
            "district_name text, geom geometry(Point, 4326))"
        )
        with open(demo_dir() / "stations.csv", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        with conn.cursor().copy("COPY centres FROM STDIN") as copy:
            for r in rows:
                point = f"SRID=4326;POINT({r['lon']} {r['lat']})"
                copy.write_row([r["code"], r["district_code"], r["district_name"], point])
        conn.execute("ALTER TABLE stations DISABLE TRIGGER USER")  # as a bulk load would
        conn.execute(FILL_SQL, {"n": stations, "rare": RARE, "centres": len(rows)})
        conn.execute("ALTER TABLE stations ENABLE TRIGGER USER")
        conn.execute("UPDATE registry_generation SET generation = generation + 1")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE stations")


def run(args: argparse.Namespace) -> None:
    from stations.sandbox import spare_primary

    results = []
    with spare_primary("bench-load") as (primary, url):
        paths_file = primary.root.parent / "bench-load-paths.json"
        paths_file.write_text(json.dumps(_paths(url)))
        base_env = {
            "DATABASE_URL": url,
            "STATIONS_RATE_LIMIT_PUBLIC": "off",
            "STATIONS_RATE_LIMIT_PLANNER": "off",
            "STATIONS_THREADS": str(args.threads),
        }
        if args.setup in ("all", "primary"):
            results += _one_setup("primary only", base_env, args, paths_file, args.rates)
        if args.setup in ("all", "threads") and args.threads != 4:
            env = {**base_env, "STATIONS_THREADS": "4"}
            name = "primary, 4 threads"
            results += _one_setup(name, env, args, paths_file, args.rates[-1:])
        if args.setup in ("all", "postgis"):
            env = {**base_env, "STATIONS_NEAREST_MAX_AGE_S": "off"}
            results += _one_setup("PostGIS, memory off", env, args, paths_file, args.rates[:1])
        if args.setup in ("all", "replica"):
            replica = primary.standby(primary.root.parent / "bench-load-standby", primary.port)
            try:
                replica.up()
                env = {**base_env, "DATABASE_READ_URL": replica.url("stations")}
                results += _one_setup("with a replica", env, args, paths_file, args.rates)
            finally:
                replica.down()
                shutil.rmtree(replica.root, ignore_errors=True)
        if args.setup in ("all", "national"):
            _national(url, NATIONAL)
            paths_file.write_text(json.dumps(_paths(url)))
            name = f"{NATIONAL // 1000}k more stations"
            results += _one_setup(name, base_env, args, paths_file, [NATIONAL_RATE])
            results += _one_setup(
                f"{name}, an edit a second", base_env, args, paths_file, [NATIONAL_RATE], url
            )
        paths_file.unlink()
    print(
        f"\nnearest search for {args.seconds:g} s per rate, {args.workers} workers x "
        f"{args.threads} thread(s) unless the setup says otherwise, {os.cpu_count()} cores"
    )
    print(
        "| setup | offered | achieved | p50 | p90 | p99 | max | errors | server CPU/req "
        "| driver CPU/req | stolen | edits | worker RSS |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        errors = sum(r["errors"].values())
        rss = ", ".join(f"{m:.0f}" for m in r.get("rss_mib", ())) + " MiB"
        print(
            f"| {r['setup']} | {r['rate']:g}/s | {r['achieved_rate']:.0f}/s | "
            f"{r['p50_ms']:.1f} ms | {r['p90_ms']:.1f} ms | {r['p99_ms']:.1f} ms | "
            f"{r['max_ms']:.0f} ms | {errors} {r['errors'] or ''} | "
            f"{r['server_cpu_ms_per_request']:.2f} ms | {r['driver_cpu_ms_per_request']:.2f} ms | "
            f"{r['steal']:.0%} | {r.get('edits', 0)} | {rss} |"
        )
    quiet = next((r for r in results if r["setup"].endswith("more stations")), None)
    busy = next((r for r in results if r["setup"].endswith("an edit a second")), None)
    if quiet and busy and quiet["p99_ms"]:
        print(
            f"national registry, edits / quiet: p99 {busy['p99_ms'] / quiet['p99_ms']:.2f}x, "
            f"max {busy['max_ms'] / max(quiet['max_ms'], 1e-9):.2f}x (goal: 0 errors, p99 <= "
            "50 ms, max <= 250 ms, <= 400 MiB per worker)"
        )
    by = {(r["setup"], r["rate"]): r for r in results}
    for rate in args.rates:
        a = by.get(("primary only", rate))
        for other in ("with a replica", "PostGIS, memory off", "primary, 4 threads"):
            b = by.get((other, rate))
            if a and b and a["p50_ms"] and a["p99_ms"]:
                print(
                    f"at {rate:g}/s, {other} / primary only: "
                    f"p50 {b['p50_ms'] / a['p50_ms']:.2f}x, p99 {b['p99_ms'] / a['p99_ms']:.2f}x, "
                    f"achieved {b['achieved_rate'] / a['achieved_rate']:.2f}x, server CPU per "
                    "request "
                    f"{b['server_cpu_ms_per_request'] / a['server_cpu_ms_per_request']:.2f}x"
                )
    # the CPU budget: what a request may cost for the offered rate to fit on these cores
    for r in results:
        per = r["server_cpu_ms_per_request"] + r["driver_cpu_ms_per_request"]
        budget = 1000 * (os.cpu_count() or 1) / r["rate"]
        print(
            f"{r['setup']} at {r['rate']:g}/s: {per:.2f} ms CPU per request against a budget "
            f"of {budget:.2f} ms ({per / budget:.2f}x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rates",
        type=lambda text: [float(r) for r in text.split(",")],
        default=[500.0, 1000.0],
        help="offered rates, requests/s, comma-separated (default 500,1000)",
    )
    parser.add_argument("--rate", type=float, default=1000.0, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="STATIONS_THREADS of the workers (default 1: the cheapest per request)",
    )
    parser.add_argument(
        "--setup",
        choices=("all", "primary", "replica", "postgis", "threads", "national"),
        default="all",
    )
    parser.add_argument("--drive", help=argparse.SUPPRESS)  # host:port, in the driver process
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        drive_main(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
