"""Security headers, the page policy, and the request size limit."""

from __future__ import annotations

import contextlib
import socket
import time

from live_server import serving

from web import security
from web.app import create_app
from web.database import close_pool


def test_pages_get_a_policy_and_every_response_the_basic_headers(client):
    page = client.get("/planner")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self' 'unsafe-inline'" in policy and "frame-ancestors 'none'" in policy
    assert "connect-src 'self'" in policy and page.headers["X-Frame-Options"] == "DENY"
    api = client.get("/api/v1/amenities")
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
    """Send a request by hand; seconds until the first bytes of the answer, and them."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(head)
        with contextlib.suppress(OSError):  # the server may stop reading and close
            sock.sendall(body)
        answer = sock.recv(4096)
        return time.monotonic() - started, answer


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


def test_a_statement_past_its_time_is_cancelled_and_answered_503(database_url):
    from web.database import get_conn

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
