"""Saved plans and their comparison, over the served app, against independent references.

References: hourly demand coverage by geodesic distance (pyproj ``Geod``) from every
worker to the stations open that hour and the plan's sites, brute force; the Gini
coefficient by the textbook mean-absolute-difference formula over replicated values;
county membership by PostGIS.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import psycopg
import pytest
from live_server import HttpClient, serving
from pyproj import Geod

from stations import coverage, db, hours, plan_comparison

GEOD = Geod(ellps="WGS84")
DAY = "2025-11-19"
NIGHT = dt.datetime(2025, 11, 19, 22, tzinfo=hours.SHANGHAI)


@pytest.fixture(scope="module")
def http(database_url):
    env = {"DATABASE_URL": database_url, "STATIONS_RATE_LIMIT_PLANNER": "off"}
    with serving(env) as (base, _log):
        yield HttpClient(base)


def _headers(tokens_by_role, who="planner"):
    return {"Authorization": f"Bearer {tokens_by_role[who]}"}


def _sites(coords):
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(c)}}
            for c in coords
        ],
    }


def _fewest_sites(http, headers, target, at=None):
    body = {"district": "140106", "target": target, **({"at": at} if at else {})}
    answer = http.post("/api/v1/coverage/fewest", json=body, headers=headers)
    assert answer.status_code == 200
    return [f["geometry"]["coordinates"] for f in answer.get_json()["sites"]["features"]]


@pytest.fixture(scope="module")
def saved(http, tokens_by_role):
    """Two plans for 迎泽区: the fewest for 95 % all day, and for 90 % at 22:00."""
    headers = _headers(tokens_by_role)
    day = _fewest_sites(http, headers, 0.95)
    night = _fewest_sites(http, headers, 0.9, at="2025-11-19T22:00")
    out = {}
    for name, sites in (("白天 95%", day), ("夜间 90%", night)):
        body = {"name": name, "district": "140106", "source": "fewest", "sites": _sites(sites)}
        answer = http.post("/api/v1/plans", json=body, headers=headers)
        assert answer.status_code == 201, answer.get_json()
        assert answer.headers["Location"].endswith(f"/api/v1/plans/{answer.get_json()['id']}")
        out[name] = answer.get_json()
    return out


def test_a_plan_saved_again_is_its_next_version_and_nothing_is_lost(http, tokens_by_role, saved):
    headers = _headers(tokens_by_role)
    first = saved["白天 95%"]
    fewer = first["sites"]["features"][:2]
    body = {"name": "白天 95%", "district": "140106", "source": "map",
            "sites": {"type": "FeatureCollection", "features": fewer}}  # fmt: skip
    again = http.post("/api/v1/plans", json=body, headers=headers)
    assert again.status_code == 201
    assert again.get_json()["version"] == 2 and again.get_json()["versions"] == 2
    listed = http.get("/api/v1/plans", headers=headers).get_json()["plans"]
    mine = [p for p in listed if p["name"] == "白天 95%"]
    assert len(mine) == 1 and mine[0]["version"] == 2 and mine[0]["sites_count"] == 2
    old = http.get(f"/api/v1/plans/{first['id']}", headers=headers)
    assert old.status_code == 200 and old.get_json() == {**first, "versions": 2}


def test_plans_are_append_only_in_the_database(database_url, saved):
    with db.connect(database_url) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute("UPDATE plans SET name = 'x'")


def test_another_planner_cannot_read_my_plans(http, tokens_by_role, saved):
    plan_id = saved["夜间 90%"]["id"]
    other = http.get(f"/api/v1/plans/{plan_id}", headers=_headers(tokens_by_role, "all"))
    assert other.status_code == 404 and other.mimetype == "application/problem+json"
    listed = http.get("/api/v1/plans", headers=_headers(tokens_by_role, "all"))
    assert listed.status_code == 200
    assert plan_id not in [p["id"] for p in listed.get_json()["plans"]]
    union = http.get("/api/v1/plans", headers=_headers(tokens_by_role, "union"))
    assert union.status_code == 403


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": "", "district": "140106", "sites": _sites([[112.56, 37.86]])}, "name"),
        ({"name": "a\u0000b", "district": "140106", "sites": _sites([[112.56, 37.86]])}, "name"),
        ({"name": "x", "district": "140106", "sites": _sites([])}, "sites"),
        ({"name": "x", "district": "140106", "sites": _sites([[120.0, 30.0]])}, "sites"),
        ({"name": "x", "district": "无此区", "sites": _sites([[112.56, 37.86]])}, "district"),
        ({"name": "x", "district": "140106", "sites": [1, 2]}, "sites"),
        # a 400-digit number is valid JSON; math.isfinite of it raised OverflowError (500)
        ({"name": "x", "district": "140106", "sites": _sites([[10**400, 37.86]])}, "sites"),
    ],
)
def test_bad_plans_are_refused_in_words(http, tokens_by_role, body, param):
    answer = http.post("/api/v1/plans", json=body, headers=_headers(tokens_by_role))
    assert answer.status_code == 400 and answer.mimetype == "application/problem+json"
    assert answer.get_json().get("param") == param


def _geodesic_coverage(layer, open_lonlat, sites):
    """Share of demand within 1,000 m of some open station or site, on the ellipsoid."""
    points = layer.plane.lon_lat(layer.demand_xy)
    targets = np.concatenate([np.asarray(open_lonlat).reshape(-1, 2), np.asarray(sites)])
    n, m = len(points), len(targets)
    _, _, d = GEOD.inv(
        np.repeat(points[:, 0], m), np.repeat(points[:, 1], m),
        np.tile(targets[:, 0], n), np.tile(targets[:, 1], n),
    )  # fmt: skip
    reached = np.asarray(d).reshape(n, m).min(axis=1) <= 1000
    return float(layer.weights[reached].sum() / layer.weights.sum())


def test_two_plans_compare_with_no_new_station(http, tokens_by_role, saved, conn):
    headers = _headers(tokens_by_role)
    ids = [saved["白天 95%"]["id"], saved["夜间 90%"]["id"]]
    answer = http.post("/api/v1/plans/compare", json={"plans": ids, "date": DAY}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    result = answer.get_json()
    base, day, night = result["plans"]
    assert base["name"].startswith("不新建") and base["sites_count"] == 0 == base["cost_cny"]
    assert (
        day["cost_cny"]
        == day["sites_count"] * result["programme"]["amount_cny"]
        == (day["sites_count"] * 20000)
    )
    for plan in (day, night):
        assert len(plan["hourly_demand_coverage"]) == 24
        assert all(
            p >= b - 1e-9
            for p, b in zip(
                plan["hourly_demand_coverage"], base["hourly_demand_coverage"], strict=True
            )
        )
    # the night plan was made for 22:00 and serves it better than the day plan
    assert night["hourly_demand_coverage"][22] > day["hourly_demand_coverage"][22]
    assert night["hourly_demand_coverage"][22] >= 0.9 - 1e-4
    # each hour against distances on the ellipsoid
    area = coverage.resolve_area(conn, {"district": "140106"})
    layer = coverage.load(conn, area, reach_m=1000)
    lonlat = np.array(layer.stations_lonlat)
    for hour in (3, 12, 22):
        at = dt.datetime(2025, 11, 19, hour, tzinfo=hours.SHANGHAI)
        open_now = lonlat[layer.open_at(at)]
        sites = [s["coordinates"] for s in night["sites"]]
        reference = _geodesic_coverage(layer, open_now, sites)
        assert night["hourly_demand_coverage"][hour] == pytest.approx(reference, abs=0.003)
    # the sites newly cover, together, what the plan adds all day
    gained = sum(s["demand_newly_covered"] for s in day["sites"])
    added = (day["demand_coverage_ratio"] - base["demand_coverage_ratio"]) * sum(layer.weights)
    assert gained == pytest.approx(added, abs=1)
    for site in night["sites"]:
        (code,) = conn.execute(
            "SELECT code FROM districts WHERE level = 'county' AND "
            "ST_Covers(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
            site["coordinates"],
        ).fetchone()
        assert site["county_code"] == code == "140106" and site["county_name"] == "迎泽区"
        assert site["nearest_station"]["name"] and site["nearest_station"]["distance_m"] >= 0
    # at the baseline's worst hour the night plan's sites add what its coverage adds then
    worst = result["worst_hour"]
    at_worst = sum(s["demand_newly_covered_at_worst_hour"] for s in night["sites"])
    added = night["hourly_demand_coverage"][worst] - base["hourly_demand_coverage"][worst]
    assert at_worst == pytest.approx(added * sum(layer.weights), abs=1)
    assert base["hourly_demand_coverage"][worst] == min(base["hourly_demand_coverage"])
    scores = {c["code"]: c for c in day["counties"]}
    assert scores["140106"]["score_after"] > scores["140106"]["score_before"]
    assert 0 <= day["gini"] <= 1


def _textbook_gini(values, weights):
    """Mean absolute difference over twice the mean, each value repeated weight times."""
    x = np.repeat(np.asarray(values, float), np.asarray(weights, int))
    return float(np.abs(x[:, None] - x[None, :]).mean() / (2 * x.mean()))


@pytest.mark.parametrize("seed", range(5))
def test_gini_is_the_textbook_figure(seed):
    rng = np.random.default_rng(seed)
    values, weights = rng.uniform(0, 5, 9), rng.integers(1, 30, 9)
    assert plan_comparison.gini(values, weights) == pytest.approx(
        _textbook_gini(values, weights), rel=1e-9
    )
    assert plan_comparison.gini([2.0, 2.0, 2.0], [1, 5, 9]) == 0.0


def test_comparing_someone_elses_or_too_many_plans_is_refused(http, tokens_by_role, saved):
    ids = [saved["白天 95%"]["id"]]
    other = http.post("/api/v1/plans/compare", json={"plans": ids, "date": DAY},
                      headers=_headers(tokens_by_role, "all"))  # fmt: skip
    assert other.status_code == 404
    many = http.post("/api/v1/plans/compare", json={"plans": ids * 4, "date": DAY},
                     headers=_headers(tokens_by_role))  # fmt: skip
    assert many.status_code == 400 and many.get_json()["param"] == "plans"


def test_plans_are_never_kept_by_a_cache_between_planners(http, tokens_by_role, saved):
    """Served by stations serve: every plan answer says private, no-store."""
    headers = _headers(tokens_by_role)
    plan_id = saved["夜间 90%"]["id"]
    for answer in (
        http.get("/api/v1/plans", headers=headers),
        http.get(f"/api/v1/plans/{plan_id}", headers=headers),
    ):
        assert answer.status_code == 200
        assert answer.headers["Cache-Control"] == "private, no-store"
