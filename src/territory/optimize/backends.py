"""Solver backends: a :class:`Formulation` solved through PuLP (HiGHS or CBC) or highspy.

The :class:`Solver` is the optimizer's own description of which engine to use
and how long it may run; the pipeline builds it from its configuration.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import highspy
import numpy as np
import pulp

from ..errors import InputError
from .formulation import Formulation

__all__ = ["Clock", "HighsRun", "ModelRun", "Progress", "PulpRun", "Solver", "run_highs", "solve_highs",
           "solve_model", "solve_pulp"]

log = logging.getLogger(__name__)

INF = highspy.kHighsInf


@functools.cache
def _silence_banner() -> None:
    """Make the process's first HiGHS instance with C-level stdout pointed at /dev/null.

    HiGHS prints its copyright banner to file descriptor 1 when the first instance of a
    process is created, before any option (``output_flag``) can be set, which broke ``-q``
    and any JSON piped out of a command. Later instances print nothing.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


@dataclass(frozen=True)
class Solver:
    """Which MIP solver, and how long the whole solve may take.

    ``name``: ``"highs"`` or ``"cbc"``. ``engine``: ``"pulp"`` solves the
    documented model through PuLP; ``"lns"`` builds it in highspy and adds our
    primal search for large instances; ``"auto"`` picks by size.
    ``time_limit`` is the wall-clock budget of the whole solve (seconds).
    ``lns_iterations`` bounds the search for a run that repeats exactly.
    """

    name: str = "highs"
    time_limit: float = 60.0
    mip_gap: float = 0.005
    threads: int = 0
    candidates: int = 6
    msg: bool = False
    engine: str = "auto"
    lns_iterations: int | None = None

    def __post_init__(self) -> None:
        if self.name.lower() not in ("highs", "cbc"):
            raise InputError(f"solver: name must be 'highs' or 'cbc', got {self.name!r}")
        if self.engine not in ("auto", "pulp", "lns"):
            raise InputError(f"solver: engine must be 'auto', 'pulp' or 'lns', got {self.engine!r}")

    @property
    def is_highs(self) -> bool:
        return self.name.lower() == "highs"

    def pulp_solver(self, *, seed: int = 0, mip: bool = True,
                    time_limit: float | None = None) -> pulp.LpSolver:
        """The PuLP solver (HiGHS or CBC).

        HiGHS solves of the optimizer go through :func:`solve_highs` (no PuLP
        model to build, Ctrl-C handled); this is for CBC, and for callers that
        want the PuLP model.
        """
        limit = float(time_limit if time_limit is not None else self.time_limit)
        if self.is_highs:
            if not self.msg:
                _silence_banner()
            _scheduler_for(int(self.threads))
            solver = pulp.HiGHS(mip=mip, msg=self.msg, timeLimit=limit, gapRel=self.mip_gap,
                                threads=self.threads or None, random_seed=int(seed) % (2**31))
        else:
            solver = pulp.PULP_CBC_CMD(mip=mip, msg=self.msg, timeLimit=limit,
                                       gapRel=self.mip_gap, threads=self.threads or None,
                                       options=[f"randomSeed {int(seed) % (2**31) or 1}"])
        if not solver.available():
            raise InputError(f"solver {self.name!r} is not available on this machine "
                             "(HiGHS comes with the highspy package; CBC needs a cbc binary)")
        return solver

    def highs(self, *, seed: int, time_limit: float, gap: float | None = None) -> highspy.Highs:
        """A highspy instance with the seed, time limit and relative gap (quiet unless ``msg``)."""
        if not self.msg:
            _silence_banner()
        h = highspy.Highs()
        if not self.msg:
            h.setOptionValue("output_flag", False)
        h.setOptionValue("random_seed", int(seed) % (2**31))
        h.setOptionValue("time_limit", max(float(time_limit), 0.05))
        h.setOptionValue("mip_rel_gap", float(self.mip_gap if gap is None else gap))
        if self.threads:
            h.setOptionValue("threads", int(self.threads))
        return h


#: per calling thread, the ``threads`` its HiGHS worker pool was last started for
_POOL = threading.local()


def _scheduler_for(threads: int) -> None:
    """Restart this thread's HiGHS pool when a solve asks for another thread count than its last.

    HiGHS keeps one worker pool per calling thread, sized by that thread's first
    solve; a later solve on the same thread asking for a different ``threads``
    fails at once with an error status (a scenario with ``threads = 1`` after
    one with the default read as "no plan"). Call it on the thread that runs.
    """
    last = getattr(_POOL, "threads", None)
    if last is not None and last != threads:
        highspy.Highs.resetGlobalScheduler(True)
    _POOL.threads = threads


def _run_here(h: highspy.Highs) -> None:
    """``h.run()`` on this thread, its HiGHS pool sized for ``h``'s ``threads`` first."""
    _scheduler_for(int(h.getOptionValue("threads")[1]))  # (status, value)
    h.run()


class Clock:
    """The wall-clock budget of one solve, and where the time went (seconds per phase)."""

    def __init__(self, time_limit: float, start: float | None = None) -> None:
        self.start = time.perf_counter() if start is None else start
        self.time_limit = float(time_limit)
        self.deadline = self.start + self.time_limit
        self.timings: dict[str, float] = {}

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def add(self, phase: str, seconds: float) -> None:
        self.timings[phase] = self.timings.get(phase, 0.0) + float(seconds)

    def absorb(self, phase: "Clock", prefix: str) -> None:
        """Add a sub-budget's phases to this clock's, each named ``prefix_phase``."""
        for name, seconds in phase.timings.items():
            self.add(f"{prefix}_{name}", seconds)

    def report(self) -> str:
        """One line: each phase's seconds, the total and the budget."""
        parts = ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in self.timings.items())
        return (f"solve time: {parts or 'nothing'}; total {self.elapsed():.1f} s of a "
                f"{self.time_limit:g} s budget")


class Progress:
    """Logs every improving MIP solution HiGHS reports and keeps the history.

    Used as a HiGHS callback (``kCallbackMipImprovingSolution``); each
    improvement is one ``INFO`` line: objective, bound, gap, elapsed seconds.
    """

    def __init__(self, label: str = "MIP") -> None:
        self.label = label
        self.history: list[tuple[float, float, float | None]] = []
        self.t0 = time.perf_counter()

    def record(self, objective: float, bound: float | None, elapsed: float | None = None) -> None:
        elapsed = time.perf_counter() - self.t0 if elapsed is None else elapsed
        bound = bound if bound is not None and math.isfinite(bound) else None
        self.history.append((float(elapsed), float(objective), bound))
        gap = (abs(objective - bound) / max(abs(objective), 1e-9)) if bound is not None else None
        log.info("%s improving plan: objective %.6g, bound %s, gap %s, %.1f s", self.label,
                 objective, "-" if bound is None else f"{bound:.6g}",
                 "-" if gap is None else f"{gap:.2%}", elapsed)

    def __call__(self, event) -> None:
        """Subscriber of ``cbMipImprovingSolution``."""
        try:
            out = event.data_out
            self.record(out.objective_function_value, out.mip_dual_bound, out.running_time)
        except Exception:  # never let logging break the solve
            log.debug("progress callback failed", exc_info=True)


# ----------------------------------------------------------------------------- PuLP


@dataclass
class PulpRun:
    """What a PuLP solve returned; ``ok`` means an optimal (or gap-optimal) plan."""

    values: np.ndarray
    status: str
    pulp_status: str
    ok: bool
    has_plan: bool
    time_limit: bool
    seconds: float
    objective: float | None
    bound: float | None
    gap: float | None
    n_variables: int = 0
    n_rows: int = 0

    @property
    def infeasible(self) -> bool:
        return self.pulp_status == "Infeasible"


def to_pulp(form: Formulation) -> tuple[pulp.LpProblem, list[pulp.LpVariable]]:
    """The PuLP model of a formulation: named columns, each ranged row as two rows."""
    lp = pulp.LpProblem("territory_assignment", pulp.LpMinimize)
    names = form.column_names()
    variables = []
    for j, name in enumerate(names):
        lo, hi = float(form.lower[j]), float(form.upper[j])
        if form.integer[j] and lo == 0.0 and hi == 1.0:
            v = lp.add_variable(name, lowBound=0, upBound=1, cat=pulp.LpBinary)
        else:
            v = lp.add_variable(name, lowBound=lo, upBound=None if hi == INF else hi,
                                cat=pulp.LpInteger if form.integer[j] else pulp.LpContinuous)
        variables.append(v)
    m = form.matrix
    for i, name in enumerate(form.row_names):
        cols = m.indices[m.indptr[i]: m.indptr[i + 1]]
        vals = m.data[m.indptr[i]: m.indptr[i + 1]]
        expr = pulp.LpAffineExpression([(variables[c], float(v)) for c, v in zip(cols, vals)])
        lo, hi = float(form.row_lower[i]), float(form.row_upper[i])
        if lo == hi:
            lp.addConstraint(pulp.LpConstraint(expr, pulp.LpConstraintEQ, rhs=lo), name)
            continue
        if lo > -INF:
            lp.addConstraint(pulp.LpConstraint(expr, pulp.LpConstraintGE, rhs=lo),
                             name + ("_lo" if hi < INF else ""))
        if hi < INF:
            lp.addConstraint(pulp.LpConstraint(expr, pulp.LpConstraintLE, rhs=hi),
                             name + ("_hi" if lo > -INF else ""))
    objective = [(variables[j], float(form.cost[j])) for j in range(form.n_cols)
                 if not (form.flow_start <= j < form.flow_start + len(form.flow_arcs))]
    lp += pulp.LpAffineExpression(objective)
    return lp, variables


def solve_pulp(form: Formulation, solver: pulp.LpSolver) -> PulpRun:
    """Solve through PuLP and read status, bound and gap (from HiGHS where it is used)."""
    lp, variables = to_pulp(form)
    t0 = time.perf_counter()
    status = lp.solve(solver)
    seconds = time.perf_counter() - t0
    has_plan = lp.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    bound = gap = None
    time_limit = False
    name = pulp.LpStatus[status].lower()
    highs = getattr(lp, "solverModel", None)
    if highs is not None and hasattr(highs, "getInfo"):
        info = highs.getInfo()
        bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
        gap = float(info.mip_gap) if math.isfinite(info.mip_gap) else None
        # PuLP maps "time limit" to optimal/integer-feasible even when HiGHS has no plan
        has_plan = has_plan and info.primal_solution_status == 2
        time_limit = highs.getModelStatus() == highspy.HighsModelStatus.kTimeLimit
        text = highs.modelStatusToString(highs.getModelStatus()).lower()
        name = {"optimal": "optimal", "time limit reached": "time_limit"}.get(text, text)
        if not isinstance(solver, pulp.HiGHS) or not solver.mip:
            bound = gap = None
    values = np.array([v.varValue or 0.0 for v in variables])
    ok = status == pulp.LpStatusOptimal and has_plan
    objective = float(pulp.value(lp.objective)) if ok else None
    return PulpRun(values, name if status == pulp.LpStatusOptimal else name, pulp.LpStatus[status],
                   ok, has_plan, time_limit, seconds, objective, bound, gap, lp.numVariables(),
                   lp.numConstraints())


# ----------------------------------------------------------------------------- highspy


def to_highs(form: Formulation, *, integer: bool = True,
             pulp_order: bool = False) -> tuple[highspy.HighsLp, np.ndarray | None]:
    """The formulation as a ``HighsLp`` (column-wise matrix).

    With ``pulp_order`` the model is laid out exactly as PuLP hands it to
    HiGHS (columns sorted by name, each ranged row as a lower and an upper
    row), so a solve gives the plan the PuLP model gives, without building it.
    Returns the model and the column permutation (None when not permuted):
    model column ``k`` is formulation column ``perm[k]``.
    """
    A = form.matrix
    row_lo, row_hi = form.row_lower, form.row_upper
    perm = None
    if pulp_order:
        names = form.column_names()
        perm = np.array(sorted(range(form.n_cols), key=names.__getitem__), dtype=np.int64)
        ranged = (row_lo > -np.inf) & (row_hi < np.inf) & (row_lo != row_hi)
        pick = np.repeat(np.arange(len(row_lo)), 1 + ranged)
        second = np.r_[False, pick[1:] == pick[:-1]]  # the upper copy of a ranged row
        row_lo = np.where(second, -np.inf, row_lo[pick])
        row_hi = np.where(ranged[pick] & ~second, np.inf, row_hi[pick])
        A = A[pick][:, perm]
    A = A.tocsc()
    A.sort_indices()
    cost, lower, upper, is_int = (form.cost, form.lower, form.upper, form.integer)
    if perm is not None:
        cost, lower, upper, is_int = cost[perm], lower[perm], upper[perm], is_int[perm]
    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = len(row_lo)
    lp.col_cost_ = cost
    lp.col_lower_ = lower
    lp.col_upper_ = np.where(np.isinf(upper), INF, upper)
    lp.row_lower_ = np.where(np.isinf(row_lo), -INF, row_lo)
    lp.row_upper_ = np.where(np.isinf(row_hi), INF, row_hi)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = len(cost)
    lp.a_matrix_.num_row_ = len(row_lo)
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(float)
    if integer and is_int.any():
        lp.integrality_ = [highspy.HighsVarType.kInteger if f else
                           highspy.HighsVarType.kContinuous for f in is_int.tolist()]
    return lp, perm


@dataclass
class HighsRun:
    """What a highspy solve returned (``values`` None without a primal solution)."""

    values: np.ndarray | None
    status: str
    bound: float | None
    objective: float | None
    seconds: float
    gap: float | None = None
    highs: highspy.Highs | None = field(default=None, repr=False)

    @property
    def time_limit(self) -> bool:
        return self.status == "time_limit"

    @property
    def infeasible(self) -> bool:
        return self.status == "infeasible"


def highs_status(h: highspy.Highs) -> str:
    text = h.modelStatusToString(h.getModelStatus()).lower()
    return {"time limit reached": "time_limit"}.get(text, text)


def solution(values: np.ndarray) -> highspy.HighsSolution:
    """A HiGHS start solution from column values."""
    s = highspy.HighsSolution()
    s.col_value = np.asarray(values, dtype=float)
    s.value_valid = True
    return s


def run_highs(h: highspy.Highs) -> None:
    """``h.run()`` that Ctrl-C stops promptly: the solve is cancelled, then KeyboardInterrupt.

    On the main thread HiGHS runs on :class:`_SolverThread` while this thread
    waits in Python, where Ctrl-C lands at once (HiGHS on the main thread could
    only see it at its own interrupt checks, which in the free-centres p-median
    are up to 15 s apart). HiGHS is then asked to stop (``cancelSolve``,
    honoured at its next check) and KeyboardInterrupt is raised after at most
    :data:`INTERRUPT_GRACE` seconds, whether or not HiGHS has stopped by then.
    The process's own SIGINT handler decides what Ctrl-C does (ignored in a
    background job, KeyboardInterrupt by default). Off the main thread (where
    signals cannot be caught) this is a plain run.
    """
    if threading.current_thread() is not threading.main_thread():
        _run_here(h)
        return
    h.HandleUserInterrupt = True
    job = _SOLVER_THREAD.submit(h)
    try:
        while not job.done.wait(_WAKE):  # woken now and then: a signal taken by another
            pass                         # thread is acted on here within _WAKE seconds
    except KeyboardInterrupt:
        h.cancelSolve()
        job.done.wait(INTERRUPT_GRACE)
        log.info("solve interrupted (Ctrl-C)")
        raise
    if job.error is not None:
        raise job.error


#: seconds a cancelled HiGHS solve is given to stop before Ctrl-C is passed on regardless
INTERRUPT_GRACE = 1.0
_WAKE = 0.25


@dataclass
class _Job:
    highs: highspy.Highs
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class _SolverThread:
    """The one daemon thread that runs the main thread's HiGHS solves, one at a time.

    It blocks SIGINT, and so do the HiGHS workers it starts (a thread starts
    with its parent's signal mask), so that Ctrl-C is delivered to the waiting
    main thread and never breaks a wait inside HiGHS. One long-lived thread
    (not one per solve, as highspy's ``startSolve``) keeps HiGHS' per-thread
    worker pool alive across the LNS's thousands of sub-MIPs; a daemon, so
    that a cancelled solve that has not stopped yet never holds up the exit.
    """

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):  # POSIX: a forked child has no such thread
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, h: highspy.Highs) -> _Job:
        """Queue ``h.run()``; called from the main thread only (:func:`run_highs`)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="territory-highs",
                                            daemon=True)
            self._thread.start()
        job = _Job(h)
        self._jobs.put(job)
        return job

    def _serve(self) -> None:
        if hasattr(signal, "pthread_sigmask"):  # POSIX; elsewhere the main thread takes it anyway
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        while True:
            job = self._jobs.get()
            try:
                _run_here(job.highs)
            except BaseException as exc:  # handed to the waiting caller
                job.error = exc
            finally:
                job.done.set()


_SOLVER_THREAD = _SolverThread()


def solve_highs(form: Formulation, solver: Solver, *, seed: int, time_limit: float,
                gap: float | None = None, start: np.ndarray | None = None,
                integer: bool = True, progress: Progress | None = None,
                pulp_order: bool = False, nodes: int | None = None,
                stop: Callable[[np.ndarray], bool] | None = None) -> HighsRun:
    """Solve a formulation in highspy, optionally from a start plan (formulation column order).

    ``stop(values)`` is asked at every improving MIP solution (formulation column
    order); once it says True the solve ends at HiGHS's next interrupt check, with
    that solution (status ``"interrupted by user"``). HiGHS reaches its callbacks at
    the same points on every machine, so this stop, unlike a time limit, repeats.
    """
    h = solver.highs(seed=seed, time_limit=time_limit, gap=gap)
    if nodes is not None:
        h.setOptionValue("mip_max_nodes", int(nodes))
    if progress is not None:
        h.cbMipImprovingSolution += progress
    if stop is not None:
        _stop_at(h, stop, permuted=pulp_order)
    model, perm = to_highs(form, integer=integer, pulp_order=pulp_order)
    h.passModel(model)
    if start is not None:
        h.setSolution(solution(start if perm is None else np.asarray(start)[perm]))
    t0 = time.perf_counter()
    run_highs(h)
    seconds = time.perf_counter() - t0
    info = h.getInfo()
    bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
    mip_gap = float(info.mip_gap) if math.isfinite(info.mip_gap) else None
    values = None
    if info.primal_solution_status == 2:
        col = np.asarray(h.getSolution().col_value)
        values = col if perm is None else np.empty_like(col)
        if perm is not None:
            values[perm] = col
    return HighsRun(values, highs_status(h), bound,
                    float(info.objective_function_value) if values is not None else None,
                    seconds, mip_gap, h)


def _stop_at(h: highspy.Highs, stop: Callable[[np.ndarray], bool], *, permuted: bool) -> None:
    """Interrupt ``h`` once ``stop`` accepts an improving solution."""
    if permuted:
        raise ValueError("stop= needs the formulation's own column order")
    hit: list[bool] = []

    def improving(event) -> None:
        try:
            if not hit and stop(np.asarray(event.data_out.mip_solution)):
                hit.append(True)
        except Exception:  # never let a stop rule break the solve
            log.debug("stop callback failed", exc_info=True)

    def interrupt(event) -> None:
        if hit:
            event.data_in.user_interrupt = True

    h.cbMipImprovingSolution += improving
    h.cbMipInterrupt += interrupt


@dataclass
class ModelRun:
    """One solve of the whole model, by whichever backend."""

    ok: bool
    status: str
    values: np.ndarray | None
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    time_limit: bool
    infeasible: bool
    history: tuple = ()


def solve_model(form: Formulation, solver: Solver, *, seed: int, time_limit: float,
                start: np.ndarray | None = None) -> ModelRun:
    """The whole model: HiGHS from the arrays (laid out as PuLP would), or CBC through PuLP.

    ``start`` (column values, HiGHS only) is handed to the solver as its first incumbent.
    """
    if solver.is_highs:
        progress = Progress()
        run = solve_highs(form, solver, seed=seed, time_limit=time_limit, progress=progress,
                          pulp_order=True, start=start)
        ok = run.values is not None and not run.infeasible
        return ModelRun(ok, run.status, run.values, run.objective, run.bound, run.gap,
                        run.seconds, run.time_limit, run.infeasible, tuple(progress.history))
    run = solve_pulp(form, solver.pulp_solver(seed=seed, time_limit=time_limit))
    return ModelRun(run.ok, run.status, run.values, run.objective, run.bound, run.gap,
                    run.seconds, run.time_limit, run.infeasible)
