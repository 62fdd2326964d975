"""The embedded cluster's lifecycle on a real PostgreSQL of its own (not the test one)."""

from __future__ import annotations

import dataclasses
import os
import shutil

import psycopg
import pytest

from stations import settings
from stations.cluster import INSTALL_HINT, Cluster, find_bin_dir
from stations.errors import ClusterError


@pytest.fixture
def cluster():
    var_dir = settings.PROJECT_DIR / "var" / "test-cluster"
    shutil.rmtree(var_dir, ignore_errors=True)
    run_as = settings.get("STATIONS_PG_USER") if os.geteuid() == 0 else None
    c = Cluster(var_dir / "pg", 54339, run_as)
    yield c
    c.down()
    shutil.rmtree(var_dir, ignore_errors=True)


def _conninfo(c: Cluster) -> str:
    return f"host={c.socket_dir} port={c.port} user=stations dbname=postgres"


def test_up_is_idempotent_and_data_survives_restart(cluster):
    assert cluster.status() == "absent"
    assert cluster.up() is True
    assert cluster.status() == "running"
    assert cluster.up() is False  # a second up is a no-op

    with psycopg.connect(_conninfo(cluster), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
        conn.execute("CREATE TABLE kept (id int, g geometry(Point, 4326))")
        conn.execute("INSERT INTO kept VALUES (1, 'SRID=4326;POINT(112.55 37.87)')")

    assert cluster.down() is True
    assert cluster.status() == "stopped"
    assert cluster.down() is False
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(_conninfo(cluster), connect_timeout=2)

    assert cluster.up() is True
    with psycopg.connect(_conninfo(cluster)) as conn:
        row = conn.execute("SELECT id, ST_AsText(g) FROM kept").fetchone()
    assert row == (1, "POINT(112.55 37.87)")


def test_listens_on_no_tcp_address(cluster):
    cluster.up()
    with psycopg.connect(_conninfo(cluster)) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=cluster.port, user="stations", connect_timeout=2)


def test_shared_buffers_is_configurable(cluster):
    sized = dataclasses.replace(cluster, shared_buffers="48MB")
    sized.up()
    with psycopg.connect(_conninfo(sized)) as conn:
        assert conn.execute("SHOW shared_buffers").fetchone() == ("48MB",)


def test_missing_binaries_say_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("STATIONS_PG_BIN", str(tmp_path))
    with pytest.raises(ClusterError) as info:
        find_bin_dir()
    assert str(info.value) == INSTALL_HINT
    assert "\n" not in INSTALL_HINT and "apt-get install" in INSTALL_HINT


def test_runs_as_unprivileged_user_when_root(cluster):
    cluster.up()
    pid = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
    uid = os.stat(f"/proc/{pid}").st_uid
    if os.geteuid() == 0:
        assert uid != 0
    else:
        assert uid == os.geteuid()


def test_missing_system_user_is_named(tmp_path):
    c = Cluster(settings.PROJECT_DIR / "var" / "test-nouser" / "pg", 54340, "no-such-user-x")
    try:
        with pytest.raises(ClusterError, match="system user no-such-user-x does not exist"):
            c.up()
    finally:
        shutil.rmtree(c.root.parent, ignore_errors=True)


def test_path_with_spaces_and_concurrent_up(tmp_path):
    import threading

    var_dir = settings.PROJECT_DIR / "var" / "test cluster spaced"
    shutil.rmtree(var_dir, ignore_errors=True)
    run_as = settings.get("STATIONS_PG_USER") if os.geteuid() == 0 else None
    c = Cluster(var_dir / "pg", 54341, run_as)
    results, errors = [], []

    def up():
        try:
            results.append(c.up())
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=up) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and sorted(results) == [False, True]
        assert c.status() == "running"
    finally:
        c.down()
        shutil.rmtree(var_dir, ignore_errors=True)


def test_socket_folder_planted_by_someone_else_is_refused(tmp_path):
    from stations.cluster import _check_private

    link = tmp_path / "planted"
    link.symlink_to(tmp_path)
    with pytest.raises(ClusterError, match="not a folder of ours"):
        _check_private(link, {os.geteuid()})
