"""The editors' API (v1): create, patch and close stations; import a file.

Every write needs ``If-Match`` with the ETag the editor last saw (428 without, 412 when
somebody else changed it since): a station's ETag comes with ``GET /stations/{id}``, the
whole registry's with ``GET /stations`` (for imports). ``If-Match: *`` says "whatever is
stored" on purpose. Custom headers cannot come from another site's form, so the header
also keeps a signed-in editor's cookie from being used across sites.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from flask import Blueprint, Response, jsonify, request
from pydantic import Field
from werkzeug.exceptions import UnsupportedMediaType

from stations import edits
from stations.errors import InvalidParameter, PreconditionRequired
from web import auth, fields, links, params
from web.api import (
    REGISTRY_ETAG,
    STATION_ETAG,
    STATION_ID,
    registry_etag,
    station_etag,
    station_response,
)
from web.api_models import LangQuery, Station
from web.bilingual import bilingual
from web.contract import GEOJSON, Ok, Query, operation
from web.database import nearest_service
from web.editing_models import ImportResult, NewStation, StationFields
from web.pools import get_conn

editing = Blueprint("editing", __name__)
_JSON = ("application/json", "application/geo+json")
_PATCH = ("application/merge-patch+json", "application/json")
# raw upload bodies: media type -> the extension the readers go by
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_UPLOADS = {
    "text/csv": ".csv",
    "application/geo+json": ".geojson",
    "application/json": ".geojson",
    _XLSX: ".xlsx",
}


def _expected(tag: Callable[[int], str]) -> edits.Expected:
    """The versions ``If-Match`` allows overwriting (None: ``*``); 428 when it is absent.

    ``tag`` gives the entity tag of a stored version.
    """
    if not request.headers.get("If-Match", "").strip():
        raise PreconditionRequired(
            "send If-Match with the ETag from your last GET of what you are changing, so "
            "you cannot overwrite an edit you have not seen (If-Match: * overwrites on purpose)"
        )
    if request.if_match.star_tag:
        return None
    return lambda version: request.if_match.contains(tag(version))


def _actor() -> str:
    who = auth.principal()
    assert who is not None  # auth.require ran first
    return who.owner


def _target(station_id: str) -> tuple[int, edits.Expected]:
    """A station write's id and allowed versions, checked before anything is written."""
    number = params.station_id(station_id)
    return number, _expected(lambda version: station_etag(number, version))


def _written(status: int, description: str) -> dict[int, Ok]:
    return {status: Ok(Station, description, GEOJSON, {"ETag": STATION_ETAG})}


_IF_MATCH = {"If-Match": "The ETag of your last GET, or * to overwrite whatever is stored."}
_STATION = {"station_id": STATION_ID}


@editing.after_request
def _expire_memory(response: Response) -> Response:
    """A change made here is seen by this worker's next anonymous search at once."""
    if response.status_code < 300:  # (every route here writes)
        nearest_service().expire()
    return response


@editing.post("/stations")
@auth.require("editor")
@operation(
    "Add a station (editor)",
    _written(201, "Created; Location names it."),
    query=LangQuery,
    body=NewStation,
    body_media=_JSON,
    body_checked=False,  # by stations.edits, as a file's rows are
    problems=(400, 409, 413, 415, 422, 503),
)
def create_station(query: LangQuery) -> Response:
    """A new station from flat fields or a GeoJSON Point Feature; 201 with its ETag."""
    lang = query.lang  # checked before anything is written
    cells = edits.cells_from_json(params.json_body(None, _JSON))
    record = edits.create(get_conn(), cells, _actor())
    response = station_response(record, lang, 201, warnings=edits.notes(cells))
    response.headers["Location"] = links.external("api.get_station", station_id=record["id"])
    return response


@editing.patch("/stations/<station_id>")
@auth.require("editor")
@operation(
    "Change a station's fields (editor; JSON merge patch)",
    _written(200, "The station as stored now."),
    query=LangQuery,
    path=_STATION,
    headers=_IF_MATCH,
    body=StationFields,
    body_media=_PATCH,
    body_checked=False,
    problems=(400, 404, 412, 413, 415, 422, 428, 503),
)
def patch_station(station_id: str, query: LangQuery) -> Response:
    """Change the given fields (JSON merge patch: null clears one) of the ETag's version."""
    lang = query.lang
    number, expected = _target(station_id)
    cells = edits.cells_from_json(params.json_body(None, _PATCH))
    record = edits.update(get_conn(), number, cells, _actor(), expected)
    return station_response(record, lang, warnings=edits.notes(cells))


@editing.delete("/stations/<station_id>")
@auth.require("editor")
@operation(
    "Close a station; its record and history stay (editor)",
    _written(200, "The station, closed."),
    query=LangQuery,
    path=_STATION,
    headers=_IF_MATCH,
    problems=(400, 404, 412, 422, 428, 503),
)
def close_station(station_id: str, query: LangQuery) -> Response:
    """Close the station: it leaves the map and the searches, its record and history stay."""
    number, expected = _target(station_id)
    return station_response(edits.close(get_conn(), number, _actor(), expected), query.lang)


class ImportQuery(Query):
    """Whether to change anything."""

    dry_run: fields.Flag = Field(False, description="Check and count, change nothing.")


@editing.post("/stations/import")
@auth.require("editor")
@operation(
    "Import a CSV, GeoJSON or XLSX file: every row or none (editor)",
    {200: Ok(ImportResult, "What the import did.", headers={"ETag": REGISTRY_ETAG})},
    query=ImportQuery,
    headers={"If-Match": "The ETag of GET /stations, or *."},
    upload={
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
    problems=(400, 412, 413, 415, 422, 428, 503),
)
def import_stations(query: ImportQuery) -> Response:
    """A CSV, GeoJSON or XLSX file: every row lands or none; 422 lists each row's problems."""
    dry_run = query.dry_run
    expected = _expected(registry_etag)
    with tempfile.TemporaryDirectory(prefix="stations-import-") as folder:
        path = _save_upload(Path(folder))
        result, version = edits.import_upload(get_conn(), path, _actor(), expected, dry_run)
    response = jsonify(
        {
            "file": path.name,
            "rows": result.rows,
            "inserted": result.inserted,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "dry_run": result.dry_run,
        }
    )
    response.set_etag(registry_etag(version))
    return response


def _file_name(sent: str) -> str:
    """The upload's name as sent (Chinese included), made safe to save and report.

    No folder part, no control characters, short enough for any file system, and the
    extension kept (the readers go by it).
    """
    base = Path(re.sub(r"[\x00-\x1f\x7f]", "_", sent.replace("\\", "/"))).name
    suffix = Path("x" + base).suffix[:10]  # ".csv" alone is a suffix too
    stem = base[: len(base) - len(suffix)].lstrip(".")
    stem = stem.encode("utf-8", "ignore")[:150].decode("utf-8", "ignore") or "upload"
    return stem + suffix


def _save_upload(folder: Path) -> Path:
    """The uploaded file on disk, named as sent (a form's file part, or the raw body)."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise InvalidParameter("file", "send the file in a form part named 'file'")
        path = folder / _file_name(upload.filename)
        upload.save(path)
        return path
    suffix = _UPLOADS.get(request.mimetype)
    if suffix is None:
        raise bilingual(
            UnsupportedMediaType(
                "send the file as multipart/form-data (part 'file') or as the body with "
                "Content-Type: " + ", ".join(_UPLOADS)
            ),
            "请以 multipart/form-data（文件部分名为 file）上传，或直接作为请求内容发送，"
            "Content-Type 为：" + "、".join(_UPLOADS),
        )
    path = folder / f"upload{suffix}"
    with path.open("wb") as out:
        while chunk := request.stream.read(1 << 20):
            out.write(chunk)
    return path
