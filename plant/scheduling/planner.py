"""The planner: which press prints each job, which inserter envelopes it, and in what order.

Objective, in this order (issue 6): no late job where possible, then the smallest makespan, then the fewest
changes of work between devices. The method, and why:

1. **Earliest-due-date list schedule.** Jobs in order of their *print due* (due time minus the time the insert
   stage needs after printing) go to the press where they finish first. On one press EDD order minimises the
   maximum lateness, so this start is on time whenever a simple plan can be.
2. **Tails.** Printing is the bottleneck; the plan ends when the last jobs of the presses have been inserted.
   The jobs with the shortest inserts among those due late enough become the presses' last jobs (the shortest
   on the fastest press), which is exactly what the lower bound assumes.
3. **Balancing.** Moves and swaps of jobs between the press that ends last and another press, chosen
   vectorised over all pairs, accepted only when both presses stay on time in EDD order. The presses' ends
   converge to within a few seconds of each other.
4. **Exact evaluation.** After each round the whole plan is simulated (inserts greedily on the eligible
   inserter that finishes first, in order of print end); the measured insert tails and waits feed the next
   round, and the best plan seen is kept.
5. **Other endings.** Until the time limit (or the on-time bound is reached), random other choices of the
   presses' last jobs are balanced and simulated; the best plan by (late jobs, tardiness, makespan) wins.
6. **Inserters of the last jobs** are enumerated (vectorised) for the last few jobs to leave the presses, ties
   going to the assignment whose inserts end earliest, so the measured tails fed back are what jobs need.

Everything is a pure function of the instance; :func:`plan` never reads a clock except to honour its time limit.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from dataclasses import dataclass

import numpy as np

from plant.scheduling.bounds import lower_bound, on_time_bound
from plant.scheduling.errors import ScheduleError
from plant.scheduling.model import (
    Assignment,
    Instance,
    Manual,
    Plan,
    can_insert,
    can_print,
    insert_seconds,
    manual_reason,
    print_seconds,
)

#: Default wall-clock budget of one planning call, seconds.
DEFAULT_TIME_LIMIT_S = 1.0
#: Most balancing rounds (balance, simulate, feed the measured tails back).
MAX_ROUNDS = 12
#: Candidate moves checked for on-time feasibility per balancing step, best first.
CANDIDATES_PER_STEP = 24
#: Balancing rounds per random ending tried after the first solution.
TRIAL_ROUNDS = 3
#: Candidates beyond one per press among which random endings are drawn.
ENDING_POOL_EXTRA = 4
#: Share of presses given two fixed last jobs in a random ending.
DOUBLE_ENDING_SHARE = 0.3
#: Most inserter combinations tried for the last jobs of the plan (4 inserters: the last 6 jobs).
ENDGAME_COMBOS = 4096
#: Seconds of margin kept between a job's predicted and due insert end when choosing tails and print dues.
DUE_MARGIN_S = 60
#: "Print time" of a job on a press that cannot print it: so long that no step ever puts the job there.
UNABLE_S = 10 ** 12
#: Share of the time limit kept for the fewest-setups pass when presses change stock.
SETUP_PASS_SHARE = 0.2


@dataclass(frozen=True, slots=True)
class _Tables:
    """The instance as index-based tables: durations, eligibility, free times."""

    ids: list[str]
    due: list[int]
    ready: list[int]
    reprint: list[bool]
    p: list[list[int]]            # p[i][j]: print seconds of job j on press i
    q: list[list[int | None]]     # q[j][k]: insert seconds of job j on inserter k, None when not eligible
    qmin: list[int]
    speed: list[float]
    press_ids: list[str]          # the presses that are up; p's rows follow this order
    inserter_ids: list[str]       # the inserters that are up; q's columns follow this order
    press_free: list[int]
    inserter_free: list[int]
    inserter_order: list[int]     # inserters by max_sheets ascending: keep the capable ones for big pieces
    eligible: list[list[int]]     # per job the inserters that can take it, in inserter_order
    plannable: list[int]          # jobs whose print the planner chooses
    printed: dict[int, tuple[str, int, int]]  # job → (press, start, end) of a pinned print with a free insert
    fixed: dict[int, Assignment]  # fully pinned jobs
    stock: list[int]              # per job its stock as a small integer
    setup: list[int]              # per press its setup seconds on a change of stock
    press_stock: list[int]        # per press the stock loaded before its first planned job, -1: none (no setup)


@dataclass(slots=True)
class _Schedule:
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


def plan(instance: Instance, time_limit_s: float = DEFAULT_TIME_LIMIT_S, *, seed: int = 0,
         max_trials: int | None = None) -> Plan:
    """Plan ``instance``: every job a machine can take gets a press, an inserter and times; the rest go manual.

    Pinned work stays exactly where it is. The answer is feasible by construction (and the test suite proves it
    with :func:`plant.scheduling.checker.check`); ``time_limit_s`` bounds the improvement phase, ``seed`` and
    ``max_trials`` (random endings tried; None: until the time limit) make it reproducible.
    """
    started = time.perf_counter()
    deadline = started + time_limit_s
    pins = {p.job: p for p in instance.pins}
    manual = tuple(Manual(j.id, reason) for j in instance.jobs
                   if (reason := manual_reason(j, instance, pins.get(j.id))) is not None)
    tables = _tables(instance, {m.job for m in manual})
    bound = lower_bound(instance)
    target = on_time_bound(instance, bound)
    changes_stock = len({tables.stock[j] for j in tables.plannable} | {x for x in tables.press_stock if x >= 0}) > 1
    improve_until = started + time_limit_s * (1 - SETUP_PASS_SHARE) if changes_stock else deadline
    best = _improve(tables, improve_until, seed, max_trials, target)
    if best.setups:
        best = _fewer_setups(tables, best, deadline)
    return _to_plan(instance, tables, best, manual, bound, target)


def _tables(instance: Instance, manual: set[str]) -> _Tables:
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
    press_stock = [-1 if p.loaded_stock is None else codes.setdefault(p.loaded_stock, len(codes)) for p in presses]
    last_pinned_end = [-1] * len(presses)
    job_stock = {j.id: j.stock for j in instance.jobs}
    for pin in instance.pins:  # also the running prints of jobs that now go manual: the press is busy
        if pin.printer in press_index:
            i = press_index[pin.printer]
            press_free[i] = max(press_free[i], pin.print_end_s)
            if pin.print_end_s > last_pinned_end[i]:
                last_pinned_end[i] = pin.print_end_s
                press_stock[i] = codes.setdefault(job_stock[pin.job], len(codes))
    printed, fixed, plannable = {}, {}, []
    for idx, j in enumerate(jobs):
        pin = pins.get(j.id)
        if pin is None:
            plannable.append(idx)
            continue
        if pin.inserter is None:
            printed[idx] = (pin.printer, pin.print_start_s, pin.print_end_s)
            continue
        if pin.inserter in ins_index:
            k = ins_index[pin.inserter]
            inserter_free[k] = max(inserter_free[k], pin.insert_end_s)
        fixed[idx] = Assignment(j.id, pin.printer, pin.print_start_s, pin.print_end_s, pin.inserter,
                                pin.insert_start_s, pin.insert_end_s)
    if plannable and not presses:
        raise ScheduleError("printers", [p.id for p in instance.printers],
                            "at least one printer that is up while jobs remain to be printed")
    q = [[insert_seconds(j.pieces, k.envelopes_per_hour) if can_insert(j, k) else None for k in inserters]
         for j in jobs]
    order = sorted(range(len(inserters)), key=lambda k: (inserters[k].max_sheets, k))
    return _Tables(
        ids=[j.id for j in jobs], due=[j.due_s for j in jobs], ready=[j.ready_s for j in jobs],
        reprint=[j.reprint for j in jobs],
        p=[[print_seconds(j.pieces, j.sheets_per_piece, pr.sheets_per_min) if can_print(j, pr) else UNABLE_S
            for j in jobs] for pr in presses],
        q=q, qmin=[min((x for x in row if x is not None), default=0) for row in q],
        speed=[pr.sheets_per_min for pr in presses],
        press_ids=[p.id for p in presses], inserter_ids=[k.id for k in inserters],
        press_free=press_free, inserter_free=inserter_free,
        inserter_order=order, eligible=[[k for k in order if row[k] is not None] for row in q],
        plannable=plannable, printed=printed, fixed=fixed,
        stock=stock, setup=[p.setup_s for p in presses], press_stock=press_stock,
    )


# ------------------------------------------------------------------------------------------------ simulate


def _simulate(t: _Tables, seqs: list[list[int]]) -> _Schedule:
    """Times of every job for press sequences ``seqs``; inserts greedily in order of print end."""
    ps, pe, press = {}, {}, {}
    setups = 0
    for i, seq in enumerate(seqs):
        clock, row, current, setup = t.press_free[i], t.p[i], t.press_stock[i], t.setup[i]
        for j in seq:
            if current >= 0 and t.stock[j] != current:
                setups += 1
                clock += setup
            current = t.stock[j]
            start = clock if clock > t.ready[j] else t.ready[j]
            clock = start + row[j]
            ps[j], pe[j], press[j] = start, clock, t.press_ids[i]
    release = dict(pe)
    for j, (i, start, end) in t.printed.items():
        ps[j], pe[j], press[j] = start, end, i
        release[j] = end
    free = list(t.inserter_free)
    ins: dict[int, int] = {}
    s2: dict[int, int] = {}
    e2: dict[int, int] = {}
    order = sorted(release, key=lambda x: (release[x], not t.reprint[x], t.due[x]))
    cut, combos = len(order), 1
    while cut > 0 and combos * len(t.eligible[order[cut - 1]]) <= ENDGAME_COMBOS:
        cut -= 1
        combos *= len(t.eligible[order[cut]])
    for j in order[:cut]:
        r, row = release[j], t.q[j]
        best_k, best_end = -1, 0
        for k in t.inserter_order:
            d = row[k]
            if d is None:
                continue
            end = (free[k] if free[k] > r else r) + d
            if best_k < 0 or end < best_end:
                best_k, best_end = k, end
        free[best_k] = best_end
        ins[j], s2[j], e2[j] = best_k, best_end - row[best_k], best_end
    _endgame(t, order[cut:], release, free, ins, s2, e2)
    makespan = max([*e2.values(), *(a.insert_end_s for a in t.fixed.values()), 0])
    late = tardiness = 0
    for j, end in e2.items():
        if end > t.due[j]:
            late += 1
            tardiness += end - t.due[j]
    return _Schedule(seqs, ps, pe, press, ins, s2, e2, makespan, late, tardiness, setups)


def _endgame(t: _Tables, jobs: list[int], release: dict[int, int], free: list[int], ins, s2, e2) -> None:
    """Inserters for the last jobs to leave the presses, by enumeration: the end of the plan is decided here.

    The greedy choice (the inserter that finishes first) can hand the fastest inserter to a job that a
    moment later another job needed more; with a handful of jobs left, trying every combination is cheap.
    """
    if not jobs:
        return
    combos = np.array(list(itertools.product(*(t.eligible[j] for j in jobs))), dtype=np.int64)
    if combos.size == 0:
        return
    rows = np.arange(len(combos))
    clock = np.tile(np.asarray(free, dtype=np.int64), (len(combos), 1))
    late = np.zeros(len(combos), dtype=np.int64)
    tardy = np.zeros(len(combos), dtype=np.int64)
    span = np.zeros(len(combos), dtype=np.int64)
    total = np.zeros(len(combos), dtype=np.int64)
    for n, j in enumerate(jobs):
        k = combos[:, n]
        q = np.asarray([0 if d is None else d for d in t.q[j]], dtype=np.int64)
        end = np.maximum(clock[rows, k], release[j]) + q[k]
        clock[rows, k] = end
        np.maximum(span, end, out=span)
        total += end
        over = end - t.due[j]
        late += over > 0
        tardy += np.maximum(over, 0)
    # the best combination, ties to the one whose inserts end earliest in sum (the measured tails fed back to
    # the balancing are then what the jobs need, not what a free choice left them), then in product order
    first = int(np.lexsort((rows, total, span, tardy, late))[0])
    for j, k in zip(jobs, combos[first].tolist()):
        end = max(free[k], release[j]) + t.q[j][k]
        free[k] = end
        ins[j], s2[j], e2[j] = k, end - t.q[j][k], end


# ---------------------------------------------------------------------------------------------- construct


def _order_key(t: _Tables, pdue: list[int]):
    return lambda j: (not t.reprint[j], pdue[j], t.ready[j], j)


def _edd_ect(t: _Tables, pdue: list[int]) -> list[list[int]]:
    """Earliest-due-date list schedule: each job, in print-due order, to the press where it ends first."""
    seqs: list[list[int]] = [[] for _ in t.p]
    clock = list(t.press_free)
    current = list(t.press_stock)
    for j in sorted(t.plannable, key=_order_key(t, pdue)):
        ends = [max(clock[i] + _setup(t, i, current[i], j), t.ready[j]) + t.p[i][j] for i in range(len(t.p))]
        i = min(range(len(ends)), key=lambda x: (ends[x], -t.speed[x]))
        clock[i], current[i] = ends[i], t.stock[j]
        seqs[i].append(j)
    return seqs


def _moore_hodgson(t: _Tables, pdue: list[int]) -> list[list[int]]:
    """Fewest late jobs when some must be late: Moore–Hodgson per press inside the EDD list schedule.

    Jobs in print-due order go to the press where they end first; when a job would miss its print due there,
    the longest job on that press (it may be the job itself) is taken out and put last. The jobs taken out are
    then appended, in due order, to the presses where they end first: they are late anyway, and the others gain.
    """
    m = len(t.p)
    seqs: list[list[int]] = [[] for _ in range(m)]
    rejected: list[int] = []

    def end_of(i: int, seq: list[int]) -> int:
        clock, current = t.press_free[i], t.press_stock[i]
        for j in seq:
            clock = max(clock + _setup(t, i, current, j), t.ready[j]) + t.p[i][j]
            current = t.stock[j]
        return clock

    clock = list(t.press_free)
    current = list(t.press_stock)
    for j in sorted(t.plannable, key=_order_key(t, pdue)):
        ends = [max(clock[i] + _setup(t, i, current[i], j), t.ready[j]) + t.p[i][j] for i in range(m)]
        i = min(range(m), key=lambda x: (ends[x], -t.speed[x]))
        seqs[i].append(j)
        clock[i], current[i] = ends[i], t.stock[j]
        if ends[i] > pdue[j]:
            longest = max(seqs[i], key=lambda x: (t.p[i][x], x))
            seqs[i].remove(longest)
            rejected.append(longest)
            clock[i] = end_of(i, seqs[i])
            current[i] = t.stock[seqs[i][-1]] if seqs[i] else t.press_stock[i]
    for j in sorted(rejected, key=_order_key(t, pdue)):
        ends = [max(clock[i] + _setup(t, i, current[i], j), t.ready[j]) + t.p[i][j] for i in range(m)]
        i = min(range(m), key=lambda x: (ends[x], -t.speed[x]))
        seqs[i].append(j)
        clock[i], current[i] = ends[i], t.stock[j]
    return seqs


def _setup(t: _Tables, i: int, current: int, j: int) -> int:
    """Setup seconds press ``i`` loaded with stock ``current`` needs before job ``j``."""
    return t.setup[i] if current >= 0 and current != t.stock[j] else 0


def _press_order(t: _Tables, i: int, jobs: list[int], pdue: list[int], tail_need: list[int],
                 after: int = 0) -> list[int]:
    """Lawler's rule backwards: last goes the job with the shortest tail among those whose print due allows it.

    Without ready times this order minimises ``max(print end + tail)`` subject to every print due (the press's
    share of the makespan) and so puts short inserts last and long ones early enough to be done in time. When
    no job may go last without being late, the one due latest goes, which is EDD and minimises lateness.
    """
    remaining = sum(t.p[i][j] for j in jobs) + t.press_free[i]
    tail_need = [x + after for x in tail_need] if after else tail_need
    by_due = sorted(jobs, key=lambda j: (pdue[j], j))
    eligible: list[tuple[int, int, int]] = []
    backwards: list[int] = []
    while by_due or eligible:
        while by_due and pdue[by_due[-1]] >= remaining:
            j = by_due.pop()
            heapq.heappush(eligible, (tail_need[j], t.reprint[j], j))
        j = heapq.heappop(eligible)[2] if eligible else by_due.pop()
        backwards.append(j)
        remaining -= t.p[i][j]
    backwards.reverse()
    return backwards


def _press_run(t: _Tables, i: int, jobs: list[int], pdue: list[int], tail_need: list[int], last: list[int]):
    """(order, end incl. tails, worst print lateness) of press ``i``: ``jobs`` in Lawler order, then ``last``."""
    order = _press_order(t, i, jobs, pdue, tail_need, sum(t.p[i][j] for j in last))
    order.extend(last)
    clock, row, worst, end, current = t.press_free[i], t.p[i], -(1 << 62), 0, t.press_stock[i]
    for j in order:
        clock = max(clock + _setup(t, i, current, j), t.ready[j]) + row[j]
        current = t.stock[j]
        worst = max(worst, clock - pdue[j])
        end = max(end, clock + tail_need[j])
    return order, end, worst


# ----------------------------------------------------------------------------------------------- improve


def _improve(t: _Tables, deadline: float, seed: int, max_trials: int | None, target: int) -> _Schedule:
    """Construct, balance with feedback from exact simulation, then try other endings until time is up."""
    tail_need = list(t.qmin)                  # insert time (plus wait) a job needs after its print ends
    pdue = [t.due[j] - tail_need[j] for j in range(len(t.ids))]
    best = _simulate(t, _edd_ect(t, pdue))
    if not t.plannable:
        return best
    if best.late:
        fewer_late = _simulate(t, _moore_hodgson(t, pdue))
        if fewer_late.key() < best.key():
            best = fewer_late
    best = _rounds(t, best, tail_need, deadline, None)
    rng = random.Random(seed)
    trials = 0
    while time.perf_counter() < deadline and (max_trials is None or trials < max_trials) \
            and (best.late or best.makespan > target):  # at the bound nothing can be gained
        trials += 1
        best = _rounds(t, best, list(_measured_tail_need(t, best)), deadline, rng)
    return best


def _measured_tail_need(t: _Tables, s: _Schedule) -> list[int]:
    """What each job needed after its print in schedule ``s``: its insert and its wait for an inserter."""
    need = list(t.qmin)
    for j, end in s.e2.items():
        need[j] = max(t.qmin[j], end - s.pe[j])
    return need


def _rounds(t: _Tables, start: _Schedule, tail_need: list[int], deadline: float,
            rng: random.Random | None) -> _Schedule:
    """Balancing rounds from ``start``; ``rng`` draws other endings (None: the shortest tails)."""
    best = current = start
    endings = None
    for _ in range(MAX_ROUNDS if rng is None else TRIAL_ROUNDS):
        if time.perf_counter() >= deadline:
            break
        for j, end in current.e2.items():
            tail_need[j] = max(t.qmin[j], end - current.pe[j])
        pdue = [t.due[j] - tail_need[j] for j in range(len(t.ids))]
        if endings is None or rng is None:
            endings = _choose_endings(t, pdue, tail_need, current.makespan, rng)
        seqs = _balance(t, current.seqs, pdue, tail_need, endings, deadline)
        candidate = _simulate(t, seqs)
        if candidate.key() < best.key():
            best = candidate
        if candidate.seqs == current.seqs:
            break
        current = candidate
    return best


def _choose_endings(t: _Tables, pdue: list[int], tail_need: list[int], horizon: int,
                    rng: random.Random | None) -> list[list[int]]:
    """Per press the jobs to run last: short inserts that may end at ``horizon``, the shortest on the fastest.

    With ``rng``, a random pick among the shortest few, and sometimes two jobs on a press, so that a job with
    a long insert is not left second to last.
    """
    m = len(t.p)
    fit = sorted((j for j in t.plannable if pdue[j] >= horizon - tail_need[j] + DUE_MARGIN_S),
                 key=lambda j: (tail_need[j], j))
    presses = sorted(range(m), key=lambda x: (-t.speed[x], t.press_free[x]))
    endings: list[list[int]] = [[] for _ in range(m)]
    if rng is None:
        for i, j in zip(presses, fit):
            endings[i] = [j]
        return endings
    pool = fit[:m + ENDING_POOL_EXTRA]
    rng.shuffle(pool)
    for i in presses:
        take = 2 if rng.random() < DOUBLE_ENDING_SHARE else 1
        picked, pool = pool[:take], pool[take:]
        endings[i] = sorted(picked, key=lambda j: -tail_need[j])  # Jackson: longest insert first
    return endings


def _balance(t: _Tables, seqs: list[list[int]], pdue: list[int], tail_need: list[int],
             endings: list[list[int]], deadline: float) -> list[list[int]]:
    """Moves and swaps between the press that ends last and the others while both stay on time."""
    m = len(seqs)
    chosen = {j for e in endings for j in e}
    bodies = [[j for j in seq if j not in chosen] for seq in seqs]
    runs = [_press_run(t, i, bodies[i], pdue, tail_need, endings[i]) for i in range(m)]
    p = [np.asarray(row, dtype=np.int64) for row in t.p]
    while time.perf_counter() < deadline:
        a = max(range(m), key=lambda x: runs[x][1])
        moved = False
        for b in sorted((x for x in range(m) if x != a), key=lambda x: runs[x][1]):
            step = _best_step(t, p, a, b, bodies, endings, runs, pdue, tail_need)
            if step is not None:
                (bodies[a], runs[a]), (bodies[b], runs[b]) = step
                moved = True
                break
        if not moved:
            break
    return [list(r[0]) for r in runs]


def _best_step(t, p, a, b, bodies, tails, runs, pdue, tail_need):
    """The most balancing feasible move (a → b) or swap between presses ``a`` and ``b``, or None."""
    A, B = bodies[a], bodies[b]
    if not A:
        return None
    end_a, end_b = runs[a][1], runs[b][1]
    ia, ib = np.asarray(A, dtype=np.int64), np.asarray(B, dtype=np.int64)
    # column 0: move only; column c > 0: swap with B[c - 1]
    new_a = end_a - p[a][ia][:, None] + np.concatenate(([0], p[a][ib]))[None, :]
    new_b = end_b + p[b][ia][:, None] - np.concatenate(([0], p[b][ib]))[None, :]
    score = np.maximum(new_a, new_b).ravel()
    flat = np.flatnonzero(score < end_a)
    if flat.size == 0:
        return None
    flat = flat[np.argsort(score[flat], kind="stable")][:CANDIDATES_PER_STEP]
    width = len(B) + 1
    limit_a, limit_b = max(0, runs[a][2]), max(0, runs[b][2])
    for cell in flat.tolist():
        x, c = divmod(cell, width)
        out, back = A[x], (B[c - 1] if c else None)
        set_a = [j for j in A if j != out] + ([back] if back is not None else [])
        set_b = [j for j in B if j != back] + [out]
        run_a = _press_run(t, a, set_a, pdue, tail_need, tails[a])
        if run_a[2] > limit_a or run_a[1] >= end_a:
            continue
        run_b = _press_run(t, b, set_b, pdue, tail_need, tails[b])
        if run_b[2] > limit_b or run_b[1] >= end_a:
            continue
        return (set_a, run_a), (set_b, run_b)
    return None


# ----------------------------------------------------------------------------------------------- setups


def _fewer_setups(t: _Tables, best: _Schedule, deadline: float) -> _Schedule:
    """The objective's third rule: fewer changes of stock, never at the cost of a late job or the makespan.

    On each press, first the whole sequence grouped by stock (groups in order of first appearance), then single
    jobs moved next to a job of the same stock (after the last earlier one, or before the first later one). A
    change is kept when the simulated plan has no more late jobs, no longer makespan and fewer setups. One
    grouping try per press always runs; the single moves stop at ``deadline``.
    """
    def better(candidate: _Schedule) -> bool:
        return (candidate.late <= best.late and candidate.makespan <= best.makespan
                and candidate.setups < best.setups)

    for i in range(len(best.seqs)):
        seq = best.seqs[i]
        first: dict[int, int] = {}
        for n, j in enumerate(seq):
            first.setdefault(t.stock[j], n)
        grouped = sorted(seq, key=lambda j: (t.stock[j] != t.press_stock[i], first[t.stock[j]]))
        if grouped != seq:
            candidate = _simulate(t, [grouped if x == i else s for x, s in enumerate(best.seqs)])
            if better(candidate):
                best = candidate
    improved = True
    while improved and best.setups and time.perf_counter() < deadline:
        improved = False
        for i in range(len(best.seqs)):
            for cand in _moves_next_to_same_stock(t, best.seqs[i]):
                if time.perf_counter() >= deadline:
                    return best
                candidate = _simulate(t, [cand if x == i else s for x, s in enumerate(best.seqs)])
                if better(candidate):
                    best, improved = candidate, True
                    break
    return best


def _moves_next_to_same_stock(t: _Tables, seq: list[int]):
    """Sequences with one job moved beside another of its stock, where it now sits between other stocks."""
    for n, j in enumerate(seq):
        before = seq[n - 1] if n else None
        after = seq[n + 1] if n + 1 < len(seq) else None
        if (before is not None and t.stock[before] == t.stock[j]) or (after is not None and
                                                                       t.stock[after] == t.stock[j]):
            continue
        rest = seq[:n] + seq[n + 1:]
        same = [x for x, k in enumerate(rest) if t.stock[k] == t.stock[j]]
        earlier = [x for x in same if x < n]
        later = [x for x in same if x >= n]
        if earlier:
            yield rest[:earlier[-1] + 1] + [j] + rest[earlier[-1] + 1:]
        if later:
            yield rest[:later[0]] + [j] + rest[later[0]:]


# --------------------------------------------------------------------------------------------------- output


def _to_plan(instance: Instance, t: _Tables, s: _Schedule, manual: tuple[Manual, ...], bound: int,
             on_time: int) -> Plan:
    rows = dict(t.fixed)
    for j in s.e2:
        rows[j] = Assignment(t.ids[j], s.press[j], s.ps[j], s.pe[j], t.inserter_ids[s.ins[j]], s.s2[j], s.e2[j])
    order = {job.id: n for n, job in enumerate(instance.jobs)}
    assignments = tuple(sorted(rows.values(), key=lambda a: order[a.job]))
    due = {job.id: job.due_s for job in instance.jobs}
    late = tuple(a.job for a in assignments if a.insert_end_s > due[a.job])
    return Plan(assignments, max((a.insert_end_s for a in assignments), default=0), late,
                bound, manual, on_time, count_setups(instance, assignments))


def count_setups(instance: Instance, assignments) -> int:
    """Changes of stock on the presses: between consecutive prints (running ones included), and from a press's
    ``loaded_stock``."""
    stock = {j.id: j.stock for j in instance.jobs}
    loaded = {p.id: p.loaded_stock for p in instance.printers}
    per: dict[str, list[Assignment]] = {}
    for a in assignments:
        per.setdefault(a.printer, []).append(a)
    planned = {a.job for a in assignments}
    for pin in instance.pins:  # a running print whose job now goes manual still changes the press's stock
        if pin.job not in planned:
            per.setdefault(pin.printer, []).append(pin)
    count = 0
    for printer, rows in per.items():
        current = loaded.get(printer)
        for a in sorted(rows, key=lambda a: (a.print_start_s, a.print_end_s)):
            count += current is not None and stock[a.job] != current
            current = stock[a.job]
    return count
