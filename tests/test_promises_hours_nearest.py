"""The README's promises about hours, holidays, states and the nearest search, where riders
and officers meet them: the API, the served app and the ``stations`` command.

The hours engine itself is compared with opening_hours.js elsewhere (``test_hours*.py``,
``test_availability.py``); here each number and named behaviour of "Opening hours and
holidays", "Open, closing soon, unknown" and "Nearest stations" is checked at its
boundary with the README's own figures, every expected answer written by hand (or, for
sun times, taken from PyEphem). Tests that change stations use a database of their own.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import ephem
import numpy as np
import pytest
from conftest import TEST_DB, app_for
from live_server import serving
from pyproj import Geod

from geo import datums
from stations import db, tokens
from stations.demo import demo_database
from web.pools import close_pool

ROOT = Path(__file__).resolve().parents[1]
SH = dt.timezone(dt.timedelta(hours=8))
GEOD = Geod(ellps="WGS84")
PROBLEM = "application/problem+json"
NEAREST = "/api/v1/stations/nearest"
STATIONS = str(Path(sys.executable).with_name("stations"))


# --- a database of our own, with stations given the hours under test -----------------

# name -> opening hours set on one active station each (distinct positions, 25 m apart at least)
PROBES = {
    "open_end_1630": "Mo-Su 16:30+",
    "open_end_1700": "Mo-Su 17:00+",
    "open_end_2159": "Mo-Su 21:59+",
    "open_end_2200": "Mo-Su 22:00+",
    "comment_zh": '"电话预约"',
    "comment_en": '"by appointment"',
    "call_first": 'Mo-Fr 08:00-12:00 "call first"',
    "unknown_modifier": "Mo-Fr 10:00-12:00 unknown",
    "fallback": 'Mo-Fr 08:00-20:00 || "电话预约"',
    "year_once": "Mo-Fr 08:00-20:00; 2025 Sep 28,Oct 11 08:00-20:00; PH off",
    "year_each": "Mo-Fr 08:00-20:00; 2025 Sep 28,2025 Oct 11 08:00-20:00; PH off",
    "office": "Mo-Fr 08:00-20:00; PH off",
    "ph_only": "PH 10:00-14:00",
    "night": "Mo-Su 20:00-06:00; PH off",
    "always": "24/7",
    "day": "Mo-Su 07:00-22:00",
}


@pytest.fixture(scope="module")
def own_db(database_url: str) -> Iterator[str]:
    return demo_database(f"{TEST_DB}_hours_promises", database_url)


@pytest.fixture(scope="module")
def probes(own_db: str) -> dict[str, tuple[int, float, float]]:
    """name -> (id, lon, lat) of the station given that name's hours."""
    with db.connect(own_db) as conn:
        rows = conn.execute(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM stations WHERE status = 'active' "
            "ORDER BY id LIMIT %s",
            [len(PROBES)],
        ).fetchall()
        for (sid, _lon, _lat), expr in zip(rows, PROBES.values(), strict=True):
            conn.execute("UPDATE stations SET opening_hours = %s WHERE id = %s", [expr, sid])
        conn.commit()
    return {name: row for name, row in zip(PROBES, rows, strict=True)}


@pytest.fixture(scope="module")
def own_app(own_db: str, probes):
    application = app_for(own_db)
    yield application
    close_pool(application)


@pytest.fixture
def api(own_app):
    return own_app.test_client()


@pytest.fixture(scope="module")
def editor(own_db: str) -> dict[str, str]:
    with db.connect(own_db) as conn:
        token = tokens.create(conn, ["editor"], "hours promises test")[1]
    return {"Authorization": f"Bearer {token}"}


def at_probe(api, probe: tuple[int, float, float], at: str, **query) -> dict | None:
    """The probe station's properties in a search at its own position, or None."""
    sid, lon, lat = probe
    response = api.get(
        NEAREST,
        query_string={"lat": lat, "lon": lon, "at": at, "within_m": 1, "limit": 1, **query},
    )
    assert response.status_code == 200, response.get_json()
    features = response.get_json()["features"]
    assert [f["id"] for f in features] in ([], [sid])
    return features[0]["properties"] if features else None


def state_of(api, probe, at: str) -> tuple[str, bool, str | None]:
    props = at_probe(api, probe, at, open="false")
    assert props is not None
    return props["state"], props["open"], props["next_change"]


# --- Opening hours and holidays --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "at", "state", "change"),
    [
        # a start before 17:00: unknown until midnight
        ("open_end_1630", "2026-12-02T23:30", "unknown", "2026-12-03T00:00:00+08:00"),
        ("open_end_1630", "2026-12-03T02:30", "closed", "2026-12-03T16:30:00+08:00"),
        # from 17:00: 10 hours
        ("open_end_1700", "2026-12-02T23:30", "unknown", "2026-12-03T03:00:00+08:00"),
        ("open_end_1700", "2026-12-03T02:30", "unknown", "2026-12-03T03:00:00+08:00"),
        ("open_end_2159", "2026-12-03T02:30", "unknown", "2026-12-03T07:59:00+08:00"),
        # from 22:00: 8 hours
        ("open_end_2200", "2026-12-03T02:30", "unknown", "2026-12-03T06:00:00+08:00"),
    ],
)
def test_an_open_end_is_unknown_until_its_guessed_close(api, probes, name, at, state, change):
    """README: `18:00+` is unknown until midnight, or 10 h after a start from 17:00, 8 h
    after one from 22:00; never open."""
    assert state_of(api, probes[name], at) == (state, False, change)
    assert at_probe(api, probes[name], at) is None  # a search for open stations


@pytest.mark.parametrize("name", ["comment_zh", "comment_en", "call_first", "unknown_modifier"])
def test_comments_and_the_unknown_modifier_are_never_open(api, probes, name):
    monday_11 = "2026-11-30T11:00"
    state, is_open, _ = state_of(api, probes[name], monday_11)
    assert (state, is_open) == ("unknown", False)
    assert at_probe(api, probes[name], monday_11) is None
    assert at_probe(api, probes[name], monday_11, open_for_min=1) is None


def test_a_fallback_rule_applies_only_where_the_day_is_still_closed(api, probes):
    """`Mo-Fr 08:00-20:00 || "电话预约"`: open in its hours, unknown outside them."""
    assert state_of(api, probes["fallback"], "2026-11-30T10:00")[:2] == ("open", True)
    assert state_of(api, probes["fallback"], "2026-11-30T21:00")[:2] == ("unknown", False)


def _sunrise(day: dt.date, lon: float, lat: float) -> dt.datetime:
    """PyEphem's sunrise (upper limb at -0°34'), Beijing time: independent of astral."""
    observer = ephem.Observer()
    observer.lon, observer.lat = str(lon), str(lat)
    observer.elevation, observer.pressure, observer.horizon = 0, 0, "-0:34"
    midnight = dt.datetime.combine(day, dt.time(), SH).astimezone(dt.UTC).replace(tzinfo=None)
    observer.date = ephem.Date(midnight)
    rising = observer.next_rising(ephem.Sun())
    return ephem.Date(rising).datetime().replace(tzinfo=dt.UTC).astimezone(SH)


def test_sun_times_are_each_stations_own(own_db, api, probes):
    """Two stations far apart, `sunrise-sunset` and `(sunrise+01:00)-sunset`: each opens
    at its own sunrise (within 2 minutes of PyEphem), not at one clock for all."""
    last_probe = max(sid for sid, _lon, _lat in probes.values())
    with db.connect(own_db) as conn:
        south = conn.execute(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM stations WHERE status = 'active' "
            "AND id > %s ORDER BY ST_Y(geom) LIMIT 1",
            [last_probe],
        ).fetchone()
        north = conn.execute(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM stations WHERE status = 'active' "
            "AND id > %s ORDER BY ST_Y(geom) DESC LIMIT 1",
            [last_probe],
        ).fetchone()
        conn.execute(
            "UPDATE stations SET opening_hours = 'Mo-Su sunrise-sunset' WHERE id = %s", [south[0]]
        )
        conn.execute(
            "UPDATE stations SET opening_hours = 'Mo-Su (sunrise+01:00)-sunset' WHERE id = %s",
            [north[0]],
        )
        conn.commit()
    day = dt.date(2026, 6, 21)  # north and east: both put the north's sunrise earlier
    rise_south, rise_north = _sunrise(day, *south[1:]), _sunrise(day, *north[1:])
    assert abs(rise_south - rise_north) > dt.timedelta(minutes=4)  # the skies differ
    for probe, expected in ((south, rise_south), (north, rise_north + dt.timedelta(hours=1))):
        state, _, change = state_of(api, probe, "2026-06-21T04:00")
        assert state == "closed"
        assert abs(dt.datetime.fromisoformat(change) - expected) <= dt.timedelta(minutes=2)


@pytest.mark.parametrize(
    ("name", "at", "state"),
    [
        # the year binds to the first date only: Oct 11 of every year
        ("year_once", "2026-10-11T10:00", "open"),
        ("year_once", "2025-10-11T10:00", "open"),
        # repeated on each date: those two days only
        ("year_each", "2026-10-11T10:00", "closed"),
        ("year_each", "2025-10-11T10:00", "open"),
        ("year_each", "2025-09-28T10:00", "open"),
        # a make-up working day is its calendar weekday (Sunday 28 September 2025)
        ("office", "2025-09-28T10:00", "closed"),
    ],
)
def test_make_up_days_are_listed_with_their_year(api, probes, name, at, state):
    assert state_of(api, probes[name], at)[0] == state


@pytest.mark.parametrize(
    ("name", "at", "state"),
    [
        # no file for 2019: chinesecalendar (National Day 1-7 October 2019)
        ("office", "2019-10-07T10:00", "closed"),
        ("office", "2019-10-08T10:00", "open"),
        # beyond chinesecalendar: the law's statutory days (1 January; 1-3 October)
        ("office", "2030-01-01T10:00", "closed"),
        ("office", "2030-01-02T10:00", "open"),
        ("office", "2030-10-03T10:00", "closed"),
        ("office", "2030-10-04T10:00", "open"),
        # with a file, the file alone: the weekend joined to Dragon Boat 2024 is PH
        ("ph_only", "2024-06-08T11:00", "open"),
        ("ph_only", "2024-06-15T11:00", "closed"),
    ],
)
def test_years_without_a_notice_fall_back_in_order(api, probes, name, at, state):
    assert state_of(api, probes[name], at)[0] == state


def _holiday_folder(tmp_path: Path, years: list[int]) -> Path:
    folder = tmp_path / "holidays"
    folder.mkdir()
    for year in years:
        shutil.copy(ROOT / "data" / "holidays" / f"{year}.toml", folder)
    return folder


def _holidays_status(folder: Path, today: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [STATIONS, "holidays", "status", "--today", today, *extra],
        env={**_env_without_holidays_dir(), "STATIONS_HOLIDAYS_DIR": str(folder)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _env_without_holidays_dir() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "STATIONS_HOLIDAYS_DIR"}


def test_holidays_status_warns_of_next_year_from_1_november(tmp_path):
    """`stations holidays status`: 31 October no warning for next year, 1 November one."""
    folder = _holiday_folder(tmp_path, [2024, 2025])
    before = _holidays_status(folder, "2025-10-31")
    assert before.returncode == 0, before.stderr
    assert "2024" in before.stdout and "2025" in before.stdout
    assert "warning" not in before.stdout.lower()
    after = _holidays_status(folder, "2025-11-01", "--json")
    assert after.returncode == 0, after.stderr  # a warning, not a failure
    body = json.loads(after.stdout)
    assert body["notice_years"] == [2024, 2025]
    assert len(body["warnings"]) == 1 and "2026" in body["warnings"][0]


def test_readyz_warns_of_next_year_and_a_new_file_needs_a_restart(database_url, tmp_path):
    """Served: from 1 November a missing next year is in /readyz (still 200) and the log;
    a file added while running is read only by a restarted service."""
    today = dt.datetime.now(SH).date()
    following = today.year + 1
    folder = _holiday_folder(tmp_path, [2024, 2026])  # 2025 is added later
    env = {"DATABASE_URL": database_url, "STATIONS_HOLIDAYS_DIR": str(folder)}
    with serving(env) as (url, log):
        with urllib.request.urlopen(f"{url}/readyz", timeout=30) as response:
            assert response.status == 200
            first = json.load(response)["holidays"]
        shutil.copy(ROOT / "data" / "holidays" / "2025.toml", folder)
        with urllib.request.urlopen(f"{url}/readyz", timeout=30) as response:
            assert response.status == 200
            assert json.load(response)["holidays"]["notice_years"] == [2024, 2026]
    assert first["notice_years"] == [2024, 2026]
    warned = [w for w in first["warnings"] if f"for {following} yet" in w]
    in_log = f"holiday calendar: no holiday arrangement for {following} yet" in log[0]
    from_november = (today.month, today.day) >= (11, 1)
    assert (bool(warned), in_log) == (from_november, from_november)
    with serving(env) as (url, _log):
        with urllib.request.urlopen(f"{url}/readyz", timeout=30) as response:
            assert response.status == 200
            assert json.load(response)["holidays"]["notice_years"] == [2024, 2025, 2026]


def test_editors_are_warned_of_a_span_over_20_hours(api, editor, own_db):
    """Exactly 20 hours is fine; 20 h 01 is saved with a `long-span` warning; hours that
    are only a comment with `unknown-only`, and that station is never found open."""
    with db.connect(own_db) as conn:
        lon, lat = conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts "
            "WHERE code = '140105') d"
        ).fetchone()
    answers = {}
    for n, expr in enumerate(["Mo-Su 08:00-04:00", "Mo-Su 08:00-04:01", '"电话预约"']):
        body = {
            "code": f"HP-{n:03d}",
            "name": f"营业时间测试驿站{n}",
            "lon": round(lon + n * 0.001, 6),
            "lat": round(lat, 6),
            "opening_hours": expr,
            "amenities": ["toilet"],
            "floor_area_m2": 20,
            "host_type": "community",
            "built_by": "union",
            "level": "district",
        }
        response = api.post("/api/v1/stations", json=body, headers=editor)
        assert response.status_code == 201, response.get_json()
        answers[expr] = response.get_json()
    codes = {e: [w["code"] for w in a.get("warnings", [])] for e, a in answers.items()}
    assert codes == {
        "Mo-Su 08:00-04:00": [],
        "Mo-Su 08:00-04:01": ["long-span"],
        '"电话预约"': ["unknown-only"],
    }
    comment = answers['"电话预约"']
    probe = (comment["id"], *comment["geometry"]["coordinates"])
    assert state_of(api, probe, "2026-11-30T10:00")[:2] == ("unknown", False)
    assert at_probe(api, probe, "2026-11-30T10:00") is None


# --- Open, closing soon, unknown ------------------------------------------------------


def _day_station(database_url: str) -> tuple[int, float, float]:
    with db.connect(database_url) as conn:
        return conn.execute(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM stations WHERE status = 'active' "
            "AND opening_hours = 'Mo-Su 07:00-22:00' ORDER BY id LIMIT 1"
        ).fetchone()


def _served_props(url: str, probe, at: str) -> dict:
    sid, lon, lat = probe
    query = {"lat": lat, "lon": lon, "at": at, "within_m": 1, "limit": 1, "open": "false"}
    address = f"{url}{NEAREST}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(address, timeout=30) as response:
        assert response.status == 200
        (feature,) = json.load(response)["features"]
    assert feature["id"] == sid
    props = feature["properties"]
    return {k: props[k] for k in ("state", "open", "closes_in_min")}


@pytest.mark.parametrize(
    ("env", "soon", "not_yet"),
    [
        ({}, "2025-11-19T21:30", "2025-11-19T21:29"),  # STATIONS_CLOSING_SOON_MIN: 30
        ({"STATIONS_CLOSING_SOON_MIN": "45"}, "2025-11-19T21:15", "2025-11-19T21:14"),
    ],
)
def test_closing_soon_is_30_minutes_unless_configured(database_url, env, soon, not_yet):
    """Served: a station closing at 22:00 is closing_soon from 30 (or the setting's)
    minutes before, open one minute earlier; both are `open`."""
    probe = _day_station(database_url)
    minutes = 45 if env else 30
    served_env = {"DATABASE_URL": database_url, "STATIONS_RATE_LIMIT_PUBLIC": "off", **env}
    with serving(served_env) as (url, _log):
        at_soon = _served_props(url, probe, soon)
        before = _served_props(url, probe, not_yet)
    assert at_soon == {"state": "closing_soon", "open": True, "closes_in_min": minutes}
    assert before == {"state": "open", "open": True, "closes_in_min": minutes + 1}


def test_closed_and_suspended_states_as_answered(api, own_db, probes):
    """Closed: opens_in_min and next_change; suspended whatever its hours, and never
    found by a search (searches return active stations only)."""
    props = at_probe(api, probes["day"], "2025-11-19T06:00", open="false")
    assert props is not None
    assert (props["state"], props["open"], props["closes_in_min"], props["opens_in_min"]) == (
        "closed",
        False,
        None,
        60,
    )
    assert props["next_change"] == "2025-11-19T07:00:00+08:00"
    with db.connect(own_db) as conn:
        sid, lon, lat = conn.execute(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM stations WHERE status = 'suspended' "
            "ORDER BY id LIMIT 1"
        ).fetchone()
        conn.execute("UPDATE stations SET opening_hours = '24/7' WHERE id = %s", [sid])
        conn.commit()
    one = api.get(f"/api/v1/stations/{sid}")
    assert one.status_code == 200
    assert (one.get_json()["properties"]["state"], one.get_json()["properties"]["open"]) == (
        "suspended",
        False,
    )
    assert at_probe(api, (sid, lon, lat), "2025-11-19T12:00", open="false") is None


# --- Nearest stations ------------------------------------------------------------------


def test_at_without_an_offset_is_beijing_time(api, probes):
    plain = at_probe(api, probes["day"], "2025-11-19T21:58", open="false")
    beijing = at_probe(api, probes["day"], "2025-11-19T21:58+08:00", open="false")
    utc = at_probe(api, probes["day"], "2025-11-19T21:58Z", open="false")  # 05:58 in Beijing
    assert plain == beijing
    assert (plain["state"], plain["closes_in_min"]) == ("closing_soon", 2)
    assert (utc["state"], utc["opens_in_min"]) == ("closed", 62)


def test_at_is_now_by_default(client):
    before = dt.datetime.now(SH).replace(microsecond=0)
    response = client.get(NEAREST, query_string={"lat": 37.87, "lon": 112.55})
    after = dt.datetime.now(SH)
    assert response.status_code == 200
    at = dt.datetime.fromisoformat(response.get_json()["at"])
    assert at.utcoffset() == dt.timedelta(hours=8)
    assert before <= at <= after
    assert all(f["properties"]["open"] for f in response.get_json()["features"])  # open=true


@pytest.mark.parametrize(
    ("at", "status"),
    [
        ("1999-12-31T23:59:59", 400),
        ("2000-01-01T00:00", 200),
        ("2100-06-30T12:00", 200),
        ("2100-12-31T23:59", 200),
        ("2101-01-01T00:00", 400),
    ],
)
def test_at_years_2000_to_2100(client, at, status):
    response = client.get(NEAREST, query_string={"lat": 37.87, "lon": 112.55, "at": at})
    assert response.status_code == status, response.get_json()
    if status == 400:
        assert response.mimetype == PROBLEM and response.get_json()["param"] == "at"


@pytest.fixture(scope="module")
def active_points(database_url: str) -> list[tuple[int, float, float]]:
    with db.connect(database_url) as conn:
        return conn.execute(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM stations WHERE status = 'active' ORDER BY id"
        ).fetchall()


def _by_distance(points, lon: float, lat: float) -> list[tuple[float, int]]:
    ids = [p[0] for p in points]
    lons = np.array([p[1] for p in points])
    lats = np.array([p[2] for p in points])
    metres = GEOD.inv(np.full(len(ids), lon), np.full(len(ids), lat), lons, lats)[2]
    return sorted(zip(metres.tolist(), ids, strict=True))


def test_limit_is_5_by_default_and_50_at_most(client, active_points):
    lon, lat = 112.55, 37.87
    expected = [i for _, i in _by_distance(active_points, lon, lat)]
    query = {"lat": lat, "lon": lon, "open": "false", "within_m": 50000}
    default = client.get(NEAREST, query_string=query)
    assert default.status_code == 200
    assert [f["id"] for f in default.get_json()["features"]] == expected[:5]
    most = client.get(NEAREST, query_string={**query, "limit": 50})
    assert most.status_code == 200
    assert [f["id"] for f in most.get_json()["features"]] == expected[:50]
    assert client.get(NEAREST, query_string={**query, "limit": 51}).status_code == 400


def test_within_m_is_5000_by_default_and_1_to_50000(client, active_points):
    # a station whose 5 km hold fewer than 50 others, with more just beyond 5 km
    for _sid, lon, lat in active_points:
        ranked = _by_distance(active_points, lon, lat)
        inside = [i for d, i in ranked if d <= 5000]
        if 5 < len(inside) < 50 and ranked[len(inside)][0] < 20000:
            break
    else:
        pytest.fail("no station with a sparse 5 km around it in the demo data")
    query = {"lat": lat, "lon": lon, "open": "false", "limit": 50}
    default = client.get(NEAREST, query_string=query)
    assert default.status_code == 200
    assert [f["id"] for f in default.get_json()["features"]] == inside
    wide = client.get(NEAREST, query_string={**query, "within_m": 50000})
    assert wide.status_code == 200 and len(wide.get_json()["features"]) > len(inside)
    refused = client.get(NEAREST, query_string={**query, "within_m": 0})
    assert refused.status_code == 400 and refused.get_json()["param"] == "within_m"


def test_open_for_min_0_to_1440_counts_overnight_spans_and_holidays(api, probes):
    """`Mo-Su 20:00-06:00; PH off`: at 23:30 on a weekday night 390 minutes are left; on
    the eve of National Day only 30 (PH off closes the holiday's whole day)."""
    night = probes["night"]
    weekday = "2025-10-09T23:30"
    assert at_probe(api, night, weekday, open_for_min=0) is not None
    assert at_probe(api, night, weekday, open_for_min=390) is not None
    assert at_probe(api, night, weekday, open_for_min=391) is None
    eve = "2025-09-30T23:30"
    assert at_probe(api, night, eve, open_for_min=30) is not None
    assert at_probe(api, night, eve, open_for_min=31) is None
    assert at_probe(api, probes["always"], weekday, open_for_min=1440) is not None
    assert at_probe(api, night, weekday, open_for_min=1440) is None


def test_a_station_answer_has_the_listed_properties(client):
    response = client.get(
        NEAREST, query_string={"lat": 37.87, "lon": 112.55, "open": "false", "limit": 1}
    )
    assert response.status_code == 200
    (feature,) = response.get_json()["features"]
    listed = """id code name address district district_code district_name opening_hours
        amenities floor_area_m2 host_type built_by level opened_on status contact has_sign
        has_rules has_staff opening_hours_text open state next_change closes_in_min
        opens_in_min version updated_at distance_m""".split()
    assert set(feature["properties"]) == set(listed)


def test_labels_are_chinese_by_default_and_english_with_lang_en(api, probes):
    chinese = at_probe(api, probes["day"], "2025-11-19T12:00")
    english = at_probe(api, probes["day"], "2025-11-19T12:00", lang="en")
    assert chinese["opening_hours_text"] == "每天 07:00–22:00"
    assert english["opening_hours_text"] == "daily 07:00–22:00"


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_a_search_in_a_china_datum_answers_in_it_beside_wgs84_geometry(api, probes, crs):
    sid, lon, lat = probes["always"]
    qlon, qlat = datums.from_wgs84(lon, lat, crs)
    response = api.get(
        NEAREST,
        query_string={"lat": f"{qlat:.12f}", "lon": f"{qlon:.12f}", "crs": crs, "within_m": 1},
    )
    assert response.status_code == 200
    (feature,) = response.get_json()["features"]
    assert feature["id"] == sid and feature["properties"]["distance_m"] < 0.01
    position = feature["properties"]["position"]
    assert position["crs"] == crs
    assert GEOD.inv(position["lon"], position["lat"], qlon, qlat)[2] < 0.01  # 1 cm
    geometry = feature["geometry"]["coordinates"]  # RFC 7946: WGS-84 whatever is asked
    assert GEOD.inv(geometry[0], geometry[1], lon, lat)[2] < 0.01
    assert "crs" not in response.get_json()


def test_datum_conversions_are_exact_to_well_under_a_centimetre():
    """Both ways, in metres on the spheroid (pyproj), over 10,000 points in China; the
    usual one-step inverse is metres off (up to 5 m)."""
    rng = np.random.default_rng(42)
    lon, lat = rng.uniform(73.5, 135.0, 10_000), rng.uniform(18.0, 53.5, 10_000)
    pairs = [
        (datums.wgs84_to_gcj02, datums.gcj02_to_wgs84),
        (datums.wgs84_to_bd09, datums.bd09_to_wgs84),
        (datums.gcj02_to_bd09, datums.bd09_to_gcj02),
    ]
    for forward, inverse in pairs:
        for first, second in ((forward, inverse), (inverse, forward)):
            x, y = second(*first(lon, lat))
            assert np.max(GEOD.inv(lon, lat, x, y)[2]) < 0.001  # 1 mm
    fx, fy = datums.wgs84_to_gcj02(lon, lat)
    one_step = datums.wgs84_to_gcj02(2 * lon - fx, 2 * lat - fy)
    worst = np.max(GEOD.inv(lon, lat, *one_step)[2])
    assert 1.0 < worst <= 5.0


_TIMING = re.compile(r'nearest;desc="(memory|postgis)";dur=\d+(\.\d+)?')


def test_server_timing_names_the_engine(own_db, editor):
    """Served: an anonymous search is answered from memory once the copy is built; a
    signed-in one by PostGIS; each with its time in milliseconds."""
    query = urllib.parse.urlencode({"lat": 37.87, "lon": 112.55, "open": "false"})
    env = {"DATABASE_URL": own_db, "STATIONS_RATE_LIMIT_PUBLIC": "off"}

    def engine(url: str, headers: dict[str, str]) -> str:
        request = urllib.request.Request(f"{url}{NEAREST}?{query}", headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            timing = response.headers["Server-Timing"]
        match = _TIMING.fullmatch(timing)
        assert match, timing
        return match.group(1)

    with serving(env) as (url, _log):
        deadline = time.monotonic() + 120
        while engine(url, {}) != "memory":
            assert time.monotonic() < deadline, "the in-memory copy never answered"
            time.sleep(0.2)
        assert engine(url, editor) == "postgis"


# --- the reference comparison's own counts --------------------------------------------


def test_the_reference_comparison_has_the_readmes_counts():
    """40 instants, 418 generated values, 601 of the 610 real values (nine refused or
    documented differences), as the README states."""
    import test_hours_reference as ref

    from stations import hours
    from stations.errors import InvalidOpeningHours

    assert ref.INSTANTS_PER_EXPR == 40
    assert len(ref.generated()) == 418
    values = ref.corpus()
    assert len(values) == 610
    refused = []
    for value in values:
        try:
            hours.validate(value)
        except InvalidOpeningHours:
            refused.append(value)
    set_aside = [v for v in values if ref._SPAN_OPEN_END.search(v) or v in ref.ORACLE_ERRS]
    assert len(set(refused) | set(set_aside)) == 9
    assert len(values) - 9 == 601


@pytest.mark.parametrize(
    ("expr", "at", "state"),
    [
        ("2025 Oct 01-08 10:00-12:00", "2025-10-05T11:00", "open"),
        ("2025 Oct 01-08 10:00-12:00", "2025-10-09T11:00", "closed"),
        ("2025 Oct 01-08 10:00-12:00", "2026-10-05T11:00", "closed"),
        ("PH,Su 10:00-14:00", "2026-12-06T11:00", "open"),  # a Sunday
        ("PH,Su 10:00-14:00", "2026-10-02T11:00", "open"),  # a holiday, a Friday
        ("PH,Su 10:00-14:00", "2026-12-05T11:00", "closed"),  # a plain Saturday
    ],
)
def test_a_year_range_and_holiday_or_sunday_read_as_written(expr, at, state):
    from stations import hours

    instant = dt.datetime.fromisoformat(at).replace(tzinfo=SH)
    assert hours.status(expr, instant).state == state


# --- the in-memory copy's numbers ------------------------------------------------------


def test_the_copy_holds_44_bytes_of_columns_per_station(database_url):
    """id, position, amenity bits, schedule and the record's offset: 44 bytes a station."""
    from stations import snapshot_store

    with db.connect(database_url) as conn:
        columns = snapshot_store.read(conn)
    count = len(columns.ids)
    held = sum(getattr(columns, name).nbytes for name in snapshot_store.ARRAYS)
    assert count > 1000 and held == 44 * count + 8  # one offset more than stations


def test_the_copy_may_be_half_a_second_old_by_default(database_url, monkeypatch):
    monkeypatch.delenv("STATIONS_NEAREST_MAX_AGE_S", raising=False)
    application = app_for(database_url)
    try:
        assert application.config["NEAREST_MAX_AGE_S"] == 0.5
    finally:
        close_pool(application)


def test_the_registry_log_keeps_the_last_10000_generations(database_url):
    url = demo_database(f"{TEST_DB}_registry_log", database_url)
    with db.connect(url, autocommit=True) as conn:
        sid = conn.execute("SELECT min(id) FROM stations").fetchone()[0]

        def edit(n: int) -> int:
            conn.execute("UPDATE stations SET contact = %s WHERE id = %s", [f"log {n}", sid])
            return conn.execute("SELECT generation FROM registry_generation").fetchone()[0]

        def logged() -> set[int]:
            rows = conn.execute("SELECT DISTINCT generation FROM registry_log").fetchall()
            return {r[0] for r in rows}

        first = edit(1)
        assert first in logged()
        # 9,998 generations pass (written without the log, as a bulk tool might)
        conn.execute("UPDATE registry_generation SET generation = generation + 9998")
        assert edit(2) == first + 9999
        assert first in logged()  # 10,000 generations: first .. first + 9999
        assert edit(3) == first + 10000
        assert first not in logged() and {first + 9999, first + 10000} <= logged()
    db.drop_database(url)
