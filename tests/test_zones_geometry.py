"""Demand zones against brute force: a partition of the uncovered demand, best disc first."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo import zones


def _demand(seed: int, n: int = 400, size: float = 8_000):
    """Clustered uncovered demand on a plane, some points carrying no weight."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, size, (5, 2))
    xy = np.clip(centres[rng.integers(0, 5, n)] + rng.normal(0, 700, (n, 2)), 0, size)
    weights = rng.integers(0, 300, n).astype(float)  # 0: a point nobody works at
    return xy, weights


def _distances(a, b):
    return np.hypot(*(a[:, None, :] - b[None, :, :]).transpose(2, 0, 1))


@pytest.mark.parametrize("seed", range(4))
def test_zones_partition_the_weighted_points_exactly(seed):
    xy, w = _demand(seed)
    found = zones.zones(xy, w, 1000)
    members = np.concatenate([z.members for z in found])
    assert len(members) == len(set(members.tolist()))  # no point in two zones
    assert set(np.flatnonzero(w > 0)) <= set(members.tolist())  # every weighted point placed
    assert sum(z.demand for z in found) == pytest.approx(w.sum(), abs=1e-9)
    for zone in found:
        assert zone.demand == pytest.approx(w[zone.members].sum())
        assert (_distances(xy[[zone.centre]], xy[zone.members]) <= 1000).all()
    demands = [z.demand for z in found]
    assert demands == sorted(demands, reverse=True)


@pytest.mark.parametrize("seed", range(4))
def test_each_zone_is_the_best_disc_left_by_brute_force(seed):
    """Zone k holds the most demand any point's disc holds among the points left."""
    xy, w = _demand(seed, n=250)
    within = _distances(xy, xy) <= 1000
    left = np.ones(len(xy), dtype=bool)
    for zone in zones.zones(xy, w, 1000):
        best = (within * (w * left)[None, :]).sum(axis=1).max()
        assert zone.demand == pytest.approx(best)
        left[zone.members] = False
    assert not (w * left).any()


def test_outlines_hold_their_members_and_stay_in_the_region():
    xy, w = _demand(7)
    region = shapely.box(0, 0, 8_000, 8_000).difference(shapely.Point(4000, 4000).buffer(1500))
    keep = shapely.contains_xy(region, xy[:, 0], xy[:, 1])
    xy, w = xy[keep], w[keep]
    found = zones.zones(xy, w, 1000)
    shapes = zones.outlines(xy[[z.centre for z in found]], 1000, region)
    for zone, shape in zip(found, shapes, strict=True):
        assert shapely.contains_xy(shape, xy[zone.members, 0], xy[zone.members, 1]).all()
        assert shape.difference(region).area < 1e-6
        assert shape.area <= np.pi * 1000**2 * 1.01
    overlap = sum(s.area for s in shapes) - shapely.union_all(shapes).area
    assert 0 <= overlap < 0.005 * sum(s.area for s in shapes)  # slivers ~2.4 m wide


def test_no_points_no_zones():
    assert zones.zones(np.empty((0, 2)), np.empty(0), 1000) == []
    assert zones.outlines(np.empty((0, 2)), 1000, shapely.box(0, 0, 1, 1)) == []
