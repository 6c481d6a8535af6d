"""Property tests on random instances: plans are always feasible; re-plans keep running work in place."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plant.scheduling import Inserter, Instance, Job, Printer, check, plan, replan_instance
from tests.scheduling.helpers import FAST

SPEEDS = st.sampled_from([50, 100, 150.5, 300])


@st.composite
def instances(draw):
    """Small instances with down devices, ready times, reprints and too-thick jobs mixed in."""
    n_p = draw(st.integers(1, 3))
    printers = tuple(Printer(f"P{i}", draw(SPEEDS), draw(st.integers(0, 100)), up=(i == 0 or draw(st.booleans())))
                     for i in range(n_p))
    inserters = tuple(Inserter(f"K{i}", draw(st.sampled_from([3600, 8000, 14_000])), draw(st.integers(1, 8)),
                               draw(st.integers(0, 100)), up=draw(st.booleans()) or i == 0)
                      for i in range(draw(st.integers(1, 3))))
    jobs = tuple(Job(f"J{i}", draw(st.integers(1, 3000)), draw(st.integers(1, 8)), draw(st.integers(0, 20_000)),
                     draw(st.integers(0, 3000)), draw(st.booleans())) for i in range(draw(st.integers(0, 12))))
    return Instance(printers, inserters, jobs)


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(instances())
def test_plans_are_feasible(inst):
    """Whatever the instance, the plan passes the independent checker."""
    assert check(inst, plan(inst, **FAST)) == ()


@PROPERTY
@given(instances(), st.floats(0, 1), st.data())
def test_replans_keep_running_work_in_place(inst, when, data):
    """After a device goes down mid-plan, the re-plan is feasible and work running on up devices is unmoved."""
    first = plan(inst, **FAST)
    now = int(when * first.makespan_s)
    down_p = data.draw(st.lists(st.sampled_from([p.id for p in inst.printers]), max_size=1))
    down_k = data.draw(st.lists(st.sampled_from([k.id for k in inst.inserters]), max_size=1))
    new_inst = replan_instance(inst, first, now, printers_down=down_p, inserters_down=down_k)
    if not any(p.up for p in new_inst.printers) and len(new_inst.pins) < len(new_inst.jobs):
        return  # nothing can print: the planner refuses, tested elsewhere
    second = plan(new_inst, **FAST)
    assert check(new_inst, second) == ()
    after = second.by_job()
    manual = {m.job for m in second.manual}  # printed, but no working inserter takes it now
    for a in first.assignments:
        if a.job in manual:
            assert not any(k.up and k.max_sheets >= inst.job(a.job).sheets_per_piece for k in new_inst.inserters)
            continue
        if a.print_start_s < now < a.print_end_s and a.printer not in down_p:
            b = after[a.job]
            assert (b.printer, b.print_start_s, b.print_end_s) == (a.printer, a.print_start_s, a.print_end_s)
        if a.insert_start_s < now < a.insert_end_s and a.inserter not in down_k:
            assert after[a.job] == a
