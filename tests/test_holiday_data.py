"""The State Council's holiday arrangements in ``data/holidays/YYYY.toml``, checked as data.

The files are read here directly with :mod:`tomllib` (not through ``stations.hours``), so
this test checks what an officer wrote, whatever the code does with it:

* the schema (keys, types, dates as TOML dates, notice number, title, year = file name);
* the arrangement is coherent (first <= last, breaks in date order and apart, make-up
  working days on a Saturday or Sunday and outside every break, everything in the year
  or a few days before it);
* each break's ``text`` agrees with its dates (every date and weekday the sentence names,
  "共N天", the make-up days, "与周末连休");
* day by day against ``chinesecalendar``: public holiday (PH), make-up working day or
  neither must agree, except on the dates in ``ALLOWED_DIFFERENCES``, each with its reason
  (see data/holidays/README.md, "Checked against chinesecalendar"). A year that
  chinesecalendar does not know yet (a new notice is out before the package) is instead
  checked against the statutory days of the law from the ``holidays`` package: each must
  lie inside a break. Nothing here skips.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import re
import tomllib
from pathlib import Path

import chinese_calendar
import holidays as holiday_packages
import pytest

CC_VERSION = importlib.metadata.version("chinesecalendar")
FOLDER = Path(__file__).resolve().parent.parent / "data" / "holidays"
FILES = sorted(FOLDER.glob("*.toml"))
YEAR_FILES = [p for p in FILES if re.fullmatch(r"\d{4}", p.stem)]

# A break (or a make-up working day) may start this many days before 1 January: the
# weekend joined to New Year's Day (2024: 2023-12-30/31), or a December make-up Saturday.
DAYS_BEFORE_YEAR = 7

NUMBER = re.compile(r"国办发明电〔(\d{4})〕([1-9]\d*)号")
NOTICE_KEYS = {"title", "number", "issued", "url"}
NOTICE_REQUIRED = {"title", "number"}
BREAK_KEYS = {"name", "name_en", "first", "last", "workdays", "text"}
WEEKDAY_CHARS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}

# Days on which the files and chinesecalendar 1.11 give different answers, each with its
# reason. Any other difference fails; so does an entry here that is no longer a difference.
ALLOWED_DIFFERENCES: dict[dt.date, str] = {
    dt.date(2024, 6, 8): (
        "2024 notice, 端午节: '6月10日放假，与周末连休' - the holiday is joined to the weekend, "
        "so Saturday 8 June is part of the break (PH) under our one rule; chinesecalendar "
        "names only 10 June and leaves 8-9 June as a plain weekend, although for New Year's "
        "Day it counts the joined weekend 2023-12-30/31 as holidays"
    ),
    dt.date(2024, 6, 9): (
        "2024 notice, 端午节: '6月10日放假，与周末连休' - Sunday 9 June is part of the break "
        "(PH) under our one rule; chinesecalendar leaves it a plain weekend (see 2024-06-08)"
    ),
}


def load(path: Path) -> dict:
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def is_date(value: object) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def window(year: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, 1, 1) - dt.timedelta(days=DAYS_BEFORE_YEAR), dt.date(year, 12, 31)


@pytest.fixture(scope="module")
def data() -> dict[int, dict]:
    return {int(p.stem): load(p) for p in YEAR_FILES}


def test_folder_holds_the_years() -> None:
    assert {p.stem for p in YEAR_FILES} >= {"2024", "2025", "2026"}, [p.name for p in FILES]
    others = [p.name for p in FILES if p not in YEAR_FILES]
    assert not others, f"name each file after its year, like 2027.toml: {others}"


@pytest.mark.parametrize("path", YEAR_FILES, ids=lambda p: p.name)
def test_schema(path: Path) -> None:
    raw = load(path)
    name = path.name
    unknown_keys = set(raw) - {"year", "notice", "breaks"}
    assert not unknown_keys, f"{name}: unknown keys {sorted(unknown_keys)}"
    year = raw.get("year")
    assert year == int(path.stem), f"{name}: year = {year!r} does not match the file name"

    notice = raw.get("notice")
    assert isinstance(notice, dict), f"{name}: missing [notice]"
    assert NOTICE_REQUIRED <= set(notice), f"{name}: [notice] lacks {NOTICE_REQUIRED - set(notice)}"
    extra = set(notice) - NOTICE_KEYS
    assert not extra, f"{name}: [notice] has unknown keys {sorted(extra)}"
    assert notice["title"] == f"国务院办公厅关于{year}年部分节假日安排的通知", f"{name}: title"
    number = NUMBER.fullmatch(str(notice["number"]))
    assert number, f"{name}: number {notice['number']!r} is not like 国办发明电〔2025〕7号"
    assert int(number.group(1)) <= year, f"{name}: a notice for {year} numbered in a later year"
    if "issued" in notice:
        issued = notice["issued"]
        assert is_date(issued), f"{name}: issued must be a date like 2025-11-04 (no quotes)"
        assert issued < dt.date(year, 1, 1), f"{name}: issued {issued} is not before {year}"
        assert issued.year == int(number.group(1)), f"{name}: issued {issued} vs number year"
    if "url" in notice:
        url = str(notice["url"])
        assert url.startswith("https://www.gov.cn/"), f"{name}: url {url} is not on www.gov.cn"

    breaks = raw.get("breaks")
    assert isinstance(breaks, list) and breaks, f"{name}: no [[breaks]]"
    start, end = window(year)
    for i, item in enumerate(breaks, start=1):
        where = f"{name}: break {i} ({item.get('name', '?')})"
        assert set(item) == BREAK_KEYS, (
            f"{where}: keys must be exactly {sorted(BREAK_KEYS)}; "
            f"missing {sorted(BREAK_KEYS - set(item))}, unknown {sorted(set(item) - BREAK_KEYS)}"
        )
        for key in ("name", "name_en", "text"):
            assert isinstance(item[key], str) and item[key].strip(), f"{where}: {key} is empty"
        first, last, workdays = item["first"], item["last"], item["workdays"]
        assert is_date(first) and is_date(last), f"{where}: first/last must be dates: 2027-01-01"
        assert first <= last, f"{where}: last {last} is before first {first}"
        assert start <= first and last <= end, (
            f"{where}: {first}..{last} is not within {year} "
            f"(or starting at most {DAYS_BEFORE_YEAR} days before it)"
        )
        assert isinstance(workdays, list), f"{where}: workdays must be a list, [] if none"
        for w in workdays:
            assert is_date(w), f"{where}: workday {w!r} is not a date"
            assert w.weekday() >= 5, f"{where}: make-up working day {w} is a {w:%A}, not Sat/Sun"
            assert start <= w <= end, f"{where}: make-up working day {w} is outside {year}"
        assert len(set(workdays)) == len(workdays), f"{where}: a workday listed twice"


@pytest.mark.parametrize("path", YEAR_FILES, ids=lambda p: p.name)
def test_breaks_are_coherent(path: Path) -> None:
    raw = load(path)
    breaks = raw["breaks"]
    name = path.name
    firsts = [b["first"] for b in breaks]
    assert firsts == sorted(firsts), f"{name}: breaks are not in the notice's (date) order"
    seen: dict[dt.date, str] = {}
    for b in breaks:
        for d in days(b["first"], b["last"]):
            assert d not in seen, f"{name}: {d} is in both {seen[d]} and {b['name']}"
            seen[d] = b["name"]
    for b in breaks:
        for w in b["workdays"]:
            assert w not in seen, (
                f"{name}: {w} is a make-up working day of {b['name']} and a day off of {seen[w]}"
            )
    all_work = [w for b in breaks for w in b["workdays"]]
    assert len(all_work) == len(set(all_work)), f"{name}: a make-up working day listed twice"


def _dates_in_text(text: str, year: int) -> list[tuple[dt.date, int | None, str]]:
    """Each "M月D日" / "D日" in the sentence with the weekday written after it, if any."""
    found = []
    month = None
    start, end = window(year)
    for m in re.finditer(r"(?:(\d{1,2})月)?(\d{1,2})日(?:（([^）]*)）)?", text):
        if m.group(1):
            month = int(m.group(1))
        if month is None:
            continue
        candidates = [
            dt.date(y, month, int(m.group(2)))
            for y in (year - 1, year)
            if start <= dt.date(y, month, int(m.group(2))) <= end
        ]
        assert len(candidates) == 1, f"cannot place {m.group(0)!r} in {year}"
        note = m.group(3) or ""
        wd = re.search(r"(?:星期|周)([一二三四五六日天])", note)
        found.append((candidates[0], WEEKDAY_CHARS[wd.group(1)] if wd else None, m.group(0)))
    return found


@pytest.mark.parametrize("path", YEAR_FILES, ids=lambda p: p.name)
def test_text_agrees_with_dates(path: Path) -> None:
    raw = load(path)
    year = raw["year"]
    for b in raw["breaks"]:
        where = f"{path.name}: {b['name']}"
        text, first, last = b["text"], b["first"], b["last"]
        mentioned = _dates_in_text(text, year)
        for day, weekday, written in mentioned:
            if weekday is not None:
                assert day.weekday() == weekday, (
                    f"{where}: text says {written} but {day} is a {day:%A}"
                )
        named = {d for d, _, _ in mentioned}
        for w in b["workdays"]:
            assert w in named, f"{where}: make-up working day {w} is not in the text"
        if "与周末连休" in text:
            # "X月X日放假，与周末连休": the named day plus the weekend days joined to it.
            stated = re.search(r"(?:(\d{1,2})月)?(\d{1,2})日放假", text)
            assert stated, f"{where}: which day is the holiday?"
            day = next(d for d, _, w in mentioned if w.startswith(stated.group(0)[:-2]))
            assert day in (first, last), f"{where}: {day} is not at an end of {first}..{last}"
            others = [d for d in days(first, last) if d != day]
            assert others, f"{where}: '与周末连休' but {first}..{last} joins no weekend day"
            assert all(d.weekday() >= 5 for d in others), (
                f"{where}: '与周末连休' but {first}..{last} adds days that are not a weekend"
            )
        else:
            assert first in named, f"{where}: first day {first} is not in the text"
            assert last in named, f"{where}: last day {last} is not in the text"
        count = re.search(r"(?:共|放假)(\d+)天", text)
        if count:
            assert int(count.group(1)) == (last - first).days + 1, (
                f"{where}: text says {count.group(1)} days, "
                f"{first}..{last} is {(last - first).days + 1}"
            )
        else:
            assert "与周末连休" in text, f"{where}: text states neither 共N天 nor 与周末连休"


def _ours(data: dict[int, dict]) -> tuple[set[dt.date], set[dt.date]]:
    """PH and make-up working days per all files (a break may reach into the year before)."""
    off: set[dt.date] = set()
    work: set[dt.date] = set()
    for raw in data.values():
        for b in raw["breaks"]:
            off.update(days(b["first"], b["last"]))
            work.update(b["workdays"])
    return off, work


def _cc(day: dt.date) -> tuple[str, str | None] | None:
    """chinesecalendar's answer, or None where it has no data for the year."""
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return None
    if name is None:  # a plain weekend (True, None) or a plain weekday (False, None)
        return "neither", None
    return ("PH" if on_holiday else "make-up working day"), name


def _answer(day: dt.date, off: set[dt.date], work: set[dt.date]) -> str:
    return "PH" if day in off else "make-up working day" if day in work else "neither"


def _checked_days(raw: dict) -> list[dt.date]:
    year = raw["year"]
    before = sorted(
        {d for b in raw["breaks"] for d in days(b["first"], b["last"]) if d.year < year}
        | {w for b in raw["breaks"] for w in b["workdays"] if w.year < year}
    )
    return before + days(dt.date(year, 1, 1), dt.date(year, 12, 31))


@pytest.mark.parametrize("path", YEAR_FILES, ids=lambda p: p.name)
def test_against_chinesecalendar(path: Path, data: dict[int, dict]) -> None:
    raw = data[int(path.stem)]
    off, work = _ours(data)
    problems = []
    unknown = []
    for day in _checked_days(raw):
        theirs = _cc(day)
        if theirs is None:
            unknown.append(day)
            continue
        ours = _answer(day, off, work)
        if ours == theirs[0]:
            assert day not in ALLOWED_DIFFERENCES, (
                f"{day}: listed in ALLOWED_DIFFERENCES but the files and chinesecalendar now "
                f"agree ({ours}); remove it from the test and the README"
            )
            continue
        if day in ALLOWED_DIFFERENCES:
            continue
        problems.append(
            f"{day} ({day:%a}): {path.name} says {ours}, chinesecalendar {CC_VERSION} says "
            f"{theirs[0]}" + (f" ({theirs[1]})" if theirs[1] else "")
        )
    assert not problems, "differences from chinesecalendar not in ALLOWED_DIFFERENCES:\n" + (
        "\n".join(problems)
    )
    if unknown:
        # chinesecalendar has no data for this year yet: check the law's statutory days.
        statutory = {
            d
            for y in sorted({d.year for d in unknown})
            for d in holiday_packages.China(years=y, observed=False)
        }
        outside = sorted(d for d in statutory if d in set(unknown) and d not in off)
        assert not outside, (
            f"{path.name}: statutory holidays per the law (holidays package) not inside any break: "
            + ", ".join(
                f"{d} {holiday_packages.China(years=d.year, observed=False).get(d)}"
                for d in outside
            )
        )


def test_allowed_differences_are_in_the_files_range(data: dict[int, dict]) -> None:
    covered = {d for raw in data.values() for d in _checked_days(raw)}
    for day, reason in ALLOWED_DIFFERENCES.items():
        assert day in covered, f"{day} in ALLOWED_DIFFERENCES is outside every file's year"
        assert reason.strip(), f"{day}: give the reason"


def test_makeup_working_days_match_chinesecalendar_exactly(data: dict[int, dict]) -> None:
    """Make-up working days have no allowed difference at all (where chinesecalendar knows)."""
    _, work = _ours(data)
    checked = {d for raw in data.values() for d in _checked_days(raw) if _cc(d) is not None}
    theirs = {d for d in checked if _cc(d)[0] == "make-up working day"}
    ours = work & checked
    assert ours == theirs, (
        f"only in the files: {sorted(ours - theirs)}; "
        f"only in chinesecalendar: {sorted(theirs - ours)}"
    )
    assert ours, "no make-up working day compared at all"
