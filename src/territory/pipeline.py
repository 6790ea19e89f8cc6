"""The pipeline: stages composed into one scenario run, for the CLI and for notebooks.

Python API
----------
.. code-block:: python

    from territory.config import load_config
    from territory.pipeline import prepare, plan, write_result

    cfg = load_config("data/scenarios/balanced.toml")
    inputs = prepare("data/accounts.csv", "data/reps.csv", cfg, zcta="data/columbus_zctas.geojson")
    result = plan(inputs, cfg)            # raises InfeasibleError with an explanation
    write_result(result, "maps/balanced") # the output contract of the README
    result.scorecard                      # per-rep DataFrame
    result.summary                        # a territory.result.Summary (summary.json)

``prepare`` validates, tiers, geocodes and places the accounts (a path or a
DataFrame) and builds the units and their adjacency; ``plan`` seeds, solves,
scores travel and computes the scorecard; ``write_result`` writes every output
file and the map. :func:`current_alignment` turns the accounts' current owners
into a result of the same shape, the baseline every redesign is compared with.
:func:`run_scenarios` does all of it for several scenarios at once (what the
CLI runs): inputs prepared once per distinct set of input rules, one road
network per travel set-up, and scenarios without a plan returned as
:class:`~territory.result.NoPlan` instead of raised.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Sequence
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from . import __version__
from .cache import cache_dir
from .io.accounts import REJECT_COLUMNS, assign_tiers, read_table, validate_accounts
from .io.roster import (build_roster, incumbent_report, name_seats, read_locks, read_reps,
                        territory_count)
from .optimize import (AssignProblem, BandRules, Disruption, RepTargets, Solver, check_plan,
                       inertia_cost, rep_targets, solve)
from .optimize.problem import Balancing
from .config import ScenarioConfig
from .errors import InfeasibleError, InputError
from .geo.geocode import coordinate_substitutions, geocode_accounts
from .metrics import (add_flags, compactness_scores, contiguity_report, disruption, fairness,
                      moved_mask, quota_table, remember_snapped, rep_scorecard, snapped_shapes,
                      snapping_key, tam_cv, unit_owner)
from .geo.contract import Contraction, contract_units, contracted_frame, expand_assignment
from .optimize.centres import free_centres
from .optimize.solve import with_budget
from .optimize.seed import project_points, root_units, seed_centres
from .geo.units import (aggregate_units, approximate_zip_units, county_units, coarse_units,
                        load_unit_polygons, locate_accounts, split_units_into_zips,
                        unit_adjacency, unit_states)
from .outputs import territories, write_result
from .result import NoPlan, RunResult, ScenarioResult, Summary

__all__ = ["NoPlan", "PreparedInputs", "RunResult", "ScenarioResult", "current_alignment",
           "evaluate", "plan", "prepare", "read_locks", "read_reps", "road_network",
           "run_scenarios", "score_assignment", "solve_scenario", "territories", "write_result"]

log = logging.getLogger(__name__)

#: what ``prepare`` reads: a path, or a table already in memory
TableSource = str | Path | pd.DataFrame


def _source_name(source: object, what: str) -> str:
    """How messages name an input: its path, or ``what`` for a DataFrame."""
    return f"{what} (DataFrame)" if isinstance(source, pd.DataFrame) else str(source)


@dataclass(frozen=True)
class PreparedInputs:
    """Accounts placed in units, the units, the reps: everything a scenario plans on."""

    accounts: pd.DataFrame
    rejects: pd.DataFrame
    units: gpd.GeoDataFrame
    reps: pd.DataFrame
    adjacency: nx.Graph
    bridges: list[tuple[str, str, float]]
    substitutions: pd.DataFrame
    locks: pd.DataFrame
    info: dict = field(default_factory=dict)




# ----------------------------------------------------------------------------- prepare


def _load_units(level: str, states: list[str], zcta: str | Path | None,
                units_path: str | Path | None, unit_id: str | None) -> tuple[gpd.GeoDataFrame, str]:
    if units_path is not None:
        return load_unit_polygons(units_path, unit_id), f"custom units from {Path(units_path).name}"
    if level in ("county", "auto"):
        return county_units(states), "county polygons (Census cb_2016 1:500k via plotly-geo)"
    if zcta is not None:
        return load_unit_polygons(zcta, unit_id), f"ZCTA polygons from {Path(zcta).name}"
    from .geo.zcta import cached_zcta_units

    cached = cached_zcta_units(states)
    if cached is not None:
        log.info("using the ZCTA polygons cached by `territory geo fetch-zcta`")
        return cached, "ZCTA polygons (Census cb_2020 1:500k, cached by `territory geo fetch-zcta`)"
    log.warning("no ZCTA file given: using APPROXIMATE ZIP areas (Voronoi cells of ZIP centroids "
                "clipped to state outlines). Pass --zcta FILE for real ZCTA polygons.")
    return approximate_zip_units(states), "APPROXIMATE ZIP areas (Voronoi of ZIP centroids)"


def _roster(reps: TableSource | int, config: ScenarioConfig, accounts: pd.DataFrame) -> pd.DataFrame:
    """The roster's size early (it sizes ``unit_level = "auto"``); :func:`build_roster` is final."""
    if str(reps).strip().lower() == "current" and not Path(reps).is_file():
        return read_reps(config.n_reps or max(1, int(accounts["current_rep"].nunique())))
    n = None if isinstance(reps, pd.DataFrame) else territory_count(reps)
    if n is not None:  # a number of territories to design; the scenario's n_reps overrides it
        return read_reps(config.n_reps or n)
    return read_reps(reps, n_reps=config.n_reps)


def _split_heavy(counties: gpd.GeoDataFrame, source: str, accounts: pd.DataFrame, n_reps: int,
                 config: ScenarioConfig, zcta: str | Path | None) -> tuple[gpd.GeoDataFrame, str]:
    """``unit_level = "auto"``: split into ZIPs each county too coarse for the bands
    (:func:`territory.geo.units.coarse_units` states the rule)."""
    placed, _, _ = locate_accounts(accounts, counties, level="county",
                                   max_nearest_km=config.nearest_unit_km)
    b = config.balance
    heavy = coarse_units(counties, placed, tam_target=placed["revenue"].sum() / max(n_reps, 1),
                         tam_tolerance=b.tam_tolerance, account_units_min=b.account_units_min,
                         account_units_max=b.account_units_max)
    if not heavy:
        return counties.assign(unit_kind="county"), source
    zips = None
    if zcta is not None:
        zips = load_unit_polygons(zcta)
    else:
        from .geo.zcta import cached_zcta_units

        zips = cached_zcta_units(sorted(set(counties.set_index("unit_id").loc[heavy, "state"])))
    log.info("unit_level auto: %d counties too coarse for the bands (%s): split into ZIPs",
             len(heavy), ", ".join(counties.set_index("unit_id").loc[heavy, "name"]))
    kind = "ZCTA polygons" if zips is not None else "APPROXIMATE ZIP areas (Voronoi of ZIP centroids)"
    return (split_units_into_zips(counties, heavy, zips),
            f"{source}; {len(heavy)} counties too coarse for the bands split into {kind}")


def prepare(
    accounts: TableSource,
    reps: TableSource | int,
    config: ScenarioConfig,
    *,
    zcta: str | Path | None = None,
    units_path: str | Path | None = None,
    unit_id: str | None = None,
    locks: TableSource | None = None,
    locks_path: str | Path | None = None,
) -> PreparedInputs:
    """Read, validate, tier, geocode and place the accounts; build units and adjacency.

    Parameters
    ----------
    accounts
        The CRM export: a CSV / Excel / Parquet path, or a DataFrame with the
        same columns (cells are read as text, as from a file).
    reps
        The roster (path or DataFrame, see :func:`read_reps`) or a number of
        territories to design; the scenario's ``n_reps`` keeps the first reps.
    locks
        ``rep_id`` with ``unit_id`` or ``account_id`` per row (path or
        DataFrame); ``locks_path`` is its older name.

    Every account row ends in ``accounts`` or ``rejects`` (one reason each).
    """
    placed = _place_accounts(accounts, config, reps=reps, zcta=zcta, units_path=units_path,
                             unit_id=unit_id, locks=locks if locks is not None else locks_path)
    return with_roster(placed, reps, config)


def with_roster(placed: PreparedInputs, reps: TableSource | int,
                config: ScenarioConfig) -> PreparedInputs:
    """``placed`` with the scenario's roster (``n_reps``) and the owners matched to it."""
    roster, accounts, roster_info = build_roster(
        reps, placed.accounts, placed.units, n_reps=config.n_reps,
        basis=config.disruption.basis, max_home_km=config.travel.max_home_km)
    return dataclasses.replace(placed, reps=roster, accounts=accounts,
                               info={**roster_info, **placed.info})


def _prepare_key(config: ScenarioConfig) -> str:
    """What :func:`_place_accounts` reads of a scenario: scenarios with one key share inputs."""
    key = (config.columns, config.accounts, config.tiers, config.unit_level, config.region,
           config.adjacency, config.nearest_unit_km)
    if config.unit_level == "auto":  # which counties split depends on the bands and the team
        key += (config.balance, config.n_reps)
    return repr(key)


def _place_accounts(accounts: TableSource, config: ScenarioConfig, *, reps, zcta, units_path,
                    unit_id, locks) -> PreparedInputs:
    """Every step of :func:`prepare` but the roster (the team's size sizes ``"auto"`` units)."""
    where = _source_name(accounts, "accounts")
    t0 = time.perf_counter()
    raw, read_info = read_table(accounts)
    accounts, rejects = validate_accounts(raw, config.columns, checks=config.accounts)
    accounts = assign_tiers(accounts, config.tiers)
    log.debug("read %s: %d rows (%s), %d valid, %d rejected, %.2f s", where, len(raw),
              read_info.encoding, len(accounts), len(rejects), time.perf_counter() - t0)
    t0 = time.perf_counter()
    accounts, geo_rejects = geocode_accounts(accounts)
    states = sorted(s for s in accounts["state"].unique() if s)
    n_reps = len(_roster(reps, config, accounts))
    log.debug("geocoded %d accounts in %d state(s) (%d rejected), %.2f s", len(accounts),
              len(states), len(geo_rejects), time.perf_counter() - t0)
    t0 = time.perf_counter()
    units, unit_source = _load_units(config.unit_level, states, zcta, units_path, unit_id)
    if config.unit_level == "auto" and units_path is None:
        units, unit_source = _split_heavy(units, unit_source, accounts, n_reps, config, zcta)
    accounts, place_rejects, subs = locate_accounts(accounts, units, level=config.unit_level,
                                                      max_nearest_km=config.nearest_unit_km)
    log.debug("units: %d %s units (%s); %d accounts placed, %d rejected, %d substituted, %.2f s",
              len(units), config.unit_level, unit_source, len(accounts), len(place_rejects),
              len(subs), time.perf_counter() - t0)
    coord_subs = coordinate_substitutions(accounts)
    if not coord_subs.empty:
        subs = pd.concat([coord_subs, subs], ignore_index=True)
    if config.region != "all":
        keep = units["unit_id"].isin(accounts["unit_id"])
        if config.region == "states" and states:
            keep |= unit_states(units).isin(states).to_numpy()
        units = units[keep].reset_index(drop=True)
    if units.empty or accounts.empty:
        raise InputError(f"{where}: no account could be placed in any unit "
                         f"({len(rejects) + len(geo_rejects) + len(place_rejects)} rejected)")
    t0 = time.perf_counter()
    units = aggregate_units(units, accounts)
    adjacency, bridges = unit_adjacency(units, contiguity=config.adjacency)
    log.debug("region %r: %d units (%d with accounts), %s adjacency with %d edges and %d "
              "bridge(s), %.2f s", config.region, len(units), int((units["n_accounts"] > 0).sum()),
              config.adjacency, adjacency.number_of_edges(), len(bridges),
              time.perf_counter() - t0)
    all_rejects = pd.concat([rejects, geo_rejects, place_rejects], ignore_index=True)
    all_rejects = all_rejects.sort_values("row", kind="stable").reset_index(drop=True)
    info = {
        "accounts_file": where,
        "accounts_in": int(len(raw)),
        "encoding": read_info.encoding,
        "read_notes": list(read_info.notes),
        "zip_fixed": int(accounts["zip_fixed"].sum()),
        "substitutions": int(len(subs)),
        "coordinates_replaced": int((accounts["coord_fix"] != "").sum()),
        "unit_source": unit_source,
        "bridges": [list(b) for b in bridges],
        "tier_sources": dict(Counter(accounts["tier_source"])),
    }
    if len(accounts) + len(all_rejects) != len(raw):
        raise RuntimeError(f"{where}: {len(raw)} rows in but {len(accounts)} placed and "
                           f"{len(all_rejects)} rejected: an account was lost")
    return PreparedInputs(accounts, all_rejects[REJECT_COLUMNS], units, pd.DataFrame(), adjacency,
                          bridges, subs, read_locks(locks), info)


# ----------------------------------------------------------------------------- plan


def road_network(inputs: PreparedInputs, config: ScenarioConfig):
    """The road network a scenario's drive times use (None for ``travel.source = "estimate"``).

    The one decision of its area: every unit and every rep home of ``inputs``
    (a rep without a home is based in a unit, so it is covered too).
    """
    if config.travel.source == "estimate":
        log.debug("road network: none (travel.source = \"estimate\"): straight-line drive times "
                  "at the configured speeds")
        return None
    from .travel.burden import load_road_network

    lon = np.r_[inputs.units["lon"].to_numpy(float), inputs.reps["lon"].to_numpy(float)]
    lat = np.r_[inputs.units["lat"].to_numpy(float), inputs.reps["lat"].to_numpy(float)]
    ok = np.isfinite(lon) & np.isfinite(lat)
    t0 = time.perf_counter()
    network = load_road_network(config.travel, lon=lon[ok], lat=lat[ok])
    log.debug("road network: travel.source = %r%s, covering %d points, %s, %.2f s",
              config.travel.source, f" ({config.travel.path})" if config.travel.path else "",
              int(ok.sum()), "loaded" if network is not None else "none: straight-line estimates",
              time.perf_counter() - t0)
    return network


def _check_seat_count(units: pd.DataFrame, n: int, config: ScenarioConfig,
                      roster: object = None) -> None:
    """More territories than units is an input error; say which counts the band allows.

    ``roster``: the roster file the reps come from (None: ``--reps N``).
    """
    if n <= len(units):
        return
    total = float(units["account_units"].sum())
    lo, hi = config.balance.account_units_min, config.balance.account_units_max
    fits = (f"; the account-unit band {lo:g}–{hi:g} allows {max(1, math.ceil(total / hi))}–"
            f"{math.floor(total / lo)} reps for its {total:,.0f} account units"
            if lo > 0 and not config.balance.soft_account_units else "")
    who = f"--reps {n}:" if roster is None else f"{roster}: the roster has {n} reps but"
    raise InputError(f"{who} this book has only {len(units)} units to make territories of{fits}")


def _bases(inputs: PreparedInputs, config: ScenarioConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """Each rep's base (home, or a rebalanced centre) and the unit rooting its territory."""
    reps = inputs.reps.copy()
    units = inputs.units
    if reps["lat"].notna().all():
        _check_seat_count(units, len(reps), config, roster=inputs.info.get("roster_source", "reps"))
        roots = root_units(units, reps[["lon", "lat"]].to_numpy())
        reps["base_kind"] = "home"
    else:
        _check_seat_count(units, len(reps), config)
        centres = seed_centres(units, len(reps), _band_rules(config), _solver(config),
                               seed=config.seed)
        roots = root_units(units, centres)
        reps["lon"] = units["lon"].to_numpy()[roots]
        reps["lat"] = units["lat"].to_numpy()[roots]
        reps["base_kind"] = "centre"
        if _named_seats(inputs):  # name each seat after the owner keeping most around its root
            reps = name_seats(reps, units["unit_id"], _nearest_root(units, roots),
                              inputs.accounts, basis=config.disruption.basis)
    reps["base_unit"] = units["unit_id"].to_numpy()[roots]
    return reps, roots


def _named_seats(inputs: PreparedInputs) -> bool:
    """Designed territories (``--reps N``) in a book with current owners."""
    return (inputs.info.get("roster") == "seats"
            and bool(inputs.accounts["current_rep"].notna().any()))


def _nearest_root(units: pd.DataFrame, roots: np.ndarray) -> np.ndarray:
    """Index (into ``roots``) of the root nearest each unit: the seats' Voronoi cells."""
    from scipy.spatial import cKDTree

    xy = project_points(units["lon"].to_numpy(), units["lat"].to_numpy())
    return cKDTree(xy[roots]).query(xy)[1]


def _unit_weights(units: pd.DataFrame, weight: str) -> np.ndarray:
    w = units["tam" if weight == "tam" else "visits_per_year"].to_numpy(dtype=float)
    mean = w[w > 0].mean() if (w > 0).any() else 1.0
    # Empty units weigh a little, so they still go to a nearby rep.
    return np.maximum(w / mean, 0.02)


def _moved_matrix(inputs: PreparedInputs, reps: pd.DataFrame, basis: str) -> tuple[np.ndarray | None, float]:
    acc = inputs.accounts
    if acc["current_rep"].isna().all():
        return None, 0.0
    owned = acc[acc["current_rep"].notna()]
    value = owned["revenue"] if basis == "tam" else pd.Series(1.0, index=owned.index)
    uidx = pd.Index(inputs.units["unit_id"])
    total_u = np.bincount(uidx.get_indexer(owned["unit_id"]), weights=value,
                          minlength=len(uidx))
    moved = np.repeat(total_u[:, None], len(reps), axis=1)
    rep_pos = pd.Index(reps["rep_id"]).get_indexer(owned["current_rep"].astype(str))
    ok = rep_pos >= 0
    np.subtract.at(moved, (uidx.get_indexer(owned["unit_id"])[ok], rep_pos[ok]),
                   value.to_numpy()[ok])
    return np.maximum(moved, 0.0), float(value.sum())


def _locks(inputs: PreparedInputs, reps: pd.DataFrame) -> dict[int, int]:
    out: dict[int, int] = {}
    if inputs.locks.empty:
        return out
    uidx = {u: i for i, u in enumerate(inputs.units["unit_id"])}
    ridx = {r: i for i, r in enumerate(reps["rep_id"])}
    unit_of_account = dict(zip(inputs.accounts["account_id"], inputs.accounts["unit_id"]))
    for row in inputs.locks.itertuples():
        unit = row.unit_id or unit_of_account.get(row.account_id)
        if unit not in uidx:
            raise InputError(f"locks: {row.unit_id or row.account_id!r} is not a unit or a "
                             "placed account of this plan")
        if row.rep_id not in ridx:
            raise InputError(f"locks: unknown rep {row.rep_id!r}")
        u, r = uidx[unit], ridx[row.rep_id]
        if out.get(u, r) != r:
            raise InfeasibleError(f"locks: unit {unit} is locked to two reps "
                                  f"({reps['rep_id'][out[u]]} and {row.rep_id})",
                                  {"constraint": "locks", "unit": unit})
        out[u] = r
    return out


def build_problem(inputs: PreparedInputs, config: ScenarioConfig, reps: pd.DataFrame,
                  roots: np.ndarray, hours: np.ndarray) -> AssignProblem:
    """The :class:`AssignProblem` of a scenario; ``hours`` is (units, reps) drive hours."""
    units = inputs.units
    cost = _unit_weights(units, config.objective.weight)[:, None] * hours
    compactness = None
    if config.objective.compactness_weight > 0:
        compactness = inertia_cost(units["tam"].to_numpy(float),
                                   project_points(units["lon"].to_numpy(), units["lat"].to_numpy()),
                                   project_points(reps["lon"].to_numpy(), reps["lat"].to_numpy()))
    moved, moved_total = _moved_matrix(inputs, reps, config.disruption.basis)
    disruption = None if moved is None else Disruption(
        moved, moved_total, config.disruption.max_moved_share,
        config.objective.disruption_weight)
    return AssignProblem.create(
        tuple(units["unit_id"]), tuple(reps["rep_id"]), units["tam"].to_numpy(float),
        units["account_units"].to_numpy(float), cost, _band_rules(config),
        capacity=reps["capacity"].to_numpy(float),
        contiguity=config.contiguity, adjacency=inputs.adjacency,
        roots=tuple(int(r) for r in roots), locks=_locks(inputs, reps), disruption=disruption,
        movable_roots=bool((reps["base_kind"] == "centre").all()), unit_level=config.unit_level,
        balancing=_balancing(config),
        compactness=compactness, compactness_weight=config.objective.compactness_weight,
    )


def _balancing(config: ScenarioConfig) -> Balancing | None:
    """The optimizer's balance term and mode from the scenario's objective section."""
    o = config.objective
    goal = Balancing(o.balance_weight, o.mode == "balance_first", o.balance_slack)
    return goal if goal.active else None


def _band_rules(config: ScenarioConfig) -> BandRules:
    """The optimizer's band rules from the scenario's balance section."""
    b = config.balance
    return BandRules(b.tam_tolerance, b.account_units_min, b.account_units_max, b.soft_tam,
                     b.soft_account_units, b.penalty)


def _solver(config: ScenarioConfig) -> Solver:
    """The optimizer's solver from the scenario's solver section."""
    s = config.solver
    return Solver(s.name, s.time_limit_seconds, s.mip_gap, s.threads, s.candidates, s.msg,
                  s.engine, s.lns_iterations)


def _free_centres(inputs: PreparedInputs, config: ScenarioConfig, reps: pd.DataFrame,
                  problem: AssignProblem, network):
    """Move each base to its territory's weighted medoid in drive time, re-solving until
    travel stops improving (:func:`territory.optimize.centres.free_centres`)."""
    from .travel.burden import travel_matrix

    units = inputs.units
    lonlat = units[["lon", "lat"]].to_numpy()

    def hours(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return travel_matrix(network, lonlat[cols], lonlat[rows], config.travel).seconds.T / 3600

    xy = project_points(lonlat[:, 0], lonlat[:, 1]) if problem.compactness is not None else None
    t0 = time.perf_counter()
    try:
        fc = free_centres(problem, _unit_weights(units, config.objective.weight), hours,
                          _solver(config), seed=config.seed, unit_xy=xy)
    except InfeasibleError as exc:  # a step's time-out: quote the scenario's budget
        raise with_budget(exc, config.solver.time_limit_seconds,
                          time.perf_counter() - t0) from None
    reps = reps.assign(lon=lonlat[fc.bases, 0], lat=lonlat[fc.bases, 1],
                       base_unit=units["unit_id"].to_numpy()[fc.bases])
    tm = travel_matrix(network, reps[["lon", "lat"]].to_numpy(), lonlat, config.travel)
    rounds = {"rounds": fc.rounds, "travel_by_round": [round(t, 4) for t in fc.travel],
              "bases_moved_by_round": list(fc.moved_bases),
              # every start's final travel (None: no plan) and the joint problem's bound
              "travel_by_start": [None if t != t else round(t, 4) for t in fc.starts],
              "start": fc.start, "medoid_travel_bound": fc.medoid_bound}
    return fc.result, fc.problem, reps, tm, rounds


def plan(inputs: PreparedInputs, config: ScenarioConfig, *, network=None) -> ScenarioResult:
    """Seed, solve and score one scenario.

    Parameters
    ----------
    network
        A pre-loaded :class:`territory.travel.RoadNetwork` (shared between scenarios);
        :func:`road_network` when None.

    Raises
    ------
    InfeasibleError
        With the explanation from :func:`territory.optimize.explain_infeasible`;
        :func:`solve_scenario` returns it as a :class:`NoPlan` instead.
    """
    outcome = solve_scenario(inputs, config, network=network)
    if isinstance(outcome, NoPlan):
        raise InfeasibleError(outcome.summary.explanation or outcome.summary.status,
                              dict(outcome.summary.diagnosis or {}))
    return outcome


def solve_scenario(inputs: PreparedInputs, config: ScenarioConfig, *,
                   network=None) -> ScenarioResult | NoPlan:
    """:func:`plan`, with a scenario that has no plan returned as a :class:`NoPlan`.

    A :class:`NoPlan` carries the summary (status ``infeasible`` or
    ``time_limit``, the explanation and the diagnosis) and the rejects, which
    are written all the same.
    """
    return _solve_scenario(inputs, config, road_network(inputs, config) if network is None
                           else network)


def _solve_scenario(inputs: PreparedInputs, config: ScenarioConfig,
                    network) -> ScenarioResult | NoPlan:
    """:func:`solve_scenario` on a decided road network (None: straight-line estimates)."""
    from .travel.burden import travel_matrix

    t0 = time.perf_counter()
    full, (inputs, contraction) = inputs, _contract(inputs, config)
    reps, roots = _bases(inputs, config)
    tm = travel_matrix(network, reps[["lon", "lat"]].to_numpy(),
                       inputs.units[["lon", "lat"]].to_numpy(), config.travel)
    base = _inputs_summary(full, config, reps, tm).replace(n_units_solved=int(len(inputs.units)))
    try:
        problem = build_problem(inputs, config, reps, roots, tm.seconds.T / 3600.0)
        if reps["base_kind"].iat[0] == "centre":  # no home bases: the bases are ours to move
            solved, problem, reps, tm, rounds = _free_centres(inputs, config, reps, problem,
                                                              network)
            base = _inputs_summary(full, config, reps, tm).replace(
                n_units_solved=int(len(inputs.units)), free_centres=rounds)
        else:
            solved = solve(problem, _solver(config), seed=config.seed)
    except InfeasibleError as exc:
        status = "time_limit" if exc.timed_out else "infeasible"
        summary = base.replace(status=status, explanation=str(exc), diagnosis=exc.diagnosis)
        return NoPlan(config, summary, full.rejects, full.substitutions)
    rep_of_unit = (solved.rep_of_unit if contraction is None
                   else expand_assignment(contraction, solved.rep_of_unit))
    if _named_seats(inputs) and inputs.locks.empty:  # renaming keeps at least as many accounts
        reps = name_seats(reps, full.units["unit_id"], rep_of_unit, full.accounts,
                          basis=config.disruption.basis)
        problem = dataclasses.replace(problem, rep_ids=tuple(reps["rep_id"]))  # for messages
    log.debug("[%s] solve by %s: %s; phases %s", config.name, solved.engine, solved.status,
              ", ".join(f"{k} {v:.2f} s" for k, v in (solved.timings or {}).items()) or "none")
    violations = check_plan(problem, solved.rep_of_unit)
    if not config.contiguity:
        violations = [v for v in violations if not v.startswith("contiguity")]
    head = base.replace(
        status=solved.status,
        objective=solved.objective,
        lp_bound=solved.lp_bound if solved.lp_bound is not None else solved.bound,
        mip_bound=solved.bound,
        mip_gap=solved.gap,
        engine=solved.engine,
        penalty_cost=solved.penalty_cost,
        solve_seconds=round(solved.solve_seconds, 3),
        build_seconds=round(solved.build_seconds, 3),
        candidates_per_unit=solved.candidates,
        slack=solved.slack,
    )
    return evaluate(full, config, reps, rep_of_unit, targets=problem.targets,
                    violations=violations, network=network, summary_head=head, started=t0)


def score_assignment(inputs: PreparedInputs, config: ScenarioConfig, rep_ids: Sequence[str], *,
                     network=None) -> ScenarioResult:
    """The result of a given assignment (``rep_ids[i]`` owns unit ``i``): no solve.

    The same bases, drive times, problem and checks as :func:`plan`, so a plan
    made by hand is held to the scenario's rules: every breach (bands,
    contiguity, move cap, locks) is listed in ``violations``, never refused.
    """
    from .travel.burden import travel_matrix

    t0 = time.perf_counter()
    if network is None:
        network = road_network(inputs, config)
    reps, roots = _bases(inputs, config)
    tm = travel_matrix(network, reps[["lon", "lat"]].to_numpy(),
                       inputs.units[["lon", "lat"]].to_numpy(), config.travel)
    problem = build_problem(inputs, config, reps, roots, tm.seconds.T / 3600.0)
    rep_of_unit = pd.Index(reps["rep_id"]).get_indexer(pd.Index(rep_ids))
    if (rep_of_unit < 0).any():
        raise InputError(f"rep {list(rep_ids)[int(np.flatnonzero(rep_of_unit < 0)[0])]!r} is not "
                         "in the roster")
    violations = check_plan(problem, rep_of_unit)
    head = _inputs_summary(inputs, config, reps, tm).replace(
        n_units_solved=0, status="scored", solve_seconds=0.0, build_seconds=0.0)
    return evaluate(inputs, config, reps, rep_of_unit, targets=problem.targets,
                    violations=violations, network=network, summary_head=head, started=t0)


def evaluate(inputs: PreparedInputs, config: ScenarioConfig, reps: pd.DataFrame,
             rep_of_unit: np.ndarray, *, targets: RepTargets, violations: list[str],
             network, summary_head: Summary, started: float) -> ScenarioResult:
    """Scorecard, travel, disruption, fairness, contiguity and summary of an assignment.

    ``rep_of_unit`` indexes ``reps`` for every unit of ``inputs.units``;
    ``summary_head`` (scenario facts and how the plan was found) opens the summary;
    ``targets`` are the problem's capacity-scaled TAM targets and bands (``problem.targets``).
    """
    units = inputs.units.assign(rep_id=np.asarray(reps["rep_id"])[rep_of_unit])
    acc = inputs.accounts.merge(units[["unit_id", "rep_id"]], on="unit_id", how="left")
    t0 = time.perf_counter()
    snapping = _snapping_from_disk(units)
    card = _plan_scorecard(acc, units, reps, targets, network, config)
    _snapping_to_disk(*snapping)
    log.debug("[%s] scorecard with drive hours on %s for %d reps, %.2f s", config.name,
              "roads" if network is not None else "straight lines", len(reps),
              time.perf_counter() - t0)
    moves = disruption(acc)
    fair = fairness(card, acc, (targets.account_units_lo, targets.account_units_hi))
    pieces = contiguity_report(units, inputs.adjacency)
    acc["moved"] = moved_mask(acc["current_rep"], acc["rep_id"])
    summary = summary_head.replace(
        violations=violations,
        accounts_moved=moves["accounts_moved"],
        tam_moved=moves["tam_moved"],
        moved_share=moves["moved_share"],
        moved_matrix=moves["matrix"],
        fairness_share=fair["fairness_share"],
        fairness_flag=fair["fairness_flag"],
        worse_off_reps=fair["worse_off"],
        wall_seconds=round(time.perf_counter() - started, 2),
        incumbents=(incumbent_report(acc, np.asarray(reps["rep_id"]))
                    if acc["current_rep"].notna().any() else None),
        **_card_summary(card, pieces),
    )
    return ScenarioResult(config, acc, inputs.rejects, units, reps, card, summary,
                          inputs.substitutions, inputs.adjacency,
                          rep_isochrones(reps, network) if network is not None else None)


def _snapping_from_disk(units: gpd.GeoDataFrame) -> tuple[bytes, Path]:
    """The key and file of the units' snapped shapes (the slow part of dissolving a plan's
    territories: 1 s for 28,000 units), which they are read from when kept by a run before.

    The file is named by the digest of the unit shapes, so it belongs to these shapes only;
    a damaged file is ignored (and the snapping done again).
    """
    key = snapping_key(units)
    path = cache_dir("snapped") / f"{key.hex()}.parquet"
    if snapped_shapes(key) is None and path.is_file():
        try:
            kept = gpd.read_parquet(path)
            remember_snapped(key, np.asarray(kept.geometry.values), kept["clean"].to_numpy(bool))
        except Exception as exc:  # noqa: BLE001 - a cache file is never trusted to be whole
            log.debug("snapped shapes in %s unreadable (%s): snapping again", path, exc)
    return key, path


def _snapping_to_disk(key: bytes, path: Path) -> None:
    """Keep the snapped shapes of ``key`` in ``path`` for the next run (once)."""
    got = snapped_shapes(key)
    if got is None or path.is_file():
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:  # written aside then renamed: a concurrent run reads a whole file or none
        gpd.GeoDataFrame({"clean": got[1]}, geometry=list(got[0])).to_parquet(tmp)
        os.replace(tmp, path)
    except Exception as exc:  # noqa: BLE001 - no cache is slower, not wrong
        log.debug("cannot keep the snapped shapes in %s: %s", path, exc)
        tmp.unlink(missing_ok=True)


def _plan_scorecard(acc: pd.DataFrame, units: pd.DataFrame, reps: pd.DataFrame,
                    targets: RepTargets, network, config: ScenarioConfig) -> pd.DataFrame:
    """The plan's scorecard: totals, band flags, drive hours, compactness and quota per rep."""
    from .travel.burden import travel_burden

    card = _scorecard(acc, units, reps, targets, config)
    burden = travel_burden(None, units, reps, network, config.travel, accounts=_visit_stops(acc))
    card = _with_travel_and_quota(card, burden, reps, config)
    return card.merge(compactness_scores(units, acc, reps), on="rep_id", how="left")


def _scorecard(acc: pd.DataFrame, units: pd.DataFrame, reps: pd.DataFrame,
               targets: RepTargets, config: ScenarioConfig) -> pd.DataFrame:
    """:func:`rep_scorecard` against the optimizer's capacity-scaled targets and bands."""
    return rep_scorecard(acc, units, reps, tam_tolerance=config.balance.tam_tolerance,
                         units_band=(targets.account_units_lo, targets.account_units_hi),
                         tam_target=pd.Series(targets.tam, index=np.asarray(reps["rep_id"])))


def _band(config: ScenarioConfig) -> tuple[float, float]:
    return (config.balance.account_units_min, config.balance.account_units_max)


def _card_summary(card: pd.DataFrame, pieces: dict[str, int]) -> dict:
    """The summary fields read off a scorecard, for a plan and the current alignment alike."""
    return {
        "contiguous": all(n <= 1 for n in pieces.values()),
        "territory_pieces": pieces,
        "tam_cv": round(tam_cv(card), 4),
        "reps_flagged": int((card["flags"] != "").sum()),
        "drive_hours_mean": round(float(card["drive_hours_per_month"].mean()), 2),
        "drive_hours_max": round(float(card["drive_hours_per_month"].max()), 2),
    }


def _contract(inputs: PreparedInputs, config: ScenarioConfig
              ) -> tuple[PreparedInputs, Contraction | None]:
    """Inputs on the contracted units (empty units merged into anchors; see geo.contract)."""
    units = inputs.units
    empty = units["n_accounts"].to_numpy() == 0
    if not config.contract_empty_units or not empty.any():
        return inputs, None
    xy = project_points(units["lon"].to_numpy(), units["lat"].to_numpy())
    # a locked unit stays a unit of its own even when empty: merged into an anchor, its lock
    # would bind the anchor (perhaps to a second rep, or away from a home base)
    locked = units["unit_id"].isin(set(inputs.locks["unit_id"]) - {""}).to_numpy()
    c = contract_units(units["unit_id"], ~empty | locked, inputs.adjacency, xy)
    anchor_id = dict(zip(units["unit_id"], units["unit_id"].to_numpy()[c.anchor]))
    locks = inputs.locks.assign(unit_id=[anchor_id.get(u, u) if u else u
                                         for u in inputs.locks["unit_id"]])
    work = dataclasses.replace(inputs, units=contracted_frame(units, c), adjacency=c.graph,
                               locks=locks)
    return work, c


def rep_isochrones(reps: pd.DataFrame, network, minutes=(30, 60, 90)) -> gpd.GeoDataFrame:
    """Drive-time areas (30 / 60 / 90 min) around every rep's base, for the map."""
    from .travel.burden import isochrones

    parts = [isochrones(network, float(r.lon), float(r.lat), minutes).assign(rep_id=r.rep_id)
             for r in reps.itertuples()]
    out = pd.concat(parts, ignore_index=True)
    return gpd.GeoDataFrame(out[["rep_id", "minutes", "geometry"]], geometry="geometry",
                            crs="EPSG:4326")


def _visit_stops(acc: pd.DataFrame) -> pd.DataFrame:
    """Each account as a visit stop of its rep; own coordinates only where the input gave them."""
    own = acc["point_source"].eq("input lat/lon") if "point_source" in acc else False
    return pd.DataFrame({"account_id": acc["account_id"], "rep_id": acc["rep_id"],
                         "unit_id": acc["unit_id"], "visits_per_year": acc["touches_per_year"],
                         "lon": acc["lon"].where(own), "lat": acc["lat"].where(own)})


def _with_travel_and_quota(card: pd.DataFrame, burden: pd.DataFrame, reps: pd.DataFrame,
                           config: ScenarioConfig) -> pd.DataFrame:
    """The scorecard with drive hours, their red flags and the quota columns."""
    card = card.merge(burden, on="rep_id", how="left")
    card = add_flags(card, card["over_hours"].fillna(False).to_numpy(),
                     f"drive>{config.travel.max_drive_hours_per_month:g}h")
    card = add_flags(card, card["over_share"].fillna(False).to_numpy(),
                     f"travel>{config.travel.max_travel_share:.0%}")
    card = add_flags(card, card["over_time"].fillna(False).to_numpy(),
                     f"impossible:drive+visits>{config.travel.working_hours_per_month:g}h")
    return card.merge(quota_table(card, reps, config.quota), on="rep_id", how="left")


def _inputs_summary(inputs: PreparedInputs, config: ScenarioConfig, reps: pd.DataFrame,
                    tm) -> Summary:
    """The summary fields every scenario has, plan or not: inputs, rules, travel source."""
    reasons = Counter(inputs.rejects["reason"])
    return Summary(
        scenario=config.name,
        description=config.description,
        territory_version=__version__,
        seed=config.seed,
        accounts_in=inputs.info["accounts_in"],
        assigned=int(len(inputs.accounts)),
        rejected=int(len(inputs.rejects)),
        reject_reasons=dict(sorted(reasons.items())),
        zip_fixed=inputs.info["zip_fixed"],
        substitutions=inputs.info["substitutions"],
        coordinates_replaced=inputs.info.get("coordinates_replaced", 0),
        roster=inputs.info.get("roster"),
        owner_match=inputs.info.get("owner_match"),
        read_notes=tuple(inputs.info["read_notes"]),
        tier_sources=inputs.info["tier_sources"],
        unit_level=config.unit_level,
        unit_source=inputs.info["unit_source"],
        bridges=tuple(inputs.info["bridges"]),
        n_units=int(len(inputs.units)),
        n_reps=int(len(reps)),
        base_kind=str(reps["base_kind"].iat[0]),
        solver=config.solver.name,
        time_limit_seconds=config.solver.time_limit_seconds,
        tam_tolerance=config.balance.tam_tolerance,
        account_units_band=_band(config),
        contiguity=config.contiguity,
        max_moved_share=config.disruption.max_moved_share,
        travel_source=tm.source,
        travel_coverage=round(float(tm.coverage), 4),
        max_drive_hours_per_month=config.travel.max_drive_hours_per_month,
        max_travel_share=config.travel.max_travel_share,
    )


# ----------------------------------------------------------------------------- current


def current_alignment(inputs: PreparedInputs, config: ScenarioConfig, *, network=None) -> ScenarioResult:
    """The current owners as a result: the baseline scenario of every comparison.

    Accounts keep their ``current_rep``; a unit shows the rep owning most of its
    TAM. Accounts without a current owner are reported, not assigned.
    """
    return _current_alignment(inputs, config, road_network(inputs, config) if network is None
                              else network)


def _current_alignment(inputs: PreparedInputs, config: ScenarioConfig, network) -> ScenarioResult:
    """:func:`current_alignment` on a decided road network (None: straight-line estimates)."""
    from .travel.burden import travel_matrix

    acc = inputs.accounts
    if acc["current_rep"].isna().all():
        raise InputError("the accounts have no current_rep column: no current alignment")
    reps = _current_reps(inputs, config)
    owned = acc[acc["current_rep"].notna()].assign(rep_id=lambda d: d["current_rep"].astype(str))
    units = inputs.units.assign(rep_id=inputs.units["unit_id"].map(unit_owner(acc)))
    tm = travel_matrix(network, reps[["lon", "lat"]].to_numpy(), units[["lon", "lat"]].to_numpy(),
                       config.travel)
    card = _current_scorecard(inputs, config, owned, units, reps, network)
    pieces = contiguity_report(units.dropna(subset=["rep_id"]), inputs.adjacency)
    cfg = config.replace(name="current", description="the current alignment")
    summary = _inputs_summary(inputs, cfg, reps, tm).replace(
        status="current alignment", solve_seconds=0.0,
        unowned_accounts=int(acc["current_rep"].isna().sum()),
        accounts_moved=0, tam_moved=0.0, moved_share=0.0,
        violations=[f"{r.rep_id}: {r.flags}" for r in card.itertuples() if r.flags],
        **_card_summary(card, pieces))
    out_acc = acc.assign(rep_id=acc["current_rep"], moved=False)
    return ScenarioResult(cfg, out_acc, inputs.rejects, units, reps, card, summary,
                          inputs.substitutions, inputs.adjacency)


def _current_reps(inputs: PreparedInputs, config: ScenarioConfig) -> pd.DataFrame:
    """The current owners' bases: roster homes, else the unit of an owner's largest TAM."""
    acc = inputs.accounts
    reps, _ = _bases(inputs, config) if inputs.reps["lat"].notna().all() else (None, None)
    owners = sorted(acc["current_rep"].dropna().astype(str).unique())
    if reps is None or not set(owners) <= set(reps["rep_id"]):
        extra = pd.DataFrame({"rep_id": [o for o in owners if reps is None
                                         or o not in set(reps["rep_id"])]})
        extra["name"] = extra["rep_id"]
        base = inputs.units.set_index("unit_id")
        tam_unit = acc.groupby(["current_rep", "unit_id"])["revenue"].sum()
        first = tam_unit.groupby(level=0).idxmax()
        extra["lon"] = [base.at[first[o][1], "lon"] for o in extra["rep_id"]]
        extra["lat"] = [base.at[first[o][1], "lat"] for o in extra["rep_id"]]
        extra["base_kind"] = "centre"
        extra["capacity"] = 1.0
        extra["start_date"] = ""
        reps = pd.concat([reps, extra], ignore_index=True) if reps is not None else extra
    return reps[reps["rep_id"].isin(owners)].reset_index(drop=True)


def _current_scorecard(inputs: PreparedInputs, config: ScenarioConfig, owned: pd.DataFrame,
                       units: pd.DataFrame, reps: pd.DataFrame, network) -> pd.DataFrame:
    """The current book's scorecard; a unit split between owners is visited by each."""
    from .travel.burden import travel_burden

    targets = rep_targets(float(owned["revenue"].sum()), _band_rules(config),
                          reps["capacity"].to_numpy(float))
    card = _scorecard(owned, units.dropna(subset=["rep_id"]), reps, targets, config)
    burden = travel_burden(None, inputs.units, reps, network, config.travel,
                           accounts=_visit_stops(owned))
    card = _with_travel_and_quota(card, burden, reps, config)
    return card.merge(compactness_scores(units, owned, reps), on="rep_id", how="left")


# ----------------------------------------------------------------------------- scenarios


def run_scenarios(
    accounts: TableSource,
    reps: TableSource | int,
    configs: Sequence[ScenarioConfig],
    *,
    zcta: str | Path | None = None,
    units_path: str | Path | None = None,
    unit_id: str | None = None,
    locks: TableSource | None = None,
    with_current: bool = False,
) -> RunResult:
    """Plan every scenario of ``configs`` (and the current alignment): what the CLI runs.

    The inputs are prepared once per distinct set of the rules :func:`prepare`
    reads (columns, tiers, unit level, region, adjacency, nearest-unit
    distance; ``n_reps`` only cuts the roster), and one road network is loaded
    per travel set-up (:func:`road_network`). A scenario without a plan is a
    :class:`NoPlan` in the result, not an exception. The current alignment
    (``with_current``, when a scenario planned and the accounts have owners)
    uses the whole roster and the first scenario's rules.
    """
    cache = _RunCache(accounts, reps, zcta=zcta, units_path=units_path, unit_id=unit_id,
                      locks=locks)
    outcomes: list[ScenarioResult | NoPlan] = []
    for cfg in configs:
        inputs = cache.inputs(cfg)
        outcome = _solve_scenario(inputs, cfg, cache.network(inputs, cfg))
        s = outcome.summary
        if s.has_plan:
            log.info("[%s] %s: %d accounts in = %d assigned + %d rejected", cfg.name, s.status,
                     s.accounts_in, s.assigned, s.rejected)
        else:  # summary.json's ``assigned`` counts the accounts placed in units: none has a rep
            log.info("[%s] %s: %d accounts in, %d placed in units + %d rejected; no plan, so "
                     "none assigned", cfg.name, s.status, s.accounts_in, s.assigned, s.rejected)
        outcomes.append(outcome)
    current = None
    if with_current and any(isinstance(o, ScenarioResult) for o in outcomes):
        base_cfg = configs[0].replace(n_reps=None)
        inputs = cache.inputs(base_cfg)
        if inputs.accounts["current_rep"].notna().any():
            current = _current_alignment(inputs, base_cfg, cache.network(inputs, base_cfg))
    return RunResult(tuple(outcomes), current)


class _RunCache:
    """Prepared inputs and road networks shared by the scenarios of one run."""

    def __init__(self, accounts, reps, *, zcta, units_path, unit_id, locks) -> None:
        self._accounts, self._reps, self._locks = accounts, reps, locks
        self._where = {"zcta": zcta, "units_path": units_path, "unit_id": unit_id}
        self._placed: dict[str, PreparedInputs] = {}
        self._networks: dict[tuple, object] = {}

    def inputs(self, config: ScenarioConfig) -> PreparedInputs:
        key = _prepare_key(config)
        if key not in self._placed:
            self._placed[key] = _place_accounts(self._accounts, config, reps=self._reps,
                                                locks=self._locks, **self._where)
        return with_roster(self._placed[key], self._reps, config)

    def network(self, inputs: PreparedInputs, config: ScenarioConfig):
        # a downloaded network covers the points of its inputs; a file is the same for all
        area = ((_prepare_key(config), len(inputs.reps))
                if config.travel.source == "download" else None)
        key = (repr(config.travel), area)
        if key not in self._networks:
            self._networks[key] = road_network(inputs, config)
        return self._networks[key]
