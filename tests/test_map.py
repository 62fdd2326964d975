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
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from answers import ok
from hours_oracle import answers, open_for

from geo import datums
from stations import vocabulary
from stations.availability import Availability
from web import map_tiles, pages, vendor_assets

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
                target = (STATIC / url.removeprefix("/static/")).parent / ref
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


def test_station_data_is_every_active_station_open_at_the_instant(client, conn, tiles_env):
    _, _, config = _page(client, f"at={AT}")
    active = _active(conn)
    at = dt.datetime.fromisoformat(AT)
    assert config["at"] == AT
    stations = {s["id"]: s for s in config["stations"]}
    assert stations.keys() == active.keys()
    codes = list(vocabulary.terms("amenities"))
    oracle = answers([r["opening_hours"] for r in active.values()], [at])
    for sid, st in stations.items():
        record = active[sid]
        expr = record["opening_hours"]
        assert st["open"] == (bool(expr) and open_for(oracle[(expr, at)], at, 0)), (sid, expr)
        assert st["name"] == record["name"]
        assert [codes[i] for i in st["am"]] == [c for c in codes if c in record["amenities"]]
        assert (st["lon"], st["lat"]) == pytest.approx((record["lon"], record["lat"]), abs=1e-6)
        gcj = datums.wgs84_to_gcj02(record["lon"], record["lat"])
        bd = datums.wgs84_to_bd09(record["lon"], record["lat"])
        assert st["nav"] == pytest.approx([*gcj, *bd], abs=1e-6)
    assert any(s["open"] for s in stations.values())
    assert not all(s["open"] for s in stations.values())


def test_amap_tiles_shift_markers_to_gcj02(client, conn, tiles_env):
    tiles_env.setenv("STATIONS_MAP_TILES", "amap")
    html, _, config = _page(client, "lat=37.736&lon=112.565")
    assert "webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn" in html
    assert config["gcj02"] is True
    assert config["position"] == [37.736, 112.565]  # the API is asked in WGS-84
    active = _active(conn)
    for st in config["stations"][:50]:
        record = active[st["id"]]
        lon, lat = datums.wgs84_to_gcj02(record["lon"], record["lat"])
        assert (st["lon"], st["lat"]) == pytest.approx((lon, lat), abs=1e-6)
    # the map is centred on the position as drawn on GCJ-02 tiles
    lon, lat = datums.wgs84_to_gcj02(112.565, 37.736)
    centre = re.search(r"center: \[([\d.]+), ([\d.]+)\]", html)
    assert (float(centre[1]), float(centre[2])) == pytest.approx((lat, lon), abs=1e-9)


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


def test_nearest_settings_and_fixed_position_reach_the_script(client, tiles_env):
    _, _, config = _page(client, f"at={AT}&lat=37.736&lon=112.565&amenities=toilet,wifi")
    assert config["api"] == "/api/v1/stations/nearest"
    assert config["withinM"] == pages.NEAREST_WITHIN_M == 50000
    assert config["position"] == [37.736, 112.565]
    html, _, _ = _page(client, "amenities=toilet")
    assert re.search(r'value="toilet" checked>', html)
    assert not re.search(r'value="wifi" checked>', html)


def test_language_link_keeps_the_other_parameters(client, tiles_env):
    html, _, _ = _page(client, urlencode({"at": AT, "lat": 37.7, "lon": 112.5}))
    link = re.search(r'<a class="st-button st-lang" href="([^"]+)"', html)[1]
    query = parse_qs(urlsplit(link.replace("&amp;", "&")).query)
    assert query["lang"] == ["en"] and query["lat"] == ["37.7"] and query["at"] == [AT]


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
    assert len(packed.data) * 4 < len(plain.data)
    assert gzip.decompress(packed.data).startswith(b"<!DOCTYPE html>")
    assert "max-age=60" in plain.headers["Cache-Control"]


def test_station_text_cannot_escape_the_data_or_run_as_a_template(app, tiles_env):
    nasty = '{{ 7*7 }}{% raw %}</script><script>alert("x")</script>'
    record = {
        "id": 1,
        "name": nasty,
        "address": "<b>&amp;</b>",
        "opening_hours": "24/7",
        "amenities": ["toilet"],
        "lon": 112.5,
        "lat": 37.8,
    }
    with app.test_request_context("/map"):
        html = pages.render_map(
            [record],
            lang="zh",
            at=dt.datetime.fromisoformat(AT),
            fixed_at=True,
            position=None,
            preselected=[],
            tiles=map_tiles.tiles_from_settings("zh"),
        )
    assert "{{ 7*7 }}" in html  # shipped as text, not evaluated to 49 on the server
    assert '<script>alert("x")</script>' not in html
    parsed = _Links()
    parsed.feed(html)
    station = json.loads(parsed.data)["stations"][0]
    assert station["name"] == nasty and station["address"] == "<b>&amp;</b>"
    assert station["change"] == "全天开放"


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
    assert pages.change_text(availability, at, lang, has_hours=True) == text
    unknown = Availability("unknown", None, None, None)
    assert pages.change_text(unknown, at, "zh", has_hours=False) == "开放时间未公布"
