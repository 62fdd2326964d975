"""Security headers, the page policy, and the request size limit."""

from __future__ import annotations

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
