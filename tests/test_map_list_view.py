"""The list view of the public map (Chromium, offline, 390×844, zh and en): the stations
on screen as text, for a screen reader or a rider who cannot read a map at night.

What it should list is worked out here from the registry's rows: every active station
inside the map's bounds that passes the filter, nearest the rider first by pyproj
``Geod``, each with its state as opening_hours.js has it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from browser import assert_clean, screenshot
from hours_oracle import answers, expected_state
from map_page import active_stations, distance_m, open_map, settled

SQUARE = (37.8644, 112.5637)  # 五一广场 (lat, lon WGS-84)
DAY = "2025-11-24T17:40:00+08:00"  # some close at 18:00: "closing soon" shows
TEXT = json.loads(
    (Path(__file__).resolve().parents[1] / "web/templates/map/text.json").read_text("utf-8")
)
ITEMS = "#st-list-items .st-list-item"

_BOUNDS = """() => { const b = RestStations.state.map.getBounds();
  return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; }"""


def _in(box, st) -> bool:
    x0, y0, x1, y1 = box
    return x0 <= st["lon"] <= x1 and y0 <= st["lat"] <= y1


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_list_reads_out_the_stations_on_screen(page, base_url, conn, lang):
    text = TEXT[lang]
    at = dt.datetime.fromisoformat(DAY)
    link = urlencode({"at": DAY, "lat": SQUARE[0], "lon": SQUARE[1], "lang": lang})
    open_map(page, base_url, link)
    page.evaluate(
        f"RestStations.state.map.setView([{SQUARE[0]}, {SQUARE[1]}], 14, {{animate: false}})"
    )
    settled(page)
    page.click("#st-list-toggle")
    assert page.get_attribute("#st-list-toggle", "aria-expanded") == "true"
    assert page.evaluate("document.activeElement.id") == "st-list-title"

    stations = active_stations(conn)
    oracle = answers({s["opening_hours"] for s in stations}, [at])
    box = page.evaluate(_BOUNDS)
    expected = sorted(
        (s for s in stations if _in(box, s)), key=lambda s: (distance_m(SQUARE, s), s["id"])
    )
    assert 5 < len(expected) <= 50
    listed = page.locator(ITEMS).evaluate_all(
        """els => els.map(e => ({id: Number(e.dataset.stationId),
             name: e.querySelector('.st-list-name').firstChild.textContent,
             state: e.querySelector('.st-state').textContent}))"""
    )
    assert [e["id"] for e in listed] == [s["id"] for s in expected]
    states = set()
    for entry, st in zip(listed, expected, strict=True):
        assert entry["name"] == st["name"]
        state = expected_state(oracle.get((st["opening_hours"], at)), at)
        states.add(state)
        assert entry["state"].startswith(text[state] + " · "), (entry, state)
    assert {"open", "closing_soon"} <= states
    count = page.locator("#st-list-count").inner_text()
    assert str(len(expected)) in count
    screenshot(page, f"map-list-view-{lang}.png")

    # a chip narrows the list as it narrows the map
    page.click("#st-list-close")
    page.click('.st-chip[data-amenity="drinking_water"]')
    page.click("#st-list-toggle")
    with_water = [s["id"] for s in expected if "drinking_water" in s["amenities"]]
    page.wait_for_function(f"document.querySelectorAll('{ITEMS}').length === {len(with_water)}")
    ids = page.locator(ITEMS).evaluate_all("els => els.map(e => Number(e.dataset.stationId))")
    assert ids == with_water

    # "show on the map" closes the list and opens that station's popup
    target = page.locator(f"{ITEMS} .st-list-show").nth(1)
    assert with_water[1] and target.get_attribute("aria-label").endswith(
        next(s["name"] for s in expected if s["id"] == with_water[1])
    )
    target.click()
    page.locator(f'.leaflet-popup .st-popup[data-station-id="{with_water[1]}"]').wait_for()
    assert page.locator("#st-list").is_hidden()
    assert_clean(page.watch)


def test_a_province_wide_view_lists_the_nearest_fifty_and_asks_to_zoom_in(page, base_url, conn):
    open_map(page, base_url, urlencode({"at": DAY}))
    page.evaluate("RestStations.state.map.setView([37.5, 112.5], 7, {animate: false})")
    settled(page)
    page.click("#st-list-toggle")
    box = page.evaluate(_BOUNDS)
    inside = [s for s in active_stations(conn) if _in(box, s)]
    assert len(inside) > 50
    assert str(len(inside)) in page.locator("#st-list-count").inner_text()
    assert page.locator(ITEMS).count() == 50
    more = page.locator("#st-list-items .st-list-more").inner_text()
    assert more == f"另有 {len(inside) - 50} 个未列出：请放大地图"
    assert_clean(page.watch)
