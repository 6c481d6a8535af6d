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

Everything is a pure function of the instance; :func:`plan` never reads a clock except to honour its time
limit.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from plant.scheduling.bounds import lower_bound, on_time_bound
from plant.scheduling.model import Assignment, Instance, Manual, Plan, manual_reason
from plant.scheduling.setups import count_setups, fewer_setups
from plant.scheduling.simulate import simulate
from plant.scheduling.tables import Schedule, Tables, build_tables, setup_before

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
#: Seconds of margin kept between a job's predicted and due insert end when choosing tails and print dues.
DUE_MARGIN_S = 60
#: Share of the time limit kept for the fewest-setups pass when presses change stock.
SETUP_PASS_SHARE = 0.2

#: One press's run: (its job order, its end including the tails, its worst print lateness).
PressRun = tuple[list[int], int, int]
#: A balancing step between two presses: per press its new body of jobs and its run.
Step = tuple[tuple[list[int], PressRun], tuple[list[int], PressRun]]


def plan(
    instance: Instance,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    *,
    seed: int = 0,
    max_trials: int | None = None,
) -> Plan:
    """Plan ``instance``: every job a machine can take gets a press, an inserter and times; the rest go
    manual.

    Pinned work stays exactly where it is. The answer is feasible by construction (and the test suite proves
    it with :func:`plant.scheduling.checker.check`); ``time_limit_s`` bounds the improvement phase, ``seed``
    and ``max_trials`` (random endings tried; None: until the time limit) make it reproducible.
    """
    started = time.perf_counter()
    deadline = started + time_limit_s
    pins = {p.job: p for p in instance.pins}
    manual = tuple(
        Manual(j.id, reason)
        for j in instance.jobs
        if (reason := manual_reason(j, instance, pins.get(j.id))) is not None
    )
    tables = build_tables(instance, {m.job for m in manual})
    bound = lower_bound(instance)
    target = on_time_bound(instance, bound)
    changes_stock = (
        len({tables.stock[j] for j in tables.plannable} | {x for x in tables.press_stock if x >= 0}) > 1
        or tables.insert_formats
    )
    improve_until = started + time_limit_s * (1 - SETUP_PASS_SHARE) if changes_stock else deadline
    best = _improve(tables, improve_until, seed, max_trials, target)
    if best.setups:
        best = fewer_setups(tables, best, deadline)
    return _to_plan(instance, tables, best, manual, bound, target)


# ---------------------------------------------------------------------------------------------- construct


def _order_key(t: Tables, pdue: list[int]) -> Callable[[int], tuple[bool, int, int, int]]:
    return lambda j: (not t.reprint[j], pdue[j], t.ready[j], j)


def _edd_ect(t: Tables, pdue: list[int]) -> list[list[int]]:
    """Earliest-due-date list schedule: each job, in print-due order, to the press where it ends first."""
    seqs: list[list[int]] = [[] for _ in t.p]
    clock = list(t.press_free)
    current = list(t.press_stock)
    for j in sorted(t.plannable, key=_order_key(t, pdue)):
        ends = [
            max(clock[i] + setup_before(t, i, current[i], j), t.ready[j]) + t.p[i][j] for i in range(len(t.p))
        ]
        i = min(range(len(ends)), key=lambda x: (ends[x], -t.speed[x]))
        clock[i], current[i] = ends[i], t.stock[j]
        seqs[i].append(j)
    return seqs


def _moore_hodgson(t: Tables, pdue: list[int]) -> list[list[int]]:
    """Fewest late jobs when some must be late: Moore–Hodgson per press inside the EDD list schedule.

    Jobs in print-due order go to the press where they end first; when a job would miss its print due there,
    the longest job on that press (it may be the job itself) is taken out and put last. The jobs taken out are
    then appended, in due order, to the presses where they end first: they are late anyway, and the others
    gain.
    """
    m = len(t.p)
    seqs: list[list[int]] = [[] for _ in range(m)]
    rejected: list[int] = []

    def end_of(i: int, seq: list[int]) -> int:
        clock, current = t.press_free[i], t.press_stock[i]
        for j in seq:
            clock = max(clock + setup_before(t, i, current, j), t.ready[j]) + t.p[i][j]
            current = t.stock[j]
        return clock

    clock = list(t.press_free)
    current = list(t.press_stock)
    for j in sorted(t.plannable, key=_order_key(t, pdue)):
        ends = [max(clock[i] + setup_before(t, i, current[i], j), t.ready[j]) + t.p[i][j] for i in range(m)]
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
        ends = [max(clock[i] + setup_before(t, i, current[i], j), t.ready[j]) + t.p[i][j] for i in range(m)]
        i = min(range(m), key=lambda x: (ends[x], -t.speed[x]))
        seqs[i].append(j)
        clock[i], current[i] = ends[i], t.stock[j]
    return seqs


def _press_order(
    t: Tables, i: int, jobs: list[int], pdue: list[int], tail_need: list[int], after: int = 0
) -> list[int]:
    """Lawler's rule backwards: last goes the job with the shortest tail among those whose print due allows
    it.

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


def _press_run(
    t: Tables, i: int, jobs: list[int], pdue: list[int], tail_need: list[int], last: list[int]
) -> PressRun:
    """(order, end incl. tails, worst print lateness) of press ``i``: ``jobs`` in Lawler order, then
    ``last``."""
    order = _press_order(t, i, jobs, pdue, tail_need, sum(t.p[i][j] for j in last))
    order.extend(last)
    clock, row, worst, end, current = t.press_free[i], t.p[i], -(1 << 62), 0, t.press_stock[i]
    for j in order:
        clock = max(clock + setup_before(t, i, current, j), t.ready[j]) + row[j]
        current = t.stock[j]
        worst = max(worst, clock - pdue[j])
        end = max(end, clock + tail_need[j])
    return order, end, worst


# ----------------------------------------------------------------------------------------------- improve


def _improve(t: Tables, deadline: float, seed: int, max_trials: int | None, target: int) -> Schedule:
    """Construct, balance with feedback from exact simulation, then try other endings until time is up."""
    tail_need = list(t.qmin)  # insert time (plus wait) a job needs after its print ends
    pdue = [t.due[j] - tail_need[j] for j in range(len(t.ids))]
    best = simulate(t, _edd_ect(t, pdue))
    if not t.plannable:
        return best
    if best.late:
        fewer_late = simulate(t, _moore_hodgson(t, pdue))
        if fewer_late.key() < best.key():
            best = fewer_late
    best = _rounds(t, best, tail_need, deadline, None)
    rng = random.Random(seed)
    trials = 0
    while (
        time.perf_counter() < deadline
        and (max_trials is None or trials < max_trials)
        and (best.late or best.makespan > target)
    ):  # at the bound nothing can be gained
        trials += 1
        best = _rounds(t, best, list(_measured_tail_need(t, best)), deadline, rng)
    return best


def _measured_tail_need(t: Tables, s: Schedule) -> list[int]:
    """What each job needed after its print in schedule ``s``: its insert and its wait for an inserter."""
    need = list(t.qmin)
    for j, end in s.e2.items():
        need[j] = max(t.qmin[j], end - s.pe[j])
    return need


def _rounds(
    t: Tables, start: Schedule, tail_need: list[int], deadline: float, rng: random.Random | None
) -> Schedule:
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
        candidate = simulate(t, seqs)
        if candidate.key() < best.key():
            best = candidate
        if candidate.seqs == current.seqs:
            break
        current = candidate
    return best


def _choose_endings(
    t: Tables, pdue: list[int], tail_need: list[int], horizon: int, rng: random.Random | None
) -> list[list[int]]:
    """Per press the jobs to run last: short inserts that may end at ``horizon``, the shortest on the fastest.

    With ``rng``, a random pick among the shortest few, and sometimes two jobs on a press, so that a job with
    a long insert is not left second to last.
    """
    m = len(t.p)
    fit = sorted(
        (j for j in t.plannable if pdue[j] >= horizon - tail_need[j] + DUE_MARGIN_S),
        key=lambda j: (tail_need[j], j),
    )
    presses = sorted(range(m), key=lambda x: (-t.speed[x], t.press_free[x]))
    endings: list[list[int]] = [[] for _ in range(m)]
    if rng is None:
        for i, j in zip(presses, fit, strict=False):
            endings[i] = [j]
        return endings
    pool = fit[: m + ENDING_POOL_EXTRA]
    rng.shuffle(pool)
    for i in presses:
        take = 2 if rng.random() < DOUBLE_ENDING_SHARE else 1
        picked, pool = pool[:take], pool[take:]
        endings[i] = sorted(picked, key=lambda j: -tail_need[j])  # Jackson: longest insert first
    return endings


def _balance(
    t: Tables,
    seqs: list[list[int]],
    pdue: list[int],
    tail_need: list[int],
    endings: list[list[int]],
    deadline: float,
) -> list[list[int]]:
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


def _best_step(
    t: Tables,
    p: list[NDArray[np.int64]],
    a: int,
    b: int,
    bodies: list[list[int]],
    tails: list[list[int]],
    runs: list[PressRun],
    pdue: list[int],
    tail_need: list[int],
) -> Step | None:
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


# --------------------------------------------------------------------------------------------------- output


def _to_plan(
    instance: Instance, t: Tables, s: Schedule, manual: tuple[Manual, ...], bound: int, on_time: int
) -> Plan:
    rows = dict(t.fixed)
    for j in s.e2:
        rows[j] = Assignment(
            t.ids[j], s.press[j], s.ps[j], s.pe[j], t.inserter_ids[s.ins[j]], s.s2[j], s.e2[j]
        )
    order = {job.id: n for n, job in enumerate(instance.jobs)}
    assignments = tuple(sorted(rows.values(), key=lambda a: order[a.job]))
    due = {job.id: job.due_s for job in instance.jobs}
    late = tuple(a.job for a in assignments if a.insert_end_s > due[a.job])
    return Plan(
        assignments,
        max((a.insert_end_s for a in assignments), default=0),
        late,
        bound,
        manual,
        on_time,
        count_setups(instance, assignments),
    )
