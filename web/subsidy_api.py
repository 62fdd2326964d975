"""The union API (v1): subsidy programmes, reports, what-if; and a station's history.

Programme files are read on every call, so an officer's edit to ``data/subsidy/`` takes
effect without a restart; a broken file is refused with its name, key and problem.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, jsonify

from stations import registry
from stations.bulk import gc_paused
from stations.errors import InvalidParameter, NotFound
from stations.subsidy import evaluate, programmes, report
from stations.subsidy.periods import parse_period
from web import auth, params
from web.api import STATION_ID
from web.api_models import LangQuery, NoQuery
from web.contract import Ok, operation
from web.pools import get_conn
from web.subsidy_models import (
    History,
    Programmes,
    ReportQuery,
    SubsidyReport,
    WhatIf,
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
    {200: Ok(WhatIf, "Newly (in)eligible stations, budget change.")},
    query=LangQuery,  # lang: the language of errors
    body=WhatIfRequest,
    problems=(400, 404, 415, 503),
)
def subsidy_what_if(body: WhatIfRequest, query: LangQuery) -> Response:
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
        return jsonify(report.what_if(before, after, query.lang))


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
        before, after = h["before"] or {}, h["after"] or {}
        changes = {
            k: {"before": before.get(k), "after": after.get(k)}
            for k in sorted(set(before) | set(after))
            if before.get(k) != after.get(k)
        }
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
