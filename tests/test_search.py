"""``GET /api/v1/search`` against a brute force over the registry's rows.

The reference reads every active station and district with plain SQL and matches in
Python (``str.__contains__``), ranks with pyproj ``Geod``: no ``pg_trgm``, no ILIKE.
Near misses (typos) have no such reference; they are pinned by hand from the demo data.
"""

from __future__ import annotations

import pytest
from answers import ok
from pyproj import Geod

from geo import datums

SQUARE = (112.5637, 37.8644)  # 五一广场 (lon, lat)
_GEOD = Geod(ellps="WGS84")


def _stations(conn) -> list[dict]:
    rows = conn.execute(
        """SELECT id, name, coalesce(address, ''), district_code, district_name,
                  ST_X(geom), ST_Y(geom)
           FROM stations WHERE status = 'active'"""
    ).fetchall()
    keys = ("id", "name", "address", "district_code", "district_name", "lon", "lat")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _matched(st: dict, q: str) -> str | None:
    for field, key in (("name", "name"), ("address", "address"), ("district", "district_name")):
        if q.casefold() in st[key].casefold():
            return field
    return None


def _metres(st: dict, near: tuple[float, float]) -> float:
    return _GEOD.inv(near[0], near[1], st["lon"], st["lat"])[2]


def _search(client, **args):
    return ok(client.get("/api/v1/search", query_string=args)).get_json()


@pytest.mark.parametrize("q", ["小店", "五一路", "职工之家", "迎泽大街", "长治市"])
def test_substring_matches_agree_with_the_brute_force(client, conn, q):
    stations = _stations(conn)
    expected = {s["id"]: _matched(s, q) for s in stations if _matched(s, q)}
    body = _search(client, q=q, near=f"{SQUARE[0]},{SQUARE[1]}", limit=20)
    assert expected, "pick a query the demo data holds"
    found = body["stations"]
    got = [h for h in found if h["matched"] != "similar"]
    assert found[: len(got)] == got  # near misses only after every substring match
    assert len(got) == min(20, len(expected))
    order = ("name", "address", "district")
    by_id = {s["id"]: s for s in stations}
    for hit in got:
        assert expected[hit["id"]] == hit["matched"]  # and no station that does not match
        assert hit["name"] == by_id[hit["id"]]["name"]
    # a name before an address before a district, the nearest first within each
    wanted = sorted(
        expected, key=lambda i: (order.index(expected[i]), _metres(by_id[i], SQUARE), i)
    )
    assert [h["id"] for h in got] == wanted[:20]


def test_a_district_comes_with_its_stations_and_extent(client, conn):
    body = _search(client, q="小店")
    district = body["districts"][0]
    assert (district["code"], district["name"], district["level"]) == ("140105", "小店区", "county")
    stations = [s for s in _stations(conn) if s["district_code"] == "140105"]
    assert district["stations"] == len(stations)
    x0, y0, x1, y1 = district["bbox"]
    assert all(x0 <= s["lon"] <= x1 and y0 <= s["lat"] <= y1 for s in stations)
    # a city counts the stations of its counties
    city = _search(client, q="太原")["districts"][0]
    assert (city["code"], city["level"]) == ("140100", "city")
    assert city["stations"] == sum(s["district_code"].startswith("1401") for s in _stations(conn))


def test_a_name_typed_with_a_word_left_out_is_still_found(client, conn):
    """The station's name holds every character of the query in order, but not the query."""
    q = "小店区总工会服务中心"

    def in_order(name: str) -> bool:
        rest = iter(name)
        return all(ch in rest for ch in q)

    expected = [s for s in _stations(conn) if in_order(s["name"])]
    assert [s["name"] for s in expected] == ["小店区总工会职工服务中心爱心驿站"]
    assert not any(_matched(s, q) for s in expected)
    first = _search(client, q=q)["stations"][0]
    assert (first["id"], first["matched"]) == (expected[0]["id"], "similar")


@pytest.mark.parametrize("q", ["%", "_", "\\", "%驿站%"])
def test_like_characters_are_taken_literally(client, conn, q):
    expected = {s["id"] for s in _stations(conn) if _matched(s, q)}
    got = {h["id"] for h in _search(client, q=q)["stations"] if h["matched"] != "similar"}
    assert got == expected


def test_positions_come_in_the_datum_asked_for(client, conn):
    by_id = {s["id"]: s for s in _stations(conn)}
    gcj_near = datums.wgs84_to_gcj02(*SQUARE)
    body = _search(client, q="五一路", crs="gcj02", near=f"{gcj_near[0]},{gcj_near[1]}")
    assert body["crs"] == "gcj02"
    plain = _search(client, q="五一路", near=f"{SQUARE[0]},{SQUARE[1]}")
    assert [h["id"] for h in body["stations"]] == [h["id"] for h in plain["stations"]]
    for hit in body["stations"]:
        st = by_id[hit["id"]]
        lon, lat = datums.wgs84_to_gcj02(st["lon"], st["lat"])
        assert hit["position"] == pytest.approx([lon, lat], abs=1e-6)


@pytest.mark.parametrize(
    ("args", "param", "zh"),
    [
        ({}, "q", "请填写要找的内容"),
        ({"q": "   "}, "q", "请填写要找的内容"),
        ({"q": "驿" * 51}, "q", None),
        ({"q": "小店", "near": "112.5"}, "near", "经度,纬度"),
        ({"q": "小店", "near": "east,37"}, "near", None),
        ({"q": "小店", "limit": "21"}, "limit", None),
        ({"q": "小店", "crs": "mars"}, "crs", None),
        ({"q": "小店", "city": "太原"}, "city", None),
    ],
)
def test_bad_parameters_are_problems_a_person_can_act_on(client, args, param, zh):
    response = ok(client.get("/api/v1/search", query_string=args), 400)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["param"] == param and body["detail"]
    if zh:
        assert zh in body["detail"]
        english = ok(client.get("/api/v1/search", query_string={**args, "lang": "en"}), 400)
        assert english.get_json()["detail"].isascii()
