"""Rate limits: generous for the public endpoints, tighter for the expensive planner ones.

Limits are per client address and per worker process with the default in-memory store;
set ``STATIONS_RATE_LIMIT_STORAGE`` (``redis://…``) to share them between workers and
hosts; while Redis is unreachable each worker counts on its own. Couriers on one mobile
carrier often share an address (carrier-grade NAT), so the public default is high: it
stops a scraper or a runaway script, not a busy street. ``off`` disables a limit (the
load benchmark does). A refused call gets 429 problem+json with ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from stations import settings

# no storage_uri here: flask-limiter lets the constructor's win over the app's config, and
# STATIONS_RATE_LIMIT_STORAGE=redis://… was silently ignored that way
limiter = Limiter(get_remote_address, headers_enabled=True)


def init_app(app: Flask) -> None:
    """Read the limits (config overrides the settings) and attach the limiter."""
    app.config.setdefault("RATE_LIMIT_PUBLIC", settings.get("STATIONS_RATE_LIMIT_PUBLIC"))
    app.config.setdefault("RATE_LIMIT_PLANNER", settings.get("STATIONS_RATE_LIMIT_PLANNER"))
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.get("STATIONS_RATE_LIMIT_STORAGE"))
    # Redis gone: count in the worker meanwhile (and retry it), never answer 500
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    if _off_value(app, "RATE_LIMIT_PUBLIC") and _off_value(app, "RATE_LIMIT_PLANNER"):
        return  # both off (the load benchmark): no limiter hooks on this app's requests
    limiter.init_app(app)


def _off_value(app: Flask, key: str) -> bool:
    return str(app.config[key]).strip().lower() == "off"


def _off(key: str) -> bool:
    return _off_value(current_app, key)


def _limit(key: str) -> Callable[[Any], Any]:
    # the limiter parses the value even when exempt: an unreachable limit stands in for "off"
    return limiter.limit(
        lambda: "1000000/second" if _off(key) else current_app.config[key],
        exempt_when=lambda: _off(key),
    )


public = _limit("RATE_LIMIT_PUBLIC")
planner = _limit("RATE_LIMIT_PLANNER")
