"""Benchmark: territory's many-to-many drive-time matrix vs networkx, one Dijkstra per source.

``run(quick)`` returns a dict of figures (seconds are best of 3):

* **real graph** -- the Columbus, Ohio drive network (``shared/data/columbus_oh_drive.osm.bz2``
  when present, else ``data/columbus_drive.graphml.gz``; © OpenStreetMap contributors, ODbL).
  Rep bases x unit points drawn in the graph's core. ``ours_s`` is
  :func:`territory.travel.travel_matrix` (snapping + ``scipy.sparse.csgraph.dijkstra``
  over the distinct origin nodes); ``networkx_s`` is
  ``networkx.single_source_dijkstra_path_length`` per distinct origin node on a
  ``DiGraph`` of the very same edges (snapping excluded, so the baseline is
  flattered); ``speedup`` is their ratio in the same run, and ``max_abs_diff_s``
  checks both give the same seconds.
  ``load_s`` is a cold load of that file, ``cached_load_s`` the next one (the
  built graph is cached), ``demo_graphml_load_s`` reading the shipped GraphML.
* **synthetic** -- a 100,000-node grid-like road graph (a 317 x 317 lattice with
  random edge times and one-way streets) x 250 sources x 5,000 targets;
  ``networkx_per_source_s`` is timed on a few sources and extrapolated.

Run: ``python -m bench.bench_matrix [--quick]``. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
SHARED_GRAPH = ROOT.parent / "shared" / "data" / "columbus_oh_drive.osm.bz2"
DEMO_GRAPH = ROOT / "data" / "columbus_drive.graphml.gz"


def _best_of(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _nx_graph(g: sp.csr_matrix):
    import networkx as nx

    coo = g.tocoo()
    G = nx.DiGraph()
    G.add_nodes_from(range(g.shape[0]))
    G.add_weighted_edges_from(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()),
                              weight="travel_time")
    return G


def _nx_matrix(G, o_nodes: np.ndarray, d_nodes: np.ndarray) -> np.ndarray:
    import networkx as nx

    out = np.full((len(o_nodes), len(d_nodes)), np.inf)
    cache: dict[int, dict] = {}
    for i, s in enumerate(o_nodes.tolist()):
        if s not in cache:
            cache[s] = nx.single_source_dijkstra_path_length(G, s, weight="travel_time")
        lengths = cache[s]
        out[i] = [lengths.get(t, np.inf) for t in d_nodes.tolist()]
    return out


def _core_points(net, n: int, rng: np.random.Generator) -> np.ndarray:
    lo = np.percentile(net.node_lon, [10, 90])
    la = np.percentile(net.node_lat, [10, 90])
    return np.column_stack([rng.uniform(*lo, n), rng.uniform(*la, n)])


def bench_real(quick: bool) -> dict:
    from territory.config import TravelConfig
    from territory.travel.burden import load_road_network, travel_matrix

    path = SHARED_GRAPH if SHARED_GRAPH.is_file() else DEMO_GRAPH
    with tempfile.TemporaryDirectory() as tmp:  # a cold load: no cached graph
        old = os.environ.get("TERRITORY_CACHE_DIR")
        os.environ["TERRITORY_CACHE_DIR"] = tmp
        try:
            t = time.perf_counter()
            net = load_road_network(TravelConfig(source="file", path=str(path)))
            load_s = time.perf_counter() - t
            t = time.perf_counter()
            load_road_network(TravelConfig(source="file", path=str(path)))
            cached_load_s = time.perf_counter() - t
        finally:
            if old is None:
                os.environ.pop("TERRITORY_CACHE_DIR", None)
            else:
                os.environ["TERRITORY_CACHE_DIR"] = old
    t = time.perf_counter()
    demo = load_road_network(TravelConfig(source="file", path=str(DEMO_GRAPH))) \
        if DEMO_GRAPH.is_file() else None
    demo_load_s = time.perf_counter() - t if demo is not None else None
    rng = np.random.default_rng(0)
    n_o, n_d = (10, 200) if quick else (40, 1000)
    o, d = _core_points(net, n_o, rng), _core_points(net, n_d, rng)
    cfg = TravelConfig()
    ours_s, tm = _best_of(lambda: travel_matrix(net, o, d, cfg))
    G = _nx_graph(net.graph)
    o_node, o_km = net.snap(o[:, 0], o[:, 1])
    d_node, d_km = net.snap(d[:, 0], d[:, 1])
    nx_s, nxm = _best_of(lambda: _nx_matrix(G, o_node, d_node))
    access = (o_km[:, None] + d_km[None, :]) * cfg.circuity / cfg.estimate_speed_kph * 3600
    diff = float(np.max(np.abs(tm.seconds - (nxm + access))))
    return {
        "graph": str(path.relative_to(ROOT.parent)) if path.is_relative_to(ROOT.parent) else str(path),
        "nodes": net.n_nodes, "edges": int(net.graph.nnz),
        "load_s": round(load_s, 3),
        "cached_load_s": round(cached_load_s, 3),
        "demo_graphml_load_s": None if demo_load_s is None else round(demo_load_s, 3),
        "origins": n_o, "destinations": n_d,
        "ours_s": round(ours_s, 4), "networkx_s": round(nx_s, 4),
        "speedup": round(nx_s / ours_s, 1),
        "max_abs_diff_s": diff,
        "median_minutes": round(float(np.median(tm.seconds)) / 60, 2),
    }


def grid_network(n_side: int = 317, seed: int = 0):
    """A grid-like road graph: lattice streets ~150 m apart, random speeds, 10% one-way."""
    from territory.travel.burden import RoadNetwork

    rng = np.random.default_rng(seed)
    idx = np.arange(n_side * n_side).reshape(n_side, n_side)
    pairs = [np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()]),
             np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()])]
    e = np.vstack(pairs)
    sec = 150.0 / rng.uniform(25, 90, len(e)) * 3.6
    oneway = rng.random(len(e)) < 0.1
    src = np.r_[e[:, 0], e[~oneway, 1]]
    dst = np.r_[e[:, 1], e[~oneway, 0]]
    w = np.r_[sec, sec[~oneway]]
    # every east-west street also runs west-east (60 s or slower), so the
    # lattice stays strongly connected despite one-way north-south streets
    n = n_side * n_side
    g = sp.csr_matrix((w, (src, dst)), shape=(n, n))
    g = g.maximum(sp.csr_matrix((np.full(n_side * (n_side - 1), 60.0),
                                 (idx[:, 1:].ravel(), idx[:, :-1].ravel())), shape=(n, n)))
    lon = -83.3 + (idx % n_side).ravel() * 0.00176
    lat = 39.7 + (idx // n_side).ravel() * 0.00135
    return RoadNetwork(g.tocsr(), lon.astype(float), lat.astype(float),
                       f"synthetic grid ({n:,} nodes)")


def bench_synthetic(quick: bool) -> dict:
    from territory.config import TravelConfig
    from territory.travel.burden import travel_matrix

    t = time.perf_counter()
    net = grid_network()
    build_s = time.perf_counter() - t
    rng = np.random.default_rng(1)
    n_o, n_d = (25, 500) if quick else (250, 5000)
    o = np.column_stack([rng.uniform(net.node_lon.min(), net.node_lon.max(), n_o),
                         rng.uniform(net.node_lat.min(), net.node_lat.max(), n_o)])
    d = np.column_stack([rng.uniform(net.node_lon.min(), net.node_lon.max(), n_d),
                         rng.uniform(net.node_lat.min(), net.node_lat.max(), n_d)])
    cfg = TravelConfig()
    ours_s, tm = _best_of(lambda: travel_matrix(net, o, d, cfg), repeat=1 if not quick else 3)
    G = _nx_graph(net.graph)
    o_node, _ = net.snap(o[:, 0], o[:, 1])
    d_node, _ = net.snap(d[:, 0], d[:, 1])
    k = 3
    nx_s, _ = _best_of(lambda: _nx_matrix(G, o_node[:k], d_node), repeat=1)
    per = nx_s / k
    return {
        "nodes": net.n_nodes, "edges": int(net.graph.nnz), "build_s": round(build_s, 2),
        "origins": n_o, "destinations": n_d,
        "ours_s": round(ours_s, 3),
        "ours_per_source_ms": round(ours_s / n_o * 1000, 2),
        "networkx_per_source_s": round(per, 3),
        "networkx_extrapolated_s": round(per * n_o, 1),
        "speedup_vs_networkx": round(per * n_o / ours_s, 1),
        "all_finite": bool(np.isfinite(tm.seconds).all()),
    }


def run(quick: bool = False) -> dict:
    """Time the drive-time matrix on the real Columbus graph and a 100k-node synthetic one."""
    return {"real": bench_real(quick), "synthetic": bench_synthetic(quick)}


def main() -> None:
    ap = argparse.ArgumentParser(description="drive-time matrix benchmark")
    ap.add_argument("--quick", action="store_true")
    print(json.dumps(run(ap.parse_args().quick), indent=1))


if __name__ == "__main__":
    main()
