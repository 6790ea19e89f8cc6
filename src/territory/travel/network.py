"""Private plumbing of :mod:`territory.travel`: reading road graphs into arrays.

Every source ends as the same five arrays (node ids, lon, lat, and directed
edges with a travel time in seconds), from which :mod:`territory.travel`
builds its sparse graph:

* raw OSM (``.osm``, ``.osm.bz2``, ``.osm.pbf``, Overpass downloads) goes
  through osmnx: the ways are filtered with the scenario's Overpass-style
  ``custom_filter``, the graph is simplified, list-valued attributes that
  simplification merged are put in a fixed order (so imputed speeds do not
  depend on ``PYTHONHASHSEED``), and ``add_edge_speeds`` +
  ``add_edge_travel_times`` give the travel times;
* GraphML that already carries ``travel_time`` (what :func:`save_compact_graphml`
  writes, and what ``ox.save_graphml`` writes after ``add_edge_travel_times``)
  is parsed straight into arrays, which is several times faster than
  ``ox.load_graphml``; other GraphML goes through ``ox.load_graphml``.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import io
import json
import logging
import re
import socket
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataUnavailableError, InputError

log = logging.getLogger(__name__)

#: Bumped when the cached graph format changes, so stale cache entries are ignored.
CACHE_FORMAT = 1

#: Highway classes from most to least important: the class a merged edge keeps.
_HIGHWAY_RANK = (
    "motorway", "trunk", "primary", "secondary", "tertiary", "motorway_link", "trunk_link",
    "primary_link", "secondary_link", "tertiary_link", "unclassified", "residential",
    "living_street", "road", "service", "track",
)


@dataclass(frozen=True)
class GraphArrays:
    """A directed road graph as arrays (travel time in seconds on each edge)."""

    node_id: np.ndarray  # int64 OSM ids (or any ints)
    lon: np.ndarray
    lat: np.ndarray
    src: np.ndarray  # int positions into node_id
    dst: np.ndarray
    seconds: np.ndarray


# ----------------------------------------------------------------------------- progress


def show_progress() -> bool:
    """Progress bars only on a terminal or when this package logs at INFO."""
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty or logging.getLogger("territory").isEnabledFor(logging.INFO)


@contextlib.contextmanager
def stages(names: list[str], desc: str) -> Iterator[Any]:
    """A tqdm bar over named stages: ``bar.step(name)`` marks one done."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(names), desc=desc, unit="step", disable=not show_progress(),
               leave=False)

    class _Bar:
        def step(self, name: str) -> None:
            bar.set_postfix_str(name, refresh=False)
            bar.update(1)

    try:
        yield _Bar()
    finally:
        bar.close()


# ----------------------------------------------------------------------------- filter

_FILTER_TERM = re.compile(r'\[\s*"([^"]+)"\s*(?:(=|!=|~|!~)\s*"([^"]*)"\s*)?\]')


def parse_filter(custom_filter: str | None) -> list[tuple[str, str | None, str | None]]:
    """Parse an Overpass way filter (``["highway"~"primary|secondary"]["access"!~"private"]``).

    Returns ``(key, op, value)`` terms; ``op`` is None for a bare ``["key"]``.
    """
    if not custom_filter:
        return []
    terms = [(m.group(1), m.group(2), m.group(3)) for m in _FILTER_TERM.finditer(custom_filter)]
    rest = _FILTER_TERM.sub("", custom_filter).strip()
    if rest:
        raise InputError(f"travel.custom_filter: cannot read {rest!r} (expected terms like "
                         '["highway"~"primary|secondary"] or ["access"!~"private"])')
    return terms


def _values(v: Any) -> list[str]:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return []
    return [str(x) for x in v] if isinstance(v, (list, tuple, set)) else [str(v)]


def way_passes(tags: Mapping[str, Any], terms: list[tuple[str, str | None, str | None]]) -> bool:
    """Whether a way's tags pass every filter term (Overpass semantics, unanchored regex)."""
    for key, op, value in terms:
        vals = _values(tags.get(key))
        if op is None:
            ok = bool(vals)
        elif op == "=":
            ok = value in vals
        elif op == "!=":
            ok = value not in vals
        elif op == "~":
            ok = any(re.search(value or "", x) for x in vals)
        else:  # "!~": a missing tag passes, as in Overpass
            ok = not any(re.search(value or "", x) for x in vals)
        if not ok:
            return False
    return True


# ----------------------------------------------------------------------------- osmnx path


def normalise_lists(G: Any) -> None:
    """Put list-valued edge attributes in a fixed order, in place.

    osmnx's simplification merges the attributes of the ways it joins through
    Python sets, so their order (and with it the highway class and maxspeed
    that ``add_edge_speeds`` picks) follows ``PYTHONHASHSEED``. ``highway``
    lists are ordered by road importance (motorway first), everything else
    by its text.
    """
    rank = {h: i for i, h in enumerate(_HIGHWAY_RANK)}
    for _, _, data in G.edges(data=True):
        for key, value in data.items():
            if isinstance(value, (list, set, tuple)) and key != "geometry":
                if key == "highway":
                    data[key] = sorted(set(value), key=lambda h: (rank.get(str(h), len(rank)),
                                                                  str(h)))
                else:
                    data[key] = sorted(set(value), key=str)


def add_travel_times(G: Any, fallback_speeds_kph: Mapping[str, float], default_kph: float) -> Any:
    """``ox.add_edge_speeds`` + ``ox.add_edge_travel_times``, deterministic."""
    import osmnx as ox

    normalise_lists(G)
    hwy = dict(fallback_speeds_kph) or None
    has_maxspeed = any(d.get("maxspeed") is not None for _, _, d in G.edges(data=True))
    fallback = None if (has_maxspeed or hwy) else float(default_kph)
    if fallback is not None:
        log.warning("no edge of the road graph has a maxspeed and travel.fallback_speeds_kph is "
                    "empty: every road is taken at %g km/h", fallback)
    G = ox.add_edge_speeds(G, hwy_speeds=hwy, fallback=fallback)
    return ox.add_edge_travel_times(G)


def graph_to_arrays(G: Any) -> GraphArrays:
    """Arrays of an osmnx graph with ``travel_time`` on its edges."""
    nodes = list(G.nodes)
    pos = {n: i for i, n in enumerate(nodes)}
    lon = np.array([G.nodes[n]["x"] for n in nodes], dtype=float)
    lat = np.array([G.nodes[n]["y"] for n in nodes], dtype=float)
    edges = [(pos[u], pos[v], float(t)) for u, v, t in G.edges(data="travel_time")]
    e = np.array(edges, dtype=float).reshape(-1, 3)
    return GraphArrays(np.array(nodes, dtype=np.int64), lon, lat, e[:, 0].astype(np.int64),
                       e[:, 1].astype(np.int64), e[:, 2])


@contextlib.contextmanager
def _way_tags(keys: list[str]) -> Iterator[None]:
    """Temporarily keep the filter's tag keys on osmnx edges."""
    import osmnx as ox

    old = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = old + [k for k in keys if k not in old]
    try:
        yield
    finally:
        ox.settings.useful_tags_way = old


def _filter_and_simplify(G: Any, terms: list) -> Any:
    import osmnx as ox

    if terms:
        drop = [(u, v, k) for u, v, k, d in G.edges(keys=True, data=True)
                if not way_passes(d, terms)]
        if drop:
            log.info("custom_filter drops %d of %d edges", len(drop), G.number_of_edges())
            G.remove_edges_from(drop)
            G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])
    if G.number_of_edges() == 0:
        raise InputError("the road graph has no edges left after travel.custom_filter")
    return ox.simplify_graph(G)


def graph_from_osm_xml(path: Path, custom_filter: str | None, fallback_speeds_kph: Mapping[str, float],
                       default_kph: float) -> Any:
    """An osmnx graph with travel times from an OSM XML file (``.osm`` / ``.osm.bz2``)."""
    import osmnx as ox

    terms = parse_filter(custom_filter)
    with stages(["parse", "simplify", "speeds"], f"road graph {path.name}") as bar:
        with _way_tags([t[0] for t in terms]), warnings_quiet():
            G = ox.graph_from_xml(path, simplify=False, retain_all=True)
        bar.step("parse")
        G = _filter_and_simplify(G, terms)
        bar.step("simplify")
        G = add_travel_times(G, fallback_speeds_kph, default_kph)
        bar.step("speeds")
    return G


@contextlib.contextmanager
def warnings_quiet() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*OSMnx.*")
        yield


def pbf_to_xml(path: Path, out: Path) -> None:
    """Convert an ``.osm.pbf`` file to OSM XML with pyosmium (``pip install osmium``)."""
    try:
        import osmium
    except ImportError as exc:
        raise InputError(
            f"{path.name}: reading .osm.pbf needs the 'osmium' package (pyosmium): "
            "pip install osmium -- or convert it to .osm first, e.g. "
            "`osmium cat in.osm.pbf -o out.osm.bz2`") from exc
    with osmium.SimpleWriter(str(out), overwrite=True) as writer:
        for obj in osmium.FileProcessor(str(path)):
            writer.add(obj)


# ----------------------------------------------------------------------------- GraphML


def _open_text(path: Path) -> io.TextIOBase:
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    if name.endswith(".bz2"):
        return bz2.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_graphml_arrays(path: Path) -> GraphArrays | None:
    """Parse a GraphML road graph with ``travel_time`` (or ``length`` + ``speed_kph``).

    Returns None when its edges have neither, so the caller can take the
    osmnx route and impute speeds.
    """
    keys: dict[str, str] = {}
    ids: list[str] = []
    xs: list[float] = []
    ys: list[float] = []
    src: list[str] = []
    dst: list[str] = []
    tt: list[float] = []
    ln: list[float] = []
    sp: list[float] = []
    ns = ""
    with _open_text(path) as fh:
        for _, el in ET.iterparse(fh, events=("end",)):
            tag = el.tag
            if tag.startswith("{"):
                ns, tag = tag[1:].split("}", 1)
                ns = "{" + ns + "}"
            if tag == "key":
                keys[el.get("id", "")] = el.get("attr.name", "")
            elif tag == "node":
                d = {keys.get(c.get("key", ""), ""): c.text for c in el.iter(ns + "data")}
                ids.append(el.get("id", ""))
                xs.append(float(d.get("x", "nan")))
                ys.append(float(d.get("y", "nan")))
                el.clear()
            elif tag == "edge":
                d = {keys.get(c.get("key", ""), ""): c.text for c in el.iter(ns + "data")}
                src.append(el.get("source", ""))
                dst.append(el.get("target", ""))
                tt.append(float(d.get("travel_time") or "nan"))
                ln.append(float(d.get("length") or "nan"))
                sp.append(float(d.get("speed_kph") or "nan"))
                el.clear()
    if not ids:
        raise InputError(f"{path}: no nodes in this GraphML file")
    seconds = np.array(tt, dtype=float)
    if np.isnan(seconds).any():
        alt = np.array(ln, dtype=float) / (np.array(sp, dtype=float) / 3.6)
        seconds = np.where(np.isnan(seconds), alt, seconds)
        if np.isnan(seconds).any():
            return None
    try:
        node_id = np.array([int(i) for i in ids], dtype=np.int64)
        lookup = {s: i for i, s in enumerate(ids)}
    except ValueError:
        node_id = np.arange(len(ids), dtype=np.int64)
        lookup = {s: i for i, s in enumerate(ids)}
    try:
        s = np.fromiter((lookup[a] for a in src), dtype=np.int64, count=len(src))
        t = np.fromiter((lookup[b] for b in dst), dtype=np.int64, count=len(dst))
    except KeyError as exc:
        raise InputError(f"{path}: an edge refers to unknown node {exc}") from exc
    lon, lat = np.array(xs), np.array(ys)
    if np.isnan(lon).any() or np.isnan(lat).any():
        raise InputError(f"{path}: nodes need x (lon) and y (lat) attributes")
    return GraphArrays(node_id, lon, lat, s, t, seconds)


def save_compact_graphml(arrays: GraphArrays, path: Path, *, meta: Mapping[str, str] | None = None) -> None:
    """Write a small, standard GraphML road graph (``.graphml`` or ``.graphml.gz``).

    Nodes keep ``x``/``y`` (lon/lat, 7 decimals, as in OSM); edges keep
    ``travel_time`` (seconds, 3 decimals), typed as strings as osmnx writes
    them. Both :func:`read_graphml_arrays` and ``osmnx.load_graphml`` read it. Output is byte-for-byte deterministic.
    """
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        ('<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
         'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
         'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
         'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">'),
        '<key id="d0" for="node" attr.name="x" attr.type="string"/>',
        '<key id="d1" for="node" attr.name="y" attr.type="string"/>',
        '<key id="d2" for="edge" attr.name="travel_time" attr.type="string"/>',
        '<key id="g0" for="graph" attr.name="crs" attr.type="string"/>',
    ]
    meta = dict(meta or {})
    for i, k in enumerate(sorted(meta)):
        lines.append(f'<key id="g{i + 1}" for="graph" attr.name="{_esc(k)}" attr.type="string"/>')
    lines.append('<graph edgedefault="directed">')
    lines.append('<data key="g0">epsg:4326</data>')
    for i, k in enumerate(sorted(meta)):
        lines.append(f'<data key="g{i + 1}">{_esc(str(meta[k]))}</data>')
    for n, x, y in zip(arrays.node_id.tolist(), arrays.lon.tolist(), arrays.lat.tolist()):
        lines.append(f'<node id="{n}"><data key="d0">{x:.7f}</data>'
                     f'<data key="d1">{y:.7f}</data></node>')
    ids = arrays.node_id
    for a, b, t in zip(ids[arrays.src].tolist(), ids[arrays.dst].tolist(), arrays.seconds.tolist()):
        lines.append(f'<edge source="{a}" target="{b}"><data key="d2">{t:.3f}</data></edge>')
    lines.append("</graph></graphml>\n")
    data = "\n".join(lines).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if path.name.lower().endswith(".gz"):
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                                   filename="", compresslevel=9) as gz:
            gz.write(data)
    else:
        tmp.write_bytes(data)
    tmp.replace(path)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# ----------------------------------------------------------------------------- download


def download_polygon(lon: np.ndarray, lat: np.ndarray, buffer_km: float) -> Any:
    """Convex hull of the points buffered by ``buffer_km``, as a lon/lat polygon.

    The vertices are rounded outwards-safe to 3 decimals (~100 m) so nearby
    requests share a cache key.
    """
    import geopandas as gpd
    import shapely

    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    utm = pts.estimate_utm_crs()
    hull = shapely.MultiPoint(list(pts.to_crs(utm))).convex_hull
    # a little extra so that rounding the vertices never cuts into the buffer
    poly = gpd.GeoSeries([hull.buffer(buffer_km * 1000.0 + 150.0, quad_segs=4)], crs=utm)
    poly = poly.to_crs("EPSG:4326").iloc[0]
    return shapely.set_precision(poly, 0.001)


def cache_key(polygon: Any, custom_filter: str | None) -> str:
    import osmnx as ox

    payload = json.dumps({"wkt": polygon.wkt, "filter": custom_filter or "",
                          "osmnx": ox.__version__, "format": CACHE_FORMAT}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def find_cached(folder: Path, polygon: Any, custom_filter: str | None) -> Path | None:
    """A cached graph for this filter and osmnx version whose region covers ``polygon``."""
    import osmnx as ox
    import shapely

    exact = folder / f"{cache_key(polygon, custom_filter)}.graphml.gz"
    if exact.is_file():
        return exact
    for meta_path in sorted(folder.glob("*.json")):
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if (meta.get("filter") == (custom_filter or "") and meta.get("osmnx") == ox.__version__
                    and meta.get("format") == CACHE_FORMAT
                    and shapely.from_wkt(meta["wkt"]).covers(polygon)):
                graph = meta_path.with_suffix(".graphml.gz")
                if graph.is_file():
                    return graph
        except (OSError, ValueError, KeyError, shapely.errors.ShapelyError):
            continue
    return None


@contextlib.contextmanager
def _osmnx_download_settings() -> Iterator[None]:
    """No osmnx HTTP cache in the working directory (we cache the built graph);
    undo osmnx's process-wide ``socket.getaddrinfo`` patch afterwards."""
    import osmnx as ox

    old = (ox.settings.use_cache, ox.settings.log_console)
    getaddrinfo = socket.getaddrinfo
    ox.settings.use_cache = False
    try:
        yield
    finally:
        ox.settings.use_cache, ox.settings.log_console = old
        socket.getaddrinfo = getaddrinfo


def probe(url: str, timeout: float = 5.0) -> None:
    """Fail fast when the Overpass host cannot be reached at all.

    Offline, osmnx would first try DNS-over-HTTPS, then wait out a default 60 s
    "rate limit" pause before its request fails; a plain TCP connect with a
    short timeout tells the same in seconds.
    """
    from urllib.parse import urlparse

    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    with socket.create_connection((parts.hostname or "", port), timeout=timeout):
        pass


def download_graph(polygon: Any, custom_filter: str | None, fallback_speeds_kph: Mapping[str, float],
                   default_kph: float, folder: Path) -> tuple[GraphArrays, Path]:
    """Download a drive graph with osmnx, save it under ``folder``; raise
    :class:`DataUnavailableError` when Overpass cannot be reached."""
    import osmnx as ox
    import requests

    key = cache_key(polygon, custom_filter)
    parse_filter(custom_filter)  # validates before any download
    with stages(["download", "speeds", "save"], "OSM download") as bar:
        try:
            with _osmnx_download_settings():
                probe(ox.settings.overpass_url, timeout=min(5.0, float(ox.settings.requests_timeout)))
                G = ox.graph_from_polygon(polygon, simplify=False, retain_all=True,
                                          custom_filter=custom_filter or None)
        except (requests.exceptions.RequestException, OSError, RuntimeError,
                ox._errors.InsufficientResponseError, ox._errors.ResponseStatusCodeError) as exc:
            b = polygon.bounds
            raise DataUnavailableError(
                f"could not download the OpenStreetMap road network for the region "
                f"({b[0]:.3f}, {b[1]:.3f}, {b[2]:.3f}, {b[3]:.3f}) from {ox.settings.overpass_url} "
                f"and no cached copy covers it in {folder}: {type(exc).__name__}: {exc}. "
                "Work online once to fill the cache, or set travel.source = 'file' with a local "
                ".osm / .osm.pbf / .graphml extract, or travel.source = 'estimate'."
            ) from exc
        bar.step("download")
        G = _filter_and_simplify(G, [])  # Overpass applied the filter
        G = add_travel_times(G, fallback_speeds_kph, default_kph)
        bar.step("speeds")
        arrays = graph_to_arrays(G)
        out = folder / f"{key}.graphml.gz"
        save_compact_graphml(arrays, out, meta={"source": "OpenStreetMap via Overpass (ODbL)"})
        (folder / f"{key}.json").write_text(json.dumps({
            "wkt": polygon.wkt, "filter": custom_filter or "", "osmnx": ox.__version__,
            "format": CACHE_FORMAT, "overpass_url": ox.settings.overpass_url,
        }, sort_keys=True, indent=1), encoding="utf-8")
        bar.step("save")
    return arrays, out


def file_cache_path(folder: Path, path: Path, custom_filter: str | None,
                    fallback_speeds_kph: Mapping[str, float], default_kph: float) -> Path:
    """Where the graph built from a raw OSM file is cached (content-addressed)."""
    import osmnx as ox

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    payload = json.dumps({"file": h.hexdigest(), "filter": custom_filter or "",
                          "speeds": sorted((str(k), float(v)) for k, v in fallback_speeds_kph.items()),
                          "default": float(default_kph), "osmnx": ox.__version__,
                          "format": CACHE_FORMAT}, sort_keys=True)
    return folder / f"file-{hashlib.sha256(payload.encode()).hexdigest()[:20]}.graphml.gz"


def temp_xml_from_pbf(path: Path) -> tempfile.TemporaryDirectory:
    """A temporary folder holding ``path`` converted to ``graph.osm``."""
    tmp = tempfile.TemporaryDirectory(prefix="territory-pbf-")
    pbf_to_xml(path, Path(tmp.name) / "graph.osm")
    return tmp
