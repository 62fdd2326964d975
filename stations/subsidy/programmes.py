"""Programme files: one TOML file per subsidy programme in ``data/subsidy/``.

A union officer edits these, not code, so every mistake is reported with the file, the
key and the problem, and unknown keys are refused (a misspelt key must not silently
drop a rule). Thresholds may be dated (``[{from = 2021-01-01, value = 12}, ...]``): the
value in force on the last day of the report's period applies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stations import settings, vocabulary
from stations.errors import InvalidInput, NotFound

FACTS = ("has_sign", "has_rules", "has_staff")
MAX_NUMBER = {"min_floor_area_m2": 10_000, "min_spacing_m": 50_000}  # m², m
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
ORDER_KEYS = ("gap_demand", "opened_on", "floor_area_m2", "code")
# criterion kind -> what its threshold is
KINDS: dict[str, str] = {
    "status_in": "statuses",
    "built_by_in": "builders",
    "host_type_in": "host types",
    "opened_in_period": "none",
    "hours_published": "none",
    "min_floor_area_m2": "number",
    "min_spacing_m": "number",
    "amenities_all": "amenities",
    "fact_true": "fact",
}


class InvalidProgramme(InvalidInput):
    """A programme file (or an override of it) breaks the rules of the format."""

    code = "invalid-programme"
    title = "Invalid programme"


# Far above any union's budget, far below where money arithmetic overflows a float:
# 10^12 yuan (one trillion), so a what-if of 1e306 is a 422, not a crash.
MAX_CNY = 1e12


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DatedValue(_Strict):
    """A threshold value in force from a date."""

    from_: dt.date = Field(alias="from")
    value: float = Field(gt=0, le=MAX_CNY)


class Criterion(_Strict):
    """One rule a station must meet."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    kind: Literal[tuple(KINDS)]  # type: ignore[valid-type]
    label: Annotated[str, Field(min_length=1, max_length=40)]
    threshold: Any = None

    @model_validator(mode="after")
    def _threshold_fits_kind(self) -> Criterion:
        expected = KINDS[self.kind]
        value = self.threshold
        if expected == "none":
            if value is not None:
                raise ValueError(f"a {self.kind} criterion takes no threshold")
        elif expected == "number":
            most = MAX_NUMBER[self.kind]
            if any(item.value > most for item in _dated(value)):  # _dated raises on bad shapes
                raise ValueError(f"threshold must be at most {most:,}")
        elif expected == "fact":
            if value not in FACTS:
                raise ValueError(f"threshold must be one of {', '.join(FACTS)}")
        else:
            vocab = {
                "statuses": "statuses",
                "builders": "built_by",
                "host types": "host_types",
                "amenities": "amenities",
            }[expected]
            known = vocabulary.terms(vocab)
            if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
                raise ValueError(f"threshold must be a non-empty list of {expected} codes")
            unknown = [v for v in value if v not in known]
            if unknown:
                raise ValueError(f"unknown {expected}: {', '.join(unknown)}")
        return self

    def value_on(self, day: dt.date) -> Any:
        """The threshold in force on ``day`` (None when a dated one starts later)."""
        if KINDS[self.kind] != "number":
            return self.threshold
        for item in reversed(_dated(self.threshold)):
            if item.from_ <= day:
                return item.value
        return None


def _dated(value: Any) -> list[DatedValue]:
    """A number, or dated values in date order: always as a dated list."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not 0 < value < float("inf"):
            raise ValueError("threshold must be a number greater than 0")
        return [DatedValue.model_validate({"from": dt.date.min, "value": value})]
    if not isinstance(value, list) or not value:
        raise ValueError("threshold must be a number or a list of {from = DATE, value = N}")
    items = [v if isinstance(v, DatedValue) else DatedValue.model_validate(v) for v in value]
    days = [i.from_ for i in items]
    if any(not EARLIEST <= day <= LATEST for day in days):
        raise ValueError("dated thresholds must start between 2000-01-01 and 2100-12-31")
    if days != sorted(set(days)):
        raise ValueError("dated thresholds must be in date order, one per date")
    return items


class Period(_Strict):
    """A range of days, both ends included."""

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.start > self.end:
            raise ValueError("start must not be after end")
        if self.start < EARLIEST or self.end > LATEST:
            raise ValueError("dates must be between 2000-01-01 and 2100-12-31")
        return self


class Cap(_Strict):
    """How many places or how much money there is, and who gets them first."""

    count: Annotated[int, Field(gt=0, le=10**9)] | None = None
    budget_cny: Annotated[float, Field(gt=0, le=MAX_CNY)] | None = None
    order: list[str] = ["code asc"]
    gap_radius_m: Annotated[float, Field(gt=0, le=50_000)] = 1000

    @field_validator("order")
    @classmethod
    def _known_keys(cls, order: list[str]) -> list[str]:
        for item in order:
            key, _, direction = item.partition(" ")
            if key not in ORDER_KEYS or direction not in ("asc", "desc"):
                raise ValueError(
                    f"{item!r}: each entry is 'KEY asc' or 'KEY desc' with KEY one of "
                    + ", ".join(ORDER_KEYS)
                )
        return order


class Programme(_Strict):
    """A subsidy programme as its file states it."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,59}$")]
    name: Annotated[str, Field(min_length=1)]
    name_en: str = ""
    authority: str = ""
    region: Annotated[str, Field(pattern=r"^[0-9]{6}$")]
    amount_cny: Annotated[float, Field(gt=0, le=MAX_CNY)]
    accrual: Literal["once", "monthly", "prorated"]
    period: Period
    cap: Cap | None = None
    criteria: Annotated[list[Criterion], Field(min_length=1)]

    @field_validator("criteria")
    @classmethod
    def _unique_ids(cls, criteria: list[Criterion]) -> list[Criterion]:
        ids = [c.id for c in criteria]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"criterion ids must be unique; repeated: {', '.join(repeated)}")
        return criteria

    def criterion(self, kind: str) -> Criterion | None:
        """The (first) criterion of a kind, if the programme has one."""
        return next((c for c in self.criteria if c.kind == kind), None)


@dataclass(frozen=True)
class Loaded:
    """A programme with where it came from and the hash of exactly what was read."""

    programme: Programme
    source: str
    sha256: str
    raw: dict[str, Any]
    data: bytes = field(default=b"", repr=False)  # the file's bytes (empty: overridden)


def folder() -> Path:
    """Where the programme files live (``STATIONS_DATA_DIR/subsidy``)."""
    return Path(settings.path("STATIONS_DATA_DIR")) / "subsidy"


def parse_text(text: str, source: str) -> Loaded:
    """A programme from TOML text (a what-if request); refuses text that is not UTF-8-able."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidProgramme(f"{source}: not valid Unicode text") from None
    return parse(data, source)


def parse(data: bytes, source: str) -> Loaded:
    """A programme from the bytes of a TOML file; errors name ``source``, key and problem."""
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidProgramme(f"{source}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidProgramme(f"{source}: not valid TOML: {exc}") from None
    return Loaded(_validate(raw, source), source, hashlib.sha256(data).hexdigest(), raw, data)


def _validate(raw: Mapping[str, Any], source: str) -> Programme:
    try:
        return Programme.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = _key(raw, error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(f"{key}: {message}" if key else message)
        raise InvalidProgramme(f"{source}: " + "; ".join(problems), problems=problems) from None


def _key(raw: Mapping[str, Any], loc: tuple[Any, ...]) -> str:
    """A dotted key with criteria named by id: ``criteria.floor_area.threshold``."""
    parts: list[str] = []
    node: Any = raw
    for i, part in enumerate(loc):
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            item = node[part]
            named = loc[i - 1] == "criteria" and isinstance(item, dict) and "id" in item
            parts.append(str(item["id"]) if named else str(part))
            node = item
            continue
        if isinstance(part, str) and re.fullmatch(r"[a-z_]+\[.*\]|function-after\[.*\]", part):
            continue  # pydantic's names for union branches and validators
        parts.append(str(part))
        node = node.get(part) if isinstance(node, dict) else None
    return ".".join(parts)


def load_all() -> list[Loaded]:
    """Every programme file, by id; one broken file fails the lot, naming itself."""
    found = [parse(p.read_bytes(), p.name) for p in sorted(folder().glob("*.toml"))]
    ids = [f.programme.id for f in found]
    for f in found:
        if ids.count(f.programme.id) > 1:
            raise InvalidProgramme(f"{f.source}: id {f.programme.id!r} is used by two files")
    return sorted(found, key=lambda f: f.programme.id)


def load(programme_id: str) -> Loaded:
    """One programme by id."""
    found = load_all()
    for loaded in found:
        if loaded.programme.id == programme_id:
            return loaded
    known = ", ".join(f.programme.id for f in found)
    raise NotFound(f"no subsidy programme {programme_id!r}; known: {known}")


def with_overrides(loaded: Loaded, overrides: Mapping[str, Any]) -> Loaded:
    """The programme with values replaced, checked like a file (for what-if).

    Keys are dotted paths into the file: ``amount_cny``, ``cap.count``,
    ``criteria.floor_area.threshold`` (criteria by id); a plain number for a dated
    threshold replaces it for every date.
    """
    raw = _copy(loaded.raw)
    for key, value in overrides.items():
        parts = str(key).split(".")
        if parts[0] == "criteria":
            found = [
                c for c in raw.get("criteria", []) if len(parts) == 3 and c.get("id") == parts[1]
            ]
            if not found:
                raise InvalidProgramme(
                    f"override {key}: give criteria.ID.KEY with the id of a criterion",
                    param=str(key),
                )
            found[0][parts[2]] = value
            continue
        node: Any = raw
        for part in parts[:-1]:
            node = node.setdefault(part, {}) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise InvalidProgramme(f"override {key}: no such key", param=str(key))
        node[parts[-1]] = value
    source = f"{loaded.source} with overrides"
    text = repr(sorted((str(k), repr(v)) for k, v in overrides.items()))
    sha = hashlib.sha256((loaded.sha256 + text).encode()).hexdigest()
    return Loaded(_validate(raw, source), source, sha, raw)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
