"""China's obfuscated map datums: GCJ-02 (Amap, Tencent, WeChat) and BD-09 (Baidu).

Station coordinates arrive from Chinese map apps in GCJ-02 or BD-09, which are WGS-84
plus a deterministic, non-linear offset of roughly 100-700 m. Everything stored or
projected must be WGS-84, so these conversions have to be exact, not "close enough".

All angles are in decimal degrees, longitude first. Every function accepts Python floats
or numpy arrays (broadcast against each other) and returns the same kind: two floats for
scalar input, two float64 arrays otherwise.

The forward transforms are the published closed-form formulas. Their inverses have no
closed form; the widespread one-step shortcut ``wgs = 2 * gcj - forward(gcj)`` is off by
up to ~2 m, so the inverses here iterate on the forward formula until the correction is
below ``TOLERANCE_DEG`` (1e-10 degrees, about 10 micrometres), which leaves round-trip
errors far below 1 cm.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

Coords: TypeAlias = tuple[NDArray[np.float64], NDArray[np.float64]]
#: What a public conversion returns: ``(lon, lat)`` as floats or as float64 arrays.
Result: TypeAlias = tuple[float, float] | Coords

CRS_NAMES: Final = ("wgs84", "gcj02", "bd09")

# GCJ-02 is defined on the Krasovsky 1940 ellipsoid.
_KRASOVSKY_A: Final = 6378245.0  # semi-major axis, metres
_KRASOVSKY_EE: Final = 0.00669342162296594323  # first eccentricity squared
# BD-09's rotation/scale constant; NOT math.pi (a common bug writes sin(y * pi)).
_X_PI: Final = np.pi * 3000.0 / 180.0
_BD_DLON: Final = 0.0065  # degrees
_BD_DLAT: Final = 0.006  # degrees

# The customary rough box for "mainland China"; outside it GCJ-02 is WGS-84 unchanged.
# It is a bounding box, not the border: it also covers e.g. Korea, Japan and parts of
# Russia and South-East Asia, where map apps apply the offset too. Every Chinese map
# SDK and open-source converter uses this same box, so matching it keeps us consistent
# with the coordinates those apps actually emit.
CHINA_LON_MIN: Final = 72.004
CHINA_LON_MAX: Final = 137.8347
CHINA_LAT_MIN: Final = 0.8293
CHINA_LAT_MAX: Final = 55.8271

TOLERANCE_DEG: Final = 1e-10
MAX_ITERATIONS: Final = 50


def _arrays(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
    """Broadcast inputs to float64 arrays and report whether both were scalars."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return x, y, scalar


def _result(x: NDArray[np.float64], y: NDArray[np.float64], scalar: bool) -> Result:
    """Give back floats for scalar input and (writable, owned) arrays otherwise."""
    if scalar:
        return float(x), float(y)
    return np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)


def in_china(lon: ArrayLike, lat: ArrayLike) -> bool | NDArray[np.bool_]:
    """True where the point is inside the box in which GCJ-02 differs from WGS-84."""
    x, y, scalar = _arrays(lon, lat)
    inside = (
        (x >= CHINA_LON_MIN) & (x <= CHINA_LON_MAX) & (y >= CHINA_LAT_MIN) & (y <= CHINA_LAT_MAX)
    )
    return bool(inside) if scalar else inside


# --- GCJ-02 -----------------------------------------------------------------------------


def _transform_lat(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """GCJ-02 latitude offset polynomial in "metres-ish" units; x, y relative to (105, 35)."""
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """GCJ-02 longitude offset polynomial in "metres-ish" units; x, y relative to (105, 35)."""
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Coords:
    """GCJ-02 minus WGS-84 at a WGS-84 point, in degrees, ignoring the China box."""
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = np.radians(lat)
    magic = 1.0 - _KRASOVSKY_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    # Offsets are metres on the Krasovsky ellipsoid: divide by the meridian and the
    # parallel radius of curvature to turn them into degrees.
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_KRASOVSKY_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _wgs_to_gcj(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Coords:
    """Array form of :func:`wgs84_to_gcj02`."""
    dlon, dlat = _gcj_offset(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def _gcj_to_wgs(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Coords:
    """Array form of :func:`gcj02_to_wgs84`; the box is tested on the GCJ-02 input."""
    x, y, _ = _invert(_gcj_offset_forward, lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, x, lon), np.where(inside, y, lat)


def _gcj_offset_forward(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Coords:
    """Unmasked WGS-84 -> GCJ-02, so the iteration sees one smooth function."""
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


# --- BD-09 ------------------------------------------------------------------------------


def _gcj_to_bd(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Coords:
    """Array form of :func:`gcj02_to_bd09`: Baidu's published forward formula."""
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + _BD_DLON, z * np.sin(theta) + _BD_DLAT


def _bd_to_gcj(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Coords:
    """Array form of :func:`bd09_to_gcj02`, iterating on the forward formula."""
    x, y, _ = _invert(_gcj_to_bd, lon, lat)
    return x, y


# --- inversion --------------------------------------------------------------------------


def _invert(
    forward: Callable[[NDArray[np.float64], NDArray[np.float64]], Coords],
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    tol: float = TOLERANCE_DEG,
    max_iter: int = MAX_ITERATIONS,
) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
    """Solve ``forward(x, y) == (lon, lat)`` by fixed-point iteration on whole arrays.

    Both forward maps are the identity plus a small offset whose derivative is ~1e-2 or
    less, so ``p <- p - (forward(p) - target)`` contracts by about that factor per step:
    4-6 steps reach ``tol`` degrees everywhere. ``max_iter`` only guards against NaN or
    absurd input; the best iterate is returned either way.

    Returns:
        ``(x, y, iterations)``; ``iterations`` counts forward evaluations inside the loop.

    """
    fx, fy = forward(lon, lat)
    x, y = 2.0 * lon - fx, 2.0 * lat - fy  # the one-step approximation as a start
    for iteration in range(1, max_iter + 1):
        fx, fy = forward(x, y)
        dx, dy = fx - lon, fy - lat
        x, y = x - dx, y - dy
        change = np.maximum(np.abs(dx), np.abs(dy))
        # NaN input never converges; don't let it hold the others hostage.
        if not np.any(change[np.isfinite(change)] >= tol):
            return x, y, iteration
    return x, y, max_iter


# --- public API -------------------------------------------------------------------------


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Result:
    """WGS-84 -> GCJ-02 (Amap/Tencent/WeChat), in degrees; identity outside the China box."""
    x, y, scalar = _arrays(lon, lat)
    return _result(*_wgs_to_gcj(x, y), scalar)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Result:
    """GCJ-02 -> WGS-84, in degrees, iterated to ~1e-10° (round trip well under 1 cm)."""
    x, y, scalar = _arrays(lon, lat)
    return _result(*_gcj_to_wgs(x, y), scalar)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Result:
    """GCJ-02 -> BD-09 (Baidu), in degrees; Baidu applies it everywhere, so no box."""
    x, y, scalar = _arrays(lon, lat)
    return _result(*_gcj_to_bd(x, y), scalar)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Result:
    """BD-09 -> GCJ-02, in degrees, iterated to ~1e-10° instead of Baidu's one-step inverse."""
    x, y, scalar = _arrays(lon, lat)
    return _result(*_bd_to_gcj(x, y), scalar)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Result:
    """WGS-84 -> BD-09, in degrees, via GCJ-02 (which is how Baidu defines it)."""
    x, y, scalar = _arrays(lon, lat)
    return _result(*_gcj_to_bd(*_wgs_to_gcj(x, y)), scalar)


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Result:
    """BD-09 -> WGS-84, in degrees, via GCJ-02 with both inverses iterated."""
    x, y, scalar = _arrays(lon, lat)
    return _result(*_gcj_to_wgs(*_bd_to_gcj(x, y)), scalar)


def _check_crs(crs: str) -> None:
    """Reject anything but the three supported names, so typos fail loudly."""
    if crs not in CRS_NAMES:
        raise ValueError(f"unknown crs {crs!r}; expected one of {', '.join(CRS_NAMES)}")


# The conversions to and from WGS-84 for the other datums, by name.
_TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS84 = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


def _convert(
    lon: ArrayLike, lat: ArrayLike, crs: str, conversions: dict[str, Callable[..., Result]]
) -> Result:
    """``conversions[crs]`` applied, or WGS-84 passed through (as floats or arrays)."""
    _check_crs(crs)
    if crs != "wgs84":
        return conversions[crs](lon, lat)
    if type(lon) is float and type(lat) is float:
        return lon, lat  # the common case in a request, without a trip through numpy
    return _result(*_arrays(lon, lat))


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> Result:
    """Convert degrees in ``crs`` (one of :data:`CRS_NAMES`) to WGS-84.

    Raises:
        ValueError: ``crs`` is not in :data:`CRS_NAMES`.

    """
    return _convert(lon, lat, crs, _TO_WGS84)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> Result:
    """Convert WGS-84 degrees to ``crs`` (one of :data:`CRS_NAMES`).

    Raises:
        ValueError: ``crs`` is not in :data:`CRS_NAMES`.

    """
    return _convert(lon, lat, crs, _FROM_WGS84)
