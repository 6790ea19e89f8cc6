"""Writing results: one scenario's output contract, and a whole run's folders.

:func:`write_result` writes the files of the README's output table for one
plan; :func:`write_no_plan` what a scenario without a plan leaves
(``summary.json`` with the explanation, and ``rejects.csv``);
:func:`write_run` lays out a run of :func:`territory.pipeline.run_scenarios`:
one folder per scenario (the output folder itself for a single scenario),
``current/`` and ``compare.html``, with one colour per rep on every map.

One run's files, never a mix
----------------------------
Every writer here stages: it writes the whole run into a hidden folder
``.NAME.territory-tmp-HOST-PID-XXXX`` beside the target ``NAME`` (same parent,
so the final move is a rename on one file system) and moves it into place at
the end (:func:`staged_folder`, :func:`replace_folder`). A run that fails
before that (an exception, exit 2, Ctrl-C) removes its staging folder and
leaves the target as it was; one killed outright (SIGKILL, power loss) leaves
it behind, and the next run into ``NAME`` removes it once no live process of
this machine owns it (the host and process id are in its name). A run that ends without a plan (infeasible, no plan in
time) is a run too: its ``summary.json`` and ``rejects.csv`` replace the
previous run's folder as a whole, so no old ``map.html`` is left beside them.

Atomicity is per **run**, not per scenario: the scenario folders of one run
share rep colours, ``current/`` and ``compare.html``, which reads them; a
per-scenario swap could leave scenario ``a`` of this run beside scenario
``b`` and ``compare.html`` of the previous one after a crash. One rename of
the whole folder cannot.

A run folder is recognisably ours by :data:`RUN_MARKER` (``.territory-run``:
JSON with the version, the command, the UTC time written and whether the run
completed); a folder written before the marker existed is recognised by
holding only names these writers produce. A non-empty target that is neither
is refused (:func:`check_target`) unless ``overwrite`` is given; with it,
the folder is replaced as a whole as well.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import geopandas as gpd
import pandas as pd

from . import __version__
from .errors import InputError
from .io.accounts import REJECT_COLUMNS
from .io.export import (progress, write_csv, write_excel, write_geojson, write_geopackage,
                        wrote)
from .metrics import dissolve_territories
from .result import NoPlan, RunResult, ScenarioResult, write_summary

__all__ = ["RUN_MARKER", "RunFolders", "check_target", "is_run_folder", "replace_folder",
           "staged_files", "staged_folder", "territories", "write_no_plan", "write_result",
           "write_run"]

log = logging.getLogger(__name__)

ASSIGNMENT_COLUMNS = ["account_id", "name", "zip", "unit_id", "rep_id", "tier", "account_units",
                      "revenue"]
SCORECARD_COLUMNS = ["rep_id", "name", "n_accounts", "account_units", "tam", "tam_index",
                     "n_units", "drive_hours_per_month", "visits_per_month", "travel_share",
                     "routed_share", "hours_basis", "polsby_popper", "tam_weighted_km",
                     "quota_multiplier", "ramp", "quota", "flags"]


#: the file that marks a folder as a run of ours (JSON: version, command, written, complete)
RUN_MARKER = ".territory-run"
_STAGING = ".territory-tmp-"
# Every name a run folder of ours may hold: how a folder written before RUN_MARKER existed
# is still recognised as ours (and the sweep's in-progress names, for a crashed sweep).
_OUR_FILES = frozenset({
    "assignments.csv", "rejects.csv", "scorecard.csv", "units.csv", "reps.csv",
    "substitutions.csv", "territories.geojson", "territories.gpkg", "territories.gpkg-journal",
    "assignments.xlsx", "summary.json", "map.html", "compare.html", "sweep.csv",
    "sweep.csv.tmp", "sweep.html", "scenario.toml", "roster.csv", RUN_MARKER})


# ----------------------------------------------------------------------------- staging


def _is_legacy_run(folder: Path, depth: int = 0) -> bool:
    """Only names our writers produce (scenario and point folders one level down)."""
    found = False
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink() and depth == 0:
            if not (entry.name.startswith(".partial-") or _is_legacy_run(entry, 1)):
                return False
            found = True
        elif entry.is_file() and (entry.name in _OUR_FILES
                                  or entry.name.startswith("moved_accounts_")):
            found = found or entry.name in ("summary.json", "sweep.csv")
        else:
            return False
    return found


def is_run_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds a run of ours: :data:`RUN_MARKER`, or only our file names."""
    p = Path(folder)
    if (p / RUN_MARKER).is_file():
        return True
    try:
        return p.is_dir() and _is_legacy_run(p)
    except OSError:
        return False


def _target(out: str | Path) -> Path:
    """The absolute target folder; a symbolic link is followed (the link stays)."""
    p = Path(out).expanduser().absolute()
    return p.resolve() if p.is_symlink() else p


def _precious() -> set[Path]:
    """Folders a run must never replace: the current one with its ancestors, and home."""
    cwd = Path.cwd().absolute()
    out = {cwd, *cwd.parents}
    with contextlib.suppress(RuntimeError, KeyError):  # no HOME and no passwd entry
        out.add(Path.home().absolute())
    return out


def check_target(out: str | Path, *, overwrite: bool = False, what: str = "--out",
                 flag: str = "--overwrite") -> Path:
    """The absolute folder a run may replace; refuse one it must not touch, before any work.

    Refused (:class:`~territory.errors.InputError`, exit 2, one line naming ``what``):
    a file; the current folder, one of its ancestors, the home folder or a mount
    point (replacing them by a rename is impossible or destructive); a non-empty folder
    that is not a run of ours (:func:`is_run_folder`), unless ``overwrite`` (its
    ``flag`` is named in the message).
    """
    p = _target(out)
    if p.exists() and not p.is_dir():
        raise InputError(f"{what} {out}: {p} is a file, not a folder")
    if p in _precious():
        raise InputError(f"{what} {out}: the run replaces this folder as a whole, and it is or "
                         "holds the current folder or the home folder; choose a folder of its "
                         "own")
    if p.is_dir() and os.path.ismount(p):
        raise InputError(f"{what} {out}: {p} is a mount point, which cannot be replaced; "
                         "choose a folder inside it")
    if p.is_dir() and not overwrite and any(p.iterdir()) and not is_run_folder(p):
        raise InputError(f"{what} {out}: the folder is not empty and holds no territory run "
                         f"(no {RUN_MARKER}); choose a new or empty folder, or pass {flag} "
                         "to replace it and everything in it")
    return p


def _leftovers(target: Path) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}{_STAGING}*"))


def _host_tag() -> str:
    """Eight hex digits naming this machine (a shared folder may be staged into from two)."""
    return hashlib.sha1(socket.gethostname().encode("utf-8")).hexdigest()[:8]


def _stage_prefix(target: Path) -> str:
    """``.NAME.territory-tmp-HOST-PID-``: who owns a staging folder, in its name."""
    return f".{target.name}{_STAGING}{_host_tag()}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: alive
        return True
    return True


def _stale(folder: Path, target: Path) -> bool:
    """A staging folder of ours whose process is gone and that never finished.

    Ours: named by :func:`_stage_prefix` on this machine. Finished: it holds
    :data:`RUN_MARKER` (a kill between the last write and the rename leaves a
    whole run there, which is kept). Anything else (an older name, another
    machine, a live process, a ``.old`` aside) is only warned about.
    """
    m = re.fullmatch(rf"\.{re.escape(target.name)}{re.escape(_STAGING)}"
                     r"(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[^.]+", folder.name)
    return (m is not None and m["host"] == _host_tag() and int(m["pid"]) != os.getpid()
            and not _alive(int(m["pid"])) and folder.is_dir() and not folder.is_symlink()
            and not (folder / RUN_MARKER).exists())


def _clear_leftovers(target: Path) -> None:
    """Remove the stale staging folders beside ``target`` (:func:`_stale`); warn about the rest."""
    for old in _leftovers(target):
        if _stale(old, target):
            shutil.rmtree(old, ignore_errors=True)
            log.info("%s: removed, the staging folder of a run that was killed", old)
        else:
            log.warning("%s: left by a run that was killed; delete it, or rename it to %s "
                        "if it is the run you want", old, target.name)


def replace_folder(staged: str | Path, target: str | Path) -> Path:
    """Move the finished folder ``staged`` to ``target``, replacing a previous one whole.

    Two renames in the one parent folder: the previous ``target`` to
    ``STAGED.old``, then ``staged`` to ``target``; then ``STAGED.old`` is
    deleted. If the second rename fails, the previous folder is renamed back.
    A crash (power loss, SIGKILL) between the two renames leaves no ``target``,
    the previous run complete at ``.NAME.territory-tmp-XXXX.old`` and the new one
    complete at ``.NAME.territory-tmp-XXXX``: never a mix of the two; rename
    either to ``NAME`` by hand (the next run into ``NAME`` warns about them).
    """
    staged, target = Path(staged), Path(target)
    if not target.exists():
        os.rename(staged, target)
        return target
    aside = staged.with_name(staged.name + ".old")
    os.rename(target, aside)
    try:
        os.rename(staged, target)
    except BaseException:
        os.rename(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return target


def _umask_mode() -> int:
    """The mode a plain ``mkdir`` would give (mkdtemp makes 0o700)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o777 & ~mask


def _write_marker(folder: Path, command: str, complete: bool) -> None:
    stamp = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    (folder / RUN_MARKER).write_text(json.dumps(
        {"territory_version": __version__, "command": command, "written": stamp,
         "complete": complete}, indent=2) + "\n", encoding="utf-8")


@contextlib.contextmanager
def staged_folder(out: str | Path, *, overwrite: bool = False, command: str = "write",
                  publish_interrupted: bool = False, what: str = "out_dir",
                  flag: str = "overwrite=True") -> Iterator[Path]:
    """Yield an empty staging folder beside ``out``; move it to ``out`` when the block ends.

    The target is checked first (:func:`check_target`, again just before the
    move, in case another process wrote there meanwhile). On leaving the block
    normally, :data:`RUN_MARKER` is written (``complete: true``) and the folder
    replaces ``out`` (:func:`replace_folder`). On any exception -- an error,
    exit 2, ``KeyboardInterrupt`` -- the staging folder is deleted and ``out``
    is untouched; with ``publish_interrupted`` a ``KeyboardInterrupt`` instead
    publishes what was written, marked ``complete: false`` (the sweep keeps its
    finished points), then re-raises.
    """
    target = check_target(out, overwrite=overwrite, what=what, flag=flag)
    _clear_leftovers(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=_stage_prefix(target), dir=target.parent))
    try:
        os.chmod(stage, _umask_mode())
        try:
            yield stage
        except KeyboardInterrupt:
            if not publish_interrupted:
                raise
            _write_marker(stage, command, complete=False)
            check_target(target, overwrite=overwrite, what=what, flag=flag)
            replace_folder(stage, target)
            raise
        _write_marker(stage, command, complete=True)
        check_target(target, overwrite=overwrite, what=what, flag=flag)
        replace_folder(stage, target)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


@contextlib.contextmanager
def staged_files(page: str | Path) -> Iterator[Path]:
    """Yield an empty staging folder beside the file ``page``; move its files beside ``page``.

    For a page and the files it links to (``compare.html`` and its
    ``moved_accounts_*.csv``) written into a folder that is not the run's own:
    on leaving the block normally every file is moved next to ``page`` by a
    rename, ``page`` last, so it never links to a file not yet in place; on
    any exception the staging folder is deleted and nothing beside ``page``
    changes. Staging folders of killed runs are cleared as by :func:`staged_folder`.
    """
    target = _target(page)
    _clear_leftovers(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=_stage_prefix(target), dir=target.parent))
    try:
        yield stage
        files = sorted(stage.iterdir(), key=lambda f: (f.name == target.name, f.name))
        for f in files:
            os.chmod(f, 0o666 & _umask_mode())
            os.replace(f, target.parent / f.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# ----------------------------------------------------------------------------- writers


def territories(units: gpd.GeoDataFrame, card: pd.DataFrame) -> gpd.GeoDataFrame:
    """One dissolved, valid polygon per rep, with its scorecard figures, EPSG:4326."""
    g = dissolve_territories(units).set_crs("EPSG:4326", allow_override=True)
    cols = ["rep_id", "name", "tam", "account_units", "n_accounts", "n_units",
            "drive_hours_per_month", "flags"]
    return g.merge(card[[c for c in cols if c in card]], on="rep_id", how="left")[
        [c for c in cols if c in card] + ["geometry"]]


def _inputs_files(rejects: pd.DataFrame, substitutions: pd.DataFrame, out: Path) -> None:
    """What every run writes, with or without a plan: the rejects and the substitutions."""
    write_csv(rejects[REJECT_COLUMNS], out / "rejects.csv")
    if not substitutions.empty:
        write_csv(substitutions, out / "substitutions.csv")


def write_result(result: ScenarioResult, out_dir: str | Path, *, map_html: bool = True,
                 tiles: str | None = None, colours: dict[str, str] | None = None,
                 overwrite: bool = False, atomic: bool = True) -> Path:
    """Write the output contract into ``out_dir``; returns ``out_dir``.

    ``colours`` (rep id -> colour, from :func:`territory.web.maps.rep_colours` over all
    scenarios) keeps a rep's colour the same on every scenario's map. With ``atomic``
    (the default) the folder is staged and replaces ``out_dir`` as a whole
    (:func:`staged_folder`; ``overwrite`` allows a non-empty folder that is not ours);
    ``atomic=False`` writes straight into ``out_dir`` (created), for a caller that
    stages the folder itself.
    """
    if atomic:
        with staged_folder(out_dir, overwrite=overwrite, command="write_result") as stage:
            _result_files(result, stage, map_html=map_html, tiles=tiles, colours=colours)
        return _target(out_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _result_files(result, out, map_html=map_html, tiles=tiles, colours=colours)
    return out


def _result_files(result: ScenarioResult, out: Path, *, map_html: bool, tiles: str | None,
                  colours: dict[str, str] | None) -> None:
    """The files of the output contract, into the existing folder ``out``."""
    acc = result.accounts
    cols = list(ASSIGNMENT_COLUMNS)
    if acc["current_rep"].notna().any():
        cols += ["current_rep", "moved"]
    card = result.scorecard[[c for c in SCORECARD_COLUMNS if c in result.scorecard]]
    # a bar over the steps (shown after half a second, never with -q): a 100k-account book
    # spends seconds on the workbook and the map
    with progress(4 + map_html, f"writing {result.config.name}", "step") as bar:
        bar.set_postfix_str("tables")
        write_csv(acc[cols], out / "assignments.csv")
        _inputs_files(result.rejects, result.substitutions, out)
        write_csv(card, out / "scorecard.csv")
        write_csv(result.units[["unit_id", "rep_id", "tam", "account_units", "n_accounts"]],
                  out / "units.csv")
        write_csv(result.reps[["rep_id", "name", "lon", "lat", "base_kind"]], out / "reps.csv")
        bar.update()
        bar.set_postfix_str("territories")
        terr = territories(result.units, result.scorecard)
        write_geojson(terr, out / "territories.geojson")
        write_geopackage(terr, out / "territories.gpkg", layer="territories")
        bar.update()
        bar.set_postfix_str("assignments.xlsx")
        sheets = {"all accounts": acc[cols], "scorecard": card}
        for rep in result.reps.itertuples():
            sheets[str(rep.rep_id)] = acc.loc[acc["rep_id"] == rep.rep_id, cols]
        write_excel(sheets, out / "assignments.xlsx")
        bar.update()
        write_summary(result.summary, out / "summary.json")
        bar.update()
        if map_html:
            bar.set_postfix_str("map.html")
            _map_file(result, out / "map.html", tiles=tiles, colours=colours)
            bar.update()


def _map_file(result: ScenarioResult, path: Path, *, tiles: str | None,
              colours: dict[str, str] | None) -> None:
    from .web.maps import save_map, scenario_map

    t0 = time.perf_counter()
    m = scenario_map(result.units, result.reps, result.accounts, result.scorecard,
                     result.summary, tiles=tiles, colours=colours, isochrones=result.isochrones,
                     adjacency=result.adjacency)
    save_map(m, path)
    wrote(path, t0)


def write_no_plan(no_plan: NoPlan, out_dir: str | Path, *, overwrite: bool = False,
                  atomic: bool = True) -> Path:
    """Write what a scenario without a plan leaves: ``summary.json`` and ``rejects.csv``.

    Staged and replacing ``out_dir`` as a whole like :func:`write_result`, so no file
    of a previous run is left beside them.
    """
    if atomic:
        with staged_folder(out_dir, overwrite=overwrite, command="write_no_plan") as stage:
            _no_plan_files(no_plan, stage)
        return _target(out_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _no_plan_files(no_plan, out)
    return out


def _no_plan_files(no_plan: NoPlan, out: Path) -> None:
    _inputs_files(no_plan.rejects, no_plan.substitutions, out)
    write_summary(no_plan.summary, out / "summary.json")


@dataclass(frozen=True)
class RunFolders:
    """Where :func:`write_run` put each scenario (config order), the baseline and the page."""

    scenarios: tuple[Path, ...]
    current: Path | None
    compare: Path | None


def scenario_folders(run: RunResult, out: Path) -> tuple[list[Path], Path | None]:
    """The folder of each scenario (``out`` itself when alone) and of the current alignment."""
    multi = len(run.scenarios) > 1
    dirs = [out / s.config.name if multi else out for s in run.scenarios]
    return dirs, (out / "current" if run.current is not None else None)


def write_run(run: RunResult, out_dir: str | Path, *, tiles: str | None = None,
              overwrite: bool = False, command: str = "plan") -> RunFolders:
    """Write every scenario of ``run`` under ``out_dir``, then ``compare.html`` for 2–3 plans.

    The whole run is staged and replaces ``out_dir`` as a whole (:func:`staged_folder`;
    ``overwrite`` allows a non-empty folder that is not ours); the folders returned are
    the final ones.
    """
    out = _target(out_dir)
    with staged_folder(out, overwrite=overwrite, command=command) as stage:
        staged = _run_files(run, stage, tiles)
    return RunFolders(tuple(out / d.relative_to(stage) for d in staged.scenarios),
                      out / "current" if staged.current is not None else None,
                      out / "compare.html" if staged.compare is not None else None)


def _run_files(run: RunResult, out: Path, tiles: str | None) -> RunFolders:
    """The folders and page of :func:`write_run`, into the existing folder ``out``."""
    from .web.maps import rep_colours

    dirs, current_dir = scenario_folders(run, out)
    plans = ([run.current] if run.current is not None else []) + list(run.planned)
    colours = rep_colours([r.units for r in plans]) if plans else {}
    if run.current is not None:
        write_result(run.current, current_dir, tiles=tiles, colours=colours, atomic=False)
    for outcome, d in zip(run.scenarios, dirs):
        if isinstance(outcome, NoPlan):
            write_no_plan(outcome, d, atomic=False)
        else:
            write_result(outcome, d, tiles=tiles, colours=colours, atomic=False)
    planned = [d for o, d in zip(run.scenarios, dirs) if isinstance(o, ScenarioResult)]
    page = None
    if len(planned) >= 2:
        from .web.compare import compare_page

        page = compare_page(planned[:3], out / "compare.html")
    return RunFolders(tuple(dirs), current_dir, page)
