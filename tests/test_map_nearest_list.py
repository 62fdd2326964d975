"""The courier's sheet in a real browser: the nearest five for a break, chips, tapping a
position, remembered choices. Debian's Chromium, offline, 390×844, Chinese and English.

Every expected answer is the brute force of ``map_page``: all active stations from the
database, pyproj ``Geod`` metres, opening_hours.js for "open for the break".
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from browser import assert_clean, screenshot
from hours_oracle import expected_state
from map_page import (
    active_stations,
    check_route_links,
    distance_m,
    expected_nearest,
    on_map,
    open_map,
    oracle,
    overlap,
    settled,
    wait_chosen,
)
from pyproj import Geod

from geo import datums

SQUARE = (37.8644, 112.5637)  # 五一广场, central Taiyuan (lat, lon WGS-84)
NIGHT = "2025-11-25T03:00:00+08:00"  # a Tuesday, 03:00 Beijing time
DAY = "2025-11-24T10:00:00+08:00"
WANTED = ("drinking_water", "ebike_charging")  # in the vocabulary's order, as sent
BREAK_MIN = 20
ITEMS = "#st-result-list .st-result"
TEXT = {
    "zh": {"closes_in": "{n} 分钟后关门", "denied": "未获准使用定位"},
    "en": {"closes_in": "closes in {n} min", "denied": "Location not allowed"},
}


def _listed(page) -> list[int]:
    page.locator(ITEMS).first.wait_for()
    return [
        int(i) for i in page.locator(ITEMS).evaluate_all("els => els.map(e => e.dataset.stationId)")
    ]


def _nearest_calls(page) -> list[dict]:
    return [
        parse_qs(urlsplit(u).query) for u in page.watch.requests if "/api/v1/stations/nearest" in u
    ]


def _shown_metres(text: str) -> tuple[float, float]:
    """The distance an entry shows, in metres, and how much rounding it allows."""
    number = float(re.search(r"[\d.]+", text).group())
    return (number, 0.51) if ("米" in text or text.endswith(" m")) else (number * 1000, 51)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_nearest_five_with_two_chips_at_three_in_the_morning(page, base_url, conn, lang):
    stations = active_stations(conn)
    link = urlencode({"at": NIGHT, "lat": SQUARE[0], "lon": SQUARE[1], "lang": lang})
    open_map(page, base_url, link)
    for code in WANTED:
        page.click(f'.st-chip[data-amenity="{code}"]')
        assert page.get_attribute(f'.st-chip[data-amenity="{code}"]', "aria-pressed") == "true"
    page.click("#st-nearest")

    expected = expected_nearest(
        stations, SQUARE, NIGHT, amenities=WANTED, minutes=BREAK_MIN, count=5
    )
    assert len(expected) == 5, "the demo data should have five such stations"
    assert _listed(page) == [s["id"] for s in expected]
    call = _nearest_calls(page)[-1]
    assert call["amenities"] == [",".join(WANTED)] and call["open_for_min"] == [str(BREAK_MIN)]
    assert call["limit"] == ["5"]

    night = dt.datetime.fromisoformat(NIGHT)
    for item, st in zip(page.locator(ITEMS).all(), expected, strict=True):
        assert item.locator(".st-result-name").inner_text() == st["name"]
        shown, slack = _shown_metres(item.locator(".st-result-distance").inner_text())
        assert abs(shown - st["distance_m"]) <= slack
        state = expected_state(oracle(st["opening_hours"], NIGHT), night)
        assert state in ("open", "closing_soon")
        assert f"st-is-{state}" in item.locator(".st-badge-state").get_attribute("class")
        assert item.locator(".st-result-hours").inner_text().strip()

    # the first is chosen: its marker and popup on the map, the rider still in view
    first = expected[0]
    wait_chosen(page, first)
    settled(page)  # the view that loads after the choice must not move it away
    assert on_map(page, ".st-highlight") and on_map(page, ".st-position")
    assert on_map(page, ".leaflet-popup-content")
    assert not overlap(page, ".st-position", ".leaflet-popup")
    assert not overlap(page, ".leaflet-top.leaflet-left", ".leaflet-popup")

    # the route links: riding, from the rider, each app's datum
    check_route_links(page.locator(ITEMS).first, first, SQUARE)
    screenshot(page, f"map-nearest-list-{lang}.png")

    # another entry: the map moves to it, the rider stays in view
    third = page.locator(ITEMS).nth(2)
    third.locator(".st-result-pick").click()
    page.wait_for_function(f"RestStations.state.highlighted.station.id === {expected[2]['id']}")
    assert "st-chosen" in third.get_attribute("class")
    assert on_map(page, ".st-highlight") and on_map(page, ".st-position")
    assert_clean(page.watch)


def _closing_station(stations: list[dict]) -> dict:
    """The Xiaodian union centre: Mo-Su 07:00-22:00, so at 21:50 it closes in 10 min."""
    station = next(s for s in stations if s["name"] == "小店区总工会职工服务中心爱心驿站")
    assert station["opening_hours"] == "Mo-Su 07:00-22:00"
    return station


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_station_closing_in_ten_minutes_is_not_offered_for_a_twenty_minute_break(
    page, base_url, conn, lang
):
    stations = active_stations(conn)
    station = _closing_station(stations)
    at = "2025-11-24T21:50:00+08:00"
    lon, lat, _ = Geod(ellps="WGS84").fwd(station["lon"], station["lat"], 0, 30)
    here = (round(lat, 6), round(lon, 6))
    assert expected_nearest(stations, here, at)[0]["id"] == station["id"]  # open, nearest
    expected = expected_nearest(stations, here, at, minutes=BREAK_MIN, count=5)
    assert station["id"] not in [s["id"] for s in expected]

    open_map(page, base_url, urlencode({"at": at, "lat": here[0], "lon": here[1], "lang": lang}))
    page.click("#st-nearest")
    assert _listed(page) == [s["id"] for s in expected]
    assert on_map(page, ".st-highlight") and on_map(page, ".st-position")
    assert not overlap(page, ".st-position", ".leaflet-popup")
    assert not overlap(page, ".leaflet-top.leaflet-left", ".leaflet-popup")
    screenshot(page, f"map-break-20-{lang}.png")

    # "any length": now it is offered first, saying it closes in 10 minutes
    page.select_option("#st-break", "0")
    page.wait_for_function(
        f"document.querySelector('{ITEMS}').dataset.stationId === '{station['id']}'"
    )
    assert "open_for_min" not in _nearest_calls(page)[-1]
    badge = page.locator(ITEMS).first.locator(".st-badge-state")
    assert "st-is-closing_soon" in badge.get_attribute("class")
    assert TEXT[lang]["closes_in"].format(n=10) in badge.inner_text()
    assert_clean(page.watch)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_location_refused_then_a_tap_sets_the_position(page, base_url, conn, lang):
    stations = active_stations(conn)
    page.context.clear_permissions()  # the rider said no
    open_map(page, base_url, urlencode({"at": DAY, "lang": lang}))
    page.evaluate(
        "([lat, lon]) => RestStations.state.map.setView([lat, lon], 14, {animate: false})",
        list(SQUARE),
    )
    settled(page)
    page.click("#st-nearest")
    status = page.locator("#st-status")
    page.wait_for_function(
        "document.querySelector('#st-status').textContent.length > 0 && "
        "!document.querySelector('#st-nearest').disabled"
    )
    assert TEXT[lang]["denied"] in status.inner_text()
    assert "st-error" in status.get_attribute("class")
    assert page.locator(".folium-map.st-picking").count() == 1
    screenshot(page, f"map-location-refused-{lang}.png")

    area = page.locator(".folium-map").bounding_box()
    page.touchscreen.tap(area["x"] + area["width"] * 0.4, area["y"] + area["height"] * 0.45)
    page.locator(ITEMS).first.wait_for()
    position = tuple(page.evaluate("RestStations.state.position"))
    assert distance_m(SQUARE, {"lat": position[0], "lon": position[1]}) < 5000
    expected = expected_nearest(stations, position, DAY, minutes=BREAK_MIN, count=5)
    assert _listed(page) == [s["id"] for s in expected]
    call = _nearest_calls(page)[-1]
    assert (float(call["lat"][0]), float(call["lon"][0])) == pytest.approx(position, abs=1e-6)
    assert page.locator(".folium-map.st-picking").count() == 0
    assert on_map(page, ".st-position")
    screenshot(page, f"map-position-tapped-{lang}.png")
    assert_clean(page.watch)


def test_chips_and_break_survive_a_reload_and_a_link_still_wins(page, base_url):
    link = urlencode({"at": DAY, "lat": SQUARE[0], "lon": SQUARE[1]})
    open_map(page, base_url, link)
    page.click('.st-chip[data-amenity="drinking_water"]')
    page.click('.st-chip[data-amenity="toilet"]')
    page.click("#st-all-day")
    page.select_option("#st-break", "30")
    page.reload(wait_until="load")
    settled(page)
    for code in ("drinking_water", "toilet"):
        assert page.get_attribute(f'.st-chip[data-amenity="{code}"]', "aria-pressed") == "true"
        assert page.is_checked(f'#st-filter input[value="{code}"]')
    assert page.get_attribute('.st-chip[data-amenity="ebike_charging"]', "aria-pressed") == "false"
    assert page.get_attribute("#st-all-day", "aria-pressed") == "true"
    assert page.input_value("#st-break") == "30"
    page.click("#st-nearest")
    page.wait_for_function("!document.querySelector('#st-nearest').disabled")
    call = _nearest_calls(page)[-1]
    assert call["amenities"] == ["drinking_water,toilet"]
    assert call["open_for_min"] == ["1440"]  # 24 h wins over the 30-minute break
    screenshot(page, "map-remembered.png")

    # a shared link names its own filter
    open_map(page, base_url, link + "&amenities=ebike_charging")
    assert page.get_attribute('.st-chip[data-amenity="ebike_charging"]', "aria-pressed") == "true"
    assert page.get_attribute('.st-chip[data-amenity="toilet"]', "aria-pressed") == "false"
    assert_clean(page.watch)


def test_the_list_refreshes_every_minute_without_a_fixed_time(page, base_url):
    page.clock.install()
    open_map(page, base_url, urlencode({"lat": SQUARE[0], "lon": SQUARE[1]}))
    page.click("#st-nearest")
    page.locator(ITEMS).first.wait_for()
    before = len(_nearest_calls(page))
    page.evaluate("window.shownBefore = RestStations.state.results")
    page.clock.run_for("01:01")
    page.wait_for_function("RestStations.state.results !== window.shownBefore")
    assert len(_nearest_calls(page)) == before + 1
    assert page.locator(ITEMS).count() > 0
    assert_clean(page.watch)


def test_script_bd09_agrees_with_geo_datums(page, base_url):
    """The page builds Baidu's route links itself; its BD-09 must match the server's."""
    open_map(page, base_url, urlencode({"at": DAY}))
    points = [(112.565, 37.736), (116.397, 39.909), (121.47, 31.23), (87.6, 43.8)]
    shifted = page.evaluate(
        "ps => ps.map(p => RestStations.gcj02ToBd09(...RestStations.wgs84ToGcj02(p[0], p[1])))",
        points,
    )
    for (lon, lat), (js_lon, js_lat) in zip(points, shifted, strict=True):
        py_lon, py_lat = datums.wgs84_to_bd09(lon, lat)
        assert abs(js_lon - py_lon) < 1e-9 and abs(js_lat - py_lat) < 1e-9


def test_a_tap_on_amap_tiles_is_read_back_to_wgs84(page, base_url):
    """On Amap's GCJ-02 tiles the page turns a tapped point back into WGS-84 itself (by
    iterating the forward formula); it must agree with the server's inverse."""
    open_map(page, base_url, urlencode({"at": DAY}))
    points = [(112.565, 37.736), (116.397, 39.909), (121.47, 31.23), (87.6, 43.8)]
    shifted = [tuple(float(v) for v in datums.wgs84_to_gcj02(lon, lat)) for lon, lat in points]
    back = page.evaluate(
        """ps => { RestStations.state.config.gcj02 = true;
                  return ps.map(p => RestStations.fromDisplay(L.latLng(p[1], p[0]))); }""",
        shifted,
    )
    for (lon, lat), (js_lat, js_lon) in zip(shifted, back, strict=True):
        py_lon, py_lat = datums.gcj02_to_wgs84(lon, lat)
        assert abs(js_lon - py_lon) < 1e-7 and abs(js_lat - py_lat) < 1e-7
