"""The fewest new sites that bring a target share of demand within reach: set covering.

The location set covering problem (LSCP, Toregas et al. 1971) asks how many facilities
it takes for every demand point to lie within the service radius of one; planners ask it
as "how many stations for a 15-minute circle everywhere". Here existing stations stay and
what they cover counts already, and the target may be a share of the demand weight
(95 %) rather than all of it: the partial covering problem, which is the same integer
program with one demand constraint in place of one constraint per point.

- :func:`exact` solves it with HiGHS (``scipy.optimize.milp``): the proven optimum, or,
  when the time limit stops the solver, its best answer with the solver's bound.
- :func:`greedy` picks the site newly covering the most until the target is met (lazy,
  see :mod:`geo.siting`; within ln n + 1 of the optimum in theory), and proves a lower
  bound of its own: the linear relaxation's optimum, rounded up, when HiGHS solves it in
  the time given, and never less than the number of the largest single-site gains it
  takes to add up to the demand still needed (no k sites cover more than their k gains).

Both answer a :class:`Fewest`; a test holds them to spopt's LSCP and to brute force.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.sparse
from numpy.typing import ArrayLike

from geo import siting

TOLERANCE = 1e-6  # demand weights are counts; this only absorbs floating-point sums


class NoAnswer(RuntimeError):
    """The solver ran out of time before it found any choice that meets the target."""


class Unreachable(ValueError):
    """Even every candidate together cannot bring the target share within reach."""

    def __init__(self, reachable: float) -> None:
        super().__init__(f"the candidates reach at most {reachable:g} of the demand needed")
        self.reachable = reachable


@dataclass(frozen=True)
class Fewest:
    """The sites chosen and what is known of how few would do."""

    sites: list[int]  # candidate indices, each newly covering the most of what is left
    gains: list[float]  # demand each newly covers, in that order
    lower_bound: int  # no fewer sites can meet the target
    method: str  # "exact" or "greedy"
    seconds: float

    @property
    def proven(self) -> bool:
        """The count is the optimum: it meets the lower bound."""
        return len(self.sites) <= self.lower_bound


@dataclass(frozen=True)
class _Problem:
    """The open demand the candidates can reach, as a candidates × points matrix."""

    cover: scipy.sparse.csc_matrix  # candidates × open reachable points
    weights: np.ndarray
    needed: float  # demand that must be newly covered

    @property
    def everything(self) -> bool:
        """The target is all the reachable demand: one constraint per point will do."""
        return self.needed >= self.weights.sum() - TOLERANCE


def _problem(
    cover: scipy.sparse.csr_matrix, weights: ArrayLike, covered: ArrayLike, needed: float
) -> _Problem:
    w = np.asarray(weights, dtype=float)
    open_points = np.flatnonzero(~np.asarray(covered, dtype=bool) & (w > 0))
    sub = cover[:, open_points].tocsc()
    reach = np.diff(sub.indptr) > 0
    reachable = float(w[open_points[reach]].sum())
    if needed > reachable + TOLERANCE:
        raise Unreachable(reachable)
    return _Problem(sub[:, np.flatnonzero(reach)], w[open_points[reach]], max(0.0, needed))


def _program(p: _Problem) -> tuple[np.ndarray, list[scipy.optimize.LinearConstraint], np.ndarray]:
    """Objective, constraints and integrality of the covering program (sites first)."""
    n_sites, n_points = p.cover.shape
    a = p.cover.T.astype(float).tocsr()  # points × candidates
    if p.everything:  # every point: sum over the candidates covering it >= 1
        return np.ones(n_sites), [scipy.optimize.LinearConstraint(a, 1, np.inf)], np.ones(n_sites)
    # y_i <= sum of x_j covering i; sum of w_i y_i >= needed; y continuous in [0, 1]
    link = scipy.sparse.hstack([-a, scipy.sparse.identity(n_points)], format="csr")
    demand = np.concatenate([np.zeros(n_sites), p.weights])[None, :]
    constraints = [
        scipy.optimize.LinearConstraint(link, -np.inf, 0),
        scipy.optimize.LinearConstraint(demand, p.needed - TOLERANCE, np.inf),
    ]
    c = np.concatenate([np.ones(n_sites), np.zeros(n_points)])
    return c, constraints, np.concatenate([np.ones(n_sites), np.zeros(n_points)])


def exact(
    cover: scipy.sparse.csr_matrix,
    weights: ArrayLike,
    covered: ArrayLike,
    needed: float,
    time_limit_s: float = 60,
) -> Fewest:
    """The fewest candidates newly covering ``needed`` demand, by integer programming.

    ``cover`` is candidates × points (:func:`geo.siting.within`), ``covered`` what the
    existing stations cover. Raises :class:`Unreachable` when no choice meets ``needed``.
    """
    start = time.perf_counter()
    p = _problem(cover, weights, covered, needed)
    n_sites = p.cover.shape[0]
    if p.needed <= TOLERANCE:
        return Fewest([], [], 0, "exact", time.perf_counter() - start)
    c, constraints, integrality = _program(p)
    result = scipy.optimize.milp(
        c,
        constraints=constraints,
        integrality=integrality,
        bounds=scipy.optimize.Bounds(0, 1),
        options={"time_limit": time_limit_s, "disp": False},
    )
    if result.x is None:
        raise NoAnswer(f"the solver found no answer in {time_limit_s:g} s: {result.message}")
    chosen = np.flatnonzero(result.x[:n_sites] > 0.5)
    bound = len(chosen) if result.status == 0 else _ceil(result.mip_dual_bound)
    sites, gains = _ordered(cover, weights, covered, chosen)
    return Fewest(sites, gains, bound, "exact", time.perf_counter() - start)


def greedy(
    cover: scipy.sparse.csr_matrix,
    weights: ArrayLike,
    covered: ArrayLike,
    needed: float,
    bound_time_limit_s: float = 10,
) -> Fewest:
    """Candidates picked greedily until they newly cover ``needed``, with a lower bound."""
    start = time.perf_counter()
    p = _problem(cover, weights, covered, needed)
    if p.needed <= TOLERANCE:
        return Fewest([], [], 0, "greedy", time.perf_counter() - start)
    picks = siting.greedy(cover, weights, covered, cover.shape[0], enough=p.needed - TOLERANCE)
    bound = max(_gain_bound(p), _relaxation_bound(p, bound_time_limit_s))
    return Fewest(
        [q.site for q in picks],
        [q.gain for q in picks],
        min(bound, len(picks)),
        "greedy",
        time.perf_counter() - start,
    )


def _gain_bound(p: _Problem) -> int:
    """How many of the largest single-site gains it takes to add up to what is needed."""
    gains = np.sort(p.cover @ p.weights)[::-1]
    reached = np.searchsorted(np.cumsum(gains), p.needed - TOLERANCE) + 1
    return int(min(reached, len(gains)))


def _relaxation_bound(p: _Problem, time_limit_s: float) -> int:
    """The linear relaxation's optimum rounded up, or 0 when HiGHS runs out of time."""
    c, constraints, _ = _program(p)
    result = scipy.optimize.milp(
        c,
        constraints=constraints,
        bounds=scipy.optimize.Bounds(0, 1),
        options={"time_limit": time_limit_s, "disp": False},
    )
    return _ceil(result.fun) if result.status == 0 else 0


def _ceil(value: float | None) -> int:
    """A solver's bound rounded up, forgiving its last-digit noise."""
    if value is None or not math.isfinite(value):
        return 0
    return max(0, math.ceil(value - 1e-6))


def _ordered(
    cover: scipy.sparse.csr_matrix, weights: ArrayLike, covered: ArrayLike, chosen: ArrayLike
) -> tuple[list[int], list[float]]:
    """The chosen sites in the order that adds the most first, with what each adds."""
    chosen = np.asarray(chosen, dtype=np.int64)
    picks = siting.greedy(cover[chosen], weights, covered, len(chosen))
    order = [int(chosen[q.site]) for q in picks]
    gains = [q.gain for q in picks]
    rest = [int(j) for j in chosen if int(j) not in set(order)]  # a redundant pick adds 0
    return order + rest, gains + [0.0] * len(rest)
