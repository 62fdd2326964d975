"""The schema comes from Alembic migrations, from an empty database up and back."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from stations import db


@pytest.fixture
def empty_url(database_url):
    url = make_url(database_url).set(database="stations_migrate_test")
    url = url.render_as_string(hide_password=False)
    db.drop_database(url)
    yield url
    db.drop_database(url)


def test_migrate_from_empty_creates_schema(empty_url):
    db.migrate(empty_url)
    assert db.current_revision(empty_url) == db.head_revision()
    with db.connect(empty_url) as conn:
        tables = {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        assert {"stations", "station_history", "districts", "demand_points"} <= tables
        geom = conn.execute(
            "SELECT type, srid FROM geometry_columns WHERE f_table_name = 'stations'"
        ).fetchone()
        assert geom == ("POINT", 4326)
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'stations_geom_idx'"
        ).fetchone()[0]
        assert "USING gist" in index
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'stations'"
            )
        }
    assert {
        "code",
        "name",
        "address",
        "district_code",
        "district_name",
        "geom",
        "opening_hours",
        "amenities",
        "floor_area_m2",
        "host_type",
        "built_by",
        "level",
        "opened_on",
        "status",
        "contact",
        "version",
        "created_at",
        "updated_at",
    } <= columns


def test_downgrade_then_upgrade_again(empty_url):
    db.migrate(empty_url)
    db.downgrade(empty_url, "base")
    assert db.current_revision(empty_url) is None
    db.migrate(empty_url)
    assert db.current_revision(empty_url) == db.head_revision()
