"""Parse and validate request parameters once, raising :class:`InvalidParameter`.

Each helper names the parameter and what is allowed, so a 400 tells a person exactly
what to change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from stations import vocabulary
from stations.errors import InvalidParameter, UnknownAmenity

LANGS = ("zh", "en")


def reject_unknown(args: Mapping[str, str], allowed: Iterable[str]) -> None:
    """Refuse parameters the endpoint does not know (a typo should not be ignored)."""
    allowed = set(allowed)
    for name in args:
        if name not in allowed:
            raise InvalidParameter(
                name, f"unknown parameter {name!r}; allowed: {', '.join(sorted(allowed))}"
            )


def integer(args: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """An integer in [lo, hi]."""
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(name, f"{name} must be a whole number from {lo} to {hi}") from None
    if not lo <= value <= hi:
        raise InvalidParameter(name, f"{name} must be from {lo} to {hi}, got {value}")
    return value


def bbox(args: Mapping[str, str], name: str = "bbox") -> tuple[float, float, float, float] | None:
    """``min_lon,min_lat,max_lon,max_lat`` in WGS-84 degrees."""
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    hint = f"{name} must be min_lon,min_lat,max_lon,max_lat in degrees, e.g. 112.4,37.7,112.7,38.0"
    try:
        values = [float(part) for part in raw.split(",")]
    except ValueError:
        raise InvalidParameter(name, hint) from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidParameter(name, hint)
    x0, y0, x1, y1 = values
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise InvalidParameter(name, f"{name} is outside -180..180 longitude / -90..90 latitude")
    if x0 > x1 or y0 > y1:
        raise InvalidParameter(name, f"{name} minimum must not exceed maximum: {hint}")
    return x0, y0, x1, y1


def amenities(args: Mapping[str, str], name: str = "amenities") -> list[str]:
    """A comma list of amenity codes, all known."""
    raw = args.get(name) or ""
    try:
        return vocabulary.check_amenities(raw.split(","))
    except UnknownAmenity as exc:
        raise InvalidParameter(
            name, f"{name}: {exc.message}", unknown=exc.details["unknown"]
        ) from None


def lang(args: Mapping[str, str]) -> str:
    """``zh`` (default) or ``en``."""
    value = args.get("lang") or "zh"
    if value not in LANGS:
        raise InvalidParameter("lang", f"lang must be one of {', '.join(LANGS)}")
    return value


def text(args: Mapping[str, str], name: str, max_len: int = 100) -> str | None:
    """A short free-text value, stripped; None when absent."""
    value = (args.get(name) or "").strip()
    if len(value) > max_len:
        raise InvalidParameter(name, f"{name} must be at most {max_len} characters")
    return value or None
