"""Opening hours of rest stations: OSM ``opening_hours`` syntax evaluated in China.

Expressions are stored exactly as written and checked with the reference parser
(opening-hours-py). Every evaluation happens in Asia/Shanghai local time; China has no
DST, so converting an aware instant to naive local time and back is exact.

Public holidays (``PH``)
    ``PH`` means China's statutory public holidays *as arranged by the State Council*,
    i.e. the whole break including the weekend days inside it (1-8 October 2025). The
    parser's built-in ``country="CN"`` list marks only single days (no 2 October), so it
    is not used. The calendar comes from ``chinesecalendar`` for the years it covers;
    years beyond chinesecalendar use the statutory days from the holidays package;
    make-up working days are then unknown (none).

    The parser is run without a country, where ``PH`` never matches. To evaluate an
    instant on local day D we take the seven days W = D-2 .. D+4 (all weekdays
    distinct) and rewrite every ``PH`` outside comments as the weekdays of the days in W
    that are holidays (``PH`` stays as is when there are none). The rewritten variant
    is exact for instants on D .. D+4: a rule reaches at most into the next day, and
    the previous days are in W. ``PH +n day(s)`` / ``PH -n day(s)`` are supported the
    same way (a day matches when the day n days before / after it is a holiday).

    ``PH`` must be joined to weekdays by a comma (``PH,Su``): the parser reads
    ``PH Su`` as the union ``PH,Su``, which a person (and other tools) may read as
    "holidays falling on a Sunday", so that form is rejected. ``SH`` (school holidays)
    is rejected: there is no Chinese school-holiday calendar.

Make-up working days (调休上班日)
    OSM has no selector for them. A make-up working day is evaluated as its calendar
    weekday, so ``Mo-Fr 08:00-20:00`` is closed on Sunday 2025-09-28. A station that
    works on make-up days lists them, repeating the year on *each* date:
    ``Mo-Fr 08:00-20:00; 2025 Sep 28,2025 Oct 11 08:00-20:00; PH off``. Beware that in
    ``2025 Sep 28,Oct 11`` the year binds to the first date only, so ``Oct 11`` would
    match every year.

Overnight spans (reference parser semantics, kept as is)
    The hours after midnight of a span such as ``22:00-06:00`` come from the rule that
    governs the *next* day, provided that rule's selector also matches the previous
    day, whatever rule actually governs the previous day. With
    ``Mo-Su 22:00-06:00; PH off`` the station is closed at 02:00 on 1 October 2025
    (the holiday's ``off`` covers its whole day), yet open 00:00-06:00 on 9 October
    although ``PH off`` kept it closed on the evening of 8 October.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays
from opening_hours import OpeningHours, ParserError, State

from stations.errors import InvalidOpeningHours, InvalidParameter

LOGGER = logging.getLogger(__name__)

__all__ = [
    "HORIZON",
    "SHANGHAI",
    "is_makeup_workday",
    "is_open",
    "is_public_holiday",
    "next_change",
    "state_at",
    "state_or_closed",
    "validate",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")
HORIZON = timedelta(days=366)
"""How far ``next_change`` looks ahead before answering "no change" (None)."""

EXAMPLE = "Mo-Fr 08:00-20:00; PH off"

_WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_WINDOW = range(-2, 5)  # W = D-2 .. D+4, seven distinct weekdays
_STEP = 5  # days; a variant is exact for D .. D+4
# A quoted comment (left untouched) or a PH token with its optional day offset. The
# parser accepts PH glued to neighbours ("JanPH", "PHoff"), so no word boundaries.
_PH = re.compile(r'"[^"]*"|PH(?: ([+-]\d+) days?)?')
_SH = re.compile(r'"[^"]*"|SH')
_POSITION = re.compile(r"-->\s*(\d+):(\d+)")


# --- calendar ------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _year_calendar(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """Holidays and make-up working days of one year, computed once per year."""
    try:
        chinese_calendar.get_holiday_detail(date(year, 1, 1))
    except NotImplementedError:
        # Statutory days per the law (incl. "observed" ones); arrangements unknown.
        return frozenset(holidays.China(years=year)), frozenset()
    rest: set[date] = set()
    makeup: set[date] = set()
    first = date(year, 1, 1)
    for day in (first + timedelta(days=i) for i in range(366)):
        if day.year != year:
            break
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        if name is not None:  # plain weekends are (True, None): not a named holiday
            (rest if on_holiday else makeup).add(day)
    return frozenset(rest), frozenset(makeup)


def is_public_holiday(day: date) -> bool:
    """Whether ``day`` is a statutory/arranged public holiday, i.e. what ``PH`` matches."""
    return day in _year_calendar(day.year)[0]


def is_makeup_workday(day: date) -> bool:
    """Whether ``day`` is a make-up working day (调休上班日); False where unknown."""
    return day in _year_calendar(day.year)[1]


# --- validation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Template:
    """An expression cut around its PH tokens, so a variant is one cheap join."""

    pieces: tuple[str, ...]  # text between PH tokens; len(tokens) + 1 items
    tokens: tuple[str, ...]  # the PH tokens as written (kept when W has no holiday)
    offsets: tuple[int, ...]  # day offset of each token (PH +1 day -> 1)


def _quote(text: str) -> str:
    """Quote user text on one line (newlines and quotes escaped)."""
    return json.dumps(text, ensure_ascii=False)


def _parse_or_raise(expr: str) -> OpeningHours:
    """Parse with the reference parser; turn its multi-line error into one line."""
    try:
        return OpeningHours(expr)
    except ParserError as exc:
        text = str(exc)
        lines = [line.strip() for line in text.splitlines()]
        reason = next((ln[1:].strip() for ln in lines if ln.startswith("=")), "syntax error")
        where = ""
        column = None
        if match := _POSITION.search(text):
            line_no, column = int(match[1]), int(match[2])
            lines_of_expr = expr.splitlines() or [""]
            near = lines_of_expr[min(line_no, len(lines_of_expr)) - 1][column - 1 :]
            where = f"at column {column}" if line_no == 1 else f"at line {line_no}, column {column}"
            if near:
                where += f" (near {_quote(near[:20])})"
            where += ", "
            if "timespan" in reason and near[:1].isdigit():
                reason += " (times are written HH:MM-HH:MM, e.g. 08:00-20:00)"
        message = (
            f"opening hours {_quote(expr)} are not valid OSM opening_hours syntax: "
            f"{where}{reason}; example: {_quote(EXAMPLE)}"
        )
        raise InvalidOpeningHours(message, expression=expr, reason=reason, column=column) from None


def _template(expr: str) -> _Template:
    """Cut ``expr`` around the PH tokens that lie outside quoted comments."""
    pieces: list[str] = []
    tokens: list[str] = []
    offsets: list[int] = []
    last = 0
    for match in _PH.finditer(expr):
        if match[0].startswith('"'):
            continue
        pieces.append(expr[last : match.start()])
        tokens.append(match[0])
        offsets.append(int(match[1]) if match[1] else 0)
        last = match.end()
    pieces.append(expr[last:])
    return _Template(tuple(pieces), tuple(tokens), tuple(offsets))


def _fill(template: _Template, replacements: list[str]) -> str:
    """Join the template with one replacement text per PH token."""
    out = [template.pieces[0]]
    for text, piece in zip(replacements, template.pieces[1:], strict=True):
        out += (text, piece)
    return "".join(out)


@lru_cache(maxsize=4096)
def _prepared(expr: str) -> _Template:
    """Validate a stripped expression once and keep its PH template."""
    if not expr:
        raise InvalidOpeningHours(
            f"opening hours are empty; example: {_quote(EXAMPLE)}", expression=expr
        )
    _parse_or_raise(expr)
    if any(not m[0].startswith('"') for m in _SH.finditer(expr)):
        raise InvalidOpeningHours(
            f"opening hours {_quote(expr)} use SH (school holidays), which are not supported: "
            "there is no school-holiday calendar for China; list the dates instead, "
            f"e.g. {_quote('Mo-Fr 08:00-20:00; 2025 Jul 05-Aug 31 off')}",
            expression=expr,
        )
    template = _template(expr)
    if template.tokens:
        for probe in ("Mo", "Mo,We"):
            try:
                OpeningHours(_fill(template, [probe] * len(template.tokens)))
            except ParserError:
                raise InvalidOpeningHours(
                    f"opening hours {_quote(expr)} use PH in a form that cannot be evaluated: "
                    f"join PH and weekdays with a comma ({_quote('PH,Su')}, not "
                    f"{_quote('PH Su')}) and write offsets as {_quote('PH +1 day')}",
                    expression=expr,
                ) from None
    return template


def validate(expr: str) -> str:
    """Return ``expr`` stripped (not normalised) or raise ``InvalidOpeningHours``.

    Besides the reference parser's syntax check this rejects what our China calendar
    cannot evaluate (``SH``, ``PH`` followed by a space and weekdays).
    """
    stripped = expr.strip()
    _prepared(stripped)
    return stripped


# --- evaluation ----------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _compile(variant: str) -> OpeningHours:
    """Parse a variant once; stations share few distinct expressions."""
    return OpeningHours(variant)


def _shift(day: date, days: int) -> date | None:
    """``day + days``, or None outside the calendar's range (year 1 .. 9999)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return None


@lru_cache(maxsize=1024)
def _ph_weekdays(day: date, offset: int) -> str:
    """Weekdays of the days in W(day) matching ``PH +offset day`` ("" if none), e.g. "We,Th"."""
    weekdays = sorted(
        d.weekday()
        for i in _WINDOW
        if (d := _shift(day, i)) is not None
        and (source := _shift(d, -offset)) is not None
        and is_public_holiday(source)
    )
    return ",".join(_WEEKDAYS[i] for i in weekdays)


@lru_cache(maxsize=8192)
def _variant(template: _Template, day: date) -> str:
    """Spell PH as weekdays of holidays near ``day``; exact for instants on day .. day+4."""
    if not template.tokens:
        return template.pieces[0]
    replacements = [
        _ph_weekdays(day, offset) or token
        for token, offset in zip(template.tokens, template.offsets, strict=True)
    ]
    return _fill(template, replacements)


def _local(at: datetime) -> datetime:
    """Naive Asia/Shanghai wall time of an aware instant."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"opening hours need a timezone-aware datetime, got naive {at!r}")
    return at.astimezone(SHANGHAI).replace(tzinfo=None)


def _midnight(day: date) -> datetime:
    """Start of a local day."""
    return datetime.combine(day, time())


def _first_flip(
    oh: OpeningHours, start: datetime, end: datetime, was_open: bool
) -> datetime | None:
    """First instant in [start, end) whose open-ness differs from ``was_open``."""
    for begin, _end, state, _comment in oh.intervals(start, end):
        if (state == State.OPEN) != was_open:
            return begin
    return None


def _window_after(day: date, horizon_end: datetime) -> date | None:
    """First day of the next 5-day window, or None past the horizon."""
    following = _shift(day, _STEP)
    return None if following is None or _midnight(following) >= horizon_end else following


def _next_flip(template: _Template, local: datetime, was_open: bool) -> datetime | None:
    """Next local instant within ``HORIZON`` where open-ness flips, window by window."""
    horizon_end = local + HORIZON if local < datetime.max - HORIZON else datetime.max
    if not template.tokens:  # no PH: the reference parser answers directly
        return _first_flip(_compile(template.pieces[0]), local, horizon_end, was_open)
    start, day = local, local.date()
    variant = _variant(template, day)
    merge = False  # most flips are near: scan the first window alone
    while True:
        following = _window_after(day, horizon_end)
        following_variant = _variant(template, following) if following else ""
        # Later windows that spell PH the same way are merged into one scan.
        while merge and following is not None and following_variant == variant:
            following = _window_after(following, horizon_end)
            following_variant = _variant(template, following) if following else ""
        end = horizon_end if following is None else _midnight(following)
        if (flip := _first_flip(_compile(variant), start, end, was_open)) is not None:
            return flip
        if following is None:
            return None
        start, day, variant, merge = end, following, following_variant, True


def _evaluate(expr: str, at: datetime, want_change: bool) -> tuple[bool, datetime | None]:
    """Compute open-ness at ``at`` and, if wanted, the next flip (aware, Shanghai)."""
    local = _local(at)
    template = _prepared(expr.strip())
    open_now = _compile(_variant(template, local.date())).is_open(local)
    if not want_change:
        return open_now, None
    flip = _next_flip(template, local, open_now)
    return open_now, None if flip is None else flip.replace(tzinfo=SHANGHAI)


def is_open(expr: str, at: datetime) -> bool:
    """Whether the station is open at the aware instant ``at``; "unknown" is not open."""
    return _evaluate(expr, at, want_change=False)[0]


def next_change(expr: str, at: datetime) -> datetime | None:
    """Next instant after ``at`` when open/closed flips, or None within ``HORIZON``."""
    return _evaluate(expr, at, want_change=True)[1]


# expr -> (since, until, open): the state is ``open`` at every local instant in
# [since, until) and flips at ``until``, so any ``at`` in there has the same answer.
_SPANS: dict[str, tuple[datetime, datetime, bool]] = {}
_NEVER: dict[str, tuple[datetime, datetime, bool]] = {}  # as _SPANS, for "no flip soon"
_SPANS_MAX = 4096


def state_at(expr: str, at: datetime) -> tuple[bool, datetime | None]:
    """``(is_open, next_change)`` in one pass, for serialising many stations.

    Answers are remembered per expression for the span until the next flip, which is
    exact (nothing changes in between) and makes "now" queries nearly free.
    """
    local = _local(at)
    span = _SPANS.get(expr)
    if span is not None and span[0] <= local < span[1]:
        return span[2], span[1].replace(tzinfo=SHANGHAI)
    span = _NEVER.get(expr)
    if span is not None and span[0] <= local < span[1]:
        return span[2], None
    open_now, flip = _evaluate(expr, at, want_change=True)
    if len(_SPANS) + len(_NEVER) >= _SPANS_MAX:
        _SPANS.clear()
        _NEVER.clear()
    if flip is not None:
        _SPANS[expr] = (local, _local(flip), open_now)
    else:
        # no flip within HORIZON of `local`: for a day after it, the only flip the answer
        # could miss lies more than 365 days out, which HORIZON calls "not soon" anyway
        _NEVER[expr] = (local, local + timedelta(days=1), open_now)
    return open_now, flip


def state_or_closed(expr: str | None, at: datetime) -> tuple[bool, datetime | None]:
    """Like :func:`state_at`, but a missing or no-longer-valid expression reads as closed.

    For serialising stored records: one record whose hours a stricter validator now
    rejects must not break a whole listing. It is logged so someone fixes it.
    """
    if not expr:
        return False, None
    try:
        return state_at(expr, at)
    except InvalidOpeningHours:
        LOGGER.warning("stored opening hours no longer valid: %r", expr)
        return False, None


# Instants outside this range are surely typos, and would overflow hour evaluation.
EARLIEST = datetime(2000, 1, 1, tzinfo=SHANGHAI)
LATEST = datetime(2100, 12, 31, tzinfo=SHANGHAI)


def parse_instant(text: str, name: str = "at") -> datetime:
    """An ISO 8601 date-time a person typed; without an offset it is Shanghai local time.

    Raises:
        InvalidParameter: naming ``name``, when unparsable or outside 2000-2100.

    """
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(
            name, f"{name} must be an ISO 8601 date-time such as 2025-10-01T08:30+08:00"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    if not EARLIEST <= value <= LATEST:
        raise InvalidParameter(name, f"{name} must be between 2000 and 2100")
    return value


def parse_date(text: object, name: str = "date") -> date:
    """A calendar date a person typed as YYYY-MM-DD, within 2000-2100.

    Raises:
        InvalidParameter: naming ``name``, when missing, unparsable or out of range.

    """
    try:
        value = date.fromisoformat(text) if isinstance(text, str) and len(text) == 10 else None
    except ValueError:
        value = None
    if value is None:
        raise InvalidParameter(name, f"{name} must be a date as YYYY-MM-DD, e.g. 2026-11-25")
    if not EARLIEST.date() <= value <= LATEST.date():
        raise InvalidParameter(name, f"{name} must be between 2000 and 2100")
    return value
