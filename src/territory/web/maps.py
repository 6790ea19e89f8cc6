"""Maps stage: one interactive, offline Folium map per scenario.

A scenario map shows the territories filled in rep colours (neighbouring reps
always differ, the same rep keeps its colour across scenarios, see
:func:`rep_colours`), the units with tooltips, the rep bases, the accounts by
tier (clustered on a zoom-aware grid), the current alignment as a toggle layer
and a legend with each rep's TAM, account units and drive hours (flagged reps
in red). The drive-time source is always on screen.

The page needs no network: Leaflet is inlined from ``xstatic-leaflet`` and the
background is the state and county outlines of ``plotly-geo`` drawn as vector
layers (web tiles are an option). All user text is HTML-escaped. The data a
page carries is packed (:mod:`territory.web.packing`: shapes as delta-coded integer
text, figures as columns), so a 30,000-unit map stays near 2 MB.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import folium
import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse
import scipy.sparse.csgraph
import shapely
from branca.element import Element, MacroElement

from ..geo.contract import contract_units
from ..geo.reference import EQUAL_AREA_CRS, count_in_bbox, outlines_in_bbox
from ..metrics import unit_owner
from ..result import Summary, as_summary
from .assets import render_template
from .colours import MAX_DISTINCT, colour_distance, distinct_palette
from .html import (FLAG_RED, MONEY_SCALES, esc, finite_or_none,
                   fmt_hours, fmt_money, js_data, offline_assets, strip_remote_assets)
from .packing import pack_scenario

__all__ = ["ACCOUNT_COLUMNS", "DisplayItems", "TerritoryMap", "account_rows", "display_groups",
           "display_items", "rep_colours", "save_map", "scenario_data", "scenario_map"]

log = logging.getLogger(__name__)

TILES = {"OpenStreetMap": "OpenStreetMap", "CartoDB positron": "CartoDB positron"}
_UNIT_COLS = ("geometry", "rep_id")
_REP_COLS = ("rep_id", "name", "lon", "lat")
_ACC_COLS = ("name", "lon", "lat", "tier", "revenue", "rep_id")


# ----------------------------------------------------------------------------- colours


def _rep_geoms(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    g = gdf[["rep_id", "geometry"]].dropna(subset=["rep_id"])
    g = g[~g.geometry.is_empty & g.geometry.notna()].copy()
    g["rep_id"] = g["rep_id"].astype(str)
    if g.crs is None:
        g = g.set_crs("EPSG:4326")
    return g


def _rep_adjacency(territory_sets: Sequence[gpd.GeoDataFrame]) -> nx.Graph:
    """Reps as nodes, an edge where two reps' areas touch in any of the sets."""
    graph = nx.Graph()
    for gdf in territory_sets:
        g = _rep_geoms(gdf).to_crs("EPSG:4326").reset_index(drop=True)
        if len(g) > 4 * g["rep_id"].nunique():  # units: one shape per rep touches the same reps
            merged = _dissolve(g.geometry.values, g["rep_id"])
            g = gpd.GeoDataFrame({"rep_id": list(merged)}, geometry=list(merged.values()),
                                 crs="EPSG:4326")
        graph.add_nodes_from(sorted(g["rep_id"].unique()))
        if len(g) < 2:
            continue
        # small distance so units separated by a digitising gap still count as neighbours
        pairs = gpd.sjoin(g, g, predicate="dwithin", distance=1e-4)
        a, b = pairs["rep_id_left"].to_numpy(), pairs["rep_id_right"].to_numpy()
        graph.add_edges_from({tuple(sorted((x, y))) for x, y in zip(a, b) if x != y})
    return graph


def _rep_distances(territory_sets: Sequence[gpd.GeoDataFrame]) -> dict[tuple[str, str], float]:
    """Closest approach (degrees) of every two reps' areas, the minimum over the sets."""
    out: dict[tuple[str, str], float] = {}
    for gdf in territory_sets:
        g = _rep_geoms(gdf).to_crs("EPSG:4326")
        geoms = {str(r): shapely.union_all(grp.geometry.values)
                 for r, grp in g.groupby("rep_id", sort=True)}
        ids = sorted(geoms)
        for i, x in enumerate(ids):
            if len(ids) - i - 1 == 0:
                continue
            ds = shapely.distance(geoms[x], np.array([geoms[y] for y in ids[i + 1:]], dtype=object))
            for y, d in zip(ids[i + 1:], ds):
                out[(x, y)] = min(out.get((x, y), math.inf), float(d))
    return out


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _contrast(colour: str, neighbour_idx: list[int], palette: list[str]) -> float:
    """Smallest "redmean" RGB distance from ``colour`` to the neighbours' colours."""
    if not neighbour_idx:
        return 1e9
    r1, g1, b1 = _rgb(colour)
    out = []
    for i in neighbour_idx:
        r2, g2, b2 = _rgb(palette[i])
        rm = (r1 + r2) / 2
        out.append(math.sqrt((2 + rm / 256) * (r1 - r2) ** 2 + 4 * (g1 - g2) ** 2
                             + (2 + (255 - rm) / 256) * (b1 - b2) ** 2))
    return min(out)


def _spread_shared_colours(graph: nx.Graph, index: dict[str, int],
                           dist: dict[tuple[str, str], float]) -> dict[str, int]:
    """Local search: recolour or swap reps so reps sharing a colour lie far apart.

    Neighbours never share a colour; the score is the sorted distances between
    reps of the same colour (the closest pair first), larger is better.
    """
    nodes = sorted(index)

    def score(ix: dict[str, int]) -> tuple:
        ds = sorted(dist.get((a, b), 0.0) for i, a in enumerate(nodes)
                    for b in nodes[i + 1:] if ix[a] == ix[b])
        return tuple(round(d, 9) for d in ds[:3]) + (-len(ds),)

    def ok(ix: dict[str, int], node: str) -> bool:
        return all(ix[nb] != ix[node] for nb in graph.neighbors(node) if nb in ix)

    best = dict(index)
    best_score = score(best)
    colours = sorted(set(best.values()))
    for _ in range(4):
        improved = False
        for a in nodes:
            moves = [{a: c} for c in colours if c != best[a]]
            moves += [{a: best[b], b: best[a]} for b in nodes if best[b] != best[a]]
            for mv in moves:
                trial = {**best, **mv}
                if not all(ok(trial, n) for n in mv):
                    continue
                s = score(trial)
                if s > best_score:
                    best, best_score, improved = trial, s, True
        if not improved:
            break
    return best


def _distinct_colours(graph: nx.Graph, order: list) -> dict[str, str]:
    """Every rep its own colour; each rep in ``order`` takes the free colour farthest from
    its coloured neighbours' (ties: palette order)."""
    palette = distinct_palette(graph.number_of_nodes())
    index: dict = {}
    free = list(range(len(palette)))
    for node in order:
        nbs = [palette[index[nb]] for nb in graph.neighbors(node) if nb in index]
        pick = max(free, key=lambda i: (round(min((colour_distance(palette[i], c) for c in nbs),
                                                  default=0.0), 1), -i))
        index[node] = pick
        free.remove(pick)
    return {str(n): palette[index[n]] for n in sorted(index)}


def rep_colours(territory_sets: list[gpd.GeoDataFrame]) -> dict[str, str]:
    """A colour per rep: neighbours differ, the same rep has the same colour in every set.

    Up to :data:`~territory.web.colours.MAX_DISTINCT` reps (over all sets), every
    rep gets its own colour of :func:`~territory.web.colours.distinct_palette`
    (Paul Tol's colour-blind-safe *muted* nine first): reps are taken largest
    degree first (ties by ``rep_id``), each picking the free colour that differs
    most (normal and deuteranopia vision) from its coloured neighbours'. With more
    reps the adjacency graph is coloured greedily, each rep taking the least-used
    colour its neighbours do not have, a shared colour going to reps far apart
    (the labels tell them apart).

    Parameters
    ----------
    territory_sets
        GeoDataFrames with ``rep_id`` and ``geometry`` (units or dissolved
        territories), one per scenario.

    Returns
    -------
    dict
        ``rep_id -> "#RRGGBB"``, deterministic for the same input.
    """
    graph = _rep_adjacency(territory_sets)
    order = sorted(graph.nodes, key=lambda n: (-graph.degree(n), str(n)))
    if graph.number_of_nodes() <= MAX_DISTINCT:
        return _distinct_colours(graph, order)
    many = True
    dist = _rep_distances(territory_sets)
    palette = list(distinct_palette(MAX_DISTINCT))
    index: dict[str, int] = {}
    used = [0] * len(palette)

    def nearest_same(node: str, colour: int) -> float:
        # closest approach to a rep already wearing this colour (farther is better)
        ds = [dist.get(tuple(sorted((node, o))), 0.0) for o, k in index.items() if k == colour]
        return min(ds) if ds else math.inf

    vals = [d for d in dist.values() if math.isfinite(d)]
    step = max(max(vals, default=0.0) / 5, 1e-9)
    for node in order:
        taken = {index[nb] for nb in graph.neighbors(node) if nb in index}
        free = [i for i in range(len(palette)) if i not in taken]
        if free:
            nbs = [index[nb] for nb in graph.neighbors(node) if nb in index]
            # least used first; a shared colour goes to reps far apart (coarse distance
            # buckets), then the colour that contrasts most with the neighbours'
            pick = min(free, key=lambda i: (used[i], -min(nearest_same(node, i) // step, 99),
                                            -(_contrast(palette[i], nbs, palette) // 150),
                                            -round(nearest_same(node, i), 6), i))
        else:  # more neighbours than colours: fall back to networkx's greedy colouring index
            pick = nx.greedy_color(graph, strategy="largest_first")[node] % len(palette)
        index[node] = pick
        used[pick] += 1
    if many and len(index) <= 80:
        index = _spread_shared_colours(graph, index, dist)
    return {str(n): palette[index[n]] for n in sorted(index)}


# ----------------------------------------------------------------------------- geometry


#: above this many units a map's unit layer (hover details, the plan editor) holds one
#: group per account-bearing unit (it and the empty units contracted into it, see
#: :func:`display_groups`) instead of one feature per unit
MAX_DISPLAY_UNITS = 5000

#: above this many counties around the map the background draws the state outlines only
#: (a national map: county lines are a grey mesh at that zoom and weigh most of the page)
MAX_BACKGROUND_COUNTIES = 1500


def display_tolerance(bounds: Sequence[float], n_units: int | None = None) -> float:
    """Simplification tolerance in degrees: 1/4000 of the extent, coarser for many units.

    1/4000 of the extent is sub-pixel at full view. A map of ``n_units`` more than
    2,500 units is opened at a zoom where each unit is a few pixels, so the
    tolerance grows with ``sqrt(n_units / 2500)`` (x3.5 for 30,000 ZIPs, about a pixel
    of the national view). With the units drawn in groups (:func:`display_items`) and
    the page's data packed (:mod:`territory.web.packing`), the sparse national
    ``map.html`` is 0.5 MB and a dense 30,000-unit one (19,000 drawn shapes) 2.1 MB,
    drawn in about a second (``bench/bench_maps.py``); exports keep full geometry.
    """
    minx, miny, maxx, maxy = bounds
    span = max(maxx - minx, (maxy - miny) * 1.3, 1e-3)
    scale = max(1.0, math.sqrt((n_units or 0) / 2500.0))
    return span / 4000.0 * scale


def _decimals(tol: float) -> int:
    """Decimals of the coordinates: a third of the tolerance (0.01 degree for a national map)."""
    return int(min(6, max(2, math.ceil(-math.log10(tol / 3)))))


def simplify_for_display(geoms: np.ndarray, tol: float) -> np.ndarray:
    """Simplify a polygon coverage keeping shared borders shared (no gaps, no overlaps).

    Uses GEOS coverage simplification on the shapes snapped to a grid of 1/100 of
    the tolerance (borders digitised twice, a hair apart, become one: without the snap
    their simplified and rounded copies overlap or leave slivers); falls back to
    per-polygon topology-preserving simplification when the input is not a coverage.
    A shape that rounding to the grid would fold is snapped by ``set_precision``
    instead (measured on the 800-account national book: 7 of 644 shapes; before, the
    whole map fell back to per-polygon simplification, whose borders overlap).
    """
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0:
        return geoms
    try:
        grid = tol / 100.0  # coordinates rounded, not set_precision: 20x faster, same snap
        snapped = shapely.transform(geoms, lambda c: np.round(c / grid) * grid)
        # rounding can fold a shape whose vertex lies within the grid of another edge (7 of
        # the 644 shapes of the national book), and GEOS then rejects the whole coverage:
        # those few are snapped by set_precision, which keeps them valid on the same grid
        broken = ~shapely.is_valid(snapped) | shapely.is_empty(snapped)
        if broken.any():
            snapped[broken] = shapely.set_precision(geoms[broken], grid)
        out = shapely.coverage_simplify(snapped, tol, simplify_boundary=True)
        if not shapely.is_valid(out).all() or shapely.is_empty(out).any():
            raise ValueError("coverage simplification left invalid parts")
        return out
    except Exception as exc:  # noqa: BLE001 - any GEOS failure: fall back
        log.debug("coverage_simplify failed (%s); per-polygon simplify", exc)
        return shapely.simplify(geoms, tol, preserve_topology=True)


def _feature_collection(geoms: Sequence, props: Sequence[dict], d: int) -> dict:
    arr = np.asarray(list(geoms), dtype=object)
    ok = ~(pd.isna(arr) | shapely.is_empty(arr)) if len(arr) else np.zeros(0, bool)
    rounded = shapely.transform(arr[ok], lambda c: np.round(c, d)) if ok.any() else []
    feats = []
    for g, p in zip(rounded, [p for p, k in zip(props, ok) if k]):
        gj = shapely.geometry.mapping(g)
        feats.append({"type": "Feature", "properties": p,
                      "geometry": {"type": gj["type"], "coordinates": gj["coordinates"]}})
    return {"type": "FeatureCollection", "features": feats}


def _dissolve(geoms: np.ndarray, keys: Sequence) -> dict[str, Any]:
    """The union of ``geoms`` per key, keys sorted (as text)."""
    keys = list(keys)
    if not keys:
        return {}
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object), sort=True)
    merged = _union_by(np.asarray(geoms, dtype=object), codes, len(uniques))
    return {str(k): g for k, g in zip(uniques, merged)}


def _union_by(geoms: np.ndarray, keys: np.ndarray, n: int) -> np.ndarray:
    """``n`` shapes: the union of ``geoms`` with key ``k`` at position ``k``.

    Parts that form a clean coverage (units, or what :func:`simplify_for_display`
    returns) are merged edge by edge (``coverage_union_all``, many times faster);
    when the result is invalid or loses area (overlapping parts), by a full union.
    """
    keys = np.asarray(keys, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    cuts = np.searchsorted(keys[order], np.arange(n + 1))
    out = np.empty(n, dtype=object)
    for k in range(n):
        part = geoms[order[cuts[k]:cuts[k + 1]]]
        if len(part) == 1:
            out[k] = shapely.make_valid(part[0])
            continue
        whole = shapely.area(part).sum()
        try:
            u = shapely.coverage_union_all(part)
            if not u.is_valid or abs(u.area - whole) > 1e-9 * max(whole, 1.0):
                raise ValueError("not a coverage")
        except Exception:  # noqa: BLE001 - overlaps or invalid parts: the robust union
            u = shapely.union_all(shapely.make_valid(part))
        out[k] = u
    return out


# ----------------------------------------------------------------------------- display groups


@dataclass(frozen=True)
class DisplayItems:
    """What a map's unit layer draws and its plan editor moves: units, or groups of units.

    Attributes
    ----------
    frame
        One row per item: ``unit_id`` (the item's label: its account-bearing unit)
        and the item's summed ``tam, account_units, n_accounts, n_A, n_B, n_C``
        (``current_rep`` of the label unit).
    geoms
        The item shapes (unions of the simplified unit shapes).
    rep_of
        Rep index (into the map's rep rows) of every item, -1 when unassigned.
    of_unit
        ``(n_units,)`` item of every unit.
    members
        Per item, the positions of its units other than the label; None when
        every item is one unit.
    neighbours
        Per item, the items it touches (None unless asked for).
    """

    frame: pd.DataFrame
    geoms: np.ndarray
    rep_of: list[int]
    of_unit: np.ndarray
    members: list[list[int]] | None
    neighbours: list[list[int]] | None


def _km_points(u: gpd.GeoDataFrame) -> np.ndarray:
    """Unit points in equal-area km (the contraction's tie-break, as in the pipeline)."""
    if {"lon", "lat"} <= set(u.columns) and u[["lon", "lat"]].notna().all().all():
        lon, lat = u["lon"].to_numpy(float), u["lat"].to_numpy(float)
    else:
        pts = shapely.point_on_surface(u.geometry.values)
        lon, lat = shapely.get_x(pts), shapely.get_y(pts)
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(EQUAL_AREA_CRS)
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()]) / 1000.0


def _unit_edges(ids: np.ndarray, adjacency: nx.Graph) -> tuple[np.ndarray, np.ndarray]:
    """The graph's edges between positions of ``ids``, each once (``i < j``)."""
    pos = {u: k for k, u in enumerate(ids)}
    get = pos.get
    pairs = [(get(str(x), -1), get(str(y), -1)) for x, y in adjacency.edges]
    arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    arr = arr[(arr >= 0).all(axis=1) & (arr[:, 0] != arr[:, 1])]
    return arr.min(axis=1), arr.max(axis=1)


def display_groups(unit_ids: Sequence[str], n_accounts: np.ndarray, rep_of: Sequence[int],
                   adjacency: nx.Graph, xy: np.ndarray, *,
                   edges: tuple[np.ndarray, np.ndarray] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Groups of units that a hand edit moves together: each connected and of one rep.

    Rule: every empty unit joins the account-bearing unit it is contracted into
    (:func:`territory.geo.contract.contract_units`, the rule by which the optimizer
    moves units; ``xy`` in km breaks its ties), and each such group is split into
    the connected pieces (on ``adjacency``) of its units of one rep, so a plan
    that did not contract keeps its own choices. Every group is then connected and
    inside one territory, and a territory made of whole groups is connected on
    the unit graph exactly when it is connected on the group graph (groups joined
    where two of their units touch): the editor's contiguity check on groups is
    the check on units.

    ``edges``: the graph's edges as positions (``_unit_edges``), when known.

    Returns
    -------
    (of_unit, labels)
        ``of_unit[i]``: the group of unit ``i``; ``labels[g]``: the position of the
        unit naming group ``g`` (most accounts, then the first). Groups are
        ordered by their label's position.
    """
    ids = np.asarray([str(x) for x in unit_ids], dtype=object)
    n = len(ids)
    n_acc = np.asarray(n_accounts, dtype=float)
    rep = np.asarray(rep_of, dtype=np.int64)
    anchor = contract_units(ids, n_acc > 0, adjacency, xy).anchor
    key = anchor * (int(rep.max(initial=0)) + 2) + rep + 1
    i, j = edges if edges is not None else _unit_edges(ids, adjacency)
    keep = key[i] == key[j]
    same = scipy.sparse.coo_matrix((np.ones(int(keep.sum())), (i[keep], j[keep])), shape=(n, n))
    _, comp = scipy.sparse.csgraph.connected_components(same, directed=False)
    first: dict[int, int] = {}
    for p in np.lexsort((np.arange(n), -n_acc)):  # most accounts first, then position
        first.setdefault(int(comp[p]), int(p))
    labels = np.array(sorted(first.values()), dtype=np.int64)
    renumber = np.empty(len(labels), dtype=np.int64)
    renumber[comp[labels]] = np.arange(len(labels))
    return renumber[comp], labels


def _item_neighbours(of_unit: np.ndarray, i: np.ndarray, j: np.ndarray,
                     n_items: int) -> list[list[int]]:
    a, b = of_unit[i], of_unit[j]
    cross = a != b
    pairs = np.unique(np.concatenate([np.column_stack([a[cross], b[cross]]),
                                      np.column_stack([b[cross], a[cross]])]), axis=0)
    out: list[list[int]] = [[] for _ in range(n_items)]
    for x, y in pairs.tolist():
        out[x].append(y)
    return out


def _border_graph(u: gpd.GeoDataFrame) -> nx.Graph:
    """Units touching at a border or a corner (the optimizer's default "queen" adjacency)."""
    ids = u["unit_id"].astype(str).tolist()
    graph = nx.Graph()
    graph.add_nodes_from(ids)
    for a, nb in enumerate(_neighbours(u, None)):
        graph.add_edges_from((ids[a], ids[b]) for b in nb if b > a)
    return graph


_SUMMED = ("tam", "account_units", "n_accounts", "n_A", "n_B", "n_C")


def display_items(u: gpd.GeoDataFrame, geoms: np.ndarray, rep_of: list[int],
                  adjacency: nx.Graph | None, tol: float, *,
                  neighbours: bool = False) -> DisplayItems:
    """The unit layer's items, their shapes simplified for display (tolerance ``tol``).

    Every unit is an item, or above :data:`MAX_DISPLAY_UNITS` units with
    ``n_accounts`` every group of :func:`display_groups` (its units' full shapes
    merged, then simplified: fewer vertices than merging simplified units).
    ``geoms`` are the units' full shapes; ``adjacency`` the plan's unit graph
    (default: units sharing a border); ``neighbours`` adds the items' graph (the
    plan editor's contiguity check).
    """
    grouped = (len(u) > MAX_DISPLAY_UNITS and "n_accounts" in u
               and (pd.to_numeric(u["n_accounts"], errors="coerce") > 0).any())
    if not grouped:
        return DisplayItems(u, simplify_for_display(geoms, tol), list(rep_of), np.arange(len(u)),
                            None, _neighbours(u, adjacency) if neighbours else None)
    graph = adjacency if adjacency is not None else _border_graph(u)
    ids = u["unit_id"].astype(str).to_numpy()
    n_acc = pd.to_numeric(u["n_accounts"], errors="coerce").fillna(0).to_numpy()
    edges = _unit_edges(ids, graph)
    of_unit, labels = display_groups(ids, n_acc, rep_of, graph, _km_points(u), edges=edges)
    frame = u.iloc[labels][[c for c in ("unit_id", "current_rep") if c in u]].reset_index(drop=True)
    for col in (c for c in _SUMMED if c in u):
        frame[col] = np.bincount(of_unit, pd.to_numeric(u[col], errors="coerce").fillna(0)
                                 .to_numpy(float), minlength=len(labels))
    is_label = np.zeros(len(u), bool)
    is_label[labels] = True
    members: list[list[int]] = [[] for _ in labels]
    for p in np.flatnonzero(~is_label):
        members[of_unit[p]].append(int(p))
    shapes = simplify_for_display(_union_by(np.asarray(geoms, dtype=object), of_unit, len(labels)),
                                  tol)
    log.info("map: %d units drawn as %d groups", len(u), len(labels))
    return DisplayItems(frame, shapes, [rep_of[p] for p in labels], of_unit, members,
                        _item_neighbours(of_unit, *edges, len(labels))
                        if neighbours else None)


# ----------------------------------------------------------------------------- background


def background_outlines(bounds: Sequence[float], tol: float) -> dict | None:
    """State and county outlines around ``bounds`` as two GeoJSON dicts (or None).

    The margin around ``bounds`` is room to pan (1.5 times the width, at most 8
    degrees); counties are left out (``None``) when more than
    :data:`MAX_BACKGROUND_COUNTIES` lie in it.
    """
    minx, miny, maxx, maxy = bounds
    dx = min(max((maxx - minx) * 1.5, 0.5), 8.0)
    dy = min(max((maxy - miny) * 1.0, 0.4), 6.0)
    box = (round(minx - dx, 2), round(miny - dy, 2), round(maxx + dx, 2), round(maxy + dy, 2))
    try:
        states = outlines_in_bbox("states", box)
        n_counties = count_in_bbox("counties", box)
        counties = (outlines_in_bbox("counties", box) if n_counties <= MAX_BACKGROUND_COUNTIES
                    else states.iloc[:0])
    except Exception as exc:  # noqa: BLE001 - no background is not fatal
        log.warning("no background outlines: %s", exc)
        return None
    if n_counties > MAX_BACKGROUND_COUNTIES:
        log.info("background: %d counties around the map, state outlines only", n_counties)
    clip = shapely.box(*box)
    out = {}
    d = _decimals(tol)
    for key, g in (("states", states), ("counties", counties)):
        if g.empty:
            out[key] = None
            continue
        geoms = shapely.make_valid(g.geometry.values)
        cut = ~shapely.contains_properly(clip, geoms)  # only shapes crossing the edge are cut
        geoms[cut] = shapely.intersection(geoms[cut], clip)
        geoms = shapely.simplify(geoms, tol * 5, preserve_topology=True)  # context only
        out[key] = _feature_collection(geoms, [{}] * len(geoms), d)
    return out


# ----------------------------------------------------------------------------- data


def _require(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}")


def _flag_list(flags: Any) -> list[str]:
    if flags is None or (isinstance(flags, float) and math.isnan(flags)) or flags is pd.NA:
        return []
    return [f for f in str(flags).split(";") if f]


def routed_share(scorecard: pd.DataFrame) -> float | None:
    """Share of the plan's drive legs routed on roads (scorecard ``routed_share``, visit-weighted)."""
    if "routed_share" not in scorecard or not len(scorecard):
        return None
    share = pd.to_numeric(scorecard["routed_share"], errors="coerce")
    w = (pd.to_numeric(scorecard["visits_per_month"], errors="coerce")
         if "visits_per_month" in scorecard else pd.Series(1.0, index=scorecard.index))
    ok = share.notna() & w.notna() & (w > 0)
    if not ok.any():
        return None
    return float((share[ok] * w[ok]).sum() / w[ok].sum())


def source_label(summary: Summary | Mapping[str, Any],
                 routed: float | None = None) -> tuple[str, str]:
    """The always-visible drive-time source line (escaped HTML) and its kind.

    ``routed``: the share of drive legs routed on roads (:func:`routed_share`);
    without it, the share of units reached on the road graph.
    """
    summary = as_summary(summary)
    if summary.travel_source == "osm":
        if routed is not None:
            extra = (f" ({routed:.0%} of drive legs road-routed, the rest straight-line "
                     "estimates)" if routed < 0.999 else "")
        else:
            cov = finite_or_none(summary.travel_coverage)
            extra = (f" ({cov:.0%} road-routed, the rest straight-line estimates)"
                     if cov is not None and cov < 0.999 else "")
        return ("Drive times: OpenStreetMap road network" + esc(extra)
                + " · © OpenStreetMap contributors", "osm")
    return "Drive times: straight-line ESTIMATE (no road network)", "estimate"


def approximate_units_label(summary: Summary | Mapping[str, Any]) -> str | None:
    """The warning shown on every page when ZIP areas are approximations, else None."""
    if as_summary(summary).unit_source.upper().startswith("APPROXIMATE"):
        return ("ZIP areas: APPROXIMATE (Voronoi cells of ZIP centroids), not real ZIP "
                "boundaries — pass --zcta for real ones")
    return None


def _rep_rows(reps: pd.DataFrame, scorecard: pd.DataFrame, colours: dict[str, str]) -> list[dict]:
    """One row per rep (roster order, then scorecard-only reps), raw text (not escaped)."""
    card = scorecard.copy()
    card["rep_id"] = card["rep_id"].astype(str)
    card = card.set_index("rep_id")
    rows = []
    rep_ids = [str(r) for r in reps["rep_id"]]
    for r in card.index:
        if r not in rep_ids:
            rep_ids.append(r)
    base = reps.assign(rep_id=reps["rep_id"].astype(str)).set_index("rep_id")

    def num(c: pd.Series | None, col: str) -> float | None:
        return finite_or_none(c[col]) if c is not None and col in card else None

    for rid in rep_ids:
        c = card.loc[rid] if rid in card.index else None
        b = base.loc[rid] if rid in base.index else None
        name = (c["name"] if c is not None and "name" in card and pd.notna(c["name"])
                else (b["name"] if b is not None else rid))
        flags = _flag_list(c["flags"]) if c is not None and "flags" in card else []
        lat = finite_or_none(b["lat"]) if b is not None else None
        lon = finite_or_none(b["lon"]) if b is not None else None
        rows.append({
            "id": rid, "name": str(name), "colour": colours.get(rid, "#BBBBBB"),
            "flagged": bool(flags), "flags": "; ".join(flags),
            "tam": num(c, "tam"), "accountUnits": num(c, "account_units"),
            "hours": num(c, "drive_hours_per_month"),
            "base": [lat, lon] if lat is not None and lon is not None else None,
            "kind": str(b["base_kind"]) if b is not None and "base_kind" in base
            and pd.notna(b["base_kind"]) else "centre",
        })
    return rows


def _escaped_rows(rows: list[dict]) -> list[dict]:
    """The rep rows as the page's JavaScript gets them: every text HTML-escaped."""
    return [{**r, "id": esc(r["id"]), "name": esc(r["name"]), "flags": esc(r["flags"])}
            for r in rows]


def legend_html(rows: list[dict], summary: Summary | Mapping[str, Any], *, moved: bool = False,
                isochrones: bool = False, current: bool = False) -> str:
    """The legend panel: scenario, then one row per rep (flagged reps red).

    ``rows`` are :func:`_rep_rows` rows with raw text; the template escapes it.
    """
    summary = as_summary(summary)
    thr = summary.max_drive_hours_per_month
    lo, hi = summary.account_units_band
    notes = [f"TAM target ±{summary.tam_tolerance:.0%} of mean",
             f"account units {lo:g}–{hi:g}"]
    if summary.status in ("optimal", "time_limit"):  # a solved plan: how close to optimal
        notes.insert(0, f"solver: {summary.status_label}")
    notes.append(f"red flag > {thr:g} drive h/month")
    shown = [{**r, "tam_text": fmt_money(r["tam"]),
              "au_text": "—" if r["accountUnits"] is None else f"{r['accountUnits']:.0f}",
              "hours_text": fmt_hours(r["hours"]) + (" ▲" if r["hours"] is not None
                                                     and r["hours"] > thr else "")}
             for r in rows]
    return render_template(
        "legend.html", scenario=summary.scenario,
        description=summary.description, rows=shown, notes=notes, moved=moved,
        isochrones=isochrones, current=current,
        flagged=sum(r["flagged"] for r in rows), flag_red=FLAG_RED)


def _display_units(units: gpd.GeoDataFrame, accounts: pd.DataFrame | None) -> gpd.GeoDataFrame:
    """Units in EPSG:4326 with geometry, ``rep_id`` as text and (when known) ``current_rep``."""
    u = units.copy()
    if u.crs is not None and not u.crs.equals("EPSG:4326"):
        u = u.to_crs("EPSG:4326")
    u["rep_id"] = u["rep_id"].astype("string")
    u = u[u.geometry.notna() & ~u.geometry.is_empty].reset_index(drop=True)
    if ("current_rep" not in u.columns and accounts is not None
            and {"current_rep", "unit_id", "revenue"} <= set(accounts.columns)
            and "unit_id" in u.columns and accounts["current_rep"].notna().any()):
        u["current_rep"] = u["unit_id"].astype(str).map(unit_owner(accounts))
    return u


def _territory_layer(geoms: np.ndarray, rep_of: list[int], rows: list[dict], d: int) -> dict:
    """One dissolved shape per rep; labels its row at the shape's representative point."""
    has_rep = np.array(rep_of) >= 0
    terr = _dissolve(geoms[has_rep], [r for r in rep_of if r >= 0]) if len(geoms) else {}
    for k, g in terr.items():
        if not g.is_empty:
            p = g.representative_point()
            rows[int(k)]["label"] = [round(p.y, 5), round(p.x, 5)]
            rows[int(k)]["area"] = round(float(g.area), 8)
    return _feature_collection(list(terr.values()), [{"rep": int(k)} for k in terr], d)


def _count(x: Any) -> int:
    return int(finite_or_none(x) or 0)


def _unit_layer(u: gpd.GeoDataFrame, geoms: np.ndarray, rep_of: list[int],
                reps: pd.DataFrame, d: int, members: list[list[int]] | None = None) -> dict:
    """The units (or groups) with their tooltip figures (readable keys, text escaped).

    ``members``: per row, the other units of its group (``more`` counts them).
    """
    _require(u, ("unit_id",), "units")

    def col(name: str, default: Any = 0) -> list:
        return u[name].tolist() if name in u.columns else [default] * len(u)

    name_of = {str(r): esc(n) for r, n in zip(reps["rep_id"], reps["name"])}
    props = []
    for uid, r, t, a, n, na, nb, nc, c in zip(col("unit_id"), rep_of, col("tam"),
                                              col("account_units"), col("n_accounts"),
                                              col("n_A"), col("n_B"), col("n_C"),
                                              col("current_rep", None)):
        p = {"index": len(props), "unit": esc(uid), "rep": r, "tam": finite_or_none(t) or 0.0,
             "accountUnits": _count(a), "accounts": _count(n), "tierA": _count(na),
             "tierB": _count(nb), "tierC": _count(nc)}
        if c is not None and not (isinstance(c, float) and math.isnan(c)) and c is not pd.NA:
            p["current"] = name_of.get(str(c), esc(c))
        if members is not None and members[len(props)]:
            p["more"] = len(members[len(props)])
        props.append(p)
    return _feature_collection(geoms, props, d)


def _current_layer(u: gpd.GeoDataFrame, geoms: np.ndarray, current: gpd.GeoDataFrame | None,
                   reps: pd.DataFrame, tol: float, d: int) -> dict | None:
    """The current alignment's outlines, one per current rep (None when unknown).

    ``geoms`` are the units' full shapes: merged per current rep, then simplified.
    """
    if current is not None:
        cur_src = current.to_crs("EPSG:4326") if current.crs is not None else current
        key = "current_rep" if "current_rep" in cur_src.columns else "rep_id"
        cur_geoms, cur_keys = shapely.make_valid(cur_src.geometry.values), cur_src[key]
    elif "current_rep" in u.columns and u["current_rep"].notna().any():
        cur_geoms, cur_keys = geoms, u["current_rep"]
    else:
        return None
    mask = pd.notna(pd.Series(list(cur_keys))).to_numpy()
    cur = _dissolve(np.asarray(cur_geoms, dtype=object)[mask],
                    [str(k) for k in np.asarray(list(cur_keys), dtype=object)[mask]])
    shapes = simplify_for_display(np.array(list(cur.values()), dtype=object), tol)
    names = {str(r): n for r, n in zip(reps["rep_id"], reps["name"])}
    return _feature_collection(
        [shapely.boundary(g) if g.geom_type.endswith("Polygon") else g for g in shapes],
        [{"name": esc(names.get(k, k))} for k in cur], d)


def _isochrone_layer(isochrones: gpd.GeoDataFrame | None, raw_index: dict[str, int],
                     tol: float, d: int) -> dict | None:
    if isochrones is None or not len(isochrones):
        return None
    iso = isochrones.to_crs("EPSG:4326") if isochrones.crs is not None else isochrones
    minutes = iso.get("minutes", pd.Series([None] * len(iso)))
    return _feature_collection(
        shapely.simplify(iso.geometry.values, tol, preserve_topology=True),
        [{"rep": raw_index.get(str(r), -1), "minutes": finite_or_none(m)}
         for r, m in zip(iso["rep_id"], minutes)], d)


#: Column order of an account row in the map data (arrays keep 100k accounts small).
ACCOUNT_COLUMNS = ("lat", "lon", "tier", "name", "revenue", "rep", "moved", "from")


def account_rows(accounts: pd.DataFrame | None, reps: pd.DataFrame,
                 raw_index: dict[str, int]) -> list[list]:
    """One array per placed account, in :data:`ACCOUNT_COLUMNS` order (tier 0/1/2 = A/B/C).

    ``raw_index`` maps a rep id to its position in the page's rep rows. Built column by
    column (100,000 accounts in about a second); the page clusters them on a zoom-aware
    grid, so only clusters and the accounts in view become markers. Rows follow a
    Z-order curve over the map (:func:`_curve_order`): neighbours in the list lie close,
    so the page's packed coordinates are small differences.
    """
    if accounts is None or not len(accounts):
        return []
    _require(accounts, _ACC_COLS, "accounts")
    acc = accounts.dropna(subset=["lon", "lat"])
    acc = acc.iloc[_curve_order(acc["lon"].to_numpy(float), acc["lat"].to_numpy(float))]
    lat = np.round(acc["lat"].to_numpy(float), 5).tolist()
    lon = np.round(acc["lon"].to_numpy(float), 5).tolist()
    tier = (acc["tier"].astype(str).map({"A": 0, "B": 1, "C": 2}).fillna(2).astype(int).tolist())
    rev = pd.to_numeric(acc["revenue"], errors="coerce").to_numpy(float)
    rev = np.where(np.isfinite(rev), rev, 0.0).tolist()
    rep = (acc["rep_id"].astype(str).map(raw_index).where(acc["rep_id"].notna())
           .fillna(-1).astype(int).tolist())
    moved = (acc["moved"].fillna(False).astype(bool).to_numpy() if "moved" in acc
             else np.zeros(len(acc), dtype=bool))
    rows = [[a, o, t, nm, r, k, 0] for a, o, t, nm, r, k
            in zip(lat, lon, tier, _escape_all(acc["name"]), rev, rep)]
    if moved.any():
        names = {str(r): esc(n) for r, n in zip(reps["rep_id"], reps["name"])}
        curr = acc["current_rep"].to_numpy(object) if "current_rep" in acc else None
        for i in np.flatnonzero(moved):
            c = None if curr is None else curr[i]
            rows[i][6] = 1
            rows[i].append(names.get(str(c), esc(c)))
    return rows


def _curve_order(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Positions sorted along a Z-order (Morton) curve on a 65,536 x 65,536 grid (stable)."""
    def cells(v: np.ndarray) -> np.ndarray:
        if not len(v):
            return v.astype(np.uint64)
        lo, span = float(v.min()), max(float(np.ptp(v)), 1e-12)
        return np.clip((v - lo) / span * 65535, 0, 65535).astype(np.uint64)

    def spread(v: np.ndarray) -> np.ndarray:  # bit i goes to bit 2i
        for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v

    code = spread(cells(x)) | (spread(cells(y)) << np.uint64(1))
    return np.argsort(code, kind="stable")


def _escape_all(values: pd.Series) -> list[str]:
    """:func:`esc` of every value, vectorised (missing values become "")."""
    text = values.astype(object).where(values.notna(), "").astype(str)
    for ch, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"),
                       ("'", "&#x27;")):
        text = text.str.replace(ch, entity, regex=False)
    return text.tolist()


def plan_id(scenario: str, unit_ids: Sequence[str], rep_ids: Sequence[Any]) -> str:
    """A short, stable id of a plan: its scenario name and who owns every unit.

    The page keys its saved edits by it, and ``plan_edited.csv`` names it, so
    edits are never replayed onto a different plan.
    """
    pairs = sorted(f"{u}\t{'' if pd.isna(r) else r}" for u, r in zip(unit_ids, rep_ids))
    digest = hashlib.sha256("\n".join([str(scenario), *pairs]).encode()).hexdigest()
    return digest[:12]


def _neighbours(u: gpd.GeoDataFrame, adjacency: nx.Graph | None) -> list[list[int]]:
    """Each unit's neighbours by position: the plan's adjacency, else shared borders."""
    pos = {str(x): i for i, x in enumerate(u["unit_id"].astype(str))}
    out: list[set[int]] = [set() for _ in range(len(u))]
    if adjacency is not None:
        for a, b in adjacency.edges:
            i, j = pos.get(str(a)), pos.get(str(b))
            if i is not None and j is not None and i != j:
                out[i].add(j)
                out[j].add(i)
    else:
        g = gpd.GeoDataFrame(geometry=u.geometry.values, crs=u.crs).reset_index(drop=True)
        # touching at a border or a corner: the optimizer's default ("queen") adjacency
        pairs = gpd.sjoin(g, g, predicate="intersects")
        for i, j in zip(pairs.index, pairs["index_right"]):
            if i != j:
                out[int(i)].add(int(j))
    return [sorted(x) for x in out]


def _owners(item_of: Mapping[str, int], n_items: int, accounts: pd.DataFrame | None,
            raw_index: dict[str, int]) -> list[list[list[int]]]:
    """Per item, ``[rep index, accounts]`` of its current owners (-1: a rep not in the plan).

    ``item_of`` maps a unit id to its item.
    """
    out: list[list[list[int]]] = [[] for _ in range(n_items)]
    if accounts is None or "current_rep" not in accounts or "unit_id" not in accounts:
        return out
    owned = accounts[accounts["current_rep"].notna()]
    counts = owned.groupby([owned["unit_id"].astype(str).map(item_of),
                            owned["current_rep"].astype(str)]).size()
    for (item, rep), n in counts.items():
        out[int(item)].append([raw_index.get(rep, -1), int(n)])
    return out


def _editor_data(u: gpd.GeoDataFrame, items: DisplayItems, rows: list[dict], reps: pd.DataFrame,
                 accounts: pd.DataFrame | None, summary: Summary) -> dict:
    """What the plan editor needs beyond the drawn layers (ids and names raw: JS uses text).

    The editor moves ``items`` (units, or on a national map the groups of
    :func:`display_groups`: ``members`` lists each group's other units, space
    separated, for the downloaded plan); ``neighbours`` is the items' graph.
    Band rules are those of :func:`territory.metrics.rep_scorecard` with the
    optimizer's :func:`territory.optimize.rep_targets`: TAM within
    ``tam_tolerance`` of the rep's target (total TAM split by capacity), account
    units within the scenario's band times the rep's capacity (``capacity``),
    and the TAM index is TAM / target, for plans and the current alignment alike.
    """
    raw_index = {r["id"]: i for i, r in enumerate(rows)}
    cap = dict(zip(reps["rep_id"].astype(str), pd.to_numeric(
        reps["capacity"], errors="coerce"))) if "capacity" in reps else {}
    capacity = np.array([finite_or_none(cap.get(r["id"])) or 1.0 for r in rows])
    total = float(pd.to_numeric(u["tam"], errors="coerce").fillna(0).sum()) if "tam" in u else 0.0
    band = summary.account_units_band
    ids = u["unit_id"].astype(str).to_numpy()
    points = shapely.point_on_surface(items.geoms)
    return {
        "planId": plan_id(summary.scenario, ids, u["rep_id"]),
        "scenario": summary.scenario,
        "unitIds": items.frame["unit_id"].astype(str).tolist(),
        "members": (None if items.members is None
                    else [" ".join(ids[m]) for m in items.members]),
        "repIds": [r["id"] for r in rows],
        "repNames": [r["name"] for r in rows],
        "tamTarget": (total * capacity / capacity.sum()).round(6).tolist() if len(rows) else [],
        "tamTolerance": finite_or_none(summary.tam_tolerance),
        "unitsBand": [finite_or_none(band[0]), finite_or_none(band[1])],
        "capacity": capacity.round(6).tolist(),
        "neighbours": items.neighbours,
        "owners": _owners(dict(zip(ids, items.of_unit.tolist())), len(items.frame), accounts,
                          raw_index),
        "points": [[round(float(y), 5), round(float(x), 5)]
                   for x, y in zip(shapely.get_x(points), shapely.get_y(points))],
    }


def scenario_data(
    units: gpd.GeoDataFrame,
    reps: pd.DataFrame,
    accounts: pd.DataFrame | None,
    scorecard: pd.DataFrame,
    summary: Summary | Mapping[str, Any],
    *,
    current: gpd.GeoDataFrame | None = None,
    isochrones: gpd.GeoDataFrame | None = None,
    colours: dict[str, str] | None = None,
    background: bool = True,
    unit_layer: bool = True,
    editor: bool = False,
    adjacency: nx.Graph | None = None,
) -> dict:
    """Everything the map's JavaScript draws, as a JSON-able dict with all text escaped.

    With ``editor`` (needs the unit layer) the data also carries what the plan
    editor needs (:func:`_editor_data`); ``adjacency`` is the plan's unit graph
    (by default units that share a border).

    ``units`` may be per-unit polygons or dissolved territories (one row per
    rep, as in ``territories.geojson``); ``accounts`` may be None. Steps: the
    display units, the rep rows, then one layer each (territories, units,
    current alignment, drive-time areas, accounts).
    """
    summary = as_summary(summary)
    _require(units, _UNIT_COLS, "units")
    _require(reps, _REP_COLS, "reps")
    _require(scorecard, ("rep_id",), "scorecard")
    u = _display_units(units, accounts)
    if colours is None:
        colours = rep_colours([u])
    rows = _rep_rows(reps, scorecard, colours)
    raw_index = {r["id"]: i for i, r in enumerate(rows)}

    bounds = tuple(u.total_bounds) if len(u) else (-84, 39, -82, 41)
    tol = display_tolerance(bounds, len(u))
    d = _decimals(tol)
    full = shapely.make_valid(u.geometry.values)
    rep_of = [raw_index.get(str(r), -1) if pd.notna(r) else -1 for r in u["rep_id"]]
    # a national map draws (and edits) groups of units (see MAX_DISPLAY_UNITS)
    items = (display_items(u, full, rep_of, adjacency, tol, neighbours=editor)
             if unit_layer and len(u) else None)
    terr_fc = (_territory_layer(items.geoms, items.rep_of, rows, d) if items is not None
               else _territory_layer(simplify_for_display(full, tol), rep_of, rows, d))
    acc_rows = account_rows(accounts, reps, raw_index)
    cur_layer = _current_layer(u, full, current, reps, tol, d)
    iso_layer = _isochrone_layer(isochrones, raw_index, tol, d)

    src, kind = source_label(summary, routed_share(scorecard))
    approx = approximate_units_label(summary)
    level = summary.unit_level
    unit_word = "County" if level.startswith("county") else "Unit" if level == "auto" else "ZIP"
    minx, miny, maxx, maxy = bounds
    return {
        "reps": _escaped_rows(rows),
        "territories": terr_fc,
        "units": (_unit_layer(items.frame, items.geoms, items.rep_of, reps, d, items.members)
                  if items is not None else None),
        "current": cur_layer,
        "isochrones": iso_layer,
        "accounts": acc_rows,
        "accountColumns": list(ACCOUNT_COLUMNS),
        "background": background_outlines(bounds, tol) if background else None,
        "bounds": [[miny, minx], [maxy, maxx]],
        "tolerance": tol,
        "canvas": len(u) > 2500,
        "clusterOffZoom": 13,
        "unitLabel": unit_word,
        "money": [list(s) for s in MONEY_SCALES],
        "legend": legend_html(rows, summary, moved=any(len(a) > 7 for a in acc_rows),
                              isochrones=iso_layer is not None, current=cur_layer is not None),
        "source": src,
        "sourceKind": kind,
        "unitsNote": esc(approx) if approx else None,
        "attribution": "© OpenStreetMap contributors" if kind == "osm" else "",
        "editor": (_editor_data(u, items, rows, reps, accounts, summary)
                   if editor and items is not None else None),
    }


# ----------------------------------------------------------------------------- folium glue


class _Raw(Element):
    """An element whose text is emitted as is (never compiled as a Jinja template)."""

    def __init__(self, text: str):
        super().__init__()
        self._text = text

    def render(self, **kwargs) -> str:  # noqa: D102
        return self._text


class _ScenarioLayers(MacroElement):
    """Emits the inlined assets once and the ``TT.scenario`` call for its map."""

    def __init__(self, data: dict, groups: dict[str, folium.FeatureGroup]):
        super().__init__()
        self._name = "ScenarioLayers"
        self.data = data
        self.groups = groups

    def render(self, **kwargs) -> None:  # noqa: D102
        figure = self.get_root()
        figure.header.add_child(_Raw(offline_assets(editor=bool(self.data.get("editor")))),
                                name="territory_assets")
        groups = ", ".join(f'"{k}": {g.get_name()}' for k, g in self.groups.items())
        packed = pack_scenario(self.data, self.data.get("tolerance"))
        call = (f"\nTT.scenario({self._parent.get_name()}, {js_data(packed)}, "
                f"{{{groups}}});\n")
        figure.script.add_child(_Raw(call), name=self.get_name())


class TerritoryMap(folium.Map):
    """A :class:`folium.Map` that references no CDN: its assets are inlined at render."""

    default_js: list = []
    default_css: list = []


def scenario_map(
    units: gpd.GeoDataFrame,
    reps: pd.DataFrame,
    accounts: pd.DataFrame | None,
    scorecard: pd.DataFrame,
    summary: Summary | Mapping[str, Any],
    *,
    current: gpd.GeoDataFrame | None = None,
    isochrones: gpd.GeoDataFrame | None = None,
    tiles: str | None = None,
    colours: dict[str, str] | None = None,
    adjacency: nx.Graph | None = None,
    editor: bool = True,
) -> folium.Map:
    """The interactive map of one scenario, with the plan editor (issue 15).

    Parameters
    ----------
    units
        One row per unit: ``unit_id, geometry, rep_id`` and optionally ``tam,
        account_units, n_accounts, n_A, n_B, n_C, current_rep`` (EPSG:4326).
    reps
        ``rep_id, name, lon, lat`` and optionally ``base_kind``.
    accounts
        ``name, lon, lat, tier, revenue, rep_id`` (+ ``current_rep, moved``), or None.
    scorecard
        One row per rep: ``rep_id, name, tam, account_units, drive_hours_per_month, flags``.
    summary
        The scenario summary (``scenario, description, travel_source,
        max_drive_hours_per_month, tam_tolerance, account_units_band, ...``).
    current
        Polygons with ``current_rep`` (or ``rep_id``) for the current-alignment
        layer; by default the units' own ``current_rep`` column.
    isochrones
        Optional drive-time polygons ``rep_id, minutes, geometry``.
    tiles
        None (offline vector background), ``"OpenStreetMap"`` or ``"CartoDB positron"``.
    colours
        ``rep_id -> colour``; default :func:`rep_colours` of this scenario alone.
        Pass the colours of all scenarios to keep them equal across maps.
    adjacency
        The plan's unit graph (``ScenarioResult.adjacency``): the editor's split
        warning walks it (on a national map, the graph of the groups it makes,
        :func:`display_groups`). By default units sharing a border are neighbours.
    editor
        Include the plan editor (Edit mode, live balance panel, download of the
        edited plan for ``territory score``).

    Returns
    -------
    folium.Map
        Save it with :func:`save_map` for a self-contained HTML file.
    """
    if tiles is not None and tiles not in TILES:
        raise ValueError(f"tiles must be None or one of {sorted(TILES)}, not {tiles!r}")
    data = scenario_data(units, reps, accounts, scorecard, summary, current=current,
                         isochrones=isochrones, colours=colours, background=tiles is None,
                         editor=editor, adjacency=adjacency)
    (s, w), (n, e) = data["bounds"]
    m = TerritoryMap(location=[(s + n) / 2, (w + e) / 2], zoom_start=9, tiles=None,
                     control_scale=True, prefer_canvas=False, zoom_snap=0.25, zoom_delta=0.5)
    m.get_root().title = esc(f"{as_summary(summary).scenario} — territory map")
    if tiles is not None:
        with warnings.catch_warnings():  # folium warns about CartoDB API keys; the tiles load
            warnings.simplefilter("ignore", UserWarning)
            folium.TileLayer(TILES[tiles], name=f"Tiles: {tiles}", control=False).add_to(m)
    groups: dict[str, folium.FeatureGroup] = {}
    if tiles is None:
        groups["background"] = folium.FeatureGroup("State and county outlines", control=False)
    if data["current"] is not None:
        groups["current"] = folium.FeatureGroup("Current alignment (dotted)", show=False)
    groups["territories"] = folium.FeatureGroup("Territories")
    if data["units"] is not None:
        unit_word = data["unitLabel"] + (" codes" if data["unitLabel"] == "ZIP" else " units")
        groups["units"] = folium.FeatureGroup(f"{unit_word} (hover for details)")
    if data["isochrones"] is not None:
        groups["isochrones"] = folium.FeatureGroup("Drive-time areas", show=False)
    groups["labels"] = folium.FeatureGroup("Rep names")
    groups["bases"] = folium.FeatureGroup("Rep bases")
    tiers_present = {p[ACCOUNT_COLUMNS.index("tier")] for p in data["accounts"]}
    for i, t in enumerate("ABC"):
        if i in tiers_present:
            groups[f"acc{t}"] = folium.FeatureGroup(f"Accounts tier {t}", show=t != "C" or
                                                    len(data["accounts"]) < 3000)
    for g in groups.values():
        g.add_to(m)
    m.add_child(_ScenarioLayers(data, groups))
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    return m


def render_map(m: folium.Map) -> str:
    """The map as one self-contained HTML string (no network references)."""
    page = m.get_root().render()
    page = strip_remote_assets(page)
    if "TT.scenario" in page and "var TT" not in page:  # pragma: no cover - defensive
        raise RuntimeError("map assets missing")
    return page


def save_map(m: folium.Map, path: str | os.PathLike) -> None:
    """Write ``m`` as a self-contained HTML file: Leaflet inlined, no CDN, no tiles unless asked.

    A plain :class:`folium.Map` (not made by :func:`scenario_map`) gets Leaflet
    inlined in place of its CDN links; other plugins' remote assets are dropped.
    """
    if not isinstance(m, TerritoryMap):
        m.default_js, m.default_css = [], []
        m.get_root().header.add_child(_Raw(offline_assets()), name="territory_assets")
    Path(path).write_text(render_map(m), encoding="utf-8")
