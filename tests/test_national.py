"""National books: the multi-state book generator and planning it with most ZIPs empty."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from books import multistate_book
from territory.cache import cache_dir
from territory.config import ScenarioConfig, config_from_dict
from territory.geo.contract import contract_units, expand_assignment
from territory.metrics import snapped_shapes, snapping_key
from territory.pipeline import plan, prepare, write_result
from territory.web import maps
from territory.geo.geocode import geocode_accounts
from territory.geo.units import county_units
from territory.io.accounts import assign_tiers, read_table, validate_accounts


def test_book_is_deterministic_and_its_rejects_are_counted(tmp_path):
    a = multistate_book(tmp_path / "a", n_accounts=200, seed=3)
    b = multistate_book(tmp_path / "b", n_accounts=200, seed=3)
    assert a.accounts.read_bytes() == b.accounts.read_bytes()
    assert a.reps.read_bytes() == b.reps.read_bytes()
    raw, _ = read_table(a.accounts)
    cfg = ScenarioConfig()
    acc, rejects = validate_accounts(raw, cfg.columns)
    acc, geo_rejects = geocode_accounts(assign_tiers(acc, cfg.tiers))
    assert len(raw) == a.n_rows == 200
    assert len(rejects) + len(geo_rejects) == a.expected_rejects > 0
    assert set(acc["state"]) <= set(a.states) and len(set(acc["state"])) >= 3
    assert int(acc["account_units"].sum()) == a.total_account_units
    assert acc["zip"].nunique() == a.zips_used
    # heavy tail: the largest account dwarfs the median
    assert acc["revenue"].max() > 15 * acc["revenue"].median()
    assert acc["current_rep"].notna().mean() > 0.8
    reps = pd.read_csv(a.reps, dtype=str)
    assert list(reps.columns) == ["rep_id", "name", "home_zip", "capacity"]
    assert len(reps) == a.n_reps and 100 <= a.total_account_units / a.n_reps <= 150


# ----------------------------------------------------------------------------- contraction


def _grid(n: int) -> nx.Graph:
    g = nx.grid_2d_graph(n, n)
    return nx.relabel_nodes(g, {(i, j): f"u{i:02d}{j:02d}" for i, j in g.nodes})


def _assert_groups_connected(c, graph: nx.Graph) -> None:
    ids = np.asarray(c.unit_ids)
    for a in c.anchors:
        members = ids[c.anchor == a]
        assert ids[a] in members
        assert nx.is_connected(graph.subgraph(members)), f"group of {ids[a]} is not connected"


def test_contraction_groups_are_connected_graph_voronoi_cells():
    g = _grid(9)
    ids = sorted(g.nodes)
    rng = np.random.default_rng(0)
    xy = np.array([[int(u[1:3]), int(u[3:5])] for u in ids], dtype=float) + rng.normal(0, .2, (81, 2))
    has = np.zeros(81, dtype=bool)
    has[[0, 40, 44, 80, 8]] = True
    c = contract_units(ids, has, g, xy)
    assert c.n_contracted == 5 and c.n_full == 81 and not c.islands
    _assert_groups_connected(c, g)
    # fewest hops: every unit's anchor is at its graph distance to the nearest source
    dist = {s: nx.single_source_shortest_path_length(g, ids[s]) for s in c.anchors}
    for i, u in enumerate(ids):
        assert c.hops[i] == min(d[u] for d in dist.values()) == dist[c.anchor[i]][u]
    # deterministic, and the order of the graph's edges does not matter
    h = nx.Graph()
    h.add_nodes_from(reversed(ids))
    h.add_edges_from(reversed(list(g.edges)))
    assert np.array_equal(contract_units(ids, has, h, xy).anchor, c.anchor)
    # the contracted graph joins groups exactly where full edges cross
    expect = {frozenset((ids[c.anchor[ids.index(a)]], ids[c.anchor[ids.index(b)]]))
              for a, b in g.edges} - {frozenset([x]) for x in ids}
    assert {frozenset(e) for e in c.graph.edges} == {e for e in expect if len(e) == 2}
    assert list(expand_assignment(c, np.arange(5))) == list(c.group)


def test_contraction_ties_go_to_the_nearer_anchor_then_the_smaller_id():
    # a path a - m - b: m is one hop from both anchors
    g = nx.path_graph(["a", "m", "b"])
    has = np.array([True, False, True])
    near_b = contract_units(["a", "m", "b"], has, g, np.array([[0, 0], [2, 0], [3, 0]], float))
    assert near_b.unit_ids[near_b.anchor[1]] == "b"
    tie = contract_units(["a", "m", "b"], has, g, np.array([[0, 0], [1, 0], [2, 0]], float))
    assert tie.unit_ids[tie.anchor[1]] == "a"


def test_a_repeated_contraction_is_the_same_and_follows_its_inputs():
    """The map contracts what the pipeline did: the same answer, never a stale or shared one."""
    g = nx.path_graph(["a", "m", "b"])
    has = np.array([True, False, True])
    xy = np.array([[0, 0], [2, 0], [3, 0]], float)
    first = contract_units(["a", "m", "b"], has, g, xy)
    first.anchor[1] = 0  # a caller changing its copy
    first.graph.add_edge("a", "x")
    again = contract_units(["a", "m", "b"], has, g, xy)
    assert list(again.anchor) == [0, 2, 2] and sorted(again.graph.nodes) == ["a", "b"]
    moved = contract_units(["a", "m", "b"], has, g, np.array([[0, 0], [1, 0], [3, 0]], float))
    assert list(moved.anchor) == [0, 0, 2]
    g.remove_edge("a", "m")
    g.add_edge("a", "b", bridge=True)  # another graph: contracted anew
    assert contract_units(["a", "m", "b"], has, g, xy).graph.edges["a", "b"] == {"bridge": True}


def test_account_free_component_goes_to_the_nearest_anchor_and_is_listed():
    g = nx.Graph([("a", "b"), ("c", "d")])        # c-d is an island without accounts
    xy = np.array([[0, 0], [1, 0], [10, 0], [11, 0]], float)
    c = contract_units(["a", "b", "c", "d"], np.array([True, True, False, False]), g, xy)
    assert c.islands == ("c", "d")
    assert [c.unit_ids[i] for i in c.anchor] == ["a", "b", "b", "b"]
    assert list(c.hops) == [0, 0, -1, -1]


def test_multistate_plan_is_contiguous_and_banded_on_the_full_graph(tmp_path):
    book = multistate_book(tmp_path, n_accounts=200, states=("OH", "IN", "KY"), seed=1)
    cfg = ScenarioConfig()
    inputs = prepare(book.accounts, book.reps, cfg)
    res = plan(inputs, cfg)
    s = res.summary.to_dict()
    units = res.units
    # most units are empty and the model is sized by the others
    assert (inputs.units["n_accounts"] == 0).mean() > 0.8
    assert s["n_units"] == len(inputs.units) and s["n_units_solved"] == (inputs.units["n_accounts"] > 0).sum() <= book.zips_used
    # every unit of the region is assigned, and every account in is assigned or rejected
    assert units["rep_id"].notna().all() and len(units) == len(inputs.units)
    assert s["accounts_in"] == book.n_rows == len(res.accounts) + len(res.rejects)
    assert len(res.rejects) == book.expected_rejects
    # contiguity, proved with networkx on the FULL graph (no contraction involved)
    for rep, grp in units.groupby("rep_id"):
        assert nx.is_connected(inputs.adjacency.subgraph(grp["unit_id"])), rep
    # both bands
    b = cfg.balance
    per_rep = units.groupby("rep_id")[["tam", "account_units"]].sum()
    assert per_rep["account_units"].between(b.account_units_min, b.account_units_max).all()
    mean = per_rep["tam"].mean()
    assert (per_rep["tam"] - mean).abs().max() <= b.tam_tolerance * mean * (1 + 1e-9)
    assert s["violations"] == [] and s["contiguous"]
    # the snapped unit shapes of its territories are kept on disk for the next run, as they are
    key = snapping_key(units)
    kept = gpd.read_parquet(cache_dir("snapped") / f"{key.hex()}.parquet")
    snapped, clean = snapped_shapes(key)
    assert (shapely.to_wkb(kept.geometry.values) == shapely.to_wkb(snapped)).all()
    assert (kept["clean"].to_numpy() == clean).all()


def test_a_locked_empty_unit_keeps_its_lock_through_the_contraction(tmp_path):
    """Empty ZIPs locked by hand (the map editor's moves) keep their reps through contraction."""
    book = multistate_book(tmp_path, n_accounts=200, states=("OH", "IN", "KY"), seed=1)
    cfg = ScenarioConfig()
    first = plan(prepare(book.accounts, book.reps, cfg), cfg)
    owner = dict(zip(first.units["unit_id"], first.units["rep_id"]))
    empty = set(first.units.loc[first.units["n_accounts"] == 0, "unit_id"])
    homes = set(first.reps["base_unit"])
    # two empty units of one contraction group: one next to the group's anchor kept by the
    # anchor's rep, one handed to the rep across its edge (as two editor moves would); were the
    # locks moved onto the anchor, it would be locked to two reps
    inputs = prepare(book.accounts, book.reps, cfg)
    units, graph = inputs.units, inputs.adjacency
    xy = np.c_[units["lon"], units["lat"]]
    c = contract_units(units["unit_id"], units["n_accounts"].to_numpy() > 0, graph, xy)
    anchor_of = dict(zip(units["unit_id"], units["unit_id"].to_numpy()[c.anchor]))
    moves = next(((k, owner[a]), (u, owner[v])) for u in sorted(empty - homes)
                 for a in [anchor_of[u]] if a != u
                 for k in sorted(graph[a]) if k in empty and anchor_of[k] == a and k != u
                 for v in sorted(graph[u]) if owner[v] != owner[a])
    locks = tmp_path / "locks.csv"
    locks.write_text("unit_id,rep_id\n" + "".join(f"{u},{r}\n" for u, r in moves))
    again = plan(prepare(book.accounts, book.reps, cfg, locks_path=locks), cfg)
    after = dict(zip(again.units["unit_id"], again.units["rep_id"]))
    assert [after[u] for u, _ in moves] == [r for _, r in moves]
    assert not again.summary.violations and again.summary.contiguous


# ----------------------------------------------------------------------------- unit_level auto


def test_auto_level_splits_the_county_that_alone_breaks_a_band(tmp_path):
    # most accounts in Manhattan: a county plan is infeasible, "auto" splits New York County
    book = multistate_book(tmp_path, n_accounts=250, states=("NY", "NJ", "CT"), n_metros=3,
                           concentration=2.5, radius_km=12, seed=2, n_reps=3)
    cfg = ScenarioConfig(unit_level="auto")
    inputs = prepare(book.accounts, book.reps, cfg)
    units = inputs.units
    counties = county_units(["NY", "NJ", "CT"])
    kinds = units.set_index("unit_id")["unit_kind"]
    assert "36061" not in kinds.index and (kinds == "county").sum() == len(counties) - 1
    pieces = units[units["unit_id"].str.startswith("36061-")]
    assert len(pieces) > 20 and (pieces["unit_kind"] == "zip").all()
    assert pieces["account_units"].sum() > cfg.balance.account_units_max  # too big as a county
    assert units.loc[units["unit_kind"] == "county", "account_units"].max() \
        <= cfg.balance.account_units_max
    # the pieces tile the county: same area, no overlap
    area = pieces.to_crs("EPSG:5070").area.sum()
    manhattan = counties[counties["unit_id"] == "36061"].to_crs("EPSG:5070").area.sum()
    assert abs(area - manhattan) < 1e-6 * manhattan
    # adjacency across the mix: pieces touch the neighbouring counties (Bronx 36005)
    assert any(n == "36005" for p in pieces["unit_id"] for n in inputs.adjacency.neighbors(p))
    res = plan(inputs, cfg)
    assert res.summary.violations == () and res.summary.contiguous
    for rep, grp in res.units.groupby("rep_id"):
        assert nx.is_connected(inputs.adjacency.subgraph(grp["unit_id"])), rep
    out = write_result(res, tmp_path / "out")
    exported = gpd.read_file(tmp_path / "out" / "territories.geojson")
    assert len(exported) == 3 and (tmp_path / "out" / "map.html").stat().st_size > 0
    assigned = pd.read_csv(tmp_path / "out" / "assignments.csv", dtype=str)
    assert assigned["unit_id"].str.startswith("36061-").sum() == pieces["n_accounts"].sum()


NORTHEAST = ("NY", "NJ", "CT", "MA", "RI", "NH", "ME", "PA")


def test_auto_level_splits_every_county_wider_than_a_band_and_plans_contiguously(tmp_path):
    # New York County holds 1.09 of a territory's TAM and 116 account units: alone it breaks
    # no band, so split only where a county alone breaks one it stayed whole and the county
    # plan from our own centres ended without a plan (exit 3); split at the bands' width it
    # plans, contiguous, both bands held
    book = multistate_book(tmp_path, n_accounts=400, states=NORTHEAST, n_metros=6, seed=3)
    cfg = config_from_dict({"unit_level": "auto", "solver": {"time_limit_seconds": 8}})
    inputs = prepare(book.accounts, 5, cfg)
    units, b = inputs.units, cfg.balance
    target = units["tam"].sum() / 5
    kinds = units.set_index("unit_id")["unit_kind"]
    manhattan = units[units["unit_id"].str.startswith("36061-")]
    assert "36061" not in kinds.index and len(manhattan) > 20
    assert manhattan["tam"].sum() < (1 + b.tam_tolerance) * target
    assert manhattan["account_units"].sum() < b.account_units_max
    whole = units[units["unit_kind"] == "county"]
    assert whole["tam"].max() <= 2 * b.tam_tolerance * target
    assert whole["account_units"].max() <= b.account_units_max - b.account_units_min
    assert (kinds == "county").sum() == len(county_units(list(NORTHEAST))) - \
        units.loc[units["unit_kind"] == "zip", "unit_id"].str[:5].nunique()
    res = plan(inputs, cfg)
    assert res.summary.violations == () and res.summary.contiguous
    # contiguity with networkx on the full mixed graph (counties and ZIP pieces), both bands
    plan_units = res.units
    assert len(plan_units) == len(units) and plan_units["rep_id"].notna().all()
    for rep, grp in plan_units.groupby("rep_id"):
        assert nx.is_connected(inputs.adjacency.subgraph(grp["unit_id"])), rep
    per_rep = plan_units.groupby("rep_id")[["tam", "account_units"]].sum()
    assert len(per_rep) == 5
    assert per_rep["account_units"].between(b.account_units_min, b.account_units_max).all()
    assert ((per_rep["tam"] - target).abs() <= b.tam_tolerance * target * (1 + 1e-9)).all()


# ----------------------------------------------------------------------------- light maps


def test_a_map_of_many_units_is_simplified_and_drawn_in_groups():
    n = 80                                            # 6,400 unit squares
    geoms = [shapely.box(-90 + 0.1 * (i % n), 35 + 0.1 * (i // n),
                         -90 + 0.1 * (i % n + 1), 35 + 0.1 * (i // n + 1)) for i in range(n * n)]
    # wobbly borders (many vertices) that a display simplification must drop
    geoms = [shapely.segmentize(g, 0.01) for g in geoms]
    with_acc = np.arange(n * n) % 17 == 0
    units = gpd.GeoDataFrame({"unit_id": [f"u{i:05d}" for i in range(n * n)],
                              "rep_id": np.where(np.arange(n * n) % n < n // 2, "R1", "R2"),
                              "n_accounts": with_acc.astype(int), "tam": with_acc * 1000.0},
                             geometry=geoms, crs="EPSG:4326")
    reps = pd.DataFrame({"rep_id": ["R1", "R2"], "name": ["One", "Two"], "lon": [-88, -84],
                         "lat": [38, 38]})
    card = pd.DataFrame({"rep_id": ["R1", "R2"]})
    d = maps.scenario_data(units, reps, None, card, {}, background=False)
    # the hover layer: one group per unit with accounts (with the empty units contracted into
    # it, split where the plan's reps split it), in the plan editor's order
    feats = d["units"]["features"]
    assert with_acc.sum() <= len(feats) < 2 * with_acc.sum()
    assert [f["properties"]["index"] for f in feats] == list(range(len(feats)))
    assert {f["properties"]["unit"] for f in feats if f["properties"]["accounts"]} == \
        set(units["unit_id"][with_acc])
    assert sum(1 + f["properties"].get("more", 0) for f in feats) == n * n
    assert len(d["territories"]["features"]) == 2
    # the territories still cover every unit (no holes where units are empty)
    cover = shapely.union_all([shapely.geometry.shape(f["geometry"])
                               for f in d["territories"]["features"]])
    assert abs(cover.area - 64.0) < 0.05 * 64.0
    assert maps.display_tolerance(units.total_bounds, len(units)) > \
        maps.display_tolerance(units.total_bounds)
    few = maps.scenario_data(units.iloc[:100], reps, None, card, {}, background=False)
    assert len(few["units"]["features"]) == 100

