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

Every submission of a job to its printer is recorded before the driver is called (:func:`record_attempt`),
so a crash between the submit and its commit is known. A SPOOLING job its printer has no record of is a
first submission when no attempt is open, and is *parked* (:func:`park_job`, SPOOLING → PARKED) when one is:
the device may have printed it and forgotten it, so it waits for an operator, who reprints it or marks it
printed (:mod:`plant.operator`). A SPOOLED job whose printer lost its record of it is parked likewise
(SPOOLED → PARKED, its letters SPOOLED). Device names carry the plant id (:func:`ensure_plant_id`).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from typing import Any

import structlog
from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from plant.errors import NotFound
from plant.ledger import Ledger, append_event, enqueue, move_entity, move_letters, now
from plant.ledger import schema as t
from plant.ledger.schema_identity import plant_identity
from plant.model import PLANT_ID_LENGTH, Event, JobState, RunState, State

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


# -- the plant's identity ------------------------------------------------------------------------------------
def plant_id(conn: Connection) -> str | None:
    """The ledger's plant id; None in a ledger that was never started by a plant that has one."""
    value = conn.execute(select(plant_identity.c.plant_id).where(plant_identity.c.id == 1)).scalar()
    return None if value is None else str(value)


def ensure_plant_id(ledger: Ledger) -> str:
    """The ledger's plant id, created on the first call (a new ledger, or an older one on its first start):
    ``PLANT_ID_LENGTH`` random lower-case hex digits, kept for the ledger's life. Of two processes starting on
    one new ledger, the first to commit wins and both return its id."""
    with ledger.read() as conn:
        found = plant_id(conn)
    if found is not None:
        return found
    try:
        with ledger.tx() as conn:
            found = plant_id(conn)
            if found is None:
                found = secrets.token_hex(PLANT_ID_LENGTH // 2)
                conn.execute(insert(plant_identity).values(id=1, plant_id=found, created_at=now()))
                append_event(conn, "plant", found, "plant_id_created", None, None, {"plant_id": found})
                log.info("plant_id_created", plant_id=found)
            return found
    except IntegrityError:  # another process created it between our read and our insert
        with ledger.read() as conn:
            found = plant_id(conn)
        if found is None:  # pragma: no cover - the row that made the insert fail is there
            raise
        return found


# -- submissions and parked jobs -----------------------------------------------------------------------------
#: Job events of the hand-over to the printer. ``submit_attempt`` is written (and committed) before the
#: driver's submit is called; ``submit_failed`` when the call raised; ``submit_refused`` when the driver
#: refused before anything reached the device (the attempt is closed: the next one is a first submission);
#: ``operator_reprint`` closes a parked job's attempts (the operator decided to print it again).
SUBMIT_ATTEMPT = "submit_attempt"
SUBMIT_FAILED = "submit_failed"
SUBMIT_REFUSED = "submit_refused"
OPERATOR_REPRINT = "operator_reprint"
OPERATOR_PRINTED = "operator_printed"
PARKED = "parked"
#: Receipt code of the letters of a parked job (cleared when an operator reprints it or marks it printed).
JOB_PARKED = "JOB_PARKED"
_ATTEMPT_EVENTS = (SUBMIT_ATTEMPT, SUBMIT_FAILED, SUBMIT_REFUSED, OPERATOR_REPRINT)


def open_attempt(conn: Connection, job_id: str) -> dict[str, Any] | None:
    """The facts of the job's last submission attempt when it is still open (no refusal or operator's
    reprint after it), else None: ``last_attempt_at``, ``attempts`` (since the last reprint), ``printer``,
    ``device_name``, ``worker`` (the registered id of the worker that made it, None when not known:
    :mod:`plant.ledger.workers`) and ``submit_call`` (what is known of the driver's call)."""
    rows = conn.execute(
        select(t.events.c.at, t.events.c.event, t.events.c.data)
        .where(
            t.events.c.entity == "job",
            t.events.c.entity_id == job_id,
            t.events.c.event.in_(_ATTEMPT_EVENTS),
        )
        .order_by(t.events.c.id)
    ).all()
    facts: dict[str, Any] | None = None
    attempts = 0
    for row in rows:
        data = row.data or {}
        if row.event == SUBMIT_ATTEMPT:
            attempts += 1
            facts = {
                "last_attempt_at": row.at,
                "attempts": attempts,
                "printer": data.get("printer"),
                "device_name": data.get("device_name"),
                "worker": data.get("worker"),
                "submit_call": "unknown: no outcome was recorded (the process may have stopped during the "
                "call or before its result was committed)",
            }
        elif row.event == SUBMIT_FAILED and facts is not None:
            facts["submit_call"] = f"raised {data.get('error', '?')}"
        elif row.event in (SUBMIT_REFUSED, OPERATOR_REPRINT):
            facts, attempts = None, 0
    return facts


def record_attempt(conn: Connection, job_id: str, printer: str, name: str, worker: str | None = None) -> bool:
    """Record a submission attempt of the SPOOLING job under device name ``name`` by the registered worker
    ``worker`` (None: not known), to be committed before the driver is called; False when the job is no
    longer SPOOLING (parked or moved by another delivery)."""
    if (
        conn.execute(
            update(t.print_jobs)
            .where(t.print_jobs.c.job_id == job_id, t.print_jobs.c.state == JobState.SPOOLING.value)
            .values(updated_at=now())
        ).rowcount
        != 1
    ):
        return False
    state = JobState.SPOOLING.value
    data = {"printer": printer, "device_name": name, "worker": worker}
    append_event(conn, "job", job_id, SUBMIT_ATTEMPT, state, state, data)
    return True


def record_submit_outcome(conn: Connection, job_id: str, event: str, error: str) -> None:
    """Record that the driver's submit raised (``submit_failed``) or refused before reaching the device
    (``submit_refused``), with the error."""
    append_event(conn, "job", job_id, event, None, None, {"error": error})


#: The state a parked job's letters are in, by the state the job was parked from: a SPOOLING job's letters
#: were never handed over (IMPOSED); a SPOOLED job's were, to a printer that then lost its record (SPOOLED).
PARKED_LETTERS = {JobState.SPOOLING: State.IMPOSED, JobState.SPOOLED: State.SPOOLED}


def park_job(
    conn: Connection, job_id: str, facts: dict[str, Any], parked_from: JobState = JobState.SPOOLING
) -> bool:
    """Park a job its printer has no record of (``parked_from`` → PARKED, event ``parked`` with ``facts``):
    a SPOOLING job after a submission attempt, or a SPOOLED job the printer took and then lost its record of.
    Its letters (IMPOSED or SPOOLED: :data:`PARKED_LETTERS`) get the reason code ``JOB_PARKED`` and an event
    each, so ``plant status`` and the receipts show them waiting for an operator. False when the job moved
    meanwhile."""
    job = load_job(conn, job_id)
    if job is None or not move_entity(
        conn,
        t.print_jobs,
        t.print_jobs.c.job_id,
        job_id,
        parked_from.value,
        JobState.PARKED.value,
        PARKED,
        "job",
        facts,
    ):
        return False
    lost = (
        "has no record of it after a submission attempt"
        if parked_from is JobState.SPOOLING
        else "took it, then lost its record of it (it may have printed it)"
    )
    action = f"`plant job reprint {job_id}` or `plant job printed {job_id} --reason …`"
    reason = (
        f"job {job_id} parked: printer {job.printer} {lost} (last attempt at {facts.get('last_attempt_at')}; "
        f"the submit call: {facts.get('submit_call')}); check the printer's output, then {action}"
    )
    data = {"job": job_id, **facts}
    _mark_letters(conn, job_id, PARKED_LETTERS[parked_from], "job_parked", data, JOB_PARKED, reason)
    enqueue(conn, "receipts", job.submission_id)
    log.error(
        "job_parked",
        job=job_id,
        parked_from=parked_from.value,
        action=action,
        **{"printer": job.printer, **facts},
    )
    return True


def parked_from(conn: Connection, job_id: str) -> JobState:
    """The state the job was last parked from (its last ``parked`` event): SPOOLING or SPOOLED."""
    state = conn.execute(
        select(t.events.c.from_state)
        .where(t.events.c.entity == "job", t.events.c.entity_id == job_id, t.events.c.event == PARKED)
        .order_by(t.events.c.id.desc())
        .limit(1)
    ).scalar()
    return JobState(state) if state == JobState.SPOOLED.value else JobState.SPOOLING


def unpark_letters(
    conn: Connection, job_id: str, event: str, data: dict[str, Any], parked_from: JobState
) -> list[int]:
    """Clear the ``JOB_PARKED`` reason of the letters of a job parked from ``parked_from`` (an operator
    decided), one event each; return their pks."""
    state = PARKED_LETTERS[parked_from]
    return _mark_letters(conn, job_id, state, event, data, None, None, only_code=JOB_PARKED)


def _mark_letters(
    conn: Connection,
    job_id: str,
    state: State,
    event: str,
    data: dict[str, Any],
    code: str | None,
    reason: str | None,
    only_code: str | None = None,
) -> list[int]:
    """Set the reason of the job's letters in ``state`` (with ``only_code``: those with that code), one event
    each (the state unchanged); return their pks."""
    rows = [r for r in job_pieces(conn, job_id) if r.state == state.value]
    where = [t.letters.c.pk.in_([r.pk for r in rows]), t.letters.c.state == state.value]
    if only_code is not None:
        where.append(t.letters.c.reason_code == only_code)
    pks = list(
        conn.execute(
            update(t.letters)
            .where(*where)
            .values(reason_code=code, reason=reason, updated_at=now())
            .returning(t.letters.c.pk)
        ).scalars()
    )
    for pk in pks:
        append_event(conn, "letter", str(pk), event, state.value, state.value, data)
    return pks


def parked_jobs(conn: Connection) -> list[tuple[Row[Any], dict[str, Any]]]:
    """Every PARKED job with the facts of its ``parked`` event, oldest first."""
    jobs = conn.execute(
        select(t.print_jobs)
        .where(t.print_jobs.c.state == JobState.PARKED.value)
        .order_by(t.print_jobs.c.number)
    ).all()
    out = []
    for job in jobs:
        facts = conn.execute(
            select(t.events.c.data)
            .where(t.events.c.entity == "job", t.events.c.entity_id == job.job_id, t.events.c.event == PARKED)
            .order_by(t.events.c.id.desc())
            .limit(1)
        ).scalar()
        out.append((job, dict(facts or {})))
    return out
