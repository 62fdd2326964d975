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

**Freshness.** A snapshot carries the registry generation it was read at (migration
0004: raised by every committed change, in commit order). :class:`Current` answers from
its snapshot only while the generation was confirmed within ``max_age_s`` seconds;
otherwise the request reads the generation (one short query on its own connection) and,
when it moved, the snapshot is rebuilt in a background thread while searches go to
PostgreSQL. So an anonymous search is never more than ``max_age_s`` behind the database
it reads, and fails like any read when that database is gone.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from pyproj import Geod
from scipy.spatial import cKDTree

from stations import registry
from stations.availability import Judge
from stations.errors import StationsError
from stations.nearest import RECORD_NAMES, RECORD_SQL

LOGGER = logging.getLogger(__name__)
_GEOD = Geod(ellps="WGS84")
# metres per radian of central angle, at least, anywhere (see the module doc)
_LOW_M_PER_RAD = _GEOD.a * (1 - _GEOD.es) * 0.99
_FIRST_BATCH = 8

# One statement, so one database snapshot: the generation and the stations it stands for
# (a registry without active stations still gives the generation, on a row of NULLs).
_LOAD = f"""
SELECT g.generation, {RECORD_SQL}
FROM registry_generation g
LEFT JOIN stations s ON s.status = 'active' AND s.geom IS NOT NULL
ORDER BY s.id
"""
_HOURS, _AMENITIES = RECORD_NAMES.index("opening_hours"), RECORD_NAMES.index("amenities")
_LON, _LAT = RECORD_NAMES.index("lon"), RECORD_NAMES.index("lat")


@dataclass(frozen=True)
class Snapshot:
    """The active stations at one registry generation, with a k-d tree over them."""

    generation: int
    rows: tuple[tuple[Any, ...], ...]  # RECORD_NAMES; tuples, not dicts: half the memory
    ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    # each station's amenities as bits, one per code in ``amenity_bits``
    amenities: np.ndarray
    amenity_bits: dict[str, int]
    tree: cKDTree | None  # None when there are no active stations

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
        if self.tree is None or any(a not in self.amenity_bits for a in amenities):
            return []  # no station has an amenity that no station has
        wanted = np.uint64(sum(self.amenity_bits[a] for a in set(amenities)))
        point = _unit_vector(lon, lat)
        reach = _chord(within_m / _LOW_M_PER_RAD)  # nothing further can be within_m away
        judge = Judge(at, open_for_min)
        batch = max(_FIRST_BATCH, 2 * limit)
        while True:
            chords, fetched = self.tree.query(point, k=batch, distance_upper_bound=reach)
            fetched = fetched[fetched < len(self.rows)]  # the rest: none within reach
            near = fetched[(self.amenities[fetched] & wanted) == wanted] if wanted else fetched
            metres = _distances(lon, lat, self.lon[near], self.lat[near])
            kept = metres <= within_m
            near, metres = near[kept], metres[kept]
            found = []
            for j in np.lexsort((self.ids[near], metres)).tolist():  # by distance, then id
                row = self.rows[near[j]]
                state = judge.hours(row[_HOURS], row[_LON], row[_LAT])
                if not open_only or judge.usable(state):
                    found.append((float(metres[j]), row, state))
                    if len(found) == limit:
                        break
            if len(fetched) < batch or _final(found, float(chords[-1]), limit):
                return [
                    dict(
                        zip(RECORD_NAMES, row, strict=True), distance_m=distance, availability=state
                    )
                    for distance, row, state in found
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


def _unit_vector(lon: float, lat: float) -> tuple[float, float, float]:
    lam, phi = math.radians(lon), math.radians(lat)
    return (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))


def _chord(angle: float) -> float:
    """The straight-line distance between unit vectors ``angle`` radians apart."""
    return 2 * math.sin(min(angle, math.pi) / 2)


def load(conn: psycopg.Connection) -> Snapshot:
    """Read the active stations and the generation they are at, in one database snapshot."""
    cursor = conn.execute(_LOAD)
    fetched = cursor.fetchall()
    generation = fetched[0][0]
    rows = tuple(row[1:] for row in fetched if row[1] is not None)
    lon = np.array([r[_LON] for r in rows], dtype=float)
    lat = np.array([r[_LAT] for r in rows], dtype=float)
    codes = sorted({code for r in rows for code in r[_AMENITIES] or ()})
    if len(codes) > 64:
        raise ValueError(f"{len(codes)} amenity codes in use; the snapshot holds 64")
    bits = {code: 1 << n for n, code in enumerate(codes)}
    amenities = np.array(
        [sum(bits[code] for code in set(r[_AMENITIES] or ())) for r in rows], dtype=np.uint64
    )
    if rows:
        lam, phi = np.radians(lon), np.radians(lat)
        xyz = np.column_stack((np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)))
        tree = cKDTree(xyz)
    else:
        tree = None
    return Snapshot(
        generation=generation,
        rows=rows,
        ids=np.array([r[0] for r in rows], dtype=np.int64),
        lon=lon,
        lat=lat,
        amenities=amenities,
        amenity_bits=bits,
        tree=tree,
    )


class Current:
    """The newest snapshot of one database, trusted for ``max_age_s`` after each check.

    Shared by the threads of a worker: reads take ``(snapshot, checked)`` as one tuple
    without a lock. A reader that finds no snapshot, or the generation moved, starts a
    rebuild (one at a time); until it lands, :meth:`get` says to ask the database. A
    rebuild that failed is not tried again for ``RETRY_S``, so a database that refuses
    it is not asked on every search.
    """

    RETRY_S = 5.0

    def __init__(self, connect: Callable[[], psycopg.Connection], max_age_s: float) -> None:
        self.connect = connect  # a new connection of the rebuild's own, to the same database
        self.max_age_s = max_age_s
        # the snapshot, and the monotonic time it was last known to be current
        self._state: tuple[Snapshot | None, float] = (None, -math.inf)
        self._expired = 0  # raised by expire(): a confirmation begun before it is void
        self._writing = threading.Lock()
        self._rebuilding = threading.Lock()
        self._next_try = -math.inf  # no rebuild before this monotonic time

    @property
    def snapshot(self) -> Snapshot | None:
        """The snapshot held now, current or not."""
        return self._state[0]

    def get(self, conn: Callable[[], psycopg.Connection]) -> Snapshot | None:
        """The snapshot to answer from, or None to answer from the database.

        When the last check is older than ``max_age_s``, reads the generation on
        ``conn()`` (called only then: a current snapshot needs no connection); a database
        error propagates, as for any read.
        """
        snapshot, checked = self._state
        now = time.monotonic()
        if snapshot is not None and now - checked < self.max_age_s:
            return snapshot
        if snapshot is None or self._rebuilding.locked():
            self._rebuild()  # nothing to confirm yet: no generation query
            return None
        expired = self._expired
        generation = registry.version(conn())
        if snapshot is not None and snapshot.generation == generation:
            self._confirm(snapshot, now, expired, new=False)
            return snapshot
        self._rebuild()
        return None

    def expire(self) -> None:
        """Check the generation at the next :meth:`get` (the caller just changed it)."""
        with self._writing:
            self._expired += 1
            self._state = (self._state[0], -math.inf)

    def _confirm(self, snapshot: Snapshot, checked: float, expired: int, new: bool) -> None:
        """Hold ``snapshot`` (``new``: just loaded) as current since ``checked``.

        A confirmation that began before an :meth:`expire` counts for nothing (the next
        search checks again); one for a snapshot that a rebuild replaced meanwhile is
        dropped.
        """
        with self._writing:
            if expired != self._expired:
                checked = -math.inf
            if new or self._state[0] is snapshot:
                self._state = (snapshot, checked)

    def _rebuild(self) -> None:
        if time.monotonic() < self._next_try or not self._rebuilding.acquire(blocking=False):
            return  # failed a moment ago, or another thread is at it
        try:
            threading.Thread(target=self._load, name="stations-snapshot", daemon=True).start()
        except BaseException:
            self._rebuilding.release()
            raise

    def _load(self) -> None:
        try:
            started = time.monotonic()  # the snapshot is at least this new
            expired = self._expired
            with self.connect() as conn:
                snapshot = load(conn)
            self._confirm(snapshot, started, expired, new=True)
            LOGGER.info(
                "nearest snapshot at generation %d: %d stations in %.0f ms",
                snapshot.generation,
                len(snapshot.rows),
                (time.monotonic() - started) * 1000,
            )
        except Exception as exc:  # searches go on through PostgreSQL, as while it loads
            self._next_try = time.monotonic() + self.RETRY_S
            if isinstance(exc, psycopg.Error | StationsError):  # the database, not a bug
                LOGGER.warning("nearest snapshot not rebuilt: %s", exc)
            else:
                LOGGER.exception("nearest snapshot not rebuilt")
        finally:
            self._rebuilding.release()
