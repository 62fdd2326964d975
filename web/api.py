"""The public read API (v1): stations, one station, the amenity vocabulary.

Routes parse, call one domain function, serialise. Feature properties come from
:func:`stations.records.feature` so the API and the exports agree on field names.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, request

from geo import datums
from stations import hours, registry, vocabulary
from stations.availability import Availability, Judge, hours_text
from stations.errors import InvalidParameter
from stations.hours import Note
from stations.records import feature
from web import links, params
from web.api_models import (
    Amenities,
    LangQuery,
    ListQuery,
    NearestQuery,
    NearestStations,
    NoQuery,
    Station,
    StationPage,
    page_limit_max,
)
from web.contract import GEOJSON, Ok, operation
from web.database import caller, get_read_conn, nearest_service
from web.openapi import document

api = Blueprint("api", __name__)
STATION_ID = {"type": "integer", "minimum": 1}
STATION_ETAG = "The stored version, for If-Match on the next write."
REGISTRY_ETAG = "The registry's version, for If-Match on an import."


def geojson_response(body: dict[str, Any]) -> Response:
    """``body`` as ``application/geo+json``."""
    response = jsonify(body)
    response.mimetype = GEOJSON
    return response


def station_feature(
    record: dict[str, Any], lang: str, judge: Judge, crs: str = "wgs84"
) -> dict[str, Any]:
    """A station as a GeoJSON Feature with labels in ``lang`` and its state at ``judge.at``.

    The geometry is WGS-84 whatever is asked (RFC 7946 §4); for ``crs`` gcj02 or bd09
    the position in that datum is the ``position`` property, for Amap's or Baidu's maps.
    The state is the one the search judged, else judged here.
    """
    availability = record.get("availability") or judge.station(record)
    extra: dict[str, Any] = {
        "district": {"code": record["district_code"], "name": record["district_name"]},
        "amenities": list(_amenity_labels(tuple(record["amenities"]), lang)),
        "opening_hours_text": hours_text(record["opening_hours"], lang),
        **availability_properties(availability),
        "version": record["version"],
        "updated_at": record["updated_at"].isoformat(),
    }
    if "distance_m" in record:
        extra["distance_m"] = round(record["distance_m"], 2)
    if crs != "wgs84":
        lon, lat = datums.from_wgs84(record["lon"], record["lat"], crs)
        extra["position"] = {"crs": crs, "lon": round(float(lon), 7), "lat": round(float(lat), 7)}
    return feature(record, extra)


def availability_properties(availability: Availability) -> dict[str, Any]:
    """The state properties of a station answer (API, map and exports alike)."""
    change = availability.next_change
    return {
        "open": availability.is_open,
        "state": availability.state,
        "next_change": change.isoformat() if change else None,
        "closes_in_min": availability.closes_in_min,
        "opens_in_min": availability.opens_in_min,
    }


@functools.lru_cache(maxsize=1024)
def _amenity_labels(codes: tuple[str, ...], lang: str) -> tuple[dict[str, str], ...]:
    """Amenity codes with labels; stations share few combinations, so each is built once."""
    labels = vocabulary.terms("amenities")
    # a code since removed from the vocabulary still shows, labelled by itself
    return tuple({"code": c, "label": labels[c].label(lang) if c in labels else c} for c in codes)


@api.get("/stations")
@operation(
    "A page of stations (filters: bbox, district, amenities, open at an instant)",
    {200: Ok(StationPage, "Stations in id order.", GEOJSON, {"ETag": REGISTRY_ETAG})},
    query=ListQuery,
    problems=(400, 503),
)
def list_stations(query: ListQuery) -> Response:
    """A page of stations, filtered by bbox, district and amenities (OGC API style)."""
    limit = min(query.limit, page_limit_max())  # not given: 100, or a smaller maximum
    offset, lang = query.offset, query.lang
    flt = registry.StationFilter(
        bbox=query.bbox, district=query.district, amenities=query.amenities
    )
    conn = get_read_conn()
    one_district(conn, flt.district)
    open_at, open_for_min = query.open_at, query.open_for_min
    if open_for_min and open_at is None:
        raise InvalidParameter(
            "open_for_min",
            "open_for_min needs open_at: the instant the break starts",
            zh="open_for_min 要和 open_at（休息开始的时刻）一起给",
        )
    if open_at is not None:
        flt = registry.open_at(conn, flt, Judge(open_at, open_for_min))
    version = registry.version(conn)  # before the rows: never newer than what they show
    matched = registry.count_stations(conn, flt)
    rows = registry.list_stations(conn, flt, limit, offset)
    now = dt.datetime.now(hours.SHANGHAI)
    judge = Judge(open_at or now)  # the state at the instant asked about
    response = geojson_response(
        {
            "type": "FeatureCollection",
            "numberMatched": matched,
            "numberReturned": len(rows),
            "timeStamp": now.isoformat(timespec="seconds"),
            "state_at": judge.at.isoformat(timespec="seconds"),
            "links": _page_links(matched, limit, offset),
            "features": [station_feature(r, lang, judge) for r in rows],
        }
    )
    response.set_etag(registry_etag(version))  # If-Match for imports
    return response


def one_district(conn: Any, district: str | None) -> str | None:
    """``district``: exactly one district's admin code or name (and what lies below it)."""
    if district and (found := registry.count_districts(conn, district)) != 1:
        raise InvalidParameter(
            "district",
            f"district {district!r} "
            + ("is ambiguous; give its 6-digit admin code" if found else "is unknown")
            + " (a code like 140105 or a name like 小店区)",
            zh=f"district：行政区 {district!r} "
            + ("有重名，请给 6 位行政区划代码" if found else "不存在")
            + "（例如 140105 或 小店区）",
        )
    return district


def _page_links(matched: int, limit: int, offset: int) -> list[dict[str, str]]:
    """Self / next / prev links that keep every other parameter as given."""

    def href(new_offset: int) -> str:
        query = {**request.args.to_dict(), "limit": str(limit), "offset": str(new_offset)}
        return links.external("api.list_stations") + "?" + urlencode(query)

    out = [{"rel": "self", "type": GEOJSON, "href": href(offset)}]
    if offset + limit < matched:
        out.append({"rel": "next", "type": GEOJSON, "href": href(offset + limit)})
    if offset > 0:  # past the end, prev leads back to the last page that has stations
        out.append(
            {"rel": "prev", "type": GEOJSON, "href": href(max(0, min(offset, matched) - limit))}
        )
    return out


@api.get("/stations/nearest")
@operation(
    "The nearest stations, by default only those open now",
    {200: Ok(NearestStations, "Nearest first.", GEOJSON)},
    query=NearestQuery,
    problems=(400, 503),
)
def nearest_stations(query: NearestQuery) -> Response:
    """The nearest stations to a point, by default only those open at ``at`` (now)."""
    at = query.at or dt.datetime.now(hours.SHANGHAI)
    lang, crs = query.lang, query.crs
    wgs_lon, wgs_lat = datums.to_wgs84(query.lon, query.lat, crs)
    if query.open_for_min and not query.open:
        raise InvalidParameter(
            "open_for_min",
            "open_for_min asks for open stations; leave out open=false",
            zh="open_for_min 只用于营业中的驿站；请去掉 open=false",
        )
    search = {
        "at": at,
        "open_only": query.open,
        "open_for_min": query.open_for_min,
        "amenities": query.amenities,
        "limit": query.limit,
        "within_m": query.within_m,
    }
    started = time.perf_counter()
    # the domain picks the engine (the worker's memory or PostGIS) for who is asking
    answer = nearest_service().nearest(caller(), float(wgs_lon), float(wgs_lat), **search)
    found = answer.stations
    elapsed_ms = (time.perf_counter() - started) * 1000
    judge = Judge(at)
    response = geojson_response(
        {
            "type": "FeatureCollection",
            "at": at.isoformat(),
            "numberReturned": len(found),
            "features": [station_feature(r, lang, judge, crs) for r in found],
        }
    )
    # which engine answered, for operators and the benchmark (W3C Server Timing)
    response.headers["Server-Timing"] = f'nearest;desc="{answer.engine}";dur={elapsed_ms:.2f}'
    return response


@api.get("/stations/<station_id>")
@operation(
    "One station",
    {200: Ok(Station, "The station.", GEOJSON, {"ETag": STATION_ETAG})},
    query=LangQuery,
    path={"station_id": STATION_ID},
    problems=(400, 404, 503),
)
def get_station(station_id: str, query: LangQuery) -> Response:
    """One station as a GeoJSON Feature."""
    record = registry.get_station(get_read_conn(), params.station_id(station_id))
    return station_response(record, query.lang)


def station_response(
    record: dict[str, Any], lang: str, status: int = 200, warnings: Sequence[Note] = ()
) -> Response:
    """A station as a GeoJSON Feature, open state now, with its ETag (If-Match on edits).

    ``warnings``: what the editor should know about the values just saved, as a foreign
    member of the Feature (RFC 7946 §6.1).
    """
    body = station_feature(record, lang, Judge(dt.datetime.now(hours.SHANGHAI)))
    if warnings:
        said = params.preferred_lang()  # notes follow Accept-Language too, as errors do
        body["warnings"] = [note.as_dict(said) for note in warnings]
    response = geojson_response(body)
    response.status_code = status
    response.set_etag(station_etag(record["id"], record["version"]))
    return response


def station_etag(station_id: int, version: int) -> str:
    """A station's entity tag: its id and version, which every change bumps."""
    return f"{station_id}.{version}"


def registry_etag(version: int) -> str:
    """The whole registry's entity tag (``registry.version``), for If-Match on imports."""
    return f"registry.{version}"


@api.get("/openapi.json")
@operation(
    "This document",
    {200: Ok({"type": "object"}, "OpenAPI 3.1")},
    rate_limited=False,
)
def openapi() -> Response:
    """The OpenAPI 3.1 document of this API."""
    return Response(document(current_app), mimetype="application/json")


@api.get("/amenities")
@operation(
    "The amenity vocabulary",
    {200: Ok(Amenities, "Codes with Chinese and English labels.")},
    query=NoQuery,
    operation_id="listAmenities",
)
def amenities(query: NoQuery) -> Response:
    """The amenity vocabulary with Chinese and English labels."""
    return jsonify(
        {
            "amenities": [
                {"code": t.code, "zh": t.zh, "en": t.en}
                for t in vocabulary.terms("amenities").values()
            ]
        }
    )
