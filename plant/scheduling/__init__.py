"""Scheduling: plan print jobs across presses and inserters — on time, close to the capacity bound, re-planned
in milliseconds.

Pure functions over frozen dataclasses (no ledger, queue or settings inside). The surface:

* :func:`plan` — an :class:`Instance` in, a :class:`Plan` out (see :mod:`plant.scheduling.planner`);
* :func:`replan` — keep running work, plan the rest after a device or the work changed;
* :func:`plan_work` — the plan stage's adapter: pieces → bounded jobs → plan, manual pieces with reasons;
* :func:`check` / :func:`assert_feasible` — the independent plan checker;
* :func:`assess` — predicted finish and SLA risk per job;
* :func:`lower_bound`, :func:`on_time_bound` — proven makespan bounds the plan is measured against.
"""

from plant.scheduling.bounds import lower_bound, on_time_bound
from plant.scheduling.checker import assert_feasible, check
from plant.scheduling.errors import InfeasiblePlan, ScheduleError
from plant.scheduling.model import (
    Assignment,
    Inserter,
    Instance,
    Job,
    Manual,
    Pin,
    Plan,
    Printer,
    instance_from_json,
    instance_to_json,
    plan_from_json,
    plan_to_json,
)
from plant.scheduling.planner import plan
from plant.scheduling.replan import replan, replan_instance
from plant.scheduling.risk import JobRisk, Risk, assess, at_risk
from plant.scheduling.work import FormedJob, ManualPiece, Piece, WorkPlan, plan_work

__all__ = [
    "Assignment",
    "FormedJob",
    "InfeasiblePlan",
    "Inserter",
    "Instance",
    "Job",
    "JobRisk",
    "Manual",
    "ManualPiece",
    "Pin",
    "Piece",
    "Plan",
    "Printer",
    "Risk",
    "ScheduleError",
    "WorkPlan",
    "assert_feasible",
    "assess",
    "at_risk",
    "check",
    "instance_from_json",
    "instance_to_json",
    "lower_bound",
    "on_time_bound",
    "plan",
    "plan_from_json",
    "plan_to_json",
    "plan_work",
    "replan",
    "replan_instance",
]
