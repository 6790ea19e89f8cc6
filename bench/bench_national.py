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
  100-150 account-unit band allows (target: < 60 s, gap <= 1%).

Run ``python bench/bench_national.py [--quick]`` or ``run(quick)`` from the driver.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.instances import LOWER_48, STATES_44_DC, national_book

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
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        code, tail = proc.returncode, (proc.stdout + proc.stderr)[-800:]
    except subprocess.TimeoutExpired:
        code, tail = None, "timed out"
    wall = time.perf_counter() - t0
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
    return out


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
