"""Scenario config: every field validated by type, one-line errors naming key, value and rule."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from territory.config import (BalanceConfig, ScenarioConfig, SolverConfig, config_from_dict,
                              load_config)
from territory.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("toml, needles", [
    ('contiguity = "no"', ["contiguity", '"no"', "true or false"]),
    ("seed = 7.5", ["seed", "7.5", "whole number"]),
    ('[balance]\ntam_tolerance = "0.15"', ["balance.tam_tolerance", '"0.15"', "a number >= 0 and <= 1"]),
    ('[solver]\ntime_limit_seconds = "60"', ["solver.time_limit_seconds", '"60"', "a finite number > 0"]),
    ("[balance]\ntam_tolerance = 2.0", ["balance.tam_tolerance", "2.0", "<= 1"]),
    ('unit_level = "zipp"', ["unit_level", '"zipp"', "'zip', 'county' or 'auto'"]),
    ("[balance]\ntam_tolerence = 0.1", ["unknown key balance.tam_tolerence", "tam_tolerance"]),
    ("n_reps = 0", ["n_reps", "0", ">= 1"]),
    ("[quota]\nramp = [0.5, 2, 1]", ["quota.ramp[1]", "2", "<= 1"]),
    ("balance = 3", ["balance = 3", "a table [balance]"]),
    ("[balance]\naccount_units_min = 200", ["[balance]", "200..150"]),
    # an infinite band edge or circuity ended as "no plan in time" (exit 3), not a refusal
    ("[travel]\ncircuity = inf", ["travel.circuity", "inf", "a finite number > 0"]),
    ("[balance]\naccount_units_max = inf", ["balance.account_units_max", "inf", "finite"]),
    ("[travel]\nestimate_speed_kph = nan", ["travel.estimate_speed_kph", "nan", "finite"]),
    # a date that is none crashed the quota step with a traceback, after the whole solve
    ('[quota]\nas_of = "yesterday"', ["quota.as_of", '"yesterday"', "YYYY-MM-DD"]),
    ('[quota]\nas_of = "01/02/2026"', ["quota.as_of", '"01/02/2026"', "YYYY-MM-DD"]),
    ('[quota]\nas_of = "2026-02-30"', ["quota.as_of", "not a date"]),
    # HiGHS started 100,000 threads for minutes, then aborted the process
    ("[solver]\nthreads = 100000", ["solver.threads", "100000", "a whole number >= 0 and <= 1024"]),
])
def test_bad_values_are_one_line_errors_naming_key_value_and_rule(tmp_path: Path, toml: str,
                                                                    needles: list[str]) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(toml + "\n")
    with pytest.raises(InputError) as info:
        load_config(p)
    msg = str(info.value)
    assert "\n" not in msg and str(p) in msg
    for needle in needles:
        assert needle in msg, msg


def test_an_outlier_rule_of_inf_keeps_every_account(tmp_path: Path) -> None:
    p = tmp_path / "ok.toml"
    p.write_text("[accounts]\nrevenue_outlier_z = inf\n")
    assert load_config(p).accounts.revenue_outlier_z == float("inf")


def test_as_of_is_a_date_quoted_or_not(tmp_path: Path) -> None:
    p = tmp_path / "q.toml"
    for value in ("2026-01-15", '"2026-01-15"'):
        p.write_text(f"[quota]\nas_of = {value}\n")
        assert load_config(p).quota.as_of == "2026-01-15"


def test_more_threads_than_cores_is_a_warning(caplog) -> None:
    import os

    with caplog.at_level("WARNING", logger="territory"):
        assert SolverConfig(threads=(os.cpu_count() or 1) + 7).threads == (os.cpu_count() or 1) + 7
    assert "solver.threads" in caplog.text and "cores" in caplog.text


def test_shipped_scenarios_keep_their_values() -> None:
    cfg = load_config(ROOT / "data" / "scenarios" / "limited_moves.toml")
    assert cfg.name == "limited_moves" and cfg.unit_level == "zip" and cfg.contiguity is True
    assert cfg.balance.account_units_min == 160 and cfg.disruption.max_moved_share == 0.25
    assert cfg.solver.time_limit_seconds == 60 and Path(cfg.travel.path).is_absolute()


def test_defaults_types_and_case_insensitive_solver() -> None:
    cfg = config_from_dict({"solver": {"name": "HiGHS"}, "quota": {"ramp": [0.5, 1, 1]}})
    assert cfg.solver.name == "highs" and cfg.quota.ramp == (0.5, 1.0, 1.0)
    assert cfg.seed == 42 and cfg.balance.tam_tolerance == 0.15 and cfg.columns.decimal == "auto"


def test_frozen_and_replace_validates() -> None:
    cfg = ScenarioConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]
    assert cfg.replace(seed=7).seed == 7
    with pytest.raises(InputError, match="seed"):
        cfg.replace(seed="7")
    with pytest.raises(InputError, match="solver.candidates"):
        dataclasses.replace(SolverConfig(), candidates=0)
    with pytest.raises(InputError, match="tam_tolerance"):
        BalanceConfig(tam_tolerance=-0.1)


@pytest.mark.parametrize("name", ["../escape", "a/b", "a\\b", ".", "..", "a\x00b", "tab\there"])
def test_a_scenario_name_must_be_a_folder_name(name: str) -> None:
    """Several scenarios are written to --out/NAME: "../x" wrote outside --out."""
    with pytest.raises(InputError, match=r"config: name = .* is not allowed: .*folder name"):
        config_from_dict({"name": name})


def test_a_seed_beyond_32_bits_is_refused_not_a_traceback() -> None:
    with pytest.raises(InputError, match=r"config: seed = 4294967296 is not allowed"):
        config_from_dict({"seed": 2**32})
    assert config_from_dict({"seed": 2**32 - 1}).seed == 2**32 - 1
