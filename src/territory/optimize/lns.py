r"""Large instances: LP bound, warm start and large-neighbourhood search on the same model.

The model is the one of :mod:`territory.optimize.formulation` (without the
disruption cap), solved in highspy from arrays.

Strategy
    1. **LP relaxation with pricing** (:func:`territory.optimize.lp.lp_relaxation`):
       the bound of the unpruned model, and the pairs the LP asks for.
    2. **Warm start.** Each unit to its largest LP share (whole for all but a
       few units); greedy band repair over the candidate pairs; with
       contiguity, stray pieces go to a neighbouring territory and a
       connected band repair follows (single moves, then chains of moves
       through bordering territories to a rep with room in the band).
    3. **Repair and large-neighbourhood search** (fix-and-optimise). Repeatedly
       pick a rep (breaching reps first, then a seeded random order), grow a
       group of reps that share candidate units (or a border) with it, free
       every unit of the group and re-solve that sub-MIP exactly (bands hard
       once the plan meets them, slack penalised while repairing), starting
       from the current plan. A move is kept only when it lowers the breach or
       the objective. With contiguity the sub-MIPs carry the flow rows, started
       from a BFS-tree flow, and a unit may go only to the group's reps whose
       territory lies within ``RING_HOPS`` hops of it (``REPAIR_RING_HOPS``
       while repairing): fewer pairs and flow arcs, a smaller big-M.
       Measured on the 800-account national book (644 units x 10 reps): with
       every rep of the group as a candidate of every unit, four repair
       sub-MIPs of 5 s each left a 0.025 breach and no plan; with rings of 2-3
       hops the first two met the bands and the search reached 0.49% in 8-12 s.
       Those small rings are the repair's (``REPAIR_RING_HOPS``); once the
       bands are met the rings are wider, so that two neighbouring territories
       can trade places (``RING_HOPS`` says by how much it pays).
       A repair sub-MIP ends at its first plan inside the bands (a HiGHS
       interrupt callback). Contiguity sub-MIPs are limited by
       ``SUB_MIP_NODES`` branch-and-bound nodes, with a time limit only as a
       safety net, so they do the same work on a loaded machine as on an idle
       one.
    4. **Hand-over.** When the search stalls with time left and the model is
       small enough, the incumbent is handed to HiGHS on the whole priced
       model to close or prove the gap. Without contiguity and up to
       ``EARLY_HAND_OVER_MAX_PAIRS`` pairs, with ``EARLY_HAND_OVER_MIN_SECONDS``
       left, the hand-over comes as soon as the bands are met, with no pair
       search first: the whole priced model is both better and faster there
       (the constants say by how much). The whole model keeps the incumbent
       unless it finds a better plan.

Randomness comes from ``numpy.random.default_rng(seed)`` only; ties are broken
by index and contiguity sub-MIPs stop by node counts and callbacks, not by the
clock, so with contiguity the same inputs and seed give the same plan whenever
the search ends by itself (target gap reached, or no group improves). Under a wall-clock limit the
number of sub-MIPs that fit depends on the machine; set
``Solver.lns_iterations`` for a run that is reproducible bit for bit.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .backends import Clock, Progress, Solver, solve_highs
from .contiguity import AdjacencyIndex
from .formulation import Formulation, build_formulation
from .lp import LPRelaxation, lp_relaxation, phase1_penalty
from .problem import AssignProblem, AssignResult
from .repair import PlanScore, greedy_band_repair, lp_rounding

__all__ = ["solve_lns"]

log = logging.getLogger(__name__)

#: share of the time budget LNS may spend repairing band breaches before the full model takes over
REPAIR_SHARE = 0.45
#: with contiguity, groups grow to at most this many reps before the search ends
MAX_GROUP_CONTIGUOUS = 4
#: with contiguity (and no start plan to fall back on) the repair may use this share: the
#: whole contiguous model it would hand over to found no plan in 7-15 s on 644 x 10, while
#: the repair of 2,241 units x 58 reps was still lowering the breach (0.51 -> 0.26) at 45%
REPAIR_SHARE_CONTIGUOUS = 0.9
#: with a feasible start plan to fall back on, the repair of the LP's plan gets this share
FALLBACK_REPAIR_SHARE = 0.25
#: sub-MIP time limit (s) and relative gap
SUB_MIP_SECONDS = 0.25
SUB_MIP_GAP = 1e-4
#: branch-and-bound nodes per sub-MIP (the limit that repeats on every machine)
SUB_MIP_NODES = 200
#: with contiguity the sub-MIP time limit is this multiple of 4 x SUB_MIP_SECONDS, a safety
#: net only (without, the measured 0.25 s limits stay: many small sub-MIPs at national scale)
SUB_MIP_SAFETY = 8.0
#: contiguity sub-MIPs: a unit may go to a rep of the group only within this many hops
#: (inside the group) of that rep's territory; the current plan always stays representable.
#: Wide enough for two neighbours to trade places: on the 5,000-account lower-48 book
#: (2,241 units x 58 reps, the first contiguous allocation, 27 s, 1 thread) the Miami
#: rep's territory ran up to Orlando while the LP gives it Miami only, and undoing that
#: moves 25 units past a neighbour; with rings of 3 hops LNS ended at 3,399.7 (10.3%
#: above the LP bound), with 4 at 3,284.2, with 5, 6 or no limit at 3,263.2 (6.6%)
RING_HOPS = 6
#: while repairing band breaches: small rings, so the sub-MIP reaches a plan in the bands fast
REPAIR_RING_HOPS = 2
#: with contiguity, the warm start's connected band repair gets at most this share of
#: the time left
CONNECTED_REPAIR_SHARE = 0.2
#: hand the incumbent to the full HiGHS MIP only below this many columns
FULL_MIP_MAX_PAIRS = 150_000
#: without contiguity, hand over as soon as the bands are met (no pair search first) up to
#: this many priced pairs. Pair sub-MIPs move units between a few reps at a time, while a
#: region short of TAM needs many reps to shift at once, which the whole model does in one
#: solve; on large models the whole MIP is too slow to pay. Measured (Dec 2026, 2 cores,
#: gap to the LP bound, search then hand-over on a stall vs hand-over at once): the
#: 5,000-account lower-48 book (2,241 units x 58 reps, 14,204 pairs) 2.8% at 60 s vs
#: 0.63% in 9.2 s. Around 30,000 pairs it depends on the instance: synthetic
#: 3,000 x 60 (28,833) 6.78% vs 2.41% at 60 s, but 5,000 ZIPs x 100 (29,566) 1.00% in
#: 17.2 s vs 1.05% in 28.5 s and 611 MB instead of 352 MB; larger, the pair search wins:
#: synthetic 4,000 x 100 (43,742) 2.75% vs 2.87% at 60 s, 8,000 x 200 (117,013) 3.29% vs
#: 5.64% at 120 s. So the early hand-over stops below both ~30,000-pair cases.
EARLY_HAND_OVER_MAX_PAIRS = 25_000
#: ... and only with at least this many seconds left once the bands are met: the whole MIP
#: needs its LP and several seconds of heuristics before its first good plan (6.9 s on the
#: 5,000-account book), while the pair search improves from its first sub-MIP: with the
#: 1.4 s of that book's third free-centres round (same bases) the pair search reached
#: 3,293, the whole model 3,410.
EARLY_HAND_OVER_MIN_SECONDS = 10.0


@dataclass
class RepNeighbours:
    """Reps x reps link weights (shared candidate units, or shared borders)."""

    weight: sp.csr_matrix

    @classmethod
    def from_pairs(cls, n: int, m: int, pu: np.ndarray, pr: np.ndarray) -> RepNeighbours:
        inc = sp.csr_matrix((np.ones(len(pu)), (pu, pr)), shape=(n, m))
        w = (inc.T @ inc).tocsr()
        w.setdiag(0)
        w.eliminate_zeros()
        return cls(w)

    def grow(self, seed_rep: int, size: int, rng: np.random.Generator) -> np.ndarray:
        """A group of ``size`` linked reps around ``seed_rep`` (strongest link first)."""
        group = [seed_rep]
        score = np.zeros(self.weight.shape[0])
        in_group = np.zeros(self.weight.shape[0], dtype=bool)
        in_group[seed_rep] = True
        row = self.weight.getrow(seed_rep)
        score[row.indices] += row.data
        while len(group) < size:
            cand = np.flatnonzero((score > 0) & ~in_group)
            if cand.size == 0:
                break
            # a little seeded noise varies the groups
            nxt = int(cand[np.argmax(score[cand] * (1.0 + 0.3 * rng.random(cand.size)))])
            group.append(nxt)
            in_group[nxt] = True
            row = self.weight.getrow(nxt)
            score[row.indices] += row.data
        return np.array(sorted(group), dtype=np.int64)


def restrict(p: AssignProblem, score: PlanScore, units: np.ndarray, reps: np.ndarray, *,
             contiguity: AdjacencyIndex | None, soft: bool, penalty: float) -> AssignProblem:
    """The sub-problem of ``units`` among ``reps``: parent's band scales, objective folded in."""
    local = {int(u): i for i, u in enumerate(units)}
    rep_pos = {int(r): j for j, r in enumerate(reps)}
    fixed = p.locks if contiguity is not None else p.fixed
    locks = {local[u]: rep_pos[r] for u, r in fixed.items() if u in local and r in rep_pos}
    extra: dict = {}
    if contiguity is not None:
        extra = {"contiguity": True, "adjacency": contiguity.graph_of(p, units),
                 "roots": tuple(local[int(contiguity.roots[r])] for r in reps)}
    return AssignProblem(
        tuple(p.unit_ids[u] for u in units), tuple(p.rep_ids[r] for r in reps),
        score.tam[units], score.account_units[units], score.cost[np.ix_(units, reps)],
        np.asarray(p.tam_target)[reps], score.units_band.low[reps], score.units_band.high[reps],
        tam_tolerance=p.tam_tolerance, locks=locks, soft_tam=soft or p.soft_tam,
        soft_account_units=soft or p.soft_account_units, penalty=penalty,
        tam_scale=score.tam_band.scale, account_units_scale=score.units_band.scale, **extra)


def start_values(form: Formulation, sub: AssignProblem, rep_of: np.ndarray,
                 flows: dict[tuple[int, int, int], float] | None = None) -> np.ndarray:
    """Column values of a (local) plan: pairs, band slack at its breach, tree flows."""
    values = form.start(rep_of)
    score = PlanScore.of(sub)
    tam, au = score.loads(rep_of)
    for family, band, load in (("tam_band", score.tam_band, tam),
                               ("units_band", score.units_band, au)):
        for side, gap in (("under", band.low - load), ("over", load - band.high)):
            cols = form.slack.get(f"{family}_{side}")
            if cols is not None:
                values[cols] = np.maximum(gap, 0) / band.scale
    if flows:
        col = {tuple(a): form.flow_start + i for i, a in enumerate(form.flow_arcs.tolist())}
        for arc, f in flows.items():
            if arc in col:
                values[col[arc]] = f
    return values


def _meets_bands(form: Formulation):
    """Stop rule of a repair sub-MIP: the first plan with no band slack ends it."""
    cols = np.concatenate([c for c in form.slack.values()] or [np.zeros(0, np.int64)])

    def met(values: np.ndarray) -> bool:
        return cols.size > 0 and float(np.asarray(values)[cols].sum()) <= 1e-9

    return met


def whole_start(form: Formulation, p: AssignProblem, rep_of: np.ndarray) -> np.ndarray | None:
    """Column values of a plan for the whole (rooted) model, flows included.

    None when the model cannot hold the plan as a start: a pair outside the
    candidates, a root-free model, a territory in pieces, or a largest deviation
    above the model's cap (balance first).
    """
    rep_of = np.asarray(rep_of, dtype=np.int64)
    m = p.n_reps
    if len(form.root_pairs):
        return None
    if not np.isin(np.arange(p.n_units) * m + rep_of, form.pu * m + form.pr).all():
        return None
    flows = None
    if len(form.flow_arcs):
        index = AdjacencyIndex(p)
        if index.stray(rep_of).size:
            return None
        flows = {(r, a, b): f for r in range(m)
                 for (a, b), f in index.tree_flows(r, np.flatnonzero(rep_of == r)).items()}
    values = start_values(form, p, rep_of, flows)
    return _with_deviations(form, p, rep_of, values)


def _with_deviations(form: Formulation, p: AssignProblem, rep_of: np.ndarray,
                     values: np.ndarray) -> np.ndarray | None:
    """Fill the balance columns at the plan's deviations (the rows of ``_add_balance``):
    ``plus - minus = (load - target) / mean`` per rep, and ``z`` =
    :meth:`AssignProblem.largest_deviation`; None when ``z`` is above its cap."""
    for name, load_of, target in (("tam", p.tam, p.tam_target),
                                  ("units", p.account_units, p.account_units_target)):
        if name not in form.deviation_cols:
            continue
        target = np.asarray(target, float)
        mean = max(float(target.mean()), 1e-12)
        load = np.bincount(rep_of, weights=np.asarray(load_of, float), minlength=p.n_reps)
        plus, minus = form.deviation_cols[name]
        values[plus] = np.maximum(load - target, 0.0) / mean
        values[minus] = np.maximum(target - load, 0.0) / mean
    if form.max_deviation >= 0:
        largest = p.largest_deviation(rep_of)
        if largest > form.upper[form.max_deviation] + 1e-9:
            return None
        values[form.max_deviation] = largest
    return values


@dataclass
class _Search:
    """State of one LNS run: the incumbent, its breach and objective, the clock."""

    p: AssignProblem
    solver: Solver
    seed: int
    lp: LPRelaxation
    t_start: float
    deadline: float
    score: PlanScore = field(init=False)
    adjacency: AdjacencyIndex | None = field(init=False)
    progress: Progress = field(default_factory=lambda: Progress("LNS"))
    rep_of: np.ndarray = field(init=False)
    obj: float = field(init=False)
    breach: np.ndarray = field(init=False)
    iterations: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    #: a feasible plan to fall back on (the caller's start) while the LP's plan is repaired
    fallback: np.ndarray | None = None
    #: the caller's word on the hand-over: True forces, False forbids, None decides by size
    allow_hand_over: bool | None = None

    def __post_init__(self) -> None:
        self.score = PlanScore.of(self.p)
        self.adjacency = AdjacencyIndex(self.p) if self.p.contiguity else None
        self.starts = np.searchsorted(self.lp.pu, np.arange(self.p.n_units), side="left")
        self.ends = np.searchsorted(self.lp.pu, np.arange(self.p.n_units), side="right")
        self.repair_penalty = phase1_penalty(self.p)

    @property
    def early_hand_over(self) -> bool:
        """End the search once the bands are met: the whole model takes it from there."""
        return (self.adjacency is None and self.allow_hand_over is not False
                and len(self.lp.pu) <= EARLY_HAND_OVER_MAX_PAIRS)

    @property
    def repairing(self) -> bool:
        return bool((self.breach > 1e-9).any())

    def gap_of(self, obj: float) -> float:
        return (obj - self.lp.bound) / max(abs(obj), 1e-9)

    def _set(self, rep_of: np.ndarray) -> None:
        self.rep_of = rep_of
        self.obj, _ = self.score.objective(rep_of)
        self.breach = self.score.hard_breach(rep_of)

    def warm_start(self, start: np.ndarray | None = None) -> None:
        """LP rounding, greedy band repair, then (contiguity) stray and connected repair.

        A feasible ``start`` plan (e.g. the last plan of an alternation) is
        kept as the fallback: the search starts from it only when it beats a
        feasible LP warm start, or once the repair of the LP's plan has used
        its share of the budget. Measured on the 800-account national book
        (644 units x 10 reps, contiguity, bases moved to medoids): from the
        last plan LNS stalled at 2.25% above the LP bound in 20 s, from the
        repaired LP plan it reached 1.23% in the same 20 s; the last plan is a
        deep local optimum for pair moves.
        """
        t0 = time.perf_counter()
        rep_of = lp_rounding(self.score, self.lp)
        rep_of = greedy_band_repair(self.score, rep_of, self.lp.pu, self.lp.pr, self.deadline)
        if self.adjacency is not None:
            rep_of = self.adjacency.join_strays(self.score, rep_of)
            log.info("contiguity repair: %d stray units left", self.adjacency.stray(rep_of).size)
            # at most a share of the time left: LNS repairs what the greedy cannot
            until = t0 + CONNECTED_REPAIR_SHARE * (self.deadline - t0)
            rep_of = self.adjacency.connected_band_repair(self.score, rep_of, until)
        if start is not None and not self._rank(start)[0]:
            if self._rank(start) < self._rank(rep_of) and not self._rank(rep_of)[0]:
                log.info("warm start: the given start plan is better than the LP's; starting there")
                rep_of = np.asarray(start, dtype=np.int64).copy()
            else:
                self.fallback = np.asarray(start, dtype=np.int64).copy()
        self._set(rep_of)
        log.info("warm start: objective %.6g, %d reps outside a hard band (breach %.3g)%s",
                 self.obj, int((self.breach > 1e-9).sum()), self.breach.sum(),
                 "; the start plan is the fallback" if self.fallback is not None else "")
        if not self.repairing:
            self.progress.record(self.obj, self.lp.bound)
        self.timings["warm_start"] = time.perf_counter() - t0

    def take_fallback(self) -> bool:
        """Switch to the fallback plan when it beats the incumbent; True when switched."""
        fallback, self.fallback = self.fallback, None
        if fallback is None or self._rank(fallback) >= self._rank(self.rep_of):
            return False
        self._set(fallback)
        self.progress.record(self.obj, self.lp.bound)
        return True

    def _rank(self, rep_of: np.ndarray) -> tuple[bool, float, float]:
        """Order of candidate plans: feasible first, then smaller breach, then objective."""
        rep_of = np.asarray(rep_of, dtype=np.int64)
        breach = float(self.score.hard_breach(rep_of).sum())
        stray = self.adjacency.stray(rep_of).size if self.adjacency is not None else 0
        fixed = self.score.fixed
        locked = bool((rep_of[fixed >= 0] != fixed[fixed >= 0]).any())
        bad = breach > 1e-9 or stray > 0 or locked
        return bad, breach + stray + locked, self.score.objective(rep_of)[0]

    def run(self, group_size: int | None = None) -> None:
        """Fix-and-optimise over groups of reps until the gap, the limits or a stall."""
        t0 = time.perf_counter()
        rng = np.random.default_rng(self.seed)
        m = self.p.n_reps
        size = group_size or min(2, m)
        # contiguity sub-MIPs of more than a few reps rarely finish (flow rows per rep)
        largest = m if self.adjacency is None else min(m, max(size, MAX_GROUP_CONTIGUOUS))
        neighbours = RepNeighbours.from_pairs(self.p.n_units, m, self.lp.pu, self.lp.pr)
        order: list[int] = []
        stall = fails = 0
        # Measured on 5,000 ZIPs x 100 reps: when repair has not met the bands by this
        # point it rarely does, while the plain model reaches 0.5% with the time left.
        share = (FALLBACK_REPAIR_SHARE if self.fallback is not None
                 else REPAIR_SHARE_CONTIGUOUS if self.adjacency is not None else REPAIR_SHARE)
        repair_deadline = self.t_start + share * (self.deadline - self.t_start)
        while True:
            if (self.repairing and self.fallback is not None
                    and time.perf_counter() > repair_deadline and self.take_fallback()):
                log.info("LNS: bands still broken after %.0f%% of the time budget; going on "
                         "from the start plan", 100 * share)
            if not self._keep_going(repair_deadline):
                break
            repairing = self.repairing
            if repairing:
                bad = np.flatnonzero(self.breach > 1e-9)
                seed_rep = int(bad[rng.integers(bad.size)])
            else:
                order = order or rng.permutation(m).tolist()
                seed_rep = order.pop()
            want = min(m, 2 * size + fails) if repairing else size
            links = (RepNeighbours(self.adjacency.rep_weights(self.rep_of))
                     if self.adjacency is not None else neighbours)
            hops = REPAIR_RING_HOPS if repairing else RING_HOPS
            improved, lowered = self._try(links.grow(seed_rep, want, rng), repairing, hops)
            if repairing:
                fails = 0 if lowered else fails + 1
            stall = 0 if improved else stall + 1
            if stall >= m:  # a full pass without improvement: bigger neighbourhoods
                if size >= largest:
                    log.info("LNS: no improvement in a full pass with groups of %d reps; done",
                             size)
                    break
                size = min(largest, size + max(2, size // 2))
                log.info("LNS: no improvement in a full pass; groups of %d reps", size)
                stall = 0
        self.timings["lns"] = time.perf_counter() - t0

    def _keep_going(self, repair_deadline: float) -> bool:
        now = time.perf_counter()
        if now >= self.deadline - 0.05:
            return False
        if self.repairing and now > repair_deadline:
            log.info("LNS: bands still broken after the repair's share of the time budget")
            return False
        if (self.early_hand_over and not self.repairing
                and self.deadline - now >= EARLY_HAND_OVER_MIN_SECONDS):
            return False
        if not self.repairing and self.gap_of(self.obj) <= max(self.solver.mip_gap, 1e-9):
            return False
        limit = self.solver.lns_iterations
        return limit is None or self.iterations < limit

    def _try(self, group: np.ndarray, repairing: bool, hops: int) -> tuple[bool, bool]:
        """One sub-MIP over ``group``; keeps it when better. Returns (kept, breach lowered)."""
        limit = min(SUB_MIP_SECONDS * (5 if repairing else 1)
                    * (4 * SUB_MIP_SAFETY if self.adjacency is not None else 1),
                    max(self.deadline - time.perf_counter(), 0.05))
        new = self._sub_mip(group, repairing, limit, hops)
        self.iterations += 1
        if new is None:
            return False, False
        new_breach = self.score.hard_breach(new)
        new_obj, _ = self.score.objective(new)
        lowered = new_breach.sum() < self.breach.sum() - 1e-9
        better = lowered or (new_breach.sum() <= self.breach.sum() + 1e-12
                             and new_obj < self.obj - 1e-9 * max(1.0, abs(self.obj)))
        log.debug("sub-MIP %d: group %s, breach %.4g (was %.4g), objective %.6g (was %.6g)",
                  self.iterations, group.tolist(), new_breach.sum(), self.breach.sum(),
                  new_obj, self.obj)
        if better:
            self.rep_of, self.obj, self.breach = new, new_obj, new_breach
            if not self.repairing:
                self.progress.record(self.obj, self.lp.bound)
        return better, lowered

    def _sub_mip(self, group: np.ndarray, repairing: bool, limit: float,
                 hops: int = RING_HOPS) -> np.ndarray | None:
        """Re-solve every unit of ``group``'s reps among them, started at the plan."""
        units = np.flatnonzero(np.isin(self.rep_of, group))
        if units.size == 0 or (self.adjacency is not None and len(group) < 2):
            return None
        sub = restrict(self.p, self.score, units, group, contiguity=self.adjacency,
                       soft=repairing,
                       penalty=self.repair_penalty if repairing else self.p.penalty)
        pairs = self._local_pairs(units, group, hops)
        form = build_formulation(sub, pairs)
        local_plan = np.searchsorted(group, self.rep_of[units])
        flows = self._local_flows(units, group, local_plan) if self.adjacency else None
        run = solve_highs(form, self.solver, seed=self.seed + self.iterations, time_limit=limit,
                          gap=SUB_MIP_GAP, nodes=SUB_MIP_NODES,
                          start=start_values(form, sub, local_plan, flows),
                          stop=_meets_bands(form) if repairing else None)
        log.debug("sub-MIP %d: %s after %.2f s, %d nodes", self.iterations + 1, run.status,
                  run.seconds, run.highs.getInfo().mip_node_count if run.highs else -1)
        if run.values is None:
            return None
        new = self.rep_of.copy()
        new[units] = group[form.plan(run.values, len(units))]
        return new

    def _local_pairs(self, units: np.ndarray, group: np.ndarray, hops: int):
        if self.adjacency is not None:  # contiguity: each rep of the group, a ring around it
            local_plan = np.searchsorted(group, self.rep_of[units])
            near = self.adjacency.rings(units, local_plan, len(group), hops)
            lu, lr = np.nonzero(near)
            fixed = self.score.fixed[units]
            keep = (fixed[lu] < 0) | (group[lr] == fixed[lu])
            return lu[keep], lr[keep]
        idx = np.concatenate([np.arange(self.starts[u], self.ends[u]) for u in units])
        lu = np.repeat(np.arange(len(units)), self.ends[units] - self.starts[units])
        gr = self.lp.pr[idx]
        keep = np.isin(gr, group)
        return lu[keep], np.searchsorted(group, gr[keep])

    def _local_flows(self, units, group, local_plan) -> dict[tuple[int, int, int], float]:
        local = {int(u): i for i, u in enumerate(units)}
        out: dict[tuple[int, int, int], float] = {}
        for j, r in enumerate(group):
            members = units[local_plan == j]
            for (a, b), f in self.adjacency.tree_flows(int(r), members).items():
                out[(j, local[a], local[b])] = f
        return out

    def hand_over(self, lp_seconds: float) -> tuple[float, bool]:
        """The incumbent to HiGHS on the whole priced model. Returns (bound, proved).

        Not started when it cannot do anything useful in the time left: the
        whole MIP first re-solves an LP of the size just solved, so less than
        twice the LP's time (or half a second) left means no hand-over.
        """
        bound = self.lp.bound
        use = (self.allow_hand_over if self.allow_hand_over is not None
               else len(self.lp.pu) <= FULL_MIP_MAX_PAIRS)
        left = self.deadline - time.perf_counter()
        if (not use or self.adjacency is not None
                or self.gap_of(self.obj) <= max(self.solver.mip_gap, 1e-9)):
            return bound, False
        if left < max(0.5, 2.0 * lp_seconds):
            log.info("LNS: %.1f s left, too little for the full model (its LP alone took "
                     "%.1f s); no hand-over", left, lp_seconds)
            return bound, False
        t0 = time.perf_counter()
        form = build_formulation(self.p, (self.lp.pu, self.lp.pr), contiguity=False,
                                 disruption_cap=False)
        run = solve_highs(form, self.solver, seed=self.seed,
                          time_limit=self.deadline - time.perf_counter(),
                          start=form.start(self.rep_of), progress=self.progress)
        proved = False
        if run.values is not None:
            new = form.plan(run.values, self.p.n_units)
            new_obj, _ = self.score.objective(new)
            if new_obj <= self.obj + 1e-9 and not (self.score.hard_breach(new) > 1e-9).any():
                self._set(new)
            proved = run.status == "optimal"
        if run.bound is not None and run.bound > bound:
            bound = min(run.bound, self.obj)
        self.timings["hand_over"] = time.perf_counter() - t0
        return bound, proved

    def result(self, bound: float, proved: bool, build: float) -> AssignResult:
        target = max(self.solver.mip_gap, 1e-9)
        status = "optimal" if proved or self.gap_of(self.obj) <= target else "time_limit"
        slack = self.score.slack(self.rep_of)
        seconds = time.perf_counter() - self.t_start
        log.info("LNS plan: objective %.6g, LP bound %.6g, gap %.2f%%, %d sub-MIPs, %.1f s",
                 self.obj, self.lp.bound, 100 * self.gap_of(self.obj), self.iterations, seconds)
        return AssignResult(self.rep_of, status, self.obj, bound, max(self.gap_of(self.obj), 0.0),
                            seconds, build, self.solver.name,
                            int(np.bincount(self.lp.pu, minlength=self.p.n_units).max()), slack,
                            penalty_cost=self.p.penalty * sum(slack.values()), engine="lns",
                            lp_bound=self.lp.bound, history=tuple(self.progress.history),
                            timings=dict(self.timings))


def _with_pairs(lp: LPRelaxation, m: int, pu: np.ndarray, pr: np.ndarray) -> LPRelaxation:
    """The LP's pairs plus (``pu``, ``pr``) at share 0, sorted by unit then rep."""
    key = np.r_[lp.pu * m + lp.pr, pu * m + pr]
    uniq, first = np.unique(key, return_index=True)
    x = np.r_[lp.x, np.zeros(len(pu))][first]
    return dataclasses.replace(lp, pu=uniq // m, pr=uniq % m, x=x)


def solve_lns(p: AssignProblem, solver: Solver, *, seed: int = 0, k: int | None = None,
              clock: Clock | None = None, group_size: int | None = None,
              hand_over: bool | None = None,
              start: np.ndarray | None = None) -> AssignResult | None:
    """LP bound + warm start + LNS (+ hand-over) on the model of :mod:`.formulation`.

    ``clock`` is the budget of the whole solve (a new one of
    ``solver.time_limit`` when None); each phase adds its seconds to it.
    ``hand_over`` forces (True) or forbids (False) handing the incumbent to the
    full MIP; None decides by model size and the time left. ``start`` is a
    plan to start from when it beats the LP's warm start (its pairs join the
    candidates). Returns None when no plan meeting the hard bands was found.
    """
    clock = clock or Clock(solver.time_limit)
    t_start, deadline = time.perf_counter(), clock.deadline
    lp = lp_relaxation(p, solver, k=k, seed=seed, deadline=deadline)
    lp_seconds = time.perf_counter() - t_start
    clock.add("lp", lp_seconds)
    if lp is None or lp.bound is None:
        return None
    log.info("LP bound %.6g (%s, %d pairs, %.1f s)", lp.bound,
             "valid for every pair" if lp.priced else "over the candidate pairs", len(lp.pu),
             lp_seconds)
    if start is not None:
        lp = _with_pairs(lp, p.n_reps, np.arange(p.n_units), np.asarray(start, dtype=np.int64))
    search = _Search(p, solver, seed, lp, clock.start, deadline, allow_hand_over=hand_over)
    search.timings["lp"] = lp_seconds
    try:
        search.warm_start(start)
        search.run(group_size)
        if search.take_fallback():
            log.info("LNS: the start plan beats the search's plan; keeping it")
        if search.repairing:
            log.info("LNS: no plan meeting the hard bands (breach %.3g)", search.breach.sum())
            return None
        bound, proved = search.hand_over(lp_seconds)
        return search.result(bound, proved, lp_seconds)
    finally:
        for phase in ("warm_start", "lns", "hand_over"):
            if phase in search.timings:
                clock.add(phase, search.timings[phase])
