"""Ctrl-C during a solve stops HiGHS promptly and reaches the caller as KeyboardInterrupt.

The free-centres p-median's HiGHS solve checks for an interrupt only seconds
apart, and before its fix ran on to its time limit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

# A background job starts with SIGINT ignored, and so would the script when the suite runs
# as one: it takes the terminal's default (KeyboardInterrupt) first.
SCRIPT = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    from territory.optimize import AssignProblem, BandRules, Solver, solve

    rng = np.random.default_rng(3)
    n, m = 1500, 25
    xy, bases = rng.random((n, 2)) * 100, rng.random((m, 2)) * 100
    au = rng.integers(1, 5, n).astype(float)
    per = au.sum() / m
    p = AssignProblem.create(
        tuple(f"u{i}" for i in range(n)), tuple(f"R{j}" for j in range(m)),
        rng.lognormal(0, 0.6, n) * 100, au, np.linalg.norm(xy[:, None] - bases[None], axis=2),
        BandRules(tam_tolerance=0.02, account_units_min=per * 0.99, account_units_max=per * 1.01))
    print("solving", flush=True)
    try:
        solve(p, Solver(time_limit=120, mip_gap=0.0, candidates=m, engine=ENGINE))
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
    print("finished", flush=True)
""")


MEDIANS = textwrap.dedent("""
    import signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    from territory.optimize import Solver
    from territory.optimize.centres import banded_medians

    rng = np.random.default_rng(3)
    n, k = 160, 8
    xy = rng.random((n, 2)) * 100
    w, au = rng.lognormal(0, 0.6, n), rng.integers(1, 5, n).astype(float)
    loads = [(au, au.sum() / k * 0.99, au.sum() / k * 1.01), (w, w.sum() / k * 0.98, w.sum() / k * 1.02)]
    print("solving", flush=True)
    try:
        banded_medians(np.linalg.norm(xy[:, None] - xy[None], axis=2), w, loads, k,
                       Solver(time_limit=120, mip_gap=0.0))
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
    print("finished", flush=True)
""")

CASES = {"pulp": SCRIPT.replace("ENGINE", repr("pulp")), "lns": SCRIPT.replace("ENGINE", repr("lns")),
         "free centres": MEDIANS}


@pytest.mark.parametrize("case", list(CASES))
def test_sigint_stops_the_solve_within_seconds(case, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.Popen([sys.executable, "-c", CASES[case]], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "solving"
        time.sleep(2.5)  # model built, solver running
        assert proc.poll() is None, "the solve ended before it could be interrupted"
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
        waited = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in out and "Traceback" not in err
    assert waited < 5.0
