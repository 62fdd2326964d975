"""The ``stations`` command against the test database (DATABASE_URL points at it)."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from cli import main
from stations.db import head_revision
from stations.records import FIELD_NAMES


@pytest.fixture
def run(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)

    def invoke(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_demo_load_is_repeatable(run):
    result = run("demo")
    assert result.exit_code == 0
    assert "0 new, 0 updated" in result.output and "129 districts" in result.output


def test_bad_file_prints_the_row_report_and_fails(run, tmp_path):
    path = tmp_path / "bad.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(FIELD_NAMES)
        writer.writerow(
            [
                "X-1",
                "坏驿站",
                "",
                "140105",
                "",
                "112.5",
                "95",
                "",
                "",
                "",
                "community",
                "union",
                "district",
                "",
                "",
                "",
                "",
                "",
                "",
            ]
        )
    report = tmp_path / "report.json"
    result = run("import", str(path), "--report", str(report))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "row\tfield\tvalue\treason"
    assert lines[1].startswith("2\tlat\t95\tlatitude must be between")
    assert lines[-1].startswith("error: bad.csv: 1 problem(s) in 1 of 1 row(s)")
    assert json.loads(report.read_text())[0]["field"] == "lat"


def test_export_then_dry_run_import(run, tmp_path):
    out = tmp_path / "all.geojson"
    exported = run("export", "--format", "geojson", "--output", str(out))
    assert exported.exit_code == 0
    features = json.loads(out.read_text())["features"]
    assert len(features) > 1000 and features[0]["geometry"]["type"] == "Point"
    result = run("import", str(out), "--dry-run")
    assert result.exit_code == 0
    assert (
        f"would import {len(features)} rows" in result.output
        and "0 new, 0 updated" in result.output
    )


def test_status_reports_schema_revision(run):
    result = run("db", "status")
    assert result.exit_code == 0 and f"schema revision: {head_revision()}" in result.output


def test_db_up_refuses_when_database_url_is_set(run):
    result = run("db", "up")
    assert result.exit_code == 1 and "DATABASE_URL is set" in result.stderr


def test_gaps_writes_the_payload_and_says_the_ratios(run, tmp_path):
    out = tmp_path / "gaps.json"
    result = run("gaps", "--district", "140106", "--radius", "1000", "--output", str(out))
    assert result.exit_code == 0, result.output
    body = json.loads(out.read_text(encoding="utf-8"))
    assert body["stations_counted"] > 10 and 0 < body["coverage_ratio"] < 1
    assert body["gap_km2"] == pytest.approx(body["area_km2"] - body["covered_km2"], abs=1e-3)
    features = body["gaps"]["features"]
    assert [f["properties"]["rank"] for f in features] == list(range(1, len(features) + 1))
    assert sum(f["properties"]["area_km2"] for f in features) == pytest.approx(
        body["gap_km2"], rel=1e-3
    )
    assert features[0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    lon, lat = features[0]["properties"]["point"]
    assert 112 < lon < 113 and 37 < lat < 38.5  # back in lon/lat, in Taiyuan
    assert "迎泽区" in result.stderr and "% of demand" in result.stderr


def test_gaps_at_night_counts_fewer_stations(run, tmp_path):
    day, night = tmp_path / "day.json", tmp_path / "night.json"
    args = ("gaps", "--bbox", "112.45,37.75,112.65,37.95", "--output")
    assert run(*args, str(day), "--at", "2025-11-19T10:00").exit_code == 0
    assert run(*args, str(night), "--at", "2025-11-19T03:00").exit_code == 0
    day_body, night_body = (json.loads(p.read_text(encoding="utf-8")) for p in (day, night))
    assert night_body["stations_counted"] < day_body["stations_counted"]
    assert night_body["coverage_ratio"] < day_body["coverage_ratio"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--bbox", "1,2,x,4"), "bbox"),
        (("--district", "城区"), "give a code"),
        (("--district", "140106", "--at", "tonight"), "ISO 8601"),
        (("--district", "140106", "--amenities", "sauna"), "sauna"),
        ((), "exactly one of"),
    ],
)
def test_gaps_bad_input_is_one_line(run, tmp_path, args, message):
    result = run("gaps", *args, "--output", str(tmp_path / "x.json"))
    assert result.exit_code == 1 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.json").exists()
