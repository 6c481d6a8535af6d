"""Stages ``spool(job_id)`` and ``follow_print(job_id)``: hand a job to its printer, follow it to the end.

Spooling is the physical step that must never run twice: before submitting, the driver asks the device
whether a job of that name exists, and a submit that loses a race for the name follows the job that won. A
printer reporting "completed" does not make pieces PRINTED (only a read of their sheets downstream does); it
makes the job ready for its insert run. A job waiting on a stopped printer is shown STOPPED, with the
printer's reasons, until an operator fixes the printer.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from sqlalchemy import update

from plant.crashpoints import crash_point
from plant.fleet.service import out_of_service
from plant.ledger import append_event, enqueue, move_entity, move_letters, now
from plant.ledger import schema as t
from plant.ledger.jobs import (
    SUBMIT_FAILED,
    SUBMIT_REFUSED,
    job_pieces,
    load_job,
    open_attempt,
    park_job,
    record_attempt,
    record_submit_outcome,
    release_job,
    require_job,
)
from plant.ledger.workers import current as current_worker
from plant.ledger.workers import owner_gone
from plant.model import Event, JobState, State
from plant.operator import open_insert_run
from plant.stages.context import current
from plant.stages.impose import ticket_options
from printers import (
    CupsQueueUnknown,
    DuplicateJob,
    HotFolderMissing,
    InvalidJobId,
    InvalidTicket,
    JobStatus,
    JobTicket,
    PrinterState,
    PrinterStopped,
    UnknownJob,
)
from printers import JobState as DeviceJob

log = structlog.get_logger(__name__)

#: Seconds an open attempt is given before a printer's silence about the job counts: another delivery of the
#: message may be between its recorded attempt and its submit (the job is looked at again after this).
SUBMIT_GRACE_S = 60.0
#: Errors a driver raises before anything reaches the device: the attempt is closed, the next is a first one.
REFUSED_BEFORE_DEVICE = (InvalidTicket, InvalidJobId, HotFolderMissing, CupsQueueUnknown)


def spool(job_id: str) -> None:
    """Submit an IMPOSED job to its printer (once), then follow it; park it when its printer has no record
    of it after an attempt."""
    plant = current()
    with plant.ledger.read() as conn:
        job = load_job(conn, job_id)
        if job is None or job.state not in (JobState.IMPOSED.value, JobState.SPOOLING.value):
            return
        rows = [r for r in job_pieces(conn, job_id) if r.state == State.IMPOSED.value]
    if job.state == JobState.IMPOSED.value and not _claim(plant, job_id):
        return  # released for re-planning (a press out of the plan, an operator's hold) before we claimed it
    printer = plant.printers[job.printer]
    attempted: list[bool] = []
    try:
        status = hand_over(
            printer,
            job,
            before_submit=lambda: _attempt(plant, printer, job, attempted),
            **ticket_options(plant.settings, job.printer, duplex=bool(job.duplex)),
        )
    except Exception as exc:
        if attempted:  # the call was made: what it said is one of the facts an operator gets if it is parked
            event = SUBMIT_REFUSED if isinstance(exc, REFUSED_BEFORE_DEVICE) else SUBMIT_FAILED
            with plant.ledger.tx() as conn:
                record_submit_outcome(conn, job_id, event, f"{type(exc).__name__}: {exc}")
        raise
    if status is None:  # parked (or moved by another delivery) instead of submitted
        plant.notify()
        return
    with plant.ledger.tx() as conn:
        if move_entity(
            conn,
            t.print_jobs,
            t.print_jobs.c.job_id,
            job_id,
            JobState.SPOOLING.value,
            JobState.SPOOLED.value,
            "spool",
            "job",
            {"printer": job.printer},
            device_state=status.state.name,
        ):
            moved = move_letters(conn, [r.pk for r in rows], Event.SPOOL, State.IMPOSED, data={"job": job_id})
            conn.execute(
                update(t.pieces).where(t.pieces.c.letter_pk.in_(moved)).values(prints=t.pieces.c.prints + 1)
            )
            enqueue(conn, "follow_print", job_id)
    plant.notify()


def follow_print(job_id: str) -> None:
    """Ask the printer how the job stands; on completion create its insert run, else look again later. A
    printer with no record of the job is dealt with at once (:func:`_forgotten`), never raised to the
    queue."""
    plant = current()
    with plant.ledger.read() as conn:
        job = load_job(conn, job_id)
    if job is None or job.state != JobState.SPOOLED.value:
        return
    printer = plant.printers[job.printer]
    try:
        status = printer.status(job_id)
    except UnknownJob:
        found = _forgotten(plant, printer, job)
        if found is None:
            return
        status = found
    if status.state is DeviceJob.COMPLETED:
        _printed(plant, job)
    elif status.state in (DeviceJob.CANCELED, DeviceJob.ABORTED):
        _failed_on_printer(plant, job, status)
    else:
        state, reasons = _device_state(printer, status)
        if state.name != job.device_state:
            with plant.ledger.tx() as conn:
                conn.execute(
                    update(t.print_jobs)
                    .where(t.print_jobs.c.job_id == job_id)
                    .values(device_state=state.name, updated_at=now())
                )
                # the reasons are what the pages show an operator next to the waiting job
                append_event(
                    conn,
                    "job",
                    job_id,
                    "device_state",
                    job.device_state,
                    state.name,
                    {"reasons": list(reasons)},
                )
            if state is DeviceJob.STOPPED:
                log.warning(
                    "printer_stopped",
                    job=job_id,
                    printer=job.printer,
                    reasons=list(reasons),
                    message=str(PrinterStopped(job.printer, reasons)),
                )
        plant.send("follow_print", job_id, delay_ms=int(plant.settings.poll_interval_s * 1000))


def _forgotten(plant, printer, job) -> JobStatus | None:
    """The printer has no record of the SPOOLED job it took: the status when a lookup by name finds it after
    all, else None once the job is moved on, as the plant decides for a job a printer forgot after a
    submission attempt (:func:`_attempt`, and the recovery sweep):

    - a printer whose silence proves it never received the job (``find_proves_absence``, a hot folder) gets
      it again: SPOOLED → SPOOLING (event ``printer_no_record``) and a ``spool`` message, which submits it;
    - any other (a CUPS queue past its history, an ippeveprinter restarted) may have printed it, so the job is
      PARKED with the facts for ``plant job reprint|printed`` (:func:`~plant.ledger.jobs.park_job`: its
      pieces stay SPOOLED, with the reason code ``JOB_PARKED``).
    """
    found = printer.find(job.job_id)  # a remembered device id may be stale: the name is what counts
    if found is not None:
        return found
    proves_absence = bool(getattr(printer, "find_proves_absence", False))
    with plant.ledger.tx() as conn:
        facts = dict(open_attempt(conn, job.job_id) or {})
        facts.update(
            printer=job.printer,
            device_name=facts.get("device_name") or _device_name(printer, job.job_id),
            submit_call="returned: the printer accepted the job (SPOOLED)",
            device_record="none: the printer took the job, then lost its record of it (a restart, or its "
            "history purged); it may have printed it",
        )
        if proves_absence:
            if move_entity(
                conn,
                t.print_jobs,
                t.print_jobs.c.job_id,
                job.job_id,
                JobState.SPOOLED.value,
                JobState.SPOOLING.value,
                "printer_no_record",
                "job",
                {**facts, "device_record": "none: the printer proves it never received the job"},
            ):
                enqueue(conn, "spool", job.job_id)
                log.warning("job_unknown_to_printer_resubmitted", job=job.job_id, printer=job.printer)
        else:
            park_job(conn, job.job_id, facts, JobState.SPOOLED)
    plant.notify()
    return None


def _claim(plant, job_id: str) -> bool:
    """Claim an IMPOSED job for the press (→ SPOOLING) before anything reaches it: from here on no re-plan can
    take it back, and a job released first is never sent. A job whose press left the plan meanwhile is
    released instead (planned again elsewhere). False when the job is not to be sent."""
    with plant.ledger.tx() as conn:
        job = require_job(conn, job_id)
        if job.printer in out_of_service(conn):
            release_job(conn, job_id, f"{job.printer} is out of the plan")
            return False
        return move_entity(
            conn,
            t.print_jobs,
            t.print_jobs.c.job_id,
            job_id,
            JobState.IMPOSED.value,
            JobState.SPOOLING.value,
            "spool_claim",
            "job",
        )


def _device_name(printer, job_id: str) -> str:
    """The name ``printer`` knows the job by (``<plant id>-<job id>`` through the plant's drivers)."""
    name_of = getattr(printer, "device_name", None)
    return name_of(job_id) if callable(name_of) else job_id


def _attempt(plant, printer, job, attempted: list[bool]) -> bool:
    """Before a submit: record the attempt (committed before the call) and return True; or, when an attempt
    is open already — the printer forgot a job that may have been printed —, park the job and return False.

    An open attempt is given :data:`SUBMIT_GRACE_S` (its worker may be between the attempt and the submit),
    unless its worker is gone for sure (:func:`~plant.ledger.workers.owner_gone`: claimed dead, or a process
    of this machine that no longer lives): then no one is about to submit it, and the job goes on at once."""
    name = _device_name(printer, job.job_id)
    with plant.ledger.tx() as conn:
        facts = open_attempt(conn, job.job_id)
        wait = 0.0 if facts is None else facts["last_attempt_at"] + SUBMIT_GRACE_S - now()
        if facts is not None and wait > 0:
            if not owner_gone(conn, facts.get("worker")):  # it may be submitting it right now: look again
                plant.send("spool", job.job_id, delay_ms=int(wait * 1000) + 1)
                return False
            log.info("job_attempt_owner_dead", job=job.job_id, printer=job.printer, worker=facts["worker"])
        if facts is not None and getattr(printer, "find_proves_absence", False):
            # this printer's silence proves it never received the job (the attempt died before the hand-over):
            # a new attempt, not a guess
            log.info("job_attempt_never_arrived", job=job.job_id, printer=job.printer, attempt=facts)
            facts = None
        if facts is not None:
            park_job(
                conn,
                job.job_id,
                {
                    **facts,
                    "printer": job.printer,
                    "device_name": name,
                    "device_record": "none: the printer does not know the job",
                },
            )
            return False
        if not record_attempt(conn, job.job_id, job.printer, name, worker=current_worker()):
            return False  # parked or moved by another delivery meanwhile: not ours to submit
    attempted.append(True)
    return True


def hand_over(printer, job, *, before_submit: Callable[[], bool] | None = None, **ticket) -> JobStatus | None:
    """Submit ``job`` (its ledger row) unless ``printer`` has it already, and return the device's status of
    it. ``ticket`` holds further JobTicket fields (media, sides: :func:`~plant.stages.impose.ticket_options`).

    The printer has it when this message was delivered before, or when another delivery of it is submitting
    right now: the driver then refuses with DuplicateJob, and the job that won is the one followed.
    ``before_submit`` is called when the printer does not have the job, before the submit: False means do
    not submit (the spool stage parked the job), and None is returned.
    """
    status = printer.find(job.job_id)
    if status is None:
        if before_submit is not None and not before_submit():
            log.warning("job_not_submitted", job=job.job_id, printer=job.printer)
            return None
        try:
            status = printer.submit(
                JobTicket(job_id=job.job_id, pdf_path=job.pdf_path, sheets=job.sheets, **ticket)
            )
        except DuplicateJob:  # another delivery of this message submitted it between our find and our submit
            status = printer.status(job.job_id)
        else:
            crash_point("spool.submitted")  # the fault suite: the press has it, the ledger does not know yet
            log.info("job_spooled", job=job.job_id, printer=job.printer, sheets=job.sheets)
            return status
    log.info("job_already_on_printer", job=job.job_id, printer=job.printer, device_state=status.state.name)
    return status


def _device_state(printer, status: JobStatus) -> tuple[DeviceJob, tuple[str, ...]]:
    """The job's state as the plant shows it, with the reasons: a job waiting on a stopped printer is STOPPED.

    CUPS keeps a job on a disabled queue (or behind a jammed device) pending or processing and says why only
    on the queue; asking the printer is what tells an operator that the job waits for them.
    """
    if status.state in (DeviceJob.PENDING, DeviceJob.PROCESSING):
        printer_status = printer.printer_status()
        if printer_status.state is PrinterState.STOPPED:
            return DeviceJob.STOPPED, printer_status.reasons
    return status.state, status.reasons


def _printed(plant, job) -> None:
    """The printer says the job is done: record it and create the insert run (pieces stay SPOOLED)."""
    with plant.ledger.tx() as conn:
        if not move_entity(
            conn,
            t.print_jobs,
            t.print_jobs.c.job_id,
            job.job_id,
            JobState.SPOOLED.value,
            JobState.PRINTED.value,
            "printer_completed",
            "job",
            device_state="COMPLETED",
        ):
            return
        run_id, inserter = open_insert_run(conn, plant.settings, job, plant.inserters)
    log.info("job_printed", job=job.job_id, printer=job.printer, run=run_id, inserter=inserter)
    plant.notify()


def _failed_on_printer(plant, job, status) -> None:
    """The printer cancelled or aborted the job: its pieces are spoiled and go back to be planned again."""
    with plant.ledger.tx() as conn:
        if not move_entity(
            conn,
            t.print_jobs,
            t.print_jobs.c.job_id,
            job.job_id,
            JobState.SPOOLED.value,
            JobState.FAILED.value,
            "printer_failed",
            "job",
            {"device_state": status.state.name, "message": status.message},
            device_state=status.state.name,
        ):
            return
        rows = [r for r in job_pieces(conn, job.job_id) if r.state == State.SPOOLED.value]
        reprint_or_fail(conn, rows, Event.SPOIL, State.SPOOLED, f"printer {job.printer}: {status.message}")
        enqueue(conn, "plan", job.submission_id)
        enqueue(conn, "receipts", job.submission_id)
    log.warning("job_failed_on_printer", job=job.job_id, printer=job.printer, state=status.state.name)
    plant.notify()


def reprint_or_fail(
    conn, rows, first_event: Event, expect: State, reason: str
) -> tuple[list[int], list[int]]:
    """Spoil ``rows`` (from ``expect`` by ``first_event``), then reprint each or fail it after ``[reprint]
    max_prints`` prints (the installed plant's settings)."""
    max_prints = current().settings.reprint.max_prints
    spoiled = move_letters(conn, [r.pk for r in rows], first_event, expect, data={"reason": reason})
    prints = {r.pk: r.prints for r in rows}
    again = [pk for pk in spoiled if prints[pk] < max_prints]
    give_up = [pk for pk in spoiled if prints[pk] >= max_prints]
    move_letters(conn, again, Event.REPRINT, State.SPOILED, data={"reason": reason})
    move_letters(
        conn,
        give_up,
        Event.FAIL,
        State.SPOILED,
        extra={
            "reason_code": "SPOILED_REPEATEDLY",
            "reason": f"spoiled {max_prints} times, last: {reason}; check the printer and inserter, "
            "then resubmit the letter.",
        },
    )
    return again, give_up
