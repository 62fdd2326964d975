"""What the public map's browser tests share: the registry as they read it, the brute
force they check "nearest" against, and waits on the page's own state.

The brute force is independent of the service: every active station from the database,
geodesic metres from pyproj ``Geod``, open-ness from the reference evaluator
(opening_hours.js, ``hours_oracle``).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

from hours_oracle import answers, open_for
from pyproj import Geod

from geo import datums

WITHIN_M = 50000  # what the page asks the API for (web.pages.NEAREST_WITHIN_M)
_GEOD = Geod(ellps="WGS84")
_ANSWERS: dict = {}


def active_stations(conn) -> list[dict]:
    rows = conn.execute(
        """SELECT id, name, opening_hours, amenities, ST_X(geom), ST_Y(geom)
           FROM stations WHERE status = 'active' ORDER BY id"""
    ).fetchall()
    keys = ("id", "name", "opening_hours", "amenities", "lon", "lat")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def oracle(expr: str, at: str):
    """opening_hours.js's answer for ``expr`` at ``at`` (ISO), asked once per pair."""
    instant = dt.datetime.fromisoformat(at)
    if (expr, instant) not in _ANSWERS:
        _ANSWERS.update(answers([expr], [instant]))
    return _ANSWERS[(expr, instant)]


def open_at(expr: str | None, at: str, minutes: int = 0) -> bool:
    """Open at ``at`` and for ``minutes`` after, by the reference evaluator."""
    return bool(expr) and open_for(oracle(expr, at), dt.datetime.fromisoformat(at), minutes)


def distance_m(position: tuple[float, float], station: dict) -> float:
    return _GEOD.inv(position[1], position[0], station["lon"], station["lat"])[2]


def expected_nearest(
    stations: list[dict],
    position: tuple[float, float],
    at: str,
    *,
    amenities: tuple = (),
    minutes: int = 0,
    count: int = 1,
) -> list[dict]:
    """Brute force: the ``count`` nearest stations with ``amenities``, open for ``minutes``."""
    found = []
    for st in stations:
        if not st["opening_hours"] or not set(amenities) <= set(st["amenities"]):
            continue
        metres = distance_m(position, st)
        if metres <= WITHIN_M and open_at(st["opening_hours"], at, minutes):
            found.append({**st, "distance_m": metres})
    found.sort(key=lambda s: (s["distance_m"], s["id"]))
    return found[:count]


def open_map(page, base_url: str, query: str) -> None:
    page.goto(f"{base_url}/map?{query}", wait_until="load")
    # the service worker takes charge of a first visit moments after it loads, and the
    # page then asks for its view once more (to keep it): waited for here, so that no
    # test meets that request half-way through
    page.wait_for_function("window.RestStations && RestStations.state.kept")
    settled(page)
    # drawn (the clusterer adds markers in chunks), unless the filter leaves none to draw
    page.wait_for_function(
        "document.querySelectorAll('.st-cluster, .st-marker').length > 0"
        " || RestStations.state.cluster.getLayers().length === 0"
    )


def settled(page) -> dict:
    """Wait until the page shows the stations of its current view; that view."""
    page.wait_for_function(
        "window.RestStations && RestStations.state.view && !RestStations.state.loading && "
        "RestStations.state.view.zoom === RestStations.state.map.getZoom()"
    )
    return page.evaluate("RestStations.state.view")


def on_map(page, selector: str) -> bool:
    """Whether the element's centre lies inside the map's box on screen (not under the
    sheet or the bar, not off the edge)."""
    still(page)
    box = page.locator(selector).first.bounding_box()
    area = page.locator(".folium-map").bounding_box()
    assert box is not None and area is not None, selector
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    return (
        area["x"] <= x <= area["x"] + area["width"] and area["y"] <= y <= area["y"] + area["height"]
    )


def still(page) -> None:
    """Wait until nothing on the map glides: no Leaflet zoom or pan animation, no cluster
    animation (a 0.3 s CSS transition on every marker icon), and every marker and popup
    where it was 100 ms before."""
    page.wait_for_function(
        """() => {
            if (document.querySelector('.leaflet-zoom-anim, .leaflet-pan-anim, '
                                       + '.leaflet-cluster-anim')) return false;
            const now = Array.from(
                document.querySelectorAll('.leaflet-marker-icon, .leaflet-popup'),
                e => { const b = e.getBoundingClientRect(); return b.x + ',' + b.y; }
            ).join(';');
            const same = window.stillRects === now;
            window.stillRects = now;
            return same;
        }""",
        polling=100,
    )


def overlap(page, first: str, second: str) -> bool:
    """Whether the two elements' boxes on screen overlap (one hides the other)."""
    still(page)
    a = page.locator(first).first.bounding_box()
    b = page.locator(second).first.bounding_box()
    assert a is not None and b is not None, (first, second)
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def wait_chosen(page, station: dict) -> None:
    """Wait until ``station`` is the chosen one: its marker highlighted, its popup open."""
    chosen = page.locator(".st-highlight [data-station-id]")
    chosen.wait_for()
    assert int(chosen.get_attribute("data-station-id")) == station["id"]
    popup = page.locator(f'.leaflet-popup .st-popup[data-station-id="{station["id"]}"]')
    popup.wait_for()
    assert popup.locator(".st-name").inner_text() == station["name"]


def check_route_links(scope, station: dict, position: tuple[float, float]) -> None:
    """The Amap and Baidu links in ``scope`` ride from ``position`` to ``station``, in each
    app's datum (GCJ-02, BD-09 from geo.datums, which a separate test checks)."""
    amap = parse_qs(urlsplit(scope.locator("a.st-amap").get_attribute("href")).query)
    lon, lat, name = amap["to"][0].split(",", 2)
    gcj = datums.wgs84_to_gcj02(station["lon"], station["lat"])
    assert abs(float(lon) - gcj[0]) < 2e-6 and abs(float(lat) - gcj[1]) < 2e-6
    assert name == station["name"] and amap["mode"] == ["ride"]
    assert amap["coordinate"] == ["gaode"]
    lon, lat, _ = amap["from"][0].split(",", 2)
    here = datums.wgs84_to_gcj02(position[1], position[0])
    assert abs(float(lon) - here[0]) < 2e-6 and abs(float(lat) - here[1]) < 2e-6
    baidu = parse_qs(urlsplit(scope.locator("a.st-baidu").get_attribute("href")).query)
    place, label = baidu["destination"][0].split("|")
    lat, lon = place.removeprefix("latlng:").split(",")
    bd = datums.wgs84_to_bd09(station["lon"], station["lat"])
    assert abs(float(lon) - bd[0]) < 2e-6 and abs(float(lat) - bd[1]) < 2e-6
    assert label == "name:" + station["name"]
    assert baidu["mode"] == ["riding"] and baidu["coord_type"] == ["bd09ll"]
    place = baidu["origin"][0].split("|")[0]
    lat, lon = place.removeprefix("latlng:").split(",")
    here = datums.wgs84_to_bd09(position[1], position[0])
    assert abs(float(lon) - here[0]) < 2e-6 and abs(float(lat) - here[1]) < 2e-6


def empty_spot(page, near: tuple[float, float] = (0.5, 0.5)) -> tuple[float, float]:
    """A point on the map (page pixels) with no marker, badge, popup or button on it,
    the closest to ``near`` (fractions of the map's width and height): where a rider
    taps to say "I am here"."""
    spot = page.evaluate(
        """([fx, fy]) => {
            const box = document.querySelector('.folium-map').getBoundingClientRect();
            const cx = box.left + box.width * fx, cy = box.top + box.height * fy;
            let best = null;
            for (let dy = -box.height / 2; dy <= box.height / 2; dy += 8) {
                for (let dx = -box.width / 2; dx <= box.width / 2; dx += 8) {
                    const x = cx + dx, y = cy + dy;
                    if (x < box.left + 70 || x > box.right - 10 ||
                        y < box.top + 10 || y > box.bottom - 30) continue;
                    // Chromium moves a tap onto a clickable element up to ~40 px away
                    const around = [[0, 0]];
                    for (const r of [20, 44]) {
                        for (const [ox, oy] of [[1, 0], [-1, 0], [0, 1], [0, -1],
                                                [0.7, 0.7], [-0.7, 0.7], [0.7, -0.7],
                                                [-0.7, -0.7]]) around.push([ox * r, oy * r]);
                    }
                    const free = around.every(([ox, oy]) => {
                        const hit = document.elementFromPoint(x + ox, y + oy);
                        return hit && (hit.classList.contains('leaflet-tile') ||
                                       hit.classList.contains('leaflet-container'));
                    });
                    const d2 = dx * dx + dy * dy;
                    if (free && (!best || d2 < best[2])) best = [x, y, d2];
                }
            }
            return best;
        }""",
        list(near),
    )
    assert spot is not None, "no empty spot on the map"
    return spot[0], spot[1]
