"""Export writes files that import back unchanged, and recreate the same stations."""

from __future__ import annotations

import io

import pytest

from stations.exporter import export
from stations.importer import import_file


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
    export(conn, fmt, first)
    path = tmp_path / f"all.{fmt}"
    path.write_text(first.getvalue(), encoding="utf-8")
    conn.execute("DELETE FROM stations")
    result = import_file(conn, path, actor="t")
    assert result.updated == 0 and result.inserted > 1000
    second = io.StringIO()
    export(conn, fmt, second)
    assert second.getvalue() == first.getvalue()
