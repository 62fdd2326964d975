"""``GET /api/v1/search``: stations and districts by name, address or district.

For a rider whose phone will not say where they are (the map's search box), and for
anyone who knows a station by name rather than by id. See :mod:`stations.search` for
what matches and in which order.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, jsonify
from pydantic import Field

from geo import datums
from stations import search
from stations.errors import InvalidParameter
from web import fields, params
from web.api_models import District, Lang
from web.contract import Answer, Ok, Query, operation
from web.database import get_read_conn

search_api = Blueprint("search_api", __name__)


class SearchQuery(Query):
    """What to look for, and where from."""

    q: fields.text(search.MAX_QUERY_CHARS) = Field(
        description="Part of a station's name, its address or its district.",
        examples=["小店", "五一路"],
        json_schema_extra={"x-zh": "要找的内容：驿站名称、地址或所在区县的一部分"},
    )
    near: str | None = Field(
        None, description="lon,lat (in `crs`): stations nearer come first, e.g. the map's centre."
    )
    crs: fields.one_of(*datums.CRS_NAMES) = Field(
        "wgs84", description="Datum of `near` and of the answer's positions."
    )
    limit: fields.whole(1, search.MAX_RESULTS) = Field(
        10, description="At most this many stations."
    )
    lang: fields.Lang = Lang


class FoundDistrict(Answer):
    """A district whose name holds ``q``."""

    code: str
    name: str
    level: Literal["province", "city", "county"]
    stations: int = Field(ge=0)
    bbox: list[float] = Field(
        min_length=4, max_length=4, description="min_lon, min_lat, max_lon, max_lat in `crs`."
    )


class FoundStation(Answer):
    """An active station that matched, and how."""

    id: int
    code: str
    name: str
    address: str | None
    district: District
    matched: Literal["name", "address", "district", "similar"]
    position: list[float] = Field(min_length=2, max_length=2, description="lon, lat in `crs`.")


class SearchResults(Answer):
    """Matching districts and stations."""

    q: str
    crs: Literal[datums.CRS_NAMES]  # type: ignore[valid-type]
    districts: list[FoundDistrict] = Field(
        description="Up to 5 districts whose name holds `q`; an exact name first."
    )
    stations: list[FoundStation] = Field(
        description="Active stations: substring matches of the name, then the address, then "
        "the district; then near misses (typos); each nearest `near` first."
    )


@search_api.get("/search")
@operation(
    "Stations and districts by name, address or district",
    {200: Ok(SearchResults, "Matching districts and stations.")},
    query=SearchQuery,
    problems=(400, 503),
    operation_id="search",
)
def find(query: SearchQuery) -> Response:
    """Districts and active stations matching ``q``, nearest to ``near`` first."""
    q, crs, limit = query.q, query.crs, query.limit
    near = _near(query.near, crs)
    found = search.search(get_read_conn(), q, near=near, limit=limit)
    return jsonify(
        {
            "q": q,
            "crs": crs,
            "districts": [_district(d, crs) for d in found["districts"]],
            "stations": [_station(s, crs) for s in found["stations"]],
        }
    )


def _near(raw: str | None, crs: str) -> tuple[float, float] | None:
    """``near=lon,lat`` in ``crs``, as WGS-84."""
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
