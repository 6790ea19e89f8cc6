"""Baselines the optimizer is measured against, and the plan scorecard they share.

* ``kmeans``: scikit-learn KMeans on the unit points (equal-area km), weighted
  by account units, ``n_init=10``, fixed seed; each unit goes to its cluster and
  the cluster centre is that territory's base.
* ``nearest``: each unit to the nearest of the optimizer's rep bases (plain,
  no capacity).
* ``greedy``: capacity-aware greedy on the optimizer's bases: units in
  decreasing TAM order, each to the nearest base whose TAM stays within
  ``(1 + tol) x target`` and whose account units stay within the upper band;
  when no base has room, the nearest base.

Every plan is scored the same way (:func:`score_plan`): reps outside the TAM
band and the account-unit band, TAM and account-unit CV, travel objective
(``sum_u w_u x km(u, base of its rep)``, the optimizer's objective), empty
territories and, when an adjacency graph is given, territories in pieces.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from sklearn.cluster import KMeans

from territory.optimize import AssignProblem

__all__ = ["greedy_capacity", "kmeans_alone", "nearest_base", "score_plan"]


def kmeans_alone(xy: np.ndarray, account_units: np.ndarray, k: int, *, seed: int = 0,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(labels, centres) of weighted k-means; empty units weigh 1% of the mean."""
    w = account_units + 0.01 * max(float(account_units.mean()), 1.0)
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(xy, sample_weight=w)
    return km.labels_.astype(np.int64), km.cluster_centers_


def nearest_base(xy: np.ndarray, bases: np.ndarray) -> np.ndarray:
    """Each unit to its nearest base."""
    d = np.linalg.norm(xy[:, None, :] - bases[None, :, :], axis=2)
    return np.argmin(d, axis=1).astype(np.int64)


def greedy_capacity(p: AssignProblem, xy: np.ndarray, bases: np.ndarray) -> np.ndarray:
    """Capacity-aware greedy: largest TAM first, nearest base with room (else nearest)."""
    d = np.linalg.norm(xy[:, None, :] - bases[None, :, :], axis=2)
    tam_cap = p.tam_band.high
    tam_load = np.zeros(p.n_reps)
    au_load = np.zeros(p.n_reps)
    rep_of = np.empty(p.n_units, dtype=np.int64)
    for u in np.argsort(-p.tam, kind="stable"):
        order = np.argsort(d[u], kind="stable")
        room = [r for r in order
                if tam_load[r] + p.tam[u] <= tam_cap[r] and au_load[r] + p.account_units[u] <= p.account_units_hi[r]]
        r = room[0] if room else order[0]
        rep_of[u] = r
        tam_load[r] += p.tam[u]
        au_load[r] += p.account_units[u]
    return rep_of


def score_plan(p: AssignProblem, rep_of: np.ndarray, xy: np.ndarray, bases: np.ndarray,
               weight: np.ndarray, adjacency: nx.Graph | None = None) -> dict:
    """Balance, travel and contiguity of a plan (units -> rep index)."""
    m = p.n_reps
    tam = np.bincount(rep_of, weights=p.tam, minlength=m)
    au = np.bincount(rep_of, weights=p.account_units, minlength=m)
    tb, ab = p.tam_band, p.account_units_band
    tam_breaks = int(((tam < tb.low * (1 - 1e-9)) | (tam > tb.high * (1 + 1e-9))).sum())
    au_breaks = int(((au < ab.low - 1e-9) | (au > ab.high + 1e-9)).sum())
    dist = np.linalg.norm(xy - bases[rep_of], axis=1)
    out = {
        "tam_band_breaks": tam_breaks,
        "units_band_breaks": au_breaks,
        "tam_cv": float(tam.std() / tam.mean()) if tam.mean() else None,
        "units_cv": float(au.std() / au.mean()) if au.mean() else None,
        "tam_min_max_of_target": [float((tam / p.tam_target).min()), float((tam / p.tam_target).max())],
        "travel": float((weight * dist).sum()),
        "empty_reps": int((np.bincount(rep_of, minlength=m) == 0).sum()),
    }
    if adjacency is not None:
        pieces = 0
        for r in range(m):
            members = [p.unit_ids[u] for u in np.flatnonzero(rep_of == r)]
            if members and not nx.is_connected(adjacency.subgraph(members)):
                pieces += 1
        out["split_territories"] = pieces
    return out
