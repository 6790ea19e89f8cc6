"""Peers side by side: PySAL spopt and GerryChain on the bench's own instances, plus CBC and ours.

Every method runs on the same instances (:mod:`bench.instances`), each in its
own fresh subprocess (wall time, peak resident memory = ``VmHWM`` of that
process, or of a solver child such as CBC when larger), and every plan is
scored the same way here, in the parent:

* reps off the TAM band (±15% of the mean) and off the account-unit band,
  TAM and account-unit CV, regions made (MaxP chooses its own count);
* travel measured two ways: to each territory's **TAM-weighted medoid unit**
  (every method: ``sum_u w_u km(u, medoid of u's territory)``, the medoid being
  the member unit minimising that sum), and to **rep bases** (ours: the bases it
  planned for; a method without bases: its territories matched one-to-one to
  the instance's bases by least travel, ``scipy.optimize.linear_sum_assignment``);
* territories in pieces on the adjacency graph, wall seconds, peak MB, and
  ratios to ours (HiGHS with contiguity, fixed bases).

Methods
    ``territory``: :func:`territory.optimize.solve`, both
    bands + contiguity, bases fixed (the instance's rebalanced k-means centres).
    ``territory free centres``: :func:`territory.optimize.centres.free_centres`
    from the same start and its restarts (the banded p-median's centres on the
    small instances, spread bases; the bases move to the weighted medoids until
    travel stops improving). ``territory, balance_first``: the same model with
    ``objective.mode = "balance_first"``; ``territory, balance_weight sweep``:
    with ``balance_weight`` = each of ``BALANCE_SHARES`` x the travel plan's
    travel / reps, the plan with the lowest TAM CV whose medoid travel is within
    ``BALANCE_TRAVEL_SLACK`` (2%) of the travel plan's (issue 17: match
    GerryChain's TAM CV at no more than 2% extra travel); the sweep's solves
    share the one time limit. ``PuLP + CBC``: the same model through PuLP's CBC.
    spopt 0.7: ``Skater`` (floor = half the mean units per region),
    ``AZP`` (floor on account units via ``AllowMoveAZPMaxPRegions``),
    ``RegionKMeansHeuristic``, ``MaxPHeuristic`` (threshold = the account-unit
    band's floor), all clustering the unit points (km) on the adjacency graph.
    GerryChain 1.0 ReCom (TAM as "population", epsilon = the TAM tolerance),
    seeded by ``recursive_tree_part``: a plain chain (best plan visited) and
    short bursts (``SingleMetricOptimizer.short_bursts``, bursts of 10 steps)
    minimising medoid travel plus a penalty on account-unit breaches; each with
    a fixed step count and a time budget.

A time-to-quality curve (gap to the LP bound against seconds, ours vs plain
HiGHS on the same model) is drawn for the big instances of
:mod:`bench.bench_assign` as ``bench/peers_time_to_quality.png``.

The peers are the ``bench`` extra (``pip install -e ".[bench]"``); without it
their rows are skipped with the reason. ``--quick`` runs them on the smallest
instance only, with short budgets, and skips the curve.

Run alone: ``python -m bench.bench_peers [--quick] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CURVE_PNG = BENCH_DIR / "peers_time_to_quality.png"
MIP_GAP = 0.01
PEER_PACKAGES = ("spopt", "libpysal", "gerrychain", "matplotlib")
#: balance_weight sweep: the weight as a multiple of the travel plan's travel per rep
#: (see bench_balance: 1.0 prices a mean deviation of one mean target at the whole travel)
BALANCE_SHARES = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
#: issue 17: GerryChain's TAM CV at no more than this much extra (medoid) travel
BALANCE_TRAVEL_SLACK = 0.02
OURS = ("territory", "free_centres", "cbc", "balance_first", "balance_sweep")


def _log(msg: str) -> None:
    print(f"[bench_peers] {msg}", file=sys.stderr, flush=True)


# ============================================================================ plan of the run


def _instances(quick: bool) -> list[tuple[str, dict]]:
    plan = [("county", {"state": "OH", "n_reps": 8})]
    if not quick:
        plan += [("zcta", {"n_reps": 4}), ("zip", {"n_units": 500, "n_reps": 10}),
                 ("zip", {"n_units": 1000, "n_reps": 20})]
    return plan


def _methods(quick: bool, n_units: int) -> list[dict]:
    """Method specs for one instance; budgets scale with the mode."""
    ours_limit = 30 if quick else 60
    steps = 200 if quick else 2000
    budget = 5 if quick else 45
    out = [
        {"method": "territory", "label": "territory (HiGHS, contiguity, fixed bases)",
         "limit": ours_limit},
        {"method": "free_centres", "label": "territory, free centres (contiguity)",
         "limit": ours_limit},
        {"method": "balance_first", "label": "territory, balance_first (contiguity, fixed bases)",
         "limit": ours_limit},
        {"method": "balance_sweep", "label": "territory, balance_weight sweep: lowest TAM CV within "
         f"{BALANCE_TRAVEL_SLACK:.0%} of our medoid travel", "limit": ours_limit},
        {"method": "cbc", "label": "PuLP + CBC, same model", "limit": 30 if quick else 120},
        {"method": "skater", "label": "spopt Skater (floor)"},
        {"method": "azp", "label": "spopt AZP (account-unit floor)"},
        {"method": "region_kmeans", "label": "spopt RegionKMeansHeuristic"},
        {"method": "maxp", "label": "spopt MaxPHeuristic (account-unit threshold)"},
        {"method": "recom", "label": f"GerryChain ReCom, plain chain, {steps:,} steps",
         "steps": steps},
        {"method": "recom", "label": f"GerryChain ReCom, plain chain, {budget} s", "budget": budget},
        {"method": "bursts", "label": f"GerryChain ReCom short bursts, {steps:,} steps",
         "steps": steps},
        {"method": "bursts", "label": f"GerryChain ReCom short bursts, {budget} s",
         "budget": budget},
    ]
    return out


def missing_peers() -> list[str]:
    """Peer packages of the ``bench`` extra that are not installed."""
    out = []
    for pkg in PEER_PACKAGES:
        try:
            importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out.append(pkg)
    return out


# ============================================================================ worker side


def _vmhwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _graph_index(inst):
    """Adjacency as node indices 0..n-1, and as neighbour lists."""
    import networkx as nx

    pos = {u: i for i, u in enumerate(inst.problem.unit_ids)}
    g = nx.Graph()
    g.add_nodes_from(range(inst.n_units))
    g.add_edges_from((pos[a], pos[b]) for a, b in inst.adjacency.edges() if a in pos and b in pos)
    return g


def _frame(inst):
    import geopandas as gpd
    from shapely import points

    p = inst.problem
    return gpd.GeoDataFrame({"x": inst.xy[:, 0], "y": inst.xy[:, 1], "tam": p.tam,
                             "au": p.account_units},
                            geometry=points(inst.xy), crs=None)


def _weights(inst):
    from libpysal.weights import W

    g = _graph_index(inst)
    return W({i: sorted(g.neighbors(i)) for i in range(inst.n_units)}, silence_warnings=True)


def _ours(inst, spec: dict) -> dict:
    from territory.errors import InfeasibleError
    from territory.optimize import Solver, solve
    from territory.optimize.centres import euclidean_distance, free_centres

    p = inst.with_contiguity()
    name = "cbc" if spec["method"] == "cbc" else "highs"
    cfg = Solver(name=name, time_limit=spec["limit"], mip_gap=MIP_GAP)
    if spec["method"] in ("balance_first", "balance_sweep"):
        return _balanced(inst, p, spec)
    try:
        if spec["method"] == "free_centres":
            fc = free_centres(p, inst.weight, euclidean_distance(inst.xy), cfg)
            return {"labels": fc.rep_of_unit.tolist(), "bases": inst.xy[fc.bases].tolist(),
                    "rounds": fc.rounds, "travel_by_round": list(fc.travel),
                    "moved_bases": list(fc.moved_bases), "status": fc.result.status,
                    "starts": [None if math.isnan(t) else t for t in fc.starts],
                    "start": fc.start, "medoid_bound": fc.medoid_bound,
                    "bound": fc.result.bound, "lp_bound": fc.result.lp_bound,
                    "objective": fc.result.objective}
        res = solve(p, cfg, seed=0)
    except InfeasibleError as exc:
        return {"labels": None, "status": "no plan in time"
                if (exc.diagnosis or {}).get("constraint") == "time_limit" else "infeasible",
                "message": str(exc)[:300]}
    return {"labels": res.rep_of_unit.tolist(), "bases": inst.bases_xy.tolist(),
            "status": res.status, "objective": res.objective, "bound": res.bound,
            "lp_bound": res.lp_bound, "gap": res.gap, "engine": res.engine}


def _balanced(inst, p, spec: dict) -> dict:
    """Ours with the balance term: ``balance_first``, or a ``balance_weight`` sweep.

    The sweep shares ``spec["limit"]`` evenly between the travel plan and one
    solve per weight (``BALANCE_SHARES`` x the travel plan's travel / reps) and keeps
    the plan with the lowest TAM CV among those in both bands whose medoid
    travel is at most ``1 + BALANCE_TRAVEL_SLACK`` times the travel plan's.
    """
    import dataclasses

    from territory.errors import InfeasibleError
    from territory.optimize import Balancing, Solver, solve

    def one(goal, limit):
        try:
            res = solve(dataclasses.replace(p, balancing=goal),
                        Solver(time_limit=limit, mip_gap=MIP_GAP), seed=0)
        except InfeasibleError as exc:
            return None, ("no plan in time" if (exc.diagnosis or {}).get("constraint")
                          == "time_limit" else "infeasible")
        return res, res.status

    if spec["method"] == "balance_first":
        res, status = one(Balancing(first=True), spec["limit"])
        return {"labels": None if res is None else res.rep_of_unit.tolist(),
                "bases": inst.bases_xy.tolist(), "status": status,
                "gap": None if res is None else res.gap}
    limit = spec["limit"] / (len(BALANCE_SHARES) + 1)
    base, status = one(None, limit)
    if base is None:
        return {"labels": None, "status": f"travel plan: {status}"}
    ref = score(inst, base.rep_of_unit, inst.bases_xy)
    travel0 = ref["base_travel"]
    sweep, best, best_labels = [], None, base.rep_of_unit
    for share in BALANCE_SHARES:
        res, status = one(Balancing(weight=share * travel0 / inst.n_reps), limit)
        row = {"share": share, "status": status}
        if res is not None:
            s = score(inst, res.rep_of_unit, inst.bases_xy)
            row.update(tam_cv=s["tam_cv"], units_cv=s["units_cv"],
                       medoid_x=s["medoid_travel"] / ref["medoid_travel"],
                       base_x=s["base_travel"] / travel0, both_bands=s["both_bands"])
            ok = s["both_bands"] and row["medoid_x"] <= 1 + BALANCE_TRAVEL_SLACK + 1e-12
            if ok and (best is None or s["tam_cv"] < best["tam_cv"]):
                best, best_labels = row, res.rep_of_unit
        sweep.append(row)
    return {"labels": best_labels.tolist(), "bases": inst.bases_xy.tolist(),
            "status": "no weight within the travel slack: the travel plan" if best is None
            else best["status"], "sweep": sweep,
            "chosen_share": None if best is None else best["share"]}


def _spopt(inst, spec: dict) -> dict:
    from spopt.region import AZP, MaxPHeuristic, RegionKMeansHeuristic, Skater
    from spopt.region.azp_util import AllowMoveAZP, AllowMoveAZPMaxPRegions

    p, m = inst.problem, inst.n_reps
    df, w = _frame(inst), _weights(inst)
    attrs = ["x", "y"]
    floor_au = float(p.account_units_lo.min())
    if spec["method"] == "skater":
        model = Skater(df, w, attrs, n_clusters=m, floor=max(1, int(0.5 * inst.n_units / m)),
                       islands="increase")
    elif spec["method"] == "azp":
        strategy = AllowMoveAZPMaxPRegions(p.account_units, floor_au, AllowMoveAZP())
        model = AZP(df, w, attrs, n_clusters=m, allow_move_strategy=strategy, random_state=0)
    elif spec["method"] == "region_kmeans":
        model = RegionKMeansHeuristic(inst.xy, m, w, seed=0)
    else:
        model = MaxPHeuristic(df, w, attrs, "au", floor_au, top_n=2)
    np.random.seed(0)  # spopt's heuristics draw from numpy's global generator
    model.solve()
    labels = np.asarray(model.labels_)
    _, labels = np.unique(labels, return_inverse=True)
    return {"labels": labels.tolist(), "bases": None}


class _MedoidTravel:
    """Weighted medoid travel of a set of units, cached by the set (ReCom moves two at a time)."""

    def __init__(self, inst) -> None:
        self.xy, self.w, self.cache = inst.xy, inst.weight, {}

    def __call__(self, nodes) -> float:
        key = frozenset(nodes)
        hit = self.cache.get(key)
        if hit is None:
            idx = np.fromiter(key, dtype=np.int64)
            d = np.sqrt(((self.xy[idx, None, :] - self.xy[None, idx, :]) ** 2).sum(axis=2))
            hit = float((self.w[idx] @ d).min())
            if len(self.cache) > 200_000:
                self.cache.clear()
            self.cache[key] = hit
        return hit


def _gerrychain(inst, spec: dict) -> dict:
    import random
    from functools import partial

    from gerrychain import Graph, MarkovChain, Partition
    from gerrychain.accept import always_accept
    from gerrychain.optimization import SingleMetricOptimizer
    from gerrychain.partition import recursive_tree_part
    from gerrychain.proposals import recom
    from gerrychain.tree import bipartition_tree
    from gerrychain.updaters import Tally

    p, m = inst.problem, inst.n_reps
    g = _graph_index(inst)
    for i in range(inst.n_units):
        g.nodes[i]["tam"] = float(p.tam[i])
        g.nodes[i]["au"] = float(p.account_units[i])
    graph = Graph.from_networkx(g)
    target, eps = float(p.tam.sum()) / m, float(p.tam_tolerance)
    rng = random.Random(0)
    t0 = time.perf_counter()
    assignment = recursive_tree_part(graph, list(range(m)), target, "tam", eps * 0.95, rng=rng)
    seed_seconds = time.perf_counter() - t0
    updaters = {"tam": Tally("tam", alias="tam"), "au": Tally("au", alias="au")}
    initial = Partition(graph, assignment, updaters)
    proposal = partial(recom, pop_col="tam", pop_target=target, epsilon=eps, node_repeats=2,
                       bipartition_tree_fn=partial(bipartition_tree, max_attempts=2000,
                                                   allow_pair_reselection=True), rng=rng)
    travel = _MedoidTravel(inst)
    lo, hi = float(p.account_units_lo.min()), float(p.account_units_hi.max())

    def au_breach(part) -> float:
        return sum(max(lo - a, 0.0) + max(a - hi, 0.0) for a in part["au"].values())

    def tam_ok(part) -> bool:
        return all(abs(t / target - 1) <= eps + 1e-9 for t in part["tam"].values())

    def total(part) -> float:
        return sum(travel(part.parts[d]) for d in part.parts)

    scale = total(initial) / max(lo, 1.0)

    def metric(part) -> float:
        # an account unit off the band costs as much as the whole plan's travel per band floor
        return total(part) + 100.0 * scale * au_breach(part) + (0.0 if tam_ok(part) else 1e12)

    budget, steps = spec.get("budget"), spec.get("steps") or 10**9
    if spec["method"] == "bursts":
        opt = SingleMetricOptimizer(proposal, [], initial, metric, maximize=False, rng=rng)
        walk = opt.short_bursts(10, max(1, steps // 10), acceptance_fn=always_accept)
    else:
        walk = iter(MarkovChain(proposal, [], always_accept, initial, total_steps=steps, rng=rng))
    best, best_score, done = initial, metric(initial), 0
    t0 = time.perf_counter()
    for part in walk:
        done += 1
        s = metric(part)
        if s < best_score:
            best, best_score = part, s
        if budget and time.perf_counter() - t0 > budget:
            break
    labels = np.empty(inst.n_units, dtype=np.int64)
    for node, d in best.assignment.items():
        labels[node] = d
    return {"labels": labels.tolist(), "bases": None, "steps": done,
            "chain_seconds": time.perf_counter() - t0, "seed_seconds": seed_seconds}


def _work(spec: dict) -> dict:
    with open(spec["instance"], "rb") as fh:
        inst = pickle.load(fh)
    # imports are not the method's time (each worker is a fresh interpreter)
    import territory.optimize  # noqa: F401
    if spec["method"] in ("recom", "bursts"):
        import gerrychain  # noqa: F401
    elif spec["method"] not in OURS:
        import spopt.region  # noqa: F401
    t0 = time.perf_counter()
    if spec["method"] in OURS:
        out = _ours(inst, spec)
    elif spec["method"] in ("recom", "bursts"):
        out = _gerrychain(inst, spec)
    else:
        out = _spopt(inst, spec)
    out["seconds"] = time.perf_counter() - t0
    return out


def _worker(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    try:
        out = _work(spec)
    except Exception as exc:  # noqa: BLE001 - a peer that fails is a figure, not a crash
        out = {"labels": None, "error": f"{type(exc).__name__}: {exc}"[:500],
               "traceback": traceback.format_exc()[-2000:]}
    out["peak_mb"] = _vmhwm_mb()
    # solver binaries run as children (CBC): their peak, an upper bound (see bench.run)
    out["children_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    Path(spec["out"]).write_text(json.dumps(out, default=float))
    return 0


def _spawn(spec: dict, workdir: Path, timeout: float) -> dict:
    spec_path = workdir / f"{spec['id']}.spec.json"
    spec = dict(spec, out=str(workdir / f"{spec['id']}.out.json"))
    spec_path.write_text(json.dumps(spec))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [x for x in env.get("PYTHONPATH", "")
                                                       .split(os.pathsep) if x])
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.bench_peers", "--worker",
                               str(spec_path)], cwd=REPO, env=env, timeout=timeout,
                              capture_output=True, text=True)
        tail = (proc.stderr or "")[-1500:]
    except subprocess.TimeoutExpired:
        return {"labels": None, "error": f"no plan in {timeout:.0f} s (killed)",
                "seconds": time.perf_counter() - t0}
    try:
        return json.loads(Path(spec["out"]).read_text())
    except (OSError, json.JSONDecodeError):
        return {"labels": None, "error": f"worker exited {proc.returncode}: {tail}"}


# ============================================================================ scoring


def score(inst, labels, bases) -> dict:
    """The shared scorecard of a plan (any number of regions)."""
    from scipy.optimize import linear_sum_assignment

    from territory.optimize.centres import euclidean_distance, weighted_medoids

    p = inst.problem
    lab = np.asarray(labels, dtype=np.int64)
    k = int(lab.max()) + 1
    target = float(p.tam.sum()) / inst.n_reps
    tam = np.bincount(lab, weights=p.tam, minlength=k)
    au = np.bincount(lab, weights=p.account_units, minlength=k)
    tol = p.tam_tolerance
    lo, hi = float(p.account_units_lo.min()), float(p.account_units_hi.max())
    med = weighted_medoids(lab, inst.weight, euclidean_distance(inst.xy), k)
    medoid_travel = float((inst.weight * np.linalg.norm(inst.xy - inst.xy[med[lab]], axis=1)).sum())
    out = {
        "regions": k,
        "reps_off_tam": int(((tam < target * (1 - tol) * (1 - 1e-9))
                             | (tam > target * (1 + tol) * (1 + 1e-9))).sum()),
        "reps_off_units": int(((au < lo - 1e-9) | (au > hi + 1e-9)).sum()),
        "tam_cv": float(tam.std() / tam.mean()), "units_cv": float(au.std() / au.mean()),
        "medoid_travel": medoid_travel,
    }
    out["both_bands"] = (k == inst.n_reps and out["reps_off_tam"] == 0
                         and out["reps_off_units"] == 0)
    if bases is not None:
        b = np.asarray(bases, float)
        out["base_travel"] = float((inst.weight * np.linalg.norm(inst.xy - b[lab], axis=1)).sum())
        out["bases"] = "own"
    elif k == inst.n_reps:
        # territory r to base j costs sum over r's units of w_u km(u, base_j)
        d = inst.weight[:, None] * np.linalg.norm(inst.xy[:, None] - inst.bases_xy[None], axis=2)
        cost = np.vstack([d[lab == r].sum(axis=0) for r in range(k)])
        rows, cols = linear_sum_assignment(cost)
        out["base_travel"] = float(cost[rows, cols].sum())
        out["bases"] = "matched"
    g = _graph_index(inst)
    import networkx as nx

    out["split"] = sum(1 for r in range(k)
                       if (lab == r).any() and not nx.is_connected(g.subgraph(np.flatnonzero(lab == r).tolist())))
    return out


# ============================================================================ the run


def _build(kind: str, kw: dict):
    from bench import instances as I

    if kind == "county":
        return I.county_instance(**kw)
    if kind == "zcta":
        return I.zcta_instance(**kw)
    return I.zip_instance(**kw)


def _planned_name(kind: str, kw: dict) -> str:
    """The name :mod:`bench.instances` will give the instance (to filter before building)."""
    if kind == "county":
        return f"{kw['state'].lower()}_counties_x{kw['n_reps']}"
    if kind == "zcta":
        return f"columbus_zctas_x{kw['n_reps']}"
    return f"zips_{kw['n_units']}x{kw['n_reps']}"


def run_peers(quick: bool, workdir: Path, only: list[str] | None = None,
              instances: list[str] | None = None) -> dict:
    """Every method on every instance of the plan (or those whose name contains one of
    ``instances``), scored alike."""
    missing = missing_peers()
    out: dict = {"instances": {}, "missing": missing}
    if missing:
        reason = (f"peer packages not installed ({', '.join(missing)}): spopt and GerryChain rows "
                  "skipped; install the bench extra: pip install -e '.[bench]'")
        _log(reason)
        out["skipped_reason"] = reason
    for kind, kw in _instances(quick):
        if instances and not any(x in _planned_name(kind, kw) for x in instances):
            continue
        inst = _build(kind, kw)
        if inst is None:
            _log(f"{kind}: no data (shared ZCTA file absent), skipped")
            continue
        path = workdir / f"{inst.name}.pkl"
        path.write_bytes(pickle.dumps(inst))
        rows = []
        for i, spec in enumerate(_methods(quick, inst.n_units)):
            needs = {"skater": "spopt", "azp": "spopt", "region_kmeans": "spopt", "maxp": "spopt",
                     "recom": "gerrychain", "bursts": "gerrychain"}.get(spec["method"])
            if only and not any(o in spec["label"] for o in only):
                continue
            if needs and (needs in missing or "libpysal" in missing and needs == "spopt"):
                rows.append({"label": spec["label"], "skipped": f"{needs} not installed"})
                continue
            slow = spec["method"] in ("free_centres", "balance_first", "balance_sweep")
            timeout = 240 if quick else (900 if slow else 420)
            t0 = time.perf_counter()
            res = _spawn(dict(spec, id=f"{inst.name}_{i}", instance=str(path)), workdir, timeout)
            res["wall"] = time.perf_counter() - t0
            row = {"label": spec["label"], "method": spec["method"],
                   **{k: v for k, v in res.items() if k not in ("labels", "bases", "traceback")}}
            if res.get("labels") is not None:
                row.update(score(inst, res["labels"], res.get("bases")))
            rows.append(row)
            _log(f"{inst.name}: {spec['label']}: "
                 + (f"{row.get('reps_off_tam')}/{row.get('reps_off_units')} off, medoid travel "
                    f"{row.get('medoid_travel', float('nan')):,.0f}, {res.get('seconds', 0):.1f} s"
                    if "medoid_travel" in row else f"no plan: {res.get('error') or res.get('status')}"))
        _ratios(rows)
        out["instances"][inst.name] = {"description": inst.description, "rows": rows,
                                       "n_reps": inst.n_reps, "n_units": inst.n_units}
    return out


def _ratios(rows: list[dict]) -> None:
    ours = next((r for r in rows if r.get("method") == "territory" and "medoid_travel" in r), None)
    if not ours:
        return
    for r in rows:
        if "medoid_travel" in r:
            r["medoid_x_ours"] = r["medoid_travel"] / ours["medoid_travel"]
            if r.get("base_travel") and ours.get("base_travel"):
                r["base_x_ours"] = r["base_travel"] / ours["base_travel"]
        if r.get("seconds") and ours.get("seconds"):
            r["time_x_ours"] = r["seconds"] / ours["seconds"]
        if r.get("peak_mb") and ours.get("peak_mb"):
            r["peak_x_ours"] = max(r["peak_mb"], r.get("children_peak_mb") or 0) / ours["peak_mb"]
    free = next((r for r in rows if r.get("method") == "free_centres" and "medoid_travel" in r), None)
    peers = [r for r in rows if r.get("both_bands") and r.get("method") not in OURS]
    if free and peers:
        best = min(peers, key=lambda r: r["medoid_travel"])
        free["vs_best_peer"] = free["medoid_travel"] / best["medoid_travel"]
        free["best_peer"] = best["label"]
        if free.get("medoid_bound"):  # no plan in both bands can go below this ratio
            free["bound_vs_best_peer"] = free["medoid_bound"] / best["medoid_travel"]
    chains = [r for r in peers if r.get("method") in ("recom", "bursts")]
    for r in rows:
        if r.get("method") in ("balance_first", "balance_sweep") and "tam_cv" in r and chains:
            gc = min(chains, key=lambda x: x["tam_cv"])
            r["vs_gerrychain"] = {
                "label": gc["label"], "tam_cv": gc["tam_cv"],
                "met": bool(r["both_bands"] and r["tam_cv"] <= gc["tam_cv"] + 1e-12
                            and r.get("medoid_x_ours", math.inf) <= 1 + BALANCE_TRAVEL_SLACK + 1e-12)}


# ============================================================================ time to quality


def run_curve(seconds: float = 60.0) -> dict:
    """Gap to the LP bound against seconds, ours vs plain HiGHS, on bench_assign's big instances."""
    from bench import bench_assign as A

    df = A.zip_table()
    cases = {
        "state OH 1,009 ZIPs x 20, both bands + contiguity":
            (df[df["state"] == "OH"].reset_index(drop=True), 20, True),
        "regional 4,000 ZIPs x 114 (OH, PA, NY, NJ), both bands":
            (df[df["state"].isin(("OH", "PA", "NY", "NJ"))].reset_index(drop=True), 114, False),
    }
    out: dict = {}
    for name, (rows, m, contiguity) in cases.items():
        units = A.synthetic_units(rows, m, n_units=None if contiguity else 4000)
        p = A.problem(units, A.bases(units, m), contiguity=contiguity)
        out[name] = _curve_case(p, seconds)
        _log(f"curve {name}: " + ", ".join(f"{k} final gap {v.get('final_gap')}"
                                           for k, v in out[name]["runs"].items()))
    return out


def _curve_case(p, seconds: float) -> dict:
    from territory.errors import InfeasibleError
    from territory.optimize import Solver, lp_relaxation, solve

    runs: dict = {}
    relax = lp_relaxation(p, Solver(time_limit=300))
    lp = relax.bound if relax is not None and relax.priced else None
    for label, engine in (("ours", "auto"), ("plain HiGHS", "pulp")):
        cfg = Solver(time_limit=seconds, mip_gap=0.001, engine=engine)
        t0 = time.perf_counter()
        try:
            res = solve(p, cfg, seed=0)
        except InfeasibleError as exc:
            runs[label] = {"history": [], "error": str(exc)[:200],
                           "seconds": time.perf_counter() - t0}
            continue
        runs[label] = {"history": [list(h) for h in res.history], "engine": res.engine,
                       "objective": res.objective, "status": res.status,
                       "seconds": time.perf_counter() - t0, "bound": res.bound}
        if not res.history:  # a plan found with no improving-solution trace: one point
            runs[label]["history"] = [[res.solve_seconds, res.objective, res.bound]]
    bound = lp if lp is not None else max((r.get("bound") or -math.inf) for r in runs.values())
    for r in runs.values():
        r["gap_curve"] = [[t, (obj - bound) / obj] for t, obj, _ in r["history"] if obj]
        r["final_gap"] = r["gap_curve"][-1][1] if r["gap_curve"] else None
        r["history"] = r["history"][:300]
    return {"lp_bound": bound, "bound_kind": "LP relaxation (priced)" if lp is not None
            else "best MIP dual bound", "runs": runs, "seconds": seconds}


def draw_curve(curve: dict, path: Path = CURVE_PNG) -> str | None:
    """Step plot of gap against seconds per instance; returns the file name."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, len(curve), figsize=(6 * len(curve), 4), squeeze=False)
    for ax, (name, c) in zip(axes[0], curve.items()):
        for label, r in c["runs"].items():
            pts = r.get("gap_curve") or []
            if pts:
                t = [max(x[0], 1e-2) for x in pts] + [c["seconds"]]
                g = [max(x[1], 1e-5) * 100 for x in pts]
                ax.step(t, g + [g[-1]], where="post", label=f"{label} ({r.get('engine', '?')})")
        lost = [f"{label}: no plan in {c['seconds']:.0f} s" for label, r in c["runs"].items()
                if not r.get("gap_curve")]
        if lost:
            ax.text(0.02, 0.02, "\n".join(lost), transform=ax.transAxes, fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("seconds")
        ax.set_ylabel("gap to the LP bound, %")
        ax.set_title(name, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


# ============================================================================ report


def _fmt(x, f: str = "{:.2f}") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f.format(x)


def render(res: dict) -> str:
    L = ["Peers on the same instances in the same run (see `bench/bench_peers.py`). *medoid "
         "travel* = Σ w_u km(u, TAM-weighted medoid unit of u's territory), every method; "
         "*base travel* = to the bases it planned for (ours), or with its territories matched "
         "one-to-one to the instance's bases by least travel (peers). Ratios are to "
         "`territory` (fixed bases, contiguity). *vs best peer* = free-centres medoid travel "
         "over the best peer plan that meets both bands (target ≤ 0.95). Versions: "
         + ", ".join(f"{k} {v}" for k, v in res.get("versions", {}).items()) + ".\n"]
    if res.get("skipped_reason"):
        L.append(f"**Skipped:** {res['skipped_reason']}\n")
    if res.get("note"):
        L.append(res["note"] + "\n")
    head = ["instance", "method", "regions", "reps off TAM / units band", "TAM CV", "units CV",
            "medoid travel", "× ours", "base travel (own/matched)", "× ours", "split", "wall s",
            "× ours", "peak MB", "notes"]
    rows = []
    for name, inst in res.get("instances", {}).items():
        for r in inst["rows"]:
            if "medoid_travel" not in r:
                rows.append([f"`{name}`", r["label"], "–", "–", "–", "–", "–", "–", "–", "–",
                             "–", _fmt(r.get("seconds") or r.get("wall"), "{:.1f}"), "–", "–",
                             r.get("skipped") or r.get("error") or r.get("status") or "no plan"])
                continue
            notes = []
            if r.get("steps"):
                notes.append(f"{r['steps']:,} steps")
            if r.get("rounds"):
                notes.append(f"{r['rounds']} rounds, bases moved {r.get('moved_bases')}")
            if r.get("starts"):
                notes.append(f"best of {len(r['starts'])} starts: #{r.get('start', 0)} ("
                             + ", ".join(_fmt(t, "{:,.0f}") for t in r["starts"]) + ")")
            if r.get("vs_best_peer"):
                notes.append(f"vs best peer ({r['best_peer']}): {r['vs_best_peer']:.3f}")
            if r.get("medoid_bound"):
                notes.append(f"medoid bound {r['medoid_bound']:,.0f} (no plan in both bands "
                             f"travels less: {r.get('bound_vs_best_peer', math.nan):.3f} × best peer)")
            if r.get("sweep"):
                notes.append(f"weight = {_fmt(r.get('chosen_share'), '{:g}')} × travel / reps chosen of "
                             + ", ".join(f"{x['share']:g}: CV {_fmt(x.get('tam_cv'), '{:.1%}')} "
                                         f"medoid ×{_fmt(x.get('medoid_x'), '{:.3f}')}"
                                         for x in r["sweep"]))
            if r.get("vs_gerrychain"):
                v = r["vs_gerrychain"]
                notes.append(f"issue 17 target (TAM CV ≤ {v['tam_cv']:.1%} of {v['label']}, "
                             f"medoid ≤ {1 + BALANCE_TRAVEL_SLACK:.2f}× ours): "
                             + ("**met**" if v["met"] else "not met"))
            if r.get("status") and r.get("method") in OURS:
                notes.append(str(r["status"]))
            rows.append([
                f"`{name}`", r["label"], r["regions"],
                f"{r['reps_off_tam']} / {r['reps_off_units']}",
                _fmt(r["tam_cv"], "{:.1%}"), _fmt(r["units_cv"], "{:.1%}"),
                _fmt(r["medoid_travel"], "{:,.0f}"), _fmt(r.get("medoid_x_ours"), "{:.3f}"),
                (_fmt(r.get("base_travel"), "{:,.0f}") + (f" ({r['bases']})" if r.get("bases") else "")),
                _fmt(r.get("base_x_ours"), "{:.2f}"), r.get("split", "–"),
                _fmt(r.get("seconds"), "{:.2f}"), _fmt(r.get("time_x_ours"), "{:.0f}"),
                _fmt(max(r.get("peak_mb") or 0, r.get("children_peak_mb") or 0), "{:.0f}"),
                "; ".join(notes)])
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * len(head))
    L += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    L.append("")
    curve = res.get("curve")
    if curve:
        L.append("**Time to quality** (gap to the LP bound against seconds; ours = "
                 "`territory.optimize.solve` with the automatic engine, plain HiGHS = the PuLP model "
                 "straight to HiGHS, same time limit):\n")
        if res.get("curve_png"):
            L.append(f"![time to quality]({res['curve_png']})\n")
        for name, c in curve.items():
            parts = []
            for label, r in c["runs"].items():
                first = next((t for t, g in r.get("gap_curve", []) if g <= 0.005), None)
                parts.append(f"{label} ({r.get('engine', '–')}): final gap "
                             f"{_fmt(r.get('final_gap'), '{:.2%}')}, ≤ 0.5% at "
                             f"{_fmt(first, '{:.1f}')} s, first plan at "
                             f"{_fmt(r['gap_curve'][0][0] if r.get('gap_curve') else None, '{:.1f}')} s")
            L.append(f"- {name} (bound {c['lp_bound']:,.1f}, {c['bound_kind']}): " + "; ".join(parts))
        L.append("")
    elif res.get("curve_skipped"):
        L.append(f"Time-to-quality curve: {res['curve_skipped']}\n")
    for name, stamp in (res.get("refreshed") or {}).items():
        L.append(f"- `{name}` re-measured alone (`python -m bench.bench_peers --instances ... "
                 f"--into bench/results.json`) on {stamp}; the other instances are from the "
                 "section's own run.")
    return "\n".join(L)


def _versions() -> dict:
    out = {}
    for pkg in ("spopt", "libpysal", "gerrychain", "pulp", "highspy"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def run(quick: bool, *, curve: bool | None = None, only: list[str] | None = None,
        instances: list[str] | None = None) -> dict:
    """Figures for the harness (``bench.run``): a dict with ``markdown`` and the raw rows."""
    with tempfile.TemporaryDirectory(prefix="territory-peers-") as tmp:
        res = run_peers(quick, Path(tmp), only, instances)
    res["versions"] = _versions()
    if curve if curve is not None else not quick:
        res["curve"] = run_curve()
        res["curve_png"] = draw_curve(res["curve"])
    else:
        res["curve_skipped"] = "skipped in quick mode (it solves two large instances twice)"
    res["markdown"] = render(res)
    return res


def merge(parts: list[dict]) -> dict:
    """One result from runs of disjoint method sets (rows in the order of :func:`_methods`)."""
    out = dict(parts[0], instances={})
    order = {m["label"]: i for i, m in enumerate(_methods(False, 0))}
    for part in parts:
        for name, inst in part.get("instances", {}).items():
            mine = out["instances"].setdefault(name, dict(inst, rows=[]))
            mine["rows"] += [dict(r) for r in inst["rows"]]
        for key in ("curve", "curve_png"):
            if part.get(key):
                out[key] = part[key]
    for inst in out["instances"].values():
        inst["rows"].sort(key=lambda r: order.get(r["label"], 99))
        _ratios(inst["rows"])
    out.pop("curve_skipped", None) if out.get("curve") else None
    out["markdown"] = render(out)
    return out


def refresh_into(results_json: Path, new: dict) -> None:
    """Replace the instances of ``new`` in ``results.json``'s peers section and re-render it.

    The other instances (and the curve) keep their earlier figures; each refreshed
    instance is stamped with its date, commit and load, shown under the table.
    """
    import datetime as dt

    from bench import run as harness

    res = json.loads(results_json.read_text())
    mod = res.setdefault("modules", {}).setdefault("bench_peers", {})
    old = mod.get("result") or {"instances": {}}
    order = {m["label"]: i for i, m in enumerate(_methods(False, 0))}
    for name, inst in new["instances"].items():
        prev = old.setdefault("instances", {}).get(name)
        if prev:  # rows by label: a run with --only replaces just its methods
            labels = {r["label"] for r in inst["rows"]}
            inst = dict(inst, rows=[r for r in prev["rows"] if r["label"] not in labels]
                        + inst["rows"])
            inst["rows"].sort(key=lambda r: order.get(r["label"], 99))
            _ratios(inst["rows"])
        old["instances"][name] = inst
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                            capture_output=True, check=False).stdout.strip()
    stamp = (f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC at git {commit}, load average "
             + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    for name in new["instances"]:
        old.setdefault("refreshed", {})[name] = stamp
    old["versions"] = new.get("versions", old.get("versions", {}))
    old["markdown"] = render(old)
    mod["result"] = old
    mod.pop("error", None)
    results_json.write_text(json.dumps(res, default=float, indent=1))
    harness.main(["--render", str(results_json)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-curve", action="store_true")
    ap.add_argument("--only-curve", action="store_true")
    ap.add_argument("--only", help="comma-separated substrings of method labels")
    ap.add_argument("--json", help="write the result dict here")
    ap.add_argument("--instances", help="comma-separated substrings of instance names "
                    "(oh_counties, columbus_zctas, zips_500x10, zips_1000x20)")
    ap.add_argument("--into", metavar="RESULTS_JSON", help="replace these instances in the "
                    "harness's results.json and re-render its RESULTS.md")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="merge earlier --json results")
    ap.add_argument("--note", help="a paragraph for the merged report (how it was run, findings)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return _worker(args.worker)
    if args.merge:
        parts = [json.loads(Path(f).read_text()) for f in args.merge]
        if args.note:
            parts[0]["note"] = args.note
        res = merge(parts)
        if args.json:
            Path(args.json).write_text(json.dumps(res, default=float, indent=1))
        print(res["markdown"])
        return 0
    if args.only_curve:
        res = {"curve": run_curve(), "versions": _versions()}
        res["curve_png"] = draw_curve(res["curve"])
        res["markdown"] = render(res)
    else:
        res = run(args.quick, curve=False if args.no_curve else None,
                  only=args.only.split(",") if args.only else None,
                  instances=args.instances.split(",") if args.instances else None)
    if args.into:
        refresh_into(Path(args.into), res)
    if args.json:
        Path(args.json).write_text(json.dumps(res, default=float, indent=1))
    print(res["markdown"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
