"""Export writes files that import back unchanged, and recreate the same stations."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from hours_oracle import answers, expected_state

from stations.exporter import export
from stations.importer import import_file

AT = dt.datetime(2025, 10, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.mark.parametrize("fmt", ["csv", "geojson"])
def test_reimporting_an_export_is_a_no_op(conn, tmp_path, fmt):
    path = tmp_path / f"all.{fmt}"
    with path.open("w", encoding="utf-8") as fh:
        written = export(conn, fmt, fh)
    total = conn.execute("SELECT count(*) FROM stations").fetchone()[0]
    assert written == total > 1000
    history = conn.execute("SELECT count(*) FROM station_history").fetchone()[0]
    result = import_file(conn, path, actor="t")
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, total)
    assert conn.execute("SELECT count(*) FROM station_history").fetchone()[0] == history


@pytest.mark.parametrize("fmt", ["csv", "geojson"])
def test_export_into_empty_database_recreates_the_stations(conn, tmp_path, fmt):
    first = io.StringIO()
    export(conn, fmt, first, at=AT)
    path = tmp_path / f"all.{fmt}"
    path.write_text(first.getvalue(), encoding="utf-8")
    conn.execute("DELETE FROM stations")
    result = import_file(conn, path, actor="t")
    assert result.updated == 0 and result.inserted > 1000
    second = io.StringIO()
    export(conn, fmt, second, at=AT)
    assert second.getvalue() == first.getvalue()


def test_exports_say_each_stations_state_at_the_export(conn):
    out = io.StringIO()
    export(conn, "csv", out, at=AT)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    oracle = answers([r["opening_hours"] for r in rows], [AT])
    seen = set()
    for row in rows:
        answer = oracle.get((row["opening_hours"], AT)) if row["opening_hours"] else None
        assert row["state"] == expected_state(answer, AT, row["status"]), row["code"]
        assert row["state_at"] == AT.isoformat()
        seen.add(row["state"])
    assert {"open", "closed", "suspended"} <= seen  # National Day: offices shut
    by_code = {r["code"]: r for r in rows}
    office = next(r for r in rows if r["opening_hours"] == "Mo-Fr 08:00-20:00; PH off")
    assert by_code[office["code"]]["opening_hours_text"] == "周一至周五 08:00–20:00；法定节假日休息"
    geojson = io.StringIO()
    export(conn, "geojson", geojson, at=AT)
    features = json.loads(geojson.getvalue())["features"]
    assert {f["properties"]["state"] for f in features} == seen


def test_a_csv_export_runs_no_formula_and_imports_back(conn, tmp_path):
    """Names and contacts come from imports: "=HYPERLINK(...)" must stay text in Excel."""
    code = conn.execute("SELECT code FROM stations ORDER BY id LIMIT 1").fetchone()[0]
    formula = '=HYPERLINK("http://x")'
    conn.execute(
        "UPDATE stations SET name = %s, contact = '+86 351 1234', address = '@home' "
        "WHERE code = %s",
        [formula, code],
    )
    out = io.StringIO()
    export(conn, "csv", out, at=AT)
    row = next(r for r in csv.DictReader(io.StringIO(out.getvalue())) if r["code"] == code)
    assert row["name"] == "'" + formula
    assert (row["contact"], row["address"]) == ("'+86 351 1234", "'@home")
    path = tmp_path / "all.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    result = import_file(conn, path, actor="t")
    assert result.updated == 0 and result.inserted == 0  # the apostrophes came off
    name = conn.execute("SELECT name FROM stations WHERE code = %s", [code]).fetchone()[0]
    assert name == formula
