"""The typed result of a scenario: one key schema for ``summary.json``.

:class:`Summary` is the only shape a scenario's summary has: a plan, the
current alignment and a scenario without a plan (infeasible, timed out) all
carry every field (``None`` where a field does not apply). It is written by
:func:`write_summary` and read back by :func:`load_summary`, which the maps,
the comparison page and ``territory compare`` use; the defaults of a field that
an older file lacks live here once, taken from the config's own defaults.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import geopandas as gpd
import networkx as nx
import pandas as pd

from .config import ScenarioConfig
from .errors import InputError
from .metrics import FAIRNESS_THRESHOLD

__all__ = ["NO_PLAN_STATUSES", "OPTIMAL_GAP", "NoPlan", "RunResult", "ScenarioResult", "Summary",
           "as_summary", "fmt_gap", "load_summary", "write_summary"]

log = logging.getLogger(__name__)

_DEFAULT = ScenarioConfig()

#: statuses of a scenario that has no plan (only ``summary.json`` and ``rejects.csv``); a
#: ``time_limit`` summary with an objective is a plan the solver stopped before proving it
NO_PLAN_STATUSES = ("infeasible", "time_limit")
#: a MIP gap at most this reads "optimal" (HiGHS' default relative gap tolerance)
OPTIMAL_GAP = 1e-4


def fmt_gap(gap: float) -> str:
    """A relative gap as people read it: two significant digits (``0.0083`` -> ``0.83%``)."""
    return f"{100 * gap:.2g}%"


@dataclass(frozen=True)
class Summary:
    """What a scenario run says about itself; serialised flat to ``summary.json``.

    Groups: identity (``scenario`` … ``status``), accounts (``accounts_in =
    assigned + rejected``), geography, the rules planned with, travel, the
    solve, and the plan's quality (bands, contiguity, disruption, fairness,
    drive hours).
    """

    # identity
    scenario: str = "scenario"
    description: str = ""
    territory_version: str = ""
    seed: int | None = None
    status: str = ""
    # accounts
    accounts_in: int = 0
    assigned: int = 0
    rejected: int = 0
    reject_reasons: Mapping[str, int] = field(default_factory=dict)
    zip_fixed: int = 0
    substitutions: int = 0
    coordinates_replaced: int = 0
    read_notes: tuple[str, ...] = ()
    tier_sources: Mapping[str, int] = field(default_factory=dict)
    unowned_accounts: int | None = None
    #: where the roster came from ("file", "seats", "current") and how owners matched it
    roster: str | None = None
    owner_match: Mapping[str, Any] | None = None
    #: per rep: how much of the current book each incumbent keeps
    incumbents: Any = None
    # geography
    unit_level: str = _DEFAULT.unit_level
    unit_source: str = ""
    bridges: tuple[Any, ...] = ()
    n_units: int | None = None
    #: units the optimizer saw (fewer than n_units when empty units were contracted)
    n_units_solved: int | None = None
    n_reps: int | None = None
    base_kind: str | None = None
    # the rules planned with
    solver: str = _DEFAULT.solver.name
    time_limit_seconds: float | None = None
    tam_tolerance: float = _DEFAULT.balance.tam_tolerance
    account_units_band: tuple[float, float] = (_DEFAULT.balance.account_units_min,
                                               _DEFAULT.balance.account_units_max)
    contiguity: bool = _DEFAULT.contiguity
    max_moved_share: float | None = None
    max_drive_hours_per_month: float = _DEFAULT.travel.max_drive_hours_per_month
    max_travel_share: float = _DEFAULT.travel.max_travel_share
    fairness_threshold: float = FAIRNESS_THRESHOLD
    # travel
    travel_source: str = "estimate"
    travel_coverage: float | None = None
    # the solve
    objective: float | None = None
    lp_bound: float | None = None
    mip_bound: float | None = None
    mip_gap: float | None = None
    engine: str | None = None
    penalty_cost: float | None = None
    solve_seconds: float | None = None
    build_seconds: float | None = None
    candidates_per_unit: int | None = None
    slack: Mapping[str, float] = field(default_factory=dict)
    wall_seconds: float | None = None
    #: the free-centre rounds (bases moved to their territory's medoid), when reps have no homes
    free_centres: Mapping[str, Any] | None = None
    explanation: str | None = None
    #: a plan made by hand (``territory score``): the file it came from and what was edited
    plan_source: str | None = None
    edited_from: Mapping[str, Any] = field(default_factory=dict)
    diagnosis: Mapping[str, Any] | None = None
    # the plan's quality
    violations: tuple[str, ...] = ()
    contiguous: bool | None = None
    territory_pieces: Mapping[str, int] = field(default_factory=dict)
    tam_cv: float | None = None
    accounts_moved: int | None = None
    tam_moved: float | None = None
    moved_share: float | None = None
    moved_matrix: tuple[Mapping[str, Any], ...] = ()
    fairness_share: float | None = None
    fairness_flag: bool = False
    worse_off_reps: tuple[str, ...] = ()
    reps_flagged: int | None = None
    drive_hours_mean: float | None = None
    drive_hours_max: float | None = None

    @property
    def has_plan(self) -> bool:
        """False for a scenario that ended without a plan (infeasible, timed out before one)."""
        if self.status == "time_limit" and self.objective is not None:
            return True  # stopped at the time limit with a plan (LNS, balance first)
        return self.status not in NO_PLAN_STATUSES

    @property
    def proved_gap(self) -> float | None:
        """The relative gap the solve proved: the MIP gap, else from the objective and LP bound."""
        if self.mip_gap is not None and math.isfinite(self.mip_gap):
            return max(float(self.mip_gap), 0.0)
        obj, lp = self.objective, self.lp_bound
        if obj is None or lp is None or not (math.isfinite(obj) and math.isfinite(lp)):
            return None
        return max(obj - lp, 0.0) / max(abs(obj), 1e-9)

    @property
    def status_label(self) -> str:
        """The status in words: "optimal" only at a gap of ~0, else "within 0.8% of optimal".

        ``status`` stays the machine-readable value (``optimal``, ``time_limit``, ...).
        """
        gap = self.proved_gap
        if self.status == "optimal":
            return ("optimal" if gap is None or gap <= OPTIMAL_GAP
                    else f"within {fmt_gap(gap)} of optimal")
        if self.status == "time_limit" and self.has_plan:
            return ("time limit: best plan found, gap unknown" if gap is None else
                    "time limit: optimal" if gap <= OPTIMAL_GAP else
                    f"time limit: within {fmt_gap(gap)} of optimal")
        if self.status == "time_limit":
            return "no plan in time"
        return self.status or "unknown"

    def replace(self, **changes: Any) -> "Summary":
        """A copy with ``changes`` (sequences stored as tuples)."""
        return dataclasses.replace(self, **_normalise(changes))

    def to_dict(self) -> dict[str, Any]:
        """Every field as ``summary.json`` holds it (sequences as lists), with ``status_label``."""
        out = {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
               for f in dataclasses.fields(self)}
        out["status_label"] = self.status_label  # for people; derived, not read back
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Summary":
        """Read a mapping with this schema; missing keys take the defaults, unknown ones are dropped."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names - set(_DERIVED))
        if unknown:
            log.debug("summary keys not in the schema, ignored: %s", unknown)
        return cls(**_normalise({k: v for k, v in data.items() if k in names}))


#: keys ``to_dict`` adds from the fields (recomputed on reading)
_DERIVED = ("status_label",)
_TUPLES = {f.name for f in dataclasses.fields(Summary) if str(f.type).startswith("tuple")}


def _normalise(values: Mapping[str, Any]) -> dict[str, Any]:
    # JSON gives lists; the frozen summary keeps tuples
    return {k: tuple(v) if k in _TUPLES and isinstance(v, list) else v
            for k, v in values.items()}


def as_summary(summary: Summary | Mapping[str, Any]) -> Summary:
    """``summary`` as a :class:`Summary` (a mapping is read with :meth:`Summary.from_dict`)."""
    return summary if isinstance(summary, Summary) else Summary.from_dict(summary)


def write_summary(summary: Summary, path: str | Path) -> Path:
    """Write ``summary.json`` (sorted keys, NaN as null)."""
    from .io.export import write_json

    return write_json(summary.to_dict(), path)


def load_summary(path: str | Path) -> Summary:
    """Read ``summary.json`` (or the one in the result folder ``path``).

    Raises
    ------
    InputError
        No such file, or not a JSON object.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "summary.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{p.parent}: not a result folder (no summary.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{p}: unreadable summary ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{p}: not a summary (a JSON object is expected)")
    return Summary.from_dict(data)


@dataclass(frozen=True)
class ScenarioResult:
    """A plan with its scorecard: what ``write_result`` writes and the maps draw."""

    config: ScenarioConfig
    accounts: pd.DataFrame
    rejects: pd.DataFrame
    units: gpd.GeoDataFrame
    reps: pd.DataFrame
    scorecard: pd.DataFrame
    summary: Summary
    substitutions: pd.DataFrame
    adjacency: nx.Graph
    isochrones: gpd.GeoDataFrame | None = None


@dataclass(frozen=True)
class NoPlan:
    """A scenario that ended without a plan: infeasible, or out of time before a first plan.

    ``summary.explanation`` says why and what to change; the rejects are still
    the run's rejects (``rejects.csv`` is written for every run).
    """

    config: ScenarioConfig
    summary: Summary
    rejects: pd.DataFrame
    substitutions: pd.DataFrame


@dataclass(frozen=True)
class RunResult:
    """Every scenario of a run, in config order, and the current alignment (or None)."""

    scenarios: tuple[ScenarioResult | NoPlan, ...]
    current: ScenarioResult | None = None

    @property
    def planned(self) -> tuple[ScenarioResult, ...]:
        """The scenarios that have a plan."""
        return tuple(s for s in self.scenarios if isinstance(s, ScenarioResult))

    @property
    def exit_code(self) -> int:
        """0 when every scenario planned, else 3 (the CLI's exit code)."""
        return 0 if len(self.planned) == len(self.scenarios) else 3
