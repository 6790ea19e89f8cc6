"""Why no plan exists: exact pre-checks, and an elastic model that names the breach.

:func:`precheck` finds cheap, exact reasons before any model is built (a unit
too big for a band, a rep count outside the range the bands allow, units cut
off from every root). :func:`explain_infeasible` solves the elastic version of
the model (every band, the disruption cap and optionally the locks get slack;
the breach is minimised first) and says which rule breaks, for whom, by how
much, and what to change.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from .backends import ModelRun, Solver, solve_model
from .formulation import Formulation, build_formulation, candidate_pairs
from .problem import AssignProblem, RepCounts, feasible_rep_counts

__all__ = ["Infeasibility", "explain_infeasible", "precheck"]

#: the elastic (explaining) model uses every rep as a candidate up to this many pairs
ELASTIC_MAX_PAIRS = 2_000_000


@dataclass(frozen=True)
class Infeasibility:
    """A diagnosis: the explanation and its machine-readable details (for ``summary.json``)."""

    message: str
    diagnosis: dict = field(default_factory=dict)

    @property
    def constraint(self):
        return self.diagnosis.get("constraint")


def _lock_names(p: AssignProblem, locks: dict[int, int]) -> list[str]:
    return [f"{p.unit_ids[u]}→{p.rep_ids[r]}" for u, r in sorted(locks.items())]


def _rep_count_text(rc: RepCounts) -> str:
    if rc.empty:
        return "no rep count satisfies both bands: widen a band or use finer units"
    span = f"{rc.low}–{rc.high}" if rc.high is not None else f"at least {rc.low}"
    units_hi = rc.by_units[1] if rc.by_units[1] is not None else "∞"
    tam_hi = rc.by_tam[1] if rc.by_tam[1] is not None else "∞"
    return (f"the bands allow {span} reps (account units: {rc.by_units[0]}–{units_hi}, "
            f"TAM: at most {tam_hi}; now {rc.n_reps})")


# ----------------------------------------------------------------------------- pre-checks


def precheck(p: AssignProblem) -> Infeasibility | None:
    """Cheap, exact reasons a plan cannot exist, before any model is built."""
    for check in (_check_roots, _check_reachable, _check_units_total, _check_big_unit,
                  _check_big_tam):
        found = check(p)
        if found is not None:
            return found
    return None


def _check_roots(p: AssignProblem) -> Infeasibility | None:
    if p.roots is None:
        return None
    for r, u in enumerate(p.roots):
        other = p.locks.get(u)
        if other is not None and other != r:
            return Infeasibility(
                f"locks: unit {p.unit_ids[u]} is locked to {p.rep_ids[other]} but is the "
                f"home base of {p.rep_ids[r]}; unlock it or move the home base.",
                {"constraint": "locks", "unit": p.unit_ids[u]})
    return None


def _check_reachable(p: AssignProblem) -> Infeasibility | None:
    if not (p.contiguity and p.adjacency is not None):
        return None
    if p.roots is None:
        return _check_pieces(p)
    sub = p.adjacency.subgraph(p.unit_ids)
    rooted = {p.unit_ids[u] for u in p.roots}
    stray = sorted((c for c in nx.connected_components(sub) if not (c & rooted)),
                   key=lambda c: (-len(c), min(c)))
    if not stray and sub.number_of_nodes() >= p.n_units:
        return None
    missing = sorted(set(p.unit_ids) - set(sub.nodes))
    units = sorted(set().union(*stray)) if stray else missing
    return Infeasibility(
        f"contiguity cannot hold: {len(units)} unit(s) are not connected to any rep's "
        f"home base in the adjacency graph (e.g. {', '.join(map(str, units[:5]))}). "
        "Islands and gaps in the unit map do this: turn contiguity off, add a base "
        "there, or join the pieces in the adjacency graph.",
        {"constraint": "contiguity", "unreachable_units": list(map(str, units))})


def _check_pieces(p: AssignProblem) -> Infeasibility | None:
    """With roots free, each piece of the unit map needs a rep of its own."""
    sub = p.adjacency.subgraph(p.unit_ids)
    pieces = nx.number_connected_components(sub) + (p.n_units - sub.number_of_nodes())
    if pieces <= p.n_reps:
        return None
    return Infeasibility(
        f"contiguity cannot hold for any choice of centres: the unit map falls into {pieces} "
        f"pieces that no adjacency joins, but there are only {p.n_reps} reps and each piece "
        "needs its own. Turn contiguity off, or join the pieces in the adjacency graph.",
        {"constraint": "contiguity", "pieces": pieces, "n_reps": p.n_reps})


def _check_units_total(p: AssignProblem) -> Infeasibility | None:
    total_au = float(p.account_units.sum())
    lo, hi = float(p.account_units_lo.sum()), float(p.account_units_hi.sum())
    if p.soft_account_units or lo - 1e-9 <= total_au <= hi + 1e-9:
        return None
    mean_lo, mean_hi = float(p.account_units_lo.mean()), float(p.account_units_hi.mean())
    rc = feasible_rep_counts(p)
    which = "too many" if total_au < lo else "too few"
    span = (f"{rc.low}–{rc.high} reps" if not rc.empty
            else "no rep count fits both bands: widen a band")
    per_rep = total_au / p.n_reps
    return Infeasibility(
        f"account-units band cannot hold: {p.n_reps} reps x {mean_lo:.0f}–{mean_hi:.0f} "
        f"units take {lo:.0f}–{hi:.0f} account units, but the accounts total {total_au:.0f} "
        f"({per_rep:.1f} per rep). {which} reps: use {span} ({_rep_count_text(rc)}), "
        f"or widen the band to include {per_rep:.0f} units per rep.",
        {"constraint": "units_band", "total_account_units": total_au, "n_reps": p.n_reps,
         "feasible_rep_counts": [rc.low, rc.high], "rep_counts": rc.as_dict(),
         "units_per_rep": per_rep})


def _check_big_unit(p: AssignProblem) -> Infeasibility | None:
    if p.soft_account_units:
        return None
    big = np.flatnonzero(p.account_units > p.account_units_hi.max() + 1e-9)
    if not big.size:
        return None
    u = int(big[np.argmax(p.account_units[big])])
    return Infeasibility(
        f"account-units band cannot hold: unit {p.unit_ids[u]} alone has "
        f"{p.account_units[u]:.0f} account units, above the {p.account_units_hi.max():.0f} "
        "maximum of any rep. Use finer units (e.g. ZIP instead of county) or widen "
        "the band.",
        {"constraint": "units_band", "unit": p.unit_ids[u],
         "unit_account_units": float(p.account_units[u])})


def _check_big_tam(p: AssignProblem) -> Infeasibility | None:
    if p.soft_tam:
        return None
    cap = p.tam_target.max() * (1 + p.tam_tolerance)
    big = np.flatnonzero(p.tam > cap + 1e-6)
    if not big.size:
        return None
    u = int(big[np.argmax(p.tam[big])])
    need = p.tam[u] / p.tam_target.max() - 1
    rc = feasible_rep_counts(p)
    return Infeasibility(
        f"TAM band cannot hold: unit {p.unit_ids[u]} alone has TAM "
        f"{p.tam[u]:,.0f}, {need:+.0%} over a territory's target "
        f"{p.tam_target.max():,.0f} (allowed +{p.tam_tolerance:.0%}). Use finer units, "
        f"fewer reps ({_rep_count_text(rc)}), or widen tam_tolerance to at least "
        f"{math.ceil(need * 100) / 100:.2f}.",
        {"constraint": "tam_band", "unit": p.unit_ids[u], "unit_tam": float(p.tam[u]),
         "min_tolerance": need, "feasible_rep_counts": [rc.low, rc.high],
         "rep_counts": rc.as_dict()})


# ----------------------------------------------------------------------------- elastic model


@dataclass
class _Elastic:
    form: Formulation
    run: ModelRun


def _elastic(p: AssignProblem, solver: Solver, seed: int, k: int, time_limit: float, *,
             contiguity: bool | None = None, soft_locks: bool = False) -> _Elastic:
    form = build_formulation(p, candidate_pairs(p, k, free_locks=soft_locks), elastic=True,
                             contiguity=contiguity, soft_locks=soft_locks)
    return _Elastic(form, solve_model(form, solver, seed=seed, time_limit=time_limit))


def explain_infeasible(p: AssignProblem, solver: Solver, *, seed: int = 0,
                       deadline: float | None = None) -> Infeasibility:
    """Solve an elastic model and say which rule breaks, for whom, by how much.

    Every band (TAM, account units, disruption cap) gets slack; the model
    minimises the total breach. When the elastic model needs no slack with
    contiguity off but does with it on, contiguity (with the roots and locks)
    is named as the binding rule; when releasing locks removes every breach,
    the locks are named. The elastic solves share the time left to ``deadline``
    (each gets at least 3% of the solver's time limit).
    """
    deadline = time.perf_counter() + solver.time_limit if deadline is None else deadline

    def left() -> float:
        return max(deadline - time.perf_counter(), 0.03 * solver.time_limit, 0.5)

    # all reps as candidates, unless that model would not fit in memory
    k_all = p.n_reps if p.n_units * p.n_reps <= ELASTIC_MAX_PAIRS else min(
        p.n_reps, max(4 * solver.candidates, ELASTIC_MAX_PAIRS // max(p.n_units, 1)))
    rc = feasible_rep_counts(p)
    first = _elastic(p, solver, seed, k_all, left())
    if not (first.run.values is not None) and first.run.time_limit:
        return Infeasibility(
            "no plan was found within the time limit, and the check for which rule "
            "breaks ran out of time too: raise solver.time_limit_seconds, or use fewer "
            "candidates or no contiguity to find out.",
            {"constraint": "time_limit", "rep_counts": rc.as_dict()})
    if not (first.run.values is not None):
        return Infeasibility(
            "no plan exists even with every band relaxed: the locks and roots conflict "
            "(a unit locked to two reps, or contiguity impossible from the roots). "
            "Check locks.csv and the reps' home bases.",
            {"constraint": "locks", "status": first.run.status,
             "locks": _lock_names(p, p.locks)})
    breaches = _breaches(first, p)
    if not breaches and p.contiguity:
        return Infeasibility(
            "no feasible plan was found within the time limit, although the elastic "
            "model found a plan that breaks no band: raise solver.time_limit_seconds.",
            {"constraint": "time_limit"})
    if p.contiguity and not _breaches(_elastic(p, solver, seed, k_all, left(),
                                               contiguity=False), p):
        return _explain_contiguity(p, solver, seed, k_all, left())
    if p.locks:
        found = _explain_locks(p, solver, seed, k_all, left(), rc)
        if found is not None:
            return found
    return _explain_breaches(p, breaches, rc)


def _explain_contiguity(p: AssignProblem, solver: Solver, seed: int, k_all: int,
                        limit: float) -> Infeasibility:
    """Contiguity is the binding rule: with home bases, name the reps whose home blocks it."""
    locks = _lock_names(p, p.locks)
    unlock = (f" Locks are involved: unlocking {', '.join(locks)} may also help."
              if p.locks else "")
    if p.roots is None:
        return Infeasibility(
            "contiguity cannot hold together with the bands for any choice of centres: every "
            "band can be met only by splitting some territory into pieces. Turn contiguity "
            "off or widen the bands." + unlock,
            {"constraint": "contiguity", "locks": locks, "roots": "any"})
    moved = _blocking_homes(p, solver, seed, k_all, limit)
    if moved is None:
        return Infeasibility(
            "contiguity cannot hold together with the bands, from these home bases or any "
            "others: every band can be met only by splitting some territory into pieces. "
            "Turn contiguity off or widen the bands." + unlock,
            {"constraint": "contiguity", "locks": locks, "blocking_homes": []})
    texts = [f"rep {p.rep_ids[r]}'s home base (unit {p.unit_ids[p.roots[r]]}) blocks "
             f"contiguity: no connected territory grown from it meets the bands, one "
             f"around unit {p.unit_ids[u]} would" for r, u in moved]
    return Infeasibility(
        "; ".join(texts) + ". Move that home base, turn contiguity off, or widen the bands."
        + unlock,
        {"constraint": "contiguity", "locks": locks,
         "blocking_homes": [{"rep": p.rep_ids[r], "home_unit": p.unit_ids[p.roots[r]],
                             "feasible_unit": p.unit_ids[u]} for r, u in moved]})


def _blocking_homes(p: AssignProblem, solver: Solver, seed: int, k_all: int,
                    limit: float) -> list[tuple[int, int]] | None:
    """Fewest reps whose root must leave its home for a contiguous plan: [(rep, new root)].

    The root-free model with a price of 1 on every root away from its home and
    travel scaled to below 1 in total; None when even free roots do not help.
    """
    free = dataclasses.replace(p, roots=None)
    pu, pr = candidate_pairs(free, k_all)
    homes = np.asarray(p.roots, dtype=np.int64)
    key = np.unique(np.r_[pu * p.n_reps + pr, homes * p.n_reps + np.arange(p.n_reps)])
    price = np.ones((p.n_units, p.n_reps))
    price[homes, np.arange(p.n_reps)] = 0.0
    form = build_formulation(free, (key // p.n_reps, key % p.n_reps), root_cost=price)
    form.cost[: form.n_pairs] /= max(float(np.abs(form.cost[: form.n_pairs]).sum()), 1.0) * 10
    run = solve_model(form, solver, seed=seed, time_limit=limit)
    if run.values is None or run.infeasible:
        return None
    roots = form.roots(run.values)
    return [(r, u) for r, u in enumerate(roots) if u != homes[r]]


def _explain_locks(p: AssignProblem, solver: Solver, seed: int, k_all: int, limit: float,
                   rc: RepCounts) -> Infeasibility | None:
    unlocked = _elastic(p, solver, seed, k_all, limit, soft_locks=True)
    if [b for b in _breaches(unlocked, p) if b["constraint"] != "locks"]:
        return None
    broken = {u: r for u, r in p.locks.items()
              if unlocked.run.values[unlocked.form.lock_slack[u]] > 1e-6}
    names = _lock_names(p, broken or p.locks)
    one = len(names) == 1
    return Infeasibility(
        f"the locks make the plan infeasible: every band can be met once "
        f"{'this lock is' if one else 'these locks are'} released: {', '.join(names)}. "
        f"Suggestion: unlock {'it' if one else 'them'} (or lock to another rep), or "
        f"widen the bands.",
        {"constraint": "locks", "locks": names, "rep_counts": rc.as_dict(),
         "suggestions": [f"unlock {n}" for n in names]})


def _explain_breaches(p: AssignProblem, breaches: list[dict], rc: RepCounts) -> Infeasibility:
    families = sorted({b["constraint"] for b in breaches})
    lines = [f"no plan meets every rule; the closest plan breaks {', '.join(families)}:"]
    lines += ["  - " + b["text"] for b in breaches[:12]]
    if len(breaches) > 12:
        lines.append(f"  - ... and {len(breaches) - 12} more")
    tips = _suggestions(p, breaches)
    if p.locks:
        tips.append(f"try unlocking {', '.join(_lock_names(p, p.locks)[:5])}")
    lines.append("What would make it feasible: " + "; ".join(tips) + ".")
    return Infeasibility("\n".join(lines), {
        "constraint": families[0] if len(families) == 1 else families,
        "breaches": breaches, "total_breach": sum(b["amount"] for b in breaches),
        "suggestions": tips, "rep_counts": rc.as_dict(),
        "feasible_rep_counts": [rc.low, rc.high]})


def _breaches(model: _Elastic, p: AssignProblem) -> list[dict]:
    out: list[dict] = []
    values = model.run.values
    tb, ab = p.tam_band, p.account_units_band
    for name, cols in sorted(model.form.slack.items()):
        if name == "locks":
            continue
        for r, c in enumerate(cols.tolist()):
            amount = float(values[c])
            if amount <= 1e-6:
                continue
            side = "below" if name.endswith("under") else "above"
            if name.startswith("tam_band"):
                dollars = amount * tb.scale
                edge = tb.low[r] if side == "below" else tb.high[r]
                rel = dollars / p.tam_target[r]
                out.append({"constraint": "tam_band", "rep": p.rep_ids[r], "side": side,
                            "amount": dollars, "relative": rel,
                            "text": f"rep {p.rep_ids[r]}: TAM {dollars:,.0f} ({rel:.1%} of target) "
                                    f"{side} the band edge {edge:,.0f}"})
            elif name.startswith("units_band"):
                units = amount * ab.scale
                edge = ab.low[r] if side == "below" else ab.high[r]
                out.append({"constraint": "units_band", "rep": p.rep_ids[r], "side": side,
                            "amount": units, "relative": units / max(edge, 1.0),
                            "text": f"rep {p.rep_ids[r]}: {units:.0f} account units {side} "
                                    f"the band edge {edge:.0f}"})
            else:
                out.append({"constraint": "disruption", "rep": None, "side": "above",
                            "amount": amount, "relative": amount,
                            "text": f"disruption: {amount:.1%} more moved than the cap "
                                    f"{p.disruption.max_share:.0%}"})
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
        lo = float(p.account_units_lo.mean()) - under
        hi = float(p.account_units_hi.mean()) + over
        tips.append(f"widen the account-units band to about {math.floor(lo)}–{math.ceil(hi)}")
    if tam or units:
        tips.append(_rep_count_text(feasible_rep_counts(p)))
    if any(b["constraint"] == "disruption" for b in breaches):
        extra = max(b["amount"] for b in breaches if b["constraint"] == "disruption")
        tips.append(f"raise disruption.max_moved_share to at least "
                    f"{math.ceil((p.disruption.max_share + extra) * 100) / 100:.2f}")
    tips.append("use finer units (ZIP instead of county) so loads can be split more evenly")
    return tips
