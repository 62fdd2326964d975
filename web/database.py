"""The request's database connection, from a pool per app and worker process."""

from __future__ import annotations

import psycopg
from flask import Flask, current_app, g
from psycopg_pool import ConnectionPool, PoolTimeout

from stations import db
from stations.errors import DatabaseUnavailable

POOL_KEY = "stations.pool"


def get_conn() -> psycopg.Connection:
    """The request's connection (autocommit), taken from the pool on first use."""
    if "conn" not in g:
        pool = current_app.extensions.get(POOL_KEY)
        if pool is None:
            pool = current_app.extensions[POOL_KEY] = ConnectionPool(
                db.libpq_url(current_app.config["DATABASE_URL"]),
                min_size=1,
                max_size=current_app.config["POOL_SIZE"],
                kwargs={
                    "autocommit": True,
                    "connect_timeout": 5,
                    "options": db.SERVING_OPTIONS,
                },
                open=True,
                # no check on every getconn (a round trip per request): a connection that
                # broke fails its request with 503 and the pool discards it when returned
                name="stations",
            )
        try:
            # a sync worker serves one request at a time, so a free connection is there at
            # once unless the database is gone: then answer 503 within a second, not hang
            g.conn = pool.getconn(timeout=1)
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise DatabaseUnavailable("the database is not reachable; try again shortly") from exc
    return g.conn


def init_app(app: Flask) -> None:
    """Return the request's connection to the pool at teardown; close the pool at exit."""

    @app.teardown_appcontext
    def _release(_exc: BaseException | None) -> None:
        conn = g.pop("conn", None)
        if conn is not None:
            app.extensions[POOL_KEY].putconn(conn)


def close_pool(app: Flask) -> None:
    """Close the app's pool (tests call this; workers just exit)."""
    pool = app.extensions.pop(POOL_KEY, None)
    if pool is not None:
        pool.close()
