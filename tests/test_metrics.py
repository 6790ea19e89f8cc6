"""Scorecard figures: quota with cap and ramp, disruption, fairness, formula-safe exports."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from territory.config import QuotaConfig
from territory.io.export import safe_csv_value, unguard_csv_value, write_csv
from territory.metrics import (contiguity_report, disruption, fairness, moved_mask, quota_table,
                               rep_scorecard, tam_cv, unit_owner)


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


def test_compactness_of_hand_drawn_territories():
    """A square scores π/4; a 1×9 strip of the same area scores 4π·9/20² ≈ 0.283."""
    import geopandas as gpd
    import shapely

    from territory.metrics import compactness_scores

    # work in a projected CRS so the shapes are exact squares on the ground (EPSG:5070, metres)
    cells = [shapely.box(x * 1000, 0, (x + 1) * 1000, 1000) for x in range(9)]
    cells += [shapely.box(10_000 + (i % 3) * 1000, (i // 3) * 1000,
                          10_000 + (i % 3 + 1) * 1000, (i // 3 + 1) * 1000) for i in range(9)]
    units = gpd.GeoDataFrame({"unit_id": [str(i) for i in range(18)],
                              "rep_id": ["strip"] * 9 + ["square"] * 9},
                             geometry=cells, crs="EPSG:5070").to_crs("EPSG:4326")
    homes = gpd.GeoSeries(gpd.points_from_xy([500, 11_500], [500, 1_500]), crs="EPSG:5070").to_crs(4326)
    reps = pd.DataFrame({"rep_id": ["strip", "square", "nobody"],
                         "lon": list(homes.x) + [0.0], "lat": list(homes.y) + [0.0]})
    # two accounts of the strip: one at home (weight 1), one 8 km east (weight 3) -> 6 km
    pts = gpd.GeoSeries(gpd.points_from_xy([500, 8_500, 11_500], [500, 500, 1_500]),
                        crs="EPSG:5070").to_crs(4326)
    accounts = pd.DataFrame({"rep_id": ["strip", "strip", "square"], "revenue": [1.0, 3.0, 5.0],
                             "lon": pts.x, "lat": pts.y})
    out = compactness_scores(units, accounts, reps).set_index("rep_id")
    assert out.loc["square", "polsby_popper"] == pytest.approx(np.pi / 4, abs=2e-3)
    assert out.loc["strip", "polsby_popper"] == pytest.approx(4 * np.pi * 9 / 400, abs=2e-3)
    assert out.loc["strip", "tam_weighted_km"] == pytest.approx(6.0, abs=0.01)
    assert out.loc["square", "tam_weighted_km"] == pytest.approx(0.0, abs=0.01)
    assert np.isnan(out.loc["nobody", "polsby_popper"]) and np.isnan(out.loc["nobody", "tam_weighted_km"])


def test_moved_mask_is_one_rule_for_na_and_blank_owners():
    before = pd.Series(["R1", "R1", None, "", "R2"], dtype=object)
    after = pd.Series(["R1", "R2", "R1", "R1", "R1"])
    assert moved_mask(before, after).tolist() == [False, True, False, False, True]
    acc = pd.DataFrame({"current_rep": before, "rep_id": after, "revenue": [1.0] * 5})
    assert disruption(acc.iloc[[0, 1, 2, 4]])["accounts_moved"] == 2


def test_unit_owner_is_the_rep_with_most_revenue_ties_to_the_smaller_id():
    acc = pd.DataFrame({"unit_id": ["u1", "u1", "u1", "u2", "u2", "u3"],
                        "current_rep": ["B", "A", "A", "B", "A", None],
                        "revenue": [5.0, 3.0, 3.0, "2", 2.0, 9.0]})
    owner = unit_owner(acc)
    assert owner.to_dict() == {"u1": "A", "u2": "A"}


@pytest.mark.parametrize("text", ["=SUM(A1)", "+1", "-x", "@cmd", "\tx", "plain", "'quoted"])
def test_formula_guard_round_trips(text):
    assert unguard_csv_value(safe_csv_value(text)) == text


def test_quota_is_empty_without_a_team_target():
    card = card_of([4e6, 2e6])
    reps = pd.DataFrame({"rep_id": card["rep_id"], "start_date": ""})
    q = quota_table(card, reps, QuotaConfig(as_of="2026-11-23"))
    assert q["quota"].isna().all()                       # not 0: no target was set
    assert q["quota_multiplier"].tolist() == pytest.approx([1.3, 0.7])


def test_half_capacity_rep_on_target_reads_one_and_is_held_to_half_the_band():
    # R0 full-time, R1 half-time: the optimizer's targets are 2/3 and 1/3 of the TAM and the
    # account-unit bands 100-150 and 50-75
    from territory.optimize import BandRules, rep_targets

    t = rep_targets(300.0, BandRules(0.15, 100, 150), np.array([1.0, 0.5]))
    assert t.tam.tolist() == pytest.approx([200, 100])
    assert t.account_units_lo.tolist() == [100, 50] and t.account_units_hi.tolist() == [150, 75]
    acc = pd.DataFrame({"rep_id": ["R0", "R0", "R1"], "revenue": [100.0, 100.0, 100.0],
                        "account_units": [60, 60, 60]})
    units = pd.DataFrame({"unit_id": ["a", "b"], "rep_id": ["R0", "R1"]})
    reps = pd.DataFrame({"rep_id": ["R0", "R1"], "name": ["Ann", "Bo"]})
    card = rep_scorecard(acc, units, reps, tam_tolerance=0.15,
                         units_band=(t.account_units_lo, t.account_units_hi),
                         tam_target=pd.Series(t.tam, index=["R0", "R1"]))
    assert card["tam_index"].tolist() == pytest.approx([1.0, 1.0])
    assert card["flags"].tolist() == ["", ""]          # 60 account units is in R1's 50-75
    # the same book with a flat band flags the half-time rep, as the optimizer would not
    flat = rep_scorecard(acc, units, reps, tam_tolerance=0.15, units_band=(100, 150),
                         tam_target=pd.Series(t.tam, index=["R0", "R1"]))
    assert flat["flags"].tolist() == ["", "units_band"]


def test_plan_with_a_half_capacity_rep_is_scored_against_its_capacity(tmp_path):
    from books import multistate_book
    from territory.config import ScenarioConfig
    from territory.pipeline import plan, prepare

    # 3 reps of capacity 0.5, 1, 1 share ~284 account units: ~57 for the half-time rep
    book = multistate_book(tmp_path, n_accounts=200, states=("OH", "IN", "KY"), n_reps=3,
                           seed=1)
    reps = pd.read_csv(book.reps, dtype=str)
    half = reps["rep_id"].iat[0]
    reps.loc[0, "capacity"] = "0.5"
    reps.to_csv(book.reps, index=False)
    cfg = ScenarioConfig().replace(contiguity=False)
    res = plan(prepare(book.accounts, book.reps, cfg), cfg)
    card = res.scorecard.set_index("rep_id")
    b = cfg.balance
    # the optimizer planned the half-time rep on half the band and half a share of TAM ...
    assert b.account_units_min / 2 <= card.at[half, "account_units"] <= b.account_units_max / 2
    full_share = card["tam"].sum() / (len(card) - 0.5)
    assert card.at[half, "tam"] == pytest.approx(full_share / 2, rel=b.tam_tolerance)
    # ... and the scorecard agrees: on target (index near 1, not 0.5) and not flagged
    assert card.at[half, "tam_index"] == pytest.approx(1.0, abs=b.tam_tolerance + 1e-6)
    assert "units_band" not in card.at[half, "flags"] and "tam_band" not in card.at[half, "flags"]
    assert card["tam_index"].between(1 - b.tam_tolerance - 1e-6, 1 + b.tam_tolerance + 1e-6).all()
    assert res.summary.violations == ()


def test_streamed_workbook_keeps_types_blanks_and_guards(tmp_path):
    from openpyxl import load_workbook

    from territory.io.export import write_excel

    df = pd.DataFrame({"id": ["a", "=cmd", "b"], "revenue": [1.5, np.nan, 3.0],
                       "units": np.array([1, 2, 3], dtype="int64"), "moved": [True, False, True],
                       "rep": pd.array(["R1", pd.NA, "R2"], dtype="string")})
    p = write_excel({"all accounts": df, "R1/x:y": df.head(1), "r1/X:Y": df.tail(1)},
                    tmp_path / "w.xlsx")
    wb = load_workbook(p)
    assert wb.sheetnames == ["all accounts", "R1xy", "r1XY (2)"]
    rows = list(wb["all accounts"].iter_rows(values_only=True))
    assert rows[0] == ("id", "revenue", "units", "moved", "rep")
    assert rows[1] == ("a", 1.5, 1, True, "R1")
    assert rows[2] == ("'=cmd", None, 2, False, None)      # guarded; NaN and NA are empty cells
    assert len(rows) == 4


def test_dissolve_territories_equals_the_overlay_union_on_a_multistate_book(tmp_path):
    """The coverage union (reps of clean units) and the overlay (the others) give the overlay
    union's shapes: checked on approximate ZIP areas of two states, some cut in two (their
    pieces' edges have vertices the neighbours lack, so their reps take the overlay path)."""
    import geopandas as gpd
    import shapely
    from books import multistate_book

    from territory.config import ScenarioConfig
    from territory.geo.reference import EQUAL_AREA_CRS
    from territory.metrics import compactness_scores, dissolve_territories
    from territory.pipeline import prepare

    book = multistate_book(tmp_path, n_accounts=120, states=("OH", "IN"), seed=3)
    units = prepare(book.accounts, book.reps, ScenarioConfig()).units
    units = units[["unit_id", "lon", "lat", "geometry"]].reset_index(drop=True)
    big = pd.Series(shapely.area(units.geometry.to_numpy())).nlargest(15).index  # degrees²: a rank
    pieces = []
    for i in big:  # cut each in two along its centroid's meridian
        g = units.geometry[i]
        x = g.centroid.x
        x0, y0, x1, y1 = g.bounds
        for k, half in enumerate((shapely.box(x0 - 1, y0 - 1, x, y1 + 1),
                                  shapely.box(x, y0 - 1, x1 + 1, y1 + 1))):
            pieces.append({**units.loc[i].to_dict(), "unit_id": f"{units.unit_id[i]}-{k}",
                           "geometry": g.intersection(half)})
    units = gpd.GeoDataFrame(pd.concat([units.drop(index=big), pd.DataFrame(pieces)]),
                             geometry="geometry", crs="EPSG:4326").reset_index(drop=True)
    centres = np.array([[-86.3, 39.8], [-82.9, 40.0], [-84.5, 41.3], [-85.0, 38.5]])
    reps = pd.DataFrame({"rep_id": ["a", "b", "c", "d"], "lon": centres[:, 0],
                         "lat": centres[:, 1]})
    units["rep_id"] = reps["rep_id"].to_numpy()[np.argmin(np.hypot(
        units["lon"].to_numpy()[:, None] - centres[:, 0],
        units["lat"].to_numpy()[:, None] - centres[:, 1]), axis=1)]
    units.loc[units.index[::97], "rep_id"] = None  # unassigned units are left out

    got = dissolve_territories(units)
    assigned = units.dropna(subset=["rep_id"])
    snapped = shapely.set_precision(shapely.make_valid(assigned.geometry.values), 1e-6)
    want = gpd.GeoDataFrame({"rep_id": assigned["rep_id"].to_numpy()}, geometry=snapped,
                            crs="EPSG:4326").dissolve("rep_id", as_index=False)
    assert got["rep_id"].tolist() == want["rep_id"].tolist() == ["a", "b", "c", "d"]
    for g, w in zip(got.geometry, want.geometry):
        assert g.is_valid and g.equals(w)
        assert g.area == pytest.approx(w.area, rel=1e-12)
        assert g.length == pytest.approx(w.length, rel=1e-12)
        assert len(shapely.get_parts(g)) == len(shapely.get_parts(w))
    # the scorecard's compactness reads the same shapes (cached snapping, same answer twice)
    pp = compactness_scores(units, pd.DataFrame(columns=["rep_id", "revenue", "lon", "lat"]),
                            reps).set_index("rep_id")["polsby_popper"]
    area = want.set_index("rep_id").geometry.to_crs(EQUAL_AREA_CRS)
    assert pp.to_numpy() == pytest.approx((4 * np.pi * area.area / area.length ** 2).round(4)
                                          .to_numpy(), abs=1e-12)
    # the same shapes with other owners are dissolved anew, not read from the first plan's
    swapped = units.assign(rep_id=units["rep_id"].map({"a": "b", "b": "a", "c": "c", "d": "d"}))
    again = dissolve_territories(swapped).set_index("rep_id").geometry
    first = got.set_index("rep_id").geometry
    assert again["a"].equals(first["b"]) and again["b"].equals(first["a"])
    assert again["c"].equals(first["c"])
    # snapped shapes kept from before (a file of an earlier run) are the ones dissolved
    from territory.metrics import remember_snapped, snapped_shapes, snapping_key

    key = snapping_key(units)
    snapped, clean = snapped_shapes(key)
    remember_snapped(key, shapely.transform(snapped, lambda c: c + [1.0, 0.0]), clean)
    moved = dissolve_territories(units.assign(rep_id=units["rep_id"].where(
        units["rep_id"] != "a", "z")))  # another plan: dissolved anew from the kept shapes
    b = moved.set_index("rep_id").geometry["b"]
    assert b.area == pytest.approx(first["b"].area, rel=1e-6)  # shifted by one degree
    assert b.bounds == pytest.approx(tuple(np.add(first["b"].bounds, [1.0, 0.0, 1.0, 0.0])))
