"""Backups: dump, drop the database, restore, and everything is as it was."""

from __future__ import annotations

import pytest

from cli import main
from stations import backup, db, registry
from stations.demo import demo_database
from stations.errors import InvalidInput

TABLES = {
    "stations": "SELECT * FROM stations ORDER BY id",
    "station_history": "SELECT * FROM station_history ORDER BY id",
    "districts": "SELECT * FROM districts ORDER BY code",
    "demand_points": "SELECT * FROM demand_points ORDER BY id",
    "api_tokens": "SELECT * FROM api_tokens ORDER BY id",
}


def _contents(url: str) -> dict[str, list[tuple]]:
    with db.connect(url) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in TABLES.items()}


@pytest.fixture
def scratch(database_url):
    url = demo_database("stations_backup_test", database_url)
    with db.connect(url) as conn:
        conn.execute("SELECT set_config('stations.actor', 'editor one', true)")
        conn.execute("UPDATE stations SET floor_area_m2 = 33 WHERE code = 'TY-0001'")
    yield url
    db.drop_database(url)


def test_dump_drop_restore_gives_identical_rows_and_history(scratch, tmp_path):
    before = _contents(scratch)
    assert len(before["station_history"]) > len(before["stations"])  # the edit is there
    path = tmp_path / "stations.dump"
    backup.dump(path, scratch)
    db.drop_database(scratch)
    db.ensure_database(scratch)
    backup.restore(path, scratch)
    assert _contents(scratch) == before
    assert db.current_revision(scratch) == db.head_revision()
    with db.connect(scratch) as conn:  # the triggers came back too: history still grows
        conn.execute("UPDATE stations SET floor_area_m2 = 34 WHERE code = 'TY-0001'")
        assert (
            conn.execute("SELECT count(*) FROM station_history").fetchone()[0]
            == len(before["station_history"]) + 1
        )


def test_restore_over_changed_data_brings_the_backup_back(scratch, tmp_path):
    path = tmp_path / "stations.dump"
    backup.dump(path, scratch)
    before = _contents(scratch)
    with db.connect(scratch) as conn:
        conn.execute("UPDATE stations SET name = name || '（改）' WHERE code LIKE 'TY-%'")
    backup.restore(path, scratch)
    assert _contents(scratch) == before


def test_a_bad_file_restores_nothing(scratch, tmp_path):
    before = _contents(scratch)
    junk = tmp_path / "junk.dump"
    junk.write_bytes(b"not a backup")
    with pytest.raises(InvalidInput, match="not a backup"):
        backup.restore(junk, scratch)
    truncated = tmp_path / "cut.dump"
    backup.dump(truncated, scratch)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    with pytest.raises(backup.BackupError):
        backup.restore(truncated, scratch)
    assert _contents(scratch) == before  # one transaction: nothing half-restored


def test_db_commands(scratch, tmp_path, monkeypatch):
    from click.testing import CliRunner

    monkeypatch.setenv("DATABASE_URL", scratch)
    run = CliRunner()
    path = tmp_path / "b.dump"
    made = run.invoke(main, ["db", "dump", str(path)], catch_exceptions=False)
    assert made.exit_code == 0 and path.stat().st_size > 100_000
    refused = run.invoke(main, ["db", "restore", str(path)], catch_exceptions=False)
    assert refused.exit_code == 1 and "--yes" in refused.stderr
    done = run.invoke(main, ["db", "restore", str(path), "--yes"], catch_exceptions=False)
    assert done.exit_code == 0, done.output


def _generation(url: str) -> int:
    with db.connect(url) as conn:
        return registry.version(conn)


def test_restore_moves_the_generation_past_what_it_replaced(scratch, tmp_path):
    """Workers' in-memory copies and ETags must not take a restored registry for the one
    they knew: the generation moves past both the dump's and the replaced one's."""
    path = tmp_path / "stations.dump"
    backup.dump(path, scratch)
    at_dump = _generation(scratch)
    with db.connect(scratch) as conn:
        conn.execute("UPDATE stations SET name = name || '（改）' WHERE code = 'TY-0001'")
    replaced = _generation(scratch)
    assert replaced == at_dump + 1
    backup.restore(path, scratch)
    assert _generation(scratch) == replaced + 1


def test_a_backup_from_before_the_generation_restores_and_upgrades(scratch, tmp_path):
    db.downgrade(scratch, "0003")
    path = tmp_path / "old.dump"
    backup.dump(path, scratch)
    db.migrate(scratch)
    before = _contents(scratch)
    with db.connect(scratch) as conn:  # a plan saved since: the old backup has no such table
        conn.execute(
            "INSERT INTO plans (owner, name, district, radius_m, source, sites) "
            "VALUES ('规划', '夜间', '140106', 1000, 'map', '[[112.56, 37.86]]')"
        )
    backup.restore(path, scratch)
    assert db.current_revision(scratch) == db.head_revision()
    assert _contents(scratch) == before
    with db.connect(scratch) as conn:
        assert conn.execute("SELECT name, sites FROM plans").fetchall() == [
            ("夜间", [[112.56, 37.86]])
        ]
    start = _generation(scratch)
    with db.connect(scratch) as conn:  # the trigger is back: changes move the generation
        conn.execute("UPDATE stations SET floor_area_m2 = 35 WHERE code = 'TY-0001'")
    assert _generation(scratch) == start + 1
