"""Rep colours: distinct for every rep shown together (up to :data:`MAX_DISTINCT`), colour-blind aware.

Up to nine reps get Paul Tol's colour-blind-safe *muted* scheme. Beyond nine,
colours are added one at a time from Paul Tol's other qualitative schemes,
Okabe–Ito and an evenly spaced CIELAB hue ring, each time the candidate
farthest (smallest CIE76 distance to the chosen ones, taken the worse of normal
and deuteranopia-simulated vision) from the colours already chosen, as it is
drawn: a 42% fill over the page background. Greys (unassigned) and reds near
the flag red are never used.
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["MAX_DISTINCT", "colour_distance", "distinct_palette"]

#: Paul Tol's "muted" qualitative scheme: colour-blind safe, readable under a 35% fill.
MUTED: tuple[str, ...] = ("#88CCEE", "#CC6677", "#DDCC77", "#117733", "#332288",
                          "#AA4499", "#44AA99", "#999933", "#882255")
#: Further candidates: Tol light, bright, vibrant, dark; Okabe–Ito.
_POOL: tuple[str, ...] = (
    "#77AADD", "#99DDFF", "#44BB99", "#BBCC33", "#AAAA00", "#EEDD88", "#EE8866", "#FFAABB",
    "#4477AA", "#66CCEE", "#228833", "#CCBB44", "#EE6677", "#AA3377",
    "#EE7733", "#0077BB", "#33BBEE", "#EE3377", "#009988",
    "#222255", "#225555", "#225522", "#666633", "#663333",
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
)
#: The most reps that get a colour each; more share colours between non-neighbours.
MAX_DISTINCT = 36
_FLAG_RED = "#D1002C"  # the red of flags (html.FLAG_RED): never a rep colour
_BACKGROUND = "#F6F3EC"  # the offline map's land colour, under a 42% territory fill
_ALPHA = 0.42
# Machado, Oliveira & Fernandes (2009), deuteranopia at severity 1, on linear RGB
_DEUTAN = np.array([[0.367322, 0.860646, -0.227968],
                    [0.280085, 0.672501, 0.047413],
                    [-0.011820, 0.042940, 0.968881]])


def _rgb(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    return np.array([int(h[i:i + 2], 16) for i in (0, 2, 4)], dtype=float) / 255.0


def _linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear_rgb: np.ndarray) -> np.ndarray:
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ np.clip(linear_rgb, 0, 1) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _as_drawn(hex_colour: str) -> tuple[np.ndarray, np.ndarray]:
    """Lab of the colour as a 42% fill over the background: normal and deuteranope vision."""
    fill = _ALPHA * _rgb(hex_colour) + (1 - _ALPHA) * _rgb(_BACKGROUND)
    lin = _linear(fill)
    return _lab(lin), _lab(_DEUTAN @ lin)


def colour_distance(a: str, b: str) -> float:
    """CIE76 distance of two colours as drawn, the worse of normal and deuteranopia vision."""
    (na, da), (nb, db) = _as_drawn(a), _as_drawn(b)
    return float(min(np.linalg.norm(na - nb), np.linalg.norm(da - db)))


def _hex(linear_rgb: np.ndarray) -> str:
    c = np.clip(linear_rgb, 0, 1)
    s = np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)
    return "#" + "".join(f"{int(round(v * 255)):02X}" for v in s)


def _ring() -> list[str]:
    """Evenly spaced hues at two lightness levels (CIELCh -> sRGB), for very many reps."""
    out = []
    inv = np.linalg.inv(np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                                  [0.0193, 0.1192, 0.9505]]))
    for light, chroma in ((55.0, 45.0), (72.0, 40.0)):
        for h in range(0, 360, 20):
            a, b = chroma * math.cos(math.radians(h)), chroma * math.sin(math.radians(h))
            fy = (light + 16) / 116
            f = np.array([fy + a / 500, fy, fy - b / 200])
            xyz = np.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29))
            xyz = xyz * np.array([0.95047, 1.0, 1.08883])
            out.append(_hex(inv @ xyz))
    return out


@functools.lru_cache(maxsize=None)
def distinct_palette(n: int) -> tuple[str, ...]:
    """``n`` colours (at most :data:`MAX_DISTINCT`), the muted nine first, each next one the
    candidate farthest from those already chosen; deterministic."""
    n = max(0, min(int(n), MAX_DISTINCT))
    chosen = list(MUTED[:n])
    pool = [c for c in dict.fromkeys(_POOL + tuple(_ring())) if c not in chosen
            and colour_distance(c, _FLAG_RED) > 8 and colour_distance(c, "#BBBBBB") > 6]
    if len(chosen) >= n or not pool:
        return tuple(chosen)
    drawn = [_as_drawn(c) for c in pool]
    normal, deutan = np.array([d[0] for d in drawn]), np.array([d[1] for d in drawn])
    # the closest chosen colour of every candidate, kept up to date as colours are added
    nearest = np.array([min(colour_distance(c, o) for o in chosen) for c in pool])
    free = np.ones(len(pool), bool)
    while len(chosen) < n and free.any():
        k = int(np.flatnonzero(free)[np.argmax(nearest[free])])
        chosen.append(pool[k])
        free[k] = False
        d = np.minimum(np.linalg.norm(normal - normal[k], axis=1),
                       np.linalg.norm(deutan - deutan[k], axis=1))
        nearest = np.minimum(nearest, d)
    return tuple(chosen)
