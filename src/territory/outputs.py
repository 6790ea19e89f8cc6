"""Writing results: one scenario's output contract, and a whole run's folders.

:func:`write_result` writes the files of the README's output table for one
plan; :func:`write_no_plan` what a scenario without a plan leaves
(``summary.json`` with the explanation, and ``rejects.csv``);
:func:`write_run` lays out a run of :func:`territory.pipeline.run_scenarios`:
one folder per scenario (the output folder itself for a single scenario),
``current/`` and ``compare.html``, with one colour per rep on every map.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from .io.accounts import REJECT_COLUMNS
from .io.export import write_csv, write_excel, write_geojson, write_geopackage
from .result import NoPlan, RunResult, ScenarioResult, write_summary

__all__ = ["RunFolders", "territories", "write_no_plan", "write_result", "write_run"]

log = logging.getLogger(__name__)

ASSIGNMENT_COLUMNS = ["account_id", "name", "zip", "unit_id", "rep_id", "tier", "account_units",
                      "revenue"]
SCORECARD_COLUMNS = ["rep_id", "name", "n_accounts", "account_units", "tam", "tam_index",
                     "n_units", "drive_hours_per_month", "visits_per_month", "travel_share",
                     "routed_share", "hours_basis", "polsby_popper", "tam_weighted_km",
                     "quota_multiplier", "ramp", "quota", "flags"]


def territories(units: gpd.GeoDataFrame, card: pd.DataFrame) -> gpd.GeoDataFrame:
    """One dissolved, valid polygon per rep, with its scorecard figures, EPSG:4326."""
    assigned = units.dropna(subset=["rep_id"])
    # A shared precision grid makes neighbouring edges identical, so the union leaves no slivers.
    geoms = shapely.set_precision(shapely.make_valid(assigned.geometry.values), 1e-6)
    g = gpd.GeoDataFrame({"rep_id": assigned["rep_id"].to_numpy()}, geometry=geoms,
                         crs="EPSG:4326").dissolve("rep_id", as_index=False)
    cols = ["rep_id", "name", "tam", "account_units", "n_accounts", "n_units",
            "drive_hours_per_month", "flags"]
    return g.merge(card[[c for c in cols if c in card]], on="rep_id", how="left")[
        [c for c in cols if c in card] + ["geometry"]]


def _inputs_files(rejects: pd.DataFrame, substitutions: pd.DataFrame, out: Path) -> None:
    """What every run writes, with or without a plan: the rejects and the substitutions."""
    write_csv(rejects[REJECT_COLUMNS], out / "rejects.csv")
    if not substitutions.empty:
        write_csv(substitutions, out / "substitutions.csv")


def write_result(result: ScenarioResult, out_dir: str | Path, *, map_html: bool = True,
                 tiles: str | None = None, colours: dict[str, str] | None = None) -> Path:
    """Write the output contract into ``out_dir`` (created).

    ``colours`` (rep id -> colour, from :func:`territory.web.maps.rep_colours` over all
    scenarios) keeps a rep's colour the same on every scenario's map.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    acc = result.accounts
    cols = list(ASSIGNMENT_COLUMNS)
    if acc["current_rep"].notna().any():
        cols += ["current_rep", "moved"]
    card = result.scorecard[[c for c in SCORECARD_COLUMNS if c in result.scorecard]]
    write_csv(acc[cols], out / "assignments.csv")
    write_csv(result.rejects[REJECT_COLUMNS], out / "rejects.csv")
    write_csv(card, out / "scorecard.csv")
    write_csv(result.units[["unit_id", "rep_id", "tam", "account_units", "n_accounts"]],
              out / "units.csv")
    write_csv(result.reps[["rep_id", "name", "lon", "lat", "base_kind"]], out / "reps.csv")
    if not result.substitutions.empty:
        write_csv(result.substitutions, out / "substitutions.csv")
    terr = territories(result.units, result.scorecard)
    write_geojson(terr, out / "territories.geojson")
    write_geopackage(terr, out / "territories.gpkg", layer="territories")
    sheets = {"all accounts": acc[cols], "scorecard": card}
    for rep in result.reps.itertuples():
        sheets[str(rep.rep_id)] = acc.loc[acc["rep_id"] == rep.rep_id, cols]
    write_excel(sheets, out / "assignments.xlsx")
    write_summary(result.summary, out / "summary.json")
    if map_html:
        from .web.maps import save_map, scenario_map

        m = scenario_map(result.units, result.reps, acc, result.scorecard, result.summary,
                         tiles=tiles, colours=colours, isochrones=result.isochrones,
                         adjacency=result.adjacency)
        save_map(m, out / "map.html")
    return out


def write_no_plan(no_plan: NoPlan, out_dir: str | Path) -> Path:
    """Write what a scenario without a plan leaves: ``summary.json`` and ``rejects.csv``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _inputs_files(no_plan.rejects, no_plan.substitutions, out)
    write_summary(no_plan.summary, out / "summary.json")
    return out


@dataclass(frozen=True)
class RunFolders:
    """Where :func:`write_run` put each scenario (config order), the baseline and the page."""

    scenarios: tuple[Path, ...]
    current: Path | None
    compare: Path | None


def scenario_folders(run: RunResult, out: Path) -> tuple[list[Path], Path | None]:
    """The folder of each scenario (``out`` itself when alone) and of the current alignment."""
    multi = len(run.scenarios) > 1
    dirs = [out / s.config.name if multi else out for s in run.scenarios]
    return dirs, (out / "current" if run.current is not None else None)


def write_run(run: RunResult, out_dir: str | Path, *, tiles: str | None = None) -> RunFolders:
    """Write every scenario of ``run`` under ``out_dir``, then ``compare.html`` for 2–3 plans."""
    from .web.maps import rep_colours

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dirs, current_dir = scenario_folders(run, out)
    plans = ([run.current] if run.current is not None else []) + list(run.planned)
    colours = rep_colours([r.units for r in plans]) if plans else {}
    if run.current is not None:
        write_result(run.current, current_dir, tiles=tiles, colours=colours)
    for outcome, d in zip(run.scenarios, dirs):
        if isinstance(outcome, NoPlan):
            write_no_plan(outcome, d)
        else:
            write_result(outcome, d, tiles=tiles, colours=colours)
    planned = [d for o, d in zip(run.scenarios, dirs) if isinstance(o, ScenarioResult)]
    page = None
    if len(planned) >= 2:
        from .web.compare import compare_page

        page = compare_page(planned[:3], out / "compare.html")
    return RunFolders(tuple(dirs), current_dir, page)
