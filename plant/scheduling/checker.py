"""The independent plan checker: every constraint of the reference model, re-derived from the instance alone.

It shares no code with the planner (durations are recomputed here with integer arithmetic), so a planner bug
cannot hide behind a helper both use. :func:`check` lists every violation; :func:`assert_feasible` raises.
"""

from __future__ import annotations

from collections import defaultdict

from plant.scheduling.errors import InfeasiblePlan
from plant.scheduling.model import Instance, Plan


def _ceil_div_rate(amount: int, rate: float) -> int:
    """⌈amount / rate⌉ exactly, with the rate as the exact ratio of integers its float stands for."""
    num, den = float(rate).as_integer_ratio() if isinstance(rate, float) else (int(rate), 1)
    return -(-amount * den // num)


def check(instance: Instance, plan: Plan) -> tuple[str, ...]:
    """Every constraint ``plan`` breaks for ``instance``, in words (empty when the plan is feasible)."""
    out: list[str] = []
    jobs = {j.id: j for j in instance.jobs}
    printers = {p.id: p for p in instance.printers}
    inserters = {k.id: k for k in instance.inserters}
    pins = {p.job: p for p in instance.pins}
    seen: dict[str, int] = defaultdict(int)
    for a in plan.assignments:
        seen[a.job] += 1
    for m in plan.manual:
        seen[m.job] += 1
        job = jobs.get(m.job)
        if job is not None and any(k.up and k.max_sheets >= job.sheets_per_piece for k in instance.inserters):
            out.append(f"job {m.job} is sent to the manual path but inserter(s) can take it")
        if m.job in pins and pins[m.job].inserter is not None:
            out.append(f"job {m.job} has a pinned insert but is sent to the manual path")
    for job_id in jobs:
        if seen.get(job_id, 0) != 1:
            out.append(f"job {job_id} appears {seen.get(job_id, 0)} times (expected once)")
    for job_id in seen:
        if job_id not in jobs:
            out.append(f"job {job_id} is planned but not in the instance")
    for a in plan.assignments:
        job, pin = jobs.get(a.job), pins.get(a.job)
        if job is None:
            continue
        out += _check_assignment(a, job, printers.get(a.printer), inserters.get(a.inserter), pin)
    out += _check_overlaps(plan)
    out += _check_summary(instance, plan)
    return tuple(out)


def assert_feasible(instance: Instance, plan: Plan) -> None:
    """Raise :class:`InfeasiblePlan` with every violation when ``plan`` breaks a constraint."""
    violations = check(instance, plan)
    if violations:
        raise InfeasiblePlan(violations)


def _check_assignment(a, job, printer, inserter, pin) -> list[str]:
    out: list[str] = []
    if printer is None or inserter is None:
        return [f"job {a.job} names an unknown printer {a.printer!r} or inserter {a.inserter!r}"]
    if a.print_end_s - a.print_start_s != _ceil_div_rate(60 * job.pieces * job.sheets_per_piece,
                                                         printer.sheets_per_min):
        out.append(f"job {a.job} prints {a.print_end_s - a.print_start_s} s on {a.printer}, not per convention")
    if a.insert_end_s - a.insert_start_s != _ceil_div_rate(3600 * job.pieces, inserter.envelopes_per_hour):
        out.append(f"job {a.job} inserts {a.insert_end_s - a.insert_start_s} s on {a.inserter}, not per convention")
    if inserter.max_sheets < job.sheets_per_piece:
        out.append(f"job {a.job} has {job.sheets_per_piece} sheets but {a.inserter} takes {inserter.max_sheets}")
    if a.insert_start_s < a.print_end_s:
        out.append(f"job {a.job} is inserted at {a.insert_start_s} before its print ends at {a.print_end_s}")
    print_pinned = pin is not None
    insert_pinned = pin is not None and pin.inserter is not None
    if print_pinned:
        if (a.printer, a.print_start_s, a.print_end_s) != (pin.printer, pin.print_start_s, pin.print_end_s):
            out.append(f"job {a.job}'s running print was moved")
    else:
        if a.print_start_s < job.ready_s:
            out.append(f"job {a.job} prints at {a.print_start_s} before it is ready at {job.ready_s}")
        if not printer.up or a.print_start_s < printer.available_s:
            out.append(f"job {a.job} is printed on {a.printer} while it is down or before it is available")
    if insert_pinned:
        if (a.inserter, a.insert_start_s, a.insert_end_s) != (pin.inserter, pin.insert_start_s, pin.insert_end_s):
            out.append(f"job {a.job}'s running insert was moved")
    elif not inserter.up or a.insert_start_s < inserter.available_s:
        out.append(f"job {a.job} is inserted on {a.inserter} while it is down or before it is available")
    return out


def _check_overlaps(plan: Plan) -> list[str]:
    out: list[str] = []
    for label, key in (("printer", lambda a: (a.printer, a.print_start_s, a.print_end_s)),
                       ("inserter", lambda a: (a.inserter, a.insert_start_s, a.insert_end_s))):
        per: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        for a in plan.assignments:
            device, start, end = key(a)
            per[device].append((start, end, a.job))
        for device, spans in per.items():
            spans.sort()
            for (s1, e1, j1), (s2, _e2, j2) in zip(spans, spans[1:]):
                if s2 < e1:
                    out.append(f"{label} {device} runs {j1} and {j2} at the same time ({s2} < {e1})")
    return out


def _check_summary(instance: Instance, plan: Plan) -> list[str]:
    out: list[str] = []
    due = {j.id: j.due_s for j in instance.jobs}
    makespan = max((a.insert_end_s for a in plan.assignments), default=0)
    if plan.makespan_s != makespan:
        out.append(f"makespan_s is {plan.makespan_s} but the last insert ends at {makespan}")
    late = sorted(a.job for a in plan.assignments if a.job in due and a.insert_end_s > due[a.job])
    if sorted(plan.late_jobs) != late:
        out.append(f"late_jobs lists {sorted(plan.late_jobs)} but the late jobs are {late}")
    if plan.lower_bound_s > plan.makespan_s or plan.on_time_bound_s > plan.makespan_s and not plan.late_jobs:
        out.append(f"a lower bound ({plan.lower_bound_s}, {plan.on_time_bound_s}) exceeds the makespan "
                   f"{plan.makespan_s}: the bound is wrong")
    return out
