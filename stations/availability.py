"""Whether a rider can use a station at an instant: the five states every answer carries.

``open`` and ``closing_soon`` (open, but closing within ``STATIONS_CLOSING_SOON_MIN``
minutes) are open; ``closed``; ``unknown`` (no published hours, or hours that are only a
comment or an open end: never called open); ``suspended`` (the station's status says
so, whatever its hours). A station whose status is ``closed`` is closed for good.

"Open for my break" (``open_for_min``) asks more: open now and still open that many
minutes later, overnight spans and holidays included. One :class:`Judge` per request
evaluates each distinct schedule once (and each station with sun times once), so a
search over thousands of stations costs a few hundred evaluations at most.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from stations import hours, settings
from stations.errors import InvalidOpeningHours

OPEN_STATES = ("open", "closing_soon")
STATES = ("open", "closing_soon", "closed", "unknown", "suspended")


def closing_soon_min() -> int:
    """Minutes before closing from which an open station is ``closing_soon``."""
    return settings.value("STATIONS_CLOSING_SOON_MIN")


@dataclass(frozen=True, slots=True)
class Availability:
    """A station's state at an instant, when it next changes, and minutes to that."""

    state: str
    next_change: dt.datetime | None
    closes_in_min: int | None  # open: whole minutes left (rounded down); None: not closing
    opens_in_min: int | None  # closed or unknown and opening next: minutes (rounded up)
    open_until: dt.datetime | None = None  # open: when it stops being open
    next_state: str | None = None  # what the hours say from next_change on

    @property
    def is_open(self) -> bool:
        """Open or closing soon."""
        return self.state in OPEN_STATES


_SUSPENDED = Availability("suspended", None, None, None)
_CLOSED_FOR_GOOD = Availability("closed", None, None, None)


def of_status(status: hours.Status, at: dt.datetime, soon_min: int) -> Availability:
    """The availability for an hours status at ``at``."""
    change = status.next_change
    left = None if change is None else (change - at).total_seconds() / 60
    if status.is_open:
        closes = None if left is None else max(0, math.floor(left))
        state = "closing_soon" if left is not None and left <= soon_min else "open"
        return Availability(state, change, closes, None, change, status.next_state)
    opens = None
    if left is not None and status.next_state == "open":
        opens = max(0, math.ceil(left))
    return Availability(status.state, change, None, opens, None, status.next_state)


class Judge:
    """Availability of many stations at one instant, each schedule evaluated once."""

    def __init__(self, at: dt.datetime, open_for_min: int = 0, soon_min: int | None = None) -> None:
        self.at = at
        self.open_for = dt.timedelta(minutes=open_for_min)
        self.soon_min = closing_soon_min() if soon_min is None else soon_min
        self._cache: dict[object, Availability] = {}

    def hours(
        self, expr: str | None, lon: float | None = None, lat: float | None = None
    ) -> Availability:
        """What the hours alone say (for an active station)."""
        where = None
        if expr and lon is not None and lat is not None and hours.uses_sun(expr):
            where = (lon, lat)
        key = (expr, where)
        found = self._cache.get(key)
        if found is None:
            status = hours.status_of(expr, self.at, where)
            found = self._cache[key] = of_status(status, self.at, self.soon_min)
        return found

    def station(self, record: dict) -> Availability:  # type: ignore[type-arg]
        """A station record's availability: its status first, then its hours."""
        status = record.get("status", "active")
        if status == "suspended":
            return _SUSPENDED
        if status == "closed":
            return _CLOSED_FOR_GOOD
        return self.hours(record.get("opening_hours"), record.get("lon"), record.get("lat"))

    def usable(self, availability: Availability) -> bool:
        """Open now and, with ``open_for_min``, still open that long from now."""
        if not availability.is_open:
            return False
        until = availability.open_until
        return until is None or until - self.at >= self.open_for


def hours_text(expr: str | None, lang: str) -> str:
    """The hours in words for a station answer, also when none are published."""
    if not expr:
        return "未公布营业时间" if lang != "en" else "hours not published"
    try:
        return hours.describe(expr, lang)
    except InvalidOpeningHours:
        return expr  # a stored value a stricter parser refuses: shown as written
