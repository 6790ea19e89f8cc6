"""Travel burden: drive hours per month of each rep, on day tours from home.

Stage ``travel`` of the pipeline: a plan (who visits which accounts) -> each
rep's visit sites -> a year of day tours on real drive times -> hours a month.
Drive times come from :mod:`.matrix` (OpenStreetMap road graph, or the
labelled straight-line estimate); road data © OpenStreetMap contributors, ODbL 1.0.

How drive hours are computed (``method="tours"``)
--------------------------------------------------
*Sites.* An account with its own coordinates is a point site. The accounts of
one unit (ZIP area) known only by their ZIP form one *area site* at the unit's
point: where in the unit each one is, is not known.

*Legs.* A leg between two different sites is the drive time between their
points (:func:`~territory.travel.matrix.travel_matrix`: graph route plus the
access legs). A leg between two visits of the same area site is the expected
leg between two random points of a region of area ``A``,
``0.5214 * sqrt(A)`` km (the mean distance between two uniform points of a
square, ``(2 + sqrt 2 + 5 asinh 1) / 15``), times the local pace, the drive
seconds per straight-line km measured on the graph inside the unit
(:func:`~territory.travel.matrix.local_pace`: circuity over speed, never a
guessed constant; off the graph, ``circuity / estimate_speed_kph``). A run of
``k`` visits of one area site in a tour costs ``min(k - 1, 0.7124 sqrt(k) /
0.5214)`` such legs: ``k - 1`` random legs for a few stops, the
Beardwood-Halton-Hammersley tour ``0.7124 sqrt(k A)`` for many.

*Months.* A site with ``v`` visits a year is visited at times ``(j + phase) /
v`` of the year (``j = 0, 1, ...``), so month ``m`` holds the visits in
``[m/12, (m+1)/12)``: an A account (12 a year) every month, a B (6) every
other month, a C (4) every third. Phases follow the sites' bearing from the
rep's home (``phase = (rank + 0.5) / n``), so the accounts due in a month lie
in one sector, as a rep would plan them. A fractional cadence rounds per site
by its phase (2.5 a year: 2 or 3 visits).

*Days.* Each month's visits are cut into working days of at most
``visits_per_day`` visits, each a tour from the rep's home back to it
(:func:`day_tours`): two constructions (farthest round trip first, then
cheapest insertion; and nearest-neighbour chaining), each improved by 2-opt
inside every day (segment reversals, asymmetric times) and by swapping
visits between days, the shorter kept. Ties go to the lowest site index
(area sites by ``unit_id``, then point sites by id), so the result is
deterministic. Its gap to OR-Tools' routing solver is measured in
``bench/bench_travel.py``.

*Figures.* ``drive_hours_per_month`` is the year's tours / 12. ``days_per_month``
is the year's tours / 12; ``service_hours_per_month`` is visits a month x
``service_minutes_per_visit``. The plan is *impossible* for a rep
(``over_time``, a warning) when drive hours plus service hours exceed
``working_hours_per_month``. ``routed_share`` is the share of the year's legs
that are on the road graph (a route, or an area leg with a pace measured on
the graph); the rest use the straight-line estimate. ``hours_basis`` is
``"road"`` (every leg on the graph), ``"estimate"`` (none) or ``"mixed"``.

Assumptions: free-flow speeds (no congestion, parking or walking time); one
visit per account per due month; no overnight trips; every day returns home.

``method="round_trips"`` is the naive upper bound for comparison: every
visit is its own ``home -> site -> home`` trip (``2 v`` legs a year).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import TravelConfig
from ..errors import InputError
from .isochrones import isochrones
from .matrix import (
    RoadNetwork,
    TravelMatrix,
    estimate_matrix,
    haversine_km,
    load_road_network,
    local_pace,
    travel_matrix,
)

__all__ = [
    "BHH_CONSTANT",
    "BURDEN_COLUMNS",
    "MEAN_PAIR_DISTANCE",
    "RepSites",
    "RoadNetwork",
    "TravelMatrix",
    "day_tours",
    "estimate_matrix",
    "haversine_km",
    "isochrones",
    "load_road_network",
    "local_pace",
    "nearest_neighbour_days",
    "monthly_visits",
    "rep_sites",
    "tour_legs",
    "travel_burden",
    "travel_matrix",
    "unit_areas_km2",
]

log = logging.getLogger(__name__)

#: Mean distance between two uniform random points of the unit square.
MEAN_PAIR_DISTANCE = (2.0 + np.sqrt(2.0) + 5.0 * np.arcsinh(1.0)) / 15.0  # 0.52140...
#: Beardwood-Halton-Hammersley constant: optimal tour ~ BHH sqrt(n A) for n uniform stops.
BHH_CONSTANT = 0.7124
BURDEN_COLUMNS = ["rep_id", "visits_per_month", "drive_hours_per_month", "travel_share",
                  "over_hours", "over_share", "days_per_month", "service_hours_per_month",
                  "over_time", "routed_share", "hours_basis", "source"]


# ----------------------------------------------------------------------------- sites


@dataclass(frozen=True, eq=False)
class RepSites:
    """One rep's visit sites and the drive seconds between them; index 0 is the home.

    Attributes
    ----------
    seconds
        ``(n + 1, n + 1)`` drive seconds; the diagonal entry of an area site is one
        intra-unit leg (0 for the home and point sites).
    on_graph
        Same shape, True where the leg is on the road graph.
    visits_per_year
        ``(n,)`` visits a year of each site.
    area
        ``(n,)`` True for an area site (ZIP-only accounts of one unit).
    site_ids
        Unit id of an area site, account id of a point site.
    phase
        ``(n,)`` phase of each site's visits in the year (see the module docstring).
    """

    seconds: np.ndarray
    on_graph: np.ndarray
    visits_per_year: np.ndarray
    area: np.ndarray
    site_ids: tuple[str, ...]
    phase: np.ndarray


def unit_areas_km2(units: pd.DataFrame) -> pd.Series:
    """Land area of each unit in km^2: ``area_km2`` if given, else from an equal-area
    projection of ``geometry`` (EPSG:6933), else 0; indexed by ``unit_id``."""
    if "area_km2" in units.columns:
        area = pd.to_numeric(units["area_km2"], errors="coerce").fillna(0.0).to_numpy(float)
    elif "geometry" in units.columns:
        import geopandas as gpd

        g = gpd.GeoSeries(units["geometry"].to_numpy(),
                          crs=getattr(units, "crs", None) or "EPSG:4326")
        area = g.to_crs("EPSG:6933").area.to_numpy(float) / 1e6
    else:
        area = np.zeros(len(units))
    return pd.Series(np.maximum(area, 0.0), index=units["unit_id"].to_numpy())


def _bearing_phase(home: np.ndarray, pts: np.ndarray, ids: list[str]) -> np.ndarray:
    """Phases ``(rank + 0.5) / n`` in the order of bearing from home (ties by id)."""
    n = len(pts)
    if n == 0:
        return np.zeros(0)
    dx = (pts[:, 0] - home[0]) * np.cos(np.radians(home[1]))
    ang = np.arctan2(pts[:, 1] - home[1], dx)
    order = sorted(range(n), key=lambda i: (round(float(ang[i]), 9), ids[i]))
    phase = np.empty(n)
    phase[order] = (np.arange(n) + 0.5) / n
    return phase


def rep_sites(stops: pd.DataFrame, home: tuple[float, float], unit_points: pd.DataFrame,
              network: RoadNetwork | None, cfg: TravelConfig) -> RepSites:
    """The visit sites of one rep and the drive seconds between them.

    Parameters
    ----------
    stops
        ``site_id, unit_id, visits_per_year, lon, lat``: one row per account
        (``lon``/``lat`` NaN when it is known only by its unit).
    home
        The rep's base ``(lon, lat)``.
    unit_points
        Indexed by ``unit_id``: ``lon, lat, area_km2``.
    network, cfg
        Road graph (or None) and travel settings.
    """
    stops = stops[stops["visits_per_year"] > 0]
    by_point = stops["lon"].notna() & stops["lat"].notna()
    zone = (stops[~by_point].groupby("unit_id", sort=False)["visits_per_year"].sum()
            .rename(index=str).sort_index())
    pts = stops[by_point].assign(site_id=lambda d: d["site_id"].astype(str))
    pts = pts.sort_values("site_id", kind="stable")
    up = unit_points.loc[zone.index]
    lon = np.r_[up["lon"].to_numpy(float), pts["lon"].to_numpy(float)]
    lat = np.r_[up["lat"].to_numpy(float), pts["lat"].to_numpy(float)]
    area = np.r_[np.ones(len(zone), dtype=bool), np.zeros(len(pts), dtype=bool)]
    visits = np.r_[zone.to_numpy(float), pts["visits_per_year"].to_numpy(float)]
    ids = [*zone.index, *pts["site_id"]]
    xy = np.column_stack([np.r_[home[0], lon], np.r_[home[1], lat]])
    tm = travel_matrix(network, xy, xy, cfg)
    seconds, on_graph = tm.seconds.copy(), ~tm.estimated
    if len(zone):
        a = up["area_km2"].to_numpy(float)
        pace, measured = local_pace(network, lon[:len(zone)], lat[:len(zone)],
                                    np.sqrt(a / np.pi), cfg)
        k = np.arange(1, len(zone) + 1)
        seconds[k, k] = MEAN_PAIR_DISTANCE * np.sqrt(a) * pace
        on_graph[k, k] = measured
    return RepSites(seconds, on_graph, visits, area, tuple(ids),
                    _bearing_phase(np.asarray(home, float), np.column_stack([lon, lat]), ids))


# ----------------------------------------------------------------------------- schedule


def monthly_visits(visits_per_year: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Visits of each site in each month: ``(12, n)`` integers.

    Visit ``j`` of a site with ``v`` visits a year falls at ``(j + phase) / v``
    of the year; a month holds the visits falling in it.
    """
    v = np.asarray(visits_per_year, dtype=float)[None, :]
    edges = np.arange(13, dtype=float)[:, None] / 12.0
    # visits before time x: j + phase < x v, i.e. ceil(x v - phase) of them (small eps:
    # a visit exactly on a month boundary belongs to the later month)
    before = np.maximum(np.ceil(edges * v - np.asarray(phase, float)[None, :] - 1e-9), 0.0)
    return np.diff(before, axis=0).astype(np.int64)


def _path_cost(s: np.ndarray, path: list[int]) -> float:
    return float(sum(s[a, b] for a, b in zip(path[:-1], path[1:])))


def _two_opt(s: np.ndarray, tour: list[int]) -> list[int]:
    """Reverse segments of ``0 -> tour -> 0`` while that shortens it (first improvement)."""
    path = [0, *tour, 0]
    best = _path_cost(s, path)
    improved = True
    while improved:
        improved = False
        for i in range(1, len(path) - 2):
            for j in range(i + 1, len(path) - 1):
                cand = path[:i] + path[i:j + 1][::-1] + path[j + 1:]
                c = _path_cost(s, cand)
                if c < best - 1e-9:
                    path, best, improved = cand, c, True
    return path[1:-1]


def _insertion_days(s: np.ndarray, counts: np.ndarray, per_day: int) -> list[list[int]]:
    """Farthest round trip first, then the cheapest insertion until the day is full."""
    rem = counts.copy()
    round_trip = s[0, 1:] + s[1:, 0]
    days: list[list[int]] = []
    while rem.sum() > 0:
        first = int(np.argmax(np.where(rem > 0, round_trip, -np.inf)))
        rem[first] -= 1
        tour = [first + 1]
        while len(tour) < per_day and rem.sum() > 0:
            path = np.array([0, *tour, 0])
            a, b = path[:-1], path[1:]
            # cost[p, c]: put site c between path[p] and path[p + 1]
            cost = s[a][:, 1:] + s[1:, b].T - s[a, b][:, None]
            cost[:, rem <= 0] = np.inf
            c, p = divmod(int(np.argmin(cost.T)), len(a))  # ties: lowest site, then position
            rem[c] -= 1
            tour.insert(p, c + 1)
        days.append(tour)
    return days


def nearest_neighbour_days(s: np.ndarray, counts: np.ndarray, per_day: int) -> list[list[int]]:
    """Plain nearest-neighbour days: from home, always the nearest visit left; home when full.

    One of the two constructions :func:`day_tours` improves, and the baseline `bench/` holds
    it against.
    """
    rem, days = counts.copy(), []
    while rem.sum() > 0:
        cur, tour = 0, []
        while len(tour) < per_day and rem.sum() > 0:
            j = int(np.argmin(np.where(rem > 0, s[cur, 1:], np.inf)))
            rem[j] -= 1
            tour.append(j + 1)
            cur = j + 1
        days.append(tour)
    return days


def _exchange(s: np.ndarray, days: list[list[int]], max_passes: int = 20) -> list[list[int]]:
    """Swap visits between days while that shortens them: each pass applies the best
    improving swaps that touch disjoint days, best first."""
    days = [list(d) for d in days]
    for _ in range(max_passes):
        node = np.array([v for d in days for v in d])
        prev = np.array([[0, *d][i] for d in days for i in range(len(d))])
        nxt = np.array([[*d, 0][i + 1] for d in days for i in range(len(d))])
        day = np.repeat(np.arange(len(days)), [len(d) for d in days])
        pos = np.concatenate([np.arange(len(d)) for d in days])
        # put[i, j]: change of slot i's day when it holds node[j] instead of node[i]
        base = s[prev, node] + s[node, nxt]
        put = s[prev][:, node] + s[node][:, nxt].T - base[:, None]
        gain = np.triu(put + put.T, 1)
        gain[(day[:, None] == day[None, :]) | (np.tri(len(node), dtype=bool))] = np.inf
        ii, jj = np.nonzero(gain < -1e-9)
        if not len(ii):
            break
        used: set[int] = set()
        for k in np.lexsort((jj, ii, gain[ii, jj])):  # best first; ties by slot
            i, j = int(ii[k]), int(jj[k])
            if day[i] in used or day[j] in used:
                continue
            used.update((int(day[i]), int(day[j])))
            days[day[i]][pos[i]], days[day[j]][pos[j]] = int(node[j]), int(node[i])
    return days


def _improve(s: np.ndarray, days: list[list[int]]) -> list[list[int]]:
    days = [_two_opt(s, d) for d in days]
    if len(days) < 2 or sum(map(len, days)) > 400:  # the n^2 swap search: months of <= 400
        return days
    for _ in range(3):
        swapped = _exchange(s, days)
        swapped = [_two_opt(s, d) for d in swapped]
        if sum(_path_cost(s, [0, *d, 0]) for d in swapped) >= \
                sum(_path_cost(s, [0, *d, 0]) for d in days) - 1e-9:
            break
        days = swapped
    return days


def day_tours(seconds: np.ndarray, counts: np.ndarray, per_day: int, *,
              improve: bool = True) -> list[list[int]]:
    """Cut one month's visits into day tours from home (index 0) back to it.

    Two constructions: (a) each day starts with the visit whose round trip from
    home is longest and adds the visit cheapest to insert into the tour (any
    position) until it holds ``per_day`` visits; (b) nearest-neighbour chaining
    from home. With ``improve``, each is improved by 2-opt inside every day and
    by swapping visits between days (best swap first) while that shortens the
    month, and the shorter of the two is returned (ties: (a)).

    Parameters
    ----------
    seconds
        ``(n + 1, n + 1)`` leg seconds, home at 0; ``seconds[s, s]`` is the leg
        between two visits of site ``s``.
    counts
        ``(n,)`` visits of each site this month.
    per_day
        Visits a day at most.
    improve
        False gives construction (a) alone.

    Returns
    -------
    list of list of int
        Site indices (1-based: rows of ``seconds``) in visiting order, one list a day.
    """
    s = np.asarray(seconds, dtype=float)
    c = np.asarray(counts, dtype=np.int64)
    first = _insertion_days(s, c, per_day)
    if not improve:
        return first
    best, best_cost = [], np.inf
    for days in (first, nearest_neighbour_days(s, c, per_day)):
        days = _improve(s, days)
        cost = sum(_path_cost(s, [0, *d, 0]) for d in days)
        if cost < best_cost - 1e-9:
            best, best_cost = days, cost
    return best


def tour_legs(sites: RepSites, tour: list[int]) -> tuple[float, int, int]:
    """Seconds, legs and legs on the graph of ``home -> tour -> home``.

    A run of ``k`` visits of one area site costs ``min(k - 1, BHH sqrt(k) / 0.5214)``
    intra-unit legs (module docstring).
    """
    path = [0, *tour, 0]
    s, g = sites.seconds, sites.on_graph
    total = _path_cost(s, path)
    legs = len(path) - 1
    routed = int(sum(bool(g[a, b]) for a, b in zip(path[:-1], path[1:])))
    i = 1
    while i < len(path) - 1:
        j = i
        while j + 1 < len(path) - 1 and path[j + 1] == path[i]:
            j += 1
        k = j - i + 1
        if k > 1 and sites.area[path[i] - 1]:
            factor = min(k - 1.0, BHH_CONSTANT * np.sqrt(k) / MEAN_PAIR_DISTANCE)
            total -= (k - 1 - factor) * s[path[i], path[i]]
        i = j + 1
    return total, legs, routed


# ----------------------------------------------------------------------------- burden


def _check_frames(assignment: pd.DataFrame | None, units: pd.DataFrame, reps: pd.DataFrame,
                  accounts: pd.DataFrame | None) -> None:
    need = [(units, ("unit_id", "lon", "lat"), "units"), (reps, ("rep_id", "lon", "lat"), "reps")]
    if accounts is None:
        if assignment is None:
            raise InputError("travel_burden: give an assignment or the accounts")
        need += [(assignment, ("unit_id", "rep_id"), "assignment"),
                 (units, ("visits_per_year",), "units")]
    else:
        need.append((accounts, ("rep_id", "unit_id", "visits_per_year"), "accounts"))
    for frame, cols, name in need:
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise InputError(f"travel_burden: {name} lacks column(s) {', '.join(missing)}")


def _stops(assignment: pd.DataFrame | None, units: pd.DataFrame,
           accounts: pd.DataFrame | None) -> pd.DataFrame:
    """``rep_id, site_id, unit_id, visits_per_year, lon, lat`` per account (or unit)."""
    if accounts is None:
        u = units[["unit_id", "visits_per_year"]].drop_duplicates("unit_id")
        st = assignment[["unit_id", "rep_id"]].dropna().merge(u, on="unit_id", how="left")
        st = st.assign(site_id=st["unit_id"], lon=np.nan, lat=np.nan)
    else:
        st = accounts.copy()
        st["site_id"] = st["account_id"] if "account_id" in st else np.arange(len(st))
        for c in ("lon", "lat"):
            if c not in st:
                st[c] = np.nan
    st = st.dropna(subset=["rep_id"])
    st["visits_per_year"] = pd.to_numeric(st["visits_per_year"], errors="coerce").fillna(0.0)
    if (st["visits_per_year"] < 0).any():
        raise InputError("travel_burden: visits_per_year must not be negative")
    known = set(units["unit_id"].astype(str))
    zip_only = st["lon"].isna() | st["lat"].isna()
    bad = st.loc[zip_only & ~st["unit_id"].astype(str).isin(known), "unit_id"]
    if len(bad):
        raise InputError("travel_burden: visited unit(s) without a location: "
                         + ", ".join(bad.astype(str).unique()[:5]))
    return st.assign(unit_id=st["unit_id"].astype(str))


def _rep_year(sites: RepSites, per_day: int, method: str) -> tuple[float, float, float, float]:
    """Seconds, days, legs and legs on the graph of one rep's year."""
    v = sites.visits_per_year
    if method == "round_trips":
        out, back = sites.seconds[0, 1:], sites.seconds[1:, 0]
        routed = sites.on_graph[0, 1:].astype(float) + sites.on_graph[1:, 0]
        return float((v * (out + back)).sum()), float(v.sum()), float(2 * v.sum()), \
            float((v * routed).sum())
    seconds = days = legs = routed = 0.0
    done: dict[bytes, tuple[float, float, float, float]] = {}
    for counts in monthly_visits(v, sites.phase):
        key = counts.tobytes()  # cadences 12/6/4 repeat every 6 months: plan each once
        if key not in done:
            month = [tour_legs(sites, t) for t in day_tours(sites.seconds, counts, per_day)]
            done[key] = (sum(m[0] for m in month), float(len(month)),
                         float(sum(m[1] for m in month)), float(sum(m[2] for m in month)))
        t, d, n, r = done[key]
        seconds, days, legs, routed = seconds + t, days + d, legs + n, routed + r
    return seconds, days, legs, routed


def travel_burden(assignment: pd.DataFrame | None, units: pd.DataFrame, reps: pd.DataFrame,
                  network: RoadNetwork | None, cfg: TravelConfig, *,
                  method: str = "tours", accounts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Drive hours per month of each rep from the visit cadence (model: module docstring).

    Parameters
    ----------
    assignment
        ``unit_id, rep_id``: used when ``accounts`` is None, every unit then being
        one area site with the unit's ``visits_per_year``.
    units
        ``unit_id, lon, lat`` (+ ``visits_per_year`` without accounts) and
        ``area_km2`` or ``geometry`` for the intra-unit legs (no area: 0 km).
    reps
        ``rep_id, lon, lat`` (the rep's base).
    network
        The road graph, or None for the straight-line estimate.
    cfg
        ``visits_per_day``, ``working_hours_per_month``, ``service_minutes_per_visit``,
        ``max_drive_hours_per_month``, ``max_travel_share`` and the estimate settings.
    method
        ``"tours"`` or ``"round_trips"``.
    accounts
        ``rep_id, unit_id, visits_per_year`` (+ ``account_id``, and ``lon, lat``
        where the account's own location is known; NaN otherwise).

    Returns
    -------
    pandas.DataFrame
        One row per rep of ``reps`` (in that order), columns ``BURDEN_COLUMNS``:
        ``rep_id, visits_per_month, drive_hours_per_month, travel_share`` (drive
        hours / working hours), ``over_hours, over_share`` (the red flags),
        ``days_per_month, service_hours_per_month, over_time`` (drive + service
        above the working hours: the plan is impossible for the rep),
        ``routed_share, hours_basis, source``.
    """
    if method not in ("tours", "round_trips"):
        raise InputError(f"travel_burden: method must be 'tours' or 'round_trips', got {method!r}")
    _check_frames(assignment, units, reps, accounts)
    stops = _stops(assignment, units, accounts)
    up = units.drop_duplicates("unit_id").assign(unit_id=lambda d: d["unit_id"].astype(str))
    up = pd.DataFrame({"lon": up["lon"].to_numpy(float), "lat": up["lat"].to_numpy(float),
                       "area_km2": unit_areas_km2(up).to_numpy()}, index=up["unit_id"])
    per_day = int(cfg.visits_per_day)
    source = "estimate" if network is None else "osm"
    rows = [_rep_row(rep, stops[stops["rep_id"].astype(str) == str(rep.rep_id)], up,
                     network, cfg, per_day, method, source)
            for rep in reps.itertuples(index=False)]
    return pd.DataFrame(rows, columns=BURDEN_COLUMNS)


def _rep_row(rep, mine: pd.DataFrame, up: pd.DataFrame, network: RoadNetwork | None,
             cfg: TravelConfig, per_day: int, method: str, source: str) -> dict:
    yearly = float(mine["visits_per_year"].sum())
    seconds = days = legs = routed = 0.0
    if yearly > 0:
        sites = rep_sites(mine, (float(rep.lon), float(rep.lat)), up, network, cfg)
        seconds, days, legs, routed = _rep_year(sites, per_day, method)
    hours = seconds / 12.0 / 3600.0
    service = yearly / 12.0 * float(cfg.service_minutes_per_visit) / 60.0
    work = float(cfg.working_hours_per_month)
    share = hours / work
    routed_share = routed / legs if legs else 1.0
    over_time = bool(hours + service > work)
    if over_time:
        log.warning("rep %s: %.1f drive hours + %.1f hours at accounts a month exceed the %g "
                    "working hours: the plan is impossible for this rep", rep.rep_id, hours,
                    service, work)
    return {
        "rep_id": rep.rep_id,
        "visits_per_month": yearly / 12.0,
        "drive_hours_per_month": hours,
        "travel_share": share,
        "over_hours": bool(hours > cfg.max_drive_hours_per_month),
        "over_share": bool(share > cfg.max_travel_share),
        "days_per_month": days / 12.0,
        "service_hours_per_month": service,
        "over_time": over_time,
        "routed_share": routed_share,
        "hours_basis": ("estimate" if source == "estimate" or routed_share == 0 else
                        "road" if routed_share >= 1.0 - 1e-12 else "mixed"),
        "source": source,
    }
