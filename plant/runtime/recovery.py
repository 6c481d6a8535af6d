"""Resume: find every unfinished thing in the ledger and write the message that moves it on.

The ledger is the truth, so after any crash (a worker killed, a machine lost) the next message of every
submission, job and run can be derived from it. The messages go through the outbox like any other; the actors
are idempotent, so a message that also survived in Redis does no harm. The mapping (state → next actor) is
:mod:`plant.stages.recover`'s, whose recovery sweep applies it in every running plant to work left stranded
(its message lost or dead-lettered): ``plant resume`` is for a plant that was stopped.

Every running plant process also watches its peers (:func:`watch_peers`, every
:data:`~plant.ledger.workers.BEAT_S`): a worker registered in the ledger (:mod:`plant.ledger.workers`) that
died without stopping is claimed by one process, which logs ``worker_dead`` (its host and pid) and derives
the unfinished work again at once: what the dead worker held does not wait for the queue's heartbeat timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog
from sqlalchemy import select

from plant.ledger import Ledger, enqueue
from plant.ledger import schema as t
from plant.ledger.workers import BEAT_S, beat, claim_dead
from plant.model import JobState, RunState
from plant.stages.recover import JOB_NEXT, RUN_NEXT, SUBMISSION_NEXT

log = structlog.get_logger(__name__)


def recover(ledger: Ledger) -> int:
    """Write an outbox row for every unfinished submission, job and run; return how many."""
    count = 0
    with ledger.tx() as conn:
        open_submissions = (
            conn.execute(select(t.submissions.c.submission_id).where(t.submissions.c.finished_at.is_(None)))
            .scalars()
            .all()
        )
        for submission in open_submissions:
            for actor in SUBMISSION_NEXT:
                enqueue(conn, actor, submission)
                count += 1
        for job_id, state in conn.execute(
            select(t.print_jobs.c.job_id, t.print_jobs.c.state).where(
                t.print_jobs.c.state.in_([s.value for s in JOB_NEXT])
            )
        ):
            enqueue(conn, JOB_NEXT[JobState(state)], job_id)
            count += 1
        runs = conn.execute(
            select(t.insert_runs.c.run_id, t.insert_runs.c.state)
            .select_from(t.insert_runs.join(t.print_jobs, t.print_jobs.c.job_id == t.insert_runs.c.job_id))
            .where(t.print_jobs.c.submission_id.in_(open_submissions))
        ).all()
        for run_id, state in runs:
            enqueue(conn, RUN_NEXT[RunState(state)], run_id)
            count += 1
    return count


def watch_peers(
    ledger: Ledger,
    stop: threading.Event,
    rederive: Callable[[], int],
    by: str,
    me: str | None = None,
    declared_dead: Callable[[], object] | None = None,
    interval_s: float = BEAT_S,
) -> None:
    """Until ``stop``: every ``interval_s``, beat for the registered worker ``me`` (a session has none) and
    claim the dead peers for ``by``; when any was claimed, log ``worker_dead`` for each, then
    ``worker_dead_rederive`` with the steps of ``rederive()``. A worker whose own row says it was claimed dead
    (it was silent too long, seen from another machine) logs ``worker_declared_dead`` and calls
    ``declared_dead`` (a worker stops)."""
    while not stop.wait(interval_s):
        try:
            with ledger.tx() as conn:
                alive = me is None or beat(conn, me)
                dead = claim_dead(conn, by)
        except Exception:  # a locked or full ledger: the next beat tries again
            log.exception("worker_beat_failed")
            continue
        if not alive:
            log.error("worker_declared_dead", worker=me)
            if declared_dead is not None:
                declared_dead()
            me = None
        for peer in dead:
            log.warning("worker_dead", by=by, **peer)
        if dead:
            try:
                log.info("worker_dead_rederive", steps=rederive(), workers=[p["worker"] for p in dead])
            except Exception:
                log.exception("worker_dead_rederive_failed")
