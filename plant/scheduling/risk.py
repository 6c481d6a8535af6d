"""SLA risk: the predicted finish of every job and a flag for those at risk before they are late.

A job is *late* when its predicted insert end is after its due time and *at risk* when the slack left is
smaller than a margin that covers the usual disturbances (a jam cleared by an operator, a re-plan that
moves it back a place). The operator page and the alarms read these flags; nothing here changes a plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from plant.scheduling.model import Instance, Plan

#: Slack below which a job on time is flagged at risk, seconds (about one jam cleared by hand).
AT_RISK_SLACK_S = 1800


class Risk(StrEnum):
    """How a job stands against its due time in the current plan."""

    DONE = "done"
    ON_TIME = "on_time"
    AT_RISK = "at_risk"
    LATE = "late"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class JobRisk:
    """One job's predicted finish against its due time."""

    job: str
    predicted_finish_s: int | None
    due_s: int
    slack_s: int | None
    risk: Risk


def assess(
    instance: Instance, plan: Plan, now_s: int = 0, margin_s: int = AT_RISK_SLACK_S
) -> tuple[JobRisk, ...]:
    """Per job of ``instance`` its predicted finish in ``plan`` at ``now_s`` and its :class:`Risk`."""
    planned = plan.by_job()
    out = []
    for job in instance.jobs:
        a = planned.get(job.id)
        if a is None:
            out.append(JobRisk(job.id, None, job.due_s, None, Risk.MANUAL))
            continue
        slack = job.due_s - a.insert_end_s
        if a.insert_end_s <= now_s and slack >= 0:
            risk = Risk.DONE
        elif slack < 0:
            risk = Risk.LATE
        elif slack < margin_s:
            risk = Risk.AT_RISK
        else:
            risk = Risk.ON_TIME
        out.append(JobRisk(job.id, a.insert_end_s, job.due_s, slack, risk))
    return tuple(out)


def at_risk(
    instance: Instance, plan: Plan, now_s: int = 0, margin_s: int = AT_RISK_SLACK_S
) -> tuple[JobRisk, ...]:
    """Only the jobs that are late or at risk, the tightest first."""
    flagged = [r for r in assess(instance, plan, now_s, margin_s) if r.risk in (Risk.LATE, Risk.AT_RISK)]
    return tuple(sorted(flagged, key=_slack))


def _slack(r: JobRisk) -> int:
    """The slack of a job that has a predicted finish (every job but a manual one)."""
    if r.slack_s is None:
        raise ValueError(f"job {r.job} has no predicted finish, so no slack")
    return r.slack_s
