"""The Python API: prepare from paths or DataFrames, run_scenarios, the typed summary, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from territory import pipeline
from territory.config import ScenarioConfig, config_from_dict
from territory.errors import InputError
from territory.pipeline import NoPlan, ScenarioResult, plan, prepare, run_scenarios
from territory.result import Summary, as_summary, load_summary, write_summary

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
ZCTA = ROOT / "data" / "columbus_zctas.geojson"
ACCOUNTS = DATA / "accounts_small.csv"
REPS = DATA / "reps_small.csv"


def small(name: str = "small", **balance) -> ScenarioConfig:
    band = {"tam_tolerance": 0.25, "account_units_min": 20, "account_units_max": 60, **balance}
    return config_from_dict({"name": name, "balance": band,
                             "solver": {"time_limit_seconds": 30}})


def test_input_errors_are_value_errors(tmp_path):
    """Notebook code guarding with ``except ValueError`` catches bad input."""
    with pytest.raises(ValueError, match="file not found"):
        prepare(tmp_path / "nope.csv", 2, small(), zcta=ZCTA)
    assert issubclass(InputError, ValueError)


def test_prepare_takes_dataframes_as_well_as_paths():
    raw = pd.read_csv(ACCOUNTS, dtype=str, keep_default_na=False)
    reps = pd.read_csv(REPS, dtype=str, keep_default_na=False)
    from_files = prepare(ACCOUNTS, REPS, small(), zcta=ZCTA)
    from_frames = prepare(raw, reps, small(), zcta=ZCTA)
    pd.testing.assert_frame_equal(from_files.accounts, from_frames.accounts)
    pd.testing.assert_frame_equal(from_files.rejects, from_frames.rejects)
    pd.testing.assert_frame_equal(from_files.reps, from_frames.reps)
    assert from_frames.info["accounts_in"] == len(raw)


def test_dataframe_errors_name_the_table_not_its_contents():
    bad = pd.DataFrame({"acct": ["1"], "zip": ["43215"], "revenue": ["10"]})
    with pytest.raises(InputError) as exc:
        prepare(bad, 2, small(), zcta=ZCTA)
    assert "account_id" in str(exc.value) and "43215" not in str(exc.value)


def test_summary_round_trips_and_fills_defaults_from_the_config(tmp_path):
    s = Summary(scenario="x", status="optimal", account_units_band=(20, 60),
                violations=("tam_band: R1",), accounts_in=3, assigned=2, rejected=1)
    back = load_summary(write_summary(s, tmp_path / "summary.json"))
    assert back == s
    # an older, partial summary: the defaults are the config's own, not copies
    partial = as_summary({"scenario": "old", "no_such_key": 1})
    cfg = ScenarioConfig()
    assert partial.max_drive_hours_per_month == cfg.travel.max_drive_hours_per_month
    assert partial.tam_tolerance == cfg.balance.tam_tolerance
    assert partial.account_units_band == (cfg.balance.account_units_min,
                                          cfg.balance.account_units_max)
    with pytest.raises(InputError, match="not a result folder"):
        load_summary(tmp_path / "empty")


def test_plan_summary_is_typed():
    inputs = prepare(ACCOUNTS, REPS, small(), zcta=ZCTA)
    result = plan(inputs, small())
    s = result.summary
    assert isinstance(s, Summary) and s.has_plan
    assert s.accounts_in == s.assigned + s.rejected
    assert s.account_units_band == (20, 60)


def test_run_scenarios_prepares_once_and_decides_the_network_once(monkeypatch):
    """Scenarios with the same input rules share one prepare; one road-network decision."""
    reads, areas = [], []
    real_read = pipeline.read_table

    def counting_read(source, **kw):
        reads.append(source)
        return real_read(source, **kw)

    def fake_network(cfg, *, lon=None, lat=None):
        areas.append((len(lon), float(lon.sum()), float(lat.sum())))
        return None  # drive times fall back to the estimate

    import territory.travel.burden as burden

    monkeypatch.setattr(pipeline, "read_table", counting_read)
    monkeypatch.setattr(burden, "load_road_network", fake_network)
    download = {"travel": {"source": "download"}}
    cfgs = [small("a").replace(travel=config_from_dict(download).travel),
            small("b", tam_tolerance=0.3).replace(travel=config_from_dict(download).travel)]
    run = run_scenarios(ACCOUNTS, REPS, cfgs, zcta=ZCTA, with_current=True)
    assert [type(o) for o in run.scenarios] == [ScenarioResult, ScenarioResult]
    assert run.current is not None and run.exit_code == 0
    assert reads == [ACCOUNTS]  # accounts read once for two scenarios and the baseline
    assert len(areas) == 1
    # plan() on its own covers the same area
    plan(prepare(ACCOUNTS, REPS, cfgs[0], zcta=ZCTA), cfgs[0])
    assert areas[1] == areas[0]


def test_no_plan_is_returned_with_the_rejects_and_the_same_schema():
    run = run_scenarios(ACCOUNTS, REPS, [small("ok"), small("tight", account_units_min=200,
                                                           account_units_max=300)],
                        zcta=ZCTA)
    ok, tight = run.scenarios
    assert isinstance(tight, NoPlan) and run.exit_code == 3
    assert tight.summary.status == "infeasible" and "account-units band" in tight.summary.explanation
    assert tight.summary.diagnosis["constraint"] == "units_band"
    assert len(tight.rejects) == tight.summary.rejected > 0
    assert set(ok.summary.to_dict()) == set(tight.summary.to_dict())
    json.dumps(tight.summary.to_dict(), default=str)
