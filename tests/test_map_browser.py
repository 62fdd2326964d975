"""The public map in a real browser: Debian's headless Chromium, offline, phone-sized.

The app runs under ``stations serve`` (gunicorn) on a free loopback port against the test
database; tiles come from a tiny tile server on loopback too, so the page is exercised
exactly as deployed but with no request leaving 127.0.0.1. Every other request is
aborted and fails the test, as does any failed request or console error.

The expected "nearest open station" is computed here independently: every active station
from the database, geodesic distance with pyproj ``Geod``, open-ness with
``stations.hours.is_open``.
"""

from __future__ import annotations

import datetime as dt
import http.server
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from live_server import serving
from playwright import sync_api as playwright_api
from pyproj import Geod

from geo import datums
from stations import hours

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
# Near Taiyuan's Xiaodian district, on a Monday (a working day) at 10:00 Beijing time.
POSITION = (37.7360, 112.5650)  # lat, lon, WGS-84
AT = "2025-11-24T10:00:00+08:00"
WITHIN_M = 50000  # what the page asks the API for (web.pages.NEAREST_WITHIN_M)
PHONE = {"width": 390, "height": 844}


def _tile_png() -> bytes:
    """A 256 px light-grey tile with a darker border, so the grid shows in screenshots."""
    size = 256
    edge_row = b"\x00" + b"\xc8" * size  # filter byte, then grey values
    inner_row = b"\x00\xc8" + b"\xec" * (size - 2) + b"\xc8"
    raw = zlib.compress(edge_row + inner_row * (size - 2) + edge_row)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def tile_url() -> Iterator[str]:
    """A loopback tile server answering every tile with the same PNG."""
    png = _tile_png()

    class Tiles(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address) -> None:
            pass  # the browser hung up on a tile it no longer needs

    server = Server(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/{{z}}/{{x}}/{{y}}.png"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def base_url(database_url: str, tile_url: str) -> Iterator[str]:
    """``stations serve`` on a free loopback port, against the test database."""
    env = {
        "DATABASE_URL": database_url,
        "STATIONS_MAP_TILES": tile_url,
        "STATIONS_MAP_ATTRIBUTION": "test tiles",
    }
    with serving(env) as (url, _log):
        yield url


class Watch:
    """Everything the page asked for, and everything that went wrong."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []

    def request_failed(self, request, tile_url: str) -> None:
        """Record a failed request; Leaflet cancelling a tile on zoom is not a failure."""
        tile_server = tile_url.split("/{z}")[0]
        if request.url.startswith(tile_server) and request.failure == "net::ERR_ABORTED":
            return
        self.failed.append(f"{request.url}: {request.failure}")


@pytest.fixture
def page(base_url: str, tile_url: str, tmp_path: Path):
    """A phone-sized page in a fresh Chromium profile; only 127.0.0.1 is reachable."""
    # Fail, never skip: a missing browser must not pass CI unnoticed.
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} missing: apt-get install chromium"
    watch = Watch()
    with playwright_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            viewport=PHONE,
            device_scale_factor=1,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
        )

        def route(route_, request) -> None:
            if urlsplit(request.url).hostname == "127.0.0.1":
                route_.continue_()
            else:
                watch.blocked.append(request.url)
                route_.abort()

        context.route("**/*", route)
        page_ = context.pages[0] if context.pages else context.new_page()
        page_.on("request", lambda r: watch.requests.append(r.url))
        page_.on("requestfailed", lambda r: watch.request_failed(r, tile_url))
        page_.on(
            "response",
            lambda r: r.status >= 400 and watch.failed.append(f"{r.url}: HTTP {r.status}"),
        )
        page_.on("console", lambda m: m.type == "error" and watch.errors.append(m.text))
        page_.on("pageerror", lambda e: watch.errors.append(str(e)))
        page_.watch = watch
        try:
            yield page_
        finally:
            context.close()


def _active_stations(conn) -> list[dict]:
    rows = conn.execute(
        """SELECT id, name, opening_hours, amenities, ST_X(geom), ST_Y(geom)
           FROM stations WHERE status = 'active' ORDER BY id"""
    ).fetchall()
    keys = ("id", "name", "opening_hours", "amenities", "lon", "lat")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def expected_nearest_open(
    stations: list[dict], position: tuple[float, float] = POSITION, amenities: tuple = ()
) -> dict:
    """Brute force: every station, geodesic metres, the registry's opening-hours rules."""
    at = dt.datetime.fromisoformat(AT)
    geod = Geod(ellps="WGS84")
    best = None
    for st in stations:
        if not st["opening_hours"] or not set(amenities) <= set(st["amenities"]):
            continue
        _, _, distance_m = geod.inv(position[1], position[0], st["lon"], st["lat"])
        if distance_m > WITHIN_M or not hours.is_open(st["opening_hours"], at):
            continue
        if best is None or (distance_m, st["id"]) < (best["distance_m"], best["id"]):
            best = {**st, "distance_m": distance_m}
    assert best is not None
    return best


def _open_map(page, base_url: str, query: str) -> None:
    page.goto(f"{base_url}/map?{query}", wait_until="load")
    page.wait_for_function(
        "window.RestStations && RestStations.state.markers.length > 0 && "
        "document.querySelectorAll('.st-cluster, .st-marker').length > 0"
    )


def _screenshot(page, name: str) -> None:
    """Save a phone-sized screenshot once the map has stopped moving (popup auto-pan)."""
    page.wait_for_function("!document.querySelector('.leaflet-zoom-anim, .leaflet-pan-anim')")
    page.wait_for_timeout(400)  # Leaflet's pan animation is 0.25 s and leaves no class
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def _assert_clean(watch: Watch) -> None:
    assert not watch.blocked, f"requests to outside 127.0.0.1: {watch.blocked[:5]}"
    assert not watch.failed, f"failed requests: {watch.failed[:5]}"
    assert not watch.errors, f"console errors: {watch.errors[:5]}"


def test_map_loads_offline_and_popups_show_stations(page, base_url, conn):
    stations = _active_stations(conn)
    _open_map(page, base_url, f"at={AT}&lat={POSITION[0]}&lon={POSITION[1]}")

    assert page.evaluate("RestStations.state.markers.length") == len(stations)
    assert page.evaluate("RestStations.state.cluster.getLayers().length") == len(stations)
    assert page.locator(".st-marker").count() > 0  # zoom 15 at the position: own markers
    asset_urls = [u for u in page.watch.requests if "/static/" in u]
    assert any(u.endswith("/static/vendor/leaflet/leaflet.js") for u in asset_urls)
    assert any("/static/vendor/leaflet.markercluster/" in u for u in asset_urls)
    assert any("/static/vendor/leaflet.locatecontrol/" in u for u in asset_urls)
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

    amap = parse_qs(urlsplit(popup.locator("a.st-amap").get_attribute("href")).query)
    gcj = datums.wgs84_to_gcj02(station["lon"], station["lat"])
    lon, lat = (float(v) for v in amap["position"][0].split(","))
    assert abs(lon - gcj[0]) < 1e-6 and abs(lat - gcj[1]) < 1e-6
    assert amap["coordinate"] == ["gaode"] and amap["name"] == [station["name"]]
    baidu = parse_qs(urlsplit(popup.locator("a.st-baidu").get_attribute("href")).query)
    bd = datums.wgs84_to_bd09(station["lon"], station["lat"])
    lat, lon = (float(v) for v in baidu["location"][0].split(","))
    assert abs(lon - bd[0]) < 1e-6 and abs(lat - bd[1]) < 1e-6
    assert baidu["coord_type"] == ["bd09ll"]
    _assert_clean(page.watch)


def _beside_a_closed_station(stations: list[dict]) -> tuple[tuple[float, float], dict]:
    """A point 30 m north of a Taiyuan station that is closed at ``AT`` (a night shelter)."""
    at = dt.datetime.fromisoformat(AT)
    closed = next(
        s
        for s in stations
        if 112.4 < s["lon"] < 112.8
        and 37.7 < s["lat"] < 38.0
        and s["opening_hours"]
        and not hours.is_open(s["opening_hours"], at)
    )
    lon, lat, _ = Geod(ellps="WGS84").fwd(closed["lon"], closed["lat"], 0, 30)
    return (round(lat, 6), round(lon, 6)), closed


@pytest.mark.parametrize("where", ["xiaodian", "beside_closed"])
def test_nearest_open_station_is_highlighted(page, base_url, conn, where):
    stations = _active_stations(conn)
    position = POSITION
    if where == "beside_closed":
        position, closed = _beside_a_closed_station(stations)
    _open_map(page, base_url, urlencode({"at": AT, "lat": position[0], "lon": position[1]}))

    expected = expected_nearest_open(stations, position)
    if where == "beside_closed":
        assert expected["id"] != closed["id"] and expected["distance_m"] > 30
    page.click("#st-nearest")
    highlighted = page.locator(".st-highlight [data-station-id]")
    highlighted.wait_for()
    assert int(highlighted.get_attribute("data-station-id")) == expected["id"]
    popup = page.locator(f'.leaflet-popup .st-popup[data-station-id="{expected["id"]}"]')
    popup.wait_for()
    assert popup.locator(".st-name").inner_text() == expected["name"]
    assert expected["name"] in page.locator("#st-status").inner_text()

    calls = [u for u in page.watch.requests if "/api/v1/stations/nearest" in u]
    assert len(calls) == 1
    query = parse_qs(urlsplit(calls[0]).query)
    assert dt.datetime.fromisoformat(query["at"][0]) == dt.datetime.fromisoformat(AT)
    assert query["limit"] == ["1"]
    assert (float(query["lat"][0]), float(query["lon"][0])) == position

    if where == "xiaodian":
        _screenshot(page, "map.png")
    _assert_clean(page.watch)


def test_amenity_filter_hides_markers_and_narrows_nearest(page, base_url, conn):
    stations = _active_stations(conn)
    _open_map(page, base_url, f"at={AT}&lat={POSITION[0]}&lon={POSITION[1]}&lang=en")
    wanted = ("ebike_charging", "parcel_storage")

    page.click("#st-filter-toggle")
    for code in wanted:
        page.check(f'#st-filter input[value="{code}"]')
    page.click("#st-filter-done")
    matching = [s for s in stations if set(wanted) <= set(s["amenities"])]
    assert 0 < len(matching) < len(stations)
    assert page.evaluate("RestStations.state.cluster.getLayers().length") == len(matching)
    assert page.locator("#st-count").inner_text() == (
        f"Showing {len(matching)} of {len(stations)} stations"
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
    _screenshot(page, "map-en-filter.png")
    _assert_clean(page.watch)


def test_page_fits_a_phone_screen(page, base_url):
    _open_map(page, base_url, f"at={AT}")
    assert page.locator(".st-cluster").count() > 0  # the whole province: clustered
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways on a phone"
    for selector in ("#st-nearest", "#st-filter-toggle", ".leaflet-control-locate a"):
        box = page.locator(selector).first.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 44, selector
        assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"], selector
        assert 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"], selector
    _screenshot(page, "map-overview.png")
    _assert_clean(page.watch)


def test_locate_me_then_nearest_uses_the_phones_position(page, base_url, conn):
    page.context.grant_permissions(["geolocation"])
    page.context.set_geolocation({"latitude": POSITION[0], "longitude": POSITION[1]})
    _open_map(page, base_url, f"at={AT}")
    page.click(".leaflet-control-locate a")
    page.locator(".leaflet-control-locate-location").wait_for()
    page.click("#st-nearest")
    highlighted = page.locator(".st-highlight [data-station-id]")
    highlighted.wait_for()
    expected = expected_nearest_open(_active_stations(conn))
    assert int(highlighted.get_attribute("data-station-id")) == expected["id"]
    _assert_clean(page.watch)


def test_script_gcj02_agrees_with_geo_datums(page, base_url):
    """The page shifts the phone's position itself on Amap tiles; it must match the server."""
    _open_map(page, base_url, f"at={AT}")
    points = [(112.565, 37.736), (116.397, 39.909), (121.47, 31.23), (87.6, 43.8), (2.35, 48.85)]
    shifted = page.evaluate(
        "points => points.map(p => RestStations.wgs84ToGcj02(p[0], p[1]))", points
    )
    for (lon, lat), (js_lon, js_lat) in zip(points, shifted, strict=True):
        py_lon, py_lat = datums.wgs84_to_gcj02(lon, lat)
        assert abs(js_lon - py_lon) < 1e-9 and abs(js_lat - py_lat) < 1e-9
