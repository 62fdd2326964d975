"""Coverage gaps on the demo registry, held to an independent grid count."""

from __future__ import annotations

import datetime as dt

import pytest

from geo.coverage import raster_coverage
from stations import coverage, hours
from stations.errors import InvalidParameter

SH = hours.SHANGHAI
WEDNESDAY_10 = dt.datetime(2025, 11, 19, 10, tzinfo=SH)
WEDNESDAY_03 = dt.datetime(2025, 11, 19, 3, tzinfo=SH)


def _grid_check(report, cell_m):
    area = report.plane.forward(report.area.geometry)
    return raster_coverage(area, report.stations_xy, report.radius_m, cell_m)


@pytest.mark.parametrize("district", ["140106", "140105", "万柏林区"])
def test_gap_area_agrees_with_the_grid(conn, district):
    area = coverage.resolve_area(conn, {"district": district})
    report = coverage.gaps(conn, area, radius_m=1000)
    grid_area, grid_covered = _grid_check(report, cell_m=25)
    result = report.coverage
    assert grid_area == pytest.approx(result.area_m2, rel=0.002)
    assert grid_area - grid_covered == pytest.approx(result.gap_m2, rel=0.01)
    assert 0 < result.coverage_ratio < 1 and report.stations_counted > 10
    assert result.demand_total > 0 and 0 < result.demand_coverage_ratio <= 1
    demands = [g.demand for g in result.gaps]
    assert demands == sorted(demands, reverse=True)


def test_a_lonely_daytime_station_leaves_all_gap_at_night(conn):
    lon, lat, expr = conn.execute(
        """SELECT ST_X(s.geom), ST_Y(s.geom), s.opening_hours FROM stations s
           WHERE s.status = 'active' AND s.opening_hours = 'Mo-Fr 08:30-17:30'
             AND NOT EXISTS (SELECT 1 FROM stations o WHERE o.id <> s.id
                 AND ST_DWithin(o.geom::geography, s.geom::geography, 2500))
           ORDER BY s.id LIMIT 1"""
    ).fetchone()
    assert expr == "Mo-Fr 08:30-17:30"  # open Wednesday 10:00, closed at 03:00
    area = coverage.resolve_area(
        conn, {"bbox": [lon - 0.004, lat - 0.003, lon + 0.004, lat + 0.003]}
    )
    night = coverage.gaps(conn, area, radius_m=1000, at=WEDNESDAY_03)
    assert night.stations_counted == 0
    assert night.coverage.coverage_ratio == 0 and len(night.coverage.gaps) == 1
    assert night.coverage.gap_m2 == pytest.approx(night.coverage.area_m2)
    day = coverage.gaps(conn, area, radius_m=1000, at=WEDNESDAY_10)
    assert day.stations_counted == 1 and day.coverage.coverage_ratio > 0.5


def test_a_district_inside_one_circle_has_no_gap(conn):
    lon, lat = conn.execute(
        "SELECT ST_X(geom), ST_Y(geom) FROM stations WHERE status = 'active' ORDER BY id LIMIT 1"
    ).fetchone()
    square = {
        "type": "Polygon",
        "coordinates": [
            [
                [lon - 0.002, lat - 0.002],
                [lon + 0.002, lat - 0.002],
                [lon + 0.002, lat + 0.002],
                [lon - 0.002, lat + 0.002],
                [lon - 0.002, lat - 0.002],
            ]
        ],
    }
    report = coverage.gaps(conn, coverage.resolve_area(conn, {"geometry": square}), radius_m=1000)
    assert report.coverage.gaps == [] and report.coverage.coverage_ratio == pytest.approx(1)


@pytest.mark.parametrize(
    ("spec", "param"),
    [
        ({}, "area"),
        ({"district": "140106", "bbox": [112, 37, 113, 38]}, "area"),
        ({"district": "nowhere"}, "district"),
        ({"district": "城区"}, "district"),  # two counties share the name
        ({"bbox": [113, 37, 112, 38]}, "bbox"),
        ({"bbox": [112, 37, "x", 38]}, "bbox"),
        ({"bbox": [112, 37, float("nan"), 38]}, "bbox"),
        ({"geometry": {"type": "Point", "coordinates": [112, 37]}}, "geometry"),
        ({"geometry": {"type": "Polygon", "coordinates": "nonsense"}}, "geometry"),
        (
            {
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[0, 0], [500, 0], [0, 500], [0, 0]]],
                }
            },
            "geometry",
        ),
    ],
)
def test_bad_areas_name_the_parameter(conn, spec, param):
    with pytest.raises(InvalidParameter) as raised:
        coverage.resolve_area(conn, spec)
    assert raised.value.param == param


def test_radius_is_bounded(conn):
    area = coverage.resolve_area(conn, {"district": "140106"})
    with pytest.raises(InvalidParameter, match="radius_m"):
        coverage.gaps(conn, area, radius_m=0)
