"""Open or not, from the reference evaluator: the oracle tests use for "open at T".

Tests that check searches, maps and analyses need to know which stations are open at an
instant. Asking ``stations.hours`` would check the service against itself, so they ask
opening_hours.js (``ohjs``), with China's public holidays as the State Council's notices
in ``data/holidays/*.toml`` set them, read here with ``tomllib``.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import ohjs

ROOT = Path(__file__).resolve().parents[1]
SOON_MIN = 30  # STATIONS_CLOSING_SOON_MIN's default


@cache
def arranged_holidays() -> tuple[dt.date, ...]:
    """Every day off of every break in data/holidays/*.toml."""
    days = []
    for path in sorted((ROOT / "data" / "holidays").glob("*.toml")):
        with open(path, "rb") as fh:
            for item in tomllib.load(fh)["breaks"]:
                day = item["first"]
                while day <= item["last"]:
                    days.append(day)
                    day += dt.timedelta(days=1)
    return tuple(sorted(days))


def answers(
    exprs: Iterable[str | None], instants: Iterable[dt.datetime]
) -> dict[tuple[str, dt.datetime], ohjs.Answer]:
    """The oracle's answer for every value at every instant (one node run)."""
    values = sorted({e for e in exprs if e})
    moments = sorted(set(instants))
    cases = [{"expr": v, "instants": moments} for v in values]
    out = {}
    for value, result in zip(
        values, ohjs.evaluate(cases, holidays=arranged_holidays()), strict=True
    ):
        assert "error" not in result, (value, result.get("error"))
        for at, answer in zip(moments, result["answers"], strict=True):
            out[(value, at)] = answer
    return out


def expected_state(answer: ohjs.Answer | None, at: dt.datetime, status: str = "active") -> str:
    """The five states from the oracle's answer and the station's status."""
    if status == "suspended":
        return "suspended"
    if status == "closed":
        return "closed"
    if answer is None:  # no published hours
        return "unknown"
    if answer["state"] != "open":
        return answer["state"]
    change = answer["next_change"]
    soon = change is not None and (change - at).total_seconds() <= SOON_MIN * 60
    return "closing_soon" if soon else "open"


def open_for(answer: ohjs.Answer | None, at: dt.datetime, minutes: int) -> bool:
    """Open at ``at`` and still open ``minutes`` later, by the oracle."""
    if answer is None or answer["state"] != "open":
        return False
    change = answer["next_change"]
    return change is None or change - at >= dt.timedelta(minutes=minutes)
