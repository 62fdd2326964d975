"""The union's subsidy page in Chromium at a desk's 1440×900, as finance staff use it.

Served by ``stations serve``, the content security policy enforced (the page runs no
script). What the page shows is held to the union API's answers for the same programme
and period, fetched over HTTP with the same token; downloads are the API's bytes.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from browser import ARTIFACTS, assert_clean
from live_server import HttpClient
from openpyxl import load_workbook

DESK = {"width": 1440, "height": 900}
CHOSEN = "programme=shanxi-construction&period=2021"
REPORT = f"/api/v1/subsidy/report?{CHOSEN}"


def _union(tokens_by_role) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens_by_role['union']}"}


def _sign_in(page, base_url: str, token: str, path: str) -> None:
    page.set_viewport_size(DESK)
    page.goto(f"{base_url}{path}", wait_until="load")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


def _download(page, link) -> bytes:
    with page.expect_download() as info:
        link.click()
    return Path(info.value.path()).read_bytes()


def test_union_staff_read_totals_filter_stations_and_download(
    strict_page, base_url, tokens_by_role
):
    page = strict_page
    api = HttpClient(base_url)
    answer = api.get(REPORT, headers=_union(tokens_by_role))
    assert answer.status_code == 200
    body = answer.get_json()
    _sign_in(page, base_url, tokens_by_role["union"], f"/union?{CHOSEN}")
    assert page.url == f"{base_url}/union?{CHOSEN}"  # signing in lands on what was asked
    assert "山西省户外劳动者服务站点建设补助" in page.inner_text("h1")
    cards = page.inner_text(".un-cards")
    totals = body["totals"]
    assert f"{totals['amount_cny']:,.2f}" in cards and f"{totals['eligible']} / 200" in cards
    assert body["facts"]["note"] in page.inner_text(".un-note")

    cities = page.locator(".un-totals table").first.locator("tbody tr").all_inner_texts()
    assert len(cities) == len(totals["by_city"]) == 11
    for row, city in zip(cities, totals["by_city"], strict=True):
        cells = row.split("\t")
        assert cells[0] == f"{city['name']} {city['code']}"  # names beside codes
        assert cells[1:] == [str(city["stations"]), str(city["eligible"]),
                             f"{city['amount_cny']:,.2f}"]  # fmt: skip
    page.screenshot(path=str(ARTIFACTS / "union-report.png"))

    # the failing criterion filter: the stations the API says fail the floor area
    page.select_option("select[name=failing]", "floor_area")
    page.click(".un-filters button")
    page.wait_for_load_state("load")
    small = [
        s
        for s in body["stations"]
        if any(r["criterion"] == "floor_area" and not r["passed"] for r in s["reasons"])
    ]
    assert page.inner_text(".un-count").startswith(f"{len(small):,} 个站点")
    shown = page.locator(".un-table tbody tr").all_inner_texts()
    assert len(shown) == min(len(small), 100) and all("面积" in row for row in shown)
    codes = {row.split("\t")[1] for row in shown}
    assert codes <= {s["code"] for s in small}

    # a city: its counties with names, and only its stations
    page.click(".un-totals a:text('太原市')")
    page.wait_for_load_state("load")
    counties = page.locator(".un-totals table").nth(1).locator("tbody tr").all_inner_texts()
    taiyuan = [d for d in totals["by_district"] if d["code"].startswith("1401")]
    assert [c.split("\t")[0] for c in counties] == [f"{d['name']} {d['code']}" for d in taiyuan]
    assert "failing=floor_area" in page.url and "area=140100" in page.url
    page.screenshot(path=str(ARTIFACTS / "union-report-filtered.png"))

    xlsx = _download(page, page.locator(".un-actions a:text('下载 XLSX')"))
    served = api.get(REPORT + "&format=xlsx", headers=_union(tokens_by_role))
    assert served.status_code == 200 and xlsx == served.data
    csv = _download(page, page.locator(".un-actions a:text('下载 CSV')"))
    assert csv.decode("utf-8-sig").startswith("序号,城市代码,城市")
    assert_clean(page.watch)


def test_a_what_if_shows_the_change_and_downloads_as_xlsx(strict_page, base_url, tokens_by_role):
    page = strict_page
    api = HttpClient(base_url)
    _sign_in(page, base_url, tokens_by_role["union"], f"/union?{CHOSEN}")
    page.fill("input[name='criteria.floor_area.threshold']", "10")
    page.fill("input[name='cap.count']", "250")
    page.click(".un-whatif button")
    page.wait_for_load_state("load")
    answer = api.post(
        "/api/v1/subsidy/what-if",
        json={"programme": "shanxi-construction", "period": "2021",
              "overrides": {"criteria.floor_area.threshold": 10, "cap.count": 250}},
        headers=_union(tokens_by_role),
    )  # fmt: skip
    assert answer.status_code == 200
    expected = answer.get_json()
    cards = page.inner_text(".un-cards")
    assert f"{expected['eligible_before']} → {expected['eligible_after']}" in cards
    assert f"{expected['budget_change_cny']:+,.2f}" in cards
    assert 200 < expected["eligible_after"] <= 250  # more places, fewer of them filled
    gained = page.locator("section[aria-label='新增符合'] tbody tr").all_inner_texts()
    assert [r.split("\t")[0] for r in gained] == [e["code"] for e in expected["newly_eligible"]]
    assert any("名额" in r or "面积" in r for r in gained)  # why they were out before
    page.screenshot(path=str(ARTIFACTS / "union-what-if.png"))

    data = _download(page, page.locator(".un-actions a:text('下载 XLSX')"))
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["测算汇总", "新增符合", "不再符合", "金额变化"]
    summary = {r[0]: r[1:] for r in book["测算汇总"].iter_rows(min_row=6, values_only=True) if r[0]}
    assert summary["符合条件的站点数"][:2] == (200, expected["eligible_after"])
    assert summary["补助金额合计（元）"][2] == expected["budget_change_cny"]
    assert summary["调整：名额与预算"][:2] == ("限 200 个名额", "限 250 个名额")
    rows = [r for r in book["新增符合"].iter_rows(min_row=6, values_only=True) if r[0] != "合计"]
    assert [r[5] for r in rows if r[0]] == [e["code"] for e in expected["newly_eligible"]]

    page.fill("input[name='cap.count']", "two hundred")
    page.click(".un-whatif button")
    page.wait_for_load_state("load")
    assert "名额（个）应为大于 0 的数" in page.inner_text(".un-error")  # in words, on the page
    assert_clean_but_the_refusal(page.watch)


def assert_clean_but_the_refusal(watch) -> None:
    """The page's one 400 is the refused what-if itself: the form said why."""
    assert (
        len(watch.failed) == 1 and "/union/what-if" in watch.failed[0] and "400" in watch.failed[0]
    )
    assert watch.errors == ["Failed to load resource: the server responded with a status of 400 "
                            "(Bad Request)"]  # fmt: skip
    watch.failed, watch.errors = [], []
    assert_clean(watch)


def test_freezing_the_paid_list_from_the_page(strict_page, base_url, tokens_by_role):
    page = strict_page
    api = HttpClient(base_url)
    _sign_in(page, base_url, tokens_by_role["union"], f"/union?{CHOSEN}")
    page.click("button:text('封存拨付清单')")
    page.wait_for_load_state("load")
    notice = page.inner_text(".un-done")
    number = int(notice.split("第 ")[1].split(" 号")[0])
    listed = api.get("/api/v1/subsidy/reports", headers=_union(tokens_by_role))
    assert listed.status_code == 200
    record = next(r for r in listed.get_json()["reports"] if r["id"] == number)
    assert record["frozen_by"] == "test union" and record["format"] == "xlsx"
    row = page.locator(".un-frozen tr.un-current")
    assert row.inner_text().startswith(f"{number}\t2021-01-01 至 2021-12-31\t200\t4,000,000.00")
    kept = _download(page, row.locator("a"))
    assert hashlib.sha256(kept).hexdigest() == record["sha256"]
    assert_clean(page.watch)


def test_one_sign_in_lands_each_token_on_its_own_page(strict_page, base_url, tokens_by_role):
    page = strict_page
    _sign_in(page, base_url, tokens_by_role["union"], "/planner?district=140106")
    assert page.url == f"{base_url}/union"  # not a refusal with a cookie that works elsewhere
    page.click(".un-who button")
    page.wait_for_load_state("load")
    assert page.locator("#token").is_visible()
    _sign_in(page, base_url, tokens_by_role["planner"], f"/union?{CHOSEN}")
    assert page.url.startswith(f"{base_url}/planner")
    page.goto(f"{base_url}/union", wait_until="load")
    refusal = page.inner_text(".pl-error")
    assert "没有 union 角色" in refusal and "/planner" in refusal
    page.goto(f"{base_url}/union?programme=nothing", wait_until="load")
    assert page.locator("#token").is_visible()  # still refused: the page checks its role
