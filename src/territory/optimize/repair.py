"""Whole-plan arithmetic for the search: objective, band loads and breach, greedy repair.

Everything here is numpy on a plan (``rep_of[u]`` = rep index of unit u); no
solver is involved, so it is cheap enough to run after every move.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from .lp import LPRelaxation
from .problem import AssignProblem, Band

__all__ = ["PlanScore", "disjoint_moves", "greedy_band_repair", "lp_rounding"]

log = logging.getLogger(__name__)

#: from this many reps on, the greedy repairs make a batch of moves on disjoint reps a
#: round; below, one move a round (the best), whose plans were a little cheaper: on 2,241
#: units x 58 reps the batched connected repair started LNS 1.8% costlier and it ended
#: 2.4% costlier in the same 27 s
BATCH_MIN_REPS = 100


@dataclass(frozen=True)
class PlanScore:
    """The model's objective and hard-band breach of whole plans."""

    cost: np.ndarray  # (n, m) objective coefficient of every pair
    fixed: np.ndarray  # (n,) rep a locked/root unit must take, -1 when free
    tam: np.ndarray
    account_units: np.ndarray
    tam_band: Band
    units_band: Band
    soft_tam: bool
    soft_account_units: bool
    penalty: float

    @classmethod
    def of(cls, p: AssignProblem) -> PlanScore:
        fixed = np.full(p.n_units, -1, dtype=np.int64)
        for u, r in p.fixed.items():
            fixed[u] = r
        return cls(p.objective_cost, fixed, np.asarray(p.tam, float),
                   np.asarray(p.account_units, float), p.tam_band, p.account_units_band,
                   p.soft_tam, p.soft_account_units, p.penalty)

    @property
    def n(self) -> int:
        return len(self.tam)

    @property
    def m(self) -> int:
        return len(self.tam_band.low)

    def loads(self, rep_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-rep TAM and account units of a plan."""
        return (np.bincount(rep_of, weights=self.tam, minlength=self.m),
                np.bincount(rep_of, weights=self.account_units, minlength=self.m))

    def rep_breach(self, reps: np.ndarray, tam: np.ndarray, au: np.ndarray) -> np.ndarray:
        """Hard-band breach of ``reps`` at loads ``tam``, ``au`` (scaled units)."""
        out = np.zeros(len(reps))
        if not self.soft_tam:
            out += self.tam_band.breach(tam, reps)
        if not self.soft_account_units:
            out += self.units_band.breach(au, reps)
        return out

    def hard_breach(self, rep_of: np.ndarray) -> np.ndarray:
        """Per-rep breach of the bands that are hard (what the repair must remove)."""
        return self.rep_breach(np.arange(self.m), *self.loads(rep_of))

    def slack(self, rep_of: np.ndarray) -> dict[str, float]:
        """Slack on the soft bands, by family (as the model's slack columns would hold)."""
        tam, au = self.loads(rep_of)
        out: dict[str, float] = {}
        for family, band, load, soft in (("tam_band", self.tam_band, tam, self.soft_tam),
                                         ("units_band", self.units_band, au,
                                          self.soft_account_units)):
            if soft:
                out[f"{family}_under"] = float((np.maximum(band.low - load, 0) / band.scale).sum())
                out[f"{family}_over"] = float((np.maximum(load - band.high, 0) / band.scale).sum())
        return out

    def objective(self, rep_of: np.ndarray) -> tuple[float, float]:
        """(objective of the model, slack on soft bands) for a plan."""
        travel = float(self.cost[np.arange(self.n), rep_of].sum())
        slack = sum(self.slack(rep_of).values())
        return travel + self.penalty * slack, slack


def lp_rounding(score: PlanScore, lp: LPRelaxation) -> np.ndarray:
    """Each unit to its largest LP share (whole in the LP for all but a few units)."""
    order = np.lexsort((lp.pr, -lp.x, lp.pu))
    first = np.r_[True, lp.pu[order][1:] != lp.pu[order][:-1]]
    rep_of = np.full(score.n, -1, dtype=np.int64)
    rep_of[lp.pu[order[first]]] = lp.pr[order[first]]
    b = score.hard_breach(rep_of)
    log.info("LP rounding: %d of %d units whole in the LP; %d reps outside a hard band "
             "(breach %.3g)", int((lp.x > 1 - 1e-6).sum()), score.n, int((b > 1e-9).sum()),
             b.sum())
    return rep_of


def greedy_band_repair(score: PlanScore, rep_of: np.ndarray, pu: np.ndarray, pr: np.ndarray,
                       deadline: float, max_moves: int | None = None) -> np.ndarray:
    """Move single units between candidate reps while the total hard-band breach falls.

    Each round ranks every candidate move that lowers the breach by its extra
    cost per unit of breach removed (ties: by pair index) and makes the best
    ones that share no rep (:func:`disjoint_moves`): a move changes only its
    two reps' loads, so each still lowers the breach by what was computed.
    Deterministic. Measured on 21,068 ZIPs x 602 reps: one move a round took
    50 s for 2,290 moves. Below ``BATCH_MIN_REPS`` reps, one move a round.
    """
    rep_of = rep_of.copy()
    movable = score.fixed[pu] < 0
    pu, pr = pu[movable], pr[movable]
    pc = score.cost[pu, pr]
    tam, au = score.loads(rep_of)
    b = score.rep_breach(np.arange(score.m), tam, au)
    max_moves = max_moves or 4 * score.n
    moves = 0
    while b.sum() > 1e-9 and moves < max_moves and time.perf_counter() < deadline:
        r = rep_of[pu]
        # only pairs touching a breaching rep can lower the breach
        idx = np.flatnonzero((pr != r) & ((b[r] > 1e-12) | (b[pr] > 1e-12)))
        if idx.size == 0:
            break
        u, s, r = pu[idx], pr[idx], r[idx]
        du = (score.rep_breach(r, tam[r] - score.tam[u], au[r] - score.account_units[u]) - b[r]
              + score.rep_breach(s, tam[s] + score.tam[u], au[s] + score.account_units[u])
              - b[s])
        good = np.flatnonzero(du < -1e-12)
        if good.size == 0:
            break
        score_ = (pc[idx[good]] - score.cost[u[good], r[good]]) / -du[good]
        ranked = good[np.lexsort((idx[good], score_))]
        for uu, ss, rr in disjoint_moves(u[ranked], s[ranked], r[ranked], score.m,
                                         max_moves - moves):
            rep_of[uu] = ss
            for q, sign in ((rr, -1.0), (ss, 1.0)):
                tam[q] += sign * score.tam[uu]
                au[q] += sign * score.account_units[uu]
            b[[rr, ss]] = score.rep_breach(np.array([rr, ss]), tam[[rr, ss]], au[[rr, ss]])
            moves += 1
    log.info("greedy repair: %d moves, hard-band breach %.3g on %d reps", moves, b.sum(),
             int((b > 1e-9).sum()))
    return rep_of


def disjoint_moves(unit: np.ndarray, to: np.ndarray, frm: np.ndarray, n_reps: int,
                   limit: int) -> list[tuple[int, int, int]]:
    """The ranked moves ``(unit, to, from)`` that share no rep with a better one.

    Looks at no more than ``4 * n_reps + 64`` of them: past that few reps are left.
    Below ``BATCH_MIN_REPS`` reps only the best move.
    """
    if n_reps < BATCH_MIN_REPS:
        limit = min(limit, 1)
    touched = np.zeros(n_reps, dtype=bool)
    seen: set[int] = set()
    out: list[tuple[int, int, int]] = []
    for uu, ss, rr in zip(unit[: 4 * n_reps + 64].tolist(), to[: 4 * n_reps + 64].tolist(),
                          frm[: 4 * n_reps + 64].tolist()):
        if len(out) >= limit:
            break
        if touched[ss] or touched[rr] or uu in seen:
            continue
        touched[ss] = touched[rr] = True
        seen.add(uu)
        out.append((uu, ss, rr))
    return out
