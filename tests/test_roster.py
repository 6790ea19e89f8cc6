"""The rep roster and locks (territory.io.roster)."""

from __future__ import annotations

from pathlib import Path

import pytest

from territory.errors import InputError
from territory.io.roster import read_locks, read_reps

DATA = Path(__file__).parent / "data"


def test_number_of_territories_has_no_homes() -> None:
    reps = read_reps(3)
    assert list(reps["rep_id"]) == ["T01", "T02", "T03"]
    assert reps["lat"].isna().all()


def test_roster_file_homes_from_zip() -> None:
    reps = read_reps(DATA / "reps_small.csv")
    assert reps["lat"].notna().all() and (reps["capacity"] == 1.0).all()


@pytest.mark.parametrize("text, match", [
    ("rep_id,home_zip\nR1,43215\nR1,43211\n", "occurs twice"),
    ("rep_id,home_zip\nR1,99999\n", "unknown home_zip"),
    ("rep_id,home_zip,capacity\nR1,43215,-1\n", "capacity must be positive"),
    # a start date that is none gave the rep a full quota, silently
    ("rep_id,home_zip,start_date\nR1,43215,\nR2,43215,next spring\n",
     r"reps.csv: row 2 \(R2\): start_date 'next spring' is not a date; write it as YYYY-MM-DD"),
    ("rep_id,home_zip,start_date\nR1,43215,2023-02-30\n", "start_date '2023-02-30' is not a date"),
    ("rep_id,home_zip,start_date\nR1,43215,03/04/2023\n",
     "reads as 2023-03-04 .month first. or 2023-04-03 .day first."),
])
def test_bad_roster_names_the_problem(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "reps.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=match):
        read_reps(p)


def test_start_dates_and_minus_signs_of_a_roster(tmp_path: Path) -> None:
    p = tmp_path / "reps.csv"
    p.write_text("rep_id,lat,lon,start_date\nR1,39.96,\u221283.0,2023-02-01\n"
                 "R2,39.96,-83.1,\nR3,39.9,-83.2,2020-01-31 00:00:00\n")
    reps = read_reps(p)
    assert reps["lon"].tolist() == [-83.0, -83.1, -83.2]
    assert reps["start_date"].tolist() == ["2023-02-01", "", "2020-01-31"]


def test_locks_need_a_unit_or_account(tmp_path: Path) -> None:
    p = tmp_path / "locks.csv"
    p.write_text("rep_id,zip\nR1,43215\n")
    with pytest.raises(InputError, match="unit_id or an account_id"):
        read_locks(p)


# ----------------------------------------------------------------------------- owners and homes

import numpy as np
import pandas as pd

from books import multistate_book
from territory.config import config_from_dict
from territory.io.roster import match_owners, name_seats
from territory.pipeline import plan, prepare

BOOK_STATES = ("OH", "IN", "KY")


def _as_names(book, tmp_path: Path) -> Path:
    """The book with current_rep written as the reps' names, the way CRMs export owners."""
    acc = pd.read_csv(book.accounts, dtype=str, keep_default_na=False)
    styles = [lambda n: n, lambda n: n.upper(), lambda n: f"  {n.lower()} ",
              lambda n: ", ".join(reversed(n.split(" ", 1)))]  # "1, Rep"
    name = {r: f"Rep {int(r[1:])}" for r in acc["current_rep"].unique() if r}
    acc["current_rep"] = [styles[i % 4](name[o]) if o else "" for i, o in
                          enumerate(acc["current_rep"])]
    p = tmp_path / "named_owners.csv"
    acc.to_csv(p, index=False)
    return p


def test_current_owners_given_as_names_match_the_roster(tmp_path: Path) -> None:
    book = multistate_book(tmp_path, n_accounts=200, states=BOOK_STATES, seed=1)
    cfg = config_from_dict({"contiguity": False, "disruption": {"max_moved_share": 0.5}})
    inputs = prepare(_as_names(book, tmp_path), book.reps, cfg)
    m = inputs.info["owner_match"]
    assert m["by_name"] == m["matched"] == m["accounts_with_owner"] > 100
    assert m["match_share"] == 1.0 and m["warning"] is None
    assert set(inputs.accounts["current_rep"].dropna()) <= set(inputs.reps["rep_id"])
    s = plan(inputs, cfg).summary.to_dict()  # was: every account "moved", the cap infeasible
    assert s["moved_share"] <= 0.5 and s["owner_match"]["match_share"] == 1.0


def test_few_matching_owners_are_a_loud_warning(caplog) -> None:
    acc = pd.DataFrame({"current_rep": ["R1", "Pat Doe", "Pat Doe", "Lee", pd.NA]})
    reps = pd.DataFrame({"rep_id": ["R1", "R2"], "name": ["Ann Lin", "Bo Yu"]})
    with caplog.at_level("WARNING"):
        out, report = match_owners(acc, reps)
    assert report["matched"] == 1 and report["accounts_with_owner"] == 4
    assert report["unmatched_owners"] == {"Pat Doe": 2, "Lee": 1}
    assert "1 of 4" in report["warning"] and "1 of 4" in caplog.text
    assert out["current_rep"].tolist()[:4] == ["R1", "Pat Doe", "Pat Doe", "Lee"]


def test_a_home_far_from_every_account_is_refused(tmp_path: Path) -> None:
    book = multistate_book(tmp_path, n_accounts=120, states=BOOK_STATES, seed=1)
    reps = pd.read_csv(book.reps, dtype=str)
    reps.loc[1, "home_zip"] = "90210"
    bad = tmp_path / "far_reps.csv"
    reps.to_csv(bad, index=False)
    with pytest.raises(InputError, match=r"row 2 \(R02\): home_zip 90210 is .* km .*max_home_km"):
        prepare(book.accounts, bad, config_from_dict({}))
    prepare(book.accounts, bad, config_from_dict({"travel": {"max_home_km": 5000.0}}))


def _kept(acc: pd.DataFrame) -> pd.DataFrame:
    owned = acc[acc["current_rep"].notna()]
    return pd.crosstab(owned["rep_id"], owned["current_rep"])


def test_designed_territories_are_named_after_the_incumbents(tmp_path: Path) -> None:
    book = multistate_book(tmp_path, n_accounts=250, states=BOOK_STATES, seed=1)
    cfg = config_from_dict({"contiguity": False, "disruption": {"max_moved_share": 0.25}})
    res = plan(prepare(book.accounts, book.n_reps, cfg), cfg)
    s = res.summary.to_dict()
    owners = sorted(res.accounts["current_rep"].dropna().unique())
    assert len(owners) == 3 and sorted(res.reps["rep_id"]) == owners  # not T01..T03
    assert s["moved_share"] <= 0.25 and s["incumbents"]["owners_leaving"] == []
    kept = _kept(res.accounts)
    for o in owners:
        best = kept[o].idxmax()  # the territory holding most of o's accounts
        # o keeps it, unless the incumbent named there keeps even more of it
        assert best == o or kept.at[best, best] >= kept.at[best, o], (o, best)
    for a in owners:  # and no swap of two names keeps more (the assignment is optimal)
        for b in owners:
            assert kept.at[a, a] + kept.at[b, b] >= kept.at[a, b] + kept.at[b, a]


def test_seats_beyond_the_owners_are_open_and_owners_beyond_the_seats_leave() -> None:
    units = ["u1", "u2", "u3", "u4"]
    acc = pd.DataFrame({"unit_id": ["u1", "u1", "u2", "u3", "u3", "u4"],
                        "current_rep": ["Ann", "Ann", "Bo", "Cy", "Cy", "Ann"],
                        "revenue": [1.0, 1, 1, 1, 1, 50]})
    seats = pd.DataFrame({"rep_id": ["T1", "T2"], "name": ["", ""]})
    two = name_seats(seats, units, np.array([0, 1, 1, 0]), acc)
    assert two["rep_id"].tolist() == ["Ann", "Cy"]  # Bo (1 account) leaves
    by_tam = name_seats(seats, units, np.array([1, 0, 1, 0]), acc, basis="tam")
    assert by_tam["rep_id"].tolist() == ["Ann", "Cy"]
    four = pd.DataFrame({"rep_id": ["T1", "T2", "T3", "T4"], "name": ""})
    named = name_seats(four, units, np.array([0, 1, 2, 3]), acc)
    assert named["rep_id"].tolist() == ["Ann", "Bo", "Cy", "Open 1"]


def test_reps_current_takes_the_roster_from_the_owners(tmp_path: Path) -> None:
    book = multistate_book(tmp_path, n_accounts=200, states=BOOK_STATES, seed=1)
    inputs = prepare(book.accounts, "current", config_from_dict({}))
    reps = inputs.reps
    acc = inputs.accounts
    assert sorted(reps["rep_id"]) == sorted(acc["current_rep"].dropna().unique())
    assert reps["lat"].notna().all() and inputs.info["roster"] == "current"
    for r in reps.itertuples():  # home: a unit of the rep's own book
        assert r.home_zip in set(acc.loc[acc["current_rep"] == r.rep_id, "unit_id"])
    sizes = acc["current_rep"].value_counts()
    assert list(sizes[reps["rep_id"]]) == sorted(sizes, reverse=True)


def test_roster_numbers_may_use_a_decimal_comma(tmp_path: Path) -> None:
    p = tmp_path / "reps.csv"
    p.write_text("rep_id;lat;lon;capacity\nR1;38,9072;-77,0369;0,5\n")
    reps = read_reps(p)
    assert reps.loc[0, ["lat", "lon", "capacity"]].tolist() == [38.9072, -77.0369, 0.5]


@pytest.mark.parametrize("cell", ["inf", "nan", "1e400", "-inf"])
def test_a_capacity_that_is_not_a_finite_number_is_refused(tmp_path: Path, cell: str) -> None:
    p = tmp_path / "reps.csv"
    p.write_text(f"rep_id,home_zip,capacity\nR1,43215,1\nR2,43211,{cell}\n")
    with pytest.raises(InputError, match=rf"reps\.csv: row 2 \(R2\): capacity {cell} is not a "
                                         r"finite positive number"):
        read_reps(p)


@pytest.mark.parametrize("lat, lon", [("inf", "-83"), ("1e999", "1"), ("nan", "nan"),
                                      ("91", "-83"), ("40", "-181")])
def test_home_coordinates_that_cannot_be_right_are_refused(tmp_path: Path, lat, lon) -> None:
    p = tmp_path / "reps.csv"
    p.write_text(f"rep_id,lat,lon\nR1,39.96,-83.0\nR2,{lat},{lon}\n")
    with pytest.raises(InputError, match=rf"reps\.csv: row 2 \(R2\): home lat {lat}, lon {lon} "
                                         r"is not a point \(lat -90..90, lon -180..180\)"):
        read_reps(p)


@pytest.mark.parametrize("text, n", [(" 3 ", 3), ("+3", 3), ("3", 3)])
def test_a_number_of_territories_may_carry_spaces_or_a_sign(text: str, n: int) -> None:
    assert len(read_reps(text)) == n


@pytest.mark.parametrize("text", ["1.5", "99999999999999999999", "1e2", "0"])
def test_an_impossible_number_of_territories_is_refused_at_once(text: str) -> None:
    """Not "file not found", and never 10**20 rows built before the error."""
    with pytest.raises(InputError, match=rf"^--reps {text}: "):
        read_reps(text)
