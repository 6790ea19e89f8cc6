"""Accounts and geocode stages: reading every format, every reject reason, tiers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from messy import COLUMNS, KINDS, make_messy, write_csv, write_excel, write_parquet
from territory.io import accounts as A
from territory.config import ColumnsConfig, ScenarioConfig, TierConfig
from territory.errors import InputError
from territory.geo.geocode import REASON_UNKNOWN_ZIP, geocode_accounts

DATA = Path(__file__).parent / "data"
DC_ZCTA = DATA / "zcta_dc.geojson"


def _csv(tmp_path: Path, text: str, name: str = "accounts.csv", encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


# ----------------------------------------------------------------------------- ZIPs and money


@pytest.mark.parametrize("raw, expected, fixed", [
    ("43215", "43215", False),
    ("43215-1234", "43215", True),       # ZIP+4
    ("43215 1234", "43215", True),
    ("432151234", "43215", True),        # 9 digits, no hyphen
    ("21341234", "02134", True),         # 9-digit ZIP+4 that lost its zero
    ("2134", "02134", True),             # 4-digit New England ZIP
    ("501", "00501", True),              # 3 digits (Holtsville, NY)
    ("43215.0", "43215", True),          # float column
    ("432151234.0", "43215", True),
    (" 43215 ", "43215", False),      # spaces are not a fix
    (43215.0, "43215", True),
])
def test_normalise_zip(raw, expected, fixed):
    assert A.normalise_zip(raw) == (expected, fixed)


@pytest.mark.parametrize("raw", ["", None, float("nan"), "ABCDE", "123456", "20-01", "DC 20001"])
def test_normalise_zip_rejects(raw):
    assert A.normalise_zip(raw)[0] is None


@pytest.mark.parametrize("raw, value, reason", [
    ("$45,000", 45000.0, None),
    (" 1,234.50 ", 1234.5, None),
    ("USD 900", 900.0, None),
    ("0", 0.0, None),
    ("", None, A.REASON_BLANK_REVENUE),
    ("N/A", None, A.REASON_BLANK_REVENUE),
    ("-", None, A.REASON_BLANK_REVENUE),
    ("-5", None, A.REASON_NEGATIVE_REVENUE),
    ("($1,200.00)", None, A.REASON_NEGATIVE_REVENUE),
    ("twelve", None, A.REASON_BAD_REVENUE),
    ("inf", None, A.REASON_BAD_REVENUE),
])
def test_parse_revenue(raw, value, reason):
    assert A.parse_revenue(raw) == (value, reason)


# ----------------------------------------------------------------------------- every reason


def test_every_reject_reason_once(tmp_path):
    text = (
        "account_id,name,zip,revenue,lat,lon,tier\n"
        "A1,ok,43215,5000,,,\n"                       # 1 ok
        ",blank id,43215,5000,,,\n"                   # 2
        "A1,dup,43215,5000,,,\n"                      # 3 duplicate (first kept)
        "A4,blank rev,43215,,,,\n"                    # 4
        "A5,neg rev,43215,-10,,,\n"                   # 5
        "A6,text rev,43215,lots,,,\n"                 # 6
        "A7,bad tier,43215,10,,,Z\n"                  # 7
        "A8,half coords,43215,10,39.9,,\n"            # 8
        "A9,text coords,43215,10,north,-83,\n"        # 9
        "A10,far coords,,10,95,-83,\n"                # 10
        "A11,bad zip,ZIPPY,10,,,\n"                   # 11
        "A12,nothing,,10,,,\n"                        # 12
        "A13,Acme, Inc.,43215,10,,,\n"                # 13 unquoted comma
        "A14,unknown zip,00000,10,,,\n"               # 14 (geocode)
    )
    raw, _ = A.read_table(_csv(tmp_path, text))
    acc, rej = A.validate_accounts(raw)
    assert len(acc) + len(rej) == len(raw) == 14
    reasons = dict(zip(rej["row"], rej["reason"]))
    assert reasons == {
        2: A.REASON_BLANK_ID, 3: A.REASON_DUPLICATE, 4: A.REASON_BLANK_REVENUE,
        5: A.REASON_NEGATIVE_REVENUE, 6: A.REASON_BAD_REVENUE, 7: A.REASON_BAD_TIER,
        8: A.REASON_MISSING_COORD, 9: A.REASON_NONNUMERIC_COORDS, 10: A.REASON_BAD_COORDS,
        11: A.REASON_BAD_ZIP, 12: A.REASON_NO_LOCATION, 13: A.REASON_EXTRA_FIELDS,
    }
    assert acc.loc[acc["row"] == 1, "name"].item() == "ok"  # the first A1 is the one kept
    located, geo_rej = geocode_accounts(A.assign_tiers(acc))
    assert geo_rej[["row", "reason"]].values.tolist() == [[14, REASON_UNKNOWN_ZIP]]
    assert set(located["row"]) == {1}


def test_coordinates_without_zip_get_a_state():
    acc = pd.DataFrame({"row": [1], "account_id": ["x"], "zip": [""], "lat": [38.9],
                        "lon": [-77.03]})
    located, rej = geocode_accounts(acc)
    assert rej.empty
    assert located.loc[0, "state"] == "DC" and located.loc[0, "point_source"] == "input lat/lon"


# ----------------------------------------------------------------------------- file problems


def test_cp1252_file_is_read_with_a_note(tmp_path):
    p = _csv(tmp_path, "account_id,name,zip,revenue\n1,Café Müller,43215,10\n2,Straße,43215,5\n",
             encoding="cp1252")
    raw, info = A.read_table(p)
    assert raw.loc[0, "name"] == "Café Müller"
    assert info.encoding == "cp1252"
    assert len(info.notes) == 1 and "Windows-1252" in info.notes[0] and "line 2" in info.notes[0]


def test_utf8_bom_and_utf16(tmp_path):
    text = "account_id,name,zip,revenue\n1,Café,43215,10\n"
    raw, info = A.read_table(_csv(tmp_path, "\ufeff" + text, "bom.csv"))
    assert list(raw.columns)[0] == "account_id" and info.notes == ()
    raw, _ = A.read_table(_csv(tmp_path, text, "u16.csv", encoding="utf-16"))
    assert raw.loc[0, "name"] == "Café"


def test_unreadable_encoding(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes(b"account_id,name\n1,\x81\x8d\x90\n")
    with pytest.raises(InputError, match=r"bad\.csv: unreadable encoding"):
        A.read_table(p)


@pytest.mark.parametrize("content, match", [
    ("", r"empty\.csv: the file is empty"),
    ("  \n\n", r"empty\.csv: the file is empty"),
    ("account_id,zip,revenue\n", r"empty\.csv: the file has a header but no data rows"),
])
def test_empty_files(tmp_path, content, match):
    with pytest.raises(InputError, match=match):
        A.read_table(_csv(tmp_path, content, "empty.csv"))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="nope.csv: file not found"):
        A.read_table(tmp_path / "nope.csv")


def test_other_delimiters_are_detected(tmp_path):
    # semicolons with "$45,000" in it: a naive sniffer picks the comma
    p = _csv(tmp_path, "account_id;name;zip;revenue\n1;A;43215;$45,000\n2;B;43215;$1,000\n")
    raw, info = A.read_table(p)
    assert info.delimiter == ";" and raw.loc[0, "revenue"] == "$45,000"
    p = _csv(tmp_path, "account_id\tzip\trevenue\n1\t43215\t5\n", "tabs.tsv")
    assert A.read_table(p)[1].delimiter == "\t"


def test_wrong_delimiter_message(tmp_path):
    p = _csv(tmp_path, "account_id:name:zip:revenue\n1:A:43215:10\n", "colons.csv")
    raw, _ = A.read_table(p)
    with pytest.raises(InputError) as err:
        A.validate_accounts(raw)
    msg = str(err.value)
    assert "colons.csv" in msg and "'account_id'" in msg and "delimiter" in msg and "':'" in msg
    assert "\n" not in msg


def test_missing_column_message_names_file_and_column(tmp_path):
    p = _csv(tmp_path, "account_id,name,zip\n1,A,43215\n")
    raw, _ = A.read_table(p)
    with pytest.raises(InputError, match=r"accounts\.csv: missing required column 'revenue'"):
        A.validate_accounts(raw)
    with pytest.raises(InputError, match=r"accounts\.csv: missing required column 'rep_id'"):
        A.read_table(p, required=("rep_id",))


def test_column_mapping_and_tolerant_names(tmp_path):
    p = _csv(tmp_path, "Customer ID,ZIP Code,Annual Revenue,Latitude,Longitude\n"
                       "c1,43215,10,,\nc2,,20,39.96,-83.0\n")
    raw, _ = A.read_table(p)
    acc, rej = A.validate_accounts(raw, ColumnsConfig(account_id="customer id",
                                                      revenue="Annual Revenue"))
    assert rej.empty
    assert acc["zip"].tolist() == ["43215", ""] and acc["lat"].iloc[1] == pytest.approx(39.96)


def test_excel_input_with_numeric_cells(tmp_path):
    p = tmp_path / "accounts.xlsx"
    pd.DataFrame({"account_id": [101, 102, 103], "zip": [2134, 43215, 432151234],
                  "revenue": [45000.5, 10, None]}).to_excel(p, index=False)
    raw, info = A.read_table(p)
    assert info.encoding is None
    assert raw["account_id"].tolist() == ["101", "102", "103"]
    acc, rej = A.validate_accounts(raw)
    assert acc["zip"].tolist() == ["02134", "43215"] and acc["zip_fixed"].tolist() == [True, False]
    assert acc["revenue"].tolist() == [45000.5, 10.0]
    assert rej["reason"].tolist() == [A.REASON_BLANK_REVENUE]
    # a workbook saved with a .csv name still reads
    q = tmp_path / "export.csv"
    q.write_bytes(p.read_bytes())
    assert A.read_table(q)[0]["zip"].tolist() == ["2134", "43215", "432151234"]


def test_parquet_input_with_float_zip(tmp_path):
    p = tmp_path / "accounts.parquet"
    pd.DataFrame({"account_id": ["a", "b", "c"], "zip": [43215.0, 2134.0, np.nan],
                  "revenue": [1.0, 2.5, 3.0], "lat": [np.nan, np.nan, 39.9],
                  "lon": [np.nan, np.nan, -83.0]}).to_parquet(p)
    raw, _ = A.read_table(p)
    assert raw["zip"].tolist() == ["43215", "2134", ""]
    acc, rej = A.validate_accounts(raw)
    assert rej.empty and acc["zip"].tolist() == ["43215", "02134", ""]


# ----------------------------------------------------------------------------- tiers


def _accounts(revenues, tiers=None):
    n = len(revenues)
    return pd.DataFrame({"account_id": [f"a{i:03d}" for i in range(n)],
                         "revenue": np.asarray(revenues, dtype=float),
                         "tier_input": tiers if tiers is not None else [pd.NA] * n})


def test_threshold_tiers():
    out = A.assign_tiers(_accounts([150_000, 100_000, 99_999, 25_000, 24_999, 0]))
    assert out["tier"].tolist() == ["A", "A", "B", "B", "C", "C"]
    assert out["account_units"].tolist() == [3, 3, 2, 2, 1, 1]
    assert out["tier_source"].str.startswith("revenue threshold").all()


def test_percentile_tiers_default_shares():
    out = A.assign_tiers(_accounts(np.arange(1, 101) * 1000.0), TierConfig(method="percentile"))
    counts = Counter(out["tier"])
    assert counts == {"A": 15, "B": 35, "C": 50}
    assert out.loc[out["revenue"] >= 86_000, "tier"].eq("A").all()
    assert out.loc[out["revenue"] <= 50_000, "tier"].eq("C").all()
    assert out["tier_source"].iloc[0] == "revenue percentile (A top 15%, B next 35%)"


def test_percentile_tiers_configurable_and_deterministic_ties():
    cfg = TierConfig(method="percentile", a_share=0.2, b_share=0.3)
    out = A.assign_tiers(_accounts([5.0] * 10), cfg)
    # ties broken by account_id: the first two ids are A, the next three B
    assert out["tier"].tolist() == ["A"] * 2 + ["B"] * 3 + ["C"] * 5


def test_tier_column_wins_over_both_rules(tmp_path):
    p = _csv(tmp_path, "account_id,zip,revenue,tier\n1,43215,500000,c\n2,43215,1,Tier A\n"
                       "3,43215,50000,\n")
    raw, _ = A.read_table(p)
    acc, rej = A.validate_accounts(raw)
    assert rej.empty
    for cfg in (TierConfig(), TierConfig(method="percentile")):
        out = A.assign_tiers(acc, cfg)
        assert out["tier"].tolist()[:2] == ["C", "A"]
        assert out["tier_source"].tolist()[:2] == ["input tier column"] * 2
        assert out["tier_source"].iloc[2] != "input tier column"
    assert A.assign_tiers(acc)["tier"].iloc[2] == "B"


# ----------------------------------------------------------------------------- the messy export


def _check_outcome(messy, inputs):
    exp = messy.expected.set_index("row")
    got = inputs.rejects.set_index("row")["reason"]
    assert got.index.is_unique
    assert inputs.info["accounts_in"] == len(exp)
    assert len(inputs.accounts) + len(inputs.rejects) == len(exp)
    cmp = exp.join(got.rename("got")).fillna({"got": ""})
    wrong = cmp[cmp["expected"] != cmp["got"]]
    assert wrong.empty, wrong.groupby(["kind", "expected", "got"]).size().to_string()
    assert set(inputs.accounts["row"]) == set(exp.index[exp["expected"] == ""])


def test_messy_export_through_prepare(tmp_path):
    from territory.pipeline import prepare

    messy = make_messy(5000)
    assert set(messy.rows["kind"]) == set(KINDS)
    path = write_csv(messy, tmp_path / "crm_export.csv")
    inputs = prepare(path, 4, ScenarioConfig(columns=COLUMNS), zcta=DC_ZCTA)
    _check_outcome(messy, inputs)
    assert inputs.info["encoding"] == "cp1252" and inputs.info["read_notes"]
    kinds = messy.rows.set_index(messy.expected["row"])["kind"]
    n_fixed = kinds.isin(["zip_plus4", "zip_9digit", "zip_float"]).sum()
    assert inputs.info["zip_fixed"] == n_fixed
    subs = inputs.substitutions
    po = subs[subs["zip"].isin(["20013", "20022", "20027"])]
    assert len(po) == kinds.eq("po_box").sum()
    assert (po["zip"].map({"20013": "20001", "20022": "20011", "20027": "20037"})
            == po["unit_id"]).all()
    assert po["rule"].eq("point in polygon").all()
    assert inputs.info["tier_sources"]["input tier column"] == kinds.eq("tier_given").sum()


@pytest.mark.parametrize("fmt", ["xlsx", "parquet"])
def test_messy_export_excel_and_parquet(tmp_path, fmt):
    from territory.pipeline import prepare

    messy = make_messy(400, seed=3, csv_defects=False)
    writer = write_excel if fmt == "xlsx" else write_parquet
    path = writer(messy, tmp_path / f"crm.{fmt}")
    inputs = prepare(path, 2, ScenarioConfig(columns=COLUMNS), zcta=DC_ZCTA)
    _check_outcome(messy, inputs)


def test_trailing_delimiter_on_every_row_is_not_a_defect(tmp_path):
    p = _csv(tmp_path, "account_id,zip,revenue\n1,43215,10,\n2,43215,20,\n3,43215,5,x\n")
    raw, _ = A.read_table(p)
    acc, rej = A.validate_accounts(raw)
    assert acc["account_id"].tolist() == ["1", "2"]
    assert rej[["row", "reason"]].values.tolist() == [[3, A.REASON_EXTRA_FIELDS]]


def test_blank_lines_are_skipped(tmp_path):
    p = _csv(tmp_path, "\naccount_id,zip,revenue\n1,43215,10\n\n2,43215,20\n")
    raw, info = A.read_table(p)
    assert raw["account_id"].tolist() == ["1", "2"] and info.n_rows == 2


# ----------------------------------------------------------------------------- number formats


def test_european_decimal_commas_are_read_per_column(tmp_path):
    p = _csv(tmp_path, "account_id;zip;revenue;lat;lon\n"
                       "1;20001;1.234,56;38,9072;-77,0369\n"
                       "2;20001;250.000,00;;\n"
                       "3;20001;45,5;;\n")
    raw, _ = A.read_table(p)
    acc, rej = A.validate_accounts(raw)
    assert rej.empty
    assert acc["revenue"].tolist() == [1234.56, 250000.0, 45.5]
    assert acc.loc[0, ["lat", "lon"]].tolist() == [38.9072, -77.0369]
    assert A.assign_tiers(acc)["tier"].tolist() == ["C", "A", "C"]


def test_decimal_mark_can_be_configured(tmp_path):
    p = _csv(tmp_path, "account_id,zip,revenue\n1,20001,45.000\n2,20001,12.500\n")
    raw, _ = A.read_table(p)
    acc, _ = A.validate_accounts(raw, ColumnsConfig(decimal=","))
    assert acc["revenue"].tolist() == [45000.0, 12500.0]
    acc, _ = A.validate_accounts(raw, ColumnsConfig(decimal="."))
    assert acc["revenue"].tolist() == [45.0, 12.5]


@pytest.mark.parametrize("cells, needles", [
    (["45.000", "12.500"], ["'revenue'", "'45.000'", "'12.500'", "decimal"]),  # ambiguous
    (["1.234,56", "1,234.56"], ["'revenue'", "'1,234.56'", "'1.234,56'"]),      # mixed
])
def test_ambiguous_or_mixed_number_columns_are_refused(tmp_path, cells, needles):
    rows = "".join(f'{i},20001,"{c}"\n' for i, c in enumerate(cells))
    raw, _ = A.read_table(_csv(tmp_path, "account_id,zip,revenue\n" + rows))
    with pytest.raises(InputError) as info:
        A.validate_accounts(raw)
    msg = str(info.value)
    assert "accounts.csv" in msg and all(n in msg for n in needles), msg


def test_us_thousands_and_typed_excel_cells_stay_as_they_were(tmp_path):
    raw, _ = A.read_table(_csv(tmp_path, 'account_id,zip,revenue\n1,20001,"45,000"\n2,20001,"$1,234.50"\n'))
    assert A.validate_accounts(raw)[0]["revenue"].tolist() == [45000.0, 1234.5]
    x = tmp_path / "typed.xlsx"
    pd.DataFrame({"account_id": ["1", "2"], "zip": ["20001", "20001"],
                  "revenue": [12.345, 45.5]}).to_excel(x, index=False)
    raw, _ = A.read_table(x)
    assert A.validate_accounts(raw)[0]["revenue"].tolist() == [12.345, 45.5]


# ----------------------------------------------------------------------------- outliers


def test_revenue_outlier_is_rejected_by_name(tmp_path, caplog):
    rng = np.random.default_rng(1)
    revenue = [f"{v:.2f}" for v in rng.lognormal(np.log(20_000), 1.0, size=60)]
    revenue[7] = "1e15"
    revenue[8] = "2000000"  # a very large but real account stays
    rows = "".join(f"A{i},20001,{r}\n" for i, r in enumerate(revenue))
    raw, _ = A.read_table(_csv(tmp_path, "account_id,zip,revenue\n" + rows))
    with caplog.at_level("WARNING"):
        acc, rej = A.validate_accounts(raw)
    assert rej[["row", "account_id", "reason"]].values.tolist() == [
        [8, "A7", A.REASON_REVENUE_OUTLIER]]
    assert "A7" in caplog.text and "accounts.revenue_outlier_z" in caplog.text
    assert "A8" in set(acc["account_id"])
    from territory.config import AccountsConfig

    acc, rej = A.validate_accounts(raw, checks=AccountsConfig(max_revenue=1_000_000))
    assert sorted(rej["account_id"]) == ["A7", "A8"]


def test_a_book_of_near_equal_revenues_has_no_outliers_but_a_typo(tmp_path):
    # 999 x $1,000 and one $1,001: the MAD is 0 (no z at all: 1e15 passed); half $1,000 and
    # half $1,001: a MAD of 0.0002 made a $3,000 account "740 robust SDs" out, rejected
    revenue = ["1000"] * 999 + ["1001"]
    revenue[5] = "1e15"
    rows = "".join(f"A{i},20001,{r}\n" for i, r in enumerate(revenue))
    raw, _ = A.read_table(_csv(tmp_path, "account_id,zip,revenue\n" + rows))
    assert A.validate_accounts(raw)[1]["account_id"].tolist() == ["A5"]
    revenue = ["1000" if i % 2 else "1001" for i in range(1000)]
    revenue[:3] = ["3000", "50000", "2e9"]  # 3x and 50x are accounts; 2,000,000x is not
    rows = "".join(f"A{i},20001,{r}\n" for i, r in enumerate(revenue))
    raw, _ = A.read_table(_csv(tmp_path, "account_id,zip,revenue\n" + rows))
    acc, rej = A.validate_accounts(raw)
    assert rej["account_id"].tolist() == ["A2"] and {"A0", "A1"} <= set(acc["account_id"])


# ----------------------------------------------------------------------------- coordinates


def test_swapped_zero_and_bad_coordinates_fall_back_to_a_valid_zip(tmp_path):
    from territory.geo.geocode import REASON_SWAPPED_COORDS, REASON_ZERO_COORDS
    from territory.pipeline import prepare

    p = _csv(tmp_path, "account_id,zip,revenue,lat,lon\n"
                       "ok,20001,5000,38.9101,-77.0147\n"
                       "swapped,20001,5000,-77.0147,38.9101\n"
                       "zero,20001,5000,0,0\n"
                       "range,20001,5000,95.1,-77.03\n"
                       "zero_nozip,,5000,0,0\n"
                       "swapped_nozip,,5000,-77.0147,38.9101\n")
    inputs = prepare(p, 1, ScenarioConfig(region="accounts"), zcta=DC_ZCTA)
    acc = inputs.accounts.set_index("account_id")
    assert set(acc.index) == {"ok", "swapped", "zero"}
    assert (acc.loc[["swapped", "zero"], "unit_id"] == "20001").all()
    assert acc.at["ok", "point_source"] == "input lat/lon"
    subs = inputs.substitutions.set_index("account_id")
    assert set(subs.index) >= {"swapped", "zero"}
    assert REASON_SWAPPED_COORDS in subs.at["swapped", "rule"]
    assert REASON_ZERO_COORDS in subs.at["zero", "rule"]
    assert inputs.info["coordinates_replaced"] == 2
    rej = dict(zip(inputs.rejects["account_id"], inputs.rejects["reason"]))
    assert rej == {"range": A.REASON_BAD_COORDS, "zero_nozip": REASON_ZERO_COORDS,
                   "swapped_nozip": REASON_SWAPPED_COORDS}


def test_swapped_west_coast_coordinates_out_of_range_fall_back_too(tmp_path):
    from territory.geo.geocode import REASON_SWAPPED_COORDS

    p = _csv(tmp_path, "account_id,zip,revenue,lat,lon\n"
                       "sf,94103,5000,-122.4114,37.7726\n"
                       "junk,94103,5000,123.0,-83.0\n")
    acc, rej = A.validate_accounts(A.read_table(p)[0])
    located, geo_rej = geocode_accounts(acc)
    assert located["account_id"].tolist() == ["sf"] and rej.empty
    assert REASON_SWAPPED_COORDS in located.at[0, "coord_fix"]
    assert abs(located.at[0, "lat"] - 37.77) < 0.1
    assert geo_rej[["account_id", "reason"]].values.tolist() == [["junk", A.REASON_BAD_COORDS]]


def _fmt(value: float, style: str, decimals: int) -> str:
    us = f"{value:,.{decimals}f}" if style.endswith("grouped") else f"{value:.{decimals}f}"
    if style.startswith("eu"):
        return us.translate(str.maketrans({",": ".", ".": ","}))
    return us


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 10**11), min_size=1, max_size=8),
       st.sampled_from(["us_plain", "us_grouped", "eu_plain", "eu_grouped"]),
       st.sampled_from([0, 2]))
def test_a_number_column_is_read_right_or_refused_never_misread(cents, style, decimals):
    values = [c / 100 if decimals else float(c // 100) for c in cents]
    cells = [_fmt(v, style, decimals) for v in values]
    try:
        mark = A.decimal_mark(cells, "revenue")
    except InputError as exc:
        assert "'revenue'" in str(exc)
        return
    assert [A.parse_revenue(c, mark)[0] for c in cells] == pytest.approx(values, rel=1e-12)


@pytest.mark.parametrize("minus", ["\u2212", "\u2013", "\u2012", "\u2010", "\uff0d"])
def test_a_minus_sign_or_dash_reads_as_minus_in_coordinates_and_revenue(tmp_path, minus):
    # "\u221277.0147" was "non-numeric lat/lon" and "\u2212500" "non-numeric revenue"
    p = _csv(tmp_path, "account_id,zip,revenue,lat,lon\n"
                       f"a,20001,5000,38.9101,{minus}77.0147\n"
                       f"b,20001,{minus}500,38.9101,-77.0147\n"
                       f"c,20001,{minus},38.9101,-77.0147\n")
    raw, _ = A.read_table(p)
    acc, rej = A.validate_accounts(raw)
    assert acc.set_index("account_id").at["a", "lon"] == -77.0147
    assert rej.set_index("account_id")["reason"].to_dict() == {
        "b": A.REASON_NEGATIVE_REVENUE, "c": A.REASON_BLANK_REVENUE}
    assert A.parse_revenue(f"({minus}$1,200)") == (None, A.REASON_BAD_REVENUE)
    # a minus-signed cell votes on its column's decimal mark like any other
    assert A.decimal_mark([f"{minus}1.234,5", "7"], "revenue") == ","
