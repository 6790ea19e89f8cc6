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
    result.scorecard                      # per-rep DataFrame; result.summary is a dict

``prepare`` validates, tiers, geocodes and places the accounts and builds the
units and their adjacency; ``plan`` seeds, solves, scores travel and computes
the scorecard; ``write_result`` writes every output file and the map.
:func:`current_alignment` turns the accounts' current owners into a result of
the same shape, the baseline every redesign is compared with.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from . import __version__
from .io.accounts import REJECT_COLUMNS, assign_tiers, read_table, validate_accounts
from .io.roster import build_roster, incumbent_report, name_seats, read_locks, read_reps
from .optimize import (AssignProblem, BandRules, Disruption, Solver, check_plan, inertia_cost,
                       solve)
from .optimize.problem import Balancing
from .config import ScenarioConfig
from .errors import InfeasibleError, InputError
from .io.export import write_csv, write_excel, write_geojson, write_geopackage, write_json
from .geo.geocode import coordinate_substitutions, geocode_accounts
from .metrics import (FAIRNESS_THRESHOLD, add_flags, compactness_scores, contiguity_report,
                      disruption, fairness, quota_table, rep_scorecard, tam_cv)
from .geo.contract import Contraction, contract_units, contracted_frame, expand_assignment
from .optimize.centres import free_centres
from .optimize.seed import project_points, root_units, seed_centres
from .geo.units import (aggregate_units, approximate_zip_units, county_units, heavy_units,
                        load_unit_polygons, locate_accounts, split_units_into_zips,
                        unit_adjacency, unit_states)

__all__ = ["PreparedInputs", "ScenarioResult", "current_alignment", "evaluate", "plan", "prepare",
           "score_assignment",
           "read_reps", "read_locks", "write_result"]

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class ScenarioResult:
    """A plan with its scorecard: what ``write_result`` writes and the maps draw."""

    config: ScenarioConfig
    accounts: pd.DataFrame
    rejects: pd.DataFrame
    units: gpd.GeoDataFrame
    reps: pd.DataFrame
    scorecard: pd.DataFrame
    summary: dict
    substitutions: pd.DataFrame
    adjacency: nx.Graph
    isochrones: gpd.GeoDataFrame | None = None


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


def _roster(reps: str | Path | int, config: ScenarioConfig, accounts: pd.DataFrame) -> pd.DataFrame:
    """The roster's size early (it sizes ``unit_level = "auto"``); :func:`build_roster` is final."""
    if str(reps).strip().lower() == "current" and not Path(reps).is_file():
        return read_reps(config.n_reps or max(1, int(accounts["current_rep"].nunique())))
    if isinstance(reps, int) or str(reps).isdigit():
        # a number of territories to design; the scenario's n_reps overrides it
        return read_reps(config.n_reps or int(reps))
    return read_reps(reps, n_reps=config.n_reps)


def _split_heavy(counties: gpd.GeoDataFrame, source: str, accounts: pd.DataFrame, n_reps: int,
                 config: ScenarioConfig, zcta: str | Path | None) -> tuple[gpd.GeoDataFrame, str]:
    """``unit_level = "auto"``: split into ZIPs each county that alone breaks a band."""
    placed, _, _ = locate_accounts(accounts, counties, level="county",
                                   max_nearest_km=config.nearest_unit_km)
    b = config.balance
    heavy = heavy_units(counties, placed,
                        tam_max=(1 + b.tam_tolerance) * placed["revenue"].sum() / max(n_reps, 1),
                        account_units_max=b.account_units_max)
    if not heavy:
        return counties.assign(unit_kind="county"), source
    zips = None
    if zcta is not None:
        zips = load_unit_polygons(zcta)
    else:
        from .geo.zcta import cached_zcta_units

        zips = cached_zcta_units(sorted(set(counties.set_index("unit_id").loc[heavy, "state"])))
    log.info("unit_level auto: %d counties alone break a band (%s): split into ZIPs",
             len(heavy), ", ".join(counties.set_index("unit_id").loc[heavy, "name"]))
    kind = "ZCTA polygons" if zips is not None else "APPROXIMATE ZIP areas (Voronoi of ZIP centroids)"
    return (split_units_into_zips(counties, heavy, zips),
            f"{source}; {len(heavy)} counties that alone break a band split into {kind}")


def prepare(
    accounts_path: str | Path,
    reps: str | Path | int,
    config: ScenarioConfig,
    *,
    zcta: str | Path | None = None,
    units_path: str | Path | None = None,
    unit_id: str | None = None,
    locks_path: str | Path | None = None,
) -> PreparedInputs:
    """Read, validate, tier, geocode and place the accounts; build units and adjacency.

    Every account row ends in ``accounts`` or ``rejects`` (one reason each).
    """
    raw, read_info = read_table(accounts_path)
    accounts, rejects = validate_accounts(raw, config.columns, checks=config.accounts)
    accounts = assign_tiers(accounts, config.tiers)
    accounts, geo_rejects = geocode_accounts(accounts)
    states = sorted(s for s in accounts["state"].unique() if s)
    roster = _roster(reps, config, accounts)
    units, unit_source = _load_units(config.unit_level, states, zcta, units_path, unit_id)
    if config.unit_level == "auto" and units_path is None:
        units, unit_source = _split_heavy(units, unit_source, accounts, len(roster), config, zcta)
    accounts, place_rejects, subs = locate_accounts(accounts, units, level=config.unit_level,
                                                      max_nearest_km=config.nearest_unit_km)
    coord_subs = coordinate_substitutions(accounts)
    if not coord_subs.empty:
        subs = pd.concat([coord_subs, subs], ignore_index=True)
    if config.region != "all":
        keep = units["unit_id"].isin(accounts["unit_id"])
        if config.region == "states" and states:
            keep |= unit_states(units).isin(states).to_numpy()
        units = units[keep].reset_index(drop=True)
    if units.empty or accounts.empty:
        raise InputError(f"{accounts_path}: no account could be placed in any unit "
                         f"({len(rejects) + len(geo_rejects) + len(place_rejects)} rejected)")
    units = aggregate_units(units, accounts)
    adjacency, bridges = unit_adjacency(units, contiguity=config.adjacency)
    all_rejects = pd.concat([rejects, geo_rejects, place_rejects], ignore_index=True)
    all_rejects = all_rejects.sort_values("row", kind="stable").reset_index(drop=True)
    roster, accounts, roster_info = build_roster(
        reps, accounts, units, n_reps=config.n_reps, basis=config.disruption.basis,
        max_home_km=config.travel.max_home_km)
    info = {
        **roster_info,
        "accounts_file": str(accounts_path),
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
    assert len(accounts) + len(all_rejects) == len(raw), "an account was lost"
    return PreparedInputs(accounts, all_rejects[REJECT_COLUMNS], units, roster, adjacency,
                          bridges, subs, read_locks(locks_path), info)


# ----------------------------------------------------------------------------- plan


def _road_network(config: ScenarioConfig, lon: np.ndarray, lat: np.ndarray):
    from .travel.burden import load_road_network

    return load_road_network(config.travel, lon=lon, lat=lat)


def _bases(inputs: PreparedInputs, config: ScenarioConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """Each rep's base (home, or a rebalanced centre) and the unit rooting its territory."""
    reps = inputs.reps.copy()
    units = inputs.units
    if reps["lat"].notna().all():
        roots = root_units(units, reps[["lon", "lat"]].to_numpy())
        reps["base_kind"] = "home"
    else:
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
    fc = free_centres(problem, _unit_weights(units, config.objective.weight), hours,
                      _solver(config), seed=config.seed, unit_xy=xy)
    reps = reps.assign(lon=lonlat[fc.bases, 0], lat=lonlat[fc.bases, 1],
                       base_unit=units["unit_id"].to_numpy()[fc.bases])
    tm = travel_matrix(network, reps[["lon", "lat"]].to_numpy(), lonlat, config.travel)
    rounds = {"rounds": fc.rounds, "travel_by_round": [round(t, 4) for t in fc.travel],
              "bases_moved_by_round": list(fc.moved_bases)}
    return fc.result, fc.problem, reps, tm, rounds


def plan(inputs: PreparedInputs, config: ScenarioConfig, *, network=None) -> ScenarioResult:
    """Seed, solve and score one scenario.

    Parameters
    ----------
    network
        A pre-loaded :class:`territory.travel.RoadNetwork` (shared between scenarios);
        loaded from ``config.travel`` when None.

    Raises
    ------
    InfeasibleError
        With the explanation from :func:`territory.optimize.explain_infeasible`.
    """
    from .travel.burden import travel_matrix

    t0 = time.perf_counter()
    full, (inputs, contraction) = inputs, _contract(inputs, config)
    units = inputs.units
    reps, roots = _bases(inputs, config)
    if network is None and config.travel.source != "estimate":
        network = _road_network(config, np.r_[units["lon"], reps["lon"]],
                                np.r_[units["lat"], reps["lat"]])
    tm = travel_matrix(network, reps[["lon", "lat"]].to_numpy(), units[["lon", "lat"]].to_numpy(),
                       config.travel)
    hours = tm.seconds.T / 3600.0
    problem = build_problem(inputs, config, reps, roots, hours)
    base = {**_summary_base(full, config, reps, tm), "n_units_solved": int(len(units))}
    try:
        if reps["base_kind"].iat[0] == "centre":  # no home bases: the bases are ours to move
            solved, problem, reps, tm, rounds = _free_centres(inputs, config, reps, problem,
                                                              network)
            base = {**_summary_base(full, config, reps, tm), "n_units_solved": int(len(units)),
                    "free_centres": rounds}
        else:
            solved = solve(problem, _solver(config), seed=config.seed)
    except InfeasibleError as exc:
        exc.diagnosis.setdefault("summary", {**base, "status": "infeasible",
                                             "explanation": str(exc)})
        raise
    rep_ids = np.asarray(reps["rep_id"])
    rep_of_unit = (solved.rep_of_unit if contraction is None
                   else expand_assignment(contraction, solved.rep_of_unit))
    if _named_seats(inputs) and inputs.locks.empty:  # renaming keeps at least as many accounts
        reps = name_seats(reps, full.units["unit_id"], rep_of_unit, full.accounts,
                          basis=config.disruption.basis)
        problem = dataclasses.replace(problem, rep_ids=tuple(reps["rep_id"]))  # for messages
    violations = check_plan(problem, solved.rep_of_unit)
    if not config.contiguity:
        violations = [v for v in violations if not v.startswith("contiguity")]
    head = {
        **base,
        "status": solved.status,
        "objective": solved.objective,
        "lp_bound": solved.lp_bound if solved.lp_bound is not None else solved.bound,
        "mip_bound": solved.bound,
        "mip_gap": solved.gap,
        "engine": solved.engine,
        "penalty_cost": solved.penalty_cost,
        "solve_seconds": round(solved.solve_seconds, 3),
        "build_seconds": round(solved.build_seconds, 3),
        "candidates_per_unit": solved.candidates,
        "slack": solved.slack,
    }
    return evaluate(full, config, reps, rep_of_unit, tam_target=problem.tam_target,
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
    units = inputs.units
    reps, roots = _bases(inputs, config)
    if network is None and config.travel.source != "estimate":
        network = _road_network(config, np.r_[units["lon"], reps["lon"]],
                                np.r_[units["lat"], reps["lat"]])
    tm = travel_matrix(network, reps[["lon", "lat"]].to_numpy(), units[["lon", "lat"]].to_numpy(),
                       config.travel)
    problem = build_problem(inputs, config, reps, roots, tm.seconds.T / 3600.0)
    rep_of_unit = pd.Index(reps["rep_id"]).get_indexer(pd.Index(rep_ids))
    if (rep_of_unit < 0).any():
        raise InputError(f"rep {list(rep_ids)[int(np.flatnonzero(rep_of_unit < 0)[0])]!r} is not "
                         "in the roster")
    violations = check_plan(problem, rep_of_unit)
    head = {**_summary_base(inputs, config, reps, tm), "n_units_solved": 0, "status": "scored",
            "objective": None, "lp_bound": None, "mip_bound": None, "mip_gap": None,
            "engine": None, "penalty_cost": None, "solve_seconds": 0.0, "build_seconds": 0.0,
            "candidates_per_unit": None, "slack": {}}
    return evaluate(inputs, config, reps, rep_of_unit, tam_target=problem.tam_target,
                    violations=violations, network=network, summary_head=head, started=t0)


def evaluate(inputs: PreparedInputs, config: ScenarioConfig, reps: pd.DataFrame,
             rep_of_unit: np.ndarray, *, tam_target: np.ndarray, violations: list[str],
             network, summary_head: dict, started: float) -> ScenarioResult:
    """Scorecard, travel, disruption, fairness, contiguity and summary of an assignment.

    ``rep_of_unit`` indexes ``reps`` for every unit of ``inputs.units``;
    ``summary_head`` (scenario facts and how the plan was found) opens the summary.
    """
    from .travel.burden import travel_burden

    rep_ids = np.asarray(reps["rep_id"])
    units = inputs.units.assign(rep_id=rep_ids[rep_of_unit])
    acc = inputs.accounts.merge(units[["unit_id", "rep_id"]], on="unit_id", how="left")
    card = rep_scorecard(acc, units, reps, tam_tolerance=config.balance.tam_tolerance,
                         units_band=(config.balance.account_units_min,
                                     config.balance.account_units_max),
                         tam_target=pd.Series(tam_target, index=rep_ids))
    burden = travel_burden(None, units, reps, network, config.travel, accounts=_visit_stops(acc))
    card = _with_travel_and_quota(card, burden, reps, config)
    card = card.merge(compactness_scores(units, acc, reps), on="rep_id", how="left")
    moves = disruption(acc)
    fair = fairness(card, acc, (config.balance.account_units_min,
                                config.balance.account_units_max))
    pieces = contiguity_report(units, inputs.adjacency)
    acc["moved"] = (acc["current_rep"].notna()
                    & (acc["current_rep"].astype(str) != acc["rep_id"].astype(str)))
    summary = {
        **summary_head,
        "violations": violations,
        "contiguous": all(n <= 1 for n in pieces.values()),
        "territory_pieces": pieces,
        "tam_cv": round(tam_cv(card), 4),
        "accounts_moved": moves["accounts_moved"],
        "tam_moved": moves["tam_moved"],
        "moved_share": moves["moved_share"],
        "moved_matrix": moves["matrix"],
        "fairness_share": fair["fairness_share"],
        "fairness_flag": fair["fairness_flag"],
        "fairness_threshold": FAIRNESS_THRESHOLD,
        "worse_off_reps": fair["worse_off"],
        "reps_flagged": int((card["flags"] != "").sum()),
        "drive_hours_mean": round(float(card["drive_hours_per_month"].mean()), 2),
        "drive_hours_max": round(float(card["drive_hours_per_month"].max()), 2),
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
    if acc["current_rep"].notna().any():
        summary["incumbents"] = incumbent_report(acc, rep_ids)
    return ScenarioResult(config, acc, inputs.rejects, units, reps, card, summary,
                          inputs.substitutions, inputs.adjacency,
                          rep_isochrones(reps, network) if network is not None else None)


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


def _summary_base(inputs: PreparedInputs, config: ScenarioConfig, reps: pd.DataFrame, tm) -> dict:
    reasons = Counter(inputs.rejects["reason"])
    return {
        "scenario": config.name,
        "description": config.description,
        "territory_version": __version__,
        "seed": config.seed,
        "accounts_in": inputs.info["accounts_in"],
        "assigned": int(len(inputs.accounts)),
        "rejected": int(len(inputs.rejects)),
        "reject_reasons": dict(sorted(reasons.items())),
        "zip_fixed": inputs.info["zip_fixed"],
        "substitutions": inputs.info["substitutions"],
        "coordinates_replaced": inputs.info.get("coordinates_replaced", 0),
        "roster": inputs.info.get("roster"),
        "owner_match": inputs.info.get("owner_match"),
        "read_notes": inputs.info["read_notes"],
        "tier_sources": inputs.info["tier_sources"],
        "unit_level": config.unit_level,
        "unit_source": inputs.info["unit_source"],
        "bridges": inputs.info["bridges"],
        "n_units": int(len(inputs.units)),
        "n_reps": int(len(reps)),
        "base_kind": str(reps["base_kind"].iat[0]),
        "solver": config.solver.name,
        "time_limit_seconds": config.solver.time_limit_seconds,
        "tam_tolerance": config.balance.tam_tolerance,
        "account_units_band": [config.balance.account_units_min,
                               config.balance.account_units_max],
        "contiguity": config.contiguity,
        "max_moved_share": config.disruption.max_moved_share,
        "travel_source": tm.source,
        "travel_coverage": round(float(tm.coverage), 4),
        "max_drive_hours_per_month": config.travel.max_drive_hours_per_month,
        "max_travel_share": config.travel.max_travel_share,
        "violations": [],
    }


def current_alignment(inputs: PreparedInputs, config: ScenarioConfig, *, network=None) -> ScenarioResult:
    """The current owners as a result: the baseline scenario of every comparison.

    Accounts keep their ``current_rep``; a unit shows the rep owning most of its
    TAM. Accounts without a current owner are reported, not assigned.
    """
    from .travel.burden import travel_burden, travel_matrix

    acc = inputs.accounts
    if acc["current_rep"].isna().all():
        raise InputError("the accounts have no current_rep column: no current alignment")
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
    reps = reps[reps["rep_id"].isin(owners)].reset_index(drop=True)
    owned = acc[acc["current_rep"].notna()].assign(rep_id=lambda d: d["current_rep"].astype(str))
    major = (owned.groupby(["unit_id", "rep_id"])["revenue"].sum().reset_index()
             .sort_values(["unit_id", "revenue", "rep_id"], ascending=[True, False, True])
             .drop_duplicates("unit_id").set_index("unit_id")["rep_id"])
    units = inputs.units.assign(rep_id=inputs.units["unit_id"].map(major))
    if network is None and config.travel.source != "estimate":
        network = _road_network(config, np.r_[units["lon"], reps["lon"]],
                                np.r_[units["lat"], reps["lat"]])
    tm = travel_matrix(network, reps[["lon", "lat"]].to_numpy(), units[["lon", "lat"]].to_numpy(),
                       config.travel)
    card = rep_scorecard(owned, units.dropna(subset=["rep_id"]), reps,
                         tam_tolerance=config.balance.tam_tolerance,
                         units_band=(config.balance.account_units_min,
                                     config.balance.account_units_max))
    # travel of the current book: per-account owner, so a split unit is visited by each owner
    burden = travel_burden(None, inputs.units, reps, network, config.travel,
                           accounts=_visit_stops(owned))
    card = _with_travel_and_quota(card, burden, reps, config)
    card = card.merge(compactness_scores(units, owned, reps), on="rep_id", how="left")
    pieces = contiguity_report(units.dropna(subset=["rep_id"]), inputs.adjacency)
    out_acc = acc.assign(rep_id=acc["current_rep"], moved=False)
    summary = {
        **_summary_base(inputs, dataclasses.replace(config, name="current",
                                                    description="the current alignment"),
                        reps, tm),
        "status": "current alignment",
        "objective": None, "lp_bound": None, "mip_gap": None, "solve_seconds": 0.0,
        "unowned_accounts": int(acc["current_rep"].isna().sum()),
        "contiguous": all(n <= 1 for n in pieces.values()),
        "territory_pieces": pieces,
        "tam_cv": round(tam_cv(card), 4),
        "accounts_moved": 0, "tam_moved": 0.0, "moved_share": 0.0, "moved_matrix": [],
        "fairness_share": None, "fairness_flag": False, "worse_off_reps": [],
        "reps_flagged": int((card["flags"] != "").sum()),
        "drive_hours_mean": round(float(card["drive_hours_per_month"].mean()), 2),
        "drive_hours_max": round(float(card["drive_hours_per_month"].max()), 2),
    }
    summary["violations"] = [f"{r.rep_id}: {r.flags}" for r in card.itertuples() if r.flags]
    cfg = dataclasses.replace(config, name="current", description="the current alignment")
    return ScenarioResult(cfg, out_acc, inputs.rejects, units, reps, card, summary,
                          inputs.substitutions, inputs.adjacency)


# ----------------------------------------------------------------------------- write


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


def write_result(result: ScenarioResult, out_dir: str | Path, *, map_html: bool = True,
                 tiles: str | None = None, colours: dict[str, str] | None = None) -> Path:
    """Write the output contract into ``out_dir`` (created).

    ``colours`` (rep id -> colour, from :func:`territory.maps.rep_colours` over all
    scenarios) keeps a rep's colour the same on every scenario's map.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    acc = result.accounts
    cols = ["account_id", "name", "zip", "unit_id", "rep_id", "tier", "account_units", "revenue"]
    if acc["current_rep"].notna().any():
        cols += ["current_rep", "moved"]
    write_csv(acc[cols], out / "assignments.csv")
    write_csv(result.rejects[REJECT_COLUMNS], out / "rejects.csv")
    card_cols = ["rep_id", "name", "n_accounts", "account_units", "tam", "tam_index", "n_units",
                 "drive_hours_per_month", "visits_per_month", "travel_share", "routed_share",
                 "hours_basis", "polsby_popper", "tam_weighted_km", "quota_multiplier", "ramp",
                 "quota", "flags"]
    write_csv(result.scorecard[[c for c in card_cols if c in result.scorecard]],
              out / "scorecard.csv")
    write_csv(result.units[["unit_id", "rep_id", "tam", "account_units", "n_accounts"]],
              out / "units.csv")
    write_csv(result.reps[["rep_id", "name", "lon", "lat", "base_kind"]], out / "reps.csv")
    if not result.substitutions.empty:
        write_csv(result.substitutions, out / "substitutions.csv")
    terr = territories(result.units, result.scorecard)
    write_geojson(terr, out / "territories.geojson")
    write_geopackage(terr, out / "territories.gpkg", layer="territories")
    sheets = {"all accounts": acc[cols], "scorecard": result.scorecard[
        [c for c in card_cols if c in result.scorecard]]}
    for rep in result.reps.itertuples():
        sheets[str(rep.rep_id)] = acc.loc[acc["rep_id"] == rep.rep_id, cols]
    write_excel(sheets, out / "assignments.xlsx")
    write_json(result.summary, out / "summary.json")
    if map_html:
        from .web.maps import save_map, scenario_map

        m = scenario_map(result.units, result.reps, acc, result.scorecard, result.summary,
                         tiles=tiles, colours=colours, isochrones=result.isochrones,
                         adjacency=result.adjacency)
        save_map(m, out / "map.html")
    return out
