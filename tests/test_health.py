"""Liveness and readiness probes."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from stations import db
from web.app import create_app
from web.database import close_pool


def test_healthz_needs_no_database():
    app = create_app({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "TESTING": True})
    try:
        client = app.test_client()
        assert client.get("/healthz").json == {"status": "ok"}
        down = client.get("/readyz")
        assert down.status_code == 503 and down.mimetype == "application/problem+json"
        assert down.headers["Retry-After"]
    finally:
        close_pool(app)


def test_readyz_when_migrated(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "revision": db.head_revision()}


def test_readyz_refuses_an_old_schema(database_url):
    url = make_url(database_url).set(database="stations_ready_test")
    url = url.render_as_string(hide_password=False)
    db.drop_database(url)
    db.migrate(url, "0002")
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    try:
        response = app.test_client().get("/readyz")
        assert response.status_code == 503 and "stations db migrate" in response.json["detail"]
    finally:
        close_pool(app)
        db.drop_database(url)


def test_an_unreachable_database_gets_503_not_a_hang():
    app = create_app({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "TESTING": True})
    try:
        client = app.test_client()
        client.get("/api/v1/stations/1")  # the pool starts
        response = client.get("/api/v1/stations/1")  # the pool waits 1 s, then gives up
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert response.mimetype == "application/problem+json"
    finally:
        close_pool(app)
