"""The union API (v1): subsidy programmes, reports, what-if; and a station's history.

Programme files are read on every call, so an officer's edit to ``data/subsidy/`` takes
effect without a restart; a broken file is refused with its name, key and problem.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from flask import Blueprint, Response, jsonify, url_for

from stations import registry
from stations.bulk import gc_paused
from stations.errors import InvalidParameter, NotFound
from stations.subsidy import evaluate, frozen, programmes, report
from stations.subsidy.periods import parse_period
from web import auth, links, params
from web.api import STATION_ID
from web.api_models import LangQuery, NoQuery
from web.contract import Ok, operation
from web.pools import get_conn
from web.subsidy_models import (
    FreezeRequest,
    FrozenListQuery,
    FrozenReport,
    FrozenReports,
    History,
    Programmes,
    ReportQuery,
    Rerun,
    SubsidyReport,
    WhatIf,
    WhatIfQuery,
    WhatIfRequest,
)

subsidy = Blueprint("subsidy", __name__)
XLSX = report.MEDIA_TYPES["xlsx"]


def describe(loaded: programmes.Loaded) -> dict[str, Any]:
    """A programme and its rules as JSON."""
    body = loaded.programme.model_dump(mode="json", by_alias=True)
    return {**body, "file": loaded.source, "sha256": loaded.sha256}


# endpoint= keeps the names url_for knows; the function's name makes the operationId
@subsidy.get("/subsidy/programmes", endpoint="list_programmes")
@auth.require("union")
@operation(
    "Subsidy programmes and their rules (union)",
    {200: Ok(Programmes, "Every programme.")},
    query=NoQuery,
    problems=(400, 503),
)
def subsidy_programmes(query: NoQuery) -> Response:
    """Every programme with its rules."""
    return jsonify({"programmes": [describe(p) for p in programmes.load_all()]})


def _programme(value: Any) -> programmes.Loaded:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z][a-z0-9-]{0,59}", value):
        raise InvalidParameter("programme", "programme must be a programme id, e.g. taiyuan-upkeep")
    return programmes.load(value)


@subsidy.get("/subsidy/report")
@auth.require("union")
@operation(
    "Per-station verdicts, amounts and reasons, with totals (union)",
    {
        200: (
            Ok(SubsidyReport, "The report; byte-identical for the same inputs."),
            Ok({"type": "string"}, "The report as CSV.", media="text/csv"),
            Ok({"type": "string", "format": "binary"}, "The report as XLSX.", media=XLSX),
        )
    },
    query=ReportQuery,
    problems=(400, 404, 503),
)
def subsidy_report(query: ReportQuery) -> Response:
    """Every station's verdict, amount and reasons, with totals; JSON, CSV or XLSX."""
    loaded = _programme(query.programme)
    period = parse_period(query.period)
    fmt = query.format
    conn = get_conn()
    with gc_paused():
        with evaluate.one_snapshot(conn):
            result = evaluate.evaluate(conn, loaded, period)
        body = report.render(result, fmt, query.lang)
    response = Response(body, mimetype=report.MEDIA_TYPES[fmt])
    if fmt != "json":
        name = f"{loaded.programme.id}_{result.period.start:%Y%m}-{result.period.end:%Y%m}.{fmt}"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@subsidy.post("/subsidy/what-if", endpoint="what_if")
@auth.require("union")
@operation(
    "The report's difference under changed rules (union)",
    {
        200: (
            Ok(WhatIf, "Newly (in)eligible stations, budget change."),
            Ok({"type": "string", "format": "binary"}, "The same as XLSX.", media=XLSX),
        )
    },
    query=WhatIfQuery,
    body=WhatIfRequest,
    problems=(400, 404, 415, 503),
)
def subsidy_what_if(body: WhatIfRequest, query: WhatIfQuery) -> Response:
    """The report's difference when thresholds, amounts or caps change."""
    loaded = _programme(body.programme)
    period = parse_period(body.period)
    overrides, text = body.overrides, body.programme_toml
    if (overrides is None) == (text is None):
        raise InvalidParameter("overrides", "give exactly one of overrides or programme_toml")
    if overrides is not None:
        if not isinstance(overrides, dict) or not overrides:
            raise InvalidParameter(
                "overrides",
                'overrides must be an object such as {"criteria.floor_area.threshold": 10}',
            )
        changed = programmes.with_overrides(loaded, overrides)
    else:
        if not isinstance(text, str):
            raise InvalidParameter("programme_toml", "programme_toml must be the file's text")
        changed = programmes.parse_text(text, "programme_toml")
    conn = get_conn()
    with gc_paused():
        with evaluate.one_snapshot(conn):  # both sides see the same data
            before = evaluate.evaluate(conn, loaded, period)
            after = evaluate.evaluate(conn, changed, period)
        if query.format == "json":
            return jsonify(report.what_if(before, after, query.lang))
        return what_if_download(before, after, query.lang)


def what_if_download(
    before: evaluate.Evaluation, after: evaluate.Evaluation, lang: str
) -> Response:
    """The what-if as an XLSX attachment (the API's and the union page's)."""
    response = Response(report.what_if_xlsx(before, after, lang), mimetype=XLSX)
    span = after.period
    name = f"{before.loaded.programme.id}_what-if_{span.start:%Y%m}-{span.end:%Y%m}.xlsx"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


REPORT_ID = {"type": "integer", "minimum": 1}


def _report_id(raw: str) -> int:
    return params.positive_id(raw, "report_id", "a frozen report's id", "已封存报表的编号")


def _record(row: dict[str, Any]) -> dict[str, Any]:
    """A frozen report's record as JSON, with where to download and re-run it."""
    return {
        "id": row["id"],
        "programme": row["programme"],
        "programme_name": row["programme_name"],
        "programme_sha256": row["programme_sha256"],
        "period": f"{row['period_start']}..{row['period_end']}",
        "format": row["format"],
        "lang": row["lang"],
        "sha256": row["sha256"],
        "bytes": row["bytes"],
        "snapshot_at": report.beijing(row["snapshot_at"]),
        "history_through": row["history_through"],
        "eligible": row["eligible"],
        "amount_cny": row["amount_cny"],
        "frozen_by": row["frozen_by"],
        "frozen_at": report.beijing(row["frozen_at"]),
        "href": url_for("subsidy.frozen_report", report_id=row["id"]),
        "rerun": url_for("subsidy.rerun_frozen_report", report_id=row["id"]),
    }


@subsidy.post("/subsidy/reports", endpoint="freeze_report")
@auth.require("union")
@operation(
    "Freeze a report: keep the paid list byte for byte (union)",
    {
        201: Ok(FrozenReport, "Kept; Location downloads it."),
        200: Ok(FrozenReport, "The same bytes were kept already: that report."),
    },
    query=LangQuery,  # lang: the language of errors
    body=FreezeRequest,
    problems=(400, 404, 409, 415, 503),
)
def freeze_subsidy_report(body: FreezeRequest, query: LangQuery) -> Response:
    """Evaluate and keep a report with its hash, the programme file, who and when."""
    loaded = _programme(body.programme)
    period = parse_period(body.period)
    who = auth.principal()
    conn = get_conn()
    with gc_paused():
        row, created = frozen.freeze(conn, loaded, period, body.format, body.lang, who.owner)
    response = jsonify(_record(row))
    response.status_code = 201 if created else 200  # 200: these bytes were kept already
    response.headers["Location"] = links.external("subsidy.frozen_report", report_id=row["id"])
    return response


@subsidy.get("/subsidy/reports", endpoint="frozen_reports")
@auth.require("union")
@operation(
    "The frozen reports, newest first (union)",
    {200: Ok(FrozenReports, "Their records; each href downloads the kept bytes.")},
    query=FrozenListQuery,
    problems=(400, 503),
)
def list_frozen_reports(query: FrozenListQuery) -> Response:
    """Every frozen report's record."""
    rows = frozen.listing(get_conn(), query.programme)
    response = jsonify({"reports": [_record(r) for r in rows]})
    response.headers["Cache-Control"] = "private, no-store"
    return response


@subsidy.get("/subsidy/reports/<report_id>", endpoint="frozen_report")
@auth.require("union")
@operation(
    "A frozen report's bytes, exactly as kept (union)",
    {
        200: tuple(
            Ok(
                {"type": "string"},
                f"The kept report as {fmt.upper()}.",
                media=media,
                headers={
                    "ETag": "The SHA-256 of the bytes.",
                    "Repr-Digest": "sha-256 of the bytes (RFC 9530).",
                },
            )
            for fmt, media in report.MEDIA_TYPES.items()
        )
    },  # fmt: skip
    query=LangQuery,
    path={"report_id": REPORT_ID},
    problems=(400, 404, 503),
)
def download_frozen_report(report_id: str, query: LangQuery) -> Response:
    """The bytes as frozen: the same today as the day they were kept."""
    stored = frozen.fetch(get_conn(), _report_id(report_id))
    record = stored.record
    response = Response(stored.content, mimetype=report.MEDIA_TYPES[record["format"]])
    response.headers["Content-Disposition"] = f'attachment; filename="{frozen.file_name(record)}"'
    response.headers["ETag"] = f'"{record["sha256"]}"'
    digest = base64.b64encode(bytes.fromhex(record["sha256"])).decode()
    response.headers["Repr-Digest"] = f"sha-256=:{digest}:"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@subsidy.get("/subsidy/reports/<report_id>/rerun", endpoint="rerun_frozen_report")
@auth.require("union")
@operation(
    "What a re-run of a frozen period says now, and which history entries made it differ",
    {200: Ok(Rerun, "The stations whose verdict or amount moved, with their causes.")},
    query=LangQuery,
    path={"report_id": REPORT_ID},
    problems=(400, 404, 503),
)
def rerun_subsidy_report(report_id: str, query: LangQuery) -> Response:
    """The frozen period judged again by the frozen programme file, against it."""
    number = _report_id(report_id)
    with gc_paused():
        return jsonify(frozen.rerun(get_conn(), number, query.lang))


@subsidy.get("/stations/<station_id>/history")
@auth.require("union", "editor")
@operation(
    "Every change to a station (union, editor)",
    {200: Ok(History, "Oldest first.")},
    query=NoQuery,
    path={"station_id": STATION_ID},
    problems=(400, 404, 503),
)
def station_history(station_id: str, query: NoQuery) -> Response:
    """Every change to a station, oldest first, with the fields each one changed."""
    number = params.station_id(station_id)
    conn = get_conn()
    found = registry.history(conn, number)  # kept after a station is deleted
    if not found:
        raise NotFound(f"no station has the id {station_id}, now or in the history")
    last = found[-1]["after"] or found[-1]["before"] or {}
    entries = []
    for h in found:
        changes = registry.changed_fields(h["before"], h["after"])
        entries.append(
            {
                "version": h["version"],
                "action": h["action"],
                "changed_at": h["changed_at"].isoformat(),
                "changed_by": h["changed_by"],
                "changes": changes,
            }
        )
    return jsonify({"id": number, "code": last.get("code"), "history": entries})
