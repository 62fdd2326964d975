"""Greedy siting against the exact optimum (HiGHS), and its building blocks by brute force."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo import siting


def _instance(seed: int, n_demand: int = 600, n_stations: int = 8, size: float = 12_000):
    """Clustered demand (as in towns) with a few existing stations on a plane."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, size, (6, 2))
    demand = centres[rng.integers(0, 6, n_demand)] + rng.normal(0, 900, (n_demand, 2))
    demand = np.clip(demand, 0, size)
    weights = rng.integers(1, 400, n_demand).astype(float)
    stations = rng.uniform(0, size, (n_stations, 2))
    return shapely.box(0, 0, size, size), demand, weights, stations


def test_within_and_covered_by_match_brute_force():
    _area, demand, _w, stations = _instance(1)
    sites = demand[::7] + 300
    matrix = siting.within(sites, demand, 1000).toarray()
    distances = np.hypot(*(sites[:, None, :] - demand[None, :, :]).transpose(2, 0, 1))
    assert (matrix == (distances <= 1000)).all()
    to_station = np.hypot(*(stations[:, None, :] - demand[None, :, :]).transpose(2, 0, 1))
    assert (siting.covered_by(stations, demand, 1000) == (to_station <= 1000).any(axis=0)).all()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("count", [3, 10])
def test_greedy_is_within_five_percent_of_the_optimum(seed, count):
    area, demand, weights, stations = _instance(seed)
    covered = siting.covered_by(stations, demand, 1000)
    sites = siting.candidate_grid(area, demand, covered, 1000, 500)
    cover = siting.within(sites, demand, 1000)
    picks = siting.greedy(cover, weights, covered, count)
    best = siting.exact(cover, weights, covered, count)
    assert best.proven and len(best.sites) <= count
    greedy_total = sum(p.gain for p in picks)
    assert greedy_total <= best.covered + 1e-6
    assert greedy_total >= 0.95 * best.covered


def test_gains_are_what_each_pick_newly_covers_and_never_increase():
    area, demand, weights, stations = _instance(7)
    covered = siting.covered_by(stations, demand, 1000)
    sites = siting.candidate_grid(area, demand, covered, 1000, 250)
    picks = siting.greedy(siting.within(sites, demand, 1000), weights, covered, 25)
    done = covered.copy()
    for pick in picks:  # recount by plain distances, pick by pick
        reached = np.hypot(*(demand - sites[pick.site]).T) <= 1000
        assert pick.gain == pytest.approx(weights[reached & ~done].sum())
        done |= reached
    gains = [p.gain for p in picks]
    assert gains == sorted(gains, reverse=True) and gains[-1] > 0


def test_covered_demand_never_decreases_as_count_grows():
    area, demand, weights, stations = _instance(3)
    covered = siting.covered_by(stations, demand, 1000)
    sites = siting.candidate_grid(area, demand, covered, 1000, 500)
    cover = siting.within(sites, demand, 1000)
    greedy_totals = [
        sum(p.gain for p in siting.greedy(cover, weights, covered, n)) for n in range(1, 9)
    ]
    exact_totals = [siting.exact(cover, weights, covered, n).covered for n in range(1, 9)]
    assert greedy_totals == sorted(greedy_totals) and greedy_totals[0] > 0
    assert exact_totals == sorted(exact_totals)


def test_picking_stops_when_nothing_is_left_to_cover():
    demand = np.array([[0.0, 0.0], [5000.0, 0.0]])
    sites = np.array([[10.0, 0.0], [5010.0, 0.0], [20000.0, 0.0]])
    picks = siting.greedy(
        siting.within(sites, demand, 1000), [1.0, 2.0], np.zeros(2, dtype=bool), 3
    )
    assert [(p.site, p.gain) for p in picks] == [(1, 2.0), (0, 1.0)]


def test_candidate_grid_reaches_only_uncovered_demand_inside_the_area():
    area, demand, _w, stations = _instance(2)
    covered = siting.covered_by(stations, demand, 1000)
    sites = siting.candidate_grid(area, demand, covered, 1000, 500)
    assert len(sites) > 0
    assert shapely.contains_xy(area, sites[:, 0], sites[:, 1]).all()
    open_points = demand[~covered]
    nearest = np.hypot(*(sites[:, None, :] - open_points[None, :, :]).transpose(2, 0, 1)).min(1)
    assert (nearest <= 1000).all()
    assert len(siting.candidate_grid(area, demand, np.ones(len(demand), bool), 1000, 500)) == 0
