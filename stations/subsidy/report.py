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
from collections import defaultdict
from typing import Any

import orjson

from stations.bulk import gc_paused
from stations.hours.tz import SHANGHAI
from stations.records import inert
from stations.subsidy import workbook
from stations.subsidy.as_of import start_of
from stations.subsidy.evaluate import Evaluation, Said, Verdict, city_of

FORMATS = ("json", "csv", "xlsx")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
OUTSIDE = Said("不在本项目地区内", "not in the programme's region")


def payload(evaluation: Evaluation, lang: str = "zh") -> dict[str, Any]:
    """The JSON report (DESIGN.md, Payloads), with totals by city and district."""
    return {
        **header(evaluation, lang),
        "stations": [_station(v, lang) for v in evaluation.verdicts],
    }


def paid(evaluation: Evaluation) -> dict[str, Any]:
    """How many stations are funded, and how much they get in all."""
    eligible = [v for v in evaluation.verdicts if v.eligible]
    return {"eligible": len(eligible), "amount_cny": fen(sum(v.amount_cny for v in eligible))}


def header(evaluation: Evaluation, lang: str = "zh") -> dict[str, Any]:
    """Everything in the report but the per-station list: what it is, and the totals."""
    programme = evaluation.loaded.programme
    current = sum(not v.from_history for v in evaluation.verdicts)
    end = evaluation.period.end
    return {
        "programme": programme.id,
        "programme_name": programme.name,
        "period": f"{evaluation.period.start}..{end}",
        "programme_sha256": evaluation.loaded.sha256,
        "snapshot_at": beijing(evaluation.snapshot_at),
        "facts": {
            "as_of": beijing(start_of(end + dt.timedelta(days=1))),
            "from_history": len(evaluation.verdicts) - current,
            "current": current,
            "note": getattr(_facts_note(end, current), lang),
        },
        "totals": {
            "stations": len(evaluation.verdicts),
            **paid(evaluation),
            "cap": evaluation.cap,
            "budget_used_cny": fen(evaluation.budget_used_cny),
            "by_city": _totals(evaluation, city=True),
            "by_district": _totals(evaluation, city=False),
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


def beijing(value: dt.datetime | None) -> str | None:
    """Beijing time, to the microsecond (two snapshots a moment apart must differ)."""
    return value.astimezone(SHANGHAI).isoformat(timespec="microseconds") if value else None


def fen(amount: float) -> float:
    """Yuan to the fen (no -0.0)."""
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
        "amount_cny": fen(v.amount_cny),
        "place": v.place,
        "facts": "history" if v.from_history else "current",
        "reasons": [r.json[lang] for r in v.reasons],
    }


def _totals(evaluation: Evaluation, *, city: bool) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"stations": 0, "eligible": 0, "amount_cny": 0.0}
    )
    names: dict[str, str] = {}
    for v in evaluation.verdicts:
        code = v.station["district_code"]
        key = city_of(code) if city else code
        names.setdefault(key, evaluation.names.get(key) or v.station["district_name"] or "")
        group = groups[key]
        group["stations"] += 1
        group["eligible"] += int(v.eligible)
        group["amount_cny"] += v.amount_cny
    return [
        {"code": k, "name": names[k], **g, "amount_cny": fen(g["amount_cny"])}
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


def to_csv(evaluation: Evaluation, lang: str = "zh") -> bytes:
    """The 评定明细 sheet's columns and rows; UTF-8 with a BOM for Excel."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(workbook.VERDICT_HEADERS)
    for row in workbook.verdict_rows(evaluation, lang):
        writer.writerow([_inert(cell) for cell in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(evaluation: Evaluation, lang: str = "zh") -> bytes:
    """The workbook a finance office prints and files (:mod:`stations.subsidy.workbook`)."""
    return workbook.to_xlsx(evaluation, header(evaluation, lang), lang)


def what_if_xlsx(before: Evaluation, after: Evaluation, lang: str = "zh") -> bytes:
    """The what-if as a workbook to attach to a memorandum."""
    return workbook.what_if_to_xlsx(before, after, what_if(before, after, lang), lang)


def failing(v: Verdict, lang: str) -> list[str]:
    """What a station failed, in words."""
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
                         "amount_before_cny": fen(was.amount_cny), "amount_after_cny": 0.0,
                         "now_failing": [getattr(OUTSIDE, lang)]})  # fmt: skip
    for v in after.verdicts:
        was = old.get(v.station["code"])
        if was is None:
            if v.eligible:
                gained.append({"code": v.station["code"], "name": v.station["name"],
                               "amount_before_cny": 0.0, "amount_after_cny": fen(v.amount_cny),
                               "was_failing": [getattr(OUTSIDE, lang)]})  # fmt: skip
            continue
        entry = {
            "code": v.station["code"],
            "name": v.station["name"],
            "amount_before_cny": fen(was.amount_cny),
            "amount_after_cny": fen(v.amount_cny),
        }
        if v.eligible and not was.eligible:
            gained.append({**entry, "was_failing": failing(was, lang)})
        elif was.eligible and not v.eligible:
            lost.append({**entry, "now_failing": failing(v, lang)})
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
        "snapshot_at": beijing(after.snapshot_at),
        "eligible_before": b["eligible"],
        "eligible_after": a["eligible"],
        "amount_before_cny": b["amount_cny"],
        "amount_after_cny": a["amount_cny"],
        "budget_change_cny": fen(a["amount_cny"] - b["amount_cny"]),
        "newly_eligible": gained,
        "newly_ineligible": lost,
        "amount_changed": changed,
    }
