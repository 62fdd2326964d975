"""The union API (v1): subsidy programmes, reports, what-if; and a station's history.

Programme files are read on every call, so an officer's edit to ``data/subsidy/`` takes
effect without a restart; a broken file is refused with its name, key and problem.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, jsonify, request

from stations import registry
from stations.bulk import gc_paused
from stations.errors import InvalidParameter, NotFound
from stations.subsidy import evaluate, programmes, report
from web import auth, params
from web.pools import get_conn

subsidy = Blueprint("subsidy", __name__)
REPORT_PARAMS = ("programme", "period", "format")
WHAT_IF = ("programme", "period", "overrides", "programme_toml")


def describe(loaded: programmes.Loaded) -> dict[str, Any]:
    """A programme and its rules as JSON."""
    body = loaded.programme.model_dump(mode="json", by_alias=True)
    return {**body, "file": loaded.source, "sha256": loaded.sha256}


@subsidy.get("/subsidy/programmes")
@auth.require("union")
def list_programmes() -> Response:
    """Every programme with its rules."""
    params.reject_unknown(request.args, ())
    return jsonify({"programmes": [describe(p) for p in programmes.load_all()]})


def _programme(value: Any) -> programmes.Loaded:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z][a-z0-9-]{0,59}", value):
        raise InvalidParameter("programme", "programme must be a programme id, e.g. taiyuan-upkeep")
    return programmes.load(value)


def _period(value: Any) -> evaluate.Period:
    if not isinstance(value, str):
        raise InvalidParameter("period", "period is required: YYYY, YYYY-MM or YYYY-MM..YYYY-MM")
    return evaluate.parse_period(value)


@subsidy.get("/subsidy/report")
@auth.require("union")
def subsidy_report() -> Response:
    """Every station's verdict, amount and reasons, with totals; JSON, CSV or XLSX."""
    args = request.args
    params.reject_unknown(args, REPORT_PARAMS)
    loaded = _programme(args.get("programme"))
    period = _period(args.get("period"))
    fmt = params.choice(args, "format", report.FORMATS, "json")
    conn = get_conn()
    with gc_paused():
        with evaluate.one_snapshot(conn):
            result = evaluate.evaluate(conn, loaded, period)
        body = report.render(result, fmt)
    response = Response(body, mimetype=report.MEDIA_TYPES[fmt])
    if fmt != "json":
        name = f"{loaded.programme.id}_{result.period.start:%Y%m}-{result.period.end:%Y%m}.{fmt}"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@subsidy.post("/subsidy/what-if")
@auth.require("union")
def what_if() -> Response:
    """The report's difference when thresholds, amounts or caps change."""
    body = params.json_body(WHAT_IF)
    loaded = _programme(body.get("programme"))
    period = _period(body.get("period"))
    overrides, text = body.get("overrides"), body.get("programme_toml")
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
        return jsonify(report.what_if(before, after))


@subsidy.get("/stations/<station_id>/history")
@auth.require("union", "editor")
def station_history(station_id: str) -> Response:
    """Every change to a station, oldest first, with the fields each one changed."""
    params.reject_unknown(request.args, ())
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
