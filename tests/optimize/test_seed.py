"""Seed stage: k-means centres, LP re-centring, root units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from territory.errors import InputError
from territory.optimize import AssignProblem, BandRules, Solver, lp_relaxation
from territory.optimize.seed import (
    kmeans_centres,
    project_points,
    rebalance_centres,
    root_units,
    seed_centres,
)

SOLVER = Solver(time_limit=20)


def ohio_like_units(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Units in a 2 x 2 degree box, a dense 'city' in one corner."""
    rng = np.random.default_rng(seed)
    lon = -83.0 + rng.random(n) * 2
    lat = 40.0 + rng.random(n) * 2
    city = rng.random(n) < 0.4
    lon[city] = -82.9 + rng.random(city.sum()) * 0.2
    lat[city] = 40.0 + rng.random(city.sum()) * 0.2
    au = rng.integers(1, 6, n).astype(float)
    return pd.DataFrame({"unit_id": [f"u{i}" for i in range(n)], "lon": lon, "lat": lat,
                         "tam": au * 1000.0, "account_units": au})


def test_project_points_is_in_kilometres():
    xy = project_points(np.array([-83.0, -82.0]), np.array([40.0, 40.0]))
    assert np.linalg.norm(xy[0] - xy[1]) == pytest.approx(85.0, rel=0.03)


def test_kmeans_centres_are_deterministic_and_ordered():
    units = ohio_like_units()
    a = kmeans_centres(units, 4, seed=1)
    b = kmeans_centres(units, 4, seed=1)
    assert np.array_equal(a, b)
    assert (np.diff(a[:, 0]) >= 0).all()  # west to east


def test_kmeans_centres_do_not_depend_on_the_thread_count():
    """The same centres to the last bit whatever OpenMP may use (machines differ in cores)."""
    import sklearn.cluster  # noqa: F401 - loads the OpenMP runtime the limits act on
    from threadpoolctl import threadpool_limits

    units = ohio_like_units(3000, seed=4)
    with threadpool_limits(limits=1, user_api="openmp"):
        one = kmeans_centres(units, 12, seed=2)
    with threadpool_limits(limits=4, user_api="openmp"):
        four = kmeans_centres(units, 12, seed=2)
    assert np.array_equal(one, four)


def test_lp_share_is_a_fractional_assignment():
    units = ohio_like_units(60)
    xy = project_points(units["lon"].to_numpy(), units["lat"].to_numpy())
    centres = kmeans_centres(units, 3, seed=0)
    cost = np.linalg.norm(xy[:, None] - centres[None], axis=2)
    p = AssignProblem.create(
        tuple(units["unit_id"]), ("a", "b", "c"), units["tam"].to_numpy(float),
        units["account_units"].to_numpy(float), cost,
        BandRules(soft_tam=True, soft_account_units=True, account_units_min=0,
                  account_units_max=1e9))
    share = lp_relaxation(p, SOLVER, k=2, price=False).share(60, 3)
    assert share.shape == (60, 3)
    assert share.sum(axis=1) == pytest.approx(np.ones(60))
    assert ((share > 1e-9).sum(axis=1) <= 2).all()  # only the 2 cheapest reps


def test_rebalancing_lowers_the_banded_lp_cost():
    units = ohio_like_units()
    balance = BandRules(tam_tolerance=0.05, account_units_min=85, account_units_max=95)
    xy = project_points(units["lon"].to_numpy(), units["lat"].to_numpy())

    def lp_cost(c):
        p = AssignProblem.create(
            tuple(units["unit_id"]), tuple("abcd"), units["tam"].to_numpy(float),
            units["account_units"].to_numpy(float),
            np.linalg.norm(xy[:, None] - c[None], axis=2), balance)
        return lp_relaxation(p, SOLVER, k=2, price=False).bound

    start = kmeans_centres(units, 4, seed=0)
    moved = rebalance_centres(units, start, balance, SOLVER, rounds=3)
    again = rebalance_centres(units, start, balance, SOLVER, rounds=3)
    assert np.array_equal(moved, again)
    assert moved.shape == (4, 2) and np.isfinite(moved).all()
    before, after = lp_cost(start), lp_cost(moved)
    assert before is not None and after is not None  # band LP feasible with 2 candidates
    assert after <= before


def test_seed_centres_and_roots_are_distinct_units():
    units = ohio_like_units()
    centres = seed_centres(units, 5, BandRules(account_units_min=50, account_units_max=100),
                           SOLVER, seed=0)
    assert centres.shape == (5, 2)
    roots = root_units(units, centres)
    assert len(set(roots.tolist())) == 5


def test_more_centres_than_units_is_an_input_error():
    with pytest.raises(InputError, match="cannot seed 5 territories from 3 units"):
        kmeans_centres(ohio_like_units(3), 5)
