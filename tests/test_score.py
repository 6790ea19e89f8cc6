"""``territory score``: a plan made by hand gets the full output contract; bad plan files exit 2.

The helpers ``plan_small``, ``score_small`` and ``relock_small`` run the three
commands of the editor's round trip on the small CLI fixture (straight-line
travel, so no road graph is needed); the browser test imports them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from territory.cli import main

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
ZCTA = ROOT / "data" / "columbus_zctas.geojson"
TOML = """
name = "{name}"
[balance]
tam_tolerance = 0.25
account_units_min = 20
account_units_max = 60
[solver]
time_limit_seconds = 30
[travel]
source = "estimate"
"""


def _config(tmp: Path, name: str) -> Path:
    p = tmp / f"{name}.toml"
    p.write_text(TOML.format(name=name))
    return p


def _common(tmp: Path, name: str) -> list[str]:
    return ["--accounts", str(DATA / "accounts_small.csv"), "--reps", str(DATA / "reps_small.csv"),
            "--zcta", str(ZCTA), "--config", str(_config(tmp, name))]


def plan_small(tmp: Path, name: str = "balanced") -> Path:
    out = tmp / name
    assert main(["-q", "plan", *_common(tmp, name), "--out", str(out)]) == 0
    return out


def score_small(tmp: Path, plan_file: Path, name: str = "balanced", out: str = "edited") -> Path:
    assert main(["-q", "score", "--plan", str(plan_file), *_common(tmp, name),
                 "--out", str(tmp / out)]) == 0
    return tmp / out


def relock_small(tmp: Path, plan_file: Path, name: str = "balanced") -> Path:
    out = tmp / "relocked"
    assert main(["-q", "plan", *_common(tmp, name), "--locks", str(plan_file), "--lock", "edited",
                 "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("score")
    return tmp, plan_small(tmp)


def _plan_file(tmp: Path, units: pd.DataFrame, name: str = "plan.csv") -> Path:
    p = tmp / name
    units.to_csv(p, index=False)
    return p


def test_band_breaking_plan_is_scored_and_flagged(planned, capsys):
    tmp, out = planned
    units = pd.read_csv(out / "units.csv", dtype=str)[["unit_id", "rep_id"]]
    heavy = pd.read_csv(out / "units.csv").sort_values("account_units").iloc[-3:]["unit_id"]
    units.loc[units["unit_id"].isin(heavy.astype(str)), "rep_id"] = "T1"
    scored = score_small(tmp, _plan_file(tmp, units), out="breaking")
    s = json.loads((scored / "summary.json").read_text())
    assert s["status"] == "scored" and s["violations"]
    assert any(v.startswith(("tam_band", "units_band")) for v in s["violations"])
    card = pd.read_csv(scored / "scorecard.csv", dtype=str).fillna("")
    assert card["flags"].str.contains("band").any()
    assert (pd.read_csv(scored / "units.csv", dtype=str)[["unit_id", "rep_id"]]
            .sort_values("unit_id").reset_index(drop=True)
            .equals(units.sort_values("unit_id").reset_index(drop=True)))
    for f in ("assignments.csv", "scorecard.csv", "map.html", "territories.geojson"):
        assert (scored / f).is_file()
    assert s["accounts_in"] == s["assigned"] + s["rejected"]
    assert "drive_hours_max" in s and s["fairness_share"] is not None
    assert "breach:" in capsys.readouterr().out


def test_unchanged_plan_scores_like_the_plan(planned):
    tmp, out = planned
    units = pd.read_csv(out / "units.csv", dtype=str)[["unit_id", "rep_id"]]
    scored = score_small(tmp, _plan_file(tmp, units, "same.csv"), out="same")
    a = pd.read_csv(out / "scorecard.csv")
    b = pd.read_csv(scored / "scorecard.csv")
    pd.testing.assert_frame_equal(a, b)
    assert json.loads((scored / "summary.json").read_text())["violations"] == []


@pytest.mark.parametrize("change,needle", [
    (lambda u: u.iloc[1:], "missing"),
    (lambda u: pd.concat([u, u.iloc[[4]]]), "row {n}: unit '{u4}' appears twice (first in row 5)"),
    (lambda u: u.assign(unit_id=u["unit_id"].where(u.index != 2, "99999")),
     "row 3: unit '99999' is not a unit"),
    (lambda u: u.assign(rep_id=u["rep_id"].where(u.index != 6, "NOBODY")),
     "row 7: rep 'NOBODY'"),
    (lambda u: u.assign(unit_id=u["unit_id"].where(u.index != 0, "")), "row 1 has a blank unit_id"),
])
def test_bad_plan_file_exits_2_naming_the_row(planned, capsys, change, needle):
    tmp, out = planned
    units = pd.read_csv(out / "units.csv", dtype=str)[["unit_id", "rep_id"]]
    bad = change(units)
    code = main(["-q", "score", "--plan", str(_plan_file(tmp, bad, "bad.csv")), *_common(tmp, "balanced"),
                 "--out", str(tmp / "bad")])
    err = capsys.readouterr().err
    assert code == 2
    assert needle.format(n=len(units) + 1, u4=units["unit_id"].iat[4]) in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_score_api_matches_cli(planned):
    from territory.config import load_config
    from territory.pipeline import prepare
    from territory.scoring import score

    tmp, out = planned
    cfg = load_config(_config(tmp, "balanced"))
    inputs = prepare(DATA / "accounts_small.csv", DATA / "reps_small.csv", cfg, zcta=ZCTA)
    plan = pd.read_csv(out / "units.csv", dtype=str).set_index("unit_id")["rep_id"]
    result = score(inputs, plan, cfg)
    assert result.summary.status == "scored"
    card = pd.read_csv(out / "scorecard.csv", dtype={"rep_id": str})
    assert result.scorecard["tam"].round(2).tolist() == card["tam"].round(2).tolist()
