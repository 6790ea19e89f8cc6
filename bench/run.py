"""Benchmark harness: ``python -m bench [--quick] [--out DIR]``.

One run measures, on deterministic instances built from real geography
(:mod:`bench.instances`):

* **scale sweep** of :func:`territory.optimize.solve` (HiGHS) from one
  state's counties to ~5,000 ZIPs x 100 reps, with and without contiguity;
* **baselines** on the same instances: weighted k-means alone, plain nearest
  base, capacity-aware greedy (:mod:`bench.baselines`), and HiGHS vs CBC;
* **end to end**: ``territory demo`` wall time and peak memory;
* **growth**: log-log least-squares exponent of solve time in units x reps;
* the other engineers' modules ``bench.bench_assign``, ``bench.bench_matrix``,
  ``bench.bench_units``, ``bench.bench_maps`` (each ``run(quick) -> dict``) when
  present; a missing or failing module is noted, never fatal.

Every case runs in its own subprocess; its peak memory is the subprocess's
maximum resident set (``os.wait4`` rusage, which includes solver binaries it
ran, e.g. CBC), so peaks never bleed between cases. Short cases (< 30 s) are
timed best of 3. Figures are for people: there are no thresholds, and the exit
code is non-zero only when the harness itself fails.

Outputs: ``RESULTS.md`` (tables) and ``results.json`` (machine-readable) in
``--out`` (default: this folder).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import importlib
import importlib.metadata
import json
import math
import os
import pickle
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
OTHER_MODULES = ("bench_assign", "bench_matrix", "bench_units", "bench_maps", "bench_peers",
                 "bench_national", "bench_travel", "bench_sweep", "bench_balance", "bench_writers")
PACKAGES = ("numpy", "pandas", "geopandas", "shapely", "pyproj", "pulp", "highspy", "osmnx",
            "networkx", "scikit-learn", "scipy", "folium", "zipcodes", "plotly-geo")
REPEAT_BELOW_SECONDS = 30.0
MIP_GAP = 0.01
CANDIDATES = 6

_T0 = time.perf_counter()


def _log(msg: str) -> None:
    print(f"[bench {time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def _jsonable(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not math.isfinite(float(o)) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    return repr(o)


def _clean_floats(o):
    """JSON has no NaN/inf: turn them into None, recursively."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {str(k): _clean_floats(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean_floats(v) for v in o]
    return o


# ============================================================================ machine


def machine_info() -> dict:
    mem_gb = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    try:
        versions["territory"] = importlib.metadata.version("territory")
    except importlib.metadata.PackageNotFoundError:
        versions["territory"] = None
    try:
        import pulp

        cbc = pulp.PULP_CBC_CMD()
        versions["cbc_available"] = bool(cbc.available())
    except Exception:  # noqa: BLE001
        versions["cbc_available"] = False
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, check=False,
                                capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    try:
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=REPO, check=False,
                               capture_output=True, text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        dirty = []
    return {"cores": os.cpu_count(), "memory_gb": mem_gb, "cpu": cpu,
            "uncommitted_src": [line[3:] for line in dirty],
            "platform": platform.platform(), "versions": versions, "git_commit": commit,
            "loadavg_start": list(os.getloadavg())}


# ============================================================================ subprocesses


def _spawn(cmd: list[str], *, timeout: float, cwd: Path, log_path: Path,
           env: dict | None = None) -> dict:
    """Run ``cmd`` in its own session; wall time, exit code, peak RSS (MB) of it and its children."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    with open(log_path, "wb") as logf:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > timeout:
                timed_out = True
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # the session this call created
                except ProcessLookupError:
                    pass
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    tail = log_path.read_text(errors="replace")[-3000:]
    return {"returncode": proc.returncode, "wall_seconds": wall, "timed_out": timed_out,
            "peak_rss_mb": usage.ru_maxrss / 1024.0, "log_tail": tail}


def _run_worker(spec: dict, workdir: Path, timeout: float) -> dict:
    name = spec["id"]
    spec_path = workdir / f"{name}.spec.json"
    out_path = workdir / f"{name}.out.json"
    spec = dict(spec, out=str(out_path))
    spec_path.write_text(json.dumps(spec))
    proc = _spawn([sys.executable, "-m", "bench.run", "--worker", str(spec_path)],
                  timeout=timeout, cwd=REPO, log_path=workdir / f"{name}.log")
    result: dict = {}
    if out_path.exists():
        try:
            result = json.loads(out_path.read_text())
        except json.JSONDecodeError as exc:
            result = {"error": f"unreadable worker output: {exc}"}
    if proc["timed_out"]:
        result.setdefault("error", f"killed after the harness timeout of {timeout:.0f} s")
    elif proc["returncode"] != 0 and "error" not in result:
        result["error"] = f"worker exited with {proc['returncode']}: " + proc["log_tail"][-1500:]
    result["process"] = {k: v for k, v in proc.items() if k != "log_tail"}
    # wait4's ru_maxrss starts from this (parent) process's peak at fork: only an upper bound
    result["process"]["rusage_maxrss_mb_upper_bound"] = round(result["process"].pop("peak_rss_mb"), 1)
    mem = result.get("memory") or {}
    result["peak_rss_mb"] = round(mem["peak_rss_mb"], 1) if mem.get("peak_rss_mb") else None
    if proc["returncode"] != 0 or proc["timed_out"]:
        result["log_tail"] = proc["log_tail"][-2500:]
    return result


# ============================================================================ worker side


def _status_kb(pid: int | str, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (from the parent ids in /proc/*/stat)."""
    parent: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                stat = fh.read()
            parent[int(name)] = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


class _PeakWatcher:
    """Peak resident memory of this process (VmHWM) and of every descendant (e.g. CBC).

    ``ru_maxrss`` of an exec'd child starts at its parent's peak (Linux keeps the
    pre-exec high-water mark), so it cannot tell a worker's own peak; VmHWM of
    the new address space can. Descendants are polled every 0.2 s; their VmHWM is
    itself a high-water mark, so a poll misses at most their last 0.2 s.
    """

    def __init__(self) -> None:
        import threading

        self.children_kb = 0
        self.self_pid = os.getpid()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            for pid in _descendants(self.self_pid):
                kb = _status_kb(pid, "VmHWM") or 0
                self.children_kb = max(self.children_kb, kb)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(timeout=2)
        own = _status_kb("self", "VmHWM") or 0
        return {"self_peak_rss_mb": own / 1024, "children_peak_rss_mb": self.children_kb / 1024,
                "peak_rss_mb": max(own, self.children_kb) / 1024}


def _worker(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    out: dict = {"id": spec["id"], "kind": spec["kind"]}
    watcher = _PeakWatcher()
    try:
        if spec["kind"] == "floor":
            out.update(_work_floor(spec))
        elif spec["kind"] == "assign":
            out.update(_work_assign(spec))
        elif spec["kind"] == "module":
            out.update(_work_module(spec))
        elif spec["kind"] == "demo":
            out.update(_work_demo(spec))
        else:
            raise ValueError(f"unknown case kind {spec['kind']!r}")
    except Exception as exc:  # noqa: BLE001
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()[-4000:]
    out["memory"] = watcher.stop()
    Path(spec["out"]).write_text(json.dumps(_clean_floats(out), default=_jsonable, indent=1))
    return 0


def _load_instance(path: str):
    with open(path, "rb") as fh:
        return pickle.load(fh)


def _work_floor(spec: dict) -> dict:
    import territory.optimize  # noqa: F401
    from bench import baselines  # noqa: F401

    _load_instance(spec["instance"])
    return {"note": "interpreter + territory/pulp/geopandas/sklearn imports + one instance loaded"}


class _LogTail:
    """Keeps the optimizer's INFO lines (with elapsed seconds) for the report."""

    def __init__(self) -> None:
        import logging

        self.t0 = time.perf_counter()
        self.lines: list[str] = []
        handler = logging.Handler(level=logging.INFO)
        handler.emit = self._emit  # type: ignore[method-assign]
        logger = logging.getLogger("territory")
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)

    def _emit(self, record) -> None:
        try:
            self.lines.append(f"{time.perf_counter() - self.t0:8.1f}s {record.name}: {record.getMessage()}")
        except Exception:  # noqa: BLE001
            return
        del self.lines[:-400]


def _work_assign(spec: dict) -> dict:
    from bench import baselines
    from territory.errors import InfeasibleError
    from territory.optimize import Solver, check_plan, solve

    inst = _load_instance(spec["instance"])
    problem = inst.with_contiguity() if spec["contiguity"] else inst.problem
    cfg = Solver(name=spec["solver"], time_limit=spec["time_limit"], mip_gap=MIP_GAP,
                 candidates=CANDIDATES, engine=spec.get("engine") or "auto")
    logtail = _LogTail()
    runs: list[dict] = []
    result = None
    for attempt in range(3):
        t0 = time.perf_counter()
        try:
            res = solve(problem, cfg, seed=0)
        except InfeasibleError as exc:
            wall = time.perf_counter() - t0
            diag = getattr(exc, "diagnosis", None) or {}
            status = "no plan in time" if diag.get("constraint") == "time_limit" else "infeasible"
            return {"status": status, "wall_seconds": wall, "runs": [wall], "log": logtail.lines[-60:],
                    "message": str(exc)[:2000], "diagnosis": getattr(exc, "diagnosis", None)}
        wall = time.perf_counter() - t0
        runs.append({"wall": wall, "solve": res.solve_seconds, "build": res.build_seconds})
        result = res if result is None or wall < min(r["wall"] for r in runs[:-1]) else result
        if not spec.get("repeat", True) or wall >= REPEAT_BELOW_SECONDS:
            break
    best = min(runs, key=lambda r: r["wall"])
    res = result
    violations = check_plan(problem, res.rep_of_unit)
    status = res.status
    if spec["solver"] != "highs" and res.solve_seconds >= 0.97 * spec["time_limit"]:
        # PuLP reports CBC's "stopped on time with a solution" as optimal
        status = "time_limit"
    out = {
        "status": status, "objective": res.objective, "bound": res.bound, "gap": res.gap,
        "wall_seconds": best["wall"], "solve_seconds": best["solve"], "build_seconds": best["build"],
        "runs": [round(r["wall"], 3) for r in runs], "candidates": res.candidates,
        "slack": res.slack, "violations": violations[:10], "n_violations": len(violations),
    }
    if res.bound is not None and res.objective:
        out["gap_from_bound"] = (res.objective - res.bound) / abs(res.objective)
    out["engine"] = getattr(res, "engine", "pulp")
    out["lp_bound"] = getattr(res, "lp_bound", None)
    out["penalty_cost"] = getattr(res, "penalty_cost", None)
    history = [list(h) for h in getattr(res, "history", ()) or ()]
    out["history"] = history[:200]
    out["time_to_gap"] = _time_to_gap(history, res.bound)
    out["log"] = [line for line in logtail.lines if "improving plan" not in line][-60:]
    adj = inst.adjacency
    out["plan"] = baselines.score_plan(problem, res.rep_of_unit, inst.xy, inst.bases_xy,
                                       inst.weight, adj)
    if spec.get("baselines"):
        p = inst.problem
        bl: dict = {}
        t0 = time.perf_counter()
        labels, centres = baselines.kmeans_alone(inst.xy, p.account_units, p.n_reps, seed=0)
        bl["kmeans"] = baselines.score_plan(p, labels, inst.xy, centres, inst.weight, adj)
        bl["kmeans"]["seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        near = baselines.nearest_base(inst.xy, inst.bases_xy)
        bl["nearest"] = baselines.score_plan(p, near, inst.xy, inst.bases_xy, inst.weight, adj)
        bl["nearest"]["seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        greedy = baselines.greedy_capacity(p, inst.xy, inst.bases_xy)
        bl["greedy"] = baselines.score_plan(p, greedy, inst.xy, inst.bases_xy, inst.weight, adj)
        bl["greedy"]["seconds"] = time.perf_counter() - t0
        out["baselines"] = bl
    return out


def _work_demo(spec: dict) -> dict:
    from territory.cli import main as cli_main

    t0 = time.perf_counter()
    failure = None
    try:
        code = cli_main(["demo", "--out", spec["demo_out"]])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except Exception:  # noqa: BLE001
        code, failure = 1, traceback.format_exc()[-2500:]
    out = {"returncode": int(code or 0), "wall_seconds": time.perf_counter() - t0}
    if failure:
        out["failure"] = failure
    files = [p for p in Path(spec["demo_out"]).rglob("*") if p.is_file()]
    out["files_written"] = len(files)
    out["bytes_written"] = sum(p.stat().st_size for p in files)
    return out


def _time_to_gap(history: list[list], bound: float | None) -> dict:
    """Seconds until the first plan, and until a plan within 10/5/2/1% of the final bound."""
    out: dict = {"first_plan": history[0][0] if history else None}
    for pct in (10, 5, 2, 1):
        hit = None
        if bound is not None:
            for t, obj, _b in history:
                if obj and (obj - bound) / abs(obj) <= pct / 100 + 1e-12:
                    hit = t
                    break
        out[f"{pct}%"] = hit
    return out


def _work_module(spec: dict) -> dict:
    mod = importlib.import_module(f"bench.{spec['module']}")
    t0 = time.perf_counter()
    data = mod.run(bool(spec["quick"]))
    return {"module": spec["module"], "seconds": time.perf_counter() - t0, "result": data}


# ============================================================================ plan of the run


def _instance_plan(quick: bool) -> list[tuple[str, dict]]:
    plan = [("county", {"state": "OH", "n_reps": 8}), ("zcta", {"n_reps": 4}),
            ("zip", {"n_units": 500, "n_reps": 10})]
    if not quick:
        plan += [("zip", {"n_units": 1000, "n_reps": 20}), ("zip", {"n_units": 2000, "n_reps": 40}),
                 ("zip", {"n_units": 5000, "n_reps": 100})]
    return plan


def _cases(quick: bool, names: list[str]) -> list[dict]:
    """Case specs: (instance, solver, contiguity, time limit, baselines)."""
    by_units = {n: n for n in names}
    cases: list[dict] = []

    def add(inst: str, solver: str, contiguity: bool, limit: float, *, baselines: bool = False,
            group: str = "sweep", engine: str | None = None) -> None:
        if inst in by_units:
            cases.append({"instance_name": inst, "solver": solver, "contiguity": contiguity,
                          "time_limit": limit, "baselines": baselines, "group": group,
                          **({"engine": engine, "repeat": False} if engine else {})})

    if quick:
        for n in names:
            add(n, "highs", False, 120, baselines=True)
        for n in names:
            if not n.startswith("zips_"):
                add(n, "highs", True, 120)
        add(names[0], "cbc", False, 60, group="cbc")
        add(names[0], "cbc", True, 60, group="cbc")
        return cases
    for n in names:
        add(n, "highs", False, 600, baselines=True)
        if n.startswith("zips_5000"):
            # the automatic engine picks LNS here; the PuLP model straight to HiGHS beside it
            add(n, "highs", False, 600, group="sweep_engine", engine="pulp")
    for n in names:
        if n.startswith("zips_5000"):
            continue  # contiguity at 5,000 x 100 does not finish in minutes
        add(n, "highs", True, 600)
    for n in names:
        if n.startswith(("zips_2000", "zips_5000")):
            continue
        add(n, "cbc", False, 180, group="cbc")
        if not n.startswith("zips_1000"):
            add(n, "cbc", True, 180, group="cbc")
    return cases


# ============================================================================ end to end


def _demo(workdir: Path, timeout: float) -> dict:
    """``territory demo`` run in-process by a worker (wall time, peak memory, failure text)."""
    _log("end to end: territory demo")
    out = _run_worker({"id": "demo", "kind": "demo", "demo_out": str(workdir / "demo_out")},
                      workdir, timeout=timeout)
    out["command"] = "territory demo --out <tmp>  (territory.cli.main in a fresh subprocess)"
    if out.get("returncode") is None:
        out["returncode"] = out["process"]["returncode"] or 1
        out["failure"] = out.get("traceback") or out.get("error") or ""
    if out.get("returncode") and not out.get("failure"):
        out["failure"] = (out.get("log_tail") or (workdir / "demo.log").read_text(errors="replace"))[-2500:]
    out["timed_out"] = out["process"]["timed_out"]
    out["wall_seconds"] = out.get("wall_seconds") or out["process"]["wall_seconds"]
    return out


# ============================================================================ growth


def growth_fit(points: list[tuple[float, float]]) -> dict | None:
    """Least squares of log(seconds) = a + b log(units x reps)."""
    pts = [(x, y) for x, y in points if x > 0 and y and y > 0]
    if len(pts) < 3 or max(p[0] for p in pts) < 4 * min(p[0] for p in pts):
        return None
    lx = np.log([p[0] for p in pts])
    ly = np.log([p[1] for p in pts])
    b, a = np.polyfit(lx, ly, 1)
    pred = a + b * lx
    ss_res = float(((ly - pred) ** 2).sum())
    ss_tot = float(((ly - ly.mean()) ** 2).sum())
    return {"exponent": float(b), "intercept": float(a), "points": len(pts),
            "r2": 1 - ss_res / ss_tot if ss_tot > 0 else None,
            "x": [p[0] for p in pts], "seconds": [p[1] for p in pts]}


# ============================================================================ report


def _f(x, fmt: str = "{:.2f}", none: str = "–") -> str:
    if x is None:
        return none
    if isinstance(x, float) and not math.isfinite(x):
        return none
    try:
        return fmt.format(x)
    except (ValueError, TypeError):
        return str(x)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in r) + " |")
    return "\n".join(lines)


def _render_any(data, depth: int = 0) -> str:
    """Generic markdown for another module's result dict."""
    if isinstance(data, dict) and isinstance(data.get("markdown"), str):
        return data["markdown"]
    parts: list[str] = []
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        keys: list[str] = []
        for r in data:
            keys += [k for k in r if k not in keys]
        rows = [[_cell(r.get(k)) for k in keys] for r in data]
        return _table(keys, rows)
    if isinstance(data, dict):
        scalars = {k: v for k, v in data.items() if not isinstance(v, (dict, list))}
        if scalars:
            parts.append(_table(["key", "value"], [[k, _cell(v)] for k, v in scalars.items()]))
        for k, v in data.items():
            if isinstance(v, (dict, list)):
                parts.append(f"\n**{k}**\n")
                if depth >= 2:
                    parts.append("```json\n" + json.dumps(v, default=_jsonable, indent=1)[:3000]
                                 + "\n```")
                elif isinstance(v, list) and not all(isinstance(r, dict) for r in v):
                    parts.append("`" + json.dumps(v, default=_jsonable)[:1000] + "`")
                else:
                    parts.append(_render_any(v, depth + 1))
        return "\n".join(parts)
    return "`" + json.dumps(data, default=_jsonable)[:2000] + "`"


def _cell(v) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–"
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, (dict, list)):
        return "`" + json.dumps(v, default=_jsonable)[:200] + "`"
    return "–" if v is None else str(v)


def render_markdown(res: dict) -> str:
    _normalise_status(res)
    m = res["machine"]
    v = m["versions"]
    L: list[str] = []
    L.append("# territory benchmarks\n")
    L.append(f"Produced by `python -m bench{' --quick' if res['quick'] else ''}` on "
             f"{res['started_utc']} (UTC), harness wall time {res['wall_seconds'] / 60:.1f} min"
             f"{', git ' + m['git_commit'] if m.get('git_commit') else ''}. "
             "Regenerate with `python -m bench` (full, about 2 h on 2 cores: `bench_peers` ~47 min, "
             "`bench_assign` ~33 min, `bench_balance` ~14 min, `bench_national` ~12 min) or `python -m bench --quick` (smoke test, a few minutes). Machine-readable figures: "
             "[`results.json`](results.json).\n")
    L.append(f"**Machine:** {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB RAM, "
             f"{m['platform']}; load average at start {', '.join(f'{x:.2f}' for x in m['loadavg_start'])}"
             f", at end {', '.join(f'{x:.2f}' for x in m.get('loadavg_end', []))}. The machine is "
             "shared (several engineers' sessions build, test and benchmark on the same 2 cores) "
             "and loaded, so every figure here was measured under that load: compare ratios "
             "measured in the same run, not absolute seconds across runs.\n")
    newer = {p: st for p, st in (res.get("sections") or {}).items()
             if st.get("started_utc") != res["started_utc"]}
    if newer:
        L.append("**Refreshed since** (`python -m bench --only PART`): "
                 + ", ".join(f"`{p}` on {st['started_utc']} UTC at git {st.get('git_commit') or '?'}"
                             for p, st in newer.items())
                 + "; every section below says when it was measured and under what load. The "
                 "machine line above is the full run's.\n")
    L.append("**Versions:** " + ", ".join(f"{k} {val}" for k, val in v.items() if k != "cbc_available")
             + f"; CBC binary (PuLP) available: {v.get('cbc_available')}.\n")
    L.append("**Method.** Each case runs in its own fresh subprocess; *peak MB* is the larger of "
             "that process's own peak resident set (`VmHWM` of its address space) and the peak of "
             "any child process it starts, such as CBC (polled every 0.2 s), so peaks do not bleed "
             "between cases (`ru_maxrss` of an exec'd child would start at the parent's peak). "
             f"The floor — interpreter plus imports plus "
             f"one instance loaded — is {_f(res.get('floor', {}).get('peak_rss_mb'), '{:.0f}')} MB. "
             f"Cases under {REPEAT_BELOW_SECONDS:.0f} s are timed best of 3 (*runs* lists every "
             f"run). Solver settings: relative MIP gap {MIP_GAP:.0%} (\"time to 1% gap\"), "
             f"{CANDIDATES} candidate reps per unit (widened automatically when infeasible), "
             "seed 0, default threads. *wall* = model build + solve as seen by the caller of "
             "`solve_assignment`. Figures are for people; nothing here is a pass/fail threshold.\n")
    if res.get("headline"):
        L.append("## Headline\n")
        L += [f"- {h}" for h in res["headline"]]
        L.append("")

    L.append("## Instances\n")
    if _measured(res, "sweep"):
        L.append("Instances, scale sweep, growth, baselines and HiGHS vs CBC: "
                 + _measured(res, "sweep"))
    L.append("Deterministic (fixed seeds) on real geography; see `bench/instances.py`. Demand: "
             "Poisson accounts per unit, denser where the `zipcodes` table lists more ZIPs per "
             "city (ZIP units) or per county (county units), lognormal revenue (median $20K, "
             "σ = 1), tiers A/B/C → 3/2/1 account units. Bands: account units ±20% of "
             "total / reps, TAM ±15% of the mean. Bases: weighted k-means centres rebalanced "
             "by the banded LP (`territory.optimize.seed`), roots by `root_units`; cost = (TAM / mean "
             "TAM + 0.01) × straight-line km. The bases come from `territory.optimize.seed`, so a change "
             "there changes the instances (see *fingerprint* in `results.json`): compare runs only "
             "at the same commit.\n")
    rows = []
    for name, i in res["instances"].items():
        rows.append([f"`{name}`", i["description"], i["n_units"], i["n_reps"],
                     f"{i['meta'].get('accounts', 0):,}", f"{i['meta']['total_account_units']:,.0f}",
                     f"{i['meta']['units_band'][0]:.0f}–{i['meta']['units_band'][1]:.0f}",
                     _f(i["meta"].get("max_unit_tam_share_of_target"), "{:.0%}"),
                     i.get("adjacency_edges", "–"), i.get("bridges", 0),
                     _f(i.get("build_seconds"), "{:.1f}")])
    L.append(_table(["instance", "what", "units", "reps", "accounts", "account units",
                     "band / rep", "largest unit TAM / target", "adjacency edges", "bridges",
                     "instance build s (seed + rebalance)"], rows))
    L.append("")

    def case_rows(group: str, solver: str | None = None) -> list[list]:
        out = []
        for c in res["cases"]:
            if not c["group"].startswith(group) or (solver and c["solver"] != solver):
                continue
            inst = res["instances"][c["instance_name"]]
            err = c.get("error")
            out.append([
                f"`{c['instance_name']}`", f"{inst['n_units']:,} × {inst['n_reps']}",
                "yes" if c["contiguity"] else "no", c["solver"],
                c.get("status", "error") if not err else "error",
                _f(c.get("wall_seconds"), "{:.2f}"),
                " / ".join(f"{x:.1f}" for x in c.get("runs", [])) or "–",
                _f(c.get("build_seconds"), "{:.2f}"), _f(c.get("solve_seconds"), "{:.2f}"),
                _f(c.get("objective"), "{:,.1f}"), _f(c.get("bound"), "{:,.1f}"),
                _f(c.get("gap"), "{:.3%}"), c.get("candidates", "–"), _engine_label(c),
                _ttg(c), _f(c.get("peak_rss_mb"), "{:.0f}"),
                "ok" if c.get("n_violations") == 0 else
                (err[:160] if err else (c.get("n_violations") if c.get("n_violations") is not None else "–")),
            ])
        return out

    header = ["instance", "units × reps", "contiguity", "solver", "status", "wall s (best)",
              "runs s", "build s", "solve s", "objective", "LP/MIP bound", "gap", "candidates",
              "engine", "first plan / ≤5% / ≤2% s", "peak MB", "plan checks"]
    L.append("## Scale sweep: `solve_assignment` with HiGHS\n")
    L.append(_table(header, case_rows("sweep")))
    L.append("")
    L.append("*objective* = Σ unit weight × km to its rep's base; *bound* and *gap* as HiGHS "
             "reports them; *plan checks* = `territory.assign.check_plan` on the returned plan "
             "(bands, contiguity), `ok` when it breaks nothing.\n")

    g = res.get("growth") or {}
    L.append("## Growth\n")
    L.append("Fit over the HiGHS sweep cases that ended `optimal` (within the 1% gap); "
             "x = units × reps, y = best wall seconds. Cases that hit the time limit or found "
             "no plan are left out of the fit (listed below), so the exponent understates growth "
             "when large cases are left out.\n")
    for key, label in (("no_contiguity", "without contiguity"), ("contiguity", "with contiguity")):
        fit = g.get(key)
        if fit:
            L.append(f"- {label}: solve wall time ∝ (units × reps)^**{fit['exponent']:.2f}** "
                     f"(log-log least squares over {fit['points']} instances, "
                     f"units × reps from {min(fit['x']):,.0f} to {max(fit['x']):,.0f}, "
                     f"R² = {_f(fit.get('r2'), '{:.2f}')}).")
        else:
            L.append(f"- {label}: fewer than three solved instances (spanning 4× in size), no fit.")
        left = [c["instance_name"] for c in res["cases"] if c["group"] == "sweep"
                and c["solver"] == "highs" and c["contiguity"] == (key == "contiguity")
                and c.get("status") != "optimal"]
        if left:
            L.append(f"  Left out ({label}): " + ", ".join(f"`{n}`" for n in left) + ".")
    L.append("")

    L.append("## Plan quality against baselines (same instances, same run)\n")
    L.append("Baselines: **k-means** = scikit-learn KMeans weighted by account units, each unit "
             "to its cluster, travel measured to its own cluster centres; **nearest** = each unit "
             "to the nearest of the optimizer's bases (plain, no capacity); **greedy** = "
             "capacity-aware greedy on the optimizer's bases (units by decreasing TAM, nearest "
             "base with room in both bands, else nearest). *Travel* is the optimizer's "
             "objective (TAM-weighted km); *× ours* is the baseline's travel over ours. "
             "*Split* = territories in more than one piece on the adjacency graph.\n")
    rows = []
    for c in res["cases"]:
        if c["group"] != "sweep" or c["contiguity"] or "baselines" not in c:
            continue
        inst = res["instances"][c["instance_name"]]
        ours = c["plan"]
        methods = [("territory (HiGHS)", ours)] + list(c["baselines"].items())
        contig = next((x for x in res["cases"] if x["instance_name"] == c["instance_name"]
                       and x["contiguity"] and x["solver"] == "highs" and "plan" in x), None)
        if contig:
            methods.insert(1, ("territory + contiguity", contig["plan"]))
        forced = [x for x in res["cases"] if x["instance_name"] == c["instance_name"]
                  and x["group"] == "sweep_engine" and "plan" in x]
        for x in forced:
            methods.insert(1, (f"territory, engine={x.get('engine')} forced", x["plan"]))
        for label, s in methods:
            rows.append([f"`{c['instance_name']}`", label,
                         f"{s['tam_band_breaks']} / {inst['n_reps']}",
                         f"{s['units_band_breaks']} / {inst['n_reps']}",
                         _f(s["tam_cv"], "{:.1%}"), _f(s["units_cv"], "{:.1%}"),
                         "{:.2f}–{:.2f}".format(*s["tam_min_max_of_target"]),
                         f"{s['travel']:,.0f}", _f(s["travel"] / ours["travel"] if ours["travel"] else None,
                                                   "{:.2f}"),
                         s.get("split_territories", "–"), s.get("empty_reps", 0)])
    L.append(_table(["instance", "method", "reps off TAM band", "reps off units band", "TAM CV",
                     "units CV", "TAM / target (min–max)", "travel", "× ours", "split",
                     "empty reps"], rows))
    L.append("")

    L.append("## HiGHS vs CBC (same instances, same settings)\n")
    rows = []
    for c in res["cases"]:
        if c["group"] != "cbc":
            continue
        h = next((x for x in res["cases"] if x["group"] == "sweep" and x["solver"] == "highs"
                  and x["instance_name"] == c["instance_name"] and x["contiguity"] == c["contiguity"]),
                 None)
        hw, cw = (h or {}).get("wall_seconds"), c.get("wall_seconds")
        ho, co = (h or {}).get("objective"), c.get("objective")
        rows.append([f"`{c['instance_name']}`", "yes" if c["contiguity"] else "no",
                     (h or {}).get("status", "–"), _f(hw), _f(ho, "{:,.1f}"),
                     c.get("status", "error") if not c.get("error") else "error: " + c["error"][:120],
                     _f(cw), _f(co, "{:,.1f}"),
                     _f(cw / hw if hw and cw else None, "{:.1f}×"),
                     _f((co - ho) / ho if ho and co else None, "{:+.2%}"),
                     _f((h or {}).get("peak_rss_mb"), "{:.0f}"),
                     _f((c.get("memory") or {}).get("self_peak_rss_mb"), "{:.0f}") + " / "
                     + _f((c.get("memory") or {}).get("children_peak_rss_mb") or None, "{:.0f}")])
    L.append(_table(["instance", "contiguity", "HiGHS status", "HiGHS wall s", "HiGHS objective",
                     "CBC status", "CBC wall s", "CBC objective", "CBC / HiGHS time",
                     "CBC obj vs HiGHS", "HiGHS peak MB", "CBC case peak MB: Python / cbc process"], rows))
    L.append("\nCBC is PuLP's bundled binary (`PULP_CBC_CMD`), run with the same time limit "
             "and 1% gap; its time includes writing and reading PuLP's MPS/solution files. "
             "PuLP reports no bound for CBC.\n")

    d = res.get("demo") or {}
    L.append("## End to end: `territory demo`\n")
    if _measured(res, "demo"):
        L.append(_measured(res, "demo"))
    if d.get("returncode") == 0:
        L.append(f"Wall time **{d['wall_seconds']:.1f} s**, peak memory **{_f(d.get('peak_rss_mb'), '{:.0f}')} MB** "
                 f"(VmHWM of the fresh subprocess that ran it), {d.get('files_written', '?')} files written.\n")
    elif d:
        L.append(f"`territory demo` **failed** (exit {d.get('returncode')}, "
                 f"{'timed out, ' if d.get('timed_out') else ''}after {d.get('wall_seconds', 0):.1f} s, "
                 f"peak {_f(d.get('peak_rss_mb'), '{:.0f}')} MB). Its last output:\n")
        L.append("```\n" + (d.get("failure") or "").strip()[-2000:] + "\n```\n")
    else:
        L.append("Not run.\n")

    L.append("## Other benchmark modules\n")
    for name in OTHER_MODULES:
        mres = res["modules"].get(name, {})
        L.append(f"### `bench/{name}.py`\n")
        if _measured(res, name) and not mres.get("missing"):
            L.append(_measured(res, name))
        if not mres:
            L.append(f"Not measured in this report: `python -m bench --only {name}` adds it.\n")
            continue
        if mres.get("missing"):
            L.append(f"Skipped: {mres['missing']}\n")
            continue
        if mres.get("error"):
            L.append(f"Skipped: the module failed ({mres['error'][:600].strip()}).\n")
            if mres.get("traceback"):
                L.append("```\n" + mres["traceback"][-1500:].strip() + "\n```\n")
            continue
        L.append(f"Ran in {mres.get('seconds', 0):.1f} s, peak memory {_f(mres.get('peak_rss_mb'), '{:.0f}')} MB "
                 "(its subprocess).\n")
        L.append(_render_any(mres.get("result")))
        L.append("")

    notes = list(res.get("notes") or []) + _auto_notes(res)
    if m.get("uncommitted_src"):
        notes.append("The optimizer was measured on a working tree with uncommitted changes in: "
                     + ", ".join(f"`{p}`" for p in m["uncommitted_src"]) + ".")
    if notes:
        L.append("## Notes\n")
        L += [f"- {n}" for n in notes]
        L.append("")
    return "\n".join(L) + "\n"


def _normalise_status(res: dict) -> None:
    """CBC through PuLP reports "stopped on time with a plan" as optimal: relabel it.

    The last ``solving ... time limit N s`` line of the optimizer's log gives the
    limit of the final solve; a CBC solve that used >= 97% of it is ``time_limit``.
    """
    import re

    for c in res.get("cases", []):
        if c.get("solver") != "cbc" or c.get("status") != "optimal" or not c.get("solve_seconds"):
            continue
        limits = [float(m.group(1)) for line in c.get("log", [])
                  for m in [re.search(r"time limit (\d+(?:\.\d+)?) s", line)] if m]
        limit = limits[-1] if limits else c.get("time_limit")
        if limit and c["solve_seconds"] >= 0.97 * limit:
            c["status"] = "time_limit"


def _lns_fell_back(c: dict) -> bool:
    return any("LNS engine found no plan" in line for line in c.get("log", []))


def _engine_label(c: dict) -> str:
    if _lns_fell_back(c):
        return "auto: lns found no plan → pulp with the time left"
    if c.get("group") == "sweep_engine":
        return f"{c.get('engine')} (forced)"
    if c.get("engine"):
        return c["engine"]
    return "–"


def _ttg(c: dict) -> str:
    if _lns_fell_back(c):
        return "–"
    t = c.get("time_to_gap") or {}
    if not t or t.get("first_plan") is None:
        return "–"
    return " / ".join(_f(t.get(k), "{:.0f}") for k in ("first_plan", "5%", "2%"))


def _auto_notes(res: dict) -> list[str]:
    notes: list[str] = []
    for c in res["cases"]:
        inst = res["instances"].get(c["instance_name"], {})
        size = f"{inst.get('n_units', '?'):,} × {inst.get('n_reps', '?')}"
        tag = f"`{c['instance_name']}` ({size}, {c['solver']}, contiguity {'on' if c['contiguity'] else 'off'})"
        if c.get("error"):
            notes.append(f"{tag}: the case failed: {c['error'][:400]}")
        elif c.get("status") in ("infeasible", "no plan in time"):
            notes.append(f"{tag}: no plan after {_f(c.get('wall_seconds'), '{:.0f}')} s "
                         f"(time limit {c.get('time_limit')} s): {str(c.get('message'))[:400]}")
        elif c.get("status") not in (None, "optimal"):
            notes.append(f"{tag}: stopped with status `{c.get('status')}` after "
                         f"{_f(c.get('wall_seconds'), '{:.0f}')} s (limit {c.get('time_limit')} s)"
                         + (f", gap {_f(c.get('gap'), '{:.2%}')} to the bound {_f(c.get('bound'), '{:,.1f}')}"
                            if c.get("bound") is not None else "") + ".")
        widen = [line.split(": ", 1)[1] for line in c.get("log", []) if "widening to" in line]
        widened = [CANDIDATES * 2 ** i for i in range(1, 8)] + [inst.get("n_reps")]
        if not widen and c.get("candidates") in widened and c.get("engine", "pulp") == "pulp" \
                and c["candidates"] > min(CANDIDATES, inst.get("n_reps") or 0):
            notes.append(f"{tag}: candidate sets were widened to {c['candidates']} reps per unit "
                         f"(the {CANDIDATES}-candidate model had no plan).")
        if widen:
            notes.append(f"{tag}: " + "; ".join(widen) + ".")
        if _lns_fell_back(c):
            lines = [line.strip() for line in c.get("log", [])
                     if "no plan meeting the hard bands" in line or "plan found" in line
                     or "LP bound" in line or "warm start: objective" in line]
            notes.append(f"{tag}: the automatic engine chose LNS, which found no plan meeting the "
                         "hard bands before the time limit; `solve_assignment` then solved the PuLP "
                         "model with the seconds left. Optimizer log: " + " | ".join(lines[:6]))
        if c.get("n_violations"):
            notes.append(f"{tag}: `check_plan` found {c['n_violations']} breaches: "
                         + "; ".join(c.get("violations", [])[:3]))
    return notes


def _headline(res: dict) -> list[str]:
    out: list[str] = []
    sweep = [c for c in res["cases"] if c["group"] == "sweep" and c["solver"] == "highs"]
    big = max((c for c in sweep if not c["contiguity"] and "wall_seconds" in c),
              key=lambda c: res["instances"][c["instance_name"]]["n_units"], default=None)
    if big:
        inst = res["instances"][big["instance_name"]]
        out.append(f"Largest instance, {inst['n_units']:,} ZIP units × {inst['n_reps']} reps, no "
                   f"contiguity: {big.get('status')} in {big['wall_seconds']:.1f} s "
                   f"(build {big.get('build_seconds', 0):.1f} s + solve {big.get('solve_seconds', 0):.1f} s), "
                   f"gap {_f(big.get('gap'), '{:.2%}')}, peak {_f(big.get('peak_rss_mb'), '{:.0f}')} MB"
                   + (f", engine {_engine_label(big)}" if big.get("engine") else "")
                   + (f"; first plan after {_f((big.get('time_to_gap') or {}).get('first_plan'), '{:.0f}')} s, "
                      f"within 5% of the bound after {_f((big.get('time_to_gap') or {}).get('5%'), '{:.0f}')} s, "
                      f"within 2% after {_f((big.get('time_to_gap') or {}).get('2%'), '{:.0f}')} s"
                      if big.get("time_to_gap") and not _lns_fell_back(big) else "") + ".")
    for c in sweep:
        if c["contiguity"] and "wall_seconds" in c:
            inst = res["instances"][c["instance_name"]]
            out.append(f"Contiguity, {inst['n_units']:,} × {inst['n_reps']}: {c.get('status')} in "
                       f"{c['wall_seconds']:.1f} s, gap {_f(c.get('gap'), '{:.2%}')}, "
                       f"peak {_f(c.get('peak_rss_mb'), '{:.0f}')} MB.")
        elif c["contiguity"] and c.get("error"):
            inst = res["instances"][c["instance_name"]]
            out.append(f"Contiguity, {inst['n_units']:,} × {inst['n_reps']}: error ({c['error'][:100]}).")
    for c in res["cases"]:
        if c["group"] == "sweep_engine" and c.get("wall_seconds"):
            inst = res["instances"][c["instance_name"]]
            out.append(f"Same {inst['n_units']:,} × {inst['n_reps']} instance with "
                       f"`engine={c.get('engine')}` forced (the PuLP model straight to HiGHS): "
                       f"{c.get('status')} in {c['wall_seconds']:.1f} s, objective "
                       f"{_f(c.get('objective'), '{:,.0f}')}, gap {_f(c.get('gap'), '{:.2%}')}, "
                       f"peak {_f(c.get('peak_rss_mb'), '{:.0f}')} MB.")
    for key, label in (("no_contiguity", "without"), ("contiguity", "with")):
        fit = (res.get("growth") or {}).get(key)
        if fit:
            out.append(f"Growth {label} contiguity: time ∝ (units × reps)^{fit['exponent']:.2f} "
                       f"over {fit['points']} instances.")
    for c in sweep:
        if c.get("baselines") and c.get("plan"):
            ours = c["plan"]
            km, gr = c["baselines"]["kmeans"], c["baselines"]["greedy"]
            nr = c["baselines"]["nearest"]
            inst = res["instances"][c["instance_name"]]
            out.append(
                f"`{c['instance_name']}`: ours breaks {ours['tam_band_breaks']}/{inst['n_reps']} TAM "
                f"and {ours['units_band_breaks']}/{inst['n_reps']} units bands (TAM CV "
                f"{ours['tam_cv']:.1%}); k-means alone breaks {km['tam_band_breaks']} and "
                f"{km['units_band_breaks']} (CV {km['tam_cv']:.1%}), nearest base "
                f"{nr['tam_band_breaks']} and {nr['units_band_breaks']} (CV {nr['tam_cv']:.1%}, travel "
                f"{nr['travel'] / ours['travel']:.2f}× ours), capacity greedy "
                f"{gr['tam_band_breaks']} and {gr['units_band_breaks']} (travel {gr['travel'] / ours['travel']:.2f}× ours).")
    for c in res["cases"]:
        if c["group"] == "cbc" and c.get("wall_seconds"):
            h = next((x for x in sweep if x["instance_name"] == c["instance_name"]
                      and x["contiguity"] == c["contiguity"] and x.get("wall_seconds")), None)
            if h:
                out.append(f"CBC vs HiGHS on `{c['instance_name']}`{' + contiguity' if c['contiguity'] else ''}: "
                           f"{c['wall_seconds']:.1f} s vs {h['wall_seconds']:.1f} s "
                           f"({c['wall_seconds'] / h['wall_seconds']:.1f}×), CBC status {c.get('status')}.")
    d = res.get("demo") or {}
    if d.get("returncode") == 0:
        out.append(f"`territory demo`: {d['wall_seconds']:.1f} s, peak {_f(d.get('peak_rss_mb'), '{:.0f}')} MB.")
    elif d:
        out.append(f"`territory demo` failed (exit {d.get('returncode')}); see below.")
    return out


def _module_result(res: dict, name: str) -> dict | None:
    m = (res.get("modules") or {}).get(name) or {}
    return m.get("result") if isinstance(m.get("result"), dict) and not m.get("error") else None


def module_headline(res: dict) -> list[str]:
    """Headline lines from the modules: sweep speed-up beside the demo, national, balance."""
    out: list[str] = []
    sections = res.get("sections") or {}
    sw, d = _module_result(res, "bench_sweep"), res.get("demo") or {}
    if sw:
        same = (sections.get("bench_sweep") or {}).get("started_utc") == \
            (sections.get("demo") or {}).get("started_utc")
        out.append(f"Sweep of {sw.get('points')} demo points: serial {_f(sw.get('serial_seconds'), '{:.1f}')} s, "
                   f"two Dask workers {_f(sw.get('parallel_seconds'), '{:.1f}')} s: speed-up "
                   f"×{_f(sw.get('speedup'))} (×{_f(sw.get('speedup_with_start'))} counting the "
                   f"{_f(sw.get('cluster_start_seconds'), '{:.1f}')} s cluster start); identical rows "
                   f"and plans: {sw.get('same_rows_and_plans')}"
                   + (f"; in the same run, `territory demo` end to end took "
                      f"{d['wall_seconds']:.1f} s" if same and d.get("returncode") == 0 else "") + ".")
    a = _module_result(res, "bench_assign") or {}
    for key, label in (("national", "National"), ("national_contiguity", "National with contiguity")):
        ours = (a.get(key) or {}).get("ours")
        if ours and ours.get("objective") is None:
            out.append(f"{label}, {a[key]['instance']}: {ours.get('status')} (after "
                       f"{_f(ours.get('seconds'), '{:.0f}')} s, peak "
                       f"{_f(ours.get('process_peak_rss_mb'), '{:,.0f}')} MB).")
        elif ours:
            out.append(f"{label}, {a[key]['instance']}: {ours.get('status')} in "
                       f"{_f(ours.get('seconds'), '{:.0f}')} s, gap to the LP bound "
                       f"{_f(ours.get('gap_vs_lp_bound'), '{:.2%}')}, {ours.get('violations')} "
                       f"violations, peak {_f(ours.get('process_peak_rss_mb'), '{:,.0f}')} MB "
                       f"(engine {ours.get('engine')}).")
    nat = _module_result(res, "bench_national") or {}
    for case, r in nat.items():
        if isinstance(r, dict) and "exit" in r:
            out.append(f"National book `{case}` ({r.get('accounts')} rows, {r.get('states')} "
                       f"states, {r.get('reps')} reps), `territory plan` with every default: exit "
                       f"{r.get('exit')} in {_f(r.get('wall_seconds'), '{:.0f}')} s, status "
                       f"{r.get('status')}, gap {_f(r.get('mip_gap'), '{:.2%}')}, contiguous "
                       f"{r.get('contiguous')}, peak {_f(r.get('peak_rss_mb'), '{:,.0f}')} MB.")
    peers = _module_result(res, "bench_peers") or {}
    for name, inst in (peers.get("instances") or {}).items():
        for r in inst.get("rows", []):
            v = r.get("vs_gerrychain")
            if v:
                out.append(f"Issue 17 balance target on `{name}` ({r['label']}): TAM CV "
                           f"{r['tam_cv']:.1%} at medoid travel ×{_f(r.get('medoid_x_ours'), '{:.3f}')} "
                           f"ours, against {v['tam_cv']:.1%} for {v['label']}: "
                           f"{'met' if v['met'] else 'not met'}.")
    bal = _module_result(res, "bench_balance") or {}
    out += [f"Balance: {line}" for line in bal.get("summary") or []]
    return out


def headlines(res: dict) -> list[str]:
    return (_headline(res) if res.get("cases") else []) + module_headline(res)


# ============================================================================ main


def _build_instances(quick: bool, workdir: Path) -> tuple[dict, dict]:
    from bench import instances as I

    paths: dict[str, str] = {}
    info: dict[str, dict] = {}
    pool = 5000 if not quick else 500
    for kind, kw in _instance_plan(quick):
        t0 = time.perf_counter()
        try:
            if kind == "county":
                inst = I.county_instance(**kw)
            elif kind == "zcta":
                inst = I.zcta_instance(**kw)
                if inst is None:
                    _log("no ZCTA file in the shared data folder: skipping the ZCTA instance")
                    continue
            else:
                inst = I.zip_instance(**kw, pool_size=pool)
        except Exception as exc:  # noqa: BLE001
            _log(f"instance {kind} {kw} failed: {exc}")
            info[f"{kind}_{'_'.join(map(str, kw.values()))}"] = {
                "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
            continue
        secs = time.perf_counter() - t0
        path = workdir / f"{inst.name}.pkl"
        with open(path, "wb") as fh:
            pickle.dump(inst, fh)
        paths[inst.name] = str(path)
        fingerprint = hashlib.sha1(np.ascontiguousarray(inst.problem.cost).tobytes()
                                   + np.ascontiguousarray(inst.problem.tam).tobytes()).hexdigest()[:12]
        info[inst.name] = {"description": inst.description, "n_units": inst.n_units,
                           "fingerprint": fingerprint,
                           "n_reps": inst.n_reps, "build_seconds": secs, "meta": inst.meta,
                           "bridges": inst.bridges,
                           "adjacency_edges": inst.adjacency.number_of_edges() if inst.adjacency is not None else None}
        _log(f"instance {inst.name}: {inst.description}, built in {secs:.1f} s")
    return paths, info


#: what ``--only`` can name besides the modules: the assignment cases and the demo
CORE_PARTS = ("sweep", "demo")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The harness's command line; ``--only`` is checked and normalised to full part names."""
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small cases only (a few minutes; CI smoke test)")
    ap.add_argument("--out", default=str(BENCH_DIR), help="folder for RESULTS.md and results.json "
                    "(default: bench/)")
    ap.add_argument("--skip-modules", action="store_true", help="do not run the other bench_* modules")
    ap.add_argument("--skip-demo", action="store_true", help="do not run `territory demo`")
    ap.add_argument("--only", default=None, metavar="PART[,PART]",
                    help="run only these parts and merge them into the existing results.json: "
                    "module names (bench_peers or peers, ...), 'sweep' (the assignment cases) "
                    "or 'demo'; every other section keeps its earlier figures and date")
    ap.add_argument("--from", dest="from_json", metavar="RESULTS_JSON", help="with --only: run "
                    "nothing, take those parts (with their dates) from another results.json, "
                    "e.g. one written with --out elsewhere while this one was in use")
    ap.add_argument("--cases", default=None, help="comma-separated substrings: run only the "
                    "assignment cases whose instance name contains one")
    ap.add_argument("--render", metavar="RESULTS_JSON", help="only re-render RESULTS.md (next to "
                    "the JSON file) from an earlier results.json")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.only is not None:
        known = CORE_PARTS + OTHER_MODULES
        parts = []
        for raw in args.only.split(","):
            name = raw.strip()
            name = name if name in known or not name else (
                f"bench_{name}" if f"bench_{name}" in known else name)
            if name not in known:
                ap.exit(2, f"python -m bench: --only: unknown part {raw.strip()!r} "
                        f"(choose from {', '.join(known)})\n")
            parts.append(name)
        args.only = tuple(dict.fromkeys(parts))
    return args


def _stamp(res: dict) -> dict:
    """When and where a section was measured (kept with it through merges)."""
    m = res["machine"]
    return {"started_utc": res["started_utc"], "git_commit": m.get("git_commit"),
            "quick": res["quick"], "loadavg_start": m.get("loadavg_start"),
            "loadavg_end": m.get("loadavg_end") or list(os.getloadavg())}


def merge_results(old: dict | None, new: dict, parts: tuple[str, ...]) -> dict:
    """``old`` with the sections named in ``parts`` taken from ``new`` (``new`` alone when
    there is no ``old``); a part ``new`` did not reach (an interrupted run) is left as it was.

    ``"sweep"`` is the instances, the assignment cases, their floor, growth and
    headline; ``"demo"`` the end-to-end run; any other name is one module.
    Each section carries its own ``run`` stamp (date, commit, load); sections
    of ``old`` without one get ``old``'s top-level stamp, so a merged report
    can say when every section was measured.
    """
    out = json.loads(json.dumps(_clean_floats(old or dict(new, sections={})), default=_jsonable))
    stamp_old = _stamp(old) if old and old.get("machine") else None
    sections = out.setdefault("sections", {})
    for name in CORE_PARTS + tuple(out.get("modules", {})):
        if name not in sections and stamp_old:
            sections[name] = stamp_old
    out.setdefault("modules", {})
    merged: list[str] = []
    for part in parts:
        if part == "sweep":
            if not new.get("instances"):
                continue  # not reached (an interrupted run): the old figures stand
            for key in ("instances", "cases", "floor", "growth"):
                out[key] = new.get(key)
        elif part == "demo":
            if "demo" not in new:
                continue
            out["demo"] = new["demo"]
        elif part in new.get("modules", {}):
            out["modules"][part] = new["modules"][part]
        else:
            continue
        sections[part] = (new.get("sections") or {}).get(part) or _stamp(new)
        merged.append(part)
    if old:
        out["notes"] = list(dict.fromkeys((old.get("notes") or []) + (new.get("notes") or [])))
        if merged:
            out["last_update"] = {"parts": merged, **sections[merged[-1]]}
    return out


def _measured(res: dict, part: str) -> str:
    """"Measured <date> at git <commit>, load ..." for a section, or "" without a stamp."""
    st = (res.get("sections") or {}).get(part)
    if not st:
        return ""
    load = lambda xs: ", ".join(f"{x:.2f}" for x in xs or [])  # noqa: E731
    return (f"*Measured {st['started_utc']} UTC at git {st.get('git_commit') or '?'}"
            f"{' (quick mode)' if st.get('quick') else ''}; load average (1, 5, 15 min) "
            f"{load(st.get('loadavg_start'))} at the start of that run, "
            f"{load(st.get('loadavg_end'))} at its end.*\n")


def _run_cases(res: dict, args, workdir: Path, report) -> None:
    """Instances, the floor, every assignment case and the growth fit, into ``res``."""
    paths, info = _build_instances(args.quick, workdir)
    res["instances"] = {k: v for k, v in info.items() if "error" not in v}
    for k, v in info.items():
        if "error" in v:
            res["notes"].append(f"instance {k} could not be built: {v['error']}")
    names = list(paths)
    if args.cases:
        keys = args.cases.split(",")
        names = [n for n in names if any(k in n for k in keys)]
    if names:
        floor = _run_worker({"id": "floor", "kind": "floor", "instance": paths[names[0]]},
                            workdir, timeout=300)
        res["floor"] = {"peak_rss_mb": floor["peak_rss_mb"],
                        "wall_seconds": floor["process"]["wall_seconds"]}
    cases = _cases(args.quick, names)
    for i, spec in enumerate(cases):
        cid = (f"{spec['group']}_{spec['instance_name']}_{spec['solver']}_"
               f"{'contig' if spec['contiguity'] else 'plain'}"
               + (f"_{spec['engine']}" if spec.get("engine") else ""))
        _log(f"case {i + 1}/{len(cases)}: {cid} (time limit {spec['time_limit']:.0f} s)")
        wspec = dict(spec, id=cid, kind="assign", instance=paths[spec["instance_name"]])
        # solve_assignment may widen candidates and explain infeasibility: allow 3x the limit
        out = _run_worker(wspec, workdir, timeout=3 * spec["time_limit"] + 300)
        out.update({k: spec[k] for k in ("instance_name", "solver", "contiguity", "time_limit", "group")})
        res["cases"].append(out)
        _log(f"  -> {out.get('status', 'error')} wall {_f(out.get('wall_seconds'))} s, "
             f"gap {_f(out.get('gap'), '{:.3%}')}, peak {_f(out.get('peak_rss_mb'), '{:.0f}')} MB"
             + (f", ERROR {out['error'][:300]}" if out.get("error") else ""))
        report(partial=True)

    def fit(contiguity: bool) -> dict | None:
        pts = [(res["instances"][c["instance_name"]]["n_units"] * res["instances"][c["instance_name"]]["n_reps"],
                c.get("wall_seconds"))
               for c in res["cases"] if c["group"] == "sweep" and c["solver"] == "highs"
               and c["contiguity"] == contiguity and c.get("status") == "optimal"]
        return growth_fit(pts)

    res["growth"] = {"no_contiguity": fit(False), "contiguity": fit(True)}


def _run_demo(res: dict, workdir: Path) -> None:
    try:
        res["demo"] = _demo(workdir, timeout=900)
        _log(f"  -> demo exit {res['demo']['returncode']} in {res['demo']['wall_seconds']:.1f} s")
    except Exception as exc:  # noqa: BLE001
        res["demo"] = {"returncode": None, "failure": f"harness could not run it: {exc}"}


#: full-mode harness timeout (s) of the modules that need more than the default 1,800 s:
#: bench_assign seeds the national instance twice (~3 min each), then solves it for 600 s,
#: gives plain HiGHS 600 s and solves it with contiguity for 600 s (~2,700 s in all, on
#: top of the state and regional cases); killed at 1,800 s on 3663417
MODULE_TIMEOUT = {"bench_assign": 3600}


def _run_module(res: dict, name: str, quick: bool, workdir: Path) -> None:
    if not (BENCH_DIR / f"{name}.py").exists():
        res["modules"][name] = {"missing": f"bench/{name}.py does not exist yet"}
        _log(f"module {name}: missing, skipped")
        return
    _log(f"module {name}: running run(quick={quick})")
    mres = _run_worker({"id": f"module_{name}", "kind": "module", "module": name,
                        "quick": quick}, workdir,
                       timeout=600 if quick else MODULE_TIMEOUT.get(name, 1800))
    res["modules"][name] = mres
    _log(f"  -> {name}: {'error ' + mres['error'][:200] if mres.get('error') else 'ok'} "
         f"in {mres['process']['wall_seconds']:.1f} s")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return _worker(args.worker)
    if args.render:
        path = Path(args.render)
        res = json.loads(path.read_text())
        _normalise_status(res)
        res["headline"] = headlines(res)
        _write(res, path.parent, partial=bool(res.get("partial")))
        return 0

    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    old = None
    if args.only:
        try:
            old = json.loads((out_dir / "results.json").read_text())
        except (OSError, json.JSONDecodeError):
            _log(f"--only: no readable {out_dir / 'results.json'}; the report has only these parts")
    if args.from_json:
        if not args.only or old is None:
            _log("--from needs --only and an existing results.json in --out")
            return 2
        res = merge_results(old, json.loads(Path(args.from_json).read_text()), args.only)
        res["headline"] = headlines(res)
        _write(res, out_dir, partial=False)
        return 0
    parts = args.only or (("sweep",) + (() if args.skip_demo else ("demo",))
                          + (() if args.skip_modules else OTHER_MODULES))
    started = _dt.datetime.now(_dt.UTC)
    res: dict = {"quick": args.quick, "started_utc": started.strftime("%Y-%m-%d %H:%M"),
                 "machine": machine_info(), "instances": {}, "cases": [], "modules": {},
                 "notes": []}
    if args.skip_modules and not args.only:
        res["modules"] = {n: {"missing": "not run (--skip-modules)"} for n in OTHER_MODULES}
    workdir = Path(tempfile.mkdtemp(prefix="territory-bench-"))
    _log(f"work folder {workdir}; writing to {out_dir}; parts: {', '.join(parts)}")

    def report(partial: bool) -> None:
        _write(merge_results(old, res, parts), out_dir, partial=partial)

    try:
        if "sweep" in parts:
            _run_cases(res, args, workdir, report)
        if "demo" in parts:
            _run_demo(res, workdir)
            report(partial=True)
        for name in OTHER_MODULES:
            if name in parts:
                _run_module(res, name, args.quick, workdir)
                report(partial=True)
    finally:
        res["wall_seconds"] = time.perf_counter() - _T0
        res["machine"]["loadavg_end"] = list(os.getloadavg())
        res = merge_results(old, res, parts)
        _normalise_status(res)
        res["headline"] = headlines(res)
        _write(res, out_dir, partial=False)
        shutil.rmtree(workdir, ignore_errors=True)
    _log(f"done in {(time.perf_counter() - _T0) / 60:.1f} min: {out_dir / 'RESULTS.md'}")
    return 0


def _write(res: dict, out_dir: Path, *, partial: bool) -> None:
    res = dict(res, partial=partial)
    if "wall_seconds" not in res:
        res["wall_seconds"] = time.perf_counter() - _T0
    res.setdefault("headline", [])
    (out_dir / "results.json").write_text(json.dumps(_clean_floats(res), default=_jsonable, indent=1))
    try:
        md = render_markdown(res)
    except Exception:  # noqa: BLE001
        md = "# territory benchmarks\n\nReport rendering failed:\n\n```\n" + traceback.format_exc() + "\n```\n"
    if partial:
        md = "> **Partial results: the run is still going (or was interrupted).**\n\n" + md
    (out_dir / "RESULTS.md").write_text(md)


if __name__ == "__main__":
    sys.exit(main())
