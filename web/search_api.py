"""``GET /api/v1/search``: stations and districts by name, address or district.

For a rider whose phone will not say where they are (the map's search box), and for
anyone who knows a station by name rather than by id. See :mod:`stations.search` for
what matches and in which order.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from geo import datums
from stations import search
from stations.errors import InvalidParameter
from web import params
from web.database import get_read_conn

search_api = Blueprint("search_api", __name__)

PARAMS = ("q", "near", "crs", "limit", "lang")


@search_api.get("/search")
def find() -> Response:
    """Districts and active stations matching ``q``, nearest to ``near`` first."""
    args = request.args
    params.reject_unknown(args, PARAMS)
    params.lang(args)
    q = params.text(args, "q", search.MAX_QUERY_CHARS)
    if q is None:
        raise InvalidParameter(
            "q",
            "q is required: part of a station's name, its address or its district",
            zh="请填写要找的内容：驿站名称、地址或所在区县的一部分",
        )
    crs = params.choice(args, "crs", datums.CRS_NAMES, "wgs84")
    near = _near(args, crs)
    limit = params.integer(args, "limit", 10, 1, search.MAX_RESULTS)
    found = search.search(get_read_conn(), q, near=near, limit=limit)
    return jsonify(
        {
            "q": q,
            "crs": crs,
            "districts": [_district(d, crs) for d in found["districts"]],
            "stations": [_station(s, crs) for s in found["stations"]],
        }
    )


def _near(args: Any, crs: str) -> tuple[float, float] | None:
    """``near=lon,lat`` in ``crs``, as WGS-84."""
    raw = args.get("near")
    if not raw:
        return None
    hint = "near must be lon,lat in degrees, e.g. 112.56,37.86"
    parts = raw.split(",")
    if len(parts) != 2:
        raise InvalidParameter("near", hint, zh="near 应为“经度,纬度”，例如 112.56,37.86")
    lon = params.number({"near": parts[0]}, "near", -180, 180)
    lat = params.number({"near": parts[1]}, "near", -90, 90)
    wgs_lon, wgs_lat = datums.to_wgs84(lon, lat, crs)
    return float(wgs_lon), float(wgs_lat)


def _point(lon: float, lat: float, crs: str) -> list[float]:
    x, y = datums.from_wgs84(lon, lat, crs)
    return [round(float(x), 7), round(float(y), 7)]


def _district(row: dict[str, Any], crs: str) -> dict[str, Any]:
    return {
        "code": row["code"],
        "name": row["name"],
        "level": row["level"],
        "stations": row["stations"],
        "bbox": [
            *_point(row["min_lon"], row["min_lat"], crs),
            *_point(row["max_lon"], row["max_lat"], crs),
        ],
    }


def _station(row: dict[str, Any], crs: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "code": row["code"],
        "name": row["name"],
        "address": row["address"],
        "district": {"code": row["district_code"], "name": row["district_name"]},
        "matched": row["matched"],
        "position": _point(row["lon"], row["lat"], crs),
    }
