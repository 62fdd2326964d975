"""Which engine answers a nearest search: the worker's in-memory copy, or PostGIS.

The rule, in one place. An anonymous search answers from the worker's copy of the active
stations (:mod:`stations.snapshot`) of the database the caller reads, while that copy was
confirmed current at most ``max_age_s`` seconds before (``STATIONS_NEAREST_MAX_AGE_S``;
one short query when that time is up). PostGIS (:func:`stations.nearest.nearest`) answers
when the memory is off (``max_age_s`` None), for a signed-in caller (who reads the
primary, own writes included), and while the copy is being (re)built. Both engines give
the same stations, distances and order; the answer says which one gave it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from stations import snapshot
from stations.nearest import nearest

MEMORY, POSTGIS = "memory", "postgis"


@dataclass(frozen=True)
class Caller:
    """Who is asking, and where their reads go."""

    signed_in: bool
    url: str  # the database this caller's reads go to (a replica or the primary)
    conn: Callable[[], psycopg.Connection]  # that database's connection, called when needed


@dataclass(frozen=True)
class Answer:
    """The stations found, nearest first, and the engine that found them."""

    stations: list[dict[str, Any]]
    engine: str  # MEMORY or POSTGIS


class NearestService:
    """One web worker's nearest search: its in-memory copies, one per database read."""

    def __init__(self, max_age_s: float | None, folder: Path) -> None:
        """``max_age_s``: how stale a copy may answer (None: never); ``folder``: builds."""
        self.max_age_s = max_age_s
        self.folder = folder
        self.copies: dict[str, snapshot.Current] = {}  # database URL -> its copy

    def memory(self, caller: Caller) -> snapshot.Snapshot | None:
        """The copy to answer ``caller`` from, or None when PostGIS must answer.

        A read of the registry's generation on ``caller.conn()`` when the copy's time is
        up; the first call for a database starts building its copy (in the background).
        """
        if self.max_age_s is None or caller.signed_in:
            return None
        current = self.copies.get(caller.url)
        if current is None:
            made = snapshot.Current(caller.url, self.max_age_s, self.folder)
            current = self.copies.setdefault(caller.url, made)
        return current.get(caller.conn)

    def nearest(
        self,
        caller: Caller,
        lon: float,
        lat: float,
        *,
        at: dt.datetime,
        open_only: bool = True,
        open_for_min: int = 0,
        amenities: Sequence[str] = (),
        limit: int = 5,
        within_m: float = 5000,
    ) -> Answer:
        """The nearest stations to (lon, lat) for ``caller``; the options of :func:`nearest`."""
        memory = self.memory(caller)
        if memory is not None:
            found = memory.nearest(
                lon, lat, at=at, open_only=open_only, open_for_min=open_for_min,
                amenities=amenities, limit=limit, within_m=within_m,
            )  # fmt: skip
            return Answer(found, MEMORY)
        found = nearest(
            caller.conn(), lon, lat, at=at, open_only=open_only, open_for_min=open_for_min,
            amenities=amenities, limit=limit, within_m=within_m,
        )  # fmt: skip
        return Answer(found, POSTGIS)

    def expire(self) -> None:
        """Make the next search check the generation at once (this worker changed it)."""
        for current in list(self.copies.values()):
            current.expire()
