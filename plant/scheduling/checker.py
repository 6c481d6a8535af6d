"""The independent plan checker: every constraint of the reference model, re-derived from the instance alone.

It shares no code with the planner (durations are recomputed here with integer arithmetic), so a planner bug
cannot hide behind a helper both use. :func:`check` lists every violation; :func:`assert_feasible` raises.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

from plant.scheduling.errors import InfeasiblePlan
from plant.scheduling.model import Assignment, Inserter, Instance, Job, Pin, Plan, Printer


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
        insert_pinned = m.job in pins and pins[m.job].inserter is not None
        if (
            job is not None
            and not insert_pinned
            and any(k.up and not _insert_misfit(job, k) for k in instance.inserters)
            and (
                m.job in pins
                or not any(p.up for p in instance.printers)
                or any(p.up and not _print_misfit(job, p) for p in instance.printers)
            )
        ):
            out.append(
                f"job {m.job} is sent to the manual path but inserter(s) can take it and a press can print it"
            )
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
    out += _check_manual_pins(instance, plan)
    out += _check_setups(instance, plan)
    out += _check_summary(instance, plan)
    return tuple(out)


def assert_feasible(instance: Instance, plan: Plan) -> None:
    """Raise :class:`InfeasiblePlan` with every violation when ``plan`` breaks a constraint."""
    violations = check(instance, plan)
    if violations:
        raise InfeasiblePlan(violations)


def _check_assignment(
    a: Assignment, job: Job, printer: Printer | None, inserter: Inserter | None, pin: Pin | None
) -> list[str]:
    out: list[str] = []
    if printer is None or inserter is None:
        return [f"job {a.job} names an unknown printer {a.printer!r} or inserter {a.inserter!r}"]
    if a.print_end_s - a.print_start_s != _ceil_div_rate(
        60 * job.pieces * job.sheets_per_piece, printer.sheets_per_min
    ):
        out.append(
            f"job {a.job} prints {a.print_end_s - a.print_start_s} s on {a.printer}, not per convention"
        )
    if a.insert_end_s - a.insert_start_s != _ceil_div_rate(3600 * job.pieces, inserter.envelopes_per_hour):
        out.append(
            f"job {a.job} inserts {a.insert_end_s - a.insert_start_s} s on {a.inserter}, not per convention"
        )
    if inserter.max_sheets < job.sheets_per_piece:
        out.append(
            f"job {a.job} has {job.sheets_per_piece} sheets but {a.inserter} takes {inserter.max_sheets}"
        )
    misfit = _insert_misfit(job, inserter)
    if misfit and inserter.max_sheets >= job.sheets_per_piece:
        out.append(f"job {a.job} cannot be inserted on {a.inserter}: {misfit}")
    misfit = _print_misfit(job, printer)
    if misfit:
        out.append(f"job {a.job} cannot be printed on {a.printer}: {misfit}")
    if a.insert_start_s < a.print_end_s:
        out.append(f"job {a.job} is inserted at {a.insert_start_s} before its print ends at {a.print_end_s}")
    if pin is not None:  # the print is pinned
        if (a.printer, a.print_start_s, a.print_end_s) != (pin.printer, pin.print_start_s, pin.print_end_s):
            out.append(f"job {a.job}'s running print was moved")
    else:
        if a.print_start_s < job.ready_s:
            out.append(f"job {a.job} prints at {a.print_start_s} before it is ready at {job.ready_s}")
        if not printer.up or a.print_start_s < printer.available_s:
            out.append(f"job {a.job} is printed on {a.printer} while it is down or before it is available")
    if pin is not None and pin.inserter is not None:  # the insert is pinned
        if (a.inserter, a.insert_start_s, a.insert_end_s) != (
            pin.inserter,
            pin.insert_start_s,
            pin.insert_end_s,
        ):
            out.append(f"job {a.job}'s running insert was moved")
    elif not inserter.up or a.insert_start_s < inserter.available_s:
        out.append(f"job {a.job} is inserted on {a.inserter} while it is down or before it is available")
    return out


def _print_misfit(job: Job, printer: Printer) -> str:
    """What of ``job`` the press cannot do (stock, duplex, colour, sheet size), in words; '' when it fits."""
    wrong = []
    if printer.stocks is not None and job.stock not in printer.stocks:
        wrong.append(f"stock {job.stock!r} not among {list(printer.stocks)}")
    if job.duplex and not printer.duplex:
        wrong.append("no duplex")
    if job.colour and not printer.colour:
        wrong.append("no colour")
    if (
        job.sheet_size is not None
        and printer.sheet_sizes is not None
        and job.sheet_size not in printer.sheet_sizes
    ):
        wrong.append(f"sheet size {job.sheet_size!r} not among {list(printer.sheet_sizes)}")
    return "; ".join(wrong)


def _insert_misfit(job: Job, inserter: Inserter) -> str:
    """What of ``job`` the inserter cannot do (sheets, envelope, inserts), in words; '' when it fits."""
    wrong = []
    if inserter.max_sheets < job.sheets_per_piece:
        wrong.append(f"{job.sheets_per_piece} sheets > {inserter.max_sheets}")
    if job.envelope is not None and inserter.envelopes is not None and job.envelope not in inserter.envelopes:
        wrong.append(f"envelope {job.envelope!r} not among {list(inserter.envelopes)}")
    missing = Counter(job.inserts)
    missing.subtract(Counter(inserter.feeders))
    lacking = sorted(k for k, n in missing.items() if n > 0)
    if lacking:
        wrong.append(f"no free feeder holds {lacking}")
    return "; ".join(wrong)


def _check_setups(instance: Instance, plan: Plan) -> list[str]:
    """A press changing stock needs its setup time between the two prints (and after ``loaded_stock``)."""
    out: list[str] = []
    jobs = {j.id: j for j in instance.jobs}
    pinned = {p.job for p in instance.pins}
    per: dict[str, list[Assignment | Pin]] = defaultdict(list)
    for a in plan.assignments:
        if a.job in jobs:
            per[a.printer].append(a)
    planned = {a.job for a in plan.assignments}
    for pin in instance.pins:  # the running print of a job now manual still sets the press's stock
        if pin.job not in planned and pin.job in jobs:
            per[pin.printer].append(pin)
    changes = 0
    for printer in instance.printers:
        rows = sorted(per.get(printer.id, []), key=lambda a: (a.print_start_s, a.print_end_s))
        stock, free = printer.loaded_stock, printer.available_s
        for n, row in enumerate(rows):
            this = jobs[row.job].stock
            if stock is not None and this != stock:
                changes += 1
                if row.job not in pinned and row.print_start_s < free + printer.setup_s:
                    before = f"after {rows[n - 1].job}" if n else "as its first job"
                    out.append(
                        f"job {row.job} starts at {row.print_start_s} on {printer.id} {before} without its "
                        f"{printer.setup_s} s setup from stock {stock!r} to {this!r}"
                    )
            stock, free = this, row.print_end_s
    ins_out, ins_changes = _check_inserter_setups(instance, plan)
    out += ins_out
    if plan.setups != changes + ins_changes:
        out.append(
            f"setups is {plan.setups} but the presses change stock {changes} times and the inserters change "
            f"envelope or inserts {ins_changes} times"
        )
    return out


def _check_inserter_setups(instance: Instance, plan: Plan) -> tuple[list[str], int]:
    """An inserter changing envelope or inserts needs its setup time between the two runs (and after what it
    was loaded with); the violations and the number of changes.

    Re-derived here: a run that names an envelope other than the one the inserter is set up for, or needs a
    set of inserts other than the one its feeders are set up for, is a change; a run naming no envelope keeps
    the loaded one, a run without inserts leaves the feeders as they are; unknown (None) loads change nothing.
    """
    out: list[str] = []
    jobs = {j.id: j for j in instance.jobs}
    pins = {p.job: p for p in instance.pins}
    per: dict[str, list[Assignment]] = defaultdict(list)
    for a in plan.assignments:
        if a.job in jobs:
            per[a.inserter].append(a)
    changes = 0
    for inserter in instance.inserters:
        envelope = inserter.loaded_envelope
        inserts = None if inserter.loaded_inserts is None else Counter(inserter.loaded_inserts)
        free = inserter.available_s
        for n, a in enumerate(
            sorted(per.get(inserter.id, []), key=lambda a: (a.insert_start_s, a.insert_end_s))
        ):
            job = jobs[a.job]
            wanted = Counter(job.inserts)
            if (job.envelope is not None and envelope is not None and job.envelope != envelope) or (
                job.inserts and inserts is not None and wanted != inserts
            ):
                changes += 1
                pinned = a.job in pins and pins[a.job].inserter is not None
                if not pinned and a.insert_start_s < free + inserter.setup_s:
                    before = "as its first run" if n == 0 else "after the run before"
                    out.append(
                        f"job {a.job} is inserted at {a.insert_start_s} on {inserter.id} {before} "
                        f"without its {inserter.setup_s} s setup to envelope {job.envelope!r} with inserts "
                        f"{sorted(job.inserts)} (set up for {envelope!r}, "
                        f"{None if inserts is None else sorted(inserts.elements())})"
                    )
            if job.envelope is not None:
                envelope = job.envelope
            if job.inserts:
                inserts = wanted
            free = a.insert_end_s
    return out, changes


def _check_manual_pins(instance: Instance, plan: Plan) -> list[str]:
    """A running print of a job now sent to the manual path still occupies its press until it ends."""
    out: list[str] = []
    planned = {a.job for a in plan.assignments}
    for pin in instance.pins:
        if pin.job in planned:
            continue
        for a in plan.assignments:
            if (
                a.printer == pin.printer
                and a.print_start_s < pin.print_end_s
                and pin.print_start_s < a.print_end_s
            ):
                out.append(f"printer {a.printer} runs {a.job} while the running print of {pin.job} is on it")
    return out


def _check_overlaps(plan: Plan) -> list[str]:
    out: list[str] = []
    devices: tuple[tuple[str, Callable[[Assignment], tuple[str, int, int]]], ...] = (
        ("printer", lambda a: (a.printer, a.print_start_s, a.print_end_s)),
        ("inserter", lambda a: (a.inserter, a.insert_start_s, a.insert_end_s)),
    )
    for label, key in devices:
        per: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        for a in plan.assignments:
            device, start, end = key(a)
            per[device].append((start, end, a.job))
        for device, spans in per.items():
            spans.sort()
            for (_s1, e1, j1), (s2, _e2, j2) in zip(spans, spans[1:], strict=False):
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
        out.append(
            f"a lower bound ({plan.lower_bound_s}, {plan.on_time_bound_s}) exceeds the makespan "
            f"{plan.makespan_s}: the bound is wrong"
        )
    return out
