"""Liveness and readiness probes."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import urllib.request
from pathlib import Path

from live_server import serving
from sqlalchemy.engine import make_url

from stations import db
from web.app import create_app
from web.pools import close_pool

ROOT = Path(__file__).resolve().parents[1]


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
    body = response.json
    assert (body["status"], body["revision"]) == ("ready", db.head_revision())
    assert {2024, 2025, 2026} <= set(body["holidays"]["notice_years"])


def test_readyz_says_when_a_notice_is_missing_and_stays_ready(database_url, tmp_path):
    """Served as users get it: a holiday folder without the current year's notice."""
    shutil.copy(ROOT / "data" / "holidays" / "2024.toml", tmp_path)
    env = {"DATABASE_URL": database_url, "STATIONS_HOLIDAYS_DIR": str(tmp_path)}
    with serving(env) as (url, log):
        with urllib.request.urlopen(f"{url}/readyz", timeout=30) as response:
            assert response.status == 200
            body = json.load(response)
    assert body["holidays"]["notice_years"] == [2024]
    year = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).year
    assert f"no holiday arrangement for the current year {year}" in body["holidays"]["warnings"]
    assert f"holiday calendar: no holiday arrangement for the current year {year}" in log[0]


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
