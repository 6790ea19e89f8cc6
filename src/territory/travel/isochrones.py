"""Drive-time reach polygons (isochrones) around a point, for the maps."""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse.csgraph import dijkstra

from ..errors import InputError
from .matrix import RoadNetwork

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = ["isochrones"]

#: Reach polygons already drawn, per road graph: every scenario of a run draws them around the
#: same homes, and the concave hull of thousands of nodes is the costly part.
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


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
        nodes gives an empty polygon. The same graph, point, times and ratio
        give the same polygons, computed once (a fresh frame each call).
    """
    mins = sorted({float(m) for m in minutes}, reverse=True)
    if not mins or min(mins) <= 0:
        raise InputError("isochrones: minutes must be positive")
    cache = _CACHE.setdefault(network, {})
    key = (float(lon), float(lat), tuple(mins), float(ratio))
    if key not in cache:
        cache[key] = _reach_polygons(network, float(lon), float(lat), mins, ratio)
    return cache[key].copy()


def _reach_polygons(network: RoadNetwork, lon: float, lat: float, mins: list[float],
                    ratio: float) -> gpd.GeoDataFrame:
    """The polygons of :func:`isochrones` (``mins`` sorted largest first); hulls are shared."""
    import geopandas as gpd
    import shapely

    node, _ = network.snap(np.array([lon]), np.array([lat]))
    dist = dijkstra(network.graph, directed=True, indices=int(node[0]), limit=max(mins) * 60.0)
    # hulls by the node set they wrap: on a city graph most homes reach the whole graph
    # within the shortest time, so every polygon of every home is the same hull
    drawn = _CACHE.setdefault(network, {})
    geoms = []
    for m in mins:
        reach = np.flatnonzero(dist <= m * 60.0)
        if len(reach) < 3:
            geoms.append(shapely.Polygon())
            continue
        key = ("hull", float(ratio), hashlib.blake2b(reach.tobytes(), digest_size=16).digest())
        if key in drawn:
            geoms.append(drawn[key])
            continue
        # straight from the coordinates: MultiPoint(array) builds a Point object per node first
        pts = shapely.multipoints(np.column_stack([network.node_lon[reach],
                                                   network.node_lat[reach]]))
        hull = shapely.concave_hull(pts, ratio=ratio) if ratio < 1 else pts.convex_hull
        if hull.geom_type != "Polygon" or hull.is_empty:
            hull = pts.convex_hull
        drawn[key] = hull
        geoms.append(hull)
    return gpd.GeoDataFrame({"minutes": [int(m) if m.is_integer() else m for m in mins]},
                            geometry=geoms, crs="EPSG:4326")

