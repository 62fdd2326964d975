"""The OSM ``opening_hours`` grammar: tokens, a parser to rules, and canonical text.

We parse ourselves, rather than through a binding, because the rest of the service needs
the parsed rules: to evaluate them with the reference evaluator's semantics (overnight
spans, unknown states, sun times at the station), to render them as Chinese or English
text, and to tell a person exactly what is wrong with a value and what to write instead.

The grammar is the OSM specification's
(https://wiki.openstreetmap.org/wiki/Key:opening_hours/specification) for the key
``opening_hours`` (time ranges, no points in time), read as opening_hours.js reads real
values: keywords in any case, one-digit hours (``8:00``), dashes ``–``/``—``, and a comma
followed by a space inside a weekday list (``Sa, Su 09:00-12:00`` is the list
``Sa,Su``, never the two rules ``Sa`` and ``Su 09:00-12:00``). :func:`canonical` writes
a parsed value back in the specification's own form, which every OSM tool reads alike.

Not supported, each refused with a reason: school holidays (``SH``: China has no
school-holiday calendar), comments as wide-range selectors (``"text": Mo 10:00-12:00``),
points in time and repeating times (they belong to ``collection_times``), and open-ended
dates (``Jan 01+``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import cast

WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
EVENTS = ("dawn", "sunrise", "sunset", "dusk")
DAY_MIN = 24 * 60
MAX_LENGTH = 2000  # characters; a station's hours are a line, not a document
MAX_OFFSET_DAYS = 366
# What one value may hold, far above real values (OSM's longest seen: 12 rules, 27
# selectors, 13 spans) and low enough that evaluating it stays in milliseconds.
MAX_RULES, MAX_SELECTORS, MAX_SPANS = 40, 120, 60


# --- the parsed form -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Clock:
    """A time of day: fixed minutes from midnight (up to 48:00), or a sun event ± offset."""

    minutes: int  # fixed time, or the offset from the event
    event: str | None = None


@dataclass(frozen=True, slots=True)
class Span:
    """``start-end``, ``start+`` (open end) or ``start-end+`` (open after ``end``)."""

    start: Clock
    end: Clock | None  # None for "start+"
    open_end: bool = False


@dataclass(frozen=True, slots=True)
class Range:
    """A numeric range ``first-last/step`` (years, weeks); ``last`` None means open ``+``."""

    first: int
    last: int | None
    step: int = 1


@dataclass(frozen=True, slots=True)
class DatePoint:
    """One end of a date range, ± days.

    ``[year] month [day]``, ``[year] easter``, or ``month weekday[n]`` (``Mar Su[-1]``,
    the last Sunday of March).
    """

    year: int | None
    month: int | None  # 1-12; None for easter
    day: int | None  # None: the whole month (or a weekday in it)
    easter: bool = False
    offset: int = 0  # days
    weekday: int | None = None  # with nth: the nth such weekday of the month
    nth: int = 0

    @property
    def precise(self) -> bool:
        """A single day, not a whole month."""
        return self.day is not None or self.easter or self.weekday is not None


@dataclass(frozen=True, slots=True)
class Dates:
    """A month, month range, date or date range (``to`` None: just ``start``)."""

    start: DatePoint
    to: DatePoint | None


@dataclass(frozen=True, slots=True)
class Weekday:
    """``Mo-Fr`` (``first`` to ``last``, wrapping), or ``Mo[1,3]`` / ``Su[-1] -1 day``."""

    first: int  # 0 = Monday
    last: int
    nth: tuple[int, ...] = ()  # 1..5 or -5..-1; empty: every week
    offset: int = 0  # days, only with nth


@dataclass(frozen=True, slots=True)
class Holiday:
    """``PH`` or ``PH +1 day``: a public holiday, or the day n days after one."""

    offset: int = 0


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: selectors, times and a state, joined to the rule before by ``separator``."""

    separator: str = ";"  # ";" normal, "," additional, "||" fallback
    years: tuple[Range, ...] = ()
    dates: tuple[Dates, ...] = ()
    weeks: tuple[Range, ...] = ()
    weekdays: tuple[Weekday, ...] = ()
    holidays: tuple[Holiday, ...] = ()
    holidays_only: bool = False  # "PH Mo-Fr": holidays AND weekdays (else OR, "PH,Mo-Fr")
    colon: bool = False  # the readability colon after wide selectors ("Apr-Oct: ...")
    always: bool = False  # 24/7
    spans: tuple[Span, ...] = ()
    modifier: str | None = None  # "open", "closed", "off", "unknown" as written
    comment: str | None = None

    @property
    def state(self) -> str:
        """``open``, ``closed`` or ``unknown``: a comment alone makes a rule unknown."""
        if self.modifier in ("closed", "off"):
            return "closed"
        if self.modifier == "unknown" or (self.modifier is None and self.comment is not None):
            return "unknown"
        return "open"

    @property
    def has_dates(self) -> bool:
        """Whether any date selector narrows the days this rule applies to."""
        return bool(self.years or self.dates or self.weeks or self.weekdays or self.holidays)


@dataclass(frozen=True, slots=True)
class Parsed:
    """A whole value: its rules, and what the reading changed (for a note to the editor)."""

    rules: tuple[Rule, ...]
    adjusted: tuple[str, ...] = field(default=(), compare=False)  # problem codes, see below


# --- problems ------------------------------------------------------------------------


class HoursSyntaxError(ValueError):
    """A value that is not opening_hours syntax; ``code`` and ``params`` say why."""

    def __init__(self, code: str, column: int | None = None, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.column = column  # 1-based column in the value as written
        self.params = params


# --- tokens --------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>"[^"]*"?)
  | (?P<always>24/7)
  | (?P<clock>\d{1,2}:\d{2}(?!\d))
  | (?P<number>\d+)
  | (?P<word>[A-Za-z]+)
  | (?P<sep>\|\||[;,\-+/:\[\]()])
  | (?P<other>.)
    """,
    re.VERBOSE,
)
_WORDS: dict[str, tuple[str, object]] = {w.lower(): ("weekday", i) for i, w in enumerate(WEEKDAYS)}
_WORDS |= {m.lower(): ("month", i + 1) for i, m in enumerate(MONTHS)}
_WORDS |= {e: ("event", e) for e in EVENTS}
_WORDS |= {s: ("state", s) for s in ("open", "closed", "off", "unknown")}
_WORDS |= {"ph": ("holiday", "PH"), "sh": ("holiday", "SH"), "easter": ("easter", None)}
_WORDS |= {"week": ("week", None), "day": ("day", None), "days": ("day", None)}
# Typographic dashes and full-width punctuation as Chinese keyboards type them.
_FOLD = str.maketrans({"–": "-", "—": "-", "－": "-", "：": ":", "；": ";", "，": ",", "＋": "+"})
_FOLD_SPACE = str.maketrans({"\u3000": " ", "\u00a0": " "})


@dataclass(frozen=True, slots=True)
class Token:
    """One token of a value, with where it stands (for error messages)."""

    kind: str  # see _TOKEN groups and _WORDS kinds
    value: object
    text: str
    column: int  # 1-based
    space_before: bool


def tokens(expr: str) -> list[Token]:
    """Split a value into tokens; raise on characters that have no place in the syntax."""
    out: list[Token] = []
    space = False
    for match in _TOKEN.finditer(expr):
        kind, text, column = match.lastgroup or "other", match.group(), match.start() + 1
        if kind == "space":
            space = True
            continue
        value: object = text
        if kind == "comment":
            if len(text) < 2 or not text.endswith('"'):
                raise HoursSyntaxError("unclosed-comment", column)
            value = text[1:-1]
        elif kind == "clock":
            hours_, minutes = text.split(":")
            value = (int(hours_), int(minutes))
        elif kind == "number":
            value = int(text)
        elif kind == "word":
            known = _WORDS.get(text.lower())
            if known is None:
                raise HoursSyntaxError("unknown-word", column, word=text)
            kind, value = known
        elif kind == "other":
            raise HoursSyntaxError("unexpected-character", column, char=text)
        out.append(Token(kind, value, text, column, space))
        space = False
    return out


# --- parser --------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the tokens of one value, in the specification's order."""

    def __init__(self, items: list[Token], length: int) -> None:
        self.items = items
        self.at = 0
        self.end_column = length + 1
        self.adjusted: list[str] = []

    # helpers
    def peek(self, offset: int = 0) -> Token | None:
        index = self.at + offset
        return self.items[index] if index < len(self.items) else None

    def kind(self, offset: int = 0) -> str | None:
        token = self.peek(offset)
        return token.kind if token else None

    def is_sep(self, text: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token.kind == "sep" and token.text == text

    def take(self) -> Token:
        token = self.items[self.at]
        self.at += 1
        return token

    def column(self) -> int:
        token = self.peek()
        return token.column if token else self.end_column

    def fail(self, code: str, **params: object) -> HoursSyntaxError:
        token = self.peek()
        found = token.text if token else ""
        return HoursSyntaxError(code, self.column(), found=found, **params)

    def expect_sep(self, text: str) -> None:
        if not self.is_sep(text):
            raise self.fail("expected", symbol=text)
        self.take()

    # the value
    def parse(self) -> Parsed:
        rules = [self.rule(";")]
        while self.peek() is not None:
            token = self.take()
            if token.kind != "sep" or token.text not in (";", ",", "||"):
                self.at -= 1
                raise self.fail("unexpected")
            if self.peek() is None:
                if token.text == ";":  # a trailing ";" is harmless
                    self.adjusted.append("trailing-separator")
                    break
                raise self.fail("empty-rule")
            rules.append(self.rule(token.text))
        return Parsed(tuple(rules), tuple(dict.fromkeys(self.adjusted)))

    def rule(self, separator: str) -> Rule:
        if self.is_sep(";") or self.is_sep("||") or self.peek() is None:
            raise self.fail("empty-rule")
        if self.kind() == "comment" and self.is_sep(":", 1):
            raise self.fail("wide-comment")
        rule = Rule(separator=separator)
        if self.kind() == "always":
            self.take()
            rule = replace(rule, always=True)
        else:
            rule = self.wide(rule)
            rule = self.small(rule)
        return self.modifier(rule)

    def wide(self, rule: Rule) -> Rule:
        years: list[Range] = []
        if self.kind() == "number" and not self._dated_year():
            years = self.numbers(self.year, "year")
        dates = self.date_list() if self._starts_dates() else []
        weeks: list[Range] = []
        if self.kind() == "week":
            self.take()
            weeks = self.numbers(self.week_number, "week")
            while self.is_sep(",") and self.kind(1) == "week":  # "week 46-51,week 9-19"
                self.take()
                self.take()
                weeks += self.numbers(self.week_number, "week")
        colon = False
        if (years or dates or weeks) and self.is_sep(":"):
            self.take()
            colon = True
        return replace(
            rule, years=tuple(years), dates=tuple(dates), weeks=tuple(weeks), colon=colon
        )

    def small(self, rule: Rule) -> Rule:
        if self.kind() in ("weekday", "holiday"):
            rule = self.weekday_selector(rule)
        if self.kind() in ("clock", "event") or self.is_sep("("):
            rule = replace(rule, spans=tuple(self.spans()))
        elif self.kind() == "always":  # "Mo-Fr 24/7", as opening_hours.js reads it
            self.take()
            rule = replace(rule, always=True)
        elif self.kind() == "number" and self.is_sep("-", 1):
            raise self.fail("hours-without-minutes")
        elif self.kind() in ("weekday", "month", "number", "week", "easter"):
            raise self.fail("selector-order")
        return rule

    def modifier(self, rule: Rule) -> Rule:
        if self.kind() == "state":
            rule = replace(rule, modifier=str(self.take().value))
        if self.kind() == "comment":
            rule = replace(rule, comment=str(self.take().value))
            if self.kind() == "state":
                raise self.fail("state-after-comment")
        if self.peek() is not None and not (
            self.kind() == "sep" and self.peek().text in (";", ",", "||")  # type: ignore[union-attr]
        ):
            if self.kind() == "number" and self.is_sep("-", 1):
                raise self.fail("hours-without-minutes")
            if self.kind() in ("weekday", "holiday", "month", "week", "number", "easter", "always"):
                raise self.fail("selector-order")
            raise self.fail("unexpected")
        if rule == Rule(separator=rule.separator):
            raise self.fail("empty-rule")
        return rule

    # years and weeks
    def _dated_year(self) -> bool:
        """A year that starts a date (``2025 Oct 01``, ``2025 easter``), not a year range."""
        return self.kind(1) == "easter" or (self.kind(1) == "month" and self.kind(2) == "number")

    def numbers(self, item, what: str) -> list[Range]:  # type: ignore[no-untyped-def]
        out = [item()]
        while (
            self.is_sep(",")
            and self.kind(1) == "number"
            and not (what == "year" and self._dated_year_at(1))
        ):
            self.take()
            out.append(item())
        return out

    def _dated_year_at(self, offset: int) -> bool:
        return self.kind(offset + 1) == "easter" or (
            self.kind(offset + 1) == "month" and self.kind(offset + 2) == "number"
        )

    def year(self) -> Range:
        first = self.year_value()
        if self.is_sep("+"):
            self.take()
            return Range(first, None)
        if self.is_sep("-") and self.kind(1) == "number":
            self.take()
            last = self.year_value()
            if last < first:
                raise HoursSyntaxError("range-backwards", self.column(), first=first, last=last)
            return Range(first, last, self.step())
        return Range(first, first)

    def year_value(self) -> int:
        token = self.peek()
        if token is None or token.kind != "number":
            raise self.fail("expected-year")
        if not 1900 <= int(token.value) <= 9999 or len(token.text) != 4:  # type: ignore[call-overload]
            if self.is_sep("-", 1) and len(token.text) <= 2:
                raise self.fail("hours-without-minutes")
            raise self.fail("bad-year")
        return int(self.take().value)  # type: ignore[call-overload]

    def week_number(self) -> Range:
        first = self.week_value()
        last = first
        if self.is_sep("-"):
            self.take()
            column = self.column()
            last = self.week_value()
            if last < first:  # as opening_hours.js: write the two pieces
                raise HoursSyntaxError(
                    "week-wraps", column, first=f"{first:02d}", last=f"{last:02d}"
                )
        return Range(first, last, self.step())

    def week_value(self) -> int:
        token = self.peek()
        if token is None or token.kind != "number" or not 1 <= int(token.value) <= 53:  # type: ignore[call-overload]
            raise self.fail("bad-week")
        return int(self.take().value)  # type: ignore[call-overload]

    def step(self) -> int:
        if not self.is_sep("/"):
            return 1
        self.take()
        token = self.peek()
        if token is None or token.kind != "number" or int(token.value) < 1:  # type: ignore[call-overload]
            raise self.fail("bad-step")
        return int(self.take().value)  # type: ignore[call-overload]

    # dates
    def _starts_dates(self) -> bool:
        kind = self.kind()
        return kind in ("month", "easter") or (kind == "number" and self._dated_year())

    def date_list(self) -> list[Dates]:
        out = [self.dates()]
        while self.is_sep(","):
            if self.kind(1) in ("month", "easter") or (
                self.kind(1) == "number" and self._dated_year_at(1)
            ):
                self.take()
                out.append(self.dates())
            elif self.kind(1) == "number" and self._bare_day(out[-1]):
                # "Dec 25,26" / "Dec 24-26,31": a day of the month written before
                self.take()
                out.append(self.bare_day(out[-1]))
            elif (
                self.kind(1) == "weekday"
                and self.is_sep("[", 2)
                and (out[-1].to or out[-1].start).weekday is not None
            ):
                # "Aug Su[-1] -1 day,Su[-1]": another weekday of the same month
                self.take()
                month = (out[-1].to or out[-1].start).month
                out.append(Dates(self.month_weekday(None, month or 1), None))
            else:
                break
        return out

    def _bare_day(self, before: Dates) -> bool:
        token = self.peek(1)
        last = before.to or before.start
        return (
            token is not None
            and len(token.text) <= 2
            and last.day is not None
            and not last.easter
            and not (self.is_sep("-", 2) and self.kind(3) == "clock")
        )

    def bare_day(self, before: Dates) -> Dates:
        month = (before.to or before.start).month
        start = DatePoint(None, month, int(self.take().value))  # type: ignore[call-overload]
        self.check_day(start)
        if self.is_sep("-") and self.kind(1) == "number" and len(self.peek(1).text) <= 2:  # type: ignore[union-attr]
            self.take()
            to = DatePoint(None, month, int(self.take().value))  # type: ignore[call-overload]
            self.check_day(to)
            return Dates(start, to)
        return Dates(start, None)

    def dates(self) -> Dates:
        start = self.date_point(None)
        if self.is_sep("+") and self.kind(1) not in ("number",):
            raise self.fail("open-date")
        if not self.is_sep("-") or self.kind(1) in ("clock", "event") or self.is_sep("(", 1):
            return Dates(start, None)
        self.take()
        if self.kind() == "number" and start.day is not None and not self._dated_year():
            day = int(self.take().value)  # type: ignore[call-overload]
            to = DatePoint(None, start.month, day)
            self.check_day(to)
            return Dates(start, to)
        to = self.date_point(start)
        if start.precise != to.precise:
            raise self.fail("date-range-mixed")
        return Dates(start, to)

    def date_point(self, start: DatePoint | None) -> DatePoint:
        year = None
        if self.kind() == "number":
            year = self.year_value()
        if self.kind() == "easter":
            self.take()
            return DatePoint(year, None, None, easter=True, offset=self.day_offset())
        if self.kind() != "month":
            raise self.fail("expected-month")
        month = int(self.take().value)  # type: ignore[call-overload]
        # "Mar Su[-1]-Oct Su[-1]": a date when it starts or ends a range; otherwise
        # "Oct Sa[1],Su" is the month with a weekday selector, as opening_hours.js reads it
        month_range_end = start is not None and not start.precise  # "Apr-Oct Su[2]"
        if (
            self.kind() == "weekday"
            and self.is_sep("[", 1)
            and not month_range_end
            and (start is not None or self._range_follows_weekday())
        ):
            return self.month_weekday(year, month)
        day = None
        if self.kind() == "number":
            day = int(self.take().value)  # type: ignore[call-overload]
        point = DatePoint(year, month, day)
        if day is not None:
            self.check_day(point)
            point = replace(point, offset=self.day_offset())
        return point

    def _range_follows_weekday(self) -> bool:
        """Whether ``Su[-1]`` (and a day offset) here is followed by ``-``: a date range."""
        i = 2
        while self.kind(i) not in (None,) and not self.is_sep("]", i):
            i += 1
        i += 1
        if (self.is_sep("+", i) or self.is_sep("-", i)) and self.kind(i + 1) == "number":
            if self.kind(i + 2) == "day":
                i += 3
        return self.is_sep("-", i) and self.kind(i + 1) in ("month", "number", "easter")

    def month_weekday(self, year: int | None, month: int) -> DatePoint:
        """``Su[-1] -1 day`` after a month: the nth such weekday of it, ± days."""
        weekday = int(self.take().value)  # type: ignore[call-overload]
        self.take()  # "["
        negative = self.is_sep("-")
        if negative:
            self.take()
        nth = self.nth_value(negative)
        self.expect_sep("]")
        return DatePoint(year, month, None, weekday=weekday, nth=nth, offset=self.day_offset())

    def check_day(self, point: DatePoint) -> None:
        limit = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[(point.month or 1) - 1]
        if point.day is None or not 1 <= point.day <= limit:
            raise HoursSyntaxError(
                "bad-day", self.column(), day=point.day, month=MONTHS[(point.month or 1) - 1]
            )

    def day_offset(self, most: int = MAX_OFFSET_DAYS) -> int:
        """`` +2 days`` / `` -1 day`` after a holiday, an nth weekday or a date; else 0.

        At most ``most`` days either way (one for PH, as opening_hours.js allows).
        """
        if (
            (self.is_sep("+") or self.is_sep("-"))
            and self.kind(1) == "number"
            and self.kind(2) == "day"
        ):
            column = self.column()
            sign = 1 if self.take().text == "+" else -1
            value = int(self.take().value)  # type: ignore[call-overload]
            self.take()
            if value > most:
                raise HoursSyntaxError("bad-offset-days", column, most=most)
            return sign * value
        return 0

    # weekdays and holidays
    def weekday_selector(self, rule: Rule) -> Rule:
        weekdays: list[Weekday] = []
        holidays: list[Holiday] = []
        while True:
            token = self.peek()
            if token is not None and token.kind == "holiday":
                if token.value == "SH":
                    raise self.fail("school-holidays")
                self.take()
                holidays.append(Holiday(self.day_offset(most=1)))
            elif token is not None and token.kind == "weekday":
                weekdays.append(self.weekday())
            else:
                raise self.fail("expected-weekday")
            if self.is_sep(",") and self.kind(1) in ("weekday", "holiday"):
                if self.peek(1).space_before:  # type: ignore[union-attr]
                    self.adjusted.append("list-space")
                self.take()
                continue
            break
        holidays_only = False
        if holidays and not weekdays and self.kind() == "weekday":
            # "PH Mo-Fr": public holidays that fall on Monday to Friday
            holidays_only = True
            while True:
                weekdays.append(self.weekday())
                if self.is_sep(",") and self.kind(1) == "weekday":
                    self.take()
                    continue
                break
        return replace(
            rule, weekdays=tuple(weekdays), holidays=tuple(holidays), holidays_only=holidays_only
        )

    def weekday(self) -> Weekday:
        first = int(self.take().value)  # type: ignore[call-overload]
        if self.is_sep("-") and self.kind(1) == "weekday":
            self.take()
            return Weekday(first, int(self.take().value))  # type: ignore[call-overload]
        if not self.is_sep("["):
            return Weekday(first, first)
        self.take()
        nth: list[int] = []
        while True:
            negative = self.is_sep("-")
            if negative:
                self.take()
            a = self.nth_value(negative)
            if not negative and self.is_sep("-") and self.kind(1) == "number":
                self.take()
                b = self.nth_value(False)
                if b < a:
                    raise self.fail("bad-nth")
                nth.extend(range(a, b + 1))
            else:
                nth.append(a)
            if self.is_sep(","):
                self.take()
                continue
            break
        self.expect_sep("]")
        return Weekday(first, first, tuple(dict.fromkeys(nth)), self.day_offset())

    def nth_value(self, negative: bool) -> int:
        token = self.peek()
        if token is None or token.kind != "number" or not 1 <= int(token.value) <= 5:  # type: ignore[call-overload]
            raise self.fail("bad-nth")
        value = int(self.take().value)  # type: ignore[call-overload]
        return -value if negative else value

    # times
    def spans(self) -> list[Span]:
        out = [self.span()]
        while self.is_sep(",") and (self.kind(1) in ("clock", "event") or self.is_sep("(", 1)):
            self.take()
            out.append(self.span())
        return out

    def span(self) -> Span:
        start_column = self.column()
        start = self.clock(extended=False)
        if self.is_sep("+"):
            self.take()
            return Span(start, None, open_end=True)
        if not self.is_sep("-"):
            if self.is_sep("/"):
                raise self.fail("repeating-time")
            raise HoursSyntaxError(
                "point-in-time", start_column, found=self._text_from(start_column)
            )
        self.take()
        end = self.clock(extended=True)
        if self.is_sep("/"):
            raise self.fail("repeating-time")
        open_end = False
        if self.is_sep("+"):
            self.take()
            open_end = True
        if start.event is None and end.event is None and start.minutes >= DAY_MIN:
            raise HoursSyntaxError("start-past-midnight", start_column, clock=_hhmm(start.minutes))
        return Span(start, end, open_end)

    def _text_from(self, column: int) -> str:
        token = self.items[self.at - 1] if self.at else None
        return token.text if token else ""

    def clock(self, extended: bool) -> Clock:
        token = self.peek()
        if token is None:
            raise self.fail("expected-time")
        if token.kind == "clock":
            hours_, minutes = cast(tuple[int, int], token.value)
            if len(token.text.split(":")[0]) == 1:
                self.adjusted.append("one-digit-hour")
            if minutes >= 60:
                raise self.fail("bad-minutes", clock=token.text)
            value = hours_ * 60 + minutes
            if value > 2 * DAY_MIN:
                raise self.fail("two-midnights", clock=token.text)
            if not extended and value >= DAY_MIN:
                raise self.fail("start-past-midnight", clock=token.text)
            self.take()
            return Clock(value)
        if token.kind == "event":
            self.take()
            return Clock(0, str(token.value))
        if self.is_sep("("):
            self.take()
            event = self.peek()
            if event is None or event.kind != "event":
                raise self.fail("expected-event")
            self.take()
            if not (self.is_sep("+") or self.is_sep("-")):
                raise self.fail("expected-offset")
            sign = 1 if self.take().text == "+" else -1
            offset = self.peek()
            if offset is None or offset.kind != "clock":
                raise self.fail("expected-offset")
            h, m = cast(tuple[int, int], offset.value)
            if m >= 60 or h * 60 + m > 12 * 60:
                raise self.fail("bad-offset")
            self.take()
            self.expect_sep(")")
            return Clock(sign * (h * 60 + m), str(event.value))
        if token.kind == "number":
            raise self.fail("hours-without-minutes")
        raise self.fail("expected-time")


def parse(expr: str) -> Parsed:
    """Parse a value as written (already stripped); raise :class:`HoursSyntaxError`."""
    if not expr:
        raise HoursSyntaxError("empty")
    if len(expr) > MAX_LENGTH:
        raise HoursSyntaxError("too-long", limit=MAX_LENGTH)
    adjusted: list[str] = []
    folded = expr.translate(_FOLD_SPACE)
    if folded.translate(_FOLD) != folded:
        adjusted.append("punctuation")
    folded = folded.translate(_FOLD)
    parser = _Parser(tokens(folded), len(folded))
    parsed = parser.parse()
    _check_size(parsed)
    lowered = [t for t in parser.items if t.kind != "comment" and t.kind != "sep"]
    if any(t.text != _canonical_word(t) for t in lowered if t.kind in _CASED):
        adjusted.append("case")
    return Parsed(parsed.rules, tuple(dict.fromkeys([*adjusted, *parsed.adjusted])))


_CASED = {"weekday", "month", "event", "state", "holiday", "easter", "week", "day"}


def _check_size(parsed: Parsed) -> None:
    rules = parsed.rules
    selectors = sum(
        len(r.years) + len(r.dates) + len(r.weeks) + len(r.weekdays) + len(r.holidays)
        for r in rules
    )
    spans = sum(len(r.spans) for r in rules)
    limits = (
        (len(rules), MAX_RULES, "rules", "条规则"),
        (selectors, MAX_SELECTORS, "selectors", "个日期或星期"),
        (spans, MAX_SPANS, "spans", "个时段"),
    )
    for count, most, what, what_zh in limits:
        if count > most:
            raise HoursSyntaxError(
                "too-many", None, what=what, what_zh=what_zh, count=count, most=most
            )


def _canonical_word(token: Token) -> str:
    if token.kind == "weekday":
        return WEEKDAYS[int(token.value)]  # type: ignore[call-overload]
    if token.kind == "month":
        return MONTHS[int(token.value) - 1]  # type: ignore[call-overload]
    if token.kind == "holiday":
        return str(token.value)
    if token.kind == "day":
        return token.text.lower()
    return token.text.lower()


# --- canonical text ------------------------------------------------------------------


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _clock_text(clock: Clock) -> str:
    if clock.event is None:
        return _hhmm(clock.minutes)
    if clock.minutes == 0:
        return clock.event
    sign = "+" if clock.minutes > 0 else "-"
    return f"({clock.event}{sign}{_hhmm(abs(clock.minutes))})"


def _offset_text(days: int) -> str:
    if not days:
        return ""
    return f" {'+' if days > 0 else '-'}{abs(days)} day{'s' if abs(days) != 1 else ''}"


def _range_text(r: Range, width: int) -> str:
    text = f"{r.first:0{width}d}"
    if r.last is None:
        return text + "+"
    if r.last != r.first or r.step != 1:
        text += f"-{r.last:0{width}d}"
    if r.step != 1:
        text += f"/{r.step}"
    return text


def _point_text(point: DatePoint, with_month: bool = True) -> str:
    parts = [str(point.year)] if point.year is not None else []
    if point.easter:
        parts.append("easter")
    elif point.weekday is not None:
        parts += [MONTHS[(point.month or 1) - 1], f"{WEEKDAYS[point.weekday]}[{point.nth}]"]
    else:
        if with_month:
            parts.append(MONTHS[(point.month or 1) - 1])
        if point.day is not None:
            parts.append(f"{point.day:02d}")
    return " ".join(parts) + _offset_text(point.offset)


def _dates_text(d: Dates) -> str:
    text = _point_text(d.start)
    if d.to is None:
        return text
    same_month = (
        d.to.year is None
        and not d.to.easter
        and d.to.weekday is None
        and d.to.month == d.start.month
        and d.to.day is not None
        and d.start.day is not None
        and not d.start.easter
        and d.start.weekday is None
        and d.to.offset == 0
    )
    return f"{text}-{_point_text(d.to, with_month=not same_month)}"


def _weekday_text(w: Weekday) -> str:
    text = WEEKDAYS[w.first]
    if w.nth:
        text += "[" + ",".join(str(n) for n in w.nth) + "]" + _offset_text(w.offset)
    elif w.last != w.first:
        text += "-" + WEEKDAYS[w.last]
    return text


def _span_text(span: Span) -> str:
    if span.end is None:
        return _clock_text(span.start) + "+"
    return f"{_clock_text(span.start)}-{_clock_text(span.end)}{'+' if span.open_end else ''}"


def rule_text(rule: Rule) -> str:
    """One rule in the specification's form (without its separator)."""
    parts: list[str] = []
    if rule.years:
        parts.append(",".join(_range_text(r, 4) for r in rule.years))
    if rule.dates:
        parts.append(",".join(_dates_text(d) for d in rule.dates))
    if rule.weeks:
        parts.append("week " + ",".join(_range_text(r, 2) for r in rule.weeks))
    if rule.colon and parts:
        parts[-1] += ":"
    holidays = ["PH" + _offset_text(h.offset) for h in rule.holidays]
    weekdays = [_weekday_text(w) for w in rule.weekdays]
    if rule.holidays_only:
        parts += [",".join(holidays), ",".join(weekdays)]
    elif holidays or weekdays:
        parts.append(",".join([*holidays, *weekdays]))
    if rule.always:
        parts.append("24/7")
    if rule.spans:
        parts.append(",".join(_span_text(s) for s in rule.spans))
    if rule.modifier:
        parts.append(rule.modifier)
    if rule.comment is not None:
        parts.append(f'"{rule.comment}"')
    return " ".join(parts)


def canonical(parsed: Parsed) -> str:
    """The value in the specification's form: ``Sa,Su 09:00-12:00; PH off``."""
    out = []
    for i, rule in enumerate(parsed.rules):
        if i:
            out.append({";": "; ", ",": ", ", "||": " || "}[rule.separator])
        out.append(rule_text(rule))
    return "".join(out)
