"""stations.hours against the reference parser (opening-hours-py) and explicit-date oracles."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays
import opening_hours
import pytest

from stations import hours
from stations.errors import InvalidOpeningHours

SH = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
WD = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
MON = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
OFFICE = "Mo-Fr 08:00-20:00; PH off"


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


# --- oracles -------------------------------------------------------------------------


@cache
def ref(expr: str) -> opening_hours.OpeningHours:
    return opening_hours.OpeningHours(expr)


@cache
def ref_limited(expr: str) -> opening_hours.OpeningHours:
    # Without a limit next_change() scans up to year 9999 for e.g. "09:45-06:30,02:00-17:45"
    # (seconds per call); a limit just past our horizon gives the same answers within it.
    return opening_hours.OpeningHours(expr, max_interval_days=367)


def ref_state(expr: str, at: datetime) -> tuple[bool, datetime | None]:
    """The reference parser's next_change() on naive Shanghai time; flips within the horizon."""
    oh = ref_limited(expr)
    local = at.astimezone(SH).replace(tzinfo=None)
    now = oh.is_open(local)
    limit, t = local + hours.HORIZON, local
    while True:
        n = oh.next_change(t)
        if n is None or n >= limit:
            return now, None
        assert n > t
        if oh.is_open(n) != now:
            return now, n.replace(tzinfo=SH)
        t = n


@cache
def china_holidays(year: int) -> frozenset[date]:
    """Independent of stations.hours: chinesecalendar, else the holidays package."""
    try:
        chinese_calendar.get_holiday_detail(date(year, 1, 1))
    except NotImplementedError:
        return frozenset(holidays.China(years=year))
    start = date(year, 1, 1)
    days = [start + timedelta(days=i) for i in range(366)]
    details = {d: chinese_calendar.get_holiday_detail(d) for d in days if d.year == year}
    return frozenset(d for d, (rest, name) in details.items() if rest and name is not None)


def explicit_dates(shift: int = 0, years: range = range(2023, 2029)) -> str:
    """PH as a monthday list with the year on each date: '2025 Oct 01,2025 Oct 02,...'."""
    days = sorted(d + timedelta(days=shift) for y in years for d in china_holidays(y))
    return ",".join(f"{d.year} {MON[d.month - 1]} {d.day:02d}" for d in days)


# --- random expressions without PH ---------------------------------------------------


def _hm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _span(rng: random.Random) -> str:
    start = rng.randrange(1, 24 * 4) * 15
    kind = rng.random()
    if kind < 0.2:  # overnight, e.g. 22:00-06:00
        end = rng.randrange(0, start // 15) * 15
    elif kind < 0.3:  # extended past midnight, e.g. 20:00-26:00
        end = 24 * 60 + rng.randrange(1, 12 * 4) * 15
    else:
        end = rng.randrange(start // 15 + 1, 24 * 4 + 1) * 15
    return f"{_hm(start)}-{_hm(end)}"


def _weekdays(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.45:
        a, b = rng.sample(range(7), 2)  # a > b gives a wrapping range like Fr-Mo
        return f"{WD[a]}-{WD[b]}"
    if kind < 0.75:
        return ",".join(WD[i] for i in sorted(rng.sample(range(7), rng.randint(2, 3))))
    return WD[rng.randrange(7)]


MONTH_SELECTORS = ["Jan-Mar", "Oct", "Dec-Feb", "Jun-Aug", "Apr 15-Sep 30", "Dec 24-Jan 02"]
MONTH_SELECTORS += ["2026", "2025-2026"]


def _months(rng: random.Random) -> str:
    return rng.choice(MONTH_SELECTORS)


def _rule(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.05:
        return rng.choice(["24/7", "off", "Su off", "Sa,Su off"])
    parts = []
    if rng.random() < 0.25:
        parts.append(_months(rng))
    if rng.random() < 0.85:
        parts.append(_weekdays(rng))
    tail = rng.random()
    if tail < 0.12:
        parts.append("off")
    else:
        parts.append(",".join(_span(rng) for _ in range(rng.randint(1, 3))))
        if tail > 0.95:
            parts.append("unknown")
        elif tail > 0.9:
            parts.append('"by appointment"')
    return " ".join(parts)


def _random_expressions(n: int, seed: int = 20251001) -> list[str]:
    rng = random.Random(seed)
    fixed = [
        "24/7",
        "off",
        "Mo-Fr 08:00-20:00; Sa 09:00-12:00",
        "Mo-Fr 08:00-20:00; Su off",
        "Mo-Su 22:00-06:00",
        "Mo-Sa 07:00-19:00; Su 10:00-14:00",
        "2025-2026 Mo-Fr 10:00-12:00",
        'Mo 10:00-12:00 "a", Mo 12:00-14:00 "b"',
        "Mo-Fr 08:00-12:00 unknown, Mo-Fr 12:00-18:00 off",
        "Jun-Aug Mo-Su 06:00-22:00; Sep-May Mo-Fr 08:00-18:00",
    ]
    exprs = fixed + ["; ".join(_rule(rng) for _ in range(rng.randint(1, 3))) for _ in range(n)]
    return [e for e in exprs if opening_hours.validate(e)]


def _instants(rng: random.Random, n: int) -> list[datetime]:
    clock = [time(0), time(2), time(6), time(7, 59), time(8), time(12), time(19, 59, 59)]
    clock += [time(20), time(22), time(23, 59, 59, 999999)]
    out = []
    for _ in range(n):
        day = date(2024, 1, 1) + timedelta(days=rng.randrange(4 * 366))
        at = rng.choice(clock) if rng.random() < 0.6 else time(rng.randrange(24), rng.randrange(60))
        local = datetime.combine(day, at, tzinfo=SH)
        out.append(local.astimezone(rng.choice([SH, UTC, NEW_YORK])))
    return out


RANDOM_EXPRESSIONS = _random_expressions(300)


def test_random_expressions_are_varied() -> None:
    assert len(RANDOM_EXPRESSIONS) > 250
    joined = " ".join(RANDOM_EXPRESSIONS)
    for piece in ("off", "unknown", "Dec-Feb", "2025-2026", "; "):
        assert piece in joined


@pytest.mark.parametrize("expr", RANDOM_EXPRESSIONS)
def test_matches_reference_without_ph(expr: str) -> None:
    assert hours.validate(expr) == expr
    rng = random.Random(expr)
    for at in _instants(rng, 16):
        expected = ref_state(expr, at)
        assert hours.is_open(expr, at) == expected[0], (expr, at)
        assert hours.next_change(expr, at) == expected[1], (expr, at)
        assert hours.state_at(expr, at) == expected, (expr, at)


# --- PH ------------------------------------------------------------------------------


@pytest.mark.parametrize("day", range(1, 9))
def test_national_day_closed(day: int) -> None:
    assert not hours.is_open(OFFICE, sh(2025, 10, day, 10))


def test_open_around_national_day() -> None:
    assert hours.is_open(OFFICE, sh(2025, 9, 30, 10))
    assert hours.is_open(OFFICE, sh(2025, 10, 9, 10))  # Thursday, first workday after
    assert hours.next_change(OFFICE, sh(2025, 9, 30, 12)) == sh(2025, 9, 30, 20)
    # 11 Oct is a Saturday make-up workday: closed by our rule, so 9 Oct 08:00 is next.
    assert hours.next_change(OFFICE, sh(2025, 9, 30, 21)) == sh(2025, 10, 9, 8)
    assert hours.state_at(OFFICE, sh(2025, 10, 9, 21)) == (False, sh(2025, 10, 10, 8))
    assert not hours.is_open(OFFICE, sh(2025, 10, 11, 10))


def test_ph_never_matches_without_country() -> None:
    for expr in ("PH 00:00-24:00", "PH +1 day 00:00-24:00", "PH -1 day 00:00-24:00"):
        spans = list(ref(expr).intervals(datetime(2020, 1, 1), datetime(2031, 1, 1)))
        assert [s[2] for s in spans] == [opening_hours.State.CLOSED]


PH_BRUTE = [
    "PH 10:00-14:00",
    "Mo-Fr 08:00-20:00; PH 10:00-14:00",
    "Mo-Su 20:00-02:00; PH 10:00-14:00",
    "Mo-Sa 09:00-18:00; PH off",
    "PH,Su 10:00-14:00",
]


@pytest.mark.parametrize("expr", PH_BRUTE)
def test_ph_brute_force_2025(expr: str) -> None:
    rng = random.Random(expr)
    all_ph = expr.replace("PH", "Mo-Su")
    checked = {True: 0, False: 0}
    day = date(2025, 1, 1)
    while day.year == 2025:
        flags = {hours.is_public_holiday(day - timedelta(days=i)) for i in range(3)}
        if len(flags) == 1:
            (flag,) = flags
            oracle = ref(all_ph if flag else expr)
            for _ in range(6):
                local = datetime.combine(day, time(rng.randrange(24), rng.choice([0, 30, 59])))
                assert hours.is_open(expr, local.replace(tzinfo=SH)) == oracle.is_open(local)
                checked[flag] += 1
        day += timedelta(days=1)
    assert checked[True] > 50 and checked[False] > 1000


ORACLE_TEMPLATES = [
    "Mo-Fr 08:00-20:00; {PH} off",
    "Mo-Su 22:00-06:00; {PH} off",
    "Mo-Sa 07:00-19:00; {PH} 09:00-12:00",
    "{PH} 10:00-14:00",
    "Mo-Fr 20:00-02:00; {PH} 18:00-26:00",
    "24/7; {PH} off",
    "Mo-Fr 08:00-12:00,13:00-17:00; {PH} off; 2025 Sep 28,2025 Oct 11 08:00-12:00",
    "Mo-Su 06:00-22:00; {PH1} 10:00-14:00",
    "Mo-Fr 09:00-17:00; {PHm1} 09:00-12:00",
]


def _oracle_instants(rng: random.Random, n: int) -> list[datetime]:
    near = sorted(d for y in (2024, 2025, 2026) for d in china_holidays(y))
    out = []
    for i in range(n):
        if i % 2:
            day = rng.choice(near) + timedelta(days=rng.randint(-3, 3))
        else:
            day = date(2024, 1, 1) + timedelta(days=rng.randrange(3 * 366))
        clock = time(rng.randrange(24), rng.choice([0, 0, 1, 30, 59]))
        out.append(datetime.combine(day, clock, tzinfo=SH).astimezone(rng.choice([SH, UTC])))
    return out


@pytest.mark.parametrize("template", ORACLE_TEMPLATES)
def test_ph_matches_explicit_dates(template: str) -> None:
    ours = template.format(PH="PH", PH1="PH +1 day", PHm1="PH -1 day")
    oracle = template.format(PH=explicit_dates(), PH1=explicit_dates(1), PHm1=explicit_dates(-1))
    assert hours.validate(ours) == ours
    for at in _oracle_instants(random.Random(template), 250):
        assert hours.state_at(ours, at) == ref_state(oracle, at), (ours, at)


def test_overnight_span_across_holiday_boundary() -> None:
    expr = "Mo-Su 22:00-06:00; PH off"
    oracle = "Mo-Su 22:00-06:00; 2025 Oct 01-08 off"
    for at in (sh(2025, 10, 1, 2), sh(2025, 9, 30, 23), sh(2025, 10, 8, 23), sh(2025, 10, 9, 2)):
        assert hours.is_open(expr, at) == ref(oracle).is_open(at.replace(tzinfo=None))
    # Observed semantics: the holiday closes its whole day, the spill from 30 Sep too...
    assert not hours.is_open(expr, sh(2025, 10, 1, 2))
    assert hours.next_change(expr, sh(2025, 9, 30, 23)) == sh(2025, 10, 1, 0)
    # ...but 9 Oct's rule also selects 8 Oct, so its overnight tail opens 9 Oct 00:00.
    assert not hours.is_open(expr, sh(2025, 10, 8, 23))
    assert hours.next_change(expr, sh(2025, 10, 8, 23)) == sh(2025, 10, 9, 0)


def test_ph_offsets() -> None:
    expr = "PH +1 day 10:00-12:00"
    assert hours.is_open(expr, sh(2025, 10, 9, 11))  # the day after 8 Oct
    assert not hours.is_open(expr, sh(2025, 10, 1, 11))  # 30 Sep is no holiday
    assert hours.is_open("PH -1 day 10:00-12:00", sh(2025, 9, 30, 11))


def test_comments_keep_ph() -> None:
    expr = 'Mo-Fr 08:00-20:00 "PH: call ahead"; PH off'
    variant = hours._variant(hours._prepared(expr), date(2025, 10, 1))
    assert variant == 'Mo-Fr 08:00-20:00 "PH: call ahead"; We,Th,Fr,Sa,Su off'
    assert not hours.is_open(expr, sh(2025, 10, 1, 10))


# --- make-up working days and calendar -----------------------------------------------


def test_makeup_workday_rule() -> None:
    sunday = sh(2025, 9, 28, 10)
    assert hours.is_makeup_workday(sunday.date())
    assert hours.is_makeup_workday(date(2025, 10, 11))
    assert not hours.is_makeup_workday(date(2025, 10, 12))
    assert not hours.is_public_holiday(sunday.date())
    assert not hours.is_open("Mo-Fr 08:00-20:00", sunday)
    explicit = "Mo-Fr 08:00-20:00; 2025 Sep 28,2025 Oct 11 08:00-20:00; PH off"
    assert hours.is_open(explicit, sunday)
    assert hours.is_open(explicit, sh(2025, 10, 11, 10))
    assert not hours.is_open(explicit, sh(2026, 10, 11, 10))
    # Documented pitfall: the year binds to the first date only.
    assert hours.is_open("2025 Sep 28,Oct 11 08:00-20:00", sh(2026, 10, 11, 10))


def test_calendar_details() -> None:
    assert hours.is_public_holiday(date(2025, 10, 4))  # weekend inside the break
    assert not hours.is_public_holiday(date(2025, 10, 12))  # plain weekend
    assert hours.is_public_holiday(date(2025, 1, 28))


def test_years_beyond_chinesecalendar() -> None:
    assert hours.is_public_holiday(date(2030, 10, 1))
    assert not hours.is_makeup_workday(date(2030, 10, 1))
    assert hours.is_public_holiday(date(2027, 1, 1))
    assert not hours.is_open(OFFICE, sh(2030, 10, 1, 10))
    assert hours.is_open(OFFICE, sh(2030, 10, 8, 10))
    assert hours.next_change("24/7; PH off", sh(2026, 12, 30, 12)) == sh(2027, 1, 1)
    for year in (1, 1900, 1949, 2003, 2100, 9999):
        hours.is_public_holiday(date(year, 10, 1))
        hours.is_makeup_workday(date(year, 10, 1))
    assert hours.state_at(OFFICE, datetime(9999, 12, 30, 10, tzinfo=UTC))[1] is not None


# --- validate and time zones ---------------------------------------------------------


def test_validate_returns_stripped_not_normalised() -> None:
    assert hours.validate("  Mo-Fr 08:00-20:00;PH off \n") == "Mo-Fr 08:00-20:00;PH off"
    assert hours.validate("PH,Su off") == "PH,Su off"


@pytest.mark.parametrize(
    ("expr", "fragments"),
    [
        (
            "Mo-Fr 8-20",
            [
                'opening hours "Mo-Fr 8-20" are not valid OSM opening_hours syntax: at column 7',
                "HH:MM-HH:MM",
                'example: "Mo-Fr 08:00-20:00; PH off"',
            ],
        ),
        ("garbage", ['"garbage" are not valid', "expected"]),
        ("", ["opening hours are empty"]),
        ("  \t ", ["opening hours are empty"]),
        ("Mo-Fr 08:00-20:00; SH off", ["SH (school holidays)", "not supported"]),
        ("PH Mo-Fr 10:00-12:00", ["PH in a form that cannot be evaluated", '"PH,Su"']),
    ],
)
def test_validate_rejects(expr: str, fragments: list[str]) -> None:
    with pytest.raises(InvalidOpeningHours) as info:
        hours.validate(expr)
    message = info.value.message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    assert info.value.details["expression"] == expr.strip()


def test_evaluation_rejects_invalid_expression() -> None:
    with pytest.raises(InvalidOpeningHours):
        hours.is_open("SH off", sh(2025, 1, 1))


def test_timezones() -> None:
    local = sh(2025, 10, 9, 8)
    utc = local.astimezone(UTC)
    assert utc.hour == 0
    assert hours.state_at(OFFICE, utc) == hours.state_at(OFFICE, local)
    assert hours.is_open(OFFICE, utc)
    change = hours.next_change(OFFICE, utc)
    assert change == sh(2025, 10, 9, 20) and change.tzinfo == SH
    with pytest.raises(ValueError, match="timezone-aware"):
        hours.is_open(OFFICE, datetime(2025, 10, 9, 10))
    with pytest.raises(ValueError):
        hours.next_change(OFFICE, datetime(2025, 10, 9, 10))


def test_no_change_within_horizon() -> None:
    assert hours.state_at("24/7", sh(2025, 1, 1)) == (True, None)
    assert hours.state_at("off", sh(2025, 1, 1)) == (False, None)
    assert hours.state_at("PH off", sh(2025, 1, 1)) == (False, None)
    assert hours.next_change("2099 Mo 10:00-12:00", sh(2025, 1, 1)) is None
