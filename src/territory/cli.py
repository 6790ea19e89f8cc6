"""Command line: thin wiring over :mod:`territory.pipeline`.

Exit codes: 0 ok; 2 unusable input or usage (one line naming the file, column
or row); 3 infeasible plan (the explanation printed and written to
``DIR/summary.json``); 4 the solver failed (an error status, not a verdict on the plan).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from . import __version__
from .config import ScenarioConfig, load_config
from .errors import InfeasibleError, InputError, TerritoryError
from .web.html import fmt_money

if TYPE_CHECKING:  # the heavy imports wait until a command runs, so --help stays quick
    import pandas as pd

    from .outputs import RunFolders
    from .result import RunResult, Summary

log = logging.getLogger("territory")

DEMO_SCENARIOS = ("balanced", "limited_moves", "one_rep_fewer")

#: the collector's third threshold during a command: a run builds about a million container
#: objects (adjacency dicts, frames) that live to its end, and with CPython's default (10)
#: every tenth middle-generation pass walks all of them to find next to no garbage: 10 walks,
#: 2 s of the 800-account national book's 32 s
GC_OLDEST_THRESHOLD = 100


def _demo_data_dir() -> Path:
    """The demo data folder: ``./data`` or the repository's ``data/`` beside ``src/``."""
    for candidate in (Path.cwd() / "data", Path(__file__).resolve().parents[2] / "data"):
        if (candidate / "accounts.csv").is_file():
            return candidate
    raise InputError("demo data not found: run `territory demo` from the repository root "
                         "(it reads data/accounts.csv, data/reps.csv, data/scenarios/*.toml)")


def _setup_logging(verbosity: int) -> None:
    """``-q`` warnings only; default INFO from territory; ``-v`` territory's DEBUG lines (time
    per stage, unit and contraction counts, the road-network decision, every file written);
    ``-vv`` DEBUG from the libraries too."""
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    logging.basicConfig(format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    # set on every call (basicConfig configures once per process): the level of this run
    logging.getLogger().setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    logging.getLogger("territory").setLevel(level)
    if verbosity < 2:
        for noisy in ("pyogrio", "fiona", "urllib3", "matplotlib", "distributed"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def summary_table(rows: list[tuple[str, Summary, pd.DataFrame | None]]) -> str:
    """A short text table of scenario results for the terminal.

    The status column is :attr:`Summary.status_label` ("within 0.8% of optimal" for a plan
    stopped at a gap, "optimal" only at a gap of ~0); the footer gives the share of visits'
    drive legs routed on roads (:func:`territory.web.maps.routed_share`).
    """
    w = max([17] + [len(s.status_label) for _, s, _ in rows])
    head = (f"{'scenario':<16} {'status':<{w}} {'reps':>4} {'gap':>6} {'TAM min–max':>19} "
            f"{'TAM CV':>7} {'acct units':>10} {'drive h/mo max':>14} {'moved':>7} {'fair':>6}")
    lines = [head, "-" * len(head)]
    for name, s, card in rows:
        if card is None:
            lines.append(f"{name:<16} {s.status_label:<{w}}")
            continue
        gap = "—" if s.mip_gap is None else f"{s.mip_gap:.1%}"
        moved = "—" if s.moved_share is None else f"{s.moved_share:.0%}"
        fair = "—" if s.fairness_share is None else f"{s.fairness_share:.0%}"
        tam = f"{fmt_money(card['tam'].min())}–{fmt_money(card['tam'].max())}"
        units = f"{card['account_units'].min()}–{card['account_units'].max()}"
        drive = f"{card['drive_hours_per_month'].max():.1f}"
        lines.append(f"{name:<16} {s.status_label:<{w}} {s.n_reps:>4} {gap:>6} {tam:>19} "
                     f"{s.tam_cv:>7.1%} {units:>10} {drive:>14} {moved:>7} {fair:>6}")
    lines.append(_travel_footer(rows))
    return "\n".join(line for line in lines if line)


def _travel_footer(rows: list[tuple[str, Summary, pd.DataFrame | None]]) -> str:
    """Where the drive hours come from; on roads, the share of visit legs actually routed."""
    from .web.maps import routed_share

    src = rows[0][1].travel_source if rows else None
    if src == "estimate":
        return "drive hours: straight-line ESTIMATE (no road graph)"
    if src != "osm":
        return ""
    shares = [(share, name) for name, _, card in rows if card is not None
              and (share := routed_share(card)) is not None]
    if not shares:
        routed = ""
    elif all(abs(sh - shares[0][0]) < 0.005 for sh, _ in shares):
        routed = f" ({shares[0][0]:.0%} of visit legs road-routed)"
    else:
        routed = (" (visit legs road-routed: "
                  + ", ".join(f"{n} {sh:.0%}" for sh, n in shares) + ")")
    return f"drive hours: OpenStreetMap road network{routed}; © OpenStreetMap contributors"


def _table_rows(run: RunResult) -> list[tuple[str, Summary, pd.DataFrame | None]]:
    """One row per scenario (the current alignment first); a scenario without a plan has no card."""
    rows = [("current", run.current.summary, run.current.scorecard)] if run.current else []
    for o in run.scenarios:
        rows.append((o.config.name, o.summary, o.scorecard if o.summary.has_plan else None))
    return rows


def _report(run: RunResult, folders: RunFolders) -> None:
    """Print what the run found: failures on stderr, the table and where to look on stdout."""
    for o, d in zip(run.scenarios, folders.scenarios):
        if not o.summary.has_plan:
            label = o.summary.status_label.upper()
            print(f"\n[{o.config.name}] {label} — {o.summary.explanation}\n"
                  f"(written to {d / 'summary.json'})", file=sys.stderr)
    print(summary_table(_table_rows(run)))
    planned = [(o, d) for o, d in zip(run.scenarios, folders.scenarios) if o.summary.has_plan]
    if planned:
        s = planned[-1][0].summary
        print(f"accounts: {s.accounts_in} in = {s.assigned} assigned + {s.rejected} "
              f"rejected (see rejects.csv)")
    if folders.compare is not None:
        print(f"open {folders.compare.resolve()}")
    elif planned:
        print(f"open {(planned[0][1] / 'map.html').resolve()}")


def _run(accounts, reps, configs: list[ScenarioConfig], out: Path, *, tiles: str | None,
         with_current: bool, overwrite: bool, command: str, **where) -> int:
    """Plan, write and report a run; the exit code (3 when a scenario has no plan)."""
    from .outputs import write_run
    from .pipeline import run_scenarios

    run = run_scenarios(accounts, reps, configs, with_current=with_current, **where)
    folders = write_run(run, out, tiles=tiles, overwrite=overwrite, command=command)
    _report(run, folders)
    return run.exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    data = Path(args.data) if args.data else _demo_data_dir()
    configs = [load_config(data / "scenarios" / f"{n}.toml") for n in DEMO_SCENARIOS]
    if args.estimate:
        from dataclasses import replace

        configs = [c.replace(travel=replace(c.travel, source="estimate", path=None))
                   for c in configs]
    t0 = time.perf_counter()
    code = _run(data / "accounts.csv", str(data / "reps.csv"), configs, Path(args.out),
                zcta=str(data / "columbus_zctas.geojson"), tiles=args.tiles, with_current=True,
                overwrite=args.overwrite, command="demo")
    log.info("demo finished in %.1f s", time.perf_counter() - t0)
    return code


def cmd_plan(args: argparse.Namespace) -> int:
    configs = [load_config(c) for c in args.config] if args.config else [load_config(None)]
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise InputError(f"scenario names must differ (got {names}); set name = \"...\"")
    if len(configs) > 1 and "current" in names:  # its folder would be the baseline's
        raise InputError('scenario name "current" is the current alignment\'s folder; '
                         'set another name = "..."')
    if args.lock and not args.locks:
        raise InputError("--lock COLUMN needs --locks FILE")
    with tempfile.TemporaryDirectory(prefix="territory-locks-") as tmp:  # no temp left behind
        locks = args.locks
        if args.lock:  # e.g. --lock edited: only the rows the designer moved (issue 15)
            from .scoring import edited_locks

            locks = str(edited_locks(locks, args.lock, tmp))
        return _run(args.accounts, args.reps, configs, Path(args.out), zcta=args.zcta,
                    units_path=args.units, unit_id=args.unit_id, locks=locks,
                    tiles=args.tiles, with_current=len(configs) > 1, overwrite=args.overwrite,
                    command="plan")


def cmd_score(args: argparse.Namespace) -> int:
    """``territory score``: the full output contract of a plan made by hand (issue 15)."""
    from .pipeline import prepare, write_result
    from .scoring import read_plan, score

    cfg = load_config(args.config)
    inputs = prepare(args.accounts, args.reps, cfg, zcta=args.zcta, units_path=args.units,
                     unit_id=args.unit_id)
    result = score(inputs, read_plan(args.plan, inputs), cfg)
    out = write_result(result, Path(args.out), tiles=args.tiles, overwrite=args.overwrite)
    print(summary_table([(cfg.name, result.summary, result.scorecard)]))
    broken = result.summary.violations
    for v in broken:
        print(f"  breach: {v}")
    print(f"{len(broken)} rule(s) broken; open {(out / 'map.html').resolve()}")
    return 0


def compare_page_form(out: str | Path) -> bool:
    """Whether ``compare --out`` names the page (``x.html``), not the folder of the page."""
    p = Path(out)
    return p.suffix.lower() in (".html", ".htm") and not p.is_dir()


def cmd_compare(args: argparse.Namespace) -> int:
    """``territory compare``: the page of 2-3 result folders, staged like every run.

    ``--out DIR``: ``DIR/compare.html`` and its CSV files, replacing ``DIR`` as a
    whole (:func:`territory.outputs.staged_folder`: a non-empty folder that holds no
    run of ours is refused without ``--overwrite``). ``--out PAGE.html``: the page and
    its CSV files beside it, each put in place by a rename, the page last
    (:func:`territory.outputs.staged_files`).
    """
    from .outputs import staged_files, staged_folder
    from .result import load_summary
    from .web.compare import compare_page

    dirs = [Path(d) for d in args.dirs]
    if not 2 <= len(dirs) <= 3:
        raise InputError("compare takes 2 or 3 result folders")
    for d in dirs:
        load_summary(d)  # a missing or unreadable summary.json is bad input (exit 2)
    out = Path(args.out)
    if compare_page_form(out):
        with staged_files(out) as stage:
            compare_page(dirs, stage / out.name)
        page = out
    else:
        with staged_folder(out, overwrite=args.overwrite, command="compare", what="--out",
                           flag="--overwrite") as stage:
            compare_page(dirs, stage / "compare.html")
        page = out / "compare.html"
    print(f"open {page.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``territory`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="territory",
        description="Design balanced, contiguous sales territories: accounts -> ZIP/county "
                    "units -> A/B/C tiers -> k-means seed -> integer program -> drive-time "
                    "travel burden -> interactive maps.",
        epilog="Exit codes: 0 ok, 2 unusable input, 3 infeasible plan (explained), 4 the "
               "solver failed.")
    parser.add_argument("--version", action="version", version=f"territory {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="-v: debugging detail (time per stage and solver phase, unit "
                             "counts, the road-network decision, files written); -vv: the "
                             "libraries' debug logs too")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    overwrite_help = ("replace --out even when it is a non-empty folder that holds no territory "
                      "run (everything in it is deleted); a previous run is always replaced "
                      "as a whole")
    tiles_help = ("background tiles: none (offline state/county outlines, the default), "
                  "'OpenStreetMap' or 'CartoDB positron' (need internet when viewed)")
    demo = sub.add_parser("demo", help="run the three demo scenarios on the shipped Columbus data",
                          description="Run the demo: 844 synthetic CRM rows on the 24 real "
                                      "ZCTAs of inner Columbus, Ohio, 7 reps, every visit "
                                      "routed on the shipped OpenStreetMap road graph; three "
                                      "scenarios "
                                      f"({', '.join(DEMO_SCENARIOS)}) plus the current "
                                      "alignment, and compare.html. No network needed.")
    demo.add_argument("--out", default="maps/demo", help="output folder (default maps/demo)")
    demo.add_argument("--overwrite", action="store_true", help=overwrite_help)
    demo.add_argument("--data", help="demo data folder (default: ./data)")
    demo.add_argument("--estimate", action="store_true",
                      help="use straight-line drive-time estimates instead of the road graph")
    demo.add_argument("--tiles", default=None, help=tiles_help)
    demo.set_defaults(func=cmd_demo)

    p = sub.add_parser("plan", help="design territories for your accounts and reps",
                       description="Design territories. Writes assignments.csv, rejects.csv, "
                                   "scorecard.csv, units.csv, reps.csv, territories.geojson, "
                                   "summary.json and map.html into --out (one subfolder per "
                                   "scenario plus compare.html when several configs are given).")
    p.add_argument("--accounts", required=True, help="accounts CSV / .xlsx / .parquet "
                   "(account_id, name, zip, revenue; optional lat, lon, tier, current_rep)")
    p.add_argument("--reps", required=True,
                   help="reps CSV (rep_id, name, home_zip or lat/lon, optional capacity, "
                        "start_date), a number of territories to design (named after the "
                        "current owners when the accounts have current_rep), or 'current' "
                        "(one rep per current owner)")
    p.add_argument("--config", nargs="+", metavar="SCENARIO.toml",
                   help="one to three scenario files (the defaults of territory.config when omitted)")
    p.add_argument("--zcta", help="ZCTA polygons (shapefile / GeoPackage / GeoJSON) for ZIP units;"
                   " without it ZIP areas are approximated (and labelled so)")
    p.add_argument("--units", help="custom unit polygons instead of ZIP/county units")
    p.add_argument("--unit-id", help="id column of --units / --zcta")
    p.add_argument("--locks", help="locks.csv: rep_id with unit_id or account_id per row")
    p.add_argument("--lock", metavar="COLUMN", help="lock only the rows of --locks whose COLUMN "
                   "is true, e.g. `--locks plan_edited.csv --lock edited` keeps the units moved "
                   "by hand in map.html and re-optimises the rest")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help=overwrite_help)
    p.add_argument("--tiles", default=None, help=tiles_help)
    p.set_defaults(func=cmd_plan)

    sc = sub.add_parser("score", help="score a plan made by hand (plan_edited.csv from map.html)",
                        description="Score a given plan (unit_id, rep_id for every unit of the "
                                    "region): writes the same files as plan, with drive hours, "
                                    "quota, fairness, disruption, contiguity and every band "
                                    "breach in summary.json's violations. A plan breaking a band "
                                    "is scored and flagged (exit 0).")
    sc.add_argument("--plan", required=True, help="plan CSV: unit_id, rep_id (one row per unit)")
    sc.add_argument("--accounts", required=True, help="the accounts the plan was made for")
    sc.add_argument("--reps", required=True, help="the reps CSV the plan was made for")
    sc.add_argument("--config", metavar="SCENARIO.toml", help="the scenario whose rules apply")
    sc.add_argument("--zcta", help="ZCTA polygons, as for plan")
    sc.add_argument("--units", help="custom unit polygons, as for plan")
    sc.add_argument("--unit-id", help="id column of --units / --zcta")
    sc.add_argument("--out", required=True, help="output folder")
    sc.add_argument("--overwrite", action="store_true", help=overwrite_help)
    sc.add_argument("--tiles", default=None, help=tiles_help)
    sc.set_defaults(func=cmd_score)

    c = sub.add_parser("compare", help="side-by-side comparison page of 2–3 result folders",
                       description="Write compare.html: synchronised maps, scorecards, charts "
                                   "and the accounts moved between scenarios.")
    c.add_argument("dirs", nargs="+", metavar="DIR", help="2 or 3 folders written by plan/demo")
    c.add_argument("--out", default="compare.html",
                   help="the page (NAME.html: written with its moved_accounts_*.csv beside it) "
                        "or a folder (replaced as a whole by compare.html and its CSV files); "
                        "default compare.html")
    c.add_argument("--overwrite", action="store_true", help=overwrite_help)
    c.set_defaults(func=cmd_compare)

    from .geo.zcta import add_geo_parser
    from .sweep.command import add_sweep_parser

    add_geo_parser(sub)
    add_sweep_parser(sub)
    return parser


#: the arguments that name input files, which a run replacing --out must not delete
_INPUT_ARGS = ("accounts", "reps", "reps_file", "config", "zcta", "units", "locks", "plan", "data",
               "dirs")


def check_out(path: str | Path, *, is_file: bool = False, overwrite: bool = False,
              inputs: Sequence[tuple[str, str]] = ()) -> None:
    """Refuse an output path that cannot be written, before any work is done.

    ``path`` is a folder (or, with ``is_file``, a file whose folder is created). A file's
    nearest existing ancestor must be a writable folder and the path not a folder. A
    folder is written beside itself and renamed into place
    (:func:`territory.outputs.staged_folder`), so its parent's nearest existing ancestor
    must be writable, and :func:`territory.outputs.check_target` must accept it (not a
    foreign non-empty folder unless ``overwrite``); no input file of ``inputs`` (flag,
    value) may lie inside it, since replacing the folder would delete it.
    """
    p = Path(path).expanduser().absolute()
    if p.exists() and (p.is_dir() if is_file else not p.is_dir()):
        kind = "a folder" if is_file else "a file"
        raise InputError(f"--out {path}: {p} is {kind}")
    if not is_file:
        from .outputs import check_target

        p = check_target(path, overwrite=overwrite)
    probe = p.parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"--out {path}: {probe} is a file, so nothing can be written under it")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"--out {path}: the folder {probe} is not writable")
    if not is_file and p.is_dir():
        for flag, value in inputs:
            if Path(value).expanduser().absolute().is_relative_to(p):
                raise InputError(f"--out {path}: it holds the input {flag} {value}, which "
                                 "replacing the folder would delete; choose another --out")


def _input_args(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(flag, value) of every input file argument given."""
    out = []
    for name in _INPUT_ARGS:
        values = getattr(args, name, None)
        for v in values if isinstance(values, list) else [values]:
            if isinstance(v, str) and v:
                out.append(("DIR" if name == "dirs" else f"--{name.replace('_', '-')}", v))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``territory`` command (exit 0, 2 bad input, 3 no plan, 4 solver
    failure, 130 Ctrl-C)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    loggers = [logging.getLogger(), logging.getLogger("territory")]
    before = [lg.level for lg in loggers]
    _setup_logging(-1 if args.quiet else args.verbose)
    _quick_shutdown()
    try:
        with _few_full_collections():
            return _main(args)
    finally:  # called in-process (tests, notebooks): leave the caller's logging as it was
        for lg, level in zip(loggers, before):
            lg.setLevel(level)


@contextlib.contextmanager
def _few_full_collections():
    """Full collections at most every :data:`GC_OLDEST_THRESHOLD` middle passes, for the
    command only (the caller's settings are restored)."""
    old = gc.get_threshold()
    gc.set_threshold(old[0], old[1], max(old[2], GC_OLDEST_THRESHOLD))
    try:
        yield
    finally:
        gc.set_threshold(*old)


_SHUTDOWN_HOOKED: list[bool] = []


def _quick_shutdown() -> None:
    """At interpreter exit, freeze the collector's view of the heap (once per process).

    Shutdown runs several full collections over whatever is still alive (the imported
    libraries, the caches: about 450,000 objects, 1.5 s after a national plan) before
    the OS takes the memory back anyway. Every file of a run is closed before ``main``
    returns; frozen objects are still released by reference counting, only cycles are
    left to the OS.
    """
    if not _SHUTDOWN_HOOKED:
        atexit.register(gc.freeze)
        _SHUTDOWN_HOOKED.append(True)


def _main(args: argparse.Namespace) -> int:
    """Run the parsed command; the exit code (errors as one line on stderr)."""
    try:
        if getattr(args, "out", None):
            is_file = args.command == "geo" or (args.command == "compare"
                                                and compare_page_form(args.out))
            check_out(args.out, is_file=is_file,  # these write a file
                      overwrite=getattr(args, "overwrite", False), inputs=_input_args(args))
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("territory: interrupted", file=sys.stderr)
        return 130
    except InfeasibleError as exc:
        print(f"territory: infeasible: {exc}", file=sys.stderr)
        return exc.exit_code
    except TerritoryError as exc:
        print(f"territory: error: {exc}", file=sys.stderr)
        return exc.exit_code if exc.exit_code != 1 else 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
