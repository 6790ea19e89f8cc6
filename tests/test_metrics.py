"""Scorecard figures: quota with cap and ramp, disruption, fairness, formula-safe exports."""

from __future__ import annotations

import networkx as nx
import pandas as pd
import pytest

from territory.config import QuotaConfig
from territory.io.export import safe_csv_value, write_csv
from territory.metrics import (contiguity_report, disruption, fairness, quota_table,
                               rep_scorecard, tam_cv)


def card_of(tams, units=None):
    n = len(tams)
    return pd.DataFrame({"rep_id": [f"R{i}" for i in range(n)], "name": "x",
                         "tam": [float(t) for t in tams],
                         "account_units": units or [120] * n})


def test_quota_is_team_average_times_tam_index_capped():
    # Mean TAM 3M: the domain's own examples give 1.33x and 0.67x, capped at +-30%.
    card = card_of([4e6, 2e6, 3e6])
    reps = pd.DataFrame({"rep_id": card["rep_id"], "start_date": ""})
    q = quota_table(card, reps, QuotaConfig(team_target=9e6, cap=0.30, as_of="2026-11-23"))
    assert q["quota_multiplier"].tolist() == pytest.approx([1.3, 0.7, 1.0])
    assert q["quota"].tolist() == pytest.approx([3.9e6, 2.1e6, 3e6])


def test_ramp_by_months_since_start():
    card = card_of([1e6] * 4)
    reps = pd.DataFrame({"rep_id": card["rep_id"],
                         "start_date": ["2026-10-01", "2026-07-01", "2026-01-15", "bad"]})
    q = quota_table(card, reps, QuotaConfig(team_target=4e6, as_of="2026-11-23"))
    # Oct -> 2 months (60%), Jul -> 5 months (80%), Jan -> 11 months (100%), unknown -> 100%
    assert q["ramp"].tolist() == [0.6, 0.8, 1.0, 1.0]
    assert q["quota"].tolist() == pytest.approx([6e5, 8e5, 1e6, 1e6])


def test_disruption_counts_only_owned_accounts_that_change_rep():
    acc = pd.DataFrame({"account_id": list("abcd"), "revenue": [10.0, 20.0, 30.0, 40.0],
                        "current_rep": ["R1", "R1", "R2", pd.NA], "rep_id": ["R1", "R2", "R2", "R1"],
                        "account_units": 1})
    d = disruption(acc)
    assert d["accounts_moved"] == 1 and d["tam_moved"] == 20.0
    assert d["moved_share"] == pytest.approx(1 / 3)
    assert d["matrix"] == [{"from": "R1", "to": "R2", "accounts": 1}]


def test_fairness_flags_below_eighty_percent():
    acc = pd.DataFrame({"current_rep": ["R0", "R1", "R2", "R3", "R4"],
                        "revenue": [100.0] * 5, "account_units": [120] * 5})
    card = card_of([100, 100, 100, 100, 50], units=[120, 120, 120, 120, 120])
    f = fairness(card, acc, (100, 150))
    assert f["fairness_share"] == pytest.approx(0.8) and not f["fairness_flag"]
    card = card_of([100, 100, 100, 60, 50], units=[120] * 5)
    f = fairness(card, acc, (100, 150))
    assert f["fairness_share"] == pytest.approx(0.6) and f["fairness_flag"]
    assert f["worse_off"] == ["R3", "R4"]


def test_scorecard_flags_band_breaches_and_cv():
    acc = pd.DataFrame({"rep_id": ["R0", "R0", "R1"], "revenue": [100.0, 100.0, 100.0],
                        "account_units": [60, 60, 200]})
    units = pd.DataFrame({"unit_id": ["a", "b"], "rep_id": ["R0", "R1"]})
    reps = pd.DataFrame({"rep_id": ["R0", "R1"], "name": ["Ann", "Bo"]})
    card = rep_scorecard(acc, units, reps, tam_tolerance=0.15, units_band=(100, 150))
    assert card["flags"].tolist() == ["tam_band", "tam_band;units_band"]
    assert card["tam_index"].tolist() == pytest.approx([200 / 150, 100 / 150], rel=1e-3)
    assert tam_cv(card) == pytest.approx(50 / 150)


def test_contiguity_report_counts_pieces():
    g = nx.path_graph(["a", "b", "c", "d"])
    units = pd.DataFrame({"unit_id": ["a", "b", "c", "d"], "rep_id": ["X", "Y", "X", "X"]})
    assert contiguity_report(units, g) == {"X": 2, "Y": 1}


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)",
                                  "\tx", "\rx"])
def test_formula_cells_are_neutralised(cell, tmp_path):
    assert safe_csv_value(cell).startswith("'")
    p = write_csv(pd.DataFrame({"name": [cell], "n": [-5]}), tmp_path / "x.csv")
    text = p.read_bytes().decode("utf-8")
    assert "'" + cell[:1] in text
    assert ",-5" in text  # numbers stay numbers


def test_plain_text_untouched():
    assert safe_csv_value("Acme, Inc.") == "Acme, Inc."
    assert safe_csv_value(3.5) == 3.5
