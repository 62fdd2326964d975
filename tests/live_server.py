"""Run ``stations serve`` (granian) as a real process for tests that need real HTTP."""

from __future__ import annotations

import contextlib
import json as _json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STATIONS = str(Path(sys.executable).with_name("stations"))


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(
    env: dict[str, str],
    workers: int = 1,
    command: tuple[str, ...] = (STATIONS, "serve"),
    start_s: float = 30,
) -> Iterator[tuple[str, list[str]]]:
    """Start the server with ``env`` added; yield its base URL and, afterwards, its log.

    ``command`` is what starts it (``./run serve`` for the quick start), given ``--port``
    and ``--workers``; ``start_s`` bounds the wait for its first answer. The log list is
    filled when the server has stopped (after the ``with`` block).
    """
    port = free_port()
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--workers", str(workers)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,  # granian's own log
        stderr=subprocess.STDOUT,  # the app's request log, in the same pipe
        text=True,
    )
    url, log, lines = f"http://127.0.0.1:{port}", [], []
    # drain the log as it comes: a full pipe would block the workers' logging mid-request
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + start_s
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v1/amenities", timeout=5):
                    break
            except (urllib.error.URLError, OSError):  # refused, reset or timed out: not up yet
                assert proc.poll() is None, "".join(lines)
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.3)
        # every worker up: one still importing the app when told to stop is only killed
        # after granian's 30 s grace
        while sum("Started worker-" in line for line in list(lines)) < workers:
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        yield url, log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=45)  # granian kills a worker that takes more than 30 s
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        reader.join(timeout=10)
        proc.stdout.close()
        log.append("".join(lines))


class Answer:
    """An HTTP answer with the parts the tests read (as Flask's test responses have)."""

    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status_code = status
        self.headers = headers
        self.data = body

    @property
    def mimetype(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip()

    def get_json(self) -> Any:
        return _json.loads(self.data) if self.data else None


class HttpClient:
    """Requests to a served app over real HTTP, shaped like Flask's test client calls."""

    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return self.open("GET", path, None, headers or {})

    def post(
        self,
        path: str,
        data: bytes | str | None = None,
        json: Any = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        headers = dict(headers or {})
        if json is not None:
            data, content_type = _json.dumps(json), "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        body = data.encode() if isinstance(data, str) else data
        return self.open("POST", path, body, headers)

    def open(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Answer:
        request = urllib.request.Request(
            self.base + path, data=body, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return Answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.headers, exc.read())
