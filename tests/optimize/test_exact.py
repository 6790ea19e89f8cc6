"""The exact contiguity check (CP-SAT) decides small rooted problems: proof or plan."""

from __future__ import annotations

import dataclasses
import time

import networkx as nx
import numpy as np
import pytest

from territory.errors import InfeasibleError
from territory.optimize import AssignProblem, BandRules, Solver, check_plan, solve
from territory.optimize.exact import (blocking_reps, contiguous_feasibility, exact_applicable,
                                      solver_parameters)


def grid(rows: int, cols: int, roots: tuple[int, ...], tam: np.ndarray) -> AssignProblem:
    """A rows x cols grid of units (4-neighbour adjacency), one account unit each."""
    ids = [f"u{i}" for i in range(rows * cols)]
    g = nx.relabel_nodes(nx.grid_2d_graph(rows, cols), {(r, c): ids[r * cols + c]
                                                         for r in range(rows)
                                                         for c in range(cols)})
    xy = np.array([(i // cols, i % cols) for i in range(rows * cols)], float)
    cost = np.linalg.norm(xy[:, None] - xy[list(roots)][None], axis=2)
    return AssignProblem.create(
        tuple(ids), tuple(f"R{j}" for j in range(len(roots))), tam, np.ones(len(ids)), cost,
        BandRules(tam_tolerance=0.0, account_units_min=0, account_units_max=1e9),
        contiguity=True, adjacency=g, roots=roots, movable_roots=False)


def test_a_home_that_walls_another_in_is_proved_infeasible_and_named():
    # a 1 x 6 line, equal TAM, 2 reps of 3 units each: R1's home at u1 leaves R0 (home u0)
    # with u0 alone; with R1's home free R1 takes u3..u5, with R0's free R0 does
    p = grid(1, 6, (0, 1), np.full(6, 100.0))
    assert exact_applicable(p)
    assert contiguous_feasibility(p, 20).status == "infeasible"
    found, decided = blocking_reps(p, deadline=time.perf_counter() + 20)
    assert [r for r, _ in found] == [0, 1] and decided
    free = contiguous_feasibility(p, 20, free_rep=1)
    assert free.status == "feasible" and free.plan.tolist() == [0, 0, 0, 1, 1, 1]
    assert free.root in (3, 4, 5)
    assert contiguous_feasibility(p, 20, free_rep=0).plan.tolist() == [1, 1, 1, 0, 0, 0]


def test_a_plan_found_is_connected_and_inside_the_bands():
    rng = np.random.default_rng(3)
    p = grid(5, 6, (0, 29, 5), rng.integers(50, 150, 30).astype(float))
    p = dataclasses.replace(p, tam_tolerance=0.2)
    verdict = contiguous_feasibility(p, 20)
    assert verdict.status == "feasible"
    assert check_plan(p, verdict.plan) == []
    for r in range(3):
        members = [p.unit_ids[u] for u in np.flatnonzero(verdict.plan == r)]
        assert nx.is_connected(p.adjacency.subgraph(members))


def test_solve_with_the_lns_engine_names_the_blocking_home():
    p = grid(1, 6, (0, 1), np.full(6, 100.0))
    with pytest.raises(InfeasibleError) as err:
        solve(p, Solver(time_limit=20, engine="lns"))
    diag = err.value.diagnosis
    assert diag["constraint"] == "contiguity" and diag["proof"] == "exact"
    assert [b["rep"] for b in diag["blocking_homes"]] == ["R0", "R1"]
    assert "R0 (unit u0), R1 (unit u1) blocks it" in str(err.value)


def test_a_run_is_bounded_by_deterministic_work_on_one_worker():
    # a wall-clock slice or a parallel portfolio makes the plan found (which seeds LNS)
    # depend on the machine's load: same inputs and seed must give the same plan
    params = solver_parameters(30.0, seed=7)
    assert params["num_workers"] == 1 or params.get("interleave_search")
    assert 0 < params["max_deterministic_time"] < 1e9 and params["random_seed"] == 7
    assert params["max_time_in_seconds"] == 30.0
    rng = np.random.default_rng(5)
    p = dataclasses.replace(grid(5, 6, (0, 29, 5), rng.integers(50, 150, 30).astype(float)),
                            tam_tolerance=0.2)
    plans = {tuple(contiguous_feasibility(p, 20, seed=s).plan.tolist()) for s in (1, 1, 1)}
    assert len(plans) == 1
