"""Two-step floating catchment scores against a by-hand example and plain loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geo.access import two_step_fca


def test_a_worked_example():
    # within 1200 m station A reaches points 0 and 1 (100 + 300 workers), B point 1 only
    stations = [[0, 0], [2000, 0]]
    demand = [[500, 0], [1100, 0], [9000, 0]]
    ratio, access = two_step_fca(stations, demand, [100, 300, 50], 1200)
    assert ratio == pytest.approx([1 / 400, 1 / 300])
    assert access == pytest.approx([1 / 400, 1 / 400 + 1 / 300, 0])


def test_matches_plain_loops():
    rng = np.random.default_rng(5)
    stations = rng.uniform(0, 8000, (40, 2))
    demand = rng.uniform(0, 8000, (500, 2))
    weights = rng.integers(1, 200, 500).astype(float)
    ratio, access = two_step_fca(stations, demand, weights, 1500)
    expected_ratio = []
    for sx, sy in stations:
        served = sum(
            w
            for (dx, dy), w in zip(demand, weights, strict=True)
            if math.hypot(dx - sx, dy - sy) <= 1500
        )
        expected_ratio.append(1 / served if served else 0.0)
    expected_access = [
        sum(
            r
            for (sx, sy), r in zip(stations, expected_ratio, strict=True)
            if math.hypot(dx - sx, dy - sy) <= 1500
        )
        for dx, dy in demand
    ]
    assert ratio == pytest.approx(expected_ratio)
    assert access == pytest.approx(expected_access)
    # every station's one unit is shared out in full among the workers it reaches
    assert (weights * access).sum() == pytest.approx(sum(1 for r in expected_ratio if r))


# --- the enhanced 2SFCA (Gaussian decay inside the catchment) -------------------------------


def test_gaussian_decay_worked_by_hand():
    """One station, workers at 0, 500 and 1000 m, catchment 1000 m. By hand:
    G(0) = 1; G(500) = (e^-0.125 - e^-0.5) / (1 - e^-0.5) = (0.8824969 - 0.6065307) / 0.3934693
    = 0.7013664; G(1000) = 0. R = 1 / (100 * 1 + 200 * 0.7013664 + 50 * 0) = 1 / 240.27328;
    A = G * R."""
    ratio, access = two_step_fca([[0, 0]], [[0, 0], [500, 0], [0, 1000]], [100, 200, 50], 1000,
                                 decay="gaussian")  # fmt: skip
    assert ratio == pytest.approx([1 / 240.27328], rel=1e-6)
    assert access == pytest.approx([1 / 240.27328, 0.7013664 / 240.27328, 0.0], rel=1e-6)


def test_without_decay_the_enhanced_method_is_the_plain_one():
    rng = np.random.default_rng(11)
    stations, demand = rng.uniform(0, 6000, (20, 2)), rng.uniform(0, 6000, (300, 2))
    weights = rng.integers(1, 100, 300).astype(float)
    plain = two_step_fca(stations, demand, weights, 1000)
    assert all(
        a == pytest.approx(b)
        for a, b in zip(
            plain, two_step_fca(stations, demand, weights, 1000, decay="none"), strict=True
        )
    )
    decayed = two_step_fca(stations, demand, weights, 1000, decay="gaussian")[1]
    assert ((decayed > 0) <= (plain[1] > 0)).all()  # decay never reaches farther


def test_gaussian_decay_matches_pysal_access():
    """PySAL's ``access`` (two_stage_fca with a weight function and a maximum cost) on the
    same stations, workers and distances; the kernel is written out here, not imported."""
    import pandas as pd
    from access import fca

    rng = np.random.default_rng(3)
    stations, demand = rng.uniform(0, 5000, (15, 2)), rng.uniform(0, 5000, (200, 2))
    weights = rng.integers(1, 100, 200).astype(float)
    d0, edge = 1200.0, math.exp(-0.5)

    def kernel(d: float) -> float:
        return (math.exp(-0.5 * (d / d0) ** 2) - edge) / (1 - edge) if d <= d0 else 0.0

    demand_df = pd.DataFrame({"geoid": [f"d{i}" for i in range(len(demand))], "demand": weights})
    supply_df = pd.DataFrame(
        {"geoid": [f"s{j}" for j in range(len(stations))], "supply": 1.0}
    ).set_index("geoid")
    cost = pd.DataFrame(
        [(f"d{i}", f"s{j}", math.dist(p, s)) for i, p in enumerate(demand)
         for j, s in enumerate(stations)],
        columns=["origin", "dest", "cost"],
    )  # fmt: skip
    expected = fca.two_stage_fca(
        demand_df, supply_df, cost, max_cost=d0, demand_index="geoid", demand_name="demand",
        supply_name="supply", weight_fn=kernel,
    )  # fmt: skip
    _ratio, access = two_step_fca(stations, demand, weights, d0, decay="gaussian")
    reference = np.array([expected.get(f"d{i}", 0.0) for i in range(len(demand))])
    assert (reference > 0).sum() > 150  # most workers reach a station: a real comparison
    assert access == pytest.approx(reference, rel=1e-9, abs=1e-15)
