"""What the optimizer is asked and what it answers: bands, the problem, the result.

Everything here is plain data (numpy arrays, a networkx graph for adjacency);
the pipeline translates its configuration into these objects at its edge, so
the optimizer never reads ``territory.config``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx
import numpy as np

__all__ = [
    "AssignProblem",
    "AssignResult",
    "Balancing",
    "Band",
    "BandRules",
    "Disruption",
    "RepCounts",
    "RepTargets",
    "check_plan",
    "feasible_rep_counts",
    "rep_targets",
    "inertia_cost",
]


@dataclass(frozen=True)
class Band:
    """Per-rep ``low <= load <= high``; model rows are divided by ``scale`` (O(1) coefficients).

    The scale is also the unit in which slack on a soft band is measured and
    penalised, so a sub-problem keeps its parent's scale.
    """

    low: np.ndarray
    high: np.ndarray
    scale: float

    def take(self, reps: np.ndarray) -> Band:
        """The band of a subset of reps, with the same scale."""
        return Band(self.low[reps], self.high[reps], self.scale)

    def breach(self, load: np.ndarray, reps: np.ndarray | None = None) -> np.ndarray:
        """Per-rep distance of ``load`` outside the band, in scaled units."""
        lo, hi = (self.low, self.high) if reps is None else (self.low[reps], self.high[reps])
        return (np.maximum(lo - load, 0) + np.maximum(load - hi, 0)) / self.scale


@dataclass(frozen=True)
class BandRules:
    """The balance rules as plain values (the pipeline builds this from its config).

    ``soft_*`` turns a band into a penalised constraint (``penalty`` per unit
    of scaled slack).
    """

    tam_tolerance: float = 0.15
    account_units_min: float = 0.0
    account_units_max: float = math.inf
    soft_tam: bool = False
    soft_account_units: bool = False
    penalty: float = 1000.0


@dataclass(frozen=True)
class RepTargets:
    """Per rep: the TAM target and the account-unit band, each scaled by the rep's capacity."""

    tam: np.ndarray
    account_units_lo: np.ndarray
    account_units_hi: np.ndarray


def rep_targets(total_tam: float, rules: BandRules, capacity: np.ndarray | None = None,
                n_reps: int | None = None) -> RepTargets:
    """The one rule scaling targets by capacity: what the optimizer plans and the scorecard flags.

    ``T_r = total_tam * c_r / sum(c)``, ``L_r = L * c_r``, ``H_r = H * c_r`` (a 0.5-FTE rep
    carries half a full rep's TAM and half the account-unit band). ``capacity`` None means
    ``n_reps`` reps of capacity 1.
    """
    c = (np.ones(int(n_reps or 0)) if capacity is None
         else np.asarray(capacity, dtype=float))
    share = c / c.sum() if c.sum() > 0 else c
    return RepTargets(float(total_tam) * share, rules.account_units_min * c,
                      rules.account_units_max * c)


@dataclass(frozen=True)
class Disruption:
    """How much of the current alignment a plan moves.

    ``moved[u, r]`` is the accounts (or TAM) of unit ``u`` whose current rep is
    not ``r``; ``total`` all currently owned accounts (or TAM). ``max_share``
    caps the moved share (hard); ``weight`` prices it in the objective.
    """

    moved: np.ndarray
    total: float
    max_share: float | None = None
    weight: float = 0.0

    @property
    def owner(self) -> np.ndarray:
        """Per unit, the rep that moves fewest of its accounts (its current owner)."""
        return np.argmin(self.moved, axis=1)


@dataclass(frozen=True)
class Balancing:
    """How much the objective cares about balance beyond the hard bands.

    ``weight`` prices the sum over reps of the absolute TAM and account-unit
    deviation from target (each in units of its mean target) in the objective;
    ``first`` minimises the largest relative deviation of any rep first, then
    the objective among plans whose largest deviation is at most ``slack``
    above that minimum.
    """

    weight: float = 0.0
    first: bool = False
    slack: float = 0.01

    @property
    def active(self) -> bool:
        return self.weight > 0 or self.first


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
    tam_target, tam_tolerance
        ``(m,)`` TAM each rep should carry (sums to the total TAM) and the
        allowed relative deviation.
    account_units_lo, account_units_hi
        ``(m,)`` account-unit band per rep (account units are the tier
        weights of the accounts, not geographic units).
    adjacency
        Unit adjacency graph (nodes = unit ids) used when ``contiguity``.
    roots
        ``(m,)`` unit index rooting each rep's territory (fixed to that rep).
    locks
        ``{unit index: rep index}`` fixed assignments.
    disruption
        The current alignment (moved matrix, cap, weight), or None.
    compactness, compactness_weight
        Optional ``(n, m)`` compactness cost (e.g. :func:`inertia_cost`) and its
        weight in the objective; the term is off while the weight is 0.
    tam_scale, account_units_scale
        Row scales of the bands; None derives them (mean target, mean upper
        account-unit band). Sub-problems pass their parent's.
    balancing
        The balance term and the balance-first mode (:class:`Balancing`), or None.
    unit_level
        ``"zip"``, ``"county"`` or None: only for the wording of explanations
        (finer units are suggested for a county plan alone).
    movable_roots
        The roots are the tool's choice (no home bases were given): when
        contiguity cannot hold from them, other roots are tried before the
        problem is called infeasible.
    """

    unit_ids: tuple[str, ...]
    rep_ids: tuple[str, ...]
    tam: np.ndarray
    account_units: np.ndarray
    cost: np.ndarray
    tam_target: np.ndarray
    account_units_lo: np.ndarray
    account_units_hi: np.ndarray
    tam_tolerance: float = 0.15
    contiguity: bool = False
    adjacency: nx.Graph | None = None
    roots: tuple[int, ...] | None = None
    locks: dict[int, int] = field(default_factory=dict)
    disruption: Disruption | None = None
    soft_tam: bool = False
    soft_account_units: bool = False
    penalty: float = 1000.0
    compactness_weight: float = 0.0
    compactness: np.ndarray | None = None
    tam_scale: float | None = None
    account_units_scale: float | None = None
    movable_roots: bool = False
    unit_level: str | None = None
    balancing: Balancing | None = None

    @classmethod
    def create(cls, unit_ids, rep_ids, tam, account_units, cost, rules: BandRules, *,
               capacity: np.ndarray | None = None, **options) -> AssignProblem:
        """A problem whose targets and bands follow ``rules``, scaled by each rep's capacity.

        ``options`` are the remaining fields (``contiguity``, ``adjacency``,
        ``roots``, ``locks``, ``disruption``, ``compactness``, ...).
        """
        tam = np.asarray(tam, dtype=float)
        t = rep_targets(float(tam.sum()), rules, capacity, len(rep_ids))
        return cls(tuple(unit_ids), tuple(rep_ids), tam, np.asarray(account_units, float),
                   np.asarray(cost, float), t.tam, t.account_units_lo, t.account_units_hi,
                   tam_tolerance=rules.tam_tolerance, soft_tam=rules.soft_tam,
                   soft_account_units=rules.soft_account_units, penalty=rules.penalty,
                   **options)

    @property
    def n_units(self) -> int:
        return len(self.unit_ids)

    @property
    def targets(self) -> RepTargets:
        """The per-rep TAM targets and account-unit bands (what the scorecard checks)."""
        return RepTargets(self.tam_target, np.asarray(self.account_units_lo, float),
                          np.asarray(self.account_units_hi, float))

    @property
    def n_reps(self) -> int:
        return len(self.rep_ids)

    @cached_property
    def tam_band(self) -> Band:
        """``(1 -+ tau) T_r``, rows scaled by the mean target."""
        scale = self.tam_scale or max(float(self.tam_target.mean()), 1.0)
        return Band(self.tam_target * (1 - self.tam_tolerance),
                    self.tam_target * (1 + self.tam_tolerance), scale)

    @cached_property
    def account_units_band(self) -> Band:
        """``[L_r, H_r]``, rows scaled by the mean upper edge."""
        scale = self.account_units_scale or max(float(self.account_units_hi.mean()), 1.0)
        return Band(np.asarray(self.account_units_lo, float),
                    np.asarray(self.account_units_hi, float), scale)

    @property
    def effective_cost(self) -> np.ndarray:
        """Per-pair objective coefficient: travel cost plus weighted compactness."""
        if self.compactness_weight and self.compactness is not None:
            return self.cost + self.compactness_weight * self.compactness
        return self.cost

    @cached_property
    def objective_cost(self) -> np.ndarray:
        """Per-pair coefficient of the whole objective (adds the disruption weight)."""
        cost = np.asarray(self.effective_cost, dtype=float)
        d = self.disruption
        if d is not None and d.weight > 0:
            cost = cost + d.weight * (d.moved / max(d.total, 1.0))
        return cost

    @property
    def account_units_target(self) -> np.ndarray:
        """``(m,)`` account units each rep would carry at perfect balance (same shares as TAM)."""
        share = self.tam_target / max(float(self.tam_target.sum()), 1e-12)
        return float(self.account_units.sum()) * share

    def largest_deviation(self, rep_of_unit: np.ndarray) -> float:
        """The largest relative deviation of any rep's TAM or account units from target."""
        rep_of = np.asarray(rep_of_unit)
        tam = np.bincount(rep_of, weights=self.tam, minlength=self.n_reps)
        au = np.bincount(rep_of, weights=self.account_units, minlength=self.n_reps)
        out = 0.0
        for load, target in ((tam, self.tam_target), (au, self.account_units_target)):
            ok = target > 0
            if ok.any():
                out = max(out, float((np.abs(load[ok] - target[ok]) / target[ok]).max()))
        return out

    @property
    def fixed(self) -> dict[int, int]:
        """Units whose rep is given: locks, and each rep's root unit."""
        out = dict(self.locks)
        if self.roots is not None:
            out.update({u: r for r, u in enumerate(self.roots)})
        return out


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
    #: "pulp" (the documented model through PuLP) or "lns" (same model in highspy + our search)
    engine: str = "pulp"
    #: LP-relaxation bound of the (pruned) model, when computed
    lp_bound: float | None = None
    #: improving plans as (seconds, objective, bound) rows
    history: tuple[tuple[float, float, float | None], ...] = ()
    #: wall-clock seconds per phase of the solve (lp, warm_start, lns, hand_over, ...)
    timings: dict[str, float] = field(default_factory=dict)
    #: the root unit of each rep when the solve chose other roots than the problem's
    roots: tuple[int, ...] | None = None


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
        :func:`territory.optimize.seed.project_points`).

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
    tb, ab = p.tam_band, p.account_units_band
    for r, rep in enumerate(p.rep_ids):
        if tam[r] < tb.low[r] * (1 - tol) or tam[r] > tb.high[r] * (1 + tol):
            dev = tam[r] / p.tam_target[r] - 1 if p.tam_target[r] else float("inf")
            out.append(f"tam_band: rep {rep} has TAM {tam[r]:,.0f}, {dev:+.1%} from its "
                       f"target {p.tam_target[r]:,.0f} (allowed ±{p.tam_tolerance:.0%})")
        if au[r] < ab.low[r] - tol or au[r] > ab.high[r] + tol:
            out.append(f"units_band: rep {rep} has {au[r]:.0f} account units, outside "
                       f"{ab.low[r]:.0f}–{ab.high[r]:.0f}")
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
    d = p.disruption
    if d is not None and d.max_share is not None and d.total > 0:
        share = d.moved[np.arange(p.n_units), rep_of].sum() / d.total
        if share > d.max_share + tol:
            out.append(f"disruption: {share:.1%} moved, above the cap {d.max_share:.0%}")
    return out


@dataclass(frozen=True)
class RepCounts:
    """The rep counts both bands allow (necessary conditions, computed from the data).

    ``by_units`` and ``by_tam`` are ``(min, max)`` with None for unbounded;
    ``low > high`` means no count fits.
    """

    low: int
    high: int | None
    by_units: tuple[int, int | None]
    by_tam: tuple[int, int | None]
    n_reps: int

    @property
    def fits(self) -> bool:
        return self.low <= self.n_reps and (self.high is None or self.n_reps <= self.high)

    @property
    def empty(self) -> bool:
        return self.high is not None and self.low > self.high

    def as_dict(self) -> dict:
        return {"min": self.low, "max": self.high, "by_units": list(self.by_units),
                "by_tam": list(self.by_tam), "fits": self.fits, "n_reps": self.n_reps}


def feasible_rep_counts(p: AssignProblem) -> RepCounts:
    """The rep counts that both bands allow, computed (not guessed) from the data.

    With equal capacities and ``n`` reps, a plan needs
    (account units) ``n * lo <= total <= n * hi`` and every unit within one rep's
    ``hi``, i.e. ``ceil(total/hi) <= n <= floor(total/lo)``; (TAM) the largest
    unit fits a territory, ``t_max <= (1+tol) * total_tam / n``, i.e.
    ``n <= floor(total_tam * (1+tol) / t_max)``. Soft bands impose nothing.
    These are necessary conditions: outside the range no plan exists.
    """
    by_units: tuple[int, int | None] = (1, None)
    if not p.soft_account_units:
        lo, hi = float(p.account_units_lo.mean()), float(p.account_units_hi.mean())
        total = float(p.account_units.sum())
        n_min = max(1, math.ceil(total / hi)) if 0 < hi < math.inf else 1
        n_max = math.floor(total / lo) if lo > 0 else None
        if p.account_units.size and p.account_units.max() > hi + 1e-9:
            n_max = 0  # no count fits: a single unit is too big
        by_units = (n_min, n_max)
    by_tam: tuple[int, int | None] = (1, None)
    if not p.soft_tam and p.tam.size and p.tam.max() > 0:
        total_tam = float(p.tam.sum())
        by_tam = (1, int(math.floor(total_tam * (1 + p.tam_tolerance) / float(p.tam.max())
                                    + 1e-9)))
    his = [h for h in (by_units[1], by_tam[1]) if h is not None]
    return RepCounts(max(by_units[0], by_tam[0]), min(his) if his else None, by_units, by_tam,
                     p.n_reps)
