"""The on-time floor: a lower bound on the makespan of plans without late jobs that also counts what the
presses' *second-to-last* jobs need, for judging how far a plan is from the best possible one (benchmarks,
docs).

:func:`plant.scheduling.bounds.on_time_bound_inserters` reasons about the last job ``L`` of every press: the
press stops printing by ``min(C, due_L) − q_L``. The job ``S`` printed just before ``L`` must also be inserted
in time, and it leaves the press ``p_i(L)`` seconds before the press stops, so

    E_i ≤ min(C, due_S) − qmin_S + p_i(L)

as well. Only a few jobs are due late enough and insert quickly enough to close a press, so on instances like
reference seed 2 the fast press cannot end with a short job *and* have a short job before it: this bound sees
that, the one on the last jobs alone cannot.

Argument (every step relaxes, so the result stays valid). In a plan without late jobs and makespan ``C``,
press ``i`` prints all its sheets between ``free_i`` and ``E_i``; the sheets before ``L`` are printed by
``PE(S)`` and ``L``'s own sheets fit in ``p_i(L)``, so press ``i`` prints at most
``v_i · (min(A_iL, B_S + p_i(L)) − free_i)`` sheet-seconds, where ``A_iL`` is the last-job limit of
:func:`on_time_bound_inserters` (same enumeration of the last jobs' inserters) and
``B_S = min(C, due_S) − qmin_S``. A press with a single job prints at most ``v_i · p_i(L)``. The last jobs are
distinct, and ``S`` is none of them; relaxing ``S`` only to "not a last job" (several presses may count the
same ``S``), its best value is the best ``B`` outside the chosen last jobs. The largest total over these
choices must cover the work; the smallest such ``C`` is the floor.

The search is exact for the relaxation: split by which job is the best ``S`` (the first of the ``m + 1`` best
``B`` that is not a last job, so the ones before it are last jobs), then match presses to distinct last jobs
(an optimal matching uses only each press's ``m`` best jobs). A press may also stay unused (worth nothing).
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray

from plant.scheduling.bounds import _EPS, _smallest, end_tables, last_job_limits, on_time_bound_inserters
from plant.scheduling.model import Instance


def on_time_floor(instance: Instance, base: int | None = None) -> int:
    """The floor (≥ :func:`on_time_bound_inserters`): no plan without late jobs ends earlier.

    Falls back to the weaker bound where its argument does not apply (some job late in every plan, more than
    :data:`MAX_PRESSES_MATCHED` presses, fewer jobs than presses).
    """
    weaker = on_time_bound_inserters(instance, base)
    e = end_tables(instance)
    if e is None or len(e.jobs) <= len(e.speeds):
        return weaker
    m = len(e.speeds)
    qmin = e.q.min(axis=1)
    unable = ~np.isfinite(e.p)
    idle = np.zeros((m, m))  # an unused press: one "no job" column per press, worth nothing

    def capacity(c: int) -> float:
        b = np.minimum(float(c), e.due) - qmin
        s_order = np.argsort(-b, kind="stable")[: m + 1]  # the best S outside m last jobs is among these
        best = 0.0
        for limit in last_job_limits(e, c):
            alone = np.minimum(limit - e.starts[:, None], e.p)
            # case r: s_order[:r] are last jobs and s_order[r] is not, so the best S is s_order[r]
            for r in range(m + 1):
                s_job = int(s_order[r])
                value = e.speeds[:, None] * np.maximum(
                    0.0, np.maximum(np.minimum(limit, b[s_job] + e.p) - e.starts[:, None], alone)
                )
                value[unable] = -np.inf
                value[:, s_job] = -np.inf
                best = max(best, _best_matching(np.hstack([value, idle]), [int(x) for x in s_order[:r]]))
        return best

    if capacity(max(weaker, int(e.due.max()))) < e.work * (1 - _EPS):
        return weaker
    return max(weaker, _smallest(capacity, e.work, weaker))


def _best_matching(value: NDArray[np.float64], forced: list[int]) -> float:
    """Largest ``Σ value[i, σ(i)]`` over distinct jobs ``σ(i)`` that include every job of ``forced``."""
    m = value.shape[0]
    best = -np.inf
    for presses in itertools.permutations(range(m), len(forced)):
        fixed = sum(float(value[i, j]) for i, j in zip(presses, forced, strict=True))
        if fixed == -np.inf:
            continue
        free_presses = [i for i in range(m) if i not in presses]
        rest = value[free_presses].copy()
        rest[:, forced] = -np.inf
        # an optimal matching of the remaining presses uses only each press's len(free_presses) best jobs
        top = np.argsort(-rest, axis=1, kind="stable")[:, : len(free_presses)]
        for pick in itertools.product(*top.tolist()):
            if len(set(pick)) == len(pick):
                total = fixed + sum(float(rest[x, j]) for x, j in enumerate(pick))
                best = max(best, total)
    return best
