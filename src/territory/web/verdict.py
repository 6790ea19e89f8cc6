"""The comparison page's verdict: which scenario to pick, computed from the figures.

A designer compares 2–3 plans against the current alignment. The verdict answers, from the same
figures the scorecard table shows:

1. **which plans meet every rule** — no rep outside the TAM band or the account-unit band, no
   rep above the drive-hour flag, territories contiguous, the fairness check passed, and a plan
   was found at all (a time-out or an infeasible scenario meets nothing);
2. **what each costs against the current alignment** — accounts moved and the change of mean and
   maximum drive hours;
3. **the one to pick** under the stated rule: *the fewest accounts moved among the plans that
   meet every rule; ties go to the lower TAM CV, then to the lower mean drive hours, then to the
   order given.* When no plan meets every rule, none is picked and the verdict says which rule
   each plan breaks.

The figures are the ``metrics`` dictionaries of :mod:`territory.web.compare` (keys ``status``,
``tam_min`` (None when the scenario has no plan),
``tam_out``, ``out_band``, ``hrs_over``, ``contiguous``, ``fair_flag``, ``acc_moved``,
``hrs_mean``, ``hrs_max``, ``tam_cv``); missing figures are treated as unknown, never as good.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .html import finite_or_none as _num

__all__ = ["PICK_RULE", "ScenarioVerdict", "Verdict", "decide"]

#: The one rule a meeting may choose to waive: it is a comparison with today, not a limit.
_FAIRNESS = "fairness check (fewer than 80% of reps equal or better off than today)"

PICK_RULE = ("the fewest accounts moved among the plans that meet every rule "
             "(ties: lower TAM CV, then lower mean drive hours)")



@dataclass(frozen=True)
class ScenarioVerdict:
    """One scenario's standing: the rules it breaks and its cost against the current alignment."""

    name: str
    broken: tuple[str, ...]
    accounts_moved: float | None
    hours_mean_change: float | None
    hours_max_change: float | None

    @property
    def meets_every_rule(self) -> bool:
        """True when the plan breaks no rule."""
        return not self.broken


@dataclass(frozen=True)
class Verdict:
    """The pick (or None), its reason in one sentence, and every scenario's standing."""

    pick: str | None
    reason: str
    scenarios: tuple[ScenarioVerdict, ...]
    rule: str = PICK_RULE


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _broken_rules(m: Mapping[str, Any]) -> tuple[str, ...]:
    status = str(m.get("status") or "").lower()
    if "infeasible" in status or _num(m.get("tam_min")) is None:
        return (f"no plan ({status or 'none'})",)
    out = []
    for key, what in (("tam_out", "outside the TAM band"), ("out_band", "outside the account-unit band"),
                      ("hrs_over", "above the drive-hour flag")):
        n = _num(m.get(key))
        if n is None:
            out.append(f"reps {what}: unknown")
        elif n > 0:
            out.append(f"{_plural(int(n), 'rep')} {what}")
    if m.get("contiguous") is False:
        out.append("territories not contiguous")
    if m.get("fair_flag"):
        out.append(_FAIRNESS)
    return tuple(out)


def _change(m: Mapping[str, Any], base: Mapping[str, Any] | None, key: str) -> float | None:
    if base is None:
        return None
    a, b = _num(m.get(key)), _num(base.get(key))
    return None if a is None or b is None else a - b


def _sort_key(i: int, m: Mapping[str, Any]) -> tuple:
    inf = float("inf")
    return (_num(m.get("acc_moved")) if _num(m.get("acc_moved")) is not None else inf,
            _num(m.get("tam_cv")) if _num(m.get("tam_cv")) is not None else inf,
            _num(m.get("hrs_mean")) if _num(m.get("hrs_mean")) is not None else inf, i)


def _reason(pick: str, m: Mapping[str, Any], others: Sequence[str], base: Mapping[str, Any] | None) -> str:
    moved = _num(m.get("acc_moved"))
    moved_txt = "an unknown number of accounts" if moved is None else _plural(int(moved), "account")
    text = f"Pick {pick}: it meets every rule and moves {moved_txt}"
    if others:
        text += f", the fewest of the {len(others) + 1} plans that meet every rule"
    change = _change(m, base, "hrs_mean")
    if change is not None:
        text += (f"; mean drive time {abs(change):.1f} h/month {'more' if change > 0 else 'less'} "
                 "than today" if abs(change) >= 0.05 else "; mean drive time as today")
    return text + "."


def _no_pick_reason(standing: Sequence[ScenarioVerdict], metrics: Mapping[str, Mapping[str, Any]]) -> str:
    """Why nothing is picked; and, when some plans fail only the fairness check, the closest."""
    if len(standing) == 1:
        text = f"No plan meets every rule ({standing[0].name}: {', '.join(standing[0].broken)})."
    else:
        text = "No plan meets every rule (each plan's failures are listed below)."
    only_fair = [(i, s) for i, s in enumerate(standing) if s.broken == (_FAIRNESS,)]
    if only_fair:
        i, near = min(only_fair, key=lambda t: _sort_key(t[0], metrics[t[1].name]))
        moved = _num(metrics[near.name].get("acc_moved"))
        fair = _num(metrics[near.name].get("fair"))
        text += (f" Closest: {near.name} meets every band and flag and fails only the fairness "
                 f"check ({'' if fair is None else f'{fair:.0%} of reps equal or better off; '}"
                 f"{'moves an unknown number of accounts' if moved is None else 'moves ' + _plural(int(moved), 'account')}"
                 f"{', the fewest of those' if len(only_fair) > 1 else ''}).")
    return text


def decide(metrics: Mapping[str, Mapping[str, Any]], *, current: str | None = None) -> Verdict:
    """The verdict over the scenarios in ``metrics`` (in page order), against ``current``.

    Parameters
    ----------
    metrics
        Scenario name → its figures (see the module docstring). The current alignment, when
        present, is the entry named ``current``; it is a baseline, never a pick.
    current
        The name of the current alignment's entry, or None when there is none.
    """
    base = metrics.get(current) if current else None
    names = [n for n in metrics if n != current]
    standing = tuple(
        ScenarioVerdict(n, _broken_rules(metrics[n]), _num(metrics[n].get("acc_moved")),
                        _change(metrics[n], base, "hrs_mean"), _change(metrics[n], base, "hrs_max"))
        for n in names)
    ok = [(i, s) for i, s in enumerate(standing) if s.meets_every_rule]
    if not ok:
        return Verdict(None, _no_pick_reason(standing, metrics), standing)
    i, best = min(ok, key=lambda t: _sort_key(t[0], metrics[t[1].name]))
    others = [s.name for _, s in ok if s.name != best.name]
    return Verdict(best.name, _reason(best.name, metrics[best.name], others, base), standing)
