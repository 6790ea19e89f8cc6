"""Metrics stage: the scorecard of a plan, per rep and for the whole team.

Per rep: accounts, account units, TAM and its index against the rep's
capacity-scaled target (the mean for equal capacities), units,
drive hours per month (from :mod:`territory.travel`), quota by the TAM formula
with ramp, and flags. Team-wide: TAM CV, band breaches, contiguity, accounts
and TAM moved against the current alignment (with a from -> to matrix), and the
fairness check: the share of reps whose book is equal or better than today.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections import OrderedDict

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse
import scipy.sparse.csgraph
import shapely
from numpy.typing import ArrayLike

from .config import QuotaConfig
from .geo.reference import EQUAL_AREA_CRS

__all__ = [
    "FAIRNESS_THRESHOLD",
    "compactness_scores",
    "contiguity_report",
    "disruption",
    "dissolve_territories",
    "fairness",
    "moved_mask",
    "quota_table",
    "remember_snapped",
    "rep_scorecard",
    "snapped_shapes",
    "snapping_key",
    "unit_owner",
]

log = logging.getLogger(__name__)

#: The fairness check of the domain playbook: flag when fewer reps than this see an equal or better book.
FAIRNESS_THRESHOLD = 0.80
#: A rep's TAM still counts as "equal" when it shrinks by at most this share.
FAIRNESS_TAM_SLACK = 0.02


def rep_scorecard(
    accounts: pd.DataFrame,
    units: pd.DataFrame,
    reps: pd.DataFrame,
    *,
    tam_tolerance: float,
    units_band: tuple[ArrayLike, ArrayLike],
    tam_target: pd.Series | None = None,
) -> pd.DataFrame:
    """Per-rep totals, the TAM index against each rep's target, and band flags.

    Parameters
    ----------
    accounts
        Assigned accounts with ``rep_id, revenue, account_units``.
    units
        Units with ``unit_id, rep_id``.
    reps
        ``rep_id, name`` in roster order.
    units_band
        The account-unit band ``(low, high)``: two numbers, or two arrays in ``reps`` order
        (the capacity-scaled bands of :func:`territory.optimize.rep_targets`).
    tam_target
        Per-rep TAM target (index ``rep_id``, capacity-scaled); the mean TAM when None.

    Returns
    -------
    DataFrame
        ``rep_id, name, n_accounts, account_units, tam, tam_index, n_units, flags``;
        ``tam_index`` is TAM / target (1.0 on target, whatever the rep's capacity).
    """
    g = accounts.groupby("rep_id")
    card = reps[["rep_id", "name"]].copy()
    card["n_accounts"] = card["rep_id"].map(g.size()).fillna(0).astype("int64")
    card["account_units"] = card["rep_id"].map(g["account_units"].sum()).fillna(0).astype("int64")
    card["tam"] = card["rep_id"].map(g["revenue"].sum()).fillna(0.0).astype(float)
    card["n_units"] = card["rep_id"].map(units.groupby("rep_id").size()).fillna(0).astype("int64")
    mean = card["tam"].mean()
    target = (tam_target.reindex(card["rep_id"]).to_numpy(float) if tam_target is not None
              else np.full(len(card), mean, dtype=float))
    tam = card["tam"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        card["tam_index"] = np.where(target > 0, tam / target, 0.0).round(4)
    card = card[["rep_id", "name", "n_accounts", "account_units", "tam", "tam_index", "n_units"]]
    lo, hi = (np.broadcast_to(np.asarray(b, dtype=float), len(card)) for b in units_band)
    au = card["account_units"].to_numpy(float)
    tam_off = (target > 0) & (np.abs(tam / np.where(target > 0, target, 1) - 1)
                              > tam_tolerance + 1e-9)
    units_off = (au < lo - 1e-9) | (au > hi + 1e-9)
    card["flags"] = [";".join(f for f, on in (("tam_band", t), ("units_band", u)) if on)
                     for t, u in zip(tam_off, units_off)]
    return card


def add_flags(card: pd.DataFrame, mask: np.ndarray, flag: str) -> pd.DataFrame:
    """A copy of ``card`` with ``flag`` appended to ``flags`` where ``mask``."""
    out = card.copy()
    out["flags"] = [
        ";".join([f for f in old.split(";") if f] + ([flag] if m else []))
        for old, m in zip(out["flags"], mask)
    ]
    return out


def _months_between(start: dt.date, as_of: dt.date) -> int:
    return (as_of.year - start.year) * 12 + (as_of.month - start.month) + (as_of.day >= start.day)


def quota_table(card: pd.DataFrame, reps: pd.DataFrame, cfg: QuotaConfig) -> pd.DataFrame:
    """Quota per rep: team average x TAM / mean TAM, the multiplier capped at ±cap, with ramp.

    Ramp: ``cfg.ramp`` fractions for a rep in months 1–3, 4–6 and 7+ since
    ``start_date`` (as of ``cfg.as_of``, default today). Without a team target
    (``team_target = 0``) only the multiplier is reported: ``quota`` is empty (NaN), not 0.

    Returns ``rep_id, quota_multiplier, ramp, quota``.
    """
    mean = card["tam"].mean()
    mult = (card["tam"] / mean).clip(1 - cfg.cap, 1 + cfg.cap) if mean > 0 else 1.0
    as_of = dt.date.fromisoformat(cfg.as_of) if cfg.as_of else dt.date.today()
    starts = card["rep_id"].map(reps.set_index("rep_id").get("start_date", pd.Series(dtype=str)))
    ramp = []
    for s in starts:
        try:
            months = _months_between(dt.date.fromisoformat(str(s)), as_of)
        except ValueError:
            ramp.append(1.0)
            continue
        ramp.append(cfg.ramp[0] if months <= 3 else cfg.ramp[1] if months <= 6 else cfg.ramp[2])
    out = pd.DataFrame({"rep_id": card["rep_id"], "quota_multiplier": np.round(mult, 4),
                        "ramp": ramp})
    if cfg.team_target > 0:
        per_rep = cfg.team_target / max(len(card), 1)
        out["quota"] = (per_rep * out["quota_multiplier"] * out["ramp"]).round(2)
    else:  # no target set: a quota of 0 would read as "this rep carries nothing"
        out["quota"] = np.nan
    return out


def moved_mask(from_rep: pd.Series, to_rep: pd.Series) -> pd.Series:
    """True for an account that had an owner (not missing, not blank) and now has another.

    The one definition of a moved account: for the plan's ``moved`` column,
    :func:`disruption` and the comparison page (where CSVs give blanks, not NA).
    """
    before = from_rep.astype(str)
    had_owner = from_rep.notna() & (before != "")
    return had_owner & (before != to_rep.astype(str))


def unit_owner(accounts: pd.DataFrame, owner: str = "current_rep") -> pd.Series:
    """Each unit's owner: the rep in column ``owner`` with the most revenue there.

    Ties go to the smaller rep id. Returns a Series ``unit_id -> rep id`` (str)
    over the units that have an owned account.
    """
    owned = accounts[accounts[owner].notna()]
    owned = pd.DataFrame({"unit_id": owned["unit_id"].astype(str),
                          "owner": owned[owner].astype(str),
                          "revenue": pd.to_numeric(owned["revenue"], errors="coerce").fillna(0.0)})
    tot = (owned.groupby(["unit_id", "owner"])["revenue"].sum().reset_index()
           .sort_values(["unit_id", "revenue", "owner"], ascending=[True, False, True])
           .drop_duplicates("unit_id"))
    return tot.set_index("unit_id")["owner"].rename(owner)


def disruption(accounts: pd.DataFrame) -> dict:
    """Accounts and TAM moved away from their current rep, with the from -> to matrix.

    Accounts with no current rep are new to the alignment and do not count as moved.
    """
    if "current_rep" not in accounts or accounts["current_rep"].isna().all():
        return {"accounts_moved": None, "tam_moved": None, "moved_share": None, "matrix": {}}
    owned = accounts[accounts["current_rep"].notna()]
    moved = owned[moved_mask(owned["current_rep"], owned["rep_id"])]
    matrix = (moved.groupby(["current_rep", "rep_id"]).size().sort_index()
              .reset_index(name="accounts"))
    return {
        "accounts_moved": int(len(moved)),
        "tam_moved": float(moved["revenue"].sum()),
        "moved_share": float(len(moved) / len(owned)) if len(owned) else 0.0,
        "tam_moved_share": float(moved["revenue"].sum() / owned["revenue"].sum())
        if owned["revenue"].sum() > 0 else 0.0,
        "matrix": [{"from": str(r.current_rep), "to": str(r.rep_id), "accounts": int(r.accounts)}
                   for r in matrix.itertuples()],
    }


def fairness(card: pd.DataFrame, accounts: pd.DataFrame,
             units_band: tuple[ArrayLike, ArrayLike]) -> dict:
    """The playbook's fairness check against the current alignment.

    A rep's new book is *equal or better* when its TAM is at least
    ``1 - FAIRNESS_TAM_SLACK`` of today's and its account units are in the band
    or closer to the band's middle than today. ``units_band`` is two numbers or
    two arrays in ``card`` order (capacity-scaled, as for :func:`rep_scorecard`).
    Reps with no current book count as equal or better. Flag when the share is
    below 80%.
    """
    if "current_rep" not in accounts or accounts["current_rep"].isna().all():
        return {"fairness_share": None, "fairness_flag": False, "worse_off": []}
    cur = accounts[accounts["current_rep"].notna()].groupby("current_rep")
    cur_tam, cur_units = cur["revenue"].sum(), cur["account_units"].sum()
    if not card["rep_id"].isin(cur_tam.index).any():
        # new territories with new ids (e.g. --reps 8): nobody to compare with
        return {"fairness_share": None, "fairness_flag": False, "worse_off": []}
    los, his = (np.broadcast_to(np.asarray(b, dtype=float), len(card)) for b in units_band)
    worse: list[str] = []
    for r, lo, hi in zip(card.itertuples(), los, his):
        if r.rep_id not in cur_tam.index:
            continue
        mid = (lo + hi) / 2
        tam_ok = r.tam >= (1 - FAIRNESS_TAM_SLACK) * cur_tam[r.rep_id]
        in_band = lo <= r.account_units <= hi
        units_ok = in_band or abs(r.account_units - mid) <= abs(cur_units[r.rep_id] - mid)
        if not (tam_ok and units_ok):
            worse.append(str(r.rep_id))
    share = 1 - len(worse) / max(len(card), 1)
    return {"fairness_share": round(share, 4), "fairness_flag": share < FAIRNESS_THRESHOLD,
            "worse_off": worse}


def contiguity_report(units: pd.DataFrame, adjacency: nx.Graph) -> dict[str, int]:
    """Number of connected pieces of each rep's territory on the adjacency graph.

    One pass over the graph's edges (those inside one territory), then the connected
    components of all territories at once; units that are not nodes of the graph do not
    count. Reps in sorted order.
    """
    ids = units["unit_id"].to_numpy()
    codes, reps = pd.factorize(units["rep_id"], sort=True)  # -1: unassigned
    pos = {u: i for i, u in enumerate(ids)}
    get = pos.get
    pairs = np.array([(get(a, -1), get(b, -1)) for a, b in adjacency.edges],
                     dtype=np.int64).reshape(-1, 2)
    i, j = pairs[:, 0], pairs[:, 1]
    inside = (i >= 0) & (j >= 0)
    i, j = i[inside], j[inside]
    same = (codes[i] == codes[j]) & (codes[i] >= 0)
    n = len(ids)
    graph = scipy.sparse.coo_matrix((np.ones(int(same.sum())), (i[same], j[same])), shape=(n, n))
    _, comp = scipy.sparse.csgraph.connected_components(graph, directed=False)
    node = np.fromiter((u in adjacency for u in ids), dtype=bool, count=n) & (codes >= 0)
    pieces = np.zeros(len(reps), dtype=np.int64)
    if node.any():
        pair = np.unique(np.column_stack([codes[node], comp[node]]), axis=0)
        pieces = np.bincount(pair[:, 0], minlength=len(reps))
    return {str(r): int(k) for r, k in zip(reps, pieces)}


def compactness_scores(units: gpd.GeoDataFrame, accounts: pd.DataFrame,
                       reps: pd.DataFrame) -> pd.DataFrame:
    """Two compactness figures per territory, so that "snaky" plans show up.

    * ``polsby_popper`` = 4πA / P² of the territory's dissolved shape in an equal-area CRS
      (1 for a disc, about 0.785 for a square, towards 0 for long thin or ragged shapes). A
      territory in several pieces is scored on the union of its pieces (its perimeter counts
      every piece), which penalises fragmentation too.
    * ``tam_weighted_km`` = the TAM-weighted mean straight-line distance (km) from the rep's
      base to the accounts' points: how far, on average, a dollar of the book lies from home.

    Parameters
    ----------
    units
        Unit polygons (EPSG:4326) with ``unit_id, rep_id``; unassigned units (NaN) are skipped.
    accounts
        Accounts with ``rep_id, revenue, lon, lat``.
    reps
        ``rep_id, lon, lat`` (the bases).

    Returns
    -------
    DataFrame
        ``rep_id, polsby_popper, tam_weighted_km`` for every rep of ``reps`` (NaN where a rep has
        no unit or no TAM).
    """
    out = pd.DataFrame({"rep_id": reps["rep_id"].astype(str).to_numpy()})
    assigned = units.dropna(subset=["rep_id"])
    shapes = dissolve_territories(assigned.assign(rep_id=assigned["rep_id"].astype(str)))
    shapes = shapes.set_index("rep_id").geometry.to_crs(EQUAL_AREA_CRS)
    pp = 4 * np.pi * shapes.area / shapes.length.where(shapes.length > 0) ** 2
    out["polsby_popper"] = out["rep_id"].map(pp.round(4))
    out["tam_weighted_km"] = out["rep_id"].map(_tam_weighted_km(accounts, reps))
    return out


def dissolve_territories(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One valid (Multi)Polygon per ``rep_id`` of ``units`` (rows without one are skipped).

    The unit shapes are made valid and put on a shared 1e-6 degree grid, so that
    neighbouring copies of one boundary become identical and the union leaves no
    slivers. Then a rep whose units all have edges that match their neighbours' exactly
    and overlap none (GEOS's coverage validation: ZCTA, county and Voronoi layers) is
    merged by a coverage union, which only drops the edges shared twice (linear in the
    edges, no overlay); any other rep (e.g. one holding ZIP pieces cut out of a county,
    whose edges have vertices the next county lacks) by the overlay union. Both give the
    overlay union's shape; the coverage union is 10-40x faster on national books. The
    last few dissolves are kept, by the digest of the shapes and the rep of each (the
    scorecard and the exports dissolve the same plan).

    Returns
    -------
    GeoDataFrame
        ``rep_id, geometry``, one row per rep in sorted ``rep_id`` order, in the CRS of
        ``units`` (EPSG:4326 when it has none).
    """
    assigned = units.dropna(subset=["rep_id"])
    raw = np.asarray(assigned.geometry.values)
    keys = assigned["rep_id"].to_numpy()
    codes, reps_sorted = pd.factorize(keys, sort=True)
    digest = _shapes_digest(raw)
    key = digest + hashlib.blake2b(codes.astype(np.int64).tobytes() + repr(
        [str(r) for r in reps_sorted]).encode(), digest_size=20).digest()
    shapes = _recall(_DISSOLVED, key)
    if shapes is None:
        shapes = _dissolved(raw, codes, len(reps_sorted), digest)
        _keep(_DISSOLVED, key, shapes)
    return gpd.GeoDataFrame({"rep_id": np.asarray(reps_sorted, dtype=keys.dtype)},
                            geometry=list(shapes), crs=units.crs or "EPSG:4326")


def _dissolved(raw: np.ndarray, codes: np.ndarray, n: int, digest: bytes) -> tuple:
    """The union per code ``0..n-1`` of the shapes ``raw`` (snapped, see above)."""
    geoms, clean = _snapped_shapes(raw, digest)
    order = np.argsort(codes, kind="stable")
    cuts = np.searchsorted(codes[order], np.arange(1, n))
    return tuple(_union(g, c) for g, c in zip(np.split(geoms[order], cuts),
                                             np.split(clean[order], cuts)))


def _union(geoms: np.ndarray, clean: np.ndarray):
    """Union of ``geoms``: a coverage union when all are ``clean``, else the overlay union."""
    if clean.all():
        return shapely.coverage_union_all(geoms)
    # A coverage union of the clean part overlaid with the rest is not safe: snapping moves
    # the rest's vertices off the clean neighbours' edges, which leaves sliver holes.
    return shapely.union_all(geoms)


#: Snapped shapes and their coverage check, by the content of the raw shapes: the scorecard,
#: the exports and every scenario of a run dissolve the same units (snapping is the slow part).
_SNAPPED: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = OrderedDict()
_KEPT_LOCK = threading.Lock()
#: Dissolved territories, by the raw shapes' digest and the rep of each: the scorecard's
#: compactness and the exported territories dissolve the same plan (0.9 s a national book).
_DISSOLVED: OrderedDict[bytes, tuple] = OrderedDict()
#: how many results each of these keeps
_KEPT = 4


def _recall(store: OrderedDict, key: bytes):
    """The value kept under ``key`` (now the most recent), or None."""
    with _KEPT_LOCK:
        got = store.get(key)
        if got is not None:
            store.move_to_end(key)
        return got


def _keep(store: OrderedDict, key: bytes, value) -> None:
    """Keep ``value`` under ``key``, dropping the oldest beyond ``_KEPT``."""
    with _KEPT_LOCK:
        store[key] = value
        store.move_to_end(key)
        while len(store) > _KEPT:
            store.popitem(last=False)


def _shapes_digest(geoms: np.ndarray) -> bytes:
    """A digest of the shapes' WKB: shapes are immutable, so it is a safe cache key."""
    wkb = shapely.to_wkb(geoms)
    return hashlib.blake2b(b"".join(b"\0" if w is None else w for w in wkb),
                           digest_size=20).digest()


def snapping_key(units: gpd.GeoDataFrame) -> bytes:
    """The key under which :func:`dissolve_territories` keeps the snapped shapes of the
    assigned units of ``units`` (a digest of their shapes)."""
    return _shapes_digest(np.asarray(units.dropna(subset=["rep_id"]).geometry.values))


def snapped_shapes(key: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """The snapped shapes and coverage flags kept under ``key`` (copies), or None."""
    got = _recall(_SNAPPED, key)
    return None if got is None else (got[0].copy(), got[1].copy())


def remember_snapped(key: bytes, snapped: np.ndarray, clean: np.ndarray) -> None:
    """Keep snapped shapes computed before (e.g. read back from a file) under ``key``.

    They must be what :func:`dissolve_territories` computes for the shapes of ``key``:
    the caller keeps them from an earlier :func:`snapped_shapes` of the same key.
    """
    _keep(_SNAPPED, key, (np.asarray(snapped, dtype=object).copy(),
                          np.asarray(clean, dtype=bool).copy()))


def _snapped_shapes(geoms: np.ndarray, key: bytes | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``geoms`` made valid on the 1e-6 grid, and which of them are clean coverage members.

    ``key``: :func:`_shapes_digest` of ``geoms`` when known; the last few results are kept.
    """
    key = _shapes_digest(geoms) if key is None else key
    got = snapped_shapes(key)
    if got is not None:
        return got
    snapped = shapely.set_precision(shapely.make_valid(geoms), 1e-6)
    clean = _coverage_members(snapped)
    remember_snapped(key, snapped, clean)
    return snapped, clean


def _coverage_members(geoms: np.ndarray) -> np.ndarray:
    """True for each non-empty (Multi)Polygon whose edges match its neighbours' exactly,
    overlap none and leave no gap narrower than 2e-6 degree: those a coverage union may
    merge."""
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6)) & ~shapely.is_empty(geoms)
    if not hasattr(shapely, "coverage_invalid_edges") or not polygonal.any():  # shapely < 2.1
        return np.zeros(len(geoms), dtype=bool)
    clean = polygonal.copy()
    # gap_width: an edge that misses its neighbour's by a hair (a gap narrower than two grid
    # steps) is flagged too; the overlay union may close such a gap, a coverage union not
    edges = shapely.coverage_invalid_edges(geoms[polygonal], gap_width=2e-6)
    clean[polygonal] = shapely.is_empty(edges)
    return clean


def _tam_weighted_km(accounts: pd.DataFrame, reps: pd.DataFrame) -> pd.Series:
    acc = accounts.dropna(subset=["rep_id", "lon", "lat"])
    base = reps.assign(rep_id=reps["rep_id"].astype(str)).set_index("rep_id")[["lon", "lat"]]
    acc = acc.assign(rep_id=acc["rep_id"].astype(str))
    acc = acc[acc["rep_id"].isin(base.index)]
    pts = gpd.GeoSeries(gpd.points_from_xy(acc["lon"], acc["lat"]), crs="EPSG:4326").to_crs(EQUAL_AREA_CRS)
    homes = base.loc[acc["rep_id"]]
    hp = gpd.GeoSeries(gpd.points_from_xy(homes["lon"], homes["lat"]), crs="EPSG:4326").to_crs(EQUAL_AREA_CRS)
    km = pd.Series(pts.distance(hp, align=False).to_numpy() / 1000.0, index=acc.index)
    w = acc["revenue"].astype(float)
    tot = w.groupby(acc["rep_id"]).sum()
    return ((km * w).groupby(acc["rep_id"]).sum() / tot.where(tot > 0)).round(2)


def tam_cv(card: pd.DataFrame) -> float:
    """Coefficient of variation of TAM across reps (domain target: below 20%)."""
    mean = card["tam"].mean()
    return float(card["tam"].std(ddof=0) / mean) if mean > 0 else 0.0
