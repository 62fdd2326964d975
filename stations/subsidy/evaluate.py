"""Every station's verdict under a programme: eligible or not, the amount, and why.

Each criterion gives every station a reason (criterion, required, actual, passed), so a
finance officer sees exactly what a station lacks. Spacing and caps depend on the other
stations: stations that pass every other criterion are taken in the programme's order
(for example those that bring the most new coverage first); each is checked against the
stations already subsidised, and places are given until the count or budget runs out.
Stations already active before the period count as subsidised for spacing: a new station
must not sit on the existing network. Distances for spacing are geodesic metres on the
WGS-84 ellipsoid (pyproj ``Geod``).
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

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
from stations.subsidy.programmes import Criterion, InvalidProgramme, Loaded, Period

GEOD = Geod(ellps="WGS84")
FACT_TEXT = {"has_sign": "unified sign", "has_rules": "management rules", "has_staff": "staff"}
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
    required: str
    actual: str
    passed: bool
    message: str = ""  # for a failure: the sentence a person reads
    json: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # built once: stations share reasons, and a report writes a million of them
        body = {
            "criterion": self.criterion,
            "label": self.label,
            "required": self.required,
            "actual": self.actual,
            "passed": self.passed,
        }
        if self.message:
            body["message"] = self.message
        self.json = body


@dataclass
class Verdict:
    """A station's result."""

    station: dict[str, Any]
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


def evaluate(conn: psycopg.Connection, loaded: Loaded, period: Period) -> Evaluation:
    """Verdicts for every station in the programme's region (see the module doc)."""
    with gc_paused():
        return _evaluate(conn, loaded, period)


def _evaluate(conn: psycopg.Connection, loaded: Loaded, period: Period) -> Evaluation:
    programme = loaded.programme
    start = max(period.start, programme.period.start)
    end = min(period.end, programme.period.end)
    if start > end:
        raise InvalidParameter(
            "period",
            f"{programme.id} runs from {programme.period.start} to {programme.period.end}; "
            f"the period {period.start}..{period.end} is outside it",
        )
    effective = Period(start=start, end=end)
    stations = _stations(conn, programme.region)
    verdicts = [Verdict(s) for s in stations]
    spacing = programme.criterion("min_spacing_m")
    columns = [checker(c, effective)(stations) for c in programme.criteria if c is not spacing]
    for verdict, reasons in zip(verdicts, zip(*columns, strict=True), strict=True):
        verdict.reasons = list(reasons)
    for verdict in verdicts:
        verdict.base_amount = _accrued(programme.accrual, programme.amount_cny, verdict, effective)
    cap_info, used = _allocate(conn, loaded, verdicts, spacing, effective)
    return Evaluation(loaded, effective, _snapshot(conn), verdicts, cap_info, used)


def _stations(conn: psycopg.Connection, region: str) -> list[dict[str, Any]]:
    row = conn.execute("SELECT level FROM districts WHERE code = %s", [region]).fetchone()
    if row is None:
        raise InvalidProgramme(f"region {region} is not a known district code")
    prefix = region[: _PREFIX[row[0]]]
    rows = conn.cursor(binary=True).execute(_SELECT, [prefix + "%"]).fetchall()
    return [dict(zip(_NAMES, r, strict=True)) for r in rows]


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

    def reason(required: str, actual: str, passed: bool, message: str = "") -> Reason:
        return Reason(criterion.id, criterion.label, required, actual, passed,
                      "" if passed else message)  # fmt: skip

    def memoised(key_of: Callable[[dict[str, Any]], Any], build: Callable[[Any], Reason]) -> Judge:
        def judge(stations: Sequence[dict[str, Any]]) -> list[Reason]:
            keys = [key_of(s) for s in stations]
            for key in set(keys) - memo.keys():
                memo[key] = build(key)
            return [memo[k] for k in keys]

        return judge

    if kind in ("status_in", "built_by_in", "host_type_in"):
        column = {"status_in": "status", "built_by_in": "built_by", "host_type_in": "host_type"}[
            kind
        ]
        allowed = " or ".join(value)
        return memoised(
            lambda s: s[column],
            lambda actual: reason(allowed, actual or "not recorded", actual in value,
                                  f"{column.replace('_', ' ')} is {actual}, not {allowed}"),
        )  # fmt: skip
    if kind == "opened_in_period":
        required = f"opened {period.start}..{period.end}"

        def opened(day: dt.date | None) -> Reason:
            if day is None:
                return reason(required, "not recorded", False, "opening date not recorded")
            ok = period.start <= day <= period.end
            return reason(required, str(day), ok, f"opened {day}, outside {required[7:]}")

        return memoised(lambda s: s["opened_on"], opened)
    if kind == "hours_published":
        return memoised(
            lambda s: s["opening_hours"],
            lambda hours: reason("published", hours or "not published", bool(hours),
                                 "hours not published"),
        )  # fmt: skip
    if kind == "min_floor_area_m2":

        def area(value_m2: Any) -> Reason:
            if value is None:
                return reason("no threshold in force", _m2(value_m2), True)
            required = f"≥ {value:g} m²"
            if value_m2 is None:
                return reason(required, "not recorded", False, "floor area not recorded")
            ok = float(value_m2) >= value
            return reason(required, _m2(value_m2), ok, f"floor area {_m2(value_m2)} < {value:g} m²")

        return memoised(lambda s: s["floor_area_m2"], area)
    if kind == "amenities_all":
        labels = vocabulary.terms("amenities")
        required = ", ".join(value)

        def kit(have: tuple[str, ...]) -> Reason:
            missing = [c for c in value if c not in have]
            return reason(
                required,
                "all present" if not missing else "missing " + ", ".join(missing),
                not missing,
                "; ".join(f"no {labels[c].en.lower()} ({c})" for c in missing),
            )

        return memoised(lambda s: tuple(s["amenities"] or ()), kit)
    if kind == "fact_true":
        text = FACT_TEXT[value]

        def fact(known: bool | None) -> Reason:
            actual = "not recorded" if known is None else ("yes" if known else "no")
            return reason(f"{text}: yes", actual, known is True, f"no {text} ({value} {actual})")

        return memoised(lambda s: s[value], fact)
    raise AssertionError(kind)  # min_spacing_m is checked in _allocate


def _m2(area: Any) -> str:
    return "not recorded" if area is None else f"{float(area):g} m²"


def _accrued(accrual: str, amount: float, verdict: Verdict, period: Period) -> float:
    """What the station would get for the period before caps: once, or per month open."""
    if accrual == "once":
        return amount
    opened = verdict.station["opened_on"]
    months = 0.0
    month = period.start.replace(day=1)
    while month <= period.end:
        days = calendar.monthrange(month.year, month.month)[1]
        first, last = max(month, period.start), min(month.replace(day=days), period.end)
        if accrual == "monthly":
            months += 1 if opened is not None and opened <= month and first == month else 0
        elif opened is not None and opened <= last:
            months += ((last - max(first, opened)).days + 1) / days
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    rule = "open by the 1st of a month" if accrual == "monthly" else "days open"
    verdict.reasons.append(
        Reason(
            "months",
            "运营月数",
            f"≥ 1 month in period ({rule})",
            f"{months:.2f}".rstrip("0").rstrip("."),
            months > 0,
            "" if months > 0 else "no month of operation in the period",
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
                Reason(spacing.id, spacing.label, "no threshold in force", "not checked", True)
            )
    near = neighbours(lon, lat, min_gap) if min_gap else None
    clear = (
        Reason(spacing.id, spacing.label, _spacing_required(min_gap), "none closer", True)
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
    which = "existing" if existing else "subsidised"
    return Reason(
        spacing.id,
        spacing.label,
        _spacing_required(min_gap),
        f"{metres:.0f} m from {code}",
        False,
        f"{metres:.0f} m from {which} station {code}",
    )


def _spacing_required(min_gap: float) -> str:
    return f"≥ {min_gap:g} m from subsidised and existing stations"


def _cap_reason(cap: Any, count: int, used: float, passed: bool) -> Reason:
    """Whether the station got one of the places; they are given strictly in order."""
    if cap.count is not None and (cap.budget_cny is None or count >= cap.count):
        required = f"one of the first {cap.count} places"
        actual = f"funded {count + 1} of {cap.count}" if passed else f"all {cap.count} places given"
    else:
        required = f"within the budget of {cap.budget_cny:,.2f} yuan, in order"
        actual = f"{used:,.2f} yuan used before it"
    message = "" if passed else f"not funded: {actual} (in order: {', '.join(cap.order)})"
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
