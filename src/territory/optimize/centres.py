r"""Free centres: with no home bases, move each rep's base to the heart of its territory.

When the reps have no home (``--reps N``), the bases are ours to choose. The
assignment model (:mod:`territory.optimize.formulation`) is exact *for fixed
bases*; this module alternates location and allocation (a capacitated
p-median heuristic: Cooper's alternation with the allocation solved as the
banded integer program) so that the bases follow the territories.

Formulation
-----------
Data
    :math:`w_u` unit weight (TAM share), :math:`d(u, v)` travel between units
    (drive hours on a road graph, or km), bases :math:`b_r \in U` (one unit per
    rep, also the root of its territory).
Problem
    :math:`\min_{b, x} \sum_r \sum_{u} w_u\, d(u, b_r)\, x_{ur}` subject to every
    constraint of the assignment model for bases :math:`b` (one rep per unit,
    TAM band, account-unit band, contiguity rooted at :math:`b_r`, locks).
Alternation
    1. *Allocation*: for the current bases solve the assignment model with
       :math:`c_{ur} = w_u d(u, b_r)` and roots :math:`b` (warm: the last plan
       is representable in the pruned model, since each unit keeps its last
       rep as a candidate, and is kept when the solve returns nothing better).
    2. *Location*: move every base to its territory's weighted medoid
       :math:`b_r \leftarrow \arg\min_{v \in T_r} \sum_{u \in T_r} w_u d(u, v)`
       (ties to the lowest unit index).
    3. When travel improves by less than ``rel_tol`` or the bases stop moving,
       *re-split pairs*: for each pair of neighbouring territories (touching
       on the adjacency graph, else with 3-nearest bases), merge them, place
       two bases at the merged region's weighted 2-medoids and solve the
       two-rep sub-problem (same targets, bands and contiguity), alternating
       inside the pair up to three times; keep the split when it cuts the
       pair's travel. Then alternate again. Stop when a sweep keeps nothing,
       after ``pair_sweeps`` sweeps, or after ``max_rounds`` steps.
    4. *Polish*: the allocations of steps 1-3 stop within ``ALTERNATION_GAP``
       of their bound (their bases move again); the final bases' allocation is
       solved once more to the solver's own gap, from the last plan.

Starts
    The alternation is local: each territory stays near where its seed put
    it. So :func:`free_centres` runs it from several starts and keeps the plan
    of least travel: the given bases; the centres of the banded p-median of the
    whole problem (:func:`banded_medians`, when it has at most
    ``MEDIAN_UNITS`` units); and ``restarts`` sets of spread bases
    (:func:`spread_bases`, k-means++ style, seeded by ``[seed, i]``). With
    contiguity every start is first screened by the alternation without it
    (together ``SCREEN_SHARE`` of the budget) and the ``CONTIGUOUS_STARTS``
    best, and the given bases, go on with contiguity (until ``STARTS_SHARE`` of the budget;
    a screened start only if its travel without contiguity is ``RESTART_MIN_GAIN`` below
    the contiguous plan in hand); only
    the best of those gets the pair sweeps (step 3, at most ``PAIR_PHASE_SHARE`` of the
    budget) and the polish (step 4).
    Measured on the bench's 500 ZIPs x 10 reps with contiguity: the k-means
    seed ends at medoid travel 10,825; spread starts at 9,797-10,851.
Bounds
    ``result.bound`` is the solver's bound for the final bases only.
    ``medoid_bound`` (small problems) is the banded p-median's dual bound: a
    lower bound on the medoid travel of every plan within both bands, whatever
    its bases, contiguous or not. A pair whose merged units' banded 2-median
    bound is no lower than its current travel is skipped by the pair sweep
    (no split of it can do better).

With contiguity the bases are first moved by the alternation *without*
contiguity (steps 1-2 on the relaxed model, LNS at the loose gap, at most
``RELAXED_SHARE`` of the budget), and the contiguous alternation starts from
those bases. Measured on the 800-account national book (644 units x 10 reps,
load ~8 on 2 cores): the contiguous alternation from the seeded bases ended at
travel 4,539 (2.4% above its LP bound) after the whole 60 s budget; moving the
bases without contiguity first took under a second, and the contiguous
alternation from there ended at 4,198 (0.46%) after 17 s.

Travel never increases from one round to the next: the medoid step lowers
(or keeps) each territory's travel, because the old base lies in its
territory (a root is fixed to its rep); the old plan is still feasible for
the new bases (same bands, the new root lies inside the territory, which stays
connected); the re-solve keeps the old plan when it finds nothing better; and
a re-split pair is kept only when it lowers travel (the other territories do
not change, and the pair's two territories meet every band on their own).
The final plan is the solver's plan for the final bases, so its bound (LP or
MIP) is a valid bound *for those bases*, not for the joint location problem.

Time
    ``cfg.time_limit`` is the wall-clock budget of the whole alternation, not of
    each solve: the relaxed phase at most ``RELAXED_SHARE`` of it, the first
    allocation ``FIRST_SHARE`` of what is left (solved again when it finds no
    plan in time, see :func:`_first_allocation`), every later allocation half
    of what is left, every pair sub-problem at most ``PAIR_SHARE`` and the
    polish at most ``POLISH_SHARE`` of the budget; the alternation stops
    (keeping its best plan) when less than ``MIN_SOLVE_SECONDS`` is left. Each allocation
    starts from the last plan (:func:`territory.optimize.solve`'s ``start``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from ..errors import InfeasibleError, InputError
from .backends import Solver, run_highs
from .problem import AssignProblem, AssignResult, Disruption, check_plan, inertia_cost
from .solve import solve

__all__ = ["CentresResult", "Medians", "banded_medians", "euclidean_distance", "free_centres",
           "plan_travel", "spread_bases", "weighted_medoids"]

log = logging.getLogger(__name__)

#: ``distance(rows, cols)`` -> ``(len(rows), len(cols))`` travel between units (by index)
UnitDistance = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: share of the budget the first allocation may use (it must find a plan from seeded bases)
FIRST_SHARE = 0.6
#: at most this share of the budget for one pair sub-problem
PAIR_SHARE = 0.05
#: with contiguity, the share of the budget for moving the bases without it first
RELAXED_SHARE = 0.25
#: at most this share of the budget for the final allocation at the solver's own gap
POLISH_SHARE = 0.25
#: allocations of the alternation stop this close to their bound (the bases move on)
ALTERNATION_GAP = 0.02
#: below this many seconds left no further solve is started
MIN_SOLVE_SECONDS = 1.0
#: starts from spread bases besides the given ones (k-means++ style, :func:`spread_bases`)
RESTARTS = 5
#: no restarts above this many unit-rep pairs (each start's share would be too short there)
RESTART_MAX_PAIRS = 100_000
#: with contiguity, share of the budget for screening the starts without it
SCREEN_SHARE = 0.15
#: share of the budget for the starts (the rest: pair sweeps on the best one, then the polish)
STARTS_SHARE = 0.6
#: with contiguity, the starts screened without it whose contiguous alternation is run
#: (besides the given bases); 2 gained nothing over 1 on the bench and cost a run
CONTIGUOUS_STARTS = 1
#: a screened start goes on with contiguity only if its travel without contiguity is this
#: much below the contiguous plan in hand (see :func:`_may_gain`)
RESTART_MIN_GAIN = 0.01
#: at most this share of the budget for the pair sweeps of the best start
PAIR_PHASE_SHARE = 0.05
#: the banded p-median of the whole problem (a start and a bound) up to this many units
MEDIAN_UNITS = 150
#: at most this share of the budget for it
MEDIAN_SHARE = 0.2


@dataclass(frozen=True)
class _Budget:
    """One wall-clock budget (``cfg.time_limit``) shared by every solve of the alternation."""

    cfg: Solver
    deadline: float

    @classmethod
    def start(cls, cfg: Solver) -> _Budget:
        return cls(cfg, time.monotonic() + cfg.time_limit)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def solver(self, share_of_left: float = 1.0, cap: float | None = None, *,
               loose: bool = False) -> Solver | None:
        """The solver with its time limit cut to this step's share; None when time is up.

        ``loose``: an allocation of the alternation, whose bases will move
        again, stops within ``ALTERNATION_GAP`` of its bound.
        """
        left = self.left()
        if left < MIN_SOLVE_SECONDS:
            return None
        limit = max(MIN_SOLVE_SECONDS, left * share_of_left)
        if cap is not None:
            limit = min(limit, max(MIN_SOLVE_SECONDS, cap))
        gap = max(self.cfg.mip_gap, ALTERNATION_GAP) if loose else self.cfg.mip_gap
        return dataclasses.replace(self.cfg, time_limit=limit, mip_gap=gap)


@dataclass(frozen=True)
class CentresResult:
    r"""The plan after the last allocation, and how the bases moved.

    Attributes
    ----------
    result
        The solver's result for the final bases (status, bound, gap, history).
    rep_of_unit
        ``(n,)`` rep index per unit (the last plan; ``result.rep_of_unit`` when
        that solve improved on the warm start).
    bases
        ``(m,)`` unit index of each rep's base (also its root).
    problem
        The assignment problem of the final bases (cost and roots).
    travel
        Travel :math:`\sum_u w_u d(u, b_{r(u)})` after each allocation.
    moved_bases
        How many bases moved before each re-solve.
    relaxed_travel
        With contiguity: travel after each allocation of the first phase,
        without contiguity (from the starting bases), else empty.
    starts
        The final travel of each start (the given bases first, then each
        restart; NaN where a start found no plan).
    start
        Which start the plan comes from (``travel``, ``moved_bases`` and
        ``relaxed_travel`` are that start's).
    medoid_bound
        A lower bound on the weighted travel to each territory's medoid of
        *every* plan within both bands, contiguous or not, whatever its bases
        (the banded p-median's dual bound, :func:`banded_medians`); None when
        it was not solved (more than ``MEDIAN_UNITS`` units, bands unlike
        between reps, soft bands, locks or a current alignment). Unlike
        ``result.bound`` (a bound for the final bases only) it bounds the joint
        location problem.
    """

    result: AssignResult
    rep_of_unit: np.ndarray
    bases: np.ndarray
    problem: AssignProblem
    travel: tuple[float, ...]
    moved_bases: tuple[int, ...]
    relaxed_travel: tuple[float, ...] = ()
    starts: tuple[float, ...] = ()
    start: int = 0
    medoid_bound: float | None = None

    @property
    def rounds(self) -> int:
        """Number of allocations solved."""
        return len(self.travel)


def euclidean_distance(xy: np.ndarray, scale: float = 1.0) -> UnitDistance:
    """Straight-line distance between unit points (``xy`` in km), times ``scale``."""
    pts = np.asarray(xy, dtype=float)

    def distance(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        a, b = pts[np.asarray(rows)], pts[np.asarray(cols)]
        return scale * np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))

    return distance


def plan_travel(cost: np.ndarray, rep_of_unit: np.ndarray) -> float:
    """Travel of a plan: the sum of ``cost[u, rep_of_unit[u]]``."""
    rep_of = np.asarray(rep_of_unit)
    return float(cost[np.arange(len(rep_of)), rep_of].sum())


def weighted_medoids(rep_of_unit: np.ndarray, weight: np.ndarray, distance: UnitDistance,
                     n_reps: int, *, fallback: np.ndarray | None = None) -> np.ndarray:
    """Each territory's weighted medoid: the member unit with least weighted travel to the rest.

    Parameters
    ----------
    rep_of_unit
        ``(n,)`` rep index per unit.
    weight
        ``(n,)`` unit weights.
    distance
        Travel between units by index (see :data:`UnitDistance`).
    n_reps
        Number of territories.
    fallback
        ``(m,)`` unit per rep used for an empty territory (else -1).

    Returns
    -------
    numpy.ndarray
        ``(m,)`` unit index per rep (ties to the lowest unit index).
    """
    rep_of = np.asarray(rep_of_unit)
    w = np.asarray(weight, dtype=float)
    out = np.full(n_reps, -1, dtype=np.int64) if fallback is None else np.array(fallback, np.int64)
    for r in range(n_reps):
        members = np.flatnonzero(rep_of == r)
        if members.size == 0:
            continue
        # row u, column v: travel from member u to candidate centre v
        total = w[members] @ distance(members, members)
        out[r] = int(members[int(np.argmin(total))])
    return out


def _with_bases(p: AssignProblem, weight: np.ndarray, distance: UnitDistance, bases: np.ndarray,
                unit_xy: np.ndarray | None) -> AssignProblem:
    """The same problem with each rep based (and rooted) at ``bases``."""
    cost = np.asarray(weight, float)[:, None] * distance(np.arange(p.n_units), bases)
    kw: dict = {"cost": cost, "roots": tuple(int(b) for b in bases)}
    if p.compactness_weight and p.compactness is not None and unit_xy is not None:
        kw["compactness"] = inertia_cost(p.tam, unit_xy, np.asarray(unit_xy)[bases])
    return dataclasses.replace(p, **kw)


def _warm(p: AssignProblem, last: np.ndarray) -> AssignProblem:
    """Keep each unit's last rep among its candidates (the ``moved`` owner), costing nothing.

    Only when the problem has no current alignment of its own: ``moved`` with
    zero disruption weight and no cap changes the candidate sets, not the model.
    """
    if p.disruption is not None or last is None:
        return p
    moved = np.ones((p.n_units, p.n_reps))
    moved[np.arange(p.n_units), last] = 0.0
    return dataclasses.replace(p, disruption=Disruption(moved, float(p.n_units)))


def _allocate(p: AssignProblem, cfg: Solver, seed: int, last: np.ndarray | None
              ) -> tuple[AssignResult | None, np.ndarray]:
    """Solve for fixed bases; keep ``last`` when the solver returns a costlier plan."""
    try:
        res = solve(_warm(p, last), cfg, seed=seed, start=last)
    except InfeasibleError:
        if last is None or check_plan(p, last):
            raise
        # the last plan is feasible for these bases: a time-out only means no better plan
        log.info("free centres: no plan found in time for the moved bases; keeping the last plan")
        return None, np.asarray(last)
    plan = res.rep_of_unit
    if last is not None and not check_plan(p, last):
        if plan_travel(p.cost, last) < plan_travel(p.cost, plan) - 1e-9:
            log.info("free centres: the re-solve (gap %s) found nothing better than the last "
                     "plan; keeping it", res.gap)
            plan = np.asarray(last)
    return res, plan


# ----------------------------------------------------------------------------- banded medians


@dataclass(frozen=True)
class Medians:
    """The banded k-median of a set of units (local indices)."""

    centres: np.ndarray   # (k,) centre units
    objective: float      # the model's objective (units may be split between centres)
    bound: float          # the MIP's dual bound (a lower bound, also when stopped early)


def banded_medians(d: np.ndarray, w: np.ndarray, loads: list[tuple[np.ndarray, float, float]],
                   k: int, cfg: Solver, *, seed: int = 0, time_limit: float | None = None
                   ) -> Medians | None:
    r"""The k territories of least weighted travel to a member centre, every band held.

    A capacitated p-median, without contiguity:

    .. math::
        \min \sum_{u,v} w_u d_{uv} x_{uv} \;\text{s.t.}\; \sum_v x_{uv} = 1,\;
        x_{uv} \le y_v,\; x_{vv} = y_v,\; \sum_v y_v = k,\;
        L\, y_v \le \sum_u \ell_u x_{uv} \le H\, y_v \;\text{(each band } (\ell, L, H)\text{)},
        \; y \in \{0,1\},\; x \ge 0.

    Every plan of k territories within the bands, with each territory's weighted
    medoid as its centre, is a solution, so the optimum (and the dual bound of
    a solve stopped early) bounds the medoid travel of every such plan from
    below, contiguous or not. Columns: :math:`n^2 + n` (meant for a few hundred
    units at most).

    Parameters
    ----------
    d, w
        ``(n, n)`` travel between the units and ``(n,)`` their weights.
    loads
        ``(load, low, high)`` per band: per-unit load and the band every territory keeps.
    k
        Number of territories.
    cfg, seed, time_limit
        HiGHS options (``cfg.mip_gap``; ``time_limit`` default ``cfg.time_limit``).

    Returns
    -------
    Medians or None
        None when the solve ends without a plan (infeasible or out of time).
    """
    n = len(w)
    rows, cols, vals, lo, hi = _median_rows(n, loads, k)
    x_cost = (np.asarray(w, float)[:, None] * np.asarray(d, float)).ravel()
    h = cfg.highs(seed=seed, time_limit=cfg.time_limit if time_limit is None else time_limit)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n * n + n, len(lo)
    lp.col_cost_ = np.concatenate([x_cost, np.zeros(n)])
    lp.col_lower_, lp.col_upper_ = np.zeros(n * n + n), np.ones(n * n + n)
    lp.row_lower_, lp.row_upper_ = lo, hi
    a = sp.csc_matrix((vals, (rows, cols)), shape=(len(lo), n * n + n))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
    lp.integrality_ = ([highspy.HighsVarType.kContinuous] * (n * n)
                       + [highspy.HighsVarType.kInteger] * n)
    h.passModel(lp)
    run_highs(h)  # Ctrl-C stops it promptly, as every other solve
    sol = h.getSolution()
    if not sol.value_valid:
        return None
    x = np.asarray(sol.col_value)
    centres = np.flatnonzero(x[n * n:] > 0.5)
    if len(centres) != k:
        return None
    info = h.getInfo()
    return Medians(centres, float(info.objective_function_value), float(info.mip_dual_bound))


def _median_rows(n: int, loads: list[tuple[np.ndarray, float, float]], k: int) -> tuple:
    """Rows of :func:`banded_medians` as COO triplets and ranges (x_uv at u*n+v, y_v at n*n+v)."""
    u, v = np.divmod(np.arange(n * n), n)
    y = n * n + np.arange(n)
    parts_r, parts_c, parts_v, lo, hi = [], [], [], [], []
    row = 0

    def add(r, c, val, low, high):
        nonlocal row
        parts_r.append(row + r)
        parts_c.append(c)
        parts_v.append(val)
        lo.append(low)
        hi.append(high)
        row += len(low)

    add(u, np.arange(n * n), np.ones(n * n), np.ones(n), np.ones(n))     # one centre per unit
    link = np.arange(n * n)                                               # x_uv <= y_v, x_vv = y_v
    add(np.concatenate([link, link]), np.concatenate([link, y[v]]),
        np.concatenate([np.ones(n * n), -np.ones(n * n)]),
        np.where(u == v, 0.0, -np.inf), np.zeros(n * n))
    add(np.zeros(n, np.int64), y, np.ones(n), np.array([float(k)]), np.array([float(k)]))
    for load, low, high in loads:
        load = np.asarray(load, float)
        for edge, lo_row, hi_row in ((low, 0.0, np.inf), (high, -np.inf, 0.0)):
            add(np.concatenate([v, np.arange(n)]), np.concatenate([np.arange(n * n), y]),
                np.concatenate([load[u], np.full(n, -float(edge))]),
                np.full(n, lo_row), np.full(n, hi_row))
    return (np.concatenate(parts_r), np.concatenate(parts_c), np.concatenate(parts_v),
            np.concatenate(lo).astype(float), np.concatenate(hi).astype(float))


def _inert(d: Disruption | None) -> bool:
    """No current alignment, or one only reported (no cap, no price): reps are interchangeable."""
    return d is None or (d.max_share is None and not d.weight)


def _same_bands(p: AssignProblem, reps: np.ndarray) -> list[tuple[np.ndarray, float, float]] | None:
    """The bands of ``reps`` as :func:`banded_medians` loads, when they are alike and hard."""
    if p.soft_tam or p.soft_account_units:
        return None
    tb, ab = p.tam_band.take(reps), p.account_units_band.take(reps)
    if any(np.ptp(x) > 1e-9 * max(1.0, float(np.abs(x).max()))
           for x in (tb.low, tb.high, ab.low, ab.high)):
        return None
    return [(np.asarray(p.tam, float), float(tb.low[0]), float(tb.high[0])),
            (np.asarray(p.account_units, float), float(ab.low[0]), float(ab.high[0]))]


# ----------------------------------------------------------------------------- pair moves


def _territory_pairs(p: AssignProblem, plan: np.ndarray, bases: np.ndarray,
                     distance: UnitDistance) -> list[tuple[int, int]]:
    """Pairs of territories that touch (adjacency), else whose bases are 3-nearest."""
    pairs: set[tuple[int, int]] = set()
    if p.adjacency is not None:
        index = {u: i for i, u in enumerate(p.unit_ids)}
        for a, b in p.adjacency.edges():
            i, j = index.get(a), index.get(b)
            if i is not None and j is not None and plan[i] != plan[j]:
                pairs.add((int(min(plan[i], plan[j])), int(max(plan[i], plan[j]))))
    else:
        d = distance(bases, bases)
        for r in range(p.n_reps):
            for q in np.argsort(d[r], kind="stable")[1:4]:
                pairs.add((min(r, int(q)), max(r, int(q))))
    return sorted(pairs)


def _two_medoids(units: np.ndarray, w: np.ndarray, d: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Weighted 2-medoids of ``units`` (``d`` their distance matrix), from local ``start``."""
    med = np.array(start, dtype=np.int64)
    for _ in range(10):
        side = np.argmin(d[:, med], axis=1)
        new = med.copy()
        for s in (0, 1):
            members = np.flatnonzero(side == s)
            if members.size:
                new[s] = members[int(np.argmin(w[members] @ d[np.ix_(members, members)]))]
        if np.array_equal(new, med):
            break
        med = new
    return med


def _pair_problem(p: AssignProblem, units: np.ndarray, reps: np.ndarray, cost: np.ndarray,
                  roots: tuple[int, int]) -> AssignProblem:
    """The two-rep sub-problem on ``units`` (parent's targets, bands and row scales)."""
    local = {int(u): i for i, u in enumerate(units)}
    rep_pos = {int(r): j for j, r in enumerate(reps)}
    locks = {local[u]: rep_pos[r] for u, r in p.locks.items() if u in local and r in rep_pos}
    return dataclasses.replace(
        p, unit_ids=tuple(p.unit_ids[u] for u in units), rep_ids=tuple(p.rep_ids[r] for r in reps),
        tam=np.asarray(p.tam)[units], account_units=np.asarray(p.account_units)[units],
        cost=cost, tam_target=np.asarray(p.tam_target)[reps],
        account_units_lo=np.asarray(p.account_units_lo)[reps],
        account_units_hi=np.asarray(p.account_units_hi)[reps], roots=roots, locks=locks,
        disruption=None, compactness=None, compactness_weight=0.0,
        tam_scale=p.tam_band.scale, account_units_scale=p.account_units_band.scale)


#: a pair sweep that cuts travel by less than this (relative) is the last one (measured on
#: the 800-account national book: sweeps of 12-21 s cutting 0.06-0.08% each)
PAIR_SWEEP_TOL = 0.002
#: random starts of the 2-medoid search per pair, besides the current bases
PAIR_STARTS = 3
#: the banded 2-median of a pair (bound and first split) up to this many units (measured on
#: the 800-account national book, 644 units x 10 reps: with ~130-unit pairs it made one pair
#: sweep 20 s, and on the bench's ZIP instances it found no better split)
PAIR_MEDIAN_UNITS = 80
#: and at most this long (measured: 7-9 s for 114-126 ZIPs that cannot hold two banded
#: territories; a bound from a solve stopped early is still a bound)
PAIR_MEDIAN_SECONDS = 0.5


def _split_around(p: AssignProblem, units: np.ndarray, reps: np.ndarray, w: np.ndarray,
                  d: np.ndarray, med: np.ndarray, cfg: Solver, seed: int, best: tuple
                  ) -> tuple:
    """A short alternation inside the pair from bases ``med``; the best (travel, side, med)."""
    for _ in range(3):
        sub = _pair_problem(p, units, reps, w[:, None] * d[:, med], (int(med[0]), int(med[1])))
        try:
            side = solve(sub, cfg, seed=seed).rep_of_unit
        except InfeasibleError:
            break
        after = float((w * d[np.arange(len(units)), med[side]]).sum())
        if after < best[0] * (1 - 1e-9):
            best = (after, side.copy(), med.copy())
        new = np.array([np.flatnonzero(side == s)[int(np.argmin(
            w[side == s] @ d[np.ix_(side == s, side == s)]))] for s in (0, 1)])
        if np.array_equal(new, med):
            break
        med = new
    return best


def _resplit(p: AssignProblem, plan: np.ndarray, bases: np.ndarray, a: int, b: int,
             weight: np.ndarray, distance: UnitDistance, cfg: Solver, seed: int
             ) -> tuple[np.ndarray, np.ndarray] | None:
    """Merge territories a and b, re-split them around 2-medoids; None if none is better.

    When the pair's bands are alike, the merged units' banded 2-median
    (:func:`banded_medians`) comes first: its bound proves that no split of
    the pair can beat the current one (the pair is skipped), or its centres
    root the first re-split. Then the 2-medoid search starts from the current
    bases and from ``PAIR_STARTS`` seeded random pairs of the merged units (a
    local optimum of the whole plan is often one of the pair's too).
    """
    units = np.flatnonzero((plan == a) | (plan == b))
    reps = np.array([a, b])
    w = np.asarray(weight, float)[units]
    d = distance(units, units)
    local = {int(u): i for i, u in enumerate(units)}
    cur = np.array([local[int(bases[a])], local[int(bases[b])]])
    before = float((w * d[np.arange(len(units)), cur[(plan[units] == b).astype(int)]]).sum())
    exact = _pair_median(p, units, reps, w, d, cfg, seed)
    if exact is not None and exact.bound >= before * (1 - 1e-6):
        log.debug("free centres: pair (%d, %d) at %.6g, its banded 2-median bound %.6g: skipped",
                  a, b, before, exact.bound)
        return None  # every split of the pair in its bands travels at least as much
    rng = np.random.default_rng([seed, a, b])
    starts = ([(exact.centres, False)] if exact is not None else []) + [
        (x, True) for x in [cur] + [rng.choice(len(units), 2, replace=False)
                                   for _ in range(PAIR_STARTS)]]
    best: tuple = (before, None, None)
    tried: set[tuple[int, int]] = {(int(cur[0]), int(cur[1]))}
    for start, refine in starts:
        med = _two_medoids(units, w, d, start) if refine else np.asarray(start, np.int64)
        # the rep nearer each medoid keeps it (fewer accounts change hands)
        if d[med[0], cur[0]] + d[med[1], cur[1]] > d[med[1], cur[0]] + d[med[0], cur[1]]:
            med = med[::-1].copy()
        key = (int(med[0]), int(med[1]))
        if med[0] == med[1] or key in tried:
            continue
        tried.add(key)
        best = _split_around(p, units, reps, w, d, med, cfg, seed, best)
    if best[1] is None:
        return None
    new_plan = plan.copy()
    new_plan[units] = reps[best[1]]
    new_bases = bases.copy()
    new_bases[[a, b]] = units[best[2]]
    return new_plan, new_bases



def _pair_median(p: AssignProblem, units: np.ndarray, reps: np.ndarray, w: np.ndarray,
                 d: np.ndarray, cfg: Solver, seed: int) -> Medians | None:
    """The banded 2-median of a pair's units (None: bands unlike, too many units, no answer)."""
    loads = _same_bands(p, reps)
    if loads is None or len(units) > PAIR_MEDIAN_UNITS:
        return None
    sub = [(load[units], low, high) for load, low, high in loads]
    return banded_medians(d, w, sub, 2, cfg, seed=seed,
                          time_limit=min(cfg.time_limit / 2, PAIR_MEDIAN_SECONDS))

def _pair_sweep(p: AssignProblem, plan: np.ndarray, bases: np.ndarray, weight: np.ndarray,
                distance: UnitDistance, budget: _Budget, seed: int
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """Re-split every pair of neighbouring territories once; keep the splits that cut travel."""
    if not _inert(p.disruption):
        return plan, bases, 0  # a cap on moved accounts is global: pairs cannot see it
    kept = 0
    touched: set[int] = set()
    for a, b in _territory_pairs(p, plan, bases, distance):
        if a in touched or b in touched:
            continue  # each territory changes at most once per sweep (pairs stay adjacent)
        cfg = budget.solver(cap=PAIR_SHARE * budget.cfg.time_limit)
        if cfg is None:
            log.info("free centres: time is up; the pair sweep stops")
            break
        out = _resplit(p, plan, bases, a, b, weight, distance, cfg, seed)
        if out is not None:
            plan, bases = out
            touched |= {a, b}
            kept += 1
    return plan, bases, kept


def _consistent(res: AssignResult, plan: np.ndarray, p: AssignProblem,
                same_bases: bool) -> AssignResult:
    """The result of the plan kept: objective of that plan; a bound only if solved for these bases."""
    if same_bases and np.array_equal(res.rep_of_unit, plan):
        return res
    # a plan kept for moved bases has no bound for them: it is feasible, not proven optimal
    keep = {} if same_bases else {"bound": None, "gap": None, "lp_bound": None,
                                  "status": "feasible"}
    return dataclasses.replace(res, rep_of_unit=np.asarray(plan),
                               objective=plan_travel(p.effective_cost, plan), **keep)


def _one_start(problem: AssignProblem, weight: np.ndarray, distance: UnitDistance, cfg: Solver, *,
               bases: np.ndarray | None = None, seed: int = 0, max_rounds: int = 30,
               rel_tol: float = 1e-4, pair_sweeps: int = 3,
               unit_xy: np.ndarray | None = None, relax_first: bool = True,
               polish: bool = True, resume: CentresResult | None = None) -> CentresResult:
    """One alternation (steps 1-4 of the module docstring) from one set of bases.

    The arguments are :func:`free_centres`'s; ``cfg.time_limit`` is this start's budget.
    ``resume``: go on from that result's plan and bases (its travel so far kept).
    """
    if resume is not None:
        return _alternate(problem, weight, distance, _Budget.start(cfg), resume, seed=seed,
                          max_rounds=max_rounds, rel_tol=rel_tol, pair_sweeps=pair_sweeps,
                          unit_xy=unit_xy, polish=polish)
    start = problem.roots if bases is None else bases
    if start is None:
        raise InputError("free_centres needs starting bases (problem.roots or bases=)")
    budget = _Budget.start(cfg)
    seeded = np.asarray(start, dtype=np.int64)
    # with no explicit bases the first allocation is the problem as given (its own costs)
    firsts = [(seeded, problem if bases is None else
               _with_bases(problem, weight, distance, seeded, unit_xy))]
    relaxed_travel: tuple[float, ...] = ()
    if problem.contiguity and relax_first:
        b, relaxed_travel = _locate_relaxed(problem, weight, distance, cfg, seeded, seed,
                                            max_rounds, rel_tol, unit_xy, bases is None)
        moved = (b, _with_bases(problem, weight, distance, b, unit_xy))
        firsts = [moved] if np.array_equal(b, seeded) else [moved, *firsts]
    res, plan, b, p = _first_allocation(firsts, budget, seed)
    if res is not None and res.roots is not None:  # the solve had to re-root: bases follow
        b = np.asarray(res.roots, dtype=np.int64)
        p = _with_bases(problem, weight, distance, b, unit_xy)
    first = CentresResult(res, np.asarray(plan), b, p, (plan_travel(p.cost, plan),), (),
                          relaxed_travel)
    log.info("free centres: round 1, travel %.6g", first.travel[0])
    return _alternate(problem, weight, distance, budget, first, seed=seed, max_rounds=max_rounds,
                      rel_tol=rel_tol, pair_sweeps=pair_sweeps, unit_xy=unit_xy, polish=polish)


def _first_allocation(firsts: list[tuple[np.ndarray, AssignProblem]], budget: _Budget,
                      seed: int) -> tuple[AssignResult | None, np.ndarray, np.ndarray,
                                          AssignProblem]:
    """The first allocation, in ``FIRST_SHARE`` of the budget left: (result, plan, bases, problem).

    ``firsts`` holds the bases to allocate for, each with its problem: the
    relaxed phase's, then the seeded ones they moved from. When an attempt runs
    out of time without a plan, the allocation is solved again from scratch
    with the next seed: for the seeded bases when the relaxed phase moved them
    (in ``FIRST_SHARE`` of what is left, so the alternation can still move
    them, then once more with all of the rest), else for the same bases with
    all of the rest.

    Why the seeded bases (measured on the 5,000-account lower-48 book, 2,241
    units x 58 reps, 60 s): retrying the relaxed phase's bases with other
    seeds was not enough, one bench run still ended NO PLAN IN TIME with 59.9 s
    spent; where a captured allocation for such bases stayed outside a band,
    the reps outside were the three of the Pacific Northwest, with every
    bordering territory at its floor of TAM or of account units. From the
    seeded (k-means, balanced) bases the first allocation met the bands after
    8.1 s. Why from scratch: a search cut off after 1.5 s and continued from
    its best plan (8 reps outside a band) still had 3 outside after 44 s, for
    seeds 0 and 1, where from scratch the same bases met the bands after about
    4 s.
    """
    tries = [(firsts[0], FIRST_SHARE)] + (
        [(firsts[-1], FIRST_SHARE), (firsts[-1], 1.0)] if len(firsts) > 1 else [(firsts[0], 1.0)])
    for attempt, ((b, p), share) in enumerate(tries[:-1]):
        # a retry starts only with 2 s left, so only the first can find the budget spent
        step = budget.solver(share, loose=True) or budget.cfg
        try:
            res, plan = _allocate(p, step, seed + attempt, None)
            return res, plan, b, p
        except InfeasibleError as exc:
            if not exc.timed_out or budget.left() < 2 * MIN_SOLVE_SECONDS:
                raise
            log.info("free centres: the first allocation found no plan in its %.1f s; solving "
                     "it again %swith seed %d (%.1f s left)", step.time_limit,
                     "for the seeded bases " if tries[attempt + 1][0][0] is not b else "",
                     seed + attempt + 1, budget.left())
    (b, p), share = tries[-1]
    res, plan = _allocate(p, budget.solver(share, loose=True) or budget.cfg, seed + len(tries) - 1,
                          None)
    return res, plan, b, p


def _alternate(problem: AssignProblem, weight: np.ndarray, distance: UnitDistance,
               budget: _Budget, at: CentresResult, *, seed: int, max_rounds: int,
               rel_tol: float, pair_sweeps: int, unit_xy: np.ndarray | None,
               polish: bool) -> CentresResult:
    """Steps 1-4 of the module docstring from the plan and bases of ``at``."""
    cfg = budget.cfg
    res, plan, b, p = at.result, np.asarray(at.rep_of_unit), np.asarray(at.bases), at.problem
    travel, moved = list(at.travel), list(at.moved_bases)
    sweeps = 0
    while len(travel) < max_rounds:
        if budget.left() < MIN_SOLVE_SECONDS:
            log.info("free centres: the time budget (%.0f s) is used up after %d allocations",
                     cfg.time_limit, len(travel))
            break
        nb = weighted_medoids(plan, weight, distance, p.n_reps, fallback=b)
        stalled = np.array_equal(nb, b) or (len(travel) > 1 and
                                            travel[-1] >= travel[-2] * (1 - rel_tol))
        if stalled:
            # the alternation is at a local optimum: re-split neighbouring pairs, leaving
            # the polish its share (a plan re-split to the last second has no bound: the
            # 5,000-account national book ended "feasible", gap unknown, after a sweep)
            if sweeps >= pair_sweeps or (polish and budget.left() < POLISH_SHARE
                                         * cfg.time_limit + MIN_SOLVE_SECONDS):
                break
            sweeps += 1
            plan, nb, kept = _pair_sweep(p, plan, b, weight, distance, budget, seed)
            if not kept:
                break
            p = _with_bases(problem, weight, distance, nb, unit_xy)
            moved.append(int((nb != b).sum()))
            b = nb
            res = _consistent(res, plan, p, False)
            travel.append(plan_travel(p.cost, plan))
            log.info("free centres: pair sweep %d re-split %d pairs, travel %.6g", sweeps, kept,
                     travel[-1])
            if travel[-1] > travel[-2] * (1 - PAIR_SWEEP_TOL):
                sweeps = pair_sweeps  # too little for another sweep's time
            continue
        np_ = _with_bases(problem, weight, distance, nb, unit_xy)
        step = budget.solver(0.5, loose=True)
        if step is None:
            break
        nres, nplan = _allocate(np_, step, seed, plan)
        if nres is not None and nres.roots is not None:
            nb = np.asarray(nres.roots, dtype=np.int64)
            np_ = _with_bases(problem, weight, distance, nb, unit_xy)
        t = plan_travel(np_.cost, nplan)
        log.info("free centres: round %d, %d bases moved, travel %.6g", len(travel) + 1,
                 int((nb != b).sum()), t)
        moved.append(int((nb != b).sum()))
        b, p, plan = nb, np_, nplan
        res = _consistent(nres if nres is not None else res, plan, p, nres is not None)
        travel.append(t)
    if polish:
        res, plan = _polish(p, res, plan, budget, seed)
    return CentresResult(res, np.asarray(plan), b, p, tuple(travel), tuple(moved),
                         at.relaxed_travel)


def spread_bases(weight: np.ndarray, distance: UnitDistance, n_reps: int,
                 rng: np.random.Generator) -> np.ndarray:
    r"""Bases drawn k-means++ style: far from each other, where the weight is.

    The first base is drawn with probability :math:`\propto w_u`, each next one
    with probability :math:`\propto w_u\, d(u, B)^2` (:math:`B` the bases drawn
    so far), so a restart explores another placement of the territories than
    the k-means seed's. One column of ``distance`` per base.

    Returns
    -------
    numpy.ndarray
        ``(n_reps,)`` distinct unit indices.
    """
    w = np.clip(np.asarray(weight, dtype=float), 0.0, None)
    n = len(w)
    if n_reps > n:
        raise InputError(f"spread_bases: {n_reps} bases for {n} units")
    every = np.arange(n)
    p = w / w.sum() if w.sum() > 0 else np.full(n, 1.0 / n)
    out = [int(rng.choice(n, p=p))]
    near = np.asarray(distance(every, np.array(out)), dtype=float)[:, 0]
    for _ in range(n_reps - 1):
        score = w * near ** 2
        score[out] = 0.0
        if score.sum() <= 0:  # every unit coincides with a base: the first free index
            pick = int(np.setdiff1d(every, out)[0])
        else:
            pick = int(rng.choice(n, p=score / score.sum()))
        out.append(pick)
        near = np.minimum(near, np.asarray(distance(every, np.array([pick])), float)[:, 0])
    return np.array(out, dtype=np.int64)


def free_centres(problem: AssignProblem, weight: np.ndarray, distance: UnitDistance, cfg: Solver, *,
                 bases: np.ndarray | None = None, seed: int = 0, max_rounds: int = 30,
                 rel_tol: float = 1e-4, pair_sweeps: int = 3, restarts: int = RESTARTS,
                 unit_xy: np.ndarray | None = None, relax_first: bool = True,
                 polish: bool = True) -> CentresResult:
    """Alternate allocation (the assignment model) and location (weighted medoids), from
    the given bases and from ``restarts`` spread ones; keep the plan of least travel.

    Parameters
    ----------
    problem
        The assignment problem; its ``roots`` are the starting bases unless
        ``bases`` is given. Its ``cost`` must be ``weight * distance`` to the
        bases (it is rebuilt that way for every new set of bases).
    weight, distance
        Unit weights and travel between units (see :func:`euclidean_distance`).
    cfg
        The solver, passed to :func:`territory.optimize.solve`; its ``time_limit``
        is the budget of the whole call, every start included (see the module docstring).
    bases
        ``(m,)`` starting base unit per rep (default: ``problem.roots``).
    seed
        Seeds the solver and the restarts' bases (:func:`spread_bases`, drawn from
        ``numpy.random.default_rng([seed, i])`` for restart ``i``).
    max_rounds, rel_tol
        At most this many allocations and pair sweeps per start; the alternation has
        stalled when travel improves by less than ``rel_tol`` (relative).
    pair_sweeps
        At most this many pair sweeps per start (0: the plain alternation).
    restarts
        Further starts from spread bases (0: only the given bases). Off with
        locks or a current alignment that is capped or priced (the reps are
        not interchangeable there)
        and above ``RESTART_MAX_PAIRS`` units x reps.
    unit_xy
        Unit points, to recompute the compactness term when it is on.
    relax_first
        With contiguity, first move the bases by the alternation without
        contiguity (see the module docstring), then go on with it.
    polish
        Solve the final bases' allocation to ``cfg.mip_gap`` (the alternation's
        allocations stop at ``ALTERNATION_GAP``).

    Returns
    -------
    CentresResult
        The best start's plan; ``starts`` holds every start's final travel.
    """
    kw = dict(seed=seed, max_rounds=max_rounds, rel_tol=rel_tol, pair_sweeps=pair_sweeps,
              unit_xy=unit_xy, relax_first=relax_first)
    if (problem.locks or not _inert(problem.disruption)
            or problem.n_units * problem.n_reps > RESTART_MAX_PAIRS):
        restarts = 0
    if restarts <= 0:
        out = _one_start(problem, weight, distance, cfg, bases=bases, polish=polish, **kw)
        return dataclasses.replace(out, starts=(out.travel[-1],))
    if (problem.roots if bases is None else bases) is None:
        raise InputError("free_centres needs starting bases (problem.roots or bases=)")
    budget = _Budget.start(cfg)
    starts = [bases] + [spread_bases(weight, distance, problem.n_reps,
                                     np.random.default_rng([seed, i]))
                        for i in range(1, restarts + 1)]
    whole = _whole_median(problem, weight, distance, cfg, seed)
    if whole is not None:  # the banded p-median's centres: the first restart
        starts.insert(1, whole.centres)
    if problem.contiguity and relax_first:
        # screen every start by the cheap alternation without contiguity, keep the best few
        located = _screen(problem, weight, distance, budget, starts, kw)
        keep = sorted(range(len(starts)), key=lambda i: located[i][1][-1] if located[i][1]
                      else np.inf)[:CONTIGUOUS_STARTS]
        # the given bases always go on (the plan of a single start stays a candidate)
        runs = [(i, located[i][0], {"relax_first": False}) for i in sorted(set(keep) | {0})]
    else:
        runs = [(i, b, {}) for i, b in enumerate(starts)]
        located = [((), ())] * len(starts)
    best, finals, error = None, [float("nan")] * len(starts), None
    starts_end = budget.deadline - (1 - STARTS_SHARE) * cfg.time_limit
    for k, (i, b, extra) in enumerate(runs):
        # the starts' share of the budget, what is left of it shared by the runs to go
        limit = (starts_end - time.monotonic()) / (len(runs) - k)
        if limit < 2 * MIN_SOLVE_SECONDS and best is not None:
            log.info("free centres: no time for start %d", i)
            break
        if best is not None and not _may_gain(located[i][1], best.travel[-1]):
            if not located[i][1]:  # its screening found no plan without contiguity in time
                log.info("free centres: start %d skipped: no plan without contiguity in its "
                         "screening", i)
            else:
                log.info("free centres: start %d skipped: its travel without contiguity "
                         "(%.6g) is not %.0f%% below the plan in hand (%.6g)", i,
                         located[i][1][-1], 100 * RESTART_MIN_GAIN, best.travel[-1])
            continue
        step = dataclasses.replace(cfg, time_limit=max(limit, MIN_SOLVE_SECONDS))
        try:  # pair sweeps only for the best start (below): they cost more than a start
            out = _one_start(problem, weight, distance, step, bases=b, polish=False,
                             **dict(kw, pair_sweeps=0, **extra))
        except InfeasibleError as exc:  # another start may still find a plan
            log.info("free centres: start %d found no plan (%s)", i, exc)
            error = error or exc
            continue
        if located[i][1]:
            out = dataclasses.replace(out, relaxed_travel=located[i][1])
        finals[i] = out.travel[-1]
        log.info("free centres: start %d ended at travel %.6g", i, out.travel[-1])
        if best is None or out.travel[-1] < best.travel[-1] * (1 - 1e-9):
            best = dataclasses.replace(out, start=i)
    if best is None and budget.left() >= 2 * MIN_SOLVE_SECONDS:
        # no start found a plan in its share: the given bases get the rest of the budget
        log.info("free centres: no start found a plan; the given bases get the time left")
        best = _one_start(problem, weight, distance,
                          dataclasses.replace(cfg, time_limit=budget.left()), bases=bases,
                          polish=False, **kw)
    if best is None:
        raise error if error is not None else InfeasibleError("free centres: no start found a plan")
    winner = best.start
    # the pair sweeps found next to nothing on the bench's best starts (the restarts did
    # the work) and took 12-21 s of the 800-account national book's 60 s: a bounded share
    left = min(budget.left() - (POLISH_SHARE * cfg.time_limit if polish else 0.0),
               PAIR_PHASE_SHARE * cfg.time_limit)
    if pair_sweeps > 0 and left >= 2 * MIN_SOLVE_SECONDS:
        best = _one_start(problem, weight, distance, dataclasses.replace(cfg, time_limit=left),
                          polish=False, resume=best, **kw)
    res, plan = best.result, best.rep_of_unit
    if polish:
        res, plan = _polish(best.problem, res, plan, budget, seed)
    return dataclasses.replace(best, result=res, rep_of_unit=np.asarray(plan),
                               starts=tuple(finals), start=winner,
                               medoid_bound=None if whole is None else whole.bound)


def _whole_median(problem: AssignProblem, weight: np.ndarray, distance: UnitDistance,
                  cfg: Solver, seed: int) -> Medians | None:
    """The banded p-median of every unit (``MEDIAN_SHARE`` of the budget), when it is small."""
    loads = _same_bands(problem, np.arange(problem.n_reps))
    if loads is None or problem.n_units > MEDIAN_UNITS:
        return None
    every = np.arange(problem.n_units)
    out = banded_medians(np.asarray(distance(every, every), float), np.asarray(weight, float),
                         loads, problem.n_reps, cfg, seed=seed,
                         time_limit=MEDIAN_SHARE * cfg.time_limit)
    if out is not None:
        log.info("free centres: banded %d-median of the %d units: %.6g (bound %.6g)",
                 problem.n_reps, problem.n_units, out.objective, out.bound)
    return out



def _may_gain(relaxed_travel: tuple[float, ...], best: float) -> bool:
    """Can a start whose alternation without contiguity ended at ``relaxed_travel[-1]``
    beat the contiguous plan of travel ``best`` by ``RESTART_MIN_GAIN``?

    Contiguity only adds rows, so a start's travel without it is about the least it
    reaches with it (the alternation is a heuristic, so "about"). Measured on the
    800-account national book: the best screened start was 0.24% below the given
    bases' contiguous plan (4,185 vs 4,195) and ended above it (4,205) after 3-5 s.
    """
    return bool(relaxed_travel) and relaxed_travel[-1] < best * (1 - RESTART_MIN_GAIN)


def _screen(problem: AssignProblem, weight: np.ndarray, distance: UnitDistance,
            budget: _Budget, starts: list, kw: dict) -> list[tuple[np.ndarray, tuple]]:
    """Each start's bases and travel by round after the alternation without contiguity.

    The screening gets ``SCREEN_SHARE`` of the budget, shared by the starts; a
    start whose relaxed model has no plan keeps its bases and an empty travel.
    """
    end = time.monotonic() + SCREEN_SHARE * budget.cfg.time_limit
    out = []
    for i, b in enumerate(starts):
        limit = max((end - time.monotonic()) / (len(starts) - i), MIN_SOLVE_SECONDS)
        as_given = b is None
        b0 = np.asarray(problem.roots if as_given else b, dtype=np.int64)
        out.append(_locate_relaxed(problem, weight, distance,
                                   dataclasses.replace(budget.cfg, time_limit=limit), b0,
                                   kw["seed"], kw["max_rounds"], kw["rel_tol"], kw["unit_xy"],
                                   as_given, share=1.0))
    return out

def _locate_relaxed(problem: AssignProblem, weight: np.ndarray, distance: UnitDistance,
                    cfg: Solver, bases: np.ndarray, seed: int, max_rounds: int, rel_tol: float,
                    unit_xy: np.ndarray | None, as_given: bool, share: float = RELAXED_SHARE
                    ) -> tuple[np.ndarray, tuple[float, ...]]:
    """Bases (and travel by round) of the alternation without contiguity (``share`` of
    ``cfg.time_limit``)."""
    relaxed = dataclasses.replace(problem, contiguity=False)
    # LNS at the alternation's loose gap answers in a fraction of a second (its LP
    # rounding, repaired, is within 1.5% on the 800-account national book) where the
    # whole MIP took 6 s to its first plan
    step = dataclasses.replace(cfg, time_limit=share * cfg.time_limit,
                               engine="lns" if cfg.engine == "auto" else cfg.engine)
    try:
        loc = _one_start(relaxed, weight, distance, step, bases=None if as_given else bases,
                         seed=seed, max_rounds=max_rounds, rel_tol=rel_tol, pair_sweeps=0,
                         unit_xy=unit_xy, relax_first=False, polish=False)
    except InfeasibleError as exc:  # the contiguous model will say what is wrong
        log.info("free centres: no plan without contiguity (%s); bases stay", exc)
        return bases, ()
    log.info("free centres: %d allocations without contiguity moved %d bases, travel %.6g",
             loc.rounds, int((loc.bases != bases).sum()), loc.travel[-1])
    return loc.bases, loc.travel


def _polish(p: AssignProblem, res: AssignResult, plan: np.ndarray, budget: _Budget,
            seed: int) -> tuple[AssignResult, np.ndarray]:
    """The final bases' allocation to the solver's own gap, from the last plan, in the time left."""
    target = budget.cfg.mip_gap
    if res.gap is not None and res.gap <= target and np.array_equal(res.rep_of_unit, plan):
        return res, plan
    step = budget.solver(1.0, cap=POLISH_SHARE * budget.cfg.time_limit)
    if step is None:
        return res, plan
    log.info("free centres: final allocation to a %.2g gap with %.1f s left", target,
             step.time_limit)
    nres, nplan = _allocate(p, step, seed, plan)
    if nres is None:
        return res, plan
    return _consistent(nres, nplan, p, True), nplan
