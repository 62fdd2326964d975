"""Planning to a file: ``stations gaps``, ``hourly``, ``suggest``, ``fewest``, ``access``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cli.errors import reported
from cli.output import write, write_bytes
from stations import access, coverage, db, hours, planning_export, siting, vocabulary, zones
from stations.errors import InvalidParameter


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


def _candidates_option(default: str) -> Callable[..., Any]:
    """``--candidates FILE``: the planner's own candidate points instead of ``default``."""
    return click.option(
        "--candidates",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=f"GeoJSON FeatureCollection of candidate points (default: {default}).",
    )


def _candidates(path: Path | None) -> list[tuple[float, float]] | None:
    """The planner's own candidate points from a GeoJSON file, if one is given."""
    return siting.candidates_from_geojson(_read_json(path, "candidates")) if path else None


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


@click.command("gaps")
@_area_options
@_AT_OPTION
@reported
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
    found = zones.report_payload(report)
    write(output, json.dumps(found, ensure_ascii=False))
    result = report.coverage
    click.echo(
        f"{area.label}: {result.coverage_ratio:.1%} of {result.area_m2 / 1e6:,.1f} km² and "
        f"{result.demand_coverage_ratio:.1%} of demand covered by {report.stations_counted} "
        f"stations; {len(result.gaps)} gap pieces, {len(found['zones']['features'])} demand "
        "zones",
        err=True,
    )


@click.command("hourly")
@_area_options
@click.option("--date", "date_text", required=True, help="The day, YYYY-MM-DD (Beijing time).")
@reported
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
    write(output, json.dumps(coverage.hourly_payload(area, day, found), ensure_ascii=False))
    low = min(found, key=lambda h: (h.demand_coverage_ratio, h.hour))
    click.echo(
        f"{area.label} on {day}: demand covered {low.demand_coverage_ratio:.1%} at its lowest "
        f"({low.hour:02d}:00, {low.stations_open} stations open)",
        err=True,
    )


@click.command("suggest")
@_area_options
@_AT_OPTION
@click.option(
    "--count", type=click.IntRange(1, siting.MAX_COUNT), required=True, help="Sites wanted."
)
@_candidates_option("a grid over the area")
@reported
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
    sites = _candidates(candidates)
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
    write(output, json.dumps(body, ensure_ascii=False))
    total = result.demand_total or 1.0
    click.echo(
        f"{area.label}: {len(result.gains)} sites from {result.candidates:,} candidates raise "
        f"demand covered from {result.demand_covered_before / total:.1%} to "
        f"{body['demand_covered_after'] / total:.1%}",
        err=True,
    )


@click.command("fewest")
@_area_options
@_AT_OPTION
@click.option(
    "--target",
    type=click.FloatRange(siting.MIN_TARGET, 1),
    default=1.0,
    show_default=True,
    help="Share of the demand to bring within the radius (0.95 for 95 %).",
)
@click.option(
    "--method",
    type=click.Choice(siting.METHODS),
    default="auto",
    show_default=True,
    help="exact: HiGHS integer program; greedy: with a lower bound; auto: exact when small.",
)
@click.option(
    "--time-limit",
    "time_limit_s",
    type=click.FloatRange(1, 3600),
    default=siting.EXACT_TIME_LIMIT_S,
    show_default=True,
    help="Seconds the exact solver may take before it answers its best with its bound.",
)
@_candidates_option("a grid and the unserved workers' own points")
@reported
def fewest(
    district: str | None,
    bbox: str | None,
    geometry: Path | None,
    radius_m: float,
    amenities: str,
    output: Path,
    at_text: str | None,
    target: float,
    method: str,
    time_limit_s: float,
    candidates: Path | None,
) -> None:
    """The fewest new sites bringing a share of demand within reach (set covering)."""
    spec, codes, at = _planning_inputs(district, bbox, geometry, amenities, at_text)
    sites = _candidates(candidates)
    with db.connect() as conn:
        area = coverage.resolve_area(conn, spec)
        result = siting.fewest(
            conn,
            area,
            target=target,
            radius_m=radius_m,
            at=at,
            amenities=codes,
            candidates=sites,
            method=method,
            time_limit_s=time_limit_s,
        )
    body = siting.fewest_payload(result)
    write(output, json.dumps(body, ensure_ascii=False))
    sure = (
        "the proven optimum"
        if body["proven_optimal"]
        else f"at least {body['lower_bound']} are needed"
    )
    click.echo(
        f"{area.label}: {body['sites_count']} new sites ({body['method']}, {sure}) raise demand "
        f"within {radius_m:g} m from {body['demand_coverage_ratio_before']:.1%} to "
        f"{body['demand_coverage_ratio_after']:.1%} (target {target:.0%}); "
        f"solved in {body['solver_seconds']:.2f} s",
        err=True,
    )


@click.command("access")
@_area_options
@_AT_OPTION
@click.option(
    "--decay",
    type=click.Choice(access.DECAYS),
    default="none",
    show_default=True,
    help="gaussian: the enhanced 2SFCA (nearer pairs weigh more, 0 at the edge).",
)
@reported
def access_(
    district: str | None,
    bbox: str | None,
    geometry: Path | None,
    radius_m: float,
    amenities: str,
    output: Path,
    at_text: str | None,
    decay: str,
) -> None:
    """2SFCA score per county (stations per 1,000 workers): CSV table or GeoJSON by suffix."""
    spec, codes, at = _planning_inputs(district, bbox, geometry, amenities, at_text)
    with db.connect() as conn:
        area = coverage.resolve_area(conn, spec)
        found = access.by_district(
            conn, area, catchment_m=radius_m, at=at, amenities=codes, decay=decay
        )
    body = access.payload(found, radius_m, decay=decay)
    if output.suffix.lower() == ".csv":
        write_bytes(output, planning_export.csv_text(body, "access").encode("utf-8"))
    else:
        write(output, json.dumps(body, ensure_ascii=False))
    click.echo(f"{area.label}: scores for {len(found)} districts", err=True)
