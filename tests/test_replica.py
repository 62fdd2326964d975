"""A real streaming replica of the embedded cluster: anonymous public reads come from it,
writes and history go to the primary and reach the replica by replication."""

from __future__ import annotations

import shutil
import time

import psycopg
import pytest
from conftest import app_for

from stations import db, tokens
from stations.sandbox import spare_primary
from web.database import DOWN_KEY, REPLICA_RETRY_S
from web.pools import close_pool

EDITOR = "复制测试编辑"


def _wait_for(check, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "replication did not catch up"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def replicated():
    """(primary URL, replica cluster, replica URL), the replica streaming from the primary."""
    with spare_primary("replicated") as (primary, url):
        replica = primary.standby(primary.root.parent / "replicated-standby", primary.port)
        try:
            replica.up()
            yield url, replica, replica.url("stations")
        finally:
            replica.down()
            shutil.rmtree(replica.root, ignore_errors=True)


def test_read_urls_come_from_the_setting_and_are_taken_in_turn(replicated, monkeypatch):
    """DATABASE_READ_URL, comma-separated, spaces allowed: each anonymous read takes the
    next. The second "replica" here is the primary itself, so with the real replica's
    replay paused the two give different answers, and the turns show."""
    url, _replica, replica_url = replicated
    monkeypatch.setenv("DATABASE_READ_URL", f" {replica_url} ,{url},")
    app = app_for(url)
    assert app.config["DATABASE_READ_URLS"] == [replica_url, url]
    reader = psycopg.connect(db.libpq_url(replica_url), autocommit=True)
    with db.connect(url) as conn:
        station_id, name = conn.execute(
            "SELECT id, name FROM stations WHERE status = 'active' ORDER BY id LIMIT 1"
        ).fetchone()
    try:
        reader.execute("SELECT pg_wal_replay_pause()")
        with db.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE stations SET name = '轮换测试' WHERE id = %s", [station_id])
        client = app.test_client()
        seen = [
            client.get(f"/api/v1/stations/{station_id}").get_json()["properties"]["name"]
            for _ in range(6)
        ]
        assert seen in ([name, "轮换测试"] * 3, ["轮换测试", name] * 3), seen
    finally:
        reader.execute("SELECT pg_wal_replay_resume()")
        with db.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE stations SET name = %s WHERE id = %s", [name, station_id])
        reader.close()
        close_pool(app)


def test_public_reads_come_from_the_replica_and_writes_reach_it(replicated):
    url, replica, replica_url = replicated
    with db.connect(url) as conn:
        editor = {"Authorization": f"Bearer {tokens.create(conn, ['editor'], EDITOR)[1]}"}
        station_id, name, lon, lat = conn.execute(
            "SELECT id, name, ST_X(geom), ST_Y(geom) FROM stations WHERE status = 'active' "
            "ORDER BY id LIMIT 1"
        ).fetchone()
    reader = psycopg.connect(db.libpq_url(replica_url), autocommit=True)
    assert reader.execute("SELECT pg_is_in_recovery()").fetchone()[0]  # a real standby
    _wait_for(lambda: reader.execute("SELECT count(*) FROM api_tokens").fetchone()[0] == 1)

    app = app_for(url)
    app.config["DATABASE_READ_URLS"] = [replica_url]
    client = app.test_client()
    try:
        reader.execute("SELECT pg_wal_replay_pause()")  # the replica now lags on purpose
        etag = client.get(f"/api/v1/stations/{station_id}", headers=editor).headers["ETag"]
        patched = client.patch(
            f"/api/v1/stations/{station_id}",
            json={"name": "复制后的新名字"},
            headers={**editor, "If-Match": etag},
        )
        assert patched.status_code == 200, patched.get_json()

        # anonymous reads show the replica's (old) state; the editor reads the primary
        public = client.get(f"/api/v1/stations/{station_id}").get_json()
        assert public["properties"]["name"] == name
        near = client.get(f"/api/v1/stations/nearest?lon={lon}&lat={lat}&open=false&limit=1")
        assert near.get_json()["features"][0]["properties"]["name"] == name
        own = client.get(f"/api/v1/stations/{station_id}", headers=editor).get_json()
        assert own["properties"]["name"] == "复制后的新名字"

        # replication resumes: the write and its history arrive on the replica
        reader.execute("SELECT pg_wal_replay_resume()")
        _wait_for(
            lambda: (
                client.get(f"/api/v1/stations/{station_id}").get_json()["properties"]["name"]
                == "复制后的新名字"
            ),
            5,
        )
        changed_by = reader.execute(
            "SELECT changed_by FROM station_history WHERE station_id = %s ORDER BY id DESC LIMIT 1",
            [station_id],
        ).fetchone()[0]
        assert changed_by == EDITOR
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            reader.execute("UPDATE stations SET name = 'x' WHERE id = %s", [station_id])

        # the replica goes away: public reads fall back to the primary
        reader.close()
        replica.down()
        fallback = client.get(f"/api/v1/stations/{station_id}")
        assert fallback.status_code == 200
        assert fallback.get_json()["properties"]["name"] == "复制后的新名字"
        # ...and the dead replica is skipped for REPLICA_RETRY_S, not waited for on every
        # read: a read that tried it again would mark it down afresh
        down = app.extensions[DOWN_KEY]
        marked = down[replica_url]
        assert REPLICA_RETRY_S - 1 < marked - time.monotonic() <= REPLICA_RETRY_S
        for _ in range(10):
            assert client.get(f"/api/v1/stations/{station_id}").status_code == 200
        assert down[replica_url] == marked
        # once the time is up, the next read tries it again (and, still down, marks it)
        down[replica_url] = time.monotonic() - 0.01
        assert client.get(f"/api/v1/stations/{station_id}").status_code == 200
        assert down[replica_url] > marked
    finally:
        reader.close()
        close_pool(app)
