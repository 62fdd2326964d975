"""The ``stations`` command: database, demo data, import/export, planning, tokens, serving.

Every command exits 0 on success and otherwise prints one line saying why on stderr
(non-zero status). Long work shows a progress bar on a terminal.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import shutil
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import psycopg

from stations import (
    access,
    backup,
    coverage,
    db,
    exporter,
    hours,
    importer,
    settings,
    siting,
    tokens,
    vocabulary,
)
from stations.bulk import gc_paused
from stations.cluster import Cluster
from stations.demo import load_demo
from stations.errors import InvalidParameter, StationsError
from stations.hours import calendar as holiday_calendar
from stations.subsidy import evaluate, programmes, report


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


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


@db_group.command("dump")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_reported
def db_dump(file: Path) -> None:
    """Back up the whole database to FILE (pg_dump custom format)."""
    backup.dump(file)
    click.echo(f"dumped to {file} ({file.stat().st_size:,} bytes)")


@db_group.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Confirm: the database's contents are replaced.")
@_reported
def db_restore(file: Path, yes: bool) -> None:
    """Replace the database's contents with a backup made by `stations db dump`."""
    if not yes:
        raise InvalidParameter("yes", "restore replaces every station and its history; add --yes")
    backup.restore(file)
    click.echo(f"restored from {file}")


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


def _area_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every planning command shares: the area, radius, amenities, output."""
    options = [
        click.option("--district", help="Admin code or name of a county, city or the province."),
        click.option("--bbox", help="min_lon,min_lat,max_lon,max_lat in degrees."),
        click.option(
            "--geometry",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="GeoJSON file: a Polygon or MultiPolygon, or a Feature holding one.",
        ),
        click.option(
            "--radius",
            "radius_m",
            type=float,
            default=1000,
            show_default=True,
            help="Service radius (for access: catchment) in metres.",
        ),
        click.option("--amenities", default="", help="Comma list of amenity codes, all required."),
        click.option(
            "--output",
            type=click.Path(dir_okay=False, path_type=Path),
            required=True,
            help="File to write ('-' for standard output).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


_AT_OPTION = click.option(
    "--at",
    "at_text",
    help="Only stations open at this ISO 8601 instant (no offset: Asia/Shanghai).",
)


def _area_spec(district: str | None, bbox: str | None, geometry: Path | None) -> dict[str, Any]:
    """The area as the API takes it, from the command-line options."""
    spec: dict[str, Any] = {"district": district}
    if bbox is not None:
        try:
            spec["bbox"] = [float(v) for v in bbox.split(",")]
        except ValueError:
            message = "bbox must be four numbers separated by commas"
            raise InvalidParameter("bbox", message) from None
    if geometry is not None:
        data = _read_json(geometry, "geometry")
        spec["geometry"] = data.get("geometry", data) if isinstance(data, dict) else data
    return spec


def _read_json(path: Path, param: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidParameter(param, f"{path} is not GeoJSON: {exc}") from None


def _planning_inputs(
    district: str | None,
    bbox: str | None,
    geometry: Path | None,
    amenities: str,
    at_text: str | None = None,
) -> tuple[dict[str, Any], list[str], dt.datetime | None]:
    """The area spec, amenity codes and instant the planning commands share, checked."""
    codes = vocabulary.check_amenities(amenities.split(",")) if amenities else []
    at = hours.parse_instant(at_text.strip(), "at") if at_text else None
    return _area_spec(district, bbox, geometry), codes, at


def _write(output: Path, text: str) -> None:
    if str(output) == "-":
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")


@main.command("gaps")
@_area_options
@_AT_OPTION
@_reported
def gaps(
    district: str | None,
    bbox: str | None,
    geometry: Path | None,
    radius_m: float,
    amenities: str,
    output: Path,
    at_text: str | None,
) -> None:
    """Coverage gaps of an area: totals and the uncovered pieces as GeoJSON."""
    spec, codes, at = _planning_inputs(district, bbox, geometry, amenities, at_text)
    with db.connect() as conn:
        area = coverage.resolve_area(conn, spec)
        report = coverage.gaps(conn, area, radius_m=radius_m, at=at, amenities=codes)
    _write(output, json.dumps(coverage.payload(report), ensure_ascii=False))
    result = report.coverage
    click.echo(
        f"{area.label}: {result.coverage_ratio:.1%} of {result.area_m2 / 1e6:,.1f} km² and "
        f"{result.demand_coverage_ratio:.1%} of demand covered by {report.stations_counted} "
        f"stations; {len(result.gaps)} gaps",
        err=True,
    )


@main.command("hourly")
@_area_options
@click.option("--date", "date_text", required=True, help="The day, YYYY-MM-DD (Beijing time).")
@_reported
def hourly(
    district: str | None,
    bbox: str | None,
    geometry: Path | None,
    radius_m: float,
    amenities: str,
    output: Path,
    date_text: str,
) -> None:
    """Coverage by area and by demand at each hour of a day, as JSON."""
    spec, codes, _ = _planning_inputs(district, bbox, geometry, amenities)
    day = hours.parse_date(date_text.strip(), "date")
    with db.connect() as conn:
        area = coverage.resolve_area(conn, spec)
        found = coverage.hourly(conn, area, day, radius_m=radius_m, amenities=codes)
    _write(output, json.dumps(coverage.hourly_payload(area, day, found), ensure_ascii=False))
    low = min(found, key=lambda h: (h.demand_coverage_ratio, h.hour))
    click.echo(
        f"{area.label} on {day}: demand covered {low.demand_coverage_ratio:.1%} at its lowest "
        f"({low.hour:02d}:00, {low.stations_open} stations open)",
        err=True,
    )


@main.command("suggest")
@_area_options
@_AT_OPTION
@click.option(
    "--count", type=click.IntRange(1, siting.MAX_COUNT), required=True, help="Sites wanted."
)
@click.option(
    "--candidates",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="GeoJSON FeatureCollection of candidate points (default: a grid over the area).",
)
@_reported
def suggest(
    district: str | None,
    bbox: str | None,
    geometry: Path | None,
    radius_m: float,
    amenities: str,
    output: Path,
    at_text: str | None,
    count: int,
    candidates: Path | None,
) -> None:
    """Sites for new stations, best first, as GeoJSON points with the demand they add."""
    spec, codes, at = _planning_inputs(district, bbox, geometry, amenities, at_text)
    sites = (
        siting.candidates_from_geojson(_read_json(candidates, "candidates")) if candidates else None
    )
    with db.connect() as conn:
        area = coverage.resolve_area(conn, spec)
        result = siting.suggest(
            conn,
            area,
            count=count,
            radius_m=radius_m,
            at=at,
            amenities=codes,
            candidates=sites,
        )
    body = siting.payload(result, count)
    _write(output, json.dumps(body, ensure_ascii=False))
    total = result.demand_total or 1.0
    click.echo(
        f"{area.label}: {len(result.gains)} sites from {result.candidates:,} candidates raise "
        f"demand covered from {result.demand_covered_before / total:.1%} to "
        f"{body['demand_covered_after'] / total:.1%}",
        err=True,
    )


@main.command("access")
@_area_options
@_AT_OPTION
@_reported
def access_(
    district: str | None,
    bbox: str | None,
    geometry: Path | None,
    radius_m: float,
    amenities: str,
    output: Path,
    at_text: str | None,
) -> None:
    """2SFCA score per county (stations per 1,000 workers): CSV table or GeoJSON by suffix."""
    spec, codes, at = _planning_inputs(district, bbox, geometry, amenities, at_text)
    with db.connect() as conn:
        area = coverage.resolve_area(conn, spec)
        found = access.by_district(conn, area, catchment_m=radius_m, at=at, amenities=codes)
    if output.suffix.lower() == ".csv":
        _write(output, access.table(found).rstrip("\n"))
    else:
        _write(output, json.dumps(access.payload(found, radius_m), ensure_ascii=False))
    click.echo(f"{area.label}: scores for {len(found)} districts", err=True)


@main.group("subsidy")
def subsidy_group() -> None:
    """Subsidy programmes (data/subsidy/*.toml): reports and what-if."""


@subsidy_group.command("programmes")
@_reported
def subsidy_programmes() -> None:
    """List the programmes: id, amount, accrual, period, file hash."""
    for loaded in programmes.load_all():
        p = loaded.programme
        click.echo(
            f"{p.id}\t{p.name}\t{p.amount_cny:g} CNY {p.accrual}\t"
            f"{p.period.start}..{p.period.end}\t{loaded.source}\t{loaded.sha256[:12]}"
        )


_PROGRAMME_OPTIONS = (
    click.option(
        "--programme", required=True, help="Programme id (see: stations subsidy programmes)."
    ),
    click.option("--period", required=True, help="YYYY, YYYY-MM or YYYY-MM..YYYY-MM."),
    click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        required=True,
        help="File to write ('-' for standard output).",
    ),
)


def _programme_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_PROGRAMME_OPTIONS):
        func = option(func)
    return func


def _write_bytes(output: Path, data: bytes) -> None:
    if str(output) == "-":
        sys.stdout.buffer.write(data)
    else:
        output.write_bytes(data)


@subsidy_group.command("report")
@_programme_options
@click.option("--format", "fmt", type=click.Choice(report.FORMATS), default="json",
              show_default=True)  # fmt: skip
@_reported
def subsidy_report(programme: str, period: str, output: Path, fmt: str) -> None:
    """Every station's verdict, amount and reasons, with totals by city and district."""
    loaded = programmes.load(programme)
    span = evaluate.parse_period(period)
    with db.connect(autocommit=True) as conn, gc_paused():
        with evaluate.one_snapshot(conn):
            result = evaluate.evaluate(conn, loaded, span)
        data = report.render(result, fmt)
    _write_bytes(output, data)
    body = report.header(result)["totals"]
    click.echo(
        f"{programme} {result.period.start}..{result.period.end}: {body['eligible']} of "
        f"{body['stations']} stations eligible, {body['amount_cny']:,.2f} yuan",
        err=True,
    )


def _override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise InvalidParameter("set", f"--set takes KEY=VALUE, got {text!r}")
    try:  # a TOML value: 10, 12.5, "text", ["a", "b"], 2021-01-01
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key.strip(), parsed


@subsidy_group.command("what-if")
@_programme_options
@click.option(
    "--set", "sets", multiple=True, help="KEY=VALUE, e.g. criteria.floor_area.threshold=10."
)
@click.option(
    "--with",
    "other",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A changed copy of the programme file to compare with.",
)
@_reported
def subsidy_what_if(
    programme: str, period: str, output: Path, sets: tuple[str, ...], other: Path | None
) -> None:
    """What changes if the rules change: newly (in)eligible stations and the budget."""
    loaded = programmes.load(programme)
    if bool(sets) == bool(other):
        raise InvalidParameter("set", "give --set KEY=VALUE (repeatable) or --with FILE")
    changed = (
        programmes.parse(other.read_bytes(), other.name)
        if other
        else programmes.with_overrides(loaded, dict(_override(s) for s in sets))
    )
    span = evaluate.parse_period(period)
    with db.connect(autocommit=True) as conn, evaluate.one_snapshot(conn):
        diff = report.what_if(
            evaluate.evaluate(conn, loaded, span), evaluate.evaluate(conn, changed, span)
        )
    _write(output, json.dumps(diff, ensure_ascii=False, indent=1))
    click.echo(
        f"{len(diff['newly_eligible'])} newly eligible, {len(diff['newly_ineligible'])} newly "
        f"ineligible; budget change {diff['budget_change_cny']:+,.2f} yuan",
        err=True,
    )


@main.group("holidays")
def holidays_group() -> None:
    """China's holiday arrangements (PH): which years follow a State Council notice."""


@holidays_group.command("status")
@click.option("--today", "today_text", help="Judge as of this date (YYYY-MM-DD); default today.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
@_reported
def holidays_status(today_text: str | None, as_json: bool) -> None:
    """List the years covered by a notice file; warn when next year's is missing."""
    today = hours.parse_date(today_text, "today") if today_text else dt.date.today()
    loaded = holiday_calendar.scan()
    coverage = holiday_calendar.coverage(today, loaded)
    if as_json:
        click.echo(json.dumps(coverage.as_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(f"holiday arrangements in {holiday_calendar.folder()}:")
        for year, item in sorted(loaded.arrangements.items()):
            workdays = sum(len(b.workdays) for b in item.breaks)
            issued = f"issued {item.issued}" if item.issued else "issue date not given"
            click.echo(
                f"  {year}  {item.number}  {issued}  {len(item.breaks)} breaks, "
                f"{workdays} make-up working days"
            )
        for warning in coverage.warnings:
            click.echo(f"warning: {warning}")
        for problem in coverage.problems:
            click.echo(f"error: {problem}")
    if coverage.problems:
        sys.exit(1)


@main.group("token")
def token_group() -> None:
    """API tokens for the planner, union and editor endpoints."""


@token_group.command("create")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(tokens.ROLES),
    help="A role the token holds; repeat for several.",
)
@click.option("--owner", required=True, help="Who holds it, e.g. 'Taiyuan union planning'.")
@_reported
def token_create(roles: tuple[str, ...], owner: str) -> None:
    """Create a token; it is printed once, alone on the last line, and never stored."""
    with db.connect() as conn:
        record, token = tokens.create(conn, roles, owner)
    click.echo(f"token {record.token_id} for {record.owner} ({', '.join(record.roles)}):")
    click.echo(token)


@token_group.command("list")
@_reported
def token_list() -> None:
    """Every token: id, owner, roles, created, revoked (never the token itself)."""
    with db.connect() as conn:
        found = tokens.list_tokens(conn)
    click.echo("id\towner\troles\tcreated\trevoked")
    for t in found:
        created = t.created_at.isoformat(timespec="seconds") if t.created_at else ""
        revoked = t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else ""
        click.echo(f"{t.token_id}\t{t.owner}\t{','.join(t.roles)}\t{created}\t{revoked}")


@token_group.command("revoke")
@click.argument("token_id", type=int)
@_reported
def token_revoke(token_id: int) -> None:
    """Revoke a token by id: its calls and sessions stop working at once."""
    with db.connect() as conn:
        tokens.revoke(conn, token_id)
    click.echo(f"revoked token {token_id}")


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
    """Serve the API and map with granian (a production HTTP server, WSGI workers)."""
    workers = workers or settings.get_int("STATIONS_WORKERS")
    settings.checked_public_url(settings.get("STATIONS_PUBLIC_URL"))  # fail here, not per worker
    # granian: HTTP and keep-alive in Rust, the app in each worker's Python threads; it
    # costs half of gunicorn gthread's CPU per request (bench/load.py), which is what
    # lets two cores answer 1,000 nearest searches a second
    argv = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(settings.get_int("STATIONS_THREADS")),
        "--no-ws",
        "--http1-header-read-timeout",  # ms: a client that never finishes its head goes
        "30000",
        "--respawn-failed-workers",
        "--workers-kill-timeout",
        "30",
        "web.wsgi:app",
    ]
    click.echo(f"serving on http://{host}:{port}/ with {workers} worker(s)", err=True)

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # the workers share their metrics
        # a folder of this server's own (it execs granian under the same pid), so another
        # server on the same var folder keeps its counts; folders of gone servers go
        parent = Path(settings.path("STATIONS_VAR_DIR")) / "metrics"
        parent.mkdir(parents=True, exist_ok=True)
        for old in parent.iterdir():
            if not old.name.isdigit() or not _process_alive(int(old.name)):
                shutil.rmtree(old, ignore_errors=True)
        shared = parent / str(os.getpid())
        shutil.rmtree(shared, ignore_errors=True)  # counts start again with the server
        shared.mkdir()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    os.execv(sys.executable, argv)
