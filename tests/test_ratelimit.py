"""Rate limits: 429 problem+json with Retry-After past the limit, and off when asked."""

from __future__ import annotations

import pytest

from web.app import create_app
from web.database import close_pool
from web.ratelimit import limiter


@pytest.fixture
def limited(database_url):
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "RATE_LIMIT_PUBLIC": "3/minute",
            "RATE_LIMIT_PLANNER": "2/minute",
        }
    )
    limiter.reset()  # counts live in the process-wide limiter
    yield app
    close_pool(app)
    limiter.reset()


def test_public_calls_past_the_limit_get_429(limited):
    client = limited.test_client()
    codes = [client.get("/api/v1/amenities").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = client.get("/api/v1/amenities")
    assert refused.mimetype == "application/problem+json"
    assert int(refused.headers["Retry-After"]) > 0
    assert client.get("/healthz").status_code == 200  # probes are never limited


def test_planner_calls_have_their_own_tighter_limit(limited, planner):
    client = limited.test_client()
    body = {"district": "140106"}
    codes = [
        client.post("/api/v1/coverage/gaps", json=body, headers=planner).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    assert client.get("/api/v1/amenities").status_code == 200


def test_off_means_no_limit(database_url):
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "RATE_LIMIT_PUBLIC": "off"})
    limiter.reset()
    try:
        client = app.test_client()
        assert {client.get("/api/v1/amenities").status_code for _ in range(30)} == {200}
    finally:
        close_pool(app)
