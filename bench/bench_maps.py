"""Map size, build and load time: synthetic units (1,000 and 30,000) and a national book.

* ``maps_1000_units`` / ``maps_30000_units``: a synthetic scenario (irregular
  grid cells around Columbus, OH, built here, not in the product);
* ``national_map`` (not quick): the national book of issue 12 (800 accounts over
  44 states + DC, ``--reps 10``, ~27,500 approximate ZIP areas, from
  :func:`bench.instances.national_book`), planned with ``contiguity = false`` (the
  map's size and load do not depend on the plan's quality, and this keeps the
  optimizer's speed out of this benchmark), drawn with :func:`scenario_map`.

The 30,000-unit map is the dense case: 19,000 of its cells hold accounts (about one
account a cell), so grouping empty units (``display_groups``) leaves ~19,000 shapes
to draw and edit. ``html_mb`` is the page as written, its data packed
(:mod:`territory.web.packing`); as plain JSON the same map was 10.0 MB (git 1315124).

Load time: each page opened three times in headless Chromium (selenium,
``/usr/bin/chromium``): ``load_seconds`` from navigation start to the end of the
``load`` event (the page's scripts, and so the map and its editor, have run),
``drawn_seconds`` to the second animation frame after it (the layers are painted);
medians, reported with the ratio to the 1,000-unit map's in the same browser session.

Run ``python bench/bench_maps.py [--quick]`` or call ``run(quick)`` from the driver.
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
        ``n_units, n_accounts, n_drawn`` (shapes drawn and edited), ``html_bytes, html_mb,
        build_seconds, save_seconds``.
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
        n_drawn = len(page_data(path)["editor"]["unitIds"])
    return {"n_units": n_units, "n_accounts": int(len(s["accounts"])), "n_drawn": n_drawn,
            "html_bytes": size, "html_mb": round(size / 1e6, 2),
            "build_seconds": round(t1 - t0, 2), "save_seconds": round(t2 - t1, 2)}


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
_CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1600,1000")


def load_seconds(paths: list[Path], repeats: int = 3) -> list[dict | None]:
    """Per page, median seconds to the end of ``load`` and to the layers painted (None: no
    browser): ``{"load_seconds", "drawn_seconds"}``.

    One headless Chromium for all pages, a blank page between loads.
    """
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return [None] * len(paths)
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        return [None] * len(paths)
    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in (*_CHROME_FLAGS, f"--user-data-dir={tempfile.mkdtemp(prefix='bench-maps-')}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(120)
    out: list[dict | None] = []
    try:
        for path in paths:
            times = []
            for _ in range(repeats):
                driver.get("about:blank")
                driver.get(Path(path).resolve().as_uri())
                ms = driver.execute_script(
                    "var t = performance.timing; return t.loadEventEnd - t.navigationStart;")
                # two frames after load: the canvas and SVG layers have been painted
                drawn = driver.execute_async_script(
                    "var cb = arguments[0]; requestAnimationFrame(function () {"
                    " requestAnimationFrame(function () { cb(performance.now()); }); });")
                if not driver.execute_script("return !!window.TT_EDITOR"):
                    raise RuntimeError(f"{path}: the map's editor did not start")
                times.append((ms / 1000.0, drawn / 1000.0))
            load, drawn = np.median(np.array(times), axis=0)
            out.append({"load_seconds": round(float(load), 3),
                        "drawn_seconds": round(float(drawn), 3)})
    finally:
        driver.quit()
    return out


def page_data(path: Path) -> dict:
    """The data a saved map hands to ``TT.scenario``, as the page carries it (packed)."""
    text = Path(path).read_text(encoding="utf-8")
    call = text[text.index("TT.scenario(") + len("TT.scenario("):]
    return json.JSONDecoder().raw_decode(call[call.index(",") + 1:].lstrip())[0]



def national_map(out_dir: str | os.PathLike, n_accounts: int = 800, n_reps: int = 10
                 ) -> dict[str, Any]:
    """Plan the national book (``contiguity = false``) and save its ``map.html`` in ``out_dir``.

    Returns
    -------
    dict
        ``path, n_units, n_groups, html_bytes, html_mb, editor_bytes, plan_seconds,
        build_seconds``.
    """
    from bench.instances import national_book
    from territory.config import config_from_dict
    from territory.pipeline import plan, prepare

    out = Path(out_dir)
    book = national_book(out / "book", n_accounts=n_accounts)
    cfg = config_from_dict({"contiguity": False})
    t0 = time.perf_counter()
    res = plan(prepare(book.accounts, n_reps, cfg), cfg)
    t1 = time.perf_counter()
    m = scenario_map(res.units, res.reps, res.accounts, res.scorecard, res.summary,
                     isochrones=res.isochrones, adjacency=res.adjacency)
    path = out / "map.html"
    save_map(m, path)
    t2 = time.perf_counter()
    data = page_data(path)
    size = path.stat().st_size
    return {"path": str(path), "n_units": int(len(res.units)),
            "n_groups": len(data["editor"]["unitIds"]), "html_bytes": size,
            "html_mb": round(size / 1e6, 2),
            "editor_bytes": len(json.dumps(data["editor"], separators=(",", ":"))),
            "plan_seconds": round(t1 - t0, 1), "build_seconds": round(t2 - t1, 2)}


def run(quick: bool = False) -> dict:
    """HTML bytes, build seconds and load seconds in Chromium per map.

    Returns
    -------
    dict
        ``{"maps_1000_units": {...}, "maps_30000_units": {...}, "national_map": {...}}``
        (the last two only when ``quick`` is false); each entry as
        :func:`measure_map_size` or :func:`national_map` reports it, plus
        ``load_seconds``, ``drawn_seconds`` and their ratios to the 1,000-unit map's
        (``load_ratio``, ``drawn_ratio``, same session).
    """
    with tempfile.TemporaryDirectory(prefix="bench-maps-") as tmp:
        res = {f"maps_{n}_units": measure_map_size(n, tmp) for n in ([1000] if quick
                                                                       else [1000, 30000])}
        pages = [Path(tmp) / f"map_{r['n_units']}.html" for r in res.values()]
        if not quick:
            res["national_map"] = national_map(Path(tmp) / "national")
            pages.append(Path(res["national_map"].pop("path")))
        loads = load_seconds(pages)
        base = loads[0]
        for entry, sec in zip(res.values(), loads):
            for key in ("load_seconds", "drawn_seconds"):
                entry[key] = sec[key] if sec else None
            entry["load_ratio"] = round(sec["load_seconds"] / base["load_seconds"], 2) \
                if sec and base else None
            entry["drawn_ratio"] = round(sec["drawn_seconds"] / base["drawn_seconds"], 2) \
                if sec and base else None
    return res


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
