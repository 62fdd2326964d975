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

from flask import Blueprint, Response, jsonify, request

from geo import datums
from stations import hours, registry, vocabulary
from stations.availability import Availability, Judge, hours_text
from stations.errors import InvalidParameter
from stations.hours import Note
from stations.records import feature
from web import links, params
from web.database import caller, get_read_conn, nearest_service
from web.openapi import build_spec

api = Blueprint("api", __name__)
GEOJSON = "application/geo+json"


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


LIST_PARAMS = (
    "bbox", "district", "amenities", "open_at", "open_for_min", "limit", "offset", "lang"
)  # fmt: skip


@api.get("/stations")
def list_stations() -> Response:
    """A page of stations, filtered by bbox, district and amenities (OGC API style)."""
    args = request.args
    params.reject_unknown(args, LIST_PARAMS)
    limit_max = _limit_max()
    limit = params.integer(args, "limit", min(100, limit_max), 1, limit_max)
    offset = params.integer(args, "offset", 0, 0, 10**9)
    lang = params.lang(args)
    flt = registry.StationFilter(
        bbox=params.bbox(args),
        district=params.text(args, "district"),
        amenities=params.amenities(args),
    )
    conn = get_read_conn()
    if flt.district:
        found = registry.count_districts(conn, flt.district)
        if found != 1:
            problem = "is ambiguous; give its 6-digit admin code" if found else "is unknown"
            raise InvalidParameter(
                "district", f"district {flt.district!r} {problem} (a code like 140105 or a name)"
            )
    open_at = params.instant(args, "open_at")
    open_for_min = params.integer(args, "open_for_min", 0, 0, MAX_OPEN_FOR_MIN)
    if open_for_min and open_at is None:
        raise InvalidParameter(
            "open_for_min", "open_for_min needs open_at: the instant the break starts"
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


def _limit_max() -> int:
    from flask import current_app

    return int(current_app.config["PAGE_LIMIT_MAX"])


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


NEAREST_PARAMS = (
    "lat", "lon", "crs", "at", "open", "open_for_min", "amenities", "limit", "within_m", "lang"
)  # fmt: skip
MAX_OPEN_FOR_MIN = 24 * 60


@api.get("/stations/nearest")
def nearest_stations() -> Response:
    """The nearest stations to a point, by default only those open at ``at`` (now)."""
    args = request.args
    params.reject_unknown(args, NEAREST_PARAMS)
    lat = params.number(args, "lat", -90, 90)
    lon = params.number(args, "lon", -180, 180)
    crs = params.choice(args, "crs", datums.CRS_NAMES, "wgs84")
    at = params.instant(args, "at") or dt.datetime.now(hours.SHANGHAI)
    lang = params.lang(args)
    wgs_lon, wgs_lat = datums.to_wgs84(lon, lat, crs)
    open_only = params.boolean(args, "open", True)
    open_for_min = params.integer(args, "open_for_min", 0, 0, MAX_OPEN_FOR_MIN)
    if open_for_min and not open_only:
        raise InvalidParameter(
            "open_for_min", "open_for_min asks for open stations; leave out open=false"
        )
    search = {
        "at": at,
        "open_only": open_only,
        "open_for_min": open_for_min,
        "amenities": params.amenities(args),
        "limit": params.integer(args, "limit", 5, 1, 50),
        "within_m": params.number(args, "within_m", 1, 50000, default=5000),
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
def get_station(station_id: str) -> Response:
    """One station as a GeoJSON Feature."""
    params.reject_unknown(request.args, ("lang",))
    record = registry.get_station(get_read_conn(), params.station_id(station_id))
    return station_response(record, params.lang(request.args))


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
def openapi() -> Response:
    """The OpenAPI 3.1 document of this API."""
    return jsonify(build_spec())


@api.get("/amenities")
def amenities() -> Response:
    """The amenity vocabulary with Chinese and English labels."""
    params.reject_unknown(request.args, ())
    return jsonify(
        {
            "amenities": [
                {"code": t.code, "zh": t.zh, "en": t.en}
                for t in vocabulary.terms("amenities").values()
            ]
        }
    )
