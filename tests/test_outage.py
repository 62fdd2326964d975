"""PostGIS stopped and started under load: 503s while it is down, 200s once it is back,
and the same worker processes throughout (no restart).

The nearest search answers from the workers' memory for up to ``MAX_AGE_S`` after it last
confirmed the registry's generation; past that, it needs the database like any read.
Each phase lasts until what it waits for has happened (with a generous deadline), not a
fixed time; how fast the 503s come and how soon service is back are timed by
``bench/outage.py``, not bounded here.
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


def _until(calls: list, enough, seconds: float = 60.0) -> None:
    """Wait until ``enough(calls)``; the deadline is for a machine far slower than this one."""
    deadline = time.monotonic() + seconds
    while not enough(list(calls)):
        assert time.monotonic() < deadline, Counter(str(c[2]) for c in calls)
        time.sleep(0.05)


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
            _until(calls, lambda c: sum(x[2] == 200 for x in c) >= 20)
            stopping_at = time.monotonic()
            cluster.down()
            down_at = time.monotonic()
            # answered (not hung) while down, past the memory's grace
            _until(calls, lambda c: sum(x[0] > down_at + MAX_AGE_S for x in c) >= 10)
            starting_at = time.monotonic()
            cluster.up()
            up_at = time.monotonic()
            # back: twenty answers in a row that are 200, from calls begun after the start
            _until(calls, lambda c: [x[2] for x in c if x[0] > up_at][-20:] == [200] * 20)
            stop.set()
            for client in clients:
                client.join(15)
            assert _processes(port) == processes  # the same workers, none restarted

    before = [c for c in calls if c[0] + c[1] < stopping_at]
    # (a search within MAX_AGE_S of the stop may still be answered from memory)
    during = [c for c in calls if down_at + MAX_AGE_S < c[0] and c[0] + c[1] < starting_at]
    assert before and {c[2] for c in before} == {200}
    # while it is down: problem+json 503 with Retry-After
    assert len(during) >= 8
    assert {c[2] for c in during} == {(503, "5", "application/problem+json")}, Counter(
        str(c[2]) for c in during
    )
    # coming back: 503s until each worker's pool reconnects, then 200s (the last twenty in
    # a row, waited for above); no call ever hung or failed otherwise (10 s client timeout)
    assert {c[2] for c in calls if c[0] > up_at} <= {200, (503, "5", "application/problem+json")}
    assert not [c for c in calls if isinstance(c[2], str)], [c[2] for c in calls][:5]
