"""Private HTML plumbing for the maps: inlined Leaflet, the map JavaScript, escaping, SVG charts.

Everything here works offline: Leaflet's JS, CSS and images come from the PyPI
package ``xstatic-leaflet`` and are inlined; no page written by territory loads
anything from the network. User text (account, rep and scenario names) is
HTML-escaped in Python before it reaches a page, and data embedded in a
``<script>`` is JSON with ``<``, ``>`` and ``&`` written as ``\\u`` escapes, so
no value can close the script element.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import math
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

__all__ = [
    "CSS", "JS", "PALETTE", "TIER_SHAPES", "esc", "fmt_hours", "fmt_money", "js_data",
    "leaflet_css", "leaflet_js", "offline_assets", "strip_remote_assets", "svg_bar_chart",
]

#: Paul Tol's "muted" qualitative scheme: colour-blind safe, readable under a 35% fill.
PALETTE: tuple[str, ...] = ("#88CCEE", "#CC6677", "#DDCC77", "#117733", "#332288",
                            "#AA4499", "#44AA99", "#999933", "#882255")
#: Extra colours (Tol "light") used only when a rep graph needs more than nine colours.
PALETTE_EXTRA: tuple[str, ...] = ("#77AADD", "#EE8866", "#EEDD88", "#FFAABB", "#99DDFF",
                                  "#44BB99", "#BBCC33", "#AAAA00", "#DDDDDD")
FLAG_RED = "#D1002C"
#: Account marker shapes by tier (drawn by CSS classes ``tt-acc-A`` ...).
TIER_SHAPES = {"A": "diamond", "B": "triangle", "C": "circle"}


# ----------------------------------------------------------------------------- escaping


def finite_or_none(x: Any) -> float | None:
    """``float(x)`` when it is a finite number, else None (blanks, text, NaN, inf)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def esc(value: Any) -> str:
    """HTML-escape any value (``None`` and NaN become an empty string)."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return ""
    except ImportError:  # pragma: no cover
        pass
    return html.escape(str(value), quote=True)


def js_data(value: Any) -> str:
    """JSON safe to place inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def fmt_money(x: float | None) -> str:
    """``$1.23M``, ``$350K``, ``$900``; em dash for missing values."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    a = abs(x)
    if a >= 1e9:
        return f"${x / 1e9:.2f}B"
    if a >= 1e6:
        return f"${x / 1e6:.2f}M"
    if a >= 1e3:
        return f"${x / 1e3:.0f}K"
    return f"${x:.0f}"


def fmt_hours(x: float | None) -> str:
    """Hours with one decimal; em dash for missing values."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.1f}"


# ----------------------------------------------------------------------------- Leaflet assets


def _leaflet_dir() -> Path:
    import xstatic.pkg.leaflet as xl

    return Path(xl.BASE_DIR)


@functools.lru_cache(maxsize=1)
def leaflet_js() -> str:
    """Leaflet's minified JavaScript (from xstatic-leaflet), safe to inline."""
    text = (_leaflet_dir() / "leaflet.js").read_text(encoding="utf-8")
    text = re.sub(r"//# sourceMappingURL=\S+", "", text)
    return text.replace("</script", "<\\/script")


@functools.lru_cache(maxsize=1)
def leaflet_css() -> str:
    """Leaflet's CSS with its images inlined as data URIs (no file or network request)."""
    base = _leaflet_dir()
    css = (base / "leaflet.css").read_text(encoding="utf-8")

    def _inline(m: re.Match) -> str:
        p = base / m.group(1)
        if not p.is_file():
            return "url(data:,)"
        return "url(data:image/png;base64," + base64.b64encode(p.read_bytes()).decode() + ")"

    css = re.sub(r"url\((?:'|\")?(images/[\w.\-]+)(?:'|\")?\)", _inline, css)
    return css.replace("</style", "<\\/style")


def offline_assets() -> str:
    """``<style>`` + ``<script>`` elements with Leaflet, the territory CSS and JS, inlined."""
    return (f"<style>{leaflet_css()}</style>\n<style>{CSS}</style>\n"
            f"<script>{leaflet_js()}</script>\n<script>{JS}</script>\n")


_REMOTE_SCRIPT = re.compile(r"<script[^>]*\ssrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script>",
                            re.I)
_REMOTE_LINK = re.compile(r"<link[^>]*\shref\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.I)


def strip_remote_assets(page: str) -> str:
    """Drop any ``<script src=...>`` / ``<link href=...>`` pointing to the network."""
    page = _REMOTE_SCRIPT.sub("", page)
    return _REMOTE_LINK.sub("", page)


# ----------------------------------------------------------------------------- SVG charts


def svg_bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    colours: Sequence[str],
    *,
    title: str,
    band: tuple[float, float] | None = None,
    band_label: str = "",
    line: float | None = None,
    line_label: str = "",
    mean_line: bool = False,
    value_fmt=lambda v: f"{v:,.0f}",
    flagged: Iterable[bool] | None = None,
    vmax: float | None = None,
    width: int = 520,
) -> str:
    """A horizontal bar chart as inline SVG (no JavaScript, no library).

    Parameters
    ----------
    labels, values, colours
        One bar per entry; ``labels`` are plain text (escaped here).
    band
        ``(lo, hi)``: a shaded target band with dashed edges (class ``band``).
    line
        A red threshold line (class ``threshold``), e.g. the drive-hours flag.
    vmax
        Common axis maximum, so charts of several scenarios share a scale.
    """
    n = len(values)
    flags = list(flagged) if flagged is not None else [False] * n
    row, top, left, right = 18, 30, 120, 64
    height = top + row * max(n, 1) + 26
    finite = [v for v in values if v is not None and math.isfinite(v)]
    hi = max([*finite, *(band or ()), line or 0, 1e-9])
    vmax = max(vmax or 0, hi) * 1.05
    plot_w = width - left - right

    def x(v: float) -> float:
        return left + plot_w * max(v, 0) / vmax

    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{esc(title)}">',
           f'<text x="4" y="16" class="ct">{esc(title)}</text>']
    y0, y1 = top - 4, top + row * n + 2
    if band is not None:
        lo, hi_b = band
        out.append(f'<rect class="band" x="{x(lo):.1f}" y="{y0}" width="{max(x(hi_b) - x(lo), 0.5):.1f}" '
                   f'height="{y1 - y0}"><title>{esc(band_label)}</title></rect>')
        for edge in (lo, hi_b):
            out.append(f'<line class="band-edge" x1="{x(edge):.1f}" x2="{x(edge):.1f}" y1="{y0}" '
                       f'y2="{y1}"/>')
        out.append(f'<text class="cl" x="{x(lo) - 2:.1f}" y="{y1 + 12}" text-anchor="end">'
                   f'{esc(value_fmt(lo))}</text>')
        out.append(f'<text class="cl" x="{x(hi_b) + 2:.1f}" y="{y1 + 12}" text-anchor="start">'
                   f'{esc(value_fmt(hi_b))}</text>')
    if mean_line and finite:
        m = sum(finite) / len(finite)
        out.append(f'<line class="mean" x1="{x(m):.1f}" x2="{x(m):.1f}" y1="{y0}" y2="{y1}">'
                   f'<title>mean {esc(value_fmt(m))}</title></line>')
    for i, (lab, v, c, f) in enumerate(zip(labels, values, colours, flags)):
        y = top + row * i
        short = lab if len(lab) <= 18 else lab[:17] + "…"
        cls = ' class="flag"' if f else ""
        out.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end"{cls}>{esc(short)}'
                   f'<title>{esc(lab)}</title></text>')
        if v is None or not math.isfinite(v):
            out.append(f'<text x="{left + 4}" y="{y + 12}" class="cl">n/a</text>')
            continue
        stroke = f' stroke="{FLAG_RED}" stroke-width="2"' if f else ' stroke="#444" stroke-width="0.5"'
        out.append(f'<rect x="{left}" y="{y + 2}" width="{max(x(v) - left, 0.5):.1f}" height="{row - 5}" '
                   f'fill="{esc(c)}"{stroke}><title>{esc(lab)}: {esc(value_fmt(v))}</title></rect>')
        out.append(f'<text x="{x(v) + 4:.1f}" y="{y + 12}" class="cv{" flag" if f else ""}">'
                   f'{esc(value_fmt(v))}</text>')
    if line is not None:
        out.append(f'<line class="threshold" x1="{x(line):.1f}" x2="{x(line):.1f}" y1="{y0}" '
                   f'y2="{y1}"><title>{esc(line_label)}</title></line>')
        out.append(f'<text class="cl thr" x="{x(line):.1f}" y="{y1 + 12}" text-anchor="middle">'
                   f'{esc(line_label)}</text>')
    out.append("</svg>")
    return "".join(out)


# ----------------------------------------------------------------------------- CSS and JS

CSS = """
.leaflet-container{background:#dde7ee;font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
.tt-panel{background:rgba(255,255,255,.95);padding:8px 10px;border-radius:6px;box-shadow:0 1px 5px rgba(0,0,0,.35);max-height:60vh;overflow:auto}
.tt-panel h4{margin:0 0 2px;font-size:14px;cursor:pointer;user-select:none}
.tt-panel h4::after{content:" \\25BE";color:#888;font-size:11px}
.tt-panel.collapsed h4::after{content:" \\25B8"}
.tt-panel.collapsed>:not(h4){display:none}
.tt-panel .sub{color:#555;font-size:12px;margin-bottom:6px;max-width:360px}
.tt-legend{max-width:390px}
.tt-legend table{border-collapse:collapse;font-size:12px}
.tt-legend td,.tt-legend th{padding:1px 5px;text-align:right;white-space:nowrap}
.tt-legend td.n,.tt-legend th.n{text-align:left}
.tt-legend th{font-weight:600;color:#444;border-bottom:1px solid #ccc}
.tt-legend tr.flag td{color:#D1002C;font-weight:600}
.tt-legend .sw{display:inline-block;width:14px;height:12px;border:1px solid #555;vertical-align:-2px;margin-right:4px;opacity:.85}
.tt-legend tr.flag .sw{border:2px solid #D1002C}
.tt-legend .keys{margin-top:6px;font-size:11.5px;color:#333}
.tt-legend .keys span{margin-right:10px;white-space:nowrap;display:inline-block}
.tt-source{background:rgba(255,255,255,.92);padding:3px 8px;border-radius:4px;font-size:12px;box-shadow:0 1px 3px rgba(0,0,0,.3)}
.tt-map-small .tt-source{font-size:11px;max-width:calc(100% - 20px)}
.tt-source.est{background:#fff4d6;border:1px solid #d9a400;font-weight:600}
.tt-label{background:none;border:none}
.tt-label span{display:inline-block;transform:translate(-50%,-50%);white-space:nowrap;font-weight:700;font-size:12px;color:#1b1b1b;text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 2px #fff;pointer-events:none}
.tt-label.flag span{color:#B00020}
.tt-base{background:none;border:none}
.tt-base div{width:16px;height:16px;border-radius:50%;border:3px solid #222;box-shadow:0 0 0 2px #fff;box-sizing:border-box}
.tt-base.centre div{border-radius:2px;transform:rotate(45deg)}
.tt-acc{background:none;border:none}
.tt-acc div{box-sizing:border-box}
.tt-acc-A div{width:12px;height:12px;background:#1d1d1d;border:2px solid #fff;transform:rotate(45deg);box-shadow:0 0 1px #000}
.tt-acc-B div{width:0;height:0;border-left:6px solid transparent;border-right:6px solid transparent;border-bottom:11px solid #4a4a4a;filter:drop-shadow(0 0 1px #fff)}
.tt-acc-C div{width:8px;height:8px;border-radius:50%;background:#fff;border:2px solid #333}
.tt-acc.moved div{outline:2px solid #E69F00;outline-offset:1px}
.tt-cl{background:none;border:none}
.tt-cl div{display:flex;align-items:center;justify-content:center;border-radius:50%;color:#fff;font-weight:700;font-size:11px;border:2px solid #fff;box-shadow:0 0 2px #000;width:100%;height:100%;box-sizing:border-box}
.tt-cl-A div{background:rgba(29,29,29,.78)}
.tt-cl-B div{background:rgba(80,80,80,.78)}
.tt-cl-C div{background:rgba(125,125,125,.8)}
.tt-key-A,.tt-key-B,.tt-key-C{display:inline-block;vertical-align:-1px;margin-right:3px}
.tt-key-A{width:9px;height:9px;background:#1d1d1d;transform:rotate(45deg)}
.tt-key-B{width:0;height:0;border-left:5px solid transparent;border-right:5px solid transparent;border-bottom:9px solid #4a4a4a}
.tt-key-C{width:7px;height:7px;border-radius:50%;border:2px solid #333}
.tt-key-moved{display:inline-block;width:8px;height:8px;border:2px solid #E69F00;margin-right:3px;vertical-align:-1px}
.leaflet-tooltip{font-size:12px}
"""

JS = r"""
var TT = (function () {
  "use strict";
  function money(x) {
    if (x === null || x === undefined || !isFinite(x)) return "\u2014";
    var a = Math.abs(x);
    if (a >= 1e9) return "$" + (x / 1e9).toFixed(2) + "B";
    if (a >= 1e6) return "$" + (x / 1e6).toFixed(2) + "M";
    if (a >= 1e3) return "$" + Math.round(x / 1e3) + "K";
    return "$" + Math.round(x);
  }
  function hours(x) { return (x === null || x === undefined || !isFinite(x)) ? "\u2014" : x.toFixed(1); }
  function pane(map, name, z) {
    if (!map.getPane(name)) { var p = map.createPane(name); p.style.zIndex = z; }
    return name;
  }
  function rep(D, i) { return (i === null || i < 0 || i >= D.reps.length) ? null : D.reps[i]; }

  function background(map, D, group) {
    if (!D.background) return;
    pane(map, "ttbg", 150);
    var r = L.svg({pane: "ttbg", padding: 0.5});
    if (D.background.states) L.geoJSON(D.background.states, {pane: "ttbg", renderer: r, interactive: false,
      style: {color: "#8d8577", weight: 1.4, fillColor: "#f6f3ec", fillOpacity: 1}}).addTo(group);
    if (D.background.counties) L.geoJSON(D.background.counties, {pane: "ttbg", renderer: r, interactive: false,
      style: {color: "#b9b1a3", weight: 0.6, fill: false}}).addTo(group);
    if (D.background.states) L.geoJSON(D.background.states, {pane: "ttbg", renderer: r, interactive: false,
      style: {color: "#8d8577", weight: 1.4, fill: false}}).addTo(group);
  }

  function territories(map, D, group) {
    if (!D.territories) return;
    L.geoJSON(D.territories, {
      interactive: !D.units,  // without a unit layer the territories carry the tooltips
      onEachFeature: function (f, layer) {
        if (D.units) return;
        var r = rep(D, f.properties.r);
        if (!r) return;
        layer.bindTooltip("<b>" + r.name + "</b>" + (r.flagged ? " \u2691 " + r.flags : "") +
          "<br>TAM: " + money(r.tam) + "<br>Account units: " + (r.au === null ? "\u2014" : r.au) +
          "<br>Drive: " + hours(r.hours) + " h/month", {sticky: true});
      },
      style: function (f) {
        var r = rep(D, f.properties.r) || {colour: "#bbbbbb", flagged: false};
        return {fillColor: r.colour, fillOpacity: 0.42, color: r.flagged ? "#D1002C" : "#333",
                weight: r.flagged ? 3 : 1.6, dashArray: r.flagged ? "6 4" : null, opacity: 0.95};
      }
    }).addTo(group);
  }

  function units(map, D, group) {
    if (!D.units) return;
    var opts = {
      style: {color: "#ffffff", weight: 0.6, opacity: 0.9, fillColor: "#000", fillOpacity: 0},
      onEachFeature: function (f, layer) {
        var p = f.properties, r = rep(D, p.r);
        var h = "<b>" + D.unitLabel + " " + p.u + "</b><br>Rep: " + (r ? r.name : "unassigned") +
          "<br>TAM: " + money(p.t) + "<br>Account units: " + p.a + " (" + p.n + " accounts: " +
          p.A + " A / " + p.B + " B / " + p.C + " C)" +
          "<br>Rep drive hours: " + (r ? hours(r.hours) + " h/month" : "\u2014");
        if (p.c) h += "<br>Current rep: " + p.c;
        layer.bindTooltip(h, {sticky: true});
        layer.on("mouseover", function () { layer.setStyle({fillOpacity: 0.25, weight: 2, color: "#000"}); });
        layer.on("mouseout", function () { layer.setStyle({fillOpacity: 0, weight: 0.6, color: "#ffffff"}); });
      }
    };
    if (D.canvas) opts.renderer = L.canvas({padding: 0.3});
    L.geoJSON(D.units, opts).addTo(group);
  }

  function current(map, D, group) {
    if (!D.current) return;
    pane(map, "ttcur", 380);
    L.geoJSON(D.current, {
      pane: "ttcur",
      style: {color: "#111", weight: 3, dashArray: "1 6", lineCap: "round", fill: false, opacity: 0.95},
      onEachFeature: function (f, layer) { layer.bindTooltip("Current: " + f.properties.name, {sticky: true}); }
    }).addTo(group);
  }

  function isochrones(map, D, group) {
    if (!D.isochrones) return;
    L.geoJSON(D.isochrones, {
      style: function (f) {
        var r = rep(D, f.properties.r);
        return {color: r ? r.colour : "#555", weight: 1.5, fillOpacity: 0.08, dashArray: "4 3"};
      },
      onEachFeature: function (f, layer) {
        var r = rep(D, f.properties.r);
        layer.bindTooltip((r ? r.name : "") + ": " + f.properties.m + " min drive", {sticky: true});
      }
    }).addTo(group);
  }

  function labels(map, D, group) {
    pane(map, "ttlabels", 640);
    var placed = [];
    D.reps.forEach(function (r) {
      if (!r.label) return;
      var m = L.marker(r.label, {interactive: false, keyboard: false, pane: "ttlabels",
        icon: L.divIcon({className: "tt-label" + (r.flagged ? " flag" : ""), html: "<span>" + r.name + "</span>",
                         iconSize: [0, 0]})}).addTo(group);
      placed.push({m: m, area: r.area || 0});
    });
    placed.sort(function (a, b) { return b.area - a.area; });
    // greedy declutter: the larger territory keeps its label when two labels collide
    function declutter() {
      var rects = [];
      placed.forEach(function (p) {
        var el = p.m.getElement(), span = el && el.firstChild;
        if (!span) return;
        span.style.visibility = "visible";
        var b = span.getBoundingClientRect();
        var hit = rects.some(function (o) {
          return !(b.right + 2 < o.left || b.left - 2 > o.right || b.bottom + 1 < o.top || b.top - 1 > o.bottom);
        });
        if (hit) span.style.visibility = "hidden"; else rects.push(b);
      });
    }
    map.on("zoomend", function () { setTimeout(declutter, 0); });
    group.on("add", function () { setTimeout(declutter, 0); });
    setTimeout(declutter, 0);
  }

  function bases(map, D, group) {
    D.reps.forEach(function (r) {
      if (!r.base) return;
      var m = L.marker(r.base, {keyboard: false, zIndexOffset: 1000,
        icon: L.divIcon({className: "tt-base " + (r.kind === "home" ? "home" : "centre"),
                         html: '<div style="background:' + r.colour + '"></div>', iconSize: [16, 16]})});
      m.bindTooltip("<b>" + r.name + "</b><br>" + (r.kind === "home" ? "Home base" : "Territory centre") +
                    "<br>Drive: " + hours(r.hours) + " h/month");
      m.addTo(group);
    });
  }

  // Accounts: one zoom-aware grid clustering over the visible tiers (no plugin needed).
  // Single accounts go to their tier's group; a cluster goes to the group of its best tier.
  function accounts(map, D, groups, cellPx) {
    var pts = D.accounts || [];
    if (!pts.length) return;
    var T = "ABC", size = [14, 13, 10], queued = false;
    function redraw() {
      queued = false;
      groups.forEach(function (g) { if (g) g.clearLayers(); });
      var on = groups.map(function (g) { return g && map.hasLayer(g); });
      var z = map.getZoom(), b = map.getBounds().pad(0.25), cells = {}, keys = [];
      var single = z >= (D.clusterOffZoom || 13);
      for (var i = 0; i < pts.length; i++) {
        var p = pts[i];
        if (!on[p[2]] || !b.contains([p[0], p[1]])) continue;
        var key = i;
        if (!single) {
          var q = map.project([p[0], p[1]], z);
          key = Math.floor(q.x / cellPx) + ":" + Math.floor(q.y / cellPx);
        }
        if (!cells[key]) { cells[key] = []; keys.push(key); }
        cells[key].push(p);
      }
      keys.forEach(function (k) {
        var c = cells[k];
        if (c.length === 1) {
          var p = c[0], r = rep(D, p[5]), t = T.charAt(p[2]);
          var m = L.marker([p[0], p[1]], {keyboard: false,
            icon: L.divIcon({className: "tt-acc tt-acc-" + t + (p[6] ? " moved" : ""), html: "<div></div>",
                             iconSize: [size[p[2]], size[p[2]]]})});
          m.bindTooltip("<b>" + p[3] + "</b><br>Tier " + t + " \u00b7 " + money(p[4]) + "<br>Rep: " +
                        (r ? r.name : "\u2014") + (p[6] ? "<br><b>moved</b> from " + p[7] : ""));
          m.addTo(groups[p[2]]);
        } else {
          var lat = 0, lon = 0, rev = 0, n = [0, 0, 0];
          c.forEach(function (p) { lat += p[0]; lon += p[1]; rev += p[4]; n[p[2]] += 1; });
          var best = n[0] ? 0 : (n[1] ? 1 : 2);
          var d = Math.round(16 + 5 * Math.log(c.length));
          var cm = L.marker([lat / c.length, lon / c.length], {keyboard: false,
            icon: L.divIcon({className: "tt-cl tt-cl-" + T.charAt(best), html: "<div>" + c.length + "</div>",
                             iconSize: [d, d]})});
          cm.bindTooltip(c.length + " accounts: " + n[0] + " A \u00b7 " + n[1] + " B \u00b7 " + n[2] +
                         " C<br>" + money(rev) + " revenue<br><i>click to zoom in</i>");
          cm.on("click", function () {
            map.fitBounds(L.latLngBounds(c.map(function (p) { return [p[0], p[1]]; })).pad(0.2),
                          {maxZoom: Math.max(z + 2, D.clusterOffZoom || 13)});
          });
          cm.addTo(groups[best]);
        }
      });
    }
    function later() { if (!queued) { queued = true; setTimeout(redraw, 0); } }
    map.on("zoomend moveend overlayadd overlayremove", later);
    redraw();
  }

  function control(map, html, position, cls) {
    var c = L.control({position: position});
    c.onAdd = function () {
      var d = L.DomUtil.create("div", cls);
      d.innerHTML = html;
      var h = d.querySelector("h4");
      if (h) {  // click the title to fold the panel away
        h.title = "click to hide / show";
        h.addEventListener("click", function () { d.classList.toggle("collapsed"); });
        if (map.getSize().x < 700) d.classList.add("collapsed");
      }
      L.DomEvent.disableClickPropagation(d);
      L.DomEvent.disableScrollPropagation(d);
      return d;
    };
    c.addTo(map);
    return c;
  }

  // Draw one scenario into an L.map; G maps a layer name to a layer group.
  function scenario(map, D, G) {
    background(map, D, G.background || map);
    if (G.current) current(map, D, G.current);
    territories(map, D, G.territories || map);
    if (G.units) units(map, D, G.units);
    if (G.isochrones) isochrones(map, D, G.isochrones);
    if (G.labels) labels(map, D, G.labels);
    if (G.bases) bases(map, D, G.bases);
    if (G.accA || G.accB || G.accC) accounts(map, D, [G.accA, G.accB, G.accC], 64);
    if (D.legend) control(map, D.legend, "bottomright", "tt-panel tt-legend");
    if (D.source) control(map, D.source, "bottomleft", "tt-source" + (D.sourceKind === "osm" ? "" : " est"));
    if (D.attribution && map.attributionControl) map.attributionControl.addAttribution(D.attribution);
    if (D.bounds) {
      var w = map.getSize().x, pr = (D.legend && w > 700) ? Math.min(380, w * 0.3) : 10;
      map.fitBounds(D.bounds, {paddingTopLeft: [10, 10], paddingBottomRight: [pr, 10]});
    }
  }

  // Keep the centre and zoom of several maps equal (the ~30 lines of Leaflet.Sync we need).
  function sync(maps) {
    var busy = false;
    maps.forEach(function (m) {
      m.on("move zoom", function () {
        if (busy) return;
        busy = true;
        var c = m.getCenter(), z = m.getZoom();
        maps.forEach(function (o) { if (o !== m) o.setView(c, z, {animate: false, reset: false}); });
        busy = false;
      });
    });
  }

  return {scenario: scenario, sync: sync, control: control, money: money, hours: hours};
})();
"""
