"""The union's subsidy page at ``/union``: choose a programme and period, read the verdicts.

For finance staff at a desk (1440×900), signed in with a ``union`` token through the
shared form (:mod:`web.sign_in_pages`). Everything is rendered on the server from the
same evaluation the API answers, with plain forms and links (no script): totals by city
and county with names, the station table filtered by verdict, failing criterion, place
and name, each station's reasons; CSV and XLSX from the API; a what-if form whose answer
downloads as XLSX; freezing the paid list, and the frozen lists of the programme.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, render_template, request, url_for

from stations.bulk import gc_paused
from stations.errors import InvalidParameter, StationsError
from stations.hours.tz import SHANGHAI
from stations.subsidy import evaluate, frozen, programmes, report, workbook
from stations.subsidy.periods import parse_period
from web import auth, sign_in_pages
from web.pools import get_conn
from web.subsidy_api import what_if_download

union = Blueprint("union", __name__)
PAGE_ROWS = 100
VERDICTS = {"": "全部", "yes": "符合", "no": "不符合"}


def _signed_in() -> Response | None:
    """None for a union caller; else the sign-in form (or the refusal) to answer with."""
    who = auth.principal()
    if who is None:
        return sign_in_pages.form()
    if not who.has("union"):
        return sign_in_pages.refuse(who, "union")
    return None


def _default_period(programme: programmes.Programme) -> str:
    """Last year, when the programme ran then; else the programme's first year."""
    year = dt.datetime.now(SHANGHAI).year - 1
    start, end = programme.period.start.year, programme.period.end.year
    return str(year if start <= year <= end else start)


def _choice(all_programmes: list[programmes.Loaded]) -> tuple[programmes.Loaded, str]:
    """The programme and period asked for (or the defaults)."""
    wanted = request.args.get("programme", "").strip()
    by_id = {p.programme.id: p for p in all_programmes}
    if wanted and wanted not in by_id:
        known = "、".join(f"{p.programme.name}（{i}）" for i, p in by_id.items())
        raise InvalidParameter("programme", f"no programme {wanted!r}",
                               zh=f"没有补助项目 {wanted!r}；现有：{known}")  # fmt: skip
    loaded = by_id.get(wanted) or all_programmes[0]
    period = request.args.get("period", "").strip() or _default_period(loaded.programme)
    return loaded, period


def _frame(**values: Any) -> dict[str, Any]:
    """What every union page shows: who, the programmes and the chooser's values."""
    who = auth.principal()
    return {"who": who, "planner": who is not None and who.has("planner"), **values}


def _union_view(template: str) -> Callable[[Callable[..., Response]], Callable[[], Response]]:
    """A union page: the sign-in form for anyone else.

    The view gets the programmes and the programme and period chosen; a mistake (a period
    it cannot read, a threshold that is no number) is said on ``template`` in words.
    """

    def decorate(view: Callable[..., Response]) -> Callable[[], Response]:
        @functools.wraps(view)
        def wrapper() -> Response:
            refused = _signed_in()
            if refused is not None:
                return refused
            all_programmes = programmes.load_all()
            loaded, period = all_programmes[0], ""
            try:
                loaded, period = _choice(all_programmes)
                return view(all_programmes, loaded, period)
            except StationsError as exc:
                return _error_page(template, exc, all_programmes, loaded, period)

        return wrapper

    return decorate


@union.get("/union")
@_union_view("union/report.html")
def union_page(
    all_programmes: list[programmes.Loaded], loaded: programmes.Loaded, period: str
) -> Response:
    """The report of the chosen programme and period, filtered as asked."""
    view = _report_view(loaded, period)
    html = render_template(
        "union/report.html",
        **_frame(programmes=all_programmes, loaded=loaded, period=period, **view),
    )
    return sign_in_pages.private_html(html)


def _error_page(
    template: str,
    exc: StationsError,
    all_programmes: list[programmes.Loaded],
    loaded: programmes.Loaded,
    period: str,
) -> Response:
    """The page with the chooser and the problem in words, never a JSON page."""
    html = render_template(
        template,
        **_frame(programmes=all_programmes, loaded=loaded, period=period,
                 error=exc.message_in("zh")),
    )  # fmt: skip
    return sign_in_pages.private_html(html, exc.http_status)


def _report_view(loaded: programmes.Loaded, period_text: str) -> dict[str, Any]:
    period = parse_period(period_text)
    conn = get_conn()
    with gc_paused(), evaluate.one_snapshot(conn):
        result = evaluate.evaluate(conn, loaded, period)
    body = report.payload(result, "zh")
    args = request.args
    verdict = args.get("verdict", "") if args.get("verdict", "") in VERDICTS else ""
    failing = args.get("failing", "")
    area = args.get("area", "").strip()
    text = args.get("q", "").strip()
    rank = {v.station["id"]: n for n, v in enumerate(workbook.in_verdict_order(result.verdicts))}
    stations = sorted(body["stations"], key=lambda s: rank[s["id"]])
    counts = _failing_counts(stations)
    shown = [
        s
        for s in stations
        if (not verdict or s["eligible"] == (verdict == "yes"))
        and (
            not failing or any(r["criterion"] == failing and not r["passed"] for r in s["reasons"])
        )
        and (not area or s["district_code"].startswith(_prefix(area)))
        and (not text or text in s["code"] or text in s["name"])
    ]
    pages = max(1, math.ceil(len(shown) / PAGE_ROWS))
    page = min(max(_int(args.get("page"), 1), 1), pages)
    totals = body["totals"]
    kept = frozen.listing(get_conn(), loaded.programme.id)[:10]
    city = evaluate.city_of(area) if area else ""
    counties = [d for d in totals["by_district"] if city and evaluate.city_of(d["code"]) == city]
    query = {"programme": loaded.programme.id, "period": period_text}
    filters = {"verdict": verdict, "failing": failing, "area": area, "q": text}
    return {
        "body": body,
        "result": result,
        "criteria": [(c.id, c.label) for c in loaded.programme.criteria]
        + ([("cap", "名额/预算")] if loaded.programme.cap else []),
        "counts": counts,
        "rows": shown[(page - 1) * PAGE_ROWS : page * PAGE_ROWS],
        "shown": len(shown),
        "page": page,
        "pages": pages,
        "filters": filters,
        "areas": sorted(result.names.items()),
        "city": city,
        "counties": counties,
        "link": lambda **changes: url_for(
            "union.union_page", **{k: v for k, v in {**query, **filters, **changes}.items() if v}
        ),
        "downloads": {
            fmt: url_for("subsidy.subsidy_report", **query, format=fmt) for fmt in ("csv", "xlsx")
        },
        "what_if": _what_if_fields(loaded, result),
        "frozen": kept,
        "frozen_now": next((f["id"] for f in kept if f["id"] == _int(args.get("frozen"), 0)), 0),
        "verdicts": VERDICTS,
        "beijing": report.beijing,
    }


def _failing_counts(stations: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in stations:
        for r in s["reasons"]:
            if not r["passed"]:
                counts[r["criterion"]] = counts.get(r["criterion"], 0) + 1
    return counts


def _prefix(code: str) -> str:
    """The district-code prefix of a province, city or county code."""
    if code.endswith("0000"):
        return code[:2]
    return code[:4] if code.endswith("00") else code


def _int(raw: str | None, default: int) -> int:
    return int(raw) if raw and re.fullmatch(r"[0-9]{1,8}", raw) else default


# --- what-if -----------------------------------------------------------------------------


def _what_if_fields(loaded: programmes.Loaded, result: evaluate.Evaluation) -> list[dict]:
    """The rules a what-if may change, each with its value in force for the period."""
    programme = loaded.programme
    fields = [{"key": "amount_cny", "label": "补助标准（元）", "value": programme.amount_cny}]
    if programme.cap is not None:
        if programme.cap.count is not None:
            fields.append({"key": "cap.count", "label": "名额（个）", "value": programme.cap.count})
        if programme.cap.budget_cny is not None:
            fields.append(
                {"key": "cap.budget_cny", "label": "预算（元）", "value": programme.cap.budget_cny}
            )
    units = {"min_floor_area_m2": "m²", "min_spacing_m": "米"}
    for c in programme.criteria:
        if c.kind in units:
            value = c.value_on(result.period.end)
            fields.append(
                {"key": f"criteria.{c.id}.threshold", "label": f"{c.label}（{units[c.kind]}）",
                 "value": value}
            )  # fmt: skip
    for f in fields:
        f["value"] = plain(f["value"])
    return [f for f in fields if f["value"] is not None]  # a threshold not yet in force


def plain(value: Any) -> Any:
    """A number as a person types it: 12, 12.5, 2500000 (never 1.2e+06 or 12.0)."""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return value


def _overrides(fields: list[dict]) -> dict[str, float]:
    """The form's values that differ from the programme's; each a number above 0."""
    changed: dict[str, float] = {}
    for f in fields:
        raw = request.args.get(f["key"], "").strip().replace(",", "").replace("，", "")
        if not raw:
            continue
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not (math.isfinite(value) and value > 0):
            raise InvalidParameter(f["key"], f"{f['key']} must be a number above 0",
                                   zh=f"{f['label']}应为大于 0 的数，收到 {raw!r}")  # fmt: skip
        if f["key"] == "cap.count":
            if value != int(value):
                raise InvalidParameter(f["key"], "cap.count must be a whole number",
                                       zh=f"{f['label']}应为整数，收到 {raw!r}")  # fmt: skip
            value = int(value)
        if float(f["value"]) != value:
            changed[f["key"]] = value
    return changed


@union.get("/union/what-if")
@_union_view("union/what_if.html")
def union_what_if(
    all_programmes: list[programmes.Loaded], loaded: programmes.Loaded, period: str
) -> Response:
    """The report's change under the rules typed in; ``format=xlsx`` downloads it."""
    span = parse_period(period)
    conn = get_conn()
    with gc_paused(), evaluate.one_snapshot(conn):
        before = evaluate.evaluate(conn, loaded, span)
        fields = _what_if_fields(loaded, before)
        changes = _overrides(fields)
        if not changes:
            raise InvalidParameter("overrides", "change at least one rule",
                                   zh="请至少修改一项规则再测算")  # fmt: skip
        after = evaluate.evaluate(conn, programmes.with_overrides(loaded, changes), span)
    if request.args.get("format") == "xlsx":
        return what_if_download(before, after, "zh")
    diff = report.what_if(before, after, "zh")
    for f in fields:
        f["new"] = plain(changes.get(f["key"]))
    html = render_template(
        "union/what_if.html",
        **_frame(
            programmes=all_programmes, loaded=loaded, period=period, diff=diff, fields=fields,
            xlsx=url_for("union.union_what_if", **{**request.args.to_dict(), "format": "xlsx"}),
            back=url_for("union.union_page", programme=loaded.programme.id, period=period),
        ),
    )  # fmt: skip
    return sign_in_pages.private_html(html)


# --- freezing ------------------------------------------------------------------------------


@union.post("/union/freeze")
def union_freeze() -> Response:
    """Freeze the report shown (XLSX, Chinese) as paid; back to the page, which lists it."""
    auth.same_origin_form()
    refused = _signed_in()
    if refused is not None:
        return refused
    wanted = (request.form.get("programme") or "").strip()
    period = (request.form.get("period") or "").strip()
    try:
        loaded = programmes.load(wanted)
        row, _ = frozen.freeze(get_conn(), loaded, parse_period(period), "xlsx", "zh",
                               auth.principal().owner,
                               seen_snapshot=request.form.get("snapshot") or None)  # fmt: skip
    except StationsError as exc:
        all_programmes = programmes.load_all()
        shown = next((p for p in all_programmes if p.programme.id == wanted), all_programmes[0])
        return _error_page("union/report.html", exc, all_programmes, shown, period)
    query = urlencode({"programme": loaded.programme.id, "period": period, "frozen": row["id"]})
    return redirect(url_for("union.union_page") + f"?{query}#frozen", code=303)
