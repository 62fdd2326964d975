"""Opening hours of rest stations: OSM ``opening_hours`` values, evaluated in China.

A value is parsed once (:mod:`.syntax`), stored in the specification's canonical form,
and evaluated (:mod:`.engine`) with the semantics of the OSM reference evaluator,
opening_hours.js: overnight spans reach into the next day, comments and open ends are
unknown, sun times are the station's own (:mod:`.sun`), and ``PH`` is China's public
holidays as the State Council arranges them (:mod:`.calendar`). All times are
Asia/Shanghai wall times; China has no daylight saving, so converting an aware instant
to wall time and back is exact.

Every answer is one of three states, ``open``, ``closed`` or ``unknown``, with the
instant it next changes (within :data:`HORIZON`) and to what. Unknown is never open.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import lru_cache

from stations.errors import InvalidOpeningHours, InvalidParameter
from stations.hours import calendar, engine
from stations.hours.calendar import is_makeup_workday, is_public_holiday
from stations.hours.messages import Note, error_messages, notes
from stations.hours.syntax import HoursSyntaxError, Parsed, canonical, parse
from stations.hours.text import describe as _describe
from stations.hours.tz import SHANGHAI

LOGGER = logging.getLogger(__name__)

__all__ = [
    "EARLIEST",
    "HORIZON",
    "LATEST",
    "SHANGHAI",
    "Checked",
    "Note",
    "Status",
    "check",
    "describe",
    "is_makeup_workday",
    "is_open",
    "is_public_holiday",
    "next_change",
    "parse_date",
    "parse_instant",
    "status",
    "status_of",
    "timeline",
    "uses_sun",
    "validate",
]

HORIZON = dt.timedelta(days=366)
"""How far ``next_change`` looks ahead before answering "no change" (None)."""

Where = tuple[float, float] | None  # (lon, lat)


@dataclass(frozen=True)
class Checked:
    """A valid value in canonical form, with notes for the person who wrote it."""

    text: str
    notes: tuple[Note, ...]


@dataclass(frozen=True, eq=False)
class _Compiled:
    parsed: Parsed
    schedule: engine.Schedule
    text: str


@lru_cache(maxsize=8192)
def _compile(expr: str) -> _Compiled:
    """Parse and compile a stripped value once; raise ``InvalidOpeningHours``."""
    try:
        parsed = parse(expr)
    except HoursSyntaxError as exc:
        zh, en = error_messages(expr, exc)
        raise InvalidOpeningHours(
            en, zh=zh, expression=expr, reason=exc.code, column=exc.column
        ) from None
    text = canonical(parsed)
    if parse(text).rules != parsed.rules:  # never store a text that reads differently
        LOGGER.error("canonical form of %r reads differently; kept as written", expr)
        text = expr
    return _Compiled(parsed, engine.Schedule.of(parsed), text)


def check(expr: str) -> Checked:
    """The value in canonical form with notes (probable typos, rewriting), or raise.

    Raises:
        InvalidOpeningHours: with an English message, a Chinese one (``zh``) and the fix.

    """
    compiled = _compile(expr.strip())
    return Checked(compiled.text, notes(expr.strip(), compiled.parsed, compiled.text))


def validate(expr: str) -> str:
    """The value in canonical form (``Sa, Su 9:00-12:00`` → ``Sa,Su 09:00-12:00``), or raise."""
    return _compile(expr.strip()).text


def uses_sun(expr: str) -> bool:
    """Whether the value's times depend on where the station is (sunrise, dusk ...).

    False for a value that does not parse: it reads as unknown wherever the station is.
    """
    try:
        return _compile(expr.strip()).schedule.uses_sun
    except InvalidOpeningHours:
        return False


def describe(expr: str, lang: str = "zh") -> str:
    """The hours as a person reads them, in Chinese (``zh``) or English (``en``)."""
    return _describe(_compile(expr.strip()).parsed, lang)


# --- evaluation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Status:
    """The state at an instant, when it next changes (aware, Shanghai) and to what."""

    state: str  # "open", "closed" or "unknown"
    next_change: dt.datetime | None
    next_state: str | None

    @property
    def is_open(self) -> bool:
        """Open, as opposed to closed or unknown."""
        return self.state == "open"


UNKNOWN = Status("unknown", None, None)


def _local(at: dt.datetime) -> dt.datetime:
    """Naive Asia/Shanghai wall time of an aware instant."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"opening hours need a timezone-aware datetime, got naive {at!r}")
    return at.astimezone(SHANGHAI).replace(tzinfo=None)


# (expr, where) -> (since, until, status): the answer is the same at every local minute
# in [since, until), so "now" questions cost a dict lookup
_SPANS: dict[tuple[str, Where], tuple[dt.datetime, dt.datetime, Status]] = {}
_SPANS_MAX = 8192


def status(expr: str, at: dt.datetime, where: Where = None) -> Status:
    """The state of ``expr`` at the aware instant ``at`` for a station at ``where``.

    ``where`` (lon, lat) matters only for sun times; without it they are the reference
    evaluator's stand-ins (sunrise 06:00, sunset 18:00).

    Raises:
        InvalidOpeningHours: when ``expr`` is not valid.

    """
    compiled = _compile(expr.strip())
    where = where if compiled.schedule.uses_sun else None
    local = _local(at)
    key = (expr, where)
    span = _SPANS.get(key)
    if span is not None and span[0] <= local < span[1]:
        return span[2]
    minute = local.replace(second=0, microsecond=0)
    now, change, to = engine.next_change(compiled.schedule, minute, where, HORIZON.days)
    answer = Status(
        engine.STATES[now],
        None if change is None else change.replace(tzinfo=SHANGHAI),
        None if to is None else engine.STATES[to],
    )
    if len(_SPANS) >= _SPANS_MAX:
        _SPANS.clear()
    # with no change in sight, the answer holds for a day (the horizon moves on)
    until = change if change is not None else minute + dt.timedelta(days=1)
    _SPANS[key] = (minute, until, answer)
    return answer


def clear_caches() -> None:
    """Forget evaluated answers and the holiday files read (after a file changed)."""
    calendar.reload()
    engine.clear_caches()
    _SPANS.clear()
    _TIMELINES.clear()


def status_of(expr: str | None, at: dt.datetime, where: Where = None) -> Status:
    """Like :func:`status`, but without published hours the state is ``unknown``.

    So is a stored value that no longer parses: one bad record must not break a listing.
    """
    if not expr:
        return UNKNOWN
    try:
        return status(expr, at, where)
    except InvalidOpeningHours:
        LOGGER.warning("stored opening hours no longer valid: %r", expr)
        return UNKNOWN
    except (ValueError, OverflowError, ArithmeticError):  # a value we cannot evaluate: a bug
        LOGGER.exception("opening hours %r could not be evaluated at %s", expr, at)
        return UNKNOWN


# (expr, where) -> (start, [(instant, state), ...]): the states from ``start`` for
# _TIMELINE_SPAN, kept so that a map view's hundreds of schedules are not walked anew
# for every view a rider pans to
_TIMELINES: dict[tuple[str, Where], tuple[dt.datetime, tuple[tuple[dt.datetime, str], ...]]] = {}
_TIMELINE_SPAN = dt.timedelta(hours=96)


def timeline(
    expr: str | None, at: dt.datetime, ahead: dt.timedelta, where: Where = None
) -> list[tuple[dt.datetime, str]]:
    """The states from ``at`` to ``at + ahead`` and the first change past it.

    ``(at, state)`` then each change, and the first change after ``at + ahead`` when there
    is one within as long again. What a phone needs to tell "open", "closes in 10 min"
    or "open for my 20-minute break" on its own, offline, for the next day or two, with
    no hours parser of its own. The change past the window keeps the last state inside it
    honest: without it, a station open from its last change in the window would look open
    for good. Like :func:`status_of`, no published hours (or a value that no longer
    parses) is unknown throughout.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"opening hours need a timezone-aware datetime, got naive {at!r}")
    if 2 * ahead > _TIMELINE_SPAN:
        raise ValueError(f"timeline looks ahead at most {_TIMELINE_SPAN / 2}")
    if not expr:
        return [(at, "unknown")]
    key = (expr, where)
    cached = _TIMELINES.get(key)
    if cached is None or not (cached[0] <= at and at + 2 * ahead <= cached[0] + _TIMELINE_SPAN):
        if len(_TIMELINES) >= _SPANS_MAX:
            _TIMELINES.clear()
        cached = _TIMELINES[key] = (at, _walk(expr, at, at + _TIMELINE_SPAN, where))
    steps = cached[1]
    state = steps[0][1]
    out: list[tuple[dt.datetime, str]] = []
    for instant, then in steps:
        if instant <= at:
            state = then
        elif instant <= at + ahead:
            out.append((instant, then))
        else:
            if instant <= at + 2 * ahead:
                out.append((instant, then))
            break
    return [(at, state), *out]


def _walk(
    expr: str, start: dt.datetime, end: dt.datetime, where: Where
) -> tuple[tuple[dt.datetime, str], ...]:
    now = status_of(expr, start, where)
    steps = [(start, now.state)]
    while now.next_change is not None and now.next_change <= end:
        instant = now.next_change
        now = status_of(expr, instant, where)
        steps.append((instant, now.state))
    return tuple(steps)


def is_open(expr: str, at: dt.datetime, where: Where = None) -> bool:
    """Whether the station is open at the aware instant ``at``; unknown is not open."""
    return status(expr, at, where).is_open


def next_change(expr: str, at: dt.datetime, where: Where = None) -> dt.datetime | None:
    """Next instant after ``at`` when the state changes, or None within ``HORIZON``."""
    return status(expr, at, where).next_change


# --- instants people type ------------------------------------------------------------

# Instants outside 2000-2100 (Beijing time) are surely typos, and would overflow hour
# evaluation. LATEST is the first instant refused: all of 31 December 2100 is accepted.
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=SHANGHAI)
LATEST = dt.datetime(2101, 1, 1, tzinfo=SHANGHAI)


def parse_instant(text: str, name: str = "at") -> dt.datetime:
    """An ISO 8601 date-time a person typed; without an offset it is Shanghai local time.

    Raises:
        InvalidParameter: naming ``name``, when unparsable or outside 2000-2100.

    """
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(
            name,
            f"{name} must be an ISO 8601 date-time such as 2025-10-01T08:30+08:00",
            zh=f"{name} 应为 ISO 8601 日期时间，例如 2025-10-01T08:30+08:00",
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    if not EARLIEST <= value < LATEST:
        raise InvalidParameter(
            name, f"{name} must be between 2000 and 2100", zh=f"{name} 应在 2000 年到 2100 年之间"
        )
    return value


def parse_date(text: object, name: str = "date") -> dt.date:
    """A calendar date a person typed as YYYY-MM-DD, within 2000-2100.

    Raises:
        InvalidParameter: naming ``name``, when missing, unparsable or out of range.

    """
    try:
        value = dt.date.fromisoformat(text) if isinstance(text, str) and len(text) == 10 else None
    except ValueError:
        value = None
    if value is None:
        raise InvalidParameter(
            name,
            f"{name} must be a date as YYYY-MM-DD, e.g. 2026-11-25",
            zh=f"{name} 应为 YYYY-MM-DD 格式的日期，例如 2026-11-25",
        )
    if not EARLIEST.date() <= value < LATEST.date():
        raise InvalidParameter(
            name, f"{name} must be between 2000 and 2100", zh=f"{name} 应在 2000 年到 2100 年之间"
        )
    return value
