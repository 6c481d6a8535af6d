"""The instance as index-based tables the planner works on, and one simulated schedule over them."""

from __future__ import annotations

from dataclasses import dataclass

from plant.scheduling.errors import ScheduleError
from plant.scheduling.model import (
    Assignment,
    Inserter,
    Instance,
    Job,
    can_insert,
    can_print,
    insert_seconds,
    print_seconds,
)

#: "Print time" of a job on a press that cannot print it: so long that no step ever puts the job there.
UNABLE_S = 10**12


@dataclass(frozen=True, slots=True)
class Tables:
    """The instance as index-based tables: durations, eligibility, free times."""

    ids: list[str]
    due: list[int]
    ready: list[int]
    reprint: list[bool]
    p: list[list[int]]  # p[i][j]: print seconds of job j on press i
    q: list[list[int | None]]  # q[j][k]: insert seconds of job j on inserter k, None when not eligible
    qmin: list[int]
    speed: list[float]
    press_ids: list[str]  # the presses that are up; p's rows follow this order
    inserter_ids: list[str]  # the inserters that are up; q's columns follow this order
    press_free: list[int]
    inserter_free: list[int]
    inserter_order: list[int]  # inserters by max_sheets ascending: keep the capable ones for big pieces
    eligible: list[list[int]]  # per job the inserters that can take it, in inserter_order
    plannable: list[int]  # jobs whose print the planner chooses
    printed: dict[int, tuple[str, int, int]]  # job → (press, start, end) of a pinned print with a free insert
    fixed: dict[int, Assignment]  # fully pinned jobs
    stock: list[int]  # per job its stock as a small integer
    setup: list[int]  # per press its setup seconds on a change of stock
    press_stock: list[int]  # per press the stock loaded before its first planned job, -1: none (no setup)
    envelope: list[int]  # per job its envelope as a small integer, -1: none named (runs in the loaded one)
    insert_set: list[
        int
    ]  # per job its set of inserts as a small integer, -1: none (feeders left as they are)
    inserter_setup: list[int]  # per inserter its setup seconds on a change of envelope or inserts
    inserter_state: list[
        tuple[int, int]
    ]  # per inserter (envelope, insert set) set up before its first planned run
    insert_formats: bool  # whether any job to insert names an envelope or inserts (setups may occur)


@dataclass(slots=True)
class Schedule:
    """One simulated plan: per job its times, and the measures of the objective."""

    seqs: list[list[int]]
    ps: dict[int, int]
    pe: dict[int, int]
    press: dict[int, str]
    ins: dict[int, int]
    s2: dict[int, int]
    e2: dict[int, int]
    makespan: int
    late: int
    tardiness: int
    setups: int = 0

    def key(self) -> tuple[int, int, int, int]:
        return self.late, self.tardiness, self.makespan, self.setups


def build_tables(instance: Instance, manual: set[str]) -> Tables:
    jobs = [j for j in instance.jobs if j.id not in manual]
    pins = {p.job: p for p in instance.pins}
    presses = [p for p in instance.printers if p.up]
    inserters = [k for k in instance.inserters if k.up]
    press_index = {p.id: i for i, p in enumerate(presses)}
    ins_index = {k.id: i for i, k in enumerate(inserters)}
    press_free = [p.available_s for p in presses]
    inserter_free = [k.available_s for k in inserters]
    codes: dict[str, int] = {}
    stock = [codes.setdefault(j.stock, len(codes)) for j in jobs]
    press_stock = [
        -1 if p.loaded_stock is None else codes.setdefault(p.loaded_stock, len(codes)) for p in presses
    ]
    last_pinned_end = [-1] * len(presses)
    job_stock = {j.id: j.stock for j in instance.jobs}
    for running in instance.pins:  # also the running prints of jobs that now go manual: the press is busy
        if running.printer in press_index:
            i = press_index[running.printer]
            press_free[i] = max(press_free[i], running.print_end_s)
            if running.print_end_s > last_pinned_end[i]:
                last_pinned_end[i] = running.print_end_s
                press_stock[i] = codes.setdefault(job_stock[running.job], len(codes))
    printed: dict[int, tuple[str, int, int]] = {}
    fixed: dict[int, Assignment] = {}
    plannable: list[int] = []
    for idx, j in enumerate(jobs):
        pin = pins.get(j.id)
        if pin is None:
            plannable.append(idx)
            continue
        if pin.inserter is None:
            printed[idx] = (pin.printer, pin.print_start_s, pin.print_end_s)
            continue
        if pin.insert_start_s is None or pin.insert_end_s is None:  # Instance() rejects such a pin
            raise ScheduleError(
                f"pins[{pin.job}].insert_start_s/insert_end_s",
                (pin.insert_start_s, pin.insert_end_s),
                "whole numbers when the insert is pinned",
            )
        if pin.inserter in ins_index:
            k = ins_index[pin.inserter]
            inserter_free[k] = max(inserter_free[k], pin.insert_end_s)
        fixed[idx] = Assignment(
            j.id,
            pin.printer,
            pin.print_start_s,
            pin.print_end_s,
            pin.inserter,
            pin.insert_start_s,
            pin.insert_end_s,
        )
    if plannable and not presses:
        raise ScheduleError(
            "printers",
            [p.id for p in instance.printers],
            "at least one printer that is up while jobs remain to be printed",
        )
    envelope, insert_set, inserter_setup, inserter_state = _insert_formats(instance, jobs, inserters, fixed)
    q = [
        [insert_seconds(j.pieces, k.envelopes_per_hour) if can_insert(j, k) else None for k in inserters]
        for j in jobs
    ]
    order = sorted(range(len(inserters)), key=lambda k: (inserters[k].max_sheets, k))
    return Tables(
        ids=[j.id for j in jobs],
        due=[j.due_s for j in jobs],
        ready=[j.ready_s for j in jobs],
        reprint=[j.reprint for j in jobs],
        p=[
            [
                print_seconds(j.pieces, j.sheets_per_piece, pr.sheets_per_min)
                if can_print(j, pr)
                else UNABLE_S
                for j in jobs
            ]
            for pr in presses
        ],
        q=q,
        qmin=[min((x for x in row if x is not None), default=0) for row in q],
        speed=[pr.sheets_per_min for pr in presses],
        press_ids=[p.id for p in presses],
        inserter_ids=[k.id for k in inserters],
        press_free=press_free,
        inserter_free=inserter_free,
        inserter_order=order,
        eligible=[[k for k in order if row[k] is not None] for row in q],
        plannable=plannable,
        printed=printed,
        fixed=fixed,
        stock=stock,
        setup=[p.setup_s for p in presses],
        press_stock=press_stock,
        envelope=envelope,
        insert_set=insert_set,
        inserter_setup=inserter_setup,
        inserter_state=inserter_state,
        insert_formats=any(envelope[j] >= 0 or insert_set[j] >= 0 for j in (*plannable, *printed)),
    )


def _insert_formats(
    instance: Instance, jobs: list[Job], inserters: list[Inserter], fixed: dict[int, Assignment]
) -> tuple[list[int], list[int], list[int], list[tuple[int, int]]]:
    """Per job its envelope and insert-set codes (-1: none named), per inserter its setup seconds and the
    (envelope, insert set) it is set up for once its pinned runs are done (-1: not known)."""
    envelopes: dict[str, int] = {}
    sets: dict[tuple[str, ...], int] = {}
    envelope = [-1 if j.envelope is None else envelopes.setdefault(j.envelope, len(envelopes)) for j in jobs]
    insert_set = [sets.setdefault(tuple(sorted(j.inserts)), len(sets)) if j.inserts else -1 for j in jobs]
    state = {
        k.id: (
            -1 if k.loaded_envelope is None else envelopes.setdefault(k.loaded_envelope, len(envelopes)),
            -1 if k.loaded_inserts is None else sets.setdefault(tuple(sorted(k.loaded_inserts)), len(sets)),
        )
        for k in inserters
    }
    index = {j.id: n for n, j in enumerate(jobs)}
    for a in sorted(fixed.values(), key=lambda a: (a.insert_start_s, a.insert_end_s)):
        if a.inserter in state:
            n = index[a.job]
            env, kind = state[a.inserter]
            state[a.inserter] = (
                env if envelope[n] < 0 else envelope[n],
                kind if insert_set[n] < 0 else insert_set[n],
            )
    return envelope, insert_set, [k.setup_s for k in inserters], [state[k.id] for k in inserters]


def insert_time(t: Tables, j: int, k: int) -> int:
    """Insert seconds of job ``j`` on inserter ``k``, which must be one of the job's eligible inserters."""
    d = t.q[j][k]
    if d is None:
        raise ValueError(f"job {t.ids[j]} is not eligible for inserter {t.inserter_ids[k]}")
    return d


def setup_before(t: Tables, i: int, current: int, j: int) -> int:
    """Setup seconds press ``i`` loaded with stock ``current`` needs before job ``j``."""
    return t.setup[i] if current >= 0 and current != t.stock[j] else 0
