"""The ``stations`` command against the test database (DATABASE_URL points at it)."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from stations.cli import main
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
