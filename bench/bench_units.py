"""Benchmark of the units stage at national scale: load, account join, adjacency.

We have no national ZCTA file offline, so the national stand-in is
``approximate_zip_units`` over every state: ~30,000 Voronoi cells of the real
ZIP centroids clipped to the state outlines (the real cb_2020 ZCTA file has
~33,800 polygons with more vertices, so real timings will be somewhat higher).
The cells are written as a zipped shapefile shaped like the Census file
(``ZCTA5CE20``) and read back through :func:`territory.zcta.zcta_units`, so the
load figure includes the real file read, geometry checks and the state
assignment by representative point.

Also measured, when ``/work/shared/data/delaware_zctas.geojson`` is present:
the 68 real (full-resolution TIGER) Delaware ZCTAs.

The spatial-index adjacency is compared, in the same run, with a naive
all-pairs ``touches`` on a state subset (vectorised shapely over every pair, so
the ratio is about the algorithm, not Python loop overhead).

Usage::

    python bench/bench_units.py           # full
    python bench/bench_units.py --quick   # small state subset only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from territory.geo import units as U
from territory.geo import zcta
from territory.geo.reference import state_outlines, zip_table

DELAWARE = Path("/work/shared/data/delaware_zctas.geojson")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, round(time.perf_counter() - t0, 3)


def _accounts(units: gpd.GeoDataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """n synthetic accounts: 80% by ZIP (incl. PO-box/unique ZIPs), 20% by lat/lon."""
    table = zip_table()
    table = table[table["state"].isin(set(units["state"]))]
    z = table.index.to_numpy()[rng.integers(0, len(table), n)]
    acc = pd.DataFrame({"row": np.arange(1, n + 1), "account_id": [f"a{i}" for i in range(n)],
                        "zip": z, "lat": table.loc[z, "lat"].to_numpy(),
                        "lon": table.loc[z, "lon"].to_numpy(),
                        "zip_type": table.loc[z, "zip_type"].to_numpy()})
    by_coords = rng.random(n) < 0.2
    acc["point_source"] = np.where(by_coords, "input lat/lon", "ZIP centroid")
    acc.loc[by_coords, "lat"] += rng.normal(0, 0.01, by_coords.sum())
    acc.loc[by_coords, "lon"] += rng.normal(0, 0.01, by_coords.sum())
    acc["revenue"] = rng.lognormal(10, 1, n)
    acc["tier"] = "C"
    acc["account_units"] = 1
    acc["touches_per_year"] = 4.0
    return acc


def _as_census_zip(units: gpd.GeoDataFrame, folder: Path) -> Path:
    stem = "cb_2020_us_zcta520_500k"
    gdf = gpd.GeoDataFrame({"ZCTA5CE20": units["unit_id"]}, geometry=units.geometry.values,
                           crs="EPSG:4326").to_crs("EPSG:4269")
    gdf.to_file(folder / f"{stem}.shp")
    out = folder / f"{stem}.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.glob(f"{stem}.*")):
            if f.suffix != ".zip":
                zf.write(f, f.name)
    return out


def _naive_pairs(units: gpd.GeoDataFrame) -> set[frozenset]:
    geoms = units.geometry.to_crs(U.EQUAL_AREA_CRS).values
    i, j = np.triu_indices(len(geoms), k=1)
    hit = shapely.touches(geoms[i], geoms[j]) | shapely.overlaps(geoms[i], geoms[j])
    ids = units["unit_id"].to_numpy()
    return {frozenset(p) for p in zip(ids[i[hit]], ids[j[hit]])}


def _index_pairs(units: gpd.GeoDataFrame) -> set[frozenset]:
    graph, _ = U.unit_adjacency(units, tolerance_m=0, bridge=False)
    return {frozenset(e) for e in graph.edges}


def run(quick: bool = False) -> dict:
    """Run the benchmark; returns the figures (seconds, MB, counts) as a dict."""
    rng = np.random.default_rng(7)
    out: dict = {
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "shapely": shapely.__version__,
        "geopandas": gpd.__version__,
        "quick": quick,
    }
    all_states = sorted(set(zip_table()["state"]) & set(state_outlines()["state"]))
    states = ["DE", "MD"] if quick else all_states
    label = "national" if not quick else "DE+MD"
    cells, t = _timed(U.approximate_zip_units, states)
    out[f"{label}_standin"] = ("APPROXIMATE ZIP areas (Voronoi of real ZIP centroids) as the "
                               "stand-in for the national ZCTA file")
    out[f"{label}_units"] = int(len(cells))
    out[f"{label}_vertices"] = int(shapely.get_num_coordinates(cells.geometry.values).sum())
    out[f"{label}_build_voronoi_s"] = t
    with tempfile.TemporaryDirectory() as tmp:
        path, t = _timed(_as_census_zip, cells, Path(tmp))
        out[f"{label}_write_shapefile_zip_s"] = t
        out[f"{label}_zip_mb"] = round(path.stat().st_size / 2**20, 1)
        units, t = _timed(zcta.zcta_units, None, path=path)
        out[f"{label}_load_s"] = t  # read + validity + state by representative point
        subset, t = _timed(zcta.zcta_units, ["OH", "IN"] if not quick else ["DE"], path=path)
        out[f"{label}_load_two_states_s"] = t
        out[f"{label}_two_states_units"] = int(len(subset))
    n_acc = 20_000 if quick else 200_000
    acc = _accounts(units, n_acc, rng)
    (placed, rejects, subs), t = _timed(U.locate_accounts, acc, units)
    out[f"{label}_accounts"] = n_acc
    out[f"{label}_join_s"] = t
    out[f"{label}_join_placed"] = int(len(placed))
    out[f"{label}_join_substitutions"] = int(len(subs))
    _, t = _timed(U.aggregate_units, units, placed)
    out[f"{label}_aggregate_s"] = t
    (graph, bridges), t = _timed(U.unit_adjacency, units)
    out[f"{label}_adjacency_queen_s"] = t
    out[f"{label}_edges_queen"] = graph.number_of_edges()
    out[f"{label}_bridges"] = len(bridges)
    (graph, _), t = _timed(U.unit_adjacency, units, contiguity="rook")
    out[f"{label}_adjacency_rook_s"] = t
    out[f"{label}_edges_rook"] = graph.number_of_edges()
    out[f"{label}_total_load_join_adjacency_s"] = round(
        out[f"{label}_load_s"] + out[f"{label}_join_s"] + out[f"{label}_adjacency_queen_s"], 2)
    out["peak_rss_mb_after_national"] = round(_rss_mb(), 0)

    # the spatial index against naive all-pairs, same run, same units
    sub_state = "DE" if quick else "OH"
    sub = units[units["state"] == sub_state].reset_index(drop=True)
    naive, t_naive = _timed(_naive_pairs, sub)
    fast, t_fast = _timed(_index_pairs, sub)
    out["naive_state"] = sub_state
    out["naive_units"] = int(len(sub))
    out["naive_all_pairs_touches_s"] = t_naive
    out["index_adjacency_s"] = t_fast
    out["naive_over_index_ratio"] = round(t_naive / max(t_fast, 1e-9), 1)
    out["naive_pairs_equal"] = naive == fast
    out["naive_edges"] = len(naive)
    # all pairs grow with n^2: what the naive method would need for all the units above
    n_nat, n_sub = len(units), max(len(sub), 1)
    out[f"naive_extrapolated_to_{label}_s"] = round(t_naive * (n_nat / n_sub) ** 2, 0)
    out[f"naive_extrapolated_to_{label}_pair_index_gb"] = round(n_nat ** 2 / 2 * 16 / 2**30, 1)

    if DELAWARE.exists():
        de, t = _timed(U.load_unit_polygons, DELAWARE, "ZCTA5CE10")
        out["delaware_real_zctas"] = int(len(de))
        out["delaware_vertices"] = int(shapely.get_num_coordinates(de.geometry.values).sum())
        out["delaware_load_s"] = t
        (g, b), t = _timed(U.unit_adjacency, de)
        out["delaware_adjacency_s"] = t
        out["delaware_edges"] = g.number_of_edges()
        out["delaware_bridges"] = b
        naive, t_naive = _timed(_naive_pairs, de)
        fast, t_fast = _timed(_index_pairs, de)
        out["delaware_naive_all_pairs_s"] = t_naive
        out["delaware_index_exact_s"] = t_fast
        out["delaware_naive_over_index_ratio"] = round(t_naive / max(t_fast, 1e-9), 1)
        out["delaware_pairs_equal"] = naive == fast
    out["peak_rss_mb"] = round(_rss_mb(), 0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="DE+MD instead of the whole US")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.quick), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
