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
from itertools import groupby
from typing import Any

import psycopg

from stations.hours.tz import SHANGHAI
from stations.records import FIELDS
from stations.subsidy.programmes import Period

Spell = tuple[dt.date, dt.date, str]  # first day, last day (inclusive), status
_FLOATS = {f.name for f in FIELDS if f.json_type == "number"}
_DATES = {f.name for f in FIELDS if f.name.endswith("_on")}

_TIMELINE = """
SELECT station_id, id, coalesce(effective_at, changed_at) AS t, action = 'delete'
FROM station_history ORDER BY station_id, t, id
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
    by_id = {s["id"]: s for s in current}
    need: set[int] = set()  # history entries whose snapshot is read
    plan: dict[int, tuple[int | None, list[tuple[dt.datetime, int]]]] = {}
    for station_id, rows in groupby(conn.execute(_TIMELINE).fetchall(), key=lambda r: r[0]):
        entries = list(rows)
        latest = max(e[1] for e in entries)
        if station_id not in by_id and not any(e[3] for e in entries if e[1] == latest):
            continue  # in another region now (a station moved since is judged where it is)
        before_end = [e for e in entries if e[2] < end]
        if not before_end:
            continue  # nothing by then: current facts (if it exists now)
        last = before_end[-1]
        if last[3]:
            continue  # deleted by then
        at_end = None if last[1] == latest and station_id in by_id else last[1]
        inside = [e for e in before_end if e[2] > begin]  # changes during the period
        steps: list[tuple[dt.datetime, int]] = []
        if inside:
            opening = [e for e in before_end if e[2] <= begin]
            steps = [(begin, opening[-1][1])] if opening else []
            steps += [(e[2], e[1]) for e in inside]
            need.update(i for _, i in steps)
        if at_end is not None:
            need.add(at_end)
        if at_end is not None or steps or station_id in by_id:
            plan[station_id] = (at_end, steps)
    snapshots = dict(
        conn.execute(
            "SELECT id, after FROM station_history WHERE id = ANY(%s)", [sorted(need)]
        ).fetchall()
    )
    stations, spells, known = [], [], []
    for station_id, (at_end, steps) in plan.items():
        if at_end is None:
            station = by_id[station_id]
        else:
            station = _record(station_id, snapshots[at_end])
            if not station["district_code"].startswith(prefix):
                continue  # it was elsewhere then
        stations.append(station)
        spells.append(_spells(period, steps, snapshots) if steps else _whole(period, station))
        known.append(True)
    seen = set(plan)
    for station in current:  # no history by the period's end: judged as it is now
        if station["id"] not in seen:
            stations.append(station)
            spells.append(_whole(period, station))
            known.append(False)
    order = sorted(range(len(stations)), key=lambda i: (stations[i]["code"], stations[i]["id"]))
    return AsOf([stations[i] for i in order], [spells[i] for i in order], [known[i] for i in order])


def _whole(period: Period, station: dict[str, Any]) -> tuple[Spell, ...]:
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
