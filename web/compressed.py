"""Responses gzipped for clients that accept it: the phone pages' big answers.

Nothing in front of the app is known to compress (a reverse proxy that does passes an
encoded response through), and a courier's phone is often on a weak network.
"""

from __future__ import annotations

import gzip

from flask import Response, request


def compressed(body: bytes, mimetype: str, max_age_s: int) -> Response:
    """``body`` gzipped when the client accepts it, cacheable for ``max_age_s`` seconds."""
    response = Response(mimetype=mimetype)
    if request.accept_encodings["gzip"]:
        body = gzip.compress(body, compresslevel=6)
        response.headers["Content-Encoding"] = "gzip"
    response.set_data(body)
    response.vary.add("Accept-Encoding")
    response.headers["Cache-Control"] = f"public, max-age={max_age_s}"
    return response
