"""What the OGC API – Features routes (``web.features_api``) take and answer.

GDAL reads the ``limit`` parameter's ``default`` and ``maximum`` from the document to size
its pages, so they are this app's (``api_models.page_limit``).
"""

import sys
from typing import Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from stations import cql, districts, vocabulary
from stations.errors import InvalidParameter
from web import fields
from web.api_models import Lang, page_limit, page_limit_max
from web.contract import Answer, Query

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
STATIONS = {"x-collection": "stations"}  # a parameter of that collection only
DISTRICTS = {"x-collection": "districts"}
COLLECTION_ID = {"type": "string", "enum": ["stations", "districts"]}


class FormatQuery(Query):
    """The label language, and the format GIS clients name (only JSON is served)."""

    lang: fields.Lang = Lang
    f: fields.one_of("json", "geojson") = Field("json", description="Format; JSON only.")


class ItemsQuery(FormatQuery):
    """Paging and filters of a collection's items (some belong to one collection)."""

    bbox: fields.Bbox | None = Field(None, description="min_lon,min_lat,max_lon,max_lat (CRS84).")
    # Core: a limit above the maximum is served at the maximum, not refused
    limit: fields.whole(1, sys.maxsize) = page_limit(
        "Page size; a larger one is served at the maximum."
    )
    offset: fields.whole(0, 10**9) = Field(0, description="Features to skip.")
    district: fields.text(100) | None = Field(
        None, description="stations: admin code or name (and below).", json_schema_extra=STATIONS
    )
    amenities: fields.Amenities = Field(
        [], description="stations: comma list of codes, all required.", json_schema_extra=STATIONS
    )
    status: fields.one_of(*vocabulary.terms("statuses")) | None = Field(
        None, description="stations: only this status.", json_schema_extra=STATIONS
    )
    level: fields.one_of(*districts.LEVELS) | None = Field(
        None, description="districts: only this level.", json_schema_extra=DISTRICTS
    )
    filter_text: str | None = Field(
        None,
        alias="filter",
        json_schema_extra={**STATIONS, "maxLength": cql.MAX_LENGTH},  # cql checks it
        description="stations: CQL2 text over the queryables, e.g. `status = 'active' AND "
        "floor_area_m2 >= 12 AND S_INTERSECTS(geometry, BBOX(112.4,37.7,112.7,38))`.",
    )
    filter_lang: fields.one_of("cql2-text", name="filter-lang") = Field(
        "cql2-text", alias="filter-lang", description="Filter language.", json_schema_extra=STATIONS
    )
    filter_crs: fields.one_of(CRS84, name="filter-crs") = Field(
        CRS84,
        alias="filter-crs",
        description="CRS of geometries in the filter.",
        json_schema_extra=STATIONS,
    )

    @classmethod
    def only_for(cls) -> dict[str, str]:
        """Parameter name -> the one collection it belongs to (the others are for both)."""
        out = {}
        for name, field in cls.model_fields.items():
            extra = field.json_schema_extra
            if isinstance(extra, dict) and "x-collection" in extra:
                out[field.alias or name] = str(extra["x-collection"])
        return out

    @model_validator(mode="before")
    @classmethod
    def _of_this_collection(cls, values: Any, info: ValidationInfo) -> Any:
        """Refuse a parameter of the other collection (``level`` is for districts ...)."""
        cid = (info.context or {}).get("collection_id")
        for name, belongs in cls.only_for().items():
            if cid in COLLECTION_ID["enum"] and belongs != cid and name in values:
                raise InvalidParameter(
                    name,
                    f"{name} is not a parameter of the {cid} collection",
                    zh=f"{name} 不是数据集 {cid} 的参数",
                )
        return values

    def limit_served(self) -> int:
        """The page size served: at most the app's maximum."""
        return min(self.limit, page_limit_max())


class Link(Answer):
    """A link (RFC 8288 in JSON)."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class LandingPage(Answer):
    """Where the API description, the conformance classes and the data are."""

    title: str | None = None
    description: str | None = None
    links: list[Link]


class Conformance(Answer):
    """The conformance classes implemented."""

    conformsTo: list[str]


class Collection(Answer):
    """A collection, its extent and links."""

    id: str
    title: str | None = None
    description: str | None = None
    itemType: Literal["feature"] | None = None
    crs: list[str] | None = None
    extent: dict[str, Any] | None = None
    links: list[Link]


class Collections(Answer):
    """Every collection."""

    links: list[Link]
    collections: list[Collection]


class OgcFeature(Answer):
    """A station (id: its number) or a district (id: its admin code)."""

    type: Literal["Feature"]
    id: int | str
    geometry: dict[str, Any] = Field(json_schema_extra={"required": ["type", "coordinates"]})
    properties: dict[str, Any]
    links: list[Link] | None = None


class FeaturePage(Answer):
    """A page of features with next/prev links."""

    type: Literal["FeatureCollection"]
    numberMatched: int = Field(ge=0)
    numberReturned: int = Field(ge=0)
    timeStamp: str | None = Field(None, json_schema_extra={"format": "date-time"})
    links: list[Link]
    features: list[OgcFeature]
