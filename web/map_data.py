"""The public map's stations by viewport: what the phone draws, compact and gzipped.

A page that embeds every station grows with the registry (505 KB of its 512 KB were the
demo's stations; a national registry cannot be embedded at all). The page asks here for
the stations of the view it shows instead: up to ``MAP_MAX_STATIONS`` come one by one
with what a popup and the nearest list need (the fields of :func:`web.pages.station_data`,
as GeoJSON features); a wider view comes as grid cells with their station counts, counted
by PostGIS over the spatial index, which the page draws as cluster badges.

``crs=gcj02`` gives positions on Amap's streets; the view's box is then read in GCJ-02
too, widened by 0.01° (GCJ-02 is at most about 700 m from WGS-84) so that no station at
its edge is missed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, Response, current_app, request

from geo import datums
from stations import hours, registry
from stations.errors import InvalidParameter
from web import params
from web.compressed import compressed
from web.database import get_read_conn
from web.pages import station_data

map_data = Blueprint("map_data", __name__)

PARAMS = ("bbox", "lang", "at", "crs")
MAX_STATIONS = 2000  # more in view: grid cells (the page shows them as cluster badges)
GRID = 16  # cells along each side of a view that is counted, not listed
GCJ02_MARGIN = 0.01  # degrees


@map_data.get("/map/stations")
def stations_in_view() -> Response:
    """Active stations in ``bbox`` with their state at ``at`` (default now), or counts."""
    args = request.args
    params.reject_unknown(args, PARAMS)
    box = params.bbox(args)
    if box is None:
        raise InvalidParameter(
            "bbox", "bbox is required: min_lon,min_lat,max_lon,max_lat of the map's view"
        )
    lang = params.lang(args)
    at = params.instant(args, "at") or dt.datetime.now(hours.SHANGHAI)
    gcj02 = params.choice(args, "crs", ("wgs84", "gcj02"), "wgs84") == "gcj02"
    if gcj02:
        box = _widened(box, GCJ02_MARGIN)
    flt = registry.StationFilter(bbox=box, active_only=True)
    conn = get_read_conn()
    limit = int(current_app.config.get("MAP_MAX_STATIONS", MAX_STATIONS))
    if registry.count_stations(conn, flt, at_most=limit + 1) <= limit:
        rows = registry.list_stations(conn, flt, limit)
        features = [_station(s) for s in station_data(rows, lang, at, gcj02=gcj02)]
        body = {"type": "FeatureCollection", "at": _iso(at), "cells": False}
    else:
        cells = registry.grid_counts(conn, flt, GRID, GRID)
        features = [_cell(count, lon, lat, gcj02) for count, lon, lat in cells]
        body = {"type": "FeatureCollection", "at": _iso(at), "cells": True}
    body["numberMatched"] = sum(f["properties"].get("count", 1) for f in features)
    body["features"] = features
    return _compact_response(body)


def _widened(box: tuple[float, float, float, float], margin: float):
    x0, y0, x1, y1 = box
    return (
        max(-180, x0 - margin),
        max(-90, y0 - margin),
        min(180, x1 + margin),
        min(90, y1 + margin),
    )


def _iso(at: dt.datetime) -> str:
    return at.isoformat(timespec="seconds")


def _station(station: dict[str, Any]) -> dict[str, Any]:
    props = {k: v for k, v in station.items() if k not in ("id", "lat", "lon")}
    return {
        "type": "Feature",
        "id": station["id"],
        "geometry": {"type": "Point", "coordinates": [station["lon"], station["lat"]]},
        "properties": props,
    }


def _cell(count: int, lon: float, lat: float, gcj02: bool) -> dict[str, Any]:
    if gcj02:
        lon, lat = (float(v) for v in datums.wgs84_to_gcj02(lon, lat))
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
        "properties": {"count": int(count)},
    }


def _compact_response(body: dict[str, Any]) -> Response:
    """GeoJSON without spaces, gzipped; a minute in caches, as the states are "now"."""
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return compressed(data, "application/geo+json", max_age_s=60)
