"""Load on the public nearest search: a fixed request rate for a minute, from a second
process, against ``stations serve`` on loopback, with and without a read replica.

A throwaway cluster with the demo data is made for the run (and, for the second pass, a
streaming replica of it that the workers read from). The driver is a separate process
running an open loop: request i is sent at start + i/rate whether or not earlier ones
have answered, so a slow server shows as latency and errors rather than as a lower
offered rate (no coordinated omission). Latency counts from the moment a request was due.
Each request asks for the nearest open stations to a random point near a real station.

    .venv/bin/python bench/load.py [--rates 500,1000] [--seconds 60] [--workers 2]
                                   [--setup both|primary|replica]

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


# --- the driver (the second process) ---------------------------------------------------


class _Connections:
    """Idle keep-alive connections to the server, opened as needed."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """A connection, and whether it was reused (the server may have just closed it)."""
        if self.idle:
            return (*self.idle.pop(), True)
        opened = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), TIMEOUT_S)
        return (*opened, False)


async def _exchange(
    connections: _Connections, request: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """Send on a connection and read the response head; a reused connection that the
    server closed while idle is retried once on a new one, as browsers do."""
    reader, writer, reused = await connections.take()
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT_S)
    except (OSError, asyncio.IncompleteReadError):
        writer.close()
        if not reused:
            raise
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(connections.host, connections.port), TIMEOUT_S
        )
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT_S)
    return reader, writer, head


async def _one(connections: _Connections, request: bytes, due: float, out: dict) -> None:
    loop = asyncio.get_running_loop()
    writer = None
    try:
        reader, writer, head = await _exchange(connections, request)
        length, close = 0, False
        for line in head.split(b"\r\n"):
            name = line[:16].lower()
            if name.startswith(b"content-length:"):
                length = int(line[15:])
            elif name.startswith(b"connection:"):
                close = b"close" in line.lower()
        await asyncio.wait_for(reader.readexactly(length), TIMEOUT_S)
        status = int(head[9:12])
    except TimeoutError:
        out["errors"]["timeout"] += 1
        if writer is not None:
            writer.close()
        return
    except (OSError, asyncio.IncompleteReadError) as exc:
        out["errors"][type(exc).__name__] += 1
        if writer is not None:
            writer.close()
        return
    if close:
        writer.close()
    else:
        connections.idle.append((reader, writer))
    out["latency"].append(loop.time() - due)
    out["done"].append(loop.time())
    if status != 200:
        out["errors"][f"HTTP {status}"] += 1


async def _drive(host: str, port: int, paths: list[str], rate: float, seconds: float) -> dict:
    loop = asyncio.get_running_loop()
    requests = [f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode() for p in paths]
    connections = _Connections(host, port)
    out: dict = {"latency": [], "done": [], "errors": Counter()}
    total = int(rate * seconds)
    start = loop.time() + 0.1
    tasks = set()
    sent = 0
    while sent < total:
        now = loop.time()
        due_until = min(total, int((now - start) * rate) + 1)
        while sent < due_until:  # everything due by now goes out, late or not
            task = loop.create_task(
                _one(connections, requests[sent % len(requests)], start + sent / rate, out)
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.sleep(max(0.0, start + sent / rate - loop.time()))
    if tasks:
        await asyncio.wait(tasks)
    for _reader, writer in connections.idle:
        writer.close()
    out["start"], out["sent"] = start, sent
    return out


def drive_main(args: argparse.Namespace) -> None:
    """Run the open loop and print a JSON summary on stdout."""
    paths = json.loads(Path(args.paths).read_text())
    host, port = args.drive.rsplit(":", 1)
    out = asyncio.run(_drive(host, int(port), paths, args.rate, args.seconds))
    latency = sorted(out["latency"])
    done = out["done"]

    def pct(q: float) -> float:
        return latency[min(len(latency) - 1, int(q * len(latency)))] * 1000 if latency else 0.0

    span = (max(done) - out["start"]) if done else 1.0
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


def _one_setup(name: str, env: dict, args: argparse.Namespace, paths_file: Path) -> list[dict]:
    from live_server import serving

    results = []
    with serving(env, workers=args.workers) as (url, _log):
        warm = _drive_process(url, paths_file, 200, 3)  # every worker's pool and caches
        assert warm["answered"] > 0
        for rate in args.rates:
            time.sleep(3)  # let a backlog from the run before drain
            (busy0, steal0), driver0, t0 = _cpu_seconds(), _children_cpu(), time.monotonic()
            result = _drive_process(url, paths_file, rate, args.seconds)
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
        }
        if args.setup in ("both", "primary"):
            results += _one_setup("primary only", base_env, args, paths_file)
        if args.setup in ("both", "replica"):
            replica = primary.standby(primary.root.parent / "bench-load-standby", primary.port)
            try:
                replica.up()
                env = {**base_env, "DATABASE_READ_URL": replica.url("stations")}
                results += _one_setup("with a replica", env, args, paths_file)
            finally:
                replica.down()
                shutil.rmtree(replica.root, ignore_errors=True)
        paths_file.unlink()
    print(
        f"\nnearest search for {args.seconds:g} s per rate, {args.workers} workers x "
        f"{os.environ.get('STATIONS_THREADS', '4')} threads, {os.cpu_count()} cores"
    )
    print(
        "| setup | offered | achieved | p50 | p90 | p99 | max | errors | server CPU/req "
        "| driver CPU/req | stolen |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        errors = sum(r["errors"].values())
        print(
            f"| {r['setup']} | {r['rate']:g}/s | {r['achieved_rate']:.0f}/s | "
            f"{r['p50_ms']:.1f} ms | {r['p90_ms']:.1f} ms | {r['p99_ms']:.1f} ms | "
            f"{r['max_ms']:.0f} ms | {errors} {r['errors'] or ''} | "
            f"{r['server_cpu_ms_per_request']:.2f} ms | {r['driver_cpu_ms_per_request']:.2f} ms | "
            f"{r['steal']:.0%} |"
        )
    by = {(r["setup"], r["rate"]): r for r in results}
    for rate in args.rates:
        a, b = by.get(("primary only", rate)), by.get(("with a replica", rate))
        if a and b and a["p50_ms"] and a["p99_ms"]:
            print(
                f"at {rate:g}/s, replica/primary-only: p50 {b['p50_ms'] / a['p50_ms']:.2f}x, "
                f"p99 {b['p99_ms'] / a['p99_ms']:.2f}x, "
                f"achieved {b['achieved_rate'] / a['achieved_rate']:.2f}x"
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
    parser.add_argument("--setup", choices=("both", "primary", "replica"), default="both")
    parser.add_argument("--drive", help=argparse.SUPPRESS)  # host:port, in the driver process
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        drive_main(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
