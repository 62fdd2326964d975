"""stations.hours by hand: the OSM wiki's examples, answers written out, and what people see.

The comparison with the reference evaluator is ``test_hours_reference.py``; here every
expected answer is written by hand from the specification's own explanation
(https://wiki.openstreetmap.org/wiki/Key:opening_hours/specification), so neither side
of an assertion comes from the code under test.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stations import hours
from stations.errors import InvalidOpeningHours
from stations.hours import calendar

SH = hours.SHANGHAI
NEW_YORK = dt.timezone(dt.timedelta(hours=-5))
ROOT = Path(__file__).resolve().parents[1]


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


# 2026-11-30 is a Monday; 2026-12-05/06 a weekend; no holiday near.
MON, TUE, WED, SAT, SUN = (at(2026, 11, 30), at(2026, 12, 1), at(2026, 12, 2),
                           at(2026, 12, 5), at(2026, 12, 6))  # fmt: skip


def when(day: dt.datetime, hh: int, mm: int = 0) -> dt.datetime:
    return day.replace(hour=hh, minute=mm)


# (value, instant, state, next change or None) -- every answer written by hand
WIKI_CASES = [
    ("Mo-Fr 08:00-17:30", when(MON, 12), "open", when(MON, 17, 30)),
    ("Mo-Fr 08:00-17:30", when(MON, 17, 30), "closed", when(TUE, 8)),
    ("Mo-Fr 08:00-17:30", when(SAT, 12), "closed", when(SAT.replace(day=7), 8)),
    ("Mo-Fr 08:00-12:00,13:00-17:30", when(MON, 12, 30), "closed", when(MON, 13)),
    ("Mo-Fr 08:00-12:00,13:00-17:30; Sa 08:00-12:00", when(SAT, 9), "open", when(SAT, 12)),
    # a later normal rule replaces the day: Wednesday closes at 14:00
    ("Mo-Fr 10:00-20:00; We 10:00-14:00", when(WED, 15), "closed", when(at(2026, 12, 3), 10)),
    # an additional rule adds to it
    ("Mo-Fr 08:00-12:00, We 14:00-18:00", when(WED, 15), "open", when(WED, 18)),
    ("Mo-Fr 08:00-12:00, We 14:00-18:00", when(WED, 12, 30), "closed", when(WED, 14)),
    # "off" with times closes only those times
    ("Mo-Fr 08:00-18:00; We 12:00-14:00 off", when(WED, 13), "closed", when(WED, 14)),
    ("Mo-Fr 08:00-18:00; We 12:00-14:00 off", when(WED, 15), "open", when(WED, 18)),
    ("24/7", when(MON, 3), "open", None),
    ("24/7; Su off", when(SUN, 12), "closed", at(2026, 12, 7)),
    # overnight: the hours after midnight belong to the day before
    ("Fr-Sa 22:00-03:00", when(SAT, 2), "open", when(SAT, 3)),
    ("Fr-Sa 22:00-03:00", when(SUN, 2), "open", when(SUN, 3)),
    ("Fr-Sa 22:00-03:00", when(at(2026, 12, 4), 2), "closed", when(at(2026, 12, 4), 22)),
    ("Mo-Su 20:00-26:00", when(TUE, 1), "open", when(TUE, 2)),
    # the rider's cases from the issue: the next day's own rule does not cut the night
    ("Mo-Sa 18:00-04:00; Su 20:00-04:00", when(MON, 0, 30), "open", when(MON, 4)),
    ("Mo-Fr 20:00-06:00; Sa-Su 22:00-08:00", when(MON, 7), "open", when(MON, 8)),
    # ... but a later rule for that day does
    ("Su 20:00-04:00; Mo 10:00-12:00", when(MON, 0, 30), "closed", when(MON, 10)),
    # unknown: comments, open ends, the unknown modifier; never open
    ('"by appointment"', when(MON, 10), "unknown", None),
    ('"电话预约"', when(MON, 10), "unknown", None),
    ("Mo-Fr 08:00+", when(MON, 10), "unknown", TUE),
    ("Mo-Fr 08:00+", when(MON, 7), "closed", when(MON, 8)),
    ("Sa 18:00+", when(SUN, 3), "unknown", when(SUN, 4)),  # guessed: 10 hours from 17:00 on
    ("Mo-Fr 10:00-12:00 unknown", when(MON, 11), "unknown", when(MON, 12)),
    ('Mo-Fr 08:00-12:00 "call first"', when(MON, 10), "unknown", when(MON, 12)),
    ('Mo-Fr 08:00-12:00 open "call first"', when(MON, 10), "open", when(MON, 12)),
    ('Mo-Fr 09:00-17:00 || "by appointment"', when(MON, 12), "open", when(MON, 17)),
    ('Mo-Fr 09:00-17:00 || "by appointment"', when(MON, 18), "unknown", when(TUE, 9)),
    # a weekday list written with a space: both days, never all of Saturday
    ("Sa, Su 09:00-12:00", when(SAT, 15), "closed", when(SUN, 9)),
    ("Sa, Su 09:00-12:00", when(SUN, 10), "open", when(SUN, 12)),
    # a time-only rule applies to every day and so replaces the rules before it
    ("Mo-Sa 08:00-13:00; 20:00-21:00", when(MON, 10), "closed", when(MON, 20)),
    # nth weekdays, weeks, months
    ("Mo[1] 10:00-12:00", when(at(2026, 12, 7), 11), "open", when(at(2026, 12, 7), 12)),
    ("Mo[-1] 10:00-12:00", when(MON, 11), "open", when(MON, 12)),
    ("Mo[-1] 10:00-12:00", when(at(2026, 11, 23), 11), "closed", when(MON, 10)),
    ("Dec 24-Jan 02 10:00-12:00", when(at(2027, 1, 2), 11), "open", when(at(2027, 1, 2), 12)),
    (
        "Jun-Aug Mo-Su 06:00-22:00; Sep-May Mo-Fr 08:00-18:00",
        when(SAT, 12),
        "closed",
        when(at(2026, 12, 7), 8),
    ),  # fmt: skip
    ("PH Mo-Fr 10:00-12:00", when(at(2025, 10, 1), 11), "open", when(at(2025, 10, 1), 12)),
    ("PH Mo-Fr 10:00-12:00", when(at(2025, 10, 4), 11), "closed", when(at(2025, 10, 6), 10)),
]


@pytest.mark.parametrize(("expr", "instant", "state", "change"), WIKI_CASES)
def test_wiki_examples_by_hand(expr: str, instant: dt.datetime, state: str, change) -> None:
    status = hours.status(expr, instant)
    assert (status.state, status.next_change) == (state, change)
    assert hours.is_open(expr, instant) == (state == "open")


def test_holidays_close_the_office_and_its_night() -> None:
    office = "Mo-Fr 08:00-20:00; PH off"
    assert not hours.is_open(office, at(2025, 10, 8, 10))
    assert hours.status(office, at(2025, 9, 30, 21)).next_change == at(2025, 10, 9, 8)
    assert not hours.is_open(office, at(2025, 9, 28, 10))  # Sunday make-up day: as a Sunday
    listed = "Mo-Fr 08:00-20:00; 2025 Sep 28,2025 Oct 11 08:00-20:00; PH off"
    assert hours.is_open(listed, at(2025, 9, 28, 10))
    night = "Mo-Su 22:00-06:00; PH off"
    assert not hours.is_open(night, at(2025, 10, 1, 2))  # "off" closes the holiday's whole day
    assert hours.is_open(night, at(2025, 10, 9, 2))  # 8 Oct's night, written by the Mo-Su rule


def test_time_zones_and_naive_instants() -> None:
    local = at(2025, 10, 9, 8)
    assert hours.status("Mo-Fr 08:00-20:00", local.astimezone(dt.UTC)) == hours.status(
        "Mo-Fr 08:00-20:00", local
    )
    assert hours.is_open("Mo-Fr 08:00-20:00", local.astimezone(NEW_YORK))
    change = hours.next_change("Mo-Fr 08:00-20:00", local.astimezone(dt.UTC))
    assert change == at(2025, 10, 9, 20) and change.tzinfo == SH
    with pytest.raises(ValueError, match="timezone-aware"):
        hours.is_open("24/7", dt.datetime(2025, 10, 9, 10))


def test_no_change_within_a_year() -> None:
    assert hours.status("24/7", MON) == hours.Status("open", None, None)
    assert hours.status("off", MON) == hours.Status("closed", None, None)
    assert hours.next_change("2099 Mo 10:00-12:00", MON) is None
    assert hours.status_of(None, MON).state == "unknown"


# --- writing values ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("Sa, Su 9:00-12:00", "Sa,Su 09:00-12:00"),
        ("  mo-fr 08:00-20:00;PH off \n", "Mo-Fr 08:00-20:00; PH off"),
        ("Mo–Fr 08:00–20:00", "Mo-Fr 08:00-20:00"),
        ("Mo-Fr 08:00-20:00；PH off", "Mo-Fr 08:00-20:00; PH off"),
        ("Dec 25,26 off", "Dec 25,Dec 26 off"),
        ('Mo-Fr 10:00-12:00 "call first"', 'Mo-Fr 10:00-12:00 "call first"'),
        ("PH,Su 10:00-14:00", "PH,Su 10:00-14:00"),
        ("(sunrise+01:00)-(sunset-00:30)", "(sunrise+01:00)-(sunset-00:30)"),
    ],
)
def test_values_are_stored_in_the_standard_form(written: str, stored: str) -> None:
    assert hours.validate(written) == stored
    assert hours.validate(stored) == stored


@pytest.mark.parametrize(
    ("written", "zh", "en"),
    [
        ("Mo-Fr 8-20", ["第 7 列", "时:分", '可改为："Mo-Fr 08:00-20:00"'],
         ["at column 7", "HH:MM", 'write: "Mo-Fr 08:00-20:00"']),
        ("周一至周五 8:00-20:00", ['可改为："Mo-Fr 08:00-20:00"'], ['write: "Mo-Fr 08:00-20:00"']),
        ("每天 8:00-20:00，节假日休息", ['可改为："Mo-Su 08:00-20:00; PH off"'],
         ['write: "Mo-Su 08:00-20:00; PH off"']),
        ("25:00-26:00", ["“25:00”已过午夜", "22:00-01:00"],
         ['"25:00" is past midnight', "22:00-01:00"]),
        ("Mo-Fr 08:00", ["只有开始时间", "18:00+"], ['"08:00" has no end']),
        ("Mo-Fr 08:00-20:00; SH off", ["不支持 SH"], ["SH (school holidays) is not supported"]),
        ("Feb 30 off", ["Feb 没有第 30 日"], ["Feb has no day 30"]),
        ("", ["营业时间为空"], ["opening hours are empty"]),
        ("Mo-Fr 08:00-20:61", ["分钟不能超过 59"], ["cannot exceed 59"]),
        ('Mo-Th; "evening" off', ["写在注释之前"], ["before the comment"]),
        ("Mo-Fr 08:00-20:00; PH +99999999 days off", ["偏移最多 1 天"], ["at most 1 days"]),
        ("PH +2 days 10:00-12:00", ["PH +1 day"], ["PH +1 day or PH -1 day"]),
        ("Mo[1] -400 days 10:00-12:00", ["偏移最多 366 天"], ["at most 366 days"]),
        ("week 50-02 Mo 10:00-12:00", ["跨年", "week 50-53,01-02"], ["wraps", "50-53,01-02"]),
        ("; ".join(f"Jan {d:02d} off" for d in range(1, 32)) + "; " +
         "; ".join(f"Feb {d:02d} off" for d in range(1, 15)),
         ["内容过多", "最多 40"], ["too much", "at most 40"]),
    ],
)  # fmt: skip
def test_errors_say_what_to_write(written: str, zh: list[str], en: list[str]) -> None:
    with pytest.raises(InvalidOpeningHours) as info:
        hours.validate(written)
    error = info.value
    for fragment in zh:
        assert fragment in error.message_in("zh"), error.message_in("zh")
    for fragment in en:
        assert fragment in error.message_in("en"), error.message_in("en")
    assert "\n" not in error.message and "\n" not in error.message_in("zh")


def test_probable_typos_are_accepted_with_a_note() -> None:
    checked = hours.check("Mo-Fr 22:00-25:00")
    assert checked.text == "Mo-Fr 22:00-25:00"
    assert [n.code for n in checked.notes] == ["past-midnight"]
    assert "22:00-01:00" in checked.notes[0].message("en")
    assert [n.code for n in hours.check("Mo-Fr 08:00-06:00").notes] == ["long-span"]
    assert "22 小时" in hours.check("Mo-Fr 08:00-06:00").notes[0].message("zh")
    assert [n.code for n in hours.check('"电话预约"').notes] == ["unknown-only"]
    assert [n.code for n in hours.check("Sa, Su 09:00-12:00").notes] == ["rewritten"]
    assert hours.check("Mo-Fr 08:00-20:00; PH off").notes == ()


@pytest.mark.parametrize(
    ("expr", "zh", "en"),
    [
        ("Mo-Fr 08:00-20:00; Sa,Su 09:00-17:00; PH off",
         "周一至周五 08:00–20:00；周末 09:00–17:00；法定节假日休息",
         "Mon–Fri 08:00–20:00; weekends 09:00–17:00; public holidays closed"),
        ("Mo-Su 22:00-06:00", "每天 22:00–次日06:00", "daily 22:00–06:00 (next day)"),
        ("24/7", "全天24小时", "24 hours"),
        ("Mo-Fr 08:00+", "周一至周五 08:00起（结束时间不定）",
         "Mon–Fri from 08:00 (closing time not fixed)"),
        ("sunrise-sunset; PH off", "每天 日出–日落；法定节假日休息",
         "daily sunrise–sunset; public holidays closed"),
        ('Mo-Fr 08:00-20:00 || "电话预约"', "周一至周五 08:00–20:00；其他时间：电话预约",
         "Mon–Fri 08:00–20:00; otherwise: 电话预约"),
        ("2025 Oct 01-08 off", "2025年10月1日至8日休息", "1–8 Oct 2025 closed"),
        ("Su[-1] 10:00-12:00", "每月最后一个周日 10:00–12:00",
         "the last Sun of the month 10:00–12:00"),
        ("Mo-Su 06:00-24:00", "每天 06:00–24:00", "daily 06:00–24:00"),
        ("Mo-Fr 00:00-24:00", "周一至周五 全天", "Mon–Fri all day"),
    ],
)  # fmt: skip
def test_hours_as_people_read_them(expr: str, zh: str, en: str) -> None:
    assert hours.describe(expr, "zh") == zh
    assert hours.describe(expr, "en") == en


# --- the holiday calendar as data ----------------------------------------------------


def test_files_win_and_packages_fill_in() -> None:
    assert calendar.source(2025) == "notice"
    assert calendar.source(2030) == "law"  # beyond every file and package arrangement
    # the weekend joined to Dragon Boat 2024 is part of the break, as the notice says
    assert hours.is_public_holiday(dt.date(2024, 6, 8))
    assert hours.is_public_holiday(dt.date(2023, 12, 30))  # from the 2024 notice
    assert hours.is_makeup_workday(dt.date(2026, 1, 4))
    assert not hours.is_makeup_workday(dt.date(2030, 10, 12))


def test_an_officer_adds_2027_by_writing_one_file(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "holidays"
    shutil.copytree(ROOT / "data" / "holidays", folder)
    env = {"STATIONS_HOLIDAYS_DIR": str(folder)}
    cli = [str(Path(sys.executable).parent / "stations"), "holidays", "status"]
    before = subprocess.run(
        [*cli, "--today", "2026-12-01"], env={**_env(), **env}, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    assert "2027" in before.stdout and "warning" in before.stdout.lower()
    (folder / "2027.toml").write_text(
        """year = 2027

[notice]
title = "国务院办公厅关于2027年部分节假日安排的通知"
number = "国办发明电〔2026〕9号"
issued = 2026-11-20

[[breaks]]
name = "春节"
name_en = "Spring Festival"
first = 2027-02-05
last = 2027-02-13
workdays = [2027-02-20]
text = "2月5日至13日放假调休，共9天。2月20日（周六）上班。"
""",
        encoding="utf-8",
    )
    after = subprocess.run(
        [*cli, "--today", "2026-12-01"], env={**_env(), **env}, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    assert "国办发明电〔2026〕9号" in after.stdout
    assert "warning" not in after.stdout.lower()
    monkeypatch.setenv("STATIONS_HOLIDAYS_DIR", str(folder))
    hours.clear_caches()
    try:
        office = "Mo-Fr 08:00-20:00; PH off"
        assert not hours.is_open(office, at(2027, 2, 8, 10))  # Monday inside the break
        assert hours.is_makeup_workday(dt.date(2027, 2, 20))
        assert not hours.is_public_holiday(dt.date(2027, 10, 1))  # only what the file says
    finally:
        monkeypatch.undo()
        hours.clear_caches()


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "STATIONS_HOLIDAYS_DIR"}


def test_a_broken_file_is_reported_not_used(tmp_path: Path) -> None:
    (tmp_path / "2027.toml").write_text('year = 2027\n[notice]\ntitle = "x"\n', encoding="utf-8")
    loaded = calendar.scan(tmp_path)
    assert loaded.arrangements == {}
    assert any("2027.toml" in p and "number" in p for p in loaded.problems)
    coverage = calendar.coverage(dt.date(2026, 12, 1), loaded)
    assert coverage.problems and coverage.warnings
