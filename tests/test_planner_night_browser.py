"""The planner's night view at 1440×900: ranked demand zones, legends for what is drawn,
2SFCA at the hour, and the fewest sites, all held to the planner API's answers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess

from browser import assert_clean, screenshot

from stations import access, coverage, hours, siting, zones

DAY = "2025-11-19"  # a Wednesday
PLANNER_SCREEN = {"width": 1440, "height": 900}
NIGHT = dt.datetime(2025, 11, 19, 22, tzinfo=hours.SHANGHAI)


def _open_planner(page, base_url: str, token: str, district: str = "140100") -> None:
    page.set_viewport_size(PLANNER_SCREEN)
    page.goto(f"{base_url}/planner?district={district}&date={DAY}", wait_until="load")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/planner?district={district}&date={DAY}")
    page.wait_for_function("window.Planner && Planner.state.gapsShown === 12")


def _to_hour(page, hour: int) -> None:
    page.evaluate(
        f"(() => {{ const s = document.getElementById('pl-hour'); s.value = {hour};"
        " s.dispatchEvent(new Event('input')); })()"
    )
    page.wait_for_function(f"Planner.state.gapsShown === {hour}")


def test_the_night_gap_is_a_ranked_list_of_zones(page, base_url, tokens_by_role, conn):
    _open_planner(page, base_url, tokens_by_role["planner"])
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
    _open_planner(page, base_url, tokens_by_role["planner"])
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
    _open_planner(page, base_url, tokens_by_role["planner"], "140106")
    page.click("text=可达性 2SFCA access")
    page.wait_for_function("Planner.state.accessAt === '12:00'")
    labels = page.locator("#pl-legend .pl-key").all_inner_texts()
    assert len(labels) == len(set(labels)) >= 3
    assert_clean(page.watch)


def test_the_fewest_sites_for_95_percent_are_drawn_and_explained(
    page, base_url, tokens_by_role, conn
):
    _open_planner(page, base_url, tokens_by_role["planner"])
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
    _open_planner(page, base_url, tokens_by_role["planner"])
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


def _fewest_and_save(page, target: str, name: str, at_hour: bool) -> dict:
    page.select_option("#pl-target", target)
    if at_hour != page.is_checked("#pl-at-hour"):
        page.click("#pl-at-hour")
    page.evaluate("Planner.state.fewest = null")
    page.click("#pl-fewest")
    page.wait_for_function("Planner.state.fewest !== null")
    page.fill("#pl-plan-name", name)
    page.evaluate("Planner.state.saved = null")
    page.click("#pl-save button")
    page.wait_for_function("Planner.state.saved !== null")
    return page.evaluate("Planner.state.saved")


def test_two_saved_plans_compare_with_a_chart(page, base_url, tokens_by_role):
    _open_planner(page, base_url, tokens_by_role["planner"], "140106")
    _to_hour(page, 22)
    day = _fewest_and_save(page, "0.95", "浏览器 白天 95%", at_hour=False)
    night = _fewest_and_save(page, "0.9", "浏览器 夜间 90%", at_hour=True)
    assert day["source"] == night["source"] == "fewest"
    page.wait_for_function(
        f"Planner.state.plans && Planner.state.plans.some(p => p.id === {night['id']})"
    )
    page.check(f"#pl-plans input[value='{day['id']}']")
    page.check(f"#pl-plans input[value='{night['id']}']")
    page.click("#pl-compare-button")
    page.wait_for_function("Planner.state.comparison !== null")
    result = page.evaluate("Planner.state.comparison")
    names = [p["name"] for p in result["plans"]]
    assert names[0].startswith("不新建") and sorted(names[1:]) == sorted(
        [day["name"], night["name"]]
    )
    assert page.locator("#pl-compare polyline.pl-line").count() == 3
    table = page.inner_text("#pl-compare table")
    for plan in result["plans"]:
        assert f"{round(plan['cost_cny']):,}" in table
    assert "基尼系数" in table and "最低时段覆盖" in table
    # each proposed site: its county, the station it is near and what it newly covers
    page.click("#pl-compare details.pl-plan-sites summary >> nth=0")
    first = result["plans"][1]["sites"][0]
    item = page.locator("#pl-compare details.pl-plan-sites >> nth=0").locator("li").first
    text = item.inner_text()
    assert first["county_name"] in text and first["nearest_station"]["name"] in text
    assert f"全天新覆盖 {round(first['demand_newly_covered']):,} 人" in text
    worst = f"{result['worst_hour']:02d}:00 新覆盖"
    assert f"{worst} {round(first['demand_newly_covered_at_worst_hour']):,} 人" in text
    assert page.is_visible("#pl-compare")
    screenshot(page, "planner-compare.png")
    assert_clean(page.watch)


def test_sites_placed_by_hand_are_saved_as_a_plan(page, base_url, tokens_by_role):
    _open_planner(page, base_url, tokens_by_role["planner"], "140106")
    page.click("#pl-place")
    box = page.locator("#pl-map").bounding_box()
    # three places inside the district: demand points the page carries
    spots = page.evaluate(
        "[0, 40, 80].map(i => { const d = JSON.parse(document.getElementById('pl-data')"
        ".textContent).demand[i]; const p = Planner.map.latLngToContainerPoint([d[0], d[1]]);"
        " return [p.x, p.y]; })"
    )
    for x, y in spots:
        page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_function("Planner.state.placed.length === 3")
    page.locator(".pl-site").nth(2).click()  # a second thought: the third goes
    page.wait_for_function("Planner.state.placed.length === 2")
    assert "手动放置" in page.inner_text("#pl-legend")
    page.fill("#pl-plan-name", "手动 两站")
    page.click("#pl-save button")
    page.wait_for_function("Planner.state.saved !== null")
    saved = page.evaluate("Planner.state.saved")
    assert saved["source"] == "map" and saved["sites_count"] == 2
    assert_clean(page.watch)


def test_the_page_prints_its_map_as_pdf_and_png(page, base_url, tokens_by_role, tmp_path):
    _open_planner(page, base_url, tokens_by_role["planner"], "140106")
    _to_hour(page, 22)
    with page.expect_download(timeout=60_000) as caught:
        page.click("#pl-export button[data-layer=map][data-format=pdf]")
    assert caught.value.suggested_filename == "map_140106_2025-11-19T2200.pdf"
    pdf = tmp_path / "map.pdf"
    caught.value.save_as(pdf)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    assert "迎泽区 户外劳动者驿站覆盖" in text and "22:00" in text
    with page.expect_download(timeout=60_000) as caught:
        page.click("#pl-export button[data-layer=map][data-format=png]")
    png = tmp_path / "map.png"
    caught.value.save_as(png)
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 50_000
    assert_clean(page.watch)
