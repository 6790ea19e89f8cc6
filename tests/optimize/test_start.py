"""A start plan, the engine rule by model size, and repeatable contiguity LNS."""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest

from territory.optimize import AssignProblem, BandRules, Solver, check_plan, solve
from territory.optimize.formulation import build_formulation, candidate_pairs
from territory.optimize.solve import WHOLE_MAX_COLUMNS_CONTIGUOUS, choose_engine, model_columns

from .test_assign import random_problem


def _grid(rows: int, cols: int, n_reps: int, *, seed: int = 0) -> AssignProblem:
    """Skewed TAM on a rook grid, bases spread along the diagonal, both bands."""
    rng = np.random.default_rng(seed)
    n = rows * cols
    pos = np.array([[i // cols, i % cols] for i in range(n)], dtype=float)
    graph = nx.relabel_nodes(nx.grid_2d_graph(rows, cols),
                             {(r, c): f"u{r * cols + c}" for r in range(rows) for c in range(cols)})
    step = n // n_reps
    roots = tuple(int(i * step + (i * step // cols) % 3) for i in range(n_reps))
    tam = rng.lognormal(0.0, 0.6, n)
    au = rng.integers(1, 4, n).astype(float)
    per = au.sum() / n_reps
    cost = (tam / tam.mean())[:, None] * np.abs(pos[:, None, :] - pos[list(roots)][None]).sum(2)
    return AssignProblem.create(
        tuple(f"u{i}" for i in range(n)), tuple(f"R{j}" for j in range(n_reps)), tam, au, cost,
        BandRules(0.15, 0.8 * per, 1.2 * per), contiguity=True, adjacency=graph, roots=roots)


def test_model_columns_count_pairs_and_flow_arcs():
    p = _grid(6, 6, 4)
    k = 4
    form = build_formulation(p, candidate_pairs(p, k))
    into_roots = sum(1 for r, u in enumerate(p.roots)
                     for v in p.adjacency[p.unit_ids[u]])  # arcs into a root: no flow column
    assert model_columns(p, k) == form.n_pairs + len(form.flow_arcs) + into_roots
    flat = dataclasses.replace(p, contiguity=False)
    assert model_columns(flat, k) == len(candidate_pairs(flat, k)[0])


def test_auto_engine_weighs_the_whole_model_not_the_unit_count():
    small, big = _grid(6, 6, 4), _grid(20, 20, 8)
    assert model_columns(small, 4) <= WHOLE_MAX_COLUMNS_CONTIGUOUS < model_columns(big, 6)
    assert choose_engine(small, Solver(), 4) == "pulp"
    assert choose_engine(big, Solver(), 6) == "lns"
    # without contiguity the same 400 units are a small model
    assert choose_engine(dataclasses.replace(big, contiguity=False), Solver(), 6) == "pulp"
    # ... and 1,000 of them are not: the plain model on the k nearest reps is erratic there
    wide = dataclasses.replace(_grid(25, 40, 8), contiguity=False)
    assert choose_engine(wide, Solver(), 6) == "lns"


def test_without_contiguity_the_whole_priced_model_takes_over_once_the_bands_hold():
    p = random_problem(1500, 20, seed=3, tol=0.05, band=0.05)  # warm start 0.67% off
    r = solve(p, Solver(time_limit=60, mip_gap=0.005), seed=0)
    assert r.engine == "lns" and "hand_over" in r.timings
    assert r.timings.get("lns", 0.0) < r.timings["hand_over"]  # no pair search first
    assert r.status == "optimal" and r.gap <= 0.005
    assert check_plan(p, r.rep_of_unit) == []


@pytest.mark.parametrize("engine", ["pulp", "lns"])
def test_a_start_plan_is_never_beaten_by_a_worse_answer(engine):
    p = _grid(12, 12, 4, seed=2)
    first = solve(p, Solver(time_limit=20, engine=engine), seed=0)
    assert check_plan(p, first.rep_of_unit) == []
    again = solve(p, Solver(time_limit=20, engine=engine), seed=1, start=first.rep_of_unit)
    assert check_plan(p, again.rep_of_unit) == []
    assert again.objective <= first.objective + 1e-6 * abs(first.objective)


def test_contiguity_lns_repeats_itself():
    p = _grid(12, 12, 4, seed=4)
    runs = [solve(p, Solver(time_limit=30, engine="lns"), seed=3) for _ in range(2)]
    assert runs[0].solve_seconds < 25  # ended by itself, not by the clock
    assert check_plan(p, runs[0].rep_of_unit) == []
    assert np.array_equal(runs[0].rep_of_unit, runs[1].rep_of_unit)
