"""Map size and build time on synthetic units: 1,000 and 30,000 (quick: 1,000 only).

Run ``python bench/bench_maps.py`` or call ``run(quick)`` from the bench driver.
The synthetic scenario (irregular grid cells around Columbus, OH) is built
here, not in the product.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from territory.web.maps import save_map, scenario_map


def synthetic_scenario(n_units: int, n_reps: int = 8, *, accounts_per_unit: float = 1.0,
                       seed: int = 0) -> dict[str, Any]:
    """A synthetic scenario of ``n_units`` irregular grid cells around Columbus, OH."""
    rng = np.random.default_rng(seed)
    side = int(math.ceil(math.sqrt(n_units)))
    step = 0.03 if n_units <= 2000 else 2.0 / side * 4
    xs = -83.0 - side * step / 2 + np.arange(side + 1) * step
    ys = 39.96 - side * step / 2 + np.arange(side + 1) * step
    # jitter interior vertices so cells are irregular but still tile the plane
    gx, gy = np.meshgrid(xs, ys)
    jx = gx + rng.uniform(-0.25, 0.25, gx.shape) * step
    jy = gy + rng.uniform(-0.25, 0.25, gy.shape) * step
    cells, ids = [], []
    for i in range(side):
        for j in range(side):
            if len(cells) >= n_units:
                break
            ring = []
            # subdivide edges to mimic real boundary detail (8 vertices per edge)
            corners = [(i, j), (i, j + 1), (i + 1, j + 1), (i + 1, j)]
            for (a, b), (c, d) in zip(corners, corners[1:] + corners[:1]):
                for t in np.linspace(0, 1, 8, endpoint=False):
                    ring.append((jx[a, b] * (1 - t) + jx[c, d] * t,
                                 jy[a, b] * (1 - t) + jy[c, d] * t))
            cells.append(shapely.Polygon(ring))
            ids.append(f"{10000 + len(ids):05d}")
    units = gpd.GeoDataFrame({"unit_id": ids}, geometry=cells, crs="EPSG:4326")
    cx = shapely.get_x(shapely.centroid(units.geometry.values))
    cy = shapely.get_y(shapely.centroid(units.geometry.values))
    ang = np.arctan2(cy - cy.mean(), cx - cx.mean())
    rep_idx = np.floor((ang + math.pi) / (2 * math.pi) * n_reps).astype(int) % n_reps
    rep_ids = [f"R{i + 1:02d}" for i in range(n_reps)]
    units["rep_id"] = [rep_ids[i] for i in rep_idx]
    units["tam"] = rng.gamma(2.0, 50_000, len(units)).round(0)
    units["n_accounts"] = rng.poisson(accounts_per_unit, len(units))
    units["account_units"] = units["n_accounts"] * 2
    for t in "ABC":
        units[f"n_{t}"] = 0
    units["current_rep"] = [rep_ids[(i + (k % 7 == 0)) % n_reps] for k, i in enumerate(rep_idx)]
    reps = pd.DataFrame({"rep_id": rep_ids, "name": [f"Rep {i + 1}" for i in range(n_reps)],
                         "lon": [cx[rep_idx == i].mean() for i in range(n_reps)],
                         "lat": [cy[rep_idx == i].mean() for i in range(n_reps)],
                         "base_kind": "home"})
    n_acc = int(units["n_accounts"].sum())
    pick = rng.integers(0, len(units), n_acc)
    accounts = pd.DataFrame({
        "account_id": [f"a{i}" for i in range(n_acc)],
        "name": [f"Account {i}" for i in range(n_acc)],
        "lon": cx[pick] + rng.normal(0, step / 6, n_acc),
        "lat": cy[pick] + rng.normal(0, step / 6, n_acc),
        "tier": rng.choice(["A", "B", "C"], n_acc, p=[0.15, 0.35, 0.5]),
        "revenue": rng.gamma(2.0, 20_000, n_acc).round(0),
        "rep_id": units["rep_id"].to_numpy()[pick],
        "unit_id": units["unit_id"].to_numpy()[pick]})
    g = units.groupby("rep_id")
    card = pd.DataFrame({"rep_id": rep_ids, "name": reps["name"]})
    card["tam"] = card["rep_id"].map(g["tam"].sum())
    card["account_units"] = card["rep_id"].map(g["account_units"].sum())
    card["n_units"] = card["rep_id"].map(g.size())
    card["drive_hours_per_month"] = rng.uniform(10, 40, n_reps).round(1)
    card["flags"] = np.where(card["drive_hours_per_month"] > 30, "drive>30h", "")
    summary = {"scenario": f"synthetic-{n_units}", "description": "synthetic grid",
               "travel_source": "estimate", "max_drive_hours_per_month": 30,
               "tam_tolerance": 0.15, "account_units_band": [100, 150], "unit_level": "zip"}
    return {"units": units, "reps": reps, "accounts": accounts, "scorecard": card,
            "summary": summary}


def measure_map_size(n_units: int, out_dir: str | os.PathLike | None = None, *,
                     accounts_per_unit: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """Build and save the map of a synthetic scenario; report HTML size and time.

    Returns
    -------
    dict
        ``n_units, n_accounts, html_bytes, html_mb, build_seconds, save_seconds``.
    """



    s = synthetic_scenario(n_units, accounts_per_unit=accounts_per_unit, seed=seed)
    t0 = time.perf_counter()
    m = scenario_map(s["units"], s["reps"], s["accounts"], s["scorecard"], s["summary"])
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(out_dir or tmp) / f"map_{n_units}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_map(m, path)
        t2 = time.perf_counter()
        size = path.stat().st_size
    return {"n_units": n_units, "n_accounts": int(len(s["accounts"])), "html_bytes": size,
            "html_mb": round(size / 1e6, 2), "build_seconds": round(t1 - t0, 2),
            "save_seconds": round(t2 - t1, 2)}


def run(quick: bool = False) -> dict:
    """HTML bytes, build and save seconds of ``scenario_map`` + ``save_map`` per size.

    Returns
    -------
    dict
        ``{"maps_1000_units": {...}, "maps_30000_units": {...}}`` (the second
        one only when ``quick`` is false); each entry as :func:`measure_map_size`
        reports it.
    """
    sizes = [1000] if quick else [1000, 30000]
    return {f"maps_{n}_units": measure_map_size(n) for n in sizes}


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
