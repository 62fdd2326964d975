"""The public map's stations by viewport: what the phone draws, compact and gzipped.

A page that embeds every station grows with the registry (505 KB of its 512 KB were the
demo's stations; a national registry cannot be embedded at all). The page asks here for
the stations of the view it shows instead: up to ``MAP_MAX_STATIONS`` come one by one
with what a popup and the nearest list need (the fields of :func:`station_data`,
as GeoJSON features); a wider view comes as grid cells with their station counts, counted
by PostGIS over the spatial index, which the page draws as cluster badges.

``crs=gcj02`` is for a page drawn on Amap's streets: the view's box is then read in
GCJ-02, widened by 0.01° (GCJ-02 is at most about 700 m from WGS-84) so that no station
at its edge is missed, and each cell carries ``pos``, its GCJ-02 position. Geometry is
always WGS-84 (RFC 7946); a station's GCJ-02 position is the first half of its ``nav``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import numpy as np
import orjson
from flask import Blueprint, Response, current_app
from pydantic import Field

from geo import datums
from stations import hours, registry, vocabulary
from stations.availability import Availability, Judge, hours_text
from web import fields
from web.api_models import Lang, Point
from web.compressed import compressed
from web.contract import GEOJSON, Answer, Ok, Query, operation
from web.database import caller, get_read_conn, nearest_service
from web.pages import TEXT

map_data = Blueprint("map_data", __name__)


class ViewQuery(Query):
    """The map's view and the instant of the states."""

    bbox: fields.Bbox = Field(
        description="The view: min_lon,min_lat,max_lon,max_lat (in `crs`).",
        json_schema_extra={"x-zh": "地图视野：最小经度,最小纬度,最大经度,最大纬度"},
    )
    crs: fields.one_of("wgs84", "gcj02") = Field(
        "wgs84", description="Datum of the view's box: gcj02 on Amap tiles (geometry stays WGS-84)."
    )
    at: fields.Instant | None = Field(None, description="Instant of the states (default now).")
    lang: fields.Lang = Lang


class MapFeature(Answer):
    """A station, or a grid cell with its count."""

    type: Literal["Feature"]
    id: int | None = None
    geometry: Point
    properties: dict[str, Any] = Field(
        description="A station: name, address, hours, text, open, state, change (words), am "
        "(amenity indexes), nav ([gcj_lon, gcj_lat, bd_lon, bd_lat]; the first two are where "
        "to draw it on GCJ-02 tiles). A cell: count, and pos ([gcj_lon, gcj_lat]) with "
        "crs=gcj02."
    )


class MapStations(Answer):
    """The public map's stations in a view, or counts per grid cell."""

    type: Literal["FeatureCollection"]
    at: dt.datetime
    cells: bool = Field(
        description="true: too many stations in view; features are grid cells with a `count` "
        "each, not stations."
    )
    numberMatched: int = Field(ge=0)
    features: list[MapFeature]


MAX_STATIONS = 2000  # more in view: grid cells (the page shows them as cluster badges)
GRID = 16  # cells along each side of a view that is counted, not listed
GCJ02_MARGIN = 0.01  # degrees
# how far ahead each station's states come, for a phone that loses its signal: a night
# shift and the next day; past that the offline page calls every station "hours unknown"
OFFLINE_AHEAD = dt.timedelta(hours=36)


@map_data.get("/map/stations")
@operation(
    "The public map's active stations in a view, or counts per cell",
    {200: Ok(MapStations, "Stations in id order, or grid cells.", GEOJSON)},
    query=ViewQuery,
    problems=(400, 503),
    operation_id="mapStations",
)
def stations_in_view(query: ViewQuery) -> Response:
    """Active stations in ``bbox`` with their state at ``at`` (default now), or counts."""
    box, lang = query.bbox, query.lang
    # "now" to the minute: hours change on whole minutes, and every view asked within the
    # same minute is then the same answer (caches, and a phone's kept copy, agree)
    at = query.at or dt.datetime.now(hours.SHANGHAI).replace(second=0, microsecond=0)
    gcj02 = query.crs == "gcj02"
    if gcj02:
        box = _widened(box, GCJ02_MARGIN)
    flt = registry.StationFilter(bbox=box, active_only=True)
    conn = get_read_conn()
    limit = int(current_app.config.get("MAP_MAX_STATIONS", MAX_STATIONS))
    # the worker's copy of the active stations (as for nearest) counts a wide view in
    # memory: tens of thousands of points are a few milliseconds there
    memory = nearest_service().memory(caller())
    if memory is not None:
        many = len(memory.points_in(box)[0]) > limit
    else:
        many = registry.count_stations(conn, flt, at_most=limit + 1) > limit
    if not many:
        rows = registry.list_stations(conn, flt, limit)
        features = station_data(rows, lang, at)
        body = {"type": "FeatureCollection", "at": _iso(at), "cells": False}
    else:
        if memory is not None:
            cells = memory.grid_counts(box, GRID, GRID)
        else:
            cells = registry.grid_counts(conn, flt, GRID, GRID)
        features = [_cell(count, lon, lat, gcj02) for count, lon, lat in cells]
        body = {"type": "FeatureCollection", "at": _iso(at), "cells": True}
    body["numberMatched"] = sum(f["properties"].get("count", 1) for f in features)
    body["features"] = features
    response = _compact_response(body)
    # what counted the view, for operators and the benchmark (W3C Server Timing)
    response.headers["Server-Timing"] = f'view;desc="{"memory" if memory else "postgis"}"'
    return response


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


def _cell(count: int, lon: float, lat: float, gcj02: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {"count": int(count)}
    if gcj02:
        gcj_lon, gcj_lat = datums.wgs84_to_gcj02(lon, lat)
        properties["pos"] = [round(float(gcj_lon), 6), round(float(gcj_lat), 6)]
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
        "properties": properties,
    }


def _compact_response(body: dict[str, Any]) -> Response:
    """GeoJSON without spaces, gzipped; a minute in caches, as the states are "now"."""
    data = orjson.dumps(body)
    return compressed(data, "application/geo+json", max_age_s=60)


def station_data(rows: list[dict[str, Any]], lang: str, at: dt.datetime) -> list[dict[str, Any]]:
    """What the page needs per station, compact, as GeoJSON features.

    The geometry is WGS-84. ``nav`` is ``[gcj_lon, gcj_lat, bd_lon, bd_lat]``: where
    the marker is drawn on Amap's tiles (whose streets are in GCJ-02), and the Amap and
    Baidu links. ``am`` holds indexes into the amenity vocabulary, not
    codes: codes were a third of the page. What depends on the hours alone (the state,
    its words, the hours in words, the next hours' states) is worked out once per
    distinct schedule: a city holds a few hundred stations and a few dozen schedules.
    """
    if not rows:
        return []
    lon = np.array([r["lon"] for r in rows], dtype=np.float64)
    lat = np.array([r["lat"] for r in rows], dtype=np.float64)
    gcj_lon, gcj_lat = datums.wgs84_to_gcj02(lon, lat)
    bd_lon, bd_lat = datums.wgs84_to_bd09(lon, lat)
    nav = np.round(np.column_stack([gcj_lon, gcj_lat, bd_lon, bd_lat]), 6).tolist()
    shown = np.round(np.column_stack([lon, lat]), 6).tolist()
    index = {code: i for i, code in enumerate(vocabulary.terms("amenities"))}
    judge = Judge(at)
    per_schedule: dict[tuple[str, hours.Where], dict[str, Any]] = {}
    out = []
    for i, row in enumerate(rows):
        expr = row["opening_hours"] or ""
        where = (row["lon"], row["lat"]) if expr and hours.uses_sun(expr) else None
        said = per_schedule.get((expr, where))
        if said is None:
            state = judge.hours(expr or None, row["lon"], row["lat"])
            said = per_schedule[(expr, where)] = {
                "hours": expr,
                "text": hours_text(expr, lang),
                "open": state.is_open,
                "state": state.state,
                "change": change_text(state, at, lang, has_hours=bool(expr)),
                "ch": state_changes(expr, at, where),
            }
        out.append(
            {
                "type": "Feature",
                "id": row["id"],
                "geometry": {"type": "Point", "coordinates": shown[i]},
                "properties": {
                    "name": row["name"],
                    "address": row["address"] or "",
                    **said,
                    "am": [index[code] for code in row["amenities"] or () if code in index],
                    "nav": nav[i],
                },
            }
        )
    return out


def state_changes(expr: str, at: dt.datetime, where: hours.Where) -> list[list[Any]]:
    """``[[seconds after at, "o"|"c"|"u"], ...]``: the hours' states for ``OFFLINE_AHEAD``.

    The page's service worker judges "open", "closing soon" and "open for the break" from
    these when the phone has lost its signal, the same way the server does, with no hours
    parser in the browser. The first entry is the state at ``at`` (0 s).
    """
    return [
        [int((instant - at).total_seconds()), _STATE_CODES[state]]
        for instant, state in hours.timeline(expr, at, OFFLINE_AHEAD, where)
    ]


_STATE_CODES = {"open": "o", "closed": "c", "unknown": "u"}


# --- text -------------------------------------------------------------------------------


def change_text(availability: Availability, at: dt.datetime, lang: str, *, has_hours: bool) -> str:
    """When the state next changes, and to what, in words relative to ``at`` (Beijing time).

    "closes today 20:00", "opens Mon 08:00", "opens 8 Oct 08:00", "hours unknown from
    today 12:00"; a station that never changes within a year is "open 24/7" or "not
    opening soon".
    """
    is_open, change = availability.is_open, availability.next_change
    text = TEXT[lang]
    if change is None:
        if not has_hours:
            return text["hours_unknown"]
        return text["always_open"] if is_open else text["not_opening"]
    local = change.astimezone(hours.SHANGHAI)
    days = (local.date() - at.astimezone(hours.SHANGHAI).date()).days
    if days == 0:
        when = text["today"]
    elif days == 1:
        when = text["tomorrow"]
    elif days < 7:
        when = text["weekdays"][local.weekday()]
    else:
        months = text.get("months") or [""] * 12
        when = text["date"].format(
            month=local.month, day=local.day, month_name=months[local.month - 1]
        )
    when += local.strftime("%H:%M")
    following = availability.next_state
    if following == "unknown":
        key = "unknown_from"
    elif following == "open":
        key = "opens"
    elif is_open:
        key = "closes"
    else:
        key = "closed_from"  # unknown until a time, then closed
    return text[key].format(when=when)
