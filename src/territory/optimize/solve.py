"""The optimizer's door: solve an :class:`AssignProblem` with a :class:`Solver`.

Small and medium instances go to the documented model (:mod:`.formulation`)
through PuLP (HiGHS by default, CBC where present); every improving plan is
logged and at the time limit the best plan so far is returned with its gap and
bound. When the pruned model is infeasible the candidate sets are widened
(k, 2k, ..., all reps). Large instances go to the LNS engine (:mod:`.lns`) on
the same model. When no plan exists, :mod:`.explain` says why.
"""

from __future__ import annotations

import logging
import time
import numpy as np

from ..errors import InfeasibleError, InputError
from .backends import Solver, solve_model
from .explain import explain_infeasible, precheck
from .formulation import build_formulation, candidate_pairs
from .lns import solve_lns
from .problem import AssignProblem, AssignResult

__all__ = ["solve"]

log = logging.getLogger(__name__)

#: above this many candidate pairs (and without contiguity), "auto" uses the LNS engine
LNS_MIN_PAIRS = 20_000
#: with contiguity (flow model, much harder for the solver) from this many units on
LNS_MIN_UNITS_CONTIGUOUS = 400


def choose_engine(p: AssignProblem, solver: Solver, k: int) -> str:
    """``"lns"`` or ``"pulp"`` for this problem (``solver.engine`` decides unless "auto")."""
    lns_ok = (solver.is_highs and (p.disruption is None or p.disruption.max_share is None)
              and (not p.contiguity or (p.roots is not None and p.adjacency is not None)))
    if solver.engine == "lns" and not lns_ok:
        log.info("the LNS engine needs HiGHS, no disruption cap, and roots with contiguity; "
                 "using PuLP")
        return "pulp"
    if solver.engine == "auto":
        big = (p.n_units >= LNS_MIN_UNITS_CONTIGUOUS if p.contiguity
               else p.n_units * k >= LNS_MIN_PAIRS)
        return "lns" if lns_ok and big else "pulp"
    return solver.engine


def solve(p: AssignProblem, solver: Solver | None = None, *, seed: int = 0) -> AssignResult:
    """Solve the assignment.

    At the time limit the best plan found so far is returned (``status``
    ``"time_limit"``, with ``gap`` and ``bound``).

    Raises
    ------
    InfeasibleError
        No plan meets the hard constraints (the message says why), or none was
        found in time (diagnosis ``constraint = "time_limit"``).
    """
    solver = solver or Solver()
    _check_inputs(p)
    found = precheck(p)
    if found is not None:
        raise InfeasibleError(found.message, found.diagnosis)
    k = min(solver.candidates, p.n_reps)
    deadline = time.perf_counter() + solver.time_limit
    if choose_engine(p, solver, k) == "lns":
        result = solve_lns(p, solver, seed=seed, k=k, deadline=deadline)
        if result is not None:
            return result
        log.info("the LNS engine found no plan; trying the full PuLP model")
    result = _solve_widening(p, solver, seed, k, deadline)
    if result is not None:
        return result
    found = explain_infeasible(p, solver, seed=seed, deadline=deadline)
    raise InfeasibleError(found.message, found.diagnosis)


def _check_inputs(p: AssignProblem) -> None:
    if p.roots is not None and len(set(p.roots)) != len(p.roots):
        raise InputError("two reps share a root unit; give each rep its own base unit")


def _solve_widening(p: AssignProblem, solver: Solver, seed: int, k: int,
                    deadline: float) -> AssignResult | None:
    """The PuLP model at k candidates, doubling k while it is infeasible; None if it stays so."""
    while True:
        t0 = time.perf_counter()
        form = build_formulation(p, candidate_pairs(p, k))
        build = time.perf_counter() - t0
        remaining = max(deadline - time.perf_counter(), min(10.0, solver.time_limit))
        log.info("solving %d units x %d reps (%d candidates per unit, %d columns, %d rows) "
                 "with %s, time limit %.0f s", p.n_units, p.n_reps, k, form.n_cols,
                 len(form.row_lower), solver.name, remaining)
        run = solve_model(form, solver, seed=seed, time_limit=remaining)
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
                                history=tuple(run.history),
                                timings={"build": build, "mip": run.seconds})
        if run.time_limit or used_budget or (time.perf_counter() >= deadline
                                             and not run.infeasible):
            raise InfeasibleError(
                f"no plan was found within the time limit ({solver.time_limit:g} s) for "
                f"{p.n_units} units x {p.n_reps} reps"
                f"{' with contiguity' if p.contiguity else ''}; the model may well be "
                "feasible: raise solver.time_limit_seconds, or make the model smaller "
                "(region = \"accounts\", coarser units, contiguity = false).",
                {"constraint": "time_limit", "time_limit_seconds": solver.time_limit})
        if k >= p.n_reps:
            return None
        new_k = min(p.n_reps, 2 * k)
        log.info("no plan with %d candidate reps per unit (%s); widening to %d",
                 k, run.status, new_k)
        k = new_k

