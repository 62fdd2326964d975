"""The OpenAPI 3.1 document served at ``/api/v1/openapi.json``.

Written as data next to the routes it describes; tests keep it truthful: every API route
is documented with exactly the parameters the route accepts, the document validates
against the OpenAPI schema, and real responses validate against its schemas.
"""

from __future__ import annotations

from typing import Any

from geo.datums import CRS_NAMES
from stations import vocabulary
from stations.records import CHINA_LAT, CHINA_LON, FIELDS
from stations.schema import stations as stations_table
from web import openapi_features as features


def _param(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict:
    return {"name": name, "in": "query", "schema": schema, "description": description, **extra}


def _lang() -> dict:
    return _param(
        "lang", {"type": "string", "enum": ["zh", "en"], "default": "zh"}, "Label language."
    )


def _amenities_param() -> dict:
    codes = ", ".join(vocabulary.terms("amenities"))
    return _param(
        "amenities",
        {"type": "string"},
        f"Comma list of amenity codes, all required ({codes}).",
    )


_PROBLEM_REF = "#/components/schemas/Problem"


def _problem_responses(*statuses: int) -> dict[str, Any]:
    text = {
        400: "A parameter is missing or bad; `param` names it.",
        401: "No token, or an unknown or revoked one (`WWW-Authenticate: Bearer`).",
        403: "The token lacks the role this needs.",
        404: "No such station or programme.",
        409: "A station with this code exists (`detail` names its id).",
        412: "`If-Match` is not the stored version: somebody changed it first; reload.",
        413: "The body is larger than the configured limit (STATIONS_MAX_BODY_MB).",
        415: "The body is not of a media type this accepts.",
        422: "The values fail the registry's checks; `errors` or `rows` says each one.",
        428: "`If-Match` is missing: send the ETag of your last GET (or `*`).",
        429: "Too many calls from this address; retry after `Retry-After` seconds.",
        503: "The database is unreachable; retry after `Retry-After` seconds.",
    }
    return {
        str(s): {
            "description": text[s],
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
        for s in statuses
    }


def _geojson(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/geo+json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


_JSON_TYPES = {
    "string": {"type": "string"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "array": {"type": "array", "items": {"type": "string"}},
}
# what a field's JSON type does not say (the rest comes from stations.schema)
_FIELD_NOTES: dict[str, dict[str, Any]] = {
    "code": {"description": "1-40 letters, digits, '-', '_' or '.'."},
    "district_code": {
        "description": "6-digit county code; left out, the county holding the point."
    },
    "lon": {"minimum": CHINA_LON[0], "maximum": CHINA_LON[1]},
    "lat": {"minimum": CHINA_LAT[0], "maximum": CHINA_LAT[1]},
    "opening_hours": {"description": "OpenStreetMap opening_hours; null: not published."},
    "floor_area_m2": {"exclusiveMinimum": 0, "maximum": 100000},
    "opened_on": {"format": "date"},
    "status": {"enum": list(vocabulary.terms("statuses"))},
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    out = {**schema, "type": [schema["type"], "null"]}
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _stored_fields() -> dict[str, Any]:
    """A station's stored fields as an answer gives them: null where the column allows."""
    out = {}
    for field in FIELDS:
        if field.name in ("lon", "lat"):
            continue
        plain = {**_JSON_TYPES[field.json_type], **_FIELD_NOTES.get(field.name, {})}
        for bound in ("exclusiveMinimum", "maximum"):  # answers show what was stored
            plain.pop(bound, None)
        out[field.name] = _nullable(plain) if stations_table.c[field.name].nullable else plain
    return out


def _edited_fields() -> dict[str, Any]:
    """The fields an edit sends: null clears any that a new station need not give."""
    out = {}
    for field in FIELDS:
        plain = {**_JSON_TYPES[field.json_type], **_FIELD_NOTES.get(field.name, {})}
        out[field.name] = plain if field.required else _nullable(plain)
    return out


_AT = {"type": "string", "format": "date-time"}
_DISTRICT = {
    "type": "object",
    "required": ["code", "name"],
    "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
}
_INTEGER_OR_NULL = {"type": ["integer", "null"]}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_STRING_OR_NULL = {"type": ["string", "null"]}
_BOOL_OR_NULL = {"type": ["boolean", "null"]}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "param": {"type": "string", "description": "The parameter at fault."},
        },
    },
    "Amenity": {
        "type": "object",
        "required": ["code", "label"],
        "properties": {"code": {"type": "string"}, "label": {"type": "string"}},
    },
    "StationProperties": {
        "type": "object",
        "required": [
            "id",
            "code",
            "name",
            "address",
            "district",
            "opening_hours",
            "opening_hours_text",
            "amenities",
            "open",
            "state",
            "next_change",
            "closes_in_min",
            "opens_in_min",
        ],
        "properties": {
            "id": {"type": "integer"},
            **_stored_fields(),
            "district": _DISTRICT,
            "amenities": {"type": "array", "items": {"$ref": "#/components/schemas/Amenity"}},
            "opening_hours_text": {
                "type": "string",
                "description": "The hours in words, in the language asked for.",
            },
            "open": {
                "type": "boolean",
                "description": "Open at the instant asked (or now): state open or closing_soon.",
            },
            "state": {
                "type": "string",
                "enum": ["open", "closing_soon", "closed", "unknown", "suspended"],
                "description": "closing_soon: closes within STATIONS_CLOSING_SOON_MIN minutes; "
                "unknown: no published hours, or only a comment or an open end.",
            },
            "next_change": {
                **_STRING_OR_NULL,
                "format": "date-time",
                "description": "When the state next changes; null: not within a year.",
            },
            "closes_in_min": {
                **_INTEGER_OR_NULL,
                "description": "Open: whole minutes until it closes; null: not closing.",
            },
            "opens_in_min": {
                **_INTEGER_OR_NULL,
                "description": "Closed or unknown: minutes until it opens; null: not opening.",
            },
            "version": {"type": "integer"},
            "updated_at": {"type": "string", "format": "date-time"},
            "distance_m": {"type": "number", "description": "Geodesic metres (nearest only)."},
            "position": {
                "type": "object",
                "required": ["crs", "lon", "lat"],
                "properties": {
                    "crs": {"enum": ["gcj02", "bd09"]},
                    "lon": {"type": "number"},
                    "lat": {"type": "number"},
                },
                "description": "The position in the datum asked for (nearest with crs gcj02 "
                "or bd09), for Amap's or Baidu's maps; the geometry stays WGS-84.",
            },
        },
    },
    "Point": {
        "type": "object",
        "required": ["type", "coordinates"],
        "properties": {
            "type": {"const": "Point"},
            "coordinates": {
                "type": "array",
                "items": {"type": "number"},
                "minItems": 2,
                "maxItems": 2,
                "description": "lon, lat (WGS-84, always: RFC 7946).",
            },
        },
    },
    "Station": {
        "type": "object",
        "required": ["type", "id", "geometry", "properties"],
        "properties": {
            "type": {"const": "Feature"},
            "id": {"type": "integer"},
            "geometry": {"$ref": "#/components/schemas/Point"},
            "properties": {"$ref": "#/components/schemas/StationProperties"},
        },
    },
    "StationPage": {
        "type": "object",
        "required": ["type", "numberMatched", "numberReturned", "links", "features"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "numberMatched": {"type": "integer"},
            "numberReturned": {"type": "integer"},
            "timeStamp": _AT,
            "state_at": {**_AT, "description": "The instant the stations' states are for."},
            "links": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["rel", "href"],
                    "properties": {
                        "rel": {"enum": ["self", "next", "prev"]},
                        "type": {"type": "string"},
                        "href": {"type": "string"},
                    },
                },
            },
            "features": {"type": "array", "items": {"$ref": "#/components/schemas/Station"}},
        },
    },
    "NearestStations": {
        "type": "object",
        "required": ["type", "at", "numberReturned", "features"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "at": _AT,
            "numberReturned": {"type": "integer"},
            "features": {"type": "array", "items": {"$ref": "#/components/schemas/Station"}},
        },
    },
    "MapStations": {
        "type": "object",
        "required": ["type", "at", "cells", "numberMatched", "features"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "at": {"type": "string", "format": "date-time"},
            "cells": {
                "type": "boolean",
                "description": "true: too many stations in view; features are grid cells "
                "with a `count` each, not stations.",
            },
            "numberMatched": {"type": "integer", "minimum": 0},
            "features": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "geometry", "properties"],
                    "properties": {
                        "type": {"const": "Feature"},
                        "id": {"type": "integer"},
                        "geometry": {"$ref": "#/components/schemas/Point"},
                        "properties": {
                            "type": "object",
                            "description": "A station: name, address, hours, text, open, "
                            "state, change (words), am (amenity indexes), nav ([gcj_lon, "
                            "gcj_lat, bd_lon, bd_lat]; the first two are where to draw it "
                            "on GCJ-02 tiles). A cell: count, and pos ([gcj_lon, gcj_lat]) "
                            "with crs=gcj02.",
                        },
                    },
                },
            },
        },
    },
    "Amenities": {
        "type": "object",
        "required": ["amenities"],
        "properties": {
            "amenities": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["code", "zh", "en"],
                    "properties": {
                        "code": {"type": "string"},
                        "zh": {"type": "string"},
                        "en": {"type": "string"},
                    },
                },
            }
        },
    },
    "SearchResults": {
        "type": "object",
        "required": ["q", "crs", "districts", "stations"],
        "properties": {
            "q": {"type": "string"},
            "crs": {"enum": list(CRS_NAMES)},
            "districts": {
                "type": "array",
                "description": "Up to 5 districts whose name holds `q`; an exact name first.",
                "items": {
                    "type": "object",
                    "required": ["code", "name", "level", "stations", "bbox"],
                    "properties": {
                        "code": {"type": "string"},
                        "name": {"type": "string"},
                        "level": {"enum": ["province", "city", "county"]},
                        "stations": {"type": "integer", "minimum": 0},
                        "bbox": {
                            "type": "array",
                            "items": {"type": "number"},
                            "minItems": 4,
                            "maxItems": 4,
                            "description": "min_lon, min_lat, max_lon, max_lat in `crs`.",
                        },
                    },
                },
            },
            "stations": {
                "type": "array",
                "description": "Active stations: substring matches of the name, then the "
                "address, then the district; then near misses (typos); each nearest "
                "`near` first.",
                "items": {
                    "type": "object",
                    "required": [
                        "id",
                        "code",
                        "name",
                        "address",
                        "district",
                        "matched",
                        "position",
                    ],
                    "properties": {
                        "id": {"type": "integer"},
                        "code": {"type": "string"},
                        "name": {"type": "string"},
                        "address": _STRING_OR_NULL,
                        "district": _DISTRICT,
                        "matched": {"enum": ["name", "address", "district", "similar"]},
                        "position": {
                            "type": "array",
                            "items": {"type": "number"},
                            "minItems": 2,
                            "maxItems": 2,
                            "description": "lon, lat in `crs`.",
                        },
                    },
                },
            },
        },
    },
}


_GEOMETRY = {
    "type": "object",
    "required": ["type", "coordinates"],
    "properties": {"type": {"enum": ["Polygon", "MultiPolygon"]}, "coordinates": {}},
    "description": "A GeoJSON Polygon or MultiPolygon in lon/lat.",
}
_FEATURES = {"type": "object", "required": ["type", "features"]}
_RATIO = {"type": "number", "minimum": 0, "maximum": 1}


def _area_request(**extra: Any) -> dict[str, Any]:
    """A planner request body: exactly one area member, the common options, ``extra``."""
    return {
        "type": "object",
        "additionalProperties": False,
        "description": "Give exactly one of district, bbox or geometry.",
        "properties": {
            "district": {"type": "string", "description": "Admin code (140105) or name."},
            "bbox": {
                "type": "array",
                "items": {"type": "number"},
                "minItems": 4,
                "maxItems": 4,
                "description": "[min_lon, min_lat, max_lon, max_lat] in WGS-84 degrees.",
            },
            "geometry": _GEOMETRY,
            "radius_m": {
                "type": "number",
                "minimum": 1,
                "maximum": 50000,
                "default": 1000,
                "description": "Service radius (for access: the catchment) in metres.",
            },
            "amenities": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Amenity codes every counted station must have.",
            },
            **extra,
        },
    }


_AT_MEMBER = {"at": {**_AT, "description": "Only stations open then (no offset: Beijing)."}}

PLANNER_SCHEMAS: dict[str, Any] = {
    "GapsRequest": _area_request(**_AT_MEMBER),
    "HourlyRequest": {
        **_area_request(date={"type": "string", "format": "date"}),
        "required": ["date"],
    },
    "SuggestRequest": {
        **_area_request(
            **_AT_MEMBER,
            count={"type": "integer", "minimum": 1, "maximum": 1000},
            candidates={**_FEATURES, "description": "FeatureCollection of candidate Points."},
        ),
        "required": ["count"],
    },
    "AccessRequest": _area_request(**_AT_MEMBER),
    "GapReport": {
        "type": "object",
        "required": [
            "area_km2",
            "covered_km2",
            "gap_km2",
            "coverage_ratio",
            "demand_total",
            "demand_covered",
            "demand_coverage_ratio",
            "stations_counted",
            "gaps",
        ],
        "properties": {
            "area": {"type": "string"},
            "radius_m": {"type": "number"},
            "area_km2": {"type": "number"},
            "covered_km2": {"type": "number"},
            "gap_km2": {"type": "number"},
            "coverage_ratio": _RATIO,
            "demand_total": {"type": "number"},
            "demand_covered": {"type": "number"},
            "demand_coverage_ratio": _RATIO,
            "stations_counted": {"type": "integer"},
            "gaps": {
                **_FEATURES,
                "description": "Uncovered pieces, most demand first; each feature's properties "
                "carry rank, area_km2, demand and point (lon, lat inside the piece).",
            },
        },
    },
    "HourlyProfile": {
        "type": "object",
        "required": ["hours"],
        "properties": {
            "area": {"type": "string"},
            "date": {"type": "string", "format": "date"},
            "hours": {
                "type": "array",
                "minItems": 24,
                "maxItems": 24,
                "items": {
                    "type": "object",
                    "required": [
                        "hour",
                        "coverage_ratio",
                        "demand_coverage_ratio",
                        "stations_open",
                    ],
                    "properties": {
                        "hour": {"type": "integer", "minimum": 0, "maximum": 23},
                        "coverage_ratio": _RATIO,
                        "demand_coverage_ratio": _RATIO,
                        "stations_open": {"type": "integer"},
                    },
                },
            },
        },
    },
    "Suggestions": {
        "type": "object",
        "required": ["sites", "demand_total", "demand_covered_before", "demand_covered_after"],
        "properties": {
            "area": {"type": "string"},
            "radius_m": {"type": "number"},
            "requested": {"type": "integer"},
            "candidates": {"type": "integer"},
            "demand_total": {"type": "number"},
            "demand_covered_before": {"type": "number"},
            "demand_covered_after": {"type": "number"},
            "sites": {
                **_FEATURES,
                "description": "Points best first; properties rank, demand_newly_covered, "
                "cumulative_demand_covered, cumulative_demand_coverage_ratio. Fewer than "
                "asked when nothing more can be covered.",
            },
        },
    },
    "AccessScores": {
        **_FEATURES,
        "description": "County-level districts with properties code, name, score (stations "
        "per 1,000 weighted outdoor workers, 2SFCA), demand, demand_with_access_ratio, "
        "stations.",
    },
}
SCHEMAS.update(PLANNER_SCHEMAS)

_REASON = {
    "type": "object",
    "required": ["criterion", "required", "actual", "passed"],
    "properties": {
        "criterion": {"type": "string"},
        "label": {"type": "string"},
        "required": {"type": "string"},
        "actual": {"type": "string"},
        "passed": {"type": "boolean"},
        "message": {"type": "string", "description": "Why it failed, in words."},
    },
}
_GROUP_TOTALS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "stations", "eligible", "amount_cny"],
        "properties": {
            "code": {"type": "string"},
            "name": {"type": "string"},
            "stations": {"type": "integer"},
            "eligible": {"type": "integer"},
            "amount_cny": {"type": "number"},
        },
    },
}
UNION_SCHEMAS: dict[str, Any] = {
    "Programmes": {
        "type": "object",
        "required": ["programmes"],
        "properties": {
            "programmes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "amount_cny", "accrual", "period", "criteria"],
                    "description": "A programme file as parsed, with its file name and SHA-256.",
                },
            }
        },
    },
    "SubsidyReport": {
        "type": "object",
        "required": [
            "programme",
            "period",
            "programme_sha256",
            "snapshot_at",
            "totals",
            "stations",
        ],
        "properties": {
            "programme": {"type": "string"},
            "programme_name": {"type": "string"},
            "period": {"type": "string"},
            "programme_sha256": {"type": "string"},
            "snapshot_at": _STRING_OR_NULL,
            "totals": {
                "type": "object",
                "required": ["stations", "eligible", "amount_cny"],
                "properties": {
                    "stations": {"type": "integer"},
                    "eligible": {"type": "integer"},
                    "amount_cny": {"type": "number"},
                    "cap": {"type": "object"},
                    "budget_used_cny": {"type": "number"},
                    "by_city": _GROUP_TOTALS,
                    "by_district": _GROUP_TOTALS,
                },
            },
            "stations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "code", "name", "eligible", "amount_cny", "reasons"],
                    "properties": {
                        "id": {"type": "integer"},
                        "code": {"type": "string"},
                        "name": {"type": "string"},
                        "district_code": {"type": "string"},
                        "district_name": {"type": "string"},
                        "eligible": {"type": "boolean"},
                        "amount_cny": {"type": "number"},
                        "place": {"type": ["integer", "null"]},
                        "reasons": {"type": "array", "items": _REASON},
                    },
                },
            },
        },
    },
    "WhatIfRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["programme", "period"],
        "description": "Give exactly one of overrides or programme_toml.",
        "properties": {
            "programme": {"type": "string"},
            "period": {"type": "string", "description": "YYYY, YYYY-MM or YYYY-MM..YYYY-MM."},
            "overrides": {
                "type": "object",
                "description": "Dotted keys into the programme file, criteria by id: "
                '{"criteria.floor_area.threshold": 10, "cap.count": 250}.',
            },
            "programme_toml": {"type": "string", "description": "A changed programme file."},
        },
    },
    "WhatIf": {
        "type": "object",
        "required": [
            "eligible_before",
            "eligible_after",
            "budget_change_cny",
            "newly_eligible",
            "newly_ineligible",
        ],
        "properties": {
            "eligible_before": {"type": "integer"},
            "eligible_after": {"type": "integer"},
            "amount_before_cny": {"type": "number"},
            "amount_after_cny": {"type": "number"},
            "budget_change_cny": {"type": "number"},
            "newly_eligible": {"type": "array", "items": {"type": "object"}},
            "newly_ineligible": {"type": "array", "items": {"type": "object"}},
            "amount_changed": {"type": "array", "items": {"type": "object"}},
        },
    },
    "History": {
        "type": "object",
        "required": ["id", "code", "history"],
        "properties": {
            "id": {"type": "integer"},
            "code": {"type": "string"},
            "history": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["version", "action", "changed_at", "changed_by", "changes"],
                    "properties": {
                        "version": {"type": "integer"},
                        "action": {"enum": ["create", "update", "delete"]},
                        "changed_at": _AT,
                        "changed_by": {"type": "string"},
                        "changes": {
                            "type": "object",
                            "description": "field -> {before, after}, for fields that changed.",
                        },
                    },
                },
            },
        },
    },
}
SCHEMAS.update(UNION_SCHEMAS)
_SECURITY = [{"token": []}, {"session": []}]


def _json_response(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _union_paths() -> dict[str, Any]:
    return {
        "/subsidy/programmes": {
            "get": {
                "summary": "Subsidy programmes and their rules (union)",
                "operationId": "subsidyProgrammes",
                "security": _SECURITY,
                "responses": {
                    "200": _json_response("Programmes", "Every programme."),
                    **_problem_responses(400, 401, 403, 503),
                },
            }
        },
        "/subsidy/report": {
            "get": {
                "summary": "Per-station verdicts, amounts and reasons, with totals (union)",
                "operationId": "subsidyReport",
                "security": _SECURITY,
                "parameters": [
                    _param("programme", {"type": "string"}, "Programme id.", required=True),
                    _param(
                        "period",
                        {"type": "string"},
                        "YYYY, YYYY-MM or YYYY-MM..YYYY-MM.",
                        required=True,
                    ),
                    _param(
                        "format",
                        {"type": "string", "enum": ["json", "csv", "xlsx"], "default": "json"},
                        "JSON, or CSV/XLSX with Chinese headers for a finance office.",
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "The report; byte-identical for the same inputs.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/SubsidyReport"}
                            },
                            "text/csv": {"schema": {"type": "string"}},
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                                "schema": {"type": "string", "format": "binary"}
                            },
                        },
                    },
                    **_problem_responses(400, 401, 403, 404, 503),
                },
            }
        },
        "/subsidy/what-if": {
            "post": {
                "summary": "The report's difference under changed rules (union)",
                "operationId": "subsidyWhatIf",
                "security": _SECURITY,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/WhatIfRequest"}
                        }
                    },
                },
                "responses": {
                    "200": _json_response("WhatIf", "Newly (in)eligible stations, budget change."),
                    **_problem_responses(400, 401, 403, 404, 415, 503),
                },
            }
        },
        "/stations/{id}/history": {
            "get": {
                "summary": "Every change to a station (union, editor)",
                "operationId": "stationHistory",
                "security": _SECURITY,
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1},
                    }
                ],
                "responses": {
                    "200": _json_response("History", "Oldest first."),
                    **_problem_responses(400, 401, 403, 404, 503),
                },
            }
        },
    }


def _planner_op(summary: str, op_id: str, request: str, response: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "operationId": op_id,
            "security": [{"token": []}, {"session": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{request}"}}
                },
            },
            "responses": {
                "200": {
                    "description": summary,
                    "content": {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{response}"}}
                    },
                },
                **_problem_responses(400, 401, 403, 415, 503),
            },
        }
    }


def _planner_paths() -> dict[str, Any]:
    return {
        "/coverage/gaps": _planner_op(
            "Coverage gaps of an area (planner)", "coverageGaps", "GapsRequest", "GapReport"
        ),
        "/coverage/hourly": _planner_op(
            "Coverage at each hour of a day (planner)",
            "coverageHourly",
            "HourlyRequest",
            "HourlyProfile",
        ),
        "/coverage/suggest": _planner_op(
            "Sites for new stations, best first (planner)",
            "coverageSuggest",
            "SuggestRequest",
            "Suggestions",
        ),
        "/coverage/access": _planner_op(
            "2SFCA accessibility per county-level district (planner)",
            "coverageAccess",
            "AccessRequest",
            "AccessScores",
        ),
    }


def _open_for_param(instant: str) -> dict[str, Any]:
    return _param(
        "open_for_min",
        {"type": "integer", "minimum": 0, "maximum": 1440, "default": 0},
        f"Only stations open at `{instant}` that stay open at least this many more minutes "
        "(a break), overnight spans and holidays included.",
    )


def _paths() -> dict[str, Any]:
    bbox = _param("bbox", {"type": "string"}, "min_lon,min_lat,max_lon,max_lat in WGS-84 degrees.")
    return {
        "/stations": {
            "get": {
                "summary": "A page of stations",
                "operationId": "listStations",
                "parameters": [
                    bbox,
                    _param(
                        "district",
                        {"type": "string", "maxLength": 100},
                        "Admin code or name of a county, city or the province.",
                    ),
                    _amenities_param(),
                    _param(
                        "open_at",
                        _AT,
                        "Only active stations open at this instant (no offset: Asia/Shanghai).",
                    ),
                    _open_for_param("open_at"),
                    _param(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                        "Page size.",
                    ),
                    _param(
                        "offset",
                        {"type": "integer", "minimum": 0, "default": 0},
                        "Stations to skip.",
                    ),
                    _lang(),
                ],
                "responses": {
                    "200": _geojson("StationPage", "Stations in id order."),
                    **_problem_responses(400, 503),
                },
            }
        },
        "/stations/nearest": {
            "get": {
                "summary": "The nearest stations, by default only those open now",
                "operationId": "nearestStations",
                "parameters": [
                    _param(
                        "lat",
                        {"type": "number", "minimum": -90, "maximum": 90},
                        "Latitude.",
                        required=True,
                    ),
                    _param(
                        "lon",
                        {"type": "number", "minimum": -180, "maximum": 180},
                        "Longitude.",
                        required=True,
                    ),
                    _param(
                        "crs",
                        {"type": "string", "enum": list(CRS_NAMES), "default": "wgs84"},
                        "Datum of lat/lon: gcj02 for Amap/WeChat, bd09 for Baidu. The answer's "
                        "geometry stays WGS-84; each station's `position` property is in it.",
                    ),
                    _param("at", _AT, "Instant (default now; no offset: Asia/Shanghai)."),
                    _param(
                        "open",
                        {"type": "boolean", "default": True},
                        "Only stations open at `at` (open or closing_soon; never unknown).",
                    ),
                    _open_for_param("at"),
                    _amenities_param(),
                    _param(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
                        "How many.",
                    ),
                    _param(
                        "within_m",
                        {"type": "number", "minimum": 1, "maximum": 50000, "default": 5000},
                        "Search radius in metres.",
                    ),
                    _lang(),
                ],
                "responses": {
                    "200": _geojson("NearestStations", "Nearest first."),
                    **_problem_responses(400, 503),
                },
            }
        },
        "/stations/{id}": {
            "get": {
                "summary": "One station",
                "operationId": "getStation",
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1},
                    },
                    _lang(),
                ],
                "responses": {
                    "200": _geojson("Station", "The station."),
                    **_problem_responses(400, 404, 503),
                },
            }
        },
        "/map/stations": {
            "get": {
                "summary": "The public map's active stations in a view, or counts per cell",
                "operationId": "mapStations",
                "parameters": [
                    _param(
                        "bbox",
                        {"type": "string"},
                        "The view: min_lon,min_lat,max_lon,max_lat (in `crs`).",
                        required=True,
                    ),
                    _param(
                        "crs",
                        {"type": "string", "enum": ["wgs84", "gcj02"], "default": "wgs84"},
                        "Datum of the view's box: gcj02 on Amap tiles (geometry stays WGS-84).",
                    ),
                    _param("at", _AT, "Instant of the states (default now)."),
                    _lang(),
                ],
                "responses": {
                    "200": _geojson("MapStations", "Stations in id order, or grid cells."),
                    **_problem_responses(400, 503),
                },
            }
        },
        "/search": {
            "get": {
                "summary": "Stations and districts by name, address or district",
                "operationId": "search",
                "parameters": [
                    _param(
                        "q",
                        {"type": "string", "minLength": 1, "maxLength": 50},
                        "Part of a station's name, address or district (e.g. 小店, 五一路).",
                        required=True,
                    ),
                    _param(
                        "near",
                        {"type": "string"},
                        "lon,lat (in `crs`): stations nearer come first, e.g. the map's centre.",
                    ),
                    _param(
                        "crs",
                        {"type": "string", "enum": list(CRS_NAMES), "default": "wgs84"},
                        "Datum of `near` and of the answer's positions.",
                    ),
                    _param(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 20, "default": 10},
                        "At most this many stations.",
                    ),
                    _lang(),
                ],
                "responses": {
                    "200": _json_response("SearchResults", "Matching districts and stations."),
                    **_problem_responses(400, 503),
                },
            }
        },
        "/amenities": {
            "get": {
                "summary": "The amenity vocabulary",
                "operationId": "listAmenities",
                "responses": {
                    "200": {
                        "description": "Codes with Chinese and English labels.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Amenities"}
                            }
                        },
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


_STATION_FIELDS = _edited_fields()
EDITOR_SCHEMAS: dict[str, Any] = {
    "StationFields": {
        "type": "object",
        "properties": _STATION_FIELDS,
        "additionalProperties": False,
        "description": "Station fields; in a PATCH, null clears an optional one.",
    },
    "NewStation": {
        "description": "Flat fields, or a GeoJSON Feature with a Point and the fields as "
        "properties.",
        "oneOf": [
            {
                "$ref": "#/components/schemas/StationFields",
                "required": ["code", "name", "lon", "lat", "host_type", "built_by", "level"],
            },
            {
                "type": "object",
                "required": ["type", "geometry", "properties"],
                "additionalProperties": False,
                "properties": {
                    "type": {"const": "Feature"},
                    "geometry": {"$ref": "#/components/schemas/Point"},
                    "properties": {"$ref": "#/components/schemas/StationFields"},
                },
            },
        ],
    },
    "ImportResult": {
        "type": "object",
        "required": ["file", "rows", "inserted", "updated", "unchanged", "dry_run"],
        "properties": {
            "file": {"type": "string"},
            "rows": {"type": "integer"},
            "inserted": {"type": "integer"},
            "updated": {"type": "integer"},
            "unchanged": {"type": "integer"},
            "dry_run": {"type": "boolean"},
        },
    },
}
SCHEMAS.update(EDITOR_SCHEMAS)
_ETAG = {
    "ETag": {
        "description": "The stored version, for If-Match on the next write.",
        "schema": {"type": "string"},
    }
}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": True,
    "schema": {"type": "string"},
    "description": "The ETag of your last GET, or * to overwrite whatever is stored.",
}
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _station_written(status: str, description: str) -> dict[str, Any]:
    return {status: {**_geojson("Station", description), "headers": _ETAG}}


def _editor_paths() -> dict[str, Any]:
    new_station = {"schema": {"$ref": "#/components/schemas/NewStation"}}
    fields = {"schema": {"$ref": "#/components/schemas/StationFields"}}
    return {
        "/stations": {
            "post": {
                "summary": "Add a station (editor)",
                "operationId": "createStation",
                "security": _SECURITY,
                "parameters": [_lang()],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": new_station,
                        "application/geo+json": new_station,
                    },
                },
                "responses": {
                    **_station_written("201", "Created; Location names it."),
                    **_problem_responses(400, 401, 403, 409, 413, 415, 422, 503),
                },
            }
        },
        "/stations/{id}": {
            "patch": {
                "summary": "Change a station's fields (editor; JSON merge patch)",
                "operationId": "patchStation",
                "security": _SECURITY,
                "parameters": [_ID, _IF_MATCH, _lang()],
                "requestBody": {
                    "required": True,
                    "content": {"application/merge-patch+json": fields, "application/json": fields},
                },
                "responses": {
                    **_station_written("200", "The station as stored now."),
                    **_problem_responses(400, 401, 403, 404, 412, 413, 415, 422, 428, 503),
                },
            },
            "delete": {
                "summary": "Close a station; its record and history stay (editor)",
                "operationId": "closeStation",
                "security": _SECURITY,
                "parameters": [_ID, _IF_MATCH, _lang()],
                "responses": {
                    **_station_written("200", "The station, closed."),
                    **_problem_responses(400, 401, 403, 404, 412, 422, 428, 503),
                },
            },
        },
        "/stations/import": {
            "post": {
                "summary": "Import a CSV, GeoJSON or XLSX file: every row or none (editor)",
                "operationId": "importStations",
                "security": _SECURITY,
                "parameters": [
                    {**_IF_MATCH, "description": "The ETag of GET /stations, or *."},
                    _param(
                        "dry_run",
                        {"type": "boolean", "default": False},
                        "Check and count, change nothing.",
                    ),
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {"file": {"type": "string", "format": "binary"}},
                            }
                        },
                        "text/csv": {"schema": {"type": "string"}},
                        "application/geo+json": {"schema": {"type": "object"}},
                        _XLSX: {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                "responses": {
                    "200": {
                        **_json_response("ImportResult", "What the import did."),
                        "headers": {
                            "ETag": {
                                "description": "The registry's version after the import.",
                                "schema": {"type": "string"},
                            }
                        },
                    },
                    **_problem_responses(400, 401, 403, 412, 413, 415, 422, 428, 503),
                },
            }
        },
    }


def _with_rate_limits(paths: dict[str, Any]) -> dict[str, Any]:
    """Every operation but the document itself may answer 429 (see web.ratelimit)."""
    for path, operations in paths.items():
        if path != "/openapi.json":
            for operation in operations.values():
                operation["responses"].update(_problem_responses(429))
    return paths


def _merged(*groups: dict[str, Any]) -> dict[str, Any]:
    """Path items from each group, operations of one path joined."""
    paths: dict[str, Any] = {}
    for group in groups:
        for path, operations in group.items():
            paths.setdefault(path, {}).update(operations)
    return paths


def build_spec() -> dict[str, Any]:
    """The whole document (paths relative to the ``/api/v1`` server)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Rest stations for outdoor workers (户外劳动者爱心驿站)",
            "version": "1",
            "description": "Errors are application/problem+json (RFC 9457). Coordinates are "
            "GeoJSON lon, lat.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": _with_rate_limits(
            _merged(_paths(), _editor_paths(), _planner_paths(), _union_paths(), features.paths())
        ),
        "components": {
            "schemas": {**SCHEMAS, **features.SCHEMAS},
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `stations token create --role ROLE`.",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "stations_session",
                    "description": "The planner map's session, from signing in at /planner.",
                },
            },
        },
    }
