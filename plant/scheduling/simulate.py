"""Exact evaluation of press sequences: print times, then inserts greedily in order of print end, with the
inserters of the last few jobs chosen by enumeration."""

from __future__ import annotations

import itertools

import numpy as np

from plant.scheduling.tables import Schedule, Tables

#: Most inserter combinations tried for the last jobs of the plan (4 inserters: the last 6 jobs).
ENDGAME_COMBOS = 4096


def simulate(t: Tables, seqs: list[list[int]]) -> Schedule:
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
    return Schedule(seqs, ps, pe, press, ins, s2, e2, makespan, late, tardiness, setups)


def _endgame(t: Tables, jobs: list[int], release: dict[int, int], free: list[int], ins, s2, e2) -> None:
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
