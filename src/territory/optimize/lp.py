r"""The LP relaxation of the assignment model, with column generation over every pair.

Solve the LP over the candidate pairs, then price *every* (unit, rep) pair
with the LP duals (reduced cost :math:`c_{ur} - \pi_u - \mu_r t_u/S_t -
\nu_r a_u/S_a`) and add the pairs with negative reduced cost, until none is
left. The final LP value is then the LP bound of the *unpruned* model, so
"within x% of the bound" is a measured, valid figure; and candidate sets are
widened only where the LP asks for it. Hard bands get elastic slack at a
phase-1 penalty (one unit of slack costs more than any plan), so the LP
always solves and pricing brings in the pairs that remove a breach; the
bound is None when a breach stays (the MIP over these pairs is infeasible).
Contiguity and the disruption cap are left out: the value is still a bound.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .backends import Solver, highs_status, run_highs, solve_pulp, to_highs
from .formulation import Formulation, build_formulation, candidate_pairs, pair_columns
from .problem import AssignProblem

__all__ = ["LPRelaxation", "lp_relaxation", "phase1_penalty"]

log = logging.getLogger(__name__)

#: pricing adds at most this many columns per unit and round (most negative first)
MAX_NEW_PER_UNIT = 2


@dataclass(frozen=True)
class LPRelaxation:
    """LP shares over the pairs in play (sorted by unit, rep) and the bound.

    ``bound`` is None when the LP could not meet the hard bands; ``priced``
    says the bound holds for every pair, not only the candidates.
    """

    pu: np.ndarray
    pr: np.ndarray
    x: np.ndarray
    bound: float | None
    priced: bool

    def share(self, n_units: int, n_reps: int) -> np.ndarray:
        """The ``(n, m)`` matrix of LP shares."""
        out = np.zeros((n_units, n_reps))
        out[self.pu, self.pr] = self.x
        return out


def phase1_penalty(p: AssignProblem) -> float:
    """Penalty on elastic slack of hard bands (one unit of slack = a whole territory's travel)."""
    return 100.0 * max(float(np.abs(p.objective_cost).max()), 1e-6) * max(p.n_units / p.n_reps,
                                                                            1.0)


def lp_relaxation(p: AssignProblem, solver: Solver, *, k: int | None = None, seed: int = 0,
                  deadline: float | None = None, price: bool = True,
                  max_rounds: int = 30) -> LPRelaxation | None:
    """The LP relaxation of ``p`` over its ``k`` cheapest reps per unit, priced over all pairs.

    HiGHS builds it from arrays (well under a second at national scale); with
    CBC the same formulation goes through PuLP (no pricing). Returns None when
    the LP solver stops without an optimum (e.g. at the deadline).
    """
    k = min(solver.candidates if k is None else k, p.n_reps)
    deadline = time.perf_counter() + solver.time_limit if deadline is None else deadline
    pairs = candidate_pairs(p, k)
    form = _elastic_lp(p, pairs)
    if not solver.is_highs:
        return _lp_through_pulp(p, form, solver, deadline)
    return _priced_lp(p, form, solver, seed, deadline, price, max_rounds)


def _elastic_lp(p: AssignProblem, pairs) -> Formulation:
    form = build_formulation(p, pairs, integer=False, soft_tam=True, soft_account_units=True,
                             contiguity=False, disruption_cap=False)
    hard_pen = phase1_penalty(p)
    for family, soft in (("tam_band", p.soft_tam), ("units_band", p.soft_account_units)):
        if not soft:
            for side in ("under", "over"):
                form.cost[form.slack[f"{family}_{side}"]] = hard_pen
    return form


def _hard_slack_cols(p: AssignProblem, form: Formulation) -> np.ndarray:
    cols = [form.slack[f"{family}_{side}"]
            for family, soft in (("tam_band", p.soft_tam), ("units_band", p.soft_account_units))
            if not soft for side in ("under", "over")]
    return np.concatenate(cols) if cols else np.zeros(0, np.int64)


def _lp_through_pulp(p: AssignProblem, form: Formulation, solver: Solver,
                     deadline: float) -> LPRelaxation | None:
    limit = max(deadline - time.perf_counter(), 1.0)
    run = solve_pulp(form, solver.pulp_solver(mip=False, time_limit=limit))
    if not run.ok:
        return None
    hard = float(run.values[_hard_slack_cols(p, form)].sum())
    bound = run.objective if hard <= 1e-7 else None
    return LPRelaxation(form.pu, form.pr, run.values[: form.n_pairs], bound, False)


def _priced_lp(p: AssignProblem, form: Formulation, solver: Solver, seed: int, deadline: float,
               price: bool, max_rounds: int) -> LPRelaxation | None:
    h = solver.highs(seed=seed, time_limit=deadline - time.perf_counter(), gap=0.0)
    h.passModel(to_highs(form, integer=False)[0])
    hard_cols = _hard_slack_cols(p, form)
    col_u, col_r = form.pu.copy(), form.pr.copy()
    col_of_pair = np.arange(form.n_pairs)
    priced = False
    x = bound = None
    hard_slack = 0.0
    for rnd in range(max_rounds):
        h.setOptionValue("time_limit", max(deadline - time.perf_counter(), 0.05))
        run_highs(h)
        if highs_status(h) != "optimal":
            log.info("LP relaxation ended with %s", highs_status(h))
            return None
        sol = h.getSolution()
        cv = np.asarray(sol.col_value)
        x = cv[col_of_pair]
        hard_slack = float(cv[hard_cols].sum()) if len(hard_cols) else 0.0
        bound = float(h.getInfo().objective_function_value)
        if not price:
            break
        new_u, new_r = _price(p, form, np.asarray(sol.row_dual), bound, col_u, col_r)
        log.info("LP round %d: value %.6g over %d pairs (hard-band slack %.3g); %d priced in",
                 rnd + 1, bound, len(col_u), hard_slack, len(new_u))
        if len(new_u) == 0:
            priced = True
            break
        if time.perf_counter() > deadline:
            break
        first = h.getNumCol()
        _add_pair_columns(h, p, form, new_u, new_r)
        col_u, col_r = np.r_[col_u, new_u], np.r_[col_r, new_r]
        col_of_pair = np.r_[col_of_pair, first + np.arange(len(new_u))]
    if hard_slack > 1e-7:
        log.info("LP relaxation breaches the hard bands by %.3g even with pricing", hard_slack)
        bound = None
    order = np.lexsort((col_r, col_u))
    return LPRelaxation(col_u[order], col_r[order], x[order], bound, priced)


def _price(p: AssignProblem, form: Formulation, y: np.ndarray, value: float,
           col_u: np.ndarray, col_r: np.ndarray, chunk: int = 4096):
    """Pairs not in play whose reduced cost is negative (most negative first, capped)."""
    n, m = p.n_units, p.n_reps
    pi, mu, nu = y[:n], y[form.tam_rows], y[form.units_rows]
    cost = p.objective_cost
    fixed = np.zeros(n, dtype=bool)
    fixed[list(p.fixed)] = True
    ts, us = p.tam_band.scale, p.account_units_band.scale
    au = p.account_units.astype(float)
    tol = 1e-7 * max(1.0, abs(value) / n)
    add_u, add_r, add_v = [], [], []
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        rc = (cost[lo:hi] - pi[lo:hi, None] - np.outer(p.tam[lo:hi] / ts, mu)
              - np.outer(au[lo:hi] / us, nu))
        rc[fixed[lo:hi]] = np.inf
        uu, rr = np.nonzero(rc < -tol)
        add_u.append(uu + lo)
        add_r.append(rr)
        add_v.append(rc[uu, rr])
    new_u, new_r, new_v = np.concatenate(add_u), np.concatenate(add_r), np.concatenate(add_v)
    present = np.isin(new_u.astype(np.int64) * m + new_r, col_u.astype(np.int64) * m + col_r)
    new_u, new_r, new_v = new_u[~present], new_r[~present], new_v[~present]
    if len(new_u) > MAX_NEW_PER_UNIT * n:  # keep the LP small: the most negative first
        top = np.argsort(new_v, kind="stable")[: MAX_NEW_PER_UNIT * n]
        new_u, new_r = new_u[top], new_r[top]
    return new_u, new_r


def _add_pair_columns(h, p: AssignProblem, form: Formulation, pu: np.ndarray,
                      pr: np.ndarray) -> None:
    rows, cols, vals = pair_columns(p, pu, pr, tam_rows=form.tam_rows,
                                    units_rows=form.units_rows)
    A = sp.csc_matrix((vals, (rows, cols)), shape=(len(form.row_lower), len(pu)))
    A.sort_indices()
    h.addCols(len(pu), p.objective_cost[pu, pr], np.zeros(len(pu)), np.ones(len(pu)),
              len(A.indices), A.indptr[:-1].astype(np.int32), A.indices.astype(np.int32),
              A.data.astype(float))
