"""Projections and geodesics on WGS-84, with pyproj objects built once and reused.

Building a ``pyproj.Transformer`` costs milliseconds (a PROJ database lookup), so doing it
per station or per request dominates run time; :func:`transformer` caches them.
"""

from __future__ import annotations

from functools import cache
from typing import Final

import numpy as np
import pyproj
from numpy.typing import ArrayLike, NDArray
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

CrsLike = str | int | pyproj.CRS

#: The WGS-84 ellipsoid, for distances in metres.
GEOD: Final = pyproj.Geod(ellps="WGS84")


@cache
def transformer(src: CrsLike, dst: CrsLike) -> pyproj.Transformer:
    """The (cached) transformer from ``src`` to ``dst``, always lon/lat (x/y) order.

    ``always_xy`` because EPSG:4326 is officially lat/lon; everywhere in this project
    longitude comes first.
    """
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


@cache
def _crs_from_epsg(code: int) -> pyproj.CRS:
    """A CRS per EPSG code, built once (there are only 120 UTM zones)."""
    return pyproj.CRS.from_epsg(code)


def utm_crs_for(lon: float, lat: float) -> pyproj.CRS:
    """The WGS-84 UTM zone CRS containing a point given in degrees.

    Buffers and areas in metres are computed in this CRS, where scale error stays below
    0.1 % inside the zone. On a zone boundary the first zone PROJ lists is used.

    Raises:
        ValueError: no UTM zone covers the point (beyond +/-84° lat, or not a coordinate).

    """
    aoi = AreaOfInterest(
        west_lon_degree=lon, south_lat_degree=lat, east_lon_degree=lon, north_lat_degree=lat
    )
    found = query_utm_crs_info(datum_name="WGS 84", area_of_interest=aoi)
    if not found:
        raise ValueError(f"no WGS 84 UTM zone covers ({lon}, {lat})")
    return _crs_from_epsg(int(found[0].code))


def geodesic_distance_m(
    lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike
) -> float | NDArray[np.float64]:
    """Geodesic (ellipsoidal) distance in metres between WGS-84 points in degrees.

    Accepts floats or broadcastable arrays; returns a float only when all four are scalars.
    """
    if all(np.ndim(v) == 0 for v in (lon1, lat1, lon2, lat2)):
        return float(GEOD.inv(float(lon1), float(lat1), float(lon2), float(lat2))[2])
    arrays = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (lon1, lat1, lon2, lat2))
    )
    _, _, dist = GEOD.inv(*(np.ascontiguousarray(a) for a in arrays))
    return np.asarray(dist, dtype=np.float64)
