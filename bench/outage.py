"""How fast an outage is told and how soon service returns: the README's two numbers.

The README promises that while PostgreSQL is away a request gets 503 "within half a
second" (the pool waits at most that for a connection), and that service is back
"within about two seconds" of the database. ``tests/test_outage.py`` checks the
behaviour; this times it, on the served app (``stations serve``, 2 workers) with two
clients calling the nearest search back to back, over a few rounds:

    .venv/bin/python bench/outage.py [--rounds 3] [--down-s 4]

Per round: the slowest 503 while down, the median 503, seconds from the database's
return to the first 200 and to the last non-200, each beside the README's figure as a
ratio. A client that times out (10 s) is counted, never a crash.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

NEAREST = "/api/v1/stations/nearest?lon=112.55&lat=37.87&open=false"
MAX_AGE_S = 0.5
PROMISED_503_S, PROMISED_BACK_S = 0.5, 2.0


def _load(url: str, stop: threading.Event, out: list) -> None:
    while not stop.is_set():
        start = time.monotonic()
        try:
            with urllib.request.urlopen(url + NEAREST, timeout=10) as response:
                status: object = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:  # a timeout or a refused connection: counted
            status = type(exc).__name__
        out.append((start, time.monotonic() - start, status))
        time.sleep(0.01)


def _round(cluster, url: str, down_s: float) -> dict:
    calls: list = []
    stop = threading.Event()
    clients = [threading.Thread(target=_load, args=(url, stop, calls)) for _ in range(2)]
    for client in clients:
        client.start()
    time.sleep(2)
    cluster.down()
    down_at = time.monotonic()
    time.sleep(down_s)
    cluster.up()
    up_at = time.monotonic()
    time.sleep(8)
    stop.set()
    for client in clients:
        client.join(15)
    during = [c for c in calls if down_at + MAX_AGE_S < c[0] < up_at and c[2] == 503]
    after = [c for c in calls if c[0] > up_at]
    first_ok = min((c[0] + c[1] for c in after if c[2] == 200), default=float("nan"))
    last_bad = max((c[0] + c[1] for c in after if c[2] != 200), default=up_at)
    return {
        "max_503_s": max((c[1] for c in during), default=float("nan")),
        "median_503_s": statistics.median(c[1] for c in during) if during else float("nan"),
        "first_200_s": first_ok - up_at,
        "all_200_s": last_bad - up_at,
        "timeouts": sum(isinstance(c[2], str) for c in calls),
        "calls": len(calls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--down-s", type=float, default=4.0)
    args = parser.parse_args()

    from live_server import serving

    from stations.sandbox import spare_primary

    rows = []
    with spare_primary("outage-bench") as (cluster, db_url):
        env = {
            "DATABASE_URL": db_url,
            "STATIONS_RATE_LIMIT_PUBLIC": "off",
            "STATIONS_NEAREST_MAX_AGE_S": str(MAX_AGE_S),
        }
        with serving(env, workers=2) as (url, _log):
            for number in range(1, args.rounds + 1):
                row = _round(cluster, url, args.down_s)
                rows.append(row)
                print(
                    f"round {number}: 503s max {row['max_503_s']:.3f} s "
                    f"({row['max_503_s'] / PROMISED_503_S:.2f}x the promised "
                    f"{PROMISED_503_S} s), median {row['median_503_s']:.3f} s; back: first "
                    f"200 after {row['first_200_s']:.2f} s, all 200 after "
                    f"{row['all_200_s']:.2f} s ({row['all_200_s'] / PROMISED_BACK_S:.2f}x the "
                    f"promised {PROMISED_BACK_S} s); {row['timeouts']} timeouts of "
                    f"{row['calls']} calls",
                    flush=True,
                )
    worst = max(rows, key=lambda r: r["all_200_s"])
    print(
        f"worst of {len(rows)}: 503 max {max(r['max_503_s'] for r in rows):.3f} s, "
        f"all 200 after {worst['all_200_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
