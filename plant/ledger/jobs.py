"""Print jobs and insert runs in the ledger: load them, list their pieces, move them by compare-and-set.

A job is *released* (:func:`release_job`) while no paper can exist for it — PLANNED or IMPOSED: the job
becomes REPLANNED, its pieces go back to PRINT_READY, one event each, with a ``plan`` message in the same
transaction. The spool stage claims a job (IMPOSED → SPOOLING) before it hands it to a press, so a release and
a spool never both win. Re-planning (:mod:`plant.stages.replan`) and the operator's hold, cancel and pull
(:mod:`plant.operator`) both release through here, and so does the impose stage when it takes a letter it
cannot impose out of a job (``keep``: that letter stays for the stage to reject or fail).

A job whose imposition fails on every attempt for a cause of no one letter's making is *failed*
(:func:`fail_job`): the job becomes FAILED with the cause, its pieces go back out of it and are HELD (code
``IMPOSE_FAILED``) until an operator has fixed the cause and releases them; no ``plan`` message.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
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
            t.letters.c.pages,
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


def release_job(conn: Connection, job_id: str, reason: str, keep: Collection[int] = ()) -> list[int] | None:
    """Release a PLANNED or IMPOSED job: the job becomes REPLANNED, its pieces PRINT_READY, a ``plan`` is
    queued.

    Returns the letter pks moved back, or None when the job is not releasable (spooled, or released already):
    paper may exist for it, or someone else took it first. Letters ``keep`` are left where they are (the
    caller moves them on, in the same transaction). Runs in the caller's transaction.
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
            [r.pk for r in rows if r.state == state.value and r.pk not in keep],
            Event.REPLAN,
            state,
            data={"job": job_id, "reason": reason},
        )
    leave_job(conn, moved, job_id)
    enqueue(conn, "plan", job.submission_id)
    log.info("job_released", job=job_id, printer=job.printer, pieces=len(moved), reason=reason)
    return moved


#: Receipt code of the letters of a job whose imposition failed for good (held for an operator).
IMPOSE_FAILED = "IMPOSE_FAILED"


def fail_job(conn: Connection, job_id: str, code: str, cause: str, attempts: int) -> list[int] | None:
    """Fail a PLANNED job whose imposition keeps failing for a cause of no one letter's making.

    The job becomes FAILED (event ``impose_failed`` with ``code``, ``cause`` and ``attempts``); its pieces
    leave it (PLANNED → PRINT_READY) and are HELD with code ``IMPOSE_FAILED`` and a reason naming the job, the
    cause and the way out (fix the cause, then release them: they are planned again into a new job, same
    tracking ids). A ``receipts`` message is queued, no ``plan``. Returns the pks held, or None when the job
    is no longer PLANNED (someone else moved it first). Runs in the caller's transaction.
    """
    job = load_job(conn, job_id)
    if job is None or not move_entity(
        conn,
        t.print_jobs,
        t.print_jobs.c.job_id,
        job_id,
        JobState.PLANNED.value,
        JobState.FAILED.value,
        "impose_failed",
        "job",
        {"code": code, "cause": cause, "attempts": attempts, "printer": job.printer},
    ):
        return None
    rows = [r for r in job_pieces(conn, job_id) if r.state == State.PLANNED.value]
    out = move_letters(conn, [r.pk for r in rows], Event.REPLAN, State.PLANNED, data={"job": job_id})
    leave_job(conn, out, job_id)
    reason = (
        f"job {job_id} on {job.printer} could not be imposed ({attempts} attempts): {cause} [{code}]. "
        "Fix the cause, then release the letter (`plant release <tracking id>`) to plan it again, "
        "or cancel it."
    )
    held = move_letters(
        conn,
        out,
        Event.HOLD,
        State.PRINT_READY,
        data={"by": "plant", "reason": reason, "job": job_id},
        extra={"reason_code": IMPOSE_FAILED, "reason": reason},
    )
    enqueue(conn, "receipts", job.submission_id)
    log.error("job_impose_failed", job=job_id, printer=job.printer, code=code, cause=cause, held=len(held))
    return held


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
