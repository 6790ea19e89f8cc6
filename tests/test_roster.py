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
])
def test_bad_roster_names_the_problem(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "reps.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=match):
        read_reps(p)


def test_locks_need_a_unit_or_account(tmp_path: Path) -> None:
    p = tmp_path / "locks.csv"
    p.write_text("rep_id,zip\nR1,43215\n")
    with pytest.raises(InputError, match="unit_id or an account_id"):
        read_locks(p)
