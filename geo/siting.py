"""Where new stations should go: the maximal covering location problem (MCLP) on a plane.

Given demand points with weights, the demand the existing stations already cover, and
candidate sites, choose N sites that newly cover the most demand weight.

- :func:`greedy` picks one site at a time, the one that newly covers the most. Coverage
  is submodular, so a site's gain can only shrink as others are picked; the lazy variant
  re-evaluates a site only when it reaches the top of the heap, which makes 200 picks
  over a province a fraction of a second. Greedy is within 1 - 1/e of the optimum in
  theory and, on real demand, within a few per cent of it.
- :func:`exact` solves the same problem as an integer program with HiGHS (through
  ``scipy.optimize.milp``): the optimum to compare greedy with on small instances.

:func:`candidate_grid` makes the candidate sites when a planner has none: centres of a
grid laid over the area, kept only where they would reach uncovered demand.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize
import scipy.sparse
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry


class TooManyPairs(ValueError):
    """The sites reach more (site, point) pairs than the budget allows."""


def within(
    sites: ArrayLike, points: ArrayLike, radius_m: float, max_pairs: int | None = None
) -> scipy.sparse.csr_matrix:
    """A boolean sites × points matrix: True where a point lies within ``radius_m``.

    The pairs are counted first, so a request that would need gigabytes fails with
    :class:`TooManyPairs` (when ``max_pairs`` is given) before anything is built.
    """
    sites = np.asarray(sites, dtype=float).reshape(-1, 2)
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    if not len(sites) or not len(points):
        return scipy.sparse.csr_matrix((len(sites), len(points)), dtype=bool)
    if max_pairs is not None:
        total = int(cKDTree(points).query_ball_point(sites, r=radius_m, return_length=True).sum())
        if total > max_pairs:
            raise TooManyPairs(f"{total:,} site-point pairs is more than {max_pairs:,}")
    return near(sites, points, radius_m, lambda metres: np.ones(len(metres), dtype=bool))


def near(
    sites: ArrayLike,
    points: ArrayLike,
    radius_m: float,
    value: Callable[[NDArray[np.float64]], NDArray[Any]],
) -> scipy.sparse.csr_matrix:
    """A sites × points matrix holding ``value(distance)`` for each pair within ``radius_m``.

    A value of zero is left out, as sparse matrices do (a weight that has decayed to 0 at
    the edge of the catchment counts as out of reach).
    """
    sites = np.asarray(sites, dtype=float).reshape(-1, 2)
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    if not len(sites) or not len(points):
        return scipy.sparse.csr_matrix((len(sites), len(points)), dtype=float)
    found = cKDTree(sites).sparse_distance_matrix(cKDTree(points), radius_m, output_type="ndarray")
    rows, cols = found["i"].astype(np.int64), found["j"].astype(np.int64)
    order = np.lexsort((cols, rows))
    matrix = scipy.sparse.csr_matrix(
        (value(found["v"][order]), (rows[order], cols[order])), shape=(len(sites), len(points))
    )
    matrix.eliminate_zeros()
    return matrix


def pairs_within(points: ArrayLike, radius_m: float) -> tuple[NDArray[np.int64], ...]:
    """Every ordered pair (i, j), i != j, of points within ``radius_m`` of each other."""
    xy = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(xy) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pairs = cKDTree(xy).query_pairs(radius_m, output_type="ndarray").astype(np.int64)
    return (
        np.concatenate([pairs[:, 0], pairs[:, 1]]),
        np.concatenate([pairs[:, 1], pairs[:, 0]]),
    )


def covered_by(stations: ArrayLike, points: ArrayLike, radius_m: float) -> NDArray[np.bool_]:
    """Which points lie within ``radius_m`` of some station."""
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    stations = np.asarray(stations, dtype=float).reshape(-1, 2)
    if not len(points) or not len(stations):
        return np.zeros(len(points), dtype=bool)
    distance, _ = cKDTree(stations).query(points, k=1, distance_upper_bound=radius_m)
    return np.isfinite(distance)


@dataclass(frozen=True)
class Pick:
    """One chosen site: its index among the candidates and the demand it newly covers."""

    site: int
    gain: float


def greedy(
    cover: scipy.sparse.csr_matrix,
    weights: ArrayLike,
    covered: ArrayLike,
    count: int,
    enough: float = math.inf,
) -> list[Pick]:
    """Up to ``count`` sites, best first, each newly covering the most demand (lazy greedy).

    ``cover`` is sites × points (see :func:`within`), ``covered`` the points the existing
    stations already cover. Picking stops early when no site covers anything new, or once
    the picks together newly cover ``enough``.
    """
    w = np.asarray(weights, dtype=float)
    done = np.asarray(covered, dtype=bool).copy()
    indptr, indices = cover.indptr, cover.indices
    open_weight = np.where(done, 0.0, w)
    gains = cover @ open_weight
    heap = [(-g, j) for j, g in enumerate(gains) if g > 0]
    heapq.heapify(heap)
    picks: list[Pick] = []
    total = 0.0
    while heap and len(picks) < count:
        _, j = heapq.heappop(heap)
        row = indices[indptr[j] : indptr[j + 1]]
        gain = float(w[row][~done[row]].sum())
        if gain <= 0:
            continue
        if heap and gain < -heap[0][0] - 1e-9 * max(1.0, gain):
            heapq.heappush(heap, (-gain, j))  # stale: another site may now be better
            continue
        done[row] = True
        picks.append(Pick(j, gain))
        total += gain
        if total >= enough:
            break
    return picks


@dataclass(frozen=True)
class Optimum:
    """The exact MCLP answer: chosen sites and the demand they newly cover together."""

    sites: list[int]
    covered: float
    proven: bool  # False when the time limit stopped the solver first


def exact(
    cover: scipy.sparse.csr_matrix,
    weights: ArrayLike,
    covered: ArrayLike,
    count: int,
    time_limit_s: float = 60,
) -> Optimum:
    """The best ``count`` sites by integer programming (HiGHS), for comparing with greedy.

    Maximise the weight of newly covered points; a point counts when some chosen site
    covers it; at most ``count`` sites.
    """
    w = np.asarray(weights, dtype=float)
    open_points = np.flatnonzero(~np.asarray(covered, dtype=bool) & (w > 0))
    sub = cover[:, open_points].tocsc()
    reachable = np.flatnonzero(np.diff(sub.indptr) > 0)
    sub = sub[:, reachable]
    n_sites, n_points = sub.shape
    if n_points == 0:
        return Optimum([], 0.0, True)
    # variables: x (sites, binary) then y (points, 0..1); minimise -sum(w y)
    c = np.concatenate([np.zeros(n_sites), -w[open_points[reachable]]])
    # y_i - sum_{j covers i} x_j <= 0
    link = scipy.sparse.hstack(
        [-sub.T.astype(float), scipy.sparse.identity(n_points, format="csr")], format="csr"
    )
    budget = scipy.sparse.csr_matrix(
        np.concatenate([np.ones(n_sites), np.zeros(n_points)])[None, :]
    )
    constraints = [
        scipy.optimize.LinearConstraint(link, -np.inf, 0),
        scipy.optimize.LinearConstraint(budget, 0, count),
    ]
    result = scipy.optimize.milp(
        c,
        constraints=constraints,
        integrality=np.concatenate([np.ones(n_sites), np.zeros(n_points)]),
        bounds=scipy.optimize.Bounds(0, 1),
        options={"time_limit": time_limit_s, "disp": False},
    )
    if result.x is None:
        raise RuntimeError(f"the solver found no solution: {result.message}")
    chosen = [int(j) for j in np.flatnonzero(result.x[:n_sites] > 0.5)]
    # recount from the chosen sites, not from the relaxed y values
    hit = np.zeros(len(w), dtype=bool)
    for j in chosen:
        hit[cover.indices[cover.indptr[j] : cover.indptr[j + 1]]] = True
    gained = float(w[hit & ~np.asarray(covered, dtype=bool)].sum())
    return Optimum(chosen, gained, result.status == 0)


def candidate_grid(
    area: BaseGeometry,
    demand: ArrayLike,
    covered: ArrayLike,
    radius_m: float,
    cell_m: float,
) -> NDArray[np.float64]:
    """Centres of ``cell_m`` grid cells inside ``area`` within reach of uncovered demand.

    The grid is aligned on the plane's origin so the same area always gives the same
    candidates. Each is within ``radius_m`` of at least one uncovered point, so none is
    useless, and demand-dense places get many candidates to choose among.
    """
    pts = np.asarray(demand, dtype=float).reshape(-1, 2)[~np.asarray(covered, dtype=bool)]
    if not len(pts):
        return np.empty((0, 2))
    reach = math.ceil(radius_m / cell_m)
    offsets = np.arange(-reach, reach + 1)
    di, dj = (a.ravel() for a in np.meshgrid(offsets, offsets))
    base = np.floor(pts / cell_m).astype(np.int64)
    cells = np.unique(
        np.column_stack([(base[:, 0, None] + di).ravel(), (base[:, 1, None] + dj).ravel()]),
        axis=0,
    )
    centres = (cells + 0.5) * cell_m
    near = covered_by(pts, centres, radius_m)
    centres = centres[near]
    shapely.prepare(area)
    return centres[shapely.contains_xy(area, centres[:, 0], centres[:, 1])]
