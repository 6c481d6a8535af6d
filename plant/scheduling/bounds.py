"""A proven lower bound on the makespan of any plan of an instance.

The plan reports its distance from this bound, so the bound must be valid (never above the optimum) and as
strong as we can make it cheaply. It is the largest of:

* **printing with tails** — every press that is used ends with some job, which must still be inserted after
  the press finishes; those last jobs are distinct, so the presses' capacity up to ``C`` minus the insert time
  of their last job must cover all the sheets: ``Σ_i v_i · max(0, C − free_i − q_σ(i)) ≥ 60 · W`` for the best
  matching ``σ`` of presses to the smallest insert times (by rearrangement, fastest press ↔ shortest tail);
* **inserting with eligibility** — for every sheet count ``s``, the jobs of ``≥ s`` sheets per piece go only
  to inserters taking ``≥ s`` sheets, and none of them can start before the first print could end;
* **one job alone** — its fastest print after its ready time, then its fastest insert;
* **pinned work** — a pinned insert's end, a pinned print's end plus its fastest insert.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from plant.scheduling.model import (
    Instance,
    Job,
    Printer,
    can_insert,
    can_print,
    insert_seconds,
    print_reason,
    print_seconds,
)

#: Most presses for which the matching of tails to presses is enumerated exactly (m! matchings); above it the
#: bound drops the tails, which keeps it valid but weaker.
MAX_PRESSES_MATCHED = 5

#: Relative slack on float capacity sums, so that rounding never lifts the bound above the optimum.
_EPS = 1e-12


def lower_bound(instance: Instance) -> int:
    """The makespan lower bound of ``instance`` in whole seconds (0 when there is nothing to plan)."""
    pins = {p.job: p for p in instance.pins}
    machine_jobs = [
        j
        for j in instance.jobs
        if any(can_insert(j, k) for k in instance.inserters)
        and (j.id in pins or print_reason(j, instance) is None)
    ]
    if not machine_jobs:
        return max((p.insert_end_s or 0 for p in pins.values()), default=0)
    free = _printer_free(instance)
    unpinned = [j for j in machine_jobs if j.id not in pins]
    bounds = [0]
    tail = {
        j.id: min(
            insert_seconds(j.pieces, k.envelopes_per_hour) for k in instance.inserters if can_insert(j, k)
        )
        for j in machine_jobs
    }
    for pin in pins.values():
        if pin.insert_end_s is not None:
            bounds.append(pin.insert_end_s)
        elif pin.job in tail:
            bounds.append(pin.print_end_s + tail[pin.job])
    first_end: dict[str, int] = {}
    for j in unpinned:
        first_end[j.id] = min(
            (
                max(free[p.id], j.ready_s) + print_seconds(j.pieces, j.sheets_per_piece, p.sheets_per_min)
                for p in _up_printers(instance)
                if can_print(j, p)
            ),
            default=0,
        )
        bounds.append(first_end[j.id] + tail[j.id])
    if unpinned and free:
        bounds.append(_printing_bound(instance, unpinned, free, tail))
    to_insert = [j for j in machine_jobs if pins.get(j.id) is None or pins[j.id].insert_end_s is None]
    for p in pins.values():
        if p.insert_end_s is None and p.job in tail:
            first_end[p.job] = p.print_end_s
    bounds.append(_inserting_bound(instance, to_insert, first_end))
    return max(bounds)


def on_time_bound(instance: Instance, base: int | None = None) -> int:
    """A lower bound on the makespan of plans in which **no job is late** (≥ :func:`lower_bound`).

    The last job of a press must also be inserted by its own due time, so only jobs due late enough can close
    a press: ``Σ_i v_i · max(0, min(C, due_σ(i)) − q_σ(i) − free_i) ≥ 60 · W`` for the best distinct jobs
    ``σ(i)``. When some job cannot be on time at all the bound is just :func:`lower_bound` (pass it as
    ``base`` when already computed).
    """
    base = lower_bound(instance) if base is None else base
    pins = {p.job for p in instance.pins}
    jobs = [
        j
        for j in instance.jobs
        if j.id not in pins
        and any(can_insert(j, k) for k in instance.inserters)
        and print_reason(j, instance) is None
    ]
    free = _printer_free(instance)
    if not jobs or not free:
        return base
    speeds = np.array([p.sheets_per_min for p in _up_printers(instance)], dtype=float)
    starts = np.array([free[p.id] for p in _up_printers(instance)], dtype=float)
    due = np.array([j.due_s for j in jobs], dtype=float)
    tail = np.array(
        [
            min(
                insert_seconds(j.pieces, k.envelopes_per_hour) for k in instance.inserters if can_insert(j, k)
            )
            for j in jobs
        ],
        dtype=float,
    )
    work = 60 * sum(j.pieces * j.sheets_per_piece for j in jobs)
    m = len(speeds)
    if m > MAX_PRESSES_MATCHED:
        return base

    def capacity(c: int) -> float:
        value = speeds[:, None] * np.maximum(
            0.0, np.minimum(c, due)[None, :] - tail[None, :] - starts[:, None]
        )
        top = np.argsort(-value, axis=1)[:, :m]  # an optimal matching uses only each press's m best jobs
        best = 0.0
        for pick in itertools.product(*top.tolist()):
            if len(set(pick)) == len(pick):
                best = max(best, float(sum(value[i, j] for i, j in enumerate(pick))))
        return best

    if capacity(max(base, int(due.max()))) < work * (1 - _EPS):
        return base  # some job is late in every plan; the on-time bound says nothing
    return max(base, _smallest(capacity, work, base))


def _printer_free(instance: Instance) -> dict[str, int]:
    """When each press that is up can start new work: its availability and the end of its pinned prints."""
    free = {p.id: p.available_s for p in instance.printers if p.up}
    for pin in instance.pins:
        if pin.printer in free:
            free[pin.printer] = max(free[pin.printer], pin.print_end_s)
    return free


def _up_printers(instance: Instance) -> list[Printer]:
    return [p for p in instance.printers if p.up]


def _printing_bound(instance: Instance, jobs: list[Job], free: dict[str, int], tail: dict[str, int]) -> int:
    work = 60 * sum(j.pieces * j.sheets_per_piece for j in jobs)
    speeds = [p.sheets_per_min for p in _up_printers(instance)]
    starts = [free[p.id] for p in _up_printers(instance)]
    m = len(speeds)
    tails: list[float] = list(sorted(tail[j.id] for j in jobs)[:m])  # floats: math.inf pads it
    tails += [math.inf] * (m - len(tails))  # a press without a job has no capacity to offer
    if m > MAX_PRESSES_MATCHED and len(set(starts)) > 1:
        tails = [0] * m
    order = sorted(range(m), key=lambda i: -speeds[i])
    if len(set(starts)) == 1:
        matchings: Sequence[Sequence[float]] = [[0.0] * m]
        matched = [0.0] * m
        for rank, i in enumerate(order):
            matched[i] = tails[rank]
        matchings = [matched]
    else:
        matchings = [list(perm) for perm in itertools.permutations(tails)]

    def capacity(c: int) -> float:
        return max(
            sum(v * max(0.0, c - s - q) for v, s, q in zip(speeds, starts, qs, strict=True))
            for qs in matchings
        )

    return _smallest(capacity, work, min(starts))


def _inserting_bound(instance: Instance, jobs: list[Job], first_end: dict[str, int]) -> int:
    best = 0
    for s in sorted({j.sheets_per_piece for j in jobs}):
        group = [j for j in jobs if j.sheets_per_piece >= s]
        able = [k for k in instance.inserters if k.up and k.max_sheets >= s]
        head = min(first_end[j.id] for j in group)
        work = 3600 * sum(j.pieces for j in group)
        starts = [max(k.available_s, head) for k in able]
        rates = [k.envelopes_per_hour for k in able]

        def capacity(c: int, rates: list[float] = rates, starts: list[int] = starts) -> float:
            return sum(e * max(0.0, c - s0) for e, s0 in zip(rates, starts, strict=True))

        best = max(best, _smallest(capacity, work, min(starts)))
    return best


def _smallest(capacity: Callable[[int], float], work: float, low: int) -> int:
    """Smallest whole ``c`` ≥ ``low`` whose (non-decreasing) ``capacity(c)`` covers ``work``."""
    need = work * (1 - _EPS)
    high = max(low, 1)
    while capacity(high) < need:
        high *= 2
    while low < high:
        mid = (low + high) // 2
        if capacity(mid) >= need:
            high = mid
        else:
            low = mid + 1
    return low


def on_time_bound_inserters(instance: Instance, base: int | None = None) -> int:
    """:func:`on_time_bound`, stronger: the presses' last jobs compete for the inserters
    (≥ :func:`on_time_bound`).

    The last jobs ``σ(i)`` of the presses are distinct and each is inserted by some inserter ``k(i)`` before
    ``min(C, due)``. When the inserters ``k(i)`` are distinct, press ``i`` stops printing by
    ``min(C, due_σ(i)) − q_σ(i)k(i)``. When several last jobs share an inserter, all but the one inserted last
    are followed on it by another insert of at least ``qmin_k`` (the shortest insert of any job on ``k``), so
    their insert ends by ``min(C − qmin_k, due)``. Enumerating the inserters of the last jobs (and which one
    of a shared group goes last) and taking the best distinct jobs gives a capacity that no plan without late
    jobs exceeds, hence a valid bound. Not used by the planner (``|K|^m`` cases per probe: ~0.2 s on the
    reference instance); the benchmark reports it. Falls back to ``base`` when some job is late in every plan,
    and to :func:`on_time_bound` above :data:`MAX_PRESSES_MATCHED` presses.
    """
    simple = on_time_bound(instance, base)
    e = end_tables(instance)
    if e is None or len(e.jobs) < len(e.speeds):
        return simple
    m = len(e.speeds)

    def capacity(c: int) -> float:
        best = 0.0
        for limit in last_job_limits(e, c):
            value = e.speeds[:, None] * np.maximum(0.0, limit - e.starts[:, None])
            top = np.argsort(-value, axis=1)[:, :m]
            for pick in itertools.product(*top.tolist()):
                if len(set(pick)) == m:
                    best = max(best, float(sum(value[i, j] for i, j in enumerate(pick))))
        return best

    if capacity(max(simple, int(e.due.max()))) < e.work * (1 - _EPS):
        return simple
    return max(simple, _smallest(capacity, e.work, simple))


@dataclass(frozen=True)
class EndTables:
    """What the bounds on the presses' last jobs read: the unpinned jobs a machine can take, as arrays."""

    jobs: list[Job]  # the jobs, in instance order
    speeds: NDArray[np.float64]  # per up press, sheets/min
    starts: NDArray[np.float64]  # per up press, when it can start new work
    due: NDArray[np.float64]  # per job
    q: NDArray[np.float64]  # job × up inserter: insert seconds, inf where not eligible
    qmin_k: list[int]  # per up inserter the shortest insert of any job on it
    p: NDArray[np.float64]  # press × job: print seconds, -inf where the press cannot print the job
    work: int  # 60 × the sheets of all the jobs


def end_tables(instance: Instance) -> EndTables | None:
    """The arrays of :class:`EndTables`; None when nothing is to plan, no press is up or there are more than
    :data:`MAX_PRESSES_MATCHED` presses (the enumerations would explode)."""
    pins = {p.job for p in instance.pins}
    inserters = [k for k in instance.inserters if k.up]
    presses = _up_printers(instance)
    jobs = [
        j
        for j in instance.jobs
        if j.id not in pins and any(can_insert(j, k) for k in inserters) and print_reason(j, instance) is None
    ]
    if not jobs or not presses or len(presses) > MAX_PRESSES_MATCHED:
        return None
    free = _printer_free(instance)
    return EndTables(
        jobs=jobs,
        speeds=np.array([p.sheets_per_min for p in presses], dtype=float),
        starts=np.array([free[p.id] for p in presses], dtype=float),
        due=np.array([j.due_s for j in jobs], dtype=float),
        q=np.array(
            [
                [
                    insert_seconds(j.pieces, k.envelopes_per_hour) if can_insert(j, k) else np.inf
                    for k in inserters
                ]
                for j in jobs
            ],
            dtype=float,
        ),
        qmin_k=[
            min(
                (insert_seconds(j.pieces, k.envelopes_per_hour) for j in instance.jobs if can_insert(j, k)),
                default=0,
            )
            for k in inserters
        ],
        p=np.array(
            [
                [
                    print_seconds(j.pieces, j.sheets_per_piece, pr.sheets_per_min)
                    if can_print(j, pr)
                    else -np.inf
                    for j in jobs
                ]
                for pr in presses
            ],
            dtype=float,
        ),
        work=60 * sum(j.pieces * j.sheets_per_piece for j in jobs),
    )


def last_job_limits(e: EndTables, c: int) -> Iterator[NDArray[np.float64]]:
    """For makespan ``c``, per choice of the last jobs' inserters (and which of a shared group goes last), the
    press × job matrix of the latest time the press can stop printing if it ends with that job."""
    m, k_count = len(e.speeds), e.q.shape[1]
    for ks in itertools.product(range(k_count), repeat=m):
        groups: dict[int, list[int]] = {}
        for i, k in enumerate(ks):
            groups.setdefault(k, []).append(i)
        for lasts in itertools.product(*groups.values()):
            ends = np.array([float(c) if i in lasts else float(c) - e.qmin_k[ks[i]] for i in range(m)])
            yield np.minimum(ends[:, None], e.due[None, :]) - e.q[:, list(ks)].T
