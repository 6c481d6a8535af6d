"""Property tests on random instances: plans are always feasible; re-plans keep running work in place."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from plant.scheduling import Inserter, Instance, Job, Printer, check, plan
from tests.scheduling.helpers import FAST, check_replan_keeps_running_work, property_settings

SPEEDS = st.sampled_from([50, 100, 150.5, 300])


@st.composite
def instances(draw):
    """Small instances with down devices, ready times, reprints and too-thick jobs mixed in."""
    n_p = draw(st.integers(1, 3))
    printers = tuple(
        Printer(f"P{i}", draw(SPEEDS), draw(st.integers(0, 100)), up=(i == 0 or draw(st.booleans())))
        for i in range(n_p)
    )
    inserters = tuple(
        Inserter(
            f"K{i}",
            draw(st.sampled_from([3600, 8000, 14_000])),
            draw(st.integers(1, 8)),
            draw(st.integers(0, 100)),
            up=draw(st.booleans()) or i == 0,
        )
        for i in range(draw(st.integers(1, 3)))
    )
    jobs = tuple(
        Job(
            f"J{i}",
            draw(st.integers(1, 3000)),
            draw(st.integers(1, 8)),
            draw(st.integers(0, 20_000)),
            draw(st.integers(0, 3000)),
            draw(st.booleans()),
        )
        for i in range(draw(st.integers(0, 12)))
    )
    return Instance(printers, inserters, jobs)


PROPERTY = property_settings()


@PROPERTY
@given(instances())
def test_plans_are_feasible(inst):
    """Whatever the instance, the plan passes the independent checker."""
    assert check(inst, plan(inst, **FAST)) == ()


@PROPERTY
@given(instances(), st.floats(0, 1), st.data())
def test_replans_keep_running_work_in_place(inst, when, data):
    """After a device goes down mid-plan, the re-plan is feasible and work running on up devices is unmoved; a
    job sent to the manual path is one no working inserter can take."""
    check_replan_keeps_running_work(
        inst,
        when,
        data,
        lambda new, job: (
            not any(k.up and k.max_sheets >= inst.job(job).sheets_per_piece for k in new.inserters)
        ),
    )
