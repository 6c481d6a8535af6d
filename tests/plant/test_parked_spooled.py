"""A SPOOLED job whose printer lost its record of it (ippeveprinter restarted after printing it) is parked by
``follow_print`` like a SPOOLING one after an attempt (issue 12, hole 3): its letters, SPOOLED, carry
``JOB_PARKED`` for ``plant status`` and the receipts; the operator's reprint prints it once more with the
second hand-over in the ledger (the job's second → SPOOLED event, one more print on each piece), and
"printed" sends it on to insertion with no second print. Either way each piece is read downstream once."""

from __future__ import annotations

import importlib
from collections import Counter

import pytest
from sqlalchemy import select

from plant.ledger import schema as t
from plant.ledger.jobs import JOB_PARKED
from plant.ledger.reads import receipt_rows
from plant.operator import job_printed, job_reprint, parked
from plant.stages.impose import impose
from plant.stages.insert import follow_insert, insert
from plant.stages.spool import follow_print, spool
from printers.drivers.simulated import SimulatedPress, press_books
from tests.plant.operating import jobs, operating, outbox, pieces, planned, rows

spool_stage = importlib.import_module("plant.stages.spool")


@pytest.fixture
def plant(settings, small_batch, monkeypatch):
    monkeypatch.setattr(spool_stage, "SUBMIT_GRACE_S", 0.0)
    with operating(settings, small_batch) as current:
        yield current


def job_row(plant, job_id):
    return jobs(plant, t.print_jobs.c.job_id == job_id)[0]


def job_events(plant, job_id) -> list:
    return rows(
        plant,
        select(t.events.c.event, t.events.c.from_state, t.events.c.to_state, t.events.c.data)
        .where(t.events.c.entity == "job", t.events.c.entity_id == job_id)
        .order_by(t.events.c.id),
    )


def letter_events(plant, pk: int) -> list[str]:
    return [
        r.event
        for r in rows(
            plant,
            select(t.events.c.event)
            .where(t.events.c.entity == "letter", t.events.c.entity_id == str(pk))
            .order_by(t.events.c.id),
        )
    ]


def press(plant, job) -> SimulatedPress:
    config = next(p for p in plant.settings.printers if p.name == job.printer)
    return SimulatedPress(job.printer, plant.settings.printer_folder(config), 6000, time_scale=0)


def sheets_out(plant, job) -> Counter:
    """The press's own books: how often each sheet of the job came out (read from the file: a press opened on
    the folder would write the forgotten job's status again from its books)."""
    config = next(p for p in plant.settings.printers if p.name == job.printer)
    return Counter(
        r.get("sheet")
        for r in press_books(plant.settings.printer_folder(config), "sheet")
        if r.get("outcome") == "out" and str(r.get("job", "")).endswith(job.job_id)
    )


def printed_then_forgotten(plant):
    """A job handed to its press, printed, then forgotten by the press (its job records gone, its books
    kept); ``follow_print`` finds no record and parks it."""
    planned(plant)
    job = jobs(plant)[0]
    impose(job.job_id)
    spool(job.job_id)
    press(plant, job).step()
    assert sheets_out(plant, job) and set(sheets_out(plant, job).values()) == {1}
    folder = plant.settings.printer_folder(next(p for p in plant.settings.printers if p.name == job.printer))
    for path in folder.rglob("*"):
        if path.is_file() and job.job_id in path.name:
            path.unlink()
    driver = plant.printers[job.printer]
    driver.find_proves_absence = False  # an ippeveprinter's silence proves nothing
    assert driver.find(job.job_id) is None
    follow_print(job.job_id)
    return job_row(plant, job.job_id)


def to_the_envelopes(plant, job) -> None:
    """Let the job's insert run go through its inserter and be reconciled."""
    (run,) = rows(plant, select(t.insert_runs).where(t.insert_runs.c.job_id == job.job_id))
    insert(run.run_id)
    plant.inserters[run.inserter].step()
    follow_insert(run.run_id)


def spools(plant, job_id) -> int:
    """Hand-overs of the job to a press, as the fault suite's checker counts them (→ SPOOLED events)."""
    return sum(1 for e in job_events(plant, job_id) if e.to_state == "SPOOLED")


def test_the_letters_of_a_spooled_job_parked_by_follow_print_show_job_parked(plant):
    job = printed_then_forgotten(plant)
    assert job.state == "PARKED"
    (park,) = [e for e in job_events(plant, job.job_id) if e.event == "parked"]
    assert (park.from_state, park.to_state) == ("SPOOLED", "PARKED")
    members = pieces(plant, t.pieces.c.job_id == job.job_id)
    assert members and {(p.state, p.reason_code) for p in members} == {("SPOOLED", JOB_PARKED)}
    assert all(f"plant job reprint {job.job_id}" in p.reason for p in members)
    assert all("job_parked" in letter_events(plant, p.pk) for p in members)
    with plant.ledger.read() as conn:
        receipts = {r["tracking_id"]: r for r in receipt_rows(conn, job.submission_id)}
    assert {receipts[p.tracking_id]["code"] for p in members} == {JOB_PARKED}
    assert outbox(plant, "receipts")[(job.submission_id,)] >= 1
    (line,) = parked(plant.ledger)
    assert line.identifier == job.job_id and "lost its record" in members[0].reason


def test_reprint_of_a_job_parked_from_spooled_prints_it_once_more_and_finishes_its_letters_once(plant):
    job = printed_then_forgotten(plant)
    members = pieces(plant, t.pieces.c.job_id == job.job_id)
    assert job_reprint(plant.ledger, job.job_id, "no sheets in the tray", by="maria").done
    after = pieces(plant, t.pieces.c.job_id == job.job_id)
    assert {(p.state, p.reason_code, p.prints) for p in after} == {("SPOOLED", None, 2)}
    spool(job.job_id)
    spool(job.job_id)  # delivered twice: handed over once
    assert job_row(plant, job.job_id).state == "SPOOLED"
    press(plant, job).step()
    assert set(sheets_out(plant, job).values()) == {2}  # the press printed it twice in all
    assert spools(plant, job.job_id) == 2  # and the ledger allows both prints
    assert {p.prints for p in pieces(plant, t.pieces.c.job_id == job.job_id)} == {2}
    follow_print(job.job_id)
    assert job_row(plant, job.job_id).state == "PRINTED"
    to_the_envelopes(plant, job)
    for piece in members:
        events = letter_events(plant, piece.pk)
        assert events.count("read_downstream") == 1 and events.count("insert") == 1
        assert events.count("spool") == 1 and events.count("job_reprint") == 1
    assert {p.state for p in pieces(plant, t.pieces.c.job_id == job.job_id)} == {"INSERTED"}
    (reprint,) = [e for e in job_events(plant, job.job_id) if e.event == "operator_reprint"]
    assert reprint.data["by"] == "maria" and reprint.data["parked_from"] == "SPOOLED"


def test_printed_of_a_job_parked_from_spooled_sends_it_on_without_a_second_print(plant):
    job = printed_then_forgotten(plant)
    members = pieces(plant, t.pieces.c.job_id == job.job_id)
    outcome = job_printed(plant.ledger, plant.settings, job.job_id, "sheets found in tray 2", by="ali")
    assert outcome.done and outcome.message.startswith(f"{len(members)} piece(s) go on to insertion")
    assert job_row(plant, job.job_id).state == "PRINTED"
    after = pieces(plant, t.pieces.c.job_id == job.job_id)
    assert {(p.state, p.reason_code, p.prints) for p in after} == {("SPOOLED", None, 1)}
    spool(job.job_id)  # a late spool message: nothing reaches the press
    assert spools(plant, job.job_id) == 1 and set(sheets_out(plant, job).values()) == {1}
    to_the_envelopes(plant, job)
    for piece in members:
        events = letter_events(plant, piece.pk)
        assert events.count("read_downstream") == 1 and events.count("insert") == 1
        assert events.count("job_marked_printed") == 1
    assert {p.state for p in pieces(plant, t.pieces.c.job_id == job.job_id)} == {"INSERTED"}
