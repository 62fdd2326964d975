"""Probes for a load balancer or orchestrator: the process is alive; it can serve.

``/healthz`` answers from the process alone, so a database outage does not get healthy
workers restarted. ``/readyz`` asks the database (one short query) and compares its
schema revision with the code's, so a worker is only sent traffic it can answer; its
body also says which years' public holidays follow a State Council notice.
"""

from __future__ import annotations

import datetime as dt
import functools

import psycopg
from flask import Blueprint, Response, jsonify

from stations import db, hours
from stations.errors import DatabaseUnavailable
from stations.hours import calendar as holiday_calendar
from web.pools import get_conn

health = Blueprint("health", __name__)


@functools.cache
def _head() -> str:
    return db.head_revision()


@health.get("/healthz")
def healthz() -> Response:
    """The process is up."""
    response = jsonify({"status": "ok"})
    response.headers["Cache-Control"] = "no-store"
    return response


@health.get("/readyz")
def readyz() -> Response:
    """The database answers and its schema is the one this code expects."""
    try:
        row = get_conn().execute("SELECT version_num FROM alembic_version").fetchone()
    except psycopg.errors.UndefinedTable:
        row = None
    except psycopg.Error as exc:
        raise DatabaseUnavailable("the database is not reachable; try again shortly") from exc
    revision = row[0] if row else None
    if revision != _head():
        raise DatabaseUnavailable(
            f"the schema is at revision {revision or 'none'}, this code needs {_head()}: "
            "run `stations db migrate`"
        )
    # whether PH follows the State Council's notices; a missing notice is worth a warning
    # (in the log too), not a worker taken out of service
    today = dt.datetime.now(hours.SHANGHAI).date()
    holidays = holiday_calendar.log_attention(today).as_dict()
    response = jsonify({"status": "ready", "revision": revision, "holidays": holidays})
    response.headers["Cache-Control"] = "no-store"
    return response
