"""Compact wire format of a scenario map's data (what ``map.html`` carries to its JavaScript).

:func:`territory.web.maps.scenario_data` returns GeoJSON feature collections and
rows of arrays, readable and easy to test, but a national map holds ~20,000
drawn units and as many accounts, and as JSON it is mostly digits, brackets and
repeated keys (10 MB for 30,000 units). :func:`pack_scenario` writes the same
content as a few strings and columns; the page's ``TT.unpack`` (``static/map.js``)
rebuilds the very objects ``scenario_data`` made before anything is drawn, so the
map and its plan editor see no difference. :func:`unpack_scenario` is the same
decoder in Python (tests and benchmarks read pages with it).

The format
----------
*Integers* are written as text: each is zigzag-mapped to ``u >= 0`` (``2v`` or
``-2v-1``) and written in 5-bit chunks, lowest first, one character each of the
64-character alphabet :data:`ALPHABET`; a character with bit 32 set means "more
chunks follow". No separator is needed, and no character needs escaping in JSON
or HTML.

*Geometries* of a feature collection are one such integer stream: per feature a
type code (0 none, 1 Polygon, 2 MultiPolygon, 3 LineString, 4 MultiLineString),
the part / ring / point counts, and each point as the difference to the point
before it (over the whole layer) on a grid of step ``q`` from the origin ``o``.
Polygon rings omit their closing point. ``q`` is half the display tolerance (the
shapes were already simplified by a tolerance, so half of it is invisible); the
grid is the same for every shape of a layer, so borders that two shapes share
stay shared (no gaps, no overlaps).

*Properties* and *account rows* are columns: numbers exact at some power of ten
``s`` (``round(x * s) / s == x``) as integers (plain or as differences, whichever
is shorter), text with few distinct values as codes into a list, anything else as
a JSON list, one value repeated as that value (``k``) and its count; ``x`` lists the
positions where a property is absent.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .html import esc

__all__ = ["ALPHABET", "decode_ints", "encode_ints", "pack_scenario", "unpack_scenario"]

#: The 64 characters of the integer code (URL-safe base64's): index & 31 is the chunk,
#: index & 32 says another chunk follows.
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_CODES = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_MAX_CHUNKS = 11  # 55 bits: every integer a double holds exactly (2**53)
_SCALES = (1, 10, 100, 1000, 10_000, 100_000, 1_000_000)
_GEOM_TYPES = {"Polygon": 1, "MultiPolygon": 2, "LineString": 3, "MultiLineString": 4}
_LAYERS = ("territories", "units", "current", "isochrones")


# ----------------------------------------------------------------------------- integers


def encode_ints(values: Sequence[int] | np.ndarray) -> str:
    """Signed integers (``|v| < 2**53``) as text: zigzag, then 5-bit chunks (see module doc)."""
    v = np.asarray(values, dtype=np.int64).ravel()
    if not len(v):
        return ""
    u = np.where(v >= 0, v * 2, -v * 2 - 1).astype(np.uint64)
    shifts = np.arange(_MAX_CHUNKS, dtype=np.uint64) * np.uint64(5)
    rest = u[:, None] >> shifts[None, :]                      # (n, chunks)
    n_chunks = np.maximum(1, (rest > 0).sum(axis=1))
    more = np.arange(_MAX_CHUNKS)[None, :] < (n_chunks[:, None] - 1)
    idx = (rest & np.uint64(31)).astype(np.uint8) | (more.astype(np.uint8) << 5)
    used = np.arange(_MAX_CHUNKS)[None, :] < n_chunks[:, None]
    return _CODES[idx[used]].tobytes().decode("ascii")


def decode_ints(text: str) -> list[int]:
    """The integers of :func:`encode_ints`."""
    out, u, shift = [], 0, 0
    for ch in text:
        c = _INDEX[ch]
        u += (c & 31) << shift
        if c & 32:
            shift += 5
            continue
        out.append(u // 2 if u % 2 == 0 else -(u + 1) // 2)
        u, shift = 0, 0
    return out


# ----------------------------------------------------------------------------- columns


def _exact_scale(x: np.ndarray) -> int | None:
    """The smallest power of ten ``s`` with ``round(x * s) / s == x`` for every value, if any."""
    if not np.isfinite(x).all():
        return None
    for s in _SCALES:
        k = np.round(x * s)
        if np.abs(k).max(initial=0) < 2 ** 53 and np.array_equal(k / s, x):
            return s
    return None


def _int_column(k: np.ndarray) -> dict:
    """Integers plain (``i``) or as differences (``d``), whichever text is shorter."""
    plain = encode_ints(k)
    delta = encode_ints(np.diff(k, prepend=0))
    return {"d": delta} if len(delta) < len(plain) else {"i": plain}


def _column(values: list) -> dict:
    """One column (every value present): numbers, codes into a list, or a JSON list."""
    if len(values) > 1 and all(type(v) in (int, float, str) for v in values) \
            and all(type(v) is type(values[0]) and v == values[0] for v in values):
        return {"k": values[0], "n": len(values)}  # one value repeated (a flag nobody has)
    if values and all(type(v) in (int, float) for v in values):  # bool is not a number here
        x = np.asarray(values, dtype=float)
        s = _exact_scale(x)
        if s is not None:
            col = _int_column(np.round(x * s).astype(np.int64))
            if s != 1:
                col["s"] = s
            if any(type(v) is float for v in values):
                col["f"] = 1
            return col
    if values and all(type(v) is str for v in values):
        cats = list(dict.fromkeys(values))
        if len(cats) * 4 <= len(values):
            code = {c: i for i, c in enumerate(cats)}
            return {"c": cats, "i": encode_ints([code[v] for v in values])}
    return {"j": values}


def _column_values(col: dict) -> list:
    if "k" in col:
        return [col["k"]] * col["n"]
    if "j" in col:
        return list(col["j"])
    k = decode_ints(col["i"]) if "i" in col else np.cumsum(decode_ints(col["d"])).tolist()
    if "c" in col:
        return [col["c"][i] for i in k]
    s = col.get("s", 1)
    if s != 1:
        return [int(v) / s for v in k]
    return [float(v) for v in k] if col.get("f") else [int(v) for v in k]


_ABSENT = object()


def _pack_records(records: list[dict]) -> dict:
    """Dicts as columns, keys in first-seen order; ``x``: positions where a key is absent."""
    keys = list(dict.fromkeys(k for r in records for k in r))
    out = {}
    for key in keys:
        vals = [r.get(key, _ABSENT) for r in records]
        absent = [i for i, v in enumerate(vals) if v is _ABSENT]
        col = _column([v for v in vals if v is not _ABSENT])
        if absent:
            col["x"] = encode_ints(np.diff(absent, prepend=0))
        out[key] = col
    return out


def _unpack_records(cols: dict, n: int) -> list[dict]:
    records: list[dict] = [{} for _ in range(n)]
    for key, col in cols.items():
        absent = set(np.cumsum(decode_ints(col.get("x", ""))).tolist())
        present = (i for i in range(n) if i not in absent)
        for i, v in zip(present, _column_values(col)):
            records[i][key] = v
    return records


# ----------------------------------------------------------------------------- geometry


class _Stream:
    """Integer tokens of a layer's geometries; points as differences on the ``q`` grid."""

    def __init__(self, origin: tuple[float, float], q: float):
        self.origin, self.q = np.asarray(origin, dtype=float), q
        self.parts: list[np.ndarray] = []
        self.last = np.zeros(2, dtype=np.int64)

    def token(self, *ints: int) -> None:
        self.parts.append(np.asarray(ints, dtype=np.int64))

    def grid(self, coords: Sequence, closed: bool) -> np.ndarray:
        """A ring or line on the grid; a ring without its closing point and repeated points."""
        xy = np.asarray(coords, dtype=float).reshape(-1, 2)
        k = np.round((xy - self.origin) / self.q).astype(np.int64)
        if closed and len(k) > 1:
            if np.array_equal(k[0], k[-1]):
                k = k[:-1]
            keep = np.any(k != np.roll(k, 1, axis=0), axis=1)  # differs from the point before
            keep[0] = True
            k = k[keep]
        return k

    def points(self, k: np.ndarray) -> None:
        self.token(len(k))
        if len(k):
            self.parts.append(np.diff(k, axis=0, prepend=self.last[None, :]).ravel())
            self.last = k[-1]

    def text(self) -> str:
        return encode_ints(np.concatenate(self.parts)) if self.parts else ""


def _lines(g: dict | None) -> list:
    """The rings and lines of a geometry (their coordinate lists)."""
    kind = _GEOM_TYPES.get(g["type"], 0) if g else 0
    if kind in (1, 2):
        polys = [g["coordinates"]] if kind == 1 else g["coordinates"]
        return [ring for rings in polys for ring in rings]
    if kind in (3, 4):
        return [g["coordinates"]] if kind == 3 else list(g["coordinates"])
    return []


def _write_geometry(s: _Stream, g: dict | None) -> None:
    """One feature's tokens. Rings the grid collapses (under 3 points) are left out, holes
    and parts alike, unless that would leave a polygon with no part (it keeps its first)."""
    kind = _GEOM_TYPES.get(g["type"], 0) if g else 0
    if kind in (1, 2):
        polys = [g["coordinates"]] if kind == 1 else g["coordinates"]
        gridded = [[s.grid(r, closed=True) for r in rings] for rings in polys if rings]
        kept = [[r for r in rings if len(r) >= 3] for rings in gridded if len(rings[0]) >= 3]
        kept = kept or gridded[:1]
        s.token(kind)
        if kind == 2:
            s.token(len(kept))
        for rings in kept:
            s.token(len(rings))
            for ring in rings:
                s.points(ring)
        return
    s.token(kind)
    if kind in (3, 4):
        lines = [g["coordinates"]] if kind == 3 else g["coordinates"]
        if kind == 4:
            s.token(len(lines))
        for line in lines:
            s.points(s.grid(line, closed=False))


def _packable(fc: Any) -> bool:
    return (isinstance(fc, dict) and fc.get("type") == "FeatureCollection"
            and all(f.get("geometry") is None or f["geometry"].get("type") in _GEOM_TYPES
                    for f in fc["features"]))


def _origin(feats: list[dict]) -> tuple[float, float]:
    """Whole degrees at or below every point (the grid's origin)."""
    lo = np.array([math.inf, math.inf])
    for f in feats:
        for line in _lines(f.get("geometry")):
            xy = np.asarray(line, dtype=float).reshape(-1, 2)
            if len(xy):
                lo = np.minimum(lo, xy.min(axis=0))
    return (float(math.floor(lo[0])), float(math.floor(lo[1]))) if np.isfinite(lo).all() \
        else (0.0, 0.0)


def _pack_features(fc: dict, q: float) -> dict:
    """A feature collection as one geometry stream and property columns."""
    feats = fc["features"]
    origin = _origin(feats)
    s = _Stream(origin, q)
    for f in feats:
        _write_geometry(s, f.get("geometry"))
    return {"packed": "features", "n": len(feats), "o": list(origin), "q": q, "g": s.text(),
            "p": _pack_records([f.get("properties") or {} for f in feats])}


def _unpack_features(p: dict) -> dict:
    t = iter(decode_ints(p["g"]))
    ox, oy, q = p["o"][0], p["o"][1], p["q"]
    last = [0, 0]

    def points(closed: bool) -> list:
        out = []
        for _ in range(next(t)):
            last[0] += next(t)
            last[1] += next(t)
            out.append([float(ox + last[0] * q), float(oy + last[1] * q)])
        return out + [out[0]] if closed and out else out

    def polygon() -> list:
        return [points(True) for _ in range(next(t))]

    geoms = []
    for _ in range(p["n"]):
        kind = next(t)
        if kind == 0:
            geoms.append(None)
        elif kind == 1:
            geoms.append({"type": "Polygon", "coordinates": polygon()})
        elif kind == 2:
            geoms.append({"type": "MultiPolygon", "coordinates": [polygon() for _ in range(next(t))]})
        elif kind == 3:
            geoms.append({"type": "LineString", "coordinates": points(False)})
        else:
            geoms.append({"type": "MultiLineString",
                          "coordinates": [points(False) for _ in range(next(t))]})
    props = _unpack_records(p["p"], p["n"])
    return {"type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": pr, "geometry": g}
                         for pr, g in zip(props, geoms)]}


# ----------------------------------------------------------------------------- editor, accounts


def _pack_neighbours(nb: list[list[int]]) -> dict:
    """Each item's neighbours as differences from the item; only ``j > i`` when symmetric."""
    pairs = {(i, j) for i, row in enumerate(nb) for j in row}
    sym = all((j, i) in pairs for i, j in pairs)
    toks: list[int] = []
    for i, row in enumerate(nb):
        row = sorted(j for j in row if j > i) if sym else list(row)
        toks.append(len(row))
        prev = i
        for j in row:
            toks.append(j - prev)
            prev = j
    return {"packed": "neighbours", "sym": int(sym), "n": len(nb), "v": encode_ints(toks)}


def _unpack_neighbours(p: dict) -> list[list[int]]:
    t = iter(decode_ints(p["v"]))
    out: list[list[int]] = [[] for _ in range(p["n"])]
    for i in range(p["n"]):
        prev = i
        for _ in range(next(t)):
            prev += next(t)
            out[i].append(prev)
            if p["sym"]:
                out[prev].append(i)
    return [sorted(r) for r in out] if p["sym"] else out


def _pack_rows(rows: list[list]) -> dict:
    """Rows of arrays (account rows, points) as columns; ``w``: each row's length when unequal."""
    width = max((len(r) for r in rows), default=0)
    cols = [_column([r[c] for r in rows if len(r) > c]) for c in range(width)]
    lengths = [len(r) for r in rows]
    out: dict = {"packed": "rows", "n": len(rows), "c": cols}
    if len(set(lengths)) > 1:
        out["w"] = _column(lengths)
    return out


def _unpack_rows(p: dict) -> list[list]:
    n = p["n"]
    lengths = _column_values(p["w"]) if "w" in p else [len(p["c"])] * n
    rows: list[list] = [[] for _ in range(n)]
    for c, col in enumerate(p["c"]):
        having = (i for i in range(n) if lengths[i] > c)
        for i, v in zip(having, _column_values(col)):
            rows[i].append(v)
    return rows


# ----------------------------------------------------------------------------- scenario


def pack_scenario(data: dict, tolerance: float | None = None) -> dict:
    """``scenario_data``'s dict in the compact format (a new dict; ``data`` is not changed).

    ``tolerance``: the display tolerance in degrees the shapes were simplified with
    (the geometry grid is half of it); None keeps them exact at six decimals.
    """
    q = tolerance / 2.0 if tolerance else 1e-6
    out = dict(data, packed=1)
    for key in _LAYERS:
        if _packable(data.get(key)):
            out[key] = _pack_features(data[key], q)
    if isinstance(data.get("background"), dict):
        out["background"] = {k: _pack_features(v, q) if _packable(v) else v
                             for k, v in data["background"].items()}
    if data.get("accounts"):
        out["accounts"] = _pack_rows(data["accounts"])
    ed = data.get("editor")
    if isinstance(ed, dict):
        ed = dict(ed)
        if ed.get("neighbours") is not None:
            ed["neighbours"] = _pack_neighbours(ed["neighbours"])
        if ed.get("points"):
            ed["points"] = _pack_rows(ed["points"])
        out["editor"] = ed
        _ids_from_editor(out.get("units"), ed.get("unitIds"))
    return out


def _ids_from_editor(units: Any, ids: Sequence[str] | None) -> None:
    """Drop the unit layer's ``unit`` column when it is the editor's ids, escaped, by ``index``."""
    cols = units.get("p") if isinstance(units, dict) else None
    if not cols or ids is None or not {"unit", "index"} <= set(cols) or "x" in cols["unit"] \
            or "x" in cols["index"]:
        return
    index = _column_values(cols["index"])
    if all(0 <= i < len(ids) for i in index) and \
            _column_values(cols["unit"]) == [esc(ids[i]) for i in index]:
        del cols["unit"]
        units["idsFromEditor"] = 1


def unpack_scenario(data: dict) -> dict:
    """The inverse of :func:`pack_scenario` (shapes on its grid); unpacked data is returned as is."""
    if not data.get("packed"):
        return data
    out = {k: v for k, v in data.items() if k != "packed"}
    for key in _LAYERS:
        if isinstance(out.get(key), dict) and out[key].get("packed") == "features":
            out[key] = _unpack_features(out[key])
    if isinstance(out.get("background"), dict):
        out["background"] = {k: _unpack_features(v) if isinstance(v, dict)
                             and v.get("packed") == "features" else v
                             for k, v in out["background"].items()}
    if isinstance(out.get("accounts"), dict):
        out["accounts"] = _unpack_rows(out["accounts"])
    ed = out.get("editor")
    if isinstance(ed, dict):
        ed = dict(ed)
        units = out.get("units")
        if isinstance(units, dict) and units.get("type") == "FeatureCollection" \
                and data["units"].get("idsFromEditor"):
            for f in units["features"]:  # the key order of scenario_data: index, then unit
                p = f["properties"]
                f["properties"] = {"index": p["index"], "unit": esc(ed["unitIds"][p["index"]]),
                                   **{k: v for k, v in p.items() if k != "index"}}
        if isinstance(ed.get("neighbours"), dict):
            ed["neighbours"] = _unpack_neighbours(ed["neighbours"])
        if isinstance(ed.get("points"), dict):
            ed["points"] = _unpack_rows(ed["points"])
        out["editor"] = ed
    return out
