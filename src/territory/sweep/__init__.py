"""Scenario sweeps: "how many reps do we need?" over rep counts and rules, on Dask.

``run_sweep(SweepSpec(...), out)`` plans every point of the grid (rep counts x
the values of the varied config keys) serially, on a ``distributed.LocalCluster``
or on a remote Dask scheduler, and writes ``sweep.csv``, ``sweep.html``, one
result folder per point and ``compare.html`` of the answer and its neighbours.
See :mod:`territory.sweep.grid` (points, rosters), :mod:`territory.sweep.point`
(one point, on a worker) and :mod:`territory.sweep.engine` (the run, the answer).
"""

from .engine import SweepResult, SweepSpec, find_answer, rep_count_range, run_sweep
from .grid import Point, build_grid, parse_rep_counts, parse_vary, roster_for
from .point import METRIC_COLUMNS, folder_row, run_point

__all__ = ["METRIC_COLUMNS", "Point", "SweepResult", "SweepSpec", "build_grid", "find_answer",
           "folder_row", "parse_rep_counts", "parse_vary", "rep_count_range", "roster_for",
           "run_point", "run_sweep"]
