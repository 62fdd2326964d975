"""The planner's night view at 1440×900: ranked demand zones, legends for what is drawn,
2SFCA at the hour, and the fewest sites, all held to the planner API's answers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

from browser import assert_clean, screenshot

from stations import access, coverage, hours, siting, zones

DAY = "2025-11-19"  # a Wednesday
PLANNER_SCREEN = {"width": 1440, "height": 900}
NIGHT = dt.datetime(2025, 11, 19, 22, tzinfo=hours.SHANGHAI)


def _open_taiyuan(page, base_url: str, token: str) -> None:
    page.set_viewport_size(PLANNER_SCREEN)
    page.goto(f"{base_url}/planner?district=140100&date={DAY}", wait_until="load")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/planner?district=140100&date={DAY}")
    page.wait_for_function("window.Planner && Planner.state.gapsShown === 12")


def _to_hour(page, hour: int) -> None:
    page.evaluate(
        f"(() => {{ const s = document.getElementById('pl-hour'); s.value = {hour};"
        " s.dispatchEvent(new Event('input')); })()"
    )
    page.wait_for_function(f"Planner.state.gapsShown === {hour}")


def test_the_night_gap_is_a_ranked_list_of_zones(page, base_url, tokens_by_role, conn):
    _open_taiyuan(page, base_url, tokens_by_role["planner"])
    _to_hour(page, 22)
    area = coverage.resolve_area(conn, {"district": "140100"})
    expected = zones.report_payload(coverage.gaps(conn, area, radius_m=1000, at=NIGHT))
    found = expected["zones"]["features"]
    assert page.evaluate("Planner.state.zones") == len(found) >= 50
    items = page.locator("#pl-zones li").all_inner_texts()
    assert len(items) == 8
    for text, zone in zip(items, found, strict=False):
        props = zone["properties"]
        assert f"#{props['rank']} {props['county_name']}" in text
        assert f"{round(props['demand']):,}" in text
        assert props["nearest_station"]["name"] in text
    assert "22:00 未开放" in items[0]  # the nearest station has closed for the night
    # the whole-city gap is cut by county: no shaded piece is larger than its county
    pieces = expected["gaps"]["features"]
    assert len(pieces) >= 10 and all(p["properties"]["county_code"] for p in pieces)
    # clicking a zone takes the map there
    page.click("#pl-zones li:nth-child(2) button")
    page.wait_for_function("Planner.map.getZoom() === 14")
    centre = page.evaluate("[Planner.map.getCenter().lng, Planner.map.getCenter().lat]")
    assert abs(centre[0] - found[1]["properties"]["centre"][0]) < 1e-3
    page.evaluate("Planner.map.fitBounds(Planner.overlays['区划 Districts'].getBounds())")
    screenshot(page, "planner-night-zones.png")
    assert_clean(page.watch)


def test_the_legend_lists_what_is_drawn_and_only_that(page, base_url, tokens_by_role, conn):
    _open_taiyuan(page, base_url, tokens_by_role["planner"])
    shown = page.evaluate("Planner.state.legend")
    assert shown == ["heat", "circles", "gaps", "zones", "stations"]
    legend = page.inner_text("#pl-legend")
    assert "户外劳动者" in legend and "人/点" in legend and "1,000 m" in legend
    assert "无需求的缺口" in legend and "2SFCA" not in legend
    # turning layers off takes their legends away; the 2SFCA layer brings its own, at the hour
    page.click("text=需求热力 Demand")
    page.click("text=可达性 2SFCA access")
    page.wait_for_function("Planner.state.accessAt === '12:00'")
    shown = page.evaluate("Planner.state.legend")
    assert "heat" not in shown and "2SFCA" in shown
    legend = page.inner_text("#pl-legend")
    assert "12:00 开放驿站" in legend
    area = coverage.resolve_area(conn, {"district": "140100"})
    noon = dt.datetime(2025, 11, 19, 12, tzinfo=hours.SHANGHAI)
    scores = access.payload(access.by_district(conn, area, catchment_m=1000, at=noon), 1000)
    drawn = page.evaluate("Planner.state.access")
    assert [f["properties"]["score"] for f in drawn["features"]] == [
        f["properties"]["score"] for f in scores["features"]
    ]
    # class labels never repeat, however few districts there are
    labels = page.locator("#pl-legend .pl-key").all_inner_texts()
    assert len(labels) == len(set(labels))
    _to_hour(page, 22)
    page.wait_for_function("Planner.state.accessAt === '22:00'")
    assert "22:00 开放驿站" in page.inner_text("#pl-legend")
    screenshot(page, "planner-legend-2sfca.png")
    assert_clean(page.watch)


def test_one_district_legend_has_distinct_classes(page, base_url, tokens_by_role):
    page.set_viewport_size(PLANNER_SCREEN)
    page.goto(f"{base_url}/planner?district=140106&date={DAY}", wait_until="load")
    page.fill("#token", tokens_by_role["planner"])
    page.click("button[type=submit]")
    page.wait_for_function("window.Planner && Planner.state.gapsShown === 12")
    page.click("text=可达性 2SFCA access")
    page.wait_for_function("Planner.state.accessAt === '12:00'")
    labels = page.locator("#pl-legend .pl-key").all_inner_texts()
    assert len(labels) == len(set(labels)) >= 3
    assert_clean(page.watch)


def test_the_fewest_sites_for_95_percent_are_drawn_and_explained(
    page, base_url, tokens_by_role, conn
):
    _open_taiyuan(page, base_url, tokens_by_role["planner"])
    page.select_option("#pl-target", "0.95")
    page.click("#pl-fewest")
    page.wait_for_function("Planner.state.fewest !== null")
    answer = page.evaluate("Planner.state.fewest")
    area = coverage.resolve_area(conn, {"district": "140100"})
    domain = siting.fewest_payload(siting.fewest(conn, area, target=0.95))
    assert answer["sites_count"] == domain["sites_count"] == answer["lower_bound"]
    assert page.locator(".pl-site").count() == answer["sites_count"]
    text = page.inner_text("#pl-fewest-result")
    assert f"需新建 {answer['sites_count']} 个站点" in text and "已证明最少" in text
    assert "最少站点方案" in page.inner_text("#pl-legend")
    screenshot(page, "planner-fewest.png")
    assert_clean(page.watch)


def test_the_page_downloads_what_it_shows(page, base_url, tokens_by_role, conn, tmp_path):
    _open_taiyuan(page, base_url, tokens_by_role["planner"])
    _to_hour(page, 22)
    shown = page.evaluate("Planner.state.summary")
    with page.expect_download() as caught:
        page.click("#pl-export button[data-layer=zones][data-format=csv]")
    assert caught.value.suggested_filename == "zones_140100_2025-11-19T2200.csv"
    path = tmp_path / "zones.csv"
    caught.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert len(rows) == len(shown["zones"]["features"])
    assert rows[0]["县区"] == shown["zones"]["features"][0]["properties"]["county_name"]
    with page.expect_download() as caught:
        page.click("#pl-export button[data-layer=gaps][data-format=geojson]")
    caught.value.save_as(tmp_path / "gaps.geojson")
    pieces = json.loads((tmp_path / "gaps.geojson").read_text(encoding="utf-8"))
    assert len(pieces["features"]) == len(shown["gaps"]["features"])
    area = coverage.resolve_area(conn, {"geometry": pieces["features"][0]["geometry"]})
    assert area.geometry.area > 0
    assert page.is_disabled("#pl-export button[data-layer=sites][data-format=csv]")
    page.click("#pl-fewest")
    page.wait_for_function("Planner.state.fewest !== null")
    with page.expect_download() as caught:
        page.click("#pl-export button[data-layer=sites][data-format=geojson]")
    caught.value.save_as(tmp_path / "sites.geojson")
    sites = json.loads((tmp_path / "sites.geojson").read_text(encoding="utf-8"))
    assert len(siting.candidates_from_geojson(sites)) == page.evaluate(
        "Planner.state.fewest.sites_count"
    )
    assert page.evaluate("Planner.state.downloads") == 3
    assert_clean(page.watch)
