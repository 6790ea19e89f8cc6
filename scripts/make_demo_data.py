#!/usr/bin/env python
"""Make the demo data shipped in ``data/`` (and the tiny test inputs in ``tests/data/``).

Run from the repository root, after ``scripts/build_demo_road_graph.py``::

    python scripts/make_demo_data.py [--source /work/shared/data/columbus_oh_zctas.geojson]

Everything is synthetic except the ZCTA polygons, which are real Census
geography (public domain), and the road graph they are fitted to (OpenStreetMap,
ODbL 1.0). The script is deterministic: a fixed seed
(:data:`SEED`) drives one :func:`numpy.random.default_rng`, every output is
written in a fixed order with fixed number formatting, and running it twice
gives byte-identical files (check with ``sha256sum data/*.csv data/*.geojson``).

Inputs (read only when a developer re-makes the data; users never need them):

* the 73 Columbus-area ZCTA polygons, ``columbus_oh_zctas.geojson`` from the
  project's shared test data (Census ``cb_2019_us_zcta510_500k`` via
  mitre/PQViz), path given by ``--source``;
* the demo road graph ``data/columbus_drive.graphml.gz`` (``--graph``): the book
  lives where the graph has roads, so that its visits are routed on them;
* ZIP centroids, cities and counties from the offline PyPI ``zipcodes`` package.

Outputs:

* ``data/columbus_zctas.geojson``: the ZCTAs of the graph's coverage (:func:`graph_region`:
  at least half the land within 1 km of a graph node, the representative point
  within 1.5 km of one; 24 of the 73, inner Columbus), properties ``ZCTA5CE10``
  and ``ALAND10`` only, coordinates rounded to 6 decimals (EPSG:4326);
* ``data/accounts.csv``: 844 rows, 818 clean synthetic accounts and 26
  deliberately messy rows (listed in ``data/README.md``; about 825 accounts
  pass validation);
* ``data/reps.csv``: 7 reps;
* ``tests/data/accounts_small.csv`` and ``tests/data/reps_small.csv``: 60 clean
  accounts over 12 inner ZCTAs plus one messy row of each kind, 3 reps.

The account counts and revenues are tuned so that the demo scenarios are
feasible: tiers by revenue (A >= $100K = 3 account units, B >= $25K = 2,
C = 1), 7 or 6 reps, each within +-15% of the mean TAM and 160-240 account
units (a dense city book: short drives leave room for more accounts than the
100-150 of a rural or complex-sale book), with whole contiguous ZCTAs. The aggregate checks are printed and
checked (the script stops with an error when one fails). The default source
path is only available on the project's development machines.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
import zipcodes
from shapely.geometry import Point, mapping, shape

SEED = 20261123
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path("/work/shared/data/columbus_oh_zctas.geojson")
DEFAULT_GRAPH = ROOT / "data" / "columbus_drive.graphml.gz"
N_SOURCE_ZCTAS = 73
# The book's region: ZCTAs the road graph covers (see graph_region).
COVER_KM = 1.0              # land "on the graph": within this distance of a graph node
COVER_SHARE_MIN = 0.5       # at least this share of a ZCTA's land on the graph
POINT_SNAP_KM = 1.5         # and its representative point (its visits' site) this close
COVER_GRID_M = 250.0        # spacing of the land sample (equal-area metres)
DOWNTOWN_LONLAT = (-83.00, 39.96)
EQUAL_AREA_CRS = "EPSG:5070"

# Balance rules the demo scenarios use (see data/scenarios/*.toml).
A_MIN, B_MIN = 100_000, 25_000
UNITS_OF_TIER = {"A": 3, "B": 2, "C": 1}
N_REPS = 7
N_REPS_FEWER = 6
UNITS_BAND = (160, 240)
# No single ZCTA may outweigh a territory: generation aims below the *_TARGET values
# (revenues are swapped until it does) and the final check asserts the *_MAX values.
ZCTA_TAM_SHARE_TARGET = 0.40  # largest ZCTA TAM / mean territory TAM with 7 reps
ZCTA_TAM_SHARE_MAX = 0.45
ZCTA_UNITS_TARGET = 78
ZCTA_UNITS_MAX = 86

N_CLEAN_ACCOUNTS = 818      # clean rows; with the 7 accepted messy rows, 825 valid accounts
MAX_ACCOUNTS_PER_ZCTA = 48.0
HUBS = {"43215": 1.6, "43219": 1.3}
REVENUE_MEDIAN = 24_000.0
REVENUE_SIGMA = 1.22
REVENUE_CAP = 450_000.0
COORD_SHARE = 0.028         # rows that carry their own lat/lon
MIN_COORD_ROWS = 2
# The current (old) alignment: centres about 4 km from today's homes, balanced only
# until the richest territory has 1.5x the TAM of the poorest.
OLD_CENTRE_JITTER_M = 2000.0
OLD_TAM_RATIO = 1.7
UNOWNED_SHARE = 0.02        # accounts without a current rep (new, unassigned)

# ----------------------------------------------------------------------------- reps

@dataclass(frozen=True)
class Rep:
    rep_id: str
    name: str
    home_zip: str
    start_date: str


REPS: tuple[Rep, ...] = (
    Rep("R01", "Dana Whitfield", "43215", "2013-03-18"),     # downtown
    Rep("R02", "Marcus Oyelaran", "43221", "2016-06-01"),    # Upper Arlington
    Rep("R03", "Priya Raman", "43214", "2018-09-10"),        # Clintonville
    Rep("R04", "Tom Kowalski", "43230", "2011-01-10"),       # Gahanna
    Rep("R05", "Elena Vasquez", "43227", "2019-04-22"),      # Eastmoor
    Rep("R06", "James Hartley", "43207", "2015-08-03"),      # South Side
    Rep("R07", "Keisha Brooks", "43204", "2026-03-02"),      # Hilltop, ramping
)

# The tiny test set: 12 inner ZCTAs and 3 reps.
SMALL_ZCTAS = ("43201", "43202", "43203", "43204", "43205", "43206", "43209", "43210",
               "43211", "43212", "43215", "43222")
SMALL_REPS: tuple[Rep, ...] = (
    Rep("T1", "Avery Stone", "43215", "2017-05-01"),
    Rep("T2", "Jordan Patel", "43211", "2020-09-14"),
    Rep("T3", "Casey Morgan", "43209", "2026-04-06"),
)
N_SMALL_CLEAN = 60
# The small book draws from its own stream: the state the generator had reached after the
# first (2025) demo book, so that the test files stay byte-identical when the demo changes.
SMALL_STREAM = {"state": 200543115940640958434872497690881852042,
                "inc": 209522357492818607662160294580516993191}
SMALL_UNITS_BAND = (20, 60)
SMALL_ZCTA_TAM_SHARE_TARGET = 0.38
SMALL_ZCTA_TAM_SHARE_MAX = 0.50
SMALL_ZCTA_UNITS_TARGET = 15
SMALL_ZCTA_UNITS_MAX = 20

# ----------------------------------------------------------------------------- names

PLACES = (
    "Scioto", "Olentangy", "Buckeye", "Franklin", "Alum Creek", "Big Walnut", "Darby Creek",
    "Capital City", "Central Ohio", "Mid-Ohio", "Short North", "German Village",
    "Brewery District", "Arena District", "Victorian Village", "Olde Towne", "Heartland",
    "Riverside", "Keystone", "High Street", "Broad Street", "Cardinal", "Red Oak", "Sycamore",
    "Hickory Hill", "Maple Grove", "Blue Heron", "Three Rivers", "Tri-Village", "Northland",
    "Westgate", "Lakeview", "Buckeye Lake", "Hocking", "Scioto Valley", "Summit", "Cornerstone",
)
SURNAMES = (
    "Miller", "Schmidt", "Kowalski", "Brennan", "Okafor", "Nguyen", "Patel", "Hoffman",
    "Yoder", "Weber", "Sullivan", "Castillo", "Baker", "Fischer", "Johnson", "Coleman",
    "Reyes", "Kim", "Hartman", "Lindqvist", "Abdi", "Mensah", "Novak", "Gallagher",
    "Rossi", "Schultz", "Brooks", "Whitaker", "Hughes", "Delgado", "Kaplan", "Warsame",
    "Fitzgerald", "Bauer", "Chen", "Moreno", "Ramsey", "Dunn", "Kessler", "Albright",
)
# Trades by the way such businesses are usually named.
CRAFT_TRADES = (
    "Fabrication", "Machine Works", "Tool & Die", "Plumbing", "Electric", "Heating & Cooling",
    "Roofing", "Landscaping", "Auto Body", "Collision Center", "Builders", "Construction",
    "Metalworks", "Cabinetry", "Flooring", "Welding", "Powder Coating", "Millwork",
    "Appliance Repair", "Printing", "Signs", "Hardware", "Logistics", "Freight", "Supply",
    "Packaging", "Plastics", "Excavating", "Concrete", "Glass & Mirror",
)
PRO_TRADES = (
    "Dental", "Family Dentistry", "Orthodontics", "Veterinary Clinic", "Animal Hospital",
    "Pharmacy", "Physical Therapy", "Chiropractic", "Insurance Agency", "Realty",
    "Title Agency", "Eye Care", "Accounting", "Law Office", "Dermatology", "Pediatrics",
    "Urgent Care", "Senior Living", "Staffing", "IT Services", "Architects", "Engineering",
    "Family Medicine", "Hearing Center", "Financial Advisors",
)
SHOP_TRADES = (
    "Bakery", "Brewing Company", "Coffee Roasters", "Catering", "Fitness", "Nursery & Garden",
    "Dry Cleaners", "Pet Supply", "Florist", "Deli", "Bike Shop", "Market",
)
CRAFT_SUFFIXES = ("", "", " LLC", " LLC", " Inc.", " Co.", ", Inc.")
PRO_SUFFIXES = ("", "", "", " LLC", ", LLC", " Group", " Associates")
SHOP_SUFFIXES = ("", "", "", " LLC")

# Neighbourhood or suburb names for ZCTAs whose postal city is plain "Columbus".
LOCAL_NAMES = {
    "43201": "Short North", "43202": "Old North", "43203": "King-Lincoln", "43204": "Hilltop",
    "43205": "Olde Towne East", "43206": "German Village", "43207": "South Side",
    "43209": "Bexley", "43210": "University", "43211": "Linden", "43212": "Grandview",
    "43213": "Whitehall", "43214": "Clintonville", "43215": "Downtown", "43217": "Rickenbacker",
    "43219": "Easton", "43220": "Kingsdale", "43221": "Upper Arlington", "43222": "Franklinton",
    "43223": "Valleyview", "43224": "North Linden", "43227": "Eastmoor", "43228": "Lincoln Village",
    "43229": "Northland", "43230": "Gahanna", "43231": "Minerva Park", "43232": "Southeast",
    "43235": "Linworth", "43240": "Polaris", "43085": "Worthington",
}

# Fixed names that exercise CSV quoting, escaping and encodings.
SPECIAL_NAMES = (
    "Café Olé",
    "Smith, Jones & Partners LLC",
    'Tony\'s "Famous" Pizza',
    "Niño's Taquería",
    "Crêperie du Nord, Ltd.",
    "Müller Präzision USA",
    "Señor Fix-It & Sons",
    "<script>alert('x')</script> Supply",
    '=HYPERLINK("http://example.com/x","Click here") Consulting',
)


def make_name(rng: np.random.Generator, local: str) -> str:
    """A plausible small-business name; ``local`` is the suburb or neighbourhood."""
    kind = rng.choice(3, p=[0.45, 0.40, 0.15])
    trade = str(rng.choice((CRAFT_TRADES, PRO_TRADES, SHOP_TRADES)[kind]))
    place, surname = str(rng.choice(PLACES)), str(rng.choice(SURNAMES))
    partner = str(rng.choice([n for n in SURNAMES if n != surname]))
    if kind == 0:
        options = (f"{place} {trade}", f"{surname} {trade}", f"{surname} Bros. {trade}",
                   f"{surname} & Sons {trade}", f"{local} {trade}")
        suffixes = CRAFT_SUFFIXES
    elif kind == 1:
        options = (f"{place} {trade}", f"{surname} {trade}", f"{surname} & {partner} {trade}",
                   f"{local} {trade}", f"{trade} of {local}")
        suffixes = PRO_SUFFIXES
    else:
        owner = f"{surname}'" if surname.endswith("s") else f"{surname}'s"
        options = (f"{place} {trade}", f"{owner} {trade}", f"{local} {trade}")
        suffixes = SHOP_SUFFIXES
    base = str(rng.choice(options))
    suffix = str(rng.choice(suffixes))
    if "&" in base and "&" in suffix or base.endswith("Company") and suffix:
        suffix = ""
    return base + suffix


def unique_names(names: list[str], cities: Sequence[str]) -> list[str]:
    """Make names unique by adding the city, then a branch number."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for name, city in zip(names, cities):
        candidate = name
        if candidate in seen:
            candidate = f"{name} - {city}"
        k = 2
        while candidate in seen:
            candidate = f"{name} #{k}"
            k += 1
        seen[candidate] = 1
        out.append(candidate)
    return out

# ----------------------------------------------------------------------------- geography


def _round_coords(obj: Any, ndigits: int = 6) -> Any:
    if isinstance(obj, (list, tuple)):
        if obj and isinstance(obj[0], (int, float)):
            return [round(float(v), ndigits) for v in obj]
        return [_round_coords(v, ndigits) for v in obj]
    return obj


def load_zctas(source: Path) -> gpd.GeoDataFrame:
    """The source ZCTAs, reduced to id and land area, coordinates on a 1e-6 degree grid."""
    src = gpd.read_file(source)
    if src.crs is not None and src.crs.to_epsg() != 4326:
        raise SystemExit(f"{source}: expected EPSG:4326, got {src.crs}")
    src = src.sort_values("ZCTA5CE10").reset_index(drop=True)
    geoms = []
    for geom in src.geometry:
        snapped = shapely.set_precision(geom, 1e-6)
        rounded = shape({"type": snapped.geom_type,
                         "coordinates": _round_coords(mapping(snapped)["coordinates"])})
        if not rounded.is_valid:
            raise SystemExit("rounding made an invalid geometry; keep more decimals")
        geoms.append(rounded)
    return gpd.GeoDataFrame(
        {"ZCTA5CE10": src["ZCTA5CE10"].astype(str), "ALAND10": src["ALAND10"].astype("int64")},
        geometry=geoms, crs="EPSG:4326",
    )


def write_geojson(zctas: gpd.GeoDataFrame, path: Path) -> None:
    """RFC 7946 GeoJSON, one feature per line, keys and numbers in a fixed format."""
    lines = ['{"type": "FeatureCollection", "features": [']
    feats = []
    for zcta, aland, geom in zip(zctas["ZCTA5CE10"], zctas["ALAND10"], zctas.geometry):
        g = mapping(geom)
        feature = {
            "type": "Feature",
            "properties": {"ZCTA5CE10": zcta, "ALAND10": int(aland)},
            "geometry": {"type": g["type"], "coordinates": _round_coords(g["coordinates"])},
        }
        feats.append(json.dumps(feature, separators=(",", ":"), ensure_ascii=False))
    lines.append(",\n".join(feats))
    lines.append("]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def zcta_table(zctas: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per ZCTA: representative point, land km², km to downtown, city, county, local name."""
    rp = zctas.geometry.representative_point()
    proj = gpd.GeoSeries(rp, crs="EPSG:4326").to_crs(EQUAL_AREA_CRS)
    down = gpd.GeoSeries([Point(*DOWNTOWN_LONLAT)], crs="EPSG:4326").to_crs(EQUAL_AREA_CRS)[0]
    cities, counties = [], []
    for z in zctas["ZCTA5CE10"]:
        match = zipcodes.matching(z)
        cities.append(match[0]["city"] if match else "Columbus")
        counties.append(match[0]["county"] if match else "")
    return pd.DataFrame({
        "zcta": zctas["ZCTA5CE10"].to_numpy(),
        "lon": rp.x.to_numpy(), "lat": rp.y.to_numpy(),
        "x": proj.x.to_numpy(), "y": proj.y.to_numpy(),
        "km2": zctas["ALAND10"].to_numpy() / 1e6,
        "dist_km": proj.distance(down).to_numpy() / 1000,
        "city": cities, "county": counties,
        "local": [LOCAL_NAMES.get(z, c) for z, c in zip(zctas["ZCTA5CE10"], cities)],
    })


def adjacency(zctas: gpd.GeoDataFrame, tolerance_m: float = 50.0) -> nx.Graph:
    """Queen adjacency within ``tolerance_m`` (as territory.geo.units does)."""
    ids = zctas["ZCTA5CE10"].to_numpy()
    geoms = zctas.geometry.to_crs(EQUAL_AREA_CRS).values
    left, right = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=tolerance_m)
    g = nx.Graph()
    g.add_nodes_from(ids)
    g.add_edges_from((ids[a], ids[b]) for a, b in zip(left, right) if a < b)
    return g


def load_graph(graph: Path) -> Any:
    """The demo road graph as territory reads it (a ``RoadNetwork``)."""
    from territory.config import TravelConfig
    from territory.travel.matrix import load_road_network

    return load_road_network(TravelConfig(source="file", path=str(graph)))


def graph_region(zctas: gpd.GeoDataFrame, net: Any) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The ZCTAs the demo road graph covers, and every ZCTA's coverage figures.

    A ZCTA is in when at least ``COVER_SHARE_MIN`` of its land (a 250 m grid of
    sample points) lies within ``COVER_KM`` of a graph node and its
    representative point, where its ZIP-only accounts are visited, within
    ``POINT_SNAP_KM``: its visits are then routed on roads, not estimated.
    """
    rows = []
    for zcta, geom, eq in zip(zctas["ZCTA5CE10"], zctas.geometry,
                              zctas.geometry.to_crs(EQUAL_AREA_CRS)):
        minx, miny, maxx, maxy = eq.bounds
        gx, gy = np.meshgrid(np.arange(minx + COVER_GRID_M / 2, maxx, COVER_GRID_M),
                             np.arange(miny + COVER_GRID_M / 2, maxy, COVER_GRID_M))
        inside = shapely.contains_xy(eq, gx.ravel(), gy.ravel())
        pts = gpd.GeoSeries(gpd.points_from_xy(gx.ravel()[inside], gy.ravel()[inside]),
                            crs=EQUAL_AREA_CRS).to_crs("EPSG:4326")
        rp = geom.representative_point()
        _, land_km = net.snap(np.r_[pts.x.to_numpy(), rp.x], np.r_[pts.y.to_numpy(), rp.y])
        share = float((land_km[:-1] <= COVER_KM).mean()) if len(pts) else float(land_km[-1] <= COVER_KM)
        rows.append({"zcta": zcta, "land_share": share, "point_km": float(land_km[-1])})
    cover = pd.DataFrame(rows)
    keep = ((cover["land_share"] >= COVER_SHARE_MIN) & (cover["point_km"] <= POINT_SNAP_KM)).to_numpy()
    print(f"graph region: {int(keep.sum())} of {len(zctas)} ZCTAs have >= {COVER_SHARE_MIN:.0%} "
          f"of their land within {COVER_KM:g} km of the road graph ({net.n_nodes:,} nodes)")
    return zctas[keep].reset_index(drop=True), cover


def point_in(geom: Any, rng: np.random.Generator) -> tuple[float, float]:
    """A random point inside ``geom``, rounded to 6 decimals and still inside."""
    minx, miny, maxx, maxy = geom.bounds
    for _ in range(10_000):
        lon = round(float(rng.uniform(minx, maxx)), 6)
        lat = round(float(rng.uniform(miny, maxy)), 6)
        if geom.contains(Point(lon, lat)):
            return lon, lat
    raise RuntimeError("no point found inside a polygon")

# ----------------------------------------------------------------------------- accounts


def tier_of(revenue: float) -> str:
    return "A" if revenue >= A_MIN else "B" if revenue >= B_MIN else "C"


def expected_counts(table: pd.DataFrame, total: float, cap: float) -> np.ndarray:
    """Expected accounts per ZCTA from the urban form around downtown Columbus.

    Business density falls off with distance to downtown (``exp(-d / 8 km)``)
    and the count grows with the square root of land area (large rural ZCTAs
    are mostly fields; small inner ones are dense). Known commercial hubs
    (downtown, Polaris, Easton, Dublin, Worthington) get a bonus; villages of
    a few blocks get less. Counts above ``cap`` are cut and the excess spread
    over the other ZCTAs in proportion, so no ZCTA outweighs a territory.
    """
    d, km2 = table["dist_km"].to_numpy(), table["km2"].to_numpy()
    hub = table["zcta"].map(HUBS).fillna(1.0).to_numpy()
    raw = np.exp(-(d - 5.0) / 8.0) * np.sqrt(km2) * hub
    raw = np.where(km2 < 1.0, raw * 0.5, raw)
    w = raw / raw.sum() * total
    for _ in range(100):
        over = w > cap + 1e-9
        if not over.any():
            break
        excess = (w[over] - cap).sum()
        w[over] = cap
        free = w < cap - 1e-9
        w[free] += excess * w[free] / w[free].sum()
    return w


def round_counts(expected: np.ndarray) -> np.ndarray:
    """Whole counts with the same (rounded) total: largest remainders first."""
    base = np.floor(expected).astype(int)
    short = int(round(expected.sum())) - int(base.sum())
    order = np.argsort(-(expected - base), kind="stable")
    base[order[:short]] += 1
    return base


def draw_revenue(rng: np.random.Generator, size: int,
                 factor: np.ndarray | float = 1.0) -> np.ndarray:
    """Annual potential in dollars: lognormal, capped, rounded to $100."""
    out = REVENUE_MEDIAN * np.exp(rng.normal(0.0, REVENUE_SIGMA, size)) * factor
    big = out > REVENUE_CAP
    while big.any():
        out[big] = REVENUE_MEDIAN * np.exp(rng.normal(0.0, REVENUE_SIGMA, int(big.sum())))
        big = out > REVENUE_CAP
    return np.maximum(np.round(out / 100.0) * 100.0, 500.0)


def zcta_totals(zips: np.ndarray, revenue: np.ndarray, all_zips: Sequence[str]) -> pd.DataFrame:
    units = np.array([UNITS_OF_TIER[tier_of(r)] for r in revenue])
    df = pd.DataFrame({"zcta": zips, "tam": revenue, "units": units})
    return df.groupby("zcta").agg(tam=("tam", "sum"), units=("units", "sum"),
                                  n=("tam", "size")).reindex(all_zips, fill_value=0)


def repair_hot_zctas(rng: np.random.Generator, zips: np.ndarray, revenue: np.ndarray,
                     all_zips: Sequence[str], n_reps: int, max_share: float,
                     max_units: int) -> int:
    """Swap revenues so no ZCTA carries too much TAM or too many units.

    Each swap trades the largest revenue of an over-full ZCTA with a random
    smaller revenue elsewhere, so the overall revenue distribution is unchanged.
    Returns the number of swaps.
    """
    swaps = 0
    for _ in range(1000):
        tot = zcta_totals(zips, revenue, all_zips)
        limit_tam = max_share * tot["tam"].sum() / n_reps
        hot = tot.index[(tot["tam"] > limit_tam) | (tot["units"] > max_units)]
        if len(hot) == 0:
            return swaps
        z = hot[0]
        inside = np.flatnonzero(zips == z)
        i = inside[np.argmax(revenue[inside])]
        cool = tot.index[(tot["tam"] < 0.8 * limit_tam) & (tot["units"] < max_units - 4)]
        pool = np.flatnonzero(np.isin(zips, cool) & (revenue < 0.5 * revenue[i]))
        j = int(rng.choice(pool))
        revenue[i], revenue[j] = revenue[j], revenue[i]
        swaps += 1
    raise RuntimeError("could not cool the hot ZCTAs")


def old_alignment(table: pd.DataFrame, tam: np.ndarray, reps: Sequence[Rep],
                  rng: np.random.Generator, target_ratio: float, jitter_m: float,
                  drifted: bool = False) -> np.ndarray:
    """The current (older) design: a drifted, imbalanced power diagram around old centres.

    Old centres are the reps' home ZCTAs moved by about ``jitter_m`` metres. Each
    ZCTA goes to the centre with the smallest ``distance² - weight``; weights are nudged
    toward balance only until the largest territory has ``target_ratio`` times
    the TAM of the smallest, so the old design is plausible but unbalanced. With
    ``drifted``, every rep owns the home ZCTA, and where the diagram is closer to
    balance than ``target_ratio`` the book has grown unevenly since it was drawn: the
    richer territories took the growing ZCTAs (weights nudged the other way) until
    the ratio is reached.
    """
    by_zip = table.set_index("zcta")
    jitter = rng.normal(0.0, jitter_m, (len(reps), 2))
    cx = np.array([by_zip.at[r.home_zip, "x"] for r in reps]) + jitter[:, 0]
    cy = np.array([by_zip.at[r.home_zip, "y"] for r in reps]) + jitter[:, 1]
    x, y = table["x"].to_numpy(), table["y"].to_numpy()
    d2 = ((x[:, None] - cx[None, :]) ** 2 + (y[:, None] - cy[None, :]) ** 2) / 1e6  # km²
    home = [int(np.flatnonzero(table["zcta"].to_numpy() == r.home_zip)[0]) for r in reps]

    def diagram(weights: np.ndarray) -> tuple[np.ndarray, float]:
        owner = np.argmin(d2 - weights, axis=1)
        if drifted:
            owner[home] = np.arange(len(reps))  # a rep lives in the territory
        per_rep = np.bincount(owner, weights=tam, minlength=len(reps))
        return owner, (per_rep.max() / per_rep.min() if per_rep.min() > 0 else np.inf)

    weights = np.zeros(len(reps))
    plain = diagram(weights)[1]
    best: tuple[float, np.ndarray, float] | None = None
    for _ in range(2000):
        owner, ratio = diagram(weights)
        if ratio <= target_ratio:
            break
        if drifted and (best is None or ratio < best[0]):
            best = (ratio, owner, ratio)
        per_rep = np.bincount(owner, weights=tam, minlength=len(reps))
        weights += 2.0 * (per_rep.mean() - per_rep) / per_rep.mean()
    else:
        if best is not None:  # lumpy ZCTAs: the closest the nudging came
            _, owner, ratio = best
    for _ in range(2000 if drifted and plain < target_ratio else 0):
        if ratio >= target_ratio:
            break
        per_rep = np.bincount(owner, weights=tam, minlength=len(reps))
        weights -= 0.05 * (per_rep.mean() - per_rep) / per_rep.mean()
        owner, ratio = diagram(weights)
    print(f"  old design: max/min TAM {ratio:.2f} (aimed at {target_ratio:g})")
    return owner


def _fmt_money(x: float) -> str:
    return str(int(round(x)))


def place_and_price(
    rng: np.random.Generator, table: pd.DataFrame, counts: np.ndarray, n_reps: int,
    limits: tuple[float, int],
) -> tuple[np.ndarray, np.ndarray]:
    """ZCTA and revenue of each clean account; no ZCTA over ``limits`` (TAM share, units)."""
    zips = np.repeat(table["zcta"].to_numpy(), counts)
    # A mild local revenue factor: some areas have bigger businesses.
    zfactor = dict(zip(table["zcta"], np.exp(rng.normal(0.0, 0.12, len(table)))))
    revenue = draw_revenue(rng, len(zips), np.array([zfactor[z] for z in zips]))
    swaps = repair_hot_zctas(rng, zips, revenue, list(table["zcta"]), n_reps, *limits)
    print(f"  {len(zips)} clean accounts placed; {swaps} revenue swaps to cool hot ZCTAs")
    return zips, revenue


def describe_accounts(
    rng: np.random.Generator, zctas: gpd.GeoDataFrame, table: pd.DataFrame, zips: np.ndarray,
    revenue: np.ndarray, owner_of_zip: dict[str, str],
) -> list[dict[str, str]]:
    """CSV rows of the clean accounts: name, ZIP, revenue, current rep, some lat/lon."""
    local_of = dict(zip(table["zcta"], table["local"]))
    names = [make_name(rng, local_of[z]) for z in zips]
    geom_of = dict(zip(zctas["ZCTA5CE10"], zctas.geometry))
    with_coords = rng.random(len(zips)) < COORD_SHARE
    if with_coords.sum() < MIN_COORD_ROWS:  # small books still test the point-in-polygon path
        with_coords[rng.choice(len(zips), MIN_COORD_ROWS, replace=False)] = True
    unowned = rng.random(len(zips)) < UNOWNED_SHARE
    rows = []
    for i, z in enumerate(zips):
        lat = lon = ""
        if with_coords[i]:
            x, y = point_in(geom_of[z], rng)
            lon, lat = f"{x:.6f}", f"{y:.6f}"
        rows.append({"name": names[i], "zip": z, "revenue": _fmt_money(revenue[i]),
                     "current_rep": "" if unowned[i] else owner_of_zip[z],
                     "lat": lat, "lon": lon})
    return rows


# Messy rows: (kind, zip, revenue text, lat, lon, expected outcome). ``None`` keeps the
# generated value. Outcomes are the reason strings of territory's readers.
MESSY: tuple[tuple[str, str | None, str | None, str, str, str], ...] = (
    ("ZIP+4", "43215-1234", None, "", "", "accepted, ZIP read as 43215"),
    ("ZIP+4", "43201-4410", None, "", "", "accepted, ZIP read as 43201"),
    ("ZIP+4", "43214-2231", None, "", "", "accepted, ZIP read as 43214"),
    ("leading zero lost", "2134", None, "", "", "padded to 02134 (Boston, MA): "
     "rejected, 'ZIP not in any unit of the region'"),
    ("leading zero lost", "1002", None, "", "", "padded to 01002 (Amherst, MA): "
     "rejected, 'ZIP not in any unit of the region'"),
    ("unknown ZIP", "99999", None, "", "", "rejected, 'unknown ZIP'"),
    ("unknown ZIP", "43999", None, "", "", "rejected, 'unknown ZIP'"),
    ("unique ZIP", "43299", None, "", "", "accepted: a catalogue company's unique ZIP with no "
     "ZCTA of its own; placed by its centroid (point in polygon) and listed as a substitution"),
    ("other state", "10001", None, "", "", "rejected, 'ZIP not in any unit of the region'"),
    ("other state", "46204", None, "", "", "rejected, 'ZIP not in any unit of the region'"),
    ("malformed ZIP", "OH-432", None, "", "", "rejected, 'malformed ZIP'"),
    ("blank ZIP", "", None, "", "", "rejected, 'missing ZIP and coordinates'"),
    ("blank revenue", None, "", "", "", "rejected, 'blank revenue'"),
    ("blank revenue", None, "", "", "", "rejected, 'blank revenue'"),
    ("blank revenue", None, "", "", "", "rejected, 'blank revenue'"),
    ("negative revenue", None, "-1500", "", "", "rejected, 'negative revenue'"),
    ("negative revenue", None, "(2,500)", "", "",
     "rejected, 'negative revenue' (accounting negative)"),
    ("N/A revenue", None, "n/a", "", "", "rejected, 'blank revenue' (the reader counts N/A as "
     "blank)"),
    ("non-numeric revenue", None, "TBD", "", "", "rejected, 'non-numeric revenue'"),
    ("non-numeric revenue", None, "call back", "", "", "rejected, 'non-numeric revenue'"),
    ("money text", None, "$45,000", "", "", "accepted, revenue 45000 (tier B)"),
    ("money text", None, "$120,500", "", "", "accepted, revenue 120500 (tier A)"),
    ("money text", None, "$8,750", "", "", "accepted, revenue 8750 (tier C)"),
    ("coordinates out of range", None, None, "123.000000", "-83.000000",
     "rejected, 'lat/lon out of range'"),
)
N_DUPLICATES = 2
DUPLICATE_OUTCOME = ("second row rejected, 'duplicate account_id (first occurrence kept)'; "
                     "the first row is kept")


def messy_kinds_small() -> list[tuple[str, str | None, str | None, str, str, str]]:
    """One messy row of each kind for the small test file (not the unique ZIP, which
    lies outside the 12 small ZCTAs)."""
    seen: set[str] = {"unique ZIP"}
    out = []
    for m in MESSY:
        if m[0] not in seen:
            seen.add(m[0])
            out.append(m)
    return out


def build_book(
    rng: np.random.Generator, zctas: gpd.GeoDataFrame, table: pd.DataFrame, counts: np.ndarray,
    reps: Sequence[Rep], messy: Sequence[tuple[str, str | None, str | None, str, str, str]],
    n_duplicates: int, id_prefix: str, n_reps: int, old_design: tuple[float, float, bool],
    limits: tuple[float, int],
) -> tuple[list[dict[str, str]], list[dict[str, str]], np.ndarray, np.ndarray, dict[str, str]]:
    """Clean accounts + messy rows, shuffled and numbered; duplicates follow their original.

    Returns (rows, messy_log, clean_zips, clean_revenue, owner_of_zip).
    """
    rep_ids = [r.rep_id for r in reps]
    zips, revenue = place_and_price(rng, table, counts, n_reps, limits)
    tam = zcta_totals(zips, revenue, list(table["zcta"]))["tam"].to_numpy(float)
    owner = old_alignment(table, tam, reps, rng, *old_design)
    owner_of_zip = {z: rep_ids[o] for z, o in zip(table["zcta"], owner)}
    rows = describe_accounts(rng, zctas, table, zips, revenue, owner_of_zip)

    city_of = dict(zip(table["zcta"], table["local"]))
    messy_rows: list[dict[str, str]] = []
    messy_meta: list[tuple[str, str]] = []
    # Messy rows sit in inner ZCTAs with room to spare, so the accepted ones (ZIP+4,
    # "$45,000") cannot push a ZCTA over the limits; their revenue stays below tier A.
    tot = zcta_totals(zips, revenue, list(table["zcta"]))
    roomy = (tot["tam"] < 0.8 * limits[0] * tot["tam"].sum() / n_reps) & (
        tot["units"] < 0.85 * limits[1])
    by_dist = table.sort_values("dist_km", kind="stable")["zcta"]
    inner = [z for z in by_dist if roomy[z]][:15]
    for kind, zip_text, rev_text, lat, lon, outcome in messy:
        z = str(rng.choice(inner))
        if zip_text and zip_text[:5] in owner_of_zip:
            z = zip_text[:5]
        drawn = draw_revenue(rng, 1)[0]
        while drawn >= 95_000:
            drawn = draw_revenue(rng, 1)[0]
        messy_rows.append({
            "name": make_name(rng, city_of[z]),
            "zip": z if zip_text is None else zip_text,
            "revenue": _fmt_money(drawn) if rev_text is None else rev_text,
            "current_rep": owner_of_zip[z], "lat": lat, "lon": lon,
        })
        messy_meta.append((kind, outcome))

    # Special names replace the names of random clean rows.
    special_at = sorted(rng.choice(len(rows), size=len(SPECIAL_NAMES), replace=False))
    for k, i in enumerate(special_at):
        rows[i]["name"] = SPECIAL_NAMES[k]

    all_rows = rows + messy_rows
    names = unique_names([r["name"] for r in all_rows],
                         [city_of.get(r["zip"][:5], "Columbus") for r in all_rows])
    for r, n in zip(all_rows, names):
        r["name"] = n
    order = rng.permutation(len(all_rows))
    numbered = [{"account_id": f"{id_prefix}{k + 1:05d}", **all_rows[i]}
                for k, i in enumerate(order)]
    messy_log = [{"kind": messy_meta[i - len(rows)][0], "outcome": messy_meta[i - len(rows)][1],
                  **numbered[k]} for k, i in enumerate(order) if i >= len(rows)]
    # Duplicates: the same account exported twice, the second time with a changed revenue.
    clean_positions = [k for k, i in enumerate(order) if i < len(rows)]
    dup_of = sorted((int(k) for k in rng.choice(clean_positions, size=n_duplicates,
                                                replace=False)), reverse=True)
    for k in dup_of:
        copy = dict(numbered[k])
        copy["revenue"] = _fmt_money(round(float(copy["revenue"]) * 1.1, -2))
        numbered.insert(k + 1, copy)
        messy_log.append({"kind": "duplicate account_id", "outcome": DUPLICATE_OUTCOME, **copy})
    messy_log.sort(key=lambda m: (m["account_id"], m["kind"]))
    return numbered, messy_log, zips, revenue, owner_of_zip


def accepted_messy(messy_log: Sequence[dict[str, str]],
                   zctas: gpd.GeoDataFrame) -> list[tuple[str, float]]:
    """(ZCTA, revenue) of the messy rows the reader accepts: they count toward the balance."""
    ids = set(zctas["ZCTA5CE10"])
    out = []
    for m in messy_log:
        if not m["outcome"].startswith("accepted"):
            continue
        z = m["zip"][:5]
        if z not in ids:  # a unique ZIP: the ZCTA that holds its centroid
            c = zipcodes.matching(z)[0]
            hit = zctas[zctas.contains(Point(float(c["long"]), float(c["lat"])))]
            z = str(hit["ZCTA5CE10"].iloc[0])
        out.append((z, float(m["revenue"].replace("$", "").replace(",", ""))))
    return out


ACCOUNT_COLUMNS = ("account_id", "name", "zip", "revenue", "current_rep", "lat", "lon")


def write_csv(rows: Iterable[dict[str, str]], columns: Sequence[str], path: Path) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for r in rows:
        writer.writerow([r.get(c, "") for c in columns])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue(), encoding="utf-8")


def write_reps(reps: Sequence[Rep], path: Path) -> None:
    write_csv(({"rep_id": r.rep_id, "name": r.name, "home_zip": r.home_zip,
                "start_date": r.start_date} for r in reps),
              ("rep_id", "name", "home_zip", "start_date"), path)

# ----------------------------------------------------------------------------- checks


def check(ok: bool, message: str) -> None:
    """Stop with ``message`` when a generated file would break the demo."""
    if not ok:
        raise SystemExit(f"check failed: {message}")


def aggregate_checks(label: str, zips: np.ndarray, revenue: np.ndarray, all_zips: Sequence[str],
                     rep_counts: Sequence[int], band: tuple[int, int],
                     max_share: float, max_units: int) -> None:
    """Print and check the balance prerequisites of a book of valid accounts."""
    tot = zcta_totals(zips, revenue, all_zips)
    tiers = pd.Series([tier_of(r) for r in revenue]).value_counts(normalize=True)
    total_units = int(tot["units"].sum())
    total_tam = float(tot["tam"].sum())
    print(f"[{label}] valid accounts: {len(zips)}; total TAM ${total_tam:,.0f}; "
          f"total account units {total_units}")
    print(f"[{label}] tier shares: A {tiers.get('A', 0):.1%}  B {tiers.get('B', 0):.1%}  "
          f"C {tiers.get('C', 0):.1%}")
    for n in rep_counts:
        per = total_units / n
        share = float(tot["tam"].max() / (total_tam / n))
        print(f"[{label}] {n} reps: {per:.1f} units/rep (band {band[0]}-{band[1]}), "
              f"mean TAM/rep ${total_tam / n:,.0f}, largest ZCTA TAM = {share:.1%} of it")
        check(band[0] * 1.05 <= per <= band[1] * 0.95,
              f"{label}: {per:.1f} units per rep is too close to the band {band}")
        check(share <= max_share, f"{label}: a ZCTA holds {share:.1%} of the mean territory TAM")
    biggest = tot["units"].idxmax()
    print(f"[{label}] max ZCTA units: {int(tot['units'].max())} ({biggest}); "
          f"ZCTAs with accounts: {int((tot['n'] > 0).sum())}/{len(tot)}")
    check(tot["units"].max() <= max_units, f"{label}: ZCTA {biggest} has too many units")


def current_balance(label: str, rows: Sequence[dict[str, str]], zips: np.ndarray,
                    revenue: np.ndarray, owner_of_zip: dict[str, str],
                    rep_ids: Sequence[str]) -> None:
    """Print TAM and account units of each rep in the current (old) design."""
    owners = [owner_of_zip[z] for z in zips]
    tam = pd.Series(revenue).groupby(owners).sum().reindex(rep_ids, fill_value=0)
    units = pd.Series([UNITS_OF_TIER[tier_of(r)] for r in revenue]).groupby(owners).sum()
    units = units.reindex(rep_ids, fill_value=0)
    unowned = sum(1 for r in rows if not r["current_rep"])
    print(f"[{label}] current design TAM by rep ($K): "
          + ", ".join(f"{r} {t / 1e3:,.0f}" for r, t in tam.items()))
    print(f"[{label}] current design units by rep: "
          + ", ".join(f"{r} {u}" for r, u in units.items()))
    print(f"[{label}] current design max/min TAM {tam.max() / tam.min():.2f}, "
          f"max/mean {tam.max() / tam.mean():.2f}, min/mean {tam.min() / tam.mean():.2f}, "
          f"CV {tam.std(ddof=0) / tam.mean():.1%}; "
          f"rows without current_rep: {unowned}")


def print_messy_table(messy_log: Sequence[dict[str, str]]) -> None:
    """The messy rows as a Markdown table, ready for data/README.md."""
    print("| account_id | problem | zip | revenue | expected outcome |")
    print("| --- | --- | --- | --- | --- |")
    for m in messy_log:
        print(f"| {m['account_id']} | {m['kind']} | `{m['zip']}` | `{m['revenue']}` | "
              f"{m['outcome']} |")

# ----------------------------------------------------------------------------- main


def make_book(
    label: str, rng: np.random.Generator, zctas: gpd.GeoDataFrame, table: pd.DataFrame,
    counts: np.ndarray, reps: Sequence[Rep], messy: Sequence[tuple[str, str | None, str | None,
                                                                  str, str, str]],
    n_duplicates: int, id_prefix: str, old_design: tuple[float, float, bool],
    limits: tuple[float, int], checks: tuple[Sequence[int], tuple[int, int], float, int],
    accounts_path: Path, reps_path: Path,
) -> None:
    """Generate, write, check and describe one accounts file and its roster."""
    rep_counts, band, max_share, max_units = checks
    rows, messy_log, zips, revenue, owner = build_book(
        rng, zctas, table, counts, reps, messy, n_duplicates, id_prefix, len(reps),
        old_design, limits)
    write_csv(rows, ACCOUNT_COLUMNS, accounts_path)
    write_reps(reps, reps_path)
    print(f"[{label}] {accounts_path.name}: {len(rows)} rows ({len(messy_log)} messy); "
          f"{reps_path.name}: {len(reps)} reps")
    extra = accepted_messy(messy_log, zctas)  # accepted messy rows count toward balance too
    aggregate_checks(label, np.r_[zips, [z for z, _ in extra]],
                     np.r_[revenue, [r for _, r in extra]], list(table["zcta"]), rep_counts,
                     band, max_share, max_units)
    current_balance(label, rows, zips, revenue, owner, [r.rep_id for r in reps])
    n_coords = sum(1 for r in rows if r["lat"] and r["lat"] != "123.000000")
    print(f"[{label}] rows with valid lat/lon: {n_coords} ({n_coords / len(rows):.1%})")
    print_messy_table(messy_log)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="the 73 Columbus ZCTA polygons (columbus_oh_zctas.geojson)")
    parser.add_argument("--graph", type=Path, default=DEFAULT_GRAPH,
                        help="the demo road graph the book must fit (columbus_drive.graphml.gz)")
    parser.add_argument("--out", type=Path, default=ROOT, help="repository root to write into")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        raise SystemExit(f"{args.source}: source ZCTA polygons not found (see --source)")
    data, tests = args.out / "data", args.out / "tests" / "data"
    data.mkdir(parents=True, exist_ok=True)
    tests.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(SEED)
    source = load_zctas(args.source)
    check(len(source) == N_SOURCE_ZCTAS and source["ZCTA5CE10"].is_unique,
          f"expected {N_SOURCE_ZCTAS} distinct ZCTAs")
    net = load_graph(args.graph)
    zctas, _ = graph_region(source, net)
    write_geojson(zctas, data / "columbus_zctas.geojson")
    table = zcta_table(zctas)
    graph = adjacency(zctas)
    print(f"ZCTAs: {len(zctas)} ({', '.join(zctas['ZCTA5CE10'])}), {table['km2'].sum():.0f} km² "
          f"of land; adjacency edges: {graph.number_of_edges()}, "
          f"components: {nx.number_connected_components(graph)}")
    check(nx.is_connected(graph), "the demo region is not connected")
    for r in (*REPS, *SMALL_REPS):
        check(r.home_zip in set(table["zcta"]), f"home ZIP of {r.rep_id} is not a demo ZCTA")
        c = zipcodes.matching(r.home_zip)[0]  # territory places a home at its ZIP's centroid
        _, km = net.snap(np.array([float(c["long"])]), np.array([float(c["lat"])]))
        check(float(km[0]) <= POINT_SNAP_KM, f"home of {r.rep_id} is {km[0]:.1f} km off the graph")

    # The demo book: about 850 rows over the region's ZCTAs, 7 reps.
    expected = expected_counts(table, N_CLEAN_ACCOUNTS, MAX_ACCOUNTS_PER_ZCTA)
    noisy = np.minimum(expected * np.exp(rng.normal(0.0, 0.15, len(expected))),
                       MAX_ACCOUNTS_PER_ZCTA + 1)
    counts = round_counts(noisy * N_CLEAN_ACCOUNTS / noisy.sum())  # the jitter keeps the total
    make_book("demo", rng, zctas, table, counts, REPS, MESSY, N_DUPLICATES, "ACC-",
              (OLD_TAM_RATIO, OLD_CENTRE_JITTER_M, True), (ZCTA_TAM_SHARE_TARGET, ZCTA_UNITS_TARGET),
              ((N_REPS, N_REPS_FEWER), UNITS_BAND, ZCTA_TAM_SHARE_MAX, ZCTA_UNITS_MAX),
              data / "accounts.csv", data / "reps.csv")

    # The small test book: 60 clean accounts over 12 inner ZCTAs, 3 reps.
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = {"bit_generator": "PCG64", "state": dict(SMALL_STREAM),
                               "has_uint32": 0, "uinteger": 0}
    small = table[table["zcta"].isin(SMALL_ZCTAS)].reset_index(drop=True)
    check(nx.is_connected(graph.subgraph(SMALL_ZCTAS)), "the small ZCTAs are not connected")
    small_counts = round_counts(expected_counts(small, N_SMALL_CLEAN, 8.0))
    make_book("small", rng, zctas, small, small_counts, SMALL_REPS, messy_kinds_small(), 1, "T-",
              (1.3, 2500.0, False), (SMALL_ZCTA_TAM_SHARE_TARGET, SMALL_ZCTA_UNITS_TARGET),
              ((len(SMALL_REPS),), SMALL_UNITS_BAND, SMALL_ZCTA_TAM_SHARE_MAX,
               SMALL_ZCTA_UNITS_MAX),
              tests / "accounts_small.csv", tests / "reps_small.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
