"""The fewest sites for a demand target against brute force and PySAL spopt's LSCP."""

from __future__ import annotations

import itertools

import numpy as np
import pulp
import pytest
from spopt.locate import LSCP

from geo import covering, siting


def _instance(seed: int, n_demand: int = 40, n_sites: int = 14, size: float = 6_000):
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0, size, (n_demand, 2))
    weights = rng.integers(1, 50, n_demand).astype(float)
    sites = rng.uniform(0, size, (n_sites, 2))
    stations = rng.uniform(0, size, (2, 2))
    return demand, weights, sites, stations


def _fewest_by_brute_force(cover, weights, covered, needed):
    """The smallest k for which some k sites newly cover ``needed``, trying every set."""
    dense = cover.toarray()
    open_w = np.where(covered, 0.0, weights)
    for k in range(dense.shape[0] + 1):
        for chosen in itertools.combinations(range(dense.shape[0]), k):
            hit = dense[list(chosen)].any(axis=0) if chosen else np.zeros(len(weights), bool)
            if open_w[hit].sum() >= needed - 1e-9:
                return k
    return None


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("share", [1.0, 0.8])
def test_exact_is_the_brute_force_minimum_and_greedy_brackets_it(seed, share):
    demand, w, sites, stations = _instance(seed)
    covered = siting.covered_by(stations, demand, 1800)
    cover = siting.within(sites, demand, 1800)
    reachable = w[(cover.toarray().any(axis=0)) & ~covered].sum()
    needed = share * reachable
    best = _fewest_by_brute_force(cover, w, covered, needed)
    exact = covering.exact(cover, w, covered, needed)
    assert exact.proven and len(exact.sites) == exact.lower_bound == best
    assert sum(exact.gains) >= needed - 1e-9
    greedy = covering.greedy(cover, w, covered, needed)
    assert sum(greedy.gains) >= needed - 1e-9
    assert greedy.lower_bound <= best <= len(greedy.sites)
    # the gains are what each site adds to those before it, so they add up to the cover
    hit = cover[exact.sites].toarray().any(axis=0) & ~covered
    assert sum(exact.gains) == pytest.approx(w[hit].sum())


# spopt 0.7 builds its model with PuLP calls that PuLP 3.3 marks for removal in 4.0
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("seed", range(4))
def test_full_cover_agrees_with_spopt_lscp(seed):
    """Every point within 2 km, no station yet: our count is spopt's (CBC) count."""
    rng = np.random.default_rng(100 + seed)
    demand = rng.uniform(0, 8_000, (60, 2))
    sites = np.concatenate([rng.uniform(0, 8_000, (50, 2)), demand])  # every point coverable
    cost = np.hypot(*(demand[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    model = LSCP.from_cost_matrix(cost, 2000).solve(pulp.PULP_CBC_CMD(msg=False))
    theirs = round(pulp.value(model.problem.objective))
    ours = covering.exact(siting.within(sites, demand, 2000), np.ones(60), np.zeros(60, bool), 60.0)
    assert ours.proven and len(ours.sites) == theirs
    assert siting.covered_by(sites[ours.sites], demand, 2000).all()


def test_an_unreachable_target_says_how_much_is_reachable():
    demand = np.array([[0.0, 0.0], [10_000.0, 0.0]])
    cover = siting.within(np.array([[100.0, 0.0]]), demand, 1000)
    with pytest.raises(covering.Unreachable) as caught:
        covering.exact(cover, np.array([3.0, 5.0]), np.zeros(2, bool), 8.0)
    assert caught.value.reachable == 3.0
    assert covering.greedy(cover, np.array([3.0, 5.0]), np.zeros(2, bool), 3.0).sites == [0]


def test_nothing_needed_means_no_site():
    cover = siting.within(np.array([[0.0, 0.0]]), np.array([[0.0, 0.0]]), 10)
    answer = covering.exact(cover, np.ones(1), np.ones(1, bool), 0.0)
    assert answer.sites == [] and answer.proven
