"""The independent checker finds every kind of broken constraint."""

from __future__ import annotations

from dataclasses import replace

import pytest

from plant.scheduling import InfeasiblePlan, Manual, Pin, assert_feasible, check, plan
from tests.scheduling.helpers import instance


@pytest.fixture
def solved():
    inst = instance(
        [("A", 10, 1, 30), ("B", 20, 2, 1000), ("C", 5, 1, 1000)],
        printers=(("P1", 60), ("P2", 30)),
        inserters=(("K1", 3600, 2), ("K2", 1800, 1)),
    )
    return inst, plan(inst, 0.01)


def _edit(plan, job, **changes):
    return replace(
        plan, assignments=tuple(replace(a, **changes) if a.job == job else a for a in plan.assignments)
    )


def test_planner_output_passes(solved):
    """A plan from the planner has no violation."""
    assert check(*solved) == ()


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda p: replace(p, assignments=p.assignments[1:]), "appears 0 times"),
        (lambda p: replace(p, assignments=p.assignments + p.assignments[:1]), "appears 2 times"),
        (lambda p: _edit(p, "A", print_end_s=p.by_job()["A"].print_end_s + 1), "not per convention"),
        (lambda p: _edit(p, "B", inserter="K2", insert_end_s=p.by_job()["B"].insert_start_s + 40), "takes 1"),
        (
            lambda p: _edit(
                p,
                "A",
                insert_start_s=p.by_job()["A"].print_end_s - 1,
                insert_end_s=p.by_job()["A"].insert_end_s - 1,
            ),
            "before its print ends",
        ),
        (lambda p: _edit(p, "A", printer="nope"), "unknown printer"),
        (lambda p: replace(p, makespan_s=p.makespan_s + 1), "makespan_s"),
        (lambda p: replace(p, late_jobs=("C",)), "late_jobs"),
        (lambda p: replace(p, lower_bound_s=p.makespan_s + 1), "bound is wrong"),
        (lambda p: replace(p, manual=(Manual("A", "x"),)), "inserter(s) can take it"),
    ],
)
def test_violation_is_reported(solved, mutate, words):
    """Each broken constraint is named."""
    inst, good = solved
    assert any(words in v for v in check(inst, mutate(good)))


def test_overlap_on_a_press_is_reported(solved):
    """Two jobs on one press at the same time are caught."""
    inst, good = solved
    a, b = good.by_job()["A"], good.by_job()["B"]
    moved = _edit(
        good,
        "B",
        printer=a.printer,
        print_start_s=a.print_start_s,
        print_end_s=a.print_start_s + (b.print_end_s - b.print_start_s) * (2 if b.printer == "P2" else 1),
    )
    assert any("at the same time" in v or "not per convention" in v for v in check(inst, moved))


def test_ready_time_and_pins_are_checked(solved):
    """A print before its job is ready, or a moved pin, is caught."""
    inst, good = solved
    a = good.by_job()["C"]
    late_ready = replace(
        inst, jobs=tuple(replace(j, ready_s=a.print_start_s + 1) if j.id == "C" else j for j in inst.jobs)
    )
    assert any("before it is ready" in v for v in check(late_ready, good))
    pinned = replace(inst, pins=(Pin("C", a.printer, a.print_start_s + 1, a.print_end_s + 1),))
    assert any("running print was moved" in v for v in check(pinned, good))


def test_assert_feasible_raises_with_all_violations(solved):
    """assert_feasible raises InfeasiblePlan carrying the violations."""
    inst, good = solved
    with pytest.raises(InfeasiblePlan) as err:
        assert_feasible(inst, replace(good, makespan_s=0, late_jobs=("A",)))
    assert len(err.value.violations) >= 2
