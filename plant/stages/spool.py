"""Stages ``spool(job_id)`` and ``follow_print(job_id)``: hand a job to its printer, follow it to the end.

Spooling is the physical step that must never run twice: before submitting, the driver asks the device
whether a job of that name exists, and a submit that loses a race for the name follows the job that won. A
printer reporting "completed" does not make pieces PRINTED (only a read of their sheets downstream does); it
makes the job ready for its insert run. A job waiting on a stopped printer is shown STOPPED, with the
printer's reasons, until an operator fixes the printer.
"""

from __future__ import annotations

import structlog
from sqlalchemy import insert, update

from plant.fleet.runs import choose_inserter
from plant.fleet.service import out_of_service
from plant.ledger import append_event, enqueue, move_entity, move_letters, now
from plant.ledger import schema as t
from plant.ledger.jobs import job_pieces, load_job, release_job, require_job
from plant.model import Event, JobState, RunState, State, run_name
from plant.stages.context import current
from plant.stages.impose import ticket_options
from printers import DuplicateJob, JobStatus, JobTicket, PrinterState, PrinterStopped
from printers import JobState as DeviceJob

log = structlog.get_logger(__name__)


def spool(job_id: str) -> None:
    """Submit an IMPOSED job to its printer (once), then follow it."""
    plant = current()
    with plant.ledger.read() as conn:
        job = load_job(conn, job_id)
        if job is None or job.state not in (JobState.IMPOSED.value, JobState.SPOOLING.value):
            return
        rows = [r for r in job_pieces(conn, job_id) if r.state == State.IMPOSED.value]
    if job.state == JobState.IMPOSED.value and not _claim(plant, job_id):
        return  # released for re-planning (a press out of the plan, an operator's hold) before we claimed it
    status = hand_over(
        plant.printers[job.printer],
        job,
        **ticket_options(plant.settings, job.printer, duplex=bool(job.duplex)),
    )
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
    """Ask the printer how the job stands; on completion create its insert run, else look again later."""
    plant = current()
    with plant.ledger.read() as conn:
        job = load_job(conn, job_id)
    if job is None or job.state != JobState.SPOOLED.value:
        return
    printer = plant.printers[job.printer]
    status = printer.status(job_id)
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


def hand_over(printer, job, **ticket) -> JobStatus:
    """Submit ``job`` (its ledger row) unless ``printer`` has it already, and return the device's status of
    it. ``ticket`` holds further JobTicket fields (media, sides: :func:`~plant.stages.impose.ticket_options`).

    The printer has it when this message was delivered before, or when another delivery of it is submitting
    right now: the driver then refuses with DuplicateJob, and the job that won is the one followed.
    """
    status = printer.find(job.job_id)
    if status is None:
        try:
            status = printer.submit(
                JobTicket(job_id=job.job_id, pdf_path=job.pdf_path, sheets=job.sheets, **ticket)
            )
        except DuplicateJob:  # another delivery of this message submitted it between our find and our submit
            status = printer.status(job.job_id)
        else:
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
        down = out_of_service(
            conn
        )  # an inserter out of the plan gets no new run: one in service that takes it
        inserter = (
            job.inserter
            if job.inserter in plant.inserters and job.inserter not in down
            else choose_inserter(conn, plant.settings, job, down) or job.inserter
        )  # none: the run waits for one
        stamp = now()
        number = conn.execute(
            insert(t.insert_runs)
            .values(
                job_id=job.job_id,
                inserter=inserter,
                state=RunState.CREATED.value,
                created_at=stamp,
                updated_at=stamp,
            )
            .returning(t.insert_runs.c.number)
        ).scalar_one()
        run_id = run_name(number)
        conn.execute(update(t.insert_runs).where(t.insert_runs.c.number == number).values(run_id=run_id))
        enqueue(conn, "insert", run_id)
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
