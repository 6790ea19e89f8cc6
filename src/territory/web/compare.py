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

from .html import (CSS, esc, finite_or_none, fmt_hours, fmt_money, js_data, leaflet_css,
                    leaflet_js, svg_bar_chart)
from .html import JS as MAP_JS
from .maps import background_outlines, display_tolerance, rep_colours, scenario_data

from ..io.export import safe_csv_value, unguard_csv_value
from ..metrics import moved_mask
from ..result import Summary, load_summary

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
        "thr": thr,
    }
    if len(au):
        out["out_band"] = int(((au < float(band[0]) - 1e-9) | (au > float(band[1]) + 1e-9)).sum())
    if out["acc_moved"] is None and "current_rep" in r.assignments:
        a = r.assignments
        mv = a[moved_mask(a["current_rep"], a["rep_id"])]
        out["acc_moved"], out["tam_moved"] = float(len(mv)), float(mv["revenue"].sum())
    return out


def _fmt_int(x: Any) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.0f}"


def _fmt_pct(x: Any) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1%}"


def _fmt_yes(x: Any) -> str:
    return "—" if x is None else ("yes" if x else "no")


# (label, key, formatter, better: "min" | "max" | "true" | None)
_ROWS: list[tuple[str, str, Callable[[Any], str], str | None]] = [
    ("Solver status", "status", lambda x: esc(x if x is not None else "—"), None),
    ("MIP gap", "gap", _fmt_pct, "min"),
    ("TAM per rep, min", "tam_min", fmt_money, "max"),
    ("TAM per rep, max", "tam_max", fmt_money, "min"),
    ("TAM CV", "tam_cv", _fmt_pct, "min"),
    ("TAM max deviation from mean", "tam_dev", _fmt_pct, "min"),
    ("Reps outside the TAM band", "tam_out", _fmt_int, "min"),
    ("Account units per rep, min", "au_min", _fmt_int, "max"),
    ("Account units per rep, max", "au_max", _fmt_int, "min"),
    ("Reps outside the account-units band", "out_band", _fmt_int, "min"),
    ("Drive h/month, mean", "hrs_mean", fmt_hours, "min"),
    ("Drive h/month, max", "hrs_max", fmt_hours, "min"),
    ("Reps above the drive flag", "hrs_over", _fmt_int, "min"),
    ("Contiguous territories", "contiguous", _fmt_yes, "true"),
    ("Accounts moved vs current", "acc_moved", _fmt_int, "min"),
    ("TAM moved vs current", "tam_moved", fmt_money, "min"),
    ("Fairness (reps equal or better off)", "fair", _fmt_pct, "max"),
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


def _scorecard_table(results: list[_Result], metrics: list[dict]) -> str:
    head = "".join(f"<th>{esc(r.name)}</th>" for r in results)
    rows = [f"<table class='score'><thead><tr><th class='l'>Metric</th>{head}</tr></thead><tbody>"]
    for label, key, fmt, better in _ROWS:
        vals = [m.get(key) for m in metrics]
        best = _best(vals, better)
        hint = {"min": "lower is better", "max": "higher is better",
                "true": "yes is better"}.get(better or "", "")
        warn = [_WARN[key](v, m) if key in _WARN and v is not None else False
                for v, m in zip(vals, metrics)]
        cells = "".join(
            f"<td class='{'best' if i in best else ''}{' warn' if warn[i] else ''}'>"
            f"{fmt(v) if v is not None else '—'}</td>"
            for i, v in enumerate(vals))
        rows.append(f"<tr><th class='l' title='{esc(hint)}'>{esc(label)}</th>{cells}</tr>")
    rows.append("</tbody></table>")
    return "".join(rows)


# ----------------------------------------------------------------------------- charts


def _charts(results: list[_Result], colours: dict[str, str]) -> str:
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
                rows[k].append("<p class='muted'>no scorecard</p>")
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
    n = len(results)
    out = [f"<div class='grid cols{n}'>"]
    for k in ("tam", "au", "hrs"):
        out.extend(f"<div class='cell'>{svg}</div>" for svg in rows[k])
    out.append("</div>")
    return "".join(out)


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


def _flows(mv: pd.DataFrame, colours: dict[str, str], limit: int = 8) -> str:
    if mv.empty:
        return "<span class='muted'>none</span>"
    g = (mv.groupby(["from_rep", "from_name", "to_rep", "to_name"])
         .agg(n=("account_id", "size"), tam=("revenue", "sum")).reset_index()
         .sort_values(["tam", "n"], ascending=False))
    items = []
    for r in g.head(limit).itertuples():
        items.append(
            f"<li><span class='sw' style='background:{colours.get(r.from_rep, '#bbb')}'></span>"
            f"{esc(r.from_name)} → <span class='sw' style='background:"
            f"{colours.get(r.to_rep, '#bbb')}'></span>{esc(r.to_name)}: "
            f"{r.n:,} acct, {fmt_money(float(r.tam))}</li>")
    more = f"<li class='muted'>… {len(g) - limit} more flows</li>" if len(g) > limit else ""
    return f"<ul class='flows'>{''.join(items)}{more}</ul>"


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


_PAGE_CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#f6f7f9}
header{padding:16px 24px 8px;background:#fff;border-bottom:1px solid #e1e4e8}
header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#57606a}
main{padding:8px 24px 40px}
h2{font-size:18px;margin:26px 0 8px;border-bottom:2px solid #e1e4e8;padding-bottom:4px}
.grid{display:grid;gap:14px}
.grid.cols1{grid-template-columns:1fr}.grid.cols2{grid-template-columns:repeat(2,minmax(0,1fr))}.grid.cols3{grid-template-columns:repeat(3,minmax(0,1fr))}
.card{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:10px 12px}
.card h3{margin:0 0 2px;font-size:16px}
.card .desc{color:#57606a;font-size:13px;min-height:1.4em}
.badge{display:inline-block;font-size:12px;padding:1px 7px;border-radius:10px;background:#e8f0fe;color:#1a4d8f;margin:4px 4px 0 0}
.badge.est{background:#fff4d6;color:#7a5600;border:1px solid #d9a400;font-weight:600}
.badge.bad{background:#fde7ea;color:#B00020}
.badge.ok{background:#e6f4ea;color:#17602a}
.mapbox{background:#fff;border:1px solid #e1e4e8;border-radius:8px;overflow:hidden}
.mapbox h3{margin:0;padding:6px 10px;font-size:15px;border-bottom:1px solid #e1e4e8}
.map{height:520px}
.noplan{height:520px;display:flex;align-items:center;justify-content:center;color:#B00020}
.hint{color:#57606a;font-size:12.5px;margin:6px 0 0}
.replegend{display:flex;flex-wrap:wrap;gap:4px 14px;margin:10px 0 6px;font-size:13px}
.sw{display:inline-block;width:13px;height:11px;border:1px solid #555;margin-right:4px;vertical-align:-1px;opacity:.85}
table{border-collapse:collapse;background:#fff}
table.score{min-width:60%}
table.score th,table.score td{border:1px solid #e1e4e8;padding:4px 10px;text-align:right}
table.score th.l{text-align:left;font-weight:500;cursor:help}
table.score thead th{background:#f0f2f5;text-align:center}
td.best{background:#d8f3dc;font-weight:700;color:#0f5132}
td.best::after{content:" ★";color:#2d6a4f;font-size:11px}
td.warn{color:#B00020;font-weight:700}
td.warn::before{content:"⚑ ";font-size:11px}
.cell{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:6px;overflow-x:auto}
svg.chart{width:100%;max-width:680px;height:auto;font:11px system-ui,sans-serif}
svg.chart .ct{font-weight:600;font-size:12px}
svg.chart .band{fill:#2d6a4f;fill-opacity:.12}
svg.chart .band-edge{stroke:#2d6a4f;stroke-dasharray:3 2;stroke-width:1}
svg.chart .mean{stroke:#333;stroke-width:1}
svg.chart .threshold{stroke:#D1002C;stroke-width:2}
svg.chart .cl{fill:#57606a;font-size:10px}
svg.chart .thr{fill:#D1002C;font-weight:600}
svg.chart .flag{fill:#B00020;font-weight:700}
table.changes th,table.changes td{border:1px solid #e1e4e8;padding:4px 10px;text-align:right;vertical-align:top}
table.changes th{background:#f0f2f5}
table.changes td.l,table.changes th.l{text-align:left}
ul.flows{margin:0;padding-left:16px;text-align:left;font-size:12.5px}
.muted{color:#8c959f}
.tools{margin:6px 0;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
.tools a.dl{display:inline-block;padding:4px 10px;border:1px solid #1a4d8f;border-radius:6px;color:#1a4d8f;text-decoration:none;font-size:13px}
.tools a.dl:hover{background:#e8f0fe}
.tools input{padding:4px 8px;border:1px solid #c9ced6;border-radius:6px;min-width:240px}
.scroll{max-height:520px;overflow:auto;border:1px solid #e1e4e8;border-radius:6px}
table.moved{width:100%;font-size:13px}
table.moved th{position:sticky;top:0;background:#f0f2f5;cursor:pointer;user-select:none;white-space:nowrap}
table.moved th::after{content:" ⇅";color:#8c959f;font-size:11px}
table.moved th.asc::after{content:" ▲";color:#1f2328}
table.moved th.desc::after{content:" ▼";color:#1f2328}
table.moved th,table.moved td{padding:3px 8px;border-bottom:1px solid #eef0f3;text-align:left}
table.moved td.num{text-align:right}
footer{color:#57606a;font-size:12px;padding:12px 24px;border-top:1px solid #e1e4e8;background:#fff}
"""

_PAGE_JS = r"""
(function () {
  var maps = [];
  var bg = TT_BG;
  TT_DATA.forEach(function (D, i) {
    var el = document.getElementById("map_" + i);
    if (!el || !D) { maps.push(null); return; }
    var m = L.map(el, {zoomSnap: 0.25, attributionControl: true});
    D.background = bg;
    var G = {background: L.layerGroup().addTo(m), territories: L.layerGroup().addTo(m),
             labels: L.layerGroup().addTo(m), bases: L.layerGroup().addTo(m)};
    var overlays = {"Rep names": G.labels, "Rep bases": G.bases};
    if (D.current) { G.current = L.layerGroup(); overlays["Current alignment (dotted)"] = G.current; }
    L.control.layers(null, overlays, {collapsed: true}).addTo(m);
    L.control.scale({imperial: true}).addTo(m);
    TT.scenario(m, D, G);
    maps.push(m);
  });
  var live = maps.filter(function (m) { return m; });
  TT.sync(live);
  window.TT_MAPS = live;
  // sortable tables
  document.querySelectorAll("table.sortable").forEach(function (t) {
    t.querySelectorAll("th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var asc = !th.classList.contains("asc");
        t.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
        th.classList.add(asc ? "asc" : "desc");
        var body = t.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        var num = th.dataset.num === "1";
        rows.sort(function (a, b) {
          var x = a.cells[col].dataset.v !== undefined ? a.cells[col].dataset.v : a.cells[col].textContent;
          var y = b.cells[col].dataset.v !== undefined ? b.cells[col].dataset.v : b.cells[col].textContent;
          var r = num ? (parseFloat(x) - parseFloat(y)) : x.localeCompare(y);
          return asc ? r : -r;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  var f = document.getElementById("moved-filter");
  if (f) f.addEventListener("input", function () {
    var q = f.value.toLowerCase();
    document.querySelectorAll("table.moved tbody tr").forEach(function (r) {
      r.style.display = r.textContent.toLowerCase().indexOf(q) >= 0 ? "" : "none";
    });
  });
})();
"""


def _cards(results: list[_Result]) -> str:
    out = [f"<div class='grid cols{len(results)}'>"]
    for r in results:
        s = r.summary
        src = s.travel_source
        badge = ("<span class='badge'>Drive times: OpenStreetMap road network</span>" if src == "osm"
                 else "<span class='badge est'>Drive times: straight-line ESTIMATE</span>")
        status = s.status
        ok = status.lower() in ("optimal", "current alignment") or "feasible" == status.lower()
        viol = s.violations
        out.append(
            f"<div class='card'><h3>{esc(r.name)}</h3><div class='desc'>"
            f"{esc(s.description)}</div>"
            f"<span class='badge {'ok' if ok else 'bad'}'>{esc(status or 'unknown')}</span>"
            f"<span class='badge'>{esc(s.n_reps if s.n_reps is not None else '?')} reps · "
            f"{esc(s.n_units if s.n_units is not None else '?')} "
            f"{esc(s.unit_level)} units</span>{badge}"
            + (f"<span class='badge bad' title='{esc('; '.join(map(str, viol)))}'>"
               f"{len(viol)} rule(s) broken</span>" if viol else "")
            + "</div>")
    out.append("</div>")
    return "".join(out)


def compare_page(result_dirs: list[Path], out: Path) -> Path:
    """Write ``compare.html`` for 2–3 result folders, and ``moved_accounts_*.csv`` beside it.

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
    results = [load_result(d) for d in dirs]
    seen: dict[str, int] = {}
    for i, r in enumerate(results):  # duplicate scenario names get a suffix
        if r.name in seen:
            results[i] = dataclasses.replace(r, name=f"{r.name} ({r.dir.name})")
        seen[r.name] = i
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)

    current_dir = next((d.parent / "current" for d in dirs
                        if (d.parent / "current" / "territories.geojson").is_file()
                        and d.name != "current"), None)
    current = load_result(current_dir) if current_dir is not None else None
    sets = [r.territories for r in results if r.territories is not None and len(r.territories)]
    if current is not None and current.territories is not None:
        sets.append(current.territories)
    colours = rep_colours(sets) if sets else {}
    names = _rep_names(results + ([current] if current else []))

    # one background and one view for all maps
    bounds = None
    if sets:
        tb = np.array([s.to_crs("EPSG:4326").total_bounds for s in sets])
        bounds = (tb[:, 0].min(), tb[:, 1].min(), tb[:, 2].max(), tb[:, 3].max())
    bg = background_outlines(bounds, display_tolerance(bounds)) if bounds else None

    datas: list[dict | None] = []
    for r in results:
        if r.territories is None or not len(r.territories):
            datas.append(None)
            continue
        reps = r.reps if not r.reps.empty else pd.DataFrame(
            {"rep_id": r.territories["rep_id"], "name": r.territories.get("name", r.territories["rep_id"]),
             "lon": np.nan, "lat": np.nan})
        card = r.scorecard if not r.scorecard.empty else r.territories.drop(columns="geometry")
        cur = None
        if current is not None and current.territories is not None:
            cur = current.territories.rename(columns={"rep_id": "current_rep"})
        d = scenario_data(r.territories, reps, None, card, r.summary, current=cur,
                          colours=colours, background=False, unit_layer=False)
        d["legend"] = None
        if bounds is not None:
            d["bounds"] = [[bounds[1], bounds[0]], [bounds[3], bounds[2]]]
        datas.append(d)

    metrics = [_metrics(r) for r in results]

    # changes vs the first scenario and vs the current owners
    moved_frames: list[pd.DataFrame] = []
    change_rows = []
    first = results[0]
    for i, r in enumerate(results):
        vs_cur = moved_accounts(pd.DataFrame(), r.assignments, basis="vs current owner",
                                scenario=r.name, names=names)
        vs_first = (moved_accounts(first.assignments, r.assignments, basis=f"vs {first.name}",
                                   scenario=r.name, names=names) if i > 0 else None)
        frames = [f for f in (vs_cur, vs_first) if f is not None]
        both = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        moved_frames.append(both)
        units_cur = (_units_moved(current.units, r.units) if current is not None else None)
        has_cur = "current_rep" in r.assignments and (r.assignments["current_rep"] != "").any()
        change_rows.append(
            (r, vs_cur if has_cur else None, units_cur, vs_first,
             _units_moved(first.units, r.units) if i > 0 else None))

    csv_links = []
    for r, frame in zip(results, moved_frames):
        fname = f"moved_accounts_{_slug(r.name)}.csv"
        text = _csv_text(frame)
        (out.parent / fname).write_text(text, encoding="utf-8", newline="")
        uri = "data:text/csv;charset=utf-8;base64," + base64.b64encode(text.encode()).decode()
        csv_links.append(f"<a class='dl' download='{esc(fname)}' href='{uri}'>⬇ {esc(fname)} "
                         f"({len(frame):,} rows)</a>")

    html = _page(results, datas, bg, colours, metrics, change_rows, moved_frames, csv_links)
    out.write_text(html, encoding="utf-8")
    return out


def _change_table(change_rows: list, colours: dict[str, str], first: str) -> str:
    head = ("<table class='changes'><thead><tr><th class='l'>Scenario</th>"
            "<th>Accounts moved<br>vs current owner</th><th>Units moved<br>vs current</th>"
            "<th>TAM moved<br>vs current</th>"
            f"<th>Accounts moved<br>vs {esc(first)}</th><th>Units moved<br>vs {esc(first)}</th>"
            f"<th>TAM moved<br>vs {esc(first)}</th><th class='l'>Largest flows (from → to)</th>"
            "</tr></thead><tbody>")
    rows = [head]
    for r, vs_cur, units_cur, vs_first, units_first in change_rows:
        def n(df):
            return "—" if df is None else f"{len(df):,}"

        def t(df):
            return "—" if df is None else fmt_money(float(df["revenue"].sum()) if len(df) else 0.0)

        flows = vs_first if vs_first is not None else vs_cur
        label = "" if flows is None else ("vs " + (first if vs_first is not None else "current"))
        rows.append(
            f"<tr><td class='l'><b>{esc(r.name)}</b></td><td>{n(vs_cur)}</td>"
            f"<td>{_fmt_int(units_cur)}</td><td>{t(vs_cur)}</td><td>{n(vs_first)}</td>"
            f"<td>{_fmt_int(units_first)}</td><td>{t(vs_first)}</td><td class='l'>"
            f"<div class='muted'>{esc(label)}</div>"
            f"{_flows(flows, colours) if flows is not None else '—'}</td></tr>")
    rows.append("</tbody></table>")
    return "".join(rows)


def _moved_table(frames: list[pd.DataFrame]) -> str:
    allm = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(
        len(f) for f in frames) else pd.DataFrame()
    if allm.empty:
        return "<p class='muted'>No account changes hands.</p>"
    cols = [("scenario", "Scenario", 0), ("basis", "Compared with", 0),
            ("account_id", "Account", 0), ("name", "Name", 0), ("tier", "Tier", 0),
            ("revenue", "Revenue", 1), ("from_name", "From", 0), ("to_name", "To", 0)]
    head = "".join(f"<th data-num='{num}'>{esc(lab)}</th>" for _, lab, num in cols)
    body = []
    for row in allm.head(MAX_ROWS_SHOWN).itertuples(index=False):
        d = row._asdict()
        cells = []
        for key, _, num in cols:
            v = d.get(key, "")
            if num:
                fv = finite_or_none(v) or 0.0
                cells.append(f"<td class='num' data-v='{fv:.2f}'>{fmt_money(fv)}</td>")
            else:
                cells.append(f"<td>{esc(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = (f"<p class='hint'>Showing the first {MAX_ROWS_SHOWN:,} of {len(allm):,} rows; "
            f"the CSV files hold all.</p>" if len(allm) > MAX_ROWS_SHOWN else "")
    return (f"<div class='scroll'><table class='moved sortable'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>{note}")


def _page(results, datas, bg, colours, metrics, change_rows, moved_frames, csv_links) -> str:
    n = len(results)
    names = _rep_names(results)
    legend = "".join(
        f"<span><span class='sw' style='background:{c}'></span>{esc(names.get(rid, rid))}</span>"
        for rid, c in sorted(colours.items(), key=lambda kv: names.get(kv[0], kv[0])))
    maps = [f"<div class='grid cols{n}'>"]
    for i, (r, d) in enumerate(zip(results, datas)):
        body = (f"<div id='map_{i}' class='map tt-map-small'></div>" if d is not None else
                f"<div class='noplan'>{esc(r.summary.status or 'no plan')}: no territories</div>")
        maps.append(f"<div class='mapbox'><h3>{esc(r.name)}</h3>{body}</div>")
    maps.append("</div>")
    srcs = {r.summary.travel_source for r in results}
    footer = []
    if "osm" in srcs:
        footer.append("Drive times from the OpenStreetMap road network, "
                      "© OpenStreetMap contributors (ODbL).")
    if srcs - {"osm"}:
        footer.append("Drive times marked ESTIMATE are straight-line distances times a detour "
                      "factor, not road routes.")
    footer.append("Background: US Census cartographic boundaries (via plotly-geo).")
    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Territory scenarios compared — {esc(' · '.join(r.name for r in results))}</title>
<style>{leaflet_css()}</style>
<style>{CSS}</style>
<style>{_PAGE_CSS}</style>
</head><body>
<header><h1>Territory scenarios compared</h1>
<p>{esc(' vs '.join(r.name for r in results))} · generated {esc(when)} by territory</p></header>
<main>
{_cards(results)}
<h2>Maps</h2>
<div class="replegend">{legend}</div>
{''.join(maps)}
<p class="hint">The maps pan and zoom together. A rep has the same colour on every map;
neighbouring territories always differ. Red dashed outlines mark reps with a red flag; the dotted
layer (layer menu, top right) shows the current alignment.</p>
<h2>Scorecard</h2>
{_scorecard_table(results, metrics)}
<p class="hint">★ best value in the row; ⚑ red: a rule is broken (a rep outside a band or above
the drive flag, a split territory, fewer than 80% of reps equal or better off).
Hover a metric for its direction.</p>
<h2>Balance and travel per rep</h2>
{_charts(results, colours)}
<p class="hint">Green band: the target (TAM within ±tolerance of the mean; the account-units band).
Red line: the drive-hours red flag. Red labels: flagged reps.</p>
<h2>What changes</h2>
{_change_table(change_rows, colours, results[0].name)}
<h2>Moved accounts</h2>
<div class="tools">{''.join(csv_links)}
<input id="moved-filter" type="search" placeholder="filter rows (name, rep, scenario…)"></div>
{_moved_table(moved_frames)}
</main>
<footer>{' '.join(esc(f) for f in footer)}</footer>
<script>{leaflet_js()}</script>
<script>{MAP_JS}</script>
<script>var TT_DATA = {js_data(datas)}; var TT_BG = {js_data(bg)};</script>
<script>{_PAGE_JS}</script>
</body></html>
"""
