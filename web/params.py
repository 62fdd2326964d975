"""Parse and validate request parameters once, raising :class:`InvalidParameter`.

Each helper names the parameter and what is allowed, so a 400 tells a person exactly
what to change.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from flask import request
from werkzeug.exceptions import UnsupportedMediaType

from stations import hours, vocabulary
from stations.errors import InvalidParameter, UnknownAmenity
from web.bilingual import bilingual

LANGS = ("zh", "en")


def reject_unknown(args: Mapping[str, str], allowed: Iterable[str]) -> None:
    """Refuse parameters the endpoint does not know (a typo should not be ignored)."""
    allowed = set(allowed)
    for name in args:
        if name not in allowed:
            listed = ", ".join(sorted(allowed))
            raise InvalidParameter(
                name,
                f"unknown parameter {name!r}; allowed: {listed or 'none'}",
                zh=f"不认识的参数 {name!r}；可用：{listed or '无'}",
            )
        if hasattr(args, "getlist") and len(args.getlist(name)) > 1:
            raise InvalidParameter(
                name, f"{name} is given more than once; give it once", zh=f"{name} 重复了；只给一次"
            )


def integer(args: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """An integer in [lo, hi]."""
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(
            name,
            f"{name} must be a whole number from {lo} to {hi}",
            zh=f"{name} 应为 {lo} 到 {hi} 之间的整数",
        ) from None
    if not lo <= value <= hi:
        raise InvalidParameter(
            name,
            f"{name} must be from {lo} to {hi}, got {value}",
            zh=f"{name} 应在 {lo} 到 {hi} 之间，收到 {value}",
        )
    return value


def bbox(args: Mapping[str, str], name: str = "bbox") -> tuple[float, float, float, float] | None:
    """``min_lon,min_lat,max_lon,max_lat`` in WGS-84 degrees."""
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    hint = f"{name} must be min_lon,min_lat,max_lon,max_lat in degrees, e.g. 112.4,37.7,112.7,38.0"
    hint_zh = f"{name} 应为“最小经度,最小纬度,最大经度,最大纬度”（度），例如 112.4,37.7,112.7,38.0"
    try:
        values = [float(part) for part in raw.split(",")]
    except ValueError:
        raise InvalidParameter(name, hint, zh=hint_zh) from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidParameter(name, hint, zh=hint_zh)
    x0, y0, x1, y1 = values
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise InvalidParameter(
            name,
            f"{name} is outside -180..180 longitude / -90..90 latitude",
            zh=f"{name} 超出经度 -180..180 / 纬度 -90..90 的范围",
        )
    if x0 > x1 or y0 > y1:
        raise InvalidParameter(
            name,
            f"{name} minimum must not exceed maximum: {hint}",
            zh=f"{name} 的最小值不能大于最大值：{hint_zh}",
        )
    return x0, y0, x1, y1


def amenities(args: Mapping[str, str], name: str = "amenities") -> list[str]:
    """A comma list of amenity codes, all known."""
    raw = args.get(name) or ""
    try:
        return vocabulary.check_amenities(raw.split(","))
    except UnknownAmenity as exc:
        raise InvalidParameter(
            name,
            f"{name}: {exc.message}",
            zh=f"{name}：{exc.message_in('zh')}",
            unknown=exc.details["unknown"],
        ) from None


def lang(args: Mapping[str, str]) -> str:
    """``zh`` (default) or ``en``."""
    return choice(args, "lang", LANGS, "zh")


def preferred_lang() -> str:
    """The language a person asked for: ``lang``, else ``Accept-Language``, else Chinese.

    For error messages, which must not fail themselves: a bad ``lang`` is ignored here.
    """
    asked = request.args.get("lang")
    if asked in LANGS:
        return asked
    return request.accept_languages.best_match(["zh", "en"], default="zh") or "zh"


def text(args: Mapping[str, str], name: str, max_len: int = 100) -> str | None:
    """A short free-text value, stripped; None when absent."""
    raw = args.get(name)
    value = raw.strip() if isinstance(raw, str) else ""
    bad = raw is not None and not isinstance(raw, str)  # a JSON body may send a list
    if bad or len(value) > max_len or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidParameter(
            name,
            f"{name} must be at most {max_len} characters without control characters",
            zh=f"{name} 最多 {max_len} 个字符，且不能含控制字符",
        )
    return value or None


def number(
    args: Mapping[str, str], name: str, lo: float, hi: float, default: float | None = None
) -> float:
    """A finite decimal number in [lo, hi]; required when there is no default."""
    raw = args.get(name)
    if raw is None or raw.strip() == "":
        if default is None:
            raise InvalidParameter(
                name,
                f"{name} is required: a number from {lo:g} to {hi:g}",
                zh=f"请填写 {name}：{lo:g} 到 {hi:g} 之间的数",
            )
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidParameter(
            name,
            f"{name} must be a number from {lo:g} to {hi:g}",
            zh=f"{name} 应为 {lo:g} 到 {hi:g} 之间的数",
        ) from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise InvalidParameter(
            name,
            f"{name} must be a number from {lo:g} to {hi:g}, got {raw}",
            zh=f"{name} 应为 {lo:g} 到 {hi:g} 之间的数，收到 {raw}",
        )
    return value


def boolean(args: Mapping[str, str], name: str, default: bool) -> bool:
    """``true``/``false`` (also ``1``/``0``)."""
    raw = (args.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("true", "1"):
        return True
    if raw in ("false", "0"):
        return False
    raise InvalidParameter(name, f"{name} must be true or false", zh=f"{name} 应为 true 或 false")


def choice(args: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    """One of ``allowed``."""
    value = args.get(name) or default
    if value not in allowed:
        listed = ", ".join(allowed)
        raise InvalidParameter(
            name,
            f"{name} must be one of {listed}, got {value!r}",
            zh=f"{name} 应为以下之一：{listed}；收到 {value!r}",
        )
    return value


def instant(args: Mapping[str, str], name: str) -> dt.datetime | None:
    """An ISO 8601 date-time; without an offset it is Asia/Shanghai local time."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    # an unencoded "+08:00" in a query string arrives as " 08:00"
    raw = re.sub(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$", r"\1+\2", raw)
    return hours.parse_instant(raw, name)


def json_body(
    allowed: Iterable[str] | None, media_types: tuple[str, ...] = ("application/json",)
) -> dict[str, Any]:
    """The request's JSON object, refusing other media types and unknown members.

    Only JSON media types are accepted: a cross-site HTML form cannot send them, which
    keeps a signed-in planner's cookie from being used by another site (see web.auth).
    ``allowed`` None leaves checking the members to the caller.
    """
    if request.mimetype not in media_types:
        raise bilingual(
            UnsupportedMediaType(
                f"send the request body as JSON (Content-Type: {' or '.join(media_types)})"
            ),
            f"请以 JSON 发送请求内容（Content-Type: {' 或 '.join(media_types)}）",
        )
    raw = request.get_data(cache=True)
    try:  # strict UTF-8 first: json.loads would let encoded lone surrogates through
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidParameter(
            "body",
            f"the request body is not valid JSON: {exc}",
            zh=f"请求内容不是有效的 JSON：{exc}",
        ) from None
    except RecursionError:  # [[[[…]]]] nested deeper than any real document
        raise InvalidParameter(
            "body", "the request body is nested too deeply", zh="请求内容嵌套过深"
        ) from None
    except ValueError as exc:  # e.g. a number of more digits than Python converts
        raise InvalidParameter(
            "body",
            f"the request body is not usable JSON: {exc}",
            zh=f"请求内容无法作为 JSON 使用：{exc}",
        ) from None
    if not isinstance(body, dict):
        raise InvalidParameter(
            "body", "the request body must be a JSON object", zh="请求内容应为 JSON 对象"
        )
    if (b"\\ud" in raw or b"\\uD" in raw) and _has_lone_surrogate(body):
        raise InvalidParameter(
            "body",
            "the request body holds a lone UTF-16 surrogate (\\ud800-\\udfff); send text",
            zh="请求内容含有孤立的 UTF-16 代理字符（\\ud800-\\udfff）；请发送正常文本",
        )
    if allowed is not None:
        reject_unknown(body, allowed)
    return body


def _has_lone_surrogate(body: Any) -> bool:
    """True when a string in ``body`` cannot be encoded as UTF-8 (nor stored, nor logged)."""
    try:
        orjson.dumps(body)
    except TypeError:
        return True
    return False


def station_id(raw: str) -> int:
    """A station id from the path: a positive whole number."""
    return positive_id(raw, "id", "station id", "驿站编号")


def positive_id(raw: str, name: str, what: str, what_zh: str) -> int:
    """A row id from the path: a positive whole number, else a 400 naming ``name``."""
    if not re.fullmatch(r"[0-9]{1,18}", raw) or int(raw) == 0:
        raise InvalidParameter(
            name,
            f"{what} must be a positive whole number, got {raw!r}",
            zh=f"{what_zh}应为正整数，收到 {raw!r}",
        )
    return int(raw)


def body_amenities(body: Mapping[str, Any], name: str = "amenities") -> list[str]:
    """Amenity codes given as a JSON list (or a comma string), all known."""
    value = body.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return amenities({name: value}, name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameter(
            name, f"{name} must be a list of amenity codes", zh=f"{name} 应为设施代码的列表"
        )
    return amenities({name: ",".join(value)}, name)


def body_number(
    body: Mapping[str, Any], name: str, lo: float, hi: float, default: float | None = None
) -> float:
    """A JSON number in [lo, hi]; required when there is no default."""
    value = body.get(name)
    if value is None:
        if default is None:
            raise InvalidParameter(
                name,
                f"{name} is required: a number from {lo:g} to {hi:g}",
                zh=f"请填写 {name}：{lo:g} 到 {hi:g} 之间的数",
            )
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameter(
            name,
            f"{name} must be a number from {lo:g} to {hi:g}",
            zh=f"{name} 应为 {lo:g} 到 {hi:g} 之间的数",
        )
    # compared as it is (NaN and infinities fail too): a 400-digit int has no float
    if not lo <= value <= hi:
        got = f"{value:g}" if isinstance(value, float) or abs(value) < 10**15 else "a longer number"
        raise InvalidParameter(
            name,
            f"{name} must be a number from {lo:g} to {hi:g}, got {got}",
            zh=f"{name} 应为 {lo:g} 到 {hi:g} 之间的数，收到 {got}",
        )
    return float(value)


def body_instant(body: Mapping[str, Any], name: str) -> dt.datetime | None:
    """An ISO 8601 date-time string; without an offset it is Asia/Shanghai local time."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParameter(
            name,
            f"{name} must be an ISO 8601 date-time string",
            zh=f"{name} 应为 ISO 8601 日期时间文本，例如 2025-11-19T22:00",
        )
    return hours.parse_instant(value.strip(), name)


def body_date(body: Mapping[str, Any], name: str) -> dt.date:
    """A required ISO 8601 calendar date, YYYY-MM-DD."""
    return hours.parse_date(body.get(name), name)
