"""The five states and "open for my break", against brute forces that share no code.

Hours come from opening_hours.js (``hours_oracle``), never from ``stations.hours``.
Each nearest engine is checked explicitly against a brute force over every station:
the PostGIS search against distances from pyproj's Geod, the in-memory search against
distances from PostGIS geography (``ST_Distance``), since each engine computes its own
distances with the other's method's counterpart.
"""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest
from hours_oracle import answers, expected_state, open_for
from pyproj import Geod

from stations import db, nearest, snapshot
from stations.availability import Judge

SH = dt.timezone(dt.timedelta(hours=8))
GEOD = Geod(ellps="WGS84")

# nights, National Day 2025, Spring Festival 2026 and make-up working days
DAYS = [
    dt.date(2025, 9, 28),  # Sunday make-up working day
    dt.date(2025, 10, 1),
    dt.date(2025, 10, 4),
    dt.date(2025, 10, 8),
    dt.date(2025, 10, 9),
    dt.date(2025, 10, 11),  # Saturday make-up working day
    dt.date(2025, 11, 19),
    dt.date(2026, 2, 14),  # Saturday make-up working day
    dt.date(2026, 2, 16),
    dt.date(2026, 2, 23),
    dt.date(2026, 2, 24),
    dt.date(2026, 3, 7),
]
CLOCKS = [dt.time(0, 30), dt.time(3, 0), dt.time(7, 45), dt.time(8, 10), dt.time(12, 0)]
CLOCKS += [dt.time(16, 55), dt.time(17, 40), dt.time(21, 35), dt.time(21, 58), dt.time(23, 50)]
CLOCKS += [dt.time(17, 30), dt.time(21, 30)]  # exactly 30 minutes before 18:00 and 22:00
INSTANTS = [dt.datetime.combine(d, c, SH) for d in DAYS for c in CLOCKS]


@pytest.fixture(scope="module")
def stations(database_url):
    with db.connect(database_url) as conn:
        return conn.execute(
            "SELECT id, ST_X(geom), ST_Y(geom), opening_hours, amenities, status FROM stations"
        ).fetchall()


@pytest.fixture(scope="module")
def oracle(stations):
    return answers([r[3] for r in stations], INSTANTS)


def test_every_demo_station_at_every_instant(stations, oracle) -> None:
    seen = set()
    for at in INSTANTS:
        judge = Judge(at, soon_min=30)
        for sid, lon, lat, expr, _amenities, status in stations:
            record = {"opening_hours": expr, "status": status, "lon": lon, "lat": lat}
            got = judge.station(record)
            answer = oracle.get((expr, at)) if expr else None
            want = expected_state(answer, at, status)
            assert got.state == want, (sid, expr, status, at)
            seen.add(want)
            if status != "active" or answer is None:
                assert got.next_change is None
                continue
            assert got.next_change == answer["next_change"], (expr, at)
            minutes = (
                None
                if got.next_change is None
                else (got.next_change - at) / dt.timedelta(minutes=1)
            )
            if got.is_open:
                assert got.opens_in_min is None
                assert got.closes_in_min == (None if minutes is None else int(minutes))
            else:
                assert got.closes_in_min is None
                opening = answer["next_state"] == "open" and minutes is not None
                assert got.opens_in_min == (-int(-minutes // 1) if opening else None)
    assert seen == {"open", "closing_soon", "closed", "unknown", "suspended"}


@pytest.mark.parametrize("minutes", [20, 45, 120])
def test_open_for_my_break(stations, oracle, minutes) -> None:
    passed = failed_only_by_length = 0
    for at in INSTANTS:
        judge = Judge(at, open_for_min=minutes)
        for _sid, lon, lat, expr, _amenities, status in stations:
            if status != "active":
                continue
            answer = oracle.get((expr, at)) if expr else None
            got = judge.usable(judge.hours(expr, lon, lat))
            assert got == open_for(answer, at, minutes), (expr, at, minutes)
            passed += got
            failed_only_by_length += not got and answer is not None and answer["state"] == "open"
    assert passed > 1000 and failed_only_by_length > 50  # both sides of the line are exercised


def _searches(stations, count: int, seed: int):
    rng = random.Random(seed)
    active = [r for r in stations if r[5] == "active"]
    for _ in range(count):
        base = rng.choice(active)
        yield (
            base[1] + rng.uniform(-0.05, 0.05),
            base[2] + rng.uniform(-0.05, 0.05),
            {
                "at": rng.choice(INSTANTS),
                "open_only": rng.random() < 0.85,
                "open_for_min": rng.choice([0, 0, 20, 90]),
                "amenities": rng.choice([(), (), ("toilet",), ("ebike_charging", "water")]),
                "limit": rng.choice([1, 5, 12]),
                "within_m": rng.choice([800, 5000, 20000]),
            },
        )


def brute_force(stations, distances, oracle, search) -> list[tuple[int, float, str]]:
    """(id, metres, state) of the answer, from the oracle's hours and the given metres."""
    at, found = search["at"], []
    for (sid, _lon, _lat, expr, amenities, status), metres in zip(stations, distances, strict=True):
        if status != "active" or not set(search["amenities"]) <= set(amenities):
            continue
        if metres > search["within_m"]:
            continue
        answer = oracle.get((expr, at)) if expr else None
        if search["open_only"] and not open_for(answer, at, search["open_for_min"]):
            continue
        found.append((metres, sid, expected_state(answer, at)))
    found.sort()
    return [(sid, metres, state) for metres, sid, state in found[: search["limit"]]]


def _check(got, expected, search, tolerance_m: float) -> None:
    assert [r["id"] for r in got] == [e[0] for e in expected], search
    for record, (_sid, metres, state) in zip(got, expected, strict=True):
        assert record["distance_m"] == pytest.approx(metres, abs=tolerance_m)
        assert record["availability"].state == state


def test_postgis_engine_against_geod_and_the_oracle(database_url, stations, oracle) -> None:
    lons = np.array([r[1] for r in stations])
    lats = np.array([r[2] for r in stations])
    answered = 0
    with db.connect(database_url, options=db.SERVING_OPTIONS) as conn:
        for lon, lat, search in _searches(stations, 250, seed=3):
            metres = GEOD.inv(np.full(len(lons), lon), np.full(len(lons), lat), lons, lats)[2]
            expected = brute_force(stations, metres, oracle, search)
            got = nearest.nearest(conn, lon, lat, **search)
            _check(got, expected, search, tolerance_m=0.01)
            answered += bool(got)
    assert answered > 100


def test_memory_engine_against_postgis_distances_and_the_oracle(
    database_url, stations, oracle
) -> None:
    answered = 0
    with db.connect(database_url) as conn:
        memory = snapshot.load(conn)
        for lon, lat, search in _searches(stations, 250, seed=4):
            metres = dict(
                conn.execute(
                    "SELECT id, ST_Distance(geom::geography, "
                    "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, true) FROM stations",
                    [lon, lat],
                ).fetchall()
            )
            distances = [metres[r[0]] for r in stations]
            expected = brute_force(stations, distances, oracle, search)
            got = memory.nearest(lon, lat, **search)
            _check(got, expected, search, tolerance_m=0.01)
            answered += bool(got)
    assert answered > 100


def test_a_stored_value_no_parser_accepts_reads_as_unknown_everywhere(database_url):
    """Hours written around the checks (psql, an old version): never a 500, never open."""
    from conftest import app_for

    from stations.demo import demo_database
    from web.pools import close_pool

    url = demo_database("stations_bad_hours_test", database_url)
    with db.connect(url, autocommit=True) as conn:
        sid, lon, lat = conn.execute(
            "UPDATE stations SET opening_hours = 'Mo-Fr 08:00-20:00; PH +99999999 days off' "
            "WHERE id = (SELECT min(id) FROM stations WHERE status = 'active') "
            "RETURNING id, ST_X(geom), ST_Y(geom)"
        ).fetchone()
    app = app_for(url)
    client = app.test_client()
    try:
        one = client.get(f"/api/v1/stations/{sid}")
        assert one.status_code == 200 and one.get_json()["properties"]["state"] == "unknown"
        near = f"/api/v1/stations/nearest?lon={lon}&lat={lat}&within_m=30"
        for query in ("&open=false", "", "&open_for_min=30"):
            response = client.get(near + query)
            assert response.status_code == 200
            ids = [f["id"] for f in response.get_json()["features"]]
            assert (sid in ids) == (query == "&open=false")
        listing = client.get("/api/v1/stations?open_at=2025-11-19T10:00&limit=1000")
        assert listing.status_code == 200
        assert sid not in [f["id"] for f in listing.get_json()["features"]]
        assert client.get("/map").status_code == 200
    finally:
        close_pool(app)
