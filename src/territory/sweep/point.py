"""One sweep point, run on a Dask worker (or in the caller's process, serially).

A point plans one scenario on the shared, already prepared inputs and returns
its result folder as bytes (so a worker on another machine needs no shared
file system) with its sweep row. Nothing here depends on where it runs: the
same point gives the same files serially or on any worker.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import tomli_w

from ..result import Summary, load_summary, write_summary
from .grid import Point, config_dict

__all__ = ["METRIC_COLUMNS", "PointOutcome", "folder_row", "road_network", "run_point",
           "write_scenario_toml"]

log = logging.getLogger(__name__)

#: The metric columns of a sweep row, in ``sweep.csv`` order.
METRIC_COLUMNS = ["status", "mip_gap", "tam_cv", "reps_outside_tam",
                  "reps_outside_units", "drive_hours_max", "drive_hours_mean", "reps_over_drive",
                  "reps_over_travel_share", "moved_share", "fairness_share", "meets_bands",
                  "red_flags", "ok", "solve_seconds", "explanation"]

# One road graph per worker process, whatever the number of points it runs.
_NETWORKS: dict[tuple, Any] = {}


@dataclass(frozen=True)
class PointOutcome:
    """What a worker sends back: the point, its row and its folder's files."""

    index: int
    name: str
    row: dict[str, Any]
    files: dict[str, bytes]


def road_network(travel, units: pd.DataFrame):
    """The road graph of ``travel`` (None for estimates), loaded once per process.

    The area is the units' centres, as ``territory plan`` loads it.
    """
    if travel.source == "estimate":
        return None
    key = (travel.source, str(travel.path), travel.custom_filter, travel.buffer_km,
           tuple(sorted(dict(travel.fallback_speeds_kph).items())))
    if key not in _NETWORKS:
        from ..travel.burden import load_road_network

        t0 = time.perf_counter()
        _NETWORKS[key] = load_road_network(travel, lon=units["lon"].to_numpy(),
                                           lat=units["lat"].to_numpy())
        log.info("road graph loaded in %.1f s", time.perf_counter() - t0)
    return _NETWORKS[key]


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_without_none(v) for v in value]
    return value


def write_scenario_toml(config, path: Path) -> Path:
    """The point's config as a scenario file ``territory plan --config`` reads back."""
    path.write_text(tomli_w.dumps(_without_none(config_dict(config))), encoding="utf-8")
    return path


def _write_roster(roster: pd.DataFrame, path: Path) -> None:
    """A valid ``--reps`` file; lat/lon at full precision so a rerun sees the same bases."""
    cols = ["rep_id", "name", "lat", "lon", "capacity", "start_date"]
    out = roster[cols].copy()
    if out["lat"].isna().all():
        out = out.drop(columns=["lat", "lon"])
    out.to_csv(path, index=False, lineterminator="\n", float_format="%.17g")


def _write_no_plan(exc: Exception, status: str, target: Path, rejects: pd.DataFrame) -> None:
    """The summary of a point that failed, in the one summary schema, and its rejects."""
    from ..io.accounts import REJECT_COLUMNS
    from ..io.export import write_csv

    write_csv(rejects[REJECT_COLUMNS], target / "rejects.csv")  # every run has them
    write_summary(Summary(status=status, explanation=str(exc)), target / "summary.json")


def _plan_into(inputs, point: Point, target: Path, maps: bool) -> None:
    from ..outputs import write_no_plan, write_result
    from ..pipeline import NoPlan, solve_scenario

    network = road_network(point.config.travel, inputs.units)
    outcome = solve_scenario(inputs, point.config, network=network)
    if isinstance(outcome, NoPlan):
        write_no_plan(outcome, target, atomic=False)  # the sweep stages the folder itself
        return
    write_result(outcome, target, map_html=maps, atomic=False)


def run_point(inputs, point: Point, roster: pd.DataFrame, *, maps: bool = True) -> PointOutcome:
    """Plan ``point`` on ``inputs`` with ``roster``; never raises for a bad point.

    An infeasible or timed-out point, or one that fails, is a row with its
    status and explanation (its folder holds ``summary.json``).
    """
    inputs = dataclasses.replace(inputs, reps=roster.reset_index(drop=True))
    tmp = Path(tempfile.mkdtemp(prefix="territory-sweep-"))
    try:
        write_scenario_toml(point.config, tmp / "scenario.toml")
        _write_roster(roster, tmp / "roster.csv")
        try:
            _plan_into(inputs, point, tmp, maps)
        except Exception as exc:  # noqa: BLE001 - a failing point is a row, not a stop
            log.exception("sweep point %s failed", point.name)
            _write_no_plan(exc, "error", tmp, inputs.rejects)
        row = folder_row(tmp)
        files = {str(p.relative_to(tmp)): p.read_bytes() for p in sorted(tmp.rglob("*"))
                 if p.is_file()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return PointOutcome(point.index, point.name, row, files)


# ----------------------------------------------------------------------------- rows


def _count_flags(flags: pd.Series, prefix: str) -> int:
    return int(sum(any(f.startswith(prefix) for f in str(s).split(";")) for s in flags))


def folder_row(folder: str | Path) -> dict[str, Any]:
    """The sweep metrics of a result folder (written by a sweep or by ``territory plan``).

    ``meets_bands``: a plan with every rep inside the TAM and account-unit bands
    and no violation; ``red_flags``: reps over the drive-hours or travel-share
    limit; ``ok``: both, i.e. the point can be the sweep's answer.
    """
    folder = Path(folder)
    s = load_summary(folder).to_dict()
    status = str(s.get("status") or "error")
    row = dict.fromkeys(METRIC_COLUMNS)
    row.update(status=status, explanation=s.get("explanation") or "",
               meets_bands=False, red_flags=None, ok=False)
    if not (folder / "scorecard.csv").is_file():  # infeasible, no plan in time, or failed
        return row
    flags = pd.read_csv(folder / "scorecard.csv", dtype={"flags": str},
                        keep_default_na=False)["flags"]
    row.update({k: s.get(k) for k in ("mip_gap", "tam_cv", "drive_hours_max",
                                      "drive_hours_mean", "moved_share", "fairness_share",
                                      "solve_seconds")})
    row.update(reps_outside_tam=_count_flags(flags, "tam_band"),
               reps_outside_units=_count_flags(flags, "units_band"),
               reps_over_drive=_count_flags(flags, "drive>"),
               reps_over_travel_share=_count_flags(flags, "travel>"))
    row["meets_bands"] = (row["reps_outside_tam"] == 0 and row["reps_outside_units"] == 0
                          and not s.get("violations"))
    row["red_flags"] = row["reps_over_drive"] + row["reps_over_travel_share"]
    row["ok"] = bool(row["meets_bands"] and row["red_flags"] == 0)
    return row
