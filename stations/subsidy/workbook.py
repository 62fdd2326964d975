"""The report as an XLSX workbook a finance office prints, signs and files.

Four sheets, each with a title (programme and period), 制表单位, 制表日期 and 单位：元 above
its table, printed A4 landscape, fitted to the page width, the table's header repeated on
every page:

- 拨付清单: the eligible stations only, in their programme order, a 合计 row and the
  signature lines (制表人 / 审核人 / 负责人);
- 评定明细: every station, eligible first, then in order of place, with the criteria it
  failed and why; autofilter and frozen header;
- 汇总: totals by city, each followed by its counties, names beside codes, and 合计;
- 规则说明: the programme's rules in words: amount, cap, order and each criterion.

制表日期 is the day of the data's snapshot (Beijing time), so the same inputs still give
the same bytes. openpyxl lays out the workbook (styles, print setup, merges, filters) with
one row of each table; the table rows are then written as XML straight into the sheet,
which takes 100,000 stations in seconds where openpyxl's cells take half a minute.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from xml.sax.saxutils import escape

from stations import settings
from stations.hours.tz import SHANGHAI
from stations.records import inert
from stations.subsidy.evaluate import ORDER_ZH, Evaluation, Said, Verdict, city_of

MONEY = "#,##0.00"
COUNT = "#,##0"
SIGNATURES = "制表人：______________        审核人：______________        负责人：______________"
ACCRUAL = {
    "once": Said("每站一次性", "once per station"),
    "monthly": Said("每站每月（当月 1 日前开放且当日运营的月份）",
                    "per station per month (open and active on its 1st)"),
    "prorated": Said("每站每月，按运营天数折算", "per station per month, by days active"),
}  # fmt: skip


def to_xlsx(evaluation: Evaluation, body: dict[str, Any], lang: str) -> bytes:
    """The workbook's bytes; ``body`` is :func:`stations.subsidy.report.header`'s."""
    from openpyxl import Workbook  # here: ~10 MiB a web worker pays only when it is asked

    book = Workbook()
    book.remove(book.active)
    sheets = _Sheets(book, evaluation)
    _payments(sheets, evaluation, body)
    _verdicts(sheets, evaluation, lang)
    _totals(sheets, body)
    _rules(sheets, evaluation, body, lang)
    stamp = _stamp(evaluation)
    book.properties.created = book.properties.modified = stamp
    book.properties.creator = "rest-stations"
    raw = io.BytesIO()
    book.save(raw)
    return _finish(raw.getvalue(), stamp, sheets.tables)


def _stamp(evaluation: Evaluation) -> dt.datetime:
    stamp = evaluation.snapshot_at or dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    return stamp.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)


def _finish(data: bytes, stamp: dt.datetime, tables: dict[str, tuple[int, int, str]]) -> bytes:
    """The saved workbook with each table's rows put in, every entry dated ``stamp``.

    ``tables``: per sheet file, (first row, last row, the rows' XML) to put in place of the
    one row openpyxl wrote. openpyxl stamps the zip entries and the document's "modified"
    with the clock at save time, which would make two runs differ.
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
            elif info.filename in tables:
                content = _put_rows(content.decode(), *tables[info.filename]).encode()
            entry = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            dst.writestr(entry, content)
    return out.getvalue()


def _put_rows(xml: str, first: int, last: int, rows: str) -> str:
    start = xml.index(f'<row r="{first}"')
    end = xml.index("</row>", start) + len("</row>")
    xml = xml[:start] + rows + xml[end:]
    # the sheet's used range grows by the rows openpyxl never saw
    return re.sub(
        r'<dimension ref="([A-Z]+1):([A-Z]+)(\d+)"/>',
        lambda m: f'<dimension ref="{m[1]}:{m[2]}{max(int(m[3]), last)}"/>',
        xml,
        count=1,
    )


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _cell_xml(ref: str, style: int, value: Any) -> str:
    """One cell as sheet XML: text inline (never a formula, whatever it starts with).

    No value and empty text both leave the cell blank, so a filter offers (空白).
    """
    if value is None or value == "":
        return f'<c r="{ref}" s="{style}"/>'
    if isinstance(value, str):
        text = escape(_NOT_XML.sub("", inert(value)))
        space = ' xml:space="preserve"' if text != text.strip() else ""
        return f'<c r="{ref}" s="{style}" t="inlineStr"><is><t{space}>{text}</t></is></c>'
    return f'<c r="{ref}" s="{style}" t="n"><v>{value!r}</v></c>'


def prepared_on(evaluation: Evaluation) -> dt.date:
    """制表日期: the day of the data's snapshot, Beijing time."""
    return _stamp(evaluation).replace(tzinfo=dt.UTC).astimezone(SHANGHAI).date()


class _Sheets:
    """Makes the sheets with the shared head (title, 制表单位, 制表日期, 单位) and print setup."""

    def __init__(self, book: Any, evaluation: Evaluation) -> None:
        from openpyxl.styles import Alignment, Border, Font, Side
        from openpyxl.styles.fonts import DEFAULT_FONT

        self.book = book
        programme, period = evaluation.loaded.programme, evaluation.period
        self.title = f"{programme.name}"
        self.period = f"期间：{period.start} 至 {period.end}"
        self.preparer = f"制表单位：{settings.value('STATIONS_REPORT_PREPARER')}"
        self.date = f"制表日期：{prepared_on(evaluation):%Y年%m月%d日}"
        thin = Side(style="thin")
        grid = Border(thin, thin, thin, thin)
        bold = Font(name=DEFAULT_FONT.name, bold=True)
        self.styles = {  # every cell of a table is ruled, as printed finance tables are
            "title": {"font": Font(name=DEFAULT_FONT.name, bold=True, size=16)},
            "head": {"font": bold, "border": grid,
                     "alignment": Alignment(horizontal="center", vertical="center",
                                            wrap_text=True)},
            "cell": {"border": grid},
            "money": {"number_format": MONEY, "border": grid},
            "count": {"number_format": COUNT, "border": grid},
            "total": {"font": bold, "border": grid},
            "total_money": {"font": bold, "number_format": MONEY, "border": grid},
            "total_count": {"font": bold, "number_format": COUNT, "border": grid},
            "wrap": {"alignment": Alignment(wrap_text=True, vertical="top"), "border": grid},
        }  # fmt: skip
        self.next_row: dict[str, int] = {}
        self.tables: dict[str, tuple[int, int, str]] = {}  # see _finish

    def line(self, sheet: Any, values: Sequence[Any], styles: Sequence[str | None] = ()) -> None:
        """One row below the last, cells styled by name (``None``: unstyled)."""
        row = self.next_row[sheet.title]
        for column, value in enumerate(values, start=1):
            style = styles[column - 1] if styles else None
            if value is None and style is None:
                continue
            cell = sheet.cell(row=row, column=column, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula
            for name, setting in (self.styles[style] if style else {}).items():
                setattr(cell, name, setting)
        self.next_row[sheet.title] = row + 1

    def new(
        self,
        name: str,
        subtitle: str,
        headers: Sequence[str],
        widths: Sequence[float],
        unit: bool = True,
    ) -> Any:
        """A sheet with its head rows written; the table's header is row 5."""
        from openpyxl.utils import get_column_letter
        from openpyxl.worksheet.properties import PageSetupProperties

        sheet = self.book.create_sheet(name)
        self.next_row[name] = 1
        for i, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(i)].width = width
        last = get_column_letter(len(headers))
        sheet.freeze_panes = "A6"
        sheet.print_title_rows = "5:5"
        sheet.page_setup.paperSize = "9"  # A4
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight = 1, 0
        sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        sheet.print_options.horizontalCentered = True
        sheet.page_margins.left = sheet.page_margins.right = 0.4
        sheet.oddFooter.center.text = "第 &P 页，共 &N 页"
        self.line(sheet, [f"{self.title} {subtitle}"], ["title"])
        self.line(sheet, [self.period])
        if len(headers) < 4:  # too few columns to spread them out
            row: list[Any] = [f"{self.preparer}        {self.date}"]
        else:
            row = [self.preparer] + [None] * (len(headers) - 1)
            row[len(headers) // 2] = self.date
            if unit:
                row[-1] = "单位：元"
        self.line(sheet, row)
        self.line(sheet, [])
        self.line(sheet, headers, ["head"] * len(headers))
        sheet.merge_cells(f"A1:{last}1")
        self.last_column = last
        return sheet

    def rows(self, sheet: Any, rows: Iterable[Sequence[Any]], styles: Sequence[str | None]) -> int:
        """The table's rows below the header; returns how many.

        openpyxl writes the first, which registers the styles; all of them are put into
        the sheet's XML when the workbook is saved (:func:`_finish`).
        """
        from openpyxl.utils import get_column_letter

        first = self.next_row[sheet.title]
        names = [s or "cell" for s in styles]
        letters = [get_column_letter(i) for i in range(1, len(names) + 1)]
        ids: list[int] = []
        parts: list[str] = []
        r = first
        for values in rows:
            if not ids:
                self.line(sheet, values, names)
                ids = [sheet.cell(row=first, column=i).style_id for i in range(1, len(names) + 1)]
            cells = "".join(
                _cell_xml(f"{letter}{r}", style, value)
                for letter, style, value in zip(letters, ids, values, strict=True)
            )
            parts.append(f'<row r="{r}">{cells}</row>')
            r += 1
        if parts:
            path = f"xl/worksheets/sheet{self.book.worksheets.index(sheet) + 1}.xml"
            self.tables[path] = (first, r - 1, "".join(parts))
        self.next_row[sheet.title] = r
        return r - first

    def total(self, sheet: Any, values: Sequence[Any], styles: Sequence[str]) -> None:
        """The 合计 row: bold, ruled."""
        self.line(sheet, values, styles)


def _place(v: Verdict) -> tuple[Any, ...]:
    return (v.place is None, v.place or 0, v.station["code"])


def in_verdict_order(verdicts: Iterable[Verdict]) -> list[Verdict]:
    """As 评定明细 lists them: funded first, then by place, the rest by code."""
    return sorted(verdicts, key=lambda v: (not v.eligible, *_place(v)))


def _where(evaluation: Evaluation, v: Verdict) -> list[str]:
    code = v.station["district_code"]
    city = city_of(code)
    return [city, evaluation.names.get(city, ""), code,
            evaluation.names.get(code) or v.station["district_name"] or ""]  # fmt: skip


def _payments(sheets: _Sheets, evaluation: Evaluation, body: dict[str, Any]) -> None:
    headers = ("序号", "城市代码", "城市", "区县代码", "区县", "站点编码", "站点名称",
               "补助金额（元）", "排序")  # fmt: skip
    sheet = sheets.new("拨付清单", "拨付清单", headers, (6, 9, 10, 9, 12, 10, 40, 16, 7))
    paid = sorted((v for v in evaluation.verdicts if v.eligible), key=_place)
    rows = (
        [n, *_where(evaluation, v), v.station["code"], v.station["name"], round(v.amount_cny, 2),
         v.place]
        for n, v in enumerate(paid, start=1)
    )  # fmt: skip
    sheets.rows(sheet, rows, (None,) * 7 + ("money", None))
    total = body["totals"]
    sheets.total(sheet, ["合计", None, None, None, None, f"{len(paid)} 个站点", None,
                         total["amount_cny"], None],
                 ["total"] * 7 + ["total_money", "total"])  # fmt: skip
    sheets.line(sheet, [])
    sheets.line(sheet, [])
    sheets.line(sheet, [SIGNATURES])


VERDICT_HEADERS = ("序号", "城市代码", "城市", "区县代码", "区县", "站点编码", "站点名称", "结论",
                   "补助金额（元）", "排序", "未通过的条件", "原因", "评定依据")  # fmt: skip
VERDICT = {True: Said("符合", "eligible"), False: Said("不符合", "not eligible")}
FACTS = {True: Said("期末历史记录", "history at period end"),
         False: Said("当前信息（无当期历史）", "current facts (no history then)")}  # fmt: skip


def verdict_rows(evaluation: Evaluation, lang: str) -> Iterator[list[Any]]:
    """Every station's row of 评定明细 (and of the CSV): eligible first, then by place."""
    for n, v in enumerate(in_verdict_order(evaluation.verdicts), start=1):
        failed = [r for r in v.reasons if not r.passed]
        yield [n, *_where(evaluation, v), v.station["code"], v.station["name"],
               getattr(VERDICT[v.eligible], lang), round(v.amount_cny, 2), v.place,
               "、".join(r.label for r in failed),
               "；".join(getattr(r.message, lang) for r in failed),
               getattr(FACTS[v.from_history], lang)]  # fmt: skip


def _verdicts(sheets: _Sheets, evaluation: Evaluation, lang: str) -> None:
    sheet = sheets.new("评定明细", "评定明细", VERDICT_HEADERS,
                       (5, 8, 8, 8, 10, 9, 28, 7, 12, 5, 14, 42, 10))  # fmt: skip
    n = sheets.rows(
        sheet,
        verdict_rows(evaluation, lang),
        (None,) * 6 + ("wrap", None, "money", None, "wrap", "wrap", None),
    )
    sheet.auto_filter.ref = f"A5:{sheets.last_column}{5 + n}"


def _totals(sheets: _Sheets, body: dict[str, Any]) -> None:
    headers = ("级别", "代码", "名称", "站点数", "符合数", "补助金额（元）")
    sheet = sheets.new("汇总", "分城市、区县汇总", headers, (10, 10, 16, 10, 10, 18))
    totals = body["totals"]
    counties: dict[str, list[dict[str, Any]]] = {}
    for d in totals["by_district"]:
        counties.setdefault(city_of(d["code"]), []).append(d)
    rows = []
    for city in totals["by_city"]:
        rows.append(["城市", city["code"], city["name"], city["stations"], city["eligible"],
                     city["amount_cny"]])  # fmt: skip
        for d in counties.get(city["code"], []):
            if d["code"] != city["code"]:
                rows.append(["区县", d["code"], d["name"], d["stations"], d["eligible"],
                             d["amount_cny"]])  # fmt: skip
    sheets.rows(sheet, rows, (None, None, None, "count", "count", "money"))
    sheets.total(sheet, ["合计", None, None, totals["stations"], totals["eligible"],
                         totals["amount_cny"]],
                 ["total"] * 3 + ["total_count", "total_count", "total_money"])  # fmt: skip


def rules(evaluation: Evaluation, lang: str) -> list[tuple[str, str]]:
    """The programme's rules in words, as (what, rule) pairs."""
    programme = evaluation.loaded.programme
    zh = lang == "zh"
    amount = f"{programme.amount_cny:,.2f} 元，{getattr(ACCRUAL[programme.accrual], lang)}"
    out = [("项目" if zh else "programme", f"{programme.name}（{programme.id}）"),
           ("发文单位" if zh else "authority", programme.authority or ""),
           ("补助标准" if zh else "amount", amount)]  # fmt: skip
    cap = programme.cap
    if cap is not None:
        limits = []
        if cap.count is not None:
            limits.append(f"限 {cap.count} 个名额" if zh else f"at most {cap.count} places")
        if cap.budget_cny is not None:
            limits.append(f"预算 {cap.budget_cny:,.2f} 元" if zh else
                          f"budget {cap.budget_cny:,.2f} yuan")  # fmt: skip
        order = "，".join(ORDER_ZH[o] for o in cap.order) if zh else ", ".join(cap.order)
        out.append(("名额与预算" if zh else "cap", "；".join(limits)))
        out.append(
            (
                "分配顺序" if zh else "order",
                (
                    f"符合其他条件的站点按 {order} 依次获得名额，用完为止"
                    if zh
                    else f"stations meeting every other criterion are funded in order: {order}"
                ),
            )
        )
    required: dict[str, str] = {}
    for v in evaluation.verdicts:  # what each criterion asked, as the reasons say it
        for r in v.reasons:
            required.setdefault(r.criterion, getattr(r.required, lang))
    for n, criterion in enumerate(programme.criteria, start=1):
        rule = required.get(criterion.id, criterion.kind)
        out.append((f"条件 {n}" if zh else f"criterion {n}", f"{criterion.label}：{rule}"))
    return out


def _rules(sheets: _Sheets, evaluation: Evaluation, body: dict[str, Any], lang: str) -> None:
    sheet = sheets.new("规则说明", "规则说明", ("项目", "内容"), (16, 110), unit=False)
    about = [
        *rules(evaluation, lang),
        ("评定依据", body["facts"]["note"]),
        ("数据快照", _beijing(evaluation.snapshot_at)),
        ("规则文件 SHA-256", body["programme_sha256"]),
    ]
    sheets.rows(sheet, about, (None, "wrap"))


def _beijing(value: dt.datetime | None) -> str:
    return f"{value.astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}（北京时间）" if value else ""


def what_if_to_xlsx(
    before: Evaluation, after: Evaluation, diff: dict[str, Any], lang: str
) -> bytes:
    """A what-if as a workbook to attach to a memorandum.

    The change in rules, counts and money, then the stations newly eligible, newly
    ineligible and paid another amount, each with where it is and why.
    """
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    sheets = _Sheets(book, after)
    _summary(sheets, before, after, diff, lang)
    where = {v.station["code"]: _where(before, v) for v in before.verdicts}
    where |= {v.station["code"]: _where(after, v) for v in after.verdicts}
    moved = (
        ("新增符合", "newly_eligible", "原未通过的原因", "was_failing"),
        ("不再符合", "newly_ineligible", "现未通过的原因", "now_failing"),
        ("金额变化", "amount_changed", None, None),
    )
    for name, key, why, reasons in moved:
        headers = ["序号", "城市代码", "城市", "区县代码", "区县", "站点编码", "站点名称",
                   "调整前金额（元）", "调整后金额（元）", why or "变化（元）"]  # fmt: skip
        sheet = sheets.new(name, f"规则调整测算 · {name}", headers,
                           (5, 9, 9, 9, 10, 10, 32, 15, 15, 50 if why else 14))  # fmt: skip
        entries = diff[key]
        rows = (
            [n, *where.get(e["code"], ["", "", "", ""]), e["code"], e["name"],
             e["amount_before_cny"], e["amount_after_cny"],
             "；".join(e[reasons]) if reasons else fen_change(e)]
            for n, e in enumerate(entries, start=1)
        )  # fmt: skip
        styles = (None,) * 7 + ("money", "money", "wrap" if why else "money")
        sheets.rows(sheet, rows, styles)
        before_sum = sum(e["amount_before_cny"] for e in entries)
        after_sum = sum(e["amount_after_cny"] for e in entries)
        last = None if why else round(after_sum - before_sum, 2)
        sheets.total(
            sheet,
            ["合计", None, None, None, None, f"{len(entries)} 个站点", None,
             round(before_sum, 2), round(after_sum, 2), last],
            ["total"] * 7 + ["total_money", "total_money", "total" if why else "total_money"],
        )  # fmt: skip
    stamp = _stamp(after)
    book.properties.created = book.properties.modified = stamp
    raw = io.BytesIO()
    book.save(raw)
    return _finish(raw.getvalue(), stamp, sheets.tables)


def fen_change(entry: dict[str, Any]) -> float:
    """How much more (or less) a station is paid under the changed rules."""
    return round(entry["amount_after_cny"] - entry["amount_before_cny"], 2)


def _summary(
    sheets: _Sheets, before: Evaluation, after: Evaluation, diff: dict[str, Any], lang: str
) -> None:
    """What changed in the rules (in words, from :func:`rules`) and in counts and money."""
    sheet = sheets.new("测算汇总", "规则调整测算", ("项目", "调整前", "调整后", "变化"),
                       (24, 40, 40, 18))  # fmt: skip
    count, money = ["cell", "count", "count", "count"], ["cell", "money", "money", "money"]
    sheets.line(sheet, ["符合条件的站点数", diff["eligible_before"], diff["eligible_after"],
                        diff["eligible_after"] - diff["eligible_before"]], count)  # fmt: skip
    sheets.line(sheet, ["补助金额合计（元）", diff["amount_before_cny"], diff["amount_after_cny"],
                        diff["budget_change_cny"]], money)  # fmt: skip
    sheets.line(sheet, ["新增符合的站点", None, None, len(diff["newly_eligible"])], count)
    sheets.line(sheet, ["不再符合的站点", None, None, len(diff["newly_ineligible"])], count)
    old, new = dict(rules(before, lang)), dict(rules(after, lang))
    for what in dict.fromkeys([*old, *new]):  # a rule dropped shows too
        if old.get(what) != new.get(what):
            sheets.line(sheet, [f"调整：{what}", old.get(what, "（无）"), new.get(what, "（无）"),
                                None], ["cell", "wrap", "wrap", "cell"])  # fmt: skip
    sheets.line(sheet, [])
    sheets.line(sheet, [f"数据快照：{_beijing(after.snapshot_at)}"])
    sheets.line(sheet, [f"规则文件 SHA-256：{before.loaded.sha256}"])
