"""Security headers, the page policy, and the request size limit."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
import urllib.request

from answers import ok
from live_server import serving
from never_sent import NeverSent

from web import security
from web.app import create_app
from web.pools import close_pool


def test_pages_get_a_policy_and_every_response_the_basic_headers(client):
    page = ok(client.get("/planner"))
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    # only the Folium map runs inline script, until its script moves to a file
    folium_map = ok(client.get("/map")).headers["Content-Security-Policy"]
    assert "script-src 'self' 'unsafe-inline'" in folium_map
    assert "connect-src 'self'" in policy and page.headers["X-Frame-Options"] == "DENY"
    api = ok(client.get("/api/v1/amenities"))
    assert api.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in api.headers


def test_images_are_allowed_from_the_tile_servers_only():
    policy = security._policy(
        ("https://t{s}.tianditu.gov.cn/vec_w/wmts?x={x}", "http://127.0.0.1:8123/{z}/{x}/{y}.png")
    )
    images = next(p for p in policy.split("; ") if p.startswith("img-src"))
    assert images == "img-src 'self' data: blob: http://127.0.0.1:8123 https://*.tianditu.gov.cn"


def test_bodies_past_the_limit_get_413(database_url, tokens_by_role):
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "MAX_CONTENT_LENGTH": 1000})
    try:
        response = app.test_client().post(
            "/api/v1/coverage/gaps",
            data='{"district": "140106", "pad": "' + "x" * 2000 + '"}',
            content_type="application/json",
            headers={"Authorization": f"Bearer {tokens_by_role['planner']}"},
        )
        assert response.status_code == 413 and response.mimetype == "application/problem+json"
    finally:
        close_pool(app)


def _raw(port: int, head: bytes, body: bytes = b"") -> tuple[float, bytes]:
    """Send a request by hand; seconds until the first bytes of the answer, and the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(head)
        with contextlib.suppress(OSError):  # the server may stop reading and close
            sock.sendall(body)
        answer = sock.recv(65536)
        seconds = time.monotonic() - started
        head_end = answer.find(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", answer[:head_end])
        while length and len(answer) < head_end + 4 + int(length[1]):
            more = sock.recv(65536)
            if not more:
                break
            answer += more
        return seconds, answer


def test_the_served_app_refuses_big_bodies_before_reading_them(database_url):
    """STATIONS_MAX_BODY_MB as users meet it: granian in front, on any route."""
    env = {"DATABASE_URL": database_url, "STATIONS_MAX_BODY_MB": "1"}
    with serving(env) as (url, _log):
        port = int(url.rsplit(":", 1)[1])
        # announced 200 MB, nothing sent: answered at once, not waited for
        seconds, answer = _raw(
            port,
            b"POST /planner/sign-in HTTP/1.1\r\nHost: t\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 200000000\r\n\r\n",
        )
        assert answer.startswith(b"HTTP/1.1 413 ") and seconds < 1
        assert b"application/problem+json" in answer
        # 2 MB actually sent to an anonymous and to a JSON endpoint
        for path in (b"/api/v1/coverage/gaps", b"/api/v1/stations/import"):
            body = b"x" * 2_000_000
            head = b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" % path
            seconds, answer = _raw(port, head + b"Content-Length: %d\r\n\r\n" % len(body), body)
            assert answer.startswith(b"HTTP/1.1 413 ") and seconds < 1


SIGN_IN = (
    b"POST /planner/sign-in HTTP/1.1\r\nHost: t\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\n"
)


def _chunked(data: bytes, piece: int = 65536) -> bytes:
    body = b"".join(
        b"%x\r\n%s\r\n" % (len(data[i : i + piece]), data[i : i + piece])
        for i in range(0, len(data), piece)
    )
    return body + b"0\r\n\r\n"


def test_chunked_bodies_are_counted_against_the_limit(database_url, tokens_by_role):
    """Without Content-Length, a 2 MB body used to pass a 1 MB limit unread and unchecked."""
    env = {"DATABASE_URL": database_url, "STATIONS_MAX_BODY_MB": "1"}
    with serving(env) as (url, _log):
        port = int(url.rsplit(":", 1)[1])
        chunked = b"Transfer-Encoding: chunked\r\n\r\n"
        seconds, answer = _raw(port, SIGN_IN + chunked, _chunked(b"token=" + b"x" * 2_000_000))
        assert answer.startswith(b"HTTP/1.1 413 ") and seconds < 1
        assert b"application/problem+json" in answer and "最多 1 MB".encode() in answer
        # a small chunked body is read, not taken for empty: the token signs in
        token = tokens_by_role["planner"].encode()
        _seconds, answer = _raw(port, SIGN_IN + chunked, _chunked(b"token=" + token))
        assert answer.startswith(b"HTTP/1.1 303 "), answer[:200]


def test_a_body_that_stops_arriving_is_answered_408_and_searches_go_on(database_url):
    """Six clients that announced a body and sent none used to hold a worker's threads."""
    env = {"DATABASE_URL": database_url, "STATIONS_BODY_TIMEOUT_S": "2"}
    with serving(env) as (url, _log):
        port = int(url.rsplit(":", 1)[1])
        english = b"Accept-Language: en\r\n"
        seconds, answer = _raw(port, SIGN_IN + english + b"Content-Length: 999\r\n\r\n", b"token=")
        assert answer.startswith(b"HTTP/1.1 408 ") and 1.9 < seconds < 4
        assert b"application/problem+json" in answer and b"stopped arriving" in answer
        assert b"retry-after" not in answer.lower()
        # forty stalled bodies on endpoints that need a token: refused before any is read
        stalled = []
        try:
            for path in (b"/api/v1/coverage/gaps", b"/api/v1/stations/import") * 20:
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                sock.sendall(b"POST %s HTTP/1.1\r\nHost: t\r\n" % path)
                sock.sendall(b"Content-Type: application/json\r\nContent-Length: 9999\r\n\r\n{")
                stalled.append(sock)
            for sock in stalled:
                assert sock.recv(4096).startswith(b"HTTP/1.1 401 ")
            started = time.monotonic()
            with urllib.request.urlopen(f"{url}/api/v1/stations/nearest?lat=37.87&lon=112.55") as r:
                assert r.status == 200
            assert time.monotonic() - started < 1
        finally:
            for sock in stalled:
                sock.close()


def test_stalled_bodies_cannot_pile_up_threads(database_url):
    """Past the readers allowed per worker, a body is refused at once (503), not waited on."""
    app = create_app(
        {"DATABASE_URL": database_url, "TESTING": True, "BODY_TIMEOUT_S": 0.2, "BODY_READERS": 2}
    )
    bodies = [NeverSent() for _ in range(3)]
    responses = []
    try:
        client = app.test_client()
        statuses = []
        for body in bodies:
            started = time.monotonic()
            # unbuffered: a 408's request ends (its close returns) only when the client goes
            response = client.post(
                "/planner/sign-in",
                input_stream=body,
                environ_overrides={"CONTENT_LENGTH": "100"},  # announced, never sent
                content_type="application/x-www-form-urlencoded",
                buffered=False,
            )
            responses.append(response)
            statuses.append((response.status_code, response.get_json()["type"]))
            assert time.monotonic() - started < 2
        assert statuses == [
            (408, "/problems/request-timeout"),
            (408, "/problems/request-timeout"),
            (503, "/problems/service-unavailable"),
        ]
    finally:
        for body in bodies:
            body.gone.set()  # the clients go: the helper threads end
        for response in responses:
            response.close()
        close_pool(app)


def test_a_statement_past_its_time_is_cancelled_and_answered_503(database_url):
    from web.pools import get_conn

    app = create_app({"DATABASE_URL": database_url, "TESTING": True})

    @app.get("/slow-for-test")
    def slow():  # a statement that outlives the (here shortened) timeout
        conn = get_conn()
        conn.execute("SET statement_timeout = 100")
        try:
            conn.execute("SELECT pg_sleep(5)")
        finally:
            conn.execute("RESET statement_timeout")
        return "never"

    try:
        started = time.monotonic()
        response = app.test_client().get("/slow-for-test")
        assert response.status_code == 503 and time.monotonic() - started < 2
        assert response.get_json()["type"] == "/problems/statement-timeout"
    finally:
        close_pool(app)


def test_a_405_says_what_is_allowed(client):
    response = client.post("/api/v1/amenities", json={})
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert response.mimetype == "application/problem+json"


def test_an_outage_says_retry_in_5_s_with_the_rate_limiter_on():
    """flask-limiter put its own window (52-60 s) on the 503 of an outage."""
    app = create_app(
        {
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
            "TESTING": True,
            "RATE_LIMIT_PUBLIC": "100/minute",
            "RATE_LIMIT_PLANNER": "10/minute",
        }
    )
    try:
        response = app.test_client().get("/api/v1/stations/1")
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    finally:
        close_pool(app)


def test_a_made_up_token_on_a_public_read_is_refused(client, tokens_by_role):
    """Any "Authorization: Bearer x" used to send a search past memory to the primary."""
    near = "/api/v1/stations/nearest?lat=37.87&lon=112.55"
    refused = client.get(near, headers={"Authorization": "Bearer made-up"})
    assert refused.status_code == 401
    valid = {"Authorization": f"Bearer {tokens_by_role['planner']}"}
    assert client.get(near, headers=valid).status_code == 200
    assert client.get(near).status_code == 200


def test_links_come_from_the_public_address_not_the_host_header(database_url):
    """A client's Host header used to be written into the next-page links (and Location)."""
    import json
    import subprocess

    from live_server import STATIONS

    env = {"DATABASE_URL": database_url, "STATIONS_PUBLIC_URL": "https://yizhan.example.cn/"}
    with serving(env) as (url, _log):
        port = int(url.rsplit(":", 1)[1])
        _seconds, answer = _raw(
            port, b"GET /api/v1/stations?limit=2 HTTP/1.1\r\nHost: evil.example\r\n\r\n"
        )
        page = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        hrefs = {link["rel"]: link["href"] for link in page["links"]}
        assert hrefs["next"] == "https://yizhan.example.cn/api/v1/stations?limit=2&offset=2"
        assert all(href.startswith("https://yizhan.example.cn/") for href in hrefs.values())
        # the sign-in form posted from the public address counts as this site's own
        _seconds, answer = _raw(
            port,
            SIGN_IN + b"Origin: https://yizhan.example.cn\r\nContent-Length: 7\r\n\r\n",
            b"token=x",
        )
        assert answer.startswith(b"HTTP/1.1 401 ")
    bad = subprocess.run(
        [STATIONS, "serve", "--port", "1"],
        env={**os.environ, "STATIONS_PUBLIC_URL": "yizhan.example.cn"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "https://yizhan.example.cn" in bad.stderr
