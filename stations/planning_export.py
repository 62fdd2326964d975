"""Planner answers as files: GeoJSON for a GIS, CSV with Chinese headers for a spreadsheet.

Each layer a planner sees (gap pieces, demand zones, suggested or fewest sites, the 2SFCA
table) is a FeatureCollection in the answer; this module names its columns once, for
the API's ``?format=`` downloads and the command line's ``.csv`` outputs alike. The CSV
is UTF-8 with a byte-order mark, so Excel opens the Chinese headers as written, and a
text cell a spreadsheet would run as a formula gets an apostrophe, as the registry
export does.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from stations.records import inert

FORMATS = ("json", "geojson", "csv")
MEDIA = {"geojson": "application/geo+json", "csv": "text/csv; charset=utf-8"}

Cell = Callable[[dict[str, Any]], Any]


def _prop(key: str) -> Cell:
    return lambda f: f["properties"].get(key)


def _point(i: int) -> Cell:
    return lambda f: f["geometry"]["coordinates"][i]


def _nested(key: str, inner: str) -> Cell:
    return lambda f: (f["properties"].get(key) or {}).get(inner)


def _index(key: str, i: int) -> Cell:
    return lambda f: f["properties"][key][i]


COLUMNS: dict[str, list[tuple[str, Cell]]] = {
    "gaps": [
        ("排名", _prop("rank")),
        ("县区代码", _prop("county_code")),
        ("县区", _prop("county_name")),
        ("未覆盖需求（人）", _prop("demand")),
        ("缺口面积（平方公里）", _prop("area_km2")),
        ("内点经度", _index("point", 0)),
        ("内点纬度", _index("point", 1)),
    ],
    "zones": [
        ("排名", _prop("rank")),
        ("县区代码", _prop("county_code")),
        ("县区", _prop("county_name")),
        ("未覆盖需求（人）", _prop("demand")),
        ("需求点数", _prop("points")),
        ("面积（平方公里）", _prop("area_km2")),
        ("中心经度", _index("centre", 0)),
        ("中心纬度", _index("centre", 1)),
        ("最近驿站编号", _nested("nearest_station", "id")),
        ("最近驿站", _nested("nearest_station", "name")),
        ("距最近驿站（米）", _nested("nearest_station", "distance_m")),
        ("最近驿站此时计入", _nested("nearest_station", "counted")),
    ],
    "sites": [
        ("排名", _prop("rank")),
        ("经度", _point(0)),
        ("纬度", _point(1)),
        ("新覆盖需求（人）", _prop("demand_newly_covered")),
        ("累计覆盖需求（人）", _prop("cumulative_demand_covered")),
        ("累计需求覆盖率", _prop("cumulative_demand_coverage_ratio")),
    ],
    "access": [
        ("县区代码", _prop("code")),
        ("县区", _prop("name")),
        ("2SFCA（站/千人）", _prop("score")),
        ("需求（人）", _prop("demand")),
        ("有可达驿站的需求占比", _prop("demand_with_access_ratio")),
        ("驿站数", _prop("stations")),
    ],
}


def layer(answer: dict[str, Any], name: str) -> dict[str, Any]:
    """The FeatureCollection ``name`` of a planner answer (the access answer is one)."""
    return answer if name == "access" else answer[name]


def csv_text(collection: dict[str, Any], name: str) -> str:
    """One row per feature under ``name``'s Chinese headers (the 2SFCA: worst first)."""
    features = collection["features"]
    if name == "access":  # where help is needed first; no demand (no score) last
        features = sorted(
            features,
            key=lambda f: (
                f["properties"]["score"] is None,
                f["properties"]["score"] or 0.0,
                f["properties"]["code"],
            ),
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = COLUMNS[name]
    writer.writerow([header for header, _ in columns])
    for feature in features:
        writer.writerow([_cell(cell(feature)) for _, cell in columns])
    return "\ufeff" + out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    return inert(value) if isinstance(value, str) else value


def download(answer: dict[str, Any], name: str, fmt: str) -> tuple[bytes, str]:
    """The layer's bytes in ``fmt`` (geojson or csv) and their media type."""
    collection = layer(answer, name)
    if fmt == "csv":
        return csv_text(collection, name).encode("utf-8"), MEDIA["csv"]
    plain = {"type": "FeatureCollection", "features": collection["features"]}
    return json.dumps(plain, ensure_ascii=False).encode("utf-8"), MEDIA["geojson"]


def file_name(name: str, district: str | None, at: str | None, fmt: str) -> str:
    """``zones_140100_2025-11-19T2200.csv``: the layer, the district code, the hour if any."""
    code = district if district and district.isascii() and district.isalnum() else "area"
    when = f"_{at.replace(':', '')}" if at else ""
    return f"{name}_{code}{when}.{fmt}"
