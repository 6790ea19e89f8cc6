"""The exact wording of every kind of infeasibility explanation: one sentence per cause."""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest

from territory.errors import InfeasibleError
from territory.optimize import AssignProblem, BandRules, Disruption, solve

from .test_assign import SOLVER, grid_problem


def rules(**kw) -> BandRules:
    return BandRules(**{"tam_tolerance": 1.0, "account_units_min": 0, "account_units_max": 1e9,
                        **kw})


def line4(**kw) -> AssignProblem:
    return grid_problem(1, 4, [(0, 0), (0, 3)], **kw)


def outlier() -> AssignProblem:
    # one account of 1e15 among ordinary ones, three reps: the tolerance it would need (2.0)
    # is above what the configuration accepts, so it is not advised
    return grid_problem(1, 6, [(0, 0), (0, 3), (0, 5)], tam=[100, 1e15, 100, 100, 100, 100],
                        balance=rules(tam_tolerance=0.15))


def rep_count_problem() -> AssignProblem:
    n = 10
    return AssignProblem.create(
        tuple(f"u{i}" for i in range(n)), tuple(f"R{j}" for j in range(12)),
        np.array([300.0] + [1700 / 9] * 9), np.full(n, 100.0), np.zeros((n, 12)),
        BandRules(tam_tolerance=0.15, account_units_min=100, account_units_max=150))


moved = np.zeros((4, 2))
moved[:, 0] = 10.0  # every unit is R1's today

CASES = {
    "lock on a home base": (
        line4(locks={0: 1}, balance=rules()),
        "Unit u0 is locked to R1 but is the home base of R0: unlock it or move R0's home base."),
    "units cut off from every home": (
        dataclasses.replace(grid_problem(1, 4, [(0, 0), (0, 1)]),
                            adjacency=nx.Graph([("u0", "u1"), ("u2", "u3")])),
        "Contiguity cannot hold: 2 units are not connected to any rep's home base in the "
        "adjacency graph (u2, u3); add a home base there, join the pieces in the adjacency "
        "graph or turn contiguity off."),
    "account units, no rep count fits": (
        grid_problem(2, 2, [(0, 0), (1, 1)], balance=rules(account_units_min=5,
                                                            account_units_max=6)),
        "The account-units band cannot hold: 2 reps at 5–6 account units each need 10–12, but "
        "the accounts total 4 (2.0 per rep); no rep count fits both bands, so lower "
        "account_units_min to at most 2."),
    "account units, one rep count fits": (
        rep_count_problem(),
        "The account-units band cannot hold: 12 reps at 100–150 account units each need "
        "1200–1800, but the accounts total 1000 (83.3 per rep); use 7 reps (the range both "
        "bands allow) or lower account_units_min to at most 83."),
    "one unit above the account-units band (ZIP plan)": (
        dataclasses.replace(line4(units=[1, 200, 1, 1], balance=rules(account_units_max=150)),
                            unit_level="zip"),
        "The account-units band cannot hold: unit u1 alone has 200 account units, above the 150 "
        "maximum of any rep; raise account_units_max to at least 200."),
    "one unit above the account-units band (county plan)": (
        dataclasses.replace(line4(units=[1, 200, 1, 1], balance=rules(account_units_max=150)),
                            unit_level="county"),
        "The account-units band cannot hold: unit u1 alone has 200 account units, above the 150 "
        "maximum of any rep; raise account_units_max to at least 200 or use ZIP units instead "
        "of counties."),
    "one unit above the TAM band": (
        line4(tam=[100, 900, 100, 100], balance=rules(tam_tolerance=0.15)),
        "The TAM band cannot hold: unit u1 alone has TAM $900, 50% over a territory's target of "
        "$600 (allowed +15%); widen tam_tolerance to at least 0.50 or use at most 1 rep."),
    "an outlier no tolerance can hold": (
        outlier(),
        "The TAM band cannot hold: unit u1 alone has TAM $1,000T, 200% over a territory's "
        "target of $333T (allowed +15%); use at most 1 rep."),
    "TAM breaches of the closest plan": (
        line4(tam=[100, 300, 100, 100], balance=rules(tam_tolerance=0.10)),
        "Rep R1's TAM falls $70 short of the band's lower edge of $270 (23.3% of its target).\n"
        "Rep R0's TAM exceeds the band's upper edge of $330 by $70 (23.3% of its target).\n"
        "What would make it feasible: widen tam_tolerance to at least 0.34."),
    "account-unit breaches of the closest plan": (
        line4(units=[1, 3, 1, 1], balance=rules(account_units_min=3, account_units_max=3)),
        "Rep R1 is 1 account unit below the band's lower edge of 3.\n"
        "Rep R0 is 1 account unit above the band's upper edge of 3.\n"
        "What would make it feasible: widen the account-units band to about 2–4."),
    "disruption cap": (
        line4(disruption=Disruption(moved, 40.0, 0.25), contiguity=False, roots=None,
              balance=rules(account_units_min=2, account_units_max=2)),
        "The plan must move 50.0% of the current book, above the disruption cap of 25%.\n"
        "What would make it feasible: raise disruption.max_moved_share to at least 0.50."),
    "locks": (
        line4(contiguity=False, roots=None, locks={0: 1, 1: 1, 3: 1},
              balance=rules(account_units_min=2, account_units_max=2)),
        "The locks make the plan infeasible: every band can be met once the lock u0→R1 is "
        "released; unlock it, lock the unit to another rep or widen the bands."),
    "contiguity, for any choice of centres": (
        dataclasses.replace(line4(tam=[100, 300, 100, 100], balance=rules(tam_tolerance=0.0)),
                            movable_roots=True),
        "Contiguity cannot hold together with the bands for any choice of centres: every plan "
        "that meets the bands splits some territory into pieces; turn contiguity off or widen "
        "the bands."),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_explanation_wording(kind):
    problem, text = CASES[kind]
    with pytest.raises(InfeasibleError) as err:
        solve(problem, SOLVER)
    assert str(err.value) == text


def test_no_advice_outside_what_the_config_accepts():
    with pytest.raises(InfeasibleError) as err:
        solve(outlier(), SOLVER)
    assert "tam_tolerance" not in str(err.value)
    assert "finer units" not in str(err.value) and "ZIP" not in str(err.value)
