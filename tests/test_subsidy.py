"""Subsidy programmes: files, criteria at their thresholds, money, caps, what-if, audit."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pyproj import Geod

from stations.demo import demo_dir
from stations.errors import InvalidParameter
from stations.subsidy import evaluate, programmes, report
from stations.subsidy.evaluate import Verdict
from stations.subsidy.periods import parse_period
from stations.subsidy.programmes import InvalidProgramme, parse

YEAR_2021 = parse_period("2021")

BASE = """
id = "test-programme"
name = "测试补助"
region = "140000"
amount_cny = 1000
accrual = "once"
period = { start = 2021-01-01, end = 2021-12-31 }
"""


def _programme(criteria: str, head: str = BASE) -> programmes.Loaded:
    return parse((head + criteria).encode(), "test.toml")


def _station(**values) -> dict:
    station = {
        "id": 1, "code": "T-1", "name": "测试", "district_code": "140105",
        "district_name": "小店区", "lon": 112.56, "lat": 37.74,
        "opening_hours": "24/7", "amenities": ["drinking_water", "toilet"],
        "floor_area_m2": 12.0, "built_by": "union", "host_type": "community",
        "status": "active", "opened_on": dt.date(2021, 6, 1),
        "has_sign": True, "has_rules": True, "has_staff": True,
    }  # fmt: skip
    return {**station, **values}


def _check(criterion_toml: str, **station) -> evaluate.Reason:
    loaded = _programme(criterion_toml)
    return evaluate._check(loaded.programme.criteria[0], _station(**station), YEAR_2021)


# --- each criterion passing and failing at its threshold ----------------------------------


@pytest.mark.parametrize(
    ("area", "passed"), [(12.0, True), (11.9, False), (40.0, True), (None, False)]
)
def test_floor_area_at_its_threshold(area, passed):
    reason = _check(
        '[[criteria]]\nid = "area"\nkind = "min_floor_area_m2"\nlabel = "面积"\n'
        "threshold = [{ from = 2019-01-01, value = 12 }]\n",
        floor_area_m2=area,
    )
    assert reason.passed is passed and reason.required.en == "≥ 12 m²"
    if area == 11.9:
        assert reason.message.en == "floor area 11.9 m² < 12 m²"


def test_a_dated_threshold_applies_from_its_date():
    loaded = _programme(
        '[[criteria]]\nid = "area"\nkind = "min_floor_area_m2"\nlabel = "面积"\n'
        "threshold = [{ from = 2019-01-01, value = 12 }, { from = 2021-07-01, value = 15 }]\n"
    )
    criterion = loaded.programme.criteria[0]
    assert criterion.value_on(dt.date(2021, 6, 30)) == 12
    assert criterion.value_on(dt.date(2021, 7, 1)) == 15
    first_half = parse_period("2021-01..2021-06")
    assert evaluate._check(criterion, _station(floor_area_m2=13), first_half).passed
    assert not evaluate._check(criterion, _station(floor_area_m2=13), YEAR_2021).passed


@pytest.mark.parametrize(
    ("amenities", "passed", "message"),
    [
        (["drinking_water", "food_heating", "toilet"], True, ""),
        (["drinking_water", "toilet"], False, "no food heating (microwave) (food_heating)"),
        (
            [],
            False,
            "no drinking water (drinking_water); no food heating (microwave) (food_heating)",
        ),
    ],
)
def test_required_amenities(amenities, passed, message):
    reason = _check(
        '[[criteria]]\nid = "kit"\nkind = "amenities_all"\nlabel = "设施"\n'
        'threshold = ["drinking_water", "food_heating"]\n',
        amenities=amenities,
    )
    assert reason.passed is passed and reason.message.en == message


@pytest.mark.parametrize(("value", "passed"), [(True, True), (False, False), (None, False)])
def test_facts(value, passed):
    reason = _check(
        '[[criteria]]\nid = "sign"\nkind = "fact_true"\nlabel = "标识"\nthreshold = "has_sign"\n',
        has_sign=value,
    )
    assert reason.passed is passed
    assert (reason.message.en == "") is passed


@pytest.mark.parametrize(
    ("opened", "passed"),
    [
        (dt.date(2021, 1, 1), True),
        (dt.date(2021, 12, 31), True),
        (dt.date(2020, 12, 31), False),
        (dt.date(2022, 1, 1), False),
        (None, False),
    ],
)
def test_opened_in_period_includes_both_ends(opened, passed):
    reason = _check(
        '[[criteria]]\nid = "new"\nkind = "opened_in_period"\nlabel = "新建"\n', opened_on=opened
    )
    assert reason.passed is passed


@pytest.mark.parametrize(
    ("kind", "column", "good", "bad"),
    [
        ("status_in", "status", "active", "suspended"),
        ("built_by_in", "built_by", "enterprise", "union"),
        ("host_type_in", "host_type", "community", "other"),
    ],
)
def test_vocabulary_criteria(kind, column, good, bad):
    criterion = f'[[criteria]]\nid = "c"\nkind = "{kind}"\nlabel = "x"\nthreshold = ["{good}"]\n'
    assert _check(criterion, **{column: good}).passed
    failed = _check(criterion, **{column: bad})
    assert not failed.passed and bad in failed.message.en


@pytest.mark.parametrize(
    ("hours", "passed"), [("Mo-Fr 08:00-18:00", True), (None, False), ("", False)]
)
def test_hours_published(hours, passed):
    reason = _check(
        '[[criteria]]\nid = "h"\nkind = "hours_published"\nlabel = "上图"\n', opening_hours=hours
    )
    assert reason.passed is passed and (passed or reason.message.en == "hours not published")


# --- money -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accrual", "opened", "period", "amount"),
    [
        ("once", dt.date(2021, 6, 15), "2021", 1000.0),
        ("monthly", dt.date(2020, 5, 1), "2021", 12_000.0),
        ("monthly", dt.date(2021, 3, 1), "2021", 10_000.0),  # March counts: open on the 1st
        ("monthly", dt.date(2021, 3, 2), "2021", 9_000.0),  # March does not
        ("monthly", dt.date(2022, 1, 1), "2021", 0.0),
        ("prorated", dt.date(2021, 3, 1), "2021-03", 1000.0),
        ("prorated", dt.date(2021, 3, 17), "2021-03", 483.87),  # 15 of 31 days
        ("prorated", dt.date(2021, 2, 15), "2021-01..2021-03", 1500.0),  # 14/28 + March
        ("prorated", dt.date(2024, 2, 15), "2024-02", 517.24),  # leap year: 15 of 29 days
    ],
)
def test_accrual_and_proration(accrual, opened, period, amount):
    loaded = _programme(
        '[[criteria]]\nid = "active"\nkind = "status_in"\nlabel = "运营"\nthreshold = ["active"]\n',
        head=BASE.replace('"once"', f'"{accrual}"').replace("2021-12-31", "2030-12-31"),
    )
    span = parse_period(period)
    verdict = Verdict(_station(opened_on=opened), ((span.start, span.end, "active"),))
    got = evaluate._accrued(accrual, loaded.programme.amount_cny, verdict, span)
    assert got == pytest.approx(amount, abs=0.01)
    if accrual != "once":
        months = verdict.reasons[-1]
        assert months.criterion == "months" and months.passed is (amount > 0)


# --- programme files -------------------------------------------------------------------------


OK_CRITERION = '[[criteria]]\nid = "h"\nkind = "hours_published"\nlabel = "上图"\n'


def _criterion(kind: str, threshold: str) -> str:
    return f'[[criteria]]\nid = "a"\nkind = "{kind}"\nlabel = "x"\nthreshold = {threshold}\n'


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (BASE + "bogus = 1\n" + OK_CRITERION, "bogus: unknown key"),
        (BASE.replace("1000", "-5") + OK_CRITERION, "amount_cny: Input should be greater than 0"),
        (BASE.replace('"once"', '"weekly"') + OK_CRITERION, "accrual: Input should be 'once'"),
        (BASE, "criteria: Field required"),
        (
            BASE + _criterion("fact_true", '"has_wings"'),
            "criteria.a: threshold must be one of has_sign, has_rules, has_staff",
        ),
        (BASE + _criterion("amenities_all", '["sauna"]'), "criteria.a: unknown amenities: sauna"),
        (
            BASE
            + _criterion(
                "min_floor_area_m2",
                "[{ from = 2021-01-01, value = 12 }, { from = 2020-01-01, value = 9 }]",
            ),
            "criteria.a: dated thresholds must be in date order",
        ),
        (BASE + _criterion("min_floor_area_m2", "0"), "criteria.a: threshold must be a number"),
        (BASE + _criterion("min_spacing_m", "1e9"), "criteria.a: threshold must be at most"),
        (BASE.replace("1000", "inf") + OK_CRITERION, "amount_cny: Input should be a finite"),
        (BASE.replace("2021-12-31", "9999-12-31") + OK_CRITERION, "period: dates must be"),
        (BASE + OK_CRITERION + "colour = 1\n", "criteria.h.colour: unknown key"),
        (BASE + OK_CRITERION + OK_CRITERION, "criteria: criterion ids must be unique"),
        (BASE + '[cap]\norder = ["luck desc"]\n' + OK_CRITERION, "cap.order: 'luck desc'"),
        (BASE + "[[criteria\n", "not valid TOML"),
    ],
)
def test_bad_programme_files_name_file_key_and_problem(text, problem):
    with pytest.raises(InvalidProgramme) as raised:
        parse(text.encode(), "test.toml")
    assert raised.value.message.startswith("test.toml: ") and problem in raised.value.message


def test_shipped_programmes_load_and_hash_their_bytes():
    found = {p.programme.id: p for p in programmes.load_all()}
    assert set(found) == {"shanxi-construction", "taiyuan-upkeep", "enterprise-built"}
    for loaded in found.values():
        data = (programmes.folder() / loaded.source).read_bytes()
        import hashlib

        assert loaded.sha256 == hashlib.sha256(data).hexdigest()


# --- the demo data -------------------------------------------------------------------------------


PLANTED = json.loads((demo_dir() / "planted.json").read_text(encoding="utf-8"))
EXPECTED_REASON = {
    "missing_hours": ("hours_published", "hours not published"),
    "small_area": ("floor_area", "floor area"),
    "no_toilet": ("facilities", "no toilet (toilet)"),
    "no_food_heating": ("facilities", "(food_heating)"),
    "no_sign": ("sign", "no unified sign"),
    "no_staff": ("staff", "no staff"),
}


@pytest.fixture
def construction(conn):
    return evaluate.evaluate(conn, programmes.load("shanxi-construction"), YEAR_2021)


@pytest.mark.parametrize("kind", sorted(EXPECTED_REASON))
def test_the_report_finds_every_planted_substandard_station(construction, kind):
    by_code = {v.station["code"]: v for v in construction.verdicts}
    criterion, text = EXPECTED_REASON[kind]
    for code in PLANTED[kind]:
        verdict = by_code[code]
        assert not verdict.eligible and verdict.amount_cny == 0
        failing = {r.criterion: r.message.en for r in verdict.reasons if not r.passed}
        assert text in failing.get(criterion, ""), (code, failing)


def test_planted_neighbours_fail_spacing_at_their_geodesic_distance(construction):
    by_code = {v.station["code"]: v for v in construction.verdicts}
    geod = Geod(ellps="WGS84")
    for newer, older, planted_m in PLANTED["too_close"]:
        a, b = by_code[newer].station, by_code[older].station
        _, _, metres = geod.inv(a["lon"], a["lat"], b["lon"], b["lat"])
        assert metres == pytest.approx(planted_m, abs=0.1)
        spacing = next(r for r in by_code[newer].reasons if r.criterion == "spacing")
        assert not spacing.passed and spacing.actual.en == f"{metres:.0f} m from {older}"
        assert not by_code[newer].eligible


def test_no_two_subsidised_stations_are_closer_than_the_spacing(construction):
    geod = Geod(ellps="WGS84")
    funded = [v.station for v in construction.verdicts if v.eligible]
    existing = [
        v.station
        for v in construction.verdicts
        if v.station["status"] == "active" and v.station["opened_on"] < dt.date(2021, 1, 1)
    ]
    for i, s in enumerate(funded):  # brute force over every pair
        for t in funded[i + 1 :] + existing:
            assert geod.inv(s["lon"], s["lat"], t["lon"], t["lat"])[2] >= 300


def test_totals_add_up(construction):
    body = report.payload(construction)
    totals = body["totals"]
    eligible = [s for s in body["stations"] if s["eligible"]]
    assert totals["eligible"] == len(eligible) <= 200
    assert totals["amount_cny"] == sum(s["amount_cny"] for s in eligible) == 20000 * len(eligible)
    assert sum(c["amount_cny"] for c in totals["by_city"]) == totals["amount_cny"]
    assert sum(d["eligible"] for d in totals["by_district"]) == totals["eligible"]
    assert len(totals["by_city"]) == 11


def _in_force_from(conn, day: str) -> None:
    """This test's edits took effect on ``day`` (they are recorded now): reports for the
    period see them, as they would see an edit made then (migration 0009)."""
    conn.execute("SELECT set_config('stations.effective_at', %s, true)", [f"{day} 00:00+08"])


def _insert(conn, code: str, lon: float, lat: float, **values) -> None:
    row = {
        "opening_hours": "24/7", "floor_area_m2": 30, "opened_on": dt.date(2021, 6, 1),
        "amenities": ["drinking_water", "food_heating", "rest_seating", "phone_charging",
                      "toilet", "first_aid"],
    } | values  # fmt: skip
    conn.execute(
        """INSERT INTO stations (code, name, district_code, district_name, geom, opening_hours,
               amenities, floor_area_m2, host_type, built_by, level, opened_on, status,
               has_sign, has_rules, has_staff)
           VALUES (%s, %s, '140105', '小店区', ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s,
                   %s, 'community', 'union', 'district', %s, 'active', true, true, true)""",
        [code, "新驿站" + code, lon, lat, row["opening_hours"], row["amenities"],
         row["floor_area_m2"], row["opened_on"]],
    )  # fmt: skip


def test_what_if_area_threshold_12_to_10(conn):
    _insert(conn, "ZZ-0001", 112.9, 37.45, floor_area_m2=11)  # passes all but area
    _insert(conn, "ZZ-0002", 112.95, 37.45, floor_area_m2=9.5)  # fails either way
    loaded = programmes.load("shanxi-construction")
    changed = programmes.with_overrides(loaded, {"criteria.floor_area.threshold": 10})
    before = evaluate.evaluate(conn, loaded, YEAR_2021)
    after = evaluate.evaluate(conn, changed, YEAR_2021)
    diff = report.what_if(before, after, "en")
    assert diff["programme_sha256_before"] != diff["programme_sha256_after"]
    # with 200 places, stations let in by the lower threshold push others past the cap
    for gained in diff["newly_eligible"]:
        assert all(m.startswith("floor area") or m.startswith("not funded") for m in
                   gained["was_failing"])  # fmt: skip
    for lost in diff["newly_ineligible"]:
        assert [m.split(":")[0] for m in lost["now_failing"]] == ["not funded"]
    net = len(diff["newly_eligible"]) - len(diff["newly_ineligible"])
    assert diff["eligible_after"] - diff["eligible_before"] == net
    assert diff["budget_change_cny"] == 20000 * net
    after_zz = {v.station["code"]: v for v in after.verdicts}
    assert next(r for r in after_zz["ZZ-0001"].reasons if r.criterion == "floor_area").passed
    assert not next(r for r in after_zz["ZZ-0002"].reasons if r.criterion == "floor_area").passed
    # without the cap, exactly the stations of 10-12 m² passing everything else come in
    uncapped = programmes.with_overrides(loaded, {"cap.count": 10_000})
    lowered = programmes.with_overrides(uncapped, {"criteria.floor_area.threshold": 10})
    diff = report.what_if(
        evaluate.evaluate(conn, uncapped, YEAR_2021),
        evaluate.evaluate(conn, lowered, YEAR_2021),
        "en",
    )
    small = {
        v.station["code"]
        for v in before.verdicts
        if v.station["floor_area_m2"] is not None and 10 <= float(v.station["floor_area_m2"]) < 12
        and all(r.passed for r in v.reasons if r.criterion not in ("floor_area", "cap"))
    }  # fmt: skip
    assert "ZZ-0001" in small
    assert {d["code"] for d in diff["newly_eligible"]} == small
    assert diff["newly_ineligible"] == [] and diff["budget_change_cny"] == 20000 * len(small)
    gained = next(d for d in diff["newly_eligible"] if d["code"] == "ZZ-0001")
    assert gained["was_failing"] == ["floor area 11 m² < 12 m²"]


def test_caps_give_places_in_order_with_ties_broken_by_code(conn):
    _in_force_from(conn, "2021-01-01")
    head = BASE.replace('"140000"', '"140105"') + '[cap]\ncount = 2\norder = ["opened_on asc"]\n'
    loaded = _programme(
        '[[criteria]]\nid = "new"\nkind = "opened_in_period"\nlabel = "新建"\n', head=head
    )
    conn.execute("UPDATE stations SET opened_on = '2020-01-01' WHERE district_code = '140105'")
    _insert(conn, "ZZ-0003", 112.90, 37.45, opened_on=dt.date(2021, 5, 1))
    _insert(conn, "ZZ-0002", 112.91, 37.46, opened_on=dt.date(2021, 5, 1))
    _insert(conn, "ZZ-0001", 112.92, 37.47, opened_on=dt.date(2021, 7, 1))
    result = evaluate.evaluate(conn, loaded, YEAR_2021)
    funded = [v.station["code"] for v in result.verdicts if v.eligible]
    assert funded == ["ZZ-0002", "ZZ-0003"]  # same date: by code
    last = next(v for v in result.verdicts if v.station["code"] == "ZZ-0001")
    cap = next(r for r in last.reasons if r.criterion == "cap")
    assert not cap.passed and cap.actual.en == "all 2 places given" and last.place == 3
    budget = _programme(
        '[[criteria]]\nid = "new"\nkind = "opened_in_period"\nlabel = "新建"\n',
        head=head.replace("count = 2", "budget_cny = 1500"),
    )
    result = evaluate.evaluate(conn, budget, YEAR_2021)
    assert [v.station["code"] for v in result.verdicts if v.eligible] == ["ZZ-0002"]
    assert result.budget_used_cny == 1000


def test_gap_filling_stations_get_capped_places_first(conn):
    head = BASE.replace('"140000"', '"140105"') + '[cap]\ncount = 1\norder = ["gap_demand desc"]\n'
    loaded = _programme(
        '[[criteria]]\nid = "new"\nkind = "opened_in_period"\nlabel = "新建"\n', head=head
    )
    lon, lat = conn.execute(
        """SELECT ST_X(d.geom), ST_Y(d.geom) FROM demand_points d
           WHERE d.district_code = '140105' AND NOT EXISTS (SELECT 1 FROM stations s
               WHERE ST_DWithin(s.geom::geography, d.geom::geography, 1500))
           ORDER BY d.weight DESC, d.id LIMIT 1"""
    ).fetchone()
    crowded = conn.execute(
        "SELECT ST_X(geom), ST_Y(geom) FROM stations WHERE district_code = '140105' LIMIT 1"
    ).fetchone()
    _insert(conn, "ZZ-0001", crowded[0] + 0.001, crowded[1], opened_on=dt.date(2021, 3, 1))
    _insert(conn, "ZZ-0009", lon, lat, opened_on=dt.date(2021, 9, 1))
    result = evaluate.evaluate(conn, loaded, YEAR_2021)
    assert [v.station["code"] for v in result.verdicts if v.eligible] == ["ZZ-0009"]


@pytest.mark.parametrize("fmt", report.FORMATS)
def test_the_same_inputs_give_identical_bytes(conn, fmt):
    """Rendered a day and a half apart (the clock moved, as between two filings)."""
    import time_machine

    loaded = programmes.load("shanxi-construction")
    # one snapshot of the registry for both: a server of another test module committing
    # an edit between the two would rightly change the report
    conn.rollback()
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    with time_machine.travel(dt.datetime(2026, 3, 1, 9, 0, 7, tzinfo=dt.UTC), tick=False):
        first = report.render(evaluate.evaluate(conn, loaded, YEAR_2021), fmt)
    with time_machine.travel(dt.datetime(2026, 3, 2, 21, 30, 59, tzinfo=dt.UTC), tick=False):
        second = report.render(evaluate.evaluate(conn, loaded, YEAR_2021), fmt)
    assert first == second and len(first) > 1000


def test_a_changed_verdict_traces_to_the_edit_in_the_history(conn):
    from stations import registry

    loaded = programmes.load("taiyuan-upkeep")
    before = evaluate.evaluate(conn, loaded, parse_period("2025"))
    target = next(v for v in before.verdicts if v.eligible)
    conn.execute("SELECT set_config('stations.actor', 'auditor test', true)")
    _in_force_from(conn, "2025-06-01")  # reported late: it took effect in the period
    conn.execute("UPDATE stations SET has_staff = false WHERE id = %s", [target.station["id"]])
    after = evaluate.evaluate(conn, loaded, parse_period("2025"))
    assert after.snapshot_at > before.snapshot_at
    now = next(v for v in after.verdicts if v.station["id"] == target.station["id"])
    assert not now.eligible and "no staff (has_staff no)" in [r.message.en for r in now.reasons]
    last = registry.history(conn, target.station["id"])[-1]
    assert last["changed_by"] == "auditor test"
    assert last["before"]["has_staff"] is True and last["after"]["has_staff"] is False


@pytest.mark.parametrize(
    ("written", "start", "end"),
    [
        ("2021", "2021-01-01", "2021-12-31"),
        ("2021年", "2021-01-01", "2021-12-31"),
        ("2021年度", "2021-01-01", "2021-12-31"),
        ("2021-06", "2021-06-01", "2021-06-30"),
        ("2021-2", "2021-02-01", "2021-02-28"),
        ("2024-02", "2024-02-01", "2024-02-29"),
        ("2021/06", "2021-06-01", "2021-06-30"),
        ("2021年6月", "2021-06-01", "2021-06-30"),
        ("2021Q1", "2021-01-01", "2021-03-31"),
        ("2021q4", "2021-10-01", "2021-12-31"),
        ("2021-Q2", "2021-04-01", "2021-06-30"),
        ("2021年第一季度", "2021-01-01", "2021-03-31"),
        ("2021年第3季度", "2021-07-01", "2021-09-30"),
        ("2021-01..2021-03", "2021-01-01", "2021-03-31"),
        ("2021年1月至2021年3月", "2021-01-01", "2021-03-31"),
        ("2021-11 ~ 2022-02", "2021-11-01", "2022-02-28"),
        ("2021Q1..2021Q2", "2021-01-01", "2021-06-30"),
        ("2021-01-01..2021-12-31", "2021-01-01", "2021-12-31"),  # a report's printed period
        ("２０２１年６月", "2021-06-01", "2021-06-30"),  # full-width, as an input method types
        (" 2021 ", "2021-01-01", "2021-12-31"),
    ],
)
def test_periods_are_read_as_people_write_them(written, start, end):
    got = parse_period(written)
    assert (got.start.isoformat(), got.end.isoformat()) == (start, end)


@pytest.mark.parametrize(
    "bad",
    ["21", "20211", "2021-13", "2021-00", "2021-01..", "2021-03..2021-01", "2021Q5",
     "2021-01-02..2021-12-31", "2021-01-01", "1999", "2101", "2021..2021..2022", "", "明年"],
)  # fmt: skip
def test_other_periods_are_refused_with_the_forms_listed(bad):
    with pytest.raises(InvalidParameter) as raised:
        parse_period(bad)
    assert raised.value.details["param"] == "period", bad
    said = raised.value.message_in("zh"), raised.value.message_in("en")
    assert all(said) and said[0] != said[1]
    if "..2021-01" not in bad and bad not in ("1999", "2101"):
        assert "2021年6月" in said[0] and "2021Q1" in said[1]  # the forms, in both languages


def test_shipped_files_are_in_the_data_folder():
    assert programmes.folder() == Path(demo_dir()).parent / "subsidy"


def test_the_construction_report_finds_the_planted_stations_and_only_those(construction):
    planted = {c[0] if isinstance(c, list) else c for codes in PLANTED.values() for c in codes}
    # the demo's standard: every other station meets each quality criterion
    failing = {
        v.station["code"]
        for v in construction.verdicts
        for r in v.reasons
        if not r.passed and r.criterion not in ("new_in_period", "active", "cap")
    }
    assert failing == planted
    assert sum(v.eligible for v in construction.verdicts) == 200  # the cap binds


def test_budgets_count_fen_exactly_and_give_places_strictly_in_order(conn):
    _in_force_from(conn, "2021-01-01")
    head = (
        BASE.replace('"140000"', '"140105"').replace('"once"', '"monthly"')
        + '[cap]\nbudget_cny = 1000\norder = ["code asc"]\n'
    )
    loaded = _programme(
        '[[criteria]]\nid = "active"\nkind = "status_in"\nlabel = "运营"\nthreshold = ["active"]\n',
        head=head,
    )
    conn.execute("UPDATE stations SET opened_on = '2030-01-01' WHERE district_code = '140105'")
    _insert(conn, "ZZ-0001", 112.90, 37.45, opened_on=dt.date(2021, 1, 1))  # 12,000: too much
    _insert(conn, "ZZ-0002", 112.91, 37.46, opened_on=dt.date(2021, 11, 1))  # 2,000 would fit
    result = evaluate.evaluate(conn, loaded, YEAR_2021)
    by_code = {v.station["code"]: v for v in result.verdicts}
    assert not by_code["ZZ-0001"].eligible and not by_code["ZZ-0002"].eligible
    cap = next(r for r in by_code["ZZ-0002"].reasons if r.criterion == "cap")
    assert not cap.passed and "in order" in cap.required.en
    exact = _programme(
        '[[criteria]]\nid = "active"\nkind = "status_in"\nlabel = "运营"\nthreshold = ["active"]\n',
        head=head.replace('"monthly"', '"once"')
        .replace("1000\n", "348.39\n", 1)
        .replace("amount_cny = 348.39", "amount_cny = 116.13"),
    )
    _insert(conn, "ZZ-0003", 112.92, 37.47, opened_on=dt.date(2021, 12, 1))
    conn.execute("UPDATE stations SET status = 'closed' WHERE district_code = '140105' "
                 "AND code NOT LIKE 'ZZ-%'")  # fmt: skip
    result = evaluate.evaluate(conn, exact, YEAR_2021)
    funded = [v.station["code"] for v in result.verdicts if v.eligible]
    assert funded == ["ZZ-0001", "ZZ-0002", "ZZ-0003"] and result.budget_used_cny == 348.39


def test_what_if_lists_stations_that_leave_the_region(conn):
    loaded = programmes.load("taiyuan-upkeep")
    narrower = programmes.with_overrides(loaded, {"region": "140105"})
    before = evaluate.evaluate(conn, loaded, parse_period("2025"))
    diff = report.what_if(before, evaluate.evaluate(conn, narrower, parse_period("2025")), "en")
    left = [
        d for d in diff["newly_ineligible"] if d["now_failing"] == ["not in the programme's region"]
    ]
    # the registry says which funded stations lie outside 140105: exactly those leave
    district = dict(conn.execute("SELECT code, district_code FROM stations").fetchall())
    funded = {v.station["code"] for v in before.verdicts if v.eligible}
    outside = {code for code in funded if district[code] != "140105"}
    assert outside and {d["code"] for d in left} == outside
    assert {d["code"] for d in diff["newly_ineligible"]} == outside
    assert diff["budget_change_cny"] == -sum(
        d["amount_before_cny"] for d in diff["newly_ineligible"]
    )


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_spreadsheet_cells_never_run_as_formulas(conn, start):
    """Every cell a spreadsheet would read as a formula: in the CSV, the stations sheet
    and the totals sheet (district names)."""
    import csv as csv_module
    import io

    from openpyxl import load_workbook

    formula = start + 'HYPERLINK("http://x","点我")'
    _in_force_from(conn, "2021-01-01")
    _insert(conn, "ZZ-0001", 112.9, 37.45)
    conn.execute("UPDATE stations SET name = %s WHERE code = 'ZZ-0001'", [formula])
    conn.execute(
        "UPDATE stations SET district_name = %s WHERE district_code = '140105'", [start + "小店区"]
    )
    conn.execute("UPDATE districts SET name = %s WHERE code = '140105'", [start + "小店区"])
    result = evaluate.evaluate(conn, programmes.load("shanxi-construction"), YEAR_2021)
    rows = list(csv_module.reader(io.StringIO(report.to_csv(result).decode("utf-8-sig"))))
    assert next(r[6] for r in rows if r[5] == "ZZ-0001") == "'" + formula
    book = load_workbook(io.BytesIO(report.to_xlsx(result)))
    cell = next(r[6] for r in book["评定明细"].iter_rows(min_row=6) if r[5].value == "ZZ-0001")

    # a bare carriage return comes back as a line feed through the standard library's XML
    # parser, as itself through lxml's; either way it stays text behind the quote
    def as_read(text: str) -> set[str]:
        return {text, text.replace("\r", "\n")}

    assert cell.data_type == "s" and cell.value in as_read("'" + formula)
    names = [r[2].value for r in book["汇总"].iter_rows(min_row=6) if r[1].value == "140105"]
    assert names and all(n in as_read("'" + start + "小店区") for n in names), names
