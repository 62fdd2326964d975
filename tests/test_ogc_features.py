"""GIS tools open the served registry: GDAL's OAPIF driver, ogr2ogr and OWSLib.

The references are the tools people use (GDAL 3's OGC API – Features driver, OWSLib),
run against ``stations serve``; what they copy is compared with the database itself, read
with plain SQL, and the GeoPackage is read back with sqlite3 and the GeoPackage binary
header, not through GDAL again.
"""

from __future__ import annotations

import json
import sqlite3
import struct
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import shapely
from live_server import serving
from owslib.ogcapi.features import Features

from stations import db, registry, settings

LANDING = "/api/v1"


@pytest.fixture(scope="module")
def served(database_url: str) -> Iterator[str]:
    with serving({"DATABASE_URL": database_url}, workers=2) as (url, _log):
        yield url


@pytest.fixture(scope="module")
def stored(database_url: str) -> dict[str, tuple[float, float, str]]:
    """code -> (lon, lat, status) of every station, straight from PostGIS."""
    with db.connect(database_url) as conn:
        rows = conn.execute("SELECT code, ST_X(geom), ST_Y(geom), status FROM stations").fetchall()
    return {code: (lon, lat, status) for code, lon, lat, status in rows}


def _gdal(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _get(url: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers["Content-Type"], json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], json.load(error)


def _every(url: str) -> tuple[int, set[str]]:
    """numberMatched and the codes of every page, following ``next`` links."""
    codes: set[str] = set()
    while True:
        status, kind, body = _get(url)
        assert status == 200 and kind == "application/geo+json", body
        codes |= {f["properties"]["code"] for f in body["features"]}
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        if not nxt:
            return body["numberMatched"], codes
        url = nxt[0]


def _gpkg_points(path: Path, table: str) -> dict[str, tuple[float, float]]:
    """code -> (lon, lat) from a GeoPackage, decoding its geometry blobs by hand."""
    envelope_bytes = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
    out = {}
    with sqlite3.connect(path) as copy:
        (geom_column,) = copy.execute(
            "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", [table]
        ).fetchone()
        for code, blob in copy.execute(f'SELECT code, "{geom_column}" FROM "{table}"'):
            assert blob[:2] == b"GP"
            flags = blob[3]
            (srs_id,) = struct.unpack("<i" if flags & 1 else ">i", blob[4:8])
            assert srs_id == 4326
            point = shapely.from_wkb(bytes(blob[8 + envelope_bytes[(flags >> 1) & 7] :]))
            out[code] = (point.x, point.y)
    return out


def test_ogrinfo_finds_both_collections_with_their_extent(served):
    listing = _gdal("ogrinfo", "-ro", "-q", f"OAPIF:{served}{LANDING}")
    assert "stations" in listing and "districts" in listing
    summary = _gdal("ogrinfo", "-ro", "-so", f"OAPIF:{served}{LANDING}", "stations")
    assert "Geometry: Point" in summary
    assert "Feature Count: 1713" in summary
    assert "code: String" in summary and "floor_area_m2: Real" in summary


def test_ogr2ogr_copies_every_station_through_the_pages(served, stored, tmp_path):
    """GDAL walks the ``next`` links (10 a page by default: 172 pages) into a GeoPackage;
    the copy holds every station once, at its stored position."""
    gpkg = tmp_path / "stations.gpkg"
    _gdal("ogr2ogr", "-f", "GPKG", str(gpkg), f"OAPIF:{served}{LANDING}", "stations")
    copied = _gpkg_points(gpkg, "stations")
    assert len(copied) == len(stored) == 1713
    assert copied.keys() == stored.keys()
    for code, (lon, lat) in copied.items():
        assert abs(lon - stored[code][0]) < 1e-9 and abs(lat - stored[code][1]) < 1e-9, code


def test_ogr2ogr_copies_every_district(served, database_url, tmp_path):
    gpkg = tmp_path / "districts.gpkg"
    _gdal(
        "ogr2ogr", "-f", "GPKG", str(gpkg), f"OAPIF:{served}{LANDING}", "districts",
        "-oo", "PAGE_SIZE=50",
    )  # fmt: skip
    with sqlite3.connect(gpkg) as copy:
        codes = {row[0] for row in copy.execute("SELECT code FROM districts")}
    with db.connect(database_url) as conn:
        expected = {row[0] for row in conn.execute("SELECT code FROM districts")}
    assert codes == expected and len(codes) == 129


def test_owslib_lists_collections_and_pages_items(served, stored):
    api = Features(f"{served}{LANDING}")
    assert (
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
        in (api.conformance()["conformsTo"])
    )
    assert [c["id"] for c in api.collections()["collections"]] == ["stations", "districts"]
    seen: list[str] = []
    page = api.collection_items("stations", limit=500)
    while True:
        assert page["numberMatched"] == len(stored)
        assert page["numberReturned"] == len(page["features"])
        seen += [f["properties"]["code"] for f in page["features"]]
        nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if not nxt:
            break
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(nxt[0]).query))
        page = api.collection_items("stations", **query)
    assert sorted(seen) == sorted(stored) and len(seen) == len(set(seen))
    one = page["features"][0]
    again = api.collection_item("stations", str(one["id"]))
    assert again["properties"]["code"] == one["properties"]["code"]
    assert again["geometry"] == one["geometry"]
    district = api.collection_item("districts", "140105")
    assert district["properties"]["name"] == "小店区"


def test_property_filters_match_the_database(served, stored):
    for status in ("active", "suspended", "closed"):
        matched, codes = _every(f"{served}{LANDING}/collections/stations/items?status={status}")
        expected = {c for c, (_, _, s) in stored.items() if s == status}
        assert matched == len(expected) and codes == expected


@pytest.mark.parametrize(
    ("cql", "keep"),
    [
        ("status = 'active' AND floor_area_m2 >= 40", "status = 'active' AND floor_area_m2 >= 40"),
        ("name LIKE '%银行%'", "name LIKE '%%银行%%'"),
        ("NOT (level = 'city') AND has_staff = TRUE", "level <> 'city' AND has_staff IS TRUE"),
        ("opened_on > DATE('2021-01-01')", "opened_on > '2021-01-01'"),
        ("floor_area_m2 BETWEEN 10 AND 20 OR contact IS NULL",
         "floor_area_m2 >= 10 AND floor_area_m2 <= 20 OR contact IS NULL"),
        ("district_code IN ('140105', '140106')", "district_code IN ('140105', '140106')"),
    ],
)  # fmt: skip
def test_cql2_filters_match_the_same_condition_in_sql(served, database_url, cql, keep):
    """Each filter against the condition written by hand in SQL (and, for the spatial one,
    below, against Shapely)."""
    with db.connect(database_url) as conn:
        expected = {r[0] for r in conn.execute(f"SELECT code FROM stations WHERE {keep}")}
    assert expected, "the case must select something"
    query = urllib.parse.urlencode({"filter": cql, "limit": 400})
    matched, codes = _every(f"{served}{LANDING}/collections/stations/items?{query}")
    assert matched == len(expected) and codes == expected


def test_a_spatial_filter_matches_shapely(served, stored):
    polygon = "POLYGON((112.50 37.80, 112.60 37.80, 112.62 37.90, 112.50 37.88, 112.50 37.80))"
    shape = shapely.from_wkt(polygon)
    expected = {c for c, (x, y, _) in stored.items() if shape.intersects(shapely.Point(x, y))}
    assert 10 < len(expected) < len(stored)
    query = urllib.parse.urlencode({"filter": f"S_INTERSECTS(geometry, {polygon})", "limit": 1000})
    _, _, body = _get(f"{served}{LANDING}/collections/stations/items?{query}")
    assert {f["properties"]["code"] for f in body["features"]} == expected


@pytest.mark.parametrize(
    ("query", "param", "words"),
    [
        ({"filter": "floor_area_m2 = 'big'"}, "filter", "数字"),
        ({"filter": "colour = 'red'"}, "filter", "未知属性"),
        ({"filter": "name ="}, "filter", "CQL2"),
        ({"filter": "name = 'a\x00b'"}, "filter", "控制字符"),
        # pygeofilter reads AND and OR left to right; CQL2 binds AND tighter: refused
        (
            {"filter": "status = 'closed' OR status = 'suspended' AND level = 'city'"},
            "filter",
            "括号",
        ),
        ({"filter": "floor_area_m2 > " + "9" * 400}, "filter", "数字"),
        ({"filter": "geometry = 1"}, "filter", "空间谓词"),
        ({"filter": "name LIKE 'a\\'"}, "filter", "反斜杠"),
        ({"filter": "S_INTERSECTS(geometry, BBOX(170, 0, -170, 1))"}, "filter", "180"),
        ({"district": "火星区"}, "district", "不存在"),
        ({"filter": "S_INTERSECTS(geometry, POINT(500 500))"}, "filter", "经纬度"),
        ({"filter-lang": "cql-json"}, "filter-lang", "cql2-text"),
        ({"status": "open"}, "status", "active"),
        ({"limit": "0"}, "limit", "limit"),
        ({"sortby": "name"}, "sortby", "sortby"),
    ],
)
def test_bad_queries_are_problems_naming_the_parameter(served, query, param, words):
    code, kind, body = _get(
        f"{served}{LANDING}/collections/stations/items?{urllib.parse.urlencode(query)}"
    )
    assert code == 400 and kind == "application/problem+json"
    assert body["param"] == param and words in body["detail"]


def test_core_limits_links_and_unknowns(served):
    base = f"{served}{LANDING}"
    _, _, big = _get(f"{base}/collections/stations/items?limit=100000")
    assert big["numberReturned"] == registry_limit_max() and "next" in _rels(big)
    _, _, second = _get(f"{base}/collections/districts/items?limit=50&offset=50&level=county")
    assert _rels(second) >= {"self", "next", "prev", "collection"}
    assert all(f["properties"]["level"] == "county" for f in second["features"])
    for url in (f"{base}/collections/roads", f"{base}/collections/stations/items/999999999",
                f"{base}/collections/stations/items/abc",
                f"{base}/collections/districts/items/999999"):  # fmt: skip
        code, kind, body = _get(url)
        assert code == 404 and kind == "application/problem+json", url
    _, _, landing = _get(f"{base}/")
    assert {"self", "service-desc", "conformance", "data"} <= _rels(landing)
    _, kind, queryables = _get(f"{base}/collections/stations/queryables")
    assert kind == "application/schema+json"
    assert set(queryables["properties"]) == set(registry.QUERYABLES)


def registry_limit_max() -> int:
    return settings.value("STATIONS_PAGE_LIMIT_MAX")


def _rels(body: dict) -> set[str]:
    return {link["rel"] for link in body["links"]}
