"""The stations as they were during a period, read from ``station_history``.

A report for a past period must not judge a station by what it is today: one suspended
in 2023 was active through 2021 and is paid for 2021. For each station this gives

- the facts in force at the end of the period's last day (Beijing time): the snapshot of
  the last history entry by then, ordered by when it took effect
  (``coalesce(effective_at, changed_at)``, migration 0009), then by id;
- its status day by day through the period, as spells (first day, last day, status); a
  day has the status in force at its start (00:00 Beijing time);
- whether the history reaches back that far: a station with no entry by the period's end
  (imported after it with no earlier record) is judged by its current facts, and the
  report says so.

Stations deleted since, which existed then, are included. Only the entries that matter
are read whole: a station unchanged since the period (nearly all of them) keeps the row
already read, so a 100,000-station report reads its history's ids and times, not its JSON.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg

from stations.hours.tz import SHANGHAI
from stations.records import FIELDS
from stations.subsidy.programmes import Period

Spell = tuple[dt.date, dt.date, str]  # first day, last day (inclusive), status
_FLOATS = {f.name for f in FIELDS if f.json_type == "number"}
_DATES = {f.name for f in FIELDS if f.name.endswith("_on")}

# Per station, only what a report needs: its newest entry, the one in force at the end,
# the one in force at the start and those during the period; only stations whose facts
# or status differ from the row now come back (few), and those with no history by then.
_CHANGED = """
WITH h AS (
    SELECT station_id, id, action, coalesce(effective_at, changed_at) AS t
    FROM station_history
), s AS (
    SELECT station_id,
           max(id) AS latest,
           (array_agg(action ORDER BY id DESC))[1] = 'delete' AS deleted_now,
           (array_agg(id ORDER BY t DESC, id DESC) FILTER (WHERE t < %(end)s))[1] AS at_end,
           (array_agg(action ORDER BY t DESC, id DESC) FILTER (WHERE t < %(end)s))[1]
               = 'delete' AS deleted_then,
           (array_agg(id ORDER BY t DESC, id DESC) FILTER (WHERE t <= %(begin)s))[1] AS at_start,
           array_agg(id ORDER BY t, id) FILTER (WHERE t > %(begin)s AND t < %(end)s) AS inside,
           array_agg(t ORDER BY t, id) FILTER (WHERE t > %(begin)s AND t < %(end)s) AS inside_t
    FROM h GROUP BY station_id
)
SELECT station_id, latest, deleted_now, at_end, deleted_then, at_start, inside, inside_t
FROM s
WHERE at_end IS NULL OR at_end <> latest OR inside IS NOT NULL
"""


@dataclass(frozen=True)
class AsOf:
    """The stations of a region as they were (see the module doc), in code order."""

    stations: list[dict[str, Any]]
    spells: list[tuple[Spell, ...]]
    from_history: list[bool]  # False: no history by the period's end, current facts used


def start_of(day: dt.date) -> dt.datetime:
    """00:00 of ``day``, Beijing time."""
    return dt.datetime.combine(day, dt.time(), SHANGHAI)


def as_of(
    conn: psycopg.Connection, current: list[dict[str, Any]], prefix: str, period: Period
) -> AsOf:
    """``current`` (the region's rows now, in code order) as they were during ``period``."""
    begin, end = start_of(period.start), start_of(period.end + dt.timedelta(days=1))
    by_id = {s["id"]: i for i, s in enumerate(current)}
    stations = list(current)
    spells = [whole(period, s) for s in current]
    known = [True] * len(current)
    rows = conn.execute(_CHANGED, {"begin": begin, "end": end}).fetchall()
    need: set[int] = set()  # history entries whose snapshot is read
    plans = []
    for station_id, latest, deleted_now, at_end, deleted_then, at_start, inside, times in rows:
        here = by_id.get(station_id)
        if here is None and not deleted_now:
            continue  # in another region now (a station moved since is judged where it is)
        if at_end is None:
            if here is not None:
                known[here] = False  # nothing by then: judged by its current facts
            continue
        if deleted_then:
            continue  # deleted by then (a station with its id again later is judged anew)
        old = at_end if (at_end != latest or here is None) else None
        steps = list(zip(times, inside, strict=True)) if inside else []
        if steps and at_start is not None:
            steps.insert(0, (begin, at_start))
        need.update(i for _, i in steps)
        if old is not None:
            need.add(old)
        plans.append((station_id, here, old, steps))
    snapshots = dict(
        conn.execute(
            "SELECT id, after FROM station_history WHERE id = ANY(%s)", [sorted(need)]
        ).fetchall()
    )
    added, elsewhere = False, set()
    for station_id, here, old, steps in plans:
        station = current[here] if old is None else _record(station_id, snapshots[old])
        if not station["district_code"].startswith(prefix):
            if here is not None:
                elsewhere.add(here)  # it was in another region then
            continue
        status = _spells(period, steps, snapshots) if steps else whole(period, station)
        if here is None:
            stations.append(station)
            spells.append(status)
            known.append(True)
            added = True
        else:
            stations[here], spells[here] = station, status
    if not added and not elsewhere:
        return AsOf(stations, spells, known)
    order = sorted(
        (i for i in range(len(stations)) if i not in elsewhere),
        key=lambda i: (stations[i]["code"], stations[i]["id"]),
    )
    return AsOf([stations[i] for i in order], [spells[i] for i in order], [known[i] for i in order])


def whole(period: Period, station: dict[str, Any]) -> tuple[Spell, ...]:
    """The whole period in the station's one status (nothing changed during it)."""
    return ((period.start, period.end, station["status"]),)


def _spells(
    period: Period, steps: list[tuple[dt.datetime, int]], snapshots: dict[int, Any]
) -> tuple[Spell, ...]:
    """Day-by-day status from the entries in force at the start and during the period."""
    # the status a day has is the one in force at its 00:00: a change at 10:00 counts
    # from the next day; a change at 00:00 from that day
    days: list[tuple[dt.date, str]] = []
    for when, entry in steps:
        local = when.astimezone(SHANGHAI)
        day = local.date() if local.time() == dt.time() else local.date() + dt.timedelta(1)
        status = (snapshots[entry] or {}).get("status") or "deleted"
        day = max(day, period.start)
        if day > period.end:
            continue
        if days and days[-1][0] == day:
            days[-1] = (day, status)
        else:
            days.append((day, status))
    if not days or days[0][0] > period.start:  # registered during the period
        days.insert(0, (period.start, "unregistered"))
    out: list[Spell] = []
    for (day, status), following in zip(days, [*days[1:], None], strict=True):
        last = following[0] - dt.timedelta(1) if following else period.end
        if out and out[-1][2] == status:
            out[-1] = (out[-1][0], last, status)
        else:
            out.append((day, last, status))
    return tuple(out)


def _record(station_id: int, snapshot: dict[str, Any]) -> dict[str, Any]:
    """A history snapshot in the shape of a row read from ``stations``."""
    out: dict[str, Any] = {"id": station_id}
    for f in FIELDS:
        value = snapshot.get(f.name)
        if value is not None and f.name in _FLOATS:
            value = float(value)
        elif isinstance(value, str) and f.name in _DATES:
            value = dt.date.fromisoformat(value)
        out[f.name] = value
    return out


def active_days(spells: tuple[Spell, ...], first: dt.date, last: dt.date) -> int:
    """Days from ``first`` to ``last`` (inclusive) on which the status was active."""
    days = 0
    for start, end, status in spells:
        if status == "active":
            lo, hi = max(start, first), min(end, last)
            days += max((hi - lo).days + 1, 0)
    return days
