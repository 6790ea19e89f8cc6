"""The map's display geometry: simplified for the page with the coverage kept, exports full.

On real approximate ZIP areas of two states (``books.multistate_book``): the shapes a
saved ``map.html`` carries (decoded from the page as its JavaScript decodes them) are
every unit, valid, gap- and overlap-free within a small tolerance and within the display
tolerance of the full shapes, while ``territories.geojson`` keeps the full geometry.
The compact wire format (:mod:`territory.web.packing`) round-trips.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import shape

from test_maps import national_scenario, page_data, tiny_scenario
from territory.outputs import territories
from territory.web import maps
from territory.web.html import js_data
from territory.web.packing import decode_ints, encode_ints, pack_scenario, unpack_scenario


@pytest.fixture(scope="module")
def book_map(tmp_path_factory):
    """Two states' approximate ZIP areas, reps by the nearest of three points, saved map."""
    from books import multistate_book

    from territory.config import ScenarioConfig
    from territory.pipeline import prepare

    tmp = tmp_path_factory.mktemp("display")
    book = multistate_book(tmp, n_accounts=150, states=("OH", "IN"), seed=1)
    units = prepare(book.accounts, book.reps, ScenarioConfig()).units.copy()
    # real borders have detail: a vertex every 0.005 degree along the Voronoi cells' edges
    units["geometry"] = shapely.segmentize(units.geometry.to_numpy(), 0.005)
    lon, lat = units["lon"].to_numpy(), units["lat"].to_numpy()
    centres = np.array([[-86.5, 39.5], [-83.0, 40.5], [-84.5, 39.0]])
    units["rep_id"] = np.array(["R1", "R2", "R3"])[np.argmin(
        np.hypot(lon[:, None] - centres[:, 0], lat[:, None] - centres[:, 1]), axis=1)]
    reps = pd.DataFrame({"rep_id": ["R1", "R2", "R3"], "name": ["A", "B", "C"],
                         "lon": centres[:, 0], "lat": centres[:, 1]})
    card = units.groupby("rep_id", as_index=False)["tam"].sum()
    card["account_units"] = units.groupby("rep_id")["account_units"].sum().to_numpy()
    summary = {"scenario": "display", "unit_level": "zip"}
    page = tmp / "map.html"
    maps.save_map(maps.scenario_map(units, reps, None, card, summary), page)
    tol = maps.display_tolerance(tuple(units.total_bounds), len(units))
    return units, card, page_data(page), tol


def test_display_geometry_keeps_the_coverage(book_map):
    units, _, data, tol = book_map
    assert len(units) <= maps.MAX_DISPLAY_UNITS  # one drawn shape per unit
    feats = data["units"]["features"]
    assert [f["properties"]["unit"] for f in feats] == units["unit_id"].astype(str).tolist()
    shown = np.array([shape(f["geometry"]) for f in feats], dtype=object)
    full = shapely.make_valid(units.geometry.to_numpy())
    assert shapely.is_valid(shown).all() and not shapely.is_empty(shown).any()
    # lighter: far fewer vertices than the full shapes
    assert shapely.get_num_coordinates(shown).sum() < 0.5 * shapely.get_num_coordinates(full).sum()
    # each shape within a few display tolerances of the unit it draws (the simplification is
    # by area, Visvalingam-Whyatt, so a tolerance is no strict bound; units are ~40 across)
    assert shapely.hausdorff_distance(shown, full).max() <= 3 * tol
    # no overlaps: the shapes' areas add up to their union's
    whole = shapely.union_all(shown)
    assert shown_area_excess(shown, whole) < 1e-6
    # no gaps: no hole opens between shapes that the full coverage does not have
    assert holes(whole) == holes(shapely.union_all(full))
    assert abs(whole.area - shapely.union_all(full).area) < 1e-3 * whole.area


def shown_area_excess(shapes: np.ndarray, union) -> float:
    """How much the shapes' summed area exceeds their union's, as a share of it (overlaps)."""
    return float(shapely.area(shapes).sum() - union.area) / union.area


def holes(g) -> int:
    """Interior rings of a (multi)polygon larger than a speck."""
    parts = getattr(g, "geoms", [g])
    return sum(shapely.Polygon(r).area > 1e-8 for p in parts for r in p.interiors)


def test_exports_keep_full_geometry(book_map):
    units, card, data, tol = book_map
    terr = territories(units, card).set_index("rep_id")
    full = {r: shapely.union_all(g.geometry.to_numpy())
            for r, g in units.groupby("rep_id")}
    shown = {f["properties"]["rep"]: shape(f["geometry"]) for f in data["territories"]["features"]}
    for k, rep in enumerate(["R1", "R2", "R3"]):
        exported = terr.loc[rep, "geometry"]
        # both ways: GEOS's overlay is not symmetric at the noise of the 1e-6 grid snapping
        diff = max(exported.symmetric_difference(full[rep]).area,
                   full[rep].symmetric_difference(exported).area)
        assert diff < 1e-6 * full[rep].area
        assert shapely.get_num_coordinates(exported) > 2 * shapely.get_num_coordinates(shown[k])
        assert shapely.hausdorff_distance(shown[k], exported) <= 3 * tol


def _close(a, b, tol: float) -> bool:
    """Equal JSON-like values; coordinates equal within ``tol``."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= tol
    return a == b


@pytest.mark.parametrize("which", ["tiny", "national"])
def test_packed_data_round_trips(which):
    s = tiny_scenario("a") if which == "tiny" else national_scenario()
    d = maps.scenario_data(s["units"], s["reps"], s["accounts"], s["scorecard"], s["summary"],
                           editor=True)
    packed = pack_scenario(d, d["tolerance"])
    back = unpack_scenario(packed)
    assert back.keys() == d.keys()
    # everything but coordinates exactly; shapes on the grid of half the tolerance
    for key in d:
        if key in ("territories", "units", "current", "background"):
            continue
        assert back[key] == d[key], key
    grid = d["tolerance"] / 4 * 1.01 + 1e-9
    for key in ("territories", "units", "current"):
        assert _close(back[key], d[key], grid), key
    # the background (state outlines) may lose points and specks the grid merges
    for key, fc in d["background"].items():
        if fc is None:
            assert back["background"][key] is None
            continue
        a = shapely.union_all([shape(f["geometry"]) for f in fc["features"]])
        b = shapely.union_all([shape(f["geometry"]) for f in back["background"][key]["features"]])
        assert len(back["background"][key]["features"]) == len(fc["features"])
        assert a.symmetric_difference(b).area < 1e-3 * a.area
    if which == "national":
        assert len(js_data(packed)) < len(js_data(d)) / 2.5


def test_integer_text_round_trips():
    values = [0, 1, -1, 15, 16, -16, 31, 32, 1023, 1024, -123_456_789, 2 ** 52, -(2 ** 52)]
    text = encode_ints(values)
    assert decode_ints(text) == values and set(text) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(encode_ints([5, -7, 0])) == 3  # small integers: one character each
    assert encode_ints([]) == "" and decode_ints("") == []
