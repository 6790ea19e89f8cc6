"""The comparison page: maps per scenario, tables, SVG bands, moved accounts CSV."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from territory.web.compare import compare_page, moved_accounts
from test_maps import FORMULA, HOSTILE, XSS_IMG, _REMOTE, tiny_scenario, write_result_dir


@pytest.fixture(scope="module")
def two_results(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("results")
    a = write_result_dir(tiny_scenario("a"), root / "balanced")
    b = write_result_dir(tiny_scenario("b", travel_source="osm"), root / "low-travel")
    return a, b


@pytest.fixture(scope="module")
def page(two_results, tmp_path_factory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp("page") / "compare.html"
    p = compare_page(list(two_results), out)
    assert p == out
    return out.read_text(encoding="utf-8"), out


def test_one_map_per_scenario(page):
    html, _ = page
    assert len(re.findall(r"<div id='map_\d' class='map[^']*'>", html)) == 2
    assert "TT.sync(" in html and "window.TT_MAPS" in html


def test_offline_and_escaped(page):
    html, _ = page
    assert not _REMOTE.search(html)
    assert HOSTILE not in html and XSS_IMG not in html and "<script>alert" not in html
    assert "Ann <b>Lee</b>" not in html
    assert "Ann &lt;b&gt;Lee&lt;/b&gt;" in html
    assert "Balanced &lt;TAM&gt; &amp; units" in html


def test_scorecard_table_best_highlighted(page):
    html, _ = page
    table = re.search(r"<table class='score'>.*?</table>", html, re.S).group(0)
    for label in ("TAM CV", "TAM max deviation from mean", "Account units per rep, min",
                  "Reps outside the account-units band", "Drive h/month, max",
                  "Reps above the drive flag", "Contiguous territories",
                  "Accounts moved vs current", "TAM moved vs current", "Fairness",
                  "MIP gap", "Solver status"):
        assert label in table
    row = re.search(r"<tr><th class='l'[^>]*>Drive h/month, max</th>(.*?)</tr>", table).group(1)
    cells = re.findall(r"<td class='([\w ]*)'>([^<]*)</td>", row)
    assert cells == [(" warn", "34.2"), ("best warn", "31.0")]  # both above the 30 h flag
    fair = re.search(r"Fairness[^<]*</th>(.*?)</tr>", table).group(1)
    # 67% < 80% is red; fairness improves trivially with fewer reps, so it is never starred
    assert re.findall(r"<td class='([\w ]*)'>", fair) == [" warn", ""]


def test_svg_charts_with_bands(page):
    html, _ = page
    assert html.count("<svg class=\"chart\"") == 6  # 3 charts x 2 scenarios
    assert html.count('class="band"') == 4  # TAM and account-units bands
    assert html.count('class="threshold"') == 2  # drive-hours flag line
    assert "flag 30 h" in html


def test_travel_source_on_every_card(page):
    html, _ = page
    assert "Drive times: straight-line ESTIMATE" in html
    assert "Drive times: OpenStreetMap road network" in html
    assert "© OpenStreetMap contributors" in html


def test_change_table_and_moved_csv(page):
    html, out = page
    assert "Accounts moved<br>vs current owner" in html and "vs balanced" in html
    files = sorted(p.name for p in out.parent.glob("moved_accounts_*.csv"))
    assert files == ["moved_accounts_balanced.csv", "moved_accounts_low-travel.csv"]
    rows = list(csv.DictReader((out.parent / "moved_accounts_low-travel.csv").open()))
    bases = {r["basis"] for r in rows}
    assert bases == {"vs current owner", "vs balanced"}
    by_id = {(r["basis"], r["account_id"]): r for r in rows}
    # u5 moved R2 -> R1 between the scenarios: accounts a4 and a7
    assert {k[1] for k in by_id if k[0] == "vs balanced"} == {"a4", "a7"}
    formula = by_id[("vs current owner", "a2")]
    assert formula["name"] == "'" + FORMULA  # formula injection neutralised
    for r in rows:
        for v in r.values():
            assert not v.startswith(("=", "+", "-", "@", "\t", "\r"))
    # data-URI download of the same files, and a sortable table
    assert html.count("href='data:text/csv;charset=utf-8;base64,") == 2
    assert "download='moved_accounts_low-travel.csv'" in html
    assert "table class='moved sortable'" in html


def test_same_colour_for_same_rep(page):
    html, _ = page
    import json

    data = json.loads(re.search(r"var TT_DATA = (\[.*?\]); var TT_BG", html, re.S).group(1))
    col = [{r["id"]: r["colour"] for r in d["reps"]} for d in data]
    assert col[0] == col[1] and len(set(col[0].values())) == 3


def test_three_scenarios_and_current_folder(tmp_path):
    root = tmp_path / "out"
    cur = tiny_scenario("a")
    cur["summary"] = dict(cur["summary"], scenario="current", status="current alignment")
    cur["units"] = cur["units"].assign(rep_id=cur["units"]["current_rep"])
    write_result_dir(cur, root / "current")
    dirs = [write_result_dir(tiny_scenario(v), root / n)
            for v, n in (("a", "s1"), ("b", "s2"), ("a", "s3"))]
    html = compare_page(dirs, root / "compare.html").read_text()
    assert len(re.findall(r"<div id='map_\d' class='map[^']*'>", html)) == 3
    assert "Current alignment (dotted)" in html
    assert '"current":{"type":"FeatureCollection"' in html


def test_current_alignment_first_verdict_and_fairness(tmp_path):
    root = tmp_path / "out"
    cur = tiny_scenario("a")
    cur["summary"] = dict(cur["summary"], scenario="current", status="current alignment")
    write_result_dir(cur, root / "current")
    a = tiny_scenario("a")
    a["summary"] = dict(a["summary"], scenario="s1", worse_off_reps=["R2"])
    b = tiny_scenario("b")
    b["summary"] = dict(b["summary"], scenario="s2")
    dirs = [write_result_dir(a, root / "s1"), write_result_dir(b, root / "s2")]
    html = compare_page(dirs, root / "compare.html").read_text()
    head = re.search(r"<table class='score'><thead>(.*?)</thead>", html, re.S).group(1)
    assert re.findall(r"<th[^>]*>([^<]*)</th>", head) == ["Metric", "current", "s1", "s2"]
    gap = re.search(r"MIP gap</th>(.*?)</tr>", html).group(1)
    assert "best" not in re.findall(r"<td class='([\w ]*)'>", gap)[0]  # the baseline: no star
    assert "<section class='verdict" in html and "Rule: the fewest accounts moved" in html
    assert re.search(r"<p class='reason'>(Pick s\d: it meets every rule|No plan meets every rule)", html)
    assert re.search(r"⚑ Fairness — s1: 1 of \d+ reps are worse off than today: [^<]*\(TAM [+−-]?\d+%, "
                     r"account units \d+ → \d+\)", html)


def test_plans_that_do_not_share_accounts_are_flagged(tmp_path, caplog):
    a = write_result_dir(tiny_scenario("a"), tmp_path / "a")
    other = tiny_scenario("b")
    other["accounts"] = other["accounts"].iloc[:-2]
    b = write_result_dir(other, tmp_path / "b")
    html = compare_page([a, b], tmp_path / "compare.html").read_text()
    assert ("<p class='mismatch'>⚠ low-travel and balanced do not plan the same accounts "
            "(0 only in low-travel, 2 only in balanced)") in html
    assert "do not plan the same accounts" in caplog.text


def test_moved_accounts_function():
    import pandas as pd

    a = pd.DataFrame({"account_id": ["1", "2"], "rep_id": ["R1", "R2"], "revenue": [1.0, 2.0],
                      "name": ["x", "y"]})
    b = a.assign(rep_id=["R1", "R1"])
    mv = moved_accounts(a, b, basis="vs a", scenario="b", names={"R1": "Ann", "R2": "Bo"})
    assert mv[["account_id", "from_name", "to_name"]].values.tolist() == [["2", "Bo", "Ann"]]


def test_rejects_too_many(tmp_path, two_results):
    with pytest.raises(ValueError):
        compare_page([*two_results, *two_results], tmp_path / "x.html")


def test_cards_label_approximate_areas_and_routed_share(tmp_path):
    import json

    a = tiny_scenario("a", travel_source="osm")
    a["summary"]["unit_source"] = "APPROXIMATE ZIP areas (Voronoi of ZIP centroids)"
    a["scorecard"]["routed_share"] = [1.0, 0.5, 0.0]
    a["scorecard"]["visits_per_month"] = [1.0, 1.0, 2.0]
    da = write_result_dir(a, tmp_path / "a")
    db = write_result_dir(tiny_scenario("b", travel_source="osm"), tmp_path / "b")
    page = compare_page([da, db], tmp_path / "c.html").read_text()
    cards = page.split("<h2>Maps</h2>")[0]
    assert "ZIP areas: APPROXIMATE" in cards and "38% of legs routed" in cards
    data = json.loads(re.search(r"var TT_DATA = (.*?); var TT_BG", page).group(1))
    assert "APPROXIMATE" in data[0]["unitsNote"] and data[1]["unitsNote"] is None
