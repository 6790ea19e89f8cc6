r"""Contraction of empty units: the model is sized by the units that hold accounts.

Most units of a national book hold no account: they carry no TAM and no account
units and matter only for contiguity and for a map without holes. Before the
solve every empty unit is merged into an account-bearing unit (its *anchor*);
the optimizer assigns the anchors on the contracted graph; the plan is then
expanded back to every unit.

Rule (graph Voronoi by multi-source breadth-first search)
---------------------------------------------------------
Sources are the account-bearing units :math:`S`. Every unit :math:`v` gets the
anchor :math:`a(v) \in S` that is the fewest hops away on the adjacency graph;
among the anchors at that hop distance *reached through a neighbour one hop
closer*, the one whose point is nearest to :math:`v`'s point (straight line in
the equal-area CRS), then the smallest id. Level by level: :math:`a(s) = s` for
:math:`s \in S`; a unit first reached at level :math:`h+1` takes its anchor from
one of its neighbours at level :math:`h`.

Why it is sound
    * Every group :math:`G_s = \{v : a(v) = s\}` is connected: by induction on the
      level, :math:`v` is adjacent to a neighbour of level :math:`h` with the same
      anchor, which is connected to :math:`s` inside :math:`G_s`.
    * The contracted graph joins :math:`G_s` and :math:`G_t` when some unit of one
      touches some unit of the other. A territory connected on the contracted
      graph is therefore connected on the full graph (walk the contracted path,
      crossing between groups on real edges and moving inside groups on their
      own connected subgraphs).
    * TAM and account units of a group are those of its anchor, so both bands
      are the same on the contracted and the full plan.
    * The contraction only restricts the model (an empty unit goes with its
      anchor): a plan of the contracted model is a plan of the full model.

Islands
    A connected component of the full graph without any account-bearing unit
    (only possible when the graph was built without bridges: ``unit_adjacency``
    bridges every island to its nearest unit) goes whole to the anchor whose
    point is nearest to the component's nearest unit (then smallest id), and is
    listed in :attr:`Contraction.islands`; its units cannot be contiguous with
    anything, as on the full graph.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

__all__ = ["Contraction", "contract_units", "contracted_frame", "expand_assignment"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Contraction:
    """The anchor of every unit and the contracted graph.

    Attributes
    ----------
    unit_ids
        Ids of the full units, in their order.
    anchor
        ``(n,)`` index (into ``unit_ids``) of each unit's anchor; ``anchor[s] == s``
        for an account-bearing unit.
    anchors
        Sorted indices of the account-bearing units: the rows of the contracted model.
    group
        ``(n,)`` position of each unit's anchor in ``anchors`` (the contracted row).
    graph
        Contracted adjacency graph on the anchors' ids (edges keep ``bridge`` when
        every full edge behind them is a bridge).
    hops
        ``(n,)`` hops from each unit to its anchor (-1 for island units).
    islands
        Ids of the units of account-free components (see the module docstring).
    """

    unit_ids: tuple[str, ...]
    anchor: np.ndarray
    anchors: np.ndarray
    group: np.ndarray
    graph: nx.Graph
    hops: np.ndarray
    islands: tuple[str, ...] = ()

    @property
    def n_full(self) -> int:
        return len(self.unit_ids)

    @property
    def n_contracted(self) -> int:
        return len(self.anchors)


def _bfs_anchors(ids: np.ndarray, nbrs: list[np.ndarray], xy: np.ndarray,
                 sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Multi-source BFS, level by level; ties by distance to the anchor, then anchor id."""
    n = len(ids)
    anchor = np.full(n, -1, dtype=np.int64)
    hops = np.full(n, -1, dtype=np.int64)
    anchor[sources] = sources
    hops[sources] = 0
    frontier = np.sort(sources)
    level = 0
    while len(frontier):
        best: dict[int, tuple[float, str, int]] = {}
        for u in frontier:
            a = int(anchor[u])
            for v in nbrs[u]:
                v = int(v)
                if hops[v] >= 0:
                    continue
                key = (float(np.hypot(*(xy[v] - xy[a]))), str(ids[a]), a)
                if v not in best or key < best[v]:
                    best[v] = key
        level += 1
        for v, (_, _, a) in best.items():
            anchor[v], hops[v] = a, level
        frontier = np.array(sorted(best), dtype=np.int64)
    return anchor, hops


def _attach_islands(ids: np.ndarray, nbrs: list[np.ndarray], xy: np.ndarray,
                    anchor: np.ndarray, sources: np.ndarray) -> list[str]:
    """Give each account-free component the anchor nearest to it (then smallest id)."""
    islands: list[str] = []
    todo = set(np.flatnonzero(anchor < 0).tolist())
    while todo:
        start = min(todo, key=lambda i: ids[i])
        comp, stack = {start}, [start]
        while stack:
            for v in nbrs[stack.pop()]:
                if int(v) in todo and int(v) not in comp:
                    comp.add(int(v))
                    stack.append(int(v))
        members = np.array(sorted(comp))
        d = np.hypot(*(xy[members][:, None, :] - xy[sources][None, :, :]).transpose(2, 0, 1))
        dmin = d.min(axis=0)
        best = min(range(len(sources)), key=lambda k: (float(dmin[k]), str(ids[sources[k]])))
        anchor[members] = sources[best]
        islands.extend(str(ids[i]) for i in members)
        todo -= comp
    return sorted(islands)


def contract_units(unit_ids, has_accounts: np.ndarray, adjacency: nx.Graph,
                   xy: np.ndarray) -> Contraction:
    """Contract every unit without accounts into an account-bearing anchor.

    Parameters
    ----------
    unit_ids
        Ids of the units (nodes of ``adjacency``), in model order.
    has_accounts
        ``(n,)`` bool, True where the unit holds at least one account.
    adjacency
        The full unit adjacency graph.
    xy
        ``(n, 2)`` unit points in a metric CRS (tie-break by distance).

    Returns
    -------
    Contraction
        See the module docstring for the rule and why contiguity survives it.
    """
    ids = np.asarray([str(u) for u in unit_ids], dtype=object)
    has = np.asarray(has_accounts, dtype=bool)
    if len(ids) != len(has) or len(ids) != len(xy):
        raise ValueError("unit_ids, has_accounts and xy must have the same length")
    sources = np.flatnonzero(has)
    if len(sources) == 0:
        raise ValueError("no unit holds an account: nothing to contract into")
    xy = np.asarray(xy, dtype=float)
    key = _memo_key(ids, has, adjacency, xy)
    with _MEMO_LOCK:
        done = _MEMO.get(key)
        if done is not None:
            _MEMO.move_to_end(key)
    if done is None:
        done = _contract(ids, sources, adjacency, xy)
        with _MEMO_LOCK:
            _MEMO[key] = done
            while len(_MEMO) > 4:
                _MEMO.popitem(last=False)
    return _fresh(done)


def _contract(ids: np.ndarray, sources: np.ndarray, adjacency: nx.Graph,
              xy: np.ndarray) -> Contraction:
    pos = {u: i for i, u in enumerate(ids)}
    nbrs = [np.array(sorted(pos[v] for v in adjacency.neighbors(u) if v in pos), dtype=np.int64)
            if u in adjacency else np.zeros(0, dtype=np.int64) for u in ids]
    anchor, hops = _bfs_anchors(ids, nbrs, xy, sources)
    islands = _attach_islands(ids, nbrs, xy, anchor, sources) if (anchor < 0).any() else []
    group = np.searchsorted(sources, anchor)
    graph = _contracted_graph(ids, sources, group, adjacency, pos)
    log.info("contracted %d units into %d account-bearing units (%d island units)",
             len(ids), len(sources), len(islands))
    return Contraction(tuple(ids), anchor, sources, group, graph, hops, tuple(islands))


#: The last few contractions, by a digest of their inputs: the pipeline contracts a plan's
#: units before the solve and its map draws the same groups (0.4 s a national book).
_MEMO: OrderedDict[bytes, Contraction] = OrderedDict()
_MEMO_LOCK = threading.Lock()


def _memo_key(ids: np.ndarray, has: np.ndarray, adjacency: nx.Graph, xy: np.ndarray) -> bytes:
    """Digest of the units, their accounts flag, their points and the graph's edges (with
    the bridge flag, which the contracted graph keeps)."""
    h = hashlib.blake2b(digest_size=20)
    h.update("\0".join(ids).encode())
    h.update(has.tobytes())
    h.update(xy.tobytes())
    h.update(repr([(a, b, bool(br)) for a, b, br in adjacency.edges(data="bridge", default=False)])
             .encode())
    return h.digest()


def _fresh(c: Contraction) -> Contraction:
    """A copy a caller may change without changing the memo."""
    return dataclasses.replace(c, anchor=c.anchor.copy(), anchors=c.anchors.copy(),
                               group=c.group.copy(), hops=c.hops.copy(), graph=c.graph.copy())


def _contracted_graph(ids: np.ndarray, sources: np.ndarray, group: np.ndarray,
                      adjacency: nx.Graph, pos: dict[str, int]) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(ids[sources])
    bridge_only: dict[tuple[int, int], bool] = {}
    for a, b, data in adjacency.edges(data=True):
        if a not in pos or b not in pos:
            continue
        ga, gb = int(group[pos[a]]), int(group[pos[b]])
        if ga == gb:
            continue
        key = (min(ga, gb), max(ga, gb))
        bridge_only[key] = bridge_only.get(key, True) and bool(data.get("bridge", False))
    for (ga, gb), br in sorted(bridge_only.items()):
        g.add_edge(ids[sources[ga]], ids[sources[gb]], **({"bridge": True} if br else {}))
    return g


def expand_assignment(contraction: Contraction, rep_of_anchor: np.ndarray) -> np.ndarray:
    """Rep of every full unit from the rep of every contracted row (``(n_contracted,)``)."""
    rep_of_anchor = np.asarray(rep_of_anchor)
    if len(rep_of_anchor) != contraction.n_contracted:
        raise ValueError(f"expected {contraction.n_contracted} contracted rows, "
                         f"got {len(rep_of_anchor)}")
    return rep_of_anchor[contraction.group]


def contracted_frame(units: pd.DataFrame, contraction: Contraction) -> pd.DataFrame:
    """The rows of ``units`` that anchor a group, with ``n_members`` (units in the group)."""
    out = units.iloc[contraction.anchors].reset_index(drop=True).copy()
    out["n_members"] = np.bincount(contraction.group, minlength=contraction.n_contracted)
    return out
