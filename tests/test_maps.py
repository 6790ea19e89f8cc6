"""Scenario maps: offline HTML, escaping, legend, flags, colours, travel-source label.

The fixture is six hand-drawn squares near Columbus, three reps, a few
accounts with hostile names. ``tiny_scenario`` and ``write_result_dir`` are
imported by the compare and browser tests too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from territory.web import maps
from territory.web.html import offline_assets
from territory.web.maps import rep_colours, save_map, scenario_map
from territory.web.packing import unpack_scenario

HOSTILE = "<script>alert('x')</script> Supply"
XSS_IMG = '<img src=x onerror="window.__xss=1">'
FORMULA = '=HYPERLINK("http://evil.example","click")'
JINJA = "{{ 7*7 }} {# brace #} Co"


def _square(x: float, y: float, s: float = 0.1) -> shapely.Polygon:
    return shapely.box(x, y, x + s, y + s)


def _unit_totals(units: pd.DataFrame, accounts: pd.DataFrame) -> None:
    """Each unit's TAM, account units, account count and tier counts, from its accounts."""
    g = accounts.groupby("unit_id")
    units["tam"] = units["unit_id"].map(g["revenue"].sum()).fillna(0.0)
    units["account_units"] = units["unit_id"].map(g["account_units"].sum()).fillna(0).astype(int)
    units["n_accounts"] = units["unit_id"].map(g.size()).fillna(0).astype(int)
    for t in "ABC":
        units[f"n_{t}"] = units["unit_id"].map(
            accounts[accounts["tier"] == t].groupby("unit_id").size()).fillna(0).astype(int)


def tiny_scenario(variant: str = "a", travel_source: str = "estimate") -> dict:
    """Six unit squares (2 rows x 3 columns), three reps, eight accounts.

    Variant ``a``: R1 = u1,u4; R2 = u2,u5; R3 = u3,u6 (R3 flagged for driving).
    Variant ``b``: u5 moves from R2 to R1. ``current_rep`` is variant ``a`` but u3 with R2.
    """
    x0, y0 = -83.2, 39.9
    ids = ["u1", "u2", "u3", "u4", "u5", "u6"]
    geoms = [_square(x0 + 0.1 * (i % 3), y0 + 0.1 * (i // 3)) for i in range(6)]
    rep_a = {"u1": "R1", "u4": "R1", "u2": "R2", "u5": "R2", "u3": "R3", "u6": "R3"}
    rep = dict(rep_a)
    if variant == "b":
        rep["u5"] = "R1"
    current = dict(rep_a, u3="R2")
    units = gpd.GeoDataFrame({"unit_id": ids, "rep_id": [rep[u] for u in ids]}, geometry=geoms,
                             crs="EPSG:4326")
    names = [HOSTILE, XSS_IMG, FORMULA, JINJA, "Acme & Sons", "Beta", "Gamma", "Delta"]
    acc_units = ["u1", "u2", "u3", "u4", "u5", "u6", "u1", "u5"]
    tiers = ["A", "B", "C", "A", "B", "C", "C", "A"]
    accounts = pd.DataFrame({
        "account_id": [f"a{i}" for i in range(8)],
        "name": names,
        "unit_id": acc_units,
        "lon": [shapely.centroid(geoms[ids.index(u)]).x + 0.01 * k for k, u in enumerate(acc_units)],
        "lat": [shapely.centroid(geoms[ids.index(u)]).y for u in acc_units],
        "tier": tiers,
        "revenue": [150_000, 50_000, 10_000, 120_000, 60_000, 9_000, 5_000, 200_000],
        "account_units": [{"A": 3, "B": 2, "C": 1}[t] for t in tiers],
    })
    accounts["rep_id"] = accounts["unit_id"].map(rep)
    accounts["current_rep"] = accounts["unit_id"].map(current)
    accounts["moved"] = accounts["rep_id"] != accounts["current_rep"]
    accounts["zip"] = ["43001", "43002", "43003", "43004", "43005", "43006", "43001", "43005"]
    _unit_totals(units, accounts)
    units["current_rep"] = units["unit_id"].map(current)
    reps = pd.DataFrame({"rep_id": ["R1", "R2", "R3"],
                         "name": ["Ann <b>Lee</b>", "Bo Chen", "Cy Diaz"],
                         "lon": [-83.15, -83.05, -82.95], "lat": [39.95, 39.95, 39.95],
                         "base_kind": ["home", "home", "centre"]})
    ga = accounts.groupby("rep_id")
    card = reps[["rep_id", "name"]].copy()
    card["n_accounts"] = card["rep_id"].map(ga.size()).fillna(0).astype(int)
    card["account_units"] = card["rep_id"].map(ga["account_units"].sum()).fillna(0).astype(int)
    card["tam"] = card["rep_id"].map(ga["revenue"].sum()).fillna(0.0)
    card["tam_index"] = card["tam"] / card["tam"].mean()
    card["n_units"] = card["rep_id"].map(units.groupby("rep_id").size()).astype(int)
    card["drive_hours_per_month"] = [12.5, 18.0, 34.2] if variant == "a" else [14.0, 16.0, 31.0]
    card["travel_share"] = card["drive_hours_per_month"] / 160
    card["quota"] = 1_000_000.0
    card["flags"] = ["", "", "drive>30h"] if variant == "a" else ["tam_band", "", "drive>30h"]
    moved = accounts[accounts["moved"]]
    summary = {
        "scenario": "balanced" if variant == "a" else "low-travel",
        "description": "Balanced <TAM> & units" if variant == "a" else "Less driving",
        "accounts_in": 8, "assigned": 8, "rejected": 0, "unit_level": "zip", "n_units": 6,
        "n_reps": 3, "solver": "highs", "status": "Optimal", "objective": 12.3,
        "lp_bound": 12.0, "mip_gap": 0.001 if variant == "a" else 0.02, "solve_seconds": 0.4,
        "travel_source": travel_source, "travel_coverage": 1.0, "tam_tolerance": 0.15,
        "account_units_band": [3, 6], "contiguous": True,
        "accounts_moved": int(len(moved)), "tam_moved": float(moved["revenue"].sum()),
        "fairness_share": 0.67 if variant == "a" else 1.0,
        "violations": [], "max_drive_hours_per_month": 30,
    }
    return {"units": units, "reps": reps, "accounts": accounts, "scorecard": card,
            "summary": summary}


def write_result_dir(s: dict, d: Path) -> Path:
    """Write the on-disk result contract of a scenario dict (what ``write_result`` writes)."""
    from territory.io.export import write_csv, write_json

    d.mkdir(parents=True, exist_ok=True)
    write_json(s["summary"], d / "summary.json")
    write_csv(s["scorecard"], d / "scorecard.csv")
    acc = s["accounts"]
    write_csv(acc[["account_id", "name", "zip", "unit_id", "rep_id", "tier", "account_units",
                   "revenue", "current_rep", "moved"]], d / "assignments.csv")
    u = s["units"]
    write_csv(u[["unit_id", "rep_id", "tam", "account_units", "n_accounts"]], d / "units.csv")
    write_csv(s["reps"], d / "reps.csv")
    terr = u[["rep_id", "geometry"]].dissolve("rep_id", as_index=False).merge(
        s["scorecard"][["rep_id", "name", "tam", "account_units", "n_accounts", "n_units",
                        "drive_hours_per_month", "flags"]], on="rep_id")
    (d / "territories.geojson").write_text(terr.to_json(drop_id=True), encoding="utf-8")
    m = scenario_map(u, s["reps"], acc, s["scorecard"], s["summary"])
    save_map(m, d / "map.html")
    return d


def _page(tmp_path: Path, **kw) -> str:
    s = tiny_scenario(**{k: v for k, v in kw.items() if k in ("variant", "travel_source")})
    m = scenario_map(s["units"], s["reps"], s["accounts"], s["scorecard"], s["summary"],
                     **{k: v for k, v in kw.items() if k in ("tiles", "isochrones", "current")})
    path = tmp_path / "map.html"
    save_map(m, path)
    return path.read_text(encoding="utf-8")


_REMOTE = re.compile(r"<(?:script|link|img|iframe)[^>]+(?:src|href)\s*=\s*[\"']?(?:https?:)?//",
                     re.I)


def test_saved_map_is_offline(tmp_path):
    page = _page(tmp_path)
    assert not _REMOTE.search(page)
    assert "cdn.jsdelivr" not in page and "code.jquery" not in page
    assert "L.map(" in page and "TT.scenario(" in page
    # Leaflet's own images are data URIs, not files next to the page
    assert "url(images/" not in page


def test_hostile_names_are_escaped(tmp_path):
    page = _page(tmp_path)
    assert HOSTILE not in page
    assert "<script>alert" not in page
    assert XSS_IMG not in page and "<img src=x" not in page
    assert "Ann <b>Lee</b>" not in page
    # escaped text is there, inside a JSON string (with < written as \u003c)
    assert "\\u0026lt;script\\u0026gt;alert" in page
    # Jinja syntax in user text is not evaluated
    assert "{{ 7*7 }}" in page and ">49<" not in page


def test_legend_lists_every_rep_and_flags_red(tmp_path):
    s = tiny_scenario()
    d = maps.scenario_data(s["units"], s["reps"], s["accounts"], s["scorecard"], s["summary"])
    legend = d["legend"]
    for name in ("Ann &lt;b&gt;Lee&lt;/b&gt;", "Bo Chen", "Cy Diaz"):
        assert name in legend
    rows = re.findall(r"<tr[^>]*>.*?</tr>", legend)
    cy = next(r for r in rows if "Cy Diaz" in r)
    assert "class='flag'" in cy and "⚑" in cy
    assert all("class='flag'" not in r for r in rows if "Bo Chen" in r)
    assert "$" in cy and "34.2" in cy
    flagged = {r["name"]: r["flagged"] for r in d["reps"]}
    assert flagged == {"Ann &lt;b&gt;Lee&lt;/b&gt;": False, "Bo Chen": False, "Cy Diaz": True}
    assert ".tt-legend tr.flag td{color:#D1002C" in _page(tmp_path)


@pytest.mark.parametrize("source,label", [
    ("osm", "Drive times: OpenStreetMap road network"),
    ("estimate", "Drive times: straight-line ESTIMATE"),
])
def test_travel_source_label(tmp_path, source, label):
    page = _page(tmp_path, travel_source=source)
    assert label in page
    if source == "osm":
        assert "© OpenStreetMap contributors" in page
    else:
        assert "OpenStreetMap road network" not in page


def test_neighbours_differ_and_same_rep_same_colour():
    a, b = tiny_scenario("a"), tiny_scenario("b")
    colours = rep_colours([a["units"], b["units"]])
    assert set(colours) == {"R1", "R2", "R3"}
    assert len(set(colours.values())) == 3  # R1-R2, R2-R3 touch; R1-R3 touch in scenario b
    assert rep_colours([a["units"], b["units"]]) == colours  # deterministic
    for s in (a, b):
        d = maps.scenario_data(s["units"], s["reps"], s["accounts"], s["scorecard"],
                               s["summary"], colours=colours)
        assert {r["id"]: r["colour"] for r in d["reps"]} == colours


def _grid_reps(n: int, side: int = 6) -> gpd.GeoDataFrame:
    cells = [_square(-83 + 0.1 * (i % side), 39 + 0.1 * (i // side)) for i in range(n)]
    return gpd.GeoDataFrame({"rep_id": [f"R{i:02d}" for i in range(n)]}, geometry=cells,
                            crs="EPSG:4326")


def _touching(g: gpd.GeoDataFrame) -> list[tuple[str, str]]:
    ids, geoms = g["rep_id"].tolist(), g.geometry.tolist()
    return [(ids[i], ids[j]) for i in range(len(ids)) for j in range(i + 1, len(ids))
            if geoms[i].touches(geoms[j])]


@pytest.mark.parametrize("n", [11, 30, 36])
def test_every_rep_shown_together_has_its_own_colour(n):
    from territory.web.colours import colour_distance

    g = _grid_reps(n)
    colours = rep_colours([g])
    assert len(set(colours.values())) == n
    assert "#BBBBBB" not in colours.values()  # the unassigned grey
    # neighbours stay apart for normal and deuteranope eyes, as drawn (42% fill)
    assert min(colour_distance(colours[a], colours[b]) for a, b in _touching(g)) > 3


def test_nine_reps_get_the_colour_blind_safe_scheme():
    from territory.web.colours import MUTED

    assert set(rep_colours([_grid_reps(9, side=3)]).values()) == set(MUTED)


def test_many_reps_neighbours_differ():
    g = _grid_reps(48, side=8)
    colours = rep_colours([g])
    edges = _touching(g)
    assert len(edges) > 48
    assert all(colours[u] != colours[v] for u, v in edges)


def test_layers_tooltips_and_current(tmp_path):
    s = tiny_scenario()
    d = maps.scenario_data(s["units"], s["reps"], s["accounts"], s["scorecard"], s["summary"])
    assert len(d["territories"]["features"]) == 3
    assert len(d["units"]["features"]) == 6
    props = d["units"]["features"][0]["properties"]
    assert {"unit", "rep", "tam", "accountUnits", "accounts", "tierA", "tierB", "tierC"} <= set(props)
    assert all(len(k) > 2 for k in props)  # readable keys, not letters
    assert d["current"] is not None and len(d["current"]["features"]) == 3
    tier = d["accountColumns"].index("tier")
    assert len(d["accounts"]) == 8 and {p[tier] for p in d["accounts"]} == {0, 1, 2}
    assert all(r.get("label") for r in d["reps"])
    assert d["background"] and d["background"]["states"]["features"]
    page = _page(tmp_path)
    for layer in ("Territories", "Current alignment", "Rep bases", "Accounts tier A"):
        assert layer in page


def test_tiles_option(tmp_path):
    page = _page(tmp_path, tiles="CartoDB positron")
    assert "basemaps.cartocdn.com" in page  # tile URL in JS, not a script/link src
    assert not _REMOTE.search(page)
    with pytest.raises(ValueError):
        _page(tmp_path, tiles="Stamen")


def test_isochrones_layer(tmp_path):
    iso = gpd.GeoDataFrame({"rep_id": ["R1"], "minutes": [30]},
                           geometry=[shapely.Point(-83.15, 39.95).buffer(0.05)], crs="EPSG:4326")
    page = _page(tmp_path, isochrones=iso)
    assert "Drive-time areas" in page


def _jittered_grid(side: int = 10) -> np.ndarray:
    """``side`` x ``side`` irregular cells tiling a square, with detailed (subdivided) edges."""
    rng = np.random.default_rng(0)
    xs = np.arange(side + 1) * 0.03
    gx, gy = np.meshgrid(xs, xs)
    gx = gx + rng.uniform(-0.007, 0.007, gx.shape)
    gy = gy + rng.uniform(-0.007, 0.007, gy.shape)
    cells = []
    for i in range(side):
        for j in range(side):
            corners = [(i, j), (i, j + 1), (i + 1, j + 1), (i + 1, j)]
            ring = [(gx[a] * (1 - t) + gx[b] * t, gy[a] * (1 - t) + gy[b] * t)
                    for a, b in zip(corners, corners[1:] + corners[:1])
                    for t in np.linspace(0, 1, 8, endpoint=False)]
            cells.append(shapely.Polygon(ring))
    return np.array(cells, dtype=object)


def test_simplify_keeps_shared_borders():
    geoms = _jittered_grid()
    tol = maps.display_tolerance(shapely.total_bounds(geoms)) * 20
    out = maps.simplify_for_display(geoms, tol)
    assert shapely.get_num_coordinates(out).sum() < shapely.get_num_coordinates(geoms).sum()
    # coverage kept: the union has no holes opened between neighbours
    assert shapely.union_all(out).area == pytest.approx(shapely.union_all(geoms).area, rel=0.02)
    assert shapely.is_valid(out).all()


def test_a_shape_folded_by_the_snap_does_not_cost_the_coverage():
    # two shapes share a long ragged border; a third, far away, has a vertex 0.0004 above
    # a non-adjacent edge, which rounding to the 0.001 grid (tolerance / 100) folds onto it
    from shapely.geometry import Polygon

    rng = np.random.default_rng(0)
    xs = np.linspace(0, 10, 201)
    ys = 5 + np.cumsum(rng.normal(0, 0.05, 201))
    ys -= np.linspace(ys[0] - 5, ys[-1] - 5, 201)
    border = list(zip(xs.round(6), ys.round(6)))
    top = Polygon(border[100:] + [(10, 10), (0, 10)] + border[:100])
    bottom = Polygon([(10, 0), (0, 0)] + border)
    folded = Polygon([(20, 0), (22, 0), (22, 2), (21, 0.0004), (20, 2)])
    out = maps.simplify_for_display(np.array([top, bottom, folded], dtype=object), 0.1)
    assert shapely.is_valid(out).all()
    # the shared border stays shared: no overlap and no sliver between the two
    assert out[0].intersection(out[1]).area == 0
    assert out[0].union(out[1]).area == pytest.approx(top.union(bottom).area, abs=1e-9)


def test_json_in_script_cannot_close_it(tmp_path):
    s = tiny_scenario()
    s["accounts"].loc[0, "name"] = "</script><script>window.__x=1</script>"
    m = scenario_map(s["units"], s["reps"], s["accounts"], s["scorecard"], s["summary"])
    save_map(m, tmp_path / "m.html")
    page = (tmp_path / "m.html").read_text()
    assert "</script><script>window.__x" not in page
    assert page.count("<script") == page.count("</script>")


def test_plain_folium_map_saved_offline(tmp_path):
    import folium

    m = folium.Map(tiles=None)
    save_map(m, tmp_path / "plain.html")
    page = (tmp_path / "plain.html").read_text()
    assert not _REMOTE.search(page) and "L.map(" in page


def test_data_summary_json_roundtrip():
    s = tiny_scenario()
    d = maps.scenario_data(s["units"], s["reps"], s["accounts"], s["scorecard"], s["summary"])
    json.dumps(d, allow_nan=False)


def test_current_layer_from_accounts_when_units_lack_it():
    s = tiny_scenario()
    units = s["units"].drop(columns="current_rep")
    d = maps.scenario_data(units, s["reps"], s["accounts"], s["scorecard"], s["summary"])
    assert d["current"] is not None and len(d["current"]["features"]) == 3
    tips = {f["properties"]["unit"]: f["properties"].get("current") for f in d["units"]["features"]}
    assert tips["u3"] == "Bo Chen"  # u3's accounts are currently Bo's


MONEY_CASES = [0, 5, 999, 1000, 306_500, 349_499.99, 1_234_567, 3_355_000, 999_999_999, 2.5e9,
               -45_000, float("nan"), None]


def test_money_format():
    from territory.web.html import fmt_money

    got = [fmt_money(x) for x in MONEY_CASES]
    assert got == ["$0", "$5", "$999", "$1K", "$307K", "$349K", "$1.23M", "$3.35M", "$1000.00M",
                   "$2.50B", "-$45K", "—", "—"]


def test_static_files_are_package_data():
    """Every shipped JS/CSS/template matches a package-data glob of pyproject.toml."""
    import fnmatch
    import tomllib
    from importlib import resources

    root = Path(__file__).resolve().parents[1]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["territory"]
    web = resources.files("territory.web")
    files = [f"web/{d}/{p.name}" for d in ("static", "templates") for p in (web / d).iterdir()
             if p.is_file()]
    assert len(files) >= 6
    assert [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)] == []


def test_approximate_zip_areas_labelled_on_the_map(tmp_path):
    s = tiny_scenario()
    s["summary"]["unit_source"] = "APPROXIMATE ZIP areas (Voronoi of ZIP centroids)"
    d = maps.scenario_data(s["units"], s["reps"], s["accounts"], s["scorecard"], s["summary"])
    assert "APPROXIMATE" in d["unitsNote"]
    s["summary"]["unit_source"] = "ZCTA polygons from z.geojson"
    d = maps.scenario_data(s["units"], s["reps"], s["accounts"], s["scorecard"], s["summary"])
    assert d["unitsNote"] is None


def test_routed_share_of_legs_on_the_label():
    s = tiny_scenario(travel_source="osm")
    card = s["scorecard"].assign(routed_share=[1.0, 0.5, 0.0], visits_per_month=[2.0, 1.0, 1.0])
    d = maps.scenario_data(s["units"], s["reps"], s["accounts"], card, s["summary"])
    assert "62% of drive legs road-routed" in d["source"]
    d = maps.scenario_data(s["units"], s["reps"], s["accounts"], card.assign(routed_share=1.0),
                           s["summary"])
    assert "road-routed" not in d["source"]


def test_editor_data_targets_and_adjacency():
    s = tiny_scenario()
    reps = s["reps"].assign(capacity=[1.0, 0.5, 1.5])
    d = maps.scenario_data(s["units"], reps, s["accounts"], s["scorecard"], s["summary"],
                           editor=True)["editor"]
    total = float(s["units"]["tam"].sum())
    assert d["tamTarget"] == pytest.approx([total / 3, total / 6, total / 2])
    assert d["neighbours"][0] == [1, 3, 4]  # u1 touches u2, u4 and (at a corner) u5: queen
    assert d["repNames"][0] == "Ann <b>Lee</b>"  # raw: the editor writes text nodes only
    cur = maps.scenario_data(s["units"], reps, s["accounts"], s["scorecard"],
                             {**s["summary"], "status": "current alignment"}, editor=True)
    # the current alignment's scorecard uses the same capacity-scaled targets and bands
    assert cur["editor"]["tamTarget"] == pytest.approx([total / 3, total / 6, total / 2])
    assert cur["editor"]["capacity"] == [1.0, 0.5, 1.5] == d["capacity"]


# ----------------------------------------------------------------------------- national maps


def national_scenario(n: int = 80, seed: int = 0) -> dict:
    """A national-scale map: ``n`` x ``n`` cells (6,400: above ``MAX_DISPLAY_UNITS``) of
    0.1 degree with many-vertex borders, 300 accounts clustered in six metros (most
    cells empty), four reps by quadrant; some accounts owned by another rep today."""
    rng = np.random.default_rng(seed)
    cells = np.arange(n * n)
    col, row = cells % n, cells // n
    geoms = shapely.segmentize(shapely.box(-95 + 0.1 * col, 35 + 0.1 * row,
                                           -95 + 0.1 * (col + 1), 35 + 0.1 * (row + 1)), 0.01)
    ids = np.array([f"{10000 + i}" for i in cells])
    rep = np.array(["R1", "R2", "R3", "R4"])[(col >= n // 2) + 2 * (row >= n // 2)]
    metros = rng.uniform(5, n - 5, (6, 2))
    xy = np.clip(np.rint(metros[rng.integers(0, 6, 300)] + rng.normal(0, 3, (300, 2))), 0, n - 1)
    at = (xy[:, 1] * n + xy[:, 0]).astype(int)
    tiers = rng.choice(["A", "B", "C"], 300, p=[0.2, 0.3, 0.5])
    accounts = pd.DataFrame({
        "account_id": [f"a{i}" for i in range(300)], "name": [f"Account {i}" for i in range(300)],
        "unit_id": ids[at], "lon": -95 + 0.1 * (xy[:, 0] + 0.5), "lat": 35 + 0.1 * (xy[:, 1] + 0.5),
        "tier": tiers, "revenue": rng.lognormal(10, 1, 300).round(0),
        "account_units": [{"A": 3, "B": 2, "C": 1}[t] for t in tiers], "rep_id": rep[at]})
    other = rng.random(300) < 0.2
    accounts["current_rep"] = np.where(other, np.roll(rep[at], 7), rep[at])
    accounts["moved"] = accounts["rep_id"] != accounts["current_rep"]
    units = gpd.GeoDataFrame({"unit_id": ids, "rep_id": rep}, geometry=geoms, crs="EPSG:4326")
    _unit_totals(units, accounts)
    reps = pd.DataFrame({"rep_id": ["R1", "R2", "R3", "R4"], "name": ["Ann", "Bo", "Cy", "Di"],
                         "lon": [-93, -89, -93, -89], "lat": [37, 37, 41, 41], "base_kind": "home"})
    gu = units.groupby("rep_id")
    card = reps[["rep_id", "name"]].assign(
        tam=reps["rep_id"].map(gu["tam"].sum()), account_units=reps["rep_id"].map(
            gu["account_units"].sum()), n_units=reps["rep_id"].map(gu.size()),
        drive_hours_per_month=[10.0, 12.0, 14.0, 16.0], flags="")
    summary = {"scenario": "national", "unit_level": "zip", "n_units": n * n, "n_reps": 4,
               "travel_source": "estimate", "tam_tolerance": 0.15,
               "account_units_band": [50, 200], "max_drive_hours_per_month": 30}
    return {"units": units, "reps": reps, "accounts": accounts, "scorecard": card,
            "summary": summary}


def _queen_grid(n: int, ids: list[str]) -> "nx.Graph":
    """The full unit graph of ``national_scenario``, built from the grid (not from shapes)."""
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(ids)
    for i in range(n * n):
        c, r = i % n, i // n
        for dc, dr in ((1, 0), (0, 1), (1, 1), (-1, 1)):
            if 0 <= c + dc < n and r + dr < n:
                g.add_edge(ids[i], ids[(r + dr) * n + c + dc])
    return g


def _assert_groups_sound(graph, unit_ids, n_accounts, rep_of, of_unit, labels, rng) -> None:
    """Groups partition the units, each connected on the FULL graph and of one rep, with at
    most one account-bearing unit (its label); and for random moves of whole groups the
    pieces of every rep on the group graph are its pieces on the full graph."""
    import networkx as nx

    ids = np.asarray(unit_ids)
    n_groups = len(labels)
    assert sorted(set(of_unit.tolist())) == list(range(n_groups))
    assert (of_unit[labels] == np.arange(n_groups)).all()
    for g in range(n_groups):
        members = np.flatnonzero(of_unit == g)
        assert len(set(rep_of[members])) == 1
        assert nx.is_connected(graph.subgraph(ids[members]))
        assert (n_accounts[members] > 0).sum() <= 1
        assert n_accounts[labels[g]] == n_accounts[members].max()
    pos = {u: k for k, u in enumerate(ids)}
    quotient = nx.Graph()
    quotient.add_nodes_from(range(n_groups))
    quotient.add_edges_from((of_unit[pos[a]], of_unit[pos[b]]) for a, b in graph.edges
                            if of_unit[pos[a]] != of_unit[pos[b]])
    group_rep = rep_of[labels].copy()
    for _ in range(5):
        moved = rng.choice(n_groups, size=max(1, n_groups // 10), replace=False)
        group_rep[moved] = rng.choice(np.unique(rep_of), size=len(moved))
        unit_rep = group_rep[of_unit]
        for r in np.unique(unit_rep):
            on_groups = nx.number_connected_components(
                quotient.subgraph(np.flatnonzero(group_rep == r).tolist()))
            on_units = nx.number_connected_components(graph.subgraph(ids[unit_rep == r]))
            assert on_groups == on_units


def page_data(page: Path) -> dict:
    """The data a saved map hands to ``TT.scenario`` (what its JavaScript draws)."""
    text = page.read_text(encoding="utf-8")
    call = text[text.index("TT.scenario(") + len("TT.scenario("):]
    return unpack_scenario(json.JSONDecoder().raw_decode(call[call.index(",") + 1:].lstrip())[0])


def test_national_map_edits_connected_groups_of_one_rep(tmp_path):
    s = national_scenario()
    u = s["units"]
    m = scenario_map(u, s["reps"], s["accounts"], s["scorecard"], s["summary"])
    save_map(m, tmp_path / "map.html")
    d = page_data(tmp_path / "map.html")
    E, feats = d["editor"], d["units"]["features"]
    n_groups = len(E["unitIds"])
    # one drawn feature per group, in the editor's order, each with its figures summed
    assert [f["properties"]["index"] for f in feats] == list(range(n_groups))
    assert (u["n_accounts"] > 0).sum() <= n_groups < len(u) / 10
    members = [[E["unitIds"][g]] + (E["members"][g].split() if E["members"][g] else [])
               for g in range(n_groups)]
    assert sorted(x for m in members for x in m) == sorted(u["unit_id"])
    tam = dict(zip(u["unit_id"], u["tam"]))
    for f, m in zip(feats, members):
        assert f["properties"]["tam"] == pytest.approx(sum(tam[x] for x in m))
        assert f["properties"].get("more", 0) == len(m) - 1
    # the groups and their graph are sound on the full graph (built from the grid)
    graph = _queen_grid(80, u["unit_id"].tolist())
    pos = {x: k for k, x in enumerate(u["unit_id"])}
    of_unit = np.empty(len(u), dtype=int)
    for g, m in enumerate(members):
        of_unit[[pos[x] for x in m]] = g
    labels = np.array([pos[x] for x in E["unitIds"]])
    rep_of = u["rep_id"].to_numpy()
    _assert_groups_sound(graph, u["unit_id"].to_numpy(), u["n_accounts"].to_numpy(), rep_of,
                         of_unit, labels, np.random.default_rng(1))
    expect = [sorted({int(of_unit[pos[b]]) for a in m for b in graph[a]} - {g})
              for g, m in enumerate(members)]
    assert E["neighbours"] == expect
    # owners by group: every current owner's accounts are counted once
    assert sum(c for o in E["owners"] for _, c in o) == len(s["accounts"])
    # the page stays light: under 3 MB for 30,000 units is 100 bytes a unit (plus the inlined
    # Leaflet and scripts, ~0.25 MB); the editor's data grows with the groups, not the units
    assets = len(offline_assets(editor=True).encode())
    assert (tmp_path / "map.html").stat().st_size - assets < 100 * len(u)
    assert len(json.dumps(E["neighbours"])) < 10 * len(u)


def test_display_groups_on_a_multistate_book(tmp_path):
    """Groups on real approximate ZIP areas of three states, for a plan that did not follow
    the contraction (reps by the nearest of three points): proved with networkx."""
    from books import multistate_book

    from territory.config import ScenarioConfig
    from territory.pipeline import prepare

    book = multistate_book(tmp_path, n_accounts=200, states=("OH", "IN", "KY"), seed=1)
    inputs = prepare(book.accounts, book.reps, ScenarioConfig())
    units = inputs.units
    lon, lat = units["lon"].to_numpy(), units["lat"].to_numpy()
    centres = np.array([[-86.5, 39.5], [-83.0, 40.5], [-85.0, 37.5]])
    rep_of = np.argmin(np.hypot(lon[:, None] - centres[:, 0], lat[:, None] - centres[:, 1]), axis=1)
    xy = np.c_[lon, lat] * 100.0
    n_acc = units["n_accounts"].to_numpy()
    of_unit, labels = maps.display_groups(units["unit_id"], n_acc, rep_of, inputs.adjacency, xy)
    assert (n_acc > 0).sum() <= len(labels) < len(units) / 4
    _assert_groups_sound(inputs.adjacency, units["unit_id"].astype(str).to_numpy(), n_acc,
                         rep_of, of_unit, labels, np.random.default_rng(2))
