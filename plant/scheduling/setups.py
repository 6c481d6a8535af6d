"""The objective's third rule: fewer changes of stock on the presses, never at the cost of time."""

from __future__ import annotations

import time

from plant.scheduling.model import Assignment, Instance
from plant.scheduling.simulate import simulate
from plant.scheduling.tables import Schedule, Tables


def fewer_setups(t: Tables, best: Schedule, deadline: float) -> Schedule:
    """The objective's third rule: fewer changes of stock, never at the cost of a late job or the makespan.

    On each press, first the whole sequence grouped by stock (groups in order of first appearance), then single
    jobs moved next to a job of the same stock (after the last earlier one, or before the first later one). A
    change is kept when the simulated plan has no more late jobs, no longer makespan and fewer setups. One
    grouping try per press always runs; the single moves stop at ``deadline``.
    """
    def better(candidate: Schedule) -> bool:
        return (candidate.late <= best.late and candidate.makespan <= best.makespan
                and candidate.setups < best.setups)

    for i in range(len(best.seqs)):
        seq = best.seqs[i]
        first: dict[int, int] = {}
        for n, j in enumerate(seq):
            first.setdefault(t.stock[j], n)
        grouped = sorted(seq, key=lambda j: (t.stock[j] != t.press_stock[i], first[t.stock[j]]))
        if grouped != seq:
            candidate = simulate(t, [grouped if x == i else s for x, s in enumerate(best.seqs)])
            if better(candidate):
                best = candidate
    improved = True
    while improved and best.setups and time.perf_counter() < deadline:
        improved = False
        for i in range(len(best.seqs)):
            for cand in _moves_next_to_same_stock(t, best.seqs[i]):
                if time.perf_counter() >= deadline:
                    return best
                candidate = simulate(t, [cand if x == i else s for x, s in enumerate(best.seqs)])
                if better(candidate):
                    best, improved = candidate, True
                    break
    return best


def _moves_next_to_same_stock(t: Tables, seq: list[int]):
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
