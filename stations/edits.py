"""Editing stations one at a time, safely while other editors and couriers are at work.

An edit is one row through the importer, so a station typed into the API meets exactly
the checks of a file (vocabularies, hours with the reference parser, the district
contains the point, no second station at the same place). Each write runs in one
transaction that first locks the station and compares its version with the one the
editor last saw (the ETag), so of two editors who loaded the same version only the first
write lands; the second is told, never silently overwritten. The history triggers record
every change with the editor's name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from stations import hours, importer, registry
from stations.errors import (
    Conflict,
    ImportRejected,
    InvalidParameter,
    PreconditionFailed,
    StationRejected,
)
from stations.hours import Note
from stations.records import CHINA_LAT, CHINA_LON, FIELD_NAMES, FIELDS, FieldProblem, cell_text

# JSON type each editable field takes (from its column); null clears an optional field
_NUMBER = tuple(f.name for f in FIELDS if f.json_type == "number")
_BOOL = tuple(f.name for f in FIELDS if f.json_type == "boolean")
_TEXT = tuple(f.name for f in FIELDS if f.json_type == "string")
_REQUIRED = tuple(f.name for f in FIELDS if f.required)
CODE_FIELD = next(f for f in FIELDS if f.name == "code")
_READ_ONLY = ("id", "version", "created_at", "updated_at", "district", "opening_hours_text")
_READ_ONLY += ("open", "state", "next_change", "closes_in_min", "opens_in_min")  # at a time
# versions the caller may overwrite; None stands for If-Match: * (whatever is stored)
Expected = Callable[[int], bool] | None


def notes(cells: Mapping[str, str]) -> tuple[Note, ...]:
    """What the editor should know about the values just saved (probable typos, rewriting)."""
    value = cells.get("opening_hours", "").strip()
    return hours.check(value).notes if value else ()


def cells_from_json(body: Any) -> dict[str, str]:
    """A JSON edit (flat fields, or a GeoJSON Point Feature) as the importer's text cells.

    JSON types are checked here, strictly (``"12"`` is not a floor area, ``1`` is not a
    name); values are checked by the importer's parsers afterwards.
    """
    if not isinstance(body, dict):
        raise InvalidParameter("body", "the body must be a JSON object of station fields")
    if body.get("type") == "Feature":
        body = _flatten_feature(body)
    cells: dict[str, str] = {}
    for key, value in body.items():
        if key in _READ_ONLY:
            raise InvalidParameter(
                key, f"{key} is set by the registry and cannot be written; leave it out"
            )
        if key not in FIELD_NAMES:
            raise InvalidParameter(
                key, f"unknown field {key!r}; fields are: {', '.join(FIELD_NAMES)}"
            )
        cells[key] = _cell(key, value)
    return cells


def _flatten_feature(feature: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON Feature's properties plus its Point as lon/lat, each checked for shape."""
    unknown = set(feature) - {"type", "id", "geometry", "properties", "bbox"}
    if unknown:
        raise InvalidParameter(sorted(unknown)[0], "a Feature has only type, geometry, properties")
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        raise InvalidParameter("properties", "properties must be a JSON object")
    flat = {k: v for k, v in properties.items() if k not in ("id",)}
    geometry = feature.get("geometry")
    if geometry is None:
        return flat
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        raise InvalidParameter("geometry", f"a station is a GeoJSON Point, not {kind!r}")
    coords = geometry.get("coordinates")
    if (
        not isinstance(coords, list)
        or len(coords) not in (2, 3)
        or not all(_is_number(c) for c in coords)
    ):
        raise InvalidParameter("geometry", "Point coordinates must be [longitude, latitude]")
    if "lon" in flat or "lat" in flat:
        raise InvalidParameter("geometry", "give the position once: geometry or lon/lat")
    flat["lon"], flat["lat"] = coords[0], coords[1]
    return flat


def _is_number(value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer of hundreds of digits
        return False


def _cell(key: str, value: Any) -> str:
    if value is None:
        if key in _REQUIRED or key == "status":
            raise InvalidParameter(key, f"{key} cannot be null")
        return ""
    if key in _TEXT:
        if not isinstance(value, str):
            raise InvalidParameter(key, f"{key} must be a string")
        return value
    if key in _NUMBER:
        if not _is_number(value):
            raise InvalidParameter(key, f"{key} must be a finite number")
        return cell_text(float(value)) if key != "floor_area_m2" else str(value)
    if key in _BOOL:
        if not isinstance(value, bool):
            raise InvalidParameter(key, f"{key} must be true, false or null")
        return cell_text(value)
    # amenities: a list of codes
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameter(key, 'amenities must be a list of codes, e.g. ["water", "toilet"]')
    if any(_SEPARATOR & set(v) for v in value):
        raise InvalidParameter(key, "an amenity code has no separators; give one code per item")
    return cell_text(value)


_SEPARATOR = set(";,，；、|")


def create(conn: psycopg.Connection, cells: Mapping[str, str], actor: str) -> dict[str, Any]:
    """Add a station and return it as stored.

    409 when its code is taken, even by a closed station.
    """
    missing = [name for name in _REQUIRED if name not in cells]
    if missing:
        raise StationRejected(
            f"the station was not saved: {', '.join(missing)} required",
            errors=[{"field": name, "value": "", "reason": "required"} for name in missing],
        )
    code = cells["code"].strip()
    try:  # checked before it names a lock: a NUL or a surrogate cannot reach PostgreSQL
        CODE_FIELD.parse(code)
    except FieldProblem as exc:
        raise StationRejected(
            f"the station was not saved: code: {exc}",
            errors=[{"field": "code", "value": code[:80], "reason": str(exc)}],
        ) from None
    with conn.transaction():
        if code:  # two editors creating one code at once: the second waits, then sees it
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('station:' || %s))", [code])
            row = conn.execute("SELECT id FROM stations WHERE code = %s", [code]).fetchone()
            if row is not None:
                raise Conflict(
                    f"a station with code {code!r} exists (id {row[0]}); edit it with PATCH "
                    f"/api/v1/stations/{row[0]}",
                    param="code",
                )
        cells = _with_district(conn, dict(cells), moved=False)
        if _write(conn, cells, actor).inserted != 1:  # an import added the code meanwhile
            raise Conflict(f"a station with code {code!r} was added meanwhile", param="code")
        station_id = conn.execute("SELECT id FROM stations WHERE code = %s", [code]).fetchone()[0]
        return registry.get_station(conn, station_id)


def update(
    conn: psycopg.Connection,
    station_id: int,
    patch: Mapping[str, str],
    actor: str,
    expected: Expected,
) -> dict[str, Any]:
    """Apply a merge patch if the stored version is the one expected.

    Returns the station as stored now.
    """
    with conn.transaction():
        current = _locked(conn, station_id, expected)
        if "code" in patch and patch["code"].strip() != current["code"]:
            raise InvalidParameter(
                "code", "a station's code cannot change; close it and create a new one"
            )
        cells = {name: cell_text(current[name]) for name in FIELD_NAMES}
        cells.update(patch)
        if "district_code" in patch and "district_name" not in patch:
            cells["district_name"] = ""  # the registry's name for the new code
        elif "district_name" in patch and "district_code" not in patch:
            cells["district_code"] = ""
        moved = ("lon" in patch or "lat" in patch) and not (
            "district_code" in patch or "district_name" in patch
        )
        cells = _with_district(conn, cells, moved=moved)
        _write(conn, cells, actor)
        return registry.get_station(conn, station_id)


def close(
    conn: psycopg.Connection, station_id: int, actor: str, expected: Expected
) -> dict[str, Any]:
    """Mark a station closed; the row and its history stay (subsidy audits need both)."""
    return update(conn, station_id, {"status": "closed"}, actor, expected)


def _locked(conn: psycopg.Connection, station_id: int, expected: Expected) -> dict[str, Any]:
    """The station, locked until the transaction ends, if its version is the expected one."""
    current = registry.get_station(conn, station_id, for_update=True)
    if expected is not None and not expected(current["version"]):
        raise PreconditionFailed(
            f"station {station_id} was changed since you loaded it (it is now version "
            f"{current['version']}); load it again, redo your change and send its new ETag",
            version=current["version"],
        )
    return current


def _with_district(conn: psycopg.Connection, cells: dict[str, str], moved: bool) -> dict[str, str]:
    """The cells with the county holding the position as district, where needed.

    Needed when no district is named, or when the edit ``moved`` the station without
    naming one.
    """
    named = cells.get("district_code", "").strip() or cells.get("district_name", "").strip()
    if named and not moved:
        return cells
    try:
        lon, lat = float(cells.get("lon", "")), float(cells.get("lat", ""))
    except ValueError:
        return cells  # the importer names the bad coordinate
    if not (CHINA_LON[0] <= lon <= CHINA_LON[1] and CHINA_LAT[0] <= lat <= CHINA_LAT[1]):
        return cells
    found = conn.execute(
        """SELECT code FROM districts WHERE level = 'county'
           AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) LIMIT 2""",
        [lon, lat],
    ).fetchall()
    if len(found) == 1:
        return {**cells, "district_code": found[0][0], "district_name": ""}
    if not named:
        where = "no county-level district" if not found else "more than one district"
        raise StationRejected(
            f"{where} in the registry contains this position; check lon/lat or give district_code",
            errors=[{"field": "lon/lat", "value": f"{lon},{lat}", "reason": where}],
        )
    return cells  # the importer tells whether the stored district still holds the point


def _write(conn: psycopg.Connection, cells: Mapping[str, str], actor: str) -> importer.ImportResult:
    """One row through the importer (nested in the caller's transaction)."""
    try:
        return importer.import_rows(conn, [(1, dict(cells))], actor=actor, source="station")
    except ImportRejected as exc:
        errors = [
            {k: p[k] for k in ("field", "value", "reason", "reason_zh") if k in p}
            for p in exc.details.get("rows", [])
        ]
        reasons = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        zh = None
        if all("reason_zh" in e for e in errors):  # no half-translated message
            zh = "未保存：" + "；".join(f"{e['field']}：{e['reason_zh']}" for e in errors)
        raise StationRejected(
            f"the station was not saved: {reasons}", zh=zh, errors=errors
        ) from None
    except pg_errors.UniqueViolation:
        raise Conflict("another editor saved a station with this code at the same moment") from None


def import_upload(
    conn: psycopg.Connection,
    path: Path,
    actor: str,
    expected: Expected,
    dry_run: bool = False,
) -> tuple[importer.ImportResult, int]:
    """Import a file if the registry is still at the expected version; the new version.

    The file is read and checked first, then the table is locked against other writes
    (reads go on) for the rest of the import, so the version compared is the one the
    import is applied to, and a slow or broken file never holds the lock.
    """

    def lock() -> None:
        """Runs once the file is read and checked: no lock waits on parsing."""
        # EXCLUSIVE: plain reads go on; edits (SELECT … FOR UPDATE) wait for the import
        conn.execute("LOCK TABLE stations IN EXCLUSIVE MODE")
        version = registry.version(conn)
        if expected is not None and not expected(version):
            raise PreconditionFailed(
                f"the registry changed since you loaded it (it is now version {version}); "
                "check the new changes, then send the new ETag",
                version=version,
            )

    with conn.transaction():
        result = importer.import_file(conn, path, actor=actor, dry_run=dry_run, staged=lock)
        # the generation is raised at commit; raise it now to report the version made
        conn.execute("SET CONSTRAINTS registry_generation_at_commit IMMEDIATE")
        return result, registry.version(conn)
