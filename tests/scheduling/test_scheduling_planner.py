"""The planner: golden small instances, the manual path, pins, bounds, and the reference instance."""

from __future__ import annotations

import pytest

from plant.scheduling import Assignment, Inserter, Instance, Job, Pin, Printer, ScheduleError, check, plan
from plant.scheduling.bounds import lower_bound, on_time_bound
from plant.scheduling.reference import reference_instance
from tests.scheduling.helpers import FAST, instance


def test_golden_urgent_job_goes_first():
    """One press, one inserter: the urgent job is printed and inserted first, the other after it."""
    inst = instance([("A", 10, 1, 30), ("B", 20, 2, 1000)])
    result = plan(inst, **FAST)
    assert result.assignments == (
        Assignment("A", "P1", 0, 10, "K1", 10, 20),
        Assignment("B", "P1", 10, 50, "K1", 50, 70),
    )
    assert (result.makespan_s, result.late_jobs, result.lower_bound_s) == (70, (), 60)


def test_golden_two_presses_split_the_work():
    """Two equal presses and two jobs: one job each, printed in parallel."""
    inst = instance(
        [("A", 60, 1, 500), ("B", 60, 1, 500)],
        printers=(("P1", 60), ("P2", 60)),
        inserters=(("K1", 3600, 2), ("K2", 3600, 2)),
    )
    result = plan(inst, **FAST)
    assert {a.printer for a in result.assignments} == {"P1", "P2"}
    assert result.makespan_s == result.lower_bound_s == 120


def test_golden_eligibility_picks_the_wide_inserter():
    """A 4-sheet job goes to the inserter that takes 4 sheets even though the other is faster."""
    inst = instance([("A", 36, 4, 10_000)], inserters=(("fast", 36_000, 2), ("wide", 3600, 4)))
    assert plan(inst, **FAST).by_job()["A"].inserter == "wide"


def test_pieces_no_inserter_takes_go_manual_with_reason():
    """A job with more sheets than any inserter takes goes to the manual path, saying why."""
    inst = instance([("A", 10, 1, 100), ("thick", 10, 5, 100)])
    result = plan(inst, **FAST)
    assert [a.job for a in result.assignments] == ["A"]
    assert result.manual[0].job == "thick"
    assert "5 sheets" in result.manual[0].reason and "2" in result.manual[0].reason
    assert check(inst, result) == ()


def test_no_inserter_up_sends_everything_manual():
    """With every inserter down, every job is manual and the reason says so."""
    inst = Instance((Printer("P", 60),), (Inserter("K", 3600, 6, up=False),), (Job("A", 1, 1, 10),))
    result = plan(inst, **FAST)
    assert result.assignments == () and "no inserter is working" in result.manual[0].reason


def test_no_press_up_is_refused():
    """Jobs to print but no press up: ScheduleError naming the printers."""
    inst = Instance((Printer("P", 60, up=False),), (Inserter("K", 3600, 6),), (Job("A", 1, 1, 10),))
    with pytest.raises(ScheduleError, match="printers"):
        plan(inst, **FAST)


def test_pins_stay_and_new_work_follows():
    """A pinned running job keeps its times; new work on that press starts after it."""
    inst = Instance(
        (Printer("P", 60),),
        (Inserter("K", 3600, 2),),
        (Job("run", 60, 1, 500), Job("new", 60, 1, 500)),
        (Pin("run", "P", 0, 60),),
    )
    result = plan(inst, **FAST)
    assert result.by_job()["run"].print_start_s == 0
    assert result.by_job()["new"].print_start_s >= 60
    assert check(inst, result) == ()


def test_ready_times_are_respected():
    """A job is not printed before it is ready."""
    inst = instance([("A", 10, 1, 1000, 50)])
    assert plan(inst, **FAST).by_job()["A"].print_start_s == 50


def test_reprints_go_first_when_there_is_a_choice():
    """Of two jobs due alike, the reprint is printed first."""
    inst = instance([("A", 10, 1, 1000, 0, False), ("R", 10, 1, 1000, 0, True)])
    by = plan(inst, 0.0).by_job()
    assert by["R"].print_start_s < by["A"].print_start_s


def test_bounds_hold_on_the_reference_instance():
    """Both bounds are at most the makespan, and the on-time bound is at least the capacity bound."""
    inst = reference_instance(0, jobs=40)
    result = plan(inst, **FAST)
    assert lower_bound(inst) <= on_time_bound(inst) <= result.makespan_s


def test_reference_instance_is_planned_on_time_and_feasible():
    """The seeded 200-job reference instance: feasible, no late job, within 1 % of the bound (small
    budget)."""
    inst = reference_instance(0)
    result = plan(inst, time_limit_s=0.3, max_trials=5)
    assert check(inst, result) == ()
    assert result.late_jobs == ()
    assert result.gap_percent < 1.0
