"""Station data in and out: ``stations demo``, ``stations import``, ``stations export``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cli.errors import reported
from stations import db, exporter, importer
from stations.demo import load_demo
from stations.errors import StationsError


@click.command("demo")
@reported
def demo() -> None:
    """Load the demo data set (districts, demand layer, stations); safe to repeat."""
    with db.connect() as conn:
        result = load_demo(conn, progress=sys.stderr.isatty())
    s = result.stations
    click.echo(
        f"demo loaded: {result.districts} districts, {result.demand_points} demand points, "
        f"stations: {s.inserted} new, {s.updated} updated, {s.unchanged} unchanged"
    )


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate only; change nothing.")
@click.option("--actor", default="cli", show_default=True, help="Who the history records.")
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the per-row problem report to this JSON file.",
)
@reported
def import_(file: Path, dry_run: bool, actor: str, report: Path | None) -> None:
    """Import stations from a CSV, GeoJSON or XLSX file: all rows or none."""
    with db.connect() as conn:
        try:
            result = importer.import_file(
                conn, file, actor=actor, dry_run=dry_run, progress=sys.stderr.isatty()
            )
        except StationsError as exc:
            if report:
                rows = exc.details.get("rows", [])
                report.write_text(json.dumps(rows, ensure_ascii=False, indent=1))
            raise
    verb = "would import" if dry_run else "imported"
    click.echo(
        f"{verb} {result.rows} rows from {file.name}: {result.inserted} new, "
        f"{result.updated} updated, {result.unchanged} unchanged"
    )


@click.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(exporter.FORMATS), default="csv", show_default=True
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write ('-' for standard output).",
)
@reported
def export(fmt: str, output: Path) -> None:
    """Export every station in a form that imports back unchanged."""
    with db.connect() as conn:
        if str(output) == "-":
            exporter.export(conn, fmt, sys.stdout)
            return
        count = exporter.export_file(conn, fmt, output)
    click.echo(f"exported {count} stations to {output}", err=True)
