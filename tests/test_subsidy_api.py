"""The union API over HTTP: roles, formats, what-if and a station's history."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import quote

import pytest
from answers import ok
from openpyxl import load_workbook

from cli import main

REPORT = "/api/v1/subsidy/report?programme=shanxi-construction&period=2021"


def _as(tokens_by_role, role):
    return {"Authorization": f"Bearer {tokens_by_role[role]}"}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("get", "/api/v1/subsidy/programmes", {"union", "all"}),
        ("get", REPORT, {"union", "all"}),
        ("get", "/api/v1/stations/1/history", {"union", "editor", "all"}),
    ],
)
def test_only_the_right_roles_get_in(client, tokens_by_role, method, path, allowed):
    assert getattr(client, method)(path).status_code == 401
    for role in ("planner", "union", "editor", "all"):
        response = getattr(client, method)(path, headers=_as(tokens_by_role, role))
        assert response.status_code == (200 if role in allowed else 403), role
        if role not in allowed:
            assert response.mimetype == "application/problem+json"


def test_programmes_list_their_rules(client, tokens_by_role):
    body = ok(client.get("/api/v1/subsidy/programmes", headers=_as(tokens_by_role, "union"))).json
    construction = next(p for p in body["programmes"] if p["id"] == "shanxi-construction")
    assert construction["amount_cny"] == 20000 and construction["cap"]["count"] == 200
    area = next(c for c in construction["criteria"] if c["id"] == "floor_area")
    assert area["threshold"] == [{"from": "2019-01-01", "value": 12.0}]
    assert len(construction["sha256"]) == 64


def test_json_report_has_the_designed_shape(client, tokens_by_role):
    body = ok(client.get(REPORT, headers=_as(tokens_by_role, "union"))).json
    assert {"programme", "period", "programme_sha256", "snapshot_at", "totals", "stations"} <= set(
        body
    )
    assert {"stations", "eligible", "amount_cny"} <= set(body["totals"])
    station = body["stations"][0]
    assert {"id", "code", "name", "eligible", "amount_cny", "reasons"} <= set(station)
    assert {"criterion", "required", "actual", "passed"} <= set(station["reasons"][0])


def test_csv_and_xlsx_are_ready_for_a_finance_office(client, tokens_by_role):
    headers = _as(tokens_by_role, "union")
    csv_response = ok(client.get(REPORT + "&format=csv", headers=headers))
    assert (
        csv_response.mimetype == "text/csv"
        and "attachment" in csv_response.headers["Content-Disposition"]
    )
    rows = list(csv.reader(io.StringIO(csv_response.data.decode("utf-8-sig"))))
    assert rows[0][:6] == ["序号", "城市代码", "城市", "区县代码", "区县", "站点编码"]
    assert len(rows) == 1714
    xlsx = ok(client.get(REPORT + "&format=xlsx", headers=headers))
    book = load_workbook(io.BytesIO(xlsx.data))
    assert book.sheetnames == ["拨付清单", "评定明细", "汇总", "规则说明"]
    sheet = book["评定明细"]
    assert [c.value for c in sheet[5]] == rows[0]  # the CSV keeps the sheet's columns
    table = [["" if c.value is None else str(c.value) for c in r] for r in sheet.iter_rows(6)]
    assert table == rows[1:]  # the same rows in the same order
    json_body = ok(client.get(REPORT, headers=headers)).json
    totals = book["汇总"]
    last = totals.max_row
    assert totals.cell(last, 1).value == "合计"
    assert totals.cell(last, 6).value == json_body["totals"]["amount_cny"]
    rules = {r[0].value: r[1].value for r in book["规则说明"].iter_rows(min_row=6)}
    assert rules["规则文件 SHA-256"] == json_body["programme_sha256"]


@pytest.mark.parametrize(
    ("query", "status", "param"),
    [
        ("programme=nope&period=2021", 404, None),
        ("programme=shanxi-construction", 400, "period"),
        ("programme=shanxi-construction&period=2019", 400, "period"),
        ("programme=shanxi-construction&period=2021&format=pdf", 400, "format"),
        ("programme=Bad!&period=2021", 400, "programme"),
        ("programme=shanxi-construction&period=2021&colour=red", 400, "colour"),
    ],
)
def test_bad_report_queries(client, tokens_by_role, query, status, param):
    response = client.get(f"/api/v1/subsidy/report?{query}", headers=_as(tokens_by_role, "union"))
    assert response.status_code == status
    if param:
        assert response.json["param"] == param


def test_what_if_over_http(client, tokens_by_role):
    body = {
        "programme": "shanxi-construction",
        "period": "2021",
        "overrides": {"criteria.floor_area.threshold": 6},
    }
    response = client.post(
        "/api/v1/subsidy/what-if", json=body, headers=_as(tokens_by_role, "union")
    )
    assert response.status_code == 200
    diff = response.json
    net = len(diff["newly_eligible"]) - len(diff["newly_ineligible"])
    assert diff["newly_eligible"] and diff["eligible_after"] - diff["eligible_before"] == net
    assert diff["budget_change_cny"] == 20000 * net
    bad = {**body, "overrides": {"cap.cont": 3}}
    refused = client.post("/api/v1/subsidy/what-if", json=bad, headers=_as(tokens_by_role, "union"))
    assert refused.status_code == 400 and "cap.cont: unknown key" in refused.json["detail"]
    both = {**body, "programme_toml": "x"}
    refused = client.post(
        "/api/v1/subsidy/what-if", json=both, headers=_as(tokens_by_role, "union")
    )
    assert refused.status_code == 400


def test_history_shows_each_change(client, tokens_by_role):
    body = client.get("/api/v1/stations/1/history", headers=_as(tokens_by_role, "editor")).json
    first = body["history"][0]
    assert first["action"] == "create" and first["version"] == 1
    assert first["changes"]["code"]["after"] == body["code"]
    assert (
        client.get(
            "/api/v1/stations/99999999/history", headers=_as(tokens_by_role, "union")
        ).status_code
        == 404
    )


@pytest.fixture
def run(database_url, monkeypatch):
    from click.testing import CliRunner

    monkeypatch.setenv("DATABASE_URL", database_url)
    return lambda *args: CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_subsidy_commands(run, tmp_path):
    listed = run("subsidy", "programmes")
    assert listed.exit_code == 0 and "taiyuan-upkeep" in listed.stdout
    out = tmp_path / "report.xlsx"
    made = run("subsidy", "report", "--programme", "taiyuan-upkeep", "--period", "2025",
               "--format", "xlsx", "--output", str(out))  # fmt: skip
    assert made.exit_code == 0 and "eligible" in made.stderr and out.stat().st_size > 1000
    again = tmp_path / "again.xlsx"
    run("subsidy", "report", "--programme", "taiyuan-upkeep", "--period", "2025",
        "--format", "xlsx", "--output", str(again))  # fmt: skip
    assert again.read_bytes() == out.read_bytes()
    diff = tmp_path / "diff.json"
    result = run("subsidy", "what-if", "--programme", "shanxi-construction", "--period", "2021",
                 "--set", "criteria.floor_area.threshold=6", "--output", str(diff))  # fmt: skip
    assert result.exit_code == 0 and json.loads(diff.read_text())["newly_eligible"]
    bad = run("subsidy", "what-if", "--programme", "shanxi-construction", "--period", "2021",
              "--set", "accrual=weekly", "--output", str(diff))  # fmt: skip
    assert bad.exit_code == 1 and "accrual" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_report_periods_and_downloads_are_checked(client, tokens_by_role):
    headers = _as(tokens_by_role, "union")
    base = "/api/v1/subsidy/report?programme=taiyuan-upkeep&format=csv&period="
    spaced = client.get(base + "2025%0A", headers=headers)
    assert spaced.status_code == 200
    assert spaced.headers["Content-Disposition"] == (
        'attachment; filename="taiyuan-upkeep_202501-202512.csv"'
    )
    for bad in ("1999", "2101", "2025-00", "2025年13月"):
        assert client.get(base + bad, headers=headers).status_code == 400, bad
    # as finance staff write it, in Chinese or full-width: the same file
    for written in ("2025年", "２０２５", "2025-01..2025-12", "2025年1月至2025年12月"):
        same = client.get(base + quote(written), headers=headers)
        assert same.status_code == 200 and same.data == spaced.data, written


def test_what_if_refuses_text_that_is_not_unicode(client, tokens_by_role):
    # sent as raw JSON text: a lone surrogate escape that no UTF-8 encoder would produce
    body = '{"programme": "taiyuan-upkeep", "period": "2025", "programme_toml": "\\ud800"}'
    response = client.post(
        "/api/v1/subsidy/what-if",
        data=body,
        content_type="application/json",
        headers=_as(tokens_by_role, "union"),
    )
    assert response.status_code == 400


def test_a_deleted_stations_history_stays_readable(client, tokens_by_role, database_url):
    from stations import db

    with db.connect(database_url) as connection:
        station_id = connection.execute(
            """INSERT INTO stations (code, name, district_code, district_name, geom, host_type,
                   built_by, level) VALUES ('ZZ-DEL', '删除测试', '140105', '小店区',
                   ST_SetSRID(ST_MakePoint(112.9, 37.45), 4326), 'community', 'union',
                   'district') RETURNING id"""
        ).fetchone()[0]
        connection.execute("DELETE FROM stations WHERE id = %s", [station_id])
    body = ok(
        client.get(f"/api/v1/stations/{station_id}/history", headers=_as(tokens_by_role, "union"))
    ).json
    assert body["code"] == "ZZ-DEL"
    assert [h["action"] for h in body["history"]] == ["create", "delete"]
