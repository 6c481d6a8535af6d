"""A SPOOLED job its printer forgot (ippeveprinter restarted, a CUPS queue past its history) is dealt with by
``follow_print`` itself, at once and without raising (issue 12, hole 3): parked with the facts for
``plant job reprint|printed`` on a printer that may have printed it, submitted again on one whose silence
proves it never received the job; never left to fail on every delivery until the recovery sweep."""

from __future__ import annotations

import importlib

import pytest
from sqlalchemy import select

from plant.ledger import schema as t
from plant.model import JobState
from plant.operator import job_printed, job_reprint, parked
from plant.stages.impose import impose
from plant.stages.spool import follow_print, spool
from tests.plant.operating import jobs, operating, outbox, pieces, planned, rows

spool_stage = importlib.import_module("plant.stages.spool")


@pytest.fixture
def plant(settings, small_batch, monkeypatch):
    monkeypatch.setattr(spool_stage, "SUBMIT_GRACE_S", 0.0)
    with operating(settings, small_batch) as current:
        yield current


def state(plant, job_id) -> str:
    return jobs(plant, t.print_jobs.c.job_id == job_id)[0].state


def job_events(plant, job_id) -> list:
    return rows(
        plant,
        select(t.events.c.event, t.events.c.from_state, t.events.c.to_state, t.events.c.data)
        .where(t.events.c.entity == "job", t.events.c.entity_id == job_id)
        .order_by(t.events.c.id),
    )


def device_files(plant, job) -> list:
    folder = plant.settings.printer_folder(next(p for p in plant.settings.printers if p.name == job.printer))
    return sorted(p for p in folder.rglob("*") if p.is_file() and job.job_id in p.name)


def tickets(plant, job) -> list:
    return [p for p in device_files(plant, job) if p.name.endswith("+ticket.json")]


def spooled_job(plant):
    planned(plant)
    job = jobs(plant)[0]
    impose(job.job_id)
    spool(job.job_id)
    assert state(plant, job.job_id) == JobState.SPOOLED.value and tickets(plant, job)
    return job


def forget(plant, job, proves_absence: bool) -> None:
    """The press loses every record of the job; its silence proves absence only when told so."""
    for path in device_files(plant, job):
        path.unlink()
    driver = plant.printers[job.printer]
    driver.find_proves_absence = proves_absence
    assert driver.find(job.job_id) is None


def test_a_spooled_job_the_printer_forgot_is_parked_at_once_with_the_facts(plant):
    job = spooled_job(plant)
    forget(plant, job, proves_absence=False)
    follow_print(job.job_id)  # no UnknownJob raised to the queue
    assert state(plant, job.job_id) == JobState.PARKED.value
    (park,) = [e for e in job_events(plant, job.job_id) if e.event == "parked"]
    assert (park.from_state, park.to_state) == ("SPOOLED", "PARKED")
    facts = park.data
    assert facts["printer"] == job.printer and facts["attempts"] == 1 and facts["last_attempt_at"] > 0
    assert facts["submit_call"].startswith("returned") and facts["device_record"].startswith("none")
    assert outbox(plant, "receipts")[(job.submission_id,)] >= 1
    (line,) = parked(plant.ledger)
    assert line.identifier == job.job_id and "1 attempt(s)" in line.message
    sent = len(plant.sent)
    for _ in range(3):  # redeliveries: nothing moves, nothing is sent, nothing reaches the press
        follow_print(job.job_id)
    assert state(plant, job.job_id) == "PARKED" and len(plant.sent) == sent and device_files(plant, job) == []
    assert {p.state for p in pieces(plant, t.pieces.c.job_id == job.job_id)} == {"SPOOLED"}


def test_an_operator_reprints_the_parked_job_once(plant):
    job = spooled_job(plant)
    forget(plant, job, proves_absence=False)
    follow_print(job.job_id)
    assert job_reprint(plant.ledger, job.job_id, "no sheets in the tray", by="maria").done
    spool(job.job_id)
    spool(job.job_id)  # delivered twice: submitted once
    assert state(plant, job.job_id) == "SPOOLED" and len(tickets(plant, job)) == 1
    assert {p.state for p in pieces(plant, t.pieces.c.job_id == job.job_id)} == {"SPOOLED"}
    follow_print(job.job_id)  # followed again as any job
    assert state(plant, job.job_id) in ("SPOOLED", "PRINTED")


def test_an_operator_marks_the_parked_job_printed_and_it_goes_on_to_insertion(plant):
    job = spooled_job(plant)
    forget(plant, job, proves_absence=False)
    follow_print(job.job_id)
    assert job_printed(plant.ledger, plant.settings, job.job_id, "sheets found in tray 2", by="ali").done
    assert state(plant, job.job_id) == "PRINTED"
    members = pieces(plant, t.pieces.c.job_id == job.job_id)
    assert {(p.state, p.prints) for p in members} == {("SPOOLED", 1)}
    (run,) = rows(plant, select(t.insert_runs).where(t.insert_runs.c.job_id == job.job_id))
    assert outbox(plant, "insert")[(run.run_id,)] == 1


def test_a_printer_that_proves_it_never_had_the_job_gets_it_again_once(plant):
    """A hot folder's silence proves the ticket is not there: the documented path, submitted again (once),
    never parked."""
    job = spooled_job(plant)
    forget(plant, job, proves_absence=True)
    follow_print(job.job_id)
    assert state(plant, job.job_id) == JobState.SPOOLING.value
    (moved,) = [e for e in job_events(plant, job.job_id) if e.event == "printer_no_record"]
    assert (moved.from_state, moved.to_state) == ("SPOOLED", "SPOOLING")
    assert outbox(plant, "spool")[(job.job_id,)] >= 1
    follow_print(job.job_id)  # a late follow-up of the old hand-over does nothing
    spool(job.job_id)
    spool(job.job_id)
    assert state(plant, job.job_id) == "SPOOLED" and len(tickets(plant, job)) == 1
    events = [e.event for e in job_events(plant, job.job_id)]
    assert "parked" not in events and events.count("submit_attempt") == 2


def test_a_job_found_again_by_its_name_is_followed_not_parked(plant, monkeypatch):
    """The status lookup failed (a stale device id), but the printer has the job under its name: followed."""
    job = spooled_job(plant)
    driver = plant.printers[job.printer]

    def lost(job_id):
        raise spool_stage.UnknownJob(job.printer, job_id)

    monkeypatch.setattr(driver, "status", lost)
    follow_print(job.job_id)
    assert state(plant, job.job_id) == "SPOOLED" and "parked" not in [
        e.event for e in job_events(plant, job.job_id)
    ]
    assert plant.sent[-1] == ("follow_print", (job.job_id,))
