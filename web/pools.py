"""The app's connection pools, one per database and worker, and the request's primary.

A request keeps each connection it takes until its app context ends, then returns it to
its pool. When the database goes away, a request gets 503 within half a second instead
of hanging, and the pools reconnect by themselves when it is back: a pool gives up a
reconnection attempt after a few seconds and the next request starts a fresh one, so the
exponential backoff never grows past a couple of seconds, however long the outage lasted.

Which database a read goes to (replicas, the workers' memory) is :mod:`web.database`'s
business; this module knows only pools and the primary, so :mod:`web.auth` can look up
a caller's token without depending on it.
"""

from __future__ import annotations

import threading

import psycopg
from flask import Flask, current_app, g
from psycopg_pool import ConnectionPool, PoolTimeout

from stations import db
from stations.errors import DatabaseUnavailable

POOLS_KEY = "stations.pools"
_HELD = "held_connections"  # on g: name -> (pool, connection), returned at teardown
_CREATING = threading.Lock()
# A worker runs no more threads than its pool holds connections, so a free one is there
# at once unless the database is gone (or the pool is still opening its first one).
PRIMARY_WAIT_S = 0.5
# Longest a pool keeps retrying one reconnection before leaving it to the next request.
RECONNECT_S = 4.0


def get_conn() -> psycopg.Connection:
    """The request's primary connection (autocommit), taken from the pool on first use."""
    try:
        return held("primary", current_app.config["DATABASE_URL"], PRIMARY_WAIT_S)
    except (PoolTimeout, psycopg.OperationalError) as exc:
        raise DatabaseUnavailable("the database is not reachable; try again shortly") from exc


def held(name: str, url: str, wait_s: float) -> psycopg.Connection:
    """The request's connection called ``name``, taken from ``url``'s pool on first use.

    Waits at most ``wait_s`` seconds for it (``PoolTimeout`` then, or the connection's
    error); it goes back to the pool when the request ends.
    """
    connections = g.setdefault(_HELD, {})
    if name not in connections:
        pool = pool_for(url)
        connections[name] = (pool, pool.getconn(timeout=wait_s))
    return connections[name][1]


def pool_for(url: str) -> ConnectionPool:
    """The app's pool of connections to ``url``, opened on first use."""
    pools = current_app.extensions[POOLS_KEY]
    pool = pools.get(url)
    if pool is not None:
        return pool
    with _CREATING:  # threads of one worker must share one pool per database
        pool = pools.get(url)
        if pool is not None:
            return pool
        primary = url == current_app.config["DATABASE_URL"]
        pool = pools[url] = ConnectionPool(
            db.libpq_url(url),
            min_size=1,
            max_size=current_app.config["POOL_SIZE"],
            kwargs={"autocommit": True, "connect_timeout": 5, "options": db.SERVING_OPTIONS},
            open=True,
            # the primary's connections are not checked on every getconn (a round trip per
            # request): one that broke fails its request with 503 and the pool discards it.
            # A replica's are, so a replica that went away costs a fallback, not a 503.
            check=None if primary else ConnectionPool.check_connection,
            reconnect_timeout=RECONNECT_S,
            name="primary" if primary else "replica",
        )
        return pool


def init_app(app: Flask) -> None:
    """No pools yet (they open on first use); return the request's connections at teardown."""
    app.extensions[POOLS_KEY] = {}

    @app.teardown_appcontext
    def _release(_exc: BaseException | None) -> None:
        for pool, conn in g.pop(_HELD, {}).values():
            pool.putconn(conn)


def close_pool(app: Flask) -> None:
    """Close the app's pools (tests call this; workers just exit)."""
    for pool in app.extensions.get(POOLS_KEY, {}).values():
        pool.close()
    app.extensions[POOLS_KEY] = {}
