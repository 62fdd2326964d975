"""What a parsed value means at an instant: open, closed or unknown, and when that changes.

The semantics are the OSM specification's as the reference evaluator (opening_hours.js)
applies them, which the tests check value by value:

* Rules apply in order. A normal rule (``;``) that matches a day and opens it (or
  makes it unknown) replaces everything earlier rules said about that day; an ``off``
  rule closes only its own times (all day without times); an additional rule (``,``)
  adds to the day; a fallback rule (``||``) applies only where the day is still closed.
* A span past midnight (``22:00-06:00``, ``20:00-26:00``) belongs to the day it starts
  on, and its hours after midnight are a rule of their own for the next day, placed
  right after the rule that wrote it: a later normal rule that matches the next day
  replaces them, an earlier one does not. So ``Mo-Sa 18:00-04:00; Su 20:00-04:00`` is
  open at 00:30 on Monday, and ``Su 20:00-04:00; Mo 10:00-12:00`` is not.
* A comment without ``open`` makes its rule unknown, and so does ``unknown``; an open
  end (``18:00+``) is unknown from its start to a guessed close (midnight, or 10 hours
  after a start from 17:00, 8 hours after one from 22:00). Unknown is never open.
* A rule with no date selector (``10:00-12:00``) applies to every day and so replaces
  earlier rules, as the specification says; opening_hours.js does not (its issues #231
  and #400), the one place we part from it on purpose.

Times resolve to whole minutes of Asia/Shanghai wall time, sun events at the station.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

from stations.hours import calendar, sun
from stations.hours.syntax import DAY_MIN, Clock, DatePoint, Dates, Parsed, Range, Rule, Span

CLOSED, OPEN, UNKNOWN = 0, 1, 2
STATES = ("closed", "open", "unknown")
_STATE_OF = {"closed": CLOSED, "open": OPEN, "unknown": UNKNOWN}

Where = tuple[float, float] | None  # (lon, lat) of the station, when sun times matter


# --- spans of one day ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Piece:
    """A time selector as the evaluator runs it: a span's day part and, maybe, its spill."""

    start: Clock
    end: Clock | None  # None: an open end with a guessed close
    guess_to: int  # open end: close as minutes from midnight of the start day
    open_end: bool
    wraps: bool  # with the reference's stand-in sun times, it runs past midnight


def _const(clock: Clock) -> int:
    return clock.minutes + (sun.DEFAULT_MINUTES[clock.event] if clock.event else 0)


def _guess(start: int) -> int:
    """The reference evaluator's guessed close for an open end starting at ``start``."""
    if start >= 22 * 60:
        return start + 8 * 60
    if start >= 17 * 60:
        return start + 10 * 60
    return DAY_MIN


def _pieces(span: Span) -> list[_Piece]:
    """The time selectors a span stands for, in the reference evaluator's order."""
    start_c = _const(span.start)
    if span.end is None:  # "S+"
        to = _guess(start_c)
        return [_Piece(span.start, None, to, True, to > DAY_MIN)]
    end_c = _const(span.end)
    fixed = span.start.event is None and span.end.event is None
    to = end_c + DAY_MIN if end_c < start_c or (fixed and end_c == start_c) else end_c
    base = _Piece(span.start, span.end, to, False, to > DAY_MIN)
    if not span.open_end:
        return [base]
    # "S-E+": open from S to E, then an open end from E (the next day's E if S-E wrapped);
    # the reference evaluator lists the open end first, so the span wins where both apply
    open_from = end_c + DAY_MIN if end_c < start_c else end_c
    guess = _guess(open_from)
    tail_start = span.end if span.end.event else Clock(open_from)
    return [_Piece(tail_start, None, guess, True, guess > DAY_MIN), base]


def _resolve(clock: Clock, day: dt.date, where: Where) -> int:
    if clock.event is None:
        return clock.minutes
    if where is None:
        return _const(clock)
    return sun.minutes(clock.event, day, where[0], where[1]) + clock.minutes


def _day_part(piece: _Piece, day: dt.date, where: Where) -> tuple[int, int] | None:
    """Minutes [from, to) of ``day`` the piece covers on the day it starts."""
    start = _resolve(piece.start, day, where)
    if piece.end is None:
        to = piece.guess_to
    else:
        to = _resolve(piece.end, day, where) if piece.end.event else piece.guess_to
        # the reference re-orders a span only on this branch (its "wrapping or sun start")
        resolving = piece.wraps or (where is not None and piece.start.event is not None)
        if resolving and piece.end.event and to <= start:
            to += DAY_MIN
    lo, hi = max(start, 0), min(to, DAY_MIN)
    return (lo, hi) if lo < hi else None


def _spill(piece: _Piece, day: dt.date, where: Where) -> tuple[int, int] | None:
    """Minutes [0, to) of ``day`` covered by the piece started the day before."""
    if not piece.wraps:
        return None
    to = piece.guess_to - DAY_MIN
    if where is not None and (piece.start.event or (piece.end and piece.end.event)):
        start = _resolve(piece.start, day, where) if piece.start.event else _const(piece.start)
        if piece.end is not None and piece.end.event:
            to = _resolve(piece.end, day, where)
        if to > start:
            return None
    return (0, to) if to > 0 else None


# --- which days a rule selects -------------------------------------------------------


def _in_range(value: int, r: Range) -> bool:
    if r.last is None:
        return value >= r.first and (value - r.first) % r.step == 0
    if r.last < r.first:  # wrapping week range, e.g. week 50-02
        return value >= r.first or value <= r.last
    return r.first <= value <= r.last and (value - r.first) % r.step == 0


@lru_cache(maxsize=256)
def _easter(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    lx = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * lx) // 451
    month = (h + lx - 7 * m + 114) // 31
    day = (h + lx - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


def _point_date(point: DatePoint, year: int, role: str = "single") -> dt.date | None:
    """The date a point stands for in ``year``, or None where it has none.

    ``role`` says where the point stands: a month alone ends on its last day when it
    ends a range; 29 February in a common year is no day on its own, ends a range on
    28 February and starts one on 1 March.
    """
    try:
        if point.easter:
            base = _easter(year)
        elif point.weekday is not None:
            base = _nth_weekday(year, point.month or 1, point.weekday, point.nth)
        elif point.day is None:
            base = dt.date(year, point.month or 1, 1)
            if role == "end":
                base = dt.date(year, point.month or 1, _days_in_month(year, point.month or 1))
        else:
            month = point.month or 1
            length = _days_in_month(year, month)
            if point.day <= length:
                base = dt.date(year, month, point.day)
            elif role == "single":
                return None
            elif role == "end":
                base = dt.date(year, month, length)
            else:
                base = dt.date(year, month, length) + dt.timedelta(days=1)
        return base + dt.timedelta(days=point.offset)
    except (ValueError, OverflowError):
        return None


def _days_in_month(year: int, month: int) -> int:
    following = dt.date(year + (month == 12), month % 12 + 1, 1)
    return (following - dt.timedelta(days=1)).day


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> dt.date:
    """The nth (from the end when negative) ``weekday`` of a month."""
    if nth > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
    last = dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7 + 7 * (-nth - 1))


def _dates_match(item: Dates, day: dt.date) -> bool:
    start = item.start
    if item.to is None:
        if start.day is None and not start.easter and start.weekday is None:
            return day.month == start.month and start.year in (None, day.year)
        for year in (day.year - 1, day.year, day.year + 1):
            if start.year is None or year == start.year:
                if _point_date(start, year) == day:
                    return True
        return False
    to = item.to
    for year in (day.year - 1, day.year, day.year + 1):
        if start.year is not None and year != start.year:
            continue
        first = _point_date(start, year, "start")
        if first is None:
            continue
        end_year = to.year if to.year is not None else year
        last = _point_date(to, end_year, "end")
        if last is None:
            continue
        if last < first and to.year is None:
            last = _point_date(to, end_year + 1, "end")
            if last is None:
                continue
        if first <= day <= last:
            return True
    return False


def _nth_match(first: int, nth: tuple[int, ...], offset: int, day: dt.date) -> bool:
    try:
        target = day - dt.timedelta(days=offset)
    except OverflowError:  # within days of year 1 or 9999
        return False
    if target.weekday() != first:
        return False
    index = (target.day - 1) // 7 + 1
    from_end = -((_month_length(target) - target.day) // 7 + 1)
    return index in nth or from_end in nth


def _month_length(day: dt.date) -> int:
    return _days_in_month(day.year, day.month)


def _holiday(day: dt.date, offset: int) -> bool:
    try:
        return calendar.is_public_holiday(day - dt.timedelta(days=offset))
    except OverflowError:  # the day before year 1 or after 9999
        return False


def rule_matches(rule: Rule, day: dt.date) -> bool:
    """Whether every date selector of ``rule`` selects ``day``."""
    if rule.years and not any(_in_range(day.year, r) for r in rule.years):
        return False
    if rule.dates and not any(_dates_match(d, day) for d in rule.dates):
        return False
    if rule.weeks and not any(_in_range(day.isocalendar().week, r) for r in rule.weeks):
        return False
    if rule.weekdays or rule.holidays:
        weekday = day.weekday()
        on_weekday = any(
            _nth_match(w.first, w.nth, w.offset, day)
            if w.nth
            else (
                w.first <= weekday <= w.last
                if w.first <= w.last
                else not w.last < weekday < w.first
            )
            for w in rule.weekdays
        )
        on_holiday = any(_holiday(day, h.offset) for h in rule.holidays)
        if rule.holidays_only:
            return on_holiday and on_weekday
        return on_holiday or on_weekday
    return True


# --- a day's timeline ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Internal:
    rule: Rule
    pieces: tuple[_Piece, ...]
    spill: bool  # the hours after midnight of the rule before, applied to the next day
    state: int
    fallback: bool  # applies only where the day is still closed


@dataclass(frozen=True, eq=False)  # hashed by identity: one per distinct value
class Schedule:
    """A parsed value compiled for evaluation."""

    internal: tuple[_Internal, ...]
    uses_sun: bool

    @classmethod
    def of(cls, parsed: Parsed) -> Schedule:
        """Compile the rules, each spill as a rule of its own right after its day part."""
        internal: list[_Internal] = []
        uses_sun = False
        fallback = False
        for rule in parsed.rules:
            # an additional rule after a fallback rule belongs to the fallback group
            fallback = rule.separator == "||" or (rule.separator == "," and fallback)
            pieces = tuple(p for span in rule.spans for p in _pieces(span))
            uses_sun |= any(s.start.event or (s.end and s.end.event) for s in rule.spans)
            state = _STATE_OF[rule.state]
            internal.append(_Internal(rule, pieces, False, state, fallback))
            if any(p.wraps for p in pieces):
                # the hours after midnight apply as they are, even of a fallback rule, as
                # in the reference evaluator
                spill = tuple(p for p in pieces if p.wraps)
                internal.append(_Internal(rule, spill, True, state, False))
        return cls(tuple(internal), uses_sun)

    def day(self, day: dt.date, where: Where) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The day's timeline: change minutes (starting with 0) and the state from each."""
        return _timeline(self, day, where if self.uses_sun else None)


@lru_cache(maxsize=65536)
def _timeline(
    schedule: Schedule, day: dt.date, where: Where
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    yesterday = day - dt.timedelta(days=1)
    applying: list[_Internal] = []
    for item in schedule.internal:
        if not rule_matches(item.rule, yesterday if item.spill else day):
            continue
        normal = item.rule.separator == ";"
        if normal and not item.spill and item.state != CLOSED:
            applying = []  # a normal rule that opens a day replaces what came before
        applying.append(item)
    starts, states = [0], [CLOSED]
    for item in applying:
        fallback = item.fallback
        if item.rule.always or not item.pieces:  # 24/7, or no times: the whole day
            starts, states = _paint(starts, states, 0, DAY_MIN, item.state, fallback)
            continue
        for piece in item.pieces:
            minutes = _spill(piece, day, where) if item.spill else _day_part(piece, day, where)
            if minutes is None:
                continue
            state = item.state
            if piece.open_end and state != CLOSED:
                state = UNKNOWN
            starts, states = _paint(starts, states, minutes[0], minutes[1], state, fallback)
    return tuple(starts), tuple(states)


def _paint(
    starts: list[int], states: list[int], lo: int, hi: int, state: int, only_closed: bool
) -> tuple[list[int], list[int]]:
    """Set [lo, hi) to ``state`` (only where closed, for a fallback rule); merge neighbours."""
    new_starts: list[int] = []
    new_states: list[int] = []
    bounds = sorted({*starts, lo, hi} - {DAY_MIN})
    for start in bounds:
        index = bisect_right(starts, start) - 1
        current = states[index]
        inside = lo <= start < hi
        value = state if inside and (not only_closed or current == CLOSED) else current
        if new_states and new_states[-1] == value:
            continue
        new_starts.append(start)
        new_states.append(value)
    return new_starts, new_states


def state_at(schedule: Schedule, local: dt.datetime, where: Where) -> int:
    """The state at a naive Asia/Shanghai wall time (to the minute, as the reference)."""
    starts, states = schedule.day(local.date(), where)
    return states[bisect_right(starts, local.hour * 60 + local.minute) - 1]


def next_change(
    schedule: Schedule, local: dt.datetime, where: Where, horizon_days: int
) -> tuple[int, dt.datetime | None, int | None]:
    """``(state, when it next changes, to what)`` from a naive wall time, within the horizon."""
    day = local.date()
    minute = local.hour * 60 + local.minute
    starts, states = schedule.day(day, where)
    index = bisect_right(starts, minute) - 1
    now = states[index]
    for i in range(index + 1, len(starts)):
        if states[i] != now:
            return (
                now,
                dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=starts[i]),
                states[i],
            )
    for ahead in range(1, horizon_days + 1):
        try:
            following = day + dt.timedelta(days=ahead)
        except OverflowError:
            return now, None, None
        starts, states = schedule.day(following, where)
        for start, state in zip(starts, states, strict=True):
            if state != now:
                return (
                    now,
                    dt.datetime.combine(following, dt.time()) + dt.timedelta(minutes=start),
                    state,
                )
    return now, None, None


def clear_caches() -> None:
    """Forget computed days (the holiday calendar changed)."""
    _timeline.cache_clear()
