"""Writing a 100,000-account plan: the streamed workbook and the map's account layer.

Run ``python -m bench.bench_writers [--quick]`` or call ``run(quick)`` from the bench driver.
One book (``bench.instances.national_book``: 100,000 accounts over OH, IN and KY, 20 reps;
20,000 with ``quick``) is placed once and given a plan without a solve (each unit to the
nearest rep home, :func:`territory.pipeline.score_assignment`), then, in the same minute:

* ``xlsx``: ``territory.io.export.write_excel`` (XlsxWriter constant-memory, streamed) against
  the writer it replaced (``pandas.ExcelWriter`` with openpyxl, every cell an object; and
  pandas with XlsxWriter for reference), on the same sheets (all accounts, the scorecard,
  one sheet per rep); the ratio is old / new seconds;
* ``map_accounts``: the map's account rows (``territory.web.maps.account_rows``, column by
  column) against the per-account loop they replaced (kept here as the baseline), checked
  equal; ratio old / new; and the whole map build (``scenario_map``) for scale;
* ``write_result``: the whole output contract, seconds per file (from the ``-v`` log lines).

Figures are wall seconds on a shared machine: read the ratios, with the load average beside.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from territory.config import config_from_dict
from territory.io.export import safe_frame, write_excel
from territory.outputs import write_result
from territory.pipeline import prepare, score_assignment
from territory.web.html import esc, finite_or_none
from territory.web.maps import account_rows, scenario_map

from bench.instances import national_book

CONFIG = {"name": "writers", "contiguity": False, "travel": {"source": "estimate"},
          "balance": {"account_units_min": 0, "account_units_max": 1e9, "tam_tolerance": 1.0}}


def planned_book(n_accounts: int, out: Path):
    """A placed book with every unit given to the nearest rep home (no solve)."""
    book = national_book(out, n_accounts=n_accounts, states=("OH", "IN", "KY"), n_reps=20)
    cfg = config_from_dict(CONFIG)
    inputs = prepare(book.accounts, book.reps, cfg)
    u, r = inputs.units, inputs.reps
    d2 = ((u["lon"].to_numpy()[:, None] - r["lon"].to_numpy()[None]) ** 2
          + (u["lat"].to_numpy()[:, None] - r["lat"].to_numpy()[None]) ** 2)
    return score_assignment(inputs, cfg, list(r["rep_id"].to_numpy()[d2.argmin(1)]))


def _sheets(res) -> dict[str, pd.DataFrame]:
    cols = ["account_id", "name", "zip", "unit_id", "rep_id", "tier", "account_units",
            "revenue", "current_rep", "moved"]
    acc = res.accounts[cols]
    sheets = {"all accounts": acc, "scorecard": res.scorecard}
    for rep in res.reps["rep_id"]:
        sheets[str(rep)] = acc[acc["rep_id"] == rep]
    return sheets


def _old_excel(sheets: dict[str, pd.DataFrame], path: Path, engine: str = "openpyxl") -> None:
    """The writers ``write_excel`` replaced: pandas with openpyxl (the whole workbook in
    memory, as the issue measured it), or pandas with XlsxWriter (every cell kept)."""
    with pd.ExcelWriter(path, engine=engine) as xl:
        for name, df in sheets.items():
            clean = "".join(c for c in str(name) if c not in "[]:*?/\\")[:31] or "sheet"
            safe_frame(df).to_excel(xl, sheet_name=clean, index=False)


def _old_account_rows(accounts: pd.DataFrame, reps: pd.DataFrame, raw_index: dict) -> list:
    """The per-account loop the map's account layer replaced (the baseline)."""
    acc = accounts.dropna(subset=["lon", "lat"])
    names = {str(r): esc(n) for r, n in zip(reps["rep_id"], reps["name"])}
    moved = acc["moved"].fillna(False).astype(bool).tolist()
    curr = acc["current_rep"].tolist()
    tiers = {"A": 0, "B": 1, "C": 2}
    rows = []
    for lat, lon, nm, t, rev, r, mv, c in zip(acc["lat"], acc["lon"], acc["name"], acc["tier"],
                                              acc["revenue"], acc["rep_id"], moved, curr):
        row = [round(float(lat), 5), round(float(lon), 5), tiers.get(str(t), 2), esc(nm),
               finite_or_none(rev) or 0.0, raw_index.get(str(r), -1) if pd.notna(r) else -1,
               int(mv)]
        if mv:
            row.append(names.get(str(c), esc(c)))
        rows.append(row)
    return rows


def _seconds(fn, *args) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def _file_seconds(res, out: Path) -> dict[str, float]:
    """``write_result`` with its DEBUG "wrote" lines collected: seconds per file and in all."""
    seen: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = seen.append
    lg = logging.getLogger("territory.io.export")
    old = lg.level
    lg.addHandler(handler)
    lg.setLevel(logging.DEBUG)
    try:
        total, _ = _seconds(write_result, res, out)
    finally:
        lg.removeHandler(handler)
        lg.setLevel(old)
    files = {str(r.args[0]): round(float(r.args[2]), 2) for r in seen
             if r.msg.startswith("wrote")}
    return {**files, "total": round(total, 2)}


def measure(n_accounts: int) -> dict:
    """Old / new seconds of the workbook and the account layer, and the whole write."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        res = planned_book(n_accounts, tmp / "book")
        sheets = _sheets(res)
        new_x, _ = _seconds(write_excel, sheets, tmp / "new.xlsx")
        old_x, _ = _seconds(_old_excel, sheets, tmp / "old.xlsx")
        pdxw, _ = _seconds(_old_excel, sheets, tmp / "pdxw.xlsx", "xlsxwriter")
        raw = {str(r): i for i, r in enumerate(res.reps["rep_id"])}
        old_a, old_rows = _seconds(_old_account_rows, res.accounts, res.reps, raw)
        new_a, new_rows = _seconds(account_rows, res.accounts, res.reps, raw)
        # the same page data; the page lists accounts in Z-order over the map (web.maps)
        assert sorted(map(repr, new_rows)) == sorted(map(repr, old_rows))
        map_s, _ = _seconds(scenario_map, res.units, res.reps, res.accounts, res.scorecard,
                            res.summary)
        files = _file_seconds(res, tmp / "out")
    return {
        "n_accounts": int(len(res.accounts)), "cells_xlsx": int(sum(df.size for df in sheets.values())),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "xlsx": {"old_seconds": round(old_x, 2), "new_seconds": round(new_x, 2),
                 "ratio_old_over_new": round(old_x / new_x, 2),
                 "pandas_xlsxwriter_seconds": round(pdxw, 2)},
        "map_accounts": {"old_seconds": round(old_a, 2), "new_seconds": round(new_a, 2),
                         "ratio_old_over_new": round(old_a / new_a, 2),
                         "whole_map_build_seconds": round(map_s, 2)},
        "write_result_seconds": files,
    }


def run(quick: bool = False) -> dict:
    """``{"writers_<n>_accounts": measure(n)}`` for 100,000 accounts (20,000 when ``quick``)."""
    n = 20_000 if quick else 100_000
    return {f"writers_{n}_accounts": measure(n)}


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
