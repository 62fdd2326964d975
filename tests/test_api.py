"""The public read API over real HTTP handling (Flask test client) and the real database."""

from __future__ import annotations

import pytest
from answers import ok

PROBLEM = "application/problem+json"


def test_list_pages_with_links(client):
    first = client.get("/api/v1/stations?limit=10")
    assert first.status_code == 200 and first.mimetype == "application/geo+json"
    body = first.get_json()
    assert body["type"] == "FeatureCollection"
    assert body["numberReturned"] == 10 and body["numberMatched"] > 1000
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert set(rels) == {"self", "next"}
    second = client.get(rels["next"]).get_json()
    assert {link["rel"] for link in second["links"]} == {"self", "next", "prev"}
    ids = [f["id"] for f in body["features"]] + [f["id"] for f in second["features"]]
    assert len(set(ids)) == 20 and ids == sorted(ids)


def test_feature_properties(client, conn):
    sid, code = conn.execute("SELECT id, code FROM stations ORDER BY id LIMIT 1").fetchone()
    feature = client.get(f"/api/v1/stations/{sid}?lang=en").get_json()
    props = feature["properties"]
    assert feature["id"] == sid and props["id"] == sid and props["code"] == code
    for key in (
        "name",
        "address",
        "district",
        "opening_hours",
        "amenities",
        "open",
        "next_change",
        "floor_area_m2",
        "host_type",
        "status",
    ):
        assert key in props
    assert set(props["district"]) == {"code", "name"}
    assert all(set(a) == {"code", "label"} for a in props["amenities"])
    lon, lat = feature["geometry"]["coordinates"]
    db_lon, db_lat = conn.execute(
        "SELECT ST_X(geom), ST_Y(geom) FROM stations WHERE id=%s", [sid]
    ).fetchone()
    assert (lon, lat) == (db_lon, db_lat)


def test_filters_agree_with_sql(client, conn):
    bbox = (112.45, 37.70, 112.65, 37.90)
    expected = conn.execute(
        "SELECT count(*) FROM stations WHERE geom && ST_MakeEnvelope(%s,%s,%s,%s,4326)", bbox
    ).fetchone()[0]
    body = ok(client.get("/api/v1/stations?bbox=" + ",".join(map(str, bbox)))).get_json()
    assert body["numberMatched"] == expected > 0
    for f in body["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]

    city = ok(client.get("/api/v1/stations?district=140100&limit=1")).get_json()["numberMatched"]
    by_name = ok(client.get("/api/v1/stations?district=太原市&limit=1")).get_json()["numberMatched"]
    in_city = conn.execute(
        "SELECT count(*) FROM stations WHERE district_code LIKE '1401%%'"
    ).fetchone()[0]
    assert city == by_name == in_city > 0

    wanted = ok(client.get("/api/v1/stations?amenities=ebike_charging,wifi&limit=1000")).get_json()
    with_both = conn.execute(
        "SELECT count(*) FROM stations WHERE amenities @> ARRAY['ebike_charging','wifi']"
    ).fetchone()[0]
    assert wanted["numberMatched"] == with_both > 0


def test_amenities_vocabulary(client):
    body = ok(client.get("/api/v1/amenities")).get_json()
    codes = {a["code"] for a in body["amenities"]}
    assert {"drinking_water", "food_heating", "toilet", "ebike_charging"} <= codes
    assert all(a["zh"] and a["en"] for a in body["amenities"])


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=100000", "limit"),
        ("offset=-1", "offset"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=113,38,112,37", "bbox"),
        ("bbox=0,0,200,10", "bbox"),
        ("bbox=nan,1,2,3", "bbox"),
        ("amenities=water,jacuzzi", "amenities"),
        ("district=nowhere", "district"),
        ("lang=fr", "lang"),
        ("colour=red", "colour"),
    ],
)
def test_bad_parameters_are_problems_naming_the_parameter(client, query, param):
    response = client.get(f"/api/v1/stations?{query}")
    assert response.status_code == 400 and response.mimetype == PROBLEM
    body = response.get_json()
    assert body["param"] == param and body["status"] == 400 and param in body["detail"]


def test_unknown_station_and_bad_id(client):
    missing = client.get("/api/v1/stations/999999999")
    assert missing.status_code == 404 and missing.mimetype == PROBLEM
    bad = client.get("/api/v1/stations/abc")
    assert bad.status_code == 400 and bad.get_json()["param"] == "id"
    nowhere = client.get("/api/v1/nothing-here")
    assert nowhere.status_code == 404 and nowhere.mimetype == PROBLEM


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=5&limit=abc", "limit"),
        ("district=%00", "district"),
        ("district=城区", "district"),
    ],
)
def test_repeated_control_and_ambiguous_parameters(client, query, param):
    response = client.get(f"/api/v1/stations?{query}")
    assert response.status_code == 400 and response.get_json()["param"] == param


@pytest.mark.parametrize("sid", ["²", "١٢", "-1", "1.0", "9" * 19])
def test_odd_ids_are_400(client, sid):
    response = client.get(f"/api/v1/stations/{sid}")
    assert response.status_code == 400 and response.get_json()["param"] == "id"


def test_prev_past_the_end_leads_to_the_last_page(client):
    matched = ok(client.get("/api/v1/stations?limit=1")).get_json()["numberMatched"]
    body = ok(client.get(f"/api/v1/stations?limit=10&offset={matched + 500}")).get_json()
    prev = next(link["href"] for link in body["links"] if link["rel"] == "prev")
    assert prev.startswith("http") and f"offset={matched - 10}" in prev
    assert ok(client.get(prev)).get_json()["numberReturned"] == 10


def test_a_bad_stored_record_does_not_break_listings(client, conn, app):
    # written behind the validator's back, as an old import or psql might have
    conn.execute("ALTER TABLE stations DISABLE TRIGGER USER")
    sid = conn.execute("SELECT min(id) FROM stations").fetchone()[0]
    conn.execute(
        "UPDATE stations SET opening_hours = 'Mo-Fr 8-25', amenities = '{sauna}' WHERE id = %s",
        [sid],
    )
    conn.commit()
    try:
        body = client.get(f"/api/v1/stations/{sid}").get_json()
        props = body["properties"]
        assert props["open"] is False and props["amenities"] == [
            {"code": "sauna", "label": "sauna"}
        ]
        assert client.get("/api/v1/stations?limit=5").status_code == 200
    finally:
        conn.execute(
            "UPDATE stations s SET opening_hours = h.after->>'opening_hours', "
            "amenities = ARRAY(SELECT json_array_elements_text(h.after->'amenities')) "
            "FROM station_history h WHERE h.station_id = s.id AND s.id = %s "
            "AND h.action = 'create'",
            [sid],
        )
        conn.execute("ALTER TABLE stations ENABLE TRIGGER USER")
        conn.commit()
