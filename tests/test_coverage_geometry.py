"""Coverage geometry against its independent check (a grid of cell centres) and plain cases."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.coverage import coverage, plane_for, raster_coverage
from geo.crs import GEOD

TAIYUAN_BOX = shapely.box(112.45, 37.75, 112.65, 37.95)


def test_plane_circles_are_metric():
    """A 1 km buffer on the plane is 1 km on the ground, by pyproj's Geod, in any direction."""
    plane = plane_for(shapely.box(110.2, 34.6, 114.6, 40.7))  # all of Shanxi
    for lon, lat in [(112.55, 37.87), (110.4, 34.7), (114.5, 40.6)]:
        centre = plane.points([lon], [lat])[0]
        ring = shapely.buffer(shapely.Point(centre), 1000, quad_segs=64).exterior
        back = plane.inverse(ring)
        lons, lats = np.asarray(back.xy)
        _, _, dist = GEOD.inv(np.full(len(lons), lon), np.full(len(lats), lat), lons, lats)
        assert np.all(np.abs(dist - 1000) < 2.0)  # 0.2 %


def test_plane_is_equal_area():
    box = shapely.box(112.0, 37.0, 113.0, 38.0)
    area_geod, _ = GEOD.geometry_area_perimeter(box)
    assert plane_for(box).forward(box).area == pytest.approx(abs(area_geod), rel=1e-3)


def test_area_inside_one_circle_has_no_gap():
    square = shapely.box(-300, -300, 300, 300)  # corners 424 m from the centre
    result = coverage(square, [[0, 0]], 1000, demand=[[10, 10]], weights=[5])
    assert result.gaps == [] and result.coverage_ratio == pytest.approx(1)
    assert result.demand_coverage_ratio == 1


def test_no_station_leaves_everything_as_one_gap():
    square = shapely.box(0, 0, 5000, 4000)
    result = coverage(square, np.empty((0, 2)), 1000, demand=[[1, 1], [9e9, 0]], weights=[3, 7])
    assert len(result.gaps) == 1 and result.gap_m2 == pytest.approx(20e6)
    assert result.demand_total == 3 and result.demand_covered == 0  # the far point is outside


def test_gaps_are_components_ranked_by_demand_then_area():
    strip = shapely.box(0, 0, 10_000, 1000)
    # stations cover the middle, leaving a small west gap and a big east gap
    result = coverage(strip, [[2500, 500], [4000, 500]], 1000, demand=[[100, 500]], weights=[9])
    assert len(result.gaps) == 2
    west, east = result.gaps
    assert west.demand == 9 and east.demand == 0 and east.area_m2 > west.area_m2
    assert all(g.geometry.contains(g.point) for g in result.gaps)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_agrees_with_the_cell_grid_within_one_percent(seed):
    plane = plane_for(TAIYUAN_BOX)
    area = plane.forward(TAIYUAN_BOX.difference(shapely.Point(112.55, 37.85).buffer(0.03)))
    rng = np.random.default_rng(seed)
    lon = rng.uniform(112.43, 112.67, 300)
    lat = rng.uniform(37.73, 37.97, 300)
    stations = plane.points(lon, lat)
    exact = coverage(area, stations, 1000)
    grid_area, grid_covered = raster_coverage(area, stations, 1000, cell_m=25)
    assert grid_area == pytest.approx(exact.area_m2, rel=0.002)
    assert grid_area - grid_covered == pytest.approx(exact.gap_m2, rel=0.01)
