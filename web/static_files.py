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
``STATIONS_VAR_DIR/static/<hash>``: built in a temporary folder and renamed, and a rename
is atomic, so a version's folder either holds the whole build or does not exist, and
workers starting together never see half a build. A page cached before a release still
names the previous version's URLs; the last few builds stay and are served, older ones
are removed. The unversioned ``/static/...`` URLs keep working too, with the page's own
5-minute lifetime.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from flask import Flask
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

from stations import settings

SOURCE = Path(__file__).resolve().parent / "static"
UNVERSIONED_MAX_AGE_S = 300  # as long as a cached page may still name the old URLs


KEEP_BUILDS = 3  # this version and the two before it, for pages cached across releases
_SCRATCH = ".build-"


@functools.cache
def version() -> str:
    """A hash of every file's path and bytes under ``web/static``."""
    return _tree_hash(SOURCE)


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def url_path() -> str:
    """Where Flask's ``url_for("static", ...)`` points: the versioned prefix."""
    return f"/static/{version()}"


def build(var_dir: Path) -> Path:
    """The files of this version and their gzip copies, written once under ``var_dir``."""
    parent = var_dir / "static"
    target = parent / version()
    if not target.is_dir():  # renamed into place whole, or not at all
        _write(target)
    os.utime(target)  # the newest, so never the one pruned (a rollback included)
    _prune(parent)
    return target


def _write(target: Path) -> None:
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=_SCRATCH, dir=parent))
    # the copy goes one level down: copytree gives its root the source's times, and a
    # scratch folder dated like an old checkout would look abandoned to another worker
    tree = scratch / "tree"
    try:
        shutil.copytree(SOURCE, tree)
        if _tree_hash(tree) != version():  # a release landed while this one started
            raise RuntimeError("web/static changed while the server started; start it again")
        compressor = Compressor(use_brotli=False, quiet=True)
        for path in tree.rglob("*"):
            if path.is_file() and compressor.should_compress(path.name):
                compressor.compress(str(path))
        try:
            os.rename(tree, target)
        except OSError:
            if not target.is_dir():  # not "another worker got there first"
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def builds(var_dir: Path) -> list[Path]:
    """The versions built under ``var_dir``, newest first."""
    found = []
    for path in (var_dir / "static").iterdir():
        try:  # another worker may be removing it
            if path.is_dir() and not path.name.startswith("."):
                found.append((path.stat().st_mtime_ns, path.name, path))
        except FileNotFoundError:
            continue
    return [path for *_key, path in sorted(found, reverse=True)]


def _prune(parent: Path) -> None:
    """Remove builds past the last few, and scratch folders a crash left (over an hour old)."""
    for old in builds(parent.parent)[KEEP_BUILDS:]:
        shutil.rmtree(old, ignore_errors=True)
    for scratch in parent.glob(f"{_SCRATCH}*"):
        try:
            if time.time() - scratch.stat().st_mtime > 3600:
                shutil.rmtree(scratch, ignore_errors=True)
        except FileNotFoundError:
            pass


def init_app(app: Flask) -> None:
    """Serve the built files ahead of Flask; a URL that misses falls through to it."""
    var_dir = Path(settings.path("STATIONS_VAR_DIR"))
    root = build(var_dir)
    server = WhiteNoise(
        app.wsgi_app,
        max_age=UNVERSIONED_MAX_AGE_S,
        allow_all_origins=False,
        immutable_file_test=_versioned,
        add_headers_function=_headers,
    )
    for kept in builds(var_dir):  # this version first; earlier ones for cached pages
        server.add_files(str(kept), prefix=f"/static/{kept.name}/")
    server.add_files(str(root), prefix="/static/")
    app.wsgi_app = server  # type: ignore[method-assign]


def _versioned(_path: str, url: str) -> bool:
    """Under ``/static/<hash>/``: the bytes at that URL never change."""
    head, _, rest = url.removeprefix("/static/").partition("/")
    return bool(rest) and len(head) == 12 and all(c in "0123456789abcdef" for c in head)


def _headers(headers, _path: str, _url: str) -> None:
    """What :mod:`web.security` puts on every Flask answer, for these too."""
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
