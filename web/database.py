"""Which database a request reads, and who is asking, for the domain's nearest search.

Writes, sign-ins and the planners' and union's work use the primary (``DATABASE_URL``,
:func:`web.pools.get_conn`). Anonymous public reads (the nearest search, listings, the
map) may use read replicas (``DATABASE_READ_URL``, comma-separated), taken in turn; a
replica's connection is checked as it is taken, and when a replica cannot give a sound
one within a quarter of a second the read falls back to the primary, and reads skip that
replica for 5 s. A signed-in caller always reads the primary, so an editor sees their own
write at once (and its ETag).

Whether a nearest search answers from the worker's in-memory copy of the active stations
or from PostGIS is the domain's decision (:mod:`stations.nearest_service`); this module
only tells it who is asking and where their reads go.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import psycopg
from flask import Flask, current_app, g
from psycopg_pool import PoolTimeout

from stations import settings
from stations.nearest_service import Caller, NearestService
from web import pools
from web.auth import principal

TURN_KEY = "stations.replica_turn"
DOWN_KEY = "stations.replicas_down"  # replica URL -> monotonic time to try it again
NEAREST_KEY = "stations.nearest"  # the app's NearestService
REPLICA_WAIT_S = 0.25
# After a replica failed to give a connection, reads skip it for this long.
REPLICA_RETRY_S = 5.0


def get_read_conn() -> psycopg.Connection:
    """A connection for a public read: the next replica when there is one, else the primary."""
    return _conn_for(_read_url())


def caller() -> Caller:
    """Who is asking (signed in or not) and where their reads go, for the domain to judge."""
    url = _read_url()
    return Caller(signed_in=g.signed_in, url=url, conn=lambda: _conn_for(url))


def nearest_service() -> NearestService:
    """The app's nearest search: its memory copies follow ``NEAREST_MAX_AGE_S``.

    Made on first use, so a test may change the app's config after making the app.
    """
    service = current_app.extensions.get(NEAREST_KEY)
    if service is None:
        folder = Path(settings.path("STATIONS_VAR_DIR")) / "snapshots"
        made = NearestService(current_app.config["NEAREST_MAX_AGE_S"], folder)
        service = current_app.extensions.setdefault(NEAREST_KEY, made)  # threads: one wins
    return service


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
        app.config["DATABASE_READ_URLS"] = settings.value("DATABASE_READ_URL") or []
    app.extensions[DOWN_KEY] = {}
    app.extensions[TURN_KEY] = itertools.count()  # next() on it is atomic: threads take turns
    if "NEAREST_MAX_AGE_S" not in app.config:
        app.config["NEAREST_MAX_AGE_S"] = settings.value("STATIONS_NEAREST_MAX_AGE_S")
