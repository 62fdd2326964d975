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
