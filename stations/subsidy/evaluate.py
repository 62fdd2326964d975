"""Every station's verdict under a programme: eligible or not, the amount, and why.

Each criterion gives every station a reason (criterion, required, actual, passed), so a
finance officer sees exactly what a station lacks, in Chinese first and in English. A
past period is judged with the facts in force then (:mod:`stations.subsidy.as_of`): the
facts at the period's end, and for monthly or prorated money the days it was active.
Spacing and caps depend on the other stations: stations that pass every other criterion
are taken in the programme's order (for example those that bring the most new coverage
first); each is checked against the stations already subsidised, and places are given
until the count or budget runs out. Stations already active before the period count as
subsidised for spacing: a new station must not sit on the existing network. Distances
for spacing are geodesic metres on the WGS-84 ellipsoid (pyproj ``Geod``).
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import psycopg
import shapely
from pyproj import Geod

from geo import siting
from geo.coverage import plane_for
from stations import vocabulary
from stations.bulk import gc_paused
from stations.errors import InvalidParameter
from stations.records import FIELDS
from stations.subsidy.as_of import AsOf, Spell, active_days, as_of, whole
from stations.subsidy.programmes import Criterion, InvalidProgramme, Loaded, Period

GEOD = Geod(ellps="WGS84")


class Said(NamedTuple):
    """One statement in both languages a report is read in."""

    zh: str
    en: str


NOTHING = Said("", "")
NOT_RECORDED = Said("未登记", "not recorded")
FACT_TEXT = {
    "has_sign": Said("统一标识", "unified sign"),
    "has_rules": Said("管理制度", "management rules"),
    "has_staff": Said("专人管理", "staff"),
}
_COLUMN = {  # criterion kind: (column, vocabulary, its name in both languages)
    "status_in": ("status", "statuses", Said("状态", "status")),
    "built_by_in": ("built_by", "built_by", Said("建设方", "built by")),
    "host_type_in": ("host_type", "host_types", Said("依托类型", "host type")),
}
_PREFIX = {"province": 2, "city": 4, "county": 6}
_FLOATS = {f.name for f in FIELDS if f.json_type == "number"}

# every field of the record (stations.schema via stations.records), numbers as floats
_NAMES = ("id", *(f.name for f in FIELDS))
_EXPRESSIONS = {"lon": "ST_X(geom)", "lat": "ST_Y(geom)"}
_SELECT = f"""
SELECT {", ".join(_EXPRESSIONS.get(f, f"{f}::float8" if f in _FLOATS else f) for f in _NAMES)}
FROM stations WHERE district_code LIKE %s ORDER BY code
"""


@dataclass(slots=True)
class Reason:
    """One criterion for one station; shared by stations with the same value, never changed."""

    criterion: str
    label: str
    required: Said
    actual: Said
    passed: bool
    message: Said = NOTHING  # for a failure: the sentence a person reads
    json: dict[str, dict[str, Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # built once per language: stations share reasons, and a report writes a million
        self.json = {}
        for lang in ("zh", "en"):
            body = {
                "criterion": self.criterion,
                "label": self.label,
                "required": getattr(self.required, lang),
                "actual": getattr(self.actual, lang),
                "passed": self.passed,
            }
            if self.message.en:
                body["message"] = getattr(self.message, lang)
            self.json[lang] = body


@dataclass
class Verdict:
    """A station's result."""

    station: dict[str, Any]
    spells: tuple[Spell, ...] = ()  # its status day by day through the period
    from_history: bool = True  # False: no history reaches the period, current facts used
    reasons: list[Reason] = field(default_factory=list)
    base_amount: float = 0.0
    eligible: bool = False
    amount_cny: float = 0.0
    place: int | None = None  # its place in the programme's order, when it got that far


@dataclass(frozen=True)
class Evaluation:
    """A programme evaluated over a period."""

    loaded: Loaded
    period: Period
    snapshot_at: dt.datetime | None
    verdicts: list[Verdict]
    cap: dict[str, Any]
    budget_used_cny: float
    names: dict[str, str] = field(default_factory=dict)  # the region's districts: code -> name


@contextlib.contextmanager
def one_snapshot(conn: psycopg.Connection) -> Iterator[None]:
    """Read a report (or both sides of a what-if) from one database snapshot.

    On an autocommit connection this is a REPEATABLE READ, READ ONLY transaction, so an
    edit landing between the reads cannot make a report disagree with its own stamp; a
    connection already in a transaction keeps the caller's.
    """
    if not conn.autocommit:
        yield
        return
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def evaluate(
    conn: psycopg.Connection, loaded: Loaded, period: Period, *, as_it_was: bool = True
) -> Evaluation:
    """Verdicts for every station in the programme's region (see the module doc).

    ``as_it_was=False`` judges every station by its current facts, as reports did before
    the history was read: the benchmark's comparison.
    """
    with gc_paused():
        return _evaluate(conn, loaded, period, as_it_was)


def _evaluate(
    conn: psycopg.Connection, loaded: Loaded, period: Period, as_it_was: bool
) -> Evaluation:
    programme = loaded.programme
    start = max(period.start, programme.period.start)
    end = min(period.end, programme.period.end)
    if start > end:
        raise InvalidParameter(
            "period",
            f"{programme.id} runs from {programme.period.start} to {programme.period.end}; "
            f"the period {period.start}..{period.end} is outside it",
            zh=f"{programme.name}的期间为 {programme.period.start} 至 {programme.period.end}，"
            f"所选期间 {period.start} 至 {period.end} 不在其内",
        )
    effective = Period(start=start, end=end)
    current, prefix = _stations(conn, programme.region)
    past = (
        as_of(conn, current, prefix, effective)
        if as_it_was
        else AsOf(current, [whole(effective, s) for s in current], [False] * len(current))
    )
    stations = past.stations
    verdicts = [
        Verdict(s, spells, known)
        for s, spells, known in zip(stations, past.spells, past.from_history, strict=True)
    ]
    spacing = programme.criterion("min_spacing_m")
    once = programme.accrual == "once"
    columns = [
        checker(c, effective)(stations)
        if once or c.kind != "status_in"
        else _during(c, effective)(verdicts)
        for c in programme.criteria
        if c is not spacing
    ]
    for verdict, reasons in zip(verdicts, zip(*columns, strict=True), strict=True):
        verdict.reasons = list(reasons)
    for verdict in verdicts:
        verdict.base_amount = _accrued(programme.accrual, programme.amount_cny, verdict, effective)
    cap_info, used = _allocate(conn, loaded, verdicts, spacing, effective)
    names = dict(
        conn.execute(
            "SELECT code, name FROM districts WHERE code LIKE %s ORDER BY code", [prefix + "%"]
        ).fetchall()
    )
    return Evaluation(loaded, effective, _snapshot(conn), verdicts, cap_info, used, names)


def city_of(district_code: str) -> str:
    """The code of the city a county-level district belongs to (140105 -> 140100)."""
    return district_code[:4] + "00"


def _stations(conn: psycopg.Connection, region: str) -> tuple[list[dict[str, Any]], str]:
    """The region's stations now, in code order, and the district-code prefix of the region."""
    row = conn.execute("SELECT level FROM districts WHERE code = %s", [region]).fetchone()
    if row is None:
        raise InvalidProgramme(f"region {region} is not a known district code")
    prefix = region[: _PREFIX[row[0]]]
    rows = conn.cursor(binary=True).execute(_SELECT, [prefix + "%"]).fetchall()
    return [dict(zip(_NAMES, r, strict=True)) for r in rows], prefix


def _snapshot(conn: psycopg.Connection) -> dt.datetime | None:
    """When the data last changed: the newest station edit or history entry."""
    return conn.execute(
        """SELECT greatest((SELECT max(updated_at) FROM stations),
                           (SELECT max(changed_at) FROM station_history))"""
    ).fetchone()[0]


# --- criteria ----------------------------------------------------------------------------


def _check(criterion: Criterion, s: dict[str, Any], period: Period) -> Reason:
    """One criterion for one station (tests use this; :func:`checker` is the fast path)."""
    return checker(criterion, period)([s])[0]


Judge = Callable[[Sequence[dict[str, Any]]], list[Reason]]


def checker(criterion: Criterion, period: Period) -> Judge:
    """A function judging a list of stations by ``criterion`` as of ``period``.

    Stations share few distinct values per criterion, so each reason is built once per
    value and shared: a 100,000-station report makes thousands of reasons, not a million.
    """
    kind, value = criterion.kind, criterion.value_on(period.end)
    memo: dict[Any, Reason] = {}

    def reason(required: Said, actual: Said, passed: bool, message: Said = NOTHING) -> Reason:
        return Reason(criterion.id, criterion.label, required, actual, passed,
                      NOTHING if passed else message)  # fmt: skip

    def memoised(key_of: Callable[[dict[str, Any]], Any], build: Callable[[Any], Reason]) -> Judge:
        def judge(stations: Sequence[dict[str, Any]]) -> list[Reason]:
            keys = [key_of(s) for s in stations]
            for key in set(keys) - memo.keys():
                memo[key] = build(key)
            return [memo[k] for k in keys]

        return judge

    if kind in _COLUMN:
        column, terms, name = _COLUMN[kind]
        allowed = _either(terms, value)

        def member(actual: str | None) -> Reason:
            have = _term(terms, actual) if actual else NOT_RECORDED
            return reason(allowed, have, actual in value,
                          Said(f"{name.zh}为{have.zh}，要求{allowed.zh}",
                               f"{name.en} is {have.en}, not {allowed.en}"))  # fmt: skip

        return memoised(lambda s: s[column], member)
    if kind == "opened_in_period":
        span = Said(f"{period.start} 至 {period.end}", f"{period.start}..{period.end}")
        required = Said(f"开放日期在 {span.zh} 之间", f"opened {span.en}")

        def opened(day: dt.date | None) -> Reason:
            if day is None:
                return reason(required, NOT_RECORDED, False,
                              Said("未登记开放日期", "opening date not recorded"))  # fmt: skip
            ok = period.start <= day <= period.end
            return reason(required, Said(str(day), str(day)), ok,
                          Said(f"开放日期 {day}，不在 {span.zh} 之间",
                               f"opened {day}, outside {span.en}"))  # fmt: skip

        return memoised(lambda s: s["opened_on"], opened)
    if kind == "hours_published":
        return memoised(
            lambda s: s["opening_hours"],
            lambda hours: reason(Said("已公布", "published"),
                                 Said(hours, hours) if hours else Said("未公布", "not published"),
                                 bool(hours), Said("未公布开放时间", "hours not published")),
        )  # fmt: skip
    if kind == "min_floor_area_m2":

        def area(value_m2: Any) -> Reason:
            if value is None:
                return reason(NO_THRESHOLD, _m2(value_m2), True)
            required = Said(f"≥ {value:g} m²", f"≥ {value:g} m²")
            if value_m2 is None:
                return reason(required, NOT_RECORDED, False,
                              Said("未登记室内面积", "floor area not recorded"))  # fmt: skip
            ok = float(value_m2) >= value
            have = _m2(value_m2).en
            return reason(required, _m2(value_m2), ok,
                          Said(f"面积 {have} < {value:g} m²",
                               f"floor area {have} < {value:g} m²"))  # fmt: skip

        return memoised(lambda s: s["floor_area_m2"], area)
    if kind == "amenities_all":
        labels = vocabulary.terms("amenities")
        required = Said("、".join(labels[c].zh for c in value), ", ".join(value))

        def kit(have: tuple[str, ...]) -> Reason:
            missing = [c for c in value if c not in have]
            return reason(
                required,
                Said("齐全", "all present") if not missing else
                Said("缺少" + "、".join(labels[c].zh for c in missing),
                     "missing " + ", ".join(missing)),
                not missing,
                Said("缺少" + "、".join(labels[c].zh for c in missing),
                     "; ".join(f"no {labels[c].en.lower()} ({c})" for c in missing)),
            )  # fmt: skip

        return memoised(lambda s: tuple(s["amenities"] or ()), kit)
    if kind == "fact_true":
        text = FACT_TEXT[value]

        def fact(known: bool | None) -> Reason:
            actual = NOT_RECORDED if known is None else (Said("是", "yes") if known else
                                                        Said("否", "no"))  # fmt: skip
            message = (
                Said(f"未登记有无{text.zh}", f"no {text.en} ({value} {actual.en})")
                if known is None
                else Said(f"无{text.zh}", f"no {text.en} ({value} {actual.en})")
            )
            return reason(Said("是", f"{text.en}: yes"), actual, known is True, message)

        return memoised(lambda s: s[value], fact)
    raise AssertionError(kind)  # min_spacing_m is checked in _allocate


NO_THRESHOLD = Said("无生效门槛", "no threshold in force")


def _term(kind: str, code: str) -> Said:
    term = vocabulary.terms(kind).get(code)
    return Said(term.zh, term.en.lower()) if term else Said(code, code)


def _either(kind: str, codes: Sequence[str]) -> Said:
    said = [_term(kind, c) for c in codes]
    return Said("或".join(t.zh for t in said), " or ".join(t.en for t in said))


def _during(criterion: Criterion, period: Period) -> Callable[[Sequence[Verdict]], list[Reason]]:
    """A status criterion for money paid by the month or day: met on any day of the period.

    The days it was not met are not paid (:func:`_accrued`); a station closed on 15 June
    is paid up to June.
    """
    column, terms, name = _COLUMN[criterion.kind]
    value = criterion.value_on(period.end)
    allowed = _either(terms, value)
    required = Said(f"期间内{allowed.zh}", f"{allowed.en} during the period")
    memo: dict[tuple[Spell, ...], Reason] = {}

    def build(spells: tuple[Spell, ...]) -> Reason:
        parts = [(_spell_text(first, last, _term(terms, status) if status in
                              vocabulary.terms(terms) else UNREGISTERED, period))
                 for first, last, status in spells]  # fmt: skip
        actual = Said("；".join(p.zh for p in parts), "; ".join(p.en for p in parts))
        ok = any(status in value for _, _, status in spells)
        message = Said(f"期间内{name.zh}均非{allowed.zh}（{actual.zh}）",
                       f"{name.en} never {allowed.en} in the period ({actual.en})")  # fmt: skip
        return Reason(criterion.id, criterion.label, required, actual, ok,
                      NOTHING if ok else message)  # fmt: skip

    def judge(verdicts: Sequence[Verdict]) -> list[Reason]:
        out = []
        for v in verdicts:
            if v.spells not in memo:
                memo[v.spells] = build(v.spells)
            out.append(memo[v.spells])
        return out

    return judge


UNREGISTERED = Said("未登记在册", "not registered")


def _spell_text(first: dt.date, last: dt.date, status: Said, period: Period) -> Said:
    if first == period.start and last == period.end:
        return status
    return Said(f"{first} 至 {last} {status.zh}", f"{status.en} {first}..{last}")


def _m2(area: Any) -> Said:
    if area is None:
        return NOT_RECORDED
    text = f"{float(area):g} m²"
    return Said(text, text)


def _accrued(accrual: str, amount: float, verdict: Verdict, period: Period) -> float:
    """What the station would get for the period before caps: once, or per month active.

    Monthly: a whole month counts when the station was open by its 1st and active on it.
    Prorated: each day it was open and active counts, as a share of its month.
    """
    if accrual == "once":
        return amount
    opened = verdict.station["opened_on"]
    months = 0.0
    month = period.start.replace(day=1)
    while month <= period.end:
        days = calendar.monthrange(month.year, month.month)[1]
        first, last = max(month, period.start), min(month.replace(day=days), period.end)
        if opened is None or opened > last:
            pass
        elif accrual == "monthly":
            whole = opened <= month and first == month
            months += 1 if whole and active_days(verdict.spells, month, month) else 0
        else:
            months += active_days(verdict.spells, max(first, opened), last) / days
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    rule = (
        Said("每月 1 日前开放且当日运营", "open and active on the 1st of a month")
        if accrual == "monthly"
        else Said("按运营天数", "days active")
    )
    count = f"{months:.2f}".rstrip("0").rstrip(".")
    verdict.reasons.append(
        Reason(
            "months",
            "运营月数",
            Said(f"期间内至少运营 1 个月（{rule.zh}）", f"≥ 1 month in period ({rule.en})"),
            Said(count, count),
            months > 0,
            NOTHING
            if months > 0
            else Said("期间内没有运营月份", "no month of operation in the period"),
        )
    )
    return round(amount * months, 2)


# --- spacing and caps ----------------------------------------------------------------------


def _allocate(
    conn: psycopg.Connection,
    loaded: Loaded,
    verdicts: list[Verdict],
    spacing: Criterion | None,
    period: Period,
) -> tuple[dict[str, Any], float]:
    """Take the stations passing everything else in order; spacing first, then the cap."""
    programme = loaded.programme
    cap = programme.cap
    order = cap.order if cap else ["code asc"]
    running = [i for i, v in enumerate(verdicts) if all(r.passed for r in v.reasons)]
    lon = np.array([v.station["lon"] for v in verdicts], dtype=float)
    lat = np.array([v.station["lat"] for v in verdicts], dtype=float)
    ranked = _ordered(conn, verdicts, running, order, lon, lat, cap.gap_radius_m if cap else 0)
    min_gap = spacing.value_on(period.end) if spacing else None
    if spacing and min_gap is None:  # a dated threshold not yet in force: say so
        for verdict in verdicts:
            verdict.reasons.append(
                Reason(spacing.id, spacing.label, NO_THRESHOLD, Said("未检查", "not checked"), True)
            )
    near = neighbours(lon, lat, min_gap) if min_gap else None
    clear = (
        Reason(
            spacing.id,
            spacing.label,
            _spacing_required(min_gap),
            Said("附近无更近站点", "none closer"),
            True,
        )  # fmt: skip
        if spacing and min_gap
        else None
    )
    # For a programme funding new stations, the network already there counts as subsidised:
    # a new station must not sit on it. Otherwise spacing is among funded stations only.
    older = np.array(
        [v.station["opened_on"] is not None and v.station["opened_on"] < period.start
         for v in verdicts],
        dtype=bool,
    )  # fmt: skip
    active = np.array([v.station["status"] == "active" for v in verdicts], dtype=bool)
    funds_new = programme.criterion("opened_in_period") is not None
    existing = older & active if funds_new else np.zeros(len(verdicts), dtype=bool)
    accepted = existing.copy()
    used = 0  # fen: whole numbers, so a budget that fits exactly is not missed by rounding
    budget = round(cap.budget_cny * 100) if cap and cap.budget_cny is not None else None
    count = 0
    closed = False  # places are given strictly in order: once one does not fit, none do
    for place, i in enumerate(ranked, start=1):
        verdict = verdicts[i]
        verdict.place = place
        if near is not None:
            reason = _spacing_reason(spacing, min_gap, i, near, accepted, existing, verdicts, clear)
            verdict.reasons.append(reason)
            if not reason.passed:
                continue
        cost = round(verdict.base_amount * 100)
        if cap is not None:
            closed = (
                closed
                or (cap.count is not None and count >= cap.count)
                or (budget is not None and used + cost > budget)
            )
            verdict.reasons.append(_cap_reason(cap, count, used / 100, not closed))
            if closed:
                continue
        accepted[i] = True
        verdict.eligible = True
        verdict.amount_cny = verdict.base_amount
        used += cost
        count += 1
    if near is not None:  # the others still learn how far they are from subsidised stations
        _spacing_for_the_rest(
            spacing, min_gap, near, accepted, existing, ~older, verdicts, ranked, clear
        )
    info = {
        "count": cap.count if cap else None,
        "budget_cny": cap.budget_cny if cap else None,
        "order": order,
        "in_the_running": len(ranked),
        "places_given": count,
    }
    return info, used / 100


@dataclass(frozen=True)
class Neighbours:
    """Pairs of stations within a radius, grouped by station, nearest first.

    ``others[start[i]:start[i + 1]]`` are the stations near station ``i`` and
    ``metres`` their geodesic distances, sorted by distance then code.
    """

    start: np.ndarray
    others: np.ndarray
    metres: np.ndarray
    lon: np.ndarray  # every station's position, for the distances a reason shows
    lat: np.ndarray


def neighbours(lon: np.ndarray, lat: np.ndarray, radius_m: float) -> Neighbours:
    """For each station, the others within ``radius_m`` geodesic metres.

    Equal distances are ordered by index: stations come in code order (see ``_SELECT``).
    Pairs come from a KD-tree on an equal-area plane, which is within 0.3 % of the ground
    across a province; pairs that close to the radius are decided by geodesic distance.
    ``metres`` orders the neighbours; the distance a reason shows is always geodesic.
    """
    n = len(lon)
    if not n:
        return Neighbours(np.zeros(1, dtype=np.int64), np.empty(0, np.int64), np.empty(0), lon, lat)
    plane = plane_for(shapely.box(lon.min(), lat.min(), lon.max(), lat.max()))
    xy = plane.points(lon, lat)
    rows, cols = siting.pairs_within(xy, radius_m * 1.003)
    dist = np.hypot(xy[rows, 0] - xy[cols, 0], xy[rows, 1] - xy[cols, 1])
    band = np.flatnonzero(dist > radius_m * 0.997)  # within the plane's 0.3 %: ask Geod
    if len(band):
        _, _, exact = GEOD.inv(lon[rows[band]], lat[rows[band]], lon[cols[band]], lat[cols[band]])
        dist[band] = exact
    near = dist <= radius_m
    rows, cols, dist = rows[near], cols[near], dist[near]
    order = np.lexsort((cols, dist, rows))
    rows, cols, dist = rows[order], cols[order], dist[order]
    start = np.searchsorted(rows, np.arange(n + 1))
    return Neighbours(start, cols, dist, lon, lat)


def _spacing_for_the_rest(
    spacing: Criterion,
    min_gap: float,
    near: Neighbours,
    accepted: np.ndarray,
    existing: np.ndarray,
    new: np.ndarray,
    verdicts: list[Verdict],
    ranked: Sequence[int],
    clear: Reason,
) -> None:
    """Spacing reasons for stations not in the running, against the final funded set.

    A station of the existing network is not held to its own neighbours: only a new one
    (opened in or after the period) is held to the existing network.
    """
    rest = np.ones(len(verdicts), dtype=bool)
    rest[list(ranked)] = False
    rows = np.repeat(np.arange(len(verdicts)), np.diff(near.start))
    funded = accepted & ~existing
    blocking = (funded[near.others] | (existing[near.others] & new[rows])) & rest[rows]
    first_rows, first = np.unique(rows[blocking], return_index=True)
    hit = np.flatnonzero(blocking)[first]  # nearest blocking pair per station
    others = near.others[hit]
    lon, lat = near.lon, near.lat
    _, _, metres = GEOD.inv(lon[first_rows], lat[first_rows], lon[others], lat[others])
    found = {
        i: _too_close(spacing, min_gap, verdicts[j].station["code"], d, bool(existing[j]))
        for i, j, d in zip(
            first_rows.tolist(), others.tolist(), np.atleast_1d(metres).tolist(), strict=True
        )
    }
    for i in np.flatnonzero(rest).tolist():
        verdicts[i].reasons.append(found.get(i, clear))


def _spacing_reason(
    spacing: Criterion,
    min_gap: float,
    i: int,
    near: Neighbours,
    accepted: np.ndarray,
    existing: np.ndarray,
    verdicts: list[Verdict],
    clear: Reason,
) -> Reason:
    lo, hi = near.start[i], near.start[i + 1]
    blocking = np.flatnonzero(accepted[near.others[lo:hi]])
    if not len(blocking):
        return clear
    j = int(near.others[lo + blocking[0]])  # nearest first, ties by code
    metres = float(GEOD.inv(near.lon[i], near.lat[i], near.lon[j], near.lat[j])[2])
    return _too_close(spacing, min_gap, verdicts[j].station["code"], metres, bool(existing[j]))


def _too_close(
    spacing: Criterion, min_gap: float, code: str, metres: float, existing: bool
) -> Reason:
    """The failed spacing reason: how far, from which station, and whether it is new."""
    which = Said("已建", "existing") if existing else Said("已补助", "subsidised")
    return Reason(
        spacing.id,
        spacing.label,
        _spacing_required(min_gap),
        Said(f"距 {code} {metres:.0f} 米", f"{metres:.0f} m from {code}"),
        False,
        Said(f"距{which.zh}站点 {code} 仅 {metres:.0f} 米（要求 ≥ {min_gap:g} 米）",
             f"{metres:.0f} m from {which.en} station {code}"),
    )  # fmt: skip


def _spacing_required(min_gap: float) -> Said:
    return Said(f"与已补助和已建站点相距 ≥ {min_gap:g} 米",
                f"≥ {min_gap:g} m from subsidised and existing stations")  # fmt: skip


ORDER_ZH = {  # a programme's order keys (programmes.ORDER_KEYS) as a finance officer reads them
    "gap_demand desc": "新增覆盖人数从多到少", "gap_demand asc": "新增覆盖人数从少到多",
    "opened_on asc": "开放日期从早到晚", "opened_on desc": "开放日期从晚到早",
    "floor_area_m2 desc": "室内面积从大到小", "floor_area_m2 asc": "室内面积从小到大",
    "code asc": "编码升序", "code desc": "编码降序",
}  # fmt: skip


def _cap_reason(cap: Any, count: int, used: float, passed: bool) -> Reason:
    """Whether the station got one of the places; they are given strictly in order."""
    if cap.count is not None and (cap.budget_cny is None or count >= cap.count):
        required = Said(f"前 {cap.count} 个名额之一", f"one of the first {cap.count} places")
        actual = (
            Said(
                f"获第 {count + 1} 个名额（共 {cap.count} 个）",
                f"funded {count + 1} of {cap.count}",
            )
            if passed
            else Said(f"{cap.count} 个名额已按顺序分配完", f"all {cap.count} places given")
        )
    else:
        required = Said(f"按顺序在预算 {cap.budget_cny:,.2f} 元之内",
                        f"within the budget of {cap.budget_cny:,.2f} yuan, in order")  # fmt: skip
        actual = Said(f"此前已用 {used:,.2f} 元", f"{used:,.2f} yuan used before it")
    order = Said("，".join(ORDER_ZH[o] for o in cap.order), ", ".join(cap.order))
    message = (
        NOTHING
        if passed
        else Said(
            f"未获补助：{actual.zh}（顺序：{order.zh}）",
            f"not funded: {actual.en} (in order: {order.en})",
        )
    )
    return Reason("cap", "名额/预算", required, actual, passed, message)


def _ordered(
    conn: psycopg.Connection,
    verdicts: list[Verdict],
    running: Sequence[int],
    order: Sequence[str],
    lon: np.ndarray,
    lat: np.ndarray,
    gap_radius_m: float,
) -> list[int]:
    """``running`` sorted by the programme's order keys (code last, so ties are stable)."""
    gap = (
        _gap_demand(conn, verdicts, lon, lat, gap_radius_m)
        if any(o.startswith("gap_demand") for o in order)
        else None
    )
    keys = [*order, "code asc"]

    def key(i: int) -> tuple[Any, ...]:
        s = verdicts[i].station
        out: list[Any] = []
        for item in keys:
            name, _, direction = item.partition(" ")
            if name == "gap_demand":
                value: Any = float(gap[i]) if gap is not None else 0.0
            elif name == "floor_area_m2":
                value = float(s["floor_area_m2"] or 0)
            elif name == "opened_on":
                value = s["opened_on"].toordinal() if s["opened_on"] else None
            else:
                value = s["code"]
            if value is None:  # no date: last, whichever the direction
                value = float("inf")
            elif direction == "desc":
                value = -value if not isinstance(value, str) else _Desc(value)
            out.append(value)
        return tuple(out)

    return sorted(running, key=key)


class _Desc(str):
    """A string that sorts backwards."""

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)


def _gap_demand(
    conn: psycopg.Connection,
    verdicts: list[Verdict],
    lon: np.ndarray,
    lat: np.ndarray,
    radius_m: float,
) -> np.ndarray:
    """Per station, the demand within ``radius_m`` that no earlier-opened station covers.

    "Earlier" is by opening date, then code, over every active station in the region, so
    each worker is credited to the serving station that first brought them within reach.
    """
    n = len(verdicts)
    if not n:
        return np.zeros(0)
    box = shapely.box(lon.min(), lat.min(), lon.max(), lat.max())
    plane = plane_for(box)
    wkb = shapely.to_wkb(box.buffer(0.05))
    demand = conn.execute(
        "SELECT ST_X(geom), ST_Y(geom), weight FROM demand_points "
        "WHERE ST_Intersects(geom, ST_GeomFromWKB(%s, 4326)) ORDER BY id",
        [wkb],
    ).fetchall()
    if not demand:
        return np.zeros(n)
    demand_xy = plane.points([d[0] for d in demand], [d[1] for d in demand])
    weights = np.array([d[2] for d in demand], dtype=float)
    rank = _ranks(verdicts)
    cover = siting.within(plane.points(lon, lat), demand_xy, radius_m).tocoo()
    serving = np.array([v.station["status"] == "active" for v in verdicts])[cover.row]
    cover.row, cover.col = cover.row[serving], cover.col[serving]  # closed ones serve nobody
    first = np.full(len(weights), n, dtype=np.int64)
    np.minimum.at(first, cover.col, rank[cover.row])
    credited = np.zeros(n)
    hit = first < n
    by_rank = np.empty(n, dtype=np.int64)
    by_rank[rank] = np.arange(n)
    np.add.at(credited, by_rank[first[hit]], weights[hit])
    return credited


def _ranks(verdicts: list[Verdict]) -> np.ndarray:
    """Each station's place by (opening date, code), 0 first; unknown dates last.

    Stations come in code order, so a stable sort by date breaks ties by code.
    """
    opened = np.array(
        [v.station["opened_on"].toordinal() if v.station["opened_on"] else 10**7 for v in verdicts]
    )
    rank = np.empty(len(verdicts), dtype=np.int64)
    rank[np.argsort(opened, kind="stable")] = np.arange(len(verdicts))
    return rank
