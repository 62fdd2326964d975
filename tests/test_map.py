"""The public map page over HTTP: assets served locally, station data, tiles, parameters."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import logging
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from answers import ok

from stations import db
from stations.availability import Availability
from web import map_data, map_tiles, pages, static_files, vendor_assets

STATIC = Path(pages.__file__).parent / "static"
AT = "2025-11-24T10:00:00+08:00"  # a Monday, a working day


class _Links(HTMLParser):
    """Every <script src> and <link href>, and the page's inline station data."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.links: list[str] = []
        self._in_data = False
        self.data = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        if tag == "link" and a.get("href"):
            self.links.append(a["href"])
        self._in_data = tag == "script" and a.get("id") == "st-data"

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.data += data

    def handle_endtag(self, tag: str) -> None:
        self._in_data = False


def _page(client, query: str = "") -> tuple[str, _Links, dict]:
    response = client.get(f"/map?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    parsed = _Links()
    parsed.feed(html)
    return html, parsed, json.loads(parsed.data)


def _active(conn) -> dict[int, dict]:
    rows = conn.execute(
        """SELECT id, name, opening_hours, amenities, ST_X(geom), ST_Y(geom)
           FROM stations WHERE status = 'active'"""
    ).fetchall()
    keys = ("id", "name", "opening_hours", "amenities", "lon", "lat")
    return {row[0]: dict(zip(keys, row, strict=True)) for row in rows}


@pytest.fixture
def tiles_env(monkeypatch):
    """Set the tile settings for one test; the resolution cache is cleared around it."""
    map_tiles._tiles.cache_clear()
    for name in ("STATIONS_MAP_TILES", "STATIONS_TIANDITU_KEY", "STATIONS_MAP_ATTRIBUTION"):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch
    map_tiles._tiles.cache_clear()


def test_root_and_map_serve_the_page_in_chinese_by_default(client, tiles_env):
    for path in ("/", "/map"):
        response = client.get(path)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert '<html lang="zh-CN">' in html
        assert "<title>户外劳动者爱心驿站地图</title>" in html
        assert 'name="viewport"' in html and "width=device-width" in html
        assert "user-scalable=no" not in html and "maximum-scale" not in html  # page zoom
    html, _, config = _page(client, "lang=en")
    assert '<html lang="en">' in html and "<title>Rest stations for outdoor workers</title>" in html
    assert config["lang"] == "en"
    assert dict(config["amenities"])["toilet"] == "Toilet"


def test_every_script_and_stylesheet_is_served_by_the_app(client, tiles_env):
    html, links, _ = _page(client)
    urls = links.scripts + links.links
    assert len(links.scripts) >= 4 and len(links.links) >= 5
    for url in urls:
        assert not re.match(r"^(https?:)?//", url), f"external asset {url}"
        response = client.get(url)
        assert response.status_code == 200, url
        if url.endswith(".css"):  # images a stylesheet refers to must be local too
            css = response.get_data(as_text=True)
            for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)", css):
                if ref.startswith(("data:", "#")):
                    continue
                assert not re.match(r"^(https?:)?//", ref), f"{url} refers to {ref}"
                target = (STATIC / url.removeprefix(static_files.url_path() + "/")).parent / ref
                assert target.is_file(), f"{url} refers to missing {ref}"
        response.close()
    for cdn in ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "code.jquery.com", "bootstrapcdn"):
        assert cdn not in html
    assert "jquery" not in html.lower() and "bootstrap" not in html.lower()


def test_vendored_files_match_their_readme():
    readme = (STATIC / "vendor" / "README.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^\| `([^`]+)` \| [\d,]+ \| `([0-9a-f]{64})` \|$", readme, re.M))
    expected = {pkg.target(path) for pkg in vendor_assets.PACKAGES for path in pkg.files}
    assert set(listed) == expected
    for path, sha256 in listed.items():
        data = (STATIC / "vendor" / path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha256, f"{path} changed by hand"
    for pkg in vendor_assets.PACKAGES:
        assert f"| {pkg.version} | {pkg.licence} |" in readme
    for js, css in vendor_assets.LINKS.values():
        for _, path in js + css:
            assert (STATIC / path).is_file(), path


def test_the_page_is_one_document_for_every_rider(client, conn, tiles_env):
    """No station and no time in the page (they come by view): two riders with different
    links get the same bytes, and renaming a station leaves the page as it was."""
    first = ok(client.get(f"/map?at={AT}&lat=37.736&lon=112.565&amenities=toilet"))
    second = ok(client.get("/map?from=singlemessage"))
    assert first.data == second.data
    _, _, config = _page(client)
    assert "stations" not in config and "at" not in config and "position" not in config
    assert config["viewApi"] == "/api/v1/map/stations"
    name = conn.execute("SELECT name FROM stations WHERE status = 'active' LIMIT 1").fetchone()[0]
    assert name not in first.get_data(as_text=True)


def test_the_page_fits_the_stations_extent(client, conn, tiles_env):
    html, _, _ = _page(client)
    x0, y0, x1, y1 = conn.execute(
        "SELECT min(ST_X(geom)), min(ST_Y(geom)), max(ST_X(geom)), max(ST_Y(geom)) "
        "FROM stations WHERE status = 'active'"
    ).fetchone()
    bounds = re.search(r"fitBounds\(\s*\[\[([\d.]+), ([\d.]+)\], \[([\d.]+), ([\d.]+)\]\]", html)
    assert [float(v) for v in bounds.groups()] == pytest.approx([y0, x0, y1, x1], abs=1e-6)


def test_amap_tiles_ask_for_gcj02_positions(client, tiles_env):
    """On Amap's tiles the script asks the view in GCJ-02 (web.map_data shifts them; see
    tests/test_map_data.py) and shifts the phone's own position itself."""
    tiles_env.setenv("STATIONS_MAP_TILES", "amap")
    html, _, config = _page(client, "lat=37.736&lon=112.565")
    assert "webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn" in html
    assert config["gcj02"] is True


def test_tianditu_needs_a_key_and_draws_labels_in_the_page_language(client, tiles_env, caplog):
    tiles_env.setenv("STATIONS_MAP_TILES", "tianditu")
    with caplog.at_level(logging.WARNING, logger="web.pages"):
        html, _, config = _page(client)
    assert "tile.openstreetmap.org" in html and "tianditu" not in html
    assert "STATIONS_TIANDITU_KEY" in caplog.text
    tiles_env.setenv("STATIONS_TIANDITU_KEY", "k3y")
    html, _, config = _page(client, "lang=en")
    assert "tianditu.gov.cn/vec_w/wmts" in html and "tianditu.gov.cn/eva_w/wmts" in html
    assert "tk=k3y" in html and config["gcj02"] is False  # CGCS2000 is WGS-84 to ~cm


def test_default_custom_and_no_tiles(client, tiles_env):
    html, _, _ = _page(client)
    assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in html and "OpenStreetMap" in html
    tiles_env.setenv("STATIONS_MAP_TILES", "https://tiles.example.cn/{z}/{x}/{y}.png")
    html, _, _ = _page(client)
    assert "tiles.example.cn/{z}/{x}/{y}.png" in html and "openstreetmap" not in html
    tiles_env.setenv("STATIONS_MAP_TILES", "none")
    html, _, _ = _page(client)
    assert "L.tileLayer" not in html and '"maxZoom": 18' in html


def test_nearest_settings_reach_the_script(client, tiles_env):
    _, _, config = _page(client)
    assert config["api"] == "/api/v1/stations/nearest"
    assert config["withinM"] == pages.NEAREST_WITHIN_M == 50000
    assert config["positionZoom"] == 15


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("at=yesterday", "at"),
        ("lat=91&lon=112", "lat"),
        ("lat=37.7", "lon"),
        ("lat=37.7&lon=nan", "lon"),
        ("amenities=sauna", "amenities"),
        ("lang=fr", "lang"),
    ],
)
def test_bad_parameters_are_problems(client, query, param):
    response = client.get(f"/map?{query}")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["param"] == param


def test_unknown_parameters_are_ignored(client, tiles_env):
    # WeChat adds these to every shared link.
    assert client.get("/?from=singlemessage&isappinstalled=0").status_code == 200


def test_page_is_gzipped_for_browsers_that_accept_it(client, tiles_env):
    plain = ok(client.get("/map"))
    packed = ok(client.get("/map", headers={"Accept-Encoding": "gzip, deflate, br"}))
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert len(packed.data) * 2 < len(plain.data) and len(plain.data) < 20_000  # no stations
    assert gzip.decompress(packed.data).startswith(b"<!DOCTYPE html>")
    assert "max-age=300" in plain.headers["Cache-Control"]  # no station, no time in it


def test_station_text_comes_as_data_never_as_a_template(client, database_url):
    """A name that looks like a template or markup reaches the page as JSON text."""
    nasty = '{{ 7*7 }}{% raw %}</script><script>alert("x")</script>'
    with db.connect(database_url, autocommit=True) as writer:
        sid, name, address = writer.execute(
            "SELECT id, name, address FROM stations WHERE status = 'active' "
            "AND ST_X(geom) BETWEEN 112.4 AND 112.7 AND ST_Y(geom) BETWEEN 37.7 AND 38.0 "
            "ORDER BY id LIMIT 1"
        ).fetchone()
        update = "UPDATE stations SET name = %s, address = %s WHERE id = %s"
        writer.execute(update, [nasty, "<b>&amp;</b>", sid])
        try:
            body = ok(client.get("/api/v1/map/stations?bbox=112.4,37.7,112.7,38.0")).get_json()
        finally:
            writer.execute(update, [name, address, sid])
    station = next(f["properties"] for f in body["features"] if f["id"] == sid)
    assert station["name"] == nasty and station["address"] == "<b>&amp;</b>"


@pytest.mark.parametrize(
    ("state", "change", "following", "lang", "text"),
    [
        ("open", "2025-11-24T20:00+08:00", "closed", "zh", "今天 20:00 关门"),
        ("closed", "2025-11-25T08:30+08:00", "open", "zh", "明天 08:30 开门"),
        ("closed", "2025-11-29T09:00+08:00", "open", "zh", "周六 09:00 开门"),
        ("closed", "2025-12-08T09:00+08:00", "open", "zh", "12月8日 09:00 开门"),
        ("open", "2025-11-24T20:00+08:00", "closed", "en", "closes today 20:00"),
        ("closed", "2025-11-27T01:00Z", "open", "en", "opens Thu 09:00"),  # Beijing time
        ("closed", "2025-12-08T09:00+08:00", "open", "en", "opens 8 Dec 09:00"),
        ("open", None, None, "zh", "全天开放"),
        ("closed", None, None, "en", "not opening soon"),
        # unknown ("call first") until noon, then closed: never "opens"
        ("unknown", "2025-11-24T12:00+08:00", "closed", "zh", "今天 12:00 起不开放"),
        ("closed", "2025-11-24T18:00+08:00", "unknown", "en", "hours unknown from today 18:00"),
    ],
)
def test_change_text(state, change, following, lang, text):
    at = dt.datetime.fromisoformat(AT)
    when = dt.datetime.fromisoformat(change) if change else None
    availability = Availability(state, when, None, None, next_state=following)
    assert map_data.change_text(availability, at, lang, has_hours=True) == text
    unknown = Availability("unknown", None, None, None)
    assert map_data.change_text(unknown, at, "zh", has_hours=False) == "开放时间未公布"
