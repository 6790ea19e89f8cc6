r"""Assign stage: the integer program that gives every unit to exactly one rep.

Formulation
-----------
Sets
    :math:`U` units, :math:`R` reps, :math:`C(u) \subseteq R` candidate reps of
    unit :math:`u` (the :math:`k` cheapest, plus the rep whose root or lock it is),
    :math:`A` the arcs of the unit adjacency graph (both directions).
Data
    :math:`t_u` TAM, :math:`a_u` account units, :math:`c_{ur}` cost of giving
    :math:`u` to :math:`r` (weight of :math:`u` x drive hours from :math:`r`'s
    base), :math:`T_r` TAM target of :math:`r` (the mean, or scaled by the rep's
    capacity), :math:`\tau` TAM tolerance, :math:`[L_r, H_r]` account-unit band,
    :math:`m_{ur}` accounts (or TAM) of :math:`u` whose current rep is not :math:`r`.
Variables
    :math:`x_{ur} \in \{0,1\}` unit :math:`u` goes to rep :math:`r`;
    :math:`f_{rij} \ge 0` contiguity flow of rep :math:`r` on arc :math:`(i,j)`;
    slacks :math:`s \ge 0` only on the bands made soft.
Constraints (each built by a small named function below)
    * ``one_rep_per_unit``: :math:`\sum_{r \in C(u)} x_{ur} = 1`.
    * ``tam_band``: :math:`(1-\tau) T_r \le \sum_u t_u x_{ur} \le (1+\tau) T_r`
      (rows scaled by the mean TAM so coefficients are O(1)).
    * ``units_band``: :math:`L_r \le \sum_u a_u x_{ur} \le H_r`.
    * ``contiguity`` (single-commodity flow rooted at the rep's root unit
      :math:`o_r`, which is fixed to :math:`r`): for :math:`i \ne o_r`,
      :math:`\sum_j f_{rji} - \sum_j f_{rij} = x_{ir}`;
      :math:`f_{rij} \le M_r x_{ir}`, :math:`f_{rij} \le M_r x_{jr}`
      (:math:`M_r` = number of units that can go to :math:`r`). Every unit of
      :math:`r` then receives one unit of flow along a path inside the
      territory, so the territory is connected.
    * ``locks``: :math:`x_{ur} = 1` for locked pairs and root units.
    * ``disruption``: :math:`\sum_{u,r} m_{ur} x_{ur} \le \mu M` (share
      :math:`\mu` of all currently owned accounts or TAM :math:`M`).
Objective
    :math:`\min \sum_{u,r} (c_{ur} + \kappa q_{ur}) x_{ur}
    + \lambda \sum_{u,r} m_{ur} x_{ur} / M + \text{penalty} \cdot \sum s`,
    where :math:`q_{ur}` is the optional compactness cost (moment of inertia:
    TAM-weighted squared distance from unit :math:`u` to :math:`r`'s base, see
    :func:`inertia_cost`) and :math:`\kappa` its weight (0 by default).

Units with no accounts (:math:`t_u = a_u = 0`) do not size the model: the
pipeline first contracts each of them into an account-bearing *anchor* unit
(:mod:`territory.geo.contract`: multi-source BFS on the adjacency graph, fewest
hops, ties by distance then id), so :math:`U` is the set of anchors and
:math:`A` the arcs between their groups. Every group is connected, so a plan
contiguous on the contracted graph is contiguous on the full one; a group's TAM
and account units are its anchor's, so the bands are unchanged; the plan is
expanded back to every unit (each empty unit goes with its anchor), leaving no
holes on the map (``scenario.contract_empty_units = false`` solves on every unit).

The solver is passed in by name (HiGHS by default, CBC where present); the
status is checked and turned into a clear result. While HiGHS runs, every
improving plan is logged (objective, bound, gap, elapsed); at the time limit
the best plan found so far is returned with its gap and bound.

Large instances without contiguity (many thousand units) go to a primal
strategy of our own on the *same* formulation (:mod:`territory.optimize.lns`): the
model is built directly in ``highspy``, its LP relaxation gives the bound and a
warm start (fix the units the LP assigns whole, solve the rest as a small MIP),
and a large-neighbourhood search re-solves sub-MIPs over a few neighbouring reps
at a time (fix-and-optimise) until the time limit. When the pruned model is
infeasible the candidate sets are widened (k, 2k, ..., all reps); when even
the full model is infeasible, :func:`explain_infeasible` solves an elastic
version and says which rule breaks, for which rep, by how much, and what to
change.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pulp

from ..config import BalanceConfig, SolverConfig
from ..errors import InfeasibleError, InputError

__all__ = [
    "AssignProblem",
    "AssignResult",
    "check_plan",
    "explain_infeasible",
    "feasible_rep_counts",
    "inertia_cost",
    "make_solver",
    "solve_assignment",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AssignProblem:
    """Everything the integer program needs, as plain arrays.

    Attributes
    ----------
    unit_ids, rep_ids
        Labels of the rows / columns.
    tam, account_units
        Per unit, shape ``(n,)``.
    cost
        ``(n, m)`` cost of giving unit i to rep j (weighted drive hours).
    tam_target
        ``(m,)`` TAM each rep should carry (sums to the total TAM).
    units_lo, units_hi
        ``(m,)`` account-unit band per rep.
    adjacency
        Unit adjacency graph (nodes = unit ids) used when ``contiguity``.
    roots
        ``(m,)`` unit index rooting each rep's territory (fixed to that rep).
    locks
        ``{unit index: rep index}`` fixed assignments.
    moved
        ``(n, m)`` accounts (or TAM) moved away from their current rep if unit i
        goes to rep j; None when no current alignment is known.
    compactness, compactness_weight
        Optional ``(n, m)`` compactness cost (e.g. :func:`inertia_cost`) and its
        weight in the objective; the term is off while the weight is 0.
    """

    unit_ids: tuple[str, ...]
    rep_ids: tuple[str, ...]
    tam: np.ndarray
    account_units: np.ndarray
    cost: np.ndarray
    tam_target: np.ndarray
    units_lo: np.ndarray
    units_hi: np.ndarray
    tam_tolerance: float = 0.15
    contiguity: bool = False
    adjacency: nx.Graph | None = None
    roots: tuple[int, ...] | None = None
    locks: dict[int, int] = field(default_factory=dict)
    moved: np.ndarray | None = None
    moved_total: float = 0.0
    max_moved_share: float | None = None
    disruption_weight: float = 0.0
    soft_tam: bool = False
    soft_units: bool = False
    penalty: float = 1000.0
    compactness_weight: float = 0.0
    compactness: np.ndarray | None = None

    @property
    def n_units(self) -> int:
        return len(self.unit_ids)

    @property
    def effective_cost(self) -> np.ndarray:
        """Per-pair objective coefficient: travel cost plus weighted compactness."""
        if self.compactness_weight and self.compactness is not None:
            return self.cost + self.compactness_weight * self.compactness
        return self.cost

    @property
    def n_reps(self) -> int:
        return len(self.rep_ids)

    @classmethod
    def with_balance(cls, balance: BalanceConfig, **kwargs) -> AssignProblem:
        """Build a problem taking tolerance, bands and softness from a :class:`BalanceConfig`."""
        m = len(kwargs["rep_ids"])
        capacity = np.asarray(kwargs.pop("capacity", np.ones(m)), dtype=float)
        share = capacity / capacity.sum()
        tam = np.asarray(kwargs["tam"], dtype=float)
        kwargs.setdefault("tam_target", tam.sum() * share)
        kwargs.setdefault("units_lo", balance.account_units_min * capacity)
        kwargs.setdefault("units_hi", balance.account_units_max * capacity)
        return cls(tam_tolerance=balance.tam_tolerance, soft_tam=balance.soft_tam,
                   soft_units=balance.soft_account_units, penalty=balance.penalty, **kwargs)


@dataclass(frozen=True)
class AssignResult:
    """A solved plan and how it was found."""

    rep_of_unit: np.ndarray
    status: str
    objective: float
    bound: float | None
    gap: float | None
    solve_seconds: float
    build_seconds: float
    solver: str
    candidates: int
    slack: dict[str, float] = field(default_factory=dict)
    #: objective part paid for soft-band slack (penalty x total slack)
    penalty_cost: float = 0.0
    #: "pulp" (the documented PuLP model) or "lns" (same model in highspy + our search)
    engine: str = "pulp"
    #: LP-relaxation bound of the (pruned) model, when computed
    lp_bound: float | None = None
    #: improving plans as (seconds, objective, bound) rows
    history: tuple[tuple[float, float, float | None], ...] = ()


def inertia_cost(tam: np.ndarray, unit_xy: np.ndarray, base_xy: np.ndarray) -> np.ndarray:
    """Compactness cost: TAM-weighted squared distance from each unit to each base.

    The moment of inertia of a territory about its rep's base is the sum of
    this cost over its units. Values are normalised (TAM by its mean, squared
    distance by the mean squared distance to the nearest base) so that a
    ``compactness_weight`` of 1 weighs compactness about like one unit of
    weighted drive hours; units without TAM weigh a little (2%) so they still
    sit close.

    Parameters
    ----------
    tam
        ``(n,)`` TAM per unit.
    unit_xy, base_xy
        ``(n, 2)`` and ``(m, 2)`` planar coordinates (e.g. equal-area km from
        :func:`territory.seed.project_points`).

    Returns
    -------
    numpy.ndarray
        ``(n, m)`` matrix for :attr:`AssignProblem.compactness`.
    """
    tam = np.asarray(tam, dtype=float)
    d2 = ((np.asarray(unit_xy, float)[:, None, :] - np.asarray(base_xy, float)[None]) ** 2).sum(2)
    ref = float(d2.min(axis=1).mean()) or 1.0
    w = tam / tam[tam > 0].mean() if (tam > 0).any() else np.ones_like(tam)
    return np.maximum(w, 0.02)[:, None] * d2 / ref


# ----------------------------------------------------------------------------- solver


class Progress:
    """Logs every improving MIP solution HiGHS reports and keeps the history.

    Used as a HiGHS callback (``kCallbackMipImprovingSolution``) through PuLP's
    ``callbackTuple``; each improvement is one ``INFO`` line: objective, bound,
    gap, elapsed seconds.
    """

    def __init__(self, label: str = "MIP") -> None:
        self.label = label
        self.history: list[tuple[float, float, float | None]] = []
        self.t0 = time.perf_counter()

    def record(self, objective: float, bound: float | None, elapsed: float | None = None) -> None:
        elapsed = time.perf_counter() - self.t0 if elapsed is None else elapsed
        bound = bound if bound is not None and math.isfinite(bound) else None
        self.history.append((float(elapsed), float(objective), bound))
        gap = (abs(objective - bound) / max(abs(objective), 1e-9)) if bound is not None else None
        log.info("%s improving plan: objective %.6g, bound %s, gap %s, %.1f s", self.label,
                 objective, "-" if bound is None else f"{bound:.6g}",
                 "-" if gap is None else f"{gap:.2%}", elapsed)

    def __call__(self, callback_type, message, data_out, data_in, user_data) -> None:
        try:
            self.record(data_out.objective_function_value, data_out.mip_dual_bound,
                        data_out.running_time)
        except Exception:  # never let logging break the solve
            log.debug("progress callback failed", exc_info=True)


def make_solver(cfg: SolverConfig, *, seed: int = 0, mip: bool = True,
                time_limit: float | None = None,
                progress: Progress | None = None) -> pulp.LpSolver:
    """The PuLP solver named in the config (HiGHS by default, CBC on request).

    With ``progress`` (HiGHS only), improving solutions are logged as they come.
    """
    limit = float(time_limit if time_limit is not None else cfg.time_limit_seconds)
    name = cfg.name.lower()
    if name == "highs":
        extra = {}
        if progress is not None and mip:
            import highspy

            extra = {"callbackTuple": (progress, None), "callbacksToActivate":
                     [highspy.cb.HighsCallbackType.kCallbackMipImprovingSolution]}
        solver = pulp.HiGHS(mip=mip, msg=cfg.msg, timeLimit=limit, gapRel=cfg.mip_gap,
                            threads=cfg.threads or None, random_seed=int(seed) % (2**31),
                            **extra)
    else:
        solver = pulp.PULP_CBC_CMD(mip=mip, msg=cfg.msg, timeLimit=limit, gapRel=cfg.mip_gap,
                                   threads=cfg.threads or None,
                                   options=[f"randomSeed {int(seed) % (2**31) or 1}"])
    if not solver.available():
        raise InputError(f"solver {cfg.name!r} is not available on this machine "
                         "(HiGHS comes with the highspy package; CBC needs a cbc binary)")
    return solver


# ----------------------------------------------------------------------------- model


@dataclass
class _Model:
    lp: pulp.LpProblem
    x: dict[tuple[int, int], pulp.LpVariable]
    slacks: dict[str, list[pulp.LpVariable]]
    cand: list[list[int]]
    lock_slack: dict[int, pulp.LpVariable] = field(default_factory=dict)


def _candidates(p: AssignProblem, k: int) -> list[list[int]]:
    """The k cheapest reps of each unit, plus roots, locks and the current owner."""
    m = p.n_reps
    if k >= m:
        return [list(range(m)) for _ in range(p.n_units)]
    # argsort with a stable tie-break by rep index keeps the model deterministic
    order = np.argsort(p.effective_cost, axis=1, kind="stable")[:, :k]
    cand = [set(row.tolist()) for row in order]
    if p.roots is not None:
        for r, u in enumerate(p.roots):
            cand[u] = {r}
    for u, r in p.locks.items():
        cand[u] = {r}
    fixed = set(p.locks) | set(p.roots or ())
    if p.moved is not None:
        # the rep that moves fewest of the unit's accounts: keeping it must stay possible
        owner = np.argmin(p.moved, axis=1)
        for u in range(p.n_units):
            if u not in fixed:
                cand[u].add(int(owner[u]))
    return [sorted(c) for c in cand]


def _add_one_rep_per_unit(model: _Model, p: AssignProblem) -> None:
    for u, reps in enumerate(model.cand):
        model.lp += pulp.lpSum(model.x[u, r] for r in reps) == 1, f"one_rep_per_unit_{u}"


def _band(model: _Model, p: AssignProblem, name: str, values: np.ndarray, lo: np.ndarray,
          hi: np.ndarray, soft: bool, scale: float) -> None:
    """lo_r <= sum_u values_u x_ur <= hi_r for every rep, optionally with slack."""
    by_rep: list[list[int]] = [[] for _ in range(p.n_reps)]
    for u, reps in enumerate(model.cand):
        for r in reps:
            if values[u]:
                by_rep[r].append(u)
    for r in range(p.n_reps):
        expr = pulp.lpSum(float(values[u] / scale) * model.x[u, r] for u in by_rep[r])
        lo_r, hi_r = float(lo[r] / scale), float(hi[r] / scale)
        if soft:
            under = model.lp.add_variable(f"slack_{name}_under_{r}", lowBound=0)
            over = model.lp.add_variable(f"slack_{name}_over_{r}", lowBound=0)
            model.slacks.setdefault(f"{name}_under", []).append(under)
            model.slacks.setdefault(f"{name}_over", []).append(over)
            model.lp += expr + under >= lo_r, f"{name}_lo_{r}"
            model.lp += expr - over <= hi_r, f"{name}_hi_{r}"
        else:
            model.lp += expr >= lo_r, f"{name}_lo_{r}"
            model.lp += expr <= hi_r, f"{name}_hi_{r}"


def _add_tam_band(model: _Model, p: AssignProblem, soft: bool) -> None:
    scale = max(float(p.tam_target.mean()), 1.0)
    _band(model, p, "tam_band", p.tam, p.tam_target * (1 - p.tam_tolerance),
          p.tam_target * (1 + p.tam_tolerance), soft, scale)


def _add_units_band(model: _Model, p: AssignProblem, soft: bool) -> None:
    scale = max(float(p.units_hi.mean()), 1.0)
    _band(model, p, "units_band", p.account_units.astype(float), p.units_lo, p.units_hi,
          soft, scale)


def _add_locks(model: _Model, p: AssignProblem, soft: bool = False) -> None:
    fixed = dict(p.locks)
    if p.roots is not None:
        fixed.update({u: r for r, u in enumerate(p.roots)})
    for u, r in sorted(fixed.items()):
        if soft and u in p.locks:
            # elastic lock: breaking it costs one unit of slack
            s = model.lp.add_variable(f"slack_lock_{u}", lowBound=0, upBound=1)
            model.slacks.setdefault("locks", []).append(s)
            model.lock_slack[u] = s
            model.lp += model.x[u, r] + s >= 1, f"lock_{u}"
        else:
            model.lp += model.x[u, r] == 1, f"lock_{u}"


def _add_contiguity(model: _Model, p: AssignProblem) -> None:
    if p.adjacency is None or p.roots is None:
        raise InputError("contiguity needs the unit adjacency graph and a root unit per rep")
    index = {u: i for i, u in enumerate(p.unit_ids)}
    arcs = [(index[a], index[b]) for a, b in p.adjacency.edges() if a in index and b in index]
    arcs += [(b, a) for a, b in arcs]
    arcs.sort()
    members: list[set[int]] = [set() for _ in range(p.n_reps)]
    for u, reps in enumerate(model.cand):
        for r in reps:
            members[r].add(u)
    for r in range(p.n_reps):
        root = p.roots[r]
        big_m = max(len(members[r]) - 1, 1)
        inflow: dict[int, list[pulp.LpVariable]] = {}
        outflow: dict[int, list[pulp.LpVariable]] = {}
        for i, j in arcs:
            if i in members[r] and j in members[r] and j != root:
                f = model.lp.add_variable(f"flow_{r}_{i}_{j}", lowBound=0)
                outflow.setdefault(i, []).append(f)
                inflow.setdefault(j, []).append(f)
                model.lp += f <= big_m * model.x[j, r], f"flow_in_{r}_{i}_{j}"
                if i != root:
                    model.lp += f <= big_m * model.x[i, r], f"flow_out_{r}_{i}_{j}"
        for i in sorted(members[r]):
            if i == root:
                continue
            model.lp += (pulp.lpSum(inflow.get(i, [])) - pulp.lpSum(outflow.get(i, []))
                         == model.x[i, r]), f"contiguity_{r}_{i}"


def _disruption_expr(model: _Model, p: AssignProblem) -> pulp.LpAffineExpression:
    assert p.moved is not None
    scale = max(p.moved_total, 1.0)
    return pulp.lpSum(float(p.moved[u, r] / scale) * model.x[u, r]
                      for u, reps in enumerate(model.cand) for r in reps if p.moved[u, r])


def _add_disruption(model: _Model, p: AssignProblem, soft: bool) -> None:
    if p.moved is None or p.max_moved_share is None:
        return
    expr = _disruption_expr(model, p)
    if soft:
        over = model.lp.add_variable("slack_disruption_over", lowBound=0)
        model.slacks["disruption_over"] = [over]
        model.lp += expr - over <= p.max_moved_share, "disruption"
    else:
        model.lp += expr <= p.max_moved_share, "disruption"


def _build(p: AssignProblem, k: int, *, elastic: bool = False,
           contiguity: bool | None = None, soft_locks: bool = False) -> _Model:
    cand = _candidates(p, k)
    if soft_locks and p.locks:
        free = _candidates(dataclasses.replace(p, locks={}), k)
        for u, r in p.locks.items():
            cand[u] = sorted(set(free[u]) | {r})
    lp = pulp.LpProblem("territory_assignment", pulp.LpMinimize)
    x = {(u, r): lp.add_variable(f"x_{u}_{r}", lowBound=0, upBound=1, cat=pulp.LpBinary)
         for u, reps in enumerate(cand) for r in reps}
    model = _Model(lp, x, {}, cand)
    _add_one_rep_per_unit(model, p)
    _add_tam_band(model, p, soft=elastic or p.soft_tam)
    _add_units_band(model, p, soft=elastic or p.soft_units)
    _add_locks(model, p, soft=soft_locks)
    if p.contiguity if contiguity is None else contiguity:
        _add_contiguity(model, p)
    _add_disruption(model, p, soft=elastic)
    cost = p.effective_cost
    travel = pulp.lpSum(float(cost[u, r]) * x[u, r] for (u, r) in sorted(x))
    slack_sum = pulp.lpSum(v for name in sorted(model.slacks) for v in model.slacks[name])
    if elastic:
        # Minimise the breach first; travel only breaks ties between equal breaches.
        norm = max(float(np.abs(p.cost).sum()), 1.0)
        lp += slack_sum * 1e4 + travel / norm
    else:
        objective = travel + p.penalty * slack_sum
        if p.moved is not None and p.disruption_weight > 0:
            objective += p.disruption_weight * _disruption_expr(model, p)
        lp += objective
    return model


@dataclass
class _Solved:
    status: int
    seconds: float
    bound: float | None
    gap: float | None
    has_plan: bool
    time_limit: bool


def _solve(model: _Model, solver: pulp.LpSolver) -> _Solved:
    t0 = time.perf_counter()
    status = model.lp.solve(solver)
    seconds = time.perf_counter() - t0
    bound = gap = None
    has_plan = model.lp.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    time_limit = False
    highs = getattr(model.lp, "solverModel", None)
    if highs is not None and hasattr(highs, "getInfo"):
        import highspy

        info = highs.getInfo()
        bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
        gap = float(info.mip_gap) if math.isfinite(info.mip_gap) else None
        # PuLP maps "time limit" to optimal/integer-feasible even when HiGHS has no plan
        has_plan = has_plan and info.primal_solution_status == 2
        time_limit = highs.getModelStatus() == highspy.HighsModelStatus.kTimeLimit
        if not isinstance(solver, pulp.HiGHS) or not solver.mip:
            bound = gap = None
    return _Solved(status, seconds, bound, gap, has_plan, time_limit)


def _extract(model: _Model, p: AssignProblem) -> np.ndarray:
    rep_of = np.full(p.n_units, -1, dtype=np.int64)
    for u, reps in enumerate(model.cand):
        best = max(reps, key=lambda r: (model.x[u, r].varValue or 0.0, -r))
        rep_of[u] = best
    return rep_of


def _status_name(model: _Model) -> str:
    highs = getattr(model.lp, "solverModel", None)
    if highs is not None and hasattr(highs, "getModelStatus"):
        text = highs.modelStatusToString(highs.getModelStatus()).lower()
        return {"optimal": "optimal", "time limit reached": "time_limit"}.get(text, text)
    return pulp.LpStatus[model.lp.status].lower()


#: above this many candidate pairs (and without contiguity), "auto" uses the LNS engine
LNS_MIN_PAIRS = 20_000
#: the elastic (explaining) model uses every rep as a candidate up to this many pairs
ELASTIC_MAX_PAIRS = 2_000_000
#: with contiguity (flow model, much harder for the solver) from this many units on
LNS_MIN_UNITS_CONTIGUOUS = 400


def _engine(p: AssignProblem, cfg: SolverConfig, k: int) -> str:
    engine = str(getattr(cfg, "engine", "auto")).lower()
    if engine not in ("auto", "pulp", "lns"):
        raise InputError(f"config: solver.engine must be 'auto', 'pulp' or 'lns', got {engine!r}")
    lns_ok = (cfg.name.lower() == "highs" and p.max_moved_share is None
              and (not p.contiguity or (p.roots is not None and p.adjacency is not None)))
    if engine == "lns" and not lns_ok:
        log.info("the LNS engine needs HiGHS, no disruption cap, and roots with contiguity; "
                 "using PuLP")
        return "pulp"
    if engine == "auto":
        big = (p.n_units >= LNS_MIN_UNITS_CONTIGUOUS if p.contiguity
               else p.n_units * k >= LNS_MIN_PAIRS)
        return "lns" if lns_ok and big else "pulp"
    return engine


def solve_assignment(p: AssignProblem, cfg: SolverConfig, *, seed: int = 0) -> AssignResult:
    """Solve the assignment, widening candidate sets until feasible.

    At the time limit the best plan found so far is returned (``status``
    ``"time_limit"``, with ``gap`` and ``bound``). Large instances without
    contiguity use the LNS engine (:mod:`territory.optimize.lns`) on the same model;
    ``solver.engine`` (``auto``/``pulp``/``lns``) overrides the choice.

    Raises
    ------
    InfeasibleError
        No plan meets the hard constraints, with :func:`explain_infeasible`'s text.
    """
    _precheck(p)
    k = min(cfg.candidates, p.n_reps)
    deadline = time.perf_counter() + cfg.time_limit_seconds
    if _engine(p, cfg, k) == "lns":
        from .lns import solve_lns

        result = solve_lns(p, cfg, seed=seed, k=k, deadline=deadline)
        if result is not None:
            return result
        log.info("the LNS engine found no plan; trying the full PuLP model")
    while True:
        t0 = time.perf_counter()
        model = _build(p, k)
        build = time.perf_counter() - t0
        remaining = max(deadline - time.perf_counter(), min(10.0, cfg.time_limit_seconds))
        log.info("solving %d units x %d reps (%d candidates per unit, %d variables, %d rows) "
                 "with %s, time limit %.0f s", p.n_units, p.n_reps, k,
                 model.lp.numVariables(), model.lp.numConstraints(), cfg.name, remaining)
        progress = Progress()
        solved = _solve(model, make_solver(cfg, seed=seed, time_limit=remaining,
                                           progress=progress))
        # CBC (through PuLP) reports neither "time limit" nor "stopped with a plan";
        # a solve that used its whole budget is read as timed out, never as infeasible.
        used_budget = solved.seconds >= 0.95 * remaining
        if solved.status == pulp.LpStatusOptimal and solved.has_plan:
            rep_of = _extract(model, p)
            slack = {name: float(sum(v.varValue or 0.0 for v in vs))
                     for name, vs in model.slacks.items()}
            objective = float(pulp.value(model.lp.objective))
            status = _status_name(model)
            if status == "optimal" and used_budget and cfg.name.lower() != "highs":
                status = "time_limit"
            log.info("plan found: %s, objective %.6g, bound %s, gap %s, %.1f s",
                     status, objective, solved.bound, solved.gap, solved.seconds)
            return AssignResult(rep_of, status, objective, solved.bound, solved.gap,
                                solved.seconds, build, cfg.name, k, slack,
                                penalty_cost=p.penalty * sum(slack.values()),
                                history=tuple(progress.history))
        if solved.time_limit or used_budget or (time.perf_counter() >= deadline
                                 and solved.status != pulp.LpStatusInfeasible):
            raise InfeasibleError(
                f"no plan was found within the time limit ({cfg.time_limit_seconds:g} s) for "
                f"{p.n_units} units x {p.n_reps} reps"
                f"{' with contiguity' if p.contiguity else ''}; the model may well be "
                "feasible: raise solver.time_limit_seconds, or make the model smaller "
                "(region = \"accounts\", coarser units, contiguity = false).",
                {"constraint": "time_limit", "time_limit_seconds": cfg.time_limit_seconds})
        if k >= p.n_reps:
            break
        new_k = min(p.n_reps, 2 * k)
        log.info("no plan with %d candidate reps per unit (%s); widening to %d",
                 k, pulp.LpStatus[solved.status], new_k)
        k = new_k
    message, diagnosis = explain_infeasible(p, cfg, seed=seed)
    raise InfeasibleError(message, diagnosis)


# ----------------------------------------------------------------------------- checks


def check_plan(p: AssignProblem, rep_of_unit: np.ndarray, *, tol: float = 1e-6) -> list[str]:
    """Named checks of a plan, independent of the model; one message per breach.

    Checks: ``every_unit_assigned``, ``tam_band``, ``units_band``, ``contiguity``
    (with networkx on the adjacency graph), ``locks``, ``disruption``.
    """
    out: list[str] = []
    rep_of = np.asarray(rep_of_unit)
    if (rep_of < 0).any() or (rep_of >= p.n_reps).any():
        out.append("every_unit_assigned: some units have no rep")
        return out
    tam = np.bincount(rep_of, weights=p.tam, minlength=p.n_reps)
    au = np.bincount(rep_of, weights=p.account_units, minlength=p.n_reps)
    for r, rep in enumerate(p.rep_ids):
        lo, hi = p.tam_target[r] * (1 - p.tam_tolerance), p.tam_target[r] * (1 + p.tam_tolerance)
        if tam[r] < lo * (1 - tol) or tam[r] > hi * (1 + tol):
            dev = tam[r] / p.tam_target[r] - 1 if p.tam_target[r] else float("inf")
            out.append(f"tam_band: rep {rep} has TAM {tam[r]:,.0f}, {dev:+.1%} from its "
                       f"target {p.tam_target[r]:,.0f} (allowed ±{p.tam_tolerance:.0%})")
        if au[r] < p.units_lo[r] - tol or au[r] > p.units_hi[r] + tol:
            out.append(f"units_band: rep {rep} has {au[r]:.0f} account units, outside "
                       f"{p.units_lo[r]:.0f}–{p.units_hi[r]:.0f}")
    if p.contiguity and p.adjacency is not None:
        for r, rep in enumerate(p.rep_ids):
            members = [p.unit_ids[u] for u in np.flatnonzero(rep_of == r)]
            if members and not nx.is_connected(p.adjacency.subgraph(members)):
                n = nx.number_connected_components(p.adjacency.subgraph(members))
                out.append(f"contiguity: rep {rep}'s territory is in {n} pieces")
    for u, r in p.locks.items():
        if rep_of[u] != r:
            out.append(f"locks: unit {p.unit_ids[u]} is locked to {p.rep_ids[r]} "
                       f"but went to {p.rep_ids[rep_of[u]]}")
    if p.moved is not None and p.max_moved_share is not None and p.moved_total > 0:
        share = p.moved[np.arange(p.n_units), rep_of].sum() / p.moved_total
        if share > p.max_moved_share + tol:
            out.append(f"disruption: {share:.1%} moved, above the cap {p.max_moved_share:.0%}")
    return out


# ----------------------------------------------------------------------------- infeasibility


def _feasible_rep_counts(total: float, lo: float, hi: float) -> tuple[int, int]:
    return max(1, math.ceil(total / hi)) if hi > 0 else 1, math.floor(total / lo) if lo > 0 else 10**9


def feasible_rep_counts(p: AssignProblem) -> dict:
    """The rep counts that both bands allow, computed (not guessed) from the data.

    With equal capacities and ``n`` reps, a plan needs
    (account units) ``n * lo <= total <= n * hi`` and every unit within one rep's
    ``hi``, i.e. ``ceil(total/hi) <= n <= floor(total/lo)``; (TAM) the largest
    unit fits a territory, ``t_max <= (1+tol) * total_tam / n``, i.e.
    ``n <= floor(total_tam * (1+tol) / t_max)``. Soft bands impose nothing.
    These are necessary conditions: outside the range no plan exists.

    Returns
    -------
    dict
        ``min``, ``max`` (None when unbounded), ``by_units`` and ``by_tam``
        (each ``[min, max]``), and ``fits`` (the current count is inside).
    """
    inf = None
    by_units: list[int | None] = [1, inf]
    if not p.soft_units:
        lo, hi = float(p.units_lo.mean()), float(p.units_hi.mean())
        total = float(p.account_units.sum())
        n_min, n_max = _feasible_rep_counts(total, lo, hi)
        by_units = [n_min, n_max if lo > 0 else inf]
        if p.account_units.size and p.account_units.max() > hi + 1e-9:
            by_units = [n_min, 0]  # no count fits: a single unit is too big
    by_tam: list[int | None] = [1, inf]
    if not p.soft_tam and p.tam.size and p.tam.max() > 0:
        total_tam = float(p.tam.sum())
        by_tam = [1, int(math.floor(total_tam * (1 + p.tam_tolerance) / float(p.tam.max())
                                    + 1e-9))]
    lo_n = max(by_units[0], by_tam[0])
    his = [h for h in (by_units[1], by_tam[1]) if h is not None]
    hi_n = min(his) if his else None
    fits = lo_n <= p.n_reps and (hi_n is None or p.n_reps <= hi_n)
    return {"min": lo_n, "max": hi_n, "by_units": by_units, "by_tam": by_tam, "fits": fits,
            "n_reps": p.n_reps}


def _rep_count_text(rc: dict) -> str:
    if rc["max"] is not None and rc["min"] > rc["max"]:
        return "no rep count satisfies both bands: widen a band or use finer units"
    span = f"{rc['min']}–{rc['max']}" if rc["max"] is not None else f"at least {rc['min']}"
    return (f"the bands allow {span} reps (account units: "
            f"{rc['by_units'][0]}–{rc['by_units'][1] if rc['by_units'][1] is not None else '∞'}, "
            f"TAM: at most {rc['by_tam'][1] if rc['by_tam'][1] is not None else '∞'}; now "
            f"{rc['n_reps']})")


def _precheck(p: AssignProblem) -> None:
    """Cheap, exact reasons a plan cannot exist; raise before building any model."""
    if p.roots is not None:
        for r, u in enumerate(p.roots):
            other = p.locks.get(u)
            if other is not None and other != r:
                raise InfeasibleError(
                    f"locks: unit {p.unit_ids[u]} is locked to {p.rep_ids[other]} but is the "
                    f"home base of {p.rep_ids[r]}; unlock it or move the home base.",
                    {"constraint": "locks", "unit": p.unit_ids[u]})
        if len(set(p.roots)) != len(p.roots):
            raise InputError("two reps share a root unit; give each rep its own base unit")
    if p.contiguity and p.adjacency is not None and p.roots is not None:
        sub = p.adjacency.subgraph(p.unit_ids)
        rooted = {p.unit_ids[u] for u in p.roots}
        stray = sorted((c for c in nx.connected_components(sub) if not (c & rooted)),
                       key=lambda c: (-len(c), min(c)))
        if stray or sub.number_of_nodes() < p.n_units:
            missing = sorted(set(p.unit_ids) - set(sub.nodes))
            units = sorted(set().union(*stray)) if stray else missing
            raise InfeasibleError(
                f"contiguity cannot hold: {len(units)} unit(s) are not connected to any rep's "
                f"home base in the adjacency graph (e.g. {', '.join(map(str, units[:5]))}). "
                "Islands and gaps in the unit map do this: turn contiguity off, add a base "
                "there, or join the pieces in the adjacency graph.",
                {"constraint": "contiguity", "unreachable_units": list(map(str, units))})
    total_au = float(p.account_units.sum())
    lo, hi = float(p.units_lo.sum()), float(p.units_hi.sum())
    if not p.soft_units and (total_au < lo - 1e-9 or total_au > hi + 1e-9):
        mean_lo, mean_hi = float(p.units_lo.mean()), float(p.units_hi.mean())
        rc = feasible_rep_counts(p)
        n_min, n_max = rc["min"], rc["max"]
        which = "too many" if total_au < lo else "too few"
        span = (f"{n_min}–{n_max} reps" if n_max is None or n_min <= n_max
                else "no rep count fits both bands: widen a band")
        per_rep = total_au / p.n_reps
        raise InfeasibleError(
            f"account-units band cannot hold: {p.n_reps} reps x {mean_lo:.0f}–{mean_hi:.0f} "
            f"units take {lo:.0f}–{hi:.0f} account units, but the accounts total {total_au:.0f} "
            f"({per_rep:.1f} per rep). {which} reps: use {span} ({_rep_count_text(rc)}), "
            f"or widen the band to include {per_rep:.0f} units per rep.",
            {"constraint": "units_band", "total_account_units": total_au, "n_reps": p.n_reps,
             "feasible_rep_counts": [n_min, n_max], "rep_counts": rc,
             "units_per_rep": per_rep},
        )
    if not p.soft_units:
        big = np.flatnonzero(p.account_units > p.units_hi.max() + 1e-9)
        if big.size:
            u = int(big[np.argmax(p.account_units[big])])
            raise InfeasibleError(
                f"account-units band cannot hold: unit {p.unit_ids[u]} alone has "
                f"{p.account_units[u]:.0f} account units, above the {p.units_hi.max():.0f} "
                "maximum of any rep. Use finer units (e.g. ZIP instead of county) or widen "
                "the band.",
                {"constraint": "units_band", "unit": p.unit_ids[u],
                 "unit_account_units": float(p.account_units[u])},
            )
    if not p.soft_tam:
        cap = p.tam_target.max() * (1 + p.tam_tolerance)
        big = np.flatnonzero(p.tam > cap + 1e-6)
        if big.size:
            u = int(big[np.argmax(p.tam[big])])
            need = p.tam[u] / p.tam_target.max() - 1
            rc = feasible_rep_counts(p)
            raise InfeasibleError(
                f"TAM band cannot hold: unit {p.unit_ids[u]} alone has TAM "
                f"{p.tam[u]:,.0f}, {need:+.0%} over a territory's target "
                f"{p.tam_target.max():,.0f} (allowed +{p.tam_tolerance:.0%}). Use finer units, "
                f"fewer reps ({_rep_count_text(rc)}), or widen tam_tolerance to at least "
                f"{math.ceil(need * 100) / 100:.2f}.",
                {"constraint": "tam_band", "unit": p.unit_ids[u], "unit_tam": float(p.tam[u]),
                 "min_tolerance": need, "feasible_rep_counts": [rc["min"], rc["max"]],
                 "rep_counts": rc},
            )


def explain_infeasible(p: AssignProblem, cfg: SolverConfig, *, seed: int = 0) -> tuple[str, dict]:
    """Solve an elastic model and say which rule breaks, for whom, by how much.

    Every band (TAM, account units, disruption cap) gets slack; the model
    minimises the total breach. When the elastic model needs no slack with
    contiguity off but does with it on, contiguity (with the roots and locks)
    is named as the binding rule.

    Returns
    -------
    (message, diagnosis)
    """
    solver = make_solver(cfg, seed=seed)
    # all reps as candidates, unless that model would not fit in memory
    k_all = p.n_reps if p.n_units * p.n_reps <= ELASTIC_MAX_PAIRS else min(
        p.n_reps, max(4 * cfg.candidates, ELASTIC_MAX_PAIRS // max(p.n_units, 1)))
    model = _build(p, k_all, elastic=True)
    solved = _solve(model, solver)
    rc = feasible_rep_counts(p)
    if not solved.has_plan and solved.time_limit:
        return (("no plan was found within the time limit, and the check for which rule "
                 "breaks ran out of time too: raise solver.time_limit_seconds, or use fewer "
                 "candidates or no contiguity to find out."),
                {"constraint": "time_limit", "rep_counts": rc})
    if not solved.has_plan:
        text = ("no plan exists even with every band relaxed: the locks and roots conflict "
                "(a unit locked to two reps, or contiguity impossible from the roots). "
                "Check locks.csv and the reps' home bases.")
        return text, {"constraint": "locks", "status": pulp.LpStatus[solved.status],
                      "locks": _lock_names(p, p.locks)}
    breaches = _breaches(model, p)
    if not breaches and p.contiguity:
        return (("no feasible plan was found within the time limit, although the elastic "
                 "model found a plan that breaks no band: raise solver.time_limit_seconds."),
                {"constraint": "time_limit"})
    if p.contiguity:
        relaxed = _build(p, k_all, elastic=True, contiguity=False)
        _solve(relaxed, make_solver(cfg, seed=seed))
        if not _breaches(relaxed, p):
            unlock = (f" Locks are involved: unlocking {', '.join(_lock_names(p, p.locks))} "
                      "may also help." if p.locks else "")
            return ("contiguity cannot hold together with the bands: every band can be met "
                    "only by splitting some territory into pieces (often a rep's home base sits "
                    "where its territory cannot grow). Options: turn contiguity off, widen "
                    "the bands, move or drop a rep's home base, or use finer units." + unlock,
                    {"constraint": "contiguity", "locks": _lock_names(p, p.locks)})
    if p.locks:
        unlocked = _build(p, k_all, elastic=True, soft_locks=True)
        _solve(unlocked, make_solver(cfg, seed=seed))
        loose = _breaches(unlocked, p)
        if not [b for b in loose if b["constraint"] != "locks"]:
            broken = {u: r for u, r in p.locks.items()
                      if (unlocked.lock_slack[u].varValue or 0.0) > 1e-6}
            names = _lock_names(p, broken or p.locks)
            return ((f"the locks make the plan infeasible: every band can be met once "
                     f"{'this lock is' if len(names) == 1 else 'these locks are'} released: "
                     f"{', '.join(names)}. Suggestion: unlock "
                     f"{'it' if len(names) == 1 else 'them'} (or lock to another rep), or "
                     f"widen the bands."),
                    {"constraint": "locks", "locks": names, "rep_counts": rc,
                     "suggestions": [f"unlock {n}" for n in names]})
    total = sum(b["amount"] for b in breaches)
    families = sorted({b["constraint"] for b in breaches})
    lines = [f"no plan meets every rule; the closest plan breaks {', '.join(families)}:"]
    for b in breaches[:12]:
        lines.append("  - " + b["text"])
    if len(breaches) > 12:
        lines.append(f"  - ... and {len(breaches) - 12} more")
    tips = _suggestions(p, breaches)
    if p.locks:
        tips.append(f"try unlocking {', '.join(_lock_names(p, p.locks)[:5])}")
    lines.append("What would make it feasible: " + "; ".join(tips) + ".")
    return "\n".join(lines), {"constraint": families[0] if len(families) == 1 else families,
                              "breaches": breaches, "total_breach": total,
                              "suggestions": tips, "rep_counts": rc,
                              "feasible_rep_counts": [rc["min"], rc["max"]]}


def _lock_names(p: AssignProblem, locks: dict[int, int]) -> list[str]:
    return [f"{p.unit_ids[u]}→{p.rep_ids[r]}" for u, r in sorted(locks.items())]


def _breaches(model: _Model, p: AssignProblem) -> list[dict]:
    out: list[dict] = []
    tam_scale = max(float(p.tam_target.mean()), 1.0)
    units_scale = max(float(p.units_hi.mean()), 1.0)
    for name, vars_ in sorted(model.slacks.items()):
        if name == "locks":
            continue
        for r, v in enumerate(vars_):
            amount = float(v.varValue or 0.0)
            if amount <= 1e-6:
                continue
            if name.startswith("tam_band"):
                dollars = amount * tam_scale
                side = "below" if name.endswith("under") else "above"
                bound = p.tam_target[r] * (1 - p.tam_tolerance if side == "below"
                                           else 1 + p.tam_tolerance)
                rel = dollars / p.tam_target[r]
                out.append({"constraint": "tam_band", "rep": p.rep_ids[r], "side": side,
                            "amount": dollars, "relative": rel,
                            "text": f"rep {p.rep_ids[r]}: TAM {dollars:,.0f} ({rel:.1%} of target) "
                                    f"{side} the band edge {bound:,.0f}"})
            elif name.startswith("units_band"):
                units = amount * units_scale
                side = "below" if name.endswith("under") else "above"
                edge = p.units_lo[r] if side == "below" else p.units_hi[r]
                out.append({"constraint": "units_band", "rep": p.rep_ids[r], "side": side,
                            "amount": units, "relative": units / max(edge, 1.0),
                            "text": f"rep {p.rep_ids[r]}: {units:.0f} account units {side} "
                                    f"the band edge {edge:.0f}"})
            else:
                out.append({"constraint": "disruption", "rep": None, "side": "above",
                            "amount": amount, "relative": amount,
                            "text": f"disruption: {amount:.1%} more moved than the cap "
                                    f"{p.max_moved_share:.0%}"})
    out.sort(key=lambda b: -b["relative"])
    return out


def _suggestions(p: AssignProblem, breaches: list[dict]) -> list[str]:
    tips: list[str] = []
    tam = [b for b in breaches if b["constraint"] == "tam_band"]
    units = [b for b in breaches if b["constraint"] == "units_band"]
    if tam:
        need = p.tam_tolerance + max(b["relative"] for b in tam)
        tips.append(f"widen tam_tolerance to at least {math.ceil(need * 100) / 100:.2f}")
    if units:
        over = max((b["amount"] for b in units if b["side"] == "above"), default=0.0)
        under = max((b["amount"] for b in units if b["side"] == "below"), default=0.0)
        lo = float(p.units_lo.mean()) - under
        hi = float(p.units_hi.mean()) + over
        tips.append(f"widen the account-units band to about {math.floor(lo)}–{math.ceil(hi)}")
    if tam or units:
        tips.append(_rep_count_text(feasible_rep_counts(p)))
    if any(b["constraint"] == "disruption" for b in breaches):
        extra = max(b["amount"] for b in breaches if b["constraint"] == "disruption")
        tips.append(f"raise disruption.max_moved_share to at least "
                    f"{math.ceil((p.max_moved_share + extra) * 100) / 100:.2f}")
    tips.append("use finer units (ZIP instead of county) so loads can be split more evenly")
    return tips
