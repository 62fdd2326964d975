"""Every change to a station lands in the append-only history, whoever makes it."""

from __future__ import annotations

import psycopg
import pytest


def _station(conn):
    return conn.execute("SELECT id, version FROM stations ORDER BY id LIMIT 1").fetchone()


def _history(conn, sid):
    return conn.execute(
        "SELECT action, version, changed_by, before->>'name', after->>'name' "
        "FROM station_history WHERE station_id = %s ORDER BY id",
        [sid],
    ).fetchall()


def test_update_records_actor_before_after_and_bumps_version(conn):
    sid, version = _station(conn)
    old = conn.execute("SELECT name FROM stations WHERE id=%s", [sid]).fetchone()[0]
    conn.execute("SELECT set_config('stations.actor', 'editor:li', true)")
    conn.execute("UPDATE stations SET name = '新名字' WHERE id = %s", [sid])
    assert (
        conn.execute("SELECT version FROM stations WHERE id=%s", [sid]).fetchone()[0] == version + 1
    )
    assert _history(conn, sid)[-1] == ("update", version + 1, "editor:li", old, "新名字")


def test_no_op_update_writes_nothing(conn):
    sid, version = _station(conn)
    before = _history(conn, sid)
    conn.execute("UPDATE stations SET name = name, amenities = amenities WHERE id = %s", [sid])
    assert _history(conn, sid) == before
    assert _station(conn) == (sid, version)


def test_position_change_is_recorded(conn):
    sid, _ = _station(conn)
    conn.execute("UPDATE stations SET geom = ST_Translate(geom, 0.0001, 0) WHERE id = %s", [sid])
    before, after = conn.execute(
        "SELECT before->>'lon', after->>'lon' FROM station_history WHERE station_id=%s "
        "ORDER BY id DESC LIMIT 1",
        [sid],
    ).fetchone()
    assert float(after) == pytest.approx(float(before) + 0.0001)


def test_delete_is_recorded_without_actor_setting(conn):
    sid, version = _station(conn)
    conn.execute("DELETE FROM stations WHERE id = %s", [sid])
    action, v, who, before, after = _history(conn, sid)[-1]
    assert (action, v, after) == ("delete", version + 1, None)
    assert who == conn.execute("SELECT session_user").fetchone()[0]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE station_history SET changed_by = 'x'",
        "DELETE FROM station_history",
        "TRUNCATE station_history",
    ],
)
def test_history_is_append_only(conn, sql):
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute(sql)


def test_truncate_is_refused(conn):
    with pytest.raises(psycopg.errors.RaiseException, match="bypass the history"):
        conn.execute("TRUNCATE stations CASCADE")


def test_a_new_column_is_recorded_with_no_trigger_rewrite(conn):
    """History snapshots are the row (migration 0008): a column added later is in them."""
    sid, _ = _station(conn)
    conn.execute("ALTER TABLE stations ADD COLUMN shade_m2 numeric(6, 1)")
    conn.execute("UPDATE stations SET shade_m2 = 12.5 WHERE id = %s", [sid])
    before, after = conn.execute(
        "SELECT before, after FROM station_history WHERE station_id = %s ORDER BY id DESC LIMIT 1",
        [sid],
    ).fetchone()
    assert before["shade_m2"] is None and after["shade_m2"] == 12.5
    # the record as people see it: the position as lon/lat, no internals
    assert {"lon", "lat", "code", "amenities"} <= after.keys()
    assert not {"geom", "version", "created_at", "updated_at"} & after.keys()
