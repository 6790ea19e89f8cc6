"""Pins the exact plan of two small fixed instances: any drift of the model or the solve shows.

The plans were produced by the optimizer before it was split into
problem / formulation / backends (commit 068f01a) and must stay the same.
"""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest

from territory.optimize import AssignProblem, BandRules, Disruption, Solver, check_plan, solve

SOLVER = Solver(time_limit=20, mip_gap=0.0)


def fixed_instance() -> AssignProblem:
    """5 x 6 grid, 4 reps rooted in the corners, both bands, contiguity, one lock."""
    rng = np.random.default_rng(2026)
    rows, cols = 5, 6
    n = rows * cols
    pos = np.array([[i // cols, i % cols] for i in range(n)], float)
    graph = nx.relabel_nodes(nx.grid_2d_graph(rows, cols),
                             {(r, c): f"u{r * cols + c}" for r in range(rows) for c in range(cols)})
    bases = [(0, 0), (4, 5), (0, 5), (4, 0)]
    cost = (np.abs(pos[:, None, :] - np.array(bases, float)[None]).sum(2)
            * rng.uniform(0.5, 1.5, n)[:, None])
    tam = rng.integers(50, 150, n).astype(float)
    au = rng.integers(1, 4, n).astype(float)
    per = au.sum() / 4
    rules = BandRules(tam_tolerance=0.1, account_units_min=per * 0.85,
                      account_units_max=per * 1.15)
    return AssignProblem.create(
        tuple(f"u{i}" for i in range(n)), ("R0", "R1", "R2", "R3"), tam, au, cost, rules,
        contiguity=True, adjacency=graph, roots=tuple(int(r * cols + c) for r, c in bases),
        locks={14: 2})


def test_contiguous_plan_is_pinned():
    p = fixed_instance()
    r = solve(p, SOLVER)
    assert r.rep_of_unit.tolist() == [0, 0, 0, 0, 2, 2, 0, 3, 0, 0, 2, 2, 3, 3, 2, 2, 2, 1,
                                      3, 3, 3, 1, 1, 1, 3, 3, 1, 1, 1, 1]
    assert r.objective == pytest.approx(59.609192, abs=1e-6)
    assert r.status == "optimal" and check_plan(p, r.rep_of_unit) == []


def test_disruption_capped_plan_is_pinned():
    p = fixed_instance()
    n = p.n_units
    moved = np.ones((n, 4))
    moved[np.arange(n), np.arange(n) % 4] = 0  # unit u is owned by rep u mod 4 today
    p = dataclasses.replace(p, disruption=Disruption(moved, float(n), 0.6), contiguity=False,
                            locks={})
    r = solve(p, SOLVER)
    assert r.rep_of_unit.tolist() == [0, 0, 2, 2, 0, 2, 0, 3, 0, 2, 2, 2, 0, 3, 0, 1, 2, 1,
                                      0, 3, 3, 1, 1, 1, 3, 3, 3, 3, 1, 1]
    assert r.objective == pytest.approx(62.412522, abs=1e-6)
    assert check_plan(p, r.rep_of_unit) == []
