"""The comparison page's verdict on a fixed set of three plans and the current alignment."""

from __future__ import annotations

from territory.web.verdict import PICK_RULE, decide


def _m(**kw):
    base = dict(status="optimal", tam_min=1.0, tam_out=0, out_band=0, hrs_over=0, contiguous=True,
                fair_flag=False, acc_moved=100, hrs_mean=20.0, hrs_max=28.0, tam_cv=0.05)
    return {**base, **kw}


CURRENT = _m(status="current alignment", tam_out=3, out_band=2, acc_moved=0, hrs_mean=22.0,
             hrs_max=35.0, tam_cv=0.13)


def test_fewest_moves_among_plans_that_meet_every_rule():
    v = decide({"current": CURRENT,
                "balanced": _m(acc_moved=300, tam_cv=0.02, hrs_mean=19.0),
                "limited_moves": _m(acc_moved=120, tam_cv=0.06, hrs_mean=21.5),
                "one_rep_fewer": _m(acc_moved=80, out_band=1, hrs_over=2)},
               current="current")
    assert v.pick == "limited_moves"
    assert v.reason == ("Pick limited_moves: it meets every rule and moves 120 accounts, the fewest "
                        "of the 2 plans that meet every rule; mean drive time 0.5 h/month less than today.")
    by = {s.name: s for s in v.scenarios}
    assert [s.name for s in v.scenarios] == ["balanced", "limited_moves", "one_rep_fewer"]
    assert by["one_rep_fewer"].broken == ("1 rep outside the account-unit band",
                                          "2 reps above the drive-hour flag")
    assert by["balanced"].meets_every_rule and by["balanced"].hours_max_change == -7.0
    assert v.rule == PICK_RULE


def test_ties_go_to_the_lower_tam_cv_then_the_page_order():
    v = decide({"a": _m(acc_moved=50, tam_cv=0.08), "b": _m(acc_moved=50, tam_cv=0.03),
                "c": _m(acc_moved=50, tam_cv=0.03)})
    assert v.pick == "b"
    assert v.reason == ("Pick b: it meets every rule and moves 50 accounts, the fewest of the 3 plans "
                        "that meet every rule.")


def test_no_pick_when_every_plan_breaks_a_rule():
    v = decide({"current": CURRENT,
                "a": _m(contiguous=False, fair_flag=True),
                "b": _m(status="infeasible", tam_min=None)}, current="current")
    assert v.pick is None
    assert v.reason == "No plan meets every rule (each plan's failures are listed below)."
    assert [s.broken for s in v.scenarios] == [
        ("territories not contiguous",
         "fairness check (fewer than 80% of reps equal or better off than today)"),
        ("no plan (infeasible)",)]
    one = decide({"a": _m(contiguous=False)})
    assert one.reason == "No plan meets every rule (a: territories not contiguous)."


def test_closest_plan_when_only_fairness_fails():
    v = decide({"a": _m(fair_flag=True, fair=0.73, acc_moved=346),
                "b": _m(fair_flag=True, fair=0.73, acc_moved=202),
                "c": _m(out_band=1, acc_moved=10)})
    assert v.pick is None
    assert v.reason.endswith(" Closest: b meets every band and flag and fails only the fairness "
                             "check (73% of reps equal or better off; moves 202 accounts, the "
                             "fewest of those).")


def test_unknown_figures_never_count_as_good():
    v = decide({"a": _m(hrs_over=None), "b": _m(acc_moved=500)})
    assert v.pick == "b"
    assert v.scenarios[0].broken == ("reps above the drive-hour flag: unknown",)
