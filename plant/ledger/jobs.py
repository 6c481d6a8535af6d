"""Print jobs and insert runs in the ledger: load them, list their pieces, move them by compare-and-set.

A job is *released* (:func:`release_job`) while no paper can exist for it — PLANNED or IMPOSED: the job
becomes REPLANNED, its pieces go back to PRINT_READY, one event each, with a ``plan`` message in the same
transaction. The spool stage claims a job (IMPOSED → SPOOLING) before it hands it to a press, so a release and
a spool never both win. Re-planning (:mod:`plant.stages.replan`) and the operator's hold, cancel and pull
(:mod:`plant.operator`) both release through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import Connection, Row, select, update

from plant.errors import NotFound
from plant.ledger import append_event, enqueue, move_entity, move_letters, now
from plant.ledger import schema as t
from plant.model import Event, JobState, RunState, State

log = structlog.get_logger(__name__)


def job_pieces(conn: Connection, job_id: str) -> Sequence[Row[*tuple[Any, ...]]]:
    """The job's pieces in sheet order, with their letters' columns."""
    return conn.execute(
        select(
            t.job_pieces.c.seq,
            t.pieces.c.piece_id,
            t.pieces.c.tracking_id,
            t.pieces.c.sheets,
            t.pieces.c.prints,
            t.letters.c.pk,
            t.letters.c.letter_id,
            t.letters.c.state,
            t.letters.c.pdf_sha256,
            t.letters.c.submission_id,
        )
        .select_from(
            t.job_pieces.join(t.pieces, t.pieces.c.piece_id == t.job_pieces.c.piece_id).join(
                t.letters, t.letters.c.pk == t.pieces.c.letter_pk
            )
        )
        .where(t.job_pieces.c.job_id == job_id)
        .order_by(t.job_pieces.c.seq)
    ).all()


def load_job(conn: Connection, job_id: str) -> Row[Any] | None:
    """The job's row."""
    return conn.execute(select(t.print_jobs).where(t.print_jobs.c.job_id == job_id)).first()


def require_job(conn: Connection, job_id: str) -> Row[Any]:
    """The row of a job the ledger must hold (a run's job, a job a message names): a :class:`NotFound` that
    says the ledger lost it otherwise, never a silent None."""
    job = load_job(conn, job_id)
    if job is None:
        raise NotFound(
            f"Print job {job_id} is not in the ledger at all; the ledger was changed behind the plant's "
            "back. Restore it from a backup, or check the job's history with `plant status`.",
            job=job_id,
        )
    return job


def load_run(conn: Connection, run_id: str) -> Row[Any] | None:
    """The run's row."""
    return conn.execute(select(t.insert_runs).where(t.insert_runs.c.run_id == run_id)).first()


#: Job states from which a job can be released: no paper can exist for it yet.
RELEASABLE = (JobState.PLANNED, JobState.IMPOSED)


#: Piece states a releasable job's pieces are in (pulled or failed pieces of it stay where they are).
_RELEASABLE_PIECES = (State.PLANNED, State.IMPOSED)


def release_job(conn: Connection, job_id: str, reason: str) -> list[int] | None:
    """Release a PLANNED or IMPOSED job: the job becomes REPLANNED, its pieces PRINT_READY, a ``plan`` is
    queued.

    Returns the letter pks moved back, or None when the job is not releasable (spooled, or released already):
    paper may exist for it, or someone else took it first. Runs in the caller's transaction.
    """
    job = load_job(conn, job_id)
    if job is None:
        return None
    for expect in RELEASABLE:
        if move_entity(
            conn,
            t.print_jobs,
            t.print_jobs.c.job_id,
            job_id,
            expect.value,
            JobState.REPLANNED.value,
            "replan",
            "job",
            {"reason": reason, "printer": job.printer},
        ):
            break
    else:
        return None
    rows = job_pieces(conn, job_id)
    moved: list[int] = []
    for state in _RELEASABLE_PIECES:
        moved += move_letters(
            conn,
            [r.pk for r in rows if r.state == state.value],
            Event.REPLAN,
            state,
            data={"job": job_id, "reason": reason},
        )
    leave_job(conn, moved, job_id)
    enqueue(conn, "plan", job.submission_id)
    log.info("job_released", job=job_id, printer=job.printer, pieces=len(moved), reason=reason)
    return moved


def release_printer_jobs(conn: Connection, printer: str, reason: str) -> list[str]:
    """Release every job on ``printer`` that is not on it yet; return their ids."""
    jobs: Sequence[str] = (
        conn.execute(
            select(t.print_jobs.c.job_id)
            .where(t.print_jobs.c.printer == printer, t.print_jobs.c.state.in_([s.value for s in RELEASABLE]))
            .order_by(t.print_jobs.c.number)
        )
        .scalars()
        .all()
    )
    return [job_id for job_id in jobs if release_job(conn, job_id, reason) is not None]


def waiting_submissions(conn: Connection) -> list[str]:
    """Submissions with letters waiting to be planned."""
    return list(
        conn.execute(
            select(t.letters.c.submission_id)
            .distinct()
            .where(t.letters.c.state == State.PRINT_READY.value)
            .order_by(t.letters.c.submission_id)
        )
        .scalars()
        .all()
    )


def spooled_jobs(conn: Connection, printer: str) -> list[str]:
    """Jobs on ``printer`` that were handed to it and are not finished (candidates for a withdrawal)."""
    return list(
        conn.execute(
            select(t.print_jobs.c.job_id)
            .where(t.print_jobs.c.printer == printer, t.print_jobs.c.state == JobState.SPOOLED.value)
            .order_by(t.print_jobs.c.number)
        )
        .scalars()
        .all()
    )


def leave_job(conn: Connection, pks: list[int], job_id: str) -> None:
    """Take the pieces of letters ``pks`` out of job ``job_id`` (they were moved back to be planned again)."""
    if pks:
        conn.execute(
            update(t.pieces)
            .where(t.pieces.c.letter_pk.in_(pks), t.pieces.c.job_id == job_id)
            .values(job_id=None)
        )


# -- inserters -----------------------------------------------------------------------------------------------
def set_run_state(
    conn: Connection,
    run_id: str,
    expect: RunState,
    target: RunState,
    event: str,
    data: dict[str, Any] | None = None,
    *,
    on: str | None = None,
    **values: Any,
) -> bool:
    """Compare-and-set a run's state (and, with ``on``, its inserter) and append its event; False when the run
    moved meanwhile. ``values`` sets further columns (a new ``inserter``)."""
    where = [t.insert_runs.c.run_id == run_id, t.insert_runs.c.state == expect.value]
    if on is not None:
        where.append(t.insert_runs.c.inserter == on)
    if (
        conn.execute(
            update(t.insert_runs).where(*where).values(state=target.value, updated_at=now(), **values)
        ).rowcount
        != 1
    ):
        return False
    append_event(conn, "run", run_id, event, expect.value, target.value, data)
    return True


def runs_on(conn: Connection, inserter: str, state: RunState) -> list[str]:
    """Ids of the runs in ``state`` on ``inserter``, oldest first."""
    return list(
        conn.execute(
            select(t.insert_runs.c.run_id)
            .where(t.insert_runs.c.inserter == inserter, t.insert_runs.c.state == state.value)
            .order_by(t.insert_runs.c.number)
        )
        .scalars()
        .all()
    )
