"""What the public read API (``web.api``) takes and answers, declared once.

The query models check requests (``web.contract``); the answer models document the
answers. A station's stored fields come from the table (``stations.schema`` through
``stations.records.FIELDS``), so a new column appears here with no edit.
"""

import datetime as dt
from typing import Any, Literal

from flask import current_app, has_app_context
from pydantic import Field, create_model

from geo.datums import CRS_NAMES
from stations import settings, vocabulary
from stations.records import FIELDS
from stations.schema import stations as stations_table
from web import fields
from web.contract import Answer, Query

MAX_OPEN_FOR_MIN = 24 * 60
DESCRIBED = {"date-time": "ISO 8601; without an offset it is Beijing time (Asia/Shanghai)."}


def page_limit_max() -> int:
    """The largest page (STATIONS_PAGE_LIMIT_MAX; an app's config may override it)."""
    if has_app_context():
        return int(current_app.config["PAGE_LIMIT_MAX"])
    return int(settings.value("STATIONS_PAGE_LIMIT_MAX"))


def _page_limit_schema(schema: dict[str, Any]) -> None:
    """The document states this app's maximum and default (GDAL sizes its pages by them)."""
    most = page_limit_max()
    schema.update(maximum=most, default=min(100, most))


def page_limit(description: str = "Page size.") -> Any:
    """``limit``'s default and document: at most the app's maximum (see the field's type)."""
    return Field(100, json_schema_extra=_page_limit_schema, description=description)


Lang = Field("zh", description="Language of labels and errors.")


class NoQuery(Query):
    """Takes no parameters."""


class LangQuery(Query):
    """Only the label language."""

    lang: fields.Lang = Lang


class ListQuery(Query):
    """Filters and paging of the station listing."""

    bbox: fields.Bbox | None = Field(
        None, description="min_lon,min_lat,max_lon,max_lat in WGS-84 degrees."
    )
    district: fields.text(100) | None = Field(
        None, description="A district's admin code (140105) or unique name; and below."
    )
    amenities: fields.Amenities = Field(
        [], description="Comma list of amenity codes, all required."
    )
    open_at: fields.Instant | None = Field(
        None, description="Only stations open then (no offset: Beijing time)."
    )
    open_for_min: fields.whole(0, MAX_OPEN_FOR_MIN) = Field(
        0, description="With open_at: only stations open that many minutes from then on."
    )
    limit: fields.whole(1, page_limit_max) = page_limit()
    offset: fields.whole(0, 10**9) = Field(0, description="Stations to skip.")
    lang: fields.Lang = Lang


class NearestQuery(Query):
    """Where the caller is, and which stations count."""

    lat: fields.number(-90, 90) = Field(description="Latitude.")
    lon: fields.number(-180, 180) = Field(description="Longitude.")
    crs: fields.one_of(*CRS_NAMES) = Field(
        "wgs84",
        description="Datum of lat/lon: gcj02 for Amap/WeChat, bd09 for Baidu. The answer's "
        "geometry stays WGS-84; each station's `position` property is in it.",
    )
    at: fields.Instant | None = Field(
        None, description="Instant (default now). " + DESCRIBED["date-time"]
    )
    open: fields.Flag = Field(
        True, description="Only stations open at `at` (open or closing_soon; never unknown)."
    )
    open_for_min: fields.whole(0, MAX_OPEN_FOR_MIN) = Field(
        0, description="Only stations that stay open this many minutes after `at`."
    )
    amenities: fields.Amenities = Field(
        [], description="Comma list of amenity codes, all required."
    )
    limit: fields.whole(1, 50) = Field(5, description="How many.")
    within_m: fields.number(1, 50000) = Field(5000, description="Search radius in metres.")
    lang: fields.Lang = Lang


# --- answers -------------------------------------------------------------------------

_JSON_TYPES: dict[str, Any] = {"string": str, "number": float, "boolean": bool, "array": list[str]}
_NOTES: dict[str, dict[str, Any]] = {
    "code": {"description": "1-40 letters, digits, '-', '_' or '.'."},
    "district_code": {
        "description": "6-digit county code; left out, the county holding the point."
    },
    "opening_hours": {"description": "OpenStreetMap opening_hours; null: not published."},
    "opened_on": {"json_schema_extra": {"format": "date"}},
}


def _field_type(name: str, json_type: str) -> Any:
    if name == "status":
        return Literal[tuple(vocabulary.terms("statuses"))]  # type: ignore[misc]
    return _JSON_TYPES[json_type]


def stored_fields(*, edited: bool) -> dict[str, Any]:
    """The station's fields from the table: as an answer shows them, or as an edit sends them.

    An answer has null where the column allows it; an edit may send null to clear any
    field a new station need not give.
    """
    out: dict[str, Any] = {}
    for field in FIELDS:
        if not edited and field.name in ("lon", "lat"):
            continue
        kind = _field_type(field.name, field.json_type)
        nullable = not field.required if edited else stations_table.c[field.name].nullable
        out[field.name] = (
            kind | None if nullable else kind,
            Field(None, **_NOTES.get(field.name, {})),
        )
    return out


class Amenity(Answer):
    """An amenity code with its label in the language asked for."""

    code: str
    label: str


class District(Answer):
    """The county-level district holding the station."""

    code: str
    name: str


class Position(Answer):
    """The position in the datum asked for (nearest, crs gcj02 or bd09); geometry stays WGS-84."""

    crs: Literal["gcj02", "bd09"]
    lon: float
    lat: float


class Point(Answer):
    """A GeoJSON Point."""

    type: Literal["Point"]
    coordinates: list[float] = Field(
        min_length=2, max_length=2, description="lon, lat (WGS-84, always: RFC 7946)."
    )


_StoredFields = create_model("_StoredFields", __base__=Answer, **stored_fields(edited=False))


class StationProperties(_StoredFields):  # type: ignore[misc,valid-type]
    """A station's stored fields, its district and amenities in words, and its state."""

    id: int
    code: str
    name: str
    address: str | None
    district: District
    opening_hours: str | None
    amenities: list[Amenity]
    opening_hours_text: str = Field(description="The hours in words, in the language asked for.")
    open: bool = Field(description="Open at the instant asked (or now): open or closing_soon.")
    state: Literal["open", "closing_soon", "closed", "unknown", "suspended"] = Field(
        description="closing_soon: closes within STATIONS_CLOSING_SOON_MIN minutes; unknown: "
        "no published hours, or only a comment or an open end."
    )
    next_change: dt.datetime | None = Field(
        description="When the state next changes; null: not within a year."
    )
    closes_in_min: int | None = Field(
        description="Open: whole minutes until it closes; null: not closing."
    )
    opens_in_min: int | None = Field(
        description="Closed or unknown: minutes until it opens; null: not opening."
    )
    version: int = fields.optional()
    updated_at: dt.datetime = fields.optional()
    distance_m: float = fields.optional(description="Geodesic metres (nearest only).")
    position: Position = fields.optional()


class Station(Answer):
    """A station as a GeoJSON Feature."""

    type: Literal["Feature"]
    id: int
    geometry: Point
    properties: StationProperties


class PageLink(Answer):
    """A link to this page, or the next or previous one."""

    rel: Literal["self", "next", "prev"]
    type: str | None = None
    href: str


class StationPage(Answer):
    """A page of stations with paging links (OGC API style)."""

    type: Literal["FeatureCollection"]
    numberMatched: int
    numberReturned: int
    timeStamp: dt.datetime | None = None
    state_at: dt.datetime | None = Field(
        None, description="The instant the stations' states are for."
    )
    links: list[PageLink]
    features: list[Station]


class NearestStations(Answer):
    """The nearest stations, nearest first."""

    type: Literal["FeatureCollection"]
    at: dt.datetime
    numberReturned: int
    features: list[Station]


class Term(Answer):
    """A vocabulary term with Chinese and English labels."""

    code: str
    zh: str
    en: str


class Amenities(Answer):
    """The amenity vocabulary."""

    amenities: list[Term]
