"""Property tests on random instances with stocks, duplex, colour, sizes, envelopes, feeders and setups
(presses changing stock, inserters changing envelope or inserts): plans always pass the independent checker;
re-plans keep running jobs in place."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from plant.scheduling import Inserter, Instance, Job, Printer, check, plan
from tests.scheduling.helpers import FAST, check_replan_keeps_running_work, property_settings

STOCKS = ("plain", "gloss", "recycled")
SIZES = ("A4", "A3")
ENVELOPES = ("C5", "DL")
INSERTS = ("BRE", "flyer")


def _subset(draw, values):
    return draw(st.one_of(st.none(), st.lists(st.sampled_from(values), min_size=1, unique=True).map(tuple)))


@st.composite
def instances(draw):
    """Small instances where devices and jobs differ in what they take and need."""
    printers = tuple(
        Printer(
            f"P{i}",
            draw(st.sampled_from([50, 100, 150.5])),
            draw(st.integers(0, 100)),
            up=(i == 0 or draw(st.booleans())),
            stocks=_subset(draw, STOCKS),
            duplex=draw(st.booleans()),
            colour=draw(st.booleans()),
            sheet_sizes=_subset(draw, SIZES),
            setup_s=draw(st.sampled_from([0, 30, 600])),
            loaded_stock=draw(st.one_of(st.none(), st.sampled_from(STOCKS))),
        )
        for i in range(draw(st.integers(1, 3)))
    )
    inserters = tuple(
        Inserter(
            f"K{i}",
            draw(st.sampled_from([3600, 14_000])),
            draw(st.integers(1, 8)),
            draw(st.integers(0, 100)),
            up=draw(st.booleans()) or i == 0,
            envelopes=_subset(draw, ENVELOPES),
            feeders=tuple(draw(st.lists(st.sampled_from(INSERTS), max_size=3))),
            setup_s=draw(st.sampled_from([0, 45, 900])),
            loaded_envelope=draw(st.one_of(st.none(), st.sampled_from(ENVELOPES))),
            loaded_inserts=draw(
                st.one_of(st.none(), st.lists(st.sampled_from(INSERTS), max_size=2).map(tuple))
            ),
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
            stock=draw(st.sampled_from(STOCKS)),
            duplex=draw(st.booleans()),
            colour=draw(st.booleans()),
            sheet_size=draw(st.one_of(st.none(), st.sampled_from(SIZES))),
            envelope=draw(st.one_of(st.none(), st.sampled_from(ENVELOPES))),
            inserts=tuple(draw(st.lists(st.sampled_from(INSERTS), max_size=2))),
        )
        for i in range(draw(st.integers(0, 12)))
    )
    return Instance(printers, inserters, jobs)


PROPERTY = property_settings()


@PROPERTY
@given(instances())
def test_plans_with_attributes_are_feasible(inst):
    """Whatever devices and jobs need, the plan passes the independent checker."""
    assert check(inst, plan(inst, **FAST)) == ()


@PROPERTY
@given(instances(), st.floats(0, 1), st.data())
def test_replans_with_attributes_keep_running_work(inst, when, data):
    """After a device goes down mid-plan, the re-plan is feasible and running work on up devices is unmoved; a
    printed job may go to the manual path (the checker verifies no working inserter fits it)."""
    check_replan_keeps_running_work(inst, when, data, lambda new, job: True)
