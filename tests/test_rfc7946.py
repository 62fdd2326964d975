"""Every GeoJSON the project writes follows RFC 7946: the API, the command line, exports
and the demo files.

The checks are written out here, not taken from a library the code uses: rings are
closed, exterior rings turn counter-clockwise and holes clockwise (the shoelace sum's
sign, §3.1.6), no member is called ``crs`` (§4 removed it), positions are lon/lat in
range, and the geometry of a station answered in GCJ-02 or BD-09 is still WGS-84.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import main
from geo import datums
from geo.crs import GEOD

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"
SMALL = {"district": "140106"}  # 迎泽区: a few gaps, holes and all


def _signed_area(ring: list[list[float]]) -> float:
    """Twice the ring's signed area in degrees²: > 0 counter-clockwise (shoelace)."""
    return sum(
        x0 * y1 - x1 * y0 for (x0, y0, *_), (x1, y1, *_) in zip(ring, ring[1:], strict=False)
    )


def _polygons(geometry: dict[str, Any]) -> Iterator[list]:
    kind = geometry["type"]
    if kind == "Polygon":
        yield geometry["coordinates"]
    elif kind == "MultiPolygon":
        yield from geometry["coordinates"]
    elif kind == "GeometryCollection":
        for part in geometry["geometries"]:
            yield from _polygons(part)


def _positions(coordinates: Any) -> Iterator[list[float]]:
    if coordinates and isinstance(coordinates[0], int | float):
        yield coordinates
    else:
        for part in coordinates:
            yield from _positions(part)


def _geometries(obj: Any) -> Iterator[dict[str, Any]]:
    """Every GeoJSON geometry object anywhere in ``obj`` (nested collections included)."""
    if isinstance(obj, dict):
        if obj.get("type") in {"Point", "MultiPoint", "LineString", "MultiLineString",
                               "Polygon", "MultiPolygon"} and "coordinates" in obj:  # fmt: skip
            yield obj
            return
        for value in obj.values():
            yield from _geometries(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _geometries(value)


def _no_crs_member(obj: Any, path: str = "$") -> None:
    if isinstance(obj, dict):
        if obj.get("type") in {"FeatureCollection", "Feature"} or "coordinates" in obj:
            assert "crs" not in obj, f"{path} has a crs member (RFC 7946 §4)"
        for key, value in obj.items():
            _no_crs_member(value, f"{path}.{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            _no_crs_member(value, f"{path}[{i}]")


def check(document: Any) -> int:
    """Assert RFC 7946 on ``document``; how many geometries were checked."""
    _no_crs_member(document)
    count = 0
    for geometry in _geometries(document):
        count += 1
        for lon, lat, *_ in _positions(geometry["coordinates"]):
            assert -180 <= lon <= 180 and -90 <= lat <= 90
        for polygon in _polygons(geometry):
            for i, ring in enumerate(polygon):
                assert len(ring) >= 4 and ring[0] == ring[-1], "rings are closed"
                area = _signed_area(ring)
                if i == 0:
                    assert area > 0, "exterior ring clockwise (RFC 7946 §3.1.6)"
                else:
                    assert area < 0, "hole counter-clockwise (RFC 7946 §3.1.6)"
    return count


API = [
    ("GET", "/api/v1/stations?limit=50", None),
    ("GET", "/api/v1/stations/nearest?lat=37.87&lon=112.55&open=false", None),
    ("GET", "/api/v1/stations/nearest?lat=37.87&lon=112.56&crs=gcj02&open=false", None),
    ("GET", "/api/v1/stations/nearest?lat=37.87&lon=112.57&crs=bd09&open=false", None),
    ("GET", "/api/v1/stations/1", None),
    ("GET", "/api/v1/map/stations?bbox=112.4,37.7,112.7,38.0", None),
    ("GET", "/api/v1/map/stations?bbox=112.4,37.7,112.7,38.0&crs=gcj02", None),
    ("GET", "/api/v1/map/stations?bbox=110,34,115,41", None),
    ("GET", "/api/v1/collections/stations/items?limit=50", None),
    ("GET", "/api/v1/collections/districts/items?limit=200", None),
    ("GET", "/api/v1/collections/districts/items/140106", None),
    ("POST", "/api/v1/coverage/gaps", SMALL),
    ("POST", "/api/v1/coverage/gaps", {"district": "140100", "at": "2025-11-19T03:00"}),
    ("POST", "/api/v1/coverage/access", {"district": "140100"}),
    ("POST", "/api/v1/coverage/suggest", {**SMALL, "count": 3}),
]


@pytest.mark.parametrize(("method", "url", "body"), API, ids=[f"{m} {u}" for m, u, _ in API])
def test_api_answers(client, planner, method, url, body):
    if method == "GET":
        response = client.get(url)
    else:
        response = client.post(url, json=body, headers=planner)
    assert response.status_code == 200, response.get_json()
    assert check(response.get_json()) > 0


CLI = [
    ("gaps", "--district", "140106", "--radius", "800"),
    ("gaps", "--district", "140100", "--at", "2025-11-19T22:00"),
    ("access", "--district", "140100"),
    ("suggest", "--district", "140106", "--count", "3"),
    ("export", "--format", "geojson"),
]


@pytest.mark.parametrize("args", CLI, ids=[" ".join(a) for a in CLI])
def test_command_line_files(database_url, monkeypatch, tmp_path, args):
    monkeypatch.setenv("DATABASE_URL", database_url)
    out = tmp_path / "out.geojson"
    result = CliRunner().invoke(main, [*args, "--output", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert check(json.loads(out.read_text(encoding="utf-8"))) > 0


@pytest.mark.parametrize("name", ["districts.geojson", "demand.geojson"])
def test_demo_files(name):
    assert check(json.loads((DEMO / name).read_text(encoding="utf-8"))) > 0


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_a_china_datum_position_is_a_property_within_a_centimetre(client, crs):
    """The geometry is WGS-84; ``position`` is the same place in the asked datum, to 1 cm."""
    response = client.get(
        f"/api/v1/stations/nearest?lat=37.87&lon=112.56&crs={crs}&open=false&limit=20"
    )
    assert response.status_code == 200
    body = response.get_json()
    assert len(body["features"]) == 20
    for feature in body["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        position = feature["properties"]["position"]
        assert position["crs"] == crs
        back = datums.to_wgs84(position["lon"], position["lat"], crs)
        assert GEOD.inv(float(back[0]), float(back[1]), lon, lat)[2] < 0.01


def test_the_checker_catches_what_it_should():
    """The checks fail on a clockwise shell, a counter-clockwise hole and a crs member."""
    shell = [[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]  # clockwise
    with pytest.raises(AssertionError, match="exterior"):
        check({"type": "Polygon", "coordinates": [shell]})
    good = shell[::-1]
    hole = [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8], [0.2, 0.2]]  # counter-clockwise
    with pytest.raises(AssertionError, match="hole"):
        check({"type": "Polygon", "coordinates": [good, hole]})
    assert check({"type": "Polygon", "coordinates": [good, hole[::-1]]}) == 1
    with pytest.raises(AssertionError, match="crs"):
        check({"type": "FeatureCollection", "crs": "gcj02", "features": []})
