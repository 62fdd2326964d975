"""Absolute links in answers (next pages, ``Location``), built from the public address.

A link built from the request's ``Host`` header says whatever the client wrote there: a
shared cache in front would then hand another site's links to every user. With
``STATIONS_PUBLIC_URL`` set, links come from it alone.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request, url_for


def external(endpoint: str, **values: object) -> str:
    """The absolute URL of ``endpoint``: from the public address when one is set."""
    public = current_app.config.get("PUBLIC_URL")
    if public is None:
        return url_for(endpoint, _external=True, **values)
    return public + url_for(endpoint, **values)[len(request.script_root) :]


def own_origins() -> set[str]:
    """Origins this site's own pages post from (the public one, and the one asked)."""
    origins = {request.host_url.rstrip("/")}
    if (public := current_app.config.get("PUBLIC_URL")) is not None:
        parts = urlsplit(public)
        origins.add(f"{parts.scheme}://{parts.netloc}")
    return origins
