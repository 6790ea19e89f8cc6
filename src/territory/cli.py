"""Command line: thin wiring over :mod:`territory.pipeline`.

Exit codes: 0 ok; 2 unusable input or usage (one line naming the file, column
or row); 3 infeasible plan (the explanation printed and written to
``DIR/summary.json``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

from . import __version__
from .config import ScenarioConfig, load_config
from .errors import InfeasibleError, TerritoryError
from .web.html import fmt_money

log = logging.getLogger("territory")

DEMO_SCENARIOS = ("balanced", "limited_moves", "one_rep_fewer")


def _demo_data_dir() -> Path:
    """The demo data folder: ``./data`` or the repository's ``data/`` beside ``src/``."""
    for candidate in (Path.cwd() / "data", Path(__file__).resolve().parents[2] / "data"):
        if (candidate / "accounts.csv").is_file():
            return candidate
    raise TerritoryError("demo data not found: run `territory demo` from the repository root "
                         "(it reads data/accounts.csv, data/reps.csv, data/scenarios/*.toml)")


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    for noisy in ("pyogrio", "fiona", "urllib3", "matplotlib", "distributed"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def summary_table(rows: list[tuple[str, dict, object]]) -> str:
    """A short text table of scenario results for the terminal."""
    head = (f"{'scenario':<16} {'status':<17} {'reps':>4} {'gap':>6} {'TAM min–max':>19} "
            f"{'TAM CV':>7} {'units':>9} {'drive h/mo max':>14} {'moved':>7} {'fair':>6}")
    lines = [head, "-" * len(head)]
    for name, s, card in rows:
        if card is None:
            lines.append(f"{name:<16} {s.get('status', '?'):<17}")
            continue
        gap = "—" if s.get("mip_gap") is None else f"{s['mip_gap']:.1%}"
        moved = "—" if s.get("moved_share") is None else f"{s['moved_share']:.0%}"
        fair = "—" if s.get("fairness_share") is None else f"{s['fairness_share']:.0%}"
        tam = f"{fmt_money(card['tam'].min())}–{fmt_money(card['tam'].max())}"
        units = f"{card['account_units'].min()}–{card['account_units'].max()}"
        drive = f"{card['drive_hours_per_month'].max():.1f}"
        lines.append(f"{name:<16} {s['status'][:17]:<17} {s['n_reps']:>4} {gap:>6} {tam:>19} "
                     f"{s['tam_cv']:>7.1%} {units:>9} {drive:>14} {moved:>7} {fair:>6}")
    src = rows[0][1].get("travel_source") if rows else None
    if src == "estimate":
        lines.append("drive hours: straight-line ESTIMATE (no road graph)")
    elif src == "osm":
        lines.append(f"drive hours: OpenStreetMap road network "
                     f"(coverage {rows[0][1].get('travel_coverage', 0):.0%}); "
                     "© OpenStreetMap contributors")
    return "\n".join(lines)


def _run_scenarios(accounts: Path | str, reps: str, configs: list[ScenarioConfig], out: Path,
                   *, zcta: str | None, units_path: str | None, unit_id: str | None,
                   locks: str | None, tiles: str | None, with_current: bool) -> int:
    """Plan every scenario, then write them all with one colour per rep across maps."""
    from .io.export import write_json
    from .web.maps import rep_colours
    from .pipeline import current_alignment, plan, prepare, write_result

    out.mkdir(parents=True, exist_ok=True)
    multi = len(configs) > 1
    networks: dict[tuple, object] = {}

    def network_for(cfg: ScenarioConfig, units) -> object:
        key = (cfg.travel.source, cfg.travel.path, cfg.travel.custom_filter)
        if key not in networks:
            networks[key] = None
            if cfg.travel.source != "estimate":
                from .travel.burden import load_road_network

                networks[key] = load_road_network(cfg.travel, lon=units["lon"].to_numpy(),
                                                  lat=units["lat"].to_numpy())
        return networks[key]

    def prepared(cfg: ScenarioConfig):
        return prepare(accounts, reps, cfg, zcta=zcta, units_path=units_path, unit_id=unit_id,
                       locks_path=locks)

    results: list[tuple[Path, object]] = []
    rows: list[tuple[str, dict, object]] = []
    exit_code = 0
    for cfg in configs:
        target = out / cfg.name if multi else out
        inputs = prepared(cfg)
        try:
            result = plan(inputs, cfg, network=network_for(cfg, inputs.units))
        except InfeasibleError as exc:
            target.mkdir(parents=True, exist_ok=True)
            # a time-out is not a proof of infeasibility: say which one it is
            status = ("time_limit" if exc.diagnosis.get("constraint") == "time_limit"
                      else "infeasible")
            write_json(exc.diagnosis.get("summary", {}) | {
                "status": status, "explanation": str(exc),
                "diagnosis": {k: v for k, v in exc.diagnosis.items() if k != "summary"}},
                target / "summary.json")
            label = "NO PLAN IN TIME" if status == "time_limit" else "INFEASIBLE"
            print(f"\n[{cfg.name}] {label} — {exc}\n(written to {target / 'summary.json'})",
                  file=sys.stderr)
            rows.append((cfg.name, {"status": status}, None))
            exit_code = 3
            continue
        results.append((target, result))
        rows.append((cfg.name, result.summary, result.scorecard))
        s = result.summary
        log.info("[%s] %d accounts in = %d assigned + %d rejected", cfg.name, s["accounts_in"],
                 s["assigned"], s["rejected"])
    if with_current and results:
        # The baseline uses the whole roster, whatever n_reps a scenario keeps.
        base_cfg = configs[0].replace(n_reps=None)
        inputs = prepared(base_cfg)
        if inputs.accounts["current_rep"].notna().any():
            cur = current_alignment(inputs, base_cfg, network=network_for(base_cfg, inputs.units))
            results.insert(0, (out / "current", cur))
            rows.insert(0, ("current", cur.summary, cur.scorecard))
    colours = rep_colours([r.units for _, r in results]) if results else {}
    for target, result in results:
        write_result(result, target, tiles=tiles, colours=colours)
    print(summary_table(rows))
    planned = [(t, r) for t, r in results if r.summary.get("status") != "current alignment"]
    if planned:
        s = planned[-1][1].summary
        print(f"accounts: {s['accounts_in']} in = {s['assigned']} assigned + {s['rejected']} "
              f"rejected (see rejects.csv)")
    if len(planned) >= 2:
        from .web.compare import compare_page

        page = compare_page([t for t, _ in planned[:3]], out / "compare.html")
        print(f"open {page.resolve()}")
    elif planned:
        print(f"open {(planned[0][0] / 'map.html').resolve()}")
    return exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    data = Path(args.data) if args.data else _demo_data_dir()
    configs = [load_config(data / "scenarios" / f"{n}.toml") for n in DEMO_SCENARIOS]
    if args.estimate:
        from dataclasses import replace

        configs = [c.replace(travel=replace(c.travel, source="estimate", path=None))
                   for c in configs]
    t0 = time.perf_counter()
    code = _run_scenarios(data / "accounts.csv", str(data / "reps.csv"), configs, Path(args.out),
                          zcta=str(data / "columbus_zctas.geojson"), units_path=None,
                          unit_id=None, locks=None, tiles=args.tiles, with_current=True)
    log.info("demo finished in %.1f s", time.perf_counter() - t0)
    return code


def cmd_plan(args: argparse.Namespace) -> int:
    configs = [load_config(c) for c in args.config] if args.config else [load_config(None)]
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise TerritoryError(f"scenario names must differ (got {names}); set name = \"...\"")
    locks = args.locks
    if args.lock:  # e.g. --lock edited: only the rows the designer moved (issue 15)
        from .scoring import edited_locks

        if not locks:
            raise TerritoryError("--lock COLUMN needs --locks FILE")
        locks = str(edited_locks(locks, args.lock))
    return _run_scenarios(args.accounts, args.reps, configs, Path(args.out), zcta=args.zcta,
                          units_path=args.units, unit_id=args.unit_id, locks=locks,
                          tiles=args.tiles, with_current=len(configs) > 1)


def cmd_score(args: argparse.Namespace) -> int:
    """``territory score``: the full output contract of a plan made by hand (issue 15)."""
    from .pipeline import prepare, write_result
    from .scoring import read_plan, score

    cfg = load_config(args.config)
    inputs = prepare(args.accounts, args.reps, cfg, zcta=args.zcta, units_path=args.units,
                     unit_id=args.unit_id)
    result = score(inputs, read_plan(args.plan, inputs), cfg)
    out = write_result(result, Path(args.out), tiles=args.tiles)
    print(summary_table([(cfg.name, result.summary, result.scorecard)]))
    broken = result.summary.get("violations") or []
    for v in broken:
        print(f"  breach: {v}")
    print(f"{len(broken)} rule(s) broken; open {(out / 'map.html').resolve()}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .web.compare import compare_page

    dirs = [Path(d) for d in args.dirs]
    if not 2 <= len(dirs) <= 3:
        raise TerritoryError("compare takes 2 or 3 result folders")
    for d in dirs:
        if not (d / "summary.json").is_file():
            raise TerritoryError(f"{d}: not a result folder (no summary.json)")
    page = compare_page(dirs, Path(args.out))
    print(f"open {page.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``territory`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="territory",
        description="Design balanced, contiguous sales territories: accounts -> ZIP/county "
                    "units -> A/B/C tiers -> k-means seed -> integer program -> drive-time "
                    "travel burden -> interactive maps.",
        epilog="Exit codes: 0 ok, 2 unusable input, 3 infeasible plan (explained).")
    parser.add_argument("--version", action="version", version=f"territory {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tiles_help = ("background tiles: none (offline state/county outlines, the default), "
                  "'OpenStreetMap' or 'CartoDB positron' (need internet when viewed)")
    demo = sub.add_parser("demo", help="run the three demo scenarios on the shipped Columbus data",
                          description="Run the demo: ~1,000 synthetic accounts on the 73 real "
                                      "ZCTAs of Columbus, Ohio, 11 reps, drive times on the "
                                      "shipped OpenStreetMap road graph; three scenarios "
                                      f"({', '.join(DEMO_SCENARIOS)}) plus the current "
                                      "alignment, and compare.html. No network needed.")
    demo.add_argument("--out", default="maps/demo", help="output folder (default maps/demo)")
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
                   help="one to three scenario files (defaults of DESIGN.md when omitted)")
    p.add_argument("--zcta", help="ZCTA polygons (shapefile / GeoPackage / GeoJSON) for ZIP units;"
                   " without it ZIP areas are approximated (and labelled so)")
    p.add_argument("--units", help="custom unit polygons instead of ZIP/county units")
    p.add_argument("--unit-id", help="id column of --units / --zcta")
    p.add_argument("--locks", help="locks.csv: rep_id with unit_id or account_id per row")
    p.add_argument("--lock", metavar="COLUMN", help="lock only the rows of --locks whose COLUMN "
                   "is true, e.g. `--locks plan_edited.csv --lock edited` keeps the units moved "
                   "by hand in map.html and re-optimises the rest")
    p.add_argument("--out", required=True, help="output folder")
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
    sc.add_argument("--tiles", default=None, help=tiles_help)
    sc.set_defaults(func=cmd_score)

    c = sub.add_parser("compare", help="side-by-side comparison page of 2–3 result folders",
                       description="Write compare.html: synchronised maps, scorecards, charts "
                                   "and the accounts moved between scenarios.")
    c.add_argument("dirs", nargs="+", metavar="DIR", help="2 or 3 folders written by plan/demo")
    c.add_argument("--out", default="compare.html", help="output HTML file")
    c.set_defaults(func=cmd_compare)

    from .geo.zcta import add_geo_parser
    from .sweep.command import add_sweep_parser

    add_geo_parser(sub)
    add_sweep_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``territory`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(-1 if args.quiet else args.verbose)
    try:
        return int(args.func(args) or 0)
    except InfeasibleError as exc:
        print(f"territory: infeasible: {exc}", file=sys.stderr)
        return exc.exit_code
    except TerritoryError as exc:
        print(f"territory: error: {exc}", file=sys.stderr)
        return exc.exit_code if exc.exit_code != 1 else 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
