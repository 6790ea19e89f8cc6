"""A 24-point sweep on the demo data, serial against two Dask workers, in one run.

Grid: rep counts 5..10 x ``balance.tam_tolerance`` 0.10 / 0.15 / 0.20 / 0.25 on the
shipped Columbus book (24 ZCTAs, 1,335 account units, 7 reps) and road graph, the
``balanced`` demo scenario (account units 160-240, balance first) with a 30 s
solver limit per point (quick: 7..8 x 0.15 / 0.20, 4 points). 5, 9 and 10 reps fail
the pre-check (the band allows 6-8 reps), which is part of a real sweep.
Both runs write the full output contract (a folder and a map per point). The
parallel run uses a ``LocalCluster(n_workers=2, processes=True)`` started here,
so its start is reported apart from the sweep; the speed-up is given both with
and without it. Peak memory is each worker process's max RSS, read on the
worker before the cluster closes, and this process's for the serial run.

Run ``python bench/bench_sweep.py [--quick]`` or call ``run(quick)`` from the driver.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _spec(quick: bool):
    from territory.config import load_config
    from territory.sweep import SweepSpec

    counts = (7, 8) if quick else tuple(range(5, 11))
    tolerances = (0.15, 0.20) if quick else (0.10, 0.15, 0.20, 0.25)
    base = load_config(DATA / "scenarios" / "balanced.toml")
    base = base.replace(solver=dataclasses.replace(base.solver, time_limit_seconds=30))
    return SweepSpec(accounts=DATA / "accounts.csv", rep_counts=counts, base=base,
                     varies=(("balance.tam_tolerance", tolerances),),
                     reps_file=DATA / "reps.csv", zcta=DATA / "columbus_zctas.geojson")


def _digest(out: Path) -> dict[str, tuple]:
    """Per point: the row without its timing, and a hash of its plan files."""
    rows = pd.read_csv(out / "sweep.csv", dtype=str, keep_default_na=False)
    digest = {}
    for row in rows.drop(columns="solve_seconds").to_dict("records"):
        h = hashlib.sha256()
        for name in ("assignments.csv", "units.csv", "scorecard.csv"):
            p = out / row["point"] / name
            h.update(p.read_bytes() if p.exists() else b"-")
        digest[row["point"]] = (row, h.hexdigest())
    return digest


def _differences(serial: dict, parallel: dict) -> dict:
    """Points whose row or plan differ, with both statuses (a time-limited solve may differ)."""
    diff = {}
    for name, (row, plan) in serial.items():
        other, other_plan = parallel[name]
        if (row, plan) != (other, other_plan):
            fields = [k for k in row if row[k] != other[k]] + (["plans"] if plan != other_plan else [])
            diff[name] = {"status": [row["status"], other["status"]], "fields": fields}
    return {"same": not diff, "differing_points": diff}


def run(quick: bool = False) -> dict:
    """Seconds serial and on two workers, speed-ups, peak memory, identical results.

    Returns
    -------
    dict
        ``points, serial_seconds, cluster_start_seconds, parallel_seconds,
        speedup, speedup_with_start, peak_rss_mb_serial, peak_rss_mb_workers,
        statuses, answer, same_rows_and_plans, differing_points`` (name: both
        statuses and the fields that differ).
    """
    import os

    from distributed import Client, LocalCluster

    from territory.sweep import run_sweep

    spec = _spec(quick)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        serial = run_sweep(spec, Path(tmp) / "serial", workers=1)
        t_serial = time.perf_counter() - t0
        rss_serial = _peak_rss_mb()

        t0 = time.perf_counter()
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address="127.0.0.1:0", host="127.0.0.1")
        client = Client(cluster)
        t_start = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            run_sweep(spec, Path(tmp) / "parallel", client=client)
            t_par = time.perf_counter() - t0
            rss_workers = client.run(_peak_rss_mb)
        finally:
            client.close()
            cluster.close()
        same = _differences(_digest(Path(tmp) / "serial"), _digest(Path(tmp) / "parallel"))
    return {
        "points": len(serial.rows), "cores": os.cpu_count(),
        "serial_seconds": round(t_serial, 1), "cluster_start_seconds": round(t_start, 1),
        "parallel_seconds": round(t_par, 1), "speedup": round(t_serial / t_par, 2),
        "speedup_with_start": round(t_serial / (t_par + t_start), 2),
        "peak_rss_mb_serial": round(rss_serial),
        "peak_rss_mb_workers": sorted(round(v) for v in rss_workers.values()),
        "statuses": serial.rows["status"].value_counts().to_dict(),
        "answer": serial.answer and {k: serial.answer[k] for k in ("n_reps", "rule")},
        "same_rows_and_plans": same["same"], "differing_points": same["differing_points"],
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
