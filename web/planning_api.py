"""The planner API (v1): coverage gaps, hourly coverage, siting suggestions, access scores.

Every route needs a token (or signed-in session) with the ``planner`` role and takes a
JSON body naming an area (``district``, ``bbox`` or ``geometry``) and the common options;
the domain modules do the work, so the CLI gives the same answers.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from stations import access, coverage, siting
from stations.coverage import MAX_RADIUS_M, Area
from web import auth, params
from web.pools import get_conn

planning = Blueprint("planning", __name__)
AREA = ("district", "bbox", "geometry")
COMMON = (*AREA, "radius_m", "at", "amenities")
HOURLY = (*AREA, "radius_m", "amenities", "date")
SUGGEST = (*COMMON, "count", "candidates")


def _area(body: dict[str, Any]) -> Area:
    return coverage.resolve_area(get_conn(), body)


def _radius(body: dict[str, Any]) -> float:
    return params.body_number(body, "radius_m", 1, MAX_RADIUS_M, default=1000)


@planning.post("/gaps")
@auth.require("planner")
def gaps() -> Response:
    """Uncovered parts of the area, ranked by demand, with coverage totals."""
    body = params.json_body(COMMON)
    report = coverage.gaps(
        get_conn(),
        _area(body),
        radius_m=_radius(body),
        at=params.body_instant(body, "at"),
        amenities=params.body_amenities(body),
    )
    return jsonify(coverage.payload(report))


@planning.post("/hourly")
@auth.require("planner")
def hourly() -> Response:
    """Coverage ratios by area and by demand at each hour of ``date``."""
    body = params.json_body(HOURLY)
    day = params.body_date(body, "date")
    area = _area(body)
    found = coverage.hourly(
        get_conn(), area, day, radius_m=_radius(body), amenities=params.body_amenities(body)
    )
    return jsonify(coverage.hourly_payload(area, day, found))


@planning.post("/suggest")
@auth.require("planner")
def suggest() -> Response:
    """Up to ``count`` new sites, best first, with the demand each newly covers."""
    body = params.json_body(SUGGEST)
    count = body.get("count")
    given = body.get("candidates")
    result = siting.suggest(
        get_conn(),
        _area(body),
        count=count if isinstance(count, int) else -1,
        radius_m=_radius(body),
        at=params.body_instant(body, "at"),
        amenities=params.body_amenities(body),
        candidates=siting.candidates_from_geojson(given) if given is not None else None,
    )
    return jsonify(siting.payload(result, count))


@planning.post("/access")
@auth.require("planner")
def access_scores() -> Response:
    """2SFCA score per county-level district touching the area, for a choropleth."""
    body = params.json_body(COMMON)
    radius = _radius(body)
    found = access.by_district(
        get_conn(),
        _area(body),
        catchment_m=radius,
        at=params.body_instant(body, "at"),
        amenities=params.body_amenities(body),
    )
    return jsonify(access.payload(found, radius))
