"""Resume: find every unfinished thing in the ledger and write the message that moves it on.

The ledger is the truth, so after any crash (a worker killed, a machine lost) the next message of every
submission, job and run can be derived from it. The messages go through the outbox like any other; the actors
are idempotent, so a message that also survived in Redis does no harm. The mapping (state → next actor) is
:mod:`plant.stages.recover`'s, whose recovery sweep applies it in every running plant to work left stranded
(its message lost or dead-lettered): ``plant resume`` is for a plant that was stopped.
"""

from __future__ import annotations

from sqlalchemy import select

from plant.ledger import Ledger, enqueue
from plant.ledger import schema as t
from plant.model import JobState, RunState
from plant.stages.recover import JOB_NEXT, RUN_NEXT, SUBMISSION_NEXT


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
