r"""Exact contiguity feasibility of small rooted problems (OR-Tools CP-SAT).

The MIP of :mod:`.formulation` writes contiguity as a single-commodity flow
with a big-M; its LP relaxation is the plan without contiguity, so HiGHS can
neither find a contiguous plan nor prove that none exists when the bands are
tight and a territory must reach far from its home. Measured (Dec 2026, 2
shared cores) on a 5-state book of 400 accounts, 229 contracted units x 5 reps
with the reps' own homes: HiGHS on the whole flow model found no plan and no
proof in 120 s (nor in 60 s on the feasibility version, zero objective), while
CP-SAT proves it infeasible in 6-19 s (one worker, seeds 0-2). CP-SAT propagates the flow and band rows
as constraints, which is what the flow model's LP cannot do.

Formulation (feasibility, no objective)
    :math:`x_{ur} \in \{0,1\}`, :math:`\sum_r x_{ur} = 1`; locked and root units
    fixed; on every hard band :math:`T^-_r \le \sum_u t_u x_{ur} \le T^+_r` and
    :math:`L_r \le \sum_u a_u x_{ur} \le H_r` in integers (TAM in cents, the band
    widened by a cent each side, so that "infeasible" stays a proof); flows
    :math:`f_{rij} \in [0, K_r - 1]` on the arcs of the adjacency graph (none into
    the root; :math:`K_r` the most units that fit under r's upper bands, smallest
    first), :math:`f_{rij} = 0` unless :math:`x_{ir} = x_{jr} = 1`, and
    :math:`\sum_j f_{rji} - \sum_j f_{rij} = x_{ir}` for every unit but the root.
    With ``free_rep`` that rep's root is a variable: :math:`y_u`,
    :math:`\sum_u y_u = 1`, :math:`y_u \Rightarrow x_{u,r}`, no flow into the
    chosen root, and the balance row holds for every other unit.

The disruption cap, balance terms and soft bands are left out: an
"infeasible" answer is then still a proof for the full model, and a plan found
is checked against the exact bands by the caller.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from .contiguity import AdjacencyIndex
from .problem import AssignProblem

__all__ = ["ExactVerdict", "blocking_reps", "contiguous_feasibility", "exact_applicable",
           "solver_parameters"]

log = logging.getLogger(__name__)

#: the exact check runs only up to this many (unit, rep) pairs ...
EXACT_MAX_PAIRS = 6_000
#: ... and this many flow arcs (arcs of the graph, both directions, times reps)
EXACT_MAX_ARCS = 80_000
#: CP-SAT workers: one, so that a run is deterministic (CP-SAT's parallel portfolio
#: shares solutions by wall clock; its deterministic ``interleave_search`` was 4x slower
#: per unit of work on the measured case and proved nothing in 60 s)
WORKERS = 1
#: deterministic seconds (CP-SAT's work count, not wall time) of one run; the next run
#: starts with the next seed. Measured case, load 4-5 on 2 cores: proofs in 6.0, 18.9 and
#: 14.2 s for seeds 0-2 (two workers with 8 wall-clock seconds a run: 23.6 and 15.4 s)
SLICE_DETERMINISTIC = 4.0


@dataclass(frozen=True)
class ExactVerdict:
    """``status``: ``"feasible"`` (with ``plan``), ``"infeasible"`` (a proof), ``"unknown"``."""

    status: str
    seconds: float
    plan: np.ndarray | None = None
    #: with ``free_rep``: the root unit the plan found gives that rep
    root: int | None = None


def exact_applicable(p: AssignProblem) -> bool:
    """True for a rooted contiguity problem small enough for :func:`contiguous_feasibility`."""
    if not (p.contiguity and p.adjacency is not None and p.roots is not None):
        return False
    n_arcs = 2 * len(AdjacencyIndex.edges_of(p))
    return p.n_units * p.n_reps <= EXACT_MAX_PAIRS and n_arcs * p.n_reps <= EXACT_MAX_ARCS


def contiguous_feasibility(p: AssignProblem, time_limit: float, *, seed: int = 0,
                           free_rep: int | None = None) -> ExactVerdict:
    """Is there a plan meeting the hard bands with every territory connected from its root?"""
    from ortools.sat.python import cp_model

    t0 = time.perf_counter()
    deadline = t0 + float(time_limit)
    model, x, y = _model(cp_model, p, free_rep)
    # the time to a proof is heavy-tailed in the seed (5.5, 11.9 and > 40 s for three
    # seeds of the measured case): short runs with successive seeds, not one long run
    for attempt in range(1_000):
        left = deadline - time.perf_counter()
        if left < 0.5:
            break
        solver = cp_model.CpSolver()
        for name, value in solver_parameters(left, seed + attempt).items():
            setattr(solver.parameters, name, value)
        status = solver.Solve(model)
        if status == cp_model.INFEASIBLE:
            return ExactVerdict("infeasible", time.perf_counter() - t0)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            plan = np.array([[solver.Value(v) for v in row] for row in x]).argmax(axis=1)
            root = None if y is None else int(np.argmax([solver.Value(v) for v in y]))
            return ExactVerdict("feasible", time.perf_counter() - t0, plan.astype(np.int64),
                                root)
    return ExactVerdict("unknown", time.perf_counter() - t0)


def solver_parameters(left: float, seed: int) -> dict[str, float | int]:
    """CP-SAT parameters of one run: ``seed``, a deterministic slice, ``left`` s at most.

    The slice is counted in deterministic time on one worker, so the run's
    answer depends on the inputs and the seed only; the wall-clock limit can
    only cut the last run short (an "unknown" instead of its answer), never change
    which plan a run finds.
    """
    return {"num_workers": WORKERS, "random_seed": int(seed) % (2**31),
            "max_deterministic_time": SLICE_DETERMINISTIC,
            "max_time_in_seconds": max(float(left), 0.0)}


def blocking_reps(p: AssignProblem, deadline: float, *,
                  seed: int = 0) -> tuple[list[tuple[int, int]], bool]:
    """Reps whose home alone blocks contiguity, as (rep, a root unit that would do).

    Each rep's root is freed in turn (the others stay at home), each with an
    equal share of the time left. Returns the reps found and whether every
    rep was decided.
    """
    found: list[tuple[int, int]] = []
    decided = True
    for r in range(p.n_reps):
        left = (deadline - time.perf_counter()) / (p.n_reps - r)
        if left <= 0.5:
            return found, False
        verdict = contiguous_feasibility(p, left, seed=seed, free_rep=r)
        log.info("exact check with rep %s's root free: %s (%.1f s)", p.rep_ids[r],
                 verdict.status, verdict.seconds)
        decided &= verdict.status != "unknown"
        if verdict.status == "feasible":
            found.append((r, int(verdict.root)))
    return found, decided


def _model(cp_model, p: AssignProblem, free_rep: int | None):
    """The CP-SAT model of the module docstring; returns it and the x variables."""
    n, m = p.n_units, p.n_reps
    model = cp_model.CpModel()
    x = [[model.NewBoolVar(f"x_{u}_{r}") for r in range(m)] for u in range(n)]
    for row in x:
        model.AddExactlyOne(row)
    for u, r in p.fixed.items():
        if not (r == free_rep and u == p.roots[r]):
            model.Add(x[u][r] == 1)
    _add_bands(model, p, x)
    index = AdjacencyIndex(p)
    tail, head = np.r_[index.a, index.b].tolist(), np.r_[index.b, index.a].tolist()
    y = None
    for r in range(m):
        chosen = _add_flow(model, x, r, None if r == free_rep else int(p.roots[r]), tail,
                           head, n, _max_units(p, r))
        y = chosen if chosen is not None else y
    return model, x, y


def _max_units(p: AssignProblem, r: int) -> int:
    """Most units rep r's territory can hold under its hard upper bands (the flow's bound)."""
    most = p.n_units
    for soft, weight, high in ((p.soft_tam, p.tam, p.tam_band.high[r]),
                               (p.soft_account_units, p.account_units,
                                p.account_units_band.high[r])):
        if not soft:
            fill = np.cumsum(np.sort(np.asarray(weight, float)))
            most = min(most, int(np.searchsorted(fill, high * (1 + 1e-9), side="right")))
    return max(most, 1)


def _add_bands(model, p: AssignProblem, x) -> None:
    m = p.n_reps
    families = []
    if not p.soft_tam:
        families.append((np.round(np.asarray(p.tam, float) * 100).astype(np.int64),
                         np.floor(p.tam_band.low * 100).astype(np.int64) - 1,
                         np.ceil(p.tam_band.high * 100).astype(np.int64) + 1))
    if not p.soft_account_units:
        au = np.asarray(p.account_units, float)
        scale = 1 if np.allclose(au, np.round(au)) else 100
        families.append((np.round(au * scale).astype(np.int64),
                         np.floor(p.account_units_band.low * scale + 1e-9).astype(np.int64),
                         np.ceil(p.account_units_band.high * scale - 1e-9).astype(np.int64)))
    for weight, low, high in families:
        nz = np.flatnonzero(weight)
        for r in range(m):
            model.AddLinearConstraint(sum(int(weight[u]) * x[u][r] for u in nz.tolist()),
                                      int(low[r]), int(high[r]))


def _add_flow(model, x, r: int, root: int | None, tail: list[int], head: list[int],
              n: int, most: int):
    """Flow rows of rep r (rooted at ``root``, or at a chosen unit when None: returns
    the root-choice variables then)."""
    inflow: list[list] = [[] for _ in range(n)]
    outflow: list[list] = [[] for _ in range(n)]
    y = None
    if root is None:
        y = [model.NewBoolVar(f"root_{r}_{u}") for u in range(n)]
        model.AddExactlyOne(y)
        for u in range(n):
            model.AddImplication(y[u], x[u][r])
    for i, j in zip(tail, head):
        if j == root:
            continue
        f = model.NewIntVar(0, max(most - 1, 1), f"f_{r}_{i}_{j}")
        model.Add(f == 0).OnlyEnforceIf(x[i][r].Not())
        model.Add(f == 0).OnlyEnforceIf(x[j][r].Not())
        if y is not None:
            model.Add(f == 0).OnlyEnforceIf(y[j])
        inflow[j].append(f)
        outflow[i].append(f)
    for u in range(n):
        if u == root:
            continue
        row = model.Add(sum(inflow[u]) - sum(outflow[u]) == x[u][r])
        if y is not None:
            row.OnlyEnforceIf(y[u].Not())
    return y
