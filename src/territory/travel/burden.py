"""Travel burden on real OpenStreetMap drive times.

Stage ``travel`` of the pipeline: rep bases x unit centroids -> drive-time
matrix -> hours per month per rep from the visit cadence.

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
* :func:`travel_burden` turns a plan into drive hours per month per rep
  (visits grouped into day tours; model in its docstring).
* :func:`isochrones` draws 30/60/90-minute reach polygons for the maps.

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from . import network as _osm
from ..cache import cache_dir
from ..config import TravelConfig
from ..errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = [
    "RoadNetwork",
    "TravelMatrix",
    "estimate_matrix",
    "haversine_km",
    "isochrones",
    "load_road_network",
    "travel_burden",
    "travel_matrix",
]

log = logging.getLogger(__name__)

EARTH_RADIUS_KM = 6371.0088
#: Cap on the dense Dijkstra block (origins x nodes float64) held at once.
_BLOCK_BYTES = 256 * 2**20
#: Cache graphs built from raw OSM files (.osm, .osm.bz2, .osm.pbf) under cache_dir("osm").
_FILE_CACHE = True


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


def haversine_km(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km (broadcasting)."""
    lo1, la1, lo2, la2 = (np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2))
    h = (np.sin((la2 - la1) / 2) ** 2
         + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


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


def _network_from_arrays(arr: _osm.GraphArrays, description: str) -> RoadNetwork:
    """Keep the largest strongly connected component; fastest parallel edge wins."""
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
        return _network_from_arrays(arr, desc)
    cached = _osm.file_cache_path(cache_dir("osm"), path, cfg.custom_filter, speeds,
                                  cfg.estimate_speed_kph) if _FILE_CACHE else None
    if cached is not None and cached.is_file():
        arr = _osm.read_graphml_arrays(cached)
        if arr is not None:
            log.info("road graph of %s from cache %s", path, cached)
            return _network_from_arrays(arr, desc)
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
    return _network_from_arrays(arr, desc)


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
            return _network_from_arrays(arr, f"OSM download (cached {hit.name})")
    arr, out = _osm.download_graph(polygon, cfg.custom_filter,
                                   dict(getattr(cfg, "fallback_speeds_kph", {}) or {}),
                                   cfg.estimate_speed_kph, folder)
    log.info("road graph downloaded and cached as %s", out)
    return _network_from_arrays(arr, f"OSM download (cached {out.name})")


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


# ----------------------------------------------------------------------------- burden


def _tours(t: np.ndarray, est: np.ndarray, visits: np.ndarray, per_day: int
           ) -> tuple[float, np.ndarray]:
    """Day tours over one rep's units: total seconds and which units touched an estimated leg.

    ``t`` is the (k+1, k+1) seconds matrix with the base at index 0.
    """
    k = len(visits)
    flag = np.zeros(k, dtype=bool)
    if k == 0:
        return 0.0, flag
    eps = 1e-9
    rem = visits.astype(float).copy()
    total = 0.0
    # whole days at one unit: base -> unit -> base, intra-unit hops ~0
    full = np.floor(rem / per_day + eps)
    total += float((full * (t[0, 1:] + t[1:, 0])).sum())
    flag |= (full > 0) & (est[0, 1:] | est[1:, 0])
    rem = np.maximum(rem - full * per_day, 0.0)
    rem[rem < eps] = 0.0
    # shared days: nearest neighbour from the base, stable ties (lowest index)
    while (rem > 0).any():
        cap, cur, tour = float(per_day), 0, 0.0
        today = np.zeros(k, dtype=bool)
        while cap > eps:
            cand = (rem > 0) & ~today
            if not cand.any():
                break
            cost = np.where(cand, t[cur, 1:], np.inf)
            j = int(np.argmin(cost))
            tour += float(t[cur, j + 1])
            if est[cur, j + 1]:
                flag[j] = True
                if cur:
                    flag[cur - 1] = True
            take = min(rem[j], cap)
            rem[j] -= take
            if rem[j] < eps:
                rem[j] = 0.0
            cap -= take
            today[j] = True
            cur = j + 1
        tour += float(t[cur, 0])
        if est[cur, 0] and cur:
            flag[cur - 1] = True
        # a day holding less than one whole visit (fractional visits_per_year)
        # happens only in that share of years
        total += tour * min(1.0, per_day - cap)
    return total, flag


def travel_burden(assignment: pd.DataFrame, units: pd.DataFrame, reps: pd.DataFrame,
                  network: RoadNetwork | None, cfg: TravelConfig, *,
                  method: str = "tours") -> pd.DataFrame:
    """Drive hours per month of each rep from the visit cadence.

    Model (``method="tours"``, the default). A month is the average month of
    the year: each unit has ``visits_per_year / 12`` visits a month; the year's
    visits are scheduled and the drive divided by 12, so a unit visited 4
    times a year costs a third of a trip each month rather than a whole one.

    1. Visits are grouped into working days of ``cfg.visits_per_day`` visits;
       every day starts and ends at the rep's base.
    2. A unit with at least a day's worth of visits fills whole days by
       itself: each costs ``base -> unit -> base`` (hops between accounts of
       one unit count as ~0).
    3. The remaining visits are chained into shared days by nearest neighbour:
       from the base, drive to the nearest unit with visits left (drive
       seconds; ties to the unit listed first, units sorted by ``unit_id``),
       serve as many of its visits as the day still holds, go on to the
       nearest next one, and return to the base when the day is full or no
       unit is left.
    4. ``drive_hours_per_month`` = sum of all day tours / 12 / 3600.

    Visit counts need not be whole: a leftover day holding less than one
    visit (say 0.5, from 2.5 visits a year) happens in that share of years
    and costs that share of its tour.

    ``method="round_trips"`` is the naive upper bound for comparison: every
    visit is its own ``base -> unit -> base`` trip. It overstates the burden
    by roughly the number of visits per day.

    Parameters
    ----------
    assignment
        Columns ``unit_id``, ``rep_id`` (one rep per row; a unit may appear
        once per rep that visits it).
    units
        Columns ``unit_id``, ``lon``, ``lat``, ``visits_per_year``.
    reps
        Columns ``rep_id``, ``lon``, ``lat`` (the rep's base).
    network
        The road graph, or None for the straight-line estimate.
    cfg
        ``visits_per_day``, ``working_hours_per_month``,
        ``max_drive_hours_per_month``, ``max_travel_share`` and the estimate settings.
    method
        ``"tours"`` or ``"round_trips"``.

    Returns
    -------
    pandas.DataFrame
        One row per rep of ``reps`` (in that order): ``rep_id``,
        ``visits_per_month``, ``drive_hours_per_month``, ``travel_share``
        (drive hours / ``working_hours_per_month``), ``over_hours`` (above
        ``max_drive_hours_per_month``), ``over_share`` (above
        ``max_travel_share``), ``estimated_share`` (share of the rep's visits
        with a leg on the straight-line estimate) and ``source``.
    """
    if method not in ("tours", "round_trips"):
        raise InputError(f"travel_burden: method must be 'tours' or 'round_trips', got {method!r}")
    for frame, cols, name in ((assignment, ("unit_id", "rep_id"), "assignment"),
                              (units, ("unit_id", "lon", "lat", "visits_per_year"), "units"),
                              (reps, ("rep_id", "lon", "lat"), "reps")):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise InputError(f"travel_burden: {name} lacks column(s) {', '.join(missing)}")
    u = units[["unit_id", "lon", "lat", "visits_per_year"]].drop_duplicates("unit_id")
    a = assignment[["unit_id", "rep_id"]].dropna().merge(u, on="unit_id", how="left")
    if a["lon"].isna().any():
        bad = a.loc[a["lon"].isna(), "unit_id"].astype(str).unique()[:5]
        raise InputError(f"travel_burden: assigned unit(s) without a location: {', '.join(bad)}")
    a["visits_per_year"] = pd.to_numeric(a["visits_per_year"], errors="coerce").fillna(0.0)
    if (a["visits_per_year"] < 0).any():
        raise InputError("travel_burden: visits_per_year must not be negative")
    per_day = int(cfg.visits_per_day)
    source = "estimate" if network is None else "osm"
    rows = []
    for rep in reps.itertuples(index=False):
        rid = rep.rep_id
        mine = a[(a["rep_id"].astype(str) == str(rid)) & (a["visits_per_year"] > 0)]
        mine = mine.sort_values("unit_id", key=lambda s: s.astype(str), kind="stable")
        visits = mine["visits_per_year"].to_numpy(float)
        yearly = float(visits.sum())
        seconds, est_share = 0.0, 0.0
        if len(mine):
            pts = np.vstack([[float(rep.lon), float(rep.lat)], mine[["lon", "lat"]].to_numpy(float)])
            tm = travel_matrix(network, pts, pts, cfg)
            if method == "round_trips":
                legs = tm.seconds[0, 1:] + tm.seconds[1:, 0]
                seconds = float((visits * legs).sum())
                flag = tm.estimated[0, 1:] | tm.estimated[1:, 0]
            else:
                seconds, flag = _tours(tm.seconds, tm.estimated, visits, per_day)
            est_share = float(visits[flag].sum() / yearly) if yearly > 0 else 0.0
        hours = seconds / 12.0 / 3600.0
        share = hours / float(cfg.working_hours_per_month)
        rows.append({
            "rep_id": rid,
            "visits_per_month": yearly / 12.0,
            "drive_hours_per_month": hours,
            "travel_share": share,
            "over_hours": bool(hours > cfg.max_drive_hours_per_month),
            "over_share": bool(share > cfg.max_travel_share),
            "estimated_share": est_share,
            "source": source,
        })
    return pd.DataFrame(rows, columns=["rep_id", "visits_per_month", "drive_hours_per_month",
                                       "travel_share", "over_hours", "over_share",
                                       "estimated_share", "source"])


# ----------------------------------------------------------------------------- isochrones


def isochrones(network: RoadNetwork, lon: float, lat: float,
               minutes: Sequence[float] = (30, 60, 90), *, ratio: float = 0.3) -> gpd.GeoDataFrame:
    """Reach polygons: the area within each drive time of a point.

    The point is snapped to its nearest node (its access leg is not counted);
    each polygon is the concave hull (``shapely.concave_hull`` with ``ratio``;
    1 gives the convex hull) of the nodes reached within the time.

    Parameters
    ----------
    network
        The road graph.
    lon, lat
        The start point (degrees).
    minutes
        Drive times; one polygon each.
    ratio
        Concave-hull ratio in [0, 1].

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``minutes``, ``geometry``, CRS EPSG:4326, largest first (so a
        map draws the smaller ones on top). A time that reaches fewer than 3
        nodes gives an empty polygon.
    """
    import geopandas as gpd
    import shapely

    mins = sorted({float(m) for m in minutes}, reverse=True)
    if not mins or min(mins) <= 0:
        raise InputError("isochrones: minutes must be positive")
    node, _ = network.snap(np.array([lon]), np.array([lat]))
    dist = dijkstra(network.graph, directed=True, indices=int(node[0]), limit=max(mins) * 60.0)
    geoms = []
    for m in mins:
        reach = np.flatnonzero(dist <= m * 60.0)
        if len(reach) < 3:
            geoms.append(shapely.Polygon())
            continue
        pts = shapely.MultiPoint(np.column_stack([network.node_lon[reach], network.node_lat[reach]]))
        hull = shapely.concave_hull(pts, ratio=ratio) if ratio < 1 else pts.convex_hull
        if hull.geom_type != "Polygon" or hull.is_empty:
            hull = pts.convex_hull
        geoms.append(hull)
    return gpd.GeoDataFrame({"minutes": [int(m) if m.is_integer() else m for m in mins]},
                            geometry=geoms, crs="EPSG:4326")

