"""Deterministic benchmark instances on real geography.

Every instance is an :class:`territory.assign.AssignProblem` plus what the
baselines need (unit points, the rep bases, the cost weights). Instances are
built from:

* **counties of one state** -- plotly-geo county polygons via
  :func:`territory.units.county_units` (Ohio: 88 counties);
* **a multi-state ZIP region** -- the *N* standard ZIPs nearest to Columbus, Ohio
  (centroids from PyPI ``zipcodes``), with approximate Voronoi areas from
  :func:`territory.units.approximate_zip_units` for adjacency;
* **real ZCTA polygons** from ``/work/shared/data`` when that folder exists
  (optional: the harness runs without it).

Synthetic demand is deterministic (``numpy.random.default_rng(seed)``), skewed
and denser in cities: each unit gets ``Poisson(base * proxy**alpha)`` accounts,
where ``proxy`` is the number of ZIP codes of the unit's city (ZIP units) or
county (county units) -- a population proxy the offline ``zipcodes`` table
provides -- and each account a lognormal revenue (median $20K, sigma 1.0),
tiered A/B/C at $100K / $25K into 3/2/1 account units, as the domain defaults.

Balance bands are set so the instance is feasible: account units within
+-20% of ``total / n_reps``, TAM within +-15% of the mean. Rep bases are
weighted k-means centres rebalanced with the banded LP relaxation
(:func:`territory.seed.kmeans_centres` + :func:`territory.seed.rebalance_centres`),
rooted with :func:`territory.seed.root_units`. Cost of unit *u* for rep *r* is
``w_u * km(u, base_r)`` with ``w_u = tam_u / mean(tam) + 0.01`` (straight-line
km in the equal-area CRS from :func:`territory.seed.project_points`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from territory.optimize import AssignProblem, BandRules, Solver
from territory.geo.reference import zip_table
from territory.optimize.seed import (
    kmeans_centres,
    project_points,
    rebalance_centres,
    root_units,
    unproject_points,
)
from territory.geo.units import (
    approximate_zip_units,
    county_units,
    load_unit_polygons,
    unit_adjacency,
)

log = logging.getLogger(__name__)

#: Columbus, Ohio: the centre of the multi-state ZIP region.
CENTRE_LONLAT = (-82.99, 39.96)
SHARED_DATA = Path(os.environ.get("TERRITORY_SHARED_DATA", "/work/shared/data"))
UNITS_BAND = 0.20
TAM_TOLERANCE = 0.15


@dataclass
class Instance:
    """An assignment problem plus the geometry the baselines need."""

    name: str
    description: str
    problem: AssignProblem                 # contiguity off; use :meth:`with_contiguity`
    xy: np.ndarray                         # (n, 2) unit points, equal-area km
    bases_xy: np.ndarray                   # (m, 2) rep bases, equal-area km
    weight: np.ndarray                     # (n,) cost weight (TAM share)
    adjacency: nx.Graph | None = None
    bridges: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def n_units(self) -> int:
        return self.problem.n_units

    @property
    def n_reps(self) -> int:
        return self.problem.n_reps

    def with_contiguity(self) -> AssignProblem:
        import dataclasses

        if self.adjacency is None:
            raise ValueError(f"{self.name}: no adjacency graph")
        return dataclasses.replace(self.problem, contiguity=True, adjacency=self.adjacency)


# ----------------------------------------------------------------------------- demand


def synthetic_demand(proxy: np.ndarray, *, seed: int, base: float, alpha: float,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-unit (tam, account_units, n_accounts) from a population proxy.

    Accounts per unit ~ Poisson(base * proxy**alpha); revenue per account
    lognormal (median $20K, sigma 1.0); tiers A >= $100K (3 units), B >= $25K
    (2 units), C (1 unit).
    """
    rng = np.random.default_rng(seed)
    lam = base * np.power(np.maximum(proxy, 1.0), alpha)
    n = rng.poisson(lam)
    total = int(n.sum())
    revenue = rng.lognormal(mean=np.log(20_000.0), sigma=1.0, size=total)
    units = np.where(revenue >= 100_000, 3, np.where(revenue >= 25_000, 2, 1))
    owner = np.repeat(np.arange(len(proxy)), n)
    tam = np.bincount(owner, weights=revenue, minlength=len(proxy))
    au = np.bincount(owner, weights=units, minlength=len(proxy))
    return tam, au, n


# ----------------------------------------------------------------------------- bases


def _problem(name: str, units: pd.DataFrame, n_reps: int, *, seed: int,
             polygons: gpd.GeoDataFrame | None) -> tuple[AssignProblem, np.ndarray, np.ndarray, np.ndarray, dict]:
    """Bases, roots, bands and cost for aggregated ``units`` (unit_id, lon, lat, tam, account_units)."""
    total_au = float(units["account_units"].sum())
    per_rep = total_au / n_reps
    balance = BandRules(tam_tolerance=TAM_TOLERANCE,
                        account_units_min=per_rep * (1 - UNITS_BAND),
                        account_units_max=per_rep * (1 + UNITS_BAND))
    solver = Solver(time_limit=120)
    centres = kmeans_centres(units, n_reps, seed=seed)
    centres = rebalance_centres(units, centres, balance, solver)
    lonlat = unproject_points(centres)
    if polygons is not None:
        polygons = gpd.GeoDataFrame(units.reset_index(drop=True),
                                    geometry=polygons.geometry.to_numpy(), crs=polygons.crs)
    roots = root_units(polygons if polygons is not None else units, lonlat)
    xy = project_points(units["lon"].to_numpy(), units["lat"].to_numpy())
    tam = units["tam"].to_numpy(float)
    weight = tam / max(tam.mean(), 1e-9) + 0.01
    dist = np.linalg.norm(xy[:, None, :] - centres[None, :, :], axis=2)
    cost = weight[:, None] * dist
    p = AssignProblem.create(
        tuple(units["unit_id"].astype(str)), tuple(f"r{j:03d}" for j in range(n_reps)),
        tam, units["account_units"].to_numpy(float), cost, balance,
        roots=tuple(int(r) for r in roots))
    meta = {"total_account_units": total_au, "units_band": [balance.account_units_min,
                                                          balance.account_units_max],
            "tam_tolerance": TAM_TOLERANCE, "total_tam": float(tam.sum()),
            "max_unit_tam_share_of_target": float(tam.max() / (tam.sum() / n_reps)),
            "units_without_accounts": int((units["account_units"] == 0).sum())}
    return p, xy, centres, weight, meta


# ----------------------------------------------------------------------------- counties


def county_instance(state: str = "OH", n_reps: int = 8, *, seed: int = 7) -> Instance:
    """Counties of one state; demand proxy = ZIP codes per county."""
    gdf = county_units([state])
    table = zip_table()
    zips = table[table["state"] == state]
    per_county = zips.groupby(zips["county"].str.replace(r" County$", "", regex=True)).size()
    names = gdf["name"].str.replace(r", [A-Z]{2}$", "", regex=True)
    proxy = names.map(per_county).fillna(1.0).to_numpy(float)
    tam, au, n = synthetic_demand(proxy, seed=seed, base=8.0, alpha=0.8)
    rp = gdf.geometry.representative_point()
    units = pd.DataFrame({"unit_id": gdf["unit_id"], "lon": rp.x.to_numpy(), "lat": rp.y.to_numpy(),
                          "tam": tam, "account_units": au})
    p, xy, bases, weight, meta = _problem(f"{state}_counties", units, n_reps, seed=seed,
                                          polygons=gdf)
    graph, bridges = unit_adjacency(gdf)
    meta.update(accounts=int(n.sum()), source="plotly-geo cb_2016 counties")
    return Instance(f"{state.lower()}_counties_{len(gdf)}x{n_reps}",
                    f"{len(gdf)} {state} counties x {n_reps} reps", p, xy, bases, weight,
                    graph, len(bridges), meta)


# ----------------------------------------------------------------------------- ZIP region


@lru_cache(maxsize=1)
def _zip_pool(max_units: int) -> gpd.GeoDataFrame:
    """Standard ZIPs with an approximate area, nearest first to Columbus, OH."""
    table = zip_table()
    pts = table[(table["zip_type"] == "STANDARD") & table["active"]]
    pts = pts[~pts[["lon", "lat"]].duplicated()]
    d = np.hypot((pts["lon"] - CENTRE_LONLAT[0]) * np.cos(np.radians(CENTRE_LONLAT[1])),
                 pts["lat"] - CENTRE_LONLAT[1])
    near = pts.assign(_d=d.to_numpy()).sort_values(["_d"], kind="stable")
    # states covering the nearest max_units ZIPs (with 10% margin)
    states = sorted(set(near.iloc[: int(max_units * 1.1)]["state"]))
    cells = approximate_zip_units(states)
    cells = cells.merge(near[["_d", "lat", "lon", "city"]], left_on="unit_id", right_index=True)
    cells = cells.sort_values(["_d", "unit_id"], kind="stable").reset_index(drop=True)
    return cells


def zip_instance(n_units: int, n_reps: int, *, seed: int = 11, pool_size: int = 5000,
                 adjacency: bool = True) -> Instance:
    """The ``n_units`` standard ZIPs nearest Columbus, OH; demand proxy = ZIPs per city."""
    pool = _zip_pool(pool_size)
    if n_units > len(pool):
        raise ValueError(f"only {len(pool)} ZIPs in the pool")
    cells = pool.iloc[:n_units].sort_values("unit_id", kind="stable").reset_index(drop=True)
    table = zip_table()
    city_size = table.groupby(["state", "city"]).size()
    proxy = city_size.reindex(pd.MultiIndex.from_arrays([cells["state"], cells["city"]])).fillna(1.0)
    tam, au, n = synthetic_demand(proxy.to_numpy(float), seed=seed, base=3.0, alpha=0.6)
    units = pd.DataFrame({"unit_id": cells["unit_id"], "lon": cells["lon"].to_numpy(),
                          "lat": cells["lat"].to_numpy(), "tam": tam, "account_units": au})
    p, xy, bases, weight, meta = _problem("zips", units, n_reps, seed=seed, polygons=cells)
    graph, bridges = (unit_adjacency(cells[["unit_id", "geometry"]]) if adjacency else (None, []))
    states = cells["state"].value_counts().to_dict()
    meta.update(accounts=int(n.sum()), states=states,
                source="zipcodes centroids; approximate Voronoi ZIP areas for adjacency")
    return Instance(f"zips_{n_units}x{n_reps}",
                    f"{n_units} ZIPs nearest Columbus OH ({len(states)} states) x {n_reps} reps",
                    p, xy, bases, weight, graph, len(bridges), meta)


# ----------------------------------------------------------------------------- real ZCTAs


def zcta_instance(path: Path | None = None, n_reps: int = 4, *, seed: int = 5) -> Instance | None:
    """Real Census ZCTA polygons from the shared data folder (None when absent)."""
    path = path or SHARED_DATA / "columbus_oh_zctas.geojson"
    if not path.exists():
        return None
    gdf = load_unit_polygons(path)
    table = zip_table()
    city_size = table.groupby(["state", "city"]).size()
    known = table.reindex(gdf["unit_id"])
    proxy = city_size.reindex(pd.MultiIndex.from_arrays([known["state"].fillna(""),
                                                         known["city"].fillna("")])).fillna(1.0)
    tam, au, n = synthetic_demand(proxy.to_numpy(float), seed=seed, base=3.0, alpha=0.6)
    rp = gdf.geometry.representative_point()
    units = pd.DataFrame({"unit_id": gdf["unit_id"], "lon": rp.x.to_numpy(), "lat": rp.y.to_numpy(),
                          "tam": tam, "account_units": au})
    p, xy, bases, weight, meta = _problem("zcta", units, n_reps, seed=seed, polygons=gdf)
    graph, bridges = unit_adjacency(gdf)
    meta.update(accounts=int(n.sum()), source=str(path))
    return Instance(f"columbus_zctas_{len(gdf)}x{n_reps}",
                    f"{len(gdf)} real Columbus OH ZCTAs x {n_reps} reps", p, xy, bases, weight,
                    graph, len(bridges), meta)


# ----------------------------------------------------------------------------- national books

#: The lower 48 states; the ~800-account book drops four of them and adds DC (44 + DC).
LOWER_48 = ("AL", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "ID", "IL", "IN", "IA", "KS",
            "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
            "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
            "VT", "VA", "WA", "WV", "WI", "WY")
STATES_44_DC = tuple(s for s in LOWER_48 if s not in ("ND", "SD", "WY", "VT")) + ("DC",)


def _books_module():
    """``tests/books.py``: the one generator of CRM books, shared by the tests and the bench."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "tests" / "books.py"
    if "territory_bench_books" not in sys.modules:
        spec = importlib.util.spec_from_file_location("territory_bench_books", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["territory_bench_books"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["territory_bench_books"]


def national_book(out_dir: str | Path, *, n_accounts: int = 800,
                  states: tuple[str, ...] = STATES_44_DC, n_reps: int | None = None,
                  seed: int = 0, **kwargs):
    """Write a national CRM book (``accounts.csv``, ``reps.csv``) under ``out_dir``.

    The generator of ``tests/books.py`` (real metros of the offline ZIP table,
    most ZIPs empty, heavy-tailed revenue, owners, messy rows) with one metro
    per state at least (``n_metros`` defaults to ``len(states) + 10``).
    Returns its ``Book`` (paths and the numbers to check).
    """
    kwargs.setdefault("n_metros", len(states) + 10)
    return _books_module().multistate_book(out_dir, n_accounts=n_accounts, states=tuple(states),
                                           n_reps=n_reps, seed=seed, **kwargs)
