"""The planner API (v1): gaps and zones, hourly coverage, siting, fewest sites, access.

Every route needs a token (or signed-in session) with the ``planner`` role and takes a
JSON body naming an area (``district``, ``bbox`` or ``geometry``) and the common options
(``web.planning_models``); the domain modules do the work, so the CLI gives the same
answers.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from stations import access, coverage, planning_export, print_map, registry, siting, zones
from stations.coverage import Area
from web import auth
from web.api_models import LangQuery
from web.contract import Ok, operation
from web.planning_models import (
    AccessRequest,
    AccessScores,
    AreaRequest,
    ExportQuery,
    FewestRequest,
    FewestSites,
    GapReport,
    GapsExportQuery,
    GapsRequest,
    HourlyProfile,
    HourlyRequest,
    PrintQuery,
    PrintRequest,
    Suggestions,
    SuggestRequest,
)
from web.pools import get_conn

planning = Blueprint("planning", __name__)
PROBLEMS = (400, 415, 503)


def _area(body: AreaRequest) -> Area:
    return coverage.resolve_area(get_conn(), body.model_dump(include=set(coverage.AREA_KINDS)))


def _files(description: str) -> tuple[Ok, Ok]:
    """The download forms of a planner answer, for the OpenAPI document."""
    return (
        Ok({"type": "object"}, f"{description} as GeoJSON.", media="application/geo+json"),
        Ok({"type": "string"}, f"{description} as CSV, Chinese headers.", media="text/csv"),
    )


def _answer(body: dict[str, Any], layer: str, query: ExportQuery, request: Any) -> Response:
    """The whole answer as JSON, or one layer of it as a GeoJSON or CSV attachment."""
    if query.format == "json":
        return jsonify(body)
    data, media = planning_export.download(body, layer, query.format)
    at = request.at.strftime("%Y-%m-%dT%H:%M") if getattr(request, "at", None) else None
    response = Response(data, content_type=media)
    name = planning_export.file_name(layer, getattr(request, "district", None), at, query.format)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# endpoint= keeps the names url_for knows; the function's name makes the operationId
@planning.post("/gaps", endpoint="gaps")
@auth.require("planner")
@operation(
    "Coverage gaps of an area (planner)",
    {200: (Ok(GapReport, "Coverage gaps of an area (planner)"), *_files("Zones or gap pieces"))},
    query=GapsExportQuery,
    body=GapsRequest,
    problems=PROBLEMS,
)
def coverage_gaps(body: GapsRequest, query: GapsExportQuery) -> Response:
    """Uncovered pieces by county and demand zones, ranked by demand, with totals."""
    report = coverage.gaps(
        get_conn(), _area(body), radius_m=body.radius_m, at=body.at, amenities=body.amenities
    )
    return _answer(zones.report_payload(report), query.layer, query, body)


@planning.post("/print", endpoint="print_map")
@auth.require("planner")
@operation(
    "A printable map of gaps, zones, stations and sites (planner)",
    {
        200: (
            Ok(
                {"type": "string", "format": "binary"}, "A4 landscape PDF.", media="application/pdf"
            ),
            Ok({"type": "string", "format": "binary"}, "PNG, 1754×1240.", media="image/png"),
        )
    },
    query=PrintQuery,
    body=PrintRequest,
    problems=PROBLEMS,
)
def coverage_print(body: PrintRequest, query: PrintQuery) -> Response:
    """The map with title, legend, scale bar, north arrow, date and data stamp."""
    conn = get_conn()
    area = _area(body)
    report = coverage.gaps(conn, area, radius_m=body.radius_m, at=body.at, amenities=body.amenities)
    given = body.sites
    data = print_map.render(
        report,
        zones.find(report),
        query.format,
        title=body.title or f"{area.label.split(' (')[0]} 户外劳动者驿站覆盖",
        at=body.at,
        sites=siting.candidates_from_geojson(given, "sites") if given is not None else (),
        generation=registry.version(conn),
    )
    response = Response(data, mimetype=print_map.MEDIA[query.format])
    at = body.at.strftime("%Y-%m-%dT%H:%M") if body.at else None
    name = planning_export.file_name("map", body.district, at, query.format)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@planning.post("/hourly", endpoint="hourly")
@auth.require("planner")
@operation(
    "Coverage at each hour of a day (planner)",
    {200: Ok(HourlyProfile, "Coverage at each hour of a day (planner)")},
    query=LangQuery,  # lang: the language of errors
    body=HourlyRequest,
    problems=PROBLEMS,
)
def coverage_hourly(body: HourlyRequest, query: LangQuery) -> Response:
    """Coverage ratios by area and by demand at each hour of ``date``."""
    area = _area(body)
    found = coverage.hourly(
        get_conn(), area, body.date, radius_m=body.radius_m, amenities=body.amenities
    )
    return jsonify(coverage.hourly_payload(area, body.date, found))


@planning.post("/suggest", endpoint="suggest")
@auth.require("planner")
@operation(
    "Sites for new stations, best first (planner)",
    {200: (Ok(Suggestions, "Sites for new stations, best first (planner)"), *_files("The sites"))},
    query=ExportQuery,
    body=SuggestRequest,
    problems=PROBLEMS,
)
def coverage_suggest(body: SuggestRequest, query: ExportQuery) -> Response:
    """Up to ``count`` new sites, best first, with the demand each newly covers."""
    count, given = body.count, body.candidates
    result = siting.suggest(
        get_conn(),
        _area(body),
        count=count if isinstance(count, int) else -1,  # siting names what it takes
        radius_m=body.radius_m,
        at=body.at,
        amenities=body.amenities,
        candidates=siting.candidates_from_geojson(given) if given is not None else None,
    )
    return _answer(siting.payload(result, count), "sites", query, body)


@planning.post("/fewest", endpoint="fewest")
@auth.require("planner")
@operation(
    "The fewest new sites for a share of demand (planner)",
    {
        200: (
            Ok(FewestSites, "The fewest new sites for a share of demand (planner)"),
            *_files("The sites"),
        )
    },
    query=ExportQuery,
    body=FewestRequest,
    problems=PROBLEMS,
)
def coverage_fewest(body: FewestRequest, query: ExportQuery) -> Response:
    """The fewest new sites bringing ``target`` of the demand within the radius (LSCP)."""
    given = body.candidates
    result = siting.fewest(
        get_conn(),
        _area(body),
        target=body.target,
        radius_m=body.radius_m,
        at=body.at,
        amenities=body.amenities,
        candidates=siting.candidates_from_geojson(given) if given is not None else None,
        method=body.method,
        time_limit_s=body.time_limit_s,
    )
    return _answer(siting.fewest_payload(result), "sites", query, body)


@planning.post("/access", endpoint="access_scores")
@auth.require("planner")
@operation(
    "2SFCA accessibility per county-level district (planner)",
    {
        200: (
            Ok(AccessScores, "2SFCA accessibility per county-level district (planner)"),
            *_files("The 2SFCA table"),
        )
    },
    query=ExportQuery,
    body=AccessRequest,
    problems=PROBLEMS,
)
def coverage_access(body: AccessRequest, query: ExportQuery) -> Response:
    """2SFCA score per county-level district touching the area, for a choropleth."""
    found = access.by_district(
        get_conn(),
        _area(body),
        catchment_m=body.radius_m,
        at=body.at,
        amenities=body.amenities,
        decay=body.decay,
    )
    return _answer(access.payload(found, body.radius_m, decay=body.decay), "access", query, body)
