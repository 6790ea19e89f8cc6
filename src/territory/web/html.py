"""HTML plumbing for the maps: inlined Leaflet and territory assets, escaping, formats, SVG charts.

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
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Iterable, Sequence

from .assets import static_text
from .colours import MUTED

__all__ = [
    "MONEY_SCALES", "PALETTE", "esc", "fmt_hours", "fmt_money", "js_data", "leaflet_css",
    "leaflet_js", "map_css", "map_js", "offline_assets", "strip_remote_assets", "svg_bar_chart",
]

#: Paul Tol's "muted" qualitative scheme (colour-blind safe); rep colours: :mod:`.colours`.
PALETTE: tuple[str, ...] = MUTED
FLAG_RED = "#D1002C"
#: How money is shortened, largest first: (from, suffix, decimals). The pages' JavaScript
#: gets the same table (``money`` in the map data), so Python and the browser agree.
MONEY_SCALES: tuple[tuple[float, str, int], ...] = ((1e9, "B", 2), (1e6, "M", 2), (1e3, "K", 0),
                                                    (0.0, "", 0))


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
    """``$1.23M``, ``$350K``, ``$900``; em dash for missing values.

    The one money format of territory (terminal, pages, and through
    :data:`MONEY_SCALES` the pages' JavaScript). Halves round away from zero on
    the exact binary value, as JavaScript's ``toFixed`` does.
    """
    v = finite_or_none(x)
    if v is None:
        return "—"
    a = abs(v)
    for start, suffix, decimals in MONEY_SCALES:
        if a >= start:
            q = Decimal(a / (start or 1.0)).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)
            sign = "-" if v < 0 and q != 0 else ""
            return f"{sign}${q}{suffix}"
    return "$0"  # pragma: no cover - the last scale starts at 0


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


def map_css() -> str:
    """The territory map CSS (``static/map.css``)."""
    return static_text("map.css")


def map_js() -> str:
    """The territory map JavaScript, the ``TT`` namespace (``static/map.js``)."""
    return static_text("map.js")


def offline_assets(*, editor: bool = False) -> str:
    """``<style>`` + ``<script>`` elements with Leaflet, the territory CSS and JS, inlined.

    ``editor`` adds the plan editor (``static/editor.js`` and ``editor.css``).
    """
    css = [leaflet_css(), map_css()] + ([static_text("editor.css")] if editor else [])
    js = [leaflet_js(), map_js()] + ([static_text("editor.js")] if editor else [])
    return ("".join(f"<style>{c}</style>\n" for c in css)
            + "".join(f"<script>{j}</script>\n" for j in js))


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
