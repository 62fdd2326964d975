"""A programme's evaluation as JSON, CSV and XLSX for a finance office.

The same inputs give byte-identical files: stations in code order, amounts rounded to
fen, no "generated at" clock time (the report carries the data's snapshot time and the
programme file's SHA-256 instead), and the XLSX zip entries stamped with the snapshot.
Reasons and notes are in Chinese unless English is asked for (``lang``); times are
Beijing time.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from collections import defaultdict
from typing import Any

import orjson

from stations.bulk import gc_paused
from stations.hours.tz import SHANGHAI
from stations.records import inert
from stations.subsidy.as_of import start_of
from stations.subsidy.evaluate import Evaluation, Said, Verdict

FORMATS = ("json", "csv", "xlsx")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
STATION_HEADERS = (
    "编码 code", "名称 name", "城市 city", "区县代码 district code", "区县 district",
    "结论 verdict", "补助金额(元) amount (CNY)", "排序 place", "未通过原因 reasons not met",
    "评定依据 facts used",
)  # fmt: skip
VERDICT = {True: Said("符合", "eligible"), False: Said("不符合", "not eligible")}
FACTS = {True: Said("期末历史记录", "history at period end"),
         False: Said("当前信息（无当期历史）", "current facts (no history then)")}  # fmt: skip
OUTSIDE = Said("不在本项目地区内", "not in the programme's region")
TOTAL_HEADERS = ("级别 level", "代码 code", "名称 name", "站点数 stations",
                 "符合数 eligible", "金额(元) amount (CNY)")  # fmt: skip


def payload(evaluation: Evaluation, lang: str = "zh") -> dict[str, Any]:
    """The JSON report (DESIGN.md, Payloads), with totals by city and district."""
    return {
        **header(evaluation, lang),
        "stations": [_station(v, lang) for v in evaluation.verdicts],
    }


def header(evaluation: Evaluation, lang: str = "zh") -> dict[str, Any]:
    """Everything in the report but the per-station list: what it is, and the totals."""
    programme = evaluation.loaded.programme
    eligible = [v for v in evaluation.verdicts if v.eligible]
    current = sum(not v.from_history for v in evaluation.verdicts)
    end = evaluation.period.end
    return {
        "programme": programme.id,
        "programme_name": programme.name,
        "period": f"{evaluation.period.start}..{end}",
        "programme_sha256": evaluation.loaded.sha256,
        "snapshot_at": _iso(evaluation.snapshot_at),
        "facts": {
            "as_of": _iso(start_of(end + dt.timedelta(days=1))),
            "from_history": len(evaluation.verdicts) - current,
            "current": current,
            "note": getattr(_facts_note(end, current), lang),
        },
        "totals": {
            "stations": len(evaluation.verdicts),
            "eligible": len(eligible),
            "amount_cny": _fen(sum(v.amount_cny for v in eligible)),
            "cap": evaluation.cap,
            "budget_used_cny": _fen(evaluation.budget_used_cny),
            "by_city": _totals(evaluation.verdicts, city=True),
            "by_district": _totals(evaluation.verdicts, city=False),
        },
    }


def _facts_note(end: dt.date, current: int) -> Said:
    if not current:
        return Said(f"每个站点均按 {end} 24 时的历史记录评定",
                    f"every station judged by its history as of the end of {end}")  # fmt: skip
    return Said(
        f"{current} 个站点在 {end} 24 时前没有历史记录（登记晚于该期），按当前信息评定",
        f"{current} stations have no history by the end of {end} (registered later): "
        "judged by their current facts",
    )


def _iso(value: dt.datetime | None) -> str | None:
    """Beijing time, to the microsecond (two snapshots a moment apart must differ)."""
    return value.astimezone(SHANGHAI).isoformat(timespec="microseconds") if value else None


def _fen(amount: float) -> float:
    return round(amount + 0.0, 2)


def _station(v: Verdict, lang: str) -> dict[str, Any]:
    s = v.station
    return {
        "id": s["id"],
        "code": s["code"],
        "name": s["name"],
        "district_code": s["district_code"],
        "district_name": s["district_name"],
        "eligible": v.eligible,
        "amount_cny": _fen(v.amount_cny),
        "place": v.place,
        "facts": "history" if v.from_history else "current",
        "reasons": [r.json[lang] for r in v.reasons],
    }


def _totals(verdicts: list[Verdict], *, city: bool) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"stations": 0, "eligible": 0, "amount_cny": 0.0}
    )
    names: dict[str, str] = {}
    for v in verdicts:
        code = v.station["district_code"]
        key = code[:4] + "00" if city else code
        names.setdefault(key, "" if city else v.station["district_name"])
        group = groups[key]
        group["stations"] += 1
        group["eligible"] += int(v.eligible)
        group["amount_cny"] += v.amount_cny
    return [
        {
            "code": k,
            **({} if city else {"name": names[k]}),
            **g,
            "amount_cny": _fen(g["amount_cny"]),
        }
        for k, g in sorted(groups.items())
    ]


def to_json(evaluation: Evaluation, lang: str = "zh") -> bytes:
    """The report as compact UTF-8 JSON, keys in a fixed order.

    orjson: 100,000 stations make about 140 MB, which the standard library takes ten
    seconds to write.
    """
    return orjson.dumps(payload(evaluation, lang)) + b"\n"


def _inert(value: Any) -> Any:
    """Text cells a spreadsheet will not run (:func:`stations.records.inert`)."""
    return inert(value) if isinstance(value, str) else value


def _station_rows(evaluation: Evaluation, lang: str) -> list[list[Any]]:
    rows = []
    for v in evaluation.verdicts:
        s = v.station
        failed = "；".join(
            getattr(r.message, lang) or f"{r.label}: {getattr(r.actual, lang)}"
            for r in v.reasons
            if not r.passed
        )
        rows.append(
            [
                s["code"],
                s["name"],
                s["district_code"][:4] + "00",
                s["district_code"],
                s["district_name"],
                getattr(VERDICT[v.eligible], lang),
                _fen(v.amount_cny),
                v.place if v.place is not None else "",
                failed,
                getattr(FACTS[v.from_history], lang),
            ]
        )
    return [[_inert(cell) for cell in row] for row in rows]


def to_csv(evaluation: Evaluation, lang: str = "zh") -> bytes:
    """One row per station with Chinese and English headers; UTF-8 with a BOM for Excel."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(STATION_HEADERS)
    writer.writerows(_station_rows(evaluation, lang))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(evaluation: Evaluation, lang: str = "zh") -> bytes:
    """Three sheets: 站点 (stations), 汇总 (totals by city and district), 说明 (about)."""
    from openpyxl import Workbook  # here: ~10 MiB a web worker pays only when it is asked

    body = header(evaluation, lang)
    book = Workbook()
    sheet = book.active
    sheet.title = "站点 stations"
    sheet.append(STATION_HEADERS)
    for row in _station_rows(evaluation, lang):
        sheet.append(row)
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:  # never a formula, whatever the text (openpyxl treats "=…" as one)
            if isinstance(cell.value, str):
                cell.data_type = "s"
    _header_style(sheet, widths=(10, 34, 10, 12, 12, 16, 14, 8, 80, 24))
    totals = book.create_sheet("汇总 totals")
    totals.append(TOTAL_HEADERS)
    t = body["totals"]
    totals.append(["全部 all", evaluation.loaded.programme.region, "", t["stations"],
                   t["eligible"], t["amount_cny"]])  # fmt: skip
    for group in t["by_city"]:
        totals.append(["城市 city", group["code"], "", group["stations"], group["eligible"],
                       group["amount_cny"]])  # fmt: skip
    for group in t["by_district"]:
        totals.append(["区县 district", group["code"], _inert(group["name"]), group["stations"],
                       group["eligible"], group["amount_cny"]])  # fmt: skip
    _header_style(totals, widths=(14, 10, 14, 12, 12, 16))
    about = book.create_sheet("说明 about")
    programme = evaluation.loaded.programme
    for key, value in (
        ("项目 programme", f"{programme.name} ({programme.id})"),
        ("期间 period", body["period"]),
        ("金额 amount", f"{programme.amount_cny:g} 元, {programme.accrual}"),
        ("名额 cap", json.dumps(evaluation.cap, ensure_ascii=False)),
        ("预算使用 budget used", body["totals"]["budget_used_cny"]),
        ("规则文件 SHA-256", body["programme_sha256"]),
        ("数据快照 data snapshot", body["snapshot_at"] or ""),
        ("评定依据 facts used", body["facts"]["note"]),
    ):
        about.append([key, value])
    _header_style(about, widths=(22, 90), bold_rows=0)
    stamp = evaluation.snapshot_at or dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    stamp = stamp.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)
    book.properties.created = book.properties.modified = stamp
    book.properties.creator = "rest-stations"
    raw = io.BytesIO()
    book.save(raw)
    return _restamp(raw.getvalue(), stamp)


def _header_style(sheet: Any, widths: tuple[int, ...], bold_rows: int = 1) -> None:
    from openpyxl.styles import Font

    for cell in sheet[1] if bold_rows else ():
        cell.font = Font(bold=True)
    for i, width in enumerate(widths):
        sheet.column_dimensions[chr(ord("A") + i)].width = width
    if bold_rows:
        sheet.freeze_panes = "A2"


def _restamp(data: bytes, stamp: dt.datetime) -> bytes:
    """The same zip with every entry, and the document's "modified", dated ``stamp``.

    openpyxl stamps both with the clock at save time, which would make two runs differ.
    """
    # the document properties are written here whole: what openpyxl writes there
    # depends on whether it writes through lxml, and on the clock
    when = f"{stamp:%Y-%m-%dT%H:%M:%SZ}"
    core = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
        'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<dc:creator>rest-stations</dc:creator>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{when}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{when}</dcterms:modified>'
        "</cp:coreProperties>"
    ).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = core
            entry = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            dst.writestr(entry, content)
    return out.getvalue()


def _failing(v: Verdict, lang: str) -> list[str]:
    return [getattr(r.message, lang) for r in v.reasons if not r.passed]


def render(evaluation: Evaluation, fmt: str, lang: str = "zh") -> bytes:
    """The report in ``fmt`` (json, csv or xlsx), its words in ``lang`` (zh or en)."""
    with gc_paused():
        return {"json": to_json, "csv": to_csv, "xlsx": to_xlsx}[fmt](evaluation, lang)


def what_if(before: Evaluation, after: Evaluation, lang: str = "zh") -> dict[str, Any]:
    """What changes when the programme changes: stations newly (in)eligible, budget change."""
    old = {v.station["code"]: v for v in before.verdicts}
    new = {v.station["code"] for v in after.verdicts}
    gained, lost, changed = [], [], []
    for code, was in old.items():  # a changed region can drop stations altogether
        if code not in new and was.eligible:
            lost.append({"code": code, "name": was.station["name"],
                         "amount_before_cny": _fen(was.amount_cny), "amount_after_cny": 0.0,
                         "now_failing": [getattr(OUTSIDE, lang)]})  # fmt: skip
    for v in after.verdicts:
        was = old.get(v.station["code"])
        if was is None:
            if v.eligible:
                gained.append({"code": v.station["code"], "name": v.station["name"],
                               "amount_before_cny": 0.0, "amount_after_cny": _fen(v.amount_cny),
                               "was_failing": [getattr(OUTSIDE, lang)]})  # fmt: skip
            continue
        entry = {
            "code": v.station["code"],
            "name": v.station["name"],
            "amount_before_cny": _fen(was.amount_cny),
            "amount_after_cny": _fen(v.amount_cny),
        }
        if v.eligible and not was.eligible:
            gained.append({**entry, "was_failing": _failing(was, lang)})
        elif was.eligible and not v.eligible:
            lost.append({**entry, "now_failing": _failing(v, lang)})
        elif abs(v.amount_cny - was.amount_cny) > 0.005:
            changed.append(entry)
    gained.sort(key=lambda d: d["code"])
    lost.sort(key=lambda d: d["code"])
    b, a = header(before, lang)["totals"], header(after, lang)["totals"]
    return {
        "programme": before.loaded.programme.id,
        "period": f"{after.period.start}..{after.period.end}",
        "programme_sha256_before": before.loaded.sha256,
        "programme_sha256_after": after.loaded.sha256,
        "snapshot_at": _iso(after.snapshot_at),
        "eligible_before": b["eligible"],
        "eligible_after": a["eligible"],
        "amount_before_cny": b["amount_cny"],
        "amount_after_cny": a["amount_cny"],
        "budget_change_cny": _fen(a["amount_cny"] - b["amount_cny"]),
        "newly_eligible": gained,
        "newly_ineligible": lost,
        "amount_changed": changed,
    }
