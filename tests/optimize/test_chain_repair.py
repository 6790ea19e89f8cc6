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
