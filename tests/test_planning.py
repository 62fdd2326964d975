"""Hourly coverage, siting suggestions and access scores on the demo registry."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import shapely

from geo import siting as geo_siting
from geo.access import two_step_fca
from geo.coverage import coverage as polygon_coverage
from geo.coverage import raster_coverage
from stations import access, coverage, hours, planning_export, siting
from stations.errors import InvalidParameter

SH = hours.SHANGHAI
WEDNESDAY = dt.date(2025, 11, 19)


def test_each_hour_agrees_with_gaps_at_that_hour(conn):
    area = coverage.resolve_area(conn, {"district": "140106"})
    profile = coverage.hourly(conn, area, WEDNESDAY, radius_m=1000)
    assert [h.hour for h in profile] == list(range(24))
    for h in (profile[3], profile[12], profile[22]):
        at = dt.datetime.combine(WEDNESDAY, dt.time(h.hour), SH)
        report = coverage.gaps(conn, area, radius_m=1000, at=at)
        assert h.stations_open == report.stations_counted
        assert h.coverage_ratio == pytest.approx(report.coverage.coverage_ratio, abs=1e-9)
        assert h.demand_coverage_ratio == pytest.approx(report.coverage.demand_coverage_ratio)
    assert profile[3].stations_open < profile[12].stations_open
    assert profile[3].coverage_ratio < profile[12].coverage_ratio


def test_hourly_ratio_agrees_with_the_grid(conn):
    area = coverage.resolve_area(conn, {"district": "140105"})
    layer = coverage.load(conn, area, reach_m=1000)
    profile = coverage.hourly(conn, area, WEDNESDAY)
    for hour in (2, 14):
        open_now = layer.open_at(dt.datetime.combine(WEDNESDAY, dt.time(hour), SH))
        total, covered = raster_coverage(layer.area_plane, layer.stations_xy[open_now], 1000, 50)
        assert profile[hour].coverage_ratio == pytest.approx(covered / total, abs=0.01)


@pytest.mark.parametrize("district", ["140106", "140110"])
def test_suggestions_are_near_the_optimum_and_add_up(conn, district):
    area = coverage.resolve_area(conn, {"district": district})
    result = siting.suggest(conn, area, count=5, radius_m=1000)
    body = siting.payload(result, 5)
    sites = body["sites"]["features"]
    assert [f["properties"]["rank"] for f in sites] == list(range(1, len(sites) + 1))
    gains = [f["properties"]["demand_newly_covered"] for f in sites]
    cumulative = [f["properties"]["cumulative_demand_covered"] for f in sites]
    assert gains == sorted(gains, reverse=True) and cumulative == sorted(cumulative)
    assert cumulative[-1] == pytest.approx(body["demand_covered_after"])
    # the exact optimum over the same candidates
    layer = result.layer
    covered = geo_siting.covered_by(layer.stations_xy, layer.demand_xy, 1000)
    cells = geo_siting.candidate_grid(layer.area_plane, layer.demand_xy, covered, 1000, 250)
    best = geo_siting.exact(
        geo_siting.within(cells, layer.demand_xy, 1000), layer.weights, covered, 5
    )
    assert best.proven and sum(result.gains) >= 0.95 * best.covered
    # a second method: the polygon coverage with the new sites added covers what was promised
    both = np.vstack([layer.stations_xy, result.sites_xy])
    after = polygon_coverage(layer.area_plane, both, 1000, layer.demand_xy, layer.weights)
    assert after.demand_covered == pytest.approx(body["demand_covered_after"], rel=0.01)


def test_more_sites_never_cover_less(conn):
    area = coverage.resolve_area(conn, {"district": "140109"})
    totals = [
        siting.payload(siting.suggest(conn, area, count=n), n)["demand_covered_after"]
        for n in (1, 2, 5, 10, 20)
    ]
    assert totals == sorted(totals) and totals[0] < totals[-1]


def test_given_candidates_are_the_only_choices(conn):
    area = coverage.resolve_area(conn, {"district": "140106"})
    lon, lat = conn.execute(
        """SELECT ST_X(d.geom), ST_Y(d.geom) FROM demand_points d
           WHERE d.district_code = '140106' AND NOT EXISTS (
               SELECT 1 FROM stations s WHERE s.status = 'active'
                 AND ST_DWithin(s.geom::geography, d.geom::geography, 1100))
           ORDER BY d.weight DESC, d.id LIMIT 1"""
    ).fetchone()
    given = [(lon, lat), (lon + 0.5, lat + 0.5)]  # the second is far outside: covers nothing new
    result = siting.suggest(conn, area, count=2, candidates=given, at=None)
    body = siting.payload(result, 2)
    assert result.candidates == 2
    coordinates = [f["geometry"]["coordinates"] for f in body["sites"]["features"]]
    assert coordinates == [[round(lon, 6), round(lat, 6)]]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"type": "Point"}, "FeatureCollection"),
        ({"type": "FeatureCollection", "features": []}, "1 to"),
        (
            {
                "type": "FeatureCollection",
                "features": [{"geometry": {"type": "Point", "coordinates": [1]}}],
            },
            "feature 0",
        ),
    ],
)
def test_bad_candidates_name_the_feature(value, message):
    with pytest.raises(InvalidParameter, match=message):
        siting.candidates_from_geojson(value)


def test_access_scores_match_the_method_and_rank_the_cities_districts(conn):
    area = coverage.resolve_area(conn, {"district": "140100"})
    found = access.by_district(conn, area, catchment_m=1000)
    assert len(found) == 10 and {d.code[:4] for d in found} == {"1401"}
    urban = {d.code: d for d in found}
    assert urban["140106"].score > urban["140181"].score  # 迎泽区 over rural 古交市
    # recompute one district by the method itself over everything the database holds
    layer = coverage.load(conn, area, reach_m=1000, demand_reach_m=2000)
    everything = coverage.resolve_area(conn, {"district": "140000"})
    wide = coverage.load(conn, everything, reach_m=1000)
    ratio, acc = two_step_fca(
        layer.plane.points(*wide.plane.lon_lat(wide.stations_xy).T),
        layer.plane.points(*wide.plane.lon_lat(wide.demand_xy).T),
        wide.weights,
        1000,
    )
    codes = [
        r[0] for r in conn.execute("SELECT district_code FROM demand_points ORDER BY id").fetchall()
    ]
    mask = np.array([c == "140106" for c in codes])
    expected = (wide.weights[mask] * acc[mask]).sum() / wide.weights[mask].sum() * 1000
    assert urban["140106"].score == pytest.approx(expected, rel=1e-6)
    assert urban["140106"].demand == pytest.approx(wide.weights[mask].sum())
    assert ratio.max() > 0


def _access_csv(rows) -> list[str]:
    return planning_export.csv_text(access.payload(rows, 1000), "access").splitlines()


def test_access_table_puts_the_worst_served_first(conn):
    area = coverage.resolve_area(conn, {"district": "140100"})
    lines = _access_csv(access.by_district(conn, area))
    assert lines[0] == "\ufeff县区代码,县区,2SFCA（站/千人）,需求（人）,有可达驿站的需求占比,驿站数"
    scores = [float(line.split(",")[2]) for line in lines[1:]]
    assert scores == sorted(scores) and len(scores) == 10


def test_districts_without_demand_have_no_score_and_come_last():
    square = shapely.box(112, 37, 112.1, 37.1)
    rows = [
        access.DistrictAccess("140001", "甲", square, None, 0.0, 0.0, 2),
        access.DistrictAccess("140002", "乙", square, 1.5, 100.0, 80.0, 3),
        access.DistrictAccess("140003", "丙", square, 0.0, 50.0, 0.0, 0),
    ]
    lines = _access_csv(rows)
    assert [line.split(",")[0] for line in lines[1:]] == ["140003", "140002", "140001"]
    assert lines[3].split(",")[2] == ""
