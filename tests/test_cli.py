"""End to end through the command line: the output contract, exit codes, determinism."""

from __future__ import annotations

import hashlib
import logging
import json
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from territory.cli import main

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
ZCTA = ROOT / "data" / "columbus_zctas.geojson"
SMALL_TOML = """
name = "small"
[balance]
tam_tolerance = 0.25
account_units_min = 20
account_units_max = 60
[solver]
time_limit_seconds = 30
"""


def small_config(tmp_path: Path, extra: str = "", name: str = "small") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(SMALL_TOML.replace('name = "small"', f'name = "{name}"') + extra)
    return p


def run_plan(tmp_path: Path, out: str = "out", config: Path | None = None, *more: str) -> tuple[int, Path]:
    out_dir = tmp_path / out
    code = main(["-q", "plan", "--accounts", str(DATA / "accounts_small.csv"),
                 "--reps", str(DATA / "reps_small.csv"), "--zcta", str(ZCTA),
                 "--config", str(config or small_config(tmp_path)), "--out", str(out_dir), *more])
    return code, out_dir


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("plan")
    code, out = run_plan(tmp)
    assert code == 0
    return out


def test_output_contract(planned: Path):
    for name in ("assignments.csv", "rejects.csv", "scorecard.csv", "territories.geojson",
                 "units.csv", "map.html", "summary.json", "reps.csv", "territories.gpkg",
                 "assignments.xlsx"):
        assert (planned / name).is_file(), name
    a = pd.read_csv(planned / "assignments.csv", dtype=str)
    assert list(a.columns)[:8] == ["account_id", "name", "zip", "unit_id", "rep_id", "tier",
                                   "account_units", "revenue"]
    assert {"current_rep", "moved"} <= set(a.columns)
    r = pd.read_csv(planned / "rejects.csv", dtype=str)
    assert list(r.columns) == ["row", "account_id", "reason"]
    assert r["reason"].str.len().gt(0).all()
    card = pd.read_csv(planned / "scorecard.csv")
    for col in ("rep_id", "n_accounts", "account_units", "tam", "tam_index", "n_units",
                "drive_hours_per_month", "flags"):
        assert col in card.columns
    terr = gpd.read_file(planned / "territories.geojson")
    assert terr.crs.to_epsg() == 4326
    assert sorted(terr["rep_id"]) == sorted(card["rep_id"])
    units = pd.read_csv(planned / "units.csv", dtype={"unit_id": str})
    assert list(units.columns) == ["unit_id", "rep_id", "tam", "account_units", "n_accounts"]
    s = json.loads((planned / "summary.json").read_text())
    for key in ("accounts_in", "assigned", "rejected", "unit_level", "n_units", "n_reps", "solver",
                "status", "objective", "mip_gap", "solve_seconds", "travel_source",
                "tam_tolerance", "account_units_band", "violations"):
        assert key in s, key
    assert s["travel_source"] in ("osm", "estimate")


def test_excel_export_has_a_sheet_per_rep_and_safe_cells(planned: Path):
    sheets = pd.read_excel(planned / "assignments.xlsx", sheet_name=None, dtype=str)
    card = pd.read_csv(planned / "scorecard.csv", dtype=str)
    assert set(card["rep_id"]) <= set(sheets)
    everyone = sheets["all accounts"]
    assert len(everyone) == sum(len(sheets[r]) for r in card["rep_id"])
    assert not everyone["name"].str.startswith(("=", "+", "@")).any()
    terr = gpd.read_file(planned / "territories.gpkg")
    assert sorted(terr["rep_id"]) == sorted(card["rep_id"])


def test_every_account_is_accounted_for(planned: Path):
    s = json.loads((planned / "summary.json").read_text())
    raw = pd.read_csv(DATA / "accounts_small.csv", dtype=str, keep_default_na=False)
    a = pd.read_csv(planned / "assignments.csv", dtype=str)
    r = pd.read_csv(planned / "rejects.csv", dtype=str)
    assert s["accounts_in"] == len(raw) == s["assigned"] + s["rejected"]
    assert len(a) == s["assigned"] and len(r) == s["rejected"]
    assert s["rejected"] > 0  # the fixture carries messy rows
    assert sum(s["reject_reasons"].values()) == s["rejected"]


def test_plan_meets_bands_and_contiguity(planned: Path):
    s = json.loads((planned / "summary.json").read_text())
    assert s["violations"] == []
    assert s["contiguous"] is True
    card = pd.read_csv(planned / "scorecard.csv")
    mean = card["tam"].mean()
    assert ((card["tam"] / mean - 1).abs() <= 0.25 + 1e-9).all()
    assert card["account_units"].between(20, 60).all()
    a = pd.read_csv(planned / "assignments.csv", dtype=str)
    u = pd.read_csv(planned / "units.csv", dtype=str)
    # each account's rep is its unit's rep: whole units are assigned
    merged = a.merge(u[["unit_id", "rep_id"]], on="unit_id", suffixes=("", "_unit"))
    assert (merged["rep_id"] == merged["rep_id_unit"]).all()


def test_same_inputs_same_assignments(planned: Path, tmp_path: Path):
    code, again = run_plan(tmp_path, "again")
    assert code == 0
    digest = [hashlib.sha256((d / "assignments.csv").read_bytes()).hexdigest()
              for d in (planned, again)]
    assert digest[0] == digest[1]


def test_hostile_names_are_safe(planned: Path):
    text = (planned / "assignments.csv").read_text(encoding="utf-8")
    for line in text.splitlines()[1:]:
        name = line.split(",")[1] if "," in line else ""
        assert not name.startswith(("=", "+", "@")), line
    html = (planned / "map.html").read_text(encoding="utf-8")
    assert "<script>alert(" not in html


def test_infeasible_exits_3_with_explanation(tmp_path: Path, capsys, caplog, planned: Path):
    cfg = small_config(tmp_path, name="tight").read_text().replace(
        "account_units_min = 20", "account_units_min = 200").replace(
        "account_units_max = 60", "account_units_max = 300")
    p = tmp_path / "tight.toml"
    p.write_text(cfg)
    out = tmp_path / "tight"
    code = main(["plan", "--accounts", str(DATA / "accounts_small.csv"), "--reps",  # not -q
                 str(DATA / "reps_small.csv"), "--zcta", str(ZCTA), "--config", str(p),
                 "--out", str(out)])
    assert code == 3
    captured = capsys.readouterr()
    err = captured.err
    # nothing was assigned: neither the log nor the footer may say so
    assert "none assigned" in caplog.text and " assigned +" not in caplog.text + captured.out
    assert "account-units band" in err and "reps" in err
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "infeasible"
    assert "account-units band" in s["explanation"]
    assert s["diagnosis"]["constraint"] == "units_band"
    # one key schema: a scenario without a plan has every key a plan has
    assert set(s) == set(json.loads((planned / "summary.json").read_text()))


@pytest.mark.parametrize("content, needle", [
    (None, "file not found"),
    ("acct,name,zip,revenue\n1,a,43215,100\n", "'account_id'"),  # missing column named
    ("", "empty"),
])
def test_unusable_input_exits_2(tmp_path: Path, capsys, content, needle):
    accounts = tmp_path / "accounts.csv"
    if content is not None:
        accounts.write_text(content)
    code = main(["plan", "--accounts", str(accounts), "--reps", "2", "--out", str(tmp_path / "x")])
    assert code == 2
    assert needle in capsys.readouterr().err


def test_in_process_run_leaves_the_collector_as_it_was(tmp_path: Path):
    import gc

    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        code = main(["-q", "plan", "--accounts", str(tmp_path / "none.csv"), "--reps", "2",
                     "--out", str(tmp_path / "x")])
        assert code == 2
        assert gc.get_threshold() == (700, 10, 10)
        assert gc.isenabled() and gc.get_freeze_count() == 0  # frozen at exit only
    finally:
        gc.set_threshold(*before)


def test_unknown_config_key_exits_2(tmp_path: Path, capsys):
    p = tmp_path / "typo.toml"
    p.write_text("[balance]\ntam_tolerence = 0.1\n")
    code, _ = run_plan(tmp_path, "typo", p)
    assert code == 2
    assert "tam_tolerence" in capsys.readouterr().err


def test_number_of_reps_designs_territories_without_homes(tmp_path: Path):
    out = tmp_path / "n"
    code = main(["-q", "plan", "--accounts", str(DATA / "accounts_small.csv"), "--reps", "3",
                 "--zcta", str(ZCTA), "--config", str(small_config(tmp_path)), "--out", str(out)])
    assert code == 0
    reps = pd.read_csv(out / "reps.csv")
    assert reps["base_kind"].eq("centre").all() and len(reps) == 3
    # free centres: bases moved to their territories' medoids, travel never went up
    summary = json.loads((out / "summary.json").read_text())
    travel = summary["free_centres"]["travel_by_round"]
    assert travel == sorted(travel, reverse=True) and summary["violations"] == []
    assert summary["free_centres"]["rounds"] == len(travel) >= 1
    # the banded p-median's bound: no plan in the bands travels less, ours included
    bound = summary["free_centres"]["medoid_travel_bound"]
    assert bound is not None and 0 < bound <= travel[-1] * (1 + 1e-6)
    starts = [t for t in summary["free_centres"]["travel_by_start"] if t is not None]
    assert min(starts) == pytest.approx(travel[-1], rel=0.02)


def test_help_everywhere(capsys):
    for argv in (["--help"], ["demo", "--help"], ["plan", "--help"], ["compare", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
    assert "--accounts" in capsys.readouterr().out


def test_plan_does_not_depend_on_pythonhashseed(tmp_path: Path):
    """osmnx merges edge attributes in hash order; our drive times (and plan) must not care."""
    import os
    import subprocess
    import sys

    cfg = small_config(tmp_path, extra=f'[travel]\nsource = "file"\npath = "{ROOT / "data" / "columbus_drive.graphml.gz"}"\n',
                       name="osm")
    outs = []
    for seed in ("1", "12345"):
        out = tmp_path / f"h{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-m", "territory.cli", "-q", "plan",
                              "--accounts", str(DATA / "accounts_small.csv"),
                              "--reps", str(DATA / "reps_small.csv"), "--zcta", str(ZCTA),
                              "--config", str(cfg), "--out", str(out)],
                             check=True, env=env, capture_output=True, text=True)
        # -q: the table and nothing else on stdout (no HiGHS banner)
        assert run.stdout.startswith("scenario ") and "HiGHS" not in run.stdout + run.stderr
        outs.append(out)
    for name in ("assignments.csv", "scorecard.csv"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    s = json.loads((outs[0] / "summary.json").read_text())
    assert s["travel_source"] == "osm"
    assert 0 < s["travel_coverage"] <= 1
    card = pd.read_csv(outs[0] / "scorecard.csv")
    assert (card["drive_hours_per_month"] > 0).all()
    html = (outs[0] / "map.html").read_text(encoding="utf-8")
    assert "Drive-time areas" in html and "OpenStreetMap contributors" in html


@pytest.mark.parametrize("where", ["under_a_file", "is_a_file"])
def test_impossible_out_exits_2_before_any_work(tmp_path: Path, capsys, where):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")
    out = blocker / "run" if where == "under_a_file" else blocker
    code = main(["-q", "plan", "--accounts", str(DATA / "accounts_small.csv"),
                 "--reps", str(DATA / "reps_small.csv"), "--zcta", str(ZCTA),
                 "--config", str(small_config(tmp_path)), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(f"territory: error: --out {out}")
    assert "Traceback" not in err[0]


def test_ctrl_c_exits_130_with_one_line(tmp_path: Path, monkeypatch, capsys):
    import territory.cli as cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "load_config", interrupted)  # the moment a user presses Ctrl-C
    code, _ = run_plan(tmp_path)
    err = capsys.readouterr().err
    assert code == 130 and err == "territory: interrupted\n"


@pytest.mark.parametrize("reps, needle", [
    ("-3", "territory: error: --reps -3: the number of territories must be at least 1"),
    ("\u22123", "territory: error: --reps \u22123: the number of territories must be at least 1"),
    ("500", "territory: error: --reps 500: this book has only "),
])
def test_impossible_rep_counts_exit_2_with_one_line(tmp_path: Path, capsys, reps, needle):
    code = main(["-q", "plan", "--accounts", str(DATA / "accounts_small.csv"), f"--reps={reps}",
                 "--zcta", str(ZCTA), "--config", str(small_config(tmp_path)),
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(needle)
    if reps == "500":  # the counts the band allows, from the book's own account units
        assert re.search(r"the account-unit band 20–60 allows \d+–\d+ reps for its [\d,]+ account units$", err[0])


def test_a_roster_with_more_reps_than_units_exits_2_with_one_line(tmp_path: Path, capsys):
    """A roster file (homes given) larger than the book's units: one line, not a traceback."""
    acc = tmp_path / "accounts.csv"
    acc.write_text("account_id,name,zip,revenue\nA1,One,43215,50000\nA2,Two,43201,60000\n")
    reps = tmp_path / "reps.csv"
    reps.write_text("rep_id,name,home_zip\nR1,Ann,43215\nR2,Bob,43201\nR3,Cy,43206\n")
    code = main(["-q", "plan", "--accounts", str(acc), "--reps", str(reps), "--zcta", str(ZCTA),
                 "--config", str(small_config(tmp_path)), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"territory: error: {reps}: the roster has 3 reps but this book has "
                             "only 2 units to make territories of"), err[0]


def _plan_logs(tmp_path: Path, caplog, *flags: str) -> list[logging.LogRecord]:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="territory.never"):  # a handler at every level
        code = main([*flags, "plan", "--accounts", str(DATA / "accounts_small.csv"),
                     "--reps", str(DATA / "reps_small.csv"), "--zcta", str(ZCTA),
                     "--config", str(small_config(tmp_path)),
                     "--out", str(tmp_path / f"v{len(flags)}")])
    assert code == 0
    return [r for r in caplog.records if r.name.startswith("territory")]


def test_verbose_adds_stage_times_counts_network_decision_and_files(tmp_path: Path, caplog):
    default = _plan_logs(tmp_path, caplog)
    verbose = _plan_logs(tmp_path, caplog, "-v")
    assert default and all(r.levelno >= logging.INFO for r in default)
    debug = "\n".join(r.getMessage() for r in verbose if r.levelno == logging.DEBUG)
    assert re.search(r"read .*accounts_small\.csv: 73 rows .* \d+\.\d\d s", debug)
    assert re.search(r"units: \d+ zip units \(ZCTA polygons", debug)
    assert "road network: none (travel.source = \"estimate\")" in debug
    assert re.search(r"\[small\] solve by \w+: optimal; phases .*mip \d", debug)
    assert re.search(r"wrote .*assignments\.xlsx \([\d,]+ bytes", debug)
    assert re.search(r"wrote .*summary\.json", debug) and re.search(r"wrote .*map\.html", debug)
    # -q: warnings only, and the caller's logging is left as it was
    assert not [r for r in _plan_logs(tmp_path, caplog, "-q") if r.levelno < logging.WARNING]
    assert logging.getLogger("territory").level == logging.NOTSET


def test_footer_reports_the_share_of_visit_legs_routed_not_of_units():
    from territory.cli import summary_table
    from territory.result import Summary

    card = pd.DataFrame({"rep_id": ["a", "b", "c"], "tam": [1.0, 2.0, 3.0],
                         "account_units": [100, 110, 120], "drive_hours_per_month": [1.0] * 3,
                         "routed_share": [1.0, 0.5, 0.0], "visits_per_month": [1.0, 1.0, 2.0]})
    s = Summary(status="optimal", n_reps=3, tam_cv=0.1, travel_source="osm",
                travel_coverage=0.9, objective=1.0, mip_gap=0.0)
    foot = summary_table([("x", s, card)]).splitlines()[-1]
    # (1 + 0.5 + 0) / 4 visits = 38%, as the scorecard's routed_share weighs it; not the 90% of units
    assert foot == ("drive hours: OpenStreetMap road network (38% of visit legs road-routed); "
                    "© OpenStreetMap contributors")
    other = card.assign(routed_share=1.0)
    foot = summary_table([("x", s, card), ("y", s, other)]).splitlines()[-1]
    assert "(visit legs road-routed: x 38%, y 100%)" in foot


def test_write_progress_is_shown_by_default_only():
    from territory.io.export import progress

    lg = logging.getLogger("territory")
    # default: a bar; -q: none; -v: none either, its DEBUG lines say what is written
    for level, shown in ((logging.INFO, True), (logging.WARNING, False), (logging.DEBUG, False)):
        lg.setLevel(level)
        try:
            with progress(10, "x", "row") as bar:
                assert bar.disable is (not shown)
        finally:
            lg.setLevel(logging.NOTSET)


def test_a_scenario_named_current_beside_others_exits_2(tmp_path: Path, capsys):
    """Its folder would be the current alignment's (out/current): one would overwrite the other."""
    a, b = small_config(tmp_path, name="current"), small_config(tmp_path, name="other")
    code = main(["-q", "plan", "--accounts", str(DATA / "accounts_small.csv"), "--reps", "3",
                 "--zcta", str(ZCTA), "--config", str(a), str(b), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ['territory: error: scenario name "current" is the current '
                                 "alignment's folder; set another name = \"...\""], err


def test_a_solver_failure_exits_4_and_is_not_called_no_plan(tmp_path: Path, capsys,
                                                            monkeypatch):
    import importlib

    from territory.optimize.backends import ModelRun

    solve_module = importlib.import_module("territory.optimize.solve")  # not the function

    def failed(form, solver, **kwargs):  # what HiGHS returns when its run errs
        return ModelRun(False, "solve error", None, None, None, None, 0.01, False, False)

    monkeypatch.setattr(solve_module, "solve_model", failed)
    code, out = run_plan(tmp_path)
    err = capsys.readouterr().err
    assert code == 4 and err.count("\n") == 1, err
    assert err.startswith("territory: error: the solver (highs) failed on ") and "'solve error'" in err
    assert "infeasible" not in err.lower() and not out.exists()
