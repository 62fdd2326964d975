"""Fixtures: a real PostGIS (started by the project's own code), the demo data, the app.

Without ``DATABASE_URL`` the embedded cluster is started (installed by ``./run``); a
database that cannot be had fails the run, it never skips. Tests get a throwaway database
``stations_test``, migrated and loaded with the demo set once per session; tests that
write use the ``conn`` fixture, whose transaction is rolled back afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest

# the browser tests' fixtures: the served app, loopback tiles, Chromium
from browser import base_url, page, strict_page, tile_url  # noqa: F401

from stations import db
from stations.cluster import Cluster
from stations.demo import demo_database
from web.app import create_app
from web.pools import close_pool

# two runs at once (a helper run beside the suite) each need their own throwaway database
TEST_DB = os.environ.get("STATIONS_TEST_DB", "stations_test")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A freshly migrated test database holding the demo data."""
    if db.uses_embedded():
        Cluster.from_settings().up()
    return demo_database(TEST_DB)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection whose changes are rolled back when the test ends."""
    connection = db.connect(database_url)
    connection.execute("SELECT 1")  # open the transaction: code under test nests in it
    try:
        yield connection
    finally:
        connection.rollback()
        connection.close()


def app_for(database_url: str):
    """The app on ``database_url``, limits off: the suite calls faster than any courier
    (test_ratelimit turns them on)."""
    return create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "RATE_LIMIT_PUBLIC": "off",
            "RATE_LIMIT_PLANNER": "off",
        }
    )


@pytest.fixture(scope="session")
def app(database_url: str):
    application = app_for(database_url)
    yield application
    close_pool(application)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def tokens_by_role(database_url: str) -> dict[str, str]:
    """A committed token per role in the test database (and ``all`` holding every role)."""
    from stations import tokens

    made = {}
    with db.connect(database_url) as connection:
        for role in tokens.ROLES:
            made[role] = tokens.create(connection, [role], f"test {role}")[1]
        made["all"] = tokens.create(connection, tokens.ROLES, "test all")[1]
    return made


@pytest.fixture
def planner(tokens_by_role: dict[str, str]) -> dict[str, str]:
    """Headers that sign a request in as a planner."""
    return {"Authorization": f"Bearer {tokens_by_role['planner']}"}
