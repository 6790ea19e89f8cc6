"""Units stage on real geometries (DC ZCTAs, Massachusetts counties with island counties)
and hand-drawn squares."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from territory.geo import units as U
from territory.errors import InputError
from territory.geo.reference import state_outlines

DATA = Path(__file__).parent / "data"
DC_ZCTA = DATA / "zcta_dc.geojson"
MA_COUNTIES = DATA / "counties_ma_islands.geojson"  # Barnstable, Bristol, Dukes, Nantucket, Plymouth


def _grid(n: int = 2, size: float = 0.01, x0: float = -77.0, y0: float = 38.9) -> gpd.GeoDataFrame:
    cells = [(f"{r}{c}", box(x0 + c * size, y0 + r * size, x0 + (c + 1) * size,
                               y0 + (r + 1) * size)) for r in range(n) for c in range(n)]
    return gpd.GeoDataFrame({"unit_id": [c[0] for c in cells]},
                            geometry=[c[1] for c in cells], crs="EPSG:4326")


@pytest.fixture(scope="module")
def dc() -> gpd.GeoDataFrame:
    return U.load_unit_polygons(DC_ZCTA)


@pytest.fixture(scope="module")
def ma() -> gpd.GeoDataFrame:
    return U.load_unit_polygons(MA_COUNTIES, "GEOID")


# ----------------------------------------------------------------------------- loading


def test_load_zctas(dc):
    assert len(dc) == 52 and dc.crs.to_epsg() == 4326
    assert dc["unit_id"].is_unique and dc["unit_id"].is_monotonic_increasing
    assert dc.geometry.is_valid.all()


def test_custom_units_need_an_id_column(tmp_path, ma):
    assert sorted(ma["unit_id"]) == ["25001", "25005", "25007", "25019", "25023"]
    assert ma.crs.to_epsg() == 4326  # the file is NAD83 (EPSG:4269): converted
    with pytest.raises(InputError, match="--unit-id"):
        U.load_unit_polygons(_no_id(tmp_path))


def _no_id(tmp_path: Path) -> Path:
    g = _grid().rename(columns={"unit_id": "label"})
    p = tmp_path / "noid.geojson"
    g.to_file(p)
    return p


def test_invalid_geometry_is_repaired(tmp_path):
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    g = gpd.GeoDataFrame({"unit_id": ["x"]}, geometry=[bowtie], crs="EPSG:4326")
    p = tmp_path / "bowtie.geojson"
    g.to_file(p)
    out = U.load_unit_polygons(p)
    assert out.geometry.is_valid.all() and out.geometry.iloc[0].area == pytest.approx(0.5)


def test_plotly_geo_counties_have_the_right_crs(ma):
    counties = U.county_units(["MA"])
    assert counties.crs.to_epsg() == 4326 and len(counties) == 14
    nantucket = counties.set_index("unit_id").loc["25019"]
    assert nantucket["name"] == "Nantucket, MA"
    # the town of Nantucket lies in the county polygon; the shipped copy agrees
    assert nantucket.geometry.contains(shapely.Point(-70.10, 41.28))
    shipped = ma.set_index("unit_id").geometry["25019"]
    assert shipped.symmetric_difference(nantucket.geometry).area < 1e-4 * shipped.area
    with pytest.raises(InputError):
        U.county_units(["XX"])


def test_unit_states(dc):
    assert set(U.unit_states(dc)) == {"DC"}


def test_approximate_zip_units_dc():
    approx = U.approximate_zip_units(["DC"])
    assert len(approx) > 20 and set(approx["state"]) == {"DC"}
    outline = state_outlines(["DC"]).geometry.iloc[0]
    assert shapely.union_all(approx.geometry.values).symmetric_difference(outline).area \
        < 1e-6 * outline.area
    # the cells tile the outline: no overlaps
    assert approx.to_crs(U.EQUAL_AREA_CRS).area.sum() == pytest.approx(
        _equal_area(outline).area, rel=1e-6)


def test_outlines_are_counted_without_reading_them():
    from territory.geo.reference import count_in_bbox, outlines_in_bbox

    for box in ((-84.0, 39.0, -82.0, 41.0), (-125.0, 24.0, -66.0, 50.0)):
        for kind in ("states", "counties"):
            assert count_in_bbox(kind, box) == len(outlines_in_bbox(kind, box)) > 0


def test_approximate_zip_units_are_cached_by_what_they_are_built_from(tmp_path, monkeypatch):
    monkeypatch.setenv("TERRITORY_CACHE_DIR", str(tmp_path))
    built = U.approximate_zip_units(["DC"])
    (layer,) = (tmp_path / "units").glob("*.parquet")
    again = U.approximate_zip_units(["DC"])
    assert again.equals(built) and again.crs == built.crs
    assert (shapely.to_wkb(again.geometry.values) == shapely.to_wkb(built.geometry.values)).all()
    # the second call read the file: a layer put there is what it returns
    built.assign(state="XX").to_parquet(layer)
    assert set(U.approximate_zip_units(["DC"])["state"]) == {"XX"}
    # other states are another layer; a damaged file is built again, not trusted
    U.approximate_zip_units(["DC", "DE"])
    assert len(list((tmp_path / "units").glob("*.parquet"))) == 2
    layer.write_bytes(b"not parquet")
    assert U.approximate_zip_units(["DC"]).equals(built)


# ----------------------------------------------------------------------------- adjacency


def test_queen_and_rook_on_a_grid():
    g = _grid(3)
    queen, _ = U.unit_adjacency(g, contiguity="queen")
    rook, _ = U.unit_adjacency(g, contiguity="rook")
    assert queen.number_of_edges() == 20 and rook.number_of_edges() == 12
    assert queen.has_edge("00", "11") and not rook.has_edge("00", "11")
    assert rook.edges["00", "01"]["shared_m"] > 800  # ~870 m side at 38.9 N
    exact, _ = U.unit_adjacency(g, contiguity="rook", tolerance_m=0)
    assert set(map(frozenset, exact.edges)) == set(map(frozenset, rook.edges))
    with pytest.raises(InputError):
        U.unit_adjacency(g, contiguity="bishop")


def test_adjacency_matches_naive_all_pairs_on_real_zctas(dc):
    graph, bridges = U.unit_adjacency(dc, tolerance_m=0)
    geoms = dc.geometry.values
    naive = {frozenset((dc["unit_id"][i], dc["unit_id"][j]))
             for i in range(len(dc)) for j in range(i + 1, len(dc))
             if geoms[i].intersects(geoms[j])}
    real = {frozenset(e) for e in graph.edges if not graph.edges[e].get("bridge")}
    assert real == naive
    # rook drops the corner-only contacts but keeps the graph connected
    rook, _ = U.unit_adjacency(dc, contiguity="rook")
    assert rook.number_of_edges() <= graph.number_of_edges() + len(bridges)
    assert nx.is_connected(rook)


def test_islands_are_bridged(ma):
    graph, bridges = U.unit_adjacency(ma, bridge=False)
    comps = sorted(sorted(c) for c in nx.connected_components(graph))
    assert comps == [["25001", "25005", "25023"], ["25007"], ["25019"]]
    graph, bridges = U.unit_adjacency(ma)
    assert nx.is_connected(graph)
    # Martha's Vineyard (Dukes) to Cape Cod across Woods Hole, then Nantucket to Dukes
    assert [(a, b) for a, b, _ in bridges] == [("25007", "25001"), ("25019", "25007")]
    assert bridges[0][2] == pytest.approx(0.47, abs=0.1)
    assert bridges[1][2] == pytest.approx(11.7, abs=0.5)
    assert graph.edges["25019", "25007"]["bridge"] is True


def test_bridges_between_hand_drawn_islands():
    g = _grid(2)
    far = gpd.GeoDataFrame({"unit_id": ["i1", "i2"]},
                           geometry=[box(-76.90, 38.901, -76.89, 38.909),
                                     box(-76.80, 38.901, -76.79, 38.909)], crs="EPSG:4326")
    units = pd.concat([g, far], ignore_index=True)
    graph, bridges = U.unit_adjacency(units)
    assert nx.is_connected(graph) and len(bridges) == 2
    # the smaller component first: i1 (a tie with i2 broken by id) joins the grid, then i2
    assert [(a, b) for a, b, _ in bridges] == [("i1", "01"), ("i2", "i1")]
    assert bridges[0][2] == pytest.approx(6.9, abs=0.2)


# ----------------------------------------------------------------------------- placing accounts


def _acc(rows):
    df = pd.DataFrame(rows, columns=["account_id", "zip", "lat", "lon", "point_source"])
    df["row"] = np.arange(1, len(df) + 1)
    df["revenue"] = 1000.0
    df["tier"] = "C"
    df["account_units"] = 1
    df["touches_per_year"] = 4.0
    return df


def test_locate_accounts_rules(dc):
    acc = _acc([
        ("direct", "20001", 38.91, -77.02, "ZIP centroid"),
        ("pobox", "20013", 38.8933, -77.0146, "ZIP centroid"),      # PO box, no ZCTA
        ("coords", "", 38.905, -77.03, "input lat/lon"),
        ("river", "", 38.86, -77.06, "input lat/lon"),              # nearest unit
        ("ohio", "43215", 39.96, -83.0, "ZIP centroid"),            # far away
    ])
    placed, rejects, subs = U.locate_accounts(acc, dc)
    got = dict(zip(placed["account_id"], placed["unit_match"]))
    assert got["direct"] == "ZIP is a unit" and got["pobox"] == "point in polygon"
    assert got["coords"] == "point in polygon"
    assert rejects[["account_id", "reason"]].values.tolist() == [["ohio", U.REASON_OUTSIDE_UNITS]]
    po = subs.set_index("account_id").loc["pobox"]
    assert po["zip"] == "20013" and po["unit_id"] == "20001"
    assert got["river"] in ("point in polygon", "nearest unit within 10 km")
    assert len(placed) + len(rejects) == len(acc)


def test_nearest_unit_within_the_stated_distance():
    g = _grid(2)
    acc = _acc([("near", "", 38.9, -77.03, "input lat/lon"),     # ~0.9 km west of the grid
                ("far", "", 38.9, -77.5, "input lat/lon")])
    placed, rejects, subs = U.locate_accounts(acc, g, level="county", max_nearest_km=5)
    assert placed["unit_match"].tolist() == ["nearest unit within 5 km"]
    assert rejects["account_id"].tolist() == ["far"]


def test_aggregate_units(dc):
    acc = _acc([("a", "20001", 38.91, -77.02, "ZIP centroid"),
                ("b", "20001", 38.91, -77.02, "ZIP centroid")])
    acc.loc[1, ["tier", "account_units", "revenue"]] = ["A", 3, 5000.0]
    placed, _, _ = U.locate_accounts(acc, dc)
    agg = U.aggregate_units(dc, placed).set_index("unit_id")
    assert agg.loc["20001", ["tam", "account_units", "n_accounts", "n_A", "n_C"]].tolist() == \
        [6000.0, 4, 2, 1, 1]
    assert agg["n_accounts"].sum() == 2
    assert agg.loc["20001"].geometry.contains(shapely.Point(agg.loc["20001", ["lon", "lat"]]))


# ----------------------------------------------------------------------------- dissolving


def _equal_area(geom):
    return gpd.GeoSeries([geom], crs="EPSG:4326").to_crs(U.EQUAL_AREA_CRS).iloc[0]


def test_dissolving_real_neighbouring_zctas_leaves_no_slivers(dc):
    from territory.pipeline import territories

    rook, _ = U.unit_adjacency(dc, tolerance_m=0, contiguity="rook", bridge=False)
    # two reps: the ZCTAs west of 16th Street NW and the rest; each set is rook-connected
    west = dc.geometry.representative_point().x < -77.036
    units = dc.assign(rep_id=np.where(west, "W", "E"))
    card = pd.DataFrame({"rep_id": ["E", "W"], "name": ["East", "West"]})
    terr = territories(units, card).set_index("rep_id")
    assert terr.geometry.is_valid.all()
    whole = _equal_area(shapely.union_all(dc.geometry.values))
    for rep, other in (("E", "W"), ("W", "E")):
        members = dc[units["rep_id"] == rep]
        assert nx.is_connected(rook.subgraph(members["unit_id"]))
        geom = _equal_area(terr.geometry[rep])
        raw = _equal_area(shapely.union_all(members.geometry.values))
        # no piece appears or vanishes (multi-part ZCTAs keep their islands), areas agree
        assert len(shapely.get_parts(geom)) == len(shapely.get_parts(raw))
        assert geom.area == pytest.approx(raw.area, rel=1e-4)
        neighbour = _equal_area(terr.geometry[other])
        for poly in shapely.get_parts(geom):
            for ring in poly.interiors:
                hole = shapely.Polygon(ring)
                assert hole.area > 1_000, f"sliver of {hole.area:.0f} m2 in {rep}"
                # every hole is the other rep's land (an enclave) or a gap of the source data
                filled = hole.intersection(neighbour).area + hole.difference(whole).area
                assert filled == pytest.approx(hole.area, rel=1e-3)
    # the two territories meet without overlapping
    overlap = _equal_area(terr.geometry["E"].intersection(terr.geometry["W"])).area
    assert overlap < 100


def test_dissolving_nearly_matching_edges_leaves_no_slivers():
    from territory.pipeline import territories

    eps = 3e-8  # float noise between two files' copies of the same boundary
    a = shapely.Polygon([(0, 0), (1, 0), (1 - eps, 0.5), (1, 1), (0, 1)])
    b = shapely.Polygon([(1, 0), (2, 0), (2, 1), (1, 1), (1 + eps, 0.5)])
    units = gpd.GeoDataFrame({"unit_id": ["a", "b"], "rep_id": ["R", "R"]},
                             geometry=[a, b], crs="EPSG:4326")
    naive = shapely.union_all([a, b])
    assert len(shapely.get_parts(naive)) == 2  # the raw union keeps a sliver gap
    terr = territories(units, pd.DataFrame({"rep_id": ["R"], "name": ["r"]}))
    geom = terr.geometry.iloc[0]
    assert geom.geom_type == "Polygon" and len(geom.interiors) == 0


def test_split_units_into_zips_cuts_real_zip_polygons_to_the_county():
    from territory.geo.units import heavy_units, split_units_into_zips

    counties = gpd.GeoDataFrame({"unit_id": ["10001", "10003"], "name": ["Big, DE", "Small, DE"],
                                 "state": ["DE", "DE"]},
                                geometry=[shapely.box(0, 0, 2, 1), shapely.box(2, 0, 3, 1)],
                                crs="EPSG:4326")
    zips = gpd.GeoDataFrame({"unit_id": ["19701", "19702", "19703"]},
                            geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2.5, 1),
                                      shapely.box(2.5, 0, 3, 1)], crs="EPSG:4326")
    acc = pd.DataFrame({"unit_id": ["10001", "10001", "10003"], "revenue": [9e5, 1e5, 1e5],
                        "account_units": [3, 2, 1]})
    assert heavy_units(counties, acc, tam_max=5e5, account_units_max=150) == ["10001"]
    assert heavy_units(counties, acc, tam_max=5e6, account_units_max=4) == ["10001"]
    assert heavy_units(counties, acc, tam_max=5e6, account_units_max=150) == []
    # auto splits at the bands' width: TAM 1.0M is within a 1.2M target's band (alone it
    # breaks nothing) but wider than the band (0.36M at +-15%); 5 account units are wider
    # than a 4-wide band; a band wider than its upper end caps at the upper end
    band = dict(tam_tolerance=0.15, account_units_min=100, account_units_max=150)
    assert U.coarse_units(counties, acc, tam_target=1.2e6, **band) == ["10001"]
    assert U.coarse_units(counties, acc, tam_target=3.5e6, **band) == []
    assert U.coarse_units(counties, acc, tam_target=1e7, tam_tolerance=0.15,
                          account_units_min=2, account_units_max=6) == ["10001"]
    wide = dict(tam_tolerance=2.0, account_units_min=0, account_units_max=150)
    assert U.coarse_units(counties, acc, tam_target=0.3e6, **wide) == ["10001"]  # 1.0M > 3 x 0.3M
    assert U.coarse_units(counties, acc, tam_target=0.4e6, **wide) == []
    mixed = split_units_into_zips(counties, ["10001"], zips)
    assert list(mixed["unit_id"]) == ["10001-19701", "10001-19702", "10003"]
    assert list(mixed["unit_kind"]) == ["zip", "zip", "county"]
    assert mixed.loc[0, "name"] == "ZIP 19701 (Big, DE)"
    # the pieces tile the county (19702 is cut at the county line) and touch the other county
    assert np.round(shapely.area(mixed.geometry.values), 9).tolist() == [1.0, 1.0, 1.0]
    graph, _ = U.unit_adjacency(mixed)
    assert set(graph.edges) == {("10001-19701", "10001-19702"), ("10001-19702", "10003")}
