"""National books: the multi-state book generator and planning it with most ZIPs empty."""

from __future__ import annotations

import pandas as pd

from books import multistate_book
from territory.config import ScenarioConfig
from territory.geo.geocode import geocode_accounts
from territory.io.accounts import assign_tiers, read_table, validate_accounts


def test_book_is_deterministic_and_its_rejects_are_counted(tmp_path):
    a = multistate_book(tmp_path / "a", n_accounts=200, seed=3)
    b = multistate_book(tmp_path / "b", n_accounts=200, seed=3)
    assert a.accounts.read_bytes() == b.accounts.read_bytes()
    assert a.reps.read_bytes() == b.reps.read_bytes()
    raw, _ = read_table(a.accounts)
    cfg = ScenarioConfig()
    acc, rejects = validate_accounts(raw, cfg.columns)
    acc, geo_rejects = geocode_accounts(assign_tiers(acc, cfg.tiers))
    assert len(raw) == a.n_rows == 200
    assert len(rejects) + len(geo_rejects) == a.expected_rejects > 0
    assert set(acc["state"]) <= set(a.states) and len(set(acc["state"])) >= 3
    assert int(acc["account_units"].sum()) == a.total_account_units
    assert acc["zip"].nunique() == a.zips_used
    # heavy tail: the largest account dwarfs the median
    assert acc["revenue"].max() > 30 * acc["revenue"].median()
    assert acc["current_rep"].notna().mean() > 0.8
    reps = pd.read_csv(a.reps, dtype=str)
    assert list(reps.columns) == ["rep_id", "name", "home_zip", "capacity"]
    assert len(reps) == a.n_reps and 100 <= a.total_account_units / a.n_reps <= 150
