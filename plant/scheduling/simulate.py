"""Exact evaluation of press sequences: print times, then inserts greedily in order of print end, with the
inserters of the last few jobs chosen by enumeration.

Inserter setups (a run needing another envelope or other inserts than the inserter is set up for) take the
slower path of :func:`_insert_with_setups`; instances where no job names an envelope or inserts never pay for
it.
"""

from __future__ import annotations

import itertools

import numpy as np

from plant.scheduling.tables import Schedule, Tables, insert_time

#: Most inserter combinations tried for the last jobs of the plan (4 inserters: the last 6 jobs).
ENDGAME_COMBOS = 4096


def simulate(t: Tables, seqs: list[list[int]]) -> Schedule:
    """Times of every job for press sequences ``seqs``; inserts greedily in order of print end."""
    ps: dict[int, int] = {}
    pe: dict[int, int] = {}
    press: dict[int, str] = {}
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
    for j, (printer, start, end) in t.printed.items():
        ps[j], pe[j], press[j] = start, end, printer
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
    if t.insert_formats:
        setups += _insert_with_setups(t, order, cut, release, free, ins, s2, e2)
    else:
        _insert_greedy(t, order[:cut], release, free, ins, s2, e2)
        _endgame(t, order[cut:], release, free, ins, s2, e2)
    makespan = max([*e2.values(), *(a.insert_end_s for a in t.fixed.values()), 0])
    late = tardiness = 0
    for j, end in e2.items():
        if end > t.due[j]:
            late += 1
            tardiness += end - t.due[j]
    return Schedule(seqs, ps, pe, press, ins, s2, e2, makespan, late, tardiness, setups)


def _insert_greedy(
    t: Tables,
    jobs: list[int],
    release: dict[int, int],
    free: list[int],
    ins: dict[int, int],
    s2: dict[int, int],
    e2: dict[int, int],
) -> None:
    """Each job, in order, to the eligible inserter that finishes it first (no inserter setups)."""
    for j in jobs:
        r, row = release[j], t.q[j]
        best_k, best_end, best_d = -1, 0, 0
        for k in t.inserter_order:
            d = row[k]
            if d is None:
                continue
            end = (free[k] if free[k] > r else r) + d
            if best_k < 0 or end < best_end:
                best_k, best_end, best_d = k, end, d
        if best_k < 0:
            raise ValueError(f"job {t.ids[j]} has no eligible inserter")
        free[best_k] = best_end
        ins[j], s2[j], e2[j] = best_k, best_end - best_d, best_end


def _endgame(
    t: Tables,
    jobs: list[int],
    release: dict[int, int],
    free: list[int],
    ins: dict[int, int],
    s2: dict[int, int],
    e2: dict[int, int],
) -> None:
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
    for j, k in zip(jobs, combos[first].tolist(), strict=True):
        d = insert_time(t, j, k)
        end = max(free[k], release[j]) + d
        free[k] = end
        ins[j], s2[j], e2[j] = k, end - d, end


def _insert_with_setups(
    t: Tables,
    order: list[int],
    cut: int,
    release: dict[int, int],
    free: list[int],
    ins: dict[int, int],
    s2: dict[int, int],
    e2: dict[int, int],
) -> int:
    """The greedy inserts and the endgame when inserters pay setups; the number of setups paid.

    A run starts no earlier than the inserter's previous end plus its setup on a change of envelope or inserts
    (the setup may overlap the wait for the print); among inserters ending a run at the same time, one that
    needs no change is preferred.
    """
    state = list(t.inserter_state)
    setups = 0
    for j in order[:cut]:
        r, row, env, kind = release[j], t.q[j], t.envelope[j], t.insert_set[j]
        best_k, best_end, best_change, best_d = -1, 0, True, 0
        for k in t.inserter_order:
            d = row[k]
            if d is None:
                continue
            e0, s0 = state[k]
            change = (env >= 0 and e0 >= 0 and e0 != env) or (kind >= 0 and s0 >= 0 and s0 != kind)
            clock = free[k] + t.inserter_setup[k] if change else free[k]
            end = (clock if clock > r else r) + d
            if best_k < 0 or end < best_end or (end == best_end and best_change and not change):
                best_k, best_end, best_change, best_d = k, end, change, d
        if best_k < 0:
            raise ValueError(f"job {t.ids[j]} has no eligible inserter")
        free[best_k] = best_end
        e0, s0 = state[best_k]
        state[best_k] = (e0 if env < 0 else env, s0 if kind < 0 else kind)
        setups += best_change
        ins[j], s2[j], e2[j] = best_k, best_end - best_d, best_end
    return setups + _endgame_with_setups(t, list(order[cut:]), release, free, state, ins, s2, e2)


def _endgame_with_setups(
    t: Tables,
    jobs: list[int],
    release: dict[int, int],
    free: list[int],
    state: list[tuple[int, int]],
    ins: dict[int, int],
    s2: dict[int, int],
    e2: dict[int, int],
) -> int:
    """:func:`_endgame` with inserter setups: best by (late, tardiness, makespan, setups, sum of ends)."""
    if not jobs:
        return 0
    combos = np.array(list(itertools.product(*(t.eligible[j] for j in jobs))), dtype=np.int64)
    if combos.size == 0:
        return 0
    rows = np.arange(len(combos))
    clock = np.tile(np.asarray(free, dtype=np.int64), (len(combos), 1))
    env_state = np.tile(np.asarray([e for e, _ in state], dtype=np.int64), (len(combos), 1))
    set_state = np.tile(np.asarray([x for _, x in state], dtype=np.int64), (len(combos), 1))
    setup = np.asarray(t.inserter_setup, dtype=np.int64)
    late, tardy, span, total, changes = (np.zeros(len(combos), dtype=np.int64) for _ in range(5))
    for n, j in enumerate(jobs):
        k = combos[:, n]
        q = np.asarray([0 if d is None else d for d in t.q[j]], dtype=np.int64)
        env, kind = t.envelope[j], t.insert_set[j]
        e0, s0 = env_state[rows, k], set_state[rows, k]
        change = np.zeros(len(combos), dtype=bool)
        if env >= 0:
            change |= (e0 >= 0) & (e0 != env)
            env_state[rows, k] = env
        if kind >= 0:
            change |= (s0 >= 0) & (s0 != kind)
            set_state[rows, k] = kind
        end = np.maximum(clock[rows, k] + setup[k] * change, release[j]) + q[k]
        clock[rows, k] = end
        changes += change
        np.maximum(span, end, out=span)
        total += end
        over = end - t.due[j]
        late += over > 0
        tardy += np.maximum(over, 0)
    first = int(np.lexsort((rows, total, changes, span, tardy, late))[0])
    for j, k in zip(jobs, combos[first].tolist(), strict=True):
        env, kind = t.envelope[j], t.insert_set[j]
        e0, s0 = state[k]
        changed = (env >= 0 and e0 >= 0 and e0 != env) or (kind >= 0 and s0 >= 0 and s0 != kind)
        d = insert_time(t, j, k)
        end = max(free[k] + (t.inserter_setup[k] if changed else 0), release[j]) + d
        free[k] = end
        state[k] = (e0 if env < 0 else env, s0 if kind < 0 else kind)
        ins[j], s2[j], e2[j] = k, end - d, end
    return int(changes[first])
