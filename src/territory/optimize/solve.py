"""The optimizer's door: solve an :class:`AssignProblem` with a :class:`Solver`.

Small and medium instances go to the documented model (:mod:`.formulation`)
through PuLP (HiGHS by default, CBC where present); every improving plan is
logged and at the time limit the best plan so far is returned with its gap and
bound. When the pruned model is infeasible the candidate sets are widened
(k, 2k, ..., all reps). Large instances go to the LNS engine (:mod:`.lns`) on
the same model. When no plan exists, :mod:`.explain` says why.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import numpy as np
import scipy.sparse as sp

from ..errors import InfeasibleError, InputError, SolverError
from .backends import Clock, Solver, solve_model
from .contiguity import AdjacencyIndex
from .exact import Blocking, blocking_reps, contiguous_feasibility, exact_applicable
from .explain import explain_infeasible, precheck
from .formulation import build_formulation, candidate_pairs
from .lns import solve_lns, whole_start
from .problem import AssignProblem, AssignResult
from .repair import PlanScore

__all__ = ["solve", "with_budget"]

log = logging.getLogger(__name__)

#: from this many candidate pairs on (and without contiguity), "auto" uses the LNS engine:
#: its priced LP, repaired warm start and early hand-over to the whole priced model (see
#: :mod:`.lns`). The plain model on the k nearest reps is erratic from a few thousand pairs
#: when the bands bind: the 5,000-account lower-48 book (2,241 units x 58 reps, 13,446
#: pairs) was 67-70% above the LP bound after 40 s in three runs (through PuLP, and
#: straight to highspy in both column orders) and 1.7% after 38 s in a fourth; the LNS
#: engine reached 0.63% in 9.2 s (Dec 2026, 2 cores). In the bench's sweep (1% target)
#: 1,000 ZIPs x 20 took 2.1 s that way and 0.06 s by LNS, 2,000 x 40 4.1 s and 4.2 s.
LNS_MIN_PAIRS = 5_000
#: with contiguity, "auto" solves the whole model only up to this many columns
#: (candidate pairs plus flow arcs, see :func:`model_columns`)
WHOLE_MAX_COLUMNS_CONTIGUOUS = 3_500
#: on a problem the exact contiguity check can decide, LNS first gets this share of the budget
LNS_SHARE_EXACT = 0.25
#: and the check this share of what is left (the rest names the blocking homes or polishes)
EXACT_SHARE = 0.85
#: at most this many seconds for the plan without contiguity that guides the naming of a
#: blocking home (0.5 s on the 229 units x 5 reps of the measured 5-state book)
GUIDE_SECONDS = 5.0


#: HiGHS statuses that say the solver failed: never read as "no plan with these candidates"
SOLVER_FAILED = frozenset({"not set", "load error", "model error", "presolve error",
                           "solve error", "postsolve error", "unknown", "memory limit"})


def model_columns(p: AssignProblem, k: int) -> int:
    """Columns of the whole model at ``k`` candidates: pairs, plus flow arcs with contiguity.

    A flow arc of rep r joins two adjacent units that both have r as a
    candidate, so the count is ``sum over pairs (u, r) of the neighbours v of
    u with (v, r) a pair`` (the rooted model drops the arcs into each root).
    """
    pu, pr = candidate_pairs(p, k)
    if not p.contiguity or p.adjacency is None:
        return len(pu)
    n, m = p.n_units, p.n_reps
    x = sp.csr_matrix((np.ones(len(pu)), (pu, pr)), shape=(n, m))
    index = AdjacencyIndex.edges_of(p)
    adj = sp.csr_matrix((np.ones(2 * len(index)), (np.r_[index[:, 0], index[:, 1]],
                                                   np.r_[index[:, 1], index[:, 0]])),
                        shape=(n, n))
    return len(pu) + int(x.multiply(adj @ x).sum())


def choose_engine(p: AssignProblem, solver: Solver, k: int) -> str:
    """``"lns"`` or ``"pulp"`` for this problem (``solver.engine`` decides unless "auto").

    The rule weighs the size of the whole model, not the unit count alone:

    * without contiguity, LNS from ``LNS_MIN_PAIRS`` candidate pairs on (up to
      ``lns.EARLY_HAND_OVER_MAX_PAIRS`` priced pairs it hands the repaired warm
      start to the whole priced model at once);
    * with contiguity, the whole model only up to ``WHOLE_MAX_COLUMNS_CONTIGUOUS``
      columns (pairs + flow arcs), LNS above.

    Measured (Dec 2026, 2 shared cores, 60 s budgets, gap vs the LP bound):
    the whole model proves the optimum in under 2 s on Ohio's 88 counties x 8
    (2,651 columns) and 73 Columbus ZCTAs x 4 (1,661), where LNS finds the same
    plans. From 4,911 columns on LNS wins every case: 193 units x 4 reps of a
    5-state book (the free-centres re-solve) 357.6 in 13 s vs 396.9 at the 26 s
    limit; the 800-account national book, 644 units x 10 (24,594 columns)
    0.49% in 8-12 s while the whole model had no plan after 40 s and 0.7% after
    60 s; Ohio's 1,009 ZIPs x 20 (38,669 columns) 0.50% in 5 s vs no plan in
    60 s. LNS' contiguity sub-MIPs are small (a ring of a few hops around each
    territory of a group of reps), which is what keeps it fast.
    """
    lns_ok = (solver.is_highs and (p.disruption is None or p.disruption.max_share is None)
              and (p.balancing is None or not p.balancing.active)
              and (not p.contiguity or (p.roots is not None and p.adjacency is not None)))
    if solver.engine == "lns" and not lns_ok:
        log.info("the LNS engine needs HiGHS, no disruption cap, and roots with contiguity; "
                 "using PuLP")
        return "pulp"
    if solver.engine == "auto":
        big = (model_columns(p, k) > WHOLE_MAX_COLUMNS_CONTIGUOUS if p.contiguity
               else p.n_units * k >= LNS_MIN_PAIRS)
        return "lns" if lns_ok and big else "pulp"
    return solver.engine


def solve(p: AssignProblem, solver: Solver | None = None, *, seed: int = 0,
          start: np.ndarray | None = None) -> AssignResult:
    """Solve the assignment within ``solver.time_limit`` seconds of wall clock.

    ``start`` (a plan, rep index per unit) is a first incumbent: the LNS
    search starts from it when it beats the LP's warm start, and HiGHS gets it
    as its start solution on the whole model (when the candidates hold it).

    The budget covers every phase (LP, warm start, LNS, hand-over, whole model,
    explanation); the log's last line says where the time went. At the time
    limit the best plan found so far is returned (``status`` ``"time_limit"``,
    with ``gap`` and ``bound``).

    Raises
    ------
    InfeasibleError
        No plan meets the hard constraints (the message says why), or none was
        found in time (diagnosis ``constraint = "time_limit"``).
    """
    solver = solver or Solver()
    clock = Clock(solver.time_limit)
    _check_inputs(p)
    k = min(solver.candidates, p.n_reps)
    rerootable = p.contiguity and p.movable_roots and p.roots is not None
    try:
        found = precheck(p)
        if found is not None and not (rerootable and found.constraint == "contiguity"):
            raise InfeasibleError(found.message, found.diagnosis)
        result = (None if found is not None
                  else _solve_engines(p, solver, seed, k, clock, start=start))
        if result is None and rerootable:
            result = _reroot(p, solver, seed, k, clock)
        if result is not None:
            return dataclasses.replace(result, timings=dict(clock.timings))
        t0 = time.perf_counter()
        found = explain_infeasible(dataclasses.replace(p, roots=None) if rerootable else p,
                                   solver, seed=seed, deadline=clock.deadline)
        clock.add("explain", time.perf_counter() - t0)
        raise InfeasibleError(found.message, found.diagnosis | {"timings": dict(clock.timings)})
    finally:
        log.info(clock.report())


def _solve_engines(p: AssignProblem, solver: Solver, seed: int, k: int,
                   clock: Clock, start: np.ndarray | None = None) -> AssignResult | None:
    """LNS for large instances, then (or else) the whole model; None when it is infeasible."""
    lp_seconds = 0.0
    if choose_engine(p, solver, k) == "lns":
        exact = _exact_ok(p)
        phase = Clock(clock.left() * LNS_SHARE_EXACT) if exact else clock
        result = solve_lns(p, solver, seed=seed, k=k, clock=phase, start=start)
        if exact:
            clock.absorb(phase, "first")
            if result is not None and result.status != "optimal" and clock.left() > 1.0:
                # a plan in the first share: the search goes on from it with the rest
                more = solve_lns(p, solver, seed=seed, k=k, clock=clock,
                                 start=result.rep_of_unit)
                if more is not None and more.objective <= result.objective:
                    result = more
        if result is not None:
            return result
        if exact:
            return _solve_exact(p, solver, seed, k, clock)
        lp_seconds = clock.timings.get("lp", 0.0)
        left = clock.left()
        # the whole model starts with an LP at least as large as the one LNS solved
        if left < max(1.0, 3.0 * lp_seconds):
            raise _time_out(p, solver, clock, f"LNS met no plan and the {left:.1f} s left are "
                            "too few for the whole model")
        log.info("the LNS engine found no plan; trying the whole model with %.1f s left", left)
    if p.balancing is not None and p.balancing.first:
        return _balance_first(p, solver, seed, k, clock)
    return _solve_widening(p, solver, seed, k, clock, start=start)


def _exact_ok(p: AssignProblem) -> bool:
    """The exact contiguity check decides small problems rooted at the user's own homes."""
    return (not p.movable_roots and exact_applicable(p)
            and (p.disruption is None or p.disruption.max_share is None)
            and (p.balancing is None or not p.balancing.active))


def _solve_exact(p: AssignProblem, solver: Solver, seed: int, k: int,
                 clock: Clock) -> AssignResult:
    """LNS met no plan on a small rooted problem: let the exact check decide.

    Infeasible: raise, naming a rep whose home, moved to a unit found for it,
    admits a contiguous plan (:func:`.exact.blocking_reps`, with the plan
    without contiguity as its guide and the LNS engine as its plan finder).
    Feasible: the plan found starts LNS again for the rest of the budget.
    Undecided: out of time.
    """
    verdict = contiguous_feasibility(p, clock.left() * EXACT_SHARE, seed=seed)
    clock.add("exact", verdict.seconds)
    log.info("exact contiguity check: %s in %.1f s", verdict.status, verdict.seconds)
    plan = verdict.plan
    if plan is not None and (PlanScore.of(p).hard_breach(plan) > 1e-9).any():
        plan = None  # inside the check's cent-wide margin only: not a plan of the model
    if verdict.status == "infeasible":
        guide = _guide_plan(p, solver, seed, k, clock)

        def find_plan(q: AssignProblem, seconds: float) -> np.ndarray | None:
            found = solve_lns(q, solver, seed=seed, k=k, clock=Clock(seconds), start=guide,
                              hand_over=False)
            return None if found is None else found.rep_of_unit

        blocking = blocking_reps(p, clock.deadline, guide=guide, find_plan=find_plan)
        clock.add("explain_relocate", blocking.seconds)
        raise _blocked(p, blocking, clock)
    if plan is None:
        raise _time_out(p, solver, clock, "the exact contiguity check did not decide in time")
    result = solve_lns(p, solver, seed=seed, k=k, clock=clock, start=plan)
    if result is None:
        raise _time_out(p, solver, clock)
    return result


def _guide_plan(p: AssignProblem, solver: Solver, seed: int, k: int,
                clock: Clock) -> np.ndarray | None:
    """The plan without contiguity (where each territory wants to reach), or None in time."""
    phase = Clock(min(GUIDE_SECONDS, clock.left() / 4))
    try:
        found = _solve_widening(dataclasses.replace(p, contiguity=False), solver, seed, k,
                                phase)
    except InfeasibleError:  # out of its time: no guide, nothing is named
        found = None
    clock.add("explain_guide", phase.elapsed())
    return None if found is None else found.rep_of_unit


def _blocked(p: AssignProblem, blocking: Blocking, clock: Clock) -> InfeasibleError:
    """The proven contiguity infeasibility from the user's homes, as an error naming reps."""
    head = (f"Contiguity cannot hold together with the bands from these home bases (proven by "
            f"an exact check on the {p.n_units} units solved, each empty unit folded into an "
            "account-bearing neighbour)")
    word = {"zip": "ZIP", "county": "county"}.get(p.unit_level or "", "unit")
    found = blocking.found

    def home(r: int, u: int) -> str:
        return f"{p.rep_ids[r]}'s home base ({word} {p.unit_ids[p.roots[r]]}) to {word} " \
               f"{p.unit_ids[u]}"

    if found is not None and len(found.moves) == 1:
        (r, u), = found.moves
        text = (f"{head}: rep {p.rep_ids[r]}'s home base ({word} {p.unit_ids[p.roots[r]]}) "
                f"blocks it; with it moved to {word} {p.unit_ids[u]}, where {p.rep_ids[r]}'s "
                "territory reaches without contiguity, a contiguous plan meets both bands. "
                "Move that home base, turn contiguity off or widen the bands.")
    elif found is not None:
        text = (f"{head}: no single home base blocks it among the moves tried, but moving "
                f"{' and '.join(home(r, u) for r, u in found.moves)} together gives a "
                "contiguous plan that meets both bands. Move those home bases, turn contiguity "
                "off or widen the bands.")
    else:
        text = (f"{head}; which home base blocks it was not found: none of the {blocking.tried} "
                "moves tried in the time left (each home towards where its territory reaches "
                "without contiguity) gave a contiguous plan. Move a home base, turn contiguity "
                "off or widen the bands.")
    return InfeasibleError(text, {
        "constraint": "contiguity", "proof": "exact", "relocations_tried": blocking.tried,
        "together": found is not None and len(found.moves) > 1,
        "blocking_homes": [] if found is None else [
            {"rep": p.rep_ids[r], "home_unit": p.unit_ids[p.roots[r]],
             "feasible_unit": p.unit_ids[u]} for r, u in found.moves],
        "timings": dict(clock.timings)})


def _balance_first(p: AssignProblem, solver: Solver, seed: int, k: int,
                   clock: Clock) -> AssignResult | None:
    """Balance first, lexicographically, never with less than a travel plan in hand.

    1. The travel plan (the problem without its balance term, LNS where that pays),
       with a third of the budget: the fallback, and an upper bound ``D0`` on the
       optimal largest deviation.
    2. ``min D`` subject to every rule and ``D <= D0``, with half of what is left,
       the travel plan as HiGHS' first incumbent (so the phase never ends empty-handed).
    3. The objective subject to ``D <= D* + balancing.slack``, with the rest, from
       phase 2's plan.

    A phase that ends on the clock hands over the best plan so far (a balanced
    plan of phase 2, else the travel plan of phase 1, with a logged warning that
    balance was not improved); the status is ``"time_limit"`` unless phase 2
    proved its optimum. ``None`` only when the rules themselves admit no plan.
    """
    base = _travel_plan(p, solver, seed, k, clock)
    cap0 = None if base is None else p.largest_deviation(base.rep_of_unit) + 1e-9
    phase = Clock(clock.left() / 2)
    try:
        first = _solve_widening(p, solver, seed, k, phase, balance_phase="minimise",
                                max_deviation=cap0,
                                start=None if base is None else base.rep_of_unit)
    except InfeasibleError as exc:
        if exc.diagnosis.get("constraint") != "time_limit" or base is None:
            raise
        first = None
    clock.absorb(phase, "balance")
    if first is None:
        if base is not None:
            log.warning("balance first: no better-balanced plan was found in time; the travel "
                        "plan stands (largest deviation %.2f%%)", 100 * (cap0 or 0.0))
            return dataclasses.replace(base, status="time_limit")
        return None
    best = p.largest_deviation(first.rep_of_unit)
    cap = best + p.balancing.slack
    log.info("balance first: the largest deviation of any rep is at least %.2f%% (%s); "
             "travel is minimised with it at most %.2f%%", 100 * best, first.status, 100 * cap)
    try:
        second = _solve_widening(p, solver, seed, k, clock, max_deviation=cap + 1e-9,
                                 start=first.rep_of_unit)
    except InfeasibleError as exc:  # out of time: phase 2's balanced plan stands
        if exc.diagnosis.get("constraint") != "time_limit":
            raise
        second = None
    if second is None or first.status != "optimal":  # its balance is not proven optimal
        return dataclasses.replace(second or first, status="time_limit")
    return second


def _travel_plan(p: AssignProblem, solver: Solver, seed: int, k: int,
                 clock: Clock) -> AssignResult | None:
    """Phase 1 of balance first: the plan without the balance term, in a third of the time."""
    phase = Clock(clock.left() / 3)
    try:
        return _solve_engines(dataclasses.replace(p, balancing=None), solver, seed, k, phase)
    except InfeasibleError as exc:
        if exc.diagnosis.get("constraint") != "time_limit":
            raise
        return None
    finally:
        clock.absorb(phase, "travel")


def _time_out(p: AssignProblem, solver: Solver, clock: Clock, why: str = "") -> InfeasibleError:
    d = {"constraint": "time_limit", "time_limit_seconds": solver.time_limit,
         "seconds_spent": round(clock.elapsed(), 1), "timings": dict(clock.timings),
         "model": f"{p.n_units} units x {p.n_reps} reps"
                  f"{' with contiguity' if p.contiguity else ''}", "why": why}
    return InfeasibleError(_time_out_message(d), d)


def _time_out_message(d: dict) -> str:
    why = f" ({d['why']})" if d.get("why") else ""
    return (f"No plan was found within the time limit ({d['time_limit_seconds']:g} s, "
            f"{d['seconds_spent']:.1f} s spent) for {d['model']}{why}; the model "
            "may well be feasible: raise solver.time_limit_seconds, or make the model smaller "
            "(region = \"accounts\" or contiguity = false).")


def with_budget(exc: InfeasibleError, time_limit: float, spent: float) -> InfeasibleError:
    """A time-out of one step re-worded for the whole run's budget and the seconds it took.

    A caller that splits ``time_limit`` between solves (free centres) must not
    quote a step's share as the user's limit.
    """
    if not exc.timed_out or "model" not in exc.diagnosis:
        return exc
    d = exc.diagnosis | {"time_limit_seconds": time_limit, "seconds_spent": round(spent, 1)}
    return InfeasibleError(_time_out_message(d), d)


def _reroot(p: AssignProblem, solver: Solver, seed: int, k: int,
            clock: Clock) -> AssignResult | None:
    """Contiguity failed from roots we chose: solve with every rep free to pick its root."""
    log.info("contiguity cannot hold from the chosen centres; letting every rep pick its root")
    free = dataclasses.replace(p, roots=None)
    found = precheck(free)
    if found is not None:
        raise InfeasibleError(found.message, found.diagnosis)
    if clock.left() <= 0.05:
        raise _time_out(p, solver, clock, "no time left to try other roots")
    return _solve_widening(free, solver, seed, k, clock, free_roots=True)


def _with_plan(pairs: tuple[np.ndarray, np.ndarray], m: int,
               rep_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs plus each unit's pair in ``rep_of`` (sorted by unit, then rep)."""
    pu, pr = pairs
    key = np.unique(np.r_[pu * m + pr, np.arange(len(rep_of)) * m + rep_of])
    return key // m, key % m


def _check_inputs(p: AssignProblem) -> None:
    if p.roots is not None and len(set(p.roots)) != len(p.roots):
        raise InputError("two reps share a root unit; give each rep its own base unit")


def _solve_widening(p: AssignProblem, solver: Solver, seed: int, k: int, clock: Clock, *,
                    free_roots: bool = False, start: np.ndarray | None = None,
                    **options) -> AssignResult | None:
    """The whole model at k candidates, doubling k while it is infeasible; None if it stays so.

    ``options`` go to :func:`build_formulation` (balance phase, deviation cap);
    ``start`` is a plan handed to HiGHS as its first incumbent.
    """
    while True:
        t0 = time.perf_counter()
        pairs = candidate_pairs(p, k)
        if start is not None:  # the start plan must be representable
            pairs = _with_plan(pairs, p.n_reps, np.asarray(start, dtype=np.int64))
        form = build_formulation(p, pairs, free_roots=free_roots, **options)
        build = time.perf_counter() - t0
        clock.add("build", build)
        remaining = clock.left()
        if remaining <= 0.05:
            raise _time_out(p, solver, clock)
        log.info("solving %d units x %d reps (%d candidates per unit, %d columns, %d rows) "
                 "with %s, time limit %.1f s", p.n_units, p.n_reps, k, form.n_cols,
                 len(form.row_lower), solver.name, remaining)
        values = (whole_start(form, p, start) if start is not None and solver.is_highs
                  else None)
        run = solve_model(form, solver, seed=seed, time_limit=remaining, start=values)
        clock.add("mip", run.seconds)
        # CBC (through PuLP) reports neither "time limit" nor "stopped with a plan";
        # a solve that used its whole budget is read as timed out, never as infeasible.
        used_budget = run.seconds >= 0.95 * remaining
        if run.ok:
            status = run.status
            if status == "optimal" and used_budget and not solver.is_highs:
                status = "time_limit"
            slack = {name: float(np.asarray(run.values)[cols].sum())
                     for name, cols in form.slack.items()}
            log.info("plan found: %s, objective %.6g, bound %s, gap %s, %.1f s",
                     status, run.objective, run.bound, run.gap, run.seconds)
            return AssignResult(form.plan(run.values, p.n_units), status, run.objective,
                                run.bound, run.gap, run.seconds, build, solver.name, k, slack,
                                penalty_cost=p.penalty * sum(slack.values()),
                                history=tuple(run.history), roots=form.roots(run.values))
        if run.time_limit or used_budget or (clock.left() <= 0 and not run.infeasible):
            raise _time_out(p, solver, clock)
        if solver.is_highs and run.status in SOLVER_FAILED:
            raise SolverError(f"the solver ({solver.name}) failed on {p.n_units} units x "
                              f"{p.n_reps} reps with status {run.status!r}: neither a plan nor "
                              "a proof that none exists; rerun with solver.msg = true to see "
                              "its log")
        if k >= p.n_reps:
            return None
        new_k = min(p.n_reps, 2 * k)
        log.info("no plan with %d candidate reps per unit (%s); widening to %d",
                 k, run.status, new_k)
        k = new_k
