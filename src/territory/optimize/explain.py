"""Why no plan exists: exact pre-checks, and an elastic model that names the breach.

:func:`precheck` finds cheap, exact reasons before any model is built (a unit
too big for a band, a rep count outside the range the bands allow, units cut
off from every root). :func:`explain_infeasible` solves the elastic version of
the model (every band, the disruption cap and optionally the locks get slack;
the breach is minimised first) and says which rule breaks, for whom, by how
much, and what to change.

Every explanation is a list of :class:`Cause` built from numbers, one sentence
each: the rule, the rep or unit, the amount, and the changes that would help.
A change is only suggested when the configuration accepts it (a tolerance or
share above 1 is never advised) and when it applies (finer units only for a
county plan).
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

__all__ = ["Cause", "Infeasibility", "explain_infeasible", "precheck"]

#: the elastic (explaining) model uses every rep as a candidate up to this many pairs
ELASTIC_MAX_PAIRS = 2_000_000
#: the largest tam_tolerance and max_moved_share the configuration accepts (fractions)
MAX_FRACTION = 1.0
#: at most this many per-rep breaches are listed one by one
MAX_LISTED = 12


@dataclass(frozen=True)
class Cause:
    """One reason, as one sentence: ``rule`` broken, by whom, by how much, what to change."""

    rule: str
    text: str
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Infeasibility:
    """A diagnosis: its causes and their machine-readable details (for ``summary.json``)."""

    causes: tuple[Cause, ...]
    diagnosis: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        """One sentence per cause, one per line."""
        return "\n".join(c.text for c in self.causes)

    @property
    def constraint(self):
        return self.diagnosis.get("constraint")


def _one(rule: str, text: str, **diagnosis) -> Infeasibility:
    return Infeasibility((Cause(rule, text, diagnosis),), {"constraint": rule, **diagnosis})


# ----------------------------------------------------------------------------- wording


def _money(x: float) -> str:
    if abs(x) >= 1e12:
        return f"${x / 1e12:,.0f}T"
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= scale:
            return f"${x / scale:.3g}{suffix}"
    return f"${x:,.0f}"


def _num(x: float) -> str:
    return f"{x:g}" if abs(x - round(x)) > 1e-9 else f"{round(x):d}"


def _either(options: list[str]) -> str:
    """'a', 'a or b', 'a, b or c'."""
    options = [o for o in options if o]
    if len(options) <= 1:
        return "".join(options)
    return ", ".join(options[:-1]) + " or " + options[-1]


def _rep_span(rc: RepCounts) -> str:
    """'7 reps', '7–9 reps', 'at least 7 reps' (rc not empty)."""
    if rc.high is None:
        return f"at least {rc.low} reps"
    if rc.low == rc.high:
        return f"{rc.low} rep{'s' if rc.low != 1 else ''}"
    return f"{rc.low}–{rc.high} reps"


def _rep_count_fix(rc: RepCounts) -> str:
    """The rep-count change the bands allow, or '' when the current count fits or none does."""
    if rc.empty or rc.fits:
        return ""
    return f"use {_rep_span(rc)} (the range both bands allow)"


def _finer_units(p: AssignProblem) -> str:
    return "use ZIP units instead of counties" if p.unit_level == "county" else ""


def _tolerance_fix(need: float) -> str:
    need = math.ceil(need * 100 - 1e-9) / 100
    return f"widen tam_tolerance to at least {need:.2f}" if need <= MAX_FRACTION else ""


def _lock_names(p: AssignProblem, locks: dict[int, int]) -> list[str]:
    return [f"{p.unit_ids[u]}→{p.rep_ids[r]}" for u, r in sorted(locks.items())]


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
            return _one("locks", f"Unit {p.unit_ids[u]} is locked to {p.rep_ids[other]} but is "
                        f"the home base of {p.rep_ids[r]}: unlock it or move "
                        f"{p.rep_ids[r]}'s home base.", unit=p.unit_ids[u])
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
    shown = ", ".join(map(str, units[:5])) + (", …" if len(units) > 5 else "")
    return _one("contiguity", f"Contiguity cannot hold: {len(units)} unit"
                f"{'s are' if len(units) != 1 else ' is'} not connected to any rep's home base "
                f"in the adjacency graph ({shown}); add a home base there, join the pieces in "
                "the adjacency graph or turn contiguity off.",
                unreachable_units=list(map(str, units)))


def _check_pieces(p: AssignProblem) -> Infeasibility | None:
    """With roots free, each piece of the unit map needs a rep of its own."""
    sub = p.adjacency.subgraph(p.unit_ids)
    pieces = nx.number_connected_components(sub) + (p.n_units - sub.number_of_nodes())
    if pieces <= p.n_reps:
        return None
    return _one("contiguity", f"Contiguity cannot hold for any choice of centres: the unit map "
                f"falls into {pieces} pieces that no adjacency joins, but there are only "
                f"{p.n_reps} reps and each piece needs its own; join the pieces in the "
                "adjacency graph or turn contiguity off.", pieces=pieces, n_reps=p.n_reps)


def _check_units_total(p: AssignProblem) -> Infeasibility | None:
    total = float(p.account_units.sum())
    lo, hi = float(p.account_units_lo.sum()), float(p.account_units_hi.sum())
    if p.soft_account_units or lo - 1e-9 <= total <= hi + 1e-9:
        return None
    rc = feasible_rep_counts(p)
    per_rep = total / p.n_reps
    mean_lo, mean_hi = float(p.account_units_lo.mean()), float(p.account_units_hi.mean())
    band_fix = (f"lower account_units_min to at most {math.floor(per_rep)}" if total < lo
                else f"raise account_units_max to at least {math.ceil(per_rep)}")
    fixes = _either([_rep_count_fix(rc), band_fix])
    if rc.empty:
        fixes = f"no rep count fits both bands, so {band_fix}"
    return _one("units_band", f"The account-units band cannot hold: {p.n_reps} reps at "
                f"{_num(mean_lo)}–{_num(mean_hi)} account units each need {_num(lo)}–{_num(hi)}, "
                f"but the accounts total {_num(total)} ({per_rep:.1f} per rep); {fixes}.",
                total_account_units=total, n_reps=p.n_reps, units_per_rep=per_rep,
                feasible_rep_counts=[rc.low, rc.high], rep_counts=rc.as_dict())


def _check_big_unit(p: AssignProblem) -> Infeasibility | None:
    if p.soft_account_units:
        return None
    cap = float(p.account_units_hi.max())
    big = np.flatnonzero(p.account_units > cap + 1e-9)
    if not big.size:
        return None
    u = int(big[np.argmax(p.account_units[big])])
    need = float(p.account_units[u])
    fixes = _either([f"raise account_units_max to at least {math.ceil(need)}", _finer_units(p)])
    return _one("units_band", f"The account-units band cannot hold: unit {p.unit_ids[u]} alone "
                f"has {_num(need)} account units, above the {_num(cap)} maximum of any rep; "
                f"{fixes}.", unit=p.unit_ids[u], unit_account_units=need)


def _check_big_tam(p: AssignProblem) -> Infeasibility | None:
    if p.soft_tam:
        return None
    target = float(p.tam_target.max())
    big = np.flatnonzero(p.tam > target * (1 + p.tam_tolerance) + 1e-6)
    if not big.size:
        return None
    u = int(big[np.argmax(p.tam[big])])
    need = float(p.tam[u]) / target - 1
    rc = feasible_rep_counts(p)
    most = rc.by_tam[1]
    fewer = (f"use at most {most} rep{'s' if most != 1 else ''}"
             if most and most < p.n_reps else "")
    fixes = _either([_tolerance_fix(need), fewer, _finer_units(p)]) or (
        "no tolerance the configuration accepts fits it: split its accounts over other units")
    return _one("tam_band", f"The TAM band cannot hold: unit {p.unit_ids[u]} alone has TAM "
                f"{_money(p.tam[u])}, {need:.0%} over a territory's target of {_money(target)} "
                f"(allowed +{p.tam_tolerance:.0%}); {fixes}.", unit=p.unit_ids[u],
                unit_tam=float(p.tam[u]), min_tolerance=need,
                feasible_rep_counts=[rc.low, rc.high], rep_counts=rc.as_dict())


# ----------------------------------------------------------------------------- elastic model


@dataclass
class _Elastic:
    form: Formulation
    run: ModelRun

    @property
    def solved(self) -> bool:
        return self.run.values is not None


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
    if not first.solved and first.run.time_limit:
        return _one("time_limit", "No plan was found within the time limit, and the check of "
                    "which rule breaks ran out of time too; raise solver.time_limit_seconds, or "
                    "turn contiguity off to find out.", rep_counts=rc.as_dict())
    if not first.solved:
        return _one("locks", "No plan exists even with every band relaxed: the locks and home "
                    "bases conflict (a unit locked to two reps, or a territory that cannot grow "
                    "from its home base); check locks.csv and the reps' home bases.",
                    status=first.run.status, locks=_lock_names(p, p.locks))
    breaches = _breaches(first, p)
    if not breaches and p.contiguity:
        return _one("time_limit", "No plan was found within the time limit, although the "
                    "elastic model found one that breaks no band; raise "
                    "solver.time_limit_seconds.")
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
    unlock = (f" Locks are involved too: unlocking {', '.join(locks)} may help."
              if p.locks else "")
    if p.roots is None:
        return _one("contiguity", "Contiguity cannot hold together with the bands for any "
                    "choice of centres: every plan that meets the bands splits some territory "
                    "into pieces; turn contiguity off or widen the bands." + unlock,
                    locks=locks, roots="any")
    moved = _blocking_homes(p, solver, seed, k_all, limit)
    if moved == "unknown":  # the root-free model ran out of time: nothing is proven about it
        return _one("contiguity", "Contiguity cannot hold together with the bands from these "
                    "home bases: every plan that meets the bands splits some territory into "
                    "pieces; which home base blocks it was not found in the time left. Move a "
                    "home base, turn contiguity off or widen the bands." + unlock,
                    locks=locks, blocking_homes=[], all_homes_checked=False)
    if moved is None:
        return _one("contiguity", "Contiguity cannot hold together with the bands, from these "
                    "home bases or any others: every plan that meets the bands splits some "
                    "territory into pieces; turn contiguity off or widen the bands." + unlock,
                    locks=locks, blocking_homes=[])
    causes = tuple(Cause("contiguity", f"Rep {p.rep_ids[r]}'s home base (unit "
                         f"{p.unit_ids[p.roots[r]]}) blocks contiguity: no connected territory "
                         f"grown from it meets the bands, but one around unit {p.unit_ids[u]} "
                         "would; move that home base, turn contiguity off or widen the bands."
                         + unlock, {"rep": p.rep_ids[r]}) for r, u in moved)
    return Infeasibility(causes, {
        "constraint": "contiguity", "locks": locks,
        "blocking_homes": [{"rep": p.rep_ids[r], "home_unit": p.unit_ids[p.roots[r]],
                            "feasible_unit": p.unit_ids[u]} for r, u in moved]})


def _blocking_homes(p: AssignProblem, solver: Solver, seed: int, k_all: int,
                    limit: float) -> list[tuple[int, int]] | str | None:
    """Fewest reps whose root must leave its home for a contiguous plan: [(rep, new root)].

    The root-free model with a price of 1 on every root away from its home and
    travel scaled to below 1 in total; None when even free roots do not help
    (proven), ``"unknown"`` when it found no plan and no proof in ``limit``.
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
    if run.infeasible:
        return None
    if run.values is None:
        return "unknown"
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
    return _one("locks", f"The locks make the plan infeasible: every band can be met once "
                f"{'the lock' if one else 'the locks'} {', '.join(names)} "
                f"{'is' if one else 'are'} released; unlock {'it' if one else 'them'}, lock "
                f"{'the unit' if one else 'the units'} to another rep or widen the bands.",
                locks=names, rep_counts=rc.as_dict(),
                suggestions=[f"unlock {n}" for n in names])


def _explain_breaches(p: AssignProblem, breaches: list[dict], rc: RepCounts) -> Infeasibility:
    causes = [Cause(b["constraint"], b["text"], {k: v for k, v in b.items() if k != "text"})
              for b in breaches[:MAX_LISTED]]
    if len(breaches) > MAX_LISTED:
        causes.append(Cause("more", f"{len(breaches) - MAX_LISTED} more breaches of the same "
                            "kinds are in summary.json."))
    tips = _suggestions(p, breaches, rc)
    causes.append(Cause("suggestion", "What would make it feasible: " + _either(tips) + "."
                        if tips else "No change the configuration accepts is sure to make it "
                        "feasible: turn contiguity off or change the reps."))
    families = sorted({b["constraint"] for b in breaches})
    return Infeasibility(tuple(causes), {
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
            edge_name = "lower" if side == "below" else "upper"
            if name.startswith("tam_band"):
                dollars = amount * tb.scale
                edge = tb.low[r] if side == "below" else tb.high[r]
                rel = dollars / p.tam_target[r]
                out.append({"constraint": "tam_band", "rep": p.rep_ids[r], "side": side,
                            "amount": dollars, "relative": rel,
                            "text": (f"Rep {p.rep_ids[r]}'s TAM falls {_money(dollars)} short "
                                     f"of the band's lower edge of {_money(edge)} ({rel:.1%} of "
                                     "its target)." if side == "below" else
                                     f"Rep {p.rep_ids[r]}'s TAM exceeds the band's upper edge "
                                     f"of {_money(edge)} by {_money(dollars)} ({rel:.1%} of its "
                                     "target).")})
            elif name.startswith("units_band"):
                units = amount * ab.scale
                edge = ab.low[r] if side == "below" else ab.high[r]
                out.append({"constraint": "units_band", "rep": p.rep_ids[r], "side": side,
                            "amount": units, "relative": units / max(edge, 1.0),
                            "text": f"Rep {p.rep_ids[r]} is {_num(round(units, 1))} account "
                                    f"unit{'' if abs(units - 1) < 0.05 else 's'} {side} the "
                                    f"band's {edge_name} edge of {_num(round(edge, 1))}."})
            else:
                out.append({"constraint": "disruption", "rep": None, "side": "above",
                            "amount": amount, "relative": amount,
                            "text": f"The plan must move {p.disruption.max_share + amount:.1%} "
                                    "of the current book, above the disruption cap of "
                                    f"{p.disruption.max_share:.0%}."})
    out.sort(key=lambda b: -b["relative"])
    return out


def _suggestions(p: AssignProblem, breaches: list[dict], rc: RepCounts) -> list[str]:
    tips: list[str] = []
    tam = [b for b in breaches if b["constraint"] == "tam_band"]
    units = [b for b in breaches if b["constraint"] == "units_band"]
    if tam:
        tips.append(_tolerance_fix(p.tam_tolerance + max(b["relative"] for b in tam)))
    if units:
        over = max((b["amount"] for b in units if b["side"] == "above"), default=0.0)
        under = max((b["amount"] for b in units if b["side"] == "below"), default=0.0)
        lo = max(float(p.account_units_lo.mean()) - under, 0.0)
        hi = float(p.account_units_hi.mean()) + over
        tips.append(f"widen the account-units band to about {math.floor(lo)}–{math.ceil(hi)}")
    if tam or units:
        tips.append(_rep_count_fix(rc))
    disruption = [b["amount"] for b in breaches if b["constraint"] == "disruption"]
    if disruption:
        need = math.ceil((p.disruption.max_share + max(disruption)) * 100 - 1e-9) / 100
        if need <= MAX_FRACTION:
            tips.append(f"raise disruption.max_moved_share to at least {need:.2f}")
    if tam or units:
        tips.append(_finer_units(p))
    if p.locks:
        tips.append(f"unlock {', '.join(_lock_names(p, p.locks)[:5])}")
    return [t for t in tips if t]
