"""Sweeps on Dask: rows equal to `territory plan`, faults, the answer known by construction.

The instance is a 6 x 4 grid of square units with the same book in every unit
(25 account units, $750K), so the bands decide by arithmetic: 600 account units
in a 100-150 band need 4 to 6 reps; with 5 reps some rep holds 4 units
($3.0M against a $3.6M mean, -17%), outside a +-15% TAM band but inside +-25%.
Hence 3 reps is infeasible, 5 reps is infeasible at 0.15 only, and the answer is 4.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from territory.cli import main
from territory.config import config_from_dict
from territory.sweep import (METRIC_COLUMNS, SweepSpec, folder_row, parse_rep_counts,
                             roster_for, run_sweep)

distributed = pytest.importorskip("distributed")

PLAN_FILES = ("assignments.csv", "units.csv", "scorecard.csv")
VARY = (("balance.tam_tolerance", (0.25, 0.15)),)
BASE = {"region": "accounts",
        "balance": {"tam_tolerance": 0.15, "account_units_min": 100, "account_units_max": 150},
        "solver": {"time_limit_seconds": 20}, "travel": {"source": "estimate"}}


def _stable(row: dict) -> dict:
    """A row without its timing (the only field that differs between runs)."""
    return {k: v for k, v in row.items() if k != "solve_seconds"}


def _csv_rows(out: Path) -> dict[str, dict]:
    """``sweep.csv`` as text, by point, without the timing."""
    rows = pd.read_csv(out / "sweep.csv", dtype=str, keep_default_na=False)
    return {r["point"]: _stable(r) for r in rows.to_dict("records")}


@pytest.fixture(scope="module")
def grid_book(tmp_path_factory) -> dict[str, Path]:
    """24 unit squares near Columbus, each with 5 A ($120K) and 5 B ($30K) accounts."""
    tmp = tmp_path_factory.mktemp("grid")
    cells, rows = [], []
    for i in range(6):
        for j in range(4):
            uid = f"U{i}{j}"
            x0, y0 = -83.10 + 0.02 * i, 39.90 + 0.02 * j
            cells.append({"unit_id": uid, "geometry": shapely.box(x0, y0, x0 + 0.02, y0 + 0.02)})
            for k in range(10):
                rows.append({"account_id": f"{uid}-{k}", "name": f"Account {uid}-{k}",
                             "zip": "43215", "revenue": 120_000 if k < 5 else 30_000,
                             "lat": y0 + 0.002 + 0.0016 * k, "lon": x0 + 0.01})
    gpd.GeoDataFrame(cells, crs="EPSG:4326").to_file(tmp / "units.geojson", driver="GeoJSON")
    pd.DataFrame(rows).to_csv(tmp / "accounts.csv", index=False)
    (tmp / "base.toml").write_text(
        'region = "accounts"\n[balance]\ntam_tolerance = 0.15\naccount_units_min = 100\n'
        'account_units_max = 150\n[solver]\ntime_limit_seconds = 20\n', encoding="utf-8")
    return {"accounts": tmp / "accounts.csv", "units": tmp / "units.geojson",
            "base": tmp / "base.toml"}


def _spec(book: dict[str, Path], counts=(3, 4, 5), varies=VARY) -> SweepSpec:
    return SweepSpec(accounts=book["accounts"], rep_counts=tuple(counts),
                     base=config_from_dict(BASE), varies=varies, units_path=book["units"],
                     unit_id="unit_id")


@pytest.fixture(scope="module")
def client():
    """One two-process LocalCluster for the whole module (a start costs seconds)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address="127.0.0.1:0", host="127.0.0.1") as cluster:
        with distributed.Client(cluster) as c:
            yield c


@pytest.fixture(scope="module")
def swept(grid_book, client, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    return run_sweep(_spec(grid_book), out, client=client)


# ----------------------------------------------------------------------------- the grid


def test_bad_vary_is_exit_2_before_anything_runs(grid_book, tmp_path, capsys):
    args = ["sweep", "--accounts", str(grid_book["accounts"]), "--reps", "3:4",
            "--units", str(grid_book["units"]), "--workers", "1", "--out", str(tmp_path / "o")]
    for vary, says in (("balance.tam_tol=0.1", "unknown key"),
                       ("balance.tam_tolerance=0.1,abc", "valid number"),
                       ("contiguity=true,maybe", "valid boolean"),
                       ("balance.tam_tolerance=1.5", "less than or equal to 1"),
                       ("n_reps=3,4", "use --reps")):
        assert main(["-q", *args, "--vary", vary]) == 2
        err = capsys.readouterr().err.strip()
        assert says in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o").exists()
    assert parse_rep_counts("8:14") == list(range(8, 15))
    assert parse_rep_counts("12,8,10") == [8, 10, 12]


def test_roster_drops_smallest_books_and_adds_open_seats():
    roster = pd.DataFrame({"rep_id": ["R1", "R2", "R3"], "name": ["a", "b", "c"],
                           "home_zip": "", "lon": [-83.0, -82.9, -82.8],
                           "lat": [40.0, 40.0, 40.0], "capacity": 1.0, "start_date": ""})
    accounts = pd.DataFrame({"current_rep": ["R1", "R2", "R2", "R3", None],
                             "revenue": [50.0, 10.0, 10.0, 30.0, 99.0]})
    units = pd.DataFrame({"unit_id": ["u1", "u2", "u3"], "lon": [-83.0, -82.0, -82.85],
                          "lat": [40.0, 41.0, 40.0], "tam": [1.0, 1.0, 5.0]})
    assert list(roster_for(2, roster, accounts, units)["rep_id"]) == ["R1", "R3"]  # R2: $20
    assert list(roster_for(1, roster, accounts.assign(current_rep=None), units)["rep_id"]) == ["R1"]
    more = roster_for(4, roster, accounts, units)
    # u2 is far from every base; u3 has more TAM but sits next to R2 and R3
    assert list(more["rep_id"]) == ["R1", "R2", "R3", "OPEN01"]
    assert (more["lon"].iat[3], more["lat"].iat[3]) == (-82.0, 41.0)
    assert list(roster_for(3, None, accounts, units)["rep_id"]) == ["T01", "T02", "T03"]


# ----------------------------------------------------------------------------- on the cluster


def test_answer_known_by_construction(swept):
    rows = swept.rows.set_index("point")
    assert swept.answer["n_reps"] == 4
    assert swept.answer["rule"] == "balance.tam_tolerance=0.25"
    assert swept.answer["more"] == "reps05_tam_tolerance=0.25"
    assert swept.ranges["balance.tam_tolerance=0.15"] == {"min": 4, "max": 6}
    assert rows.loc["reps05_tam_tolerance=0.25", "ok"]
    for name in ("reps03_tam_tolerance=0.25", "reps03_tam_tolerance=0.15",
                 "reps05_tam_tolerance=0.15"):
        assert rows.loc[name, "status"] == "infeasible"
        assert rows.loc[name, "explanation"]
        assert not (swept.out / name / "assignments.csv").exists()
    assert "account units" in rows.loc["reps03_tam_tolerance=0.15", "explanation"]
    csv = pd.read_csv(swept.out / "sweep.csv")
    assert list(csv.columns) == ["point", "n_reps", "balance.tam_tolerance", *METRIC_COLUMNS]
    assert list(csv["point"]) == list(swept.rows["point"])  # grid order, not arrival
    assert list(csv["n_reps"]) == [3, 3, 4, 4, 5, 5]
    page = (swept.out / "sweep.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 4
    assert not any(f'{a}="http' in page for a in ("src", "href"))  # self-contained
    assert "4 reps" in page
    assert (swept.out / "compare.html").is_file()


def test_rows_equal_serial_territory_plan(swept, grid_book, tmp_path):
    for name in ("reps04_tam_tolerance=0.15", "reps05_tam_tolerance=0.25",
                 "reps05_tam_tolerance=0.15"):
        point = swept.out / name
        code = main(["-q", "plan", "--accounts", str(grid_book["accounts"]),
                     "--units", str(grid_book["units"]), "--unit-id", "unit_id",
                     "--reps", str(point / "roster.csv"), "--config", str(point / "scenario.toml"),
                     "--out", str(tmp_path / name)])
        assert code == (3 if name.endswith("0.15") and "05" in name else 0)
        assert _stable(folder_row(tmp_path / name)) == _stable(folder_row(point))
        row = swept.rows.set_index("point").loc[name]
        assert row["status"] == json.loads((tmp_path / name / "summary.json").read_text())["status"]
        for f in PLAN_FILES:
            if (point / f).exists():
                assert (point / f).read_bytes() == (tmp_path / name / f).read_bytes(), f


def test_serial_command_gives_the_same_rows_and_plans(swept, grid_book, tmp_path, capsys):
    base = grid_book["base"]
    code = main(["-q", "sweep", "--accounts", str(grid_book["accounts"]), "--reps", "4:5",
                 "--units", str(grid_book["units"]), "--unit-id", "unit_id", "--config", str(base),
                 "--vary", "balance.tam_tolerance=0.25,0.15", "--workers", "1", "--no-maps",
                 "--out", str(tmp_path)])
    assert code == 0
    assert "answer: 4 reps (balance.tam_tolerance=0.25)" in capsys.readouterr().out
    rows, par = _csv_rows(tmp_path), _csv_rows(swept.out)
    assert len(rows) == 4
    for name, row in rows.items():
        assert row == par[name]
        for f in PLAN_FILES:
            if (tmp_path / name / f).exists():
                assert (tmp_path / name / f).read_bytes() == (swept.out / name / f).read_bytes()


def test_killed_worker_is_replaced_and_its_task_rerun(swept, grid_book, client, tmp_path):
    pids = client.run(os.getpid)
    killed: list[str] = []

    def kill_a_busy_worker(row, done, total):
        if killed:
            return
        busy = [w for w, keys in client.processing().items() if keys] or list(pids)
        killed.append(busy[0])
        os.kill(pids[busy[0]], signal.SIGKILL)

    result = run_sweep(_spec(grid_book), tmp_path, client=client, maps=False,
                       on_row=kill_a_busy_worker)
    assert killed
    assert len(result.rows) == 6
    assert _csv_rows(tmp_path) == _csv_rows(swept.out)
    client.wait_for_workers(2, timeout=60)
    assert killed[0] not in client.scheduler_info()["workers"]


def test_ctrl_c_keeps_finished_rows_and_no_half_folder(grid_book, client, tmp_path):
    def interrupt(row, done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(_spec(grid_book), tmp_path, client=client, maps=False, on_row=interrupt)
    rows = pd.read_csv(tmp_path / "sweep.csv")
    assert len(rows) == 2
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert sorted(p.name for p in folders) == sorted(rows["point"])
    assert not list(tmp_path.glob(".partial-*"))
    deadline = time.monotonic() + 10
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(client.processing().values())  # the other tasks were cancelled
    assert client.submit(sum, [1, 2]).result() == 3  # a given cluster stays up
