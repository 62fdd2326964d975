"""The union page's edges, through the app: what a typo, an old link or a hostile link
does. Every answer is a page in words (never a 500, never a JSON page), and signing in
only ever lands on this site's own pages."""

from __future__ import annotations

import pytest

CHOSEN = "programme=shanxi-construction&period=2021"


@pytest.fixture
def union(app, tokens_by_role):
    """A browser signed in with a union token (the session cookie)."""
    browser = app.test_client()
    signed = browser.post("/sign-in", data={"token": tokens_by_role["union"]})
    assert signed.status_code == 303 and signed.headers["Location"] == "/union"
    return browser


@pytest.mark.parametrize(
    "query",
    ["page=²", "page=99999999999", "page=-1", "area=zzz", "area=1401", "failing=nope",
     "verdict=maybe", "q=" + "驿" * 500, "frozen=²", "page=1&page=2"],
)  # fmt: skip
def test_odd_links_still_give_the_page(union, query):
    answer = union.get(f"/union?{CHOSEN}&{query}")
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    assert "个站点" in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "words"),
    [("programme=nothing", "没有补助项目 &#39;nothing&#39;；现有："),
     ("programme=shanxi-construction&period=2021年13月", "可写：2021、2021年"),
     ("programme=shanxi-construction&period=2031", "不在其内")],
)  # fmt: skip
def test_mistakes_are_said_on_the_page_in_chinese(union, query, words):
    answer = union.get(f"/union?{query}")
    assert answer.status_code == 400 and answer.mimetype == "text/html"
    text = answer.get_data(as_text=True)
    assert words in text and 'class="un-error"' in text and 'name="period"' in text


def test_the_failing_filter_counts_what_the_api_counts(union, tokens_by_role):
    headers = {"Authorization": f"Bearer {tokens_by_role['union']}"}
    report = union.get(f"/api/v1/subsidy/report?{CHOSEN}", headers=headers)
    assert report.status_code == 200
    stations = report.get_json()["stations"]
    for criterion in ("active", "floor_area", "facilities", "cap"):
        failing = [
            s
            for s in stations
            if any(r["criterion"] == criterion and not r["passed"] for r in s["reasons"])
        ]
        page = union.get(f"/union?{CHOSEN}&failing={criterion}&area=140100")
        assert page.status_code == 200
        in_taiyuan = [s for s in failing if s["district_code"].startswith("1401")]
        assert f"{len(in_taiyuan):,} 个站点" in page.get_data(as_text=True), criterion


def test_a_made_up_frozen_number_shows_no_confirmation(union):
    answer = union.get(f"/union?{CHOSEN}&frozen=987654")
    assert answer.status_code == 200 and "已封存，第" not in answer.get_data(as_text=True)


def test_what_if_inputs_are_checked_and_the_same_value_is_no_change(union):
    same = union.get(f"/union/what-if?{CHOSEN}&criteria.floor_area.threshold=12.0&cap.count=200")
    assert same.status_code == 400 and "请至少修改一项规则" in same.get_data(as_text=True)
    for bad in ("cap.count=2.5", "amount_cny=-1", "criteria.spacing.threshold=inf"):
        refused = union.get(f"/union/what-if?{CHOSEN}&{bad}")
        assert refused.status_code == 400 and 'class="un-error"' in refused.get_data(as_text=True)
    budget = union.get(f"/union/what-if?{CHOSEN}&amount_cny=25000.5")
    assert budget.status_code == 200
    assert 'value="25000.5"' in budget.get_data(as_text=True)  # as typed, never 25000.5000


@pytest.mark.parametrize(
    "next_url",
    ["//evil.example/union", "https://evil.example/union", "/\\evil.example", "/api/v1/stations",
     "javascript:alert(1)"],
)  # fmt: skip
def test_signing_in_lands_only_on_our_own_pages(app, tokens_by_role, next_url):
    browser = app.test_client()
    signed = browser.post("/sign-in", data={"token": tokens_by_role["union"], "next": next_url})
    assert signed.status_code == 303 and signed.headers["Location"] == "/union"


def test_signing_in_from_a_what_if_link_returns_to_it(app, tokens_by_role):
    browser = app.test_client()
    link = f"/union/what-if?{CHOSEN}&cap.count=210"
    form = browser.get(link)
    assert form.status_code == 200 and 'name="token"' in form.get_data(as_text=True)
    assert 'value="/union/what-if?programme=shanxi-construction' in form.get_data(as_text=True)
    signed = browser.post("/sign-in", data={"token": tokens_by_role["union"], "next": link})
    assert signed.status_code == 303 and signed.headers["Location"] == link


def test_another_sites_post_cannot_freeze(union):
    form = {"programme": "shanxi-construction", "period": "2021"}
    cross = union.post("/union/freeze", data=form, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    other = union.post("/union/freeze", data=form, headers={"Origin": "https://evil.example"})
    assert other.status_code == 403
