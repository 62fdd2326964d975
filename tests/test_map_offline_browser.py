"""The public map with a bad signal, in Chromium (offline, 390×844): the server is stopped
half-way through, as a rider's signal drops in a basement car park.

The page's service worker keeps the page, its files and the stations of the views the
rider looked at; with the server gone, "nearest" is answered on the phone. Its list is
checked against the brute force of ``map_page`` (pyproj ``Geod``, opening_hours.js)
over the stations of the views the phone kept, read from the database.
"""

from __future__ import annotations

import http.client
import http.server
import threading
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from browser import QuietServer, assert_clean, phone_page, screenshot
from live_server import serving
from map_page import active_stations, expected_nearest, open_map, settled

SQUARE = (37.8644, 112.5637)  # 五一广场 (lat, lon WGS-84)
NIGHT = "2025-11-25T03:00:00+08:00"
WANTED = ("drinking_water", "ebike_charging")
ITEMS = "#st-result-list .st-result"
BANNER = {"zh": "离线", "en": "Offline"}

# the URLs of the view answers the service worker kept (its "rs-data-<version>" cache)
_KEPT = """async () => {
  const name = (await caches.keys()).find(n => n.startsWith('rs-data-'));
  if (!name) return [];
  return (await (await caches.open(name)).keys()).map(r => r.url);
}"""


def _kept_boxes(page) -> list[tuple[float, ...]]:
    urls = page.evaluate(_KEPT)
    return [tuple(map(float, parse_qs(urlsplit(u).query)["bbox"][0].split(","))) for u in urls]


@pytest.fixture
def phone(database_url, tile_url, tmp_path):
    """A phone page and the server it talks to, which the test may stop."""
    env = {
        "DATABASE_URL": database_url,
        "STATIONS_MAP_TILES": tile_url,
        "STATIONS_MAP_ATTRIBUTION": "test tiles",
    }
    server = serving(env)
    url, _log = server.__enter__()
    pages = phone_page(tile_url, tmp_path, bypass_csp=True)
    page = next(pages)
    stopped = []

    def stop() -> None:
        server.__exit__(None, None, None)
        stopped.append(True)

    try:
        yield page, url, stop
    finally:
        pages.close()
        if not stopped:
            server.__exit__(None, None, None)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_phone_answers_nearest_with_the_server_stopped(phone, conn, lang):
    page, url, stop = phone
    open_map(page, url, urlencode({"at": NIGHT, "lat": SQUARE[0], "lon": SQUARE[1], "lang": lang}))
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    # the rider looks over the city once, as riders do
    page.evaluate("RestStations.state.map.setView([37.85, 112.56], 12, {animate: false})")
    settled(page)
    page.wait_for_function(f"({_KEPT})().then(urls => urls.length >= 2)")
    page.evaluate(
        f"RestStations.state.map.setView([{SQUARE[0]}, {SQUARE[1]}], 15, {{animate: false}})"
    )
    settled(page)
    boxes = _kept_boxes(page)

    stop()  # the signal is gone
    for code in WANTED:
        page.click(f'.st-chip[data-amenity="{code}"]')
    page.click("#st-nearest")
    page.locator(ITEMS).first.wait_for()
    banner = page.locator("#st-offline")
    assert banner.is_visible() and banner.inner_text().startswith(BANNER[lang])

    kept = [
        s
        for s in active_stations(conn)
        if any(x0 <= s["lon"] <= x1 and y0 <= s["lat"] <= y1 for x0, y0, x1, y1 in boxes)
    ]
    expected = expected_nearest(kept, SQUARE, NIGHT, amenities=WANTED, minutes=20, count=5)
    assert expected, "the kept views hold stations with water and e-bike charging"
    listed = page.locator(ITEMS).evaluate_all("els => els.map(e => Number(e.dataset.stationId))")
    assert listed == [s["id"] for s in expected]
    first = page.locator(ITEMS).first
    assert first.locator(".st-result-name").inner_text() == expected[0]["name"]
    assert page.locator(".st-highlight [data-station-id]").count() == 1  # on the map
    screenshot(page, f"map-offline-nearest-{lang}.png")

    # the page itself, opened again with no server: from the phone, stations and all
    page.reload(wait_until="load")
    settled(page)
    page.wait_for_function("document.querySelectorAll('.st-cluster, .st-marker').length > 0")
    assert page.locator("#st-offline").is_visible()
    assert_clean(page.watch)


def test_with_nothing_kept_the_phone_says_what_to_do(phone):
    page, url, stop = phone
    open_map(page, url, urlencode({"at": NIGHT, "lat": SQUARE[0], "lon": SQUARE[1]}))
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.wait_for_function(f"({_KEPT})().then(urls => urls.length >= 1)")
    settled(page)
    # as on a phone that never kept any
    page.evaluate(
        "caches.keys().then(names => Promise.all("
        "names.filter(n => n.startsWith('rs-data-')).map(n => caches.delete(n))))"
    )
    stop()
    page.click("#st-nearest")
    status = page.locator("#st-status")
    page.wait_for_function("document.querySelector('#st-status').textContent.includes('信号')")
    assert "请在有信号时打开一次地图" in status.inner_text()


class _Gateway:
    """A proxy in front of the server, as nginx would stand there: it forwards, or, once
    ``down`` is set, answers 503 for the server, as a proxy does when its backend is gone."""

    def __init__(self, upstream: str):
        host, port = urlsplit(upstream).hostname, urlsplit(upstream).port
        self.down = False
        gateway = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if gateway.down:
                    body = b"<html><body>503 Service Temporarily Unavailable</body></html>"
                    status, headers = 503, [("Content-Type", "text/html")]
                else:
                    conn = http.client.HTTPConnection(host, port, timeout=30)
                    conn.request("GET", self.path, headers=dict(self.headers.items()))
                    answer = conn.getresponse()
                    body, status, headers = answer.read(), answer.status, answer.getheaders()
                    conn.close()
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_proxy_saying_the_server_is_gone_gets_the_phones_answer(phone, conn):
    """Behind a proxy the phone sees 503 pages, not refused connections: it answers all
    the same, and says it is offline."""
    page, url, _stop = phone
    gateway = _Gateway(url)
    try:
        open_map(page, gateway.url, urlencode({"at": NIGHT, "lat": SQUARE[0], "lon": SQUARE[1]}))
        page.evaluate("RestStations.state.map.setView([37.85, 112.56], 12, {animate: false})")
        settled(page)
        page.wait_for_function(f"({_KEPT})().then(urls => urls.length >= 2)")
        boxes = _kept_boxes(page)
        gateway.down = True
        page.click("#st-nearest")
        page.locator(ITEMS).first.wait_for()
        assert page.locator("#st-offline").inner_text().startswith("离线")
        kept = [
            s
            for s in active_stations(conn)
            if any(x0 <= s["lon"] <= x1 and y0 <= s["lat"] <= y1 for x0, y0, x1, y1 in boxes)
        ]
        expected = expected_nearest(kept, SQUARE, NIGHT, minutes=20, count=5)
        listed = page.locator(ITEMS).evaluate_all(
            "els => els.map(e => Number(e.dataset.stationId))"
        )
        assert listed == [s["id"] for s in expected]
    finally:
        gateway.close()
