"""The objective's third rule: fewer setups (changes of stock on the presses, of envelope or inserts on the
inserters), never at the cost of a late job or the makespan."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from plant.scheduling.model import Assignment, Instance, Pin, insert_setup_after, insert_setup_needed
from plant.scheduling.simulate import simulate
from plant.scheduling.tables import UNABLE_S, Schedule, Tables

#: Insertion places tried per job and receiving press in a move between presses (the nearest in time first).
PLACES_PER_PRESS = 2


def fewer_setups(t: Tables, best: Schedule, deadline: float) -> Schedule:
    """Fewer setups, never at the cost of a late job or the makespan.

    On each press, first the whole sequence grouped by stock (groups in order of first appearance). Then,
    until nothing helps or ``deadline``, these moves: a job moved next to a job of the same stock on its press
    (and, when inserters change envelope or inserts, next to a job inserted the same way, so the two runs can
    follow each other on one inserter); a run of one stock (one job or more) moved to another press next to a
    job of its stock there; two runs swapped between presses, each beside the other's stock. A change is kept
    when the simulated plan has no more late jobs, no longer makespan and fewer setups (presses' and
    inserters' together).

    Every move must first pass a quick necessary check (:func:`_may_keep_time`). All moves of a kind that pass
    it, made one after the other, are simulated together first; only when that batch is not better are the
    moves simulated one at a time. One grouping try per press always runs.
    """
    best = _grouped(t, best)
    keys = [t.stock] + ([_insert_key(t)] if t.insert_formats else [])
    batches: tuple[Callable[[Schedule], list[list[int]] | None], ...] = (
        lambda current: _all_within_press(t, current, keys),
        lambda current: _all_across_presses(t, current, deadline),
    )
    while best.setups and time.perf_counter() < deadline:
        found = None
        for make in batches:
            batch = make(best) if time.perf_counter() < deadline else None
            if batch is not None:
                candidate = simulate(t, batch)
                if _better(candidate, best):
                    found = candidate
                    break
        if found is None:
            found = _first_better(t, best, _within_press(t, best, keys), deadline)
        if found is None:
            found = _first_better(t, best, _across_presses(t, best, best.seqs, best.ps), deadline)
        if found is None:
            break
        best = found
    return best


def _better(candidate: Schedule, best: Schedule) -> bool:
    return (
        candidate.late <= best.late and candidate.makespan <= best.makespan and candidate.setups < best.setups
    )


def _first_better(
    t: Tables, best: Schedule, candidates: Iterator[list[list[int]]], deadline: float
) -> Schedule | None:
    """The first of ``candidates`` (press sequences) whose simulated plan is better, or None."""
    for seqs in candidates:
        if time.perf_counter() >= deadline:
            return None
        candidate = simulate(t, seqs)
        if _better(candidate, best):
            return candidate
    return None


def _grouped(t: Tables, best: Schedule) -> Schedule:
    """Each press's sequence grouped by stock (the loaded stock first), kept where it is better."""
    for i in range(len(best.seqs)):
        seq = best.seqs[i]
        first: dict[int, int] = {}
        for n, j in enumerate(seq):
            first.setdefault(t.stock[j], n)
        grouped = sorted(seq, key=lambda j: (t.stock[j] != t.press_stock[i], first[t.stock[j]]))
        if grouped != seq:
            candidate = simulate(t, [grouped if x == i else s for x, s in enumerate(best.seqs)])
            if _better(candidate, best):
                best = candidate
    return best


def _insert_key(t: Tables) -> list[int]:
    """Per job a small integer for how it is inserted (envelope and inserts), -1 when it names neither."""
    codes: dict[tuple[int, int], int] = {}
    return [
        -1 if e < 0 and s < 0 else codes.setdefault((e, s), len(codes))
        for e, s in zip(t.envelope, t.insert_set, strict=True)
    ]


def _all_within_press(t: Tables, best: Schedule, keys: list[list[int]]) -> list[list[int]] | None:
    """Every move of :func:`_within_press` that passes the quick check, made one after the other, as one
    candidate (None when there is none): one simulation instead of one per move, which is what makes the pass
    fit its share of the time limit on large instances. Stock moves must save a change of stock, moves by the
    insert key a change of that key without costing one of stock."""
    seqs = [list(seq) for seq in best.seqs]
    changed = False
    for key in keys:
        for i in range(len(seqs)):
            progress = True
            while progress:
                progress = False
                now = (_changes(t, i, seqs[i]), _key_changes(seqs[i], key))
                for moved in _moves_next_to_same(seqs[i], key):
                    after = (_changes(t, i, moved), _key_changes(moved, key))
                    fewer = after[0] < now[0] if key is t.stock else after[0] <= now[0] and after[1] < now[1]
                    if fewer and _may_keep_time(t, best, i, moved):
                        seqs[i], changed, progress = moved, True, True
                        break
    return seqs if changed else None


def _key_changes(seq: list[int], key: list[int]) -> int:
    """Changes of ``key`` between consecutive jobs of ``seq`` that have one (-1: none)."""
    count, current = 0, -1
    for j in seq:
        if key[j] >= 0:
            count += current >= 0 and key[j] != current
            current = key[j]
    return count


def _within_press(t: Tables, best: Schedule, keys: list[list[int]]) -> Iterator[list[list[int]]]:
    """Single jobs moved beside a job of the same key on their press, where that passes the quick check."""
    seqs = best.seqs
    for key in keys:
        for i, seq in enumerate(seqs):
            for moved in _moves_next_to_same(seq, key):
                fewer = key is not t.stock or _changes(t, i, moved) < _changes(t, i, seq)
                if fewer and _may_keep_time(t, best, i, moved):
                    yield [moved if x == i else s for x, s in enumerate(seqs)]


def _moves_next_to_same(seq: list[int], key: list[int]) -> Iterator[list[int]]:
    """Sequences with one job moved beside another of its ``key``, where it now sits between other keys."""
    for n, j in enumerate(seq):
        if key[j] < 0:
            continue
        before = seq[n - 1] if n else None
        after = seq[n + 1] if n + 1 < len(seq) else None
        if (before is not None and key[before] == key[j]) or (after is not None and key[after] == key[j]):
            continue
        rest = seq[:n] + seq[n + 1 :]
        same = [x for x, k in enumerate(rest) if key[k] == key[j]]
        earlier = [x for x in same if x < n]
        later = [x for x in same if x >= n]
        if earlier:
            yield rest[: earlier[-1] + 1] + [j] + rest[earlier[-1] + 1 :]
        if later:
            yield rest[: later[0]] + [j] + rest[later[0] :]


# ------------------------------------------------------------------------------------------- across presses


def _changes(t: Tables, i: int, seq: list[int]) -> int:
    """Changes of stock on press ``i`` running ``seq``."""
    count, current = 0, t.press_stock[i]
    for j in seq:
        count += current >= 0 and t.stock[j] != current
        current = t.stock[j]
    return count


def _runs(t: Tables, seq: list[int]) -> list[tuple[int, int]]:
    """The maximal runs of one stock in ``seq``, as (first position, position after the last)."""
    runs, first = [], 0
    for n in range(1, len(seq) + 1):
        if n == len(seq) or t.stock[seq[n]] != t.stock[seq[first]]:
            runs.append((first, n))
            first = n
    return runs


def _places(t: Tables, i: int, seq: list[int], stock: int, when: int, starts: dict[int, int]) -> list[int]:
    """Where work of ``stock`` joins ``seq`` on press ``i`` without a new change of stock: beside a job of its
    stock (or first, after that stock loaded). The :data:`PLACES_PER_PRESS` places nearest to second
    ``when``."""
    places = []
    for n in range(len(seq) + 1):
        before = t.stock[seq[n - 1]] if n else t.press_stock[i]
        after = t.stock[seq[n]] if n < len(seq) else None
        if before == stock or after == stock:
            places.append(n)
    end = starts[seq[-1]] + t.p[i][seq[-1]] if seq else t.press_free[i]
    return sorted(places, key=lambda n: abs((starts[seq[n]] if n < len(seq) else end) - when))[
        :PLACES_PER_PRESS
    ]


def _all_across_presses(t: Tables, best: Schedule, deadline: float) -> list[list[int]] | None:
    """The first move or swap of :func:`_across_presses` made, again and again on the result until
    ``deadline``, as one candidate (None when there is none)."""
    seqs, starts, changed = best.seqs, dict(best.ps), False
    while True:
        step = next(_across_presses(t, best, seqs, starts), None) if time.perf_counter() < deadline else None
        if step is None:
            return seqs if changed else None
        for i, (old, new) in enumerate(zip(seqs, step, strict=True)):
            if old is not new:
                starts.update(_starts(t, i, new))
        seqs, changed = step, True


def _starts(t: Tables, i: int, seq: list[int]) -> dict[int, int]:
    """Print starts of ``seq`` on press ``i``."""
    out, clock, current = {}, t.press_free[i], t.press_stock[i]
    for j in seq:
        if current >= 0 and t.stock[j] != current:
            clock += t.setup[i]
        current = t.stock[j]
        out[j] = max(clock, t.ready[j])
        clock = out[j] + t.p[i][j]
    return out


def _across_presses(
    t: Tables, best: Schedule, seqs: list[list[int]], starts: dict[int, int]
) -> Iterator[list[list[int]]]:
    """Moves of a run of one stock (one job or more) to another press beside a job of its stock, and swaps of
    two runs between presses each beside the other's stock, that remove setups: the most setups removed first,
    then the least load on the busier press. Each passes a quick necessary check (no job on time before can
    miss its due, no print can end after the makespan less its shortest insert) before the exact simulation
    judges it."""
    m = len(seqs)
    changes = [_changes(t, i, seq) for i, seq in enumerate(seqs)]
    load = [
        t.press_free[i] + sum(t.p[i][j] for j in seq) + changes[i] * t.setup[i] for i, seq in enumerate(seqs)
    ]
    # per press its runs: (jobs, the sequence without them, changes of stock saved by taking them out)
    runs: list[list[tuple[list[int], list[int], int]]] = []
    for i, seq in enumerate(seqs):
        runs.append([])
        for first, after in _runs(t, seq):
            rest = seq[:first] + seq[after:]
            runs[i].append((seq[first:after], rest, changes[i] - _changes(t, i, rest)))
    # a press's print end is at least its load, and its last job still needs its shortest insert
    room = best.makespan - min((t.qmin[j] for seq in seqs for j in seq), default=0)
    options: list[tuple[int, int, int, int, int, int]] = []  # (-saved, load, a, run, b, run on b or -1)
    for a in range(m):
        for r, (jobs, _, saved_a) in enumerate(runs[a]):
            if saved_a <= 0:
                continue
            for b in range(m):
                if b == a or any(t.p[b][j] >= UNABLE_S for j in jobs):
                    continue
                left_a = load[a] - sum(t.p[a][j] for j in jobs) - saved_a * t.setup[a]
                into_b = sum(t.p[b][j] for j in jobs)
                options.append((-saved_a, max(left_a, load[b] + into_b), a, r, b, -1))
                for r2, (others, _, saved_b) in enumerate(runs[b]):
                    if (
                        saved_b <= 0
                        or t.stock[others[0]] == t.stock[jobs[0]]
                        or any(t.p[a][y] >= UNABLE_S for y in others)
                    ):
                        continue
                    grown = max(
                        left_a + sum(t.p[a][y] for y in others),
                        load[b] - sum(t.p[b][y] for y in others) - saved_b * t.setup[b] + into_b,
                    )
                    options.append((-saved_a - saved_b, grown, a, r, b, r2))
    options.sort()
    for _, grown, a, r, b, r2 in options:
        if grown > room:
            continue
        jobs, rest_a, _ = runs[a][r]
        others, rest_b, _ = runs[b][r2] if r2 >= 0 else ([], seqs[b], 0)
        for place in _places(t, b, rest_b, t.stock[jobs[0]], starts[jobs[0]], starts):
            new_b = rest_b[:place] + jobs + rest_b[place:]
            if r2 < 0:
                candidates = [rest_a]
            else:
                candidates = [
                    rest_a[:n] + others + rest_a[n:]
                    for n in _places(t, a, rest_a, t.stock[others[0]], starts[others[0]], starts)
                ]
            for new_a in candidates:
                if _changes(t, a, new_a) + _changes(t, b, new_b) >= changes[a] + changes[b]:
                    continue
                if _may_keep_time(t, best, a, new_a) and _may_keep_time(t, best, b, new_b):
                    yield [new_a if x == a else new_b if x == b else seq for x, seq in enumerate(seqs)]


def _may_keep_time(t: Tables, best: Schedule, i: int, seq: list[int]) -> bool:
    """A necessary condition for press ``i`` running ``seq`` in a plan no worse than ``best``: every job on
    time in ``best`` can still be inserted by its due, and no job's print ends later than the makespan
    allows."""
    clock, row, current, setup = t.press_free[i], t.p[i], t.press_stock[i], t.setup[i]
    for j in seq:
        if current >= 0 and t.stock[j] != current:
            clock += setup
        current = t.stock[j]
        clock = max(clock, t.ready[j]) + row[j]
        done = clock + t.qmin[j]
        if done > best.makespan or (done > t.due[j] and best.e2[j] <= t.due[j]):
            return False
    return True


# ------------------------------------------------------------------------------------------------- counting


def count_setups(instance: Instance, assignments: Sequence[Assignment]) -> int:
    """Setups in a plan: changes of stock on the presses (between consecutive prints, running ones included,
    and from a press's ``loaded_stock``) plus changes of envelope or inserts on the inserters (see
    :func:`~plant.scheduling.model.insert_setup_needed`)."""
    jobs = {j.id: j for j in instance.jobs}
    loaded = {p.id: p.loaded_stock for p in instance.printers}
    per: dict[str, list[Assignment | Pin]] = {}
    for a in assignments:
        per.setdefault(a.printer, []).append(a)
    planned = {a.job for a in assignments}
    for pin in instance.pins:  # a running print whose job now goes manual still changes the press's stock
        if pin.job not in planned:
            per.setdefault(pin.printer, []).append(pin)
    count = 0
    for printer, rows in per.items():
        current = loaded.get(printer)
        for row in sorted(rows, key=lambda a: (a.print_start_s, a.print_end_s)):
            count += current is not None and jobs[row.job].stock != current
            current = jobs[row.job].stock
    runs: dict[str, list[Assignment]] = {}
    for a in assignments:
        runs.setdefault(a.inserter, []).append(a)
    for k in instance.inserters:
        state = (k.loaded_envelope, k.loaded_inserts)
        for a in sorted(runs.get(k.id, []), key=lambda a: (a.insert_start_s, a.insert_end_s)):
            count += insert_setup_needed(jobs[a.job], *state)
            state = insert_setup_after(jobs[a.job], *state)
    return count
