"""The presses' last jobs compete for the inserters: the stronger on-time bound."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from plant.scheduling import check, plan
from plant.scheduling.bounds import on_time_bound, on_time_bound_inserters
from plant.scheduling.reference import reference_instance
from tests.scheduling.helpers import FAST, instance
from tests.scheduling.test_scheduling_properties import instances


def test_two_last_jobs_cannot_share_the_fast_inserter_at_once():
    """Two presses end together; one fast inserter: the second last job waits (or takes the slow one)."""
    inst = instance(
        [("A", 60, 1, 10_000), ("B", 60, 1, 10_000)],
        printers=(("P1", 60), ("P2", 60)),
        inserters=(("fast", 3600, 2), ("slow", 1800, 2)),
    )
    result = plan(inst, **FAST)
    assert on_time_bound(inst) == 140  # the inserters' capacity after the first print
    assert on_time_bound_inserters(inst) == 150  # one of them waits 60 s more for it (fluid capacity)
    assert result.makespan_s == 180 and result.late_jobs == () and check(inst, result) == ()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_stronger_bound_is_between_the_simple_one_and_every_on_time_plan(inst):
    """Never below :func:`on_time_bound`, never above the makespan of a plan without late jobs."""
    bound = on_time_bound_inserters(inst)
    assert bound >= on_time_bound(inst)
    result = plan(inst, **FAST)
    if not result.late_jobs:
        assert bound <= result.makespan_s


def test_reference_stronger_bound():
    """On reference seed 1 the stronger bound is above the simple one (its last jobs want the same
    inserter)."""
    inst = reference_instance(1)
    assert on_time_bound_inserters(inst) > on_time_bound(inst)
