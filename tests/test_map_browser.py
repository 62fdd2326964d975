"""The public map in a real browser: Debian's headless Chromium, offline, phone-sized.

The app runs under ``stations serve`` (granian) on a free loopback port against the test
database; tiles come from a tiny tile server on loopback too, so the page is exercised
exactly as deployed but with no request leaving 127.0.0.1. Every other request is
aborted and fails the test, as does any failed request or console error.

The expected "nearest open station" is computed here independently: every active station
from the database, geodesic distance with pyproj ``Geod``, open-ness from the reference
evaluator, opening_hours.js (``hours_oracle``).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from browser import PHONE, assert_clean, screenshot
from map_page import (
    active_stations,
    check_route_links,
    expected_nearest,
    on_map,
    open_at,
    open_map,
    overlap,
    settled,
    wait_chosen,
)
from pyproj import Geod

from geo import datums
from web import static_files

# Near Taiyuan's Xiaodian district, on a Monday (a working day) at 10:00 Beijing time.
POSITION = (37.7360, 112.5650)  # lat, lon, WGS-84
AT = "2025-11-24T10:00:00+08:00"
BREAK_MIN = 20  # the page's default break: stations must stay open this long


def _open_at_page_time(expr: str | None) -> bool:
    return open_at(expr, AT)


def expected_nearest_open(
    stations: list[dict], position: tuple[float, float] = POSITION, amenities: tuple = ()
) -> dict:
    """The brute force's nearest station open at ``AT`` for the default break."""
    found = expected_nearest(stations, position, AT, amenities=amenities, minutes=BREAK_MIN)
    assert found
    return found[0]


def _zoom_to(page, lat: float, lon: float, zoom: int) -> dict:
    page.evaluate(
        "([lat, lon, zoom]) => RestStations.state.map.setView([lat, lon], zoom, {animate: false})",
        [lat, lon, zoom],
    )
    return settled(page)


def _in_view(stations: list[dict], view: dict) -> list[dict]:
    x0, y0, x1, y1 = view["bbox"]
    return [s for s in stations if x0 <= s["lon"] <= x1 and y0 <= s["lat"] <= y1]


def _marker_ids(page) -> set[int]:
    return set(page.evaluate("RestStations.state.markers.map(m => m.station.id)"))


def test_map_loads_offline_and_popups_show_stations(page, base_url, conn):
    stations = active_stations(conn)
    open_map(page, base_url, f"at={AT}&lat={POSITION[0]}&lon={POSITION[1]}")

    # zoom 15 at the position, and it stays there (the page's own fit to the stations'
    # extent once ended by moving the map back to the whole province): the view's own
    # stations, one marker each
    page.wait_for_timeout(600)  # longer than Leaflet's zoom animation
    view = settled(page)
    assert view["zoom"] == 15 and page.evaluate("RestStations.state.map.getZoom()") == 15
    in_view = {s["id"] for s in _in_view(stations, view)}
    assert _marker_ids(page) == in_view and in_view and not view["cells"]
    assert page.evaluate("RestStations.state.cluster.getLayers().length") == len(in_view)
    assert page.locator(".st-marker, .st-cluster").count() > 0  # drawn (clustered or not)
    # a city-wide view brings the city's stations, and no more
    view = _zoom_to(page, 37.85, 112.55, 11)
    in_view = {s["id"] for s in _in_view(stations, view)}
    assert _marker_ids(page) == in_view and len(in_view) > 100 and not view["cells"]
    assert len(in_view) < len(stations)
    views = [u for u in page.watch.requests if "/api/v1/map/stations?" in u]
    assert views and all(parse_qs(urlsplit(u).query)["at"] == [AT] for u in views)
    # the other language's link keeps what this link asked for
    other = parse_qs(urlsplit(page.locator("#st-lang").get_attribute("href")).query)
    # the link keeps "+08:00" as the rider's link had it: a query string reads "+" as a
    # space, which the server mends (web.params.instant)
    assert other["lang"] == ["en"] and other["at"][0].replace(" ", "+") == AT
    assert (other["lat"], other["lon"]) == ([str(POSITION[0])], [str(POSITION[1])])
    assert "2025-11-24 10:00" in page.locator("#st-as-of").inner_text()
    asset_urls = [u for u in page.watch.requests if "/static/" in u]
    assert all(static_files.url_path() + "/" in u for u in asset_urls)  # versioned
    assert any(u.endswith("/vendor/leaflet/leaflet.js") for u in asset_urls)
    assert any("/vendor/leaflet.markercluster/" in u for u in asset_urls)
    assert any("/vendor/leaflet.locatecontrol/" in u for u in asset_urls)
    assert any(
        u.startswith("http://127.0.0.1:") and u.endswith(".png") for u in page.watch.requests
    )

    # Tap one station: zoom in / spiderfy until its own marker is on screen, then click it.
    station = next(s for s in stations if s["name"] == "小店区总工会职工服务中心爱心驿站")
    page.evaluate("id => RestStations.reveal(id)", station["id"])
    page.locator(f'[data-station-id="{station["id"]}"]').first.click()
    popup = page.locator(f'.leaflet-popup .st-popup[data-station-id="{station["id"]}"]')
    popup.wait_for()
    assert popup.locator(".st-name").inner_text() == station["name"]
    assert "开放中" in popup.locator(".st-state").inner_text()  # Mo-Su 07:00-22:00
    assert "22:00" in popup.locator(".st-state").inner_text()

    # riding routes from the rider's position (the link's), in each app's datum
    check_route_links(popup, station, POSITION)
    assert_clean(page.watch)


def _beside_a_closed_station(stations: list[dict]) -> tuple[tuple[float, float], dict]:
    """A point 30 m north of a Taiyuan station that is closed at ``AT`` (a night shelter)."""
    dt.datetime.fromisoformat(AT)
    closed = next(
        s
        for s in stations
        if 112.4 < s["lon"] < 112.8
        and 37.7 < s["lat"] < 38.0
        and s["opening_hours"]
        and not _open_at_page_time(s["opening_hours"])
    )
    lon, lat, _ = Geod(ellps="WGS84").fwd(closed["lon"], closed["lat"], 0, 30)
    return (round(lat, 6), round(lon, 6)), closed


@pytest.mark.parametrize("where", ["xiaodian", "beside_closed"])
def test_nearest_open_station_is_highlighted(page, base_url, conn, where):
    stations = active_stations(conn)
    position = POSITION
    if where == "beside_closed":
        position, closed = _beside_a_closed_station(stations)
    open_map(page, base_url, urlencode({"at": AT, "lat": position[0], "lon": position[1]}))

    expected = expected_nearest_open(stations, position)
    if where == "beside_closed":
        assert expected["id"] != closed["id"] and expected["distance_m"] > 30
    page.click("#st-nearest")
    if where == "beside_closed":
        # the open station is ~1.7 km away: at the zoom that shows both, the popup may
        # cover the rider, and then the page shows the rider and leaves the rest to the list
        chosen = page.locator(".st-highlight [data-station-id]")
        chosen.wait_for()
        assert int(chosen.get_attribute("data-station-id")) == expected["id"]
        settled(page)
        assert on_map(page, ".st-highlight") and on_map(page, ".st-position")
        if page.locator(".leaflet-popup").count():
            assert not overlap(page, ".st-position", ".leaflet-popup")
    else:
        wait_chosen(page, expected)
    assert expected["name"] in page.locator("#st-status").inner_text()
    first = page.locator("#st-result-list .st-result").first
    assert int(first.get_attribute("data-station-id")) == expected["id"]

    calls = [u for u in page.watch.requests if "/api/v1/stations/nearest" in u]
    assert len(calls) == 1
    query = parse_qs(urlsplit(calls[0]).query)
    assert dt.datetime.fromisoformat(query["at"][0]) == dt.datetime.fromisoformat(AT)
    assert query["limit"] == ["5"] and query["open_for_min"] == [str(BREAK_MIN)]
    assert (float(query["lat"][0]), float(query["lon"][0])) == position

    if where == "xiaodian":
        screenshot(page, "map.png")
    assert_clean(page.watch)


def test_amenity_filter_hides_markers_and_narrows_nearest(page, base_url, conn):
    stations = active_stations(conn)
    link = f"at={AT}&lat={POSITION[0]}&lon={POSITION[1]}&lang=en&amenities=ebike_charging"
    open_map(page, base_url, link)
    wanted = ("ebike_charging", "parcel_storage")
    assert page.is_checked('#st-filter input[value="ebike_charging"]')  # from the link
    assert not page.is_checked('#st-filter input[value="parcel_storage"]')
    view = _zoom_to(page, 37.85, 112.55, 11)  # Taiyuan
    shown = _in_view(stations, view)

    page.click("#st-filter-toggle")
    for code in wanted:
        page.check(f'#st-filter input[value="{code}"]')
    page.click("#st-filter-done")
    matching = [s for s in shown if set(wanted) <= set(s["amenities"])]
    assert 0 < len(matching) < len(shown)
    assert page.evaluate("RestStations.state.cluster.getLayers().length") == len(matching)
    assert page.locator("#st-count").inner_text() == (
        f"Showing {len(matching)} of {len(shown)} stations"
    )

    expected = expected_nearest_open(stations, POSITION, wanted)
    assert expected["id"] != expected_nearest_open(stations)["id"], "pick rarer amenities"
    page.click("#st-nearest")
    highlighted = page.locator(".st-highlight [data-station-id]")
    highlighted.wait_for()
    assert int(highlighted.get_attribute("data-station-id")) == expected["id"]
    calls = [u for u in page.watch.requests if "/api/v1/stations/nearest" in u]
    assert parse_qs(urlsplit(calls[-1]).query)["amenities"] == [",".join(wanted)]
    popup = page.locator(f'.leaflet-popup .st-popup[data-station-id="{expected["id"]}"]')
    popup.wait_for()
    assert "Open now" in popup.locator(".st-state").inner_text()
    screenshot(page, "map-en-filter.png")
    assert_clean(page.watch)


def test_page_fits_a_phone_screen(page, base_url):
    open_map(page, base_url, f"at={AT}")
    assert page.locator(".st-cluster").count() > 0  # the whole province: clustered
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways on a phone"
    for selector in ("#st-nearest", "#st-filter-toggle", ".leaflet-control-locate a"):
        box = page.locator(selector).first.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 44, selector
        assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"], selector
        assert 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"], selector
    screenshot(page, "map-overview.png")
    assert_clean(page.watch)


def test_locate_me_then_nearest_uses_the_phones_position(page, base_url, conn):
    page.context.grant_permissions(["geolocation"])
    page.context.set_geolocation({"latitude": POSITION[0], "longitude": POSITION[1]})
    open_map(page, base_url, f"at={AT}")
    page.click(".leaflet-control-locate a")
    page.locator(".leaflet-control-locate-location").wait_for()
    page.click("#st-nearest")
    highlighted = page.locator(".st-highlight [data-station-id]")
    highlighted.wait_for()
    expected = expected_nearest_open(active_stations(conn))
    assert int(highlighted.get_attribute("data-station-id")) == expected["id"]
    assert_clean(page.watch)


def test_script_gcj02_agrees_with_geo_datums(page, base_url):
    """The page shifts the phone's position itself on Amap tiles; it must match the server."""
    open_map(page, base_url, f"at={AT}")
    points = [(112.565, 37.736), (116.397, 39.909), (121.47, 31.23), (87.6, 43.8), (2.35, 48.85)]
    shifted = page.evaluate(
        "points => points.map(p => RestStations.wgs84ToGcj02(p[0], p[1]))", points
    )
    for (lon, lat), (js_lon, js_lat) in zip(points, shifted, strict=True):
        py_lon, py_lat = datums.wgs84_to_gcj02(lon, lat)
        assert abs(js_lon - py_lon) < 1e-9 and abs(js_lat - py_lat) < 1e-9


def test_states_refresh_every_minute_unless_the_link_fixes_the_time(page, base_url):
    """Without ``at`` the page asks for its view again each minute ("open now" moves on);
    with ``at`` it never does. The page's clock is run forward, not waited for."""
    page.clock.install()
    open_map(page, base_url, f"lat={POSITION[0]}&lon={POSITION[1]}")

    def views() -> int:
        return sum("/api/v1/map/stations?" in u for u in page.watch.requests)

    before = views()
    page.clock.run_for("01:01")
    page.wait_for_function("!RestStations.state.loading")
    assert views() == before + 1
    page.goto(f"{base_url}/map?at={AT}&lat={POSITION[0]}&lon={POSITION[1]}", wait_until="load")
    settled(page)
    before = views()
    page.clock.run_for("02:01")
    assert views() == before
    assert_clean(page.watch)


def test_on_gcj02_tiles_markers_stand_at_their_amap_positions(page, base_url, conn):
    """A view's geometry is WGS-84 (RFC 7946); on GCJ-02 tiles (Amap) the page draws each
    station at the GCJ-02 position the view gives in ``nav``: geo.datums' conversion of
    the stored point, to the view's 6 decimals."""
    stored = {s["id"]: s for s in active_stations(conn)}
    open_map(page, base_url, f"at={AT}&lat={POSITION[0]}&lon={POSITION[1]}")
    page.evaluate(
        "() => { RestStations.state.config.gcj02 = true; return RestStations.loadView(); }"
    )
    page.wait_for_function("!RestStations.state.loading")
    drawn = page.evaluate(
        """() => Object.values(RestStations.state.byId)
                 .map(m => [m.station.id, m.getLatLng().lng, m.getLatLng().lat])"""
    )
    assert len(drawn) >= 3
    for sid, lng, lat in drawn:
        glon, glat = datums.wgs84_to_gcj02(stored[sid]["lon"], stored[sid]["lat"])
        assert abs(lng - glon) < 2e-6 and abs(lat - glat) < 2e-6, sid
        # and not at the WGS-84 point: the offset is a few hundred metres here
        assert abs(lng - stored[sid]["lon"]) + abs(lat - stored[sid]["lat"]) > 1e-3
    assert_clean(page.watch)
