"""The ``stations`` command: database, demo data, import/export, coverage gaps, serving.

Every command exits 0 on success and otherwise prints one line saying why on stderr
(non-zero status). Long work shows a progress bar on a terminal.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import psycopg

from stations import coverage, db, exporter, hours, importer, settings, vocabulary
from stations.cluster import Cluster
from stations.demo import load_demo
from stations.errors import InvalidParameter, StationsError


def _reported(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors into one line on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except StationsError as exc:
            rows = exc.details.get("rows")
            if rows:
                _print_problems(rows)
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)
        except psycopg.errors.UndefinedTable as exc:
            click.echo(
                f"error: the schema is missing ({_first_line(exc)}); run: stations db migrate",
                err=True,
            )
            sys.exit(1)
        except (psycopg.Error, OSError) as exc:
            click.echo(f"error: {_first_line(exc)}", err=True)
            sys.exit(1)

    return wrapper


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _print_problems(rows: list[Any]) -> None:
    """The per-row report: row, field, value, reason — tab-separated, one per line."""
    click.echo("row\tfield\tvalue\treason", err=True)
    for p in rows:
        click.echo(f"{p['row']}\t{p['field']}\t{p['value']}\t{p['reason']}", err=True)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
def main(verbose: bool) -> None:
    """Rest stations for outdoor workers: registry, API and maps."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@main.group("db")
def db_group() -> None:
    """The database: the embedded cluster and the schema."""


def _embedded_only() -> Cluster:
    if not db.uses_embedded():
        raise StationsError("DATABASE_URL is set: the embedded cluster is not used")
    return Cluster.from_settings()


@db_group.command("up")
@_reported
def db_up() -> None:
    """Start the embedded PostGIS (initialising it on first use); a no-op when running."""
    cluster = _embedded_only()
    started = cluster.up()
    db.ensure_database(db.database_url())
    click.echo(f"{'started' if started else 'already running'}: {cluster.root}")


@db_group.command("down")
@_reported
def db_down() -> None:
    """Stop the embedded PostGIS; its data stays in var/pg."""
    cluster = _embedded_only()
    click.echo("stopped" if cluster.down() else "not running")


@db_group.command("status")
@_reported
def db_status() -> None:
    """Say whether the database is running and which schema revision it has."""
    if db.uses_embedded():
        cluster = Cluster.from_settings()
        state = cluster.status()
        click.echo(f"embedded cluster {cluster.root}: {state}")
        if state != "running":
            sys.exit(3)
    url = db.database_url()
    with db.connect(url):
        pass
    click.echo(f"schema revision: {db.current_revision(url) or 'none (run: stations db migrate)'}")


@db_group.command("migrate")
@_reported
def db_migrate() -> None:
    """Create or upgrade the schema to the newest migration."""
    db.migrate()
    click.echo(f"schema at revision {db.current_revision()}")


@main.command("demo")
@_reported
def demo() -> None:
    """Load the demo data set (districts, demand layer, stations); safe to repeat."""
    with db.connect() as conn:
        result = load_demo(conn, progress=sys.stderr.isatty())
    s = result.stations
    click.echo(
        f"demo loaded: {result.districts} districts, {result.demand_points} demand points, "
        f"stations: {s.inserted} new, {s.updated} updated, {s.unchanged} unchanged"
    )


@main.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate only; change nothing.")
@click.option("--actor", default="cli", show_default=True, help="Who the history records.")
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the per-row problem report to this JSON file.",
)
@_reported
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


@main.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(exporter.FORMATS), default="csv", show_default=True
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write ('-' for standard output).",
)
@_reported
def export(fmt: str, output: Path) -> None:
    """Export every station in a form that imports back unchanged."""
    with db.connect() as conn:
        if str(output) == "-":
            exporter.export(conn, fmt, sys.stdout)
            return
        count = exporter.export_file(conn, fmt, output)
    click.echo(f"exported {count} stations to {output}", err=True)


@main.command("gaps")
@click.option("--district", help="Admin code or name of a county, city or the province.")
@click.option("--bbox", help="min_lon,min_lat,max_lon,max_lat in degrees.")
@click.option(
    "--geometry",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="GeoJSON file: a Polygon or MultiPolygon, or a Feature holding one.",
)
@click.option(
    "--radius",
    "radius_m",
    type=float,
    default=1000,
    show_default=True,
    help="Service radius in metres.",
)
@click.option(
    "--at",
    "at_text",
    help="Only stations open at this ISO 8601 instant (no offset: Asia/Shanghai).",
)
@click.option("--amenities", default="", help="Comma list of amenity codes, all required.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="JSON file to write ('-' for standard output).",
)
@_reported
def gaps(
    district: str | None,
    bbox: str | None,
    geometry: Path | None,
    radius_m: float,
    at_text: str | None,
    amenities: str,
    output: Path,
) -> None:
    """Coverage gaps of an area: totals and the uncovered pieces as GeoJSON."""
    spec: dict[str, Any] = {"district": district}
    if bbox is not None:
        try:
            spec["bbox"] = [float(v) for v in bbox.split(",")]
        except ValueError:
            message = "bbox must be four numbers separated by commas"
            raise InvalidParameter("bbox", message) from None
    if geometry is not None:
        try:
            data = json.loads(geometry.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidParameter("geometry", f"{geometry} is not GeoJSON: {exc}") from None
        spec["geometry"] = data.get("geometry", data) if isinstance(data, dict) else data
    at = hours.parse_instant(at_text.strip(), "at") if at_text else None
    codes = vocabulary.check_amenities(amenities.split(",")) if amenities else []
    with db.connect() as conn:
        area = coverage.resolve_area(conn, spec)
        report = coverage.gaps(conn, area, radius_m=radius_m, at=at, amenities=codes)
    text = json.dumps(coverage.payload(report), ensure_ascii=False)
    if str(output) == "-":
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
    result = report.coverage
    click.echo(
        f"{area.label}: {result.coverage_ratio:.1%} of {result.area_m2 / 1e6:,.1f} km² and "
        f"{result.demand_coverage_ratio:.1%} of demand covered by {report.stations_counted} "
        f"stations; {len(result.gaps)} gaps",
        err=True,
    )


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    help="Worker processes (default: STATIONS_WORKERS).",
)
@_reported
def serve(host: str, port: int, workers: int | None) -> None:
    """Serve the API and map with gunicorn (a production WSGI server)."""
    workers = workers or settings.get_int("STATIONS_WORKERS")
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--access-logfile",
        "-",
        "--timeout",
        "60",
        "web.wsgi:app",
    ]
    click.echo(f"serving on http://{host}:{port}/ with {workers} worker(s)", err=True)

    os.execv(sys.executable, argv)
