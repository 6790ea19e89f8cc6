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

Which home blocks it (:func:`blocking_reps`)
    Constructive, not a free root: a root-choice variable per unit made every
    check of the measured case end "unknown" (7-8 s each, all 5 reps), and
    CP-SAT does not find plans of the moved problem either (30 s, "unknown").
    Instead the likeliest blocker's home is moved to a concrete unit (where its
    territory reaches in the plan without contiguity, see
    :func:`relocation_candidates`) and a plan finder (the caller's: the LNS
    engine) looks for a contiguous plan; a plan that :func:`admits` confirms
    proves "moving that home there helps". A single rep is named only on such
    a plan; otherwise the message says what was tried. The finder works to a
    wall clock, so a plan met near the end of its seconds could be missed under
    load; on the measured case it meets one in a fifth of them, and every run
    named the same rep and unit.

The disruption cap, balance terms and soft bands are left out: an
"infeasible" answer is then still a proof for the full model, and a plan found
is checked against the exact bands by the caller.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, shortest_path

from .contiguity import AdjacencyIndex
from .problem import AssignProblem, check_plan

__all__ = ["Blocking", "ExactVerdict", "Relocation", "admits", "blocking_reps",
           "contiguous_feasibility", "exact_applicable", "moved", "relocation_candidates",
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


def exact_applicable(p: AssignProblem) -> bool:
    """True for a rooted contiguity problem small enough for :func:`contiguous_feasibility`."""
    if not (p.contiguity and p.adjacency is not None and p.roots is not None):
        return False
    n_arcs = 2 * len(AdjacencyIndex.edges_of(p))
    return p.n_units * p.n_reps <= EXACT_MAX_PAIRS and n_arcs * p.n_reps <= EXACT_MAX_ARCS


def contiguous_feasibility(p: AssignProblem, time_limit: float, *,
                           seed: int = 0) -> ExactVerdict:
    """Is there a plan meeting the hard bands with every territory connected from its root?"""
    from ortools.sat.python import cp_model

    t0 = time.perf_counter()
    deadline = t0 + float(time_limit)
    model, x = _model(cp_model, p)
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
            return ExactVerdict("feasible", time.perf_counter() - t0, plan.astype(np.int64))
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


@dataclass(frozen=True)
class Relocation:
    """Home bases moved (``moves``: (rep, new root unit)) and a plan that proves it helps.

    ``plan`` meets the hard bands with every territory connected and holding
    its (new) root: checked by :func:`admits`, never taken on trust.
    """

    moves: tuple[tuple[int, int], ...]
    plan: np.ndarray


@dataclass(frozen=True)
class Blocking:
    """What :func:`blocking_reps` found: a relocation that helps (or None), how many tried."""

    found: Relocation | None
    tried: int
    seconds: float


#: wall-clock seconds one relocation gets to find its plan (the finder runs this long).
#: Measured (Dec 2026, 2 shared cores, load 3): the 5-state book of 400 accounts
#: (229 units x 5 reps, infeasible from the reps' homes): with R05's home moved from
#: Detroit to the medoid of its Philadelphia piece the LNS engine met a contiguous plan in
#: 0.6-1.1 s in budgets of 3, 5 and 16 s; CP-SAT (this module's check) on the same moved
#: problem ended "unknown" after 30 s (and after 4 x 8 deterministic s with the plan without
#: contiguity as hints), as did the root-choice model for every rep. End to end from the CLI
#: (`territory plan`, 60 s budget, load 3.2): exit 3 naming R05 -> ZIP 19026 in 31.8 s
#: wall (solve 28.2 s: LNS 15, proof 7.5, guide 0.5, this move 5.0), the same in every run;
#: before, 65 s wall and no rep named.
RELOCATE_SECONDS = 5.0
#: candidate new homes per rep: the medoids of its farthest pieces, then of its territory
PIECES_PER_REP = 2


def relocation_candidates(p: AssignProblem, guide: np.ndarray) -> list[tuple[int, int]]:
    """(rep, unit) new homes to try, the likeliest blocker first.

    ``guide`` is a plan of ``p`` without contiguity (rep index per unit). A
    rep's *reach* is the share of its guide TAM outside the connected piece
    holding its home: the rep whose best territory lies most away from its home
    is the likeliest to be blocked by it. Candidates of a rep: the
    TAM-weighted medoid (fewest TAM-weighted hops) of each piece away from home,
    heaviest piece first, then of its whole territory. Reps with reach go first,
    each one's first candidate before any second one; ties by rep index.
    Units that are another rep's home or locked to another rep are skipped.
    """
    guide = np.asarray(guide, dtype=np.int64)
    graph = _csgraph(p)
    taken = {u: r for u, r in p.fixed.items()}
    ranked: list[tuple[bool, int, float, int, int]] = []
    for r in range(p.n_reps):
        members = np.flatnonzero(guide == r)
        pieces = _pieces(graph, members)
        home = int(p.roots[r])
        away = [c for c in pieces if home not in c]
        away.sort(key=lambda c: (-float(p.tam[c].sum()), int(c.min())))
        total = float(p.tam[members].sum())
        reach = sum(float(p.tam[c].sum()) for c in away) / total if total > 0 else 0.0
        spots = [_medoid(graph, p.tam, c, within=True) for c in away[:PIECES_PER_REP]]
        spots.append(_medoid(graph, p.tam, members, within=False))
        seen: set[int] = set()
        rank = 0
        for u in spots:
            if u is None or u in seen or u == home or taken.get(u, r) != r:
                continue
            seen.add(u)
            ranked.append((reach <= 0, rank, -reach, r, u))
            rank += 1
    ranked.sort()
    return [(r, u) for *_, r, u in ranked]


def admits(p: AssignProblem, moves: tuple[tuple[int, int], ...], plan: np.ndarray) -> bool:
    """True when ``plan`` is a contiguous plan of ``p`` with the homes ``moves``'d.

    Hard bands (soft ones aside), locks, every territory connected on the
    adjacency graph and holding its (new) root.
    """
    q = moved(p, moves)
    plan = np.asarray(plan, dtype=np.int64)
    if len(plan) != p.n_units or any(plan[u] != r for u, r in q.fixed.items()):
        return False
    skip = (("tam_band",) if p.soft_tam else ()) + (("units_band",) if p.soft_account_units
                                                     else ())
    return not [m for m in check_plan(q, plan) if not m.startswith(skip + ("disruption",))]


def moved(p: AssignProblem, moves: tuple[tuple[int, int], ...]) -> AssignProblem:
    """``p`` with rep r's root at unit u for every (r, u) in ``moves``."""
    roots = list(p.roots)
    for r, u in moves:
        roots[r] = int(u)
    return dataclasses.replace(p, roots=tuple(roots))


def blocking_reps(p: AssignProblem, deadline: float, *, guide: np.ndarray | None,
                  find_plan: Callable[[AssignProblem, float], np.ndarray | None]) -> Blocking:
    """Find a home base whose move admits a contiguous plan (``p`` proven infeasible).

    Constructive: each candidate of :func:`relocation_candidates` in turn is
    made rep r's root and ``find_plan(moved problem, seconds)`` looks for a
    plan (at most :data:`RELOCATE_SECONDS` each); the first plan that
    :func:`admits` confirms is the answer. When no single move helps and time
    is left, the two likeliest blockers are moved together to their first
    candidates. Nothing is guessed: without a confirmed plan ``found`` is None.
    """
    t0 = time.perf_counter()
    singles = [] if guide is None else relocation_candidates(p, guide)
    tries: list[tuple[tuple[int, int], ...]] = [((r, u),) for r, u in singles]
    first: dict[int, tuple[int, int]] = {}
    for r, u in singles:  # each rep's first candidate, likeliest blocker first
        first.setdefault(r, (r, u))
    pair = tuple(list(first.values())[:2])
    if len(pair) == 2 and pair[0][1] != pair[1][1]:
        tries.append(pair)
    tried = 0
    for moves in tries:
        left = deadline - time.perf_counter()
        if left < 1.0:
            break
        tried += 1
        seconds = min(RELOCATE_SECONDS, left)
        plan = find_plan(moved(p, moves), seconds)
        ok = plan is not None and admits(p, moves, plan)
        log.info("home base%s %s: %s", "s" if len(moves) > 1 else "",
                 " and ".join(f"{p.rep_ids[r]} moved to unit {p.unit_ids[u]}"
                              for r, u in moves),
                 "a contiguous plan meets the bands" if ok else "no plan found")
        if ok:
            return Blocking(Relocation(moves, np.asarray(plan, dtype=np.int64)), tried,
                            time.perf_counter() - t0)
    return Blocking(None, tried, time.perf_counter() - t0)


def _csgraph(p: AssignProblem) -> sp.csr_matrix:
    e = AdjacencyIndex.edges_of(p)
    n = p.n_units
    return sp.csr_matrix((np.ones(2 * len(e)), (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])),
                         shape=(n, n))


def _pieces(graph: sp.csr_matrix, members: np.ndarray) -> list[np.ndarray]:
    """The connected pieces of ``members`` (unit indices), each sorted."""
    if len(members) == 0:
        return []
    _, label = connected_components(graph[members][:, members], directed=False)
    return [members[label == c] for c in range(label.max() + 1)]


def _medoid(graph: sp.csr_matrix, tam: np.ndarray, units: np.ndarray, *,
            within: bool) -> int | None:
    """The unit of ``units`` with the fewest TAM-weighted hops to the others (lowest index
    on ties); hops inside ``units`` when ``within``, else on the whole graph."""
    if len(units) == 0:
        return None
    sub = graph[units][:, units] if within else graph
    hops = shortest_path(sub, unweighted=True, directed=False,
                         indices=np.arange(len(units)) if within else units)
    hops = hops if within else hops[:, units]
    hops = np.where(np.isfinite(hops), hops, len(tam))
    return int(units[int(np.argmin(hops @ np.asarray(tam, float)[units]))])


def _model(cp_model, p: AssignProblem):
    """The CP-SAT model of the module docstring; returns it and the x variables."""
    n, m = p.n_units, p.n_reps
    model = cp_model.CpModel()
    x = [[model.NewBoolVar(f"x_{u}_{r}") for r in range(m)] for u in range(n)]
    for row in x:
        model.AddExactlyOne(row)
    for u, r in p.fixed.items():
        model.Add(x[u][r] == 1)
    _add_bands(model, p, x)
    index = AdjacencyIndex(p)
    tail, head = index.tail.tolist(), index.head.tolist()
    for r in range(m):
        _add_flow(model, x, r, int(p.roots[r]), tail, head, n, _max_units(p, r))
    return model, x


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


def _add_flow(model, x, r: int, root: int, tail: list[int], head: list[int], n: int,
              most: int) -> None:
    """Flow rows of rep r, rooted at ``root``."""
    inflow: list[list] = [[] for _ in range(n)]
    outflow: list[list] = [[] for _ in range(n)]
    for i, j in zip(tail, head):
        if j == root:
            continue
        f = model.NewIntVar(0, max(most - 1, 1), f"f_{r}_{i}_{j}")
        model.Add(f == 0).OnlyEnforceIf(x[i][r].Not())
        model.Add(f == 0).OnlyEnforceIf(x[j][r].Not())
        inflow[j].append(f)
        outflow[i].append(f)
    for u in range(n):
        if u != root:
            model.Add(sum(inflow[u]) - sum(outflow[u]) == x[u][r])
