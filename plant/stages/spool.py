"""Stages ``spool(job_id)`` and ``follow_print(job_id)``: hand a job to its printer, follow it to the end.

Spooling is the physical step that must never run twice: before submitting, the driver asks the device
whether a job of that name exists. A printer reporting "completed" does not make pieces PRINTED (only a read
of their sheets downstream does); it makes the job ready for its insert run.
"""

from __future__ import annotations

import structlog
from sqlalchemy import func, insert, select, update

from plant.ledger import enqueue, move_entity, move_letters, now
from plant.ledger import schema as t
from plant.model import Event, JobState, RunState, State, run_name
from plant.runtime import current
from plant.stages.impose import job_pieces, load_job
from printers import JobState as DeviceJob
from printers import JobTicket

log = structlog.get_logger(__name__)

#: Times a piece is printed before the plant stops reprinting it and fails it for an operator to look at.
MAX_PRINTS = 3


def spool(job_id: str) -> None:
    """Submit an IMPOSED job to its printer (once), then follow it."""
    plant = current()
    with plant.ledger.read() as conn:
        job = load_job(conn, job_id)
        if job is None or job.state != JobState.IMPOSED.value:
            return
        rows = [r for r in job_pieces(conn, job_id) if r.state == State.IMPOSED.value]
    printer = plant.printers[job.printer]
    status = printer.find(job_id)
    if status is None:
        status = printer.submit(JobTicket(job_id=job_id, pdf_path=job.pdf_path, sheets=job.sheets))
        log.info("job_spooled", job=job_id, printer=job.printer, sheets=job.sheets)
    else:
        log.info("job_already_on_printer", job=job_id, printer=job.printer, device_state=status.state.name)
    with plant.ledger.tx() as conn:
        if move_entity(conn, t.print_jobs, t.print_jobs.c.job_id, job_id, JobState.IMPOSED.value,
                       JobState.SPOOLED.value, "spool", "job", {"printer": job.printer},
                       device_state=status.state.name):
            moved = move_letters(conn, [r.pk for r in rows], Event.SPOOL, State.IMPOSED, data={"job": job_id})
            conn.execute(update(t.pieces).where(t.pieces.c.letter_pk.in_(moved))
                         .values(prints=t.pieces.c.prints + 1))
            enqueue(conn, "follow_print", job_id)
    plant.notify()


def follow_print(job_id: str) -> None:
    """Ask the printer how the job stands; on completion create its insert run, else look again later."""
    plant = current()
    with plant.ledger.read() as conn:
        job = load_job(conn, job_id)
    if job is None or job.state != JobState.SPOOLED.value:
        return
    status = plant.printers[job.printer].status(job_id)
    if status.state is DeviceJob.COMPLETED:
        _printed(plant, job)
    elif status.state in (DeviceJob.CANCELED, DeviceJob.ABORTED):
        _failed_on_printer(plant, job, status)
    else:
        if status.state.name != job.device_state:
            with plant.ledger.tx() as conn:
                conn.execute(update(t.print_jobs).where(t.print_jobs.c.job_id == job_id)
                             .values(device_state=status.state.name, updated_at=now()))
            if status.state is DeviceJob.STOPPED:
                log.warning("printer_stopped", job=job_id, printer=job.printer, reasons=list(status.reasons))
        plant.send("follow_print", job_id, delay_ms=int(plant.settings.poll_interval_s * 1000))


def _printed(plant, job) -> None:
    """The printer says the job is done: record it and create the insert run (pieces stay SPOOLED)."""
    with plant.ledger.tx() as conn:
        if not move_entity(conn, t.print_jobs, t.print_jobs.c.job_id, job.job_id, JobState.SPOOLED.value,
                           JobState.PRINTED.value, "printer_completed", "job", device_state="COMPLETED"):
            return
        inserter = job.inserter if job.inserter in plant.inserters else \
            _least_loaded_inserter(conn, plant.settings.inserters, job.sheets)
        stamp = now()
        number = conn.execute(insert(t.insert_runs).values(job_id=job.job_id, inserter=inserter,
                                                           state=RunState.CREATED.value, created_at=stamp,
                                                           updated_at=stamp)
                              .returning(t.insert_runs.c.number)).scalar_one()
        run_id = run_name(number)
        conn.execute(update(t.insert_runs).where(t.insert_runs.c.number == number).values(run_id=run_id))
        enqueue(conn, "insert", run_id)
    log.info("job_printed", job=job.job_id, printer=job.printer, run=run_id, inserter=inserter)
    plant.notify()


def _failed_on_printer(plant, job, status) -> None:
    """The printer cancelled or aborted the job: its pieces are spoiled and go back to be planned again."""
    with plant.ledger.tx() as conn:
        if not move_entity(conn, t.print_jobs, t.print_jobs.c.job_id, job.job_id, JobState.SPOOLED.value,
                           JobState.FAILED.value, "printer_failed", "job",
                           {"device_state": status.state.name, "message": status.message},
                           device_state=status.state.name):
            return
        rows = [r for r in job_pieces(conn, job.job_id) if r.state == State.SPOOLED.value]
        reprint_or_fail(conn, rows, Event.SPOIL, State.SPOOLED, f"printer {job.printer}: {status.message}")
        enqueue(conn, "plan", job.submission_id)
        enqueue(conn, "receipts", job.submission_id)
    log.warning("job_failed_on_printer", job=job.job_id, printer=job.printer, state=status.state.name)
    plant.notify()


def reprint_or_fail(conn, rows, first_event: Event, expect: State, reason: str) -> tuple[list[int], list[int]]:
    """Spoil ``rows`` (from ``expect`` by ``first_event``), then reprint each or fail it after MAX_PRINTS."""
    spoiled = move_letters(conn, [r.pk for r in rows], first_event, expect, data={"reason": reason})
    prints = {r.pk: r.prints for r in rows}
    again = [pk for pk in spoiled if prints[pk] < MAX_PRINTS]
    give_up = [pk for pk in spoiled if prints[pk] >= MAX_PRINTS]
    move_letters(conn, again, Event.REPRINT, State.SPOILED, data={"reason": reason})
    move_letters(conn, give_up, Event.FAIL, State.SPOILED,
                 extra={"reason_code": "SPOILED_REPEATEDLY",
                        "reason": f"spoiled {MAX_PRINTS} times, last: {reason}; check the printer and inserter, "
                                  "then resubmit the letter."})
    return again, give_up


def _least_loaded_inserter(conn, inserters, sheets: int) -> str:
    busy = dict(conn.execute(select(t.insert_runs.c.inserter, func.count())
                             .where(t.insert_runs.c.state != RunState.RECONCILED.value)
                             .group_by(t.insert_runs.c.inserter)).all())
    return min(inserters, key=lambda i: (busy.get(i.name, 0) + 1) / i.envelopes_per_hour).name
