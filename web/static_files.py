"""Static files: gzipped once, at versioned URLs, cached by phones for a year.

The map's and the planner's scripts and styles and the vendored Leaflet.

A courier on a weak network should download Leaflet once, not on every visit, and never
wait for the server to compress it. WhiteNoise serves the files: it picks the gzip copy
for browsers that accept it (``Vary: Accept-Encoding``), answers ``If-None-Match`` and
``Range``, and marks files immutable by URL. We add what it leaves to the framework: the
URL carries a hash of the whole ``web/static`` tree (``/static/<hash>/map/stations.js``),
so a release changes every URL at once and the year-long cache can never serve an old
file. One hash for the tree rather than one per file keeps the relative ``url()`` links
inside Leaflet's CSS working without rewriting them.

The files and their ``.gz`` copies are written once per version under
``STATIONS_VAR_DIR/static/<hash>`` (built in a temporary folder and renamed, so workers
starting together never see half a build). The unversioned ``/static/...`` URLs keep
working for pages cached before a release, with the page's own 5-minute lifetime.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from flask import Flask
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

from stations import settings

SOURCE = Path(__file__).resolve().parent / "static"
UNVERSIONED_MAX_AGE_S = 300  # as long as a cached page may still name the old URLs
_DONE = ".complete"


@functools.cache
def version() -> str:
    """A hash of every file's path and bytes under ``web/static``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in SOURCE.rglob("*") if p.is_file()):
        digest.update(path.relative_to(SOURCE).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def url_path() -> str:
    """Where Flask's ``url_for("static", ...)`` points: the versioned prefix."""
    return f"/static/{version()}"


def build(var_dir: Path) -> Path:
    """The files of this version and their gzip copies, written once under ``var_dir``."""
    parent = var_dir / "static"
    target = parent / version()
    done = parent / f"{version()}{_DONE}"  # beside the folder: not a file anyone is served
    if done.exists():
        return target
    parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=parent))
    try:
        shutil.copytree(SOURCE, scratch, dirs_exist_ok=True)
        compressor = Compressor(use_brotli=False, quiet=True)
        for path in scratch.rglob("*"):
            if path.is_file() and compressor.should_compress(path.name):
                compressor.compress(str(path))
        if target.exists() and not done.exists():
            shutil.rmtree(target, ignore_errors=True)  # left half-renamed by a crash
        try:
            os.rename(scratch, target)
        except OSError:
            if not target.is_dir():  # not "another process got there first"
                raise
        done.touch()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def init_app(app: Flask) -> None:
    """Serve the built files ahead of Flask; a URL that misses falls through to it."""
    root = build(Path(settings.path("STATIONS_VAR_DIR")))
    versioned = f"{url_path()}/"
    server = WhiteNoise(
        app.wsgi_app,
        max_age=UNVERSIONED_MAX_AGE_S,
        allow_all_origins=False,
        immutable_file_test=lambda _path, url: url.startswith(versioned),
        add_headers_function=_headers,
    )
    server.add_files(str(root), prefix=versioned)
    server.add_files(str(root), prefix="/static/")
    app.wsgi_app = server  # type: ignore[method-assign]


def _headers(headers, _path: str, _url: str) -> None:
    """What :mod:`web.security` puts on every Flask answer, for these too."""
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
