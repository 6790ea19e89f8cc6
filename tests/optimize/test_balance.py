"""The balance term and the balance-first mode on an instance whose optimum is known by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from territory.optimize import AssignProblem, BandRules, Solver, solve
from territory.optimize.problem import Balancing

SOLVER = Solver(time_limit=20, mip_gap=0.0)


def four_units(balancing: Balancing | None = None) -> AssignProblem:
    """TAM 100/200/300/400 (target 500 each), one account unit each, bands wide open.

    Travel alone: u0, u1 to R0 and u2, u3 to R1 (cost 2), TAM 300 / 700 (40% off).
    The only perfectly balanced splits are {u0, u3} / {u1, u2} (cost 3 + 5 = 8) and
    {u1, u2} / {u0, u3} (cost 5 + 4 = 9): balance first must pick the former.
    """
    cost = np.array([[0.0, 4.0], [1.0, 4.0], [4.0, 1.0], [3.0, 0.0]])
    return AssignProblem.create(
        ("u0", "u1", "u2", "u3"), ("R0", "R1"), [100.0, 200.0, 300.0, 400.0], np.ones(4), cost,
        BandRules(tam_tolerance=1.0, account_units_min=0, account_units_max=10),
        balancing=balancing)


def test_travel_alone_ignores_balance():
    r = solve(four_units(), SOLVER)
    assert r.rep_of_unit.tolist() == [0, 0, 1, 1]
    assert four_units().largest_deviation(r.rep_of_unit) == pytest.approx(0.4)


def test_balance_first_finds_the_cheapest_perfect_split():
    p = four_units(Balancing(first=True, slack=0.0))
    r = solve(p, SOLVER)
    assert r.rep_of_unit.tolist() == [0, 1, 1, 0]
    assert p.largest_deviation(r.rep_of_unit) == pytest.approx(0.0)
    assert r.objective == pytest.approx(8.0)


def test_a_stated_slack_lets_travel_back_in():
    # 40% of slack admits the travel-only plan again
    r = solve(four_units(Balancing(first=True, slack=0.4)), SOLVER)
    assert r.rep_of_unit.tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize("weight, plan", [(5.0, [0, 0, 1, 1]), (10.0, [0, 1, 1, 0])])
def test_balance_weight_trades_travel_for_deviation(weight, plan):
    # travel plan: cost 2, deviation 200/500 per rep -> 0.8 in units of the mean target;
    # balanced plan: cost 8, deviation 0. The term wins when weight x 0.8 > 6.
    r = solve(four_units(Balancing(weight=weight)), SOLVER)
    assert r.rep_of_unit.tolist() == plan
    assert r.objective == pytest.approx(min(2 + weight * 0.8, 8.0))


def test_a_plan_is_a_feasible_start_for_the_balance_models():
    """Balance first hands phase 2 the travel plan (phase 3 its plan) as a start: the
    deviation columns and z must be filled so that every row holds."""
    from territory.optimize.formulation import build_formulation
    from territory.optimize.lns import whole_start

    p = four_units(Balancing(first=True))
    pairs = (np.repeat(np.arange(4), 2), np.tile(np.arange(2), 4))
    travel = np.array([0, 0, 1, 1])  # largest deviation 0.4
    for options in ({"balance_phase": "minimise", "max_deviation": 0.4 + 1e-9},
                    {"max_deviation": 0.5}, {}):
        form = build_formulation(p, pairs, **options)
        x = whole_start(form, p, travel)
        assert x is not None
        act = form.matrix @ x
        assert (act >= form.row_lower - 1e-9).all() and (act <= form.row_upper + 1e-9).all()
        assert (x >= form.lower - 1e-9).all() and (x <= form.upper + 1e-9).all()
        assert x[form.max_deviation] == pytest.approx(0.4)
    # a plan above the cap is no start
    tight = build_formulation(p, pairs, balance_phase="minimise", max_deviation=0.1)
    assert whole_start(tight, p, travel) is None

