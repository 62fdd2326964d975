"""The station record as files and people see it: fields, headers, parsing, validation.

The fields come from the declared table (:mod:`stations.schema`: each column with a
Chinese header, the point as lon/lat) and drive import (CSV, XLSX, GeoJSON; English or
Chinese headers), export and the API's feature properties, so none can drift apart. Parsing turns
a cell into a typed value or raises :class:`FieldProblem` with a reason a person can act
on; vocabulary cells accept the code or either label (``community``, ``社区服务站``).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import types as sqltypes

from stations import hours, schema, vocabulary
from stations.errors import StationsError

# China's extent with a margin: catches swapped or zero coordinates before any SQL runs.
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)


class FieldProblem(ValueError):
    """One cell is wrong; the message says why (``zh``: the same in Chinese, if written)."""

    def __init__(self, message: str, zh: str | None = None) -> None:
        super().__init__(message)
        self.zh = zh


@dataclass(frozen=True)
class Field:
    """One column of the interchange format."""

    name: str
    zh: str
    parse: Callable[[str], Any]
    required: bool = False
    json_type: str = "string"  # in the editing API's JSON: string, number, boolean, array


def _text(value: str) -> str | None:
    return value.strip() or None


def _number(lo: float, hi: float, what: str) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise FieldProblem(f"{what} must be a number") from None
        if not math.isfinite(number) or not lo <= number <= hi:
            raise FieldProblem(f"{what} must be between {lo} and {hi} (China)")
        return number

    return parse


@functools.lru_cache(maxsize=8192)
def _area(value: str) -> Decimal | None:
    if not value.strip():
        return None
    try:
        area = Decimal(value.strip()).quantize(Decimal("0.1"))
    except InvalidOperation:
        raise FieldProblem("floor area must be a number of square metres") from None
    if not area.is_finite() or area <= 0 or area > 100000:
        raise FieldProblem("floor area must be more than 0 and at most 100000 m²")
    return area


@functools.lru_cache(maxsize=8192)
def _date(value: str) -> dt.date | None:
    text = value.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text.replace("/", "-"))
    except ValueError:
        raise FieldProblem("date must be YYYY-MM-DD") from None


_TRUE = {"true", "yes", "y", "1", "是", "有", "t"}
_FALSE = {"false", "no", "n", "0", "否", "无", "f"}


def _bool(value: str) -> bool | None:
    text = value.strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise FieldProblem("must be true/false (是/否)")


def _term(kind: str) -> Callable[[str], str | None]:
    def parse(value: str) -> str | None:
        text = value.strip()
        if not text:
            return None
        code = vocabulary.lookup(kind).get(text)
        if code is not None:
            return code
        allowed = ", ".join(vocabulary.terms(kind))
        raise FieldProblem(f"not one of: {allowed}")

    return parse


_LIST_SPLIT = re.compile(r"[;,，；、|]")


@functools.lru_cache(maxsize=8192)
def _amenities(value: str) -> list[str]:
    by_label = vocabulary.lookup("amenities")
    codes = []
    for item in (part.strip() for part in _LIST_SPLIT.split(value)):
        if not item:
            continue
        if item not in by_label:
            raise FieldProblem(f"unknown amenity {item!r}; see GET /api/v1/amenities")
        codes.append(by_label[item])
    return vocabulary.check_amenities(codes)


@functools.lru_cache(maxsize=4096)
def _opening_hours(value: str) -> str | None:
    # cached: files repeat a handful of schedules, and the parser is the costly part
    if not value.strip():
        return None
    try:
        return hours.validate(value)
    except StationsError as exc:
        raise FieldProblem(exc.message, exc.message_zh) from None


def _code(value: str) -> str:
    text = value.strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}", text):
        raise FieldProblem("code must be 1-40 letters, digits, '-', '_' or '.'")
    return text


def _district_code(value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    if not re.fullmatch(r"\d{6}", text):
        raise FieldProblem("district code must be the 6-digit admin code, e.g. 140105")
    return text


# Fields with rules of their own; any other is parsed by its vocabulary or column type.
_SPECIAL: dict[str, Callable[[str], Any]] = {
    "code": _code,
    "district_code": _district_code,
    "lon": _number(*CHINA_LON, "longitude"),
    "lat": _number(*CHINA_LAT, "latitude"),
    "opening_hours": _opening_hours,
    "amenities": _amenities,
    "floor_area_m2": _area,
}
_BY_TYPE: tuple[tuple[type, Callable[[str], Any] | None, str], ...] = (
    (sqltypes.Boolean, _bool, "boolean"),
    (sqltypes.Date, _date, "string"),
    (sqltypes.Numeric, None, "number"),  # a decimal at the column's scale
    (sqltypes.ARRAY, None, "array"),  # lists have rules of their own (_SPECIAL)
    (sqltypes.Text, _text, "string"),
)


def _decimal(name: str, scale: int) -> Callable[[str], Decimal | None]:
    def parse(value: str) -> Decimal | None:
        if not value.strip():
            return None
        try:
            number = Decimal(value.strip()).quantize(Decimal(1).scaleb(-scale))
        except InvalidOperation:
            raise FieldProblem(f"{name} must be a number") from None
        if not number.is_finite():
            raise FieldProblem(f"{name} must be a number")
        return number

    return parse


def _field(column: Any) -> Field:
    """The interchange field of a column of :data:`stations.schema.stations`."""
    for kind, parse, json_type in _BY_TYPE:
        if isinstance(column.type, kind):
            if "vocabulary" in column.info and json_type == "string":
                parse = _term(column.info["vocabulary"])
            elif parse is None and json_type == "number":
                parse = _decimal(column.name, column.type.scale or 0)
            parse = _SPECIAL.get(column.name, parse)
            if parse is None:
                break
            zh, required = column.info["zh"], column.info.get("required", False)
            return Field(column.name, zh, parse, required, json_type)
    raise TypeError(f"no interchange parser for {column.name} ({column.type}); add one")


def _fields() -> tuple[Field, ...]:
    """The columns that carry a Chinese header, in table order; the point as lon, lat."""
    out: list[Field] = []
    for column in schema.stations.columns:
        if "lon" in column.info:
            required = column.info.get("required", False)
            out += [
                Field(axis, column.info[axis], _SPECIAL[axis], required, "number")
                for axis in ("lon", "lat")
            ]
        elif "zh" in column.info:
            out.append(_field(column))
    return tuple(out)


FIELDS: tuple[Field, ...] = _fields()
FIELD_NAMES = tuple(f.name for f in FIELDS)
# No field needs more; control characters (NUL above all) only break things downstream.
MAX_CELL = 2000
# ... and lone surrogates (JSON "\ud800") cannot be stored as UTF-8 at all
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_PARSERS = tuple((f.name, f.parse, f.required) for f in FIELDS)
# Stored columns: the fields but lon/lat, which become the geometry.
COLUMNS = tuple(n for n in FIELD_NAMES if n not in ("lon", "lat"))
_BY_HEADER = {key.lower(): f for f in FIELDS for key in (f.name, f.zh)}
_BY_HEADER.update({"面积": _BY_HEADER["floor_area_m2"], "longitude": _BY_HEADER["lon"]})
_BY_HEADER.update({"latitude": _BY_HEADER["lat"], "区县": _BY_HEADER["district_name"]})


def field_for_header(header: str) -> Field | None:
    """The field a column header (English name or Chinese label) stands for."""
    return _BY_HEADER.get(header.strip().lower())


def match_headers(headers: list[str]) -> dict[int, Field]:
    """Map column positions to fields; unknown headers are ignored, duplicates refused."""
    found: dict[int, Field] = {}
    seen: set[str] = set()
    for index, header in enumerate(headers):
        field = field_for_header(str(header or ""))
        if field is None:
            continue
        if field.name in seen:
            raise FieldProblem(f"column {field.name} ({field.zh}) appears twice")
        seen.add(field.name)
        found[index] = field
    missing = [f"{f.name} ({f.zh})" for f in FIELDS if f.required and f.name not in seen]
    if "district_code" not in seen and "district_name" not in seen:
        missing.append("district_code (行政区划代码) or district_name (行政区划)")
    if missing:
        raise FieldProblem("missing column(s): " + ", ".join(missing))
    return found


Trouble = tuple[str, str, str, str | None]  # field, value, reason, the reason in Chinese


def parse_row(cells: Mapping[str, str]) -> tuple[dict[str, Any], list[Trouble]]:
    """Parse one row given as field name -> raw text.

    Returns the typed record (only the fields present) and a list of problems as
    ``(field, value, reason, reason in Chinese or None)``; a row with problems must not
    be stored.
    """
    record: dict[str, Any] = {}
    problems: list[Trouble] = []
    suspect = _CONTROL.search("".join(cells.values())) is not None  # one scan per row
    for name, parse, required in _PARSERS:
        raw = cells.get(name)
        if raw is None:
            continue
        raw = _active(raw)
        if len(raw) > MAX_CELL or (suspect and _CONTROL.search(raw)):
            reason = (
                f"must be text of at most {MAX_CELL} characters without control characters "
                "or lone surrogates"
            )
            problems.append((name, raw[:80], reason, None))
            continue
        if required and not raw.strip():
            problems.append((name, raw, "required", None))
            continue
        try:
            record[name] = parse(raw)
        except FieldProblem as exc:
            problems.append((name, raw, str(exc), exc.zh))
    if not problems and not (record.get("district_code") or record.get("district_name")):
        problems.append(("district_code", "", "required (or district_name)", None))
    return record, problems


# A cell a spreadsheet would run as a formula starts with one of these (OWASP's list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(text: str) -> str:
    """Text a spreadsheet will not run: a leading ``= + - @`` (tab, CR) gets an apostrophe.

    Station names and contacts come from imports: ``=HYPERLINK(...)`` in a union office's
    spreadsheet must stay text. :func:`parse_row` takes the apostrophe off again, so an
    export imports back unchanged.
    """
    return "'" + text if text.startswith(FORMULA_START) else text


def _active(text: str) -> str:
    """The inverse of :func:`inert`: one apostrophe before a formula start goes."""
    return (
        text[1:]
        if text.startswith("'") and text[1:2] and text[1:].startswith(FORMULA_START)
        else text
    )


def cell_text(value: Any) -> str:
    """A stored value as the text a file holds (the inverse of the field parsers)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ";".join(cell_text(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()  # spreadsheets store dates as midnight date-times
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# Stored types a GeoJSON property cannot hold as they are; looked up by exact type, which
# is several times cheaper than isinstance chains over every field of every feature.
_PLAIN: dict[type, Callable[[Any], Any]] = {
    Decimal: float,
    dt.date: dt.date.isoformat,
    dt.datetime: dt.datetime.isoformat,
}


def feature(record: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict:
    """A stored record (with ``lon``/``lat``) as a GeoJSON Feature, id first."""
    properties = {"id": record.get("id")} if "id" in record else {}
    get = record.get
    for name in COLUMNS:
        value = get(name)
        plain = _PLAIN.get(type(value))
        properties[name] = value if plain is None else plain(value)
    properties.update(extra or {})
    return {
        "type": "Feature",
        "id": record.get("id", record.get("code")),
        "geometry": {"type": "Point", "coordinates": [record["lon"], record["lat"]]},
        "properties": properties,
    }
