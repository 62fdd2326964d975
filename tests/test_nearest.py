"""Nearest stations through HTTP: the endpoint against a brute force over every station.

The brute force reads every station, measures with pyproj's Geod and asks the reference
evaluator (opening_hours.js, ``hours_oracle``) which are open. An anonymous caller is
answered by the worker's in-memory copy (or PostGIS while it loads); each engine is also
checked by itself against its own brute force in ``test_availability.py``. They must
agree in order and (within 0.5 m) in distance.
"""

from __future__ import annotations

import datetime as dt
import random
import re

import numpy as np
import psycopg.sql
import pytest
from answers import ok
from hours_oracle import answers, open_for
from live_server import serving
from pyproj import Geod

from geo import datums
from stations import hours, nearest
from web.pools import get_conn

GEOD = Geod(ellps="WGS84")
SH = hours.SHANGHAI
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def everything(database_url):
    from stations import db

    with db.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id, ST_X(geom), ST_Y(geom), opening_hours, amenities, status FROM stations"
        ).fetchall()
    return rows


@pytest.fixture(scope="module")
def oracle(everything):
    instants = [dt.datetime.combine(d, t, SH) for d in DAYS for t in TIMES]
    return answers([r[3] for r in everything], [*instants, LISTING_AT])


def is_open(oracle, expr, at) -> bool:
    return bool(expr) and open_for(oracle[(expr, at)], at, 0)


def brute_force(rows, oracle, lon, lat, at, open_only, amenities, limit, within_m):
    active = [r for r in rows if r[5] == "active" and set(amenities) <= set(r[4])]
    lons = np.array([r[1] for r in active])
    lats = np.array([r[2] for r in active])
    _, _, dist = GEOD.inv(np.full(len(active), lon), np.full(len(active), lat), lons, lats)
    found = []
    for r, d in zip(active, dist, strict=True):
        if d > within_m:
            continue
        if open_only and not is_open(oracle, r[3], at):
            continue
        found.append((d, r[0]))
    found.sort()
    return found[:limit]


DAYS = [
    dt.date(2025, 10, 3),
    dt.date(2025, 9, 28),
    dt.date(2025, 11, 22),
    dt.date(2026, 2, 17),
    dt.date(2025, 12, 31),
    dt.date(2026, 3, 4),
]
TIMES = [dt.time(2, 30), dt.time(10, 0), dt.time(23, 58), dt.time(0, 1), dt.time(19, 45)]
TIMES += [dt.time(7, 59)]
LISTING_AT = dt.datetime(2025, 10, 3, 23, 30, tzinfo=SH)


def _instants(rng):
    return dt.datetime.combine(rng.choice(DAYS), rng.choice(TIMES), SH)


def test_agrees_with_brute_force(client, everything, oracle):
    rng = random.Random(7)
    active = [r for r in everything if r[5] == "active"]
    amenity_choices = [(), (), ("toilet",), ("ebike_charging",), ("wifi", "first_aid")]
    answered = skipped_closed = 0
    for case in range(160):
        base = rng.choice(active)
        lon = base[1] + rng.uniform(-0.03, 0.03)
        lat = base[2] + rng.uniform(-0.03, 0.03)
        at = _instants(rng)
        open_only = rng.random() < 0.8
        amenities = rng.choice(amenity_choices)
        limit = rng.choice([1, 5, 12])
        within_m = rng.choice([800, 5000, 20000])
        crs = rng.choice(datums.CRS_NAMES)
        qlon, qlat = datums.from_wgs84(lon, lat, crs)
        query = {
            "lat": f"{float(qlat):.9f}",
            "lon": f"{float(qlon):.9f}",
            "crs": crs,
            "at": at.isoformat(),
            "open": str(open_only).lower(),
            "limit": limit,
            "within_m": within_m,
        }
        if amenities:
            query["amenities"] = ",".join(amenities)
        response = client.get("/api/v1/stations/nearest", query_string=query)
        assert response.status_code == 200, response.get_json()
        features = response.get_json()["features"]
        expected = brute_force(
            everything, oracle, lon, lat, at, open_only, amenities, limit, within_m
        )
        got = [(f["properties"]["distance_m"], f["id"]) for f in features]
        answered += bool(got)
        if open_only and expected:
            nearest_any = brute_force(
                everything, oracle, lon, lat, at, False, amenities, 1, within_m
            )
            skipped_closed += nearest_any[0][1] != expected[0][1]
        assert [i for _, i in got] == [i for _, i in expected], (case, query)
        for (d_got, _), (d_exp, _) in zip(got, expected, strict=True):
            assert abs(d_got - d_exp) < 0.5
        by_id = {r[0]: r for r in everything}
        for f in features:
            props = f["properties"]
            assert props["open"] == is_open(oracle, by_id[f["id"]][3], at)
            if open_only:
                assert props["open"] is True
            assert set(amenities) <= {a["code"] for a in props["amenities"]}
            # geometry is WGS-84 (RFC 7946); the position in the asked datum is a property
            glon, glat = f["geometry"]["coordinates"]
            assert abs(glon - by_id[f["id"]][1]) < 1e-6 and abs(glat - by_id[f["id"]][2]) < 1e-6
            if crs == "wgs84":
                assert "position" not in props
            else:
                position = props["position"]
                assert position["crs"] == crs
                wlon, wlat = datums.to_wgs84(position["lon"], position["lat"], crs)
                assert abs(wlon - glon) < 1e-6 and abs(wlat - glat) < 1e-6
    # the sample must exercise the hard parts: answers, and closed stations passed over
    assert answered > 80 and skipped_closed > 15, (answered, skipped_closed)


def test_keeps_looking_when_the_nearest_are_closed(client, conn):
    # at 03:00 most stations are closed: the answer must still be the nearest open ones
    at = dt.datetime(2025, 11, 19, 3, 0, tzinfo=SH)
    lon, lat = conn.execute(
        "SELECT ST_X(geom), ST_Y(geom) FROM stations WHERE opening_hours = 'Mo-Fr 08:30-17:30' "
        "AND status = 'active' LIMIT 1"
    ).fetchone()
    body = client.get(
        "/api/v1/stations/nearest",
        query_string={"lat": lat, "lon": lon, "at": at.isoformat(), "limit": 3, "within_m": 50000},
    ).get_json()
    assert len(body["features"]) == 3
    assert all(f["properties"]["open"] for f in body["features"])
    assert body["features"][0]["properties"]["distance_m"] > 0
    everyone = client.get(
        "/api/v1/stations/nearest",
        query_string={"lat": lat, "lon": lon, "at": at.isoformat(), "limit": 1, "open": "false"},
    ).get_json()
    assert everyone["features"][0]["properties"]["distance_m"] == pytest.approx(0, abs=0.01)
    assert everyone["features"][0]["properties"]["open"] is False


def test_holiday_closes_weekday_stations(client, conn):
    lon, lat, sid = conn.execute(
        "SELECT ST_X(geom), ST_Y(geom), id FROM stations "
        "WHERE opening_hours = 'Mo-Fr 08:00-20:00; PH off' AND status = 'active' LIMIT 1"
    ).fetchone()
    query = {"lat": lat, "lon": lon, "limit": 1, "within_m": 1}
    workday = client.get(
        "/api/v1/stations/nearest", query_string={**query, "at": "2025-10-09T10:00"}
    ).get_json()
    holiday = client.get(
        "/api/v1/stations/nearest", query_string={**query, "at": "2025-10-02T10:00"}
    ).get_json()
    assert [f["id"] for f in workday["features"]] == [sid]
    assert holiday["features"] == []


def test_open_at_listing_matches_hours(client, everything, oracle):
    at = LISTING_AT
    body = ok(
        client.get(
            "/api/v1/stations",
            query_string={"open_at": at.isoformat(), "limit": 1000, "district": "140100"},
        )
    ).get_json()
    ids = {f["id"] for f in body["features"]}
    expected = {r[0] for r in everything if r[5] == "active" and is_open(oracle, r[3], at)}
    in_city = {
        f["id"]
        for f in ok(
            client.get("/api/v1/stations", query_string={"district": "140100", "limit": 1000})
        ).get_json()["features"]
    }
    assert ids == expected & in_city and ids
    assert body["numberMatched"] == len(ids)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("lon=112.5", "lat"),
        ("lat=37.8", "lon"),
        ("lat=abc&lon=112", "lat"),
        ("lat=NaN&lon=112", "lat"),
        ("lat=91&lon=112", "lat"),
        ("lat=37&lon=-181", "lon"),
        ("lat=37&lon=112&crs=utm", "crs"),
        ("lat=37&lon=112&at=yesterday", "at"),
        ("lat=37&lon=112&at=1900-01-01T00:00", "at"),
        ("lat=37&lon=112&limit=0", "limit"),
        ("lat=37&lon=112&limit=51", "limit"),
        ("lat=37&lon=112&within_m=50001", "within_m"),
        ("lat=37&lon=112&within_m=inf", "within_m"),
        ("lat=37&lon=112&amenities=sauna", "amenities"),
        ("lat=37&lon=112&open=maybe", "open"),
        ("lat=37&lon=112&lang=de", "lang"),
        ("lat=37&lon=112&radius=5", "radius"),
        ("lat=1e999&lon=112", "lat"),
    ],
)
def test_bad_parameters(client, query, param):
    response = client.get(f"/api/v1/stations/nearest?{query}")
    assert response.status_code == 400 and response.mimetype == PROBLEM
    body = response.get_json()
    assert body["param"] == param and param in body["detail"]


def test_listing_states_are_those_at_open_at(client):
    body = ok(
        client.get(
            "/api/v1/stations",
            query_string={"open_at": "2025-11-19T03:00+08:00", "limit": 1000, "lang": "en"},
        )
    ).get_json()
    assert body["state_at"] == "2025-11-19T03:00:00+08:00"
    states = {f["properties"]["state"] for f in body["features"]}
    assert body["features"] and states <= {"open", "closing_soon"}
    assert {f["properties"]["opening_hours"] for f in body["features"]} <= {
        "24/7", "Mo-Su 20:00-06:00", "Mo-Su 18:00-08:00"
    }  # fmt: skip


def test_listing_rejects_bad_open_at(client):
    response = client.get("/api/v1/stations?open_at=25:99")
    assert response.status_code == 400 and response.get_json()["param"] == "open_at"


QUERY_ARGS = {
    "lon": 112.55,
    "lat": 37.87,
    "amenities": ["ebike_charging"],
    "within_deg": 0.06,
    "any_hours": False,
    "open": "{24/7}",
    "known": "{24/7}",
    "batch": 10,
}


@pytest.mark.parametrize("sql", [nearest._QUERY, nearest._QUERY_AMENITIES])
def test_row_positions_match_the_query(conn, sql):
    cur = conn.execute(sql, QUERY_ARGS)
    assert tuple(c.name for c in cur.description) == nearest._NAMES


def _generic_plan(conn, sql: str, args: dict) -> str:
    """EXPLAIN of ``sql`` as the serving connections run it: prepared, generic plan."""
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))
    numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", sql)
    conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    conn.execute(f"PREPARE plan_probe AS {numbered}")
    try:
        values = ", ".join(psycopg.sql.Literal(args[n]).as_string(conn) for n in names)
        rows = conn.execute(f"EXPLAIN EXECUTE plan_probe({values})").fetchall()
    finally:
        conn.execute("DEALLOCATE plan_probe")
    return "\n".join(r[0] for r in rows)


def test_searches_walk_their_index_in_distance_order(conn):
    """The plans the latency depends on: KNN index walks, the amenity signature in-index."""
    plain = _generic_plan(conn, nearest._QUERY, QUERY_ARGS)
    # either spatial index (the planner picks by size; both walk in distance order)
    assert "Index Scan using stations_geom" in plain and "Order By" in plain
    rare = _generic_plan(conn, nearest._QUERY_AMENITIES, QUERY_ARGS)
    assert "Index Scan using stations_geom_amenities_idx" in rare
    assert "amenity_keys(amenities) @>" in rare.split("Order By")[0]  # an Index Cond


def test_serving_connections_use_generic_plans_without_jit(app):
    with app.app_context():
        conn = get_conn()
        assert conn.execute("SHOW plan_cache_mode").fetchone()[0] == "force_generic_plan"
        assert conn.execute("SHOW jit").fetchone()[0] == "off"
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "1min"


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("lat=37&lon=112&open_for_min=-1", "open_for_min"),
        ("lat=37&lon=112&open_for_min=1441", "open_for_min"),
        ("lat=37&lon=112&open_for_min=20&open=false", "open_for_min"),
        ("lat=37&lon=112&open_for_min=ten", "open_for_min"),
    ],
)
def test_bad_break_lengths(client, query, param):
    response = client.get(f"/api/v1/stations/nearest?{query}")
    assert response.status_code == 400 and response.get_json()["param"] == param


def test_listing_break_needs_an_instant(client):
    response = client.get("/api/v1/stations?open_for_min=20")
    assert response.status_code == 400 and response.get_json()["param"] == "open_for_min"


def test_a_rider_at_2158_is_not_sent_to_a_station_closing_at_2200(database_url, conn):
    """Served as riders get it: closing_soon, closes_in_min, and open_for_min passing it by."""
    lon, lat, sid = conn.execute(
        """SELECT ST_X(s.geom), ST_Y(s.geom), s.id FROM stations s
           WHERE s.status = 'active' AND s.opening_hours = 'Mo-Su 07:00-22:00'
             AND EXISTS (SELECT 1 FROM stations o WHERE o.status = 'active'
                 AND o.opening_hours = '24/7' AND ST_DWithin(o.geom, s.geom, 0.05))
           ORDER BY s.id LIMIT 1"""
    ).fetchone()
    at = "2025-11-19T21:58:00+08:00"
    base = {"lat": lat, "lon": lon, "at": at, "limit": 3, "within_m": 20000}
    with serving({"DATABASE_URL": database_url, "STATIONS_RATE_LIMIT_PUBLIC": "off"}) as (
        url,
        _log,
    ):
        plain = _get_json(url, base)
        first = plain["features"][0]
        assert first["id"] == sid and first["properties"]["distance_m"] < 0.01
        props = first["properties"]
        assert (props["state"], props["open"], props["closes_in_min"]) == ("closing_soon", True, 2)
        assert props["next_change"] == "2025-11-19T22:00:00+08:00"
        assert props["opening_hours_text"] == "每天 07:00–22:00"
        on_break = _get_json(url, {**base, "open_for_min": 20, "lang": "en"})
        ids = [f["id"] for f in on_break["features"]]
        assert sid not in ids and ids
        for feature in on_break["features"]:
            p = feature["properties"]
            assert p["state"] == "open" and (p["closes_in_min"] is None or p["closes_in_min"] >= 20)
        assert on_break["features"][0]["properties"]["opening_hours_text"]


def _get_json(url: str, query: dict) -> dict:
    import json
    import urllib.parse
    import urllib.request

    address = f"{url}/api/v1/stations/nearest?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(address, timeout=30) as response:
        assert response.status == 200
        return json.load(response)
