"""Benchmark: drive hours a month on the demo, three ways, and the day-tour heuristic's gap.

``run(quick)`` plans the demo's ``balanced`` scenario (shipped data, shipped road graph;
© OpenStreetMap contributors, ODbL) and, per rep, computes

* ``tours_h`` -- :func:`territory.travel.burden.travel_burden` (the product's figure: a year
  of day tours, farthest-seed cheapest insertion + 2-opt);
* ``round_trips_h`` -- the same visits, every one its own home -> site -> home trip;
* ``ortools_h`` -- OR-Tools' routing solver (``ortools``, the ``bench`` extra) on the same
  months: one capacitated vehicle routing problem per month (vehicles = the days the
  heuristic uses, ``visits_per_day`` visits each, start and end at home, guided local
  search for ``time_limit`` s), on sampled months (all 12 in a full run), scaled to a month;
* ``nearest_h`` -- the old nearest-neighbour chaining (from home, always the nearest visit
  left, home when the day is full) on the same months, as the baseline the heuristic replaces.

Gaps are ``heuristic / ortools - 1`` on the months OR-Tools solved, on the pairwise leg
costs (the Beardwood-Halton-Hammersley cap on long runs inside one unit is left out of
all three so they optimise the same objective). ``day_order_gap`` compares each of the
heuristic's days with the best visiting order by enumeration (days of <= 4 visits).
``routed_share`` and ``visits_on_graph`` say how much of it is on the road graph.

Run: ``python -m bench.bench_travel [--quick] [--write]`` (``--write``: ``bench/TRAVEL.md``).
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


def _demo_plan():
    from territory.config import load_config
    from territory.pipeline import plan, prepare
    from territory.travel.burden import load_road_network

    cfg = load_config(DATA / "scenarios" / "balanced.toml")
    inputs = prepare(DATA / "accounts.csv", DATA / "reps.csv", cfg,
                     zcta=DATA / "columbus_zctas.geojson")
    network = load_road_network(cfg.travel)
    return cfg, inputs, network, plan(inputs, cfg, network=network)


def _stops(result):
    acc = result.accounts
    own = acc["point_source"].eq("input lat/lon")
    return acc.assign(visits_per_year=acc["touches_per_year"], lon=acc["lon"].where(own),
                      lat=acc["lat"].where(own), site_id=acc["account_id"])


def _cost(s: np.ndarray, tour: list[int]) -> float:
    path = [0, *tour, 0]
    return float(sum(s[a, b] for a, b in zip(path[:-1], path[1:])))


def _ortools_month(s: np.ndarray, counts: np.ndarray, per_day: int, n_days: int,
                   time_limit: float) -> float | None:
    """Best total seconds OR-Tools finds for the month's visits in ``n_days`` day tours."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    sites = [0] + [i + 1 for i, c in enumerate(counts) for _ in range(int(c))]
    scale = 10.0  # deciseconds: OR-Tools wants integers
    m = np.rint(s[np.ix_(sites, sites)] * scale).astype(np.int64)
    m[0, 0] = 0
    manager = pywrapcp.RoutingIndexManager(len(sites), n_days, 0)
    routing = pywrapcp.RoutingModel(manager)

    def dist(i, j):
        return int(m[manager.IndexToNode(i), manager.IndexToNode(j)])

    cb = routing.RegisterTransitCallback(dist)
    routing.SetArcCostEvaluatorOfAllVehicles(cb)
    demand = routing.RegisterUnaryTransitCallback(
        lambda i: 0 if manager.IndexToNode(i) == 0 else 1)
    routing.AddDimensionWithVehicleCapacity(demand, 0, [per_day] * n_days, True, "visits")
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
    params.time_limit.FromMilliseconds(int(time_limit * 1000))
    sol = routing.SolveWithParameters(params)
    return None if sol is None else sol.ObjectiveValue() / scale


def _best_order(s: np.ndarray, tour: list[int]) -> float:
    return min(_cost(s, list(p)) for p in itertools.permutations(tour))


def _have_ortools() -> bool:
    try:
        import ortools.constraint_solver.pywrapcp  # noqa: F401
    except ImportError:
        return False
    return True


def _rep_figures(sites, per_day: int, months: list[int], time_limit: float) -> dict:
    from territory.travel.burden import day_tours, monthly_visits, nearest_neighbour_days

    s = sites.seconds
    sched = monthly_visits(sites.visits_per_year, sites.phase)
    ours = nearest = ortools = 0.0
    order_gap = []
    solved = 0
    for m in months:
        days = day_tours(s, sched[m], per_day)
        o = sum(_cost(s, d) for d in days)
        best = _ortools_month(s, sched[m], per_day, len(days), time_limit) if days else 0.0
        if best is None:
            continue
        ours += o
        ortools += best
        nearest += sum(_cost(s, d) for d in nearest_neighbour_days(s, sched[m], per_day))
        order_gap += [_cost(s, d) / _best_order(s, d) - 1 for d in days if len(d) <= 5]
        solved += 1
    k = 3600.0 * max(solved, 1)
    return {"months": solved, "heuristic_h": ours / k, "ortools_h": ortools / k,
            "nearest_h": nearest / k,
            "gap": ours / ortools - 1 if ortools else 0.0,
            "nearest_gap": nearest / ortools - 1 if ortools else 0.0,
            "day_order_gap_max": max(order_gap, default=0.0)}


def run(quick: bool = False) -> dict:
    from territory.travel.burden import rep_sites, travel_burden

    logging.getLogger("territory").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    cfg, inputs, network, result = _demo_plan()
    plan_s = time.perf_counter() - t0
    stops = _stops(result)
    units = inputs.units
    tcfg = cfg.travel
    t = time.perf_counter()
    tours = travel_burden(None, units, result.reps, network, tcfg, accounts=stops)
    tours_s = time.perf_counter() - t
    trips = travel_burden(None, units, result.reps, network, tcfg, accounts=stops,
                          method="round_trips")
    from territory.travel.burden import unit_areas_km2

    up = units.assign(unit_id=units["unit_id"].astype(str)).set_index("unit_id")[["lon", "lat"]]
    up["area_km2"] = unit_areas_km2(units).to_numpy()
    months = ([0, 6] if quick else list(range(12))) if _have_ortools() else []
    time_limit = 0.5 if quick else 2.0
    per_rep, on_graph_visits, all_visits = [], 0.0, 0.0
    for rep, tr, rt in zip(result.reps.itertuples(), tours.itertuples(), trips.itertuples()):
        mine = stops[stops["rep_id"] == rep.rep_id]
        sites = rep_sites(mine, (float(rep.lon), float(rep.lat)), up, network, tcfg)
        # a visit is on the graph when its site is: the leg from the home to it is routed
        # on the graph, or the site is an area whose pace was measured on it
        on = np.array([sites.on_graph[i + 1, i + 1] if sites.area[i] else
                       sites.on_graph[0, i + 1] or sites.on_graph[i + 1, 0]
                       for i in range(len(sites.area))])
        on_graph_visits += float(sites.visits_per_year[on].sum())
        all_visits += float(sites.visits_per_year.sum())
        fig = _rep_figures(sites, int(tcfg.visits_per_day), months, time_limit)
        per_rep.append({"rep_id": rep.rep_id, "visits_per_month": round(tr.visits_per_month, 1),
                        "tours_h": round(tr.drive_hours_per_month, 2),
                        "round_trips_h": round(rt.drive_hours_per_month, 2),
                        "ortools_h": round(fig["ortools_h"], 2),
                        "heuristic_h_same_months": round(fig["heuristic_h"], 2),
                        "nearest_h": round(fig["nearest_h"], 2),
                        "gap": round(fig["gap"], 4), "nearest_gap": round(fig["nearest_gap"], 4),
                        "day_order_gap_max": round(fig["day_order_gap_max"], 4),
                        "routed_share": round(tr.routed_share, 3)})
    gaps = np.array([r["gap"] for r in per_rep] or [0.0])
    ngaps = np.array([r["nearest_gap"] for r in per_rep] or [0.0])
    return {
        "scenario": "balanced (demo)",
        "ortools": "used" if months else "not installed: pip install -e '.[bench]'",
        "months_per_rep": len(months), "ortools_time_limit_s": time_limit,
        "plan_s": round(plan_s, 2), "tours_s": round(tours_s, 3),
        "per_rep": per_rep,
        "tours_h_total": round(float(tours["drive_hours_per_month"].sum()), 1),
        "round_trips_h_total": round(float(trips["drive_hours_per_month"].sum()), 1),
        "gap_mean": round(float(gaps.mean()), 4), "gap_max": round(float(gaps.max()), 4),
        "nearest_gap_mean": round(float(ngaps.mean()), 4),
        "nearest_gap_max": round(float(ngaps.max()), 4),
        "routed_share_min": round(float(tours["routed_share"].min()), 3),
        "visits_on_graph": round(on_graph_visits / all_visits, 4) if all_visits else 1.0,
    }


def markdown(res: dict) -> str:
    """The result as the tables of ``bench/TRAVEL.md``."""
    L = ["# Drive hours on the demo, three ways (`python -m bench.bench_travel --write`)", "",
         f"Scenario {res['scenario']}; OR-Tools {res['ortools']}, {res['months_per_rep']} months "
         f"a rep, {res['ortools_time_limit_s']} s a month. Hours a month; `gap` = heuristic / "
         "OR-Tools - 1 on the same months, `nearest gap` = the old nearest-neighbour chaining / "
         "OR-Tools - 1.", "",
         "| rep | visits/mo | tours h | round trips h | OR-Tools h (same months) | heuristic h "
         "(same months) | nearest-neighbour h | gap | nearest gap | routed share |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["per_rep"]:
        L.append(f"| {r['rep_id']} | {r['visits_per_month']} | {r['tours_h']} | "
                 f"{r['round_trips_h']} | {r['ortools_h']} | {r['heuristic_h_same_months']} | "
                 f"{r['nearest_h']} | {r['gap']:.1%} | {r['nearest_gap']:.1%} | "
                 f"{r['routed_share']:.0%} |")
    L += ["", f"Totals: tours {res['tours_h_total']} h, round trips {res['round_trips_h_total']} h. "
          f"Heuristic gap mean {res['gap_mean']:.1%}, max {res['gap_max']:.1%}; nearest-neighbour "
          f"chaining mean {res['nearest_gap_mean']:.1%}, max {res['nearest_gap_max']:.1%}. "
          "Each day's visiting order against the best by enumeration: at most "
          f"{max(r['day_order_gap_max'] for r in res['per_rep']):.2%} longer. "
          f"Visits on the road graph: {res['visits_on_graph']:.1%}; lowest routed share of a rep "
          f"{res['routed_share_min']:.0%}. Plan {res['plan_s']} s, tours of all reps "
          f"{res['tours_s']} s.", ""]
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--write", action="store_true", help="also write bench/TRAVEL.md")
    args = ap.parse_args(argv)
    res = run(args.quick)
    if args.write:
        (ROOT / "bench" / "TRAVEL.md").write_text(markdown(res), encoding="utf-8")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
