"""Request logs and Prometheus metrics.

Each request writes one JSON line to the ``stations.access`` logger: time, method, route
template, status, duration and response size. The route template (``/api/v1/stations/
<station_id>``), never the query string: a courier's position and any token stay out
of the logs. ``/metrics`` serves request counts and latency histograms per route in the
Prometheus text format; under ``stations serve`` the workers share them through
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from typing import Any

import orjson
from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

ACCESS = logging.getLogger("stations.access")
REQUESTS = Counter(
    "stations_http_requests", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "stations_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def init_app(app: Flask) -> None:
    """Time every request, log it, count it; serve ``/metrics``."""

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        started = g.pop("started", None)
        if started is None:
            return response
        seconds = time.perf_counter() - started
        route = request.url_rule.rule if request.url_rule else "unmatched"
        count, latency = _series(request.method, route, response.status_code)
        count.inc()
        latency.observe(seconds)
        if ACCESS.isEnabledFor(logging.INFO):
            line = {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 2),
                "bytes": response.calculate_content_length(),
            }
            ACCESS.info(orjson.dumps(line).decode())
        return response

    app.add_url_rule("/metrics", "metrics", metrics)


@functools.lru_cache(maxsize=1024)
def _series(method: str, route: str, status: int) -> tuple[Any, Any]:
    """The counter and histogram children for one kind of request, looked up once.

    Routes are templates and statuses few, so the cache stays small.
    """
    return REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route)


def metrics() -> Response:
    """The counters and histograms, from every worker when there are several."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    response = Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0])
    response.headers["Cache-Control"] = "no-store"
    return response


def log_to_stderr() -> None:
    """Send the access log to standard error (what ``stations serve`` runs)."""
    if not ACCESS.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        ACCESS.addHandler(handler)
        ACCESS.setLevel(logging.INFO)
        ACCESS.propagate = False
