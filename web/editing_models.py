"""What the editors' API (``web.editing_api``) takes and answers.

A station's fields come from the table (``api_models.stored_fields``). The bodies are
checked by ``stations.edits``, which the file import shares, so a row of a file and a
JSON body are refused alike; the models here say the same thing for the document.
"""

from typing import Any, Literal

from pydantic import Field, RootModel, create_model

from stations.records import CHINA_LAT, CHINA_LON, FIELDS
from web.api_models import Point, stored_fields
from web.contract import Answer, Body

# what an edit is held to beyond its JSON type (the checks are in stations.records)
_BOUNDS: dict[str, dict[str, Any]] = {
    "lon": {"ge": CHINA_LON[0], "le": CHINA_LON[1]},
    "lat": {"ge": CHINA_LAT[0], "le": CHINA_LAT[1]},
    "floor_area_m2": {"gt": 0, "le": 100000},
}


def _edited(*, new: bool) -> dict[str, Any]:
    out = {}
    for name, (kind, field) in stored_fields(edited=True).items():
        required = new and next(f.required for f in FIELDS if f.name == name)
        out[name] = (
            kind,
            Field(
                ... if required else None,
                description=field.description,
                json_schema_extra=field.json_schema_extra,
                **_BOUNDS.get(name, {}),
            ),
        )
    return out


StationFields = create_model(
    "StationFields",
    __base__=Body,
    __doc__="Station fields; in a PATCH, null clears an optional one.",
    **_edited(new=False),
)
NewStationFields = create_model(
    "NewStationFields",
    __base__=Body,
    __doc__="A new station's fields, flat.",
    **_edited(new=True),
)


class NewStationFeature(Body):
    """A new station as a GeoJSON Feature with a Point and the fields as properties."""

    type: Literal["Feature"]
    geometry: Point
    properties: StationFields  # type: ignore[valid-type]


class NewStation(RootModel[NewStationFields | NewStationFeature]):  # type: ignore[valid-type]
    """Flat fields, or a GeoJSON Feature with a Point and the fields as properties."""


class ImportResult(Answer):
    """What an import did (or, with dry_run, would do)."""

    file: str
    rows: int
    inserted: int
    updated: int
    unchanged: int
    dry_run: bool
