"""Re-planning: the plant changed (a press jammed, an inserter stopped, work arrived or was held); plan again
without disturbing what is already running.

:func:`replan` turns the old plan and the change into a new :class:`~plant.scheduling.model.Instance` whose
pins are the running work, then calls the planner with a short time limit. Rules, at ``now_s``:

* finished work (inserted by ``now_s``) leaves the plan;
* a print under way on a press that is still up stays pinned; on a press that went down, the job is printed
  again from the start (a reprint, which goes first);
* an insert under way on an inserter that is still up stays pinned; on one that went down, the printed job
  waits for another inserter;
* each press keeps the stock of the last job it started (its ``loaded_stock``), each inserter the envelope and
  inserts its started runs left it set up for (``loaded_envelope`` / ``loaded_inserts``), so a change pays its
  setup;
* work not started goes back to the pool with ``ready_s ≥ now_s``; held or pulled jobs leave it, new jobs
  join it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from plant.scheduling.errors import ScheduleError
from plant.scheduling.model import Instance, Job, Pin, Plan, insert_setup_after
from plant.scheduling.planner import plan as plan_instance

#: Default planning budget of a re-plan, seconds (the issue asks for a new plan within 100 ms).
REPLAN_TIME_LIMIT_S = 0.05


def replan(
    instance: Instance,
    plan: Plan,
    now_s: int,
    *,
    printers_down: Iterable[str] = (),
    inserters_down: Iterable[str] = (),
    add: Iterable[Job] = (),
    remove: Iterable[str] = (),
    time_limit_s: float = REPLAN_TIME_LIMIT_S,
    max_trials: int | None = None,
) -> Plan:
    """A new plan for what is left of ``instance`` at ``now_s``, keeping running work where it is.

    ``remove`` (held, pulled, cancelled jobs) only takes jobs that have not started printing; asking to remove
    a running job raises :class:`ScheduleError`, because paper is already on its way.
    """
    return plan_instance(
        replan_instance(
            instance,
            plan,
            now_s,
            printers_down=printers_down,
            inserters_down=inserters_down,
            add=add,
            remove=remove,
        ),
        time_limit_s,
        max_trials=max_trials,
    )


def replan_instance(
    instance: Instance,
    plan: Plan,
    now_s: int,
    *,
    printers_down: Iterable[str] = (),
    inserters_down: Iterable[str] = (),
    add: Iterable[Job] = (),
    remove: Iterable[str] = (),
) -> Instance:
    """The instance a re-plan solves: the remaining jobs, the devices' new state, running work pinned."""
    down_p, down_k, removed = set(printers_down), set(inserters_down), set(remove)
    _known("printers_down", down_p, {p.id for p in instance.printers})
    _known("inserters_down", down_k, {k.id for k in instance.inserters})
    jobs = {j.id: j for j in instance.jobs}
    old_pins = {p.job: p for p in instance.pins}
    loaded = {p.id: p.loaded_stock for p in instance.printers}
    for started in sorted(plan.assignments, key=lambda a: a.print_start_s):
        if started.print_start_s < now_s and started.job in jobs:
            # the press holds the stock of the last job it started
            loaded[started.printer] = jobs[started.job].stock
    printers = tuple(
        replace(
            p,
            up=p.up and p.id not in down_p,
            available_s=max(p.available_s, now_s),
            loaded_stock=loaded[p.id],
        )
        for p in instance.printers
    )
    set_up = {k.id: (k.loaded_envelope, k.loaded_inserts) for k in instance.inserters}
    for started in sorted(plan.assignments, key=lambda a: a.insert_start_s):
        if started.insert_start_s < now_s and started.job in jobs and started.inserter in set_up:
            set_up[started.inserter] = insert_setup_after(jobs[started.job], *set_up[started.inserter])
    inserters = tuple(
        replace(
            k,
            up=k.up and k.id not in down_k,
            available_s=max(k.available_s, now_s),
            loaded_envelope=set_up[k.id][0],
            loaded_inserts=set_up[k.id][1],
        )
        for k in instance.inserters
    )
    kept: list[Job] = []
    pins: list[Pin] = []
    planned = plan.by_job()
    for job in instance.jobs:
        a = planned.get(job.id)
        if a is None:  # a manual job, or one the old plan could not place
            if job.id not in removed:
                kept.append(replace(job, ready_s=max(job.ready_s, now_s)))
            continue
        if a.insert_end_s <= now_s:
            continue
        printing = a.print_start_s < now_s or job.id in old_pins
        if printing and job.id in removed:
            raise ScheduleError("remove", job.id, "jobs that have not started printing (this one has)")
        if job.id in removed:
            continue
        if not printing or (a.printer in down_p and a.print_end_s > now_s):
            kept.append(replace(job, ready_s=max(job.ready_s, now_s), reprint=job.reprint or printing))
            continue
        kept.append(job)
        inserting = a.insert_start_s < now_s and not (a.inserter in down_k and a.insert_end_s > now_s)
        pins.append(
            Pin(
                job.id,
                a.printer,
                a.print_start_s,
                a.print_end_s,
                *((a.inserter, a.insert_start_s, a.insert_end_s) if inserting else ()),
            )
        )
    for job in add:
        if job.id in jobs:
            raise ScheduleError("add", job.id, "new job ids (this one is planned already)")
        kept.append(replace(job, ready_s=max(job.ready_s, now_s)))
    return Instance(printers, inserters, tuple(kept), tuple(pins))


def _known(field: str, names: set[str], known: set[str]) -> None:
    unknown = sorted(names - known)
    if unknown:
        raise ScheduleError(field, unknown, f"ids of devices in the instance ({', '.join(sorted(known))})")
