"""No script from data: station text written as HTML stays text on the public map.

An editor or an import can give a station any name, address and contact. Served by
``stations serve`` from a database of its own (the markup must not leak into other
tests), the map is opened in Chromium; the station is shown in its popup both as drawn
with the page and as found by "nearest" after the page was drawn (a station added
since), and nothing it carries may run. Every probe sets ``window.__pwned``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser import assert_clean, phone_page
from live_server import serving

from stations import db
from stations.demo import demo_database

PROBE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
NAME = f"驿站{PROBE}"
ADDRESS = f'地址<svg onload="window.__pwned=3">{PROBE}'
CONTACT = f'"><a href="javascript:window.__pwned=4">{PROBE}</a>'


@pytest.fixture(scope="module")
def marked_db(database_url: str) -> Iterator[str]:
    url = demo_database("stations_script_test", database_url)
    with db.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE stations SET name = %s, address = %s, contact = %s, opening_hours = '24/7' "
            "WHERE id = (SELECT min(id) FROM stations WHERE status = 'active')",
            [NAME, ADDRESS, CONTACT],
        )
    return url


def _first(url: str) -> tuple[int, float, float]:
    with db.connect(url) as conn:
        return conn.execute(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM stations WHERE status = 'active' "
            "ORDER BY id LIMIT 1"
        ).fetchone()


def test_station_text_never_runs_as_script(marked_db, tile_url, tmp_path):
    sid, lon, lat = _first(marked_db)
    env = {"DATABASE_URL": marked_db, "STATIONS_MAP_TILES": tile_url}
    env |= {"STATIONS_MAP_ATTRIBUTION": "test tiles", "STATIONS_RATE_LIMIT_PUBLIC": "off"}
    with serving(env) as (base, _log):
        for page in phone_page(tile_url, tmp_path, bypass_csp=True):
            page.goto(f"{base}/map?lat={lat}&lon={lon}", wait_until="load")
            # the view holding the station has loaded (not just any view)
            page.wait_for_function(
                "id => window.RestStations && RestStations.state.view && "
                "!RestStations.state.loading && RestStations.state.byId[id] && "
                "RestStations.state.cluster.hasLayer(RestStations.state.byId[id])",
                arg=sid,
            )
            # drawn with the page: open its popup
            page.evaluate("id => RestStations.reveal(id)", sid)
            page.locator(f'[data-station-id="{sid}"]').first.click()
            page.wait_for_selector(".st-popup")
            popup = page.inner_text(".st-popup")
            assert "<img src=x" in popup and "地址<svg" in popup  # shown as the text it is
            # added after the page was drawn: "nearest" finds it through the API
            with db.connect(marked_db, autocommit=True) as conn:
                conn.execute(
                    """INSERT INTO stations (code, name, address, district_code, district_name,
                           geom, opening_hours, host_type, built_by, level)
                       SELECT 'LATE-1', %s, %s, district_code, district_name,
                              ST_Translate(geom, 0.0002, 0), '24/7', host_type, built_by,
                              level FROM stations WHERE id = %s""",
                    [NAME + "（新）", ADDRESS, sid],
                )
            page.evaluate("RestStations.state.map.closePopup()")
            page.evaluate("RestStations.state.byId = {}")  # as a page drawn before it
            page.click("#st-nearest")
            page.wait_for_function(
                "RestStations.state.highlighted && RestStations.state.highlighted.isPopupOpen()"
            )
            page.wait_for_timeout(300)  # an onerror would have fired by now
            assert page.evaluate("window.__pwned === undefined")
            markup = ".leaflet-popup-content img, .leaflet-popup-content svg"
            assert page.locator(markup).count() == 0
            assert_clean(page.watch)


def test_station_text_never_runs_on_the_planner_map(marked_db, tile_url, tmp_path):
    """The planner's station popups carry the same names; the page escapes them too."""
    from stations import tokens

    sid, lon, lat = _first(marked_db)
    with db.connect(marked_db) as conn:
        token = tokens.create(conn, ["planner"], "script test planner")[1]
        district = conn.execute(
            "SELECT district_code FROM stations WHERE id = %s", [sid]
        ).fetchone()[0]
    env = {"DATABASE_URL": marked_db, "STATIONS_MAP_TILES": tile_url}
    env |= {"STATIONS_MAP_ATTRIBUTION": "test tiles", "STATIONS_RATE_LIMIT_PLANNER": "off"}
    with serving(env) as (base, _log):
        # without the page policy: the escaping alone must hold
        for page in phone_page(tile_url, tmp_path, bypass_csp=True):
            page.set_viewport_size({"width": 1280, "height": 860})
            page.goto(f"{base}/planner?district={district}&date=2025-11-19", wait_until="load")
            page.fill("#token", token)
            page.click("button[type=submit]")
            page.wait_for_function("window.Planner && Planner.state.gapsShown === 12")
            opened = page.evaluate(
                """([lat, lon]) => {
                    let found = null;
                    Planner.overlays["驿站 Stations"].eachLayer(layer => {
                        const at = layer.getLatLng();
                        if (Math.abs(at.lat - lat) < 1e-6 && Math.abs(at.lng - lon) < 1e-6) {
                            found = layer;
                        }
                    });
                    if (found) found.openPopup();
                    return Boolean(found);
                }""",
                [lat, lon],
            )
            assert opened
            popup = page.inner_text(".leaflet-popup-content")
            assert "<img src=x" in popup  # shown as the text it is
            page.wait_for_timeout(300)  # an onerror would have fired by now
            assert page.evaluate("window.__pwned === undefined")
            markup = ".leaflet-popup-content img, .leaflet-popup-content svg"
            assert page.locator(markup).count() == 0
            assert_clean(page.watch)
