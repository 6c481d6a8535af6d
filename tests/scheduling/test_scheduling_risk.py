"""SLA risk flags: late, at risk, on time, done, manual."""

from __future__ import annotations

from plant.scheduling import Risk, assess, at_risk, plan
from tests.scheduling.helpers import FAST, instance


def test_flags_follow_the_slack():
    """Each job's flag follows its predicted finish against its due time and the margin."""
    inst = instance(
        [("late", 10, 1, 5), ("tight", 10, 1, 100), ("easy", 10, 1, 100_000), ("thick", 1, 9, 100)]
    )
    result = plan(inst, **FAST)
    flags = {r.job: r.risk for r in assess(inst, result, now_s=0, margin_s=1000)}
    assert flags == {"late": Risk.LATE, "tight": Risk.AT_RISK, "easy": Risk.ON_TIME, "thick": Risk.MANUAL}
    assert [r.job for r in at_risk(inst, result, margin_s=1000)] == ["late", "tight"]


def test_finished_jobs_are_done():
    """A job inserted before now on time is done."""
    inst = instance([("A", 10, 1, 1000)])
    result = plan(inst, **FAST)
    assert assess(inst, result, now_s=result.makespan_s)[0].risk is Risk.DONE
