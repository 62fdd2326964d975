"""The subsidy workbook as a finance office files it: read back cell by cell, and printed.

LibreOffice (headless, as an office would print it) turns the served XLSX into a PDF;
poppler reads the PDF's text and draws page 1 as a PNG, kept in test-artifacts/.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from answers import ok
from openpyxl import load_workbook

from stations.subsidy import evaluate, programmes, report
from stations.subsidy.periods import parse_period

REPORT = "/api/v1/subsidy/report?programme=shanxi-construction&period=2021"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _as_union(tokens_by_role) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens_by_role['union']}"}


@pytest.fixture(scope="module")
def served(app, tokens_by_role):
    """The 2021 construction report as JSON and as the XLSX the API serves."""
    client, headers = app.test_client(), _as_union(tokens_by_role)
    xlsx = ok(client.get(REPORT + "&format=xlsx", headers=headers))
    assert xlsx.headers["Content-Disposition"].endswith('.xlsx"')
    return ok(client.get(REPORT, headers=headers)).json, xlsx.data


@pytest.fixture(scope="module")
def names(database_url):
    from stations import db

    with db.connect(database_url) as conn:
        return dict(conn.execute("SELECT code, name FROM districts").fetchall())


def _table(sheet, columns: int) -> list[list]:
    """The rows under the header (row 5) down to the first blank or 合计 row."""
    rows = []
    for row in sheet.iter_rows(min_row=6, max_col=columns, values_only=True):
        if row[0] in (None, "合计"):
            break
        rows.append(list(row))
    return rows


def test_the_payment_list_has_the_eligible_stations_in_order_a_total_and_signatures(served, names):
    body, data = served
    sheet = load_workbook(io.BytesIO(data))["拨付清单"]
    assert sheet["A1"].value == "山西省户外劳动者服务站点建设补助 拨付清单"
    assert sheet["A2"].value == "期间：2021-01-01 至 2021-12-31"
    head = [c.value for c in sheet[3] if c.value]
    assert head[0] == "制表单位：山西省总工会" and head[1].startswith("制表日期：2026年")
    assert head[-1] == "单位：元"
    header = [
        "序号",
        "城市代码",
        "城市",
        "区县代码",
        "区县",
        "站点编码",
        "站点名称",
        "补助金额（元）",
    ]
    assert [c.value for c in sheet[5]][:8] == header
    rows = _table(sheet, 9)
    paid = sorted((s for s in body["stations"] if s["eligible"]), key=lambda s: s["place"])
    assert [r[5] for r in rows] == [s["code"] for s in paid] and len(rows) == 200
    for row in rows:
        assert row[2] == names[row[1]] and row[4] == names[row[3]]  # names beside codes
    total = sheet.cell(5 + len(rows) + 1, 1)
    assert total.value == "合计" and total.font.b
    amount = sheet.cell(total.row, 8)
    assert amount.value == body["totals"]["amount_cny"] == sum(r[7] for r in rows) == 4_000_000
    assert amount.number_format == "#,##0.00" == sheet.cell(6, 8).number_format
    signature = sheet.cell(total.row + 3, 1).value
    assert all(word in signature for word in ("制表人", "审核人", "负责人"))
    assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.paperSize == 9
    assert sheet.page_setup.fitToWidth == 1 and sheet.page_setup.fitToHeight == 0
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.print_title_rows == "$5:$5" and sheet.freeze_panes == "A6"


def test_the_verdict_sheet_filters_and_sorts_by_verdict_then_place(served):
    body, data = served
    sheet = load_workbook(io.BytesIO(data))["评定明细"]
    rows = _table(sheet, 13)
    assert len(rows) == len(body["stations"]) == 1713
    assert sheet.auto_filter.ref == f"A5:M{5 + len(rows)}" and sheet.freeze_panes == "A6"
    verdicts = [(r[7] != "符合", r[9] is None, r[9] or 0, r[5]) for r in rows]
    assert verdicts == sorted(verdicts)  # eligible first, then by place, unplaced last
    by_code = {s["code"]: s for s in body["stations"]}
    for row in rows:
        station = by_code[row[5]]
        failed = [r for r in station["reasons"] if not r["passed"]]
        assert row[10] == ("、".join(r["label"] for r in failed) or None)
        assert row[11] == ("；".join(r["message"] for r in failed) or None)
    assert sheet.cell(6, 9).number_format == "#,##0.00"


def test_totals_by_city_and_county_carry_names_and_add_up(served, names):
    body, data = served
    sheet = load_workbook(io.BytesIO(data))["汇总"]
    rows = _table(sheet, 6)
    cities = [r for r in rows if r[0] == "城市"]
    assert len(cities) == 11 and all(r[2] == names[r[1]] for r in rows)
    assert sum(r[5] for r in cities) == body["totals"]["amount_cny"]
    for city in cities:  # each city is followed by its counties, which add up to it
        counties = [r for r in rows if r[0] == "区县" and r[1][:4] == city[1][:4]]
        assert sum(r[3] for r in counties) == city[3] and sum(r[5] for r in counties) == city[5]
    total = sheet.cell(5 + len(rows) + 1, 1)
    assert total.value == "合计"
    assert [sheet.cell(total.row, c).value for c in (4, 5, 6)] == [1713, 200, 4_000_000]


def test_the_rules_are_written_out_in_words(served):
    _, data = served
    sheet = load_workbook(io.BytesIO(data))["规则说明"]
    rules = {r[0]: r[1] for r in sheet.iter_rows(min_row=6, values_only=True)}
    assert rules["补助标准"] == "20,000.00 元，每站一次性"
    assert rules["名额与预算"] == "限 200 个名额"
    assert "新增覆盖人数从多到少，开放日期从早到晚，编码升序" in rules["分配顺序"]
    criteria = [v for k, v in rules.items() if k.startswith("条件")]
    assert criteria == [
        "在运营：运营中", "本期新建：开放日期在 2021-01-01 至 2021-12-31 之间",
        "室内面积：≥ 12 m²", "基本设施：饮用水、微波炉热饭、休息座椅、手机充电、卫生间",
        "统一标识：是", "管理制度：是", "专人管理：是", "开放时间上图：已公布",
        "与已补助站点间距：与已补助和已建站点相距 ≥ 300 米",
    ]  # fmt: skip
    assert rules["数据快照"].endswith("（北京时间）")


def test_the_preparer_is_a_setting(conn, monkeypatch):
    result = evaluate.evaluate(conn, programmes.load("taiyuan-upkeep"), parse_period("2025"))
    monkeypatch.setenv("STATIONS_REPORT_PREPARER", "太原市总工会")
    book = load_workbook(io.BytesIO(report.render(result, "xlsx")))
    assert book["拨付清单"]["A3"].value == "制表单位：太原市总工会"
    assert report.render(result, "xlsx") == report.render(result, "xlsx")


def test_libreoffice_prints_it_with_the_title_totals_and_names(served, tmp_path):
    """Printed as an office prints it: A4 landscape, the title, the totals and names in
    the PDF's text; page 1 kept as a picture to look at."""
    body, data = served
    soffice = shutil.which("soffice")
    assert soffice, "./run test installs libreoffice-calc-nogui"
    source = tmp_path / "report.xlsx"
    source.write_bytes(data)
    subprocess.run(
        [soffice, f"-env:UserInstallation=file://{tmp_path}/profile", "--headless",
         "--convert-to", "pdf", "--outdir", str(tmp_path), str(source)],
        check=True, capture_output=True, timeout=180, env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    pdf = tmp_path / "report.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True)
    size = next(line for line in info.stdout.splitlines() if line.startswith("Page size"))
    assert "842 x 595" in size.replace("841.89", "842").replace("595.276", "595"), size
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "山西省户外劳动者服务站点建设补助 拨付清单" in text
    assert "制表单位：山西省总工会" in text and "单位：元" in text
    assert "4,000,000.00" in text and "合计" in text
    first = min((s for s in body["stations"] if s["eligible"]), key=lambda s: s["place"])
    assert first["name"] in text and first["district_name"] in text
    assert "太原市" in text and "制表人" in text and "负责人" in text
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", str(pdf),
         str(ARTIFACTS / "subsidy-payment-list-page1")],
        check=True, capture_output=True,
    )  # fmt: skip
    assert (ARTIFACTS / "subsidy-payment-list-page1.png").stat().st_size > 20_000


def test_a_what_if_downloads_as_a_workbook_to_attach(app, tokens_by_role):
    client = app.test_client()
    headers = _as_union(tokens_by_role)
    asked = {"programme": "shanxi-construction", "period": "2021", "overrides": {"cap.count": 190}}
    diff = ok(client.post("/api/v1/subsidy/what-if", json=asked, headers=headers)).json
    made = ok(client.post("/api/v1/subsidy/what-if?format=xlsx", json=asked, headers=headers))
    assert made.mimetype == report.MEDIA_TYPES["xlsx"]
    assert made.headers["Content-Disposition"].endswith('_what-if_202101-202112.xlsx"')
    again = client.post("/api/v1/subsidy/what-if?format=xlsx", json=asked, headers=headers)
    assert again.data == made.data  # the same inputs, the same bytes
    book = load_workbook(io.BytesIO(made.data))
    assert book.sheetnames == ["测算汇总", "新增符合", "不再符合", "金额变化"]
    lost = _table(book["不再符合"], 10)
    assert [r[5] for r in lost] == [e["code"] for e in diff["newly_ineligible"]]
    assert len(lost) == 10 and all("名额" in r[9] for r in lost)  # the last ten places
    total = book["不再符合"].cell(5 + len(lost) + 1, 8)
    assert total.value == 200_000 == -diff["budget_change_cny"]
    summary = {r[0]: r[1:] for r in book["测算汇总"].iter_rows(min_row=6, values_only=True)}
    assert summary["符合条件的站点数"] == (200, 190, -10)
    assert summary["调整：名额与预算"][:2] == ("限 200 个名额", "限 190 个名额")
