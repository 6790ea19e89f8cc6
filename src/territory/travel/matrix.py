"""Road graphs and drive-time matrices on real OpenStreetMap drive times.

* :func:`load_road_network` reads a road graph (a local ``.osm``,
  ``.osm.bz2``, ``.osm.pbf``, ``.graphml`` or ``.graphml.gz`` file, or an
  osmnx download of the region, cached as GraphML) into a
  :class:`RoadNetwork`: a sparse matrix of edge travel times in seconds over
  the largest strongly connected component.
* :func:`travel_matrix` snaps points to that graph (a k-d tree on the unit
  sphere, no Python loop per point) and runs
  :func:`scipy.sparse.csgraph.dijkstra` once per distinct origin node.
  Points farther than ``max_snap_km`` from the graph, and pairs with no
  route, get the straight-line estimate and are flagged ``estimated``.
* :func:`estimate_matrix` is that estimate alone: great-circle km x
  ``circuity`` / ``estimate_speed_kph``.
* :func:`local_pace` measures drive seconds per straight-line km on the graph
  around points (the road circuity and speed of short local trips).

Drive times are free-flow: osmnx's ``add_edge_speeds`` (posted ``maxspeed``,
else the mean speed of the road class, else ``fallback_speeds_kph``) and
``add_edge_travel_times``. They are deterministic: list-valued attributes
merged by osmnx's simplification are ordered before speeds are imputed, so
the same file gives the same seconds under every ``PYTHONHASHSEED``.
Road data: © OpenStreetMap contributors, ODbL 1.0.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from . import network as _osm
from ..cache import cache_dir
from ..config import TravelConfig
from ..errors import InputError
from ..geo.reference import EARTH_RADIUS_KM, haversine_km

__all__ = [
    "RoadNetwork",
    "TravelMatrix",
    "estimate_matrix",
    "haversine_km",
    "load_road_network",
    "local_pace",
    "network_from_arrays",
    "travel_matrix",
]

log = logging.getLogger(__name__)

#: Cap on the dense Dijkstra block (origins x nodes float64) held at once.
_BLOCK_BYTES = 256 * 2**20


# ----------------------------------------------------------------------------- data classes


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A directed road graph for drive times (compared by identity: it holds arrays).

    Attributes
    ----------
    graph
        ``(n, n)`` CSR matrix; ``graph[i, j]`` is the fastest edge's travel time
        in seconds from node ``i`` to node ``j``. Only the largest strongly
        connected component is kept, so every node reaches every other.
    node_lon, node_lat
        Node coordinates (degrees, WGS84).
    description
        Where the graph came from, for logs and summaries.
    """

    graph: sp.csr_matrix
    node_lon: np.ndarray
    node_lat: np.ndarray
    description: str

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.graph.shape[0])

    @functools.cached_property
    def _tree(self) -> cKDTree:
        return cKDTree(_unit_vectors(self.node_lon, self.node_lat))

    def snap(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node of each point and its great-circle distance in km.

        Returns
        -------
        node, km
            ``(n,)`` int node indices and float distances.
        """
        lon = np.asarray(lon, dtype=float).reshape(-1)
        lat = np.asarray(lat, dtype=float).reshape(-1)
        if lon.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        chord, node = self._tree.query(_unit_vectors(lon, lat))
        km = 2.0 * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0)) * EARTH_RADIUS_KM
        return node.astype(np.int64), km


@dataclass(frozen=True, eq=False)
class TravelMatrix:
    """Drive times between two point sets.

    Attributes
    ----------
    seconds
        ``(n_origins, n_destinations)`` drive seconds.
    estimated
        Same shape, True where the straight-line estimate was used (a point off
        the graph, or no route).
    source
        ``"osm"`` (a road graph was used) or ``"estimate"``.
    coverage
        Share of destinations snapped to the graph within ``max_snap_km``
        (0 for a pure estimate; 1 when there are no destinations).
    """

    seconds: np.ndarray
    estimated: np.ndarray
    source: str
    coverage: float

    @property
    def hours(self) -> np.ndarray:
        """Drive hours (``seconds / 3600``)."""
        return self.seconds / 3600.0


# ----------------------------------------------------------------------------- geometry helpers


def _unit_vectors(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(lon), np.radians(lat)
    c = np.cos(la)
    return np.column_stack([c * np.cos(lo), c * np.sin(lo), np.sin(la)])


def _points(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.size == 0:
        return arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(f"travel: {name} must be an (n, 2) array of (lon, lat), got shape "
                         f"{arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"travel: {name} has missing or infinite coordinates")
    if (np.abs(arr[:, 0]) > 180).any() or (np.abs(arr[:, 1]) > 90).any():
        raise InputError(f"travel: {name} is not (lon, lat) in degrees "
                         "(a longitude beyond +-180 or a latitude beyond +-90)")
    return arr


def _estimate_seconds(km: np.ndarray, cfg: TravelConfig) -> np.ndarray:
    return km * cfg.circuity / cfg.estimate_speed_kph * 3600.0


# ----------------------------------------------------------------------------- loading


def network_from_arrays(arr: _osm.GraphArrays, description: str) -> RoadNetwork:
    """A :class:`RoadNetwork` of graph arrays: the largest strongly connected component,
    the fastest of parallel edges."""
    n = len(arr.node_id)
    keep = arr.src != arr.dst
    src, dst, sec = arr.src[keep], arr.dst[keep], arr.seconds[keep]
    if (sec < 0).any() or not np.isfinite(sec).all():
        raise InputError(f"{description}: negative or missing edge travel times")
    # whole milliseconds: what the compact GraphML stores, so a graph read back
    # from the cache gives the same seconds as the one just built
    sec = np.maximum(np.round(sec, 3), 1e-3)  # an explicit zero reads as "no edge" in some tools
    order = np.lexsort((sec, dst, src))
    src, dst, sec = src[order], dst[order], sec[order]
    first = np.ones(len(src), dtype=bool)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    g = sp.csr_matrix((sec[first], (src[first], dst[first])), shape=(n, n))
    if n == 0 or g.nnz == 0:
        raise InputError(f"{description}: the road graph has no edges")
    n_comp, labels = connected_components(g, directed=True, connection="strong")
    sizes = np.bincount(labels)
    big = int(np.argmax(sizes))  # ties: the component of the lowest node index
    nodes = np.flatnonzero(labels == big)
    if len(nodes) < 2:
        raise InputError(f"{description}: no two nodes of the road graph reach each other")
    sub = g[nodes][:, nodes].tocsr()
    sub.sort_indices()
    log.info("%s: largest strongly connected component has %d of %d nodes (%d components)",
             description, len(nodes), n, n_comp)
    return RoadNetwork(sub, arr.lon[nodes].copy(), arr.lat[nodes].copy(),
                       f"{description} ({len(nodes):,} nodes)")


def _file_kind(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".graphml.gz", ".graphml", ".osm.pbf", ".osm.bz2", ".osm", ".xml", ".xml.bz2"):
        if name.endswith(suffix):
            return {".xml": ".osm", ".xml.bz2": ".osm.bz2"}.get(suffix, suffix)
    raise InputError(f"travel.path {path}: unknown road graph format (use .osm, .osm.bz2, "
                     ".osm.pbf, .graphml or .graphml.gz)")


def _load_file(path: Path, cfg: TravelConfig) -> RoadNetwork:
    if not path.is_file():
        raise InputError(f"travel.path: road graph file not found: {path}")
    kind = _file_kind(path)
    desc = f"OSM file {path}"
    speeds = dict(getattr(cfg, "fallback_speeds_kph", {}) or {})
    if kind in (".graphml", ".graphml.gz"):
        try:
            arr = _osm.read_graphml_arrays(path)
        except Exception as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"travel.path {path}: not a readable GraphML file: {exc}") from exc
        if arr is None:  # no travel times stored: osmnx imputes them
            import osmnx as ox

            if kind == ".graphml.gz":
                import gzip

                with gzip.open(path, "rt", encoding="utf-8") as fh:
                    G = ox.load_graphml(graphml_str=fh.read())
            else:
                G = ox.load_graphml(path)
            G = _osm.add_travel_times(G, speeds, cfg.estimate_speed_kph)
            arr = _osm.graph_to_arrays(G)
        return network_from_arrays(arr, desc)
    # graphs built from raw OSM files (.osm, .osm.bz2, .osm.pbf) are cached under cache_dir("osm")
    cached = _osm.file_cache_path(cache_dir("osm"), path, cfg.custom_filter, speeds,
                                  cfg.estimate_speed_kph)
    if cached is not None and cached.is_file():
        arr = _osm.read_graphml_arrays(cached)
        if arr is not None:
            log.info("road graph of %s from cache %s", path, cached)
            return network_from_arrays(arr, desc)
    if kind == ".osm.pbf":
        with _osm.temp_xml_from_pbf(path) as tmp:
            G = _osm.graph_from_osm_xml(Path(tmp) / "graph.osm", cfg.custom_filter, speeds,
                                        cfg.estimate_speed_kph)
    else:
        G = _osm.graph_from_osm_xml(path, cfg.custom_filter, speeds, cfg.estimate_speed_kph)
    arr = _osm.graph_to_arrays(G)
    if cached is not None:
        try:
            _osm.save_compact_graphml(arr, cached, meta={"source": f"OpenStreetMap file {path.name}"})
        except OSError as exc:  # a read-only cache is no reason to fail
            log.warning("could not cache the road graph in %s: %s", cached, exc)
    return network_from_arrays(arr, desc)


def load_road_network(cfg: TravelConfig, *, lon: np.ndarray | None = None,
                      lat: np.ndarray | None = None) -> RoadNetwork | None:
    """Load the road graph that ``cfg`` names.

    Parameters
    ----------
    cfg
        ``source="estimate"`` gives None. ``"file"`` reads ``cfg.path``
        (``.osm``, ``.osm.bz2``, ``.osm.pbf`` -- needs the ``osmium`` package --,
        ``.graphml``, ``.graphml.gz``); raw OSM files are filtered with
        ``cfg.custom_filter`` like a download, and the graph built from them is
        cached (keyed by the file's SHA-256, the filter, the speeds and the
        osmnx version) so the next run reads it in about a second. ``"download"`` fetches the
        drive network of the convex hull of the points buffered by
        ``cfg.buffer_km`` through osmnx and caches it under
        ``cache_dir("osm")``; a cached graph whose region covers the request
        (same filter, same osmnx version) is reused without any request.
    lon, lat
        The points the network must cover; required for ``"download"``.

    Returns
    -------
    RoadNetwork or None

    Raises
    ------
    InputError
        Missing or unreadable file, bad filter, no points for a download.
    DataUnavailableError
        Download needed but Overpass cannot be reached and nothing cached covers the region.
    """
    if cfg.source == "estimate":
        return None
    if cfg.source == "file":
        return _load_file(Path(str(cfg.path)).expanduser(), cfg)
    if cfg.source != "download":
        raise InputError(f"travel.source: unknown source {cfg.source!r}")
    if lon is None or lat is None:
        raise InputError("travel.source = 'download' needs the points to cover (lon, lat)")
    pts = _points(np.column_stack([np.ravel(lon), np.ravel(lat)]), "download points")
    if len(pts) == 0:
        raise InputError("travel.source = 'download' needs at least one point to cover")
    polygon = _osm.download_polygon(pts[:, 0], pts[:, 1], float(cfg.buffer_km))
    folder = cache_dir("osm")
    hit = _osm.find_cached(folder, polygon, cfg.custom_filter)
    if hit is not None:
        log.info("road graph from cache %s", hit)
        arr = _osm.read_graphml_arrays(hit)
        if arr is not None:
            return network_from_arrays(arr, f"OSM download (cached {hit.name})")
    arr, out = _osm.download_graph(polygon, cfg.custom_filter,
                                   dict(getattr(cfg, "fallback_speeds_kph", {}) or {}),
                                   cfg.estimate_speed_kph, folder)
    log.info("road graph downloaded and cached as %s", out)
    return network_from_arrays(arr, f"OSM download (cached {out.name})")


# ----------------------------------------------------------------------------- matrices


def estimate_matrix(origins: np.ndarray, destinations: np.ndarray, cfg: TravelConfig) -> TravelMatrix:
    """Straight-line drive-time estimate: great-circle km x ``circuity`` / ``estimate_speed_kph``.

    Parameters
    ----------
    origins, destinations
        ``(n, 2)`` arrays of (lon, lat).
    cfg
        Supplies ``circuity`` and ``estimate_speed_kph``.

    Returns
    -------
    TravelMatrix
        ``source="estimate"``, everything ``estimated``, ``coverage`` 0.
    """
    o, d = _points(origins, "origins"), _points(destinations, "destinations")
    km = haversine_km(o[:, None, 0], o[:, None, 1], d[None, :, 0], d[None, :, 1])
    sec = _estimate_seconds(km.reshape(len(o), len(d)), cfg)
    return TravelMatrix(sec, np.ones(sec.shape, dtype=bool), "estimate", 0.0)


def _progress_blocks(n: int, size: int, desc: str) -> Iterable[int]:
    from tqdm.auto import tqdm

    starts = range(0, n, size)
    return tqdm(starts, desc=desc, unit="block", leave=False,
                disable=not (_osm.show_progress() and len(starts) > 1))


def _graph_seconds(network: RoadNetwork, o_nodes: np.ndarray, d_nodes: np.ndarray,
                   limit: float) -> np.ndarray:
    """Shortest seconds between node sets: one Dijkstra per distinct origin node."""
    uo, o_inv = np.unique(o_nodes, return_inverse=True)
    ud, d_inv = np.unique(d_nodes, return_inverse=True)
    out = np.empty((len(uo), len(ud)))
    block = max(1, int(_BLOCK_BYTES // (8 * max(network.n_nodes, 1))))
    for start in _progress_blocks(len(uo), block, "drive times"):
        idx = uo[start:start + block]
        dist = dijkstra(network.graph, directed=True, indices=idx, limit=limit)
        out[start:start + len(idx)] = dist[:, ud]
    return out[o_inv][:, d_inv]


def travel_matrix(network: RoadNetwork | None, origins: np.ndarray, destinations: np.ndarray,
                  cfg: TravelConfig) -> TravelMatrix:
    """Drive seconds from every origin to every destination.

    Each point is snapped to its nearest graph node. A snapped pair costs the
    graph route plus an access leg at each end (snap distance x ``circuity``
    / ``estimate_speed_kph``), so two distinct points on the same node are not
    0 apart. A point farther than ``cfg.max_snap_km`` from the graph, or a pair
    with no route within the optional ``cfg.max_route_seconds``, gets the
    straight-line estimate of :func:`estimate_matrix` and ``estimated=True``.
    Identical points are 0 apart.

    Parameters
    ----------
    network
        The road graph, or None for the pure estimate.
    origins, destinations
        ``(n, 2)`` arrays of (lon, lat).
    cfg
        Travel settings.

    Returns
    -------
    TravelMatrix
    """
    o, d = _points(origins, "origins"), _points(destinations, "destinations")
    if network is None:
        return estimate_matrix(o, d, cfg)
    est = estimate_matrix(o, d, cfg)
    if len(o) == 0 or len(d) == 0:
        return TravelMatrix(est.seconds, est.estimated, "osm", 1.0 if len(d) == 0 else 0.0)
    max_snap = float(cfg.max_snap_km)
    o_node, o_km = network.snap(o[:, 0], o[:, 1])
    d_node, d_km = network.snap(d[:, 0], d[:, 1])
    o_ok, d_ok = o_km <= max_snap, d_km <= max_snap
    seconds = est.seconds.copy()
    estimated = np.ones(seconds.shape, dtype=bool)
    oi, di = np.flatnonzero(o_ok), np.flatnonzero(d_ok)
    if len(oi) and len(di):
        limit = float(getattr(cfg, "max_route_seconds", None) or np.inf)
        g = _graph_seconds(network, o_node[oi], d_node[di], limit)
        access = (_estimate_seconds(o_km[oi], cfg)[:, None]
                  + _estimate_seconds(d_km[di], cfg)[None, :])
        total = g + access
        ok = np.isfinite(g)
        block = np.ix_(oi, di)
        seconds[block] = np.where(ok, total, seconds[block])
        estimated[block] = ~ok
    same = (o[:, None, 0] == d[None, :, 0]) & (o[:, None, 1] == d[None, :, 1])
    seconds[same] = 0.0
    estimated[same] = False
    n_off = int((~d_ok).sum()) + int((~o_ok).sum())
    if n_off:
        log.debug("travel: %d origin(s) and %d destination(s) farther than %g km from the road "
                 "graph use the straight-line estimate", int((~o_ok).sum()), int((~d_ok).sum()),
                 max_snap)
    return TravelMatrix(seconds, estimated, "osm", float(d_ok.mean()))


# ----------------------------------------------------------------------------- local pace

#: Graph nodes around a point used as Dijkstra sources / targets when measuring its pace.
_PACE_SOURCES = 8
_PACE_MIN_NODES = 8
_PACE_MIN_PAIRS = 10
#: Node pairs closer than this (km) are left out: snapping noise, not driving.
_PACE_MIN_KM = 0.05
_PACE_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def local_pace(network: RoadNetwork | None, lon: np.ndarray, lat: np.ndarray,
               radius_km: np.ndarray, cfg: TravelConfig) -> tuple[np.ndarray, np.ndarray]:
    """Drive seconds per straight-line km of short trips around each point, measured on the graph.

    For a point within ``cfg.max_snap_km`` of the graph, take the graph nodes
    within ``radius_km`` of it (at least the 8 nearest), run Dijkstra from 8 of
    them (evenly spread in node order) to all of them and return
    ``sum(route seconds) / sum(great-circle km)`` over the pairs at least 50 m
    apart: the road circuity divided by the speed of local trips, both as the
    graph has them. Points off the graph, or with fewer than 10 such pairs,
    get the straight-line estimate ``3600 * cfg.circuity / cfg.estimate_speed_kph``
    and ``measured=False``.

    Parameters
    ----------
    network
        The road graph, or None (everything is the estimate).
    lon, lat, radius_km
        ``(n,)`` points and the radius of the area around each.
    cfg
        ``max_snap_km``, ``circuity``, ``estimate_speed_kph``.

    Returns
    -------
    pace, measured
        ``(n,)`` seconds per km and whether each was measured on the graph.
    """
    lon = np.asarray(lon, dtype=float).reshape(-1)
    lat = np.asarray(lat, dtype=float).reshape(-1)
    radius = np.broadcast_to(np.asarray(radius_km, dtype=float), lon.shape)
    pace = np.full(lon.shape, 3600.0 * float(cfg.circuity) / float(cfg.estimate_speed_kph))
    measured = np.zeros(lon.shape, dtype=bool)
    if network is None or lon.size == 0:
        return pace, measured
    cache = _PACE_CACHE.setdefault(network, {})
    _, snap_km = network.snap(lon, lat)
    todo = {}
    for i in np.flatnonzero(snap_km <= float(cfg.max_snap_km)):
        key = (round(float(lon[i]), 6), round(float(lat[i]), 6), round(float(radius[i]), 3))
        if key not in cache:
            todo.setdefault(key, []).append(i)
            continue
        if cache[key][1]:
            pace[i], measured[i] = cache[key]
    if todo:
        for key, value in zip(todo, _measure_paces(network, list(todo))):
            cache[key] = value
            if value[1]:
                pace[todo[key]], measured[todo[key]] = value
    return pace, measured


def _pace_nodes(network: RoadNetwork, lon: float, lat: float, radius_km: float) -> np.ndarray:
    xyz = _unit_vectors(np.array([lon]), np.array([lat]))[0]
    chord = 2.0 * np.sin(max(radius_km, 0.0) / EARTH_RADIUS_KM / 2.0)
    idx = np.asarray(network._tree.query_ball_point(xyz, chord), dtype=np.int64)
    if len(idx) < _PACE_MIN_NODES:
        k = min(_PACE_MIN_NODES, network.n_nodes)
        idx = np.atleast_1d(network._tree.query(xyz, k=k)[1]).astype(np.int64)
    return np.sort(idx)


def _measure_paces(network: RoadNetwork, keys: list[tuple[float, float, float]]
                   ) -> list[tuple[float, bool]]:
    targets = [_pace_nodes(network, *k) for k in keys]
    sources = [t[np.unique(np.linspace(0, len(t) - 1, min(_PACE_SOURCES, len(t))).round()
                           .astype(int))] for t in targets]
    all_src = np.unique(np.concatenate(sources))
    row = {int(s): r for r, s in enumerate(all_src)}
    dist = np.empty((len(all_src), network.n_nodes))
    # pairs slower than 20 km/h over twice the largest radius are no local trip: cut there
    limit = max(2.0 * max(k[2] for k in keys), 2.0) * 180.0
    block = max(1, int(_BLOCK_BYTES // (8 * max(network.n_nodes, 1))))
    for start in range(0, len(all_src), block):
        idx = all_src[start:start + block]
        dist[start:start + len(idx)] = dijkstra(network.graph, directed=True, indices=idx,
                                                   limit=limit)
    out = []
    for src, tgt in zip(sources, targets):
        d = dist[[row[int(s)] for s in src]][:, tgt]
        km = haversine_km(network.node_lon[src][:, None], network.node_lat[src][:, None],
                          network.node_lon[tgt][None, :], network.node_lat[tgt][None, :])
        ok = (km >= _PACE_MIN_KM) & np.isfinite(d)
        if ok.sum() >= _PACE_MIN_PAIRS:
            out.append((float(d[ok].sum() / km[ok].sum()), True))
        else:
            out.append((float("nan"), False))
    return out
