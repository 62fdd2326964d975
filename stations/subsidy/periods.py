"""Subsidy periods as finance staff write them: whole months, both ends included.

``2021``, ``2021年``, ``2021-06``, ``2021年6月``, ``2021Q1``, ``2021年第一季度``,
``2021-01..2021-03`` (also ``至``, ``到``, ``~``, ``—`` between the ends), and a report's own
printed period ``2021-01-01..2021-12-31``. Full-width digits and letters are read as
their ASCII forms (NFKC), as a Chinese input method may type them.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata

from stations.errors import InvalidParameter
from stations.subsidy.programmes import Period

FIRST_YEAR, LAST_YEAR = 2000, 2100
FORMS_EN = (
    "2021, 2021年, 2021-06, 2021年6月, 2021Q1, 2021年第1季度, 2021-01..2021-03 "
    "(or 至 / ~ between the ends), 2021-01-01..2021-12-31"
)
FORMS_ZH = (
    "2021、2021年、2021-06、2021年6月、2021Q1、2021年第1季度、2021-01..2021-03"
    "（两端之间也可用“至”或“~”）、2021-01-01..2021-12-31"
)
_QUARTER_WORDS = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_RANGE = re.compile(r"\s*(?:\.\.|…|至|到|~|～|—|–)\s*")


def parse_period(text: object) -> Period:
    """The whole months ``text`` names (see the module doc); a 400 lists the forms."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidParameter(
            "period",
            f"period is required: write one of: {FORMS_EN}",
            zh=f"请填写期间（整月），可写：{FORMS_ZH}",
            accepted=FORMS_EN,
        )
    raw = unicodedata.normalize("NFKC", text).strip()
    parts = _RANGE.split(raw)
    try:
        if len(parts) == 1:
            first, last = _span(parts[0])
        elif len(parts) == 2:
            first, _ = _span(parts[0], end=False)
            _, last = _span(parts[1], end=True)
        else:
            raise ValueError
    except ValueError:
        raise _refused(raw) from None
    if first > last:
        raise InvalidParameter(
            "period",
            f"period {raw!r} ends before it starts",
            zh=f"期间 {raw!r} 的结束早于开始",
        )
    if not (FIRST_YEAR <= first.year and last.year <= LAST_YEAR):
        raise InvalidParameter(
            "period",
            f"period must lie between {FIRST_YEAR} and {LAST_YEAR}, got {raw!r}",
            zh=f"期间应在 {FIRST_YEAR} 年到 {LAST_YEAR} 年之间，收到 {raw!r}",
        )
    return Period(start=first, end=last)


def _span(text: str, end: bool | None = None) -> tuple[dt.date, dt.date]:
    """The first and last day of the months ``text`` names (a year, quarter or month).

    As a range's end (``end``), a full date must be a month's last day; as its start, the
    first: periods are whole months.
    """
    text = text.strip().upper()
    if match := re.fullmatch(r"(\d{4})(?:年度?)?", text):
        year = int(match[1])
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    if match := re.fullmatch(r"(\d{4})(?:[-/.]|年)(\d{1,2})月?", text):
        return _months(int(match[1]), int(match[2]), int(match[2]))
    if match := re.fullmatch(r"(\d{4})\s*[-年]?\s*(?:Q([1-4])|第?([一二三四1-4])季度?)", text):
        quarter = int(match[2]) if match[2] else _QUARTER_WORDS[match[3]]
        return _months(int(match[1]), 3 * quarter - 2, 3 * quarter)
    if match := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text):
        day = dt.date(int(match[1]), int(match[2]), int(match[3]))
        month = _months(day.year, day.month, day.month)
        if end is None or day != (month[1] if end else month[0]):
            raise ValueError  # a period is whole months
        return month
    raise ValueError


def _months(year: int, first: int, last: int) -> tuple[dt.date, dt.date]:
    """The first day of month ``first`` to the last day of month ``last`` (ValueError if bad)."""
    if not 1 <= first <= last <= 12:
        raise ValueError
    return dt.date(year, first, 1), dt.date(year, last, calendar.monthrange(year, last)[1])


def _refused(raw: str) -> InvalidParameter:
    return InvalidParameter(
        "period",
        f"period {raw!r} is not a period of whole months; write one of: {FORMS_EN}",
        zh=f"无法识别期间 {raw!r}（须为整月）；可写：{FORMS_ZH}",
        accepted=FORMS_EN,
    )
