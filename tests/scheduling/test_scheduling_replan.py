"""Re-planning after a press failure, new work and holds, keeping running work in place."""

from __future__ import annotations

import pytest

from plant.scheduling import Job, ScheduleError, check, plan, replan, replan_instance
from plant.scheduling.reference import reference_instance
from tests.scheduling.helpers import FAST


@pytest.fixture(scope="module")
def reference():
    inst = reference_instance(0, jobs=60)
    return inst, plan(inst, **FAST)


def _running(first, now):
    return [a for a in first.assignments if a.print_start_s < now < a.print_end_s]


def test_press_failure_reprints_its_job_first_and_keeps_the_others(reference):
    """The job on the failed press is printed again (as a reprint) elsewhere; the other running prints
    stay."""
    inst, first = reference
    now = first.makespan_s // 3
    running = _running(first, now)
    failed = running[0].printer
    new_inst = replan_instance(inst, first, now, printers_down=[failed])
    second = plan(new_inst, **FAST)
    assert check(new_inst, second) == ()
    after = second.by_job()
    for a in running:
        if a.printer == failed:
            assert new_inst.job(a.job).reprint and after[a.job].printer != failed
            assert after[a.job].print_start_s >= now
        else:
            assert (after[a.job].print_start_s, after[a.job].printer) == (a.print_start_s, a.printer)
    assert all(a.printer != failed for a in second.assignments if a.print_start_s >= now)


def test_finished_work_leaves_and_new_work_joins(reference):
    """Jobs inserted before now leave the plan; added jobs are planned from now on."""
    inst, first = reference
    now = first.makespan_s // 2
    second = replan(inst, first, now, add=[Job("new", 1000, 2, now + 50_000)], **FAST)
    done = {a.job for a in first.assignments if a.insert_end_s <= now}
    assert done and not done & set(second.by_job())
    assert second.by_job()["new"].print_start_s >= now


def test_hold_removes_a_waiting_job_but_not_a_running_one(reference):
    """An operator's hold takes a job that has not started out of the plan; holding a running one is
    refused."""
    inst, first = reference
    now = first.makespan_s // 2
    waiting = next(a.job for a in first.assignments if a.print_start_s > now)
    assert waiting not in replan(inst, first, now, remove=[waiting], **FAST).by_job()
    with pytest.raises(ScheduleError, match="not started printing"):
        replan(inst, first, now, remove=[_running(first, now)[0].job], **FAST)


def test_unknown_device_is_refused(reference):
    """Naming a device the instance does not have raises ScheduleError."""
    inst, first = reference
    with pytest.raises(ScheduleError, match="printers_down"):
        replan_instance(inst, first, 0, printers_down=["press-9"])
