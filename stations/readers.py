"""Read station files into ``(row number, {field: text})`` pairs, whatever the format.

Readers stream (a 100,000-row file is never held twice) and turn every cell into text,
so one parser (:func:`stations.records.parse_row`) validates all formats alike.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stations.errors import ImportRejected
from stations.records import FIELDS, FieldProblem, cell_text, field_for_header, match_headers

Rows = Iterator[tuple[int, dict[str, str]]]
FORMATS = ("csv", "geojson", "xlsx")


def detect_format(path: Path) -> str:
    """The format named by the file's extension."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix == "json":
        suffix = "geojson"
    if suffix not in FORMATS:
        raise ImportRejected(
            f"{path.name}: unsupported file type {path.suffix or '(none)'}; use .csv, "
            ".geojson or .xlsx",
            rows=[],
        )
    return suffix


def read_rows(path: Path) -> Rows:
    """Rows of a CSV, GeoJSON or XLSX file."""
    if not path.is_file():
        raise ImportRejected(f"{path}: no such file", rows=[])
    reader = {"csv": _csv_rows, "geojson": _geojson_rows, "xlsx": _xlsx_rows}
    return reader[detect_format(path)](path)


def _header_problem(path: Path, exc: Exception) -> ImportRejected:
    return ImportRejected(
        f"{path.name}: {exc}",
        rows=[{"row": 1, "field": "header", "value": "", "reason": str(exc)}],
    )


def _table_rows(path: Path, lines: Iterator[list[str]], exact: bool = False) -> Rows:
    """Rows of a table of text whose first line is the header (CSV and XLSX).

    Cells are passed on as they are; the field parsers strip them. With ``exact`` (CSV),
    a row with more or fewer cells than the header is refused: a file cut short, or a
    cell with an unquoted comma, must not import as rows whose last fields were cleared
    (an empty cell clears the stored value). The whole file is read before that is
    reported, so every such row is named.
    """
    header = next(lines, None)
    if header is None:
        raise _header_problem(path, FieldProblem("the file is empty"))
    try:
        columns = match_headers(header)
    except FieldProblem as exc:
        raise _header_problem(path, exc) from None
    pairs = [(i, f.name) for i, f in columns.items()]
    width = len(header)
    uneven: list[dict[str, Any]] = []
    for row_no, line in enumerate(lines, start=2):
        if not any(line):
            continue  # blank lines in spreadsheets are common and mean nothing
        if exact and len(line) != width:
            uneven.append(_uneven(row_no, len(line), width))
            continue
        if len(line) < width:
            line = line + [""] * (width - len(line))
        yield row_no, {name: line[i] for i, name in pairs}
    if uneven:
        first = uneven[0]["row"]
        raise ImportRejected(
            f"{path.name}: {len(uneven)} row(s) have a different number of cells than the "
            f"header (first: row {first}); nothing was imported",
            zh=f"{path.name}：{len(uneven)} 行的单元格数与表头不同（第一处：第 {first} 行），"
            "未导入任何数据",
            rows=uneven,
        )


def _uneven(row_no: int, cells: int, width: int) -> dict[str, Any]:
    return {
        "row": row_no,
        "field": "row",
        "value": f"{cells} cells",
        "reason": f"{cells} cells where the header has {width}: the file may be cut short, "
        "or a cell holds a comma without quotes",
        "reason_zh": f"有 {cells} 个单元格，表头有 {width} 个：文件可能不完整，"
        "或某个单元格含有未加引号的逗号",
    }


def _csv_rows(path: Path) -> Rows:
    text = _decode(path, path.read_bytes())
    if text and not text.endswith(("\n", "\r")):
        # every spreadsheet program ends a CSV with a line break: this one was cut short
        raise ImportRejected(
            f"{path.name}: the file does not end with a line break, so it was probably cut "
            "short while being written or copied; nothing was imported (save or copy it "
            "again)",
            zh=f"{path.name}：文件末尾没有换行，可能在写入或复制时被截断；未导入任何数据"
            "（请重新保存或复制）",
            rows=[
                {
                    "row": _last_row(text),
                    "field": "file",
                    "value": text[-40:],
                    "reason": "the file ends inside this row: cut short",
                    "reason_zh": "文件在这一行中间结束：不完整",
                }
            ],
        )
    lines = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        yield from _table_rows(path, iter(lines), exact=True)
    except csv.Error as exc:  # a cell larger than the csv module's limit, a quote left open
        raise _header_problem(
            path, FieldProblem(f"not a readable CSV file at line {lines.line_num} ({exc})")
        ) from None


def _last_row(text: str) -> int:
    """The spreadsheet row number of the last row (header = 1), as a person counts."""
    try:
        return sum(1 for _ in csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error:  # a quote left open: count lines instead
        return text.count("\n") + 1


def _decode(path: Path, data: bytes) -> str:
    """UTF-8 (with or without Excel's byte-order mark), else GB18030 as Chinese Excel saves."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _header_problem(path, FieldProblem("the file is neither UTF-8 nor GB18030 text"))


# A sheet of a million rows is about 1.2 GB of XML; its shared strings (names, addresses)
# a few hundred MB. Past these, a 50 MB upload is a zip bomb, not a station file.
MAX_XLSX_PART = 2 * 1024**3
MAX_SHARED_STRINGS = 512 * 1024**2


def _xlsx_rows(path: Path) -> Rows:
    import openpyxl

    if not openpyxl.DEFUSEDXML:  # entity expansion ("billion laughs") would go unchecked
        raise _header_problem(
            path,
            FieldProblem("XLSX import is off: defusedxml is missing or OPENPYXL_DEFUSEDXML=False"),
        )
    _check_zip_sizes(path)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise _header_problem(path, FieldProblem(f"not a readable .xlsx file ({exc})")) from None
    try:
        sheet = book.worksheets[0]
        # the sheet's own <dimension> may claim A1:XFD1048576 (17 billion cells) in a 5 KB
        # file: forget it and read the cells that are there, one row at a time
        sheet.reset_dimensions()
        yield from _table_rows(path, _bounded_rows(path, sheet.iter_rows(values_only=True)))
    except ImportRejected:
        raise
    except Exception as exc:  # a damaged file fails while its rows are read, too
        raise _header_problem(path, FieldProblem(f"not a readable .xlsx file ({exc})")) from None
    finally:
        book.close()


def _check_zip_sizes(path: Path) -> None:
    """Refuse parts that would unpack past any real station file, before any is read.

    openpyxl reads the shared strings whole into memory, and every part streams through
    the XML parser: a few MB of zeros compressed 1000:1 would cost gigabytes.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise _header_problem(path, FieldProblem(f"not a readable .xlsx file ({exc})")) from None
    for part in parts:
        limit = MAX_SHARED_STRINGS if part.filename.endswith("sharedStrings.xml") else MAX_XLSX_PART
        if part.file_size > limit:
            raise _header_problem(
                path,
                FieldProblem(
                    f"its part {part.filename} unpacks to {part.file_size:,} bytes, more than "
                    f"any station file ({limit:,}); save the sheet again from a spreadsheet program"
                ),
            )


MAX_COLUMNS = 200  # the interchange format has 19; a real sheet may carry notes beside them
MAX_ROWS = 1_000_000  # a national registry is 190,000 stations


def _bounded_rows(path: Path, rows: Iterator[tuple[Any, ...]]) -> Iterator[list[str]]:
    """Rows as text, refusing a sheet wider or longer than any station file."""
    for count, row in enumerate(rows, start=1):
        if count > MAX_ROWS:
            raise _header_problem(path, FieldProblem(f"more than {MAX_ROWS:,} rows"))
        if len(row) > MAX_COLUMNS:
            # trailing empty cells are padding; a long row of content is not a station
            while row and row[-1] is None:
                row = row[:-1]
            if len(row) > MAX_COLUMNS:
                raise _header_problem(
                    path, FieldProblem(f"row {count} has more than {MAX_COLUMNS} columns")
                )
        yield [cell_text(c) for c in row]


def _geojson_rows(path: Path) -> Rows:
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except RecursionError:
        raise _header_problem(path, FieldProblem("the JSON is nested too deeply")) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _header_problem(path, FieldProblem(f"not valid JSON ({exc})")) from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise _header_problem(path, FieldProblem("expected a GeoJSON FeatureCollection"))
    features = data.get("features")
    if not isinstance(features, list):
        raise _header_problem(path, FieldProblem("the FeatureCollection has no features list"))
    for row_no, feature in enumerate(features, start=1):
        yield row_no, _feature_cells(feature)


@functools.lru_cache(maxsize=256)
def _field_name(key: str) -> str | None:
    field = field_for_header(str(key))
    return field.name if field else None


def _feature_cells(feature: Any) -> dict[str, str]:
    """A feature's properties as text cells, its point as lon/lat."""
    properties = feature.get("properties") if isinstance(feature, dict) else None
    properties = properties if isinstance(properties, dict) else {}
    cells = {f.name: "" for f in FIELDS if f.required}
    for key, value in properties.items():
        name = _field_name(key)
        if name is not None:
            cells[name] = value.strip() if isinstance(value, str) else cell_text(value)
    geometry = feature.get("geometry") if isinstance(feature, dict) else None
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if (
        isinstance(geometry, dict)
        and geometry.get("type") == "Point"
        and isinstance(coords, list)
        and len(coords) >= 2
    ):
        cells["lon"], cells["lat"] = cell_text(coords[0]), cell_text(coords[1])
    else:
        cells["lon"] = cells["lat"] = ""  # reported as required by the row parser
    return cells
