"""``stations serve`` runs gunicorn; the API answers over a real socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

STATIONS = str(Path(sys.executable).with_name("stations"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get_content_type(), json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get_content_type(), json.load(e)


def test_serve_answers_over_http(database_url):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url}
    proc = subprocess.Popen(
        [STATIONS, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, kind, body = _get(f"{base}/stations?limit=3&district=140105")
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.3)
        assert (status, kind) == (200, "application/geo+json")
        assert body["numberReturned"] == 3
        assert all(f["properties"]["district_code"] == "140105" for f in body["features"])
        status, kind, body = _get(f"{base}/stations?limit=zero")
        assert (status, kind, body["param"]) == (400, "application/problem+json", "limit")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, log = proc.communicate(timeout=30)
    assert "Booting worker" in log
