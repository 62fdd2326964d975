"""Static files as a phone gets them from the served app (granian): gzip, URLs that carry
the files' version and are cached for a year, 304 on a repeat visit."""

from __future__ import annotations

import gzip
import multiprocessing
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from answers import ok
from live_server import HttpClient, serving

from web import static_files

SOURCE = static_files.SOURCE
YEAR = "max-age=315360000, public, immutable"


@pytest.fixture(scope="module")
def http(database_url):
    with serving({"DATABASE_URL": database_url}) as (url, _log):
        yield HttpClient(url)


def _linked(http, page: str) -> list[str]:
    html = ok(http.get(page)).data.decode()
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


@pytest.mark.parametrize("page", ["/map", "/planner"])
def test_pages_link_versioned_files_that_phones_keep_for_a_year(http, page):
    prefix = static_files.url_path() + "/"
    urls = _linked(http, page)
    assert urls and all(u.startswith(prefix) for u in urls), urls
    for url in urls:
        answer = ok(http.get(url, headers={"Accept-Encoding": "gzip"}))
        assert answer.headers["Cache-Control"] == YEAR
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        source = (SOURCE / url.removeprefix(prefix)).read_bytes()
        if url.endswith((".js", ".css")):
            assert answer.headers["Content-Encoding"] == "gzip", url
            assert "accept-encoding" in answer.headers["Vary"].lower()
            assert len(answer.data) < len(source) * 0.6, url
            assert gzip.decompress(answer.data) == source
        else:
            assert answer.data == source
        # a browser that does not take gzip gets the file as it is
        plain = ok(http.get(url))
        assert "Content-Encoding" not in plain.headers and plain.data == source


def test_a_repeat_visit_costs_a_304(http):
    url = next(u for u in _linked(http, "/map") if u.endswith("stations.js"))
    first = ok(http.get(url, headers={"Accept-Encoding": "gzip"}))
    again = http.get(
        url, headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]}
    )
    ok(again, 304)
    assert again.data == b""


def test_unversioned_urls_still_answer_for_pages_cached_before_a_release(http):
    answer = ok(http.get("/static/map/stations.js"))
    assert (
        answer.headers["Cache-Control"] == f"max-age={static_files.UNVERSIONED_MAX_AGE_S}, public"
    )
    assert answer.data == (SOURCE / "map" / "stations.js").read_bytes()
    ok(http.get(f"{static_files.url_path()}/map/no-such-file.js"), 404)


def test_a_build_is_written_once_and_holds_every_file_and_its_gzip(tmp_path):
    root = static_files.build(tmp_path)
    assert root.name == static_files.version()
    sources = sorted(p.relative_to(SOURCE) for p in SOURCE.rglob("*") if p.is_file())
    for rel in sources:
        assert (root / rel).read_bytes() == (SOURCE / rel).read_bytes()
        if rel.suffix in (".js", ".css"):
            assert gzip.decompress((root / f"{rel}.gz").read_bytes()) == (SOURCE / rel).read_bytes()
    inode = (root / sources[0]).stat().st_ino
    assert static_files.build(tmp_path) == root
    assert (root / sources[0]).stat().st_ino == inode  # the same file, not written again
    assert [p.name for p in (tmp_path / "static").iterdir() if p.name.startswith(".build-")] == []


def _build_in(var_dir: str) -> str:
    return str(static_files.build(Path(var_dir)))


def test_workers_starting_together_share_one_whole_build(tmp_path):
    # a checkout hours old, as on a server: a build copied from it must not look like a
    # folder a crash left behind (an old copy's times once made workers delete each
    # other's builds midway; a fresh clone, as in CI, never showed it)
    times = SOURCE.stat()
    os.utime(SOURCE, (times.st_atime, time.time() - 3 * 3600))
    try:
        with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
            roots = set(pool.map(_build_in, [str(tmp_path)] * 8))
    finally:
        os.utime(SOURCE, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert roots == {str(tmp_path / "static" / static_files.version())}
    assert [p.name for p in (tmp_path / "static").iterdir()] == [static_files.version()]
    root = Path(roots.pop())
    for path in SOURCE.rglob("*"):
        if path.is_file():
            assert (root / path.relative_to(SOURCE)).read_bytes() == path.read_bytes()


def _old_build(var_dir: Path, name: str, age_s: float) -> Path:
    old = var_dir / "static" / name / "map"
    old.mkdir(parents=True)
    (old / "stations.js").write_text(f"// the script of release {name}\n")
    stamp = time.time() - age_s
    os.utime(old.parent, (stamp, stamp))
    return old.parent


def test_the_last_builds_are_kept_and_older_ones_removed(tmp_path):
    names = ["a00000000001", "a00000000002", "a00000000003", "a00000000004"]
    for age, name in enumerate(names):
        _old_build(tmp_path, name, 1000 + age)
    root = static_files.build(tmp_path)
    kept = [p.name for p in static_files.builds(tmp_path)]
    assert kept == [root.name, *names[: static_files.KEEP_BUILDS - 1]]


def test_a_page_cached_before_a_release_still_gets_its_own_scripts(database_url, tmp_path):
    old = _old_build(tmp_path, "0123456789ab", 60)
    with serving({"DATABASE_URL": database_url, "STATIONS_VAR_DIR": str(tmp_path)}) as (url, _):
        http = HttpClient(url)
        answer = ok(http.get("/static/0123456789ab/map/stations.js"))
        assert answer.data == (old / "map" / "stations.js").read_bytes()
        assert answer.headers["Cache-Control"] == YEAR
        current = ok(http.get(f"{static_files.url_path()}/map/stations.js"))
        assert current.data == (SOURCE / "map" / "stations.js").read_bytes()
