"""Independent oracle for OpenStreetMap ``opening_hours``: the reference evaluator.

The service evaluates ``opening_hours`` itself; to test that evaluator against
something it does not share code or assumptions with, this module runs
opening_hours.js (the evaluator OSM editors and validators use, pinned in
``tests/oracle/package.json``) through ``tests/oracle/evaluate.js`` under Node.

One call is one Node process, so batch many expressions and instants into a
single :func:`evaluate` call. Times are Asia/Shanghai wall times throughout,
as for the stations themselves.

China's statutory holidays (including Spring Festival and the make-up
arrangements) are not in opening_hours.js's own data, so pass the project's
list as ``holidays``: it then replaces the library's China ``PH`` definition
exactly. The library can only evaluate a ``PH`` rule in a year that has at
least one listed date (``PH +1 day`` / ``PH -1 day`` also need the year
before / after); a search for the next change stops at the end of the last
listed year (see ``searched_until``), and an instant that cannot be evaluated
turns the whole case into ``{"error": ...}``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

ORACLE_DIR = Path(__file__).resolve().parent / "oracle"
SCRIPT = ORACLE_DIR / "evaluate.js"
LIBRARY = ORACLE_DIR / "node_modules" / "opening_hours" / "package.json"

# Taiyuan, Shanxi: the demo data's province; only sunrise/sunset depend on it.
DEFAULT_LAT = 37.8706
DEFAULT_LON = 112.5489

State = Literal["open", "closed", "unknown"]
Instant = datetime | str


class Case(TypedDict):
    """One expression to evaluate at several instants."""

    expr: str
    instants: Sequence[Instant]
    lat: NotRequired[float]
    lon: NotRequired[float]
    horizon_days: NotRequired[int]


class Answer(TypedDict):
    """The oracle's view of one instant."""

    state: State
    comment: str | None
    next_change: datetime | None  # first later instant whose state differs; aware, Asia/Shanghai
    next_state: State | None
    searched_until: datetime  # next_change is None: no change before this instant (exclusive)


class Result(TypedDict, total=False):
    """Per case: either ``error`` (the library rejects the value) or warnings + answers."""

    error: str
    warnings: list[str]
    answers: list[Answer]


def _wall_time(instant: Instant) -> str:
    """Naive Asia/Shanghai wall time as the script expects it, to the second.

    Naive datetimes are taken as Shanghai wall time; aware ones are converted.
    Sub-second instants are refused rather than silently truncated, because a
    truncated instant can land on the other side of a boundary.
    """
    if isinstance(instant, str):
        instant = datetime.fromisoformat(instant)
    if not isinstance(instant, datetime):
        raise TypeError(f"instant must be a datetime or ISO string, not {type(instant).__name__}")
    if instant.tzinfo is not None and instant.utcoffset() is not None:
        instant = instant.astimezone(SHANGHAI).replace(tzinfo=None)
    if instant.microsecond:
        raise ValueError(f"the oracle works to the second; got {instant.isoformat()}")
    return instant.replace(tzinfo=None).isoformat(timespec="seconds")


def _holiday(day: date | str) -> str:
    """A holiday as ``YYYY-MM-DD`` (datetimes are refused: a holiday is a whole day)."""
    if isinstance(day, datetime):
        raise TypeError(f"holiday must be a date, not a datetime: {day!r}")
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return day.isoformat()


def _aware(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def _node() -> str:
    """Path of ``node``, or a RuntimeError that says how to get the oracle installed."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError(
            "node is not installed; run ./run test, which installs it and opening_hours.js"
        )
    if not LIBRARY.is_file():
        raise RuntimeError(
            f"opening_hours.js is not installed in {LIBRARY.parent.parent}; "
            "run ./run test, which installs it with npm ci"
        )
    return node


def evaluate(
    cases: Iterable[Case | Mapping[str, Any]],
    holidays: Iterable[date | str] | None = None,
    *,
    timeout: float = 600,
) -> list[Result]:
    """Evaluate every case with opening_hours.js in one Node process.

    ``holidays`` (dates or ``YYYY-MM-DD``) replaces the library's China public
    holidays exactly; ``None`` keeps the library's own (incomplete) China list.
    Returns one :class:`Result` per case, in order; each answer's
    ``next_change`` and ``searched_until`` are aware Asia/Shanghai datetimes.
    Raises RuntimeError when Node or the library is missing or the script fails.
    """
    payload_cases = []
    for case in cases:
        item: dict[str, Any] = {
            "expr": case["expr"],
            "lat": float(case.get("lat", DEFAULT_LAT)),
            "lon": float(case.get("lon", DEFAULT_LON)),
            "instants": [_wall_time(i) for i in case["instants"]],
        }
        if case.get("horizon_days") is not None:
            item["horizon_days"] = int(case["horizon_days"])
        payload_cases.append(item)
    payload = {
        "cases": payload_cases,
        "holidays": None if holidays is None else sorted({_holiday(d) for d in holidays}),
    }

    env = {**os.environ, "TZ": "Asia/Shanghai"}
    proc = subprocess.run(
        [_node(), str(SCRIPT)],
        input=json.dumps(payload, ensure_ascii=False),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=ORACLE_DIR,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"tests/oracle/evaluate.js failed ({proc.returncode}): {proc.stderr.strip()}"
        )
    try:
        results = json.loads(proc.stdout)["results"]
    except (ValueError, KeyError) as exc:
        raise RuntimeError(f"tests/oracle/evaluate.js wrote no result document: {exc}") from exc
    if len(results) != len(payload_cases):
        raise RuntimeError(f"expected {len(payload_cases)} results, got {len(results)}")
    return [_result(raw) for raw in results]


def _result(raw: dict[str, Any]) -> Result:
    if "error" in raw:
        return {"error": raw["error"]}
    return {"warnings": list(raw["warnings"]), "answers": [_answer(a) for a in raw["answers"]]}


def _answer(raw: dict[str, Any]) -> Answer:
    return {
        "state": raw["state"],
        "comment": raw["comment"],
        "next_change": _aware(raw["next_change"]),
        "next_state": raw["next_state"],
        "searched_until": datetime.fromisoformat(raw["searched_until"]).replace(tzinfo=SHANGHAI),
    }
