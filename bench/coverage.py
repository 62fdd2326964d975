"""Planner analyses on the demo data, each against an independent second method.

In one run, on a scratch database holding the demo set (1,713 stations, 5,472 demand
points, Shanxi's real district boundaries):

- gaps at 1 km for Taiyuan's six urban districts (about 1,415 km²) and for all of Shanxi
  (about 156,700 km²): the vector method (circle union and overlay on an equal-area
  plane) against a raster of cell centres tested by distance arithmetic;
- the 24-hour profile for Taiyuan's six urban districts against 24 rasters;
- gaps and demand zones for Taiyuan at 22:00 (what the planner's night view asks for)
  against zoning by brute force on a dense distance matrix;
- the fewest new sites for 100 % of Taiyuan's urban demand at 1 km, exact (HiGHS) against
  greedy with its bound, and for 95 % over Shanxi, greedy against the exact program;
- 200 siting suggestions over Shanxi: lazy greedy against the exact optimum of the same
  maximal-covering problem (HiGHS integer program), also reporting greedy's share of it.

Times are the median of ``--repeat`` runs (the exact optimum runs once). Each row prints
the second method's time in the same run and the ratio, and the agreement.

    .venv/bin/python bench/coverage.py [--repeat 3] [--exact-limit 900] [--no-exact]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geo import siting as geo_siting  # noqa: E402
from geo.coverage import raster_coverage  # noqa: E402
from stations import coverage, db, hours, siting, tokens, zones  # noqa: E402
from stations.cluster import Cluster  # noqa: E402
from stations.demo import demo_database  # noqa: E402
from web.app import create_app  # noqa: E402
from web.pools import close_pool  # noqa: E402

BENCH_DB = "stations_bench_coverage"
TAIYUAN_URBAN = ("140105", "140106", "140107", "140108", "140109", "140110")
DAY = dt.date(2025, 11, 19)  # a Wednesday


def timed(func: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median seconds over ``repeat`` calls, and the last result."""
    seconds, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def scratch_database() -> str:
    if db.uses_embedded():
        Cluster.from_settings().up()
    return demo_database(BENCH_DB)


def row(name: str, goal: str, ours: float, second: str, theirs: float, agreement: str) -> None:
    print(
        f"{name:<34} {ours:>8.3f} s  goal {goal:<7} {second:<26} {theirs:>8.3f} s  "
        f"ratio {ours / theirs:>6.3f}  {agreement}"
    )


def gaps_over_http(client, token: str, body: dict, repeat: int) -> tuple[float, Any]:
    """The gaps route in process, JSON and all: median seconds and the last answer."""
    headers = {"Authorization": f"Bearer {token}"}
    seconds, response = timed(
        lambda: client.post("/api/v1/coverage/gaps", json=body, headers=headers), repeat
    )
    assert response.status_code == 200, response.json
    return seconds, response


def bench_gaps(conn, spec: dict, name: str, goal: str, cell_m: float, repeat: int, client, token):
    area = coverage.resolve_area(conn, spec)
    seconds, report = timed(lambda: coverage.gaps(conn, area, radius_m=1000), repeat)
    plane_area = report.plane.forward(area.geometry)
    grid_s, (grid_area, grid_covered) = timed(
        lambda: raster_coverage(plane_area, report.stations_xy, 1000, cell_m), repeat
    )
    gap = report.coverage.gap_m2
    grid_gap = grid_area - grid_covered
    row(
        name,
        goal,
        seconds,
        f"raster {cell_m:g} m cells",
        grid_s,
        f"gap {gap / 1e6:,.1f} vs {grid_gap / 1e6:,.1f} km² ({(gap - grid_gap) / grid_gap:+.2%})",
    )
    http_s, response = gaps_over_http(client, token, spec, repeat)
    print(
        f"{'  the same over HTTP (in-process)':<34} {http_s:>8.3f} s  "
        f"{len(response.data) / 1e6:.1f} MB JSON, {len(report.coverage.gaps):,} gap pieces, "
        f"area {report.coverage.area_m2 / 1e6:,.1f} km², {report.stations_counted} stations"
    )


def bench_hourly(conn, spec: dict, repeat: int) -> None:
    area = coverage.resolve_area(conn, spec)
    seconds, profile = timed(lambda: coverage.hourly(conn, area, DAY), repeat)

    def rasters() -> list[float]:
        layer = coverage.load(conn, area, reach_m=1000)
        by_hour = layer.open_by_hour(DAY)
        out = []
        for hour in range(24):
            total, covered = raster_coverage(
                layer.area_plane, layer.stations_xy[by_hour[:, hour]], 1000, 50
            )
            out.append(covered / total)
        return out

    grid_s, grid = timed(rasters, repeat)
    worst = max(abs(h.coverage_ratio - g) for h, g in zip(profile, grid, strict=True))
    low = min(profile, key=lambda h: h.coverage_ratio)
    high = max(profile, key=lambda h: h.coverage_ratio)
    row(
        "24-hour profile, Taiyuan urban",
        "< 2 s",
        seconds,
        "24 rasters, 50 m cells",
        grid_s,
        f"max ratio difference {worst:.4f}; coverage {low.coverage_ratio:.1%} at "
        f"{low.hour:02d}:00 to {high.coverage_ratio:.1%} at {high.hour:02d}:00",
    )


def bench_suggest(conn, repeat: int, exact_limit: float, run_exact: bool) -> None:
    area = coverage.resolve_area(conn, {"district": "140000"})
    seconds, result = timed(lambda: siting.suggest(conn, area, count=200), repeat)
    greedy_total = sum(result.gains)
    layer = result.layer
    covered = geo_siting.covered_by(layer.stations_xy, layer.demand_xy, 1000)
    cells = geo_siting.candidate_grid(layer.area_plane, layer.demand_xy, covered, 1000, 250)
    assert len(cells) == result.candidates
    if not run_exact:
        print(f"{'200 suggestions, Shanxi':<34} {seconds:>8.3f} s  goal < 30 s  (exact skipped)")
        return
    cover = geo_siting.within(cells, layer.demand_xy, 1000)
    start = time.perf_counter()
    best = geo_siting.exact(cover, layer.weights, covered, 200, time_limit_s=exact_limit)
    exact_s = time.perf_counter() - start
    proven = "optimum" if best.proven else f"best found in {exact_limit:g} s"
    row(
        "200 suggestions, Shanxi",
        "< 30 s",
        seconds,
        "exact MCLP (HiGHS MILP)",
        exact_s,
        f"greedy covers {greedy_total:,.0f} = {greedy_total / best.covered:.2%} of the "
        f"{proven} {best.covered:,.0f} ({result.candidates:,} candidates)",
    )


def zones_by_brute_force(xy: np.ndarray, weights: np.ndarray, radius_m: float) -> list[float]:
    """Zone demands by the definition, on a dense distance matrix: the check for zones."""
    reach = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) <= radius_m
    left = weights.astype(float).copy()
    out = []
    while left.any():
        held = reach @ left
        best = int(np.argmax(held))
        out.append(float(held[best]))
        left[reach[best]] = 0.0
    return out


def bench_zones(conn, repeat: int, client, token) -> None:
    area = coverage.resolve_area(conn, {"district": "140100"})
    at = dt.datetime.combine(DAY, dt.time(22), hours.SHANGHAI)
    report = coverage.gaps(conn, area, radius_m=1000, at=at)
    part_of, layer = report.coverage.uncovered_in, report.layer
    seconds, found = timed(lambda: zones.find(report), repeat)

    def brute() -> list[float]:
        out: list[float] = []
        for part in np.unique(part_of[part_of >= 0]):
            index = part_of == part
            out += zones_by_brute_force(layer.demand_xy[index], layer.weights[index], 1000)
        return sorted(out, reverse=True)

    brute_s, theirs = timed(brute, repeat)
    ours = [z.demand for z in found]
    same = "identical" if ours == theirs else "differing"
    uncovered = report.coverage.demand_total - report.coverage.demand_covered
    row(
        "zones 22:00, Taiyuan",
        "",
        seconds,
        "zoning by brute force",
        brute_s,
        f"{len(ours)} zones vs {len(theirs)}, {same} demands; sum {sum(ours):,.0f} vs "
        f"{sum(theirs):,.0f} (uncovered {uncovered:,.0f}); largest "
        f"{max(z.outline.area for z in found) / 1e6:.2f} km² (ours draws outlines too)",
    )
    body = {"district": "140100", "at": at.strftime("%Y-%m-%dT%H:%M")}
    http_s, response = gaps_over_http(client, token, body, repeat)
    print(
        f"{'  gaps + zones over HTTP':<34} {http_s:>8.3f} s  goal <= 1 s  "
        f"{len(response.data) / 1e6:.1f} MB JSON, "
        f"{len(response.json['gaps']['features'])} gap pieces cut by county"
    )


def bench_fewest(conn, urban_spec: dict, exact_limit: float) -> None:
    urban = coverage.resolve_area(conn, urban_spec)
    exact_s, exact = timed(
        lambda: siting.fewest(conn, urban, target=1.0, method="exact", time_limit_s=60), 1
    )
    greedy_s, greedy = timed(lambda: siting.fewest(conn, urban, target=1.0, method="greedy"), 1)
    row(
        "fewest for 100 %, Taiyuan urban",
        "<= 60 s",
        exact_s,
        "greedy with bound",
        greedy_s,
        f"exact {len(exact.answer.sites)} sites ({_sure(exact.answer)}); greedy "
        f"{len(greedy.answer.sites)} (bound {greedy.answer.lower_bound}); "
        f"{exact.candidates:,} candidates",
    )
    shanxi = coverage.resolve_area(conn, {"district": "140000"})
    greedy_s, greedy = timed(lambda: siting.fewest(conn, shanxi, target=0.95, method="greedy"), 1)
    exact_s, exact = timed(
        lambda: siting.fewest(conn, shanxi, target=0.95, method="exact", time_limit_s=exact_limit),
        1,
    )
    gap = len(greedy.answer.sites) - greedy.answer.lower_bound
    row(
        "fewest for 95 %, Shanxi (greedy)",
        "<= 30 s",
        greedy_s,
        "exact (HiGHS MILP)",
        exact_s,
        f"greedy {len(greedy.answer.sites)} sites, bound {greedy.answer.lower_bound} (gap "
        f"{gap}, {gap / max(1, greedy.answer.lower_bound):.1%}); exact "
        f"{len(exact.answer.sites)} ({_sure(exact.answer)}); {greedy.candidates:,} candidates",
    )


def _sure(answer) -> str:
    return "proven optimum" if answer.proven else f"bound {answer.lower_bound}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--exact-limit", type=float, default=900, help="HiGHS time limit, s")
    parser.add_argument("--no-exact", action="store_true", help="skip the exact optimum")
    args = parser.parse_args()
    url = scratch_database()
    app = create_app({"DATABASE_URL": url})
    try:
        with db.connect(url, autocommit=True) as conn:
            _, token = tokens.create(conn, ["planner"], "bench")
            urban = shapely.union_all(
                [coverage.resolve_area(conn, {"district": c}).geometry for c in TAIYUAN_URBAN]
            )
            urban_spec = {"geometry": mapping(urban)}
            print(f"demo data on {BENCH_DB}; times are medians of {args.repeat} runs\n")
            client = app.test_client()
            bench_gaps(
                conn,
                urban_spec,
                "gaps 1 km, Taiyuan urban",
                "< 0.25 s",
                50,
                args.repeat,
                client,
                token,
            )
            bench_gaps(
                conn,
                {"district": "140000"},
                "gaps 1 km, Shanxi",
                "< 5 s",
                200,
                args.repeat,
                client,
                token,
            )
            bench_hourly(conn, urban_spec, args.repeat)
            bench_zones(conn, args.repeat, client, token)
            bench_fewest(conn, urban_spec, args.exact_limit)
            bench_suggest(conn, args.repeat, args.exact_limit, not args.no_exact)
    finally:
        close_pool(app)
        db.drop_database(url)


if __name__ == "__main__":
    main()
