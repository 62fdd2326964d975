"""Every setting the service reads, declared once: name, default, help and how to read it.

All come from environment variables prefixed ``STATIONS_`` except ``DATABASE_URL``, the
name every PostgreSQL tool already knows. The README lists each one; a test checks that.
Each setting carries its parser, so :func:`value` gives every caller the same typed value
(an ``int``, seconds as a ``float``, a list of URLs) and a bad one fails with its name.
Values are read from the environment when asked for, not cached: processes (and tests)
set them before they start serving.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stations.errors import BadSetting

PROJECT_DIR = Path(__file__).resolve().parents[1]


def _text(raw: str) -> str:
    return raw


def _flag(raw: str) -> bool:
    """``true`` is on; anything else is off."""
    return raw == "true"


def _url_list(raw: str) -> list[str]:
    """Comma-separated URLs, blanks dropped."""
    return [url.strip() for url in raw.split(",") if url.strip()]


def _max_age_s(raw: str) -> float | None:
    """Seconds (0 or more) as a float, or None for ``off``."""
    text = raw.strip().lower()
    if text == "off":
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < math.inf:
        raise ValueError("give seconds (0 or more) or off")
    return seconds


def checked_public_url(value: str | None) -> str | None:
    """``STATIONS_PUBLIC_URL`` without its trailing slash; an error says what a good one is."""
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise BadSetting(
            f"STATIONS_PUBLIC_URL={value!r} is not an address such as "
            "https://yizhan.example.cn (http or https, a host, no query)",
            zh=f"STATIONS_PUBLIC_URL={value!r} 不是有效地址，应形如 https://yizhan.example.cn",
        )
    return value.rstrip("/")


@dataclass(frozen=True)
class Setting:
    """One environment setting with its default and a line of help."""

    name: str
    default: str | None
    help: str
    parse: Callable[[str], Any] = _text  # the text (set or default) -> the value callers get

    def get(self) -> str | None:
        """The text from the environment, or the default; empty counts as unset."""
        return os.environ.get(self.name) or self.default

    def value(self) -> Any:
        """The parsed value; None when unset without a default. A bad one names the setting."""
        raw = self.get()
        if raw is None:
            return None
        try:
            return self.parse(raw)
        except ValueError as exc:
            raise ValueError(f"{self.name}={raw!r}: {exc}") from None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL",
        None,
        "PostGIS to use, e.g. postgresql://user:pw@host/db. Unset: the embedded cluster.",
    ),
    Setting(
        "DATABASE_READ_URL",
        None,
        "Read replicas for the public read endpoints, comma-separated URLs. Unset: all "
        "reads on DATABASE_URL.",
        parse=_url_list,
    ),
    Setting(
        "STATIONS_VAR_DIR",
        str(PROJECT_DIR / "var"),
        "Where the embedded cluster (var/pg) and other run-time state live.",
    ),
    Setting(
        "STATIONS_PG_BIN",
        None,
        "Folder with initdb/pg_ctl/postgres. Unset: the newest /usr/lib/postgresql/*/bin.",
    ),
    Setting(
        "STATIONS_PG_PORT",
        "54329",
        "Port number of the embedded cluster's Unix socket (it listens on no TCP address).",
        parse=int,
    ),
    Setting(
        "STATIONS_PG_USER",
        "postgres",
        "Unprivileged system user that runs the embedded cluster when started as root.",
    ),
    Setting(
        "STATIONS_PG_SHARED_BUFFERS",
        "512MB",
        "The embedded cluster's shared_buffers (its cache; the nearest search at 1M "
        "stations reads 400 MB). Takes effect at the next `stations db up`.",
    ),
    Setting("STATIONS_DB_NAME", "stations", "Database name inside the embedded cluster."),
    Setting("STATIONS_DATA_DIR", str(PROJECT_DIR / "data"), "Vocabulary and demo data folder."),
    Setting(
        "STATIONS_HOLIDAYS_DIR",
        None,
        "Folder of the State Council's yearly holiday arrangements (YYYY.toml). Unset: "
        "the holidays folder of STATIONS_DATA_DIR.",
    ),
    Setting(
        "STATIONS_CLOSING_SOON_MIN",
        "30",
        "A station that closes within this many minutes is answered as closing_soon.",
        parse=int,
    ),
    Setting(
        "STATIONS_POOL_SIZE", "5", "Database connections kept per web worker process.", parse=int
    ),
    Setting(
        "STATIONS_WORKERS", "2", "Web worker processes started by `stations serve`.", parse=int
    ),
    Setting(
        "STATIONS_THREADS",
        "4",
        "Threads per web worker; keep it at or below STATIONS_POOL_SIZE.",
        parse=int,
    ),
    Setting(
        "STATIONS_MAX_BODY_MB",
        "50",
        "Largest request body in MB; bigger ones get 413 before they are read.",
        parse=int,
    ),
    Setting(
        "STATIONS_BODY_TIMEOUT_S",
        "10",
        "Longest wait for the next 16 KB of a request body; a body that stalls longer is "
        "answered 408 and its connection closed.",
        parse=float,
    ),
    Setting(
        "STATIONS_RATE_LIMIT_PUBLIC",
        "6000/minute",
        "Per-address limit on the public API and map (e.g. 6000/minute); off disables.",
    ),
    Setting(
        "STATIONS_TRUSTED_PROXIES",
        "0",
        "How many proxies (load balancer, TLS terminator) stand in front and set "
        "X-Forwarded-For/-Proto/-Host; 0 trusts none of those headers.",
        parse=int,
    ),
    Setting(
        "STATIONS_PUBLIC_URL",
        None,
        "The address users reach the service at, e.g. https://yizhan.example.cn; links "
        "(next pages, Location) are built from it, never from the request's Host. Unset: "
        "from the request (fine on one machine).",
        parse=checked_public_url,
    ),
    Setting(
        "STATIONS_RATE_LIMIT_PLANNER",
        "60/minute",
        "Per-address limit on each planner, subsidy and editing endpoint; off disables.",
    ),
    Setting(
        "STATIONS_RATE_LIMIT_STORAGE",
        "memory://",
        "Where counts live: memory:// (per worker) or redis://host:6379 (shared).",
    ),
    Setting(
        "STATIONS_NEAREST_MAX_AGE_S",
        "0.5",
        "Seconds an anonymous nearest search may answer from the worker's in-memory "
        "stations before checking the registry's generation again; 0 checks every "
        "search; off always asks PostgreSQL.",
        parse=_max_age_s,
    ),
    Setting(
        "STATIONS_STATEMENT_TIMEOUT_S",
        "60",
        "Longest a database statement of a web request may run, in seconds; it is then "
        "cancelled and the request answered 503.",
        parse=int,
    ),
    Setting(
        "STATIONS_PAGE_LIMIT_MAX", "1000", "Largest `limit` a station listing accepts.", parse=int
    ),
    Setting(
        "STATIONS_MAP_TILES",
        "osm",
        "Map background: osm, tianditu, amap (markers shifted to GCJ-02), none, or a "
        "{z}/{x}/{y} URL of your own.",
    ),
    Setting(
        "STATIONS_SECRET_KEY",
        None,
        "Key that signs the planner map's session cookie; give every server the same one. "
        "Unset: a random key kept in STATIONS_VAR_DIR/secret_key.",
    ),
    Setting(
        "STATIONS_COOKIE_SECURE",
        "false",
        "true: send the session cookie over HTTPS only (set it behind a TLS proxy).",
        parse=_flag,
    ),
    Setting(
        "STATIONS_REPORT_PREPARER",
        "山西省总工会",
        "制表单位 printed on the subsidy spreadsheets: the office that prepares them.",
    ),
    Setting("STATIONS_TIANDITU_KEY", None, "Tianditu browser key, needed for tianditu tiles."),
    Setting("STATIONS_MAP_ATTRIBUTION", None, "Credit line for your own tile URL."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> str | None:
    """One declared setting's text as set; unknown names are a programming error."""
    return _BY_NAME[name].get()


def path(name: str) -> str:
    """Read one declared folder setting (these always have a default)."""
    value = get(name)
    assert value is not None, name
    return value


def value(name: str) -> Any:
    """One declared setting's value, parsed as its declaration says (see ``SETTINGS``)."""
    return _BY_NAME[name].value()
