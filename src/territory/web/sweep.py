"""``sweep.html``: the trade-offs of a rep-count sweep and its answer, in one offline page.

The charts (TAM CV, max drive hours, moved share and fairness against the rep
count, a line per rule) are drawn by matplotlib as SVG and inlined; the page
is rendered from ``templates/sweep.html`` with Jinja2 (autoescaped; the
matplotlib SVG is the only markup let through), so it
loads nothing from the network. SVG output is made byte-stable (fixed hash
salt, no date, text kept as text).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from ..metrics import FAIRNESS_THRESHOLD
from .assets import render_template
from .html import FLAG_RED, PALETTE

__all__ = ["sweep_page", "trade_off_charts", "why_not"]

#: (column, title, y label, scale, limit key) of each chart.
CHARTS = (
    ("tam_cv", "TAM balance (CV across reps)", "TAM CV, %", 100.0, None),
    ("drive_hours_max", "Longest drive (worst rep)", "drive hours / month", 1.0, "drive"),
    ("moved_share", "Disruption (accounts moved)", "moved, %", 100.0, None),
    ("fairness_share", "Fairness (reps equal or better off)", "reps, %", 100.0, "fairness"),
)


def _svg(fig) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "territory", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _chart(rows: pd.DataFrame, column: str, title: str, ylabel: str, scale: float,
           limit: float | None, answer: dict | None) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.6, 2.5), dpi=100)
    ax = fig.add_subplot()
    rules = list(dict.fromkeys(rows["rule"]))
    for i, rule in enumerate(rules):
        g = rows[rows["rule"] == rule].sort_values("n_reps")
        y = pd.to_numeric(g[column], errors="coerce") * scale
        colour = PALETTE[i % len(PALETTE)] if len(rules) > 1 else "#332288"
        ax.plot(g["n_reps"], y, "-", color=colour, lw=1.8, label=rule)
        ok = g["ok"].astype(bool).to_numpy()
        ax.plot(g["n_reps"][ok], y[ok], "o", color=colour, ms=6)
        ax.plot(g["n_reps"][~ok], y[~ok], "o", mfc="white", mec=colour, ms=6)
        none = g[y.isna()]["n_reps"]
        ax.plot(none, [0] * len(none), "x", color="#888888", ms=6, clip_on=False)
    if len(rules) > 1:
        ax.legend(fontsize=7, frameon=False, loc="best")
    if limit is not None:
        ax.axhline(limit, color=FLAG_RED, lw=1, ls="--")
    if answer is not None:
        ax.axvline(answer["n_reps"], color="#117733", lw=1, ls=":")
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_xlabel("reps", fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.tick_params(labelsize=8)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig)


def trade_off_charts(rows: pd.DataFrame, answer: dict | None, *, max_drive_hours: float
                     ) -> list[tuple[str, str]]:
    """``(title, svg)`` of the four trade-off charts; infeasible points are grey crosses."""
    limits = {"drive": max_drive_hours, "fairness": FAIRNESS_THRESHOLD * 100, None: None}
    return [(title, Markup(_chart(rows, col, title, ylabel, scale, limits[key], answer)))
            for col, title, ylabel, scale, key in CHARTS]


def _has_plan(row: pd.Series | dict) -> bool:
    """A time-limited solve may still have a plan: judge by its metrics, not its status."""
    return _fmt(row.get("tam_cv"), "pct") != "—"


def why_not(row: pd.Series | dict) -> str:
    """Why a point is not an answer (empty when it is one)."""
    if not _has_plan(row):
        text = str(row.get("explanation") or "")
        label = {"infeasible": "infeasible", "time_limit": "no plan within the time limit",
                 "error": "failed"}.get(row["status"], row["status"])
        return f"{label}: {text[:240]}{'…' if len(text) > 240 else ''}" if text else label
    parts = []
    for col, what in (("reps_outside_tam", "outside the TAM band"),
                      ("reps_outside_units", "outside the account-unit band"),
                      ("reps_over_drive", "over the drive-hours limit"),
                      ("reps_over_travel_share", "over the travel-share limit")):
        n = int(row.get(col) or 0)
        if n:
            parts.append(f"{n} rep{'s' if n > 1 else ''} {what}")
    if not parts and not row.get("meets_bands"):
        parts.append("a band or cap is violated (see summary.json)")
    return "; ".join(parts)


def _fmt(value: Any, kind: str) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(v):
        return "—"
    return {"pct": f"{v:.1%}", "h": f"{v:.1f}", "int": f"{v:.0f}"}[kind]


def _table_rows(rows: pd.DataFrame, answer: dict | None) -> list[dict]:
    out = []
    for r in rows.to_dict("records"):
        out.append({
            "point": r["point"], "n_reps": r["n_reps"], "rule": r["rule"], "status": r["status"],
            "gap": _fmt(r.get("mip_gap"), "pct"), "tam_cv": _fmt(r.get("tam_cv"), "pct"),
            "drive_max": _fmt(r.get("drive_hours_max"), "h"),
            "drive_mean": _fmt(r.get("drive_hours_mean"), "h"),
            "moved": _fmt(r.get("moved_share"), "pct"),
            "fair": _fmt(r.get("fairness_share"), "pct"),
            "ok": bool(r.get("ok")), "why": why_not(r),
            "has_map": _has_plan(r),
            "is_answer": answer is not None and r["point"] == answer["point"],
        })
    return out


def sweep_page(rows: pd.DataFrame, answer: dict | None, ranges: dict[str, dict],
               meta: dict, out: str | Path) -> Path:
    """Write ``sweep.html`` for the sweep rows (``territory.sweep.run_sweep``'s frame)."""
    out = Path(out)
    table = _table_rows(rows, answer)
    by_point = {t["point"]: t for t in table}
    trio = []
    if answer is not None:
        for label, key in (("one fewer", "fewer"), ("the answer", "point"), ("one more", "more")):
            if answer[key] is not None:
                trio.append({"label": label, **by_point[answer[key]]})
    charts = trade_off_charts(rows, answer, max_drive_hours=meta.get("max_drive_hours", 30.0))
    html = render_template(
        "sweep.html", answer=answer, trio=trio, charts=charts, rows=table, meta=meta,
        ranges=[{"rule": k, "min": v["min"], "max": v["max"]} for k, v in ranges.items()],
        compare=meta.get("compare"), n_ok=sum(t["ok"] for t in table))
    out.write_text(html, encoding="utf-8")
    return out
