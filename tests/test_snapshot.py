"""The in-memory nearest search against PostGIS's, and how fresh it stays.

PostGIS is the reference here: the same searches through ``stations.nearest`` (KNN index,
``ST_Distance`` on the spheroid) and through the worker's snapshot (k-d tree, pyproj's
Geod) must return the same records, in the same order, at the same distances. The
registry's generation (migration 0004) must move once per committed change, in commit
order, which ``max(station_history.id)`` did not.
"""

from __future__ import annotations

import datetime as dt
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import app_for

from stations import db, hours, registry, snapshot, tokens
from stations.demo import demo_database
from stations.nearest import nearest
from stations.nearest_service import Caller, NearestService
from web.database import NEAREST_KEY
from web.pools import POOLS_KEY, close_pool

SH = hours.SHANGHAI


@pytest.fixture(scope="module")
def memory_db(database_url: str) -> Iterator[str]:
    return demo_database("stations_snapshot_test", database_url)


@pytest.fixture(scope="module")
def editor(memory_db: str) -> dict[str, str]:
    with db.connect(memory_db) as conn:
        token = tokens.create(conn, ["editor"], "snapshot test")[1]
    return {"Authorization": f"Bearer {token}"}


def _searches(conn: psycopg.Connection, count: int, seed: int) -> Iterator[tuple[float, ...]]:
    points = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM stations").fetchall()
    rng = random.Random(seed)
    for _ in range(count):
        lon, lat = rng.choice(points)
        at = dt.datetime(2025, rng.choice([10, 11, 12]), rng.randint(1, 28), tzinfo=SH)
        yield (
            lon + rng.uniform(-0.1, 0.1),
            lat + rng.uniform(-0.1, 0.1),
            {
                "at": at + dt.timedelta(minutes=rng.randrange(0, 24 * 60, 7)),
                "open_only": rng.random() < 0.7,
                "amenities": rng.choice([(), (), ("toilet",), ("ebike_charging", "wifi")]),
                "limit": rng.choice([1, 5, 12, 50]),
                "within_m": rng.choice([30, 800, 5000, 20000, 50000]),
            },
        )


def test_memory_agrees_with_postgis(database_url):
    with db.connect(database_url, options=db.SERVING_OPTIONS) as conn:  # as the workers
        memory = snapshot.load(conn)
        assert memory.generation == registry.version(conn)
        active = conn.execute("SELECT count(*) FROM stations WHERE status = 'active'").fetchone()
        assert memory.size == active[0]
        compared = answered = 0
        for lon, lat, search in _searches(conn, 1500, seed=11):
            expected = nearest(conn, lon, lat, **search)
            got = memory.nearest(lon, lat, **search)
            assert [r["id"] for r in got] == [r["id"] for r in expected], search
            for mine, theirs in zip(got, expected, strict=True):
                assert mine["distance_m"] == pytest.approx(theirs["distance_m"], abs=1e-6)
                theirs = {k: v for k, v in theirs.items() if k not in ("degrees", "distance_m")}
                assert {k: v for k, v in mine.items() if k != "distance_m"} == theirs
            compared += 1
            answered += bool(got)
    assert compared == 1500 and answered > 700  # most find stations, some find none


def test_amenity_no_station_has_finds_nothing(database_url):
    with db.connect(database_url) as conn:
        memory = snapshot.load(conn)
    at = dt.datetime(2025, 10, 9, 10, tzinfo=SH)
    assert memory.nearest(112.55, 37.87, at=at, amenities=("not_a_code",)) == []
    assert memory.nearest(112.55, 37.87, at=at, open_only=False, within_m=50000)


def test_generation_moves_once_per_commit_in_commit_order(memory_db):
    with db.connect(memory_db) as a, db.connect(memory_db) as b:
        a.autocommit = b.autocommit = True
        first, second = a.execute("SELECT id FROM stations ORDER BY id LIMIT 2").fetchall()
        start = registry.version(a)
        # a rolled-back change and a change to nothing move nothing
        with pytest.raises(RuntimeError), a.transaction():  # noqa: PT012 - the rollback is the point
            a.execute("UPDATE stations SET name = name || 'x' WHERE id = %s", first)
            raise RuntimeError
        a.execute("UPDATE stations SET name = name WHERE id = %s", first)
        assert registry.version(a) == start
        # many rows in one transaction: one step
        a.execute("UPDATE stations SET address = address || '' || 'y' WHERE id < %s", [100])
        assert registry.version(a) == start + 1
        # A changes first and commits last; its history id is the lower one
        with a.transaction():
            a.execute("UPDATE stations SET name = name || 'a' WHERE id = %s", first)
            with b.transaction():
                b.execute("UPDATE stations SET name = name || 'b' WHERE id = %s", second)
            after_b = registry.version(b)
        after_a = registry.version(b)
        assert (after_b, after_a) == (start + 2, start + 3)
        ids = b.execute(
            "SELECT station_id, id FROM station_history ORDER BY id DESC LIMIT 2"
        ).fetchall()
        assert dict(ids)[first[0]] < dict(ids)[second[0]]  # what max(id) would have missed


def test_searches_are_never_older_than_max_age(memory_db, editor):
    max_age = 0.4
    app = app_for(memory_db)
    app.config["NEAREST_MAX_AGE_S"] = 3600.0  # first: memory, whatever the host's speed
    client = app.test_client()
    with db.connect(memory_db) as conn:
        conn.autocommit = True
        station_id, lon, lat = conn.execute(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM stations WHERE status = 'active' "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
        near = f"/api/v1/stations/nearest?lon={lon}&lat={lat}&open=false&limit=1&within_m=30"

        def first_name(headers: dict | None = None) -> str | None:
            features = client.get(near, headers=headers or {}).get_json()["features"]
            return features[0]["properties"]["name"] if features else None

        try:
            name = first_name()
            _wait_for(lambda: _memory(app) is not None)
            served = _memory(app)
            assert first_name() == name
            # the next searches come from memory: they take no connection
            pool = app.extensions[POOLS_KEY][memory_db]
            requests_before = pool.get_stats().get("requests_num", 0)
            for _ in range(20):
                assert first_name() == name
            assert _memory(app) is served
            assert pool.get_stats().get("requests_num", 0) == requests_before

            for current in app.extensions[NEAREST_KEY].copies.values():
                current.max_age_s = max_age
            conn.execute("UPDATE stations SET name = '新名字' WHERE id = %s", [station_id])
            committed = time.monotonic()
            seen = []
            while time.monotonic() - committed < max_age + 1.5:
                started = time.monotonic() - committed
                seen.append((started, first_name()))
                time.sleep(0.01)
            stale = [t for t, n in seen if n == name]
            assert not stale or max(stale) < max_age, stale  # never older than max_age
            assert [n for t, n in seen if t >= max_age] and {
                n for t, n in seen if t >= max_age
            } == {"新名字"}
            # ...and memory answers again, rebuilt at the new generation
            _wait_for(lambda: _memory(app) is not served)
            assert _memory(app).generation == registry.version(conn)
            assert first_name() == "新名字"

            # a signed-in caller reads the database: their own write at once
            conn.execute("UPDATE stations SET name = '又一个名字' WHERE id = %s", [station_id])
            assert first_name(editor) == "又一个名字"
        finally:
            close_pool(app)


def test_memory_can_be_turned_off(memory_db):
    app = app_for(memory_db)
    app.config["NEAREST_MAX_AGE_S"] = None
    try:
        response = app.test_client().get("/api/v1/stations/nearest?lon=112.55&lat=37.87")
        assert response.status_code == 200 and response.get_json()["features"]
        time.sleep(0.2)
        assert app.extensions[NEAREST_KEY].copies == {}
    finally:
        close_pool(app)


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_a_bad_max_age_is_refused_at_start(monkeypatch, value):
    from web.app import create_app

    monkeypatch.setenv("STATIONS_NEAREST_MAX_AGE_S", value)
    with pytest.raises(ValueError, match="STATIONS_NEAREST_MAX_AGE_S"):
        create_app({"DATABASE_URL": "postgresql://nowhere/none"})


def _counting_builds(monkeypatch) -> list[list[str]]:
    """Record every build process started (and let it run)."""
    started: list[list[str]] = []
    real = subprocess.run

    def run(args, *rest, **kwargs):
        started.append(list(args))
        return real(args, *rest, **kwargs)

    monkeypatch.setattr(snapshot.subprocess, "run", run)
    return started


def test_rebuilds_one_at_a_time(database_url, tmp_path, monkeypatch):
    """Many threads finding no copy start one rebuild, not one each, and none waits."""
    started = _counting_builds(monkeypatch)
    current = snapshot.Current(database_url, 0.0, tmp_path)
    with db.connect(database_url, autocommit=True) as conn:
        lock = threading.Lock()
        answers = []

        def search() -> None:
            with lock:  # one connection, used by one thread at a time
                began = time.monotonic()
                answers.append(current.get(lambda: conn))
                assert time.monotonic() - began < 0.5  # never waits for the build

        threads = [threading.Thread(target=search) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == [None] * 8
        _wait_for(lambda: current.snapshot is not None, seconds=60)
        assert len(started) == 1
        assert current.get(lambda: conn) is current.snapshot
        # one finished build, named by database and generation, and the lock
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == [f"{current.key}-g{registry.version(conn)}", f"{current.key}.lock"]


def test_two_workers_share_one_build(database_url, tmp_path, monkeypatch):
    started = _counting_builds(monkeypatch)
    first = snapshot.Current(database_url, 0.0, tmp_path)
    second = snapshot.Current(database_url, 0.0, tmp_path)
    with db.connect(database_url, autocommit=True) as conn:
        assert first.get(lambda: conn) is None and second.get(lambda: conn) is None
        _wait_for(lambda: first.snapshot is not None and second.snapshot is not None, 60)
        assert len(started) == 1  # the second waited for the first's build, then mapped it
        assert first.get(lambda: conn) is not None and second.get(lambda: conn) is not None
        at = dt.datetime(2025, 11, 19, 12, tzinfo=SH)
        assert first.snapshot.nearest(112.55, 37.87, at=at, open_only=False) == (
            second.snapshot.nearest(112.55, 37.87, at=at, open_only=False)
        )


def test_a_failed_rebuild_waits_before_the_next_try(database_url, tmp_path, monkeypatch):
    started = []
    real = snapshot._identify
    monkeypatch.setattr(snapshot, "_identify", lambda url: started.append(url) or real(url))
    current = snapshot.Current("postgresql://nobody@127.0.0.1:1/none", 0.0, tmp_path)
    with db.connect(database_url, autocommit=True) as conn:
        assert current.get(lambda: conn) is None
        _wait_for(lambda: not current._rebuilding.locked(), seconds=60)
        for _ in range(20):  # searches go on through PostgreSQL, without a rebuild each
            assert current.get(lambda: conn) is None
        time.sleep(0.1)
        assert len(started) == 1


def test_an_expire_wins_over_a_confirmation_begun_before_it(database_url):
    with db.connect(database_url, autocommit=True) as conn:
        current = snapshot.Current(database_url, 3600.0, Path("/nonexistent"))
        current._state = (snapshot.load(conn), -float("inf"))

        def expire_meanwhile() -> psycopg.Connection:
            current.expire()  # an edit lands while this search reads the generation
            return conn

        assert current.get(expire_meanwhile) is current.snapshot
        reads = []
        assert current.get(lambda: reads.append(1) or conn) is current.snapshot
        assert reads == [1]  # checked again, not trusted for the hour


def test_the_service_picks_the_engine_by_who_asks(database_url, tmp_path):
    """Anonymous: memory once a copy is built; signed in or memory off: PostGIS, same answer."""
    at = dt.datetime(2025, 11, 19, 12, tzinfo=SH)
    with db.connect(database_url, autocommit=True, options=db.SERVING_OPTIONS) as conn:
        service = NearestService(3600.0, tmp_path)
        anonymous = Caller(signed_in=False, url=database_url, conn=lambda: conn)
        signed_in = Caller(signed_in=True, url=database_url, conn=lambda: conn)

        def ask(who: Caller, using: NearestService = service) -> tuple[str, list[int]]:
            answer = using.nearest(who, 112.55, 37.87, at=at, open_only=False, limit=10)
            return answer.engine, [r["id"] for r in answer.stations]

        engine, expected = ask(anonymous)
        assert engine == "postgis" and expected  # no copy yet: its build has begun
        _wait_for(lambda: service.copies[database_url].snapshot is not None, seconds=60)
        assert ask(anonymous) == ("memory", expected)
        assert ask(signed_in) == ("postgis", expected)
        off = NearestService(None, tmp_path)
        assert ask(anonymous, off) == ("postgis", expected) and off.copies == {}


def test_an_edit_here_is_seen_by_the_next_search_here(memory_db, editor):
    app = app_for(memory_db)
    app.config["NEAREST_MAX_AGE_S"] = 3600.0  # only the edit itself can expire the memory
    client = app.test_client()
    try:
        with db.connect(memory_db) as conn:
            station_id, lon, lat = conn.execute(
                "SELECT id, ST_X(geom), ST_Y(geom) FROM stations WHERE status = 'active' "
                "ORDER BY id LIMIT 1"
            ).fetchone()
        near = f"/api/v1/stations/nearest?lon={lon}&lat={lat}&open=false&limit=1&within_m=30"
        client.get(near)
        _wait_for(lambda: _memory(app) is not None)
        assert client.get(near).get_json()["features"][0]["id"] == station_id
        etag = client.get(f"/api/v1/stations/{station_id}", headers=editor).headers["ETag"]
        closed = client.delete(
            f"/api/v1/stations/{station_id}", headers={**editor, "If-Match": etag}
        )
        assert closed.status_code == 200, closed.get_json()
        ids = [f["id"] for f in client.get(near).get_json()["features"]]
        assert station_id not in ids
    finally:
        close_pool(app)


def _memory(app) -> snapshot.Snapshot | None:
    service = app.extensions.get(NEAREST_KEY)
    currents = list(service.copies.values()) if service else []
    return currents[0].snapshot if currents else None


def _wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def follow_db(database_url: str) -> Iterator[str]:
    return demo_database("stations_follow_test", database_url)


def _same_answers(conn, current_snapshot, count: int, seed: int) -> int:
    answered = 0
    for lon, lat, search in _searches(conn, count, seed=seed):
        expected = nearest(conn, lon, lat, **search)
        got = current_snapshot.nearest(lon, lat, **search)
        assert [r["id"] for r in got] == [r["id"] for r in expected], search
        for mine, theirs in zip(got, expected, strict=True):
            assert mine["distance_m"] == pytest.approx(theirs["distance_m"], abs=1e-6)
            theirs = {k: v for k, v in theirs.items() if k not in ("degrees", "distance_m")}
            assert {k: v for k, v in mine.items() if k != "distance_m"} == theirs
        answered += bool(got)
    return answered


def test_the_copy_follows_edits_without_a_rebuild(follow_db, tmp_path, monkeypatch):
    current = snapshot.Current(follow_db, 0.0, tmp_path)
    with db.connect(follow_db, autocommit=True) as conn:
        assert current.get(lambda: conn) is None
        _wait_for(lambda: current.snapshot is not None, seconds=60)
        base = current.get(lambda: conn)
        started = _counting_builds(monkeypatch)
        first, second, third, fourth = (
            r[0]
            for r in conn.execute(
                "SELECT id FROM stations WHERE status = 'active' ORDER BY id LIMIT 4"
            ).fetchall()
        )
        conn.execute("UPDATE stations SET name = '改名' WHERE id = %s", [first])
        conn.execute(  # moved 2 km north, new hours and amenities
            "UPDATE stations SET geom = ST_Translate(geom, 0, 0.018), "
            "opening_hours = 'Mo-Su 20:00-06:00', amenities = '{toilet}' WHERE id = %s",
            [second],
        )
        conn.execute("UPDATE stations SET status = 'closed' WHERE id = %s", [third])
        conn.execute(
            """INSERT INTO stations (code, name, district_code, district_name, geom,
                   opening_hours, amenities, host_type, built_by, level)
               SELECT 'NEW-1', '新站', district_code, district_name,
                      ST_Translate(geom, 0.001, 0), '24/7', '{ebike_charging,toilet}',
                      host_type, built_by, level FROM stations WHERE id = %s""",
            [fourth],
        )
        updated = current.get(lambda: conn)
        assert updated is not None and updated is not base and started == []
        assert updated.generation == registry.version(conn)
        assert updated.changed >= {first, second, third}
        assert _same_answers(conn, updated, 400, seed=21) > 150
        names = {
            r["id"]: r["name"]
            for r in updated.nearest(*_position(conn, first), at=_NOON, open_only=False)
        }
        assert names.get(first) == "改名"
        # many changes at once (an import): a rebuild, searches through PostGIS meanwhile
        monkeypatch.setattr(snapshot, "OVERLAY_MAX", 50)
        conn.execute("UPDATE stations SET contact = 'x' WHERE id IN "
                     "(SELECT id FROM stations ORDER BY id LIMIT 80)")  # fmt: skip
        assert current.get(lambda: conn) is None
        _wait_for(lambda: current.snapshot.generation == registry.version(conn), seconds=60)
        rebuilt = current.get(lambda: conn)
        # one rebuild (a build that fails is tried again after RETRY_S, hence at least)
        assert len(started) >= 1 and rebuilt.changed == frozenset()
        assert _same_answers(conn, rebuilt, 100, seed=22) > 40
        # a generation raised without the log (writes with the triggers off): a rebuild too
        builds = len(started)
        conn.execute("UPDATE registry_generation SET generation = generation + 1")
        assert current.get(lambda: conn) is None
        _wait_for(lambda: len(started) > builds and current.get(lambda: conn) is not None, 60)


_NOON = dt.datetime(2025, 11, 19, 12, tzinfo=SH)


def _position(conn, station_id: int) -> tuple[float, float]:
    return conn.execute(
        "SELECT ST_X(geom), ST_Y(geom) FROM stations WHERE id = %s", [station_id]
    ).fetchone()
