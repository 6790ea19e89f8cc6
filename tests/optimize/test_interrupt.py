"""Ctrl-C during a solve stops HiGHS promptly and reaches the caller as KeyboardInterrupt."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import sys, time
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


@pytest.mark.parametrize("engine", ["pulp", "lns"])
def test_sigint_stops_the_solve_within_seconds(engine, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT.replace("ENGINE", repr(engine))], env=env,
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
