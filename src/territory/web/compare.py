"""The comparison page: 2–3 scenario results side by side in one offline HTML file.

``compare_page`` reads result folders (the output contract of
:func:`territory.pipeline.write_result`) and writes ``compare.html``: the
scenario maps with synchronised pan and zoom and the same colour for the same
rep everywhere; a scorecard table with the best value of each row
highlighted; inline SVG charts of TAM, account units and drive hours per rep
against their bands; the accounts, units and TAM that change hands between
scenarios and against the current owners; and the list of moved accounts,
sortable, also written as ``moved_accounts_<scenario>.csv`` beside the page
(formula-injection-safe) and downloadable from the page itself.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from markupsafe import Markup

from ..io.export import safe_csv_value, unguard_csv_value
from ..metrics import moved_mask
from ..result import Summary, load_summary
from .assets import render_template, static_text
from .html import (esc, finite_or_none, fmt_hours, fmt_money, js_data, leaflet_css, leaflet_js,
                   map_css, map_js, svg_bar_chart)
from .maps import (approximate_units_label, background_outlines, display_tolerance, rep_colours,
                   routed_share, scenario_data)
from .verdict import Verdict, decide

__all__ = ["compare_page", "load_result", "moved_accounts"]

log = logging.getLogger(__name__)

MAX_ROWS_SHOWN = 2500


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Result:
    dir: Path
    name: str
    summary: Summary
    scorecard: pd.DataFrame
    assignments: pd.DataFrame
    units: pd.DataFrame
    reps: pd.DataFrame
    territories: gpd.GeoDataFrame | None


def _read_csv(path: Path, text: Sequence[str]) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame()
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[])
    for c in df.columns:
        if c in text:
            df[c] = df[c].map(unguard_csv_value)
        else:
            num = pd.to_numeric(df[c], errors="coerce")
            if num.notna().sum() == (df[c] != "").sum():
                df[c] = num
    return df


def load_result(result_dir: str | Path) -> _Result:
    """Read one result folder (``summary.json``, CSVs, ``territories.geojson``)."""
    d = Path(result_dir)
    summary = load_summary(d)
    text_cols = ("rep_id", "name", "flags", "account_id", "zip", "unit_id", "tier",
                 "current_rep", "base_kind", "moved")
    card = _read_csv(d / "scorecard.csv", text_cols)
    if "flags" in card:
        card["flags"] = card["flags"].fillna("").astype(str)
    acc = _read_csv(d / "assignments.csv", text_cols)
    if "moved" in acc:
        acc["moved"] = acc["moved"].astype(str).str.lower().isin(["true", "1"])
    units = _read_csv(d / "units.csv", text_cols)
    reps = _read_csv(d / "reps.csv", text_cols)
    terr = None
    if (d / "territories.geojson").is_file():
        terr = gpd.read_file(d / "territories.geojson")
        terr["rep_id"] = terr["rep_id"].astype(str)
        if terr.crs is None:
            terr = terr.set_crs("EPSG:4326")
    name = summary.scenario or d.name
    return _Result(d, name, summary, card, acc, units, reps, terr)


# ----------------------------------------------------------------------------- metrics


def _flags(card: pd.DataFrame, flag: str) -> int:
    if "flags" not in card or card.empty:
        return 0
    return int(card["flags"].astype(str).str.split(";").map(
        lambda fl: any(f.startswith(flag) for f in fl)).sum())


def _metrics(r: _Result) -> dict[str, Any]:
    s, card = r.summary, r.scorecard
    tam = card["tam"].astype(float) if "tam" in card and len(card) else pd.Series(dtype=float)
    au = (card["account_units"].astype(float) if "account_units" in card and len(card)
          else pd.Series(dtype=float))
    hrs = (card["drive_hours_per_month"].astype(float)
           if "drive_hours_per_month" in card and len(card) else pd.Series(dtype=float))
    thr = s.max_drive_hours_per_month
    band = s.account_units_band
    mean = tam.mean() if len(tam) else None
    out: dict[str, Any] = {
        "status": s.status,
        "status_label": s.status_label,
        "solver": s.solver,
        "gap": finite_or_none(s.mip_gap),
        "tam_min": tam.min() if len(tam) else None,
        "tam_max": tam.max() if len(tam) else None,
        "tam_cv": (tam.std(ddof=0) / mean) if mean else None,
        "tam_dev": (abs(tam / mean - 1).max()) if mean else None,
        "au_min": au.min() if len(au) else None,
        "au_max": au.max() if len(au) else None,
        "out_band": None,
        "tam_out": _flags(card, "tam_band"),
        "hrs_mean": hrs.mean() if len(hrs) else None,
        "hrs_max": hrs.max() if len(hrs) else None,
        "hrs_over": int((hrs > thr).sum()) if len(hrs) else None,
        "contiguous": s.contiguous,
        "acc_moved": finite_or_none(s.accounts_moved),
        "tam_moved": finite_or_none(s.tam_moved),
        "fair": finite_or_none(s.fairness_share),
        "fair_flag": s.fairness_flag or (s.fairness_share is not None
                                         and s.fairness_share < s.fairness_threshold),
        "seconds": finite_or_none(s.solve_seconds),
        "pp_mean": _col_stat(card, "polsby_popper", "mean"),
        "pp_min": _col_stat(card, "polsby_popper", "min"),
        "km_mean": _col_stat(card, "tam_weighted_km", "mean"),
        "thr": thr,
    }
    if len(au):
        out["out_band"] = int(((au < float(band[0]) - 1e-9) | (au > float(band[1]) + 1e-9)).sum())
    if out["acc_moved"] is None and "current_rep" in r.assignments:
        a = r.assignments
        mv = a[moved_mask(a["current_rep"], a["rep_id"])]
        out["acc_moved"], out["tam_moved"] = float(len(mv)), float(mv["revenue"].sum())
    return out


def _col_stat(card: pd.DataFrame, col: str, how: str) -> float | None:
    if col not in card or not len(card):
        return None
    v = pd.to_numeric(card[col], errors="coerce").dropna()
    return finite_or_none(getattr(v, how)()) if len(v) else None


def _fmt_int(x: Any) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.0f}"


def _fmt_pct(x: Any) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1%}"


def _fmt_yes(x: Any) -> str:
    return "—" if x is None else ("yes" if x else "no")


# (label, key, formatter, better: "min" | "max" | "true" | None)
_ROWS: list[tuple[str, str, Callable[[Any], str], str | None]] = [
    ("Solver status", "status_label", lambda x: str(x if x is not None else "—"), None),
    ("MIP gap", "gap", _fmt_pct, "min"),
    ("TAM per rep, min", "tam_min", fmt_money, None),
    ("TAM per rep, max", "tam_max", fmt_money, None),
    ("TAM CV", "tam_cv", _fmt_pct, "min"),
    ("TAM max deviation from mean", "tam_dev", _fmt_pct, "min"),
    ("Reps outside the TAM band", "tam_out", _fmt_int, "min"),
    ("Account units per rep, min", "au_min", _fmt_int, None),
    ("Account units per rep, max", "au_max", _fmt_int, None),
    ("Reps outside the account-units band", "out_band", _fmt_int, "min"),
    ("Drive h/month, mean", "hrs_mean", fmt_hours, "min"),
    ("Drive h/month, max", "hrs_max", fmt_hours, "min"),
    ("Reps above the drive flag", "hrs_over", _fmt_int, "min"),
    ("Contiguous territories", "contiguous", _fmt_yes, "true"),
    ("Compactness (Polsby–Popper), mean", "pp_mean", lambda x: f"{x:.2f}", "max"),
    ("Compactness (Polsby–Popper), least compact", "pp_min", lambda x: f"{x:.2f}", "max"),
    ("TAM-weighted distance to base, km", "km_mean", lambda x: f"{x:,.1f}", None),
    ("Accounts moved vs current", "acc_moved", _fmt_int, "min"),
    ("TAM moved vs current", "tam_moved", fmt_money, "min"),
    ("Fairness (reps equal or better off)", "fair", _fmt_pct, None),
    ("Solve time, s", "seconds", lambda x: "—" if x is None else f"{x:.1f}", None),
]


# red cells: a rule of the playbook is broken
_WARN: dict[str, Callable[[Any, dict], bool]] = {
    "tam_out": lambda v, m: v > 0,
    "out_band": lambda v, m: v > 0,
    "hrs_over": lambda v, m: v > 0,
    "contiguous": lambda v, m: v is False,
    "fair": lambda v, m: bool(m.get("fair_flag")),
    "hrs_max": lambda v, m: v > m["thr"],
}


def _best(values: list[Any], better: str | None) -> set[int]:
    if better is None:
        return set()
    if better == "true":
        return {i for i, v in enumerate(values) if v is True} if len(set(map(bool, [
            v for v in values if v is not None]))) > 1 else set()
    nums = [(i, float(v)) for i, v in enumerate(values)
            if v is not None and not isinstance(v, bool) and finite_or_none(v) is not None]
    if len(nums) < 2:
        return set()
    pick = min if better == "min" else max
    b = pick(v for _, v in nums)
    if all(abs(v - b) <= 1e-9 * max(1, abs(b)) for _, v in nums):
        return set()  # a tie everywhere highlights nothing
    return {i for i, v in nums if abs(v - b) <= 1e-9 * max(1, abs(b))}


def _score_rows(metrics: list[dict], baseline: dict | None = None) -> list[dict]:
    """The scorecard table's rows: label, direction hint, and a text and class per column.

    With ``baseline`` (the current alignment's figures) its column comes first; it is shown for
    reference and never starred. Stars mark the best scenario only in rows where "more" or
    "less" is better whatever the rep count (not per-rep TAM or account-unit extremes, nor
    fairness, which all improve trivially with one rep fewer).
    """
    out = []
    first = [baseline] if baseline is not None else []
    for label, key, fmt, better in _ROWS:
        vals = [m.get(key) for m in first + metrics]
        best = {i + len(first) for i in _best(vals[len(first):], better)}
        metrics_all = first + metrics
        hint = {"min": "lower is better", "max": "higher is better",
                "true": "yes is better"}.get(better or "", "")
        warn = [_WARN[key](v, m) if key in _WARN and v is not None else False
                for v, m in zip(vals, metrics_all)]
        cells = [{"text": fmt(v) if v is not None else "—",
                  "cls": ("best" if i in best else "") + (" warn" if warn[i] else "")}
                 for i, v in enumerate(vals)]
        out.append({"label": label, "hint": hint, "cells": cells})
    return out


# ----------------------------------------------------------------------------- charts


def _charts(results: list[_Result], colours: dict[str, str]) -> list[Markup]:
    """SVG charts, row by row: TAM, account units, drive hours (one per scenario each)."""
    cards = [r.scorecard for r in results]
    tam_max = max([float(c["tam"].max()) for c in cards if "tam" in c and len(c)] or [1.0])
    au_max = max([float(c["account_units"].max()) for c in cards
                  if "account_units" in c and len(c)] or [1.0])
    hr_max = max([float(c["drive_hours_per_month"].max()) for c in cards
                  if "drive_hours_per_month" in c and len(c)] or [1.0])
    rows = {"tam": [], "au": [], "hrs": []}
    for r, card in zip(results, cards):
        if card.empty:
            for k in rows:
                rows[k].append(Markup("<p class='muted'>no scorecard</p>"))
            continue
        s = r.summary
        ids = card["rep_id"].astype(str).tolist()
        names = card["name"].astype(str).tolist() if "name" in card else ids
        cols = [colours.get(i, "#BBBBBB") for i in ids]
        fl = card["flags"].astype(str) if "flags" in card else pd.Series([""] * len(card))
        tam = card["tam"].astype(float).tolist()
        mean = float(np.mean(tam)) if tam else 0.0
        tol = s.tam_tolerance
        rows["tam"].append(svg_bar_chart(
            names, tam, cols, title=f"TAM per rep (band: mean ±{tol:.0%})",
            band=(mean * (1 - tol), mean * (1 + tol)), band_label=f"mean ±{tol:.0%}",
            mean_line=True, value_fmt=fmt_money, vmax=max(tam_max, mean * (1 + tol)),
            flagged=fl.str.contains("tam_band").tolist()))
        band = s.account_units_band
        au = card["account_units"].astype(float).tolist() if "account_units" in card else []
        rows["au"].append(svg_bar_chart(
            names, au, cols, title=f"Account units per rep (band {band[0]:g}–{band[1]:g})",
            band=(float(band[0]), float(band[1])),
            band_label="target band", vmax=max(au_max, float(band[1])),
            flagged=fl.str.contains("units_band").tolist()))
        thr = s.max_drive_hours_per_month
        hrs = (card["drive_hours_per_month"].astype(float).tolist()
               if "drive_hours_per_month" in card else [float("nan")] * len(ids))
        rows["hrs"].append(svg_bar_chart(
            names, hrs, cols, title="Drive hours per month",
            line=thr, line_label=f"flag {thr:g} h", value_fmt=lambda v: f"{v:.1f}",
            vmax=max(hr_max, thr), flagged=[h > thr for h in hrs]))
    # svg_bar_chart escapes every text it draws
    return [Markup(svg) for k in ("tam", "au", "hrs") for svg in rows[k]]


# ----------------------------------------------------------------------------- changes


def _rep_names(results: list[_Result]) -> dict[str, str]:
    names: dict[str, str] = {}
    for r in results:
        for df in (r.reps, r.scorecard):
            if "rep_id" in df and "name" in df:
                for i, n in zip(df["rep_id"], df["name"]):
                    # a placeholder name (the id itself) never hides a real one
                    if str(n) and (str(n) != str(i) or str(i) not in names):
                        names[str(i)] = str(n)
    return names


def moved_accounts(base: pd.DataFrame, other: pd.DataFrame, *, basis: str,
                   scenario: str, names: dict[str, str]) -> pd.DataFrame:
    """Accounts whose rep differs between two assignments (``rep_id`` by ``account_id``).

    With ``base`` None-like (empty), ``other``'s ``current_rep`` is the "from".
    """
    cols = ["scenario", "basis", "account_id", "name", "zip", "tier", "revenue",
            "from_rep", "from_name", "to_rep", "to_name"]
    if other.empty or "account_id" not in other:
        return pd.DataFrame(columns=cols)
    o = other.copy()
    o["account_id"] = o["account_id"].astype(str)
    if base is None or base.empty:
        if "current_rep" not in o:
            return pd.DataFrame(columns=cols)
        o["from_rep"] = o["current_rep"]
    else:
        b = base.assign(account_id=base["account_id"].astype(str)).set_index("account_id")
        o["from_rep"] = o["account_id"].map(b["rep_id"].astype(str))
    mv = o[moved_mask(o["from_rep"], o["rep_id"])].copy()
    mv["from_rep"], mv["to_rep"] = mv["from_rep"].astype(str), mv["rep_id"].astype(str)
    mv["scenario"], mv["basis"] = scenario, basis
    mv["from_name"] = mv["from_rep"].map(lambda x: names.get(x, x))
    mv["to_name"] = mv["to_rep"].map(lambda x: names.get(x, x))
    for c in cols:
        if c not in mv:
            mv[c] = ""
    mv = mv[cols].sort_values(["revenue", "account_id"], ascending=[False, True])
    return mv.reset_index(drop=True)


def _units_moved(a: pd.DataFrame, b: pd.DataFrame) -> int | None:
    if a.empty or b.empty or "unit_id" not in a or "unit_id" not in b:
        return None
    m = a.set_index("unit_id")["rep_id"].astype(str)
    o = b.set_index("unit_id")["rep_id"].astype(str)
    common = m.index.intersection(o.index)
    return int((m[common] != o[common]).sum())


def _flows(mv: pd.DataFrame, colours: dict[str, str], limit: int = 8) -> tuple[list[dict], int]:
    """The largest rep-to-rep flows of moved accounts, and how many more there are."""
    if mv.empty:
        return [], 0
    g = (mv.groupby(["from_rep", "from_name", "to_rep", "to_name"])
         .agg(n=("account_id", "size"), tam=("revenue", "sum")).reset_index()
         .sort_values(["tam", "n"], ascending=False))
    items = [{"from_colour": colours.get(r.from_rep, "#bbb"), "from_name": r.from_name,
              "to_colour": colours.get(r.to_rep, "#bbb"), "to_name": r.to_name,
              "text": f"{r.n:,} acct, {fmt_money(float(r.tam))}"} for r in g.head(limit).itertuples()]
    return items, max(len(g) - limit, 0)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "scenario"


def _csv_text(df: pd.DataFrame) -> str:
    safe = df.copy()
    for c in safe.columns:
        if safe[c].dtype == object or pd.api.types.is_string_dtype(safe[c]):
            safe[c] = safe[c].map(safe_csv_value)
    buf = io.StringIO()
    safe.to_csv(buf, index=False, lineterminator="\n", float_format="%.10g")
    return buf.getvalue()


# ----------------------------------------------------------------------------- page


def _cards(results: list[_Result]) -> list[dict]:
    """One summary card per scenario: status, size, drive-time source, rules broken."""
    out = []
    for r in results:
        s = r.summary
        routed = routed_share(r.scorecard)
        legs = (f", {routed:.0%} of legs routed" if routed is not None and routed < 0.999 else "")
        badges = [{"text": "Drive times: OpenStreetMap road network" + legs,
                   "cls": "est" if legs else "", "title": "the rest are straight-line estimates"
                   if legs else ""}
                  if s.travel_source == "osm" else
                  {"text": "Drive times: straight-line ESTIMATE", "cls": "est", "title": ""}]
        approx = approximate_units_label(s)
        if approx:
            badges.append({"text": "ZIP areas: APPROXIMATE", "cls": "est", "title": approx})
        status = s.status
        viol = s.violations
        if status == "scored":  # a plan made by hand (territory score)
            badges.append({"text": "made by hand", "cls": "", "title": s.plan_source or ""})
        if viol:
            badges.append({"text": f"{len(viol)} rule(s) broken", "cls": "bad",
                           "title": "; ".join(map(str, viol))})
        out.append({"name": r.name, "description": s.description,
                    "status": s.status_label,
                    "ok": status.lower() in ("optimal", "current alignment", "feasible", "scored"),
                    "n_reps": s.n_reps if s.n_reps is not None else "?",
                    "n_units": s.n_units if s.n_units is not None else "?",
                    "unit_level": s.unit_level, "badges": badges})
    return out


def compare_page(result_dirs: list[Path], out: Path) -> Path:
    """Write ``compare.html`` for 2–3 result folders, and ``moved_accounts_*.csv`` beside it.

    Steps: read the folders (and a sibling ``current`` one), pick one colour per
    rep and one view for all maps, build each map's data, the changes between
    scenarios, the moved-accounts CSV files, and render the page template.

    Parameters
    ----------
    result_dirs
        Result folders written by :func:`territory.pipeline.write_result`; the
        first is the reference the others are compared with. A sibling
        ``current`` folder (the current alignment), when present, is drawn as a
        toggle layer on each map.
    out
        Path of the HTML file to write (its folder is created).

    Returns
    -------
    Path
        ``out``.
    """
    dirs = [Path(d) for d in result_dirs]
    if not 1 <= len(dirs) <= 3:
        raise ValueError(f"compare_page takes 1 to 3 result folders, got {len(dirs)}")
    results, current = _load_results(dirs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sets = [r.territories for r in results + ([current] if current else [])
            if r.territories is not None and len(r.territories)]
    colours = rep_colours(sets) if sets else {}
    bounds = _common_bounds(sets)
    bg = background_outlines(bounds, display_tolerance(bounds)) if bounds else None
    datas = [_map_data(r, current, colours, bounds) for r in results]
    names = _rep_names(results + ([current] if current else []))
    moved_frames, changes = _changes(results, current, names, colours)
    csv_links = [_write_moved_csv(r, frame, out.parent) for r, frame in zip(results, moved_frames)]
    metrics = [_metrics(r) for r in results]
    baseline = _metrics(current) if current is not None else None
    extras = {"baseline_name": current.name if current is not None else None,
              "verdict": _verdict(results, metrics, baseline),
              "fairness": _fairness_notes(results, current),
              "mismatch": _mismatch(results + ([current] if current is not None else []))}
    for line in extras["mismatch"]:
        log.warning("%s", line)
    page = _page(results, datas, bg, colours, metrics, changes, moved_frames, csv_links,
                 baseline=baseline, **extras)
    out.write_text(page, encoding="utf-8")
    return out


def _load_results(dirs: list[Path]) -> tuple[list[_Result], _Result | None]:
    """The scenarios (duplicate names get the folder as a suffix) and the current alignment."""
    results = [load_result(d) for d in dirs]
    seen: set[str] = set()
    for i, r in enumerate(results):
        if r.name in seen:
            results[i] = dataclasses.replace(r, name=f"{r.name} ({r.dir.name})")
        seen.add(r.name)
    current_dir = next((d.parent / "current" for d in dirs
                        if (d.parent / "current" / "territories.geojson").is_file()
                        and d.name != "current"), None)
    return results, (load_result(current_dir) if current_dir is not None else None)


def _common_bounds(sets: list[gpd.GeoDataFrame]) -> tuple[float, ...] | None:
    """One extent for all maps (they pan and zoom together)."""
    if not sets:
        return None
    tb = np.array([s.to_crs("EPSG:4326").total_bounds for s in sets])
    return (tb[:, 0].min(), tb[:, 1].min(), tb[:, 2].max(), tb[:, 3].max())


def _map_data(r: _Result, current: _Result | None, colours: dict[str, str],
              bounds: tuple[float, ...] | None) -> dict | None:
    """The map data of one scenario's territories (None when it has no plan)."""
    if r.territories is None or not len(r.territories):
        return None
    reps = r.reps if not r.reps.empty else pd.DataFrame(
        {"rep_id": r.territories["rep_id"],
         "name": r.territories.get("name", r.territories["rep_id"]), "lon": np.nan, "lat": np.nan})
    card = r.scorecard if not r.scorecard.empty else r.territories.drop(columns="geometry")
    cur = None
    if current is not None and current.territories is not None:
        cur = current.territories.rename(columns={"rep_id": "current_rep"})
    d = scenario_data(r.territories, reps, None, card, r.summary, current=cur, colours=colours,
                      background=False, unit_layer=False)
    d["legend"] = None
    if bounds is not None:
        d["bounds"] = [[bounds[1], bounds[0]], [bounds[3], bounds[2]]]
    return d


def _changes(results: list[_Result], current: _Result | None, names: dict[str, str],
             colours: dict[str, str]) -> tuple[list[pd.DataFrame], list[dict]]:
    """Moved accounts per scenario (vs current owner and vs the first) and the change rows."""
    first = results[0]
    frames: list[pd.DataFrame] = []
    rows: list[dict] = []
    for i, r in enumerate(results):
        vs_cur = moved_accounts(pd.DataFrame(), r.assignments, basis="vs current owner",
                                scenario=r.name, names=names)
        vs_first = (moved_accounts(first.assignments, r.assignments, basis=f"vs {first.name}",
                                   scenario=r.name, names=names) if i > 0 else None)
        parts = [f for f in (vs_cur, vs_first) if f is not None]
        frames.append(pd.concat(parts, ignore_index=True) if parts else pd.DataFrame())
        has_cur = "current_rep" in r.assignments and (r.assignments["current_rep"] != "").any()
        rows.append(_change_row(r, vs_cur if has_cur else None,
                                _units_moved(current.units, r.units) if current is not None else None,
                                vs_first, _units_moved(first.units, r.units) if i > 0 else None,
                                colours, first.name))
    return frames, rows


def _change_row(r: _Result, vs_cur: pd.DataFrame | None, units_cur: int | None,
                vs_first: pd.DataFrame | None, units_first: int | None,
                colours: dict[str, str], first: str) -> dict:
    def n(df: pd.DataFrame | None) -> str:
        return "—" if df is None else f"{len(df):,}"

    def t(df: pd.DataFrame | None) -> str:
        return "—" if df is None else fmt_money(float(df["revenue"].sum()) if len(df) else 0.0)

    flows = vs_first if vs_first is not None else vs_cur
    label = "" if flows is None else ("vs " + (first if vs_first is not None else "current"))
    items, more = _flows(flows, colours) if flows is not None else (None, 0)
    return {"name": r.name, "label": label, "flows": items, "more": more,
            "figures": [n(vs_cur), _fmt_int(units_cur), t(vs_cur), n(vs_first),
                       _fmt_int(units_first), t(vs_first)]}


def _write_moved_csv(r: _Result, frame: pd.DataFrame, folder: Path) -> dict:
    """``moved_accounts_<scenario>.csv`` beside the page, and its download link (a data URI)."""
    fname = f"moved_accounts_{_slug(r.name)}.csv"
    text = _csv_text(frame)
    (folder / fname).write_text(text, encoding="utf-8", newline="")
    uri = "data:text/csv;charset=utf-8;base64," + base64.b64encode(text.encode()).decode()
    return {"name": fname, "uri": uri, "rows": f"{len(frame):,}"}


_MOVED_COLUMNS = [("scenario", "Scenario", 0), ("basis", "Compared with", 0),
                  ("account_id", "Account", 0), ("name", "Name", 0), ("tier", "Tier", 0),
                  ("revenue", "Revenue", 1), ("from_name", "From", 0), ("to_name", "To", 0)]


def _moved_table(frames: list[pd.DataFrame]) -> dict:
    """The moved-accounts table (at most ``MAX_ROWS_SHOWN`` rows; the CSV files hold all)."""
    parts = [f for f in frames if len(f)]
    allm = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    rows = []
    for row in allm.head(MAX_ROWS_SHOWN).itertuples(index=False):
        d = row._asdict()
        cells = []
        for key, _, num in _MOVED_COLUMNS:
            v = d.get(key, "")
            if num:
                fv = finite_or_none(v) or 0.0
                cells.append({"num": 1, "value": f"{fv:.2f}", "text": fmt_money(fv)})
            else:
                cells.append({"num": 0, "text": "" if v is None or pd.isna(v) else v})
        rows.append(cells)
    return {"head": [{"label": lab, "num": num} for _, lab, num in _MOVED_COLUMNS],
            "rows": rows, "total": len(allm)}


def _footer(results: list[_Result]) -> list[str]:
    srcs = {r.summary.travel_source for r in results}
    footer = []
    if "osm" in srcs:
        footer.append("Drive times from the OpenStreetMap road network, "
                      "© OpenStreetMap contributors (ODbL).")
    if srcs - {"osm"}:
        footer.append("Drive times marked ESTIMATE are straight-line distances times a detour "
                      "factor, not road routes.")
    footer.append("Background: US Census cartographic boundaries (via plotly-geo).")
    return footer


def _verdict(results: list[_Result], metrics: list[dict], baseline: dict | None) -> Verdict:
    figures = {r.name: m for r, m in zip(results, metrics)}
    key = "current alignment" if baseline is not None else None
    if baseline is not None:
        figures = {key: baseline, **figures}
    return decide(figures, current=key)


def _fairness_notes(results: list[_Result], current: _Result | None) -> list[str]:
    """One sentence per scenario whose fairness check names reps worse off, with by how much."""
    if current is None or current.scorecard.empty:
        return []
    before = current.scorecard.assign(rep_id=current.scorecard["rep_id"].astype(str)).set_index("rep_id")
    notes = []
    for r in results:
        worse = [str(x) for x in r.summary.worse_off_reps]
        if not worse or r.scorecard.empty:
            continue
        after = r.scorecard.assign(rep_id=r.scorecard["rep_id"].astype(str)).set_index("rep_id")
        parts = []
        for rid in worse:
            if rid not in after.index or rid not in before.index:
                continue
            name = str(after.at[rid, "name"]) if "name" in after else rid
            t0, t1 = float(before.at[rid, "tam"]), float(after.at[rid, "tam"])
            u0, u1 = int(before.at[rid, "account_units"]), int(after.at[rid, "account_units"])
            change = f"TAM {t1 / t0 - 1:+.0%}" if t0 > 0 else "TAM new"
            parts.append(f"{name} ({change}, account units {u0} → {u1})")
        n = len(r.scorecard)
        notes.append(f"{r.name}: {len(worse)} of {n} reps are worse off than today: "
                     + "; ".join(parts) + ".")
    return notes


def _mismatch(results: list[_Result]) -> list[str]:
    """Warnings when the plans compared do not share their accounts or their region."""
    out = []
    ref = results[0]
    ref_acc = set(ref.assignments.get("account_id", pd.Series(dtype=str)).astype(str))
    ref_units = set(ref.units.get("unit_id", pd.Series(dtype=str)).astype(str))
    for r in results[1:]:
        acc = set(r.assignments.get("account_id", pd.Series(dtype=str)).astype(str))
        units = set(r.units.get("unit_id", pd.Series(dtype=str)).astype(str))
        if acc != ref_acc:
            out.append(f"{r.name} and {ref.name} do not plan the same accounts "
                       f"({len(acc - ref_acc)} only in {r.name}, {len(ref_acc - acc)} only in "
                       f"{ref.name}): their figures are not comparable.")
        if units != ref_units:
            out.append(f"{r.name} and {ref.name} do not cover the same region "
                       f"({len(units - ref_units)} units only in {r.name}, "
                       f"{len(ref_units - units)} only in {ref.name}).")
    return out


def _page(results, datas, bg, colours, metrics, changes, moved_frames, csv_links, *,
          baseline: dict | None = None, baseline_name: str | None = None,
          verdict: Verdict | None = None, fairness: Sequence[str] = (),
          mismatch: Sequence[str] = ()) -> str:
    """Render ``templates/compare.html`` (autoescaped; only assets and SVG are Markup)."""
    names = _rep_names(results)
    legend = [{"colour": c, "name": names.get(rid, rid)}
              for rid, c in sorted(colours.items(), key=lambda kv: names.get(kv[0], kv[0]))]
    maps = [{"name": r.name, "drawn": d is not None,
             "status": r.summary.status_label if r.summary.status else "no plan"} for r, d in zip(results, datas)]
    data_js = f"var TT_DATA = {js_data(datas)}; var TT_BG = {js_data(bg)};"
    return render_template(
        "compare.html", n=len(results), names=[r.name for r in results],
        when=dt.datetime.now().strftime("%Y-%m-%d %H:%M"), cards=_cards(results),
        legend=legend, maps=maps, score_rows=_score_rows(metrics, baseline),
        score_names=([baseline_name] if baseline is not None else []) + [r.name for r in results],
        has_baseline=baseline is not None, verdict=verdict, fairness=list(fairness),
        mismatch=list(mismatch),
        charts=_charts(results, colours), first=results[0].name, changes=changes,
        csv_links=csv_links, moved=_moved_table(moved_frames), footer=_footer(results),
        styles=[Markup(c) for c in (leaflet_css(), map_css(), static_text("compare.css"))],
        scripts=[Markup(j) for j in (leaflet_js(), map_js(), data_js,
                                     static_text("compare.js"))])
