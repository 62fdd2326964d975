"""The planner map in a real browser: sign in with a token, move the hour, ask for sites.

Same offline Chromium and served app as the public map's test (``browser.py``). What the
page shows is held to the database: the stations drawn and open at the hour are counted
here with the reference evaluator (``hours_oracle``); the summary must equal the planner
API's answer.
"""

from __future__ import annotations

import datetime as dt
import time

from browser import assert_clean, screenshot
from hours_oracle import answers, open_for

from stations import coverage, hours

DAY = "2025-11-19"  # a Wednesday
DESKTOP = {"width": 1280, "height": 860}


def _sign_in(page, base_url: str, token: str) -> None:
    page.set_viewport_size(DESKTOP)
    page.goto(f"{base_url}/planner?district=140106&date={DAY}", wait_until="load")
    page.fill("#token", token)
    page.click("button[type=submit]")
    # signing in lands on the area and date the page was opened with
    page.wait_for_url(f"{base_url}/planner?district=140106&date={DAY}")
    page.wait_for_function("window.Planner && Planner.state.gapsShown === 12")


def test_planner_signs_in_and_switches_hours_and_sites(page, base_url, tokens_by_role, conn):
    page.goto(f"{base_url}/planner", wait_until="load")
    assert page.locator("#token").is_visible()  # the sign-in form, no data
    _sign_in(page, base_url, tokens_by_role["planner"])

    labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    assert [x.strip() for x in labels] == [
        "区划 Districts",
        "可达性 2SFCA access",
        "需求热力 Demand",
        "覆盖圈 Coverage",
        "缺口 Gaps",
        "需求区 Zones",
        "驿站 Stations",
        "建议选址 Suggested sites",
    ]
    area = coverage.resolve_area(conn, {"district": "140106"})
    layer = coverage.load(conn, area, reach_m=1000)
    noon = dt.datetime(2025, 11, 19, 12, tzinfo=hours.SHANGHAI)
    night = dt.datetime(2025, 11, 19, 3, tzinfo=hours.SHANGHAI)
    oracle = answers(layer.opening_hours, [noon, night])
    open_noon = sum(1 for e in layer.opening_hours if e and open_for(oracle[(e, noon)], noon, 0))
    open_night = sum(1 for e in layer.opening_hours if e and open_for(oracle[(e, night)], night, 0))
    assert page.locator("path.pl-open").count() == open_noon
    assert page.locator("path.pl-open, path.pl-closed").count() == len(layer.opening_hours)
    summary = page.evaluate("Planner.state.summary")
    expected = coverage.payload(coverage.gaps(conn, area, radius_m=1000, at=noon))
    assert summary["stations_counted"] == open_noon
    assert summary["coverage_ratio"] == expected["coverage_ratio"]
    assert len(summary["gaps"]["features"]) == len(expected["gaps"]["features"])
    assert "需求覆盖" in page.inner_text("#pl-summary-body")
    screenshot(page, "planner-noon.png")

    page.evaluate(
        "(() => { const s = document.getElementById('pl-hour'); s.value = 3;"
        " s.dispatchEvent(new Event('input')); })()"
    )
    page.wait_for_function("Planner.state.gapsShown === 3")
    assert page.locator("path.pl-open").count() == open_night < open_noon
    at_night = page.evaluate("Planner.state.summary")
    assert at_night["coverage_ratio"] < summary["coverage_ratio"]
    assert "03:00" in page.inner_text("#pl-summary-body")

    page.fill("#pl-count", "5")
    page.click("#pl-suggest button")
    page.wait_for_function("Planner.state.sites === 5")
    assert page.locator(".pl-site").all_inner_texts() == ["1", "2", "3", "4", "5"]
    all_day = page.evaluate("Planner.state.suggestion")
    # counting only the stations open at 03:00 leaves more demand for new sites to take
    page.check("#pl-at-hour")
    page.evaluate("Planner.state.sites = 0")
    page.click("#pl-suggest button")
    page.wait_for_function("Planner.state.sites === 5")
    at_night = page.evaluate("Planner.state.suggestion")
    assert at_night["demand_covered_before"] < all_day["demand_covered_before"]
    screenshot(page, "planner-night-sites.png")
    assert_clean(page.watch)


def test_a_token_with_no_page_sees_only_the_form(page, base_url, tokens_by_role):
    """An editor's token opens no page (editors use the API): refused at sign-in, no
    session; a union token lands on its own page (test_union_browser)."""
    page.goto(f"{base_url}/planner", wait_until="load")
    page.fill("#token", tokens_by_role["editor"])
    page.click("button[type=submit]")
    page.wait_for_selector(".pl-error")
    assert "没有可用网页的角色" in page.inner_text(".pl-error")
    page.goto(f"{base_url}/planner", wait_until="load")
    assert page.locator("#token").is_visible() and page.locator("#pl-map").count() == 0


def test_the_pages_keep_to_their_content_security_policy(strict_page, base_url, tokens_by_role):
    """With the policy enforced, both maps draw and nothing is refused."""
    page = strict_page
    page.goto(f"{base_url}/map?at=2025-11-19T10:00", wait_until="load")
    page.wait_for_selector(".st-cluster, .st-marker")
    # leave the map settled: a view request still out would be cut off by the next page;
    # the service worker's taking charge asks for the view once more (no wait_for_function
    # here: its string predicate is eval, which the policy forbids; evaluate is not)
    deadline = time.monotonic() + 30
    ready = "window.RestStations && RestStations.state.kept && !RestStations.state.loading"
    while not page.evaluate(ready):
        assert time.monotonic() < deadline, "the map's service worker never took charge"
        page.wait_for_timeout(100)
    page.wait_for_load_state("networkidle")
    page.goto(f"{base_url}/planner", wait_until="load")
    page.set_viewport_size(DESKTOP)
    page.fill("#token", tokens_by_role["planner"])
    page.click("button[type=submit]")
    page.wait_for_selector("path.pl-open")
    page.wait_for_selector("#pl-summary-body:has-text('需求覆盖')")
    assert not [e for e in page.watch.errors if "Content Security Policy" in e]
    assert_clean(page.watch)
