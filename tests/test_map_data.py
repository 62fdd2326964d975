"""The map's stations by viewport (``/api/v1/map/stations``), against raw rows.

Which stations a view holds is checked against the stations table read directly (a box
test on the raw coordinates, not the spatial index the endpoint uses); open or not
against opening_hours.js; a wide view's cell counts against the same rows bucketed in
Python. The served app shows the answer gzipped and much smaller than the page's old
inline data.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import random
import time
from collections import Counter

import pytest
from answers import ok
from conftest import app_for
from hours_oracle import answers, open_for
from live_server import HttpClient, serving

from geo import datums
from geo.crs import GEOD
from stations import vocabulary
from web.pools import close_pool

URL = "/api/v1/map/stations"
AT = "2025-11-24T22:10:00+08:00"  # a Monday night
TAIYUAN = (112.40, 37.70, 112.70, 38.00)  # the city's centre, a phone's city-wide view
SHANXI = (110.0, 34.5, 114.6, 40.8)


def _in_box(conn, box) -> dict[int, tuple]:
    rows = conn.execute(
        """SELECT id, name, opening_hours, amenities, ST_X(geom), ST_Y(geom)
           FROM stations WHERE status = 'active'"""
    ).fetchall()
    x0, y0, x1, y1 = box
    return {r[0]: r for r in rows if x0 <= r[4] <= x1 and y0 <= r[5] <= y1}


def _get(client, box, **extra) -> dict:
    query = {"bbox": ",".join(map(str, box)), "at": AT, **extra}
    response = ok(client.get(URL, query_string=query))
    assert response.mimetype == "application/geo+json"
    return response.get_json()


def test_a_view_holds_its_active_stations_in_their_state(client, conn):
    expected = _in_box(conn, TAIYUAN)
    body = _get(client, TAIYUAN)
    assert body["cells"] is False and body["at"] == AT
    got = {f["id"]: f for f in body["features"]}
    assert got.keys() == expected.keys() and len(got) > 50
    assert body["numberMatched"] == len(expected)
    at = dt.datetime.fromisoformat(AT)
    oracle = answers([r[2] for r in expected.values()], [at])
    codes = list(vocabulary.terms("amenities"))
    for sid, feature in got.items():
        _, name, expr, amenities, lon, lat = expected[sid]
        props = feature["properties"]
        assert props["name"] == name
        assert props["open"] == (bool(expr) and open_for(oracle[(expr, at)], at, 0)), expr
        assert [codes[i] for i in props["am"]] == [c for c in codes if c in amenities]
        assert feature["geometry"]["coordinates"] == pytest.approx([lon, lat], abs=1e-6)
    states = Counter(f["properties"]["state"] for f in got.values())
    assert states["open"] and states["closed"], states


def test_gcj02_positions_sit_on_amaps_streets_and_the_view_keeps_its_edges(client, conn):
    """The Amap position (``nav``) is the GCJ-02 offset away (a few hundred metres in
    Shanxi), the geometry stays WGS-84 (RFC 7946); a view read in GCJ-02 still holds every
    station inside it."""
    plain = {f["id"]: f for f in _get(client, TAIYUAN)["features"]}
    shifted = {f["id"]: f for f in _get(client, TAIYUAN, crs="gcj02")["features"]}
    assert plain.keys() <= shifted.keys()
    for sid, feature in plain.items():
        lon, lat = feature["geometry"]["coordinates"]
        assert shifted[sid]["geometry"]["coordinates"] == [lon, lat]
        glon, glat = shifted[sid]["properties"]["nav"][:2]
        assert GEOD.inv(*datums.gcj02_to_wgs84(glon, glat), lon, lat)[2] < 0.2  # 6 decimals
        metres = GEOD.inv(glon, glat, lon, lat)[2]
        assert 100 < metres < 1000, (sid, metres)
        # navigation positions are the same whatever the map's datum
        assert shifted[sid]["properties"]["nav"] == feature["properties"]["nav"]


def test_a_view_too_wide_to_list_comes_as_counts_per_cell(database_url, conn):
    """Past the listing limit, a 16 × 16 grid of counts; each cell's count is the raw
    rows' in that cell, and together they are every active station in view."""
    app = app_for(database_url)
    app.config["MAP_MAX_STATIONS"] = 100
    try:
        body = _get(app.test_client(), SHANXI)
        on_amap = _get(app.test_client(), SHANXI, crs="gcj02")
    finally:
        close_pool(app)
    expected = _in_box(conn, SHANXI)
    assert body["cells"] is True and body["numberMatched"] == len(expected)
    x0, y0, x1, y1 = SHANXI
    dx, dy = (x1 - x0) / 16, (y1 - y0) / 16
    buckets = Counter(
        (math.floor((r[4] - x0) / dx), math.floor((r[5] - y0) / dy)) for r in expected.values()
    )
    counts = sorted(f["properties"]["count"] for f in body["features"])
    assert counts == sorted(buckets.values())
    for feature in body["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert x0 <= lon <= x1 and y0 <= lat <= y1
        assert "id" not in feature and set(feature["properties"]) == {"count"}
    # on Amap's tiles a cell is drawn at its GCJ-02 position; its geometry stays WGS-84
    for feature in on_amap["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        glon, glat = feature["properties"]["pos"]
        assert 100 < GEOD.inv(glon, glat, lon, lat)[2] < 1000


def test_the_workers_copy_counts_a_wide_view_as_postgis_does(database_url, conn):
    """Once a worker holds the stations in memory, it counts wide views itself; its cells
    are the raw rows bucketed in Python, for random views, and PostGIS's own."""
    from stations import registry

    app = app_for(database_url)
    app.config["MAP_MAX_STATIONS"] = 100
    rng = random.Random(5)
    try:
        client = app.test_client()
        deadline = time.monotonic() + 120
        while True:  # the copy is built in the background on first use
            answer = ok(client.get(URL, query_string={"bbox": ",".join(map(str, SHANXI))}))
            if 'desc="memory"' in answer.headers["Server-Timing"]:
                break
            assert time.monotonic() < deadline, "the worker's copy never arrived"
            time.sleep(0.2)
        boxes = [SHANXI, TAIYUAN]
        for _ in range(8):
            x0, y0 = rng.uniform(110.5, 113.5), rng.uniform(35, 39.5)
            boxes.append((x0, y0, x0 + rng.uniform(0.1, 1.5), y0 + rng.uniform(0.1, 1.5)))
        for box in boxes:
            response = ok(client.get(URL, query_string={"bbox": ",".join(map(str, box))}))
            assert 'desc="memory"' in response.headers["Server-Timing"]
            body = response.get_json()
            expected = _in_box(conn, box)
            assert body["cells"] == (len(expected) > 100), box
            if not body["cells"]:
                assert {f["id"] for f in body["features"]} == set(expected)
                continue
            x0, y0, x1, y1 = box
            dx, dy = (x1 - x0) / 16, (y1 - y0) / 16
            buckets = Counter(
                (math.floor((r[4] - x0) / dx), math.floor((r[5] - y0) / dy))
                for r in expected.values()
            )
            got = sorted(f["properties"]["count"] for f in body["features"])
            assert got == sorted(buckets.values()), box
            postgis = registry.grid_counts(
                conn, registry.StationFilter(bbox=box, active_only=True), 16, 16
            )
            assert [c for c, _, _ in postgis] == [
                f["properties"]["count"] for f in body["features"]
            ]
            for (_, lon, lat), feature in zip(postgis, body["features"], strict=True):
                assert feature["geometry"]["coordinates"] == pytest.approx(
                    [round(lon, 6), round(lat, 6)], abs=2e-6
                )
    finally:
        close_pool(app)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({}, "bbox"),
        ({"bbox": "112,37,111,38"}, "bbox"),
        ({"bbox": TAIYUAN, "crs": "bd09"}, "crs"),
        ({"bbox": TAIYUAN, "at": "tonight"}, "at"),
        ({"bbox": TAIYUAN, "zoom": "12"}, "zoom"),
    ],
)
def test_bad_views_are_problems_in_the_riders_language(client, query, param):
    if isinstance(query.get("bbox"), tuple):
        query = {**query, "bbox": ",".join(map(str, query["bbox"]))}
    response = client.get(URL, query_string=query, headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["param"] == param


def test_served_gzipped_and_small(database_url):
    """On the served app a city-wide view travels gzipped, a few kilobytes, not the 505 KB
    of every station the page used to embed."""
    env = {"DATABASE_URL": database_url, "STATIONS_RATE_LIMIT_PUBLIC": "off"}
    box = ",".join(map(str, TAIYUAN))
    with serving(env) as (url, _log):
        view = f"{URL}?bbox={box}&at={AT.replace('+', '%2B')}"
        packed = HttpClient(url).get(view, headers={"Accept-Encoding": "gzip"})
        plain = HttpClient(url).get(view)
    assert packed.status_code == 200 and plain.status_code == 200
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert packed.headers["Cache-Control"] == "public, max-age=60"
    assert json.loads(gzip.decompress(packed.data))["features"] == plain.get_json()["features"]
    assert len(packed.data) * 4 < len(plain.data) and len(packed.data) < 60_000


def test_now_is_the_minute_so_views_within_it_are_one_answer(client):
    box = ",".join(map(str, TAIYUAN))
    first = ok(client.get(URL, query_string={"bbox": box})).get_json()
    instant = dt.datetime.fromisoformat(first["at"])
    assert instant.second == 0 and instant.microsecond == 0
    now = dt.datetime.now(instant.tzinfo)
    assert dt.timedelta(0) <= now - instant < dt.timedelta(minutes=1, seconds=5)
