r"""The assignment model, written once as arrays that every backend consumes.

Formulation
-----------
Sets
    :math:`U` units, :math:`R` reps, :math:`C(u) \subseteq R` candidate reps of
    unit :math:`u` (:func:`candidate_pairs`: the :math:`k` cheapest by objective
    coefficient, plus the current owner; a locked or root unit has only its rep),
    :math:`A` the arcs of the unit adjacency graph (both directions).
Data
    :math:`t_u` TAM, :math:`a_u` account units, :math:`c_{ur}` cost of giving
    :math:`u` to :math:`r` (weight of :math:`u` x drive hours from :math:`r`'s
    base, plus :math:`\kappa q_{ur}`, the weighted compactness cost),
    :math:`[T^-_r, T^+_r] = (1 \mp \tau) T_r` the TAM band,
    :math:`[L_r, H_r]` the account-unit band, :math:`m_{ur}` accounts (or TAM)
    of :math:`u` whose current rep is not :math:`r`, :math:`M` their total.
Variables
    :math:`x_{ur} \in \{0,1\}` unit :math:`u` goes to rep :math:`r`;
    :math:`f_{rij} \ge 0` contiguity flow of rep :math:`r` on arc :math:`(i,j)`;
    slacks :math:`s \ge 0` only on the bands made soft (and, in the elastic
    model that explains infeasibility, on every band, the disruption cap and
    optionally the locks).
Constraints (rows, in this order)
    * one rep per unit: :math:`\sum_{r \in C(u)} x_{ur} = 1`.
    * TAM band: :math:`T^-_r / S_t \le \sum_u (t_u / S_t) x_{ur} + s^-_r - s^+_r
      \le T^+_r / S_t` (:math:`S_t` the band's scale, the mean target, so
      coefficients are O(1); the slacks exist only on a soft band).
    * account-unit band: the same with :math:`a_u`, :math:`[L_r, H_r]` and
      :math:`S_a` (the mean :math:`H_r`).
    * locks: :math:`x_{ur} = 1` for locked pairs and root units
      (:math:`x_{ur} + s_u \ge 1`, :math:`s_u \le 1`, for an elastic lock).
    * contiguity (single-commodity flow rooted at the rep's root unit
      :math:`o_r`): :math:`f_{rij} \le M_r x_{jr}` and, for :math:`i \ne o_r`,
      :math:`f_{rij} \le M_r x_{ir}`; for :math:`i \ne o_r`,
      :math:`\sum_j f_{rji} - \sum_j f_{rij} = x_{ir}` (:math:`M_r` = number of
      units that can go to :math:`r`, minus one). Every unit of :math:`r` then
      receives one unit of flow along a path inside the territory, so the
      territory is connected.
    * root-free contiguity (when the roots are ours to choose, e.g. no home
      bases): binaries :math:`y_{ur}` pick each rep's root,
      :math:`\sum_u y_{ur} = 1`, :math:`y_{ur} \le x_{ur}`; flows on every arc
      inside the candidate set, :math:`f_{rij} \le M_r x_{ir}`,
      :math:`f_{rij} \le M_r x_{jr}`; and for every unit
      :math:`\sum_j f_{rji} - \sum_j f_{rij} \ge x_{ir} - (M_r + 1) y_{ir}`.
      A piece of a territory without the root would need net inflow from
      outside itself, which no arc inside the territory can bring, so every
      territory is connected, for the best choice of roots.
    * disruption: :math:`\sum_{u,r} (m_{ur}/M) x_{ur} \le \mu`.
    * balance (when the problem asks for it): deviations
      :math:`\delta^\pm_r, \epsilon^\pm_r \ge 0` with
      :math:`\sum_u (t_u/\bar T) x_{ur} - \delta^+_r + \delta^-_r = T_r/\bar T` and
      :math:`\sum_u (a_u/\bar A) x_{ur} - \epsilon^+_r + \epsilon^-_r = A_r/\bar A`
      (:math:`A_r` the account-unit target, bars the means); the largest relative
      deviation :math:`z \ge (\delta^+_r + \delta^-_r)\bar T/T_r`,
      :math:`z \ge (\epsilon^+_r + \epsilon^-_r)\bar A/A_r`, optionally
      :math:`z \le z_{max}`.
Objective
    :math:`\min \sum_{u,r} (c_{ur} + \lambda m_{ur}/M) x_{ur} + \text{penalty}
    \cdot \sum s + \beta \sum_r (\delta^+_r + \delta^-_r + \epsilon^+_r +
    \epsilon^-_r)`; in the first phase of ``balance_first`` the objective is
    :math:`z` (the rest scaled to a tie-break below :math:`10^{-6}`); the elastic model minimises :math:`10^4 \sum s +
    \sum c_{ur} x_{ur} / \sum |c|` (the breach first, travel breaks ties).

Units with no accounts (:math:`t_u = a_u = 0`) do not size the model: the
pipeline first contracts each of them into an account-bearing *anchor* unit
(:mod:`territory.geo.contract`: multi-source BFS on the adjacency graph, fewest
hops, ties by distance then id), so :math:`U` is the set of anchors and
:math:`A` the arcs between their groups. Every group is connected, so a plan
contiguous on the contracted graph is contiguous on the full one; a group's TAM
and account units are its anchor's, so the bands are unchanged; the plan is
expanded back to every unit (each empty unit goes with its anchor), leaving no
holes on the map (``scenario.contract_empty_units = false`` solves on every
unit; empty units are then assigned at no cost to the bands).

Band rows are ranged (one row per rep and band); the PuLP backend writes each
as a lower and an upper row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from .problem import AssignProblem, Band

__all__ = ["Formulation", "build_formulation", "candidate_pairs", "pair_columns"]

INF = float("inf")
#: weight of slack against travel in the elastic (explaining) objective
ELASTIC_SLACK_WEIGHT = 1e4


def candidate_pairs(p: AssignProblem, k: int, *, free_locks: bool = False,
                    chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """The candidate (unit, rep) pairs, sorted by unit then rep.

    The ``k`` cheapest reps of every unit by objective coefficient (ties by rep
    index, so the model is deterministic), plus the rep that moves fewest of
    the unit's accounts; a root or locked unit has only its rep. With
    ``free_locks`` a locked unit keeps its free candidates too (the elastic
    model may then break the lock).
    """
    n, m = p.n_units, p.n_reps
    cost = p.objective_cost
    if k >= m:
        top = np.tile(np.arange(m), (n, 1))
    else:
        top = np.vstack([np.argsort(cost[lo:lo + chunk], axis=1, kind="stable")[:, :k]
                         for lo in range(0, n, chunk)]) if n else np.zeros((0, k), np.int64)
    pu = np.repeat(np.arange(n), top.shape[1])
    pr = top.ravel()
    if p.disruption is not None:
        pu, pr = np.r_[pu, np.arange(n)], np.r_[pr, p.disruption.owner]
    fixed = np.full(n, -1, dtype=np.int64)
    for u, r in p.fixed.items():
        fixed[u] = r
    free = fixed[pu] < 0
    if free_locks:
        locked = np.zeros(n, dtype=bool)
        locked[list(p.locks)] = True
        if p.roots is not None:
            locked[list(p.roots)] = False
        free |= locked[pu]
    pu, pr = pu[free], pr[free]
    pinned = np.flatnonzero(fixed >= 0)
    pu, pr = np.r_[pu, pinned], np.r_[pr, fixed[pinned]]
    key = np.unique(pu.astype(np.int64) * m + pr)
    return key // m, key % m


@dataclass
class Formulation:
    """The model as arrays: columns, ranged rows (CSR) and where each family sits.

    Columns: pair columns ``0..len(pu)-1`` (``x_{pu[i], pr[i]}``), then band
    slacks, lock slacks, flows and the disruption slack. ``slack`` maps a slack
    family (``tam_band_under``, ``units_band_over``, ``locks``,
    ``disruption_over``) to its columns, one per rep (per lock for ``locks``).
    """

    pu: np.ndarray
    pr: np.ndarray
    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray
    matrix: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    row_names: list[str]
    slack: dict[str, np.ndarray] = field(default_factory=dict)
    #: unit -> column of its elastic lock slack
    lock_slack: dict[int, int] = field(default_factory=dict)
    #: flow columns start here; (rep, tail, head) of each
    flow_start: int = 0
    flow_arcs: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    #: root-choice columns y (root-free contiguity), pairs as (rep, unit) per column
    root_start: int = 0
    root_pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    #: column of the largest relative deviation z (balance), -1 when absent
    max_deviation: int = -1
    #: the balance term's deviation columns: {"tam" | "units": (plus, minus)} per rep
    deviation_cols: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    #: the rows of the TAM and account-unit bands (one per rep)
    tam_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    units_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def n_pairs(self) -> int:
        return len(self.pu)

    @property
    def n_cols(self) -> int:
        return len(self.cost)

    def column_names(self) -> list[str]:
        """Names as the documented model spells them (``x_u_r``, ``slack_*``, ``flow_r_i_j``)."""
        names = [f"x_{u}_{r}" for u, r in zip(self.pu.tolist(), self.pr.tolist())]
        names += [""] * (self.n_cols - self.n_pairs)
        for family, cols in self.slack.items():
            if family == "locks":
                continue
            base, side = family.rsplit("_", 1)
            for r, c in enumerate(cols.tolist()):
                names[c] = (f"slack_{base}_{side}_{r}" if family != "disruption_over"
                            else "slack_disruption_over")
        for u, c in self.lock_slack.items():
            names[c] = f"slack_lock_{u}"
        for c, (r, i, j) in enumerate(self.flow_arcs.tolist(), start=self.flow_start):
            names[c] = f"flow_{r}_{i}_{j}"
        for c, (r, u) in enumerate(self.root_pairs.tolist(), start=self.root_start):
            names[c] = f"root_{r}_{u}"
        return names

    def roots(self, values: np.ndarray) -> tuple[int, ...] | None:
        """The root unit each rep chose (root-free contiguity), else None."""
        if not len(self.root_pairs):
            return None
        y = np.asarray(values)[self.root_start: self.root_start + len(self.root_pairs)]
        out = {}
        for (r, u), v in zip(self.root_pairs.tolist(), y.tolist()):
            if v > 0.5:
                out.setdefault(r, u)
        return tuple(out.get(r, -1) for r in range(max(out, default=-1) + 1))

    def plan(self, values: np.ndarray, n_units: int) -> np.ndarray:
        """Each unit's rep: its largest pair value (ties: lowest rep index)."""
        val = np.asarray(values[: self.n_pairs], dtype=float)
        order = np.lexsort((self.pr, -val, self.pu))
        first = np.r_[True, self.pu[order][1:] != self.pu[order][:-1]]
        rep_of = np.full(n_units, -1, dtype=np.int64)
        rep_of[self.pu[order[first]]] = self.pr[order[first]]
        return rep_of

    def start(self, rep_of: np.ndarray) -> np.ndarray:
        """Column values of a plan: pair columns 0/1, slacks at the plan's breach."""
        values = np.zeros(self.n_cols)
        values[: self.n_pairs] = (rep_of[self.pu] == self.pr).astype(float)
        return values


class _Builder:
    """Collects columns and ranged rows in the order they are declared."""

    def __init__(self) -> None:
        self.cost: list[np.ndarray] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.integer: list[np.ndarray] = []
        self.ncol = 0
        self.ri: list[np.ndarray] = []
        self.ci: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.rlo: list[np.ndarray] = []
        self.rhi: list[np.ndarray] = []
        self.names: list[str] = []
        self.nrow = 0

    def columns(self, count: int, cost, lower, upper, integer: bool = False) -> np.ndarray:
        cols = self.ncol + np.arange(count)
        for store, v in ((self.cost, cost), (self.lower, lower), (self.upper, upper)):
            store.append(np.broadcast_to(np.asarray(v, dtype=float), (count,)).copy())
        self.integer.append(np.full(count, integer))
        self.ncol += count
        return cols

    def rows(self, lower, upper, names: list[str]) -> np.ndarray:
        count = len(names)
        self.rlo.append(np.broadcast_to(np.asarray(lower, dtype=float), (count,)).copy())
        self.rhi.append(np.broadcast_to(np.asarray(upper, dtype=float), (count,)).copy())
        self.names += names
        rows = self.nrow + np.arange(count)
        self.nrow += count
        return rows

    def entries(self, rows, cols, vals) -> None:
        rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
        self.ri.append(rows)
        self.ci.append(cols)
        self.vals.append(np.broadcast_to(np.asarray(vals, dtype=float), rows.shape).copy())

    def finish(self, pu, pr, **extra) -> Formulation:
        cat = (lambda xs, dt=float: np.concatenate(xs) if xs else np.zeros(0, dt))
        matrix = sp.csr_matrix((cat(self.vals), (cat(self.ri, np.int64), cat(self.ci, np.int64))),
                               shape=(self.nrow, self.ncol))
        return Formulation(pu, pr, cat(self.cost), cat(self.lower), cat(self.upper),
                           cat(self.integer, bool), matrix, cat(self.rlo), cat(self.rhi),
                           self.names, **extra)


def pair_columns(p: AssignProblem, pu: np.ndarray, pr: np.ndarray, *,
                 tam_rows: np.ndarray, units_rows: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Matrix entries (row, local column, value) of the pair columns ``x_{pu,pr}``.

    One-rep row ``pu`` (coefficient 1) and the rep's band rows (TAM and account
    units over the band's scale), skipping zero coefficients. The model
    builder and the LP's column generation both use this, so a priced-in
    column is exactly a column of the model.
    """
    cols = np.arange(len(pu))
    t = p.tam[pu] / p.tam_band.scale
    a = p.account_units.astype(float)[pu] / p.account_units_band.scale
    rows = [pu, tam_rows[pr[t != 0]], units_rows[pr[a != 0]]]
    return (np.concatenate(rows), np.concatenate([cols, cols[t != 0], cols[a != 0]]),
            np.concatenate([np.ones(len(pu)), t[t != 0], a[a != 0]]))


def build_formulation(p: AssignProblem, pairs: tuple[np.ndarray, np.ndarray], *,
                      integer: bool = True, elastic: bool = False,
                      soft_tam: bool | None = None, soft_account_units: bool | None = None,
                      contiguity: bool | None = None, soft_locks: bool = False,
                      disruption_cap: bool = True, free_roots: bool = False,
                      root_cost: np.ndarray | None = None, balance_phase: str | None = None,
                      max_deviation: float | None = None) -> Formulation:
    """The model of ``p`` over the candidate ``pairs`` (see the module docstring).

    ``elastic`` gives every band and the disruption cap slack and the
    breach-first objective; ``soft_*`` override the problem's softness;
    ``contiguity`` overrides ``p.contiguity``; ``disruption_cap=False`` leaves
    the cap out (its row is the only one that couples every unit).
    ``free_roots`` (implied when ``p.roots`` is None) writes the root-free
    contiguity rows (build ``p`` with ``roots=None`` so that no unit is fixed as a root); ``root_cost``
    (``(n, m)``) prices choosing unit u as rep r's root. ``balance_phase``
    ``"minimise"`` makes the largest deviation the objective (first phase of
    balance-first); ``max_deviation`` bounds it (second phase).
    """
    pu, pr = (np.asarray(a, dtype=np.int64) for a in pairs)
    b = _Builder()
    n, m = p.n_units, p.n_reps
    cost = p.objective_cost if not elastic else p.effective_cost
    b.columns(len(pu), cost[pu, pr], 0.0, 1.0, integer)
    soft_t = elastic or (p.soft_tam if soft_tam is None else soft_tam)
    soft_a = elastic or (p.soft_account_units if soft_account_units is None
                         else soft_account_units)
    slack = _band_slack_columns(b, m, soft_t, soft_a, p.penalty)
    b.rows(1.0, 1.0, [f"one_rep_per_unit_{u}" for u in range(n)])
    tam_rows = _band_rows(b, "tam_band", p.tam_band)
    units_rows = _band_rows(b, "units_band", p.account_units_band)
    b.entries(*(pair_columns(p, pu, pr, tam_rows=tam_rows, units_rows=units_rows)))
    for rows, family in ((tam_rows, "tam_band"), (units_rows, "units_band")):
        for side, sign in (("under", 1.0), ("over", -1.0)):
            if f"{family}_{side}" in slack:
                b.entries(rows, slack[f"{family}_{side}"], sign)
    lock_slack = _add_locks(b, p, pu, pr, soft_locks)
    if lock_slack:
        slack["locks"] = np.array(list(lock_slack.values()), dtype=np.int64)
    flow_start = b.ncol
    arcs = np.zeros((0, 3), np.int64)
    root_start, root_pairs = b.ncol, np.zeros((0, 2), np.int64)
    if (p.contiguity if contiguity is None else contiguity) and (free_roots or p.roots is None):
        arcs, root_start, root_pairs = _add_free_contiguity(b, p, pu, pr, root_cost)
        flow_start = root_start + len(root_pairs)
    elif p.contiguity if contiguity is None else contiguity:
        arcs = _add_contiguity(b, p, pu, pr)
    if disruption_cap and p.disruption is not None and p.disruption.max_share is not None:
        over = _add_disruption(b, p, pu, pr, soft=elastic)
        if over is not None:
            slack["disruption_over"] = over
    z, deviation_cols = -1, {}
    if p.balancing is not None and p.balancing.active and not elastic:
        z, deviation_cols = _add_balance(b, p, pu, pr, p.balancing.weight,
                                         with_max=p.balancing.first or max_deviation is not None,
                                         max_deviation=max_deviation)
    form = b.finish(pu, pr, slack=slack, lock_slack=lock_slack, flow_start=flow_start,
                    flow_arcs=arcs, tam_rows=tam_rows, units_rows=units_rows,
                    root_start=root_start, root_pairs=root_pairs, max_deviation=z,
                    deviation_cols=deviation_cols)
    if balance_phase == "minimise" and z >= 0:
        rest = np.abs(form.cost).sum()
        form.cost *= 1e-6 / max(float(rest), 1e-12)
        form.cost[z] = 1.0
    if elastic:
        norm = max(float(np.abs(p.cost).sum()), 1.0)
        form.cost[: len(pu)] /= norm
        for cols in slack.values():
            form.cost[cols] = ELASTIC_SLACK_WEIGHT
    return form


def _band_slack_columns(b: _Builder, m: int, soft_t: bool, soft_a: bool,
                        penalty: float) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for family, soft in (("tam_band", soft_t), ("units_band", soft_a)):
        if soft:
            for side in ("under", "over"):
                out[f"{family}_{side}"] = b.columns(m, penalty, 0.0, INF)
    return out


def _band_rows(b: _Builder, name: str, band: Band) -> np.ndarray:
    m = len(band.low)
    return b.rows(band.low / band.scale, band.high / band.scale,
                  [f"{name}_{r}" for r in range(m)])


def _pair_lookup(pu: np.ndarray, pr: np.ndarray, m: int):
    key = pu.astype(np.int64) * m + pr

    def col(u, r):
        i = np.searchsorted(key, np.asarray(u, np.int64) * m + np.asarray(r))
        return i

    return col


def _add_locks(b: _Builder, p: AssignProblem, pu, pr, soft: bool) -> dict[int, int]:
    col = _pair_lookup(pu, pr, p.n_reps)
    lock_slack: dict[int, int] = {}
    for u, r in sorted(p.fixed.items()):
        row = b.rows(1.0, 1.0 if not (soft and u in p.locks) else INF, [f"lock_{u}"])
        b.entries(row, [col(u, r)], 1.0)
        if soft and u in p.locks:
            s = int(b.columns(1, 0.0, 0.0, 1.0)[0])  # breaking a lock costs one unit of slack
            b.entries(row, [s], 1.0)
            lock_slack[u] = s
    return lock_slack


def _arcs(p: AssignProblem) -> np.ndarray:
    index = {u: i for i, u in enumerate(p.unit_ids)}
    arcs = [(index[a], index[c]) for a, c in p.adjacency.edges() if a in index and c in index]
    arcs += [(c, a) for a, c in arcs]
    arcs.sort()
    return np.array(arcs, dtype=np.int64).reshape(-1, 2)


def _add_contiguity(b: _Builder, p: AssignProblem, pu, pr) -> np.ndarray:
    if p.adjacency is None or p.roots is None:
        raise InputError("contiguity needs the unit adjacency graph and a root unit per rep")
    arcs = _arcs(p)
    col = _pair_lookup(pu, pr, p.n_reps)
    out = []
    for r in range(p.n_reps):
        members = np.zeros(p.n_units, dtype=bool)
        members[pu[pr == r]] = True
        root = p.roots[r]
        big_m = max(int(members.sum()) - 1, 1)
        i, j = arcs[:, 0], arcs[:, 1]
        sel = members[i] & members[j] & (j != root)
        ai, aj = i[sel], j[sel]
        f = b.columns(len(ai), 0.0, 0.0, INF)
        # rows per arc: flow_in (f <= M x_j), then flow_out (f <= M x_i) unless i is the root
        has_out = ai != root
        names = []
        for a_, c_, o_ in zip(ai.tolist(), aj.tolist(), has_out.tolist()):
            names.append(f"flow_in_{r}_{a_}_{c_}")
            if o_:
                names.append(f"flow_out_{r}_{a_}_{c_}")
        rows = b.rows(-INF, 0.0, names)
        per_arc = 1 + has_out.astype(np.int64)
        first = rows[np.r_[0, np.cumsum(per_arc)[:-1]]] if len(ai) else rows[:0]
        b.entries(first, f, 1.0)
        b.entries(first, col(aj, r), -float(big_m))
        second = first[has_out] + 1
        b.entries(second, f[has_out], 1.0)
        b.entries(second, col(ai[has_out], r), -float(big_m))
        nodes = [v for v in np.flatnonzero(members).tolist() if v != root]
        crow = b.rows(0.0, 0.0, [f"contiguity_{r}_{v}" for v in nodes])
        row_of = np.full(p.n_units, -1, dtype=np.int64)
        row_of[nodes] = crow
        into = row_of[aj] >= 0
        b.entries(row_of[aj[into]], f[into], 1.0)
        outof = row_of[ai] >= 0
        b.entries(row_of[ai[outof]], f[outof], -1.0)
        b.entries(crow, col(np.array(nodes, np.int64), r), -1.0)
        out.append(np.column_stack([np.full(len(ai), r), ai, aj]))
    return np.vstack(out) if out else np.zeros((0, 3), np.int64)


def _add_free_contiguity(b: _Builder, p: AssignProblem, pu, pr, root_cost):
    if p.adjacency is None:
        raise InputError("contiguity needs the unit adjacency graph")
    arcs = _arcs(p)
    col = _pair_lookup(pu, pr, p.n_reps)
    order = np.lexsort((pu, pr))  # root columns by rep, then unit
    ru, rr = pu[order], pr[order]
    cost = np.zeros(len(ru)) if root_cost is None else root_cost[ru, rr]
    y = b.columns(len(ru), cost, 0.0, 1.0, integer=True)
    one = b.rows(1.0, 1.0, [f"one_root_{r}" for r in range(p.n_reps)])
    b.entries(one[rr], y, 1.0)
    link = b.rows(-INF, 0.0, [f"root_in_territory_{r}_{u}" for u, r in zip(ru, rr)])
    b.entries(link, y, 1.0)
    b.entries(link, col(ru, rr), -1.0)
    out = []
    for r in range(p.n_reps):
        members = np.zeros(p.n_units, dtype=bool)
        members[pu[pr == r]] = True
        big_m = max(int(members.sum()) - 1, 1)
        i, j = arcs[:, 0], arcs[:, 1]
        sel = members[i] & members[j]
        ai, aj = i[sel], j[sel]
        f = b.columns(len(ai), 0.0, 0.0, INF)
        rows_in = b.rows(-INF, 0.0, [f"flow_in_{r}_{a}_{c}" for a, c in zip(ai, aj)])
        b.entries(rows_in, f, 1.0)
        b.entries(rows_in, col(aj, r), -float(big_m))
        rows_out = b.rows(-INF, 0.0, [f"flow_out_{r}_{a}_{c}" for a, c in zip(ai, aj)])
        b.entries(rows_out, f, 1.0)
        b.entries(rows_out, col(ai, r), -float(big_m))
        nodes = np.flatnonzero(members)
        crow = b.rows(0.0, INF, [f"contiguity_{r}_{v}" for v in nodes])
        row_of = np.full(p.n_units, -1, dtype=np.int64)
        row_of[nodes] = crow
        b.entries(row_of[aj], f, 1.0)
        b.entries(row_of[ai], f, -1.0)
        b.entries(crow, col(nodes, r), -1.0)
        mine = rr == r
        b.entries(row_of[ru[mine]], y[mine], float(big_m + 1))
        out.append(np.column_stack([np.full(len(ai), r), ai, aj]))
    arcs_out = np.vstack(out) if out else np.zeros((0, 3), np.int64)
    return arcs_out, int(y[0]) if len(y) else b.ncol, np.column_stack([rr, ru])


def _add_balance(b: _Builder, p: AssignProblem, pu, pr, weight: float, *, with_max: bool,
                 max_deviation: float | None
                 ) -> tuple[int, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Deviation columns and rows of the balance term: the column of z (or -1), and the
    ``(plus, minus)`` deviation columns of ``"tam"`` and ``"units"``."""
    m = p.n_reps
    targets = (("tam", np.asarray(p.tam, float), np.asarray(p.tam_target, float)),
               ("units", np.asarray(p.account_units, float), p.account_units_target))
    dev_cols = []
    for name, values, target in targets:
        mean = max(float(target.mean()), 1e-12)
        plus = b.columns(m, weight, 0.0, INF)
        minus = b.columns(m, weight, 0.0, INF)
        rows = b.rows(target / mean, target / mean, [f"{name}_deviation_{r}" for r in range(m)])
        coef = values[pu] / mean
        nz = coef != 0
        b.entries(rows[pr[nz]], np.flatnonzero(nz), coef[nz])
        b.entries(rows, plus, -1.0)
        b.entries(rows, minus, 1.0)
        dev_cols.append((plus, minus, target, mean))
    named = {name: (c[0], c[1]) for (name, _, _), c in zip(targets, dev_cols)}
    if not with_max:
        return -1, named
    z = int(b.columns(1, 0.0, 0.0, INF if max_deviation is None else max_deviation)[0])
    for plus, minus, target, mean in dev_cols:
        ok = np.flatnonzero(target > 0)
        rows = b.rows(-INF, 0.0, [f"largest_deviation_{r}" for r in ok])
        b.entries(rows, plus[ok], mean / target[ok])
        b.entries(rows, minus[ok], mean / target[ok])
        b.entries(rows, np.full(len(ok), z), -1.0)
    return z, named


def _add_disruption(b: _Builder, p: AssignProblem, pu, pr, soft: bool) -> np.ndarray | None:
    d = p.disruption
    coef = d.moved[pu, pr] / max(d.total, 1.0)
    nz = np.flatnonzero(coef)
    row = b.rows(-INF, d.max_share, ["disruption"])
    b.entries(np.full(len(nz), row[0]), nz, coef[nz])
    if not soft:
        return None
    over = b.columns(1, 0.0, 0.0, INF)
    b.entries(row, over, -1.0)
    return over
