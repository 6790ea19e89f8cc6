"""Run a sweep: prepare once, scatter, plan every point on Dask, write rows as they finish.

Execution
---------
``workers=1`` runs the points in this process, one after the other (no Dask).
Otherwise the points are Dask tasks: on ``distributed.LocalCluster`` (one
single-threaded worker process per core, or ``workers``) or on the scheduler
at ``scheduler``. The prepared inputs of each prepare-group (usually one) are
scattered to every worker once; each worker loads a road graph once
(:func:`territory.sweep.point.road_network`). A worker that dies is replaced
by its nanny and the scheduler reruns its task elsewhere; a point that still
cannot run is an ``error`` row. Rows and plans depend only on the points, not
on where or in which order they ran.

Answer
------
The smallest rep count whose plan meets both bands (TAM and account units,
no violation) and raises no red flag (drive hours, travel share) -- over all
rules, ties going to the rule first in the grid; beside it the same rule's
next smaller and next larger rep count of the grid.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from ..config import ScenarioConfig
from ..errors import InputError
from .grid import Point, build_grid, format_value, prepare_key, roster_for
from .point import METRIC_COLUMNS, PointOutcome, run_point

__all__ = ["SweepResult", "SweepSpec", "find_answer", "rep_count_range", "run_sweep"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: the inputs, the rep counts and the varied config keys."""

    accounts: Path
    rep_counts: tuple[int, ...]
    base: ScenarioConfig
    varies: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    reps_file: Path | None = None
    zcta: Path | None = None
    units_path: Path | None = None
    unit_id: str | None = None
    locks: Path | None = None


@dataclass
class SweepResult:
    """The finished (or interrupted) sweep."""

    out: Path
    rows: pd.DataFrame
    answer: dict | None
    ranges: dict[str, dict]
    interrupted: bool = False
    files: dict[str, Path] = field(default_factory=dict)


# ----------------------------------------------------------------------------- preparing


def _prepare_groups(spec: SweepSpec, points: list[Point]) -> dict[str, Any]:
    """``prepare`` once per distinct set of prepare fields (the rep count is not one)."""
    from ..pipeline import prepare

    groups: dict[str, Any] = {}
    for p in points:
        key = prepare_key(p.config)
        if key not in groups:
            reps = spec.reps_file if spec.reps_file is not None else max(spec.rep_counts)
            groups[key] = prepare(spec.accounts, reps, p.config.replace(n_reps=None),
                                  zcta=spec.zcta, units_path=spec.units_path,
                                  unit_id=spec.unit_id, locks_path=spec.locks)
    return groups


def rep_count_range(units: pd.DataFrame, config: ScenarioConfig) -> dict:
    """The rep counts both bands allow (equal capacities): the optimizer's pre-check."""
    from ..optimize import AssignProblem, BandRules, feasible_rep_counts

    b = config.balance
    rules = BandRules(b.tam_tolerance, b.account_units_min, b.account_units_max, b.soft_tam,
                      b.soft_account_units, b.penalty)
    probe = AssignProblem.create(tuple(units["unit_id"]), ("probe",), units["tam"].to_numpy(float),
                                 units["account_units"].to_numpy(float),
                                 np.zeros((len(units), 1)), rules)
    rc = feasible_rep_counts(probe)
    return {"min": rc.low, "max": rc.high}


# ----------------------------------------------------------------------------- rows


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.10g}"
    return str(value)


class _RowLog:
    """``sweep.csv``: a row appended (and flushed) per finished point, sorted at the end."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path, self.columns = path, columns
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerow(columns)

    def append(self, row: dict) -> None:
        with self.path.open("a", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerow([_cell(row.get(c)) for c in self.columns])
            f.flush()

    def finish(self, rows: list[dict]) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(self.columns)
            for row in sorted(rows, key=lambda r: r["index"]):
                w.writerow([_cell(row.get(c)) for c in self.columns])
        os.replace(tmp, self.path)


def _grid_row(point: Point, outcome: PointOutcome) -> dict:
    row = {"index": point.index, "point": point.name, "rule": point.rule,
           "n_reps": point.n_reps}
    row.update({k: format_value(v) for k, v in point.values})
    row.update(outcome.row)
    return row


def _store(outcome: PointOutcome, out: Path) -> Path:
    """Write a point's folder next to its final place, then rename it in (never half there)."""
    tmp = out / f".partial-{outcome.name}"
    final = out / outcome.name
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for rel, data in outcome.files.items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def find_answer(rows: pd.DataFrame) -> dict | None:
    """The answer of the module docstring from the rows (``index, rule, n_reps, ok``)."""
    if rows.empty or not rows["ok"].astype(bool).any():
        return None
    best = rows[rows["ok"].astype(bool)].sort_values(["n_reps", "index"]).iloc[0]
    same = rows[rows["rule"] == best["rule"]].sort_values("n_reps")
    fewer = same[same["n_reps"] < best["n_reps"]].tail(1)
    more = same[same["n_reps"] > best["n_reps"]].head(1)
    by_rule = {r: int(g.loc[g["ok"].astype(bool), "n_reps"].min())
               for r, g in rows.groupby("rule", sort=False) if g["ok"].astype(bool).any()}
    return {"n_reps": int(best["n_reps"]), "rule": best["rule"], "point": best["point"],
            "fewer": fewer["point"].iat[0] if len(fewer) else None,
            "more": more["point"].iat[0] if len(more) else None, "by_rule": by_rule}


# ----------------------------------------------------------------------------- executing


def _serial(tasks: list[tuple[Point, Any, pd.DataFrame]], maps: bool) -> Iterator[PointOutcome]:
    for point, inputs, roster in tasks:
        yield run_point(inputs, point, roster, maps=maps)


def _failed(point: Point, exc: BaseException) -> PointOutcome:
    """A task Dask could not finish (e.g. its workers kept dying): an ``error`` row."""
    row = dict.fromkeys(METRIC_COLUMNS)
    row.update(status="error", explanation=f"{type(exc).__name__}: {exc}", meets_bands=False,
               ok=False)
    return PointOutcome(point.index, point.name, row, {})


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int, client: Any) -> Iterator[Any]:
    """The given client, one to ``scheduler``, or a LocalCluster started (and closed) here."""
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            c = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        with contextlib.closing(c):
            yield c
        return
    # any free port: a second sweep (or a notebook's cluster) already holds :8787
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address="127.0.0.1:0", host="127.0.0.1")
    try:
        with contextlib.closing(Client(cluster)) as c:
            log.info("LocalCluster of %d workers; dashboard at %s", workers, c.dashboard_link)
            yield c
    finally:
        cluster.close()


def _on_dask(client: Any, tasks: list[tuple[Point, Any, pd.DataFrame]], maps: bool
             ) -> Iterator[PointOutcome]:
    """Submit every point; yield outcomes as they finish; cancel the rest if stopped."""
    from distributed import as_completed

    scattered: dict[int, Any] = {}
    for _, inputs, _ in tasks:
        if id(inputs) not in scattered:
            scattered[id(inputs)] = client.scatter(inputs, broadcast=True, hash=False)
    tag = uuid.uuid4().hex[:8]
    futures = {}
    for point, inputs, roster in tasks:
        fut = client.submit(run_point, scattered[id(inputs)], point, roster, maps=maps,
                            key=f"sweep-{point.name}-{tag}", pure=False)
        futures[fut.key] = (fut, point)
    try:
        for fut in as_completed([f for f, _ in futures.values()]):
            point = futures[fut.key][1]
            try:
                yield fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker: a row, not a stop
                yield _failed(point, exc)
            futures.pop(fut.key)
            fut.release()
    finally:
        if futures:
            client.cancel([f for f, _ in futures.values()], force=True)
        client.cancel(list(scattered.values()), force=True)


# ----------------------------------------------------------------------------- the sweep


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="point", disable=not enabled, file=sys.stderr,
                dynamic_ncols=True, desc="sweep")


def _tasks(spec: SweepSpec, points: list[Point]) -> list[tuple[Point, Any, pd.DataFrame]]:
    groups = _prepare_groups(spec, points)
    out = []
    for p in points:
        inputs = groups[prepare_key(p.config)]
        file_roster = inputs.reps if spec.reps_file is not None else None
        out.append((p, inputs, roster_for(p.n_reps, file_roster, inputs.accounts, inputs.units)))
    return out


def _columns(spec: SweepSpec) -> list[str]:
    return ["point", "n_reps", *(k for k, _ in spec.varies), *METRIC_COLUMNS]


def run_sweep(spec: SweepSpec, out: str | Path, *, workers: int | None = None,
              scheduler: str | None = None, client: Any = None, progress: bool = False,
              maps: bool = True, on_row: Callable[[dict, int, int], None] | None = None,
              overwrite: bool = False) -> SweepResult:
    """Plan every point of ``spec`` and write ``out/`` (see the README's sweep section).

    The sweep is written into a staging folder beside ``out`` and replaces it as a
    whole at the end (:func:`territory.outputs.staged_folder`): ``sweep.csv`` grows
    there as points finish.

    Parameters
    ----------
    workers
        1: serial, in this process. Otherwise the size of the LocalCluster
        started here (default: one worker per core).
    scheduler, client
        Run on the Dask scheduler at this address (the connection is closed
        at the end), or on an existing ``distributed.Client`` (left open).
    on_row
        Called as ``on_row(row, done, total)`` after each point is written.
    overwrite
        Replace ``out`` even when it is a non-empty folder that holds no run of ours.

    Raises
    ------
    InputError
        A bad varied key or value, unusable input files, or an ``out`` that is not ours
        to replace -- before any point runs.
    KeyboardInterrupt
        After cancelling the tasks, closing a cluster started here and publishing
        ``out`` with the finished rows (sorted), their folders and no half-written one
        (its ``.territory-run`` says ``complete: false``; no ``sweep.html``).
    """
    from ..outputs import check_target, staged_folder

    t0 = time.perf_counter()
    target = check_target(out, overwrite=overwrite, what="out", flag="overwrite=True")
    points = build_grid(spec.base, spec.rep_counts, [(k, list(v)) for k, v in spec.varies])
    tasks = _tasks(spec, points)
    ranges = {p.rule: rep_count_range(inputs.units, p.config) for p, inputs, _ in tasks}
    n_workers = workers or os.cpu_count() or 1
    serial = n_workers == 1 and scheduler is None and client is None
    with staged_folder(target, overwrite=overwrite, command="sweep",
                       publish_interrupted=True) as stage:
        rows = _run_points(tasks, points, _columns(spec), stage, target, serial=serial, n_workers=n_workers,
                           scheduler=scheduler, client=client, maps=maps, progress=progress,
                           on_row=on_row)
        frame = pd.DataFrame(rows).sort_values("index").reset_index(drop=True)
        result = SweepResult(stage, frame, find_answer(frame), ranges)
        try:
            files = _pages(result, spec, points, time.perf_counter() - t0,
                           _where(serial, scheduler, client, n_workers))
        except KeyboardInterrupt:  # the interrupted sweep is published: without a half page
            for page in [*stage.glob("*.html"), *stage.glob("moved_accounts_*.csv")]:
                page.unlink()
            raise
    result.out = target
    result.files = {k: target / v.relative_to(stage) for k, v in files.items()}
    return result


def _run_points(tasks, points: list[Point], columns: list[str], out: Path, shown: Path, *,
                serial: bool,
                n_workers: int, scheduler, client, maps: bool, progress: bool,
                on_row) -> list[dict]:
    """Run every point, writing each folder and ``sweep.csv`` row into ``out`` as it finishes.

    ``shown`` is where ``out`` will be once published (for messages).
    """
    rowlog = _RowLog(out / "sweep.csv", columns)
    rows: list[dict] = []
    by_index = {p.index: p for p in points}
    bar = _progress(len(points), progress)
    interrupted = False
    try:
        with contextlib.ExitStack() as stack:
            if serial:
                outcomes = _serial(tasks, maps)
            else:
                c = stack.enter_context(_client(scheduler, n_workers, client))
                outcomes = stack.enter_context(contextlib.closing(_on_dask(c, tasks, maps)))
            for outcome in outcomes:
                if outcome.files:
                    _store(outcome, out)
                row = _grid_row(by_index[outcome.index], outcome)
                rows.append(row)
                rowlog.append(row)
                bar.update(1)
                best = find_answer(pd.DataFrame(rows))
                bar.set_postfix_str(f"answer so far: {best['n_reps']} reps" if best else
                                    "no answer yet")
                if on_row is not None:
                    on_row(row, len(rows), len(points))
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        bar.close()
        rowlog.finish(rows)
        if interrupted:
            log.warning("sweep interrupted: %d of %d points in %s", len(rows), len(points),
                        shown / "sweep.csv")
    return rows


def _where(serial: bool, scheduler: str | None, client: Any, n_workers: int) -> str:
    if serial:
        return "one process (serial)"
    if client is not None:
        return "a given Dask client"
    return f"the Dask scheduler {scheduler}" if scheduler else f"a LocalCluster of {n_workers} workers"


def _pages(result: SweepResult, spec: SweepSpec, points: list[Point], seconds: float,
           where: str) -> dict[str, Path]:
    """``compare.html`` of the answer and its neighbours, then ``sweep.html``."""
    from ..web.sweep import sweep_page

    files = {"sweep.csv": result.out / "sweep.csv"}
    a = result.answer
    if a is not None:
        names = [n for n in (a["fewer"], a["point"], a["more"]) if n is not None]
        dirs = [result.out / n for n in names if (result.out / n / "scorecard.csv").is_file()]
        if len(dirs) >= 2:
            from ..web.compare import compare_page

            files["compare.html"] = compare_page(dirs, result.out / "compare.html")
    travel = spec.base.travel
    meta = {"accounts": Path(spec.accounts).name, "points": len(points),
            "seconds": round(seconds, 1), "where": where,
            "reps_file": Path(spec.reps_file).name if spec.reps_file else "",
            "travel": ("straight-line ESTIMATE" if travel.source == "estimate"
                       else "OpenStreetMap road graph"),
            "max_drive_hours": travel.max_drive_hours_per_month,
            "compare": "compare.html" if "compare.html" in files else None}
    files["sweep.html"] = sweep_page(result.rows, result.answer, result.ranges, meta,
                                     result.out / "sweep.html")
    return files
