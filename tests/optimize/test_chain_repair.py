"""Connected band repair passes a breach along a chain of territories to a rep with room."""

from __future__ import annotations

import time

import networkx as nx
import numpy as np

from territory.optimize import AssignProblem, BandRules
from territory.optimize.contiguity import AdjacencyIndex
from territory.optimize.repair import PlanScore


def _line(sizes: list[int], roots: tuple[int, ...]) -> tuple[AssignProblem, np.ndarray]:
    """Units of TAM 1 on a path graph; territories of ``sizes`` consecutive units in order.

    Each rep's TAM target is n / reps, band +-15%: with 3 units a rep, only exactly
    3 units are inside the band.
    """
    n, m = sum(sizes), len(sizes)
    graph = nx.path_graph([f"u{i}" for i in range(n)])
    pos = np.arange(n, dtype=float)
    cost = np.abs(pos[:, None] - pos[list(roots)][None, :])
    p = AssignProblem.create(tuple(f"u{i}" for i in range(n)), tuple(f"R{j}" for j in range(m)),
                             np.ones(n), np.ones(n), cost, BandRules(0.15, 0.0, 100.0),
                             contiguity=True, adjacency=graph, roots=roots)
    plan = np.repeat(np.arange(m), sizes)
    return p, plan


def _connected(p: AssignProblem, plan: np.ndarray) -> bool:
    return all(nx.is_connected(p.adjacency.subgraph([p.unit_ids[u] for u in
                                                    np.flatnonzero(plan == r)]))
               for r in range(p.n_reps))


def test_a_short_rep_at_one_end_is_fed_through_the_territories_between():
    # 2 | 3 | 3 | 4 units: R0 is short and R3 over, and they do not touch; every single
    # move only passes the breach to a neighbour (no lower total), so only a chain helps
    p, plan = _line([2, 3, 3, 4], roots=(0, 3, 6, 9))
    score = PlanScore.of(p)
    assert score.hard_breach(plan).sum() > 0
    fixed = AdjacencyIndex(p).connected_band_repair(score, plan, time.perf_counter() + 10)
    assert score.hard_breach(fixed).sum() == 0
    assert np.bincount(fixed, minlength=4).tolist() == [3, 3, 3, 3]
    assert _connected(p, fixed)
    assert all(fixed[u] == r for r, u in enumerate(p.roots))


def test_an_over_rep_sheds_along_the_chain_and_roots_stay():
    # 4 | 3 | 3 | 2: the mirror case, R0 over and R3 short
    p, plan = _line([4, 3, 3, 2], roots=(0, 4, 7, 10))
    score = PlanScore.of(p)
    fixed = AdjacencyIndex(p).connected_band_repair(score, plan, time.perf_counter() + 10)
    assert score.hard_breach(fixed).sum() == 0
    assert _connected(p, fixed)
    assert all(fixed[u] == r for r, u in enumerate(p.roots))


def test_no_chain_is_kept_when_the_breach_cannot_fall():
    # 2 | 3 | 3 | 3 units: 11 units cannot give four reps 3 each; the repair must not
    # make things worse nor break a territory
    p, plan = _line([2, 3, 3, 3], roots=(0, 3, 6, 9))
    score = PlanScore.of(p)
    before = score.hard_breach(plan).sum()
    fixed = AdjacencyIndex(p).connected_band_repair(score, plan, time.perf_counter() + 10)
    assert score.hard_breach(fixed).sum() <= before + 1e-12
    assert _connected(p, fixed)


def test_disjoint_moves_take_the_best_moves_that_share_no_rep():
    from territory.optimize.repair import BATCH_MIN_REPS, disjoint_moves

    unit = np.array([5, 6, 7, 8, 5])
    to = np.array([0, 1, 2, 3, 4])
    frm = np.array([1, 2, 4, 5, 6])
    m = BATCH_MIN_REPS
    # (6: 1<-2) shares rep 1 with the better (5: 0<-1); (5: 4<-6) moves unit 5 again
    assert disjoint_moves(unit, to, frm, m, 10) == [(5, 0, 1), (7, 2, 4), (8, 3, 5)]
    assert disjoint_moves(unit, to, frm, m, 2) == [(5, 0, 1), (7, 2, 4)]
    # small problems: the best move only, as one move a round always did
    assert disjoint_moves(unit, to, frm, m - 1, 10) == [(5, 0, 1)]


def test_batched_repairs_on_many_reps_end_inside_the_bands_and_connected():
    # 120 reps on a path of 360 units, rooted at the right end of their stretch; in
    # 30 pairs the left rep is one unit short and the right one over: 60 breaches,
    # each mended by one move, in batches
    sizes = [2, 4] * 30 + [3] * 60
    roots = tuple(int(i) - 1 for i in np.cumsum(sizes))
    p, plan = _line(sizes, roots)
    score = PlanScore.of(p)
    assert (score.hard_breach(plan) > 0).sum() == 60
    fixed = AdjacencyIndex(p).connected_band_repair(score, plan, time.perf_counter() + 30)
    assert score.hard_breach(fixed).sum() == 0
    assert _connected(p, fixed)
    assert all(fixed[u] == r for r, u in enumerate(p.roots))
