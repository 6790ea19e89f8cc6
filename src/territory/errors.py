"""Errors the pipeline raises on purpose, each mapped to a CLI exit code."""

from __future__ import annotations


class TerritoryError(Exception):
    """Base class of the errors territory raises deliberately."""

    exit_code = 1


class InputError(TerritoryError, ValueError):
    """Unusable input: missing file or column, empty file, bad config (exit 2).

    Also a :class:`ValueError` (as osmnx's ``ValidationError``), so code that
    guards a call with ``except ValueError`` catches bad input too.
    """

    exit_code = 2


class InfeasibleError(TerritoryError):
    """No plan satisfies the hard constraints (exit 3).

    Parameters
    ----------
    message
        One-paragraph explanation: which constraint, which rep or unit, by how
        much, and what to change.
    diagnosis
        Machine-readable details (written to ``summary.json``).
    """

    exit_code = 3

    def __init__(self, message: str, diagnosis: dict | None = None) -> None:
        super().__init__(message)
        self.diagnosis = dict(diagnosis or {})

    @property
    def timed_out(self) -> bool:
        """True when the solver ran out of time: not a proof that no plan exists."""
        return self.diagnosis.get("constraint") == "time_limit"


class SolverError(TerritoryError):
    """The solver itself failed (an error status, not "infeasible" or "time limit"; exit 4).

    Not a verdict on the plan: the model was neither shown infeasible nor left
    unsolved for lack of time, so it is never reported as "no plan".
    """

    exit_code = 4


class DataUnavailableError(TerritoryError):
    """Data that must be downloaded is neither cached nor reachable (exit 2)."""

    exit_code = 2
