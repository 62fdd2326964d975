"""The active stations held in memory, for the public nearest search at couriers' rates.

Through PostgreSQL a nearest search costs a round trip, a query and row decoding: more
than half of a request's CPU. The registry changes a few times a day and is searched all
the time, so each web worker keeps the active stations in memory and answers from them,
with the semantics of :func:`stations.nearest.nearest` exactly: the same stations, the
same geodesic distances, the same order (the tests compare the two on random searches).

**Search.** Points are indexed as unit vectors in a k-d tree, which walks them in order
of the central angle θ between a station's and the query's geodetic coordinates taken as
a sphere's. Geodesic distances on WGS-84 come from :class:`pyproj.Geod` (Karney's
algorithm, as PostGIS uses). Locally, d² ≈ (M dφ)² + (N cos φ dλ)² with the meridian
radius M ≥ a(1 - e²) and N ≥ a, so a station θ away is at least θ · a(1 - e²) metres
away (1 % margin kept): a batch is final when its k-th result is nearer than that bound
for the first station not fetched, as in the PostGIS search.

**Memory.** A copy is a *base* of compact columns (:mod:`stations.snapshot_store`: about
44 bytes per station plus its encoded record, mapped from files written by a separate
process) and an *overlay* of the stations changed since, searched by brute force.

**Freshness.** A copy carries the registry generation it stands for (migration 0004).
:class:`Current` answers from it only while the generation was confirmed within
``max_age_s`` seconds; otherwise the request reads the generation and the ids changed
since (``registry_log``, migration 0005) in one short query, fetches just those stations
and answers from the base plus the new overlay. When the changes are too many (an
import) or the log does not reach back, a new base is built by another process in the
background, and searches go to PostgreSQL until it lands. No search ever waits for a
rebuild, and none is answered from a copy older than ``max_age_s``.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import itertools
import logging
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pyproj import Geod
from scipy.spatial import cKDTree

from stations import snapshot_store
from stations.availability import Judge
from stations.errors import StationsError
from stations.nearest import RECORD_NAMES, RECORD_SQL
from stations.snapshot_store import Columns

LOGGER = logging.getLogger(__name__)
_GEOD = Geod(ellps="WGS84")
# metres per radian of central angle, at least, anywhere (see the module doc)
_LOW_M_PER_RAD = _GEOD.a * (1 - _GEOD.es) * 0.99
_FIRST_BATCH = 8
_HOURS = RECORD_NAMES.index("opening_hours")
_AMENITIES = RECORD_NAMES.index("amenities")
_LON, _LAT = RECORD_NAMES.index("lon"), RECORD_NAMES.index("lat")
OVERLAY_MAX = 5000  # changed stations a copy follows by brute force before a rebuild


def _unit_vectors(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lam, phi = np.radians(lon), np.radians(lat)
    return np.column_stack((np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)))


@dataclass(frozen=True)
class Base:
    """Columns of one generation with a k-d tree over their points."""

    columns: Columns
    tree: cKDTree | None  # None when there are no active stations
    folder: Path | None = None  # where the columns were mapped from (removed when replaced)

    @classmethod
    def of(cls, columns: Columns, folder: Path | None = None) -> Base:
        """Index the columns (the tree is built without holding the GIL)."""
        if not len(columns.ids):
            return cls(columns, None, folder)
        return cls(columns, cKDTree(_unit_vectors(columns.lon, columns.lat)), folder)


@dataclass(frozen=True)
class Overlay:
    """Active stations changed since the base, as records, with their unit vectors."""

    records: tuple[tuple[Any, ...], ...] = ()
    xyz: np.ndarray = field(default_factory=lambda: np.empty((0, 3)))

    @classmethod
    def of(cls, records: Sequence[tuple[Any, ...]]) -> Overlay:
        """The overlay of these records (``RECORD_NAMES``), in id order."""
        ordered = tuple(sorted(records, key=lambda r: r[0]))
        lon = np.array([r[_LON] for r in ordered], dtype=float)
        lat = np.array([r[_LAT] for r in ordered], dtype=float)
        return cls(ordered, _unit_vectors(lon, lat) if ordered else np.empty((0, 3)))


@dataclass(frozen=True)
class Snapshot:
    """The active stations at one registry generation: a base and what changed since."""

    generation: int
    base: Base
    changed: frozenset[int] = frozenset()  # ids whose base record is stale or gone
    overlay: Overlay = field(default_factory=Overlay)
    _changed_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def size(self) -> int:
        """How many active stations the copy holds."""
        columns = self.base.columns
        stale = int(np.isin(columns.ids, self._changed_ids).sum()) if self.changed else 0
        return len(columns.ids) - stale + len(self.overlay.records)

    def with_changes(self, generation: int, ids: Sequence[int], rows: Sequence[tuple]) -> Snapshot:
        """The copy moved to ``generation``: stations ``ids`` changed, now ``rows`` (active)."""
        changed = self.changed | set(ids)
        kept = [r for r in self.overlay.records if r[0] not in set(ids)]
        return Snapshot(
            generation,
            self.base,
            frozenset(changed),
            Overlay.of([*kept, *rows]),
            np.array(sorted(changed), dtype=np.int64),
        )

    def nearest(
        self,
        lon: float,
        lat: float,
        *,
        at: dt.datetime,
        open_only: bool = True,
        open_for_min: int = 0,
        amenities: Sequence[str] = (),
        limit: int = 5,
        within_m: float = 5000,
    ) -> list[dict[str, Any]]:
        """What :func:`stations.nearest.nearest` returns for the same arguments."""
        judge = Judge(at, open_for_min)
        point = np.array(_unit_vectors(np.array([lon]), np.array([lat]))[0])
        reach = _chord(within_m / _LOW_M_PER_RAD)  # nothing further can be within_m away
        wanted = set(amenities)
        extra = self._overlay_candidates(lon, lat, point, reach, wanted, within_m)
        found = self._search_base(
            lon, lat, point, reach, wanted, within_m, limit, extra, judge, open_only
        )
        return [
            dict(zip(RECORD_NAMES, record, strict=True), distance_m=metres, availability=state)
            for metres, record, state in found
        ]

    def points_in(self, bbox: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
        """Longitudes and latitudes of the active stations in ``bbox`` (edges included).

        As PostGIS's ``geom && envelope`` selects points: for counting a map's view.
        """
        x0, y0, x1, y1 = bbox
        columns = self.base.columns
        inside = (columns.lon >= x0) & (columns.lon <= x1) & (columns.lat >= y0)
        inside &= columns.lat <= y1
        if self.changed:
            inside &= ~np.isin(columns.ids, self._changed_ids)
        lon, lat = columns.lon[inside], columns.lat[inside]
        extra = [r for r in self.overlay.records if x0 <= r[_LON] <= x1 and y0 <= r[_LAT] <= y1]
        if extra:
            lon = np.concatenate([lon, np.array([r[_LON] for r in extra], dtype=float)])
            lat = np.concatenate([lat, np.array([r[_LAT] for r in extra], dtype=float)])
        return lon, lat

    def grid_counts(
        self, bbox: tuple[float, float, float, float], columns: int, rows: int
    ) -> list[tuple[int, float, float]]:
        """What :func:`stations.registry.grid_counts` returns for the active stations.

        The same cells (``floor`` of the offset over the cell size, in float8) and order
        (by mean longitude, then latitude), counted here instead of in PostgreSQL: a city
        view of a national registry holds tens of thousands of stations.
        """
        lon, lat = self.points_in(bbox)
        if not len(lon):
            return []
        x0, y0, x1, y1 = bbox
        dx, dy = max(x1 - x0, 1e-9) / columns, max(y1 - y0, 1e-9) / rows
        col = np.floor((lon - x0) / dx).astype(np.int64)
        row = np.floor((lat - y0) / dy).astype(np.int64)
        cells, where = np.unique(col * (rows + 2) + row, return_inverse=True)
        counts = np.bincount(where)
        mean_lon = np.bincount(where, weights=lon) / counts
        mean_lat = np.bincount(where, weights=lat) / counts
        order = np.lexsort((mean_lat, mean_lon))
        return [(int(counts[i]), float(mean_lon[i]), float(mean_lat[i])) for i in order]

    def _overlay_candidates(
        self,
        lon: float,
        lat: float,
        point: np.ndarray,
        reach: float,
        wanted: set[str],
        within_m: float,
    ) -> list[tuple[float, tuple[Any, ...]]]:
        """Changed stations within ``within_m`` that have the amenities, with their metres."""
        overlay = self.overlay
        if not overlay.records:
            return []
        chords = np.linalg.norm(overlay.xyz - point, axis=1)
        near = np.nonzero(chords <= reach)[0]
        records = [
            overlay.records[i] for i in near if wanted <= set(overlay.records[i][_AMENITIES] or ())
        ]
        if not records:
            return []
        metres = _distances(
            lon, lat, np.array([r[_LON] for r in records]), np.array([r[_LAT] for r in records])
        )
        return [(float(m), r) for m, r in zip(metres, records, strict=True) if m <= within_m]

    def _search_base(
        self,
        lon: float,
        lat: float,
        point: np.ndarray,
        reach: float,
        wanted: set[str],
        within_m: float,
        limit: int,
        extra: list[tuple[float, tuple[Any, ...]]],
        judge: Judge,
        open_only: bool,
    ) -> list[tuple[float, tuple[Any, ...], Any]]:
        columns, tree = self.base.columns, self.base.tree
        codes = columns.amenity_codes
        # no station of the base has an amenity none of them has
        base_ok = tree is not None and all(a in codes for a in wanted)
        mask = np.uint64(sum(1 << codes.index(a) for a in wanted)) if base_ok else np.uint64(0)
        schedules = columns.schedules
        overlay_ranked = sorted(extra, key=lambda pair: (pair[0], pair[1][0]))
        batch = max(_FIRST_BATCH, 2 * limit)
        while True:
            candidates: list[tuple[float, int, Any]] = []  # metres, id, base index or record
            if base_ok and tree is not None:
                chords, fetched = tree.query(point, k=batch, distance_upper_bound=reach)
                fetched = fetched[fetched < len(columns.ids)]  # the rest: none within reach
                near = fetched[(columns.amenities[fetched] & mask) == mask] if mask else fetched
                if self.changed:
                    near = near[~np.isin(columns.ids[near], self._changed_ids)]
                metres = _distances(lon, lat, columns.lon[near], columns.lat[near])
                kept = metres <= within_m
                near, metres = near[kept], metres[kept]
                candidates += [
                    (float(m), int(columns.ids[i]), int(i))
                    for m, i in zip(metres, near, strict=True)
                ]
                last_chord = float(chords[-1]) if len(chords) else math.inf
                exhausted = len(fetched) < batch
            else:
                last_chord, exhausted = math.inf, True
            candidates += [(m, r[0], r) for m, r in overlay_ranked]
            candidates.sort(key=lambda c: (c[0], c[1]))
            found = []
            for metres_, _sid, where in candidates:
                if isinstance(where, int):
                    expr = schedules[int(columns.schedule[where])]
                    state = judge.hours(expr, float(columns.lon[where]), float(columns.lat[where]))
                else:
                    state = judge.hours(where[_HOURS], where[_LON], where[_LAT])
                if not open_only or judge.usable(state):
                    found.append((metres_, where, state))
                    if len(found) == limit:
                        break
            if exhausted or _final(found, last_chord, limit):
                return [
                    (metres_, columns.record(where) if isinstance(where, int) else where, state)
                    for metres_, where, state in found
                ]
            batch *= 4


def _distances(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Geodesic metres on WGS-84 from (lon, lat) to each of the points."""
    if not len(lons):
        return np.empty(0)
    return _GEOD.inv(np.full(len(lons), lon), np.full(len(lons), lat), lons, lats)[2]


def _final(found: list[tuple[float, Any, Any]], last_chord: float, limit: int) -> bool:
    """True when no station beyond the batch can be nearer than the k-th found."""
    if len(found) < limit:
        return False
    angle = 2 * math.asin(min(1.0, last_chord / 2))
    return found[limit - 1][0] < angle * _LOW_M_PER_RAD


def _chord(angle: float) -> float:
    """The straight-line distance between unit vectors ``angle`` radians apart."""
    return 2 * math.sin(min(angle, math.pi) / 2)


def load(conn: psycopg.Connection) -> Snapshot:
    """Read the active stations and their generation in this process (tests, small sets)."""
    columns = snapshot_store.read(conn)
    return Snapshot(columns.generation, Base.of(columns))


# --- following the registry ----------------------------------------------------------

# The generation, the stations changed since the copy's (up to OVERLAY_MAX + 1 of them,
# with their records when active), and whether the log holds every generation since.
_CHANGES = f"""
WITH ids AS MATERIALIZED (
    SELECT DISTINCT station_id FROM registry_log WHERE generation > %(since)s LIMIT %(most)s
)
SELECT (SELECT generation FROM registry_generation),
       (SELECT count(DISTINCT generation) FROM registry_log WHERE generation > %(since)s),
       ids.station_id, r.*
FROM (SELECT 1) AS one
LEFT JOIN ids ON true
LEFT JOIN LATERAL (  -- by the primary key, one station at a time, whatever the plan
    SELECT {RECORD_SQL} FROM stations s
    WHERE s.id = ids.station_id AND s.status = 'active' AND s.geom IS NOT NULL
    OFFSET 0  -- kept a subquery: never pulled up into a join over the whole table
) r ON true
"""


class Current:
    """The newest copy of one database, trusted for ``max_age_s`` after each check.

    Shared by the threads of a worker: reads take ``(snapshot, checked)`` as one tuple
    without a lock. One thread at a time brings the copy up to date from the change log
    (the others ask PostgreSQL meanwhile); a full rebuild runs in another process, started
    by a background thread, one at a time. A rebuild that failed is not tried again for
    ``RETRY_S``, so a database that refuses it is not asked on every search.
    """

    RETRY_S = 5.0

    def __init__(self, url: str, max_age_s: float, folder: Path) -> None:
        self.url = url  # the database the copy is of, for the rebuilding process
        self.max_age_s = max_age_s
        self.folder = folder  # where rebuilds write their columns
        self._state: tuple[Snapshot | None, float] = (None, -math.inf)
        self._expired = 0  # raised by expire(): a confirmation begun before it is void
        self._writing = threading.Lock()
        self._updating = threading.Lock()
        self._rebuilding = threading.Lock()
        self._next_try = -math.inf  # no rebuild before this monotonic time
        self._builds = itertools.count()
        self.key = ""  # names this database's builds in the shared folder (see _identify)

    @property
    def snapshot(self) -> Snapshot | None:
        """The copy held now, current or not."""
        return self._state[0]

    def get(self, conn: Callable[[], psycopg.Connection]) -> Snapshot | None:
        """The copy to answer from, or None to answer from the database.

        When the last check is older than ``max_age_s``, reads the generation and the
        changes on ``conn()`` (called only then); a database error propagates, as for any
        read. Never waits for another thread's update or for a rebuild.
        """
        snapshot, checked = self._state
        now = time.monotonic()
        if snapshot is not None and now - checked < self.max_age_s:
            return snapshot
        if snapshot is None:
            self._rebuild()
            return None
        if not self._updating.acquire(blocking=False):
            return None  # another thread is bringing it up to date: PostgreSQL answers this
        try:
            expired = self._expired
            rows = (
                conn()
                .execute(
                    _CHANGES, {"since": snapshot.generation, "most": OVERLAY_MAX + 1}, prepare=True
                )
                .fetchall()
            )
            generation, logged = rows[0][0], rows[0][1]
            if generation == snapshot.generation:
                self._confirm(snapshot, now, expired, new=False)
                return snapshot
            ids = [r[2] for r in rows if r[2] is not None]
            complete = logged == generation - snapshot.generation and len(ids) <= OVERLAY_MAX
            if not complete or len(snapshot.changed | set(ids)) > OVERLAY_MAX:
                self._rebuild()
                return None
            updated = snapshot.with_changes(
                generation, ids, [r[3:] for r in rows if r[3] is not None]
            )
            self._confirm(updated, now, expired, new=True)
            if len(updated.changed) > OVERLAY_MAX // 2:
                self._rebuild()  # in good time: the overlay costs every search a little
            return updated
        finally:
            self._updating.release()

    def expire(self) -> None:
        """Check the generation at the next :meth:`get` (the caller just changed it)."""
        with self._writing:
            self._expired += 1
            self._state = (self._state[0], -math.inf)

    def _confirm(self, snapshot: Snapshot, checked: float, expired: int, new: bool) -> None:
        """Hold ``snapshot`` (``new``: not the one held) as current since ``checked``.

        A confirmation that began before an :meth:`expire` counts for nothing (the next
        search checks again), as does a new one older than the one held; one for a
        snapshot that something replaced meanwhile is dropped.
        """
        with self._writing:
            if expired != self._expired:
                checked = -math.inf
            held = self._state[0]
            if new and held is not None and held.generation > snapshot.generation:
                # a rebuilt base older than the copy held: take it (its overlay is empty),
                # and let the next search bring it up to date from the log
                checked = -math.inf
            if new or held is snapshot:
                self._state = (snapshot, checked)

    def _rebuild(self) -> None:
        if time.monotonic() < self._next_try or not self._rebuilding.acquire(blocking=False):
            return  # failed a moment ago, or a rebuild is under way
        try:
            threading.Thread(target=self._load, name="stations-snapshot", daemon=True).start()
        except BaseException:
            self._rebuilding.release()
            raise

    def _load(self) -> None:
        """Map the newest shared build of this database, or make one (one at a time).

        The workers of a machine share builds: a file lock lets one build while the
        others wait (in this background thread, never in a search), then map its files,
        whose pages the page cache holds once for all. A build newer than the copy held
        is taken as it is; it is checked against the log before its first search.
        """
        try:
            started = time.monotonic()  # the copy is at least this new
            expired = self._expired
            self.folder.mkdir(parents=True, exist_ok=True)
            self.key = self.key or _identify(self.url)
            with open(self.folder / f"{self.key}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                held = self.snapshot.generation if self.snapshot is not None else -1
                newest = _newest_build(self.folder, self.key)
                if newest is not None and newest[0] > held:
                    folder, fresh = newest[1], False
                else:
                    folder, fresh = self._build(), True
                columns = snapshot_store.open_folder(folder)
            snapshot = Snapshot(columns.generation, Base.of(columns))
            # a build made here is current as of its start; one found may be stale
            self._confirm(snapshot, started if fresh else -math.inf, expired, new=True)
            LOGGER.info(
                "nearest snapshot at generation %d: %d stations in %.0f ms (%s)",
                snapshot.generation,
                len(columns.ids),
                (time.monotonic() - started) * 1000,
                "built" if fresh else "shared",
            )
        except Exception as exc:  # searches go on through PostgreSQL, as while it builds
            self._next_try = time.monotonic() + self.RETRY_S
            if isinstance(exc, psycopg.Error | StationsError | OSError):
                LOGGER.warning("nearest snapshot not rebuilt: %s", exc)
            else:
                LOGGER.exception("nearest snapshot not rebuilt")
        finally:
            self._rebuilding.release()

    def _build(self) -> Path:
        """A new build of the database in a folder of its own (under the lock)."""
        work = self.folder / f"{self.key}-building-{os.getpid()}-{next(self._builds)}"
        shutil.rmtree(work, ignore_errors=True)
        build = subprocess.run(
            [sys.executable, "-m", "stations.snapshot_store", str(work)],
            env={**os.environ, snapshot_store.URL_ENV: self.url},
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        if build.returncode:
            shutil.rmtree(work, ignore_errors=True)
            tail = (build.stderr.strip().splitlines() or ["no output"])[-1]
            raise StationsError(f"the copy could not be built: {tail}")
        generation = snapshot_store.open_folder(work).generation
        done = self.folder / f"{self.key}-g{generation}"
        shutil.rmtree(done, ignore_errors=True)
        work.rename(done)
        for old in self.folder.glob(f"{self.key}-*"):  # mapped copies stay valid
            if old != done and not old.name.startswith(f"{self.key}-building-"):
                shutil.rmtree(old, ignore_errors=True)
        return done


def _identify(url: str) -> str:
    """A name for the database's builds: its cluster's and its own identity, hashed.

    Not the URL alone (it may hold a password, and a database dropped and created again
    under the same name starts its generations again, so an old build would pass for new).
    """
    from stations import db

    with db.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT system_identifier FROM pg_control_system()), d.oid "
            "FROM pg_database d WHERE d.datname = current_database()"
        ).fetchone()
    return hashlib.sha256(f"{url}|{row[0]}|{row[1]}".encode()).hexdigest()[:16]


def _newest_build(parent: Path, key: str) -> tuple[int, Path] | None:
    """The finished build of the database ``key`` with the highest generation, if any."""
    found = []
    for folder in parent.glob(f"{key}-g*"):
        generation = folder.name.rsplit("-g", 1)[1]
        if generation.isdigit() and (folder / "meta.json").is_file():
            found.append((int(generation), folder))
    return max(found, default=None)
