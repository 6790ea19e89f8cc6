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
    allocation ``FIRST_SHARE`` of what is left, every later allocation half of
    what is left, every pair sub-problem at most ``PAIR_SHARE`` and the polish
    at most ``POLISH_SHARE`` of the budget; the alternation stops (keeping its
    best plan) when less than ``MIN_SOLVE_SECONDS`` is left. Each allocation
    starts from the last plan (:func:`territory.optimize.solve`'s ``start``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InfeasibleError, InputError
from .backends import Solver
from .problem import AssignProblem, AssignResult, Disruption, check_plan, inertia_cost
from .solve import solve

__all__ = ["CentresResult", "euclidean_distance", "free_centres", "plan_travel",
           "weighted_medoids"]

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
    """

    result: AssignResult
    rep_of_unit: np.ndarray
    bases: np.ndarray
    problem: AssignProblem
    travel: tuple[float, ...]
    moved_bases: tuple[int, ...]
    relaxed_travel: tuple[float, ...] = ()

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


#: random starts of the 2-medoid search per pair, besides the current bases
PAIR_STARTS = 3


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

    The 2-medoid search starts from the current bases and from ``PAIR_STARTS``
    seeded random pairs of the merged units (a local optimum of the whole plan
    is often one of the pair's too).
    """
    units = np.flatnonzero((plan == a) | (plan == b))
    reps = np.array([a, b])
    w = np.asarray(weight, float)[units]
    d = distance(units, units)
    local = {int(u): i for i, u in enumerate(units)}
    cur = np.array([local[int(bases[a])], local[int(bases[b])]])
    before = float((w * d[np.arange(len(units)), cur[(plan[units] == b).astype(int)]]).sum())
    rng = np.random.default_rng([seed, a, b])
    starts = [cur] + [rng.choice(len(units), 2, replace=False) for _ in range(PAIR_STARTS)]
    best: tuple = (before, None, None)
    tried: set[tuple[int, int]] = {(int(cur[0]), int(cur[1]))}
    for start in starts:
        med = _two_medoids(units, w, d, start)
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


def _pair_sweep(p: AssignProblem, plan: np.ndarray, bases: np.ndarray, weight: np.ndarray,
                distance: UnitDistance, budget: _Budget, seed: int
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """Re-split every pair of neighbouring territories once; keep the splits that cut travel."""
    if p.disruption is not None:
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


def free_centres(problem: AssignProblem, weight: np.ndarray, distance: UnitDistance, cfg: Solver, *,
                 bases: np.ndarray | None = None, seed: int = 0, max_rounds: int = 30,
                 rel_tol: float = 1e-4, pair_sweeps: int = 3,
                 unit_xy: np.ndarray | None = None, relax_first: bool = True,
                 polish: bool = True) -> CentresResult:
    """Alternate allocation (the assignment model) and location (weighted medoids).

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
        is the budget of the whole alternation (see the module docstring).
    bases
        ``(m,)`` starting base unit per rep (default: ``problem.roots``).
    max_rounds, rel_tol
        At most this many allocations and pair sweeps; the alternation has
        stalled when travel improves by less than ``rel_tol`` (relative).
    pair_sweeps
        At most this many pair sweeps (0: the plain alternation).
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
    """
    start = problem.roots if bases is None else bases
    if start is None:
        raise InputError("free_centres needs starting bases (problem.roots or bases=)")
    budget = _Budget.start(cfg)
    b = np.asarray(start, dtype=np.int64)
    relaxed_travel: tuple[float, ...] = ()
    if problem.contiguity and relax_first:
        b, relaxed_travel = _locate_relaxed(problem, weight, distance, cfg, b, seed, max_rounds,
                                            rel_tol, unit_xy, bases is None)
        bases = b
    # with no explicit bases the first allocation is the problem as given (its own costs)
    p = problem if bases is None else _with_bases(problem, weight, distance, b, unit_xy)
    res, plan = _allocate(p, budget.solver(FIRST_SHARE, loose=True) or cfg, seed, None)
    if res is not None and res.roots is not None:  # the solve had to re-root: bases follow
        b = np.asarray(res.roots, dtype=np.int64)
        p = _with_bases(problem, weight, distance, b, unit_xy)
    travel = [plan_travel(p.cost, plan)]
    moved: list[int] = []
    sweeps = 0
    log.info("free centres: round 1, travel %.6g", travel[0])
    while len(travel) < max_rounds:
        if budget.left() < MIN_SOLVE_SECONDS:
            log.info("free centres: the time budget (%.0f s) is used up after %d allocations",
                     cfg.time_limit, len(travel))
            break
        nb = weighted_medoids(plan, weight, distance, p.n_reps, fallback=b)
        stalled = np.array_equal(nb, b) or (len(travel) > 1 and
                                            travel[-1] >= travel[-2] * (1 - rel_tol))
        if stalled:
            # the alternation is at a local optimum: re-split neighbouring pairs
            if sweeps >= pair_sweeps:
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
                         relaxed_travel)


def _locate_relaxed(problem: AssignProblem, weight: np.ndarray, distance: UnitDistance,
                    cfg: Solver, bases: np.ndarray, seed: int, max_rounds: int, rel_tol: float,
                    unit_xy: np.ndarray | None, as_given: bool
                    ) -> tuple[np.ndarray, tuple[float, ...]]:
    """Bases (and travel by round) of the alternation without contiguity (``RELAXED_SHARE``)."""
    relaxed = dataclasses.replace(problem, contiguity=False)
    # LNS at the alternation's loose gap answers in a fraction of a second (its LP
    # rounding, repaired, is within 1.5% on the 800-account national book) where the
    # whole MIP took 6 s to its first plan
    step = dataclasses.replace(cfg, time_limit=RELAXED_SHARE * cfg.time_limit,
                               engine="lns" if cfg.engine == "auto" else cfg.engine)
    try:
        loc = free_centres(relaxed, weight, distance, step, bases=None if as_given else bases,
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
