"""Score a plan made by hand (``territory score``): the full output contract of any plan.

A designer edits a plan in ``map.html`` and downloads ``plan_edited.csv``
(``unit_id, rep_id`` for every unit of the region, plus ``edited``, ``plan``
and ``scenario`` columns). :func:`read_plan` checks that file against the
prepared inputs; :func:`score` turns the assignment into a
:class:`~territory.pipeline.ScenarioResult` with the same figures as a planned
scenario: drive hours on the road graph, quota, fairness, disruption,
contiguity and every band breach in ``violations``. A plan that breaks a band
is still a plan: it is scored and flagged, never refused.

:func:`score` is :func:`territory.pipeline.score_assignment` (the bases, drive
times, problem, checks and figures of :func:`territory.pipeline.plan`, without
the solve), so no figure is computed a second way, plus where the plan came from.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from pathlib import Path

import pandas as pd

from .config import ScenarioConfig
from .errors import InputError
from .io.accounts import read_table
from .pipeline import PreparedInputs, ScenarioResult, score_assignment

__all__ = ["SCORED_STATUS", "edited_locks", "read_plan", "score"]

log = logging.getLogger(__name__)

#: ``summary.status`` of a scored hand-made plan.
SCORED_STATUS = "scored"

_TRUE = {"true", "1", "yes", "y", "t"}


def read_plan(path: str | Path, inputs: PreparedInputs) -> pd.Series:
    """The assignment in a plan file: ``unit_id -> rep_id`` for every unit of the region.

    Raises
    ------
    InputError
        (exit 2) naming the file and the row: a blank or unknown unit, an unknown
        rep, a unit given twice, or a unit of the region missing from the file.
    """
    raw, _ = read_table(path, required=("unit_id", "rep_id"))
    units = [str(u) for u in inputs.units["unit_id"]]
    known_units, known_reps = set(units), set(map(str, inputs.reps["rep_id"]))
    first_row: dict[str, int] = {}
    for i, (u, r) in enumerate(zip(raw["unit_id"].str.strip(), raw["rep_id"].str.strip())):
        row = i + 1  # 1-based data row, as in rejects.csv
        if not u:
            raise InputError(f"{path}: row {row} has a blank unit_id")
        if u not in known_units:
            raise InputError(f"{path}: row {row}: unit {u!r} is not a unit of this region "
                             "(were the same --accounts, --config and --zcta used for the plan?)")
        if u in first_row:
            raise InputError(f"{path}: row {row}: unit {u!r} appears twice (first in row "
                             f"{first_row[u]})")
        if r not in known_reps:
            raise InputError(f"{path}: row {row}: rep {r!r} (unit {u}) is not in the roster")
        first_row[u] = row
    missing = [u for u in units if u not in first_row]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise InputError(f"{path}: unit {missing[0]!r}{more} missing: the file needs one row per "
                         f"unit of the region ({len(units)} units)")
    out = pd.Series(raw["rep_id"].str.strip().to_numpy(), index=raw["unit_id"].str.strip(),
                    name="rep_id")
    out.attrs["source"] = str(path)
    out.attrs["edited_from"] = _plan_origin(raw)
    return out.reindex(units)


def _plan_origin(raw: pd.DataFrame) -> dict:
    """The plan id and scenario a downloaded file names (empty for other files)."""
    origin = {}
    for col in ("plan", "scenario"):
        if col in raw and len(raw) and raw[col].iat[0].strip():
            origin[col] = raw[col].iat[0].strip()
    if "edited" in raw:
        origin["edited_units"] = int(raw["edited"].str.strip().str.lower().isin(_TRUE).sum())
    return origin


def score(inputs: PreparedInputs, assignment: pd.Series, config: ScenarioConfig, *,
          network=None) -> ScenarioResult:
    """Score a given assignment (``unit_id -> rep_id``) as a scenario result.

    Parameters
    ----------
    inputs
        From :func:`territory.pipeline.prepare` with the plan's accounts and roster.
    assignment
        A rep for every unit of ``inputs.units`` (:func:`read_plan` checks a file).
    config
        The scenario whose rules the plan is held to (bands, contiguity, move cap,
        travel, quota).
    network
        A pre-loaded road network (else loaded from ``config.travel``).

    Returns
    -------
    ScenarioResult
        Status ``"scored"``; ``violations`` lists every band, contiguity and
        move-cap breach; the scorecard flags them per rep.
    """
    units = [str(u) for u in inputs.units["unit_id"]]
    given = assignment.astype("string").reindex(units)
    if given.isna().any():
        raise InputError(f"the assignment misses unit {given.index[given.isna()][0]!r}")
    result = score_assignment(inputs, config, given.tolist(), network=network)
    summary = result.summary.replace(
        status=SCORED_STATUS,
        description=config.description or "a plan made by hand, scored",
        plan_source=str(assignment.attrs.get("source", "assignment")),
        edited_from=assignment.attrs.get("edited_from", {}),
    )
    log.info("[%s] scored %d units: %d rule(s) broken", config.name, len(units),
             len(summary.violations))
    return dataclasses.replace(result, summary=summary)


def edited_locks(path: str | Path, column: str, folder: str | Path | None = None) -> Path:
    """A locks file of the rows of ``path`` whose ``column`` is true (e.g. ``edited``).

    ``territory plan --locks plan_edited.csv --lock edited`` keeps the units
    the designer moved and re-optimises the rest.
    """
    raw, _ = read_table(path, required=("rep_id", column))
    keep = raw[raw[column].str.strip().str.lower().isin(_TRUE)]
    if keep.empty:
        raise InputError(f"{path}: no row has {column} = true: nothing to lock")
    cols = [c for c in ("unit_id", "account_id", "rep_id") if c in keep]
    out = Path(folder or tempfile.mkdtemp(prefix="territory-locks-")) / f"locks_{column}.csv"
    keep[cols].to_csv(out, index=False)
    log.info("locking the %d rows of %s with %s = true", len(keep), path, column)
    return out
