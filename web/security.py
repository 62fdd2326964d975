"""Response headers that make the pages harder to abuse, and the request size limit.

The content security policy allows scripts, styles and connections from this app only
(the vendored Leaflet; no CDN can be pulled in), images from the app and the configured
tile servers, and no framing. Inline scripts stay allowed: Folium writes the map as
inline script, and the station data rides in inline JSON.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from web.map_tiles import tiles_from_settings


def init_app(app: Flask) -> None:
    """Install the size limit and the headers."""

    @app.before_request
    def _announced_size() -> None:
        """413 for a body announced too big, before any of it is read, on every route."""
        limit = app.config.get("MAX_CONTENT_LENGTH")
        if limit is not None and (request.content_length or 0) > limit:
            raise RequestEntityTooLarge(
                f"the body may be at most {limit // (1024 * 1024) or limit} "
                f"{'MB' if limit >= 1024 * 1024 else 'bytes'} (STATIONS_MAX_BODY_MB)"
            )

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        if response.status_code == 503:
            # registered before the rate limiter's hook, so this runs after it: the limiter
            # would put its own window (up to 60 s) on an outage's answer
            headers["Retry-After"] = "5"
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if response.mimetype == "text/html":
            headers.setdefault("Content-Security-Policy", policy())
            headers.setdefault("X-Frame-Options", "DENY")
        return response


def policy() -> str:
    """The page policy for the tile servers configured now."""
    return _policy(tuple(tiles_from_settings("zh").urls) + tuple(tiles_from_settings("en").urls))


@functools.lru_cache(maxsize=8)
def _policy(tile_urls: tuple[str, ...]) -> str:
    images = ["'self'", "data:", "blob:", *sorted({_source(u) for u in tile_urls})]
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline'",
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
