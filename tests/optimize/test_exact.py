"""The exact contiguity check (CP-SAT) decides small rooted problems: proof or plan."""

from __future__ import annotations

import dataclasses
import time

import networkx as nx
import numpy as np
import pytest

from territory.errors import InfeasibleError
from territory.optimize import AssignProblem, BandRules, Solver, check_plan, solve
from territory.optimize.exact import (admits, blocking_reps, contiguous_feasibility,
                                      exact_applicable, moved, relocation_candidates,
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


def walled_line() -> AssignProblem:
    """A 1 x 9 line, equal TAM, 3 reps of 3 units each (the only contiguous split is
    u0-u2 | u3-u5 | u6-u8). R0's home u0 and R1's home u1 share the first block, and u2 is
    locked to R1: only R0's home blocks, and moving it to u3, u4 or u5 admits a plan."""
    p = grid(1, 9, (0, 1, 8), np.full(9, 100.0))
    return dataclasses.replace(p, locks={2: 1})


def connected_plan_ok(p: AssignProblem, plan: np.ndarray) -> bool:
    """Both bands, and every territory connected on the graph and holding its root."""
    if check_plan(p, plan) or any(plan[u] != r for r, u in enumerate(p.roots)):
        return False
    return all(nx.is_connected(p.adjacency.subgraph([p.unit_ids[u]
                                                     for u in np.flatnonzero(plan == r)]))
               for r in range(p.n_reps))


def test_only_the_walled_in_home_admits_a_plan_when_moved():
    # the ground truth the naming test relies on, by brute force over every single move
    p = walled_line()
    assert exact_applicable(p)
    assert contiguous_feasibility(p, 20).status == "infeasible"
    helps = set()
    for r in range(p.n_reps):
        for u in set(range(p.n_units)) - set(p.fixed):
            verdict = contiguous_feasibility(moved(p, ((r, u),)), 20)
            assert verdict.status != "unknown"
            if verdict.status == "feasible":
                assert connected_plan_ok(moved(p, ((r, u),)), verdict.plan)
                helps.add((r, u))
    assert helps == {(0, 3), (0, 4), (0, 5)}


def test_the_rep_reaching_away_from_home_is_tried_first():
    p = walled_line()
    guide = np.array([0, 1, 1, 1, 0, 0, 2, 2, 2])  # R0's best territory: u0 plus u4, u5
    assert relocation_candidates(p, guide)[0] == (0, 4)
    found = blocking_reps(p, time.perf_counter() + 20, guide=guide,
                          find_plan=lambda q, s: contiguous_feasibility(q, s).plan)
    assert found.found is not None and found.found.moves == ((0, 4),) and found.tried == 1
    assert admits(p, ((0, 4),), found.found.plan)
    assert not admits(p, ((0, 4),), guide)  # a split territory is no proof
    # a finder that never finds: nothing is named
    none = blocking_reps(p, time.perf_counter() + 20, guide=guide, find_plan=lambda q, s: None)
    assert none.found is None and none.tried == len(relocation_candidates(p, guide)) + 1


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


def test_two_homes_are_moved_together_when_no_single_move_helps():
    # 1 x 12 line, 4 reps of 3 units: R0, R1 and R2 all live in the first block u0-u2
    p = grid(1, 12, (0, 1, 2, 11), np.full(12, 100.0))
    guide = np.array([0, 1, 2, 0, 0, 2, 1, 1, 2, 3, 3, 3])
    cands = relocation_candidates(p, guide)
    assert cands[:2] == [(0, 3), (1, 6)]
    found = blocking_reps(p, time.perf_counter() + 20, guide=guide,
                          find_plan=lambda q, s: contiguous_feasibility(q, s).plan)
    assert found.found is not None and found.found.moves == ((0, 3), (1, 6))
    assert found.tried == len(cands) + 1 and admits(p, found.found.moves, found.found.plan)


def test_solve_names_the_home_that_blocks_and_where_to_move_it():
    # before: the root-choice check named both R0 and R1 of a similar case, and on the
    # 229-unit book decided nothing; now a move to a concrete unit is proven by a plan
    p = walled_line()
    with pytest.raises(InfeasibleError) as err:
        solve(p, Solver(time_limit=20, engine="lns"))
    diag = err.value.diagnosis
    assert diag["constraint"] == "contiguity" and diag["proof"] == "exact"
    assert [b["rep"] for b in diag["blocking_homes"]] == ["R0"] and not diag["together"]
    block = diag["blocking_homes"][0]
    assert block["home_unit"] == "u0" and block["feasible_unit"] in ("u3", "u4", "u5")
    assert (f"rep R0's home base (unit u0) blocks it; with it moved to unit "
            f"{block['feasible_unit']}") in str(err.value)
    target = moved(p, ((0, p.unit_ids.index(block["feasible_unit"])),))
    verdict = contiguous_feasibility(target, 20)
    assert verdict.status == "feasible" and connected_plan_ok(target, verdict.plan)


def corridor_book() -> AssignProblem:
    """A west 6 x 6 block (TAM 20 a unit), a 4-unit corridor, an east 6 x 6 block (TAM 30).

    4 reps, TAM band 386.75-523.25 (mean 455, 15%): the east's 1,080 needs three reps,
    but only R0 lives there, and a corridor unit holds one rep, so only one western rep
    can reach east. R1 and R2 hold a locked unit in the far west: moved east, each still
    has to cross; R3's home (w53, by the corridor) is the one whose move admits a plan.
    The root-choice CP-SAT check left every rep "unknown" on it in a 20 s budget.
    """
    g = nx.Graph()
    cells = ([(f"w{i}{j}", (i, j), 20.0) for i in range(6) for j in range(6)]
             + [(f"c{k}", (6 + k, 3), 5.0) for k in range(4)]
             + [(f"e{i}{j}", (10 + i, j), 30.0) for i in range(6) for j in range(6)])
    ids = [c[0] for c in cells]
    xy = np.array([c[1] for c in cells], float)
    for a, (na, pa, _) in enumerate(cells):
        for nb, pb, _ in cells[a + 1:]:
            if abs(pa[0] - pb[0]) + abs(pa[1] - pb[1]) == 1:
                g.add_edge(na, nb)
    at = {u: i for i, u in enumerate(ids)}
    roots = (at["e22"], at["w00"], at["w05"], at["w53"])
    cost = np.linalg.norm(xy[:, None] - xy[list(roots)][None], axis=2)
    return AssignProblem.create(
        tuple(ids), ("R0", "R1", "R2", "R3"), np.array([c[2] for c in cells]),
        np.ones(len(ids)), cost,
        BandRules(tam_tolerance=0.15, account_units_min=0, account_units_max=1e9),
        contiguity=True, adjacency=g, roots=roots, movable_roots=False,
        locks={at["w10"]: 1, at["w15"]: 2})


def test_the_home_by_the_corridor_is_named_with_a_unit_that_admits_a_plan():
    p = corridor_book()
    with pytest.raises(InfeasibleError) as err:
        solve(p, Solver(time_limit=20, engine="lns"))
    diag = err.value.diagnosis
    assert diag["proof"] == "exact" and [b["rep"] for b in diag["blocking_homes"]] == ["R3"]
    target = diag["blocking_homes"][0]["feasible_unit"]
    assert target.startswith("e")
    assert (f"rep R3's home base (unit w53) blocks it; with it moved to unit {target}"
            in str(err.value))
    # the move really admits a plan: solved afresh, checked with networkx and both bands
    there = moved(p, ((3, p.unit_ids.index(target)),))
    assert connected_plan_ok(there, solve(there, Solver(time_limit=20)).rep_of_unit)
    # and the others' homes moved there do not (each proof is a fraction of a second)
    for r in (0, 1, 2):
        assert contiguous_feasibility(moved(p, ((r, there.roots[3]),)), 10).status == \
            "infeasible"


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
