"""The integer program: hand-known optima, each constraint family, infeasibility explained."""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from territory.assign import AssignProblem, check_plan, explain_infeasible, solve_assignment
from territory.config import BalanceConfig, SolverConfig
from territory.errors import InfeasibleError

SOLVER = SolverConfig(time_limit_seconds=20, mip_gap=0.0)


def grid_problem(rows: int, cols: int, bases: list[tuple[int, int]], *, tam=None, units=None,
                 balance: BalanceConfig | None = None, **kw) -> AssignProblem:
    """Units on a rows x cols grid (rook adjacency), cost = Manhattan distance to each base."""
    n = rows * cols
    pos = np.array([[i // cols, i % cols] for i in range(n)], dtype=float)
    graph = nx.relabel_nodes(nx.grid_2d_graph(rows, cols), {(r, c): f"u{r * cols + c}"
                                                            for r in range(rows)
                                                            for c in range(cols)})
    b = np.array(bases, dtype=float)
    cost = np.abs(pos[:, None, :] - b[None]).sum(axis=2)
    kw.setdefault("contiguity", True)
    kw.setdefault("adjacency", graph)
    kw.setdefault("roots", tuple(int(r * cols + c) for r, c in bases))
    return AssignProblem.with_balance(
        balance or BalanceConfig(tam_tolerance=0.0, account_units_min=0, account_units_max=1e9),
        unit_ids=tuple(f"u{i}" for i in range(n)), rep_ids=tuple(f"R{j}" for j in range(len(b))),
        tam=np.ones(n) * 100 if tam is None else np.asarray(tam, float),
        account_units=np.ones(n) if units is None else np.asarray(units, float),
        cost=cost, **kw)


def test_two_reps_on_a_line_split_in_the_middle():
    # 1 x 4 line, bases at both ends, equal TAM: each rep takes its two nearest units.
    p = grid_problem(1, 4, [(0, 0), (0, 3)])
    r = solve_assignment(p, SOLVER)
    assert r.rep_of_unit.tolist() == [0, 0, 1, 1]
    assert r.objective == pytest.approx(0 + 1 + 1 + 0)
    assert r.status == "optimal"
    assert r.bound == pytest.approx(r.objective)


def test_tam_band_forces_a_costlier_plan():
    # Unit 1 is heavy: TAM [100, 300, 100, 100]; +-0 tolerance means each rep gets 300.
    p = grid_problem(1, 4, [(0, 0), (0, 3)], tam=[100, 300, 100, 100],
                     balance=BalanceConfig(tam_tolerance=0.0, account_units_min=0,
                                           account_units_max=1e9))
    # With R0 rooted at u0 and R1 at u3 and contiguity on, the only splits are
    # 100/500, 400/200 and 500/100: none is within 0% of 300.
    with pytest.raises(InfeasibleError):
        solve_assignment(p, SOLVER)
    # At 34% the 400/200 split is allowed and is the cheapest.
    loose = dataclasses.replace(p, tam_tolerance=0.34)
    r2 = solve_assignment(loose, SOLVER)
    tam = np.bincount(r2.rep_of_unit, weights=loose.tam)
    assert tam.tolist() == [400, 200]
    assert check_plan(loose, r2.rep_of_unit) == []


def test_units_band_holds_on_every_rep():
    # 3x3 grid, 3 reps, each must carry exactly 3 account units.
    p = grid_problem(3, 3, [(0, 0), (2, 2), (0, 2)],
                     balance=BalanceConfig(tam_tolerance=1.0, account_units_min=3,
                                           account_units_max=3))
    r = solve_assignment(p, SOLVER)
    assert np.bincount(r.rep_of_unit, minlength=3).tolist() == [3, 3, 3]
    assert check_plan(p, r.rep_of_unit) == []


def test_contiguity_keeps_a_territory_in_one_piece():
    # Without contiguity the cheapest plan gives R0 the far-right unit (cost trick below);
    # with it, R0 must stay connected to its root.
    p = grid_problem(1, 5, [(0, 0), (0, 2)],
                     balance=BalanceConfig(tam_tolerance=0.25, account_units_min=0,
                                           account_units_max=1e9))
    cost = p.cost.copy()
    cost[4] = [0.0, 10.0]  # unit u4 is cheap for R0 only
    cost[1] = [1.5, 1.0]  # and u1 leans to R1, so the free optimum is unique
    p = dataclasses.replace(p, cost=cost)
    free = solve_assignment(dataclasses.replace(p, contiguity=False), SOLVER)
    assert free.rep_of_unit.tolist() == [0, 1, 1, 1, 0]
    joined = solve_assignment(p, SOLVER)
    assert joined.rep_of_unit.tolist() == [0, 0, 1, 1, 1]
    assert joined.objective == pytest.approx(0 + 1.5 + 0 + 1 + 10)
    graph = p.adjacency
    for r in range(2):
        members = [p.unit_ids[u] for u in np.flatnonzero(joined.rep_of_unit == r)]
        assert nx.is_connected(graph.subgraph(members))
    assert check_plan(p, joined.rep_of_unit) == []
    assert check_plan(p, free.rep_of_unit)[0].startswith("contiguity")


def test_locks_are_honoured():
    p = grid_problem(1, 4, [(0, 0), (0, 3)], locks={1: 1},
                     balance=BalanceConfig(tam_tolerance=0.5, account_units_min=0,
                                           account_units_max=1e9))
    r = solve_assignment(p, SOLVER)
    assert r.rep_of_unit[1] == 1
    assert r.rep_of_unit.tolist() == [0, 1, 1, 1]


def test_disruption_cap_is_honoured():
    # Current owner of every unit is R1: moving any unit to R0 moves 10 accounts.
    n = 4
    moved = np.zeros((n, 2))
    moved[:, 0] = 10.0
    p = grid_problem(1, 4, [(0, 0), (0, 3)], moved=moved, moved_total=40.0,
                     max_moved_share=0.25, contiguity=False, roots=None,
                     balance=BalanceConfig(tam_tolerance=1.0, account_units_min=0,
                                           account_units_max=1e9))
    r = solve_assignment(p, SOLVER)
    assert (r.rep_of_unit == 0).sum() <= 1
    assert check_plan(p, r.rep_of_unit) == []


def test_infeasible_units_band_is_explained_before_solving():
    p = grid_problem(2, 2, [(0, 0), (1, 1)],
                     balance=BalanceConfig(tam_tolerance=1.0, account_units_min=5,
                                           account_units_max=6))
    with pytest.raises(InfeasibleError) as err:
        solve_assignment(p, SOLVER)
    text = str(err.value)
    assert "account-units band" in text and "4" in text
    assert err.value.diagnosis["constraint"] == "units_band"


def test_unit_too_big_for_the_tam_band_is_named():
    p = grid_problem(1, 4, [(0, 0), (0, 3)], tam=[100, 900, 100, 100],
                     balance=BalanceConfig(tam_tolerance=0.15, account_units_min=0,
                                           account_units_max=1e9))
    with pytest.raises(InfeasibleError) as err:
        solve_assignment(p, SOLVER)
    assert "u1" in str(err.value) and "tam_tolerance" in str(err.value)


def test_elastic_model_names_rep_and_amount():
    # Each rep needs 300 +- 0 but contiguity from the roots makes 400/200 the only splits.
    p = grid_problem(1, 4, [(0, 0), (0, 3)], tam=[100, 300, 100, 100],
                     balance=BalanceConfig(tam_tolerance=0.10, account_units_min=0,
                                           account_units_max=1e9))
    with pytest.raises(InfeasibleError) as err:
        solve_assignment(p, SOLVER)
    diag = err.value.diagnosis
    assert "tam_band" in str(diag["constraint"])
    assert any(b["rep"] in ("R0", "R1") and b["amount"] > 0 for b in diag["breaches"])
    assert "widen tam_tolerance to at least" in str(err.value)


def test_contiguity_named_when_only_contiguity_breaks():
    # R0's root is cut off by a heavy unit owned only by R1 through a lock.
    p = grid_problem(1, 5, [(0, 0), (0, 4)], tam=[100, 100, 100, 100, 100], locks={1: 1},
                     balance=BalanceConfig(tam_tolerance=0.25, account_units_min=0,
                                           account_units_max=1e9))
    message, diag = explain_infeasible(p, SOLVER)
    assert diag["constraint"] == "contiguity"
    assert "contiguity" in message


def test_same_inputs_same_plan():
    p = grid_problem(4, 4, [(0, 0), (3, 3), (0, 3), (3, 0)],
                     balance=BalanceConfig(tam_tolerance=0.2, account_units_min=3,
                                           account_units_max=5))
    a = solve_assignment(p, SOLVER, seed=7)
    b = solve_assignment(p, SOLVER, seed=7)
    assert a.rep_of_unit.tolist() == b.rep_of_unit.tolist()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(2, 4), cols=st.integers(2, 4), seed=st.integers(0, 10_000),
    k=st.integers(2, 3),
)
def test_random_instances_meet_every_invariant(rows, cols, seed, k):
    rng = np.random.default_rng(seed)
    n = rows * cols
    cells = rng.choice(n, size=k, replace=False)
    bases = [(int(c) // cols, int(c) % cols) for c in cells]
    tam = rng.integers(50, 150, size=n).astype(float)
    units = rng.integers(1, 4, size=n).astype(float)
    balance = BalanceConfig(tam_tolerance=0.35, account_units_min=units.sum() / k * 0.6,
                            account_units_max=units.sum() / k * 1.4)
    p = grid_problem(rows, cols, bases, tam=tam, units=units, balance=balance)
    try:
        r = solve_assignment(p, SOLVER)
    except InfeasibleError as exc:
        assert str(exc)  # always explained
        return
    assert len(r.rep_of_unit) == n and set(r.rep_of_unit) <= set(range(k))
    assert check_plan(p, r.rep_of_unit) == []
    assert r.bound is None or r.bound <= r.objective + 1e-6
