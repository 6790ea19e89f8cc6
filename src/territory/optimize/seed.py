"""Seed stage: initial territory centres, and the unit that roots each territory.

With no home bases, centres come from k-means (scikit-learn) on the unit
points in an equal-area projection, weighted by account units. Plain weighted
k-means leaves dense areas with too few centres for the balance bands to be
met (measured on national ZIP data: infeasible at every count from 6 to 60),
so the centres are then rebalanced: solve the LP relaxation of the banded
assignment (bands soft, so it always has a solution) and move each centre to
the account-unit-weighted centroid of the units the LP gives it; one or two
rounds make the band model feasible.

With home bases, the bases are the centres and only the root units are chosen.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import InputError
from ..geo.reference import EQUAL_AREA_CRS
from .backends import Solver
from .lp import lp_relaxation
from .problem import AssignProblem, BandRules

__all__ = ["kmeans_centres", "project_points", "rebalance_centres", "root_units", "seed_centres"]

log = logging.getLogger(__name__)


def project_points(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """(n, 2) kilometres in the equal-area CRS, for clustering and distances."""
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(EQUAL_AREA_CRS)
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()]) / 1000.0


def unproject_points(xy_km: np.ndarray) -> np.ndarray:
    """Inverse of :func:`project_points`: (n, 2) lon/lat."""
    pts = gpd.GeoSeries(gpd.points_from_xy(xy_km[:, 0] * 1000, xy_km[:, 1] * 1000),
                        crs=EQUAL_AREA_CRS).to_crs("EPSG:4326")
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


def _weights(units: pd.DataFrame) -> np.ndarray:
    au = units["account_units"].to_numpy(dtype=float)
    # Empty units still pull a little, so centres sit inside the region's shape.
    return au + 0.01 * max(au.mean(), 1.0)


def kmeans_centres(units: pd.DataFrame, k: int, *, seed: int = 0) -> np.ndarray:
    """Weighted k-means centres, (k, 2) in equal-area km, deterministic for a seed."""
    xy = project_points(units["lon"].to_numpy(), units["lat"].to_numpy())
    if k > len(units):
        raise InputError(f"cannot seed {k} territories from {len(units)} units")
    from sklearn.cluster import KMeans  # 1-2 s to import: only plans without home bases seed here
    from threadpoolctl import threadpool_limits

    km = KMeans(n_clusters=k, n_init=10, random_state=seed)
    # one thread: the centres' sums then do not depend on the machine's core count (last-bit
    # differences otherwise), and a few thousand points are done before a team of threads
    # is (0.04 s instead of 0.2-0.7 s for 644 units beside HiGHS on a busy machine)
    with threadpool_limits(limits=1, user_api="openmp"):
        km.fit(xy, sample_weight=_weights(units))
    centres = km.cluster_centers_
    # order centres west->east, south->north so rep numbering is stable and readable
    order = np.lexsort((centres[:, 1], centres[:, 0]))
    return centres[order]


def _distance_cost(xy: np.ndarray, centres: np.ndarray, units: pd.DataFrame) -> np.ndarray:
    d = np.linalg.norm(xy[:, None, :] - centres[None, :, :], axis=2)
    return d * _weights(units)[:, None] / max(_weights(units).mean(), 1e-9)


def rebalance_centres(
    units: pd.DataFrame,
    centres: np.ndarray,
    balance: BandRules,
    solver: Solver,
    *,
    rounds: int = 2,
    candidates: int = 8,
) -> np.ndarray:
    """Move centres to the weighted centroid of their share in the banded LP relaxation.

    Parameters
    ----------
    units
        Aggregated units (``lon, lat, tam, account_units``).
    centres
        (k, 2) equal-area km.
    balance, solver
        The band rules (made soft here) and the LP solver.
    rounds
        LP re-centring rounds.
    candidates
        Nearest centres per unit in the LP.
    """
    xy = project_points(units["lon"].to_numpy(), units["lat"].to_numpy())
    w = units["account_units"].to_numpy(dtype=float) + 1e-3
    for i in range(rounds):
        cost = _distance_cost(xy, centres, units)
        # Bands soft so the LP always solves, but priced well above any distance:
        # a breach must cost more than sending a territory's units across the map.
        penalty = max(balance.penalty, 100.0 * float(cost.max()) * len(units) / len(centres))
        soft = dataclasses.replace(balance, soft_tam=True, soft_account_units=True,
                                   penalty=penalty)
        p = AssignProblem.create(
            tuple(units["unit_id"]), tuple(f"c{j}" for j in range(len(centres))),
            units["tam"].to_numpy(float), units["account_units"].to_numpy(float), cost, soft)
        lp = lp_relaxation(p, solver, k=min(candidates, len(centres)), price=False,
                           deadline=time.perf_counter() + solver.time_limit)
        share = None if lp is None else lp.share(p.n_units, p.n_reps)
        if share is None:
            log.warning("LP re-centring round %d found no LP solution; keeping centres", i + 1)
            break
        mass = share * w[:, None]
        total = mass.sum(axis=0)
        moved = total > 0
        new = centres.copy()
        new[moved] = (mass[:, moved].T @ xy) / total[moved, None]
        shift = float(np.linalg.norm(new - centres, axis=1).max())
        log.info("LP re-centring round %d: largest centre move %.1f km", i + 1, shift)
        centres = new
        if shift < 0.5:
            break
    return centres


def root_units(units: pd.DataFrame, points_lonlat: np.ndarray) -> np.ndarray:
    """For each base point, the index of the unit it roots in (distinct units).

    A base inside a unit polygon roots there; otherwise at the nearest unit. When
    two bases fall in the same unit, the later one takes its nearest free unit.
    """
    xy = project_points(units["lon"].to_numpy(), units["lat"].to_numpy())
    pts = project_points(points_lonlat[:, 0], points_lonlat[:, 1])
    inside = np.full(len(pts), -1)
    if isinstance(units, gpd.GeoDataFrame):
        geo = gpd.GeoDataFrame(geometry=gpd.points_from_xy(points_lonlat[:, 0], points_lonlat[:, 1]),
                               crs="EPSG:4326")
        hit = gpd.sjoin(geo, units[["geometry"]].reset_index(drop=True), how="left",
                        predicate="within")
        hit = hit[~hit.index.duplicated(keep="first")]["index_right"]
        inside = hit.fillna(-1).astype(int).to_numpy()
    taken: set[int] = set()
    roots = np.empty(len(pts), dtype=np.int64)
    for i, p in enumerate(pts):
        order = np.argsort(np.linalg.norm(xy - p, axis=1), kind="stable")
        choices = ([inside[i]] if inside[i] >= 0 else []) + order.tolist()
        roots[i] = next(u for u in choices if u not in taken)
        if roots[i] != choices[0]:
            log.warning("base %d shares its unit with another rep; rooted at unit %d instead",
                        i, roots[i])
        taken.add(int(roots[i]))
    return roots


def seed_centres(
    units: pd.DataFrame, k: int, balance: BandRules, solver: Solver, *, seed: int = 0
) -> np.ndarray:
    """k rebalanced centres as (k, 2) lon/lat."""
    centres = kmeans_centres(units, k, seed=seed)
    centres = rebalance_centres(units, centres, balance, solver)
    return unproject_points(centres)
