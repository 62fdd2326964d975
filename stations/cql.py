"""CQL2-text filters (OGC API – Features Part 3) on station properties, as parametrised SQL.

pygeofilter parses the text; this module walks its tree and writes SQL for the node kinds
it knows, over the queryable properties only, with every literal passed as a parameter
(never spliced into the text). A literal of the wrong type for its property is refused
here with a message, so no filter reaches PostgreSQL that it would reject.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import shapely

from stations.errors import InvalidParameter

MAX_LENGTH = 4000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # as stations.records

_HINT = (
    "write CQL2 text, e.g. status = 'active' AND floor_area_m2 >= 12 "
    "AND S_INTERSECTS(geometry, BBOX(112.4, 37.7, 112.7, 38.0))"
)
_HINT_ZH = (
    "请用 CQL2 文本，例如 status = 'active' AND floor_area_m2 >= 12 "
    "AND S_INTERSECTS(geometry, BBOX(112.4, 37.7, 112.7, 38.0))"
)

# pygeofilter's node classes by name: the parser (with dateparser, lark and lxml, about
# 30 MiB) is imported by the first filter, not by every web worker at start
_COMPARE = {
    "Equal": "=",
    "NotEqual": "<>",
    "LessThan": "<",
    "LessEqual": "<=",
    "GreaterThan": ">",
    "GreaterEqual": ">=",
}
_SPATIAL = {
    "GeometryIntersects": "ST_Intersects",
    "GeometryWithin": "ST_Within",
    "GeometryContains": "ST_Contains",
    "GeometryDisjoint": "ST_Disjoint",
    "GeometryEquals": "ST_Equals",
}
# what a literal of each property kind must be (bool is an int in Python: listed first)
_ACCEPTS: dict[str, tuple[type, ...]] = {
    "text": (str,),
    "number": (int, float),
    "date": (dt.date,),
    "boolean": (bool,),
}

_KIND_ZH = {
    "text": "文本",
    "number": "数字",
    "date": "日期（DATE('2021-01-01')）",
    "boolean": "布尔值",
    "geometry": "几何（只用于 S_INTERSECTS 等空间谓词）",
}


def _plain_number(value: Any) -> bool:
    """A finite number of a sane size (huge integers overflow float maths: a 500)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value) and abs(value) < 1e300
    except OverflowError:
        return False


_WORD = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[()]|[A-Za-z_]+")


def _mixes_and_or(text: str) -> bool:
    """Whether AND and OR meet at one bracket depth, outside quotes and BETWEEN … AND.

    pygeofilter reads them left to right with equal precedence, where CQL2 binds AND
    tighter: ``a OR b AND c`` would silently mean ``(a OR b) AND c``.
    """
    seen: list[set[str]] = [set()]
    between = [0]
    for token in _WORD.findall(text):
        word = token.upper()
        if token == "(":
            seen.append(set())
            between.append(0)
        elif token == ")":
            if len(seen) > 1:
                seen.pop()
                between.pop()
        elif word == "BETWEEN":
            between[-1] += 1
        elif word == "AND" and between[-1]:
            between[-1] -= 1
        elif word in ("AND", "OR"):
            seen[-1].add(word)
            if len(seen[-1]) == 2:
                return True
    return False


def _kind(node: Any) -> str:
    """A parsed node's class name (pygeofilter.ast / pygeofilter.values)."""
    return type(node).__name__


def _refuse(message: str, zh: str) -> InvalidParameter:
    return InvalidParameter("filter", f"filter: {message}", zh=f"filter：{zh}")


def to_sql(text: str, queryables: Mapping[str, tuple[str, str]]) -> tuple[str, dict[str, Any]]:
    """SQL condition and parameters for a CQL2-text ``text``.

    ``queryables`` maps each property name to (SQL expression, kind), kind one of text,
    number, date, boolean, geometry.
    """
    if len(text) > MAX_LENGTH:
        raise _refuse(f"at most {MAX_LENGTH} characters", f"最多 {MAX_LENGTH} 个字符")
    if _CONTROL.search(text):
        raise _refuse("control characters are not allowed", "不能含控制字符")
    if _mixes_and_or(text):
        raise _refuse(
            "AND and OR side by side are ambiguous here: add parentheses, e.g. a OR (b AND c)",
            "AND 与 OR 并列时请加括号，例如 a OR (b AND c)",
        )
    from pygeofilter.parsers.cql2_text import parse

    try:
        tree = parse(text)
    except Exception as exc:  # lark's errors, whatever the parser version raises
        where = getattr(exc, "column", None)
        at = f" (near column {where})" if where else ""
        at_zh = f"（约第 {where} 列）" if where else ""
        raise _refuse(
            f"not CQL2 text{at}; {_HINT}", f"不是有效的 CQL2 文本{at_zh}；{_HINT_ZH}"
        ) from None
    params: dict[str, Any] = {}
    return _Writer(queryables, params).node(tree), params


class _Writer:
    def __init__(self, queryables: Mapping[str, tuple[str, str]], params: dict[str, Any]):
        self.queryables = queryables
        self.params = params

    def value(self, literal: Any) -> str:
        name = f"cql{len(self.params)}"
        self.params[name] = literal
        return f"%({name})s"

    def attribute(self, node: Any) -> tuple[str, str]:
        if _kind(node) != "Attribute":
            raise _refuse(
                "compare a property with a value (property first)", "请用“属性 运算符 值”的形式"
            )
        if node.name not in self.queryables:
            known = ", ".join(sorted(self.queryables))
            raise _refuse(
                f"unknown property {node.name!r}; queryable: {known}",
                f"未知属性 {node.name!r}；可查询：{known}",
            )
        return self.queryables[node.name]

    def literal(self, kind: str, name: str, value: Any) -> str:
        accepts = _ACCEPTS.get(kind, ())
        ok = isinstance(value, accepts) and not (kind == "number" and isinstance(value, bool))
        if kind == "date" and isinstance(value, dt.datetime):
            ok = False
        if kind == "number" and ok:
            ok = _plain_number(value)
        if not ok:
            raise _refuse(
                f"{name} is a {kind}; {repr(value)[:40]} is not",
                f"{name} 是{_KIND_ZH[kind]}，{repr(value)[:40]} 不是",
            )
        return self.value(value)

    def node(self, node: Any) -> str:  # noqa: PLR0911 (one branch per node kind)
        kind = _kind(node)
        if kind in ("And", "Or"):
            joiner = f" {kind.upper()} "
            return f"({self.node(node.lhs)}{joiner}{self.node(node.rhs)})"
        if kind == "Not":
            return f"(NOT {self.node(node.sub_node)})"
        if kind in _COMPARE:
            sql, of = self.attribute(node.lhs)
            return f"({sql} {_COMPARE[kind]} {self.literal(of, node.lhs.name, node.rhs)})"
        if kind == "Between":
            sql, of = self.attribute(node.lhs)
            low = self.literal(of, node.lhs.name, node.low)
            high = self.literal(of, node.lhs.name, node.high)
            return f"({sql} {'NOT ' if node.not_ else ''}BETWEEN {low} AND {high})"
        if kind == "In":
            sql, of = self.attribute(node.lhs)
            items = ", ".join(self.literal(of, node.lhs.name, v) for v in node.sub_nodes)
            return f"({sql} {'NOT ' if node.not_ else ''}IN ({items}))"
        if kind == "Like":
            sql, of = self.attribute(node.lhs)
            if of != "text":
                raise _refuse(
                    f"LIKE needs a text property, not {node.lhs.name}", "LIKE 只用于文本属性"
                )
            if (len(node.pattern) - len(node.pattern.rstrip("\\"))) % 2:
                raise _refuse(
                    "a LIKE pattern cannot end with a lone backslash (it escapes % and _)",
                    "LIKE 模式不能以单个反斜杠结尾（反斜杠用于转义 % 和 _）",
                )
            pattern = self.literal(of, node.lhs.name, node.pattern)
            op = "ILIKE" if node.nocase else "LIKE"
            return f"({sql} {'NOT ' if node.not_ else ''}{op} {pattern})"
        if kind == "IsNull":
            sql, _ = self.attribute(node.lhs)
            return f"({sql} IS {'NOT ' if node.not_ else ''}NULL)"
        if kind in _SPATIAL:
            sql, of = self.attribute(node.lhs)
            if of != "geometry":
                raise _refuse(f"{node.lhs.name} is not a geometry", f"{node.lhs.name} 不是几何属性")
            return f"{_SPATIAL[kind]}({sql}, {self.geometry(node.rhs)})"
        raise _refuse(
            f"{kind} is not supported; use comparisons, BETWEEN, IN, LIKE, "
            "IS NULL, AND/OR/NOT and S_INTERSECTS/S_WITHIN/S_CONTAINS/S_DISJOINT/S_EQUALS",
            "不支持此运算；可用比较、BETWEEN、IN、LIKE、IS NULL、AND/OR/NOT 与空间谓词",
        )

    def geometry(self, node: Any) -> str:
        """A geometry literal (WKT or BBOX(...)) in CRS84, checked before PostGIS sees it."""
        kind = _kind(node)
        if kind == "Function" and node.name.lower() == "bbox":
            box = node.arguments
            if len(box) != 4 or not all(_plain_number(v) for v in box):
                raise _refuse("BBOX takes 4 numbers", "BBOX 需要 4 个数")
            if box[0] > box[2] or box[1] > box[3]:
                raise _refuse(
                    "BBOX is min_lon, min_lat, max_lon, max_lat (one crossing 180° is not "
                    "supported)",
                    "BBOX 应为 最小经度, 最小纬度, 最大经度, 最大纬度（不支持跨 180° 经线）",
                )
            geom = shapely.box(*box)
        elif kind == "Geometry":
            try:
                geom = shapely.from_geojson(json.dumps(node.geometry))
            except shapely.errors.GEOSException:
                raise _refuse("the geometry is not valid WKT", "几何不是有效的 WKT") from None
        elif kind == "Envelope":
            corners = (node.x1, node.y1, node.x2, node.y2)
            if not all(_plain_number(v) for v in corners):
                raise _refuse("ENVELOPE takes 4 numbers", "ENVELOPE 需要 4 个数")
            geom = shapely.box(*corners)
        else:
            raise _refuse("the second argument must be a geometry", "第二个参数必须是几何")
        x0, y0, x1, y1 = geom.bounds
        if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90) or not geom.is_valid:
            raise _refuse(
                "the geometry must be valid, in lon/lat degrees (CRS84)",
                "几何必须有效，坐标为经纬度（CRS84）",
            )
        return f"ST_GeomFromText({self.value(geom.wkt)}, 4326)"
