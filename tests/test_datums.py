"""China map datums (GCJ-02, BD-09) and the small projection helpers in ``geo.crs``.

Reference vectors come from wandergis/coordtransform (test/app.js), the converter most
Chinese projects copy; its inverses are the one-step approximations, which is exactly
what the round-trip tests here show to be metres off.
"""

from __future__ import annotations

import numpy as np
import pyproj
import pytest

from geo import datums
from geo.crs import GEOD, geodesic_distance_m, transformer, utm_crs_for
from geo.datums import (
    CRS_NAMES,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

CM_DEG = 1e-7  # about 1 cm in degrees
N_POINTS = 10_000

CITIES = {  # WGS-84 lon, lat
    "Taiyuan": (112.55, 37.87),
    "Beijing": (116.397128, 39.916527),
    "Shanghai": (121.47, 31.23),
    "Urumqi": (87.6, 43.8),
    "Guangzhou": (113.26, 23.13),
}


@pytest.fixture(scope="module")
def china() -> tuple[np.ndarray, np.ndarray]:
    """Seeded random points well inside the GCJ-02 box (mainland and coast)."""
    rng = np.random.default_rng(20240601)
    return rng.uniform(73.5, 135.0, N_POINTS), rng.uniform(18.0, 53.5, N_POINTS)


def _max_err(ax, ay, bx, by) -> float:
    return float(max(np.max(np.abs(ax - bx)), np.max(np.abs(ay - by))))


# --- reference values ---------------------------------------------------------------------


def test_wgs84_to_gcj02_matches_published_vector():
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert lon == pytest.approx(116.41024449916938, abs=1e-9)
    assert lat == pytest.approx(39.91640428150164, abs=1e-9)


def test_tiananmen_wgs84_to_gcj02():
    lon, lat = wgs84_to_gcj02(116.397128, 39.916527)
    assert lon == pytest.approx(116.403371, abs=1e-5)
    assert lat == pytest.approx(39.917931, abs=1e-5)


def test_gcj02_to_bd09_matches_published_vector():
    # The common sin(y * pi) bug (for sin(y * x_pi)) gives 116.4103779: fails 1e-9 here.
    lon, lat = gcj02_to_bd09(116.404, 39.915)
    assert lon == pytest.approx(116.41036949371029, abs=1e-9)
    assert lat == pytest.approx(39.92133699351021, abs=1e-9)
    # The commonly quoted rounded figure (its longitude is truncated, hence 9.5e-6 off).
    assert lon == pytest.approx(116.41036, abs=1e-5)
    assert lat == pytest.approx(39.92134, abs=1e-5)


def test_bd09_to_gcj02_near_published_one_step_inverse():
    # The published value comes from Baidu's one-step inverse: close, but centimetres off.
    lon, lat = bd09_to_gcj02(116.404, 39.915)
    assert lon == pytest.approx(116.39762729119315, abs=1e-6)
    assert lat == pytest.approx(39.90865673957631, abs=1e-6)
    assert gcj02_to_bd09(lon, lat) == pytest.approx((116.404, 39.915), abs=1e-10)


def test_gcj02_to_wgs84_beats_published_one_step_inverse():
    published = (116.39775550083061, 39.91359571849836)  # 2 * gcj - forward(gcj)
    ours = gcj02_to_wgs84(116.404, 39.915)
    assert wgs84_to_gcj02(*ours) == pytest.approx((116.404, 39.915), abs=1e-10)
    back = wgs84_to_gcj02(*published)
    assert max(abs(back[0] - 116.404), abs(back[1] - 39.915)) > 1e-7


@pytest.mark.parametrize("city", CITIES)
def test_offset_magnitude_in_cities(city):
    lon, lat = CITIES[city]
    gcj = wgs84_to_gcj02(lon, lat)
    assert 100 < geodesic_distance_m(lon, lat, *gcj) < 700
    # BD-09 adds Baidu's own ~0.006 degree shift on top.
    assert 700 < geodesic_distance_m(lon, lat, *wgs84_to_bd09(lon, lat)) < 2000


# --- round trips ----------------------------------------------------------------------------


def test_wgs_gcj_wgs(china):
    lon, lat = china
    assert _max_err(*gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat)), lon, lat) < CM_DEG


def test_gcj_wgs_gcj(china):
    lon, lat = china
    assert _max_err(*wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat)), lon, lat) < CM_DEG


def test_gcj_bd_gcj(china):
    lon, lat = china
    assert _max_err(*bd09_to_gcj02(*gcj02_to_bd09(lon, lat)), lon, lat) < CM_DEG
    assert _max_err(*gcj02_to_bd09(*bd09_to_gcj02(lon, lat)), lon, lat) < CM_DEG


def test_wgs_bd_wgs(china):
    lon, lat = china
    assert _max_err(*bd09_to_wgs84(*wgs84_to_bd09(lon, lat)), lon, lat) < CM_DEG
    assert _max_err(*wgs84_to_bd09(*bd09_to_wgs84(lon, lat)), lon, lat) < CM_DEG


def test_one_step_approximation_fails_the_bound(china):
    """Proves the iteration matters: the usual shortcut is metres off."""
    lon, lat = china
    fx, fy = wgs84_to_gcj02(lon, lat)
    guess = 2 * lon - fx, 2 * lat - fy  # the shortcut for gcj02_to_wgs84(lon, lat)
    err = _max_err(*wgs84_to_gcj02(*guess), lon, lat)
    assert err > 1e-5
    assert err > 100 * _max_err(*wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat)), lon, lat)
    metres = geodesic_distance_m(*wgs84_to_gcj02(*guess), lon, lat)
    assert np.max(metres) > 1.0


def test_inverses_converge_quickly(china):
    lon, lat = china
    *_, n_gcj = datums._invert(datums._gcj_offset_forward, lon, lat)
    *_, n_bd = datums._invert(datums._gcj_to_bd, lon, lat)
    assert n_gcj <= 6 and n_bd <= 6


def test_nan_propagates_without_stalling():
    lon, lat = gcj02_to_wgs84(np.array([np.nan, 116.4]), np.array([39.9, 39.9]))
    assert np.isnan(lon[0]) and np.isfinite(lon[1])
    assert wgs84_to_gcj02(lon[1], lat[1]) == pytest.approx((116.4, 39.9), abs=1e-10)


# --- outside China ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "point",
    [(-0.1276, 51.5072), (-74.006, 40.7128), (151.2093, -33.8688), (120.0, 56.0), (71.9, 40.0)],
)
def test_gcj02_is_wgs84_outside_china(point):
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point
    assert to_wgs84(*point, "gcj02") == point


def test_mixed_arrays_mask_per_point():
    lon, lat = np.array([-0.1276, 116.4]), np.array([51.5072, 39.9])
    gx, gy = wgs84_to_gcj02(lon, lat)
    assert (gx[0], gy[0]) == (lon[0], lat[0])
    assert (gx[1], gy[1]) == wgs84_to_gcj02(116.4, 39.9)


# --- types and dispatch -----------------------------------------------------------------------

ALL = [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84]


@pytest.mark.parametrize("fn", ALL)
def test_scalars_give_floats(fn):
    out = fn(116.4, np.float64(39.9))
    assert type(out[0]) is float and type(out[1]) is float


@pytest.mark.parametrize("fn", ALL)
def test_arrays_give_arrays(fn):
    lon = np.array([[116.4, 121.47], [112.55, 87.6]])
    out = fn(lon, 39.9)  # scalar broadcasts against the array
    assert all(isinstance(a, np.ndarray) and a.shape == (2, 2) for a in out)
    # Whole arrays iterate until the slowest point converges, so allow ~tolerance.
    assert out[0][0, 0] == pytest.approx(fn(116.4, 39.9)[0], abs=1e-10)


def test_dispatchers_match_direct_functions():
    p = (116.4, 39.9)
    assert to_wgs84(*p, "wgs84") == p and from_wgs84(*p, "wgs84") == p
    assert to_wgs84(*p, "gcj02") == gcj02_to_wgs84(*p)
    assert to_wgs84(*p, "bd09") == bd09_to_wgs84(*p)
    assert from_wgs84(*p, "gcj02") == wgs84_to_gcj02(*p)
    assert from_wgs84(*p, "bd09") == wgs84_to_bd09(*p)
    assert CRS_NAMES == ("wgs84", "gcj02", "bd09")


@pytest.mark.parametrize("crs", ["GCJ02", "epsg:4326", "bd-09", ""])
def test_unknown_crs_raises(crs):
    with pytest.raises(ValueError, match="unknown crs"):
        to_wgs84(116.4, 39.9, crs)
    with pytest.raises(ValueError, match="unknown crs"):
        from_wgs84(116.4, 39.9, crs)


# --- geo.crs --------------------------------------------------------------------------------


def test_geodesic_distance_matches_geod():
    lon1, lat1 = np.array([116.4, 121.47]), np.array([39.9, 31.23])
    lon2, lat2 = np.array([112.55, 87.6]), np.array([37.87, 43.8])
    expected = GEOD.inv(lon1, lat1, lon2, lat2)[2]
    np.testing.assert_allclose(geodesic_distance_m(lon1, lat1, lon2, lat2), expected)
    assert geodesic_distance_m(116.4, 39.9, 112.55, 37.87) == pytest.approx(expected[0])


def test_one_degree_of_latitude_at_equator():
    d = geodesic_distance_m(0.0, 0.0, 0.0, 1.0)
    assert isinstance(d, float)
    assert d == pytest.approx(110_574, abs=1)


def test_utm_crs_for():
    assert utm_crs_for(116.4, 39.9) == pyproj.CRS.from_epsg(32650)
    assert utm_crs_for(112.55, 37.87) == pyproj.CRS.from_epsg(32649)
    assert utm_crs_for(-70.0, -33.0) == pyproj.CRS.from_epsg(32719)


def test_transformer_is_cached_and_xy():
    t = transformer("EPSG:4326", "EPSG:32650")
    assert transformer("EPSG:4326", "EPSG:32650") is t
    x, y = t.transform(117.0, 0.0)  # central meridian of zone 50, on the equator
    assert x == pytest.approx(500_000, abs=1e-3) and y == pytest.approx(0, abs=1e-3)
