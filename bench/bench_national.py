"""National books from the command line: the targets of issue 12, measured end to end.

Each case writes a CRM book with :func:`bench.instances.national_book` (the
``tests/books.py`` generator: real metros, most ZIPs empty, heavy-tailed revenue,
owners, messy rows) and runs ``territory plan`` with every default in a fresh
subprocess, as a user would. Reported per case: exit code, wall seconds, peak
memory of that subprocess, and from ``summary.json`` the status, MIP gap,
contiguity on the full graph, band violations, units in the region and in the
solve, and the size of ``map.html``.

Cases (quick: the first only, at 300 accounts over five states)

* ``zip_800_44_states``: ~800 accounts over 44 states + DC, ``--reps 10``
  (target: exit 0, contiguous, both bands, gap <= 1%, < 30 s, < 1 GB, map < 3 MB);
* ``auto_800_44_states``: the same book, ``unit_level = "auto"`` (exit 0, both bands);
* ``zip_5000_lower_48``: 5,000 accounts over the lower 48, as many reps as the
  100-150 account-unit band allows (target: < 60 s, gap <= 1%);
* ``scale_21068x602_contiguity`` (full mode only): the scale bench's national
  instance (:mod:`bench.bench_assign`, 21,068 ZIPs x 602 reps, both bands) with
  contiguity on, solved in a fresh process with a 600 s budget (target: <= 2% of
  the LP bound, < 4 GB). Alone: ``python bench/bench_national.py --scale``.

Run ``python bench/bench_national.py [--quick]`` or ``run(quick)`` from the driver.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from bench.instances import LOWER_48, STATES_44_DC, national_book
from bench.proc import run_timed

_RUNNER = r"""
import resource, sys
from territory.cli import main
try:
    rc = main(sys.argv[2:])
except SystemExit as exc:
    rc = exc.code
finally:
    with open(sys.argv[1], "w") as f:
        f.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
sys.exit(rc or 0)
"""


def _plan(book, out: Path, n_reps: int, config: str | None, timeout: float) -> dict:
    """``territory plan`` in a fresh interpreter: exit code, wall seconds, peak RSS (MB)."""
    rss = out.parent / f"{out.name}.rss"
    cmd = [sys.executable, "-c", _RUNNER, str(rss), "-q", "plan", "--accounts",
           str(book.accounts), "--reps", str(n_reps), "--out", str(out)]
    if config:
        cfg = out.parent / f"{out.name}.toml"
        cfg.write_text(config)
        cmd[cmd.index("--out"):cmd.index("--out")] = ["--config", str(cfg)]
    code, tail, wall = run_timed(cmd, timeout)
    res = {"exit": code, "wall_seconds": round(wall, 1),
           "peak_rss_mb": round(int(rss.read_text()) / 1024) if rss.exists() else None}
    summary = out / "summary.json"
    if summary.exists():
        s = json.loads(summary.read_text())
        res.update({k: s.get(k) for k in ("status", "mip_gap", "contiguous", "violations",
                                          "n_units", "n_units_solved", "engine")})
    html = out / "map.html"
    res["map_mb"] = round(html.stat().st_size / 1e6, 2) if html.exists() else None
    if code != 0:
        res["output_tail"] = tail
    return res


_SCALE_RUNNER = r"""
import json, resource, sys, time
from bench.bench_national import scale_contiguity
out = scale_contiguity(float(sys.argv[2]))
out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
with open(sys.argv[1], "w") as f:
    json.dump(out, f, default=float)
"""


def scale_contiguity(seconds: float = 600.0, n_units: int = 21_068, n_reps: int = 602) -> dict:
    """The scale bench's national instance with contiguity, solved by ``solve`` (auto engine).

    Returns seconds, status, engine, gap to the LP bound (priced over every
    pair, so valid for the unpruned model), violations by :func:`check_plan`
    (contiguity on the Delaunay adjacency included), and the set-up seconds.
    """
    from bench import bench_assign as A
    from territory.errors import InfeasibleError
    from territory.optimize import Solver, check_plan, solve

    t0 = time.perf_counter()
    units = A.synthetic_units(A.zip_table(), n_reps, n_units=n_units)
    p = A.problem(units, A.bases(units, n_reps), contiguity=True)
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        res = solve(p, Solver(time_limit=seconds, mip_gap=0.005, candidates=6), seed=0)
    except InfeasibleError as exc:  # no plan in time is a figure too
        return {"instance": f"{p.n_units} ZIPs x {p.n_reps} reps, both bands, contiguity",
                "setup_seconds": round(setup, 1), "seconds": round(time.perf_counter() - t0, 1),
                "status": exc.diagnosis.get("constraint", "infeasible"),
                "explanation": str(exc)[:300],
                "timings": {k: round(v, 1) for k, v in exc.diagnosis.get("timings", {}).items()}}
    wall = time.perf_counter() - t0
    bound = res.lp_bound if res.lp_bound is not None else res.bound
    return {"instance": f"{p.n_units} ZIPs x {p.n_reps} reps, both bands, contiguity",
            "setup_seconds": round(setup, 1), "seconds": round(wall, 1), "status": res.status,
            "engine": res.engine, "objective": res.objective, "lp_bound": bound,
            "gap_vs_lp_bound": None if not bound else round((res.objective - bound)
                                                            / res.objective, 5),
            "violations": len(check_plan(p, res.rep_of_unit)),
            "timings": {k: round(v, 1) for k, v in res.timings.items()}}


def _scale_case(seconds: float, timeout: float) -> dict:
    """:func:`scale_contiguity` in a fresh interpreter (its peak RSS is the case's own)."""
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        out = Path(tmp) / "scale.json"
        root = Path(__file__).resolve().parents[1]
        code, tail, _ = run_timed([sys.executable, "-c", _SCALE_RUNNER, str(out), str(seconds)],
                                  timeout, cwd=root)
        if code is None or not out.exists():
            return {"error": tail}
        return json.loads(out.read_text())


def run(quick: bool = False, timeout: float = 600.0) -> dict:
    """Each case as :func:`_plan` reports it, plus the book's size.

    Returns
    -------
    dict
        ``{case: {"accounts", "states", "reps", "exit", "wall_seconds", "peak_rss_mb",
        "status", "mip_gap", "contiguous", "violations", "n_units", "n_units_solved",
        "map_mb"}}``.
    """
    cases = ([("zip_300_5_states", dict(n_accounts=300, states=("OH", "IN", "KY", "PA", "WV"),
                                        n_metros=6), 4, None)] if quick else [
        ("zip_800_44_states", dict(n_accounts=800, states=STATES_44_DC), 10, None),
        ("auto_800_44_states", dict(n_accounts=800, states=STATES_44_DC), 10,
         'unit_level = "auto"\n'),
        ("zip_5000_lower_48", dict(n_accounts=5000, states=LOWER_48), None, None),
    ])
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-national-") as tmp:
        for name, book_args, n_reps, config in cases:
            book = national_book(Path(tmp) / name / "book", n_reps=n_reps, seed=0, **book_args)
            res = _plan(book, Path(tmp) / name / "out", book.n_reps, config, timeout)
            out[name] = {"accounts": book.n_rows, "states": len(book.states),
                         "reps": book.n_reps, **res}
    if not quick:
        out["scale_21068x602_contiguity"] = _scale_case(600.0, timeout=1500.0)
    return out


if __name__ == "__main__":
    if "--scale" in sys.argv:
        print(json.dumps(_scale_case(600.0, timeout=1500.0), indent=2))
    else:
        print(json.dumps(run("--quick" in sys.argv), indent=2))
