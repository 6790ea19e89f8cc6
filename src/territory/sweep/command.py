"""``territory sweep``: the command line of :func:`territory.sweep.run_sweep`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..config import load_config
from .grid import parse_rep_counts, parse_vary

__all__ = ["add_sweep_parser", "cmd_sweep"]


def _table(rows, answer) -> str:
    head = (f"{'point':<40} {'status':<11} {'TAM CV':>7} {'drive h max':>11} {'moved':>6} "
            f"{'fair':>5}  ok")
    lines = [head, "-" * len(head)]
    for r in rows.to_dict("records"):
        def pct(k: str) -> str:
            v = r.get(k)
            return "—" if v is None or v != v else f"{v:.0%}" if k != "tam_cv" else f"{v:.1%}"
        drive = r.get("drive_hours_max")
        mark = "<- answer" if answer and r["point"] == answer["point"] else ""
        lines.append(f"{r['point'][:40]:<40} {r['status'][:11]:<11} {pct('tam_cv'):>7} "
                     f"{'—' if drive is None or drive != drive else f'{drive:.1f}':>11} "
                     f"{pct('moved_share'):>6} {pct('fairness_share'):>5}  "
                     f"{'yes' if r['ok'] else 'no'} {mark}")
    return "\n".join(lines)


def _quiet_dask() -> None:
    """distributed installs its own INFO handler on import: keep it to warnings."""
    import distributed  # noqa: F401 - imported for its logging set-up

    logging.getLogger("distributed").setLevel(logging.WARNING)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run the sweep; 0 when it finished (infeasible points are rows), 130 on Ctrl-C."""
    from .engine import SweepSpec, run_sweep

    base = load_config(args.config)
    varies = tuple((k, tuple(v)) for k, v in (parse_vary(t) for t in args.vary or []))
    opt = lambda v: Path(v) if v else None  # noqa: E731
    spec = SweepSpec(accounts=Path(args.accounts), rep_counts=tuple(parse_rep_counts(args.reps)),
                     base=base, varies=varies, reps_file=opt(args.reps_file), zcta=opt(args.zcta),
                     units_path=opt(args.units), unit_id=args.unit_id, locks=opt(args.locks))
    if args.workers != 1 or args.scheduler:
        _quiet_dask()
    try:
        result = run_sweep(spec, args.out, workers=args.workers, scheduler=args.scheduler,
                           progress=not args.quiet, maps=not args.no_maps,
                           overwrite=args.overwrite)
    except KeyboardInterrupt:
        print(f"\ninterrupted: the finished points are in {Path(args.out) / 'sweep.csv'}",
              file=sys.stderr)
        return 130
    print(_table(result.rows, result.answer))
    a = result.answer
    if a is None:
        print("answer: no point meets both bands without a red flag (see sweep.html)")
    else:
        print(f"answer: {a['n_reps']} reps ({a['rule']})")
    print(f"open {result.files['sweep.html'].resolve()}")
    return 0


def add_sweep_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``territory sweep`` to the CLI's subcommands."""
    s = sub.add_parser(
        "sweep", help="how many reps? plan a grid of rep counts x rules on Dask",
        description="Plan every point of a grid (rep counts x the values of --vary keys), in "
                    "parallel on a Dask LocalCluster (default: one worker per core), on a Dask "
                    "scheduler (--scheduler) or serially (--workers 1). Writes sweep.csv (a row "
                    "per point, as points finish), sweep.html (trade-off charts and the answer: "
                    "the smallest rep count meeting both bands without a red flag), one result "
                    "folder per point and compare.html of the answer and its neighbours.")
    s.add_argument("--accounts", required=True, help="accounts CSV / .xlsx / .parquet")
    s.add_argument("--reps", required=True, metavar="COUNTS",
                   help="rep counts: 8:14 (inclusive), 8:14:2, 8,10,12 or 11")
    s.add_argument("--reps-file", help="reps CSV; a count below its length drops the reps with "
                   "the smallest current books, above it adds open seats")
    s.add_argument("--config", metavar="BASE.toml", help="base scenario (defaults when omitted)")
    s.add_argument("--vary", action="append", metavar="KEY=V1,V2",
                   help="a config key and its values, e.g. balance.tam_tolerance=0.10,0.15 or "
                        "contiguity=true,false (repeatable; the grid is every combination)")
    s.add_argument("--zcta", help="ZCTA polygons for ZIP units")
    s.add_argument("--units", help="custom unit polygons instead of ZIP/county units")
    s.add_argument("--unit-id", help="id column of --units / --zcta")
    s.add_argument("--locks", help="locks.csv: rep_id with unit_id or account_id per row")
    where = s.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="tcp://HOST:8786",
                       help="run on this Dask scheduler instead of a local cluster")
    where.add_argument("--workers", type=int, metavar="N",
                       help="local worker processes (default: one per core; 1 = serial)")
    s.add_argument("--no-maps", action="store_true",
                   help="skip each point's map.html (large books: the client receives less)")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--overwrite", action="store_true",
                   help="replace --out even when it is a non-empty folder that holds no "
                        "territory run (everything in it is deleted); a previous run is always "
                        "replaced as a whole")
    s.set_defaults(func=cmd_sweep)
