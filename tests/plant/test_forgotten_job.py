"""A job its printer forgot after a submission attempt is parked for an operator, never printed again on a
guess (issue 12, hole 3): the attempt is recorded before the driver's submit, a retry that finds no record at
the device parks the job with the facts, and only an operator's reprint or "printed" moves it on."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from plant.ledger import schema as t
from plant.ledger.jobs import JOB_PARKED
from plant.model import JobState
from plant.operator import job_printed, job_reprint, parked
from plant.stages.impose import impose
from plant.stages.insert import printed_sheets
from plant.stages.spool import spool
from tests.plant.operating import jobs, operating, outbox, pieces, planned, rows

spool_stage = importlib.import_module("plant.stages.spool")  # the package exports the actor under this name


class Crash(BaseException):
    """The worker dies right after the driver's submit returned, before the ledger commit."""


@pytest.fixture
def plant(settings, small_batch, monkeypatch):
    monkeypatch.setattr(spool_stage, "SUBMIT_GRACE_S", 0.0)  # the other delivery's grace is over at once
    with operating(settings, small_batch) as current:
        yield current


def imposed_job(plant):
    planned(plant)
    job = jobs(plant)[0]
    impose(job.job_id)
    return job


def device_files(plant, job) -> list:
    """Every file the hot folder of the job's press holds for it."""
    folder = plant.settings.printer_folder(next(p for p in plant.settings.printers if p.name == job.printer))
    return sorted(p for p in folder.rglob("*") if p.is_file() and job.job_id in p.name)


def submitted_then_crash(plant, job, monkeypatch) -> None:
    driver = plant.printers[job.printer]
    real = driver.submit

    def submit(ticket):
        real(ticket)
        raise Crash

    monkeypatch.setattr(driver, "submit", submit)
    with pytest.raises(Crash):
        spool(job.job_id)
    monkeypatch.setattr(driver, "submit", real)


def forget(plant, job) -> None:
    """The device forgets the job (a CUPS queue past its history, ippeveprinter restarted): its files go, and
    its silence no longer proves it never received the job (a hot folder's would)."""
    for path in device_files(plant, job):
        path.unlink()
    driver = plant.printers[job.printer]
    driver.find_proves_absence = False
    assert driver.find(job.job_id) is None


def job_events(plant, job_id) -> list:
    return rows(
        plant,
        select(t.events.c.event, t.events.c.data)
        .where(t.events.c.entity == "job", t.events.c.entity_id == job_id)
        .order_by(t.events.c.id),
    )


def state(plant, job_id) -> str:
    return jobs(plant, t.print_jobs.c.job_id == job_id)[0].state


def parked_job(plant, monkeypatch):
    job = imposed_job(plant)
    submitted_then_crash(plant, job, monkeypatch)
    assert state(plant, job.job_id) == "SPOOLING" and device_files(plant, job)
    forget(plant, job)
    spool(job.job_id)  # the redelivered message
    return job


def test_a_first_submission_records_its_attempt_before_the_submit_and_prints(plant, monkeypatch):
    job = imposed_job(plant)
    driver = plant.printers[job.printer]
    real, seen = driver.submit, []

    def submit(ticket):
        seen.append([e.event for e in job_events(plant, job.job_id)])  # what the ledger held at the call
        return real(ticket)

    monkeypatch.setattr(driver, "submit", submit)
    spool(job.job_id)
    assert [events[-2:] for events in seen] == [["spool_claim", "submit_attempt"]]
    assert state(plant, job.job_id) == "SPOOLED" and driver.find(job.job_id) is not None


def test_a_forgotten_job_after_an_attempt_is_parked_with_the_facts_and_never_resubmitted(plant, monkeypatch):
    job = parked_job(plant, monkeypatch)
    assert state(plant, job.job_id) == JobState.PARKED.value
    assert device_files(plant, job) == []  # not submitted again
    (facts,) = [e.data for e in job_events(plant, job.job_id) if e.event == "parked"]
    assert facts["printer"] == job.printer and facts["attempts"] == 1 and facts["last_attempt_at"] > 0
    assert facts["submit_call"].startswith("unknown") and facts["device_record"].startswith("none")
    for _ in range(3):  # retries, a recovery's message: nothing moves, nothing reaches the press
        spool(job.job_id)
    assert state(plant, job.job_id) == "PARKED" and device_files(plant, job) == []
    members = pieces(plant, t.pieces.c.job_id == job.job_id)
    assert {(p.state, p.reason_code) for p in members} == {("IMPOSED", JOB_PARKED)}
    assert all(f"plant job reprint {job.job_id}" in p.reason for p in members)
    (line,) = parked(plant.ledger)
    assert line.identifier == job.job_id and "1 attempt(s)" in line.message


def test_a_submit_call_that_raised_is_among_the_facts(plant, monkeypatch):
    """On a printer that may forget jobs (its silence proves nothing), a submit call that raised is parked
    with what the call said."""
    job = imposed_job(plant)
    driver = plant.printers[job.printer]

    def submit(ticket):
        raise OSError("connection reset")

    monkeypatch.setattr(driver, "submit", submit)
    with pytest.raises(OSError):
        spool(job.job_id)
    monkeypatch.undo()
    monkeypatch.setattr(spool_stage, "SUBMIT_GRACE_S", 0.0)
    driver.find_proves_absence = False
    spool(job.job_id)
    (facts,) = [e.data for e in job_events(plant, job.job_id) if e.event == "parked"]
    assert facts["submit_call"] == "raised OSError: connection reset"


def test_a_retry_within_the_grace_looks_again_later_instead_of_parking(plant, monkeypatch):
    job = imposed_job(plant)
    submitted_then_crash(plant, job, monkeypatch)
    forget(plant, job)
    monkeypatch.setattr(spool_stage, "SUBMIT_GRACE_S", 3600.0)
    spool(job.job_id)
    assert state(plant, job.job_id) == "SPOOLING" and device_files(plant, job) == []
    assert plant.sent[-1] == ("spool", (job.job_id,))


def test_a_refusal_before_the_device_lets_the_next_attempt_submit(plant, monkeypatch):
    job = imposed_job(plant)
    pdf = jobs(plant, t.print_jobs.c.job_id == job.job_id)[0].pdf_path
    hidden = pdf + ".away"
    os.rename(pdf, hidden)
    with pytest.raises(Exception, match="does not exist"):
        spool(job.job_id)
    os.rename(hidden, pdf)
    spool(job.job_id)
    assert state(plant, job.job_id) == "SPOOLED" and device_files(plant, job)


def test_reprint_prints_a_parked_job_once_with_the_same_pieces(plant, monkeypatch):
    job = parked_job(plant, monkeypatch)
    before = {(p.piece_id, p.tracking_id) for p in pieces(plant, t.pieces.c.job_id == job.job_id)}
    outcome = job_reprint(plant.ledger, job.job_id, "no sheets in the output tray", by="maria")
    assert outcome.done, outcome
    assert state(plant, job.job_id) == "SPOOLING" and outbox(plant, "spool")[(job.job_id,)] >= 2
    spool(job.job_id)
    spool(job.job_id)  # the message delivered twice: printed once
    assert state(plant, job.job_id) == "SPOOLED"
    tickets = [p for p in device_files(plant, job) if p.suffix == ".json" and p.parent.name != "status"]
    assert plant.printers[job.printer].find(job.job_id) is not None and tickets
    after = pieces(plant, t.pieces.c.job_id == job.job_id)
    assert {(p.piece_id, p.tracking_id) for p in after} == before
    assert {(p.state, p.reason_code) for p in after} == {("SPOOLED", None)}
    (reprint,) = [e.data for e in job_events(plant, job.job_id) if e.event == "operator_reprint"]
    assert reprint["by"] == "maria" and reprint["reason"] == "no sheets in the output tray"
    assert [e.event for e in job_events(plant, job.job_id)].count("submit_attempt") == 2
    assert not job_reprint(plant.ledger, job.job_id).done  # no longer parked


def test_mark_printed_moves_a_parked_job_on_to_insertion(plant, monkeypatch):
    job = parked_job(plant, monkeypatch)
    assert not job_printed(plant.ledger, plant.settings, job.job_id, "  ").done  # a reason is required
    outcome = job_printed(plant.ledger, plant.settings, job.job_id, "sheets found in tray 2", by="ali")
    assert outcome.done, outcome
    assert state(plant, job.job_id) == "PRINTED" and device_files(plant, job) == []
    members = pieces(plant, t.pieces.c.job_id == job.job_id)
    assert {(p.state, p.reason_code, p.prints) for p in members} == {("SPOOLED", None, 1)}
    (run,) = rows(plant, select(t.insert_runs).where(t.insert_runs.c.job_id == job.job_id))
    assert outbox(plant, "insert")[(run.run_id,)] == 1
    (marked,) = [e.data for e in job_events(plant, job.job_id) if e.event == "operator_printed"]
    assert marked["by"] == "ali" and marked["reason"] == "sheets found in tray 2"
    spool(job.job_id)  # a late spool message does nothing
    assert state(plant, job.job_id) == "PRINTED" and device_files(plant, job) == []
    # the press has no record of the job: the insert line gets the job file as the printed sheets
    (row,) = rows(plant, select(t.print_jobs).where(t.print_jobs.c.job_id == job.job_id))
    assert printed_sheets(plant, row) == Path(row.pdf_path)


def test_an_attempt_that_died_before_the_hand_over_is_submitted_again_when_the_printer_proves_it_never_came(
    plant, monkeypatch
):
    """The worker died after recording the attempt but before the driver's submit: a hot folder's silence
    proves the ticket was never written, so the redelivered message submits the job (once) instead of parking
    it — a CUPS-like printer that may have forgotten it is parked (above)."""
    job = imposed_job(plant)
    driver = plant.printers[job.printer]
    real = driver.submit

    def crash_first(ticket):
        raise Crash

    monkeypatch.setattr(driver, "submit", crash_first)
    with pytest.raises(Crash):
        spool(job.job_id)
    monkeypatch.setattr(driver, "submit", real)
    assert state(plant, job.job_id) == "SPOOLING" and device_files(plant, job) == []
    spool(job.job_id)  # the redelivered message
    assert state(plant, job.job_id) == "SPOOLED"
    events = [e.event for e in job_events(plant, job.job_id)]
    assert events.count("submit_attempt") == 2 and "parked" not in events
    assert len([p for p in device_files(plant, job) if p.name.endswith("+ticket.json")]) == 1
