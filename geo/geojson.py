"""Shapely geometries as RFC 7946 GeoJSON geometry objects: the one place polygons leave.

RFC 7946 §3.1.6 makes the right-hand rule a MUST for output: exterior rings
counter-clockwise, holes clockwise. Operations such as ``set_precision`` or
``make_valid`` do not promise an orientation, so every polygon is wound here, last.
"""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import mapping


def geometry(geom: shapely.Geometry) -> dict[str, Any]:
    """``geom`` (lon/lat, WGS-84) as a GeoJSON geometry, polygons wound by the right-hand rule."""
    return mapping(shapely.orient_polygons(geom, exterior_cw=False))
