"""Output folders: one run's files, never a mix (issue 13, items 8 and 9).

Every command that writes a folder stages the whole run beside ``--out`` and
renames it into place; a run without a plan replaces the previous run whole; a
foreign non-empty folder is refused up front unless ``--overwrite``; an
interrupted or failing run leaves the previous folder as it was and no staging
folder behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from books import multistate_book
from territory.cli import main
from territory.config import ScenarioConfig
from territory.errors import InputError
from territory.outputs import RUN_MARKER, is_run_folder, write_no_plan
from territory.result import NoPlan, Summary

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
ZCTA = ROOT / "data" / "columbus_zctas.geojson"
SMALL = """name = "small"
[balance]
tam_tolerance = 0.25
account_units_min = {lo}
account_units_max = {hi}
[solver]
time_limit_seconds = {limit}
[travel]
source = "estimate"
"""
NO_PLAN_FILES = {RUN_MARKER, "rejects.csv", "summary.json"}


def _config(tmp: Path, name: str, lo: int = 20, hi: int = 60, limit: float = 30) -> Path:
    p = tmp / f"{name}.toml"
    p.write_text(SMALL.format(lo=lo, hi=hi, limit=limit))
    return p


def _plan(out: Path, config: Path, *more: str) -> int:
    return main(["-q", "plan", "--accounts", str(DATA / "accounts_small.csv"),
                 "--reps", str(DATA / "reps_small.csv"), "--zcta", str(ZCTA),
                 "--config", str(config), "--out", str(out), *more])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".territory-tmp-" in p.name]


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> Path:
    """A finished plan of the small Columbus book (copied by the tests that change it)."""
    tmp = tmp_path_factory.mktemp("planned")
    assert _plan(tmp / "out", _config(tmp, "ok")) == 0
    return tmp / "out"


@pytest.fixture
def previous(planned: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(planned, out)
    return out


def test_a_run_folder_is_marked_as_ours(planned: Path):
    marker = json.loads((planned / RUN_MARKER).read_text())
    assert marker["command"] == "plan" and marker["complete"] is True
    assert marker["territory_version"] and marker["written"].endswith("+00:00")
    assert is_run_folder(planned)
    assert oct(planned.stat().st_mode & 0o777) != oct(0o700)  # not mkdtemp's private mode
    assert not _leftovers(planned.parent)


def test_an_infeasible_rerun_leaves_only_what_it_produced(previous: Path, tmp_path: Path,
                                                          capsys):
    assert (previous / "map.html").is_file()
    code = _plan(previous, _config(tmp_path, "tight", lo=200, hi=300))
    assert code == 3
    assert {p.name for p in previous.iterdir()} == NO_PLAN_FILES  # no old map.html etc.
    s = json.loads((previous / "summary.json").read_text())
    assert s["status"] == "infeasible" and "account-units band" in s["explanation"]
    rejects = pd.read_csv(previous / "rejects.csv")
    assert list(rejects.columns) == ["row", "account_id", "reason"]
    assert len(rejects) == s["rejected"] > 0
    assert not _leftovers(tmp_path)
    assert f"written to {previous / 'summary.json'}" in capsys.readouterr().err


def test_a_time_limited_rerun_on_a_multistate_book(tmp_path: Path):
    book = multistate_book(tmp_path / "book", n_accounts=200, states=("OH", "IN", "KY"), seed=1)
    out = tmp_path / "out"

    def run(name: str, limit: float) -> int:
        cfg = tmp_path / f"{name}.toml"
        cfg.write_text(f'name = "{name}"\nunit_level = "county"\nregion = "accounts"\n[solver]\n'
                       f'time_limit_seconds = {limit}\n[travel]\nsource = "estimate"\n')
        return main(["-q", "plan", "--accounts", str(book.accounts), "--reps", str(book.reps),
                     "--config", str(cfg), "--out", str(out)])

    assert run("ok", 20) == 0
    assert (out / "assignments.csv").is_file() and (out / "map.html").is_file()
    assert run("quick", 0.01) == 3
    assert {p.name for p in out.iterdir()} == NO_PLAN_FILES
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "time_limit" and s["scenario"] == "quick"
    assert len(pd.read_csv(out / "rejects.csv")) == book.expected_rejects == s["rejected"] > 0
    assert not _leftovers(tmp_path)


def _command(name: str, out: Path, tmp: Path) -> list[str]:
    common = ["--accounts", str(DATA / "accounts_small.csv"), "--zcta", str(ZCTA)]
    return {
        "plan": ["plan", *common, "--reps", str(DATA / "reps_small.csv"), "--out", str(out)],
        "score": ["score", "--plan", str(tmp / "plan.csv"), *common,
                  "--reps", str(DATA / "reps_small.csv"), "--out", str(out)],
        "sweep": ["sweep", *common, "--reps", "2:3", "--workers", "1", "--out", str(out)],
        "demo": ["demo", "--out", str(out)],
    }[name]


@pytest.mark.parametrize("command", ["plan", "score", "sweep", "demo"])
def test_a_foreign_folder_is_refused_before_any_work(command, tmp_path: Path, capsys,
                                                     monkeypatch):
    import territory.pipeline

    def no_work(*args, **kwargs):
        raise AssertionError("planned into a folder it should have refused")

    for name in ("prepare", "run_scenarios"):
        monkeypatch.setattr(territory.pipeline, name, no_work)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    code = main(["-q", *_command(command, out, tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"territory: error: --out {out}: ") and "--overwrite" in err[0]
    assert (out / "notes.txt").read_text() == "my notes"
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and not _leftovers(tmp_path)


def test_overwrite_replaces_a_foreign_folder_whole(tmp_path: Path):
    out = tmp_path / "mine"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("my notes")
    assert _plan(out, _config(tmp_path, "tight", lo=200, hi=300), "--overwrite") == 3
    assert {p.name for p in out.iterdir()} == NO_PLAN_FILES
    assert not _leftovers(tmp_path)


def test_a_folder_of_ours_from_before_the_marker_is_replaced(previous: Path, tmp_path: Path):
    (previous / RUN_MARKER).unlink()
    assert is_run_folder(previous)  # only names our writers produce
    (previous / "notes.txt").write_text("x")
    assert not is_run_folder(previous)
    (previous / "notes.txt").unlink()
    assert _plan(previous, _config(tmp_path, "tight", lo=200, hi=300)) == 3
    assert {p.name for p in previous.iterdir()} == NO_PLAN_FILES


def test_an_input_inside_out_is_refused(tmp_path: Path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    cfg = _config(out, "ok")  # replacing out would delete it
    code = _plan(out, cfg, "--overwrite")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"holds the input --config {cfg}" in err[0]
    assert cfg.is_file()


def test_out_holding_the_current_folder_is_refused(tmp_path: Path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code = _plan(tmp_path, _config(work, "ok"), "--overwrite")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "holds the current folder" in err[0]
    assert work.is_dir()


def test_ctrl_c_while_writing_leaves_the_previous_folder_untouched(previous: Path,
                                                                  tmp_path: Path, capsys,
                                                                  monkeypatch):
    import territory.web.maps

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # the last writer: everything else is staged by now

    before = _snapshot(previous)
    monkeypatch.setattr(territory.web.maps, "save_map", interrupted)
    code = _plan(previous, _config(tmp_path, "again", lo=20, hi=70))
    assert code == 130 and capsys.readouterr().err == "territory: interrupted\n"
    assert _snapshot(previous) == before
    assert not _leftovers(tmp_path)


def test_an_exception_while_writing_leaves_the_previous_folder_untouched(previous: Path,
                                                                        tmp_path: Path,
                                                                        monkeypatch):
    import territory.outputs

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    before = _snapshot(previous)
    monkeypatch.setattr(territory.outputs, "write_summary", broken)
    with pytest.raises(OSError, match="No space left"):
        _plan(previous, _config(tmp_path, "tight", lo=200, hi=300))
    assert _snapshot(previous) == before
    assert not _leftovers(tmp_path)


def test_a_real_sigint_while_writing(previous: Path, tmp_path: Path):
    """SIGINT to a real process stuck in a staged writer: the previous folder is untouched.

    The process calls the writer itself (the CLI's own exit 130 is tested above): a CLI run
    would spend its seconds preparing the book before it reaches a writer.
    """
    before = _snapshot(previous)
    script = (
        "import sys, time\n"
        "import pandas as pd\n"
        "import territory.outputs as o\n"
        "from territory.config import ScenarioConfig\n"
        "from territory.result import NoPlan, Summary\n"
        "def slow(*a, **k):\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
        "o.write_summary = slow\n"
        "rejects = pd.DataFrame({'row': [1], 'account_id': ['A'], 'reason': ['x']})\n"
        "try:\n"
        "    o.write_no_plan(NoPlan(ScenarioConfig(), Summary(), rejects, pd.DataFrame()),\n"
        f"                    {str(previous)!r})\n"
        "except KeyboardInterrupt:\n"
        "    sys.exit(130)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep
           + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline() == "writing\n"  # inside the staged write
        staging = _leftovers(tmp_path)
        assert len(staging) == 1 and (tmp_path / staging[0] / "rejects.csv").is_file()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err
    assert _snapshot(previous) == before
    assert not _leftovers(tmp_path)


def _no_plan(scenario: str) -> NoPlan:
    rejects = pd.DataFrame({"row": [3], "account_id": ["A3"], "reason": ["unknown ZIP"]})
    return NoPlan(ScenarioConfig(), Summary(scenario=scenario, status="infeasible"), rejects,
                  pd.DataFrame())


def test_the_python_writers_stage_and_refuse_too(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "data.xlsx").write_text("not ours")
    with pytest.raises(InputError, match="overwrite=True"):
        write_no_plan(_no_plan("a"), out)
    assert [p.name for p in out.iterdir()] == ["data.xlsx"]
    assert write_no_plan(_no_plan("a"), out, overwrite=True) == out
    assert {p.name for p in out.iterdir()} == NO_PLAN_FILES
    (out / "map.html").write_text("an old map")  # ours now: replaced whole, no flag needed
    write_no_plan(_no_plan("b"), out)
    assert {p.name for p in out.iterdir()} == NO_PLAN_FILES
    assert json.loads((out / "summary.json").read_text())["scenario"] == "b"
    assert not _leftovers(tmp_path)


def _sweep_spec(counts: tuple[int, ...]):
    from territory.config import config_from_dict
    from territory.sweep import SweepSpec

    base = config_from_dict({"balance": {"account_units_min": 200, "account_units_max": 300},
                             "travel": {"source": "estimate"}})  # no point plans: quick
    return SweepSpec(accounts=DATA / "accounts_small.csv", rep_counts=counts, base=base,
                     zcta=ZCTA)


def test_a_sweep_replaces_the_previous_sweep_whole(tmp_path: Path):
    from territory.sweep import run_sweep

    out = tmp_path / "sweep"
    first = run_sweep(_sweep_spec((2, 3)), out, workers=1)
    assert first.out == out and first.files["sweep.html"] == out / "sweep.html"
    assert len([p for p in out.iterdir() if p.is_dir()]) == 2
    for point in (p for p in out.iterdir() if p.is_dir()):
        assert {"rejects.csv", "summary.json"} <= {f.name for f in point.iterdir()}
        assert "map.html" not in {f.name for f in point.iterdir()}
    for f in out.rglob("*"):  # the pages name the published folder, never the staging one
        if f.suffix in (".html", ".csv", ".json"):
            assert ".territory-tmp-" not in f.read_text(encoding="utf-8"), f

    def stop(row, done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # Ctrl-C: the finished points are kept, as one run
        run_sweep(_sweep_spec((4, 5)), out, workers=1, on_row=stop)
    assert len(pd.read_csv(out / "sweep.csv")) == 1
    assert len([p for p in out.iterdir() if p.is_dir()]) == 1  # none of the first sweep's
    assert json.loads((out / RUN_MARKER).read_text())["complete"] is False
    assert not (out / "sweep.html").exists() and not _leftovers(tmp_path)


def test_a_symlinked_out_is_followed_and_kept(tmp_path: Path):
    real = tmp_path / "real"
    write_no_plan(_no_plan("a"), real)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    write_no_plan(_no_plan("b"), link)
    assert link.is_symlink() and link.resolve() == real
    assert json.loads((real / "summary.json").read_text())["scenario"] == "b"
    assert not _leftovers(tmp_path)


_STAGE_THEN = """
import os, signal, sys, time
from territory.outputs import staged_folder
with staged_folder(sys.argv[1]) as stage:
    (stage / "half.csv").write_text("a,b\\n")
    print(stage, flush=True)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)
"""


def test_a_killed_run_s_staging_folder_is_removed_by_the_next_run(tmp_path: Path, caplog):
    # a SIGKILLed sweep left its .NAME.territory-tmp-XXXX folder behind forever
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    live = subprocess.Popen([sys.executable, "-c", _STAGE_THEN, str(out), "sleep"],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        live_stage = Path(live.stdout.readline().strip())  # staged before the other starts
        killed = subprocess.run([sys.executable, "-c", _STAGE_THEN, str(out), "kill"],
                                capture_output=True, text=True, env=env, timeout=120)
        assert killed.returncode == -signal.SIGKILL
        dead_stage = Path(killed.stdout.strip())
        assert sorted(_leftovers(tmp_path)) == sorted([dead_stage.name, live_stage.name])
        with caplog.at_level("INFO", logger="territory"):
            write_no_plan(_no_plan("a"), out)
        assert f"{dead_stage}: removed, the staging folder of a run that was killed" in caplog.text
        assert f"{live_stage}: left by a run" in caplog.text  # its process still runs
        assert _leftovers(tmp_path) == [live_stage.name]
    finally:
        live.kill()
        live.wait()
    write_no_plan(_no_plan("b"), out)
    assert not _leftovers(tmp_path)
    assert json.loads((out / "summary.json").read_text())["scenario"] == "b"


def test_a_killed_run_s_staging_folder_is_reported_not_deleted(tmp_path: Path, caplog):
    killed = tmp_path / ".out.territory-tmp-abcd1234"  # as SIGKILL mid-write leaves it
    killed.mkdir()
    with caplog.at_level("WARNING", logger="territory"):
        write_no_plan(_no_plan("a"), tmp_path / "out")
    assert f"{killed}: left by a run that was killed" in caplog.text
    assert killed.is_dir() and (tmp_path / "out" / "summary.json").is_file()


def test_compare_out_is_staged_like_every_run(tmp_path: Path, capsys, monkeypatch):
    # compare wrote its page and CSV files straight into --out: a failure left a mix, a
    # page of other scenarios left the old moved_accounts_*.csv, and a foreign folder was used
    import territory.web.compare as web_compare
    from test_maps import tiny_scenario, write_result_dir

    a, b = (write_result_dir(tiny_scenario(v), tmp_path / n) for v, n in (("a", "a"), ("b", "b")))
    c = write_result_dir(tiny_scenario("b"), tmp_path / "c")
    out, fresh = tmp_path / "cmp", tmp_path / "fresh"
    assert main(["-q", "compare", str(a), str(b), "--out", str(out)]) == 0
    assert {"compare.html", RUN_MARKER} <= set(os.listdir(out))
    (out / "moved_accounts_old.csv").write_text("a previous page's\n")
    assert main(["-q", "compare", str(b), str(c), "--out", str(out)]) == 0
    assert main(["-q", "compare", str(b), str(c), "--out", str(fresh)]) == 0
    assert sorted(os.listdir(out)) == sorted(os.listdir(fresh))  # replaced whole
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    assert main(["-q", "compare", str(a), str(b), "--out", str(foreign)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "--overwrite" in err
    assert os.listdir(foreign) == ["notes.txt"]
    page = tmp_path / "pages" / "ab.html"  # the page form: files beside it, page last
    assert main(["-q", "compare", str(a), str(b), "--out", str(page)]) == 0
    before = _snapshot(page.parent)
    real = web_compare.compare_page

    def interrupted(dirs, path):
        real(dirs, path)
        raise KeyboardInterrupt  # after every file is written, before any is in place

    monkeypatch.setattr(web_compare, "compare_page", interrupted)
    assert main(["-q", "compare", str(a), str(c), "--out", str(page)]) == 130
    assert _snapshot(page.parent) == before and not _leftovers(page.parent)
