"""Balance against travel: today's objective, ``balance_first`` and a ``balance_weight``, every instance.

Each instance the harness builds (:mod:`bench.instances`: the scale sweep's
counties, real ZCTAs and ZIP regions, which include the peers' instances, and
the national CRM book) is solved three ways with the same time budget:

* **travel** -- today's objective: travel to the fixed bases within the bands;
* **balance_first** -- ``objective.mode = "balance_first"`` (slack 0.01): the
  largest relative TAM or account-unit deviation of any rep is minimised
  first, then travel among plans within one point of that minimum;
* **balance_weight** -- ``objective.balance_weight`` = ``WEIGHT_SHARE`` x the
  travel of the *travel* plan / the number of reps, so that a *mean* absolute
  deviation per rep of one mean target (TAM plus account units) is priced at
  ``WEIGHT_SHARE`` times the plan's travel: with 1.0, reps off by 5% of TAM and
  5% of account units on average pay 10% of the travel. (The weight has the
  objective's units and the term sums over reps, so a fixed number would mean
  different things on different instances.)

Instances with an adjacency graph of at most ``CONTIGUITY_MAX_UNITS`` units are
solved with contiguity as well (the peers' setting). The national book goes
through ``territory plan`` with its 10-rep roster (homes given: fixed bases, as on
the instances), ``unit_level = "auto"`` (counties where the book is sparse) and
every other default in a fresh interpreter, once per setting,
with ``[objective]`` set in a config file.

Per row: reps off each band, TAM and account-unit CV, the largest deviation,
travel (Σ w_u km to the rep's base; drive hours a month for the book) and its
ratio to the *travel* row, wall seconds, status and gap.

Run alone: ``python -m bench.bench_balance [--quick]``; quick = the county and
ZCTA instances only, 10 s per solve, no national book (well under 2 minutes).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.proc import run_timed

WEIGHT_SHARE = 1.0
CONTIGUITY_MAX_UNITS = 1000
MIP_GAP = 0.01
SETTINGS = ("travel", "balance_first", "balance_weight")
#: scenario keys of the national book's runs besides the solver limit and the objective
#: ("auto": counties where the book is sparse; on ZIPs alone, 644 units with contiguity, the
#: travel plan itself found no plan in 60 s on the loaded bench machine)
BOOK_SCENARIO = 'unit_level = "auto"\n'


def _log(msg: str) -> None:
    print(f"[bench_balance] {msg}", file=sys.stderr, flush=True)


# ============================================================================ plan of the run


def instance_plan(quick: bool) -> list[tuple[str, dict]]:
    """The sweep's and the peers' instances, each once (quick: counties and ZCTAs)."""
    from bench import bench_peers, run

    plan: list[tuple[str, dict]] = []
    for item in run._instance_plan(quick) + bench_peers._instances(quick):
        if item not in plan and not (quick and item[0] == "zip"):
            plan.append(item)
    return plan


def _build(kind: str, kw: dict, quick: bool):
    from bench import instances as I

    if kind == "county":
        return I.county_instance(**kw)
    if kind == "zcta":
        return I.zcta_instance(**kw)
    return I.zip_instance(**kw, pool_size=500 if quick else 5000)


# ============================================================================ bench instances


class _PhaseLog:
    """Keeps the optimizer's "balance first: ..." line (phase one's bound and status)."""

    def __enter__(self):
        import logging

        self.lines: list[str] = []
        self.logger = logging.getLogger("territory.optimize.solve")
        self.level = self.logger.level
        self.handler = logging.Handler(logging.INFO)
        self.handler.emit = lambda rec: (self.lines.append(rec.getMessage())  # type: ignore
                                         if rec.getMessage().startswith("balance first") else None)
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.level)


def _solve(inst, problem, setting: str, limit: float, travel0: float | None) -> dict:
    """One solve of ``problem`` under ``setting``, scored like the sweep's plans."""
    from bench.baselines import score_plan
    from territory.errors import InfeasibleError
    from territory.optimize import Balancing, Solver, solve

    weight = None
    if setting == "balance_first":
        goal = Balancing(first=True)
    elif setting == "balance_weight":
        weight = WEIGHT_SHARE * travel0 / problem.n_reps if travel0 else None
        goal = Balancing(weight=weight) if weight else None
    else:
        goal = None
    row: dict = {"setting": setting, "balance_weight": weight}
    if setting == "balance_weight" and goal is None:
        return dict(row, status="not run (the travel plan failed)")
    p = dataclasses.replace(problem, balancing=goal)
    t0 = time.perf_counter()
    try:
        with _PhaseLog() as phases:
            res = solve(p, Solver(time_limit=limit, mip_gap=MIP_GAP), seed=0)
    except InfeasibleError as exc:
        no_time = (exc.diagnosis or {}).get("constraint") == "time_limit"
        return dict(row, status="no plan in time" if no_time else "infeasible",
                    seconds=time.perf_counter() - t0, message=str(exc)[:300])
    row["seconds"] = time.perf_counter() - t0
    if phases.lines:
        row["message"] = phases.lines[-1]
    s = score_plan(p, res.rep_of_unit, inst.xy, inst.bases_xy, inst.weight,
                   inst.adjacency if problem.contiguity else None)
    row.update(status=res.status, gap=res.gap, engine=res.engine,
               reps_off_tam=s["tam_band_breaks"], reps_off_units=s["units_band_breaks"],
               tam_cv=s["tam_cv"], units_cv=s["units_cv"], travel=s["travel"],
               largest_deviation=p.largest_deviation(res.rep_of_unit),
               split=s.get("split_territories"))
    return row


def run_instance(inst, contiguity: bool, limit: float) -> list[dict]:
    """The three settings on one instance, the travel plan first (it prices the weight)."""
    problem = inst.with_contiguity() if contiguity else inst.problem
    rows: list[dict] = []
    travel0 = None
    for setting in SETTINGS:
        row = _solve(inst, problem, setting, limit, travel0)
        if setting == "travel":
            travel0 = row.get("travel")
        if travel0 and row.get("travel") is not None:
            row["travel_ratio"] = row["travel"] / travel0
        rows.append(row)
        _log(f"{inst.name} contiguity={contiguity} {setting}: {row['status']}, "
             f"TAM CV {_fmt(row.get('tam_cv'), '{:.1%}')}, travel x{_fmt(row.get('travel_ratio'))}, "
             f"{_fmt(row.get('seconds'), '{:.1f}')} s")
    return rows


# ============================================================================ national book


def _plan_book(book, out: Path, objective: str, limit: float, timeout: float) -> dict:
    """``territory plan`` on the book in a fresh interpreter; figures from its outputs."""
    import pandas as pd

    cfg = out.parent / f"{out.name}.toml"
    cfg.write_text(f"{BOOK_SCENARIO}\n[solver]\ntime_limit_seconds = {limit}\n\n[objective]\n{objective}")
    cmd = [sys.executable, "-m", "territory.cli", "-q", "plan", "--accounts", str(book.accounts),
           "--reps", str(book.reps), "--config", str(cfg), "--out", str(out)]
    code, tail, seconds = run_timed(cmd, timeout, tail=600)
    row: dict = {"seconds": seconds, "exit": code}
    summary, card = out / "summary.json", out / "scorecard.csv"
    if code != 0 or not summary.exists() or not card.exists():
        return dict(row, status="failed", message=tail)
    s = json.loads(summary.read_text())
    c = pd.read_csv(card)
    tam, au = c["tam"].to_numpy(float), c["account_units"].to_numpy(float)
    lo, hi = s["account_units_band"]
    tol = s["tam_tolerance"]
    row.update(status=s.get("status"), gap=s.get("mip_gap"), engine=s.get("engine"),
               reps_off_tam=int((np.abs(tam / tam.mean() - 1) > tol + 1e-9).sum()),
               reps_off_units=int(((au < lo - 1e-9) | (au > hi + 1e-9)).sum()),
               tam_cv=float(tam.std() / tam.mean()), units_cv=float(au.std() / au.mean()),
               largest_deviation=float(max(np.abs(tam / tam.mean() - 1).max(),
                                           np.abs(au / au.mean() - 1).max())),
               travel=float(c["drive_hours_per_month"].sum()), objective=s.get("objective"),
               contiguity=s.get("contiguity"), contiguous=s.get("contiguous"),
               violations=list(s.get("violations") or []))
    return row


def run_national(limit: float, timeout: float = 900.0) -> dict:
    """The ~800-account, 44-state book and its 10-rep roster (homes given, so the bases are
    fixed as on the bench instances), the three settings through the CLI."""
    from bench.instances import STATES_44_DC, national_book

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-balance-") as tmp:
        book = national_book(Path(tmp) / "book", n_accounts=800, states=STATES_44_DC, n_reps=10,
                             seed=0)
        travel0 = objective0 = None
        for setting in SETTINGS:
            if setting == "travel":
                objective = ""
            elif setting == "balance_first":
                objective = 'mode = "balance_first"\n'
            elif objective0:
                objective = f"balance_weight = {WEIGHT_SHARE * objective0 / book.n_reps:.6g}\n"
            else:
                rows.append({"setting": setting, "status": "not run (the travel plan failed)"})
                continue
            row = _plan_book(book, Path(tmp) / setting, objective, limit, timeout)
            row.update(setting=setting, config=objective.strip() or "(defaults)")
            if setting == "travel":
                travel0, objective0 = row.get("travel"), row.get("objective")
            if travel0 and row.get("travel") is not None:
                row["travel_ratio"] = row["travel"] / travel0
            rows.append(row)
            _log(f"national book {setting}: {row['status']}, TAM CV "
                 f"{_fmt(row.get('tam_cv'), '{:.1%}')}, travel x{_fmt(row.get('travel_ratio'))}")
    return {"description": f"{book.n_rows} accounts over {len(book.states)} states + DC, "
                           f"`territory plan --reps reps.csv` ({book.n_reps} reps homed on metros), "
                           "`unit_level = \"auto\"`, "
                           "travel = scored drive hours a month, summed over reps",
            "n_reps": book.n_reps, "rows": rows}


# ============================================================================ report


def _fmt(x, f: str = "{:.2f}") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f.format(x)


def _label(row: dict) -> str:
    if row["setting"] == "balance_weight":
        return f"balance_weight = {WEIGHT_SHARE:g} × travel / reps" + (
            f" ({row['balance_weight']:,.4g})" if row.get("balance_weight") else "")
    return {"travel": "today's objective (travel)", "balance_first": "balance_first"}[row["setting"]]


def render(res: dict) -> str:
    L = [f"Every instance solved three ways, same budget ({res['limit']:g} s, relative gap "
         f"{MIP_GAP:.0%}, seed 0): today's objective (travel within the bands), "
         "`objective.mode = \"balance_first\"` (slack 0.01), and `objective.balance_weight` = "
         f"{WEIGHT_SHARE:g} × the travel plan's travel / reps (a mean deviation per rep of one "
         "mean target, TAM plus account units, costs that many times the travel). *largest dev.* = the largest relative "
         "TAM or account-unit deviation of any rep from target; *travel* = Σ w_u km to the "
         "rep's base (the book: scored drive hours a month, all reps); *× travel* = over the "
         "travel row's.\n"]
    head = ["instance", "contiguity", "objective", "status", "reps off TAM / units band",
            "TAM CV", "units CV", "largest dev.", "travel", "× travel", "wall s", "gap", "notes"]
    rows = []
    for case in res["cases"]:
        for r in case["rows"]:
            rows.append([f"`{case['instance']}`", "yes" if case["contiguity"] else "no",
                         _label(r), r.get("status", "–"),
                         f"{r['reps_off_tam']} / {r['reps_off_units']}" if "tam_cv" in r else "–",
                         _fmt(r.get("tam_cv"), "{:.1%}"), _fmt(r.get("units_cv"), "{:.1%}"),
                         _fmt(r.get("largest_deviation"), "{:.1%}"),
                         _fmt(r.get("travel"), "{:,.0f}"), _fmt(r.get("travel_ratio"), "{:.3f}"),
                         _fmt(r.get("seconds"), "{:.1f}"), _fmt(r.get("gap"), "{:.2%}"),
                         "; ".join(x for x in (r.get("engine") and f"engine {r['engine']}",
                                               r.get("split") and f"{r['split']} split",
                                               r.get("message")) if x)])
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * len(head))
    L += ["| " + " | ".join(str(c).replace("|", "/").replace("\n", " ") for c in row) + " |"
          for row in rows]
    L.append("")
    L += [f"- {line}" for line in summary_lines(res)]
    return "\n".join(L) + "\n"


def summary_lines(res: dict) -> list[str]:
    """One line per instance: TAM CV both ways and the travel ratio of balance_first."""
    out = []
    for case in res["cases"]:
        by = {r["setting"]: r for r in case["rows"]}
        t, b = by.get("travel", {}), by.get("balance_first", {})
        tag = f"`{case['instance']}`{' + contiguity' if case['contiguity'] else ''}"
        if "tam_cv" in t and "tam_cv" in b:
            out.append(f"{tag}: balance_first TAM CV {b['tam_cv']:.1%} vs {t['tam_cv']:.1%}, "
                       f"units CV {b['units_cv']:.1%} vs {t['units_cv']:.1%}, travel "
                       f"×{b['travel_ratio']:.3f} ({b['status']}).")
        elif "tam_cv" in t:
            out.append(f"{tag}: balance_first found no plan in {res['limit']:g} s "
                       f"({b.get('status')}); the travel plan's TAM CV is {t['tam_cv']:.1%}.")
    return out


def run(quick: bool = False) -> dict:
    """Figures for the harness (``bench.run``): the rows and a ``markdown`` table."""
    limit = 10.0 if quick else 60.0
    res: dict = {"limit": limit, "weight_share": WEIGHT_SHARE, "cases": []}
    for kind, kw in instance_plan(quick):
        t0 = time.perf_counter()
        inst = _build(kind, kw, quick)
        if inst is None:
            _log(f"{kind} {kw}: no data, skipped")
            continue
        _log(f"{inst.name}: built in {time.perf_counter() - t0:.1f} s")
        for contiguity in (False, True):
            if contiguity and (inst.adjacency is None or inst.n_units > CONTIGUITY_MAX_UNITS):
                continue
            res["cases"].append({"instance": inst.name, "description": inst.description,
                                 "contiguity": contiguity,
                                 "rows": run_instance(inst, contiguity, limit)})
    if not quick:
        nat = run_national(limit)
        res["cases"].append({"instance": "national_book_800", "description": nat["description"],
                             "contiguity": any(r.get("contiguity") for r in nat["rows"]),
                             "rows": nat["rows"]})
    res["summary"] = summary_lines(res)
    res["markdown"] = render(res)
    return res


if __name__ == "__main__":
    out = run("--quick" in sys.argv)
    print(out["markdown"])
