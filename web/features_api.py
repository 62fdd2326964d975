"""OGC API – Features (Part 1: Core, GeoJSON) over the public registry, for GIS tools.

QGIS, GDAL's OAPIF driver and OWSLib find the data from the landing page at ``/api/v1``:
``conformance``, ``collections`` (``stations`` and ``districts``), pages of ``items``
that follow ``next`` links, and single items. It lives beside the rest of v1 so one
OpenAPI document (``service-desc``) describes both; ``/api/v1/stations`` stays as it was.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, request

from stations import cql, districts, hours, registry
from stations.availability import Judge
from stations.errors import NotFound
from web import links
from web.api import geojson_response, one_district, station_feature
from web.contract import GEOJSON, JSON, Ok, operation
from web.database import get_read_conn
from web.features_models import (
    COLLECTION_ID,
    CRS84,
    Collection,
    Collections,
    Conformance,
    FeaturePage,
    FormatQuery,
    ItemsQuery,
    LandingPage,
    OgcFeature,
)

features = Blueprint("features", __name__)

TAGS = ("OGC API – Features",)
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
)
_JSON_SCHEMA_TYPES = {
    "text": {"type": "string"},
    "number": {"type": "number"},
    "date": {"type": "string", "format": "date"},
    "boolean": {"type": "boolean"},
    "geometry": {"format": "geometry-point"},
}
OPENAPI = "application/vnd.oai.openapi+json;version=3.1"

# (title zh, title en, description zh, description en)
COLLECTIONS: dict[str, tuple[str, str, str, str]] = {
    "stations": (
        "户外劳动者服务站点",
        "Rest stations for outdoor workers",
        "工会驿站的位置、开放时间与服务设施（每个驿站一个点）。",
        "Trade-union rest stations: position, opening hours and amenities, one point each.",
    ),
    "districts": (
        "行政区划",
        "Administrative districts",
        "省、市、县（区）边界，站点的 district.code 引用其代码。",
        "Province, city and county boundaries; a station's district.code refers to them.",
    ),
}


def _link(rel: str, type_: str, href: str, title: str | None = None) -> dict[str, str]:
    link = {"rel": rel, "type": type_, "href": href}
    if title:
        link["title"] = title
    return link


@features.get("", strict_slashes=False)
@operation(
    "Landing page",
    {200: Ok(LandingPage, "Links.")},
    query=FormatQuery,
    problems=(400,),
    tags=TAGS,
    operation_id="getLandingPage",
)
def landing(query: FormatQuery) -> Response:
    """The landing page: where the API description, conformance and data are."""
    zh = query.lang == "zh"
    return jsonify(
        {
            "title": "户外劳动者服务站点 API" if zh else "Rest stations API",
            "description": (
                "工会户外劳动者服务站点登记、最近开放站点查询与规划（OGC API – Features）。"
                if zh
                else "Registry of trade-union rest stations, nearest-open search and "
                "planning (OGC API – Features)."
            ),
            "links": [
                _link("self", JSON, links.external("features.landing")),
                _link("service-desc", OPENAPI, links.external("api.openapi"), "OpenAPI"),
                _link("conformance", JSON, links.external("features.conformance")),
                _link("data", JSON, links.external("features.collections")),
            ],
        }
    )


@features.get("/conformance")
@operation(
    "Conformance classes",
    {200: Ok(Conformance, "The classes implemented.")},
    query=FormatQuery,
    problems=(400,),
    tags=TAGS,
    operation_id="getConformance",
)
def conformance(query: FormatQuery) -> Response:
    """The conformance classes this API implements."""
    return jsonify({"conformsTo": list(CONFORMANCE)})


@features.get("/collections")
@operation(
    "Collections",
    {200: Ok(Collections, "stations and districts.")},
    query=FormatQuery,
    problems=(400, 503),
    tags=TAGS,
    operation_id="getCollections",
)
def collections(query: FormatQuery) -> Response:
    """Both collections with their extents."""
    return jsonify(
        {
            "links": [_link("self", JSON, links.external("features.collections"))],
            "collections": [_collection(cid, query.lang) for cid in COLLECTIONS],
        }
    )


@features.get("/collections/<collection_id>")
@operation(
    "One collection",
    {200: Ok(Collection, "Its extent and links.")},
    query=FormatQuery,
    path={"collection_id": COLLECTION_ID},
    problems=(400, 404, 503),
    tags=TAGS,
    operation_id="describeCollection",
)
def collection(collection_id: str, query: FormatQuery) -> Response:
    """One collection's description."""
    return jsonify(_collection(_known(collection_id), query.lang))


def _known(collection_id: str) -> str:
    if collection_id not in COLLECTIONS:
        raise NotFound(
            f"no collection {collection_id!r}; there are: {', '.join(COLLECTIONS)}",
            zh=f"没有名为 {collection_id!r} 的数据集；现有：{'、'.join(COLLECTIONS)}",
        )
    return collection_id


def _collection(cid: str, lang: str) -> dict[str, Any]:
    title_zh, title_en, desc_zh, desc_en = COLLECTIONS[cid]
    conn = get_read_conn()
    box = registry.extent(conn, active_only=False) if cid == "stations" else None
    box = box or districts.extent(conn)
    return {
        "id": cid,
        "title": title_zh if lang == "zh" else title_en,
        "description": desc_zh if lang == "zh" else desc_en,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": {"spatial": {"bbox": [list(box)] if box else [], "crs": CRS84}},
        "links": [
            _link("self", JSON, links.external("features.collection", collection_id=cid)),
            _link("items", GEOJSON, links.external("features.items", collection_id=cid)),
            _link(
                "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "application/schema+json",
                links.external("features.queryables", collection_id=cid),
            ),
        ],
    }


@features.get("/collections/<collection_id>/queryables")
@operation(
    "Queryable properties",
    {
        200: Ok(
            {"type": "object"},
            "A JSON Schema of the properties a filter may name.",
            "application/schema+json",
        )
    },
    query=FormatQuery,
    path={"collection_id": COLLECTION_ID},
    problems=(400, 404),
    tags=TAGS,
    operation_id="getQueryables",
)
def queryables(collection_id: str, query: FormatQuery) -> Response:
    """The properties a ``filter`` may name, as a JSON Schema (Part 3)."""
    cid = _known(collection_id)
    names = registry.QUERYABLES if cid == "stations" else {}
    body = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": links.external("features.queryables", collection_id=cid),
        "type": "object",
        "title": cid,
        "properties": {n: _JSON_SCHEMA_TYPES[kind] for n, (_, kind) in names.items()},
        "additionalProperties": False,
    }
    response = jsonify(body)
    response.mimetype = "application/schema+json"
    return response


@features.get("/collections/<collection_id>/items")
@operation(
    "Features of a collection",
    {200: Ok(FeaturePage, "A page with next/prev links.", GEOJSON)},
    query=ItemsQuery,
    path={"collection_id": COLLECTION_ID},
    problems=(400, 404, 503),
    tags=TAGS,
    operation_id="getFeatures",
)
def items(collection_id: str, query: ItemsQuery) -> Response:
    """A page of a collection's features, filtered, with ``next``/``prev`` links."""
    cid = _known(collection_id)
    lang, limit, offset, bbox = query.lang, query.limit_served(), query.offset, query.bbox
    conn = get_read_conn()
    if cid == "stations":
        flt = registry.StationFilter(
            bbox=bbox,
            district=one_district(conn, query.district),
            amenities=query.amenities,
            status=query.status,
            condition=cql.to_sql(query.filter_text, registry.QUERYABLES)
            if query.filter_text and query.filter_text.strip()
            else None,
        )
        matched = registry.count_stations(conn, flt)
        judge = Judge(dt.datetime.now(hours.SHANGHAI))
        rows = registry.list_stations(conn, flt, limit, offset)
        found = [station_feature(r, lang, judge) for r in rows]
    else:
        level = query.level
        matched = districts.count(conn, bbox, level)
        found = [_district_feature(r) for r in districts.page(conn, bbox, level, limit, offset)]
    page_links = _page_links(cid, matched, limit, offset)
    return geojson_response(
        {
            "type": "FeatureCollection",
            "numberMatched": matched,
            "numberReturned": len(found),
            "timeStamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "links": page_links,
            "features": found,
        }
    )


def _page_links(cid: str, matched: int, limit: int, offset: int) -> list[dict[str, str]]:
    """Self / next / prev / collection links that keep every other parameter as given."""

    def href(new_offset: int) -> str:
        query = {**request.args.to_dict(), "limit": str(limit), "offset": str(new_offset)}
        return links.external("features.items", collection_id=cid) + "?" + urlencode(query)

    out = [_link("self", GEOJSON, href(offset))]
    if offset + limit < matched:
        out.append(_link("next", GEOJSON, href(offset + limit)))
    if offset > 0:
        out.append(_link("prev", GEOJSON, href(max(0, min(offset, matched) - limit))))
    out.append(_link("collection", JSON, links.external("features.collection", collection_id=cid)))
    return out


@features.get("/collections/<collection_id>/items/<feature_id>")
@operation(
    "One feature",
    {200: Ok(OgcFeature, "A station (by id) or a district (by admin code).", GEOJSON)},
    query=FormatQuery,
    path={"collection_id": COLLECTION_ID, "feature_id": {"type": "string"}},
    problems=(400, 404, 503),
    tags=TAGS,
    operation_id="getFeature",
)
def item(collection_id: str, feature_id: str, query: FormatQuery) -> Response:
    """One feature by its id: a station's numeric id, a district's admin code."""
    cid = _known(collection_id)
    lang = query.lang
    conn = get_read_conn()
    if cid == "stations":
        if not (feature_id.isascii() and feature_id.isdigit() and len(feature_id) < 19):
            raise NotFound(
                f"no station with id {feature_id!r}", zh=f"没有编号为 {feature_id!r} 的驿站"
            )
        record = registry.get_station(conn, int(feature_id))
        body = station_feature(record, lang, Judge(dt.datetime.now(hours.SHANGHAI)))
    else:
        body = _district_feature(districts.get(conn, _district_code(feature_id)))
    body["links"] = [
        _link(
            "self",
            GEOJSON,
            links.external("features.item", collection_id=cid, feature_id=feature_id),
        ),
        _link("collection", JSON, links.external("features.collection", collection_id=cid)),
    ]
    return geojson_response(body)


def _district_code(raw: str) -> str:
    if not (len(raw) == 6 and raw.isascii() and raw.isdigit()):
        raise NotFound(f"no district with code {raw!r}", zh=f"没有代码为 {raw!r} 的行政区")
    return raw


def _district_feature(record: dict[str, Any]) -> dict[str, Any]:
    properties = {k: record[k] for k in ("code", "name", "level", "parent_code")}
    return {
        "type": "Feature",
        "id": record["code"],
        "geometry": record["geometry"],
        "properties": properties,
    }
