"""Import: every rejection reason, all-or-nothing, updates with history, formats."""

from __future__ import annotations

import csv
import json

import pytest
from openpyxl import Workbook

from stations.errors import ImportRejected
from stations.importer import import_file
from stations.records import FIELD_NAMES, FIELDS

XIAODIAN = "140105"  # 小店区, Taiyuan


@pytest.fixture
def inside(conn):
    """A point well inside 小店区 and one inside 迎泽区 (140106)."""
    rows = conn.execute(
        "SELECT code, ST_X(p), ST_Y(p) FROM (SELECT code, ST_PointOnSurface(geom) p "
        "FROM districts WHERE code IN ('140105', '140106')) d ORDER BY code"
    ).fetchall()
    return {code: (x, y) for code, x, y in rows}


def station_row(inside, **overrides):
    lon, lat = inside[XIAODIAN]
    row = {
        "code": "T-0001",
        "name": "测试驿站",
        "address": "山西省太原市小店区测试路1号",
        "district_code": XIAODIAN,
        "district_name": "小店区",
        "lon": f"{lon:.6f}",
        "lat": f"{lat:.6f}",
        "opening_hours": "Mo-Fr 08:00-20:00; PH off",
        "amenities": "drinking_water;toilet",
        "floor_area_m2": "20",
        "host_type": "community",
        "built_by": "union",
        "level": "district",
        "opened_on": "2021-05-01",
        "status": "active",
        "contact": "0351-1234567",
        "has_sign": "true",
        "has_rules": "true",
        "has_staff": "false",
    }
    row.update(overrides)
    return row


def write_csv(path, rows, headers=FIELD_NAMES):
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(headers))
        writer.writeheader()
        writer.writerows(rows)
    return path


def count(conn, sql="SELECT count(*) FROM stations", params=()):
    return conn.execute(sql, params).fetchone()[0]


def rejected(conn, path):
    before = count(conn)
    with pytest.raises(ImportRejected) as info:
        import_file(conn, path, actor="test")
    assert count(conn) == before, "a rejected file must import nothing"
    return info.value.details["rows"]


def test_new_rows_are_inserted_with_history(conn, tmp_path, inside):
    path = write_csv(tmp_path / "new.csv", [station_row(inside)])
    result = import_file(conn, path, actor="alice")
    assert (result.inserted, result.updated, result.unchanged) == (1, 0, 0)
    sid, version = conn.execute("SELECT id, version FROM stations WHERE code='T-0001'").fetchone()
    assert version == 1
    action, who, after = conn.execute(
        "SELECT action, changed_by, after FROM station_history WHERE station_id=%s", [sid]
    ).fetchone()
    assert (action, who, after["name"], after["amenities"]) == (
        "create",
        "alice",
        "测试驿站",
        ["drinking_water", "toilet"],
    )


def test_existing_code_updates_and_identical_row_changes_nothing(conn, tmp_path, inside):
    import_file(conn, write_csv(tmp_path / "a.csv", [station_row(inside)]), actor="alice")
    again = import_file(conn, write_csv(tmp_path / "b.csv", [station_row(inside)]), actor="bob")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)
    changed = station_row(inside, floor_area_m2="25.5", amenities="toilet;drinking_water;wifi")
    result = import_file(conn, write_csv(tmp_path / "c.csv", [changed]), actor="bob")
    assert (result.inserted, result.updated) == (0, 1)
    sid, version, area = conn.execute(
        "SELECT id, version, floor_area_m2 FROM stations WHERE code='T-0001'"
    ).fetchone()
    assert (version, float(area)) == (2, 25.5)
    history = conn.execute(
        "SELECT action, changed_by, before->>'floor_area_m2', after->>'floor_area_m2' "
        "FROM station_history WHERE station_id=%s ORDER BY id",
        [sid],
    ).fetchall()
    assert history == [("create", "alice", None, "20.0"), ("update", "bob", "20.0", "25.5")]


def test_dry_run_changes_nothing(conn, tmp_path, inside):
    before = count(conn)
    result = import_file(
        conn, write_csv(tmp_path / "d.csv", [station_row(inside)]), actor="t", dry_run=True
    )
    assert result.inserted == 1 and result.dry_run
    assert count(conn) == before


BAD_CELLS = [
    ("code", "", "required"),
    ("code", "bad code!", "code must be"),
    ("name", "", "required"),
    ("lon", "abc", "longitude must be a number"),
    ("lon", "10.5", "longitude must be between"),
    ("lat", "nan", "latitude must be between"),
    ("opening_hours", "Mo-Fr 8-25", "not valid"),
    ("amenities", "drinking_water;jacuzzi", "unknown amenity 'jacuzzi'"),
    ("host_type", "castle", "not one of"),
    ("built_by", "", "required"),
    ("level", "galactic", "not one of"),
    ("floor_area_m2", "-3", "floor area must be more than 0"),
    ("floor_area_m2", "big", "floor area must be a number"),
    ("opened_on", "2021-13-40", "date must be YYYY-MM-DD"),
    ("has_sign", "maybe", "true/false"),
    ("status", "sleeping", "not one of"),
    ("district_code", "14010", "6-digit admin code"),
]


@pytest.mark.parametrize(("field", "value", "reason"), BAD_CELLS)
def test_each_bad_cell_rejects_the_whole_file(conn, tmp_path, inside, field, value, reason):
    good = station_row(inside, code="T-0002", name="好的驿站")
    bad = station_row(inside, **{field: value})
    problems = rejected(conn, write_csv(tmp_path / "bad.csv", [good, bad]))
    assert [(p["row"], p["field"]) for p in problems] == [(3, field)]
    assert reason in problems[0]["reason"]
    assert problems[0]["value"] == value


def test_database_checks(conn, tmp_path, inside):
    existing = conn.execute(
        "SELECT code, name, ST_X(geom), ST_Y(geom), district_code FROM stations LIMIT 1"
    ).fetchone()
    lon_y, lat_y = inside["140106"]
    rows = [
        station_row(inside, code="T-1", name="一", district_code="149999"),
        station_row(inside, code="T-2", name="二", district_name="迎泽区"),
        station_row(inside, code="T-3", name="三", lon=f"{lon_y}", lat=f"{lat_y}"),
        station_row(
            inside,
            code="T-4",
            name=existing[1],
            lon=repr(existing[2]),
            lat=repr(existing[3]),
            district_code=existing[4],
            district_name="",
        ),
        station_row(inside, code="T-5", name="同名"),
        station_row(inside, code="T-6", name="同名"),
        station_row(inside, code="T-5", name="重复编码"),
        station_row(inside, code="T-7", name="七", district_code="", district_name="不存在区"),
    ]
    problems = rejected(conn, write_csv(tmp_path / "db.csv", rows))
    found = {(p["row"], p["field"]): p["reason"] for p in problems}
    assert "unknown district code" in found[(2, "district_code")]
    assert "does not match district 140105" in found[(3, "district_name")]
    assert "outside district 140105" in found[(4, "lon/lat")]
    assert f"code {existing[0]}" in found[(5, "name")]
    assert "same name and position as row 6" in found[(7, "name")]
    assert "code repeated in the file (row 6)" in found[(8, "code")]
    assert "unknown district name" in found[(9, "district_name")]
    assert len(problems) == 7


def test_missing_column_and_empty_file(conn, tmp_path, inside):
    headers = [h for h in FIELD_NAMES if h != "host_type"]
    row = {k: v for k, v in station_row(inside).items() if k != "host_type"}
    problems = rejected(conn, write_csv(tmp_path / "cols.csv", [row], headers))
    assert problems[0]["row"] == 1 and "host_type (依托类型)" in problems[0]["reason"]
    (tmp_path / "empty.csv").write_text("")
    assert "empty" in rejected(conn, tmp_path / "empty.csv")[0]["reason"]
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ImportRejected, match="unsupported file type"):
        import_file(conn, tmp_path / "x.txt", actor="t")


def test_xlsx_with_chinese_headers_and_labels(conn, tmp_path, inside):
    row = station_row(
        inside,
        host_type="社区服务站",
        built_by="工会",
        level="区县级",
        amenities="饮用水、卫生间",
        has_sign="是",
    )
    book = Workbook()
    sheet = book.active
    sheet.append([f.zh for f in FIELDS])
    sheet.append([row[f.name] for f in FIELDS])
    sheet.append([None] * len(FIELDS))  # a blank line means nothing
    book.save(tmp_path / "zh.xlsx")
    result = import_file(conn, tmp_path / "zh.xlsx", actor="t")
    assert result.inserted == 1
    stored = conn.execute(
        "SELECT host_type, built_by, level, amenities, has_sign FROM stations WHERE code='T-0001'"
    ).fetchone()
    assert stored == ("community", "union", "district", ["drinking_water", "toilet"], True)


def test_geojson_rows_and_bad_geometry(conn, tmp_path, inside):
    row = station_row(inside)
    props = {k: v for k, v in row.items() if k not in ("lon", "lat")}
    good = {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Point", "coordinates": [float(row["lon"]), float(row["lat"])]},
    }
    bad = {
        "type": "Feature",
        "properties": {**props, "code": "T-9", "name": "九"},
        "geometry": {"type": "LineString", "coordinates": [[112, 37], [113, 38]]},
    }
    path = tmp_path / "s.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [good, bad]}))
    problems = rejected(conn, path)
    assert {(p["row"], p["field"]) for p in problems} == {(2, "lon"), (2, "lat")}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [good]}))
    assert import_file(conn, path, actor="t").inserted == 1
    path.write_text("{not json")
    assert "not valid JSON" in rejected(conn, path)[0]["reason"]


def test_hostile_cells_are_reported_not_crashing(conn, tmp_path, inside):
    rows = [
        station_row(inside, code="T-1", name="零\x00字节"),
        station_row(inside, code="T-2", name="长" * 3000),
        station_row(inside, code="T-3", name="三", opened_on="2021-05-01garbage"),
    ]
    problems = rejected(conn, write_csv(tmp_path / "hostile.csv", rows))
    assert [(p["row"], p["field"]) for p in problems] == [
        (2, "name"),
        (3, "name"),
        (4, "opened_on"),
    ]
    big = tmp_path / "big.csv"
    big.write_text(",".join(FIELD_NAMES) + "\n" + "x" * 200_000 + "\n")
    assert "not a readable CSV file" in rejected(conn, big)[0]["reason"]


def test_gb18030_csv_from_chinese_excel(conn, tmp_path, inside):
    path = tmp_path / "excel.csv"
    with path.open("w", newline="", encoding="gb18030") as fh:
        writer = csv.writer(fh)
        writer.writerow([f.zh for f in FIELDS])
        row = station_row(inside, host_type="社区服务站", built_by="工会", level="区县级")
        writer.writerow([row[f.name] for f in FIELDS])
    assert import_file(conn, path, actor="t").inserted == 1
    assert count(conn, "SELECT count(*) FROM stations WHERE name = '测试驿站'") == 1


def test_geojson_odd_values_are_problems(conn, tmp_path, inside):
    row = station_row(inside)
    props = {k: v for k, v in row.items() if k not in ("lon", "lat")}
    props["amenities"] = [1, 2]
    feature = {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Point", "coordinates": [[112.5, 37.8], [1, 2]]},
    }
    path = tmp_path / "odd.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    fields = {p["field"] for p in rejected(conn, path)}
    assert fields == {"amenities", "lon", "lat"}


def test_update_keeps_absent_columns_and_moves_districts(conn, tmp_path, inside):
    import_file(conn, write_csv(tmp_path / "a.csv", [station_row(inside)]), actor="t")
    # a file without the address/contact columns keeps them; district given by name only
    lon, lat = inside["140106"]
    headers = [h for h in FIELD_NAMES if h not in ("address", "contact", "district_code")]
    moved = {
        k: v
        for k, v in station_row(
            inside, district_name="迎泽区", lon=f"{lon:.6f}", lat=f"{lat:.6f}"
        ).items()
        if k in headers
    }
    result = import_file(conn, write_csv(tmp_path / "b.csv", [moved], headers), actor="t")
    assert result.updated == 1
    stored = conn.execute(
        "SELECT district_code, district_name, address, contact FROM stations WHERE code='T-0001'"
    ).fetchone()
    assert stored == ("140106", "迎泽区", "山西省太原市小店区测试路1号", "0351-1234567")


def test_empty_cells_clear_but_empty_status_keeps(conn, tmp_path, inside):
    import_file(
        conn, write_csv(tmp_path / "a.csv", [station_row(inside, status="suspended")]), actor="t"
    )
    cleared = station_row(inside, status="", contact="", amenities="")
    assert import_file(conn, write_csv(tmp_path / "b.csv", [cleared]), actor="t").updated == 1
    stored = conn.execute(
        "SELECT status, contact, amenities FROM stations WHERE code='T-0001'"
    ).fetchone()
    assert stored == ("suspended", None, [])


def test_geojson_features_with_fewer_properties_keep_the_rest(conn, tmp_path, inside):
    import_file(conn, write_csv(tmp_path / "a.csv", [station_row(inside)]), actor="t")
    row = station_row(inside, floor_area_m2="30")
    full = {k: v for k, v in row.items() if k not in ("lon", "lat")}
    slim = {
        k: full[k]
        for k in (
            "code",
            "name",
            "district_code",
            "host_type",
            "built_by",
            "level",
            "floor_area_m2",
        )
    }
    point = {"type": "Point", "coordinates": [float(row["lon"]), float(row["lat"])]}
    other = station_row(inside, code="T-0009", name="九号")
    features = [
        {"type": "Feature", "properties": slim, "geometry": point},
        {
            "type": "Feature",
            "geometry": {
                "type": "Point",
                "coordinates": [float(other["lon"]) + 0.001, float(other["lat"])],
            },
            "properties": {k: v for k, v in other.items() if k not in ("lon", "lat")},
        },
    ]
    path = tmp_path / "mixed.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    result = import_file(conn, path, actor="t")
    assert (result.inserted, result.updated) == (1, 1)
    stored = conn.execute(
        "SELECT floor_area_m2, address, amenities, contact FROM stations WHERE code='T-0001'"
    ).fetchone()
    assert (float(stored[0]), stored[1], stored[2], stored[3]) == (
        30.0,
        "山西省太原市小店区测试路1号",
        ["drinking_water", "toilet"],
        "0351-1234567",
    )


def test_district_names_that_cannot_be_used(conn, tmp_path, inside):
    rows = [
        station_row(inside, code="T-1", name="一", district_code="", district_name="城区"),
        station_row(inside, code="T-2", name="二", district_code="", district_name="太原市"),
    ]
    problems = rejected(conn, write_csv(tmp_path / "names.csv", rows))
    reasons = {p["row"]: p["reason"] for p in problems}
    assert "ambiguous" in reasons[2] and "not a county-level district" in reasons[3]


def test_malformed_files(conn, tmp_path):
    (tmp_path / "dup.csv").write_text("code,编码,name\n")
    assert "appears twice" in rejected(conn, tmp_path / "dup.csv")[0]["reason"]
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    assert "not a readable .xlsx file" in rejected(conn, tmp_path / "broken.xlsx")[0]["reason"]
    (tmp_path / "feature.geojson").write_text('{"type": "Feature"}')
    assert "FeatureCollection" in rejected(conn, tmp_path / "feature.geojson")[0]["reason"]
    (tmp_path / "latin.csv").write_bytes(b"\xff\xfe\x00\x00garbage\x81\x30")
    assert rejected(conn, tmp_path / "latin.csv")


def test_a_file_cut_short_imports_nothing(conn, tmp_path):
    """A half-written export with every contact changed: cut anywhere inside a line, it is
    refused and the registry is as it was (before: short rows were padded, and the empty
    cells cleared opened_on, contact and has_* on 33,552 stations)."""
    import io
    import random

    from stations.exporter import export

    out = io.StringIO()
    export(conn, "csv", out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    for row in rows:
        row["contact"] = "0351-0000000"
    whole = write_csv(tmp_path / "whole.csv", rows, headers=rows[0].keys()).read_bytes()
    before = conn.execute(
        "SELECT count(*), md5(string_agg(code || coalesce(contact, '') || coalesce("
        "opened_on::text, ''), ',' ORDER BY code)) FROM stations"
    ).fetchone()
    # inside a line: a cut just before or after a line's end leaves a shorter whole file
    ends = {i for i, b in enumerate(whole) if b in (0x0A, 0x0D)}
    inside_lines = [i for i in range(200, len(whole)) if i not in ends and i - 1 not in ends]
    rng = random.Random(20261201)
    cuts = sorted(rng.sample(inside_lines, 12))
    for cut in cuts:
        path = tmp_path / "cut.csv"
        path.write_bytes(whole[:cut])
        with pytest.raises(ImportRejected) as info:
            import_file(conn, path, actor="t")
        message = info.value.message
        assert "nothing" in message or "not a readable" in message or "UTF-8" in message
        after = conn.execute(
            "SELECT count(*), md5(string_agg(code || coalesce(contact, '') || coalesce("
            "opened_on::text, ''), ',' ORDER BY code)) FROM stations"
        ).fetchone()
        assert after == before, cut


def test_rows_of_the_wrong_width_are_named(conn, tmp_path, inside):
    path = tmp_path / "uneven.csv"
    good = station_row(inside)
    lines = [",".join(FIELD_NAMES), ",".join(good[n] for n in FIELD_NAMES)]
    lines.append(",".join(good[n] for n in FIELD_NAMES[:5]))  # cut short
    lines.append(",".join([*(good[n] for n in FIELD_NAMES), "extra"]))  # an unquoted comma
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as info:
        import_file(conn, path, actor="t")
    rows = info.value.details["rows"]
    assert [(r["row"], r["value"]) for r in rows] == [(3, "5 cells"), (4, "20 cells")]
    assert "19" in rows[0]["reason"] and "表头" in rows[0]["reason_zh"]


def _with_dimension(path, ref: bytes):
    """The same workbook with its sheet's <dimension> claiming ``ref``."""
    import re
    import zipfile

    bomb = path.with_name("bomb.xlsx")
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = re.sub(
                    rb'<dimension ref="[^"]*"/>', b'<dimension ref="' + ref + b'"/>', data
                )
            zout.writestr(item, data)
    return bomb


def test_a_sheet_claiming_every_cell_is_read_as_the_cells_it_has(conn, tmp_path, inside):
    """A 5 KB XLSX whose <dimension> says A1:XFD1048576 cost 20 minutes of CPU."""
    from stations.readers import read_rows

    book = Workbook()
    sheet = book.active
    sheet.append(list(FIELD_NAMES))
    sheet.append([station_row(inside)[n] for n in FIELD_NAMES])
    path = tmp_path / "small.xlsx"
    book.save(path)
    bomb = _with_dimension(path, b"A1:XFD1048576")
    rows = list(read_rows(bomb))
    assert len(rows) == 1 and rows[0][1]["code"] == "T-0001"
    result = import_file(conn, bomb, actor="t", dry_run=True)
    assert result.inserted == 1


def _sheet_with(tmp_path, inside, inserted: bytes):
    """A one-station workbook with ``inserted`` put at the start of its <sheetData>."""
    import re
    import zipfile

    book = Workbook()
    book.active.append(list(FIELD_NAMES))
    book.active.append([station_row(inside)[n] for n in FIELD_NAMES])
    path = tmp_path / "ok.xlsx"
    book.save(path)
    changed = tmp_path / "changed.xlsx"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(changed, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = re.sub(rb"<sheetData>", b"<sheetData>" + inserted, data, count=1)
            zout.writestr(item, data)
    return changed


@pytest.mark.parametrize(
    "damage",
    [
        b'<row r="x">',  # XML that does not close
        b'<row r="3"><c r="A3" t="s"><v>999</v></c></row>',  # a shared string not there
        b'<row r="3"><c r="A3" t="n"><v>abc</v></c></row>',  # a number that is not one
    ],
)
def test_a_damaged_sheet_is_refused_not_a_crash(conn, tmp_path, inside, damage):
    with pytest.raises(ImportRejected) as refused:
        import_file(conn, _sheet_with(tmp_path, inside, damage), actor="t", dry_run=True)
    assert "not a readable .xlsx file" in refused.value.message, refused.value.message


def test_stray_elements_outside_rows_are_ignored_as_spreadsheet_programs_do(conn, tmp_path, inside):
    """A <dimension> or a cell between rows holds no row: the rows there are read."""
    stray = _sheet_with(tmp_path, inside, b'<dimension ref="ZZZZZ9"/><c r="A2" t="s"><v>9</v></c>')
    result = import_file(conn, stray, actor="t", dry_run=True)
    assert (result.rows, result.inserted) == (1, 1)
