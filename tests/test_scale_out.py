"""Two servers behind one proxy, one database, one Redis: as the README's "Scaling out".

Each ``stations serve`` runs as a process of its own on loopback, with the proxy's
``X-Forwarded-For`` header trusted (``STATIONS_TRUSTED_PROXIES=1``) and the rate-limit
counts in a real Redis (Debian's ``redis-server``, started here): a client's count and
a planner's session must hold whichever server the balancer picks.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email.message import Message

import pytest
from live_server import free_port, serving


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory) -> Iterator[str]:
    server = shutil.which("redis-server")
    assert server, "redis-server is missing: ./run test installs it (apt-get install redis-server)"
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "redis did not start"
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


class _Keep(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: D102
        return None  # a 303 is an answer here, not something to follow


def _call(url: str, headers: dict[str, str], data: bytes | None = None) -> tuple[int, Message, str]:
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.build_opener(_Keep).open(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode()


@pytest.fixture(scope="module")
def two_servers(database_url, redis_url) -> Iterator[tuple[str, str]]:
    env = {
        "DATABASE_URL": database_url,
        "STATIONS_TRUSTED_PROXIES": "1",
        "STATIONS_RATE_LIMIT_STORAGE": redis_url,
        "STATIONS_RATE_LIMIT_PUBLIC": "6/minute",
        "STATIONS_RATE_LIMIT_PLANNER": "5/minute",
        "STATIONS_SECRET_KEY": "the same key on every server " + "x" * 32,
        "STATIONS_PUBLIC_URL": "https://yizhan.example.cn",
    }
    with serving(env) as (first, _log1), serving(env) as (second, _log2):
        yield first, second


def test_a_clients_count_is_shared_by_both_servers(two_servers):
    first, second = two_servers
    courier = {"X-Forwarded-For": "10.20.30.40"}
    statuses = [_call(f"{(first, second)[i % 2]}/api/v1/amenities", courier)[0] for i in range(7)]
    assert statuses == [200] * 6 + [429]  # six allowed in all, not six on each server
    status, headers, body = _call(f"{second}/api/v1/amenities", courier)
    assert status == 429 and 0 < int(headers["Retry-After"]) <= 60
    assert "每 1 分钟 6 次" in json.loads(body)["detail"]
    english = {**courier, "Accept-Language": "en-GB,en;q=0.8"}
    detail = json.loads(_call(f"{first}/api/v1/amenities", english)[2])["detail"]
    assert detail.startswith("too many requests from your address (limit: 6 per 1 minute)")
    # another courier behind the same proxy has a count of their own
    assert _call(f"{first}/api/v1/amenities", {"X-Forwarded-For": "10.20.30.41"})[0] == 200


def test_a_planner_signed_in_on_one_server_is_signed_in_on_the_other(two_servers, tokens_by_role):
    first, second = two_servers
    planner = {
        "X-Forwarded-For": "10.50.60.70",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "yizhan.example.cn",
        "Origin": "https://yizhan.example.cn",
    }
    form = urllib.parse.urlencode({"token": tokens_by_role["planner"]}).encode()
    status, headers, _body = _call(
        f"{first}/planner/sign-in",
        {**planner, "Content-Type": "application/x-www-form-urlencoded"},
        form,
    )
    assert status == 303, _body
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    status, _headers, page = _call(
        f"{second}/planner?district=140106", {**planner, "Cookie": cookie}
    )
    assert status == 200 and 'class="pl-sign-in"' not in page and "leaflet" in page.lower()
    # the planner limit (5/minute, per route) counts across both servers
    statuses = [
        _call(f"{(first, second)[i % 2]}/planner/sign-out", {**planner, "Cookie": cookie}, b"")[0]
        for i in range(6)
    ]
    assert statuses == [303] * 5 + [429], statuses


def test_with_redis_gone_the_servers_answer_and_count_locally(database_url, tmp_path):
    """A rate-limit store that went away must not turn every answer into a 500."""
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "STATIONS_RATE_LIMIT_STORAGE": f"redis://127.0.0.1:{port}",  # nothing listens
        "STATIONS_RATE_LIMIT_PUBLIC": "3/minute",
    }
    with serving(env) as (url, _log):
        # (per route: the readiness probe of live_server counted on /amenities)
        statuses = [_call(f"{url}/api/v1/stations?limit=1", {})[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]  # counted in the worker meanwhile
