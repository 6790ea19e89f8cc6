"""Units stage: geographic units (ZCTA, county or custom polygons), accounts placed in them.

A unit is the atom the optimizer assigns: a ZIP Code Tabulation Area, a
county, or any polygon layer the user provides. This module loads unit
polygons (always EPSG:4326, valid geometry, string ``unit_id``), places
accounts in units, aggregates per-unit TAM / account units / tier counts /
visits, and builds the unit adjacency graph used for contiguity.

Unit sources
------------
* ``load_unit_polygons(path)``: real ZCTA (or any) polygons from a local
  shapefile / GeoPackage / GeoJSON.
* :func:`territory.zcta.zcta_units`: the national Census ZCTA file, downloaded
  once by ``territory geo fetch-zcta`` and cached (optionally some states).
* ``county_units(states)``: county polygons shipped by PyPI ``plotly-geo``
  (Census cb_2016 1:500k; the shapefile has no .prj, it is NAD83 geographic).
* ``approximate_zip_units(states)``: when no ZCTA file is at hand, Voronoi cells
  of the ZIP centroids clipped to the state outlines. Labelled as approximate
  everywhere it is used.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPoint

from ..cache import cache_dir
from ..io.accounts import REJECT_COLUMNS
from ..errors import InputError
from .reference import EQUAL_AREA_CRS, clean_units, county_outlines, state_outlines, zip_table

__all__ = [
    "EQUAL_AREA_CRS",
    "REASON_OUTSIDE_UNITS",
    "aggregate_units",
    "approximate_zip_units",
    "county_units",
    "coarse_units",
    "heavy_units",
    "load_unit_polygons",
    "locate_accounts",
    "split_units_into_zips",
    "unit_adjacency",
]

log = logging.getLogger(__name__)

REASON_OUTSIDE_UNITS = "ZIP not in any unit of the region"
_ID_CANDIDATES = ("unit_id", "ZCTA5CE20", "ZCTA5CE10", "ZCTA5", "ZCTA", "GEOID20", "GEOID10",
                  "GEOID", "zip", "ZIP")


def load_unit_polygons(path: str | Path, id_column: str | None = None) -> gpd.GeoDataFrame:
    """Read unit polygons from a local shapefile, GeoPackage or GeoJSON.

    Parameters
    ----------
    path
        The file (anything ``geopandas.read_file`` reads, zipped shapefiles too).
    id_column
        Column holding the unit id; by default the first of ``unit_id,
        ZCTA5CE20, ZCTA5CE10, ZCTA5, GEOID20, ...`` present.

    Returns
    -------
    GeoDataFrame
        ``unit_id`` (text) and ``geometry`` (EPSG:4326, valid), sorted by id.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: unit polygon file not found")
    try:
        gdf = gpd.read_file(p)
    except Exception as exc:
        raise InputError(f"{p}: cannot read polygons: {exc}") from exc
    if gdf.empty:
        raise InputError(f"{p}: the polygon file has no features")
    col = id_column or next((c for c in _ID_CANDIDATES if c in gdf.columns), None)
    if col is None or col not in gdf.columns:
        raise InputError(
            f"{p}: no unit id column (looked for {', '.join(_ID_CANDIDATES)}); "
            f"name it with --unit-id. Columns: {', '.join(map(str, gdf.columns))}"
        )
    ids = gdf[col].astype(str).str.strip()
    if ids.duplicated().any():
        dup = ids[ids.duplicated()].iloc[0]
        log.warning("%s: unit id %s occurs more than once; its parts are dissolved", p, dup)
    gdf = gpd.GeoDataFrame({"unit_id": ids}, geometry=gdf.geometry.values, crs=gdf.crs)
    gdf = gdf.dissolve("unit_id", as_index=False) if ids.duplicated().any() else gdf
    return clean_units(gdf)


def county_units(states: list[str] | None = None) -> gpd.GeoDataFrame:
    """County units from plotly-geo: ``unit_id`` (5-digit FIPS), ``name``, ``state``, ``geometry``.

    Parameters
    ----------
    states
        Two-letter state codes to keep; all counties when None.
    """
    gdf = county_outlines()
    if states:
        gdf = gdf[gdf["state"].isin(states)]
        if gdf.empty:
            raise InputError(f"no counties found for states {states}")
    return gdf.reset_index(drop=True).copy()


#: version of the approximate ZIP areas' construction: a cached layer of another is not read
APPROXIMATE_ZIP_VERSION = "1"


def approximate_zip_units(states: list[str]) -> gpd.GeoDataFrame:
    """Approximate ZIP areas: Voronoi cells of ZIP centroids clipped to the state outlines.

    Only used when no ZCTA polygons are available, and labelled APPROXIMATE
    wherever it is. PO-box and unique ZIPs (which have no area of their own)
    are left out, so accounts with those ZIPs fall into the cell that contains
    their point. Cells are clipped part by part (a cell wholly inside one
    state part is kept as is), so all ~30,000 US cells take seconds.

    The layer is kept in the cache folder (``cache_dir("units")``, GeoParquet) under a
    digest of everything it is built from: the ZIP points, the state outlines, the GEOS
    version and :data:`APPROXIMATE_ZIP_VERSION`. A later run over the same states reads
    it back (0.1 s instead of 1.3 s for 44 states); a damaged or unwritable cache file
    only means the cells are built again.

    Returns
    -------
    GeoDataFrame
        ``unit_id`` (5-digit ZIP), ``state``, ``geometry`` (EPSG:4326).
    """
    pts, parts = _voronoi_inputs(states)
    path = cache_dir("units") / f"approximate_zip_{_inputs_digest(pts, parts)}.parquet"
    cached = _read_layer(path)
    if cached is not None:
        return cached
    units = _voronoi_cells(pts, parts)
    _write_layer(units, path)
    return units


def _voronoi_inputs(states: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The standard ZIPs of ``states`` (one per point) and the parts of their outlines."""
    table = zip_table()
    pts = table[table["state"].isin(states) & (table["zip_type"] == "STANDARD") & table["active"]]
    outlines = state_outlines(states)
    if pts.empty or outlines.empty:
        raise InputError(f"no ZIP centroids for states {states}")
    # Coincident centroids would make one Voronoi cell for two ZIPs: keep the first ZIP.
    pts = pts[~pts[["lon", "lat"]].duplicated()]
    return pts, shapely.get_parts(outlines.geometry.values)


def _inputs_digest(pts: pd.DataFrame, parts: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    for item in (APPROXIMATE_ZIP_VERSION, shapely.geos_version_string, "\0".join(pts.index),
                 "\0".join(pts["state"])):
        h.update(str(item).encode() + b"\1")
    h.update(pts[["lon", "lat"]].to_numpy(dtype=float).tobytes())
    h.update(b"".join(shapely.to_wkb(parts)))
    return h.hexdigest()


def _read_layer(path: Path) -> gpd.GeoDataFrame | None:
    if not path.is_file():
        return None
    try:
        return gpd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - a damaged cache file is rebuilt, never fatal
        log.debug("cached layer %s unreadable (%s): building it again", path, exc)
        return None


def _write_layer(units: gpd.GeoDataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:  # written aside then renamed: a concurrent run reads a whole file or none
        units.to_parquet(tmp)
        os.replace(tmp, path)
    except Exception as exc:  # noqa: BLE001 - no cache is slower, not wrong
        log.debug("cannot cache the layer in %s: %s", path, exc)
        tmp.unlink(missing_ok=True)


def _voronoi_cells(pts: pd.DataFrame, parts: np.ndarray) -> gpd.GeoDataFrame:
    """The Voronoi cells of ``pts`` clipped to ``parts`` (see :func:`approximate_zip_units`)."""
    points = shapely.points(pts["lon"].to_numpy(), pts["lat"].to_numpy())
    frame = shapely.box(*shapely.total_bounds(np.r_[parts, points]))
    cells = shapely.get_parts(shapely.voronoi_polygons(MultiPoint(points), extend_to=frame))
    # query returns (point index, cell index) pairs; each point lies in exactly one cell
    p_i, c_i = shapely.STRtree(cells).query(points, predicate="within")
    order = np.empty(len(points), dtype=np.int64)
    order[p_i] = c_i
    cells = cells[order]
    # the pairs (cell, state part) that intersect, in the tree's order: bounding boxes from
    # the tree, then the test on the prepared parts (a predicate query would prepare each
    # small cell instead and test it against a whole state's outline: 15x slower)
    c_j, part_j = shapely.STRtree(parts).query(cells)
    shapely.prepare(parts)
    hit = shapely.intersects(parts[part_j], cells[c_j])
    c_j, part_j = c_j[hit], part_j[hit]
    single = np.bincount(c_j, minlength=len(cells))[c_j] == 1
    inside = np.zeros(len(cells), dtype=bool)
    whole = shapely.contains_properly(parts[part_j[single]], cells[c_j[single]])
    inside[c_j[single][whole]] = True
    todo = ~inside[c_j]
    pieces = pd.DataFrame({"cell": c_j[todo],
                           "geom": shapely.intersection(cells[c_j[todo]], parts[part_j[todo]])})
    geoms = np.where(inside, cells, None)
    for cell, grp in pieces.groupby("cell")["geom"]:
        geoms[cell] = grp.iat[0] if len(grp) == 1 else shapely.union_all(grp.to_numpy())
    gdf = gpd.GeoDataFrame(
        {"unit_id": pts.index.astype(str), "state": pts["state"].to_numpy()},
        geometry=list(geoms), crs="EPSG:4326",
    )
    return clean_units(gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty])


def unit_states(units: gpd.GeoDataFrame) -> pd.Series:
    """Two-letter state of each unit (by its representative point), '' outside every state."""
    pts = gpd.GeoDataFrame(geometry=units.geometry.representative_point(), crs=units.crs)
    joined = gpd.sjoin(pts, state_outlines(), how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined["state"].fillna("").reindex(units.index)


def locate_accounts(
    accounts: pd.DataFrame,
    units: gpd.GeoDataFrame,
    *,
    level: str = "zip",
    max_nearest_km: float = 10.0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Place each account in a unit.

    Order of rules, first match wins: (1) ZIP level and no input coordinates:
    the account's ZIP is itself a unit id; (2) the unit polygon containing the
    account's point; (3) the nearest unit within ``max_nearest_km`` (PO-box and
    unique ZIPs, points on a coastline). Rules 2 and 3 at ZIP level are listed
    as substitutions.

    Returns
    -------
    (placed, rejects, substitutions)
        ``placed`` gains ``unit_id`` and ``unit_match``; ``substitutions`` has
        ``row, account_id, zip, [zip_type,] unit_id, rule, distance_km`` (``zip_type``
        when the accounts carry it: ``PO BOX`` and ``UNIQUE`` ZIPs have no ZCTA of
        their own, which is why they are substituted).
    """
    out = accounts.copy()
    ids = pd.Index(units["unit_id"])
    unit_id = pd.Series(pd.NA, index=out.index, dtype="object")
    match = pd.Series("", index=out.index, dtype="object")
    if level == "zip":
        direct = out["zip"].isin(ids) & (out.get("point_source", "ZIP centroid") != "input lat/lon")
        unit_id[direct] = out.loc[direct, "zip"]
        match[direct] = "ZIP is a unit"
    todo = unit_id.isna()
    if todo.any():
        pts = gpd.GeoDataFrame(
            index=out.index[todo],
            geometry=gpd.points_from_xy(out.loc[todo, "lon"], out.loc[todo, "lat"]),
            crs="EPSG:4326",
        )
        hit = gpd.sjoin(pts, units[["unit_id", "geometry"]], how="left", predicate="within")
        hit = hit[~hit.index.duplicated(keep="first")]["unit_id"].dropna()
        unit_id[hit.index] = hit
        match[hit.index] = "point in polygon"
    todo = unit_id.isna()
    dist_km = pd.Series(np.nan, index=out.index)
    if todo.any():
        pts = gpd.GeoSeries(
            gpd.points_from_xy(out.loc[todo, "lon"], out.loc[todo, "lat"]),
            index=out.index[todo], crs="EPSG:4326",
        ).to_crs(EQUAL_AREA_CRS)
        polys = units.geometry.to_crs(EQUAL_AREA_CRS).values
        tree = shapely.STRtree(polys)
        idx, d = tree.query_nearest(pts.values, max_distance=max_nearest_km * 1000,
                                    return_distance=True, all_matches=False)
        near_rows = pts.index[idx[0]]
        unit_id[near_rows] = units["unit_id"].to_numpy()[idx[1]]
        match[near_rows] = f"nearest unit within {max_nearest_km:g} km"
        dist_km[near_rows] = d / 1000
    out["unit_id"] = unit_id
    out["unit_match"] = match
    bad = out["unit_id"].isna()
    rejects = pd.DataFrame(
        {"row": out.loc[bad, "row"], "account_id": out.loc[bad, "account_id"],
         "reason": REASON_OUTSIDE_UNITS},
        columns=REJECT_COLUMNS,
    ).reset_index(drop=True)
    placed = out.loc[~bad].reset_index(drop=True)
    placed["unit_id"] = placed["unit_id"].astype(str)
    subs_mask = (placed["unit_match"] != "ZIP is a unit") & (level == "zip") & (placed["zip"] != "")
    subs_mask &= placed["zip"] != placed["unit_id"]
    keep = ["row", "account_id", "zip"] + (["zip_type"] if "zip_type" in placed else []) + [
        "unit_id", "unit_match"]
    subs = placed.loc[subs_mask, keep].rename(columns={"unit_match": "rule"})
    subs["distance_km"] = dist_km[~bad].reset_index(drop=True)[subs_mask].round(3).to_numpy()
    return placed, rejects, subs.reset_index(drop=True)


def aggregate_units(units: gpd.GeoDataFrame, accounts: pd.DataFrame) -> gpd.GeoDataFrame:
    """Per-unit totals: ``tam, account_units, n_accounts, n_A, n_B, n_C, visits_per_year``.

    Also adds the representative point as ``lon, lat`` (inside the polygon,
    unlike a centroid of a crescent-shaped ZIP). Units without accounts get zeros.
    """
    g = accounts.groupby("unit_id")
    agg = pd.DataFrame({
        "tam": g["revenue"].sum(),
        "account_units": g["account_units"].sum(),
        "n_accounts": g.size(),
        "visits_per_year": g["touches_per_year"].sum(),
    })
    tiers = pd.crosstab(accounts["unit_id"], accounts["tier"]).reindex(
        columns=["A", "B", "C"], fill_value=0).add_prefix("n_")
    agg = agg.join(tiers)
    out = units.merge(agg, left_on="unit_id", right_index=True, how="left")
    for c in ("tam", "visits_per_year"):
        out[c] = out[c].fillna(0.0).astype(float)
    for c in ("account_units", "n_accounts", "n_A", "n_B", "n_C"):
        out[c] = out[c].fillna(0).astype("int64")
    rp = out.geometry.representative_point()
    out["lon"], out["lat"] = rp.x.to_numpy(), rp.y.to_numpy()
    return out


def _candidate_pairs(geoms: np.ndarray, tolerance_m: float) -> tuple[np.ndarray, np.ndarray]:
    tree = shapely.STRtree(geoms)
    if tolerance_m > 0:
        left, right = tree.query(geoms, predicate="dwithin", distance=tolerance_m)
    else:
        left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    return left[keep], right[keep]


def _shared_length(geoms: np.ndarray, left: np.ndarray, right: np.ndarray,
                   tolerance_m: float) -> np.ndarray:
    """Length (m) of the boundary of ``left`` lying within ``tolerance_m`` of ``right``."""
    if len(left) == 0:
        return np.zeros(0)
    edges = shapely.boundary(geoms[left])
    if tolerance_m > 0:
        used = np.unique(right)
        zone = np.empty(len(geoms), dtype=object)
        zone[used] = shapely.buffer(geoms[used], tolerance_m, quad_segs=2)
        other = zone[right]
    else:
        other = shapely.boundary(geoms[right])
    return shapely.length(shapely.intersection(edges, other))


def _nearest_outside(tree: shapely.STRtree, geoms: np.ndarray, ids: np.ndarray,
                     inside: np.ndarray, is_in: np.ndarray, start_m: float) -> tuple[int, int, float]:
    """Closest pair (a inside, b outside): a growing ``dwithin`` search up to 64 km
    (islands near a coast), else a nearest-neighbour query on the units outside."""
    d = max(start_m, 1000.0)
    while d <= 64_000:
        a, b = tree.query(geoms[inside], predicate="dwithin", distance=d)
        out = ~is_in[b]
        if out.any():
            a, b = inside[a[out]], b[out]
            break
        d *= 4
    else:
        outside = np.flatnonzero(~is_in)
        near_a, near_b = shapely.STRtree(geoms[outside]).query_nearest(
            geoms[inside], all_matches=True)
        a, b = inside[near_a], outside[near_b]
    dist = shapely.distance(geoms[a], geoms[b])
    k = np.lexsort((ids[b], ids[a], dist))[0]
    return int(a[k]), int(b[k]), float(dist[k])


def unit_adjacency(
    units: gpd.GeoDataFrame,
    *,
    tolerance_m: float = 50.0,
    bridge: bool = True,
    contiguity: str = "queen",
    min_shared_m: float | None = None,
) -> tuple[nx.Graph, list[tuple[str, str, float]]]:
    """Adjacency graph of units, with islands and water gaps bridged to their nearest neighbours.

    Parameters
    ----------
    units
        ``unit_id`` and polygon ``geometry`` (any CRS; distances in EPSG:5070 metres).
    tolerance_m
        Boundaries closer than this count as touching (generalised Census
        boundaries leave hairline gaps).
    bridge
        Join every smaller connected component (islands, units across water)
        to the nearest unit outside it, smallest component first, until the
        graph is connected, so contiguity constraints stay feasible.
    contiguity
        ``"queen"``: any contact (a shared corner is enough). ``"rook"``: the
        units share a stretch of boundary, i.e. the length of one's boundary
        within ``tolerance_m`` of the other exceeds ``min_shared_m``
        (default ``4 * tolerance_m``, which a corner-only contact never
        reaches; with ``tolerance_m = 0``, any positive length).

    Returns
    -------
    (graph, bridges)
        Nodes are unit ids. Edges carry ``shared_m`` (rook only) or
        ``bridge=True`` and ``distance_km`` (bridges). ``bridges`` lists
        ``(unit_a, unit_b, distance_km)``, ``unit_a`` in the smaller component.

    Notes
    -----
    Candidate pairs come from an STR-tree (``dwithin``), never all pairs; the
    bridge search grows a ``dwithin`` radius around each component, so the
    cost stays near-linear in the number of units.
    """
    if contiguity not in ("queen", "rook"):
        raise InputError(f"contiguity must be 'queen' or 'rook', got {contiguity!r}")
    ids = units["unit_id"].astype(str).to_numpy()
    geoms = units.geometry.to_crs(EQUAL_AREA_CRS).values if units.crs is not None else \
        units.geometry.values
    geoms = np.asarray(geoms, dtype=object)
    graph = nx.Graph()
    graph.add_nodes_from(ids)
    left, right = _candidate_pairs(geoms, tolerance_m)
    if contiguity == "rook":
        shared = _shared_length(geoms, left, right, tolerance_m)
        floor = (4 * tolerance_m if tolerance_m > 0 else 0.0) if min_shared_m is None \
            else min_shared_m
        keep = shared > floor
        graph.add_edges_from(
            (a, b, {"shared_m": round(float(s), 1)})
            for a, b, s in zip(ids[left[keep]], ids[right[keep]], shared[keep]))
    else:
        graph.add_edges_from(zip(ids[left], ids[right]))
    bridges: list[tuple[str, str, float]] = []
    if not bridge or len(ids) < 2:
        return graph, bridges
    comps = sorted((sorted(c) for c in nx.connected_components(graph)), key=lambda c: (len(c), c[0]))
    if len(comps) == 1:
        return graph, bridges
    index_of = {u: i for i, u in enumerate(ids)}
    label = np.empty(len(ids), dtype=np.int64)
    members: dict[int, list[int]] = {}
    for k, comp in enumerate(comps):
        idx = [index_of[u] for u in comp]
        label[idx] = k
        members[k] = idx
    tree = shapely.STRtree(geoms)
    while len(members) > 1:
        k = min(members, key=lambda c: (len(members[c]), ids[min(members[c])]))
        inside = np.array(sorted(members[k]))
        a, b, dist = _nearest_outside(tree, geoms, ids, inside, label == k, tolerance_m * 4)
        ua, ub = ids[a], ids[b]
        km = round(dist / 1000, 3)
        graph.add_edge(ua, ub, bridge=True, distance_km=km)
        bridges.append((str(ua), str(ub), km))
        log.info("bridged unit %s to %s across %.1f km", ua, ub, dist / 1000)
        target = int(label[b])
        members[target].extend(members.pop(k))
        label[inside] = target
    return graph, bridges


# ----------------------------------------------------------------------------- mixed levels


def heavy_units(units: pd.DataFrame, accounts: pd.DataFrame, *, tam_max: float,
                account_units_max: float) -> list[str]:
    """Ids of the units holding more than ``tam_max`` TAM or ``account_units_max`` account
    units (``accounts`` carry ``unit_id, revenue, account_units``)."""
    g = accounts.groupby("unit_id")
    tam, au = g["revenue"].sum(), g["account_units"].sum()
    heavy = set(tam.index[tam > tam_max]) | set(au.index[au > account_units_max])
    return sorted(str(u) for u in heavy if u in set(units["unit_id"]))


def coarse_units(units: pd.DataFrame, accounts: pd.DataFrame, *, tam_target: float,
                 tam_tolerance: float, account_units_min: float,
                 account_units_max: float) -> list[str]:
    r"""Ids of the units too coarse for the bands: the counties ``unit_level = "auto"`` splits.

    Rule
        With :math:`T` a territory's TAM target (the team's TAM over its reps), the TAM
        band is :math:`[(1-\tau)T, (1+\tau)T]` and the account-unit band
        :math:`[a_{lo}, a_{hi}]`. A unit :math:`u` of TAM :math:`t_u` and account units
        :math:`a_u` is split when

        .. math:: t_u > \min(2\tau T,\ (1+\tau)T) \quad\text{or}\quad
                  a_u > \min(a_{hi} - a_{lo},\ a_{hi}),

        i.e. when it holds more than the *width* of a band (or, for a band wider than
        its upper end, more than the band allows: the unit alone breaks it).
    Why the width
        A unit wider than a band cannot change hands on its own in a plan meeting the
        band: the rep giving it away drops below the band's lower end (and the one
        taking it rises above the upper end) unless other units move the other way in
        the same step. Its territory is pinned around it: the local moves that repair
        bands and contiguity (one unit, or a ring of units, at a time) cannot move it.
        Measured on the 800-account national book (44 states and DC, ``--reps 10``):
        split only where a county alone breaks a band (Harris County, TX), New York
        County, NY holds 0.78 of a territory's TAM; the territory rooted there came out
        of the LNS warm start's connected repair with the Bronx, Brooklyn, Queens,
        Bergen and every account-bearing county of New England (1.61 of a territory's
        TAM) and no LNS step could hand a block of that to the neighbouring territory,
        so the run ended without a plan (exit 3), although a plan meeting both bands
        exists for the same bases (the soft-band model finds one at zero penalty).
        Split at the bands' width (New York, Los Angeles, Cook, Miami-Dade, Oklahoma,
        Salt Lake and Harris counties) it plans, contiguous, with both bands held.
    Why a rule on the data
        Splitting after a failed solve (the counties of the territories left outside a
        band) would need a solve per round inside the one time budget, and whether a
        solve stalls depends on the machine's load; the width rule is decided before the
        solve, from the book and the bands alone, so the same inputs give the same units.
    """
    tam_cap = min(2 * tam_tolerance, 1 + tam_tolerance) * tam_target
    au_cap = min(account_units_max - account_units_min, account_units_max)
    return heavy_units(units, accounts, tam_max=tam_cap, account_units_max=au_cap)


def _zip_pieces(county: shapely.Geometry, zips: gpd.GeoDataFrame | None,
                points: pd.DataFrame) -> tuple[list[str], list]:
    """ZIP pieces of one county: real ZIP polygons cut by the county, or (approximate)
    Voronoi cells of the county's own ZIP centroids clipped to it."""
    if zips is not None:
        hit = zips.iloc[zips.sindex.query(county, predicate="intersects")]
        cut = shapely.intersection(hit.geometry.values, county)
        keep = shapely.area(cut) > 1e-4 * county.area  # drop hairline slivers of a neighbour
        return list(hit["unit_id"].to_numpy()[keep]), list(cut[keep])
    inside = points[shapely.contains_xy(county, points["lon"].to_numpy(), points["lat"].to_numpy())]
    inside = inside[~inside[["lon", "lat"]].duplicated()]
    if len(inside) < 2:
        return [], []
    pts = shapely.points(inside["lon"].to_numpy(), inside["lat"].to_numpy())
    cells = shapely.get_parts(shapely.voronoi_polygons(MultiPoint(pts), extend_to=county.envelope))
    p_i, c_i = shapely.STRtree(cells).query(pts, predicate="within")
    order = np.empty(len(pts), dtype=np.int64)
    order[p_i] = c_i
    return list(inside.index.astype(str)), list(shapely.intersection(cells[order], county))


def split_units_into_zips(units: gpd.GeoDataFrame, split: list[str],
                          zips: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Replace each unit (county) of ``split`` by its ZIP pieces.

    Parameters
    ----------
    units
        County units (``unit_id``, ``geometry``, optionally ``name``, ``state``).
    split
        Ids of the units to split.
    zips
        ZIP (ZCTA) polygons, EPSG:4326; None: pieces are the Voronoi cells of the
        standard ZIP centroids inside the county (approximate, like
        :func:`approximate_zip_units`).

    Returns
    -------
    GeoDataFrame
        The other units unchanged plus one row per piece: ``unit_id`` =
        ``"<county id>-<ZIP>"`` (ids never collide with county FIPS codes),
        ``name`` = ``"ZIP <zip> (<county name>)"``, ``unit_kind`` (``county`` or
        ``zip``); the pieces of a county tile it exactly, so the result is
        still a coverage and adjacency works across the mix.
    """
    out = units.copy()
    out["unit_kind"] = "county"
    if not split:
        return out
    table = zip_table()
    points = table[(table["zip_type"] == "STANDARD") & table["active"]]
    rows = []
    for uid in sorted(split):
        row = out.loc[out["unit_id"] == uid].iloc[0]
        ids, geoms = _zip_pieces(row.geometry, zips, points)
        if len(ids) < 2:
            log.info("unit %s has fewer than two ZIPs: kept whole", uid)
            continue
        name = row.get("name", uid)
        for z, g in zip(ids, geoms):
            rows.append({"unit_id": f"{uid}-{z}", "name": f"ZIP {z} ({name})",
                         "state": row.get("state", ""), "unit_kind": "zip", "geometry": g})
        out = out[out["unit_id"] != uid]
        log.info("unit %s split into %d ZIP pieces", uid, len(ids))
    pieces = gpd.GeoDataFrame(rows, geometry="geometry", crs=units.crs) if rows else None
    mixed = pd.concat([out, pieces], ignore_index=True) if pieces is not None else out
    return clean_units(gpd.GeoDataFrame(mixed, geometry="geometry", crs=units.crs))
