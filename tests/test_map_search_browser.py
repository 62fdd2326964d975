"""Search on the public map in a real browser (Chromium, offline, 390×844, zh and en):
for a rider whose phone will not say where they are.

What the search should find is worked out here from the registry's rows with Python's
``in``; "nearest" after a tap is checked against the brute force of ``map_page``.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from browser import assert_clean, screenshot
from map_page import (
    active_stations,
    distance_m,
    empty_spot,
    expected_nearest,
    open_map,
    settled,
    wait_chosen,
)

from web.pages import QUICK_AMENITIES

DAY = "2025-11-24T10:00:00+08:00"
ITEMS = "#st-result-list .st-result"
PROMPT = {"zh": "请点按地图上您所在的位置", "en": "Tap the map where you are"}


def _search(page, q: str) -> None:
    page.click("#st-search-toggle")
    page.fill("#st-search-q", q)
    page.press("#st-search-q", "Enter")
    page.locator("#st-search-results li").first.wait_for()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_search_a_district_then_tap_where_you_are(page, base_url, conn, lang):
    stations = active_stations(conn)
    open_map(page, base_url, urlencode({"at": DAY, "lang": lang}))
    _search(page, "小店")
    district = page.locator('#st-search-results [data-district="140105"]')
    assert district.inner_text().startswith("小店区")
    (count,) = conn.execute(
        "SELECT count(*) FROM stations WHERE status = 'active' AND district_code = '140105'"
    ).fetchone()
    assert str(count) in district.inner_text()
    screenshot(page, f"map-search-district-{lang}.png")
    district.click()

    # the map now shows the district, and asks where the rider is
    assert page.locator("#st-search").is_hidden()
    centre = page.evaluate(
        "(() => { const c = RestStations.state.map.getCenter(); return [c.lng, c.lat]; })()"
    )
    x0, y0, x1, y1 = conn.execute(
        "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) "
        "FROM districts WHERE code = '140105'"
    ).fetchone()
    assert x0 < centre[0] < x1 and y0 < centre[1] < y1
    assert PROMPT[lang] in page.locator("#st-status").inner_text()
    assert page.locator(".folium-map.st-picking").count() == 1

    settled(page)  # the district's stations drawn: the tap goes where none is
    page.touchscreen.tap(*empty_spot(page))
    page.locator(ITEMS).first.wait_for()
    position = tuple(page.evaluate("RestStations.state.position"))
    expected = expected_nearest(stations, position, DAY, minutes=20, count=5)
    listed = page.locator(ITEMS).evaluate_all("els => els.map(e => Number(e.dataset.stationId))")
    assert listed == [s["id"] for s in expected]
    assert_clean(page.watch)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_search_part_of_a_station_name_shows_the_station(page, base_url, conn, lang):
    q = "新晋祠路工会"
    holding = [s for s in active_stations(conn) if q in s["name"]]
    assert len(holding) == 1, "pick part of exactly one station's name"
    station = holding[0]
    open_map(page, base_url, urlencode({"at": DAY, "lang": lang}))
    _search(page, q)
    first = page.locator("#st-search-results .st-search-station button").first
    assert int(first.get_attribute("data-station-id")) == station["id"]
    assert first.locator(".st-search-name").inner_text() == station["name"]
    first.click()
    popup = page.locator(f'.leaflet-popup .st-popup[data-station-id="{station["id"]}"]')
    popup.wait_for()
    assert popup.locator(".st-name").inner_text() == station["name"]
    assert PROMPT[lang] in page.locator("#st-status").inner_text()
    screenshot(page, f"map-search-station-{lang}.png")

    # then "nearest" from a tap beside it lists it first (it is open at 10:00)
    page.locator(".leaflet-popup-close-button").click()
    settled(page)
    page.touchscreen.tap(*empty_spot(page, _fraction(page, station["id"])))
    page.locator(ITEMS).first.wait_for()
    position = tuple(page.evaluate("RestStations.state.position"))
    expected = expected_nearest(active_stations(conn), position, DAY, minutes=20, count=5)
    assert expected[0]["id"] == station["id"]
    wait_chosen(page, station)
    assert_clean(page.watch)


def _fraction(page, station_id: int) -> tuple[float, float]:
    """Where the station's marker is, as fractions of the map's width and height."""
    marker = page.locator(f'.st-marker [data-station-id="{station_id}"]').bounding_box()
    area = page.locator(".folium-map").bounding_box()
    return (
        (marker["x"] + marker["width"] / 2 - area["x"]) / area["width"],
        (marker["y"] + marker["height"] / 2 - area["y"]) / area["height"],
    )


def test_a_search_that_finds_nothing_says_so(page, base_url):
    open_map(page, base_url, urlencode({"at": DAY}))
    page.click("#st-search-toggle")
    page.fill("#st-search-q", "火星基地")
    page.press("#st-search-q", "Enter")
    status = page.locator("#st-search-status")
    page.wait_for_function("document.querySelector('#st-search-status').textContent !== ''")
    assert "没有找到“火星基地”" in status.inner_text()
    assert page.locator("#st-search-results li").count() == 0
    assert_clean(page.watch)


def test_a_station_hidden_by_the_filter_is_shown_and_a_keyboard_can_say_i_am_here(
    page, base_url, conn
):
    """No tap at all: the search, the result and "I am near this station" by keyboard."""
    q = "新晋祠路工会"
    (station,) = [s for s in active_stations(conn) if q in s["name"]]
    lacking = next(a for a in QUICK_AMENITIES if a not in station["amenities"])
    open_map(page, base_url, urlencode({"at": DAY, "lang": "en", "amenities": lacking}))
    page.click("#st-search-toggle")
    page.keyboard.type(q)
    page.keyboard.press("Enter")
    first = page.locator("#st-search-results .st-search-station button").first
    first.wait_for()
    first.focus()
    page.keyboard.press("Enter")
    popup = page.locator(f'.leaflet-popup .st-popup[data-station-id="{station["id"]}"]')
    popup.wait_for()  # shown although the filter hides it
    assert page.evaluate("document.activeElement.id") == "st-status"  # focus not lost
    assert PROMPT["en"] in page.locator("#st-status").inner_text()
    here = popup.locator(".st-here")
    assert here.inner_text() == "I am near this station"
    here.focus()
    page.keyboard.press("Enter")
    page.locator(ITEMS).first.wait_for()
    position = tuple(page.evaluate("RestStations.state.position"))
    assert distance_m(position, station) < 0.5
    expected = expected_nearest(
        active_stations(conn), position, DAY, amenities=(lacking,), minutes=20, count=5
    )
    listed = page.locator(ITEMS).evaluate_all("els => els.map(e => Number(e.dataset.stationId))")
    assert listed == [s["id"] for s in expected]
    # each route link says where it goes to a screen reader
    said = page.locator(ITEMS).evaluate_all(
        """els => els.map(e => [e.querySelector('.st-result-name').textContent,
            Array.from(e.querySelectorAll('.st-nav-link'), a => a.getAttribute('aria-label'))])"""
    )
    for name, labels in said:
        assert labels == [f"Ride with Amap to {name}", f"Ride with Baidu to {name}"]
    assert_clean(page.watch)


def test_a_tap_that_closes_the_popup_is_not_taken_for_the_position(page, base_url, conn):
    q = "新晋祠路工会"
    open_map(page, base_url, urlencode({"at": DAY}))
    _search(page, q)
    page.locator("#st-search-results .st-search-station button").first.click()
    page.locator(".leaflet-popup").wait_for()
    settled(page)
    page.touchscreen.tap(*empty_spot(page, (0.5, 0.85)))
    page.locator(".leaflet-popup").wait_for(state="detached")
    assert page.evaluate("RestStations.state.position") is None
    assert page.locator(".folium-map.st-picking").count() == 1  # the next tap is the position
    page.touchscreen.tap(*empty_spot(page, (0.5, 0.85)))
    page.locator(ITEMS).first.wait_for()
    assert page.evaluate("RestStations.state.position") is not None
    assert_clean(page.watch)


def test_typing_searches_once_the_input_method_has_chosen_and_emptying_clears(page, base_url):
    open_map(page, base_url, urlencode({"at": DAY}))
    asked = []
    page.on("request", lambda r: "/api/v1/search" in r.url and asked.append(r.url))
    page.click("#st-search-toggle")
    box = page.locator("#st-search-q")
    # pinyin being composed: "xiaodian" shows in the box, nothing is asked
    page.evaluate(
        """() => {
          const box = document.getElementById('st-search-q');
          box.dispatchEvent(new CompositionEvent('compositionstart'));
          box.value = 'xiaodian';
          box.dispatchEvent(new InputEvent('input', {isComposing: true}));
        }"""
    )
    page.wait_for_timeout(700)
    assert asked == []
    page.evaluate(
        """() => {
          const box = document.getElementById('st-search-q');
          box.value = '小店';
          box.dispatchEvent(new CompositionEvent('compositionend', {data: '小店'}));
        }"""
    )
    page.locator("#st-search-results li").first.wait_for()
    assert len(asked) == 1 and "q=%E5%B0%8F%E5%BA%97" in asked[0]
    box.fill("")
    assert page.locator("#st-search-results li").count() == 0
    assert page.locator("#st-search-status").inner_text() == ""
    box.fill("小")  # one character waits for Enter
    page.wait_for_timeout(700)
    assert len(asked) == 1
    assert_clean(page.watch)
