"""The OGC API – Features part of the OpenAPI document (web/features_api.py).

GDAL reads the ``limit`` parameter's ``default`` and ``maximum`` here to size its pages,
so they are the ones the items endpoint applies.
"""

from __future__ import annotations

from typing import Any

from stations import settings

_JSON = "application/json"
_GEOJSON = "application/geo+json"
_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


_LANG = _query("lang", {"type": "string", "enum": ["zh", "en"], "default": "zh"}, "Label language.")
_F = _query("f", {"type": "string", "enum": ["json", "geojson"]}, "Format; only JSON is served.")
_COLLECTION = {
    "name": "collectionId",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "enum": ["stations", "districts"]},
}
_FEATURE = {"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"}}


def _ok(content_type: str, ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {content_type: {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _problems(*statuses: int) -> dict[str, Any]:
    text = {400: "A parameter is bad; `param` names it.", 404: "No such collection or feature."}
    return {str(s): {"description": text[s], "content": _PROBLEM} for s in statuses}


def _get(summary: str, op_id: str, params: list[dict], ok: dict, *errors: int) -> dict:
    return {
        "get": {
            "summary": summary,
            "operationId": op_id,
            "tags": ["OGC API – Features"],
            "parameters": params,
            "responses": {"200": ok, **_problems(*errors)},
        }
    }


def paths() -> dict[str, Any]:
    """Landing page, conformance, collections, items and one item."""
    limit_max = settings.value("STATIONS_PAGE_LIMIT_MAX")
    items_params = [
        _query(
            "bbox",
            {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
            "min_lon,min_lat,max_lon,max_lat (CRS84).",
        ),
        _query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": limit_max, "default": min(100, limit_max)},
            "Page size; a larger one is served at the maximum.",
        ),
        _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "Features to skip."),
        _query("district", {"type": "string"}, "stations: admin code or name (and below)."),
        _query("amenities", {"type": "string"}, "stations: comma list of codes, all required."),
        _query(
            "status",
            {"type": "string", "enum": ["active", "suspended", "closed"]},
            "stations: only this status.",
        ),
        _query(
            "level",
            {"type": "string", "enum": ["province", "city", "county"]},
            "districts: only this level.",
        ),
        _query(
            "filter",
            {"type": "string", "maxLength": 4000},
            "stations: CQL2 text over the queryables, e.g. `status = 'active' AND "
            "floor_area_m2 >= 12 AND S_INTERSECTS(geometry, BBOX(112.4,37.7,112.7,38))`.",
        ),
        _query("filter-lang", {"type": "string", "enum": ["cql2-text"]}, "Filter language."),
        _query(
            "filter-crs",
            {"type": "string", "enum": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]},
            "CRS of geometries in the filter.",
        ),
        _LANG,
        _F,
    ]
    items_params = [{**p, "style": "form", "explode": False} for p in items_params]
    return {
        "/": _get(
            "Landing page", "getLandingPage", [_LANG, _F], _ok(_JSON, "LandingPage", "Links."), 400
        ),
        "/conformance": _get(
            "Conformance classes",
            "getConformance",
            [_LANG, _F],
            _ok(_JSON, "Conformance", "The classes implemented."),
            400,
        ),
        "/collections": _get(
            "Collections",
            "getCollections",
            [_LANG, _F],
            _ok(_JSON, "Collections", "stations and districts."),
            400,
        ),
        "/collections/{collectionId}": _get(
            "One collection",
            "describeCollection",
            [_COLLECTION, _LANG, _F],
            _ok(_JSON, "Collection", "Its extent and links."),
            400,
            404,
        ),
        "/collections/{collectionId}/queryables": _get(
            "Queryable properties",
            "getQueryables",
            [_COLLECTION, _LANG, _F],
            {
                "description": "A JSON Schema of the properties a filter may name.",
                "content": {"application/schema+json": {"schema": {"type": "object"}}},
            },
            400,
            404,
        ),
        "/collections/{collectionId}/items": _get(
            "Features of a collection",
            "getFeatures",
            [_COLLECTION, *items_params],
            _ok(_GEOJSON, "FeaturePage", "A page with next/prev links."),
            400,
            404,
        ),
        "/collections/{collectionId}/items/{featureId}": _get(
            "One feature",
            "getFeature",
            [_COLLECTION, _FEATURE, _LANG, _F],
            _ok(_GEOJSON, "OgcFeature", "A station (by id) or a district (by admin code)."),
            400,
            404,
        ),
    }


_LINK = {
    "type": "object",
    "required": ["href", "rel"],
    "properties": {
        "href": {"type": "string"},
        "rel": {"type": "string"},
        "type": {"type": "string"},
        "title": {"type": "string"},
    },
}
_LINKS = {"type": "array", "items": {"$ref": "#/components/schemas/Link"}}

SCHEMAS: dict[str, Any] = {
    "Link": _LINK,
    "LandingPage": {
        "type": "object",
        "required": ["links"],
        "properties": {
            "title": {"type": "string"},
            "description": {"type": "string"},
            "links": _LINKS,
        },
    },
    "Conformance": {
        "type": "object",
        "required": ["conformsTo"],
        "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}},
    },
    "Collection": {
        "type": "object",
        "required": ["id", "links"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "itemType": {"const": "feature"},
            "crs": {"type": "array", "items": {"type": "string"}},
            "extent": {"type": "object"},
            "links": _LINKS,
        },
    },
    "Collections": {
        "type": "object",
        "required": ["links", "collections"],
        "properties": {
            "links": _LINKS,
            "collections": {"type": "array", "items": {"$ref": "#/components/schemas/Collection"}},
        },
    },
    "OgcFeature": {
        "type": "object",
        "required": ["type", "id", "geometry", "properties"],
        "properties": {
            "type": {"const": "Feature"},
            "id": {"type": ["integer", "string"]},
            "geometry": {"type": "object", "required": ["type", "coordinates"]},
            "properties": {"type": "object"},
            "links": _LINKS,
        },
    },
    "FeaturePage": {
        "type": "object",
        "required": ["type", "features", "links", "numberMatched", "numberReturned"],
        "properties": {
            "type": {"const": "FeatureCollection"},
            "numberMatched": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0},
            "timeStamp": {"type": "string", "format": "date-time"},
            "links": _LINKS,
            "features": {"type": "array", "items": {"$ref": "#/components/schemas/OgcFeature"}},
        },
    },
}
