"""PostGIS stopped and started under load: 503s while it is down, 200s within 5 s of its
return, and the same worker processes throughout (no restart).

The nearest search answers from the workers' memory for up to ``MAX_AGE_S`` after it last
confirmed the registry's generation; past that, it needs the database like any read.
"""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

from live_server import serving

from stations.sandbox import spare_primary

NEAREST = "/api/v1/stations/nearest?lon=112.55&lat=37.87&open=false"
MAX_AGE_S = 0.5


def _processes(port: str) -> set[int]:
    """The granian main process and workers serving ``port``."""
    found = subprocess.run(
        ["pgrep", "-f", f"granian .*--port {port} "], capture_output=True, text=True
    )
    return {int(p) for p in found.stdout.split()}


def _load(url: str, stop: threading.Event, out: list[tuple[float, float, object]]) -> None:
    """Call the nearest search back to back, noting (start, seconds, status or error)."""
    while not stop.is_set():
        start = time.monotonic()
        try:
            with urllib.request.urlopen(url + NEAREST, timeout=10) as response:
                status: object = response.status
        except urllib.error.HTTPError as exc:
            status = (exc.code, exc.headers.get("Retry-After"), exc.headers.get_content_type())
        except OSError as exc:  # a hang (timeout) or a refused connection
            status = repr(exc)
        out.append((start, time.monotonic() - start, status))
        time.sleep(0.01)


def test_database_outage_under_load():
    with spare_primary("outage") as (cluster, db_url):
        env = {
            "DATABASE_URL": db_url,
            "STATIONS_RATE_LIMIT_PUBLIC": "off",
            "STATIONS_NEAREST_MAX_AGE_S": str(MAX_AGE_S),
        }
        with serving(env, workers=2) as (url, _log):
            port = url.rsplit(":", 1)[1]
            processes = _processes(port)
            assert len(processes) == 3  # the main process and two workers
            calls: list[tuple[float, float, object]] = []
            stop = threading.Event()
            clients = [threading.Thread(target=_load, args=(url, stop, calls)) for _ in range(2)]
            for client in clients:
                client.start()
            time.sleep(2)
            stopping_at = time.monotonic()
            cluster.down()
            down_at = time.monotonic()
            time.sleep(4)
            starting_at = time.monotonic()
            cluster.up()
            up_at = time.monotonic()
            time.sleep(7)
            stop.set()
            for client in clients:
                client.join(15)
            assert _processes(port) == processes  # the same workers, none restarted

    before = [c for c in calls if c[0] + c[1] < stopping_at]
    # (a search within MAX_AGE_S of the stop may still be answered from memory)
    during = [c for c in calls if down_at + MAX_AGE_S < c[0] and c[0] + c[1] < starting_at]
    after = [c for c in calls if c[0] > up_at + 5]
    assert before and {c[2] for c in before} == {200}
    # while it is down: problem+json 503 with Retry-After, each within a second
    assert len(during) >= 8
    assert {c[2] for c in during} == {(503, "5", "application/problem+json")}, Counter(
        str(c[2]) for c in during
    )
    assert max(c[1] for c in during) < 1.0
    # back within 5 s: every call after that succeeds, and none ever hung
    first_ok = min(c[0] for c in calls if c[0] > up_at and c[2] == 200)
    assert first_ok - up_at < 5
    assert len(after) >= 20 and {c[2] for c in after} == {200}
    assert all(c[1] < 2 for c in calls), max(c[1] for c in calls)
