"""Which database a request reads: a replica or the primary; and the workers' memory.

Writes, sign-ins and the planners' and union's work use the primary (``DATABASE_URL``,
:func:`web.pools.get_conn`). Anonymous public reads (the nearest search, listings, the
map) may use read replicas (``DATABASE_READ_URL``, comma-separated), taken in turn; a
replica's connection is checked as it is taken, and when a replica cannot give a sound
one within a quarter of a second the read falls back to the primary, and reads skip that
replica for 5 s. A signed-in caller always reads the primary, so an editor sees their own
write at once (and its ETag).

Anonymous nearest searches answer from the worker's in-memory copy of the active stations
(:mod:`stations.snapshot`), one per database read from, confirmed current at most
``STATIONS_NEAREST_MAX_AGE_S`` seconds before (one short query when that time is up).
"""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path

import psycopg
from flask import Flask, current_app, g
from psycopg_pool import PoolTimeout

from stations import settings, snapshot
from web import pools
from web.auth import principal

TURN_KEY = "stations.replica_turn"
DOWN_KEY = "stations.replicas_down"  # replica URL -> monotonic time to try it again
SNAPSHOTS_KEY = "stations.snapshots"  # database URL -> snapshot.Current
REPLICA_WAIT_S = 0.25
# After a replica failed to give a connection, reads skip it for this long.
REPLICA_RETRY_S = 5.0


def get_read_conn() -> psycopg.Connection:
    """A connection for a public read: the next replica when there is one, else the primary."""
    return _conn_for(_read_url())


def read_snapshot() -> snapshot.Snapshot | None:
    """The worker's in-memory stations for an anonymous nearest search, or None.

    None when the memory is off (``STATIONS_NEAREST_MAX_AGE_S=off``), for a signed-in
    caller (who reads the primary, own writes included), and while the snapshot of the
    database this read goes to is being (re)built: then the search asks PostgreSQL.
    """
    max_age = current_app.config["NEAREST_MAX_AGE_S"]
    url = _read_url()
    if max_age is None or g.signed_in:
        return None
    currents = current_app.extensions[SNAPSHOTS_KEY]
    current = currents.get(url)
    if current is None:
        folder = Path(settings.path("STATIONS_VAR_DIR")) / "snapshots"
        current = currents.setdefault(url, snapshot.Current(url, max_age, folder))
    return current.get(lambda: _conn_for(url))


def expire_snapshots() -> None:
    """Make this worker's next anonymous search check the generation (it changed it)."""
    for current in current_app.extensions[SNAPSHOTS_KEY].values():
        current.expire()


def _read_url() -> str:
    """The database this request's public reads go to, chosen once per request.

    The replica whose turn it is, unless it failed a moment ago; the primary when there
    are no replicas or the caller is signed in.
    """
    if "read_url" in g:
        return g.read_url
    # a valid token or session only: a made-up "Authorization: Bearer x" is a 401, not a
    # way past the workers' memory and the replicas to the primary's PostGIS
    g.signed_in = principal() is not None
    url = primary = current_app.config["DATABASE_URL"]
    replicas = current_app.config.get("DATABASE_READ_URLS") or ()
    if replicas and not g.signed_in:
        url = replicas[next(current_app.extensions[TURN_KEY]) % len(replicas)]
        if current_app.extensions[DOWN_KEY].get(url, 0.0) > time.monotonic():
            url = primary  # failed a moment ago: no 0.25 s wait on every read
    g.read_url = url
    return url


def _conn_for(url: str) -> psycopg.Connection:
    """The request's connection to ``url``, or the primary's when a replica fails.

    A replica that cannot give a sound connection in time is skipped for a while.
    """
    if url == current_app.config["DATABASE_URL"]:
        return pools.get_conn()
    try:
        return pools.held("replica", url, REPLICA_WAIT_S)
    except (PoolTimeout, psycopg.OperationalError):
        current_app.extensions[DOWN_KEY][url] = time.monotonic() + REPLICA_RETRY_S
        g.read_url = current_app.config["DATABASE_URL"]  # the rest of this request too
        return pools.get_conn()  # a replica down or behind on connections: the primary serves


def init_app(app: Flask) -> None:
    """Read the replica list and the memory's age limit (a bad one fails here)."""
    if "DATABASE_READ_URLS" not in app.config:
        raw = settings.get("DATABASE_READ_URL") or ""
        app.config["DATABASE_READ_URLS"] = [u.strip() for u in raw.split(",") if u.strip()]
    app.extensions[DOWN_KEY] = {}
    app.extensions[TURN_KEY] = itertools.count()  # next() on it is atomic: threads take turns
    app.extensions[SNAPSHOTS_KEY] = {}
    if "NEAREST_MAX_AGE_S" not in app.config:
        app.config["NEAREST_MAX_AGE_S"] = _max_age(settings.get("STATIONS_NEAREST_MAX_AGE_S"))


def _max_age(raw: str | None) -> float | None:
    text = (raw or "off").strip().lower()
    if text == "off":
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < math.inf:
        raise ValueError(f"STATIONS_NEAREST_MAX_AGE_S={raw!r}: give seconds (0 or more) or off")
    return seconds
