"""Roots we chose are not an answer: re-root before saying infeasible; with homes, name the rep."""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest

from territory.errors import InfeasibleError
from territory.optimize import AssignProblem, BandRules, Solver, check_plan, solve

SOLVER = Solver(time_limit=20, mip_gap=0.0)


def line(n: int, roots: tuple[int, ...], *, movable: bool, graph: nx.Graph | None = None):
    """n units on a line, equal TAM, tolerance 0: each of the reps needs n / reps units."""
    pos = np.arange(n, dtype=float)
    cost = np.abs(pos[:, None] - pos[list(roots)][None])
    if graph is None:
        graph = nx.path_graph([f"u{i}" for i in range(n)])
    return AssignProblem.create(
        tuple(f"u{i}" for i in range(n)), tuple(f"R{j}" for j in range(len(roots))),
        np.full(n, 100.0), np.ones(n), cost,
        BandRules(tam_tolerance=0.0, account_units_min=0, account_units_max=1e9),
        contiguity=True, adjacency=graph, roots=roots, movable_roots=movable)


def test_chosen_roots_that_block_contiguity_are_moved():
    # R0 rooted at u0 and R1 at u1: R0 can only ever hold u0, yet needs 3 units.
    p = line(6, (0, 1), movable=True)
    r = solve(p, SOLVER)
    assert r.rep_of_unit.tolist() == [0, 0, 0, 1, 1, 1]
    assert r.roots is not None and r.roots[0] in (0, 1, 2) and r.roots[1] in (3, 4, 5)
    assert check_plan(dataclasses.replace(p, roots=r.roots), r.rep_of_unit) == []


def test_the_home_base_that_blocks_contiguity_is_named():
    p = line(6, (0, 1), movable=False)
    with pytest.raises(InfeasibleError) as err:
        solve(p, SOLVER)
    diag = err.value.diagnosis
    assert diag["constraint"] == "contiguity"
    assert [b["rep"] for b in diag["blocking_homes"]] == ["R1"]
    assert diag["blocking_homes"][0]["feasible_unit"] in ("u3", "u4", "u5")
    assert str(err.value).startswith("Rep R1's home base (unit u1) blocks contiguity: no "
                                     "connected territory grown from it meets the bands, but "
                                     "one around unit u")


def test_a_piece_without_a_root_gets_one_when_roots_are_ours():
    graph = nx.Graph([("u0", "u1"), ("u1", "u2"), ("u3", "u4"), ("u4", "u5")])
    p = line(6, (0, 2), movable=True, graph=graph)
    r = solve(p, SOLVER)
    assert sorted(set(r.rep_of_unit[:3].tolist())) != sorted(set(r.rep_of_unit[3:].tolist()))
    assert check_plan(dataclasses.replace(p, roots=r.roots), r.rep_of_unit) == []
    with pytest.raises(InfeasibleError) as err:
        solve(dataclasses.replace(p, movable_roots=False), SOLVER)
    assert err.value.diagnosis["unreachable_units"] == ["u3", "u4", "u5"]


def test_infeasible_for_every_rooting_says_so():
    graph = nx.Graph([("u0", "u1"), ("u2", "u3"), ("u4", "u5")])  # three pieces, two reps
    p = line(6, (0, 2), movable=True, graph=graph)
    with pytest.raises(InfeasibleError) as err:
        solve(p, SOLVER)
    assert str(err.value) == ("Contiguity cannot hold for any choice of centres: the unit map "
                              "falls into 3 pieces that no adjacency joins, but there are only "
                              "2 reps and each piece needs its own; join the pieces in the "
                              "adjacency graph or turn contiguity off.")
