"""Subsidy reports judge a past period by the facts of that period, and speak Chinese first.

The facts come from ``station_history`` ordered by when each change took effect
(migration 0009). The reference here replays every station's history in plain Python:
all entries read whole, the last one in force by the period's end chosen by brute force.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random

import pytest

from stations.demo import demo_dir
from stations.subsidy import evaluate, programmes, report
from stations.subsidy.as_of import as_of, start_of
from stations.subsidy.periods import parse_period
from stations.subsidy.programmes import parse

YEAR_2021 = parse_period("2021")
YEAR_2025 = parse_period("2025")
HISTORY = list(csv.DictReader((demo_dir() / "history.csv").read_text("utf-8").splitlines()))
PLANTED = json.loads((demo_dir() / "planted.json").read_text(encoding="utf-8"))


def _took_effect(conn, when: str) -> None:
    """The next edits in this transaction took effect at ``when`` (Beijing time)."""
    conn.execute("SELECT set_config('stations.effective_at', %s, true)", [when + "+08"])


def _by_code(evaluation) -> dict:
    return {v.station["code"]: v for v in evaluation.verdicts}


def _upkeep_verdict(conn, code: str, period=YEAR_2025) -> evaluate.Verdict:
    return _by_code(evaluate.evaluate(conn, programmes.load("taiyuan-upkeep"), period))[code]


def _eligible_taiyuan_station(conn) -> str:
    verdicts = evaluate.evaluate(conn, programmes.load("taiyuan-upkeep"), YEAR_2025).verdicts
    return next(v.station["code"] for v in verdicts if v.eligible and v.amount_cny == 2400)


# --- the demo: stations suspended after 2021 are judged as they were in 2021 ---------------


def test_stations_suspended_after_2021_are_not_failed_for_it(conn):
    result = evaluate.evaluate(conn, programmes.load("shanxi-construction"), YEAR_2021)
    by_code = _by_code(result)
    changed = {row["code"] for row in HISTORY}
    assert len(changed) == 28 and min(row["effective_on"] for row in HISTORY) > "2022"
    for code in changed:
        verdict = by_code[code]
        assert verdict.from_history and verdict.station["status"] == "active"
        active = next(r for r in verdict.reasons if r.criterion == "active")
        assert active.passed, (code, active)
    # nobody fails 在运营 for 2021, and the planted stations are still the only others failing
    assert not [v for v in result.verdicts for r in v.reasons if r.criterion == "active"
                and not r.passed]  # fmt: skip
    planted = {c[0] if isinstance(c, list) else c for codes in PLANTED.values() for c in codes}
    failing = {v.station["code"] for v in result.verdicts for r in v.reasons
               if not r.passed and r.criterion not in ("new_in_period", "cap")}  # fmt: skip
    assert failing == planted
    # today's statuses still decide today's period
    now = evaluate.evaluate(conn, programmes.load("enterprise-built"), parse_period("2026-11"))
    suspended = {row["code"] for row in HISTORY if row["effective_on"] <= "2026-11-01"}
    for code in suspended & set(_by_code(now)):
        active = next(r for r in _by_code(now)[code].reasons if r.criterion == "active")
        assert not active.passed


def test_the_2021_report_says_every_station_was_judged_by_its_history(conn):
    result = evaluate.evaluate(conn, programmes.load("shanxi-construction"), YEAR_2021)
    body = report.payload(result)
    assert body["facts"] == {
        "as_of": "2022-01-01T00:00:00.000000+08:00",
        "from_history": 1713,
        "current": 0,
        "note": "每个站点均按 2021-12-31 24 时的历史记录评定",
    }
    assert body["snapshot_at"].endswith("+08:00")
    assert {s["facts"] for s in body["stations"]} == {"history"}


# --- status during the period: money by the month and by the day ---------------------------


@pytest.mark.parametrize(
    ("status", "when", "months", "last_active"),
    [
        ("suspended", "2026-01-10 09:00", 12, None),  # after the period: every month paid
        ("suspended", "2025-06-15 00:00", 6, "2025-06-14"),  # mid-period: January to June
        ("closed", "2025-06-15 10:00", 6, "2025-06-15"),  # closed during 15 June: up to June
        ("suspended", "2025-06-01 00:00", 5, "2025-05-31"),  # from the 1st: June is not paid
        ("suspended", "2024-12-01 00:00", 0, None),  # all year: not paid, and says why
    ],
)
def test_monthly_money_counts_the_months_active(conn, status, when, months, last_active):
    code = _eligible_taiyuan_station(conn)
    _took_effect(conn, when)
    conn.execute("UPDATE stations SET status = %s WHERE code = %s", [status, code])
    verdict = _upkeep_verdict(conn, code)
    assert verdict.amount_cny == 200 * months
    active = next(r for r in verdict.reasons if r.criterion == "active")
    assert active.passed is (months > 0)
    if months == 0:
        assert active.message.zh.startswith("期间内状态均非运营中"), active.message
    if last_active:
        assert active.actual.zh.startswith(f"2025-01-01 至 {last_active} 运营中"), active.actual


def test_a_station_back_in_service_is_paid_from_the_first_month_it_is_active_on_the_1st(conn):
    code = _eligible_taiyuan_station(conn)
    _took_effect(conn, "2025-03-01 00:00")
    conn.execute("UPDATE stations SET status = 'suspended' WHERE code = %s", [code])
    _took_effect(conn, "2025-08-20 00:00")
    conn.execute("UPDATE stations SET status = 'active' WHERE code = %s", [code])
    verdict = _upkeep_verdict(conn, code)
    assert verdict.spells == (
        (dt.date(2025, 1, 1), dt.date(2025, 2, 28), "active"),
        (dt.date(2025, 3, 1), dt.date(2025, 8, 19), "suspended"),
        (dt.date(2025, 8, 20), dt.date(2025, 12, 31), "active"),
    )
    assert verdict.amount_cny == 200 * (2 + 4)  # Jan, Feb; Sep to Dec


def test_prorated_money_counts_the_days_active(conn):
    code = _eligible_taiyuan_station(conn)
    loaded = programmes.load("taiyuan-upkeep")
    text = (programmes.folder() / "taiyuan-upkeep.toml").read_text(encoding="utf-8")
    prorated = parse(text.replace('accrual = "monthly"', 'accrual = "prorated"').encode(), "p")
    assert prorated.programme.accrual == "prorated" != loaded.programme.accrual
    _took_effect(conn, "2025-06-15 00:00")
    conn.execute("UPDATE stations SET status = 'closed' WHERE code = %s", [code])
    verdict = _by_code(evaluate.evaluate(conn, prorated, parse_period("2025-06")))[code]
    assert verdict.amount_cny == pytest.approx(round(200 * 14 / 30, 2))


# --- what the history cannot tell ---------------------------------------------------------


def test_a_station_with_no_history_by_then_is_judged_as_it_is_and_the_report_says_so(conn):
    conn.execute(
        """INSERT INTO stations (code, name, district_code, district_name, geom, opening_hours,
               amenities, floor_area_m2, host_type, built_by, level, opened_on, status,
               has_sign, has_rules, has_staff)
           VALUES ('ZZ-0001', '后登记驿站', '140105', '小店区',
                   ST_SetSRID(ST_MakePoint(112.9, 37.45), 4326), '24/7',
                   '{drinking_water,food_heating,rest_seating,phone_charging,toilet}', 30,
                   'community', 'union', 'district', '2021-05-01', 'active', true, true, true)"""
    )  # recorded now, with nothing about 2021
    result = evaluate.evaluate(conn, programmes.load("shanxi-construction"), YEAR_2021)
    late = _by_code(result)["ZZ-0001"]
    assert not late.from_history and late.station["name"] == "后登记驿站"
    body = report.payload(result)
    assert body["facts"]["current"] == 1 and body["facts"]["from_history"] == 1713
    assert body["facts"]["note"].startswith("1 个站点在 2021-12-31 24 时前没有历史记录")
    english = report.payload(result, "en")["facts"]["note"]
    assert english.startswith("1 stations have no history by the end of 2021-12-31")
    row = next(s for s in body["stations"] if s["code"] == "ZZ-0001")
    assert row["facts"] == "current"
    lines = list(csv.reader(io.StringIO(report.to_csv(result).decode("utf-8-sig"))))
    assert lines[0][-1] == "评定依据"
    assert next(r for r in lines if r[5] == "ZZ-0001")[-1] == "当前信息（无当期历史）"


def test_a_station_deleted_since_is_still_in_the_period_it_served(conn):
    code = _eligible_taiyuan_station(conn)
    conn.execute("SELECT set_config('stations.actor', 'test', true)")
    conn.execute("DELETE FROM stations WHERE code = %s", [code])
    verdict = _upkeep_verdict(conn, code)  # deleted now: 2025 stands
    assert verdict.eligible and verdict.amount_cny == 2400 and verdict.from_history
    this_month = parse_period(f"{dt.datetime.now(dt.UTC):%Y-%m}")  # it ends after the delete
    now = evaluate.evaluate(conn, programmes.load("taiyuan-upkeep"), this_month)
    assert code not in _by_code(now)


def test_an_edit_after_the_period_leaves_its_report_to_the_byte(conn):
    loaded = programmes.load("shanxi-construction")
    first = report.render(evaluate.evaluate(conn, loaded, YEAR_2021), "csv")
    conn.execute("UPDATE stations SET floor_area_m2 = 5, has_staff = false, status = 'closed' "
                 "WHERE district_code LIKE '1401%'")  # fmt: skip
    again = report.render(evaluate.evaluate(conn, loaded, YEAR_2021), "csv")
    assert again == first


def test_facts_at_the_end_agree_with_replaying_the_whole_history(conn):
    """Random edits at random effective times; each station's facts at a period's end are
    compared with a brute-force replay of its full history."""
    rng = random.Random(7)
    ids = [r[0] for r in conn.execute("SELECT id FROM stations ORDER BY id").fetchall()]
    for _ in range(60):
        when = dt.datetime(2020, 1, 1) + dt.timedelta(minutes=rng.randrange(7 * 365 * 1440))
        _took_effect(conn, when.isoformat(sep=" "))
        pick = rng.sample(ids, 3)
        change = rng.choice(["floor_area_m2 = floor_area_m2 + 1", "status = 'suspended'",
                             "status = 'active'", "has_staff = NOT has_staff"])  # fmt: skip
        conn.execute(f"UPDATE stations SET {change} WHERE id = ANY(%s)", [pick])
    conn.execute("SELECT set_config('stations.actor', 'test', true)")
    gone = rng.sample(ids, 5)
    conn.execute("DELETE FROM stations WHERE id = ANY(%s)", [gone])
    current = evaluate._stations(conn, "140000")[0]
    everything: dict[int, list] = {}
    for row in conn.execute(
        "SELECT station_id, id, coalesce(effective_at, changed_at), after FROM station_history"
    ).fetchall():
        everything.setdefault(row[0], []).append(row)
    for period in (parse_period("2021"), parse_period("2023-06"), parse_period("2026-11")):
        end = start_of(period.end + dt.timedelta(days=1))
        got = {s["id"]: s for s in as_of(conn, current, "14", period).stations}
        expected = {}
        for station_id, rows in everything.items():
            by_then = [r for r in rows if r[2] < end]
            if by_then:
                last = max(by_then, key=lambda r: (r[2], r[1]))
                if last[3] is not None:
                    expected[station_id] = last[3]
        now_ids = {s["id"] for s in current}
        for station_id in now_ids - expected.keys():  # no history by then: as it is now
            expected[station_id] = None
        assert got.keys() == expected.keys(), period
        for station_id, snapshot in expected.items():
            if snapshot is None:
                continue
            s = got[station_id]
            for name in ("status", "has_staff", "code", "district_code"):
                assert s[name] == snapshot[name], (period, station_id, name)
            assert s["floor_area_m2"] == pytest.approx(snapshot["floor_area_m2"])


# --- Chinese first ---------------------------------------------------------------------------


def test_reasons_are_chinese_by_default_and_english_when_asked(conn):
    result = evaluate.evaluate(conn, programmes.load("shanxi-construction"), YEAR_2021)
    zh = {s["code"]: s for s in report.payload(result)["stations"]}
    en = {s["code"]: s for s in report.payload(result, "en")["stations"]}

    def failing(station) -> dict[str, str]:
        return {r["criterion"]: r["message"] for r in station["reasons"] if not r["passed"]}

    assert "缺少卫生间" in failing(zh[PLANTED["no_toilet"][0]])["facilities"]
    assert "no toilet (toilet)" in failing(en[PLANTED["no_toilet"][0]])["facilities"]
    assert failing(zh[PLANTED["missing_hours"][0]])["hours_published"] == "未公布开放时间"
    assert failing(zh[PLANTED["no_sign"][0]])["sign"] == "无统一标识"
    small = failing(zh[PLANTED["small_area"][0]])["floor_area"]
    assert small.startswith("面积 ") and small.endswith(" m² < 12 m²")
    newer, older, metres = PLANTED["too_close"][0]
    assert failing(zh[newer])["spacing"] == (
        f"距已建站点 {older} 仅 {round(metres)} 米（要求 ≥ 300 米）"
    )
    capped = next(s for s in zh.values() if "cap" in failing(s))
    assert failing(capped)["cap"].startswith("未获补助：200 个名额已按顺序分配完")
    not_new = next(s for s in zh.values() if "new_in_period" in failing(s))
    assert "不在 2021-01-01 至 2021-12-31 之间" in failing(not_new)["new_in_period"]
    # no Latin words in a Chinese message but codes, units and numbers
    for station in zh.values():
        for message in failing(station).values():
            words = [w for w in message.replace("m²", "").split() if w.isascii() and w.isalpha()]
            assert not [w for w in words if w.islower()], message
