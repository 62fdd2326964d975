"""Response headers that make the pages harder to abuse, and the request body limits.

The content security policy allows scripts, styles and connections from this app only
(the vendored Leaflet; no CDN can be pulled in), images from the app and the configured
tile servers, and no framing. No inline script runs, except on the public map, whose
Folium output is inline script (a view marks itself with :func:`allow_inline_scripts`);
station data rides in inline JSON blocks, which are data, not script.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import Flask, Response, g, request

from stations import settings
from web import body_gate
from web.map_tiles import tiles_from_settings


def init_app(app: Flask) -> None:
    """Install the body gate, the size limit and the headers."""
    app.config.setdefault("BODY_TIMEOUT_S", settings.value("STATIONS_BODY_TIMEOUT_S"))
    app.wsgi_app = body_gate.BodyGate(  # type: ignore[method-assign]
        app.wsgi_app,
        max_bytes=lambda: app.config.get("MAX_CONTENT_LENGTH"),
        idle_s=lambda: float(app.config["BODY_TIMEOUT_S"]),
        # half the worker's threads: bodies that stall hold theirs until the client goes
        readers=int(
            app.config.get("BODY_READERS", max(1, settings.value("STATIONS_THREADS") // 2))
        ),
    )

    @app.before_request
    def _announced_size() -> None:
        """413 for a body announced too big, before any of it is read, on every route."""
        limit = app.config.get("MAX_CONTENT_LENGTH")
        if limit is not None and (request.content_length or 0) > limit:
            raise body_gate.too_large(limit)

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        if request.environ.get(body_gate.REFUSED) is not None:
            headers["Connection"] = "close"  # the rest of the body will not be read
        if response.status_code not in (429, 503):
            headers.pop("Retry-After", None)  # the limiter puts its window on every answer
        if response.status_code == 503:
            # registered before the rate limiter's hook, so this runs after it: the limiter
            # would put its own window (up to 60 s) on an outage's answer
            headers["Retry-After"] = "5"
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if response.mimetype == "text/html":
            inline = bool(g.get("inline_scripts"))
            headers.setdefault("Content-Security-Policy", policy(inline_scripts=inline))
            headers.setdefault("X-Frame-Options", "DENY")
        return response


def allow_inline_scripts() -> None:
    """Let this response's page run inline script (the Folium map, until it is a file)."""
    g.inline_scripts = True


def policy(inline_scripts: bool = False) -> str:
    """The page policy for the tile servers configured now."""
    urls = tuple(tiles_from_settings("zh").urls) + tuple(tiles_from_settings("en").urls)
    return _policy(urls, inline_scripts)


@functools.lru_cache(maxsize=8)
def _policy(tile_urls: tuple[str, ...], inline_scripts: bool = False) -> str:
    images = ["'self'", "data:", "blob:", *sorted({_source(u) for u in tile_urls})]
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline'" if inline_scripts else "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {' '.join(images)}",
            "connect-src 'self'",
            "font-src 'self' data:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _source(url: str) -> str:
    """A CSP source for a tile URL template: its origin, ``{s}`` subdomains as ``*``."""
    parts = urlsplit(url.replace("{s}", "SUBDOMAIN"))
    host = parts.netloc
    if "SUBDOMAIN" in host:
        host = "*." + host.split(".", 1)[1]
    return f"{parts.scheme}://{host}"
