"""One place that turns errors into RFC 9457 ``application/problem+json`` responses."""

from __future__ import annotations

import logging
import re
from typing import Any

import psycopg
from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

from stations.errors import Conflict, StationsError
from web.params import preferred_lang

LOGGER = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, code: str, **extra: Any) -> Response:
    """A problem document; ``type`` is a stable relative URI per error code."""
    body = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
        **extra,
    }
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM)
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


def _localized(value: Any, lang: str) -> Any:
    """Per-row reports in ``lang``: ``reason`` becomes the Chinese one where there is one."""
    if not isinstance(value, list):
        return value
    out = []
    for item in value:
        if isinstance(item, dict) and "reason_zh" in item:
            item = dict(item)
            chinese = item.pop("reason_zh")
            if lang == "zh":
                item["reason"] = chinese
        out.append(item)
    return out


_UNITS_ZH = {"second": "秒", "minute": "分钟", "hour": "小时", "day": "天"}


def _detail(exc: HTTPException, lang: str) -> str:
    """What a person can do about an HTTP-level error, in ``lang``."""
    if exc.code == 404:
        return (
            "此地址不存在；接口说明见 /api/v1/openapi.json"
            if lang == "zh"
            else "there is nothing at this address; the API is described at /api/v1/openapi.json"
        )
    if exc.code == 405:
        allowed = ", ".join(sorted(getattr(exc, "valid_methods", None) or ()))
        return (
            f"此地址不接受 {request.method} 请求，可用：{allowed}"
            if lang == "zh"
            else f"this address does not take {request.method}; it takes {allowed}"
        )
    if exc.code == 429:  # flask-limiter's description is the limit, e.g. "6 per 1 minute"
        limit = exc.description or ""
        if lang == "zh":
            match = re.fullmatch(r"(\d+) per (\d+) (second|minute|hour|day)s?", limit)
            said = f"每 {match[2]} {_UNITS_ZH[match[3]]} {match[1]} 次" if match else limit
            return f"来自您地址的请求过多（上限：{said}）；请按 Retry-After 的秒数等待后再试"
        return (
            f"too many requests from your address (limit: {limit}); wait the seconds in "
            "Retry-After, then try again"
        )
    zh = getattr(exc, "description_zh", None)
    if lang == "zh" and zh:
        return str(zh)
    return exc.description or exc.name


def register(app: Flask) -> None:
    """Install the handlers on ``app``."""

    @app.errorhandler(StationsError)
    def _domain(exc: StationsError) -> Response:
        lang = preferred_lang()
        details = {k: _localized(v, lang) for k, v in exc.details.items()}
        response = problem(exc.http_status, exc.title, exc.message_in(lang), exc.code, **details)
        if exc.http_status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="stations"'
        return response

    def _concurrent_change(exc: psycopg.OperationalError) -> Response:
        LOGGER.warning("concurrent change on %s: %s", request.path, exc)
        return _domain(
            Conflict("another change to the same stations got in the way; send the request again")
        )

    # more specific than OperationalError below, so Flask picks these first
    for rollback in (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
        app.register_error_handler(rollback, _concurrent_change)

    @app.errorhandler(psycopg.errors.QueryCanceled)
    def _too_long(exc: psycopg.errors.QueryCanceled) -> Response:
        LOGGER.warning("statement cancelled on %s: %s", request.path, exc)
        return problem(
            503,
            "Took too long",
            "the database took too long to answer this request (STATIONS_STATEMENT_TIMEOUT_S); "
            "try again, or ask for less (a smaller area, fewer stations)",
            "statement-timeout",
        )

    @app.errorhandler(psycopg.OperationalError)
    def _database_down(exc: psycopg.OperationalError) -> Response:
        LOGGER.warning("database unavailable on %s: %s", request.path, exc)
        return problem(
            503,
            "Database unavailable",
            "the database is not reachable; try again shortly",
            "database-unavailable",
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "-")
        response = problem(exc.code or 500, exc.name, _detail(exc, preferred_lang()), code)
        for name, value in exc.get_headers():  # Allow on a 405, Retry-After on a 429 ...
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        LOGGER.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "Internal error", "something went wrong on our side", "internal-error")
