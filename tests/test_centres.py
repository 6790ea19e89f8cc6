"""Free centres: alternate allocation (the assignment model) and location (weighted medoids)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from territory.errors import InfeasibleError
from territory.optimize import AssignProblem, BandRules, Solver, centres, check_plan
from territory.optimize.centres import (
    banded_medians,
    euclidean_distance,
    free_centres,
    plan_travel,
    spread_bases,
    weighted_medoids,
)

SOLVER = Solver(time_limit=20, mip_gap=0.0)


def _grid(rows: int, cols: int, roots: list[int], *, seed: int = 3, contiguity: bool = True):
    """A rows x cols grid with skewed TAM, rook adjacency, bases at ``roots``."""
    rng = np.random.default_rng(seed)
    n = rows * cols
    xy = np.array([[i % cols, i // cols] for i in range(n)], dtype=float) * 10.0
    tam = rng.lognormal(0.0, 0.8, n) * 1000.0
    au = np.maximum(np.round(tam / tam.mean() * 5), 1.0)
    graph = nx.relabel_nodes(nx.grid_2d_graph(rows, cols),
                             {(r, c): f"u{r * cols + c}" for r in range(rows) for c in range(cols)})
    m = len(roots)
    per = au.sum() / m
    balance = BandRules(tam_tolerance=0.15, account_units_min=0.8 * per,
                            account_units_max=1.2 * per)
    weight = tam / tam.mean() + 0.01
    cost = weight[:, None] * euclidean_distance(xy)(np.arange(n), np.asarray(roots))
    p = AssignProblem.create(
        tuple(f"u{i}" for i in range(n)), tuple(f"R{j}" for j in range(m)), tam, au, cost,
        balance, contiguity=contiguity, adjacency=graph, roots=tuple(roots))
    return p, xy, weight


def test_weighted_medoid_is_the_member_with_least_weighted_travel():
    xy = np.array([[0.0, 0], [1, 0], [2, 0], [10, 0], [11, 0]])
    w = np.array([1.0, 1.0, 5.0, 1.0, 1.0])
    plan = np.array([0, 0, 0, 1, 1])
    med = weighted_medoids(plan, w, euclidean_distance(xy), 2)
    # territory 0: the heavy unit 2 wins (1*2 + 1*1 = 3 vs 1 + 5 = 6 at unit 1);
    # territory 1: a tie between units 3 and 4 goes to the lower index
    assert med.tolist() == [2, 3]


def test_empty_territory_keeps_its_fallback_base():
    xy = np.array([[0.0, 0], [1, 0]])
    med = weighted_medoids(np.array([0, 0]), np.ones(2), euclidean_distance(xy), 2,
                           fallback=np.array([0, 1]))
    assert med.tolist() == [0, 1]


@pytest.mark.parametrize("contiguity", [False, True])
def test_travel_never_increases_bands_hold_and_bases_root_their_territories(contiguity):
    # bases start in the corners: far from where their territories' weight sits
    p, xy, w = _grid(6, 6, [0, 5, 30, 35], contiguity=contiguity)
    dist = euclidean_distance(xy)
    out = free_centres(p, w, dist, SOLVER, max_rounds=8, pair_sweeps=1, restarts=0)
    assert out.rounds >= 2
    assert all(b <= a + 1e-9 for a, b in zip(out.travel, out.travel[1:]))
    # the corners were bad bases (with contiguity the bases first move without it: the
    # allocation from the corners is the relaxed phase's first)
    assert out.travel[-1] < (out.relaxed_travel or out.travel)[0] * 0.9
    assert bool(out.relaxed_travel) == contiguity
    assert check_plan(out.problem, out.rep_of_unit) == []
    assert plan_travel(out.problem.cost, out.rep_of_unit) == pytest.approx(out.travel[-1])
    # each base is its own territory's root, inside the territory
    assert [int(out.rep_of_unit[b]) for b in out.bases] == list(range(p.n_reps))
    assert out.problem.roots == tuple(int(b) for b in out.bases)


def test_same_inputs_same_plan():
    p, xy, w = _grid(6, 6, [0, 5, 30, 35], seed=5, contiguity=False)
    a = free_centres(p, w, euclidean_distance(xy), SOLVER, pair_sweeps=1)
    b = free_centres(p, w, euclidean_distance(xy), SOLVER, pair_sweeps=1)
    assert a.bases.tolist() == b.bases.tolist()
    assert a.rep_of_unit.tolist() == b.rep_of_unit.tolist()
    assert a.travel == b.travel


def _medoid_travel(plan, w, dist, m):
    med = weighted_medoids(plan, w, dist, m)
    n = len(plan)
    return float((w * dist(np.arange(n), med)[np.arange(n), np.asarray(plan)]).sum())


def test_banded_medians_is_the_exact_k_median_when_the_bands_do_not_bind():
    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 100, (9, 2))
    w = rng.uniform(0.5, 2.0, 9)
    d = euclidean_distance(xy)(np.arange(9), np.arange(9))
    loads = [(np.ones(9), 0.0, 9.0)]
    out = banded_medians(d, w, loads, 3, Solver(time_limit=20, mip_gap=0.0))
    # brute force over every set of 3 centres, each unit to its nearest
    best = min(float((w * d[:, list(c)].min(axis=1)).sum())
               for c in __import__("itertools").combinations(range(9), 3))
    assert len(out.centres) == 3
    assert out.objective == pytest.approx(best, rel=1e-6)
    assert out.bound <= best * (1 + 1e-6)


def test_banded_medians_bound_holds_for_every_plan_in_the_bands():
    # 8 units in a row, 2 territories of exactly 4 account units each: the band binds
    xy = np.array([[x, 0.0] for x in (0, 1, 2, 3, 10, 11, 30, 31)])
    w = np.array([1.0, 1, 1, 1, 5, 5, 1, 1])
    d = euclidean_distance(xy)(np.arange(8), np.arange(8))
    out = banded_medians(d, w, [(np.ones(8), 4.0, 4.0)], 2, Solver(time_limit=20, mip_gap=0.0))
    dist = euclidean_distance(xy)
    best = np.inf
    for mask in range(1, 2 ** 8 - 1):
        plan = np.array([(mask >> i) & 1 for i in range(8)])
        if plan.sum() == 4:
            best = min(best, _medoid_travel(plan, w, dist, 2))
    assert out.bound <= best * (1 + 1e-6)
    assert out.bound >= 0.8 * best   # and not a vacuous one


def test_spread_bases_are_distinct_and_seeded():
    xy = np.array([[i % 7, i // 7] for i in range(49)], dtype=float)
    dist = euclidean_distance(xy)
    a = spread_bases(np.ones(49), dist, 6, np.random.default_rng([3, 1]))
    b = spread_bases(np.ones(49), dist, 6, np.random.default_rng([3, 1]))
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == 6


def test_restarts_and_medians_beat_the_stalled_alternation_bands_and_contiguity_hold():
    # bases start bunched in one corner: the plain alternation stalls above what
    # the restarts (p-median start, spread bases) reach
    p, xy, w = _grid(7, 7, [0, 1, 7, 8], seed=5)
    dist = euclidean_distance(xy)
    plain = free_centres(p, w, dist, SOLVER, restarts=0, pair_sweeps=0)
    better = free_centres(p, w, dist, SOLVER, restarts=2, pair_sweeps=1)
    t_plain = _medoid_travel(plain.rep_of_unit, w, dist, p.n_reps)
    t_better = _medoid_travel(better.rep_of_unit, w, dist, p.n_reps)
    assert t_better < t_plain * 0.95   # measured: 695.0 -> 610.4
    assert check_plan(better.problem, better.rep_of_unit) == []
    graph = p.adjacency
    for r in range(p.n_reps):
        members = [p.unit_ids[i] for i in np.flatnonzero(better.rep_of_unit == r)]
        assert members and nx.is_connected(graph.subgraph(members))
    # the p-median bound holds for both plans; the restarts' plan is within 5% of it
    assert better.medoid_bound is not None
    assert better.medoid_bound <= t_better * (1 + 1e-9)
    assert better.medoid_bound <= t_plain * (1 + 1e-9)
    assert len(better.starts) == 4
    again = free_centres(p, w, dist, SOLVER, restarts=2, pair_sweeps=1)
    assert again.rep_of_unit.tolist() == better.rep_of_unit.tolist()



def test_a_screened_start_that_cannot_gain_is_not_run_with_contiguity():
    # the best screened start (the p-median's centres) ends 0.2% below the given bases'
    # contiguous plan without contiguity (470.0 vs 471.1): too little to pay for its run
    p, xy, w = _grid(6, 6, [15, 18, 35], seed=6)
    dist = euclidean_distance(xy)
    out = free_centres(p, w, dist, SOLVER, restarts=2, pair_sweeps=0)
    assert out.start == 0 and np.isfinite(out.starts[0])
    assert all(np.isnan(t) for t in out.starts[1:])
    assert check_plan(out.problem, out.rep_of_unit) == []
    # where the screened start is well below the plan in hand it goes on (and wins)
    p, xy, w = _grid(6, 6, [18, 22, 28], seed=0)
    out = free_centres(p, w, euclidean_distance(xy), SOLVER, restarts=2, pair_sweeps=0)
    assert out.start == 1 and out.starts[1] < out.starts[0] * 0.95   # 483.2 vs 535.7


# ----------------------------------------------------------------------------- first allocation


def _cut_first(monkeypatch, cuts: int) -> list[tuple[dict, AssignProblem]]:
    """The first ``cuts`` contiguous solves of free centres run out of time without a plan
    (as a large book's repair can outlast its share); every other solve is the real one.
    Returns each contiguous solve's arguments (time limit included) and problem."""
    calls: list[tuple[dict, AssignProblem]] = []
    real = centres.solve

    def solve(q, cfg, **kw):
        if not q.contiguity:
            return real(q, cfg, **kw)
        calls.append((dict(kw, time_limit=cfg.time_limit), q))
        if len(calls) <= cuts:
            cfg = Solver(time_limit=1e-3)
        return real(q, cfg, **kw)

    monkeypatch.setattr(centres, "solve", solve)
    return calls


def test_a_first_allocation_out_of_time_is_solved_again_with_all_the_budget_left(monkeypatch):
    p, xy, w = _grid(6, 6, [0, 5, 30, 35])
    calls = _cut_first(monkeypatch, 1)
    out = free_centres(p, w, euclidean_distance(xy), Solver(time_limit=60), restarts=0,
                       relax_first=False, max_rounds=1, polish=False)
    (first, _), (again, q) = calls
    assert (first["seed"], again["seed"]) == (0, 1)
    assert again["start"] is None  # from scratch: a cut-off search's plan is a poor start
    assert q.roots == p.roots
    assert again["time_limit"] == pytest.approx(60, abs=1.0)  # all of the one budget
    assert check_plan(out.problem, out.rep_of_unit) == []  # both bands, one piece per rep


def test_after_the_relaxed_phase_the_second_attempt_is_at_the_seeded_bases(monkeypatch):
    p, xy, w = _grid(6, 6, [0, 5, 30, 35])  # corners: the relaxed phase moves them
    calls = _cut_first(monkeypatch, 1)
    out = free_centres(p, w, euclidean_distance(xy), Solver(time_limit=60), restarts=0,
                       max_rounds=3, polish=False)
    (first, moved), (again, seeded) = calls[:2]
    assert moved.roots != p.roots  # the relaxed phase moved the bases ...
    assert seeded.roots == p.roots and again["seed"] == 1  # ... the retry is where they started
    # in the first share of what is left: the alternation may still move them
    assert again["time_limit"] == pytest.approx(first["time_limit"], rel=0.05)
    assert check_plan(out.problem, out.rep_of_unit) == []


@pytest.mark.parametrize("relax_first", [False, True])
def test_the_retries_are_bounded_and_the_last_time_out_is_reported(monkeypatch, relax_first):
    p, xy, w = _grid(6, 6, [0, 5, 30, 35])
    calls = _cut_first(monkeypatch, 10)
    with pytest.raises(InfeasibleError) as err:
        free_centres(p, w, euclidean_distance(xy), Solver(time_limit=60), restarts=0,
                     relax_first=relax_first, max_rounds=3, polish=False)
    assert err.value.timed_out
    # the relaxed phase's bases, then twice the seeded ones (the last with all that is left)
    assert len(calls) == (3 if relax_first else 2)
    assert calls[-1][0]["time_limit"] > calls[-2][0]["time_limit"]
