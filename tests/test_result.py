"""The typed summary: status in words, the gap a plan was stopped at, derived keys."""

from __future__ import annotations

import json

import pytest

from territory.result import Summary, load_summary, write_summary


@pytest.mark.parametrize("fields, label", [
    ({"status": "optimal", "mip_gap": 0.0}, "optimal"),
    ({"status": "optimal", "mip_gap": 5e-5}, "optimal"),
    ({"status": "optimal", "mip_gap": 0.01}, "within 1% of optimal"),
    ({"status": "optimal", "mip_gap": 0.0083}, "within 0.83% of optimal"),
    ({"status": "optimal", "mip_gap": 0.0002}, "within 0.02% of optimal"),
    # CBC reports no gap: it is read off the objective and the LP bound
    ({"status": "optimal", "objective": 100.0, "lp_bound": 99.2}, "within 0.8% of optimal"),
    ({"status": "optimal"}, "optimal"),
    ({"status": "time_limit", "objective": 10.0, "mip_gap": 0.014},
     "time limit: within 1.4% of optimal"),
    ({"status": "time_limit", "objective": 10.0}, "time limit: best plan found, gap unknown"),
    ({"status": "time_limit"}, "no plan in time"),
    ({"status": "infeasible"}, "infeasible"),
    ({"status": "current alignment"}, "current alignment"),
    ({"status": "scored"}, "scored"),
])
def test_status_label_says_how_close_to_optimal(fields, label):
    assert Summary(**fields).status_label == label


def test_a_plan_stopped_at_the_time_limit_is_still_a_plan():
    assert Summary(status="time_limit", objective=3.0, mip_gap=0.02).has_plan
    assert not Summary(status="time_limit").has_plan
    assert not Summary(status="infeasible").has_plan


def test_summary_json_keeps_the_machine_status_and_adds_the_label(tmp_path):
    s = Summary(status="optimal", mip_gap=0.008, objective=1.0)
    p = write_summary(s, tmp_path / "summary.json")
    data = json.loads(p.read_text())
    assert data["status"] == "optimal" and data["mip_gap"] == 0.008
    assert data["status_label"] == "within 0.8% of optimal"
    assert load_summary(tmp_path) == s  # the derived label is not read back as a field


def test_cli_table_and_pages_show_the_gap_not_optimal(tmp_path):
    from test_maps import tiny_scenario, write_result_dir

    from territory.cli import summary_table
    from territory.web.compare import compare_page
    from territory.web.maps import legend_html

    a, b = tiny_scenario("a"), tiny_scenario("b")
    for s, gap in ((a, 0.0083), (b, 0.0)):
        s["summary"].update(status="optimal", mip_gap=gap, objective=1.0, n_reps=3, tam_cv=0.05)
    table = summary_table([("a", Summary.from_dict(a["summary"]), a["scorecard"]),
                           ("b", Summary.from_dict(b["summary"]), b["scorecard"])])
    line_a, line_b = table.splitlines()[2:4]
    assert "within 0.83% of optimal" in line_a and "within" not in line_b and "optimal" in line_b
    page = compare_page([write_result_dir(a, tmp_path / "a"), write_result_dir(b, tmp_path / "b")],
                        tmp_path / "c.html").read_text()
    assert page.count("within 0.83% of optimal") >= 2      # the card's badge and the table row
    assert "within 0% " not in page
    legend = legend_html([], a["summary"])
    assert "solver: within 0.83% of optimal" in legend
