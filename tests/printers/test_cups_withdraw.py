"""CupsPrinter.withdraw against the real lab (cupsd + ippeveprinter): a job CUPS never started is canceled and
proven paper-free; a job that ever reached processing is left alone and answers False, and so does a job that
starts between the driver's look and its cancel — the answer is read from CUPS after the cancel.

A queue whose device is a port nothing listens on keeps its job PROCESSING (the IPP backend keeps trying),
with no impression counted: a job half-way into a device that the sheet counters cannot tell from an unstarted
one.
"""

from __future__ import annotations

import time
import uuid

import pytest

from printers import CupsPrinter, CupsQueueUnknown, InvalidJobId, JobState
from printers.ipp_semantics import never_started, withdrawn_unprinted
from printers.protocol import Withdrawable
from tests.printers.cupsd import JOB_DEADLINE_S, free_port, wait_until_final

#: Ticket extra that makes CUPS hold a job as it arrives.
HELD = {"job-hold-until": "indefinite"}
#: Attributes of a job CUPS never started, as pycups reads them (IPP no-value is None).
UNSTARTED = {
    "job-state": 7,
    "time-at-processing": None,
    "job-impressions-completed": 0,
    "job-media-sheets-completed": 0,
}


def cups_attributes(lab, cups_id: int) -> dict:
    """A job's state and processing stamp as the lab's cupsd reports them, independently of the driver."""
    return lab._connect().getJobAttributes(cups_id, requested_attributes=["job-state", "time-at-processing"])


def wait_for_job(lab, cups_id: int, predicate, what: str) -> dict:
    """Poll the job's attributes until ``predicate`` holds; fail if it never does (a bound on a hang only)."""
    deadline = time.monotonic() + JOB_DEADLINE_S
    while not predicate(attributes := cups_attributes(lab, cups_id)):
        if time.monotonic() > deadline:
            raise AssertionError(f"CUPS job {cups_id} never {what}: {attributes}")
        time.sleep(0.05)
    return attributes


def prints_after(printer: CupsPrinter, pdfs, job_id) -> str:
    """Submit a job behind the others on the queue and wait until it ends: CUPS prints a queue in order, so
    any job before it has had its turn. Returns its id."""
    later = pdfs(job_id("after"), pages=1)
    printer.submit(later)
    assert wait_until_final(printer, later.job_id).state is JobState.COMPLETED
    return later.job_id


@pytest.fixture
def dead_device_printer(cups_lab):
    """A CupsPrinter on a queue whose device never answers: a released job stays PROCESSING there.

    Each test gets a queue of its own name: CUPS keeps stubs of a removed queue's jobs in its history, without
    their names, and a driver on a new queue of the same name would rightly refuse to guess about them."""
    queue = f"dead-device-{uuid.uuid4().hex[:8]}"
    cups_lab.admin("lpadmin", "-p", queue, "-v", f"ipp://localhost:{free_port()}/ipp/print?snmp=false", "-E")
    yield CupsPrinter("press-dead", cups_lab.server, queue=queue)
    cups_lab.remove_queue(queue)


def test_the_cups_driver_offers_withdrawal():
    """CupsPrinter plays the optional Withdrawable role the plant asks a press for."""
    assert isinstance(CupsPrinter("p", "127.0.0.1:1"), Withdrawable)


# -- proven: the job never started ---------------------------------------------------------------------------


def test_a_held_job_is_withdrawn_and_never_reaches_the_printer(cups_printer, cups_lab, pdfs, job_id):
    """A held job is withdrawn with proof (True), ends CANCELED, and the printer never receives it, though a
    job queued after it prints."""
    ticket = pdfs(job_id(), pages=1, extra=HELD)
    cups_printer.submit(ticket)
    assert cups_printer.withdraw(ticket.job_id) is True
    assert cups_printer.status(ticket.job_id).state is JobState.CANCELED
    later = prints_after(cups_printer, pdfs, job_id)
    assert cups_lab.received(ticket.job_id) == [] and len(cups_lab.received(later)) == 1


def test_a_pending_job_on_a_disabled_queue_is_withdrawn(cups_printer, cups_lab, pdfs, job_id):
    """A job waiting on a paused queue is withdrawn with proof; enabled again, the queue does not print it."""
    cups_lab.admin("cupsdisable", cups_printer.queue)
    ticket = pdfs(job_id(), pages=1)
    cups_printer.submit(ticket)
    assert cups_printer.status(ticket.job_id).state is JobState.PENDING
    assert cups_printer.withdraw(ticket.job_id) is True
    cups_lab.admin("cupsenable", cups_printer.queue)
    later = prints_after(cups_printer, pdfs, job_id)
    assert cups_lab.received(ticket.job_id) == [] and len(cups_lab.received(later)) == 1


def test_a_withdrawn_job_answers_true_again(cups_printer, pdfs, job_id):
    """Asking again (a redelivered withdraw message) gives the same proof, from a restarted driver too."""
    ticket = pdfs(job_id(), pages=1, extra=HELD)
    cups_printer.submit(ticket)
    assert cups_printer.withdraw(ticket.job_id) is True
    again = CupsPrinter(cups_printer.name, cups_printer.server, queue=cups_printer.queue)
    assert cups_printer.withdraw(ticket.job_id) is True and again.withdraw(ticket.job_id) is True


# -- not proven: the job may have paper ----------------------------------------------------------------------


def test_a_completed_job_is_not_withdrawn(cups_printer, pdfs, job_id):
    """A job CUPS sent to the printer answers False and stays COMPLETED."""
    ticket = pdfs(job_id(), pages=1)
    cups_printer.submit(ticket)
    wait_until_final(cups_printer, ticket.job_id)
    assert cups_printer.withdraw(ticket.job_id) is False
    assert cups_printer.status(ticket.job_id).state is JobState.COMPLETED


@pytest.mark.parametrize(("hold", "waiting"), [(None, JobState.PENDING), ("indefinite", JobState.HELD)])
def test_a_job_waiting_again_after_it_printed_is_left_alone(
    cups_printer, cups_lab, pdfs, job_id, hold, waiting
):
    """A printed job restarted onto a paused queue (or held) waits again like a fresh one, but CUPS stamped it
    processing once: withdraw answers False and leaves it waiting — its state alone would have lied."""
    ticket = pdfs(job_id(), pages=1)
    cups_printer.submit(ticket)
    wait_until_final(cups_printer, ticket.job_id)
    cups_lab.admin("cupsdisable", cups_printer.queue)
    cups_lab._connect().restartJob(
        cups_printer._cups_ids[ticket.job_id], **({"job_hold_until": hold} if hold else {})
    )
    assert cups_printer.status(ticket.job_id).state is waiting
    assert cups_printer.withdraw(ticket.job_id) is False
    assert cups_printer.status(ticket.job_id).state is waiting


def test_a_processing_job_is_left_alone(dead_device_printer, cups_lab, pdfs, job_id):
    """A job CUPS is sending to a device (no sheet counted yet) answers False and is not canceled."""
    ticket = pdfs(job_id(), pages=1)
    dead_device_printer.submit(ticket)
    cups_id = dead_device_printer._cups_ids[ticket.job_id]
    wait_for_job(cups_lab, cups_id, lambda a: a["job-state"] == JobState.PROCESSING, "started processing")
    assert dead_device_printer.withdraw(ticket.job_id) is False
    assert dead_device_printer.status(ticket.job_id).state is JobState.PROCESSING


def test_a_job_that_starts_before_the_cancel_lands_answers_false(dead_device_printer, cups_lab, pdfs, job_id):
    """The race: the job was held when the driver looked, and CUPS started it before the cancel arrived. The
    cancel stops it half-way into the device, and the answer — read after the cancel — is False."""
    ticket = pdfs(job_id(), pages=1, extra=HELD)
    dead_device_printer.submit(ticket)
    cups_id = dead_device_printer._cups_ids[ticket.job_id]
    cancel = dead_device_printer._cancel_if_live

    def start_first(conn, target: int) -> None:
        cups_lab._connect().setJobHoldUntil(target, "no-hold")
        wait_for_job(cups_lab, target, lambda a: a["time-at-processing"] is not None, "started processing")
        cancel(conn, target)

    dead_device_printer._cancel_if_live = start_first
    assert dead_device_printer.withdraw(ticket.job_id) is False
    assert cups_attributes(cups_lab, cups_id)["job-state"] == JobState.CANCELED  # the cancel did land


def test_a_job_that_completes_before_the_cancel_lands_answers_false(cups_printer, cups_lab, pdfs, job_id):
    """The race to the end: the job finished before the cancel arrived; CUPS refuses the cancel, and withdraw
    answers False instead of raising."""
    ticket = pdfs(job_id(), pages=1, extra=HELD)
    cups_printer.submit(ticket)
    cancel = cups_printer._cancel_if_live

    def finish_first(conn, target: int) -> None:
        cups_lab._connect().setJobHoldUntil(target, "no-hold")
        wait_for_job(cups_lab, target, lambda a: a["job-state"] == JobState.COMPLETED, "completed")
        cancel(conn, target)

    cups_printer._cancel_if_live = finish_first
    assert cups_printer.withdraw(ticket.job_id) is False
    assert cups_printer.status(ticket.job_id).state is JobState.COMPLETED


# -- jobs and queues that are not there ----------------------------------------------------------------------


def test_a_job_the_queue_does_not_have_answers_false(cups_printer, cups_lab, job_id):
    """Nothing can be proven about a job CUPS does not have: False, and no job is created."""
    unknown = job_id()
    assert cups_printer.withdraw(unknown) is False
    assert cups_lab.jobs_named(unknown) == {}


def test_a_job_purged_from_cups_answers_false(cups_printer, cups_lab, pdfs, job_id):
    """A job CUPS forgot (cancel -x) answers False even to the driver that remembers its CUPS id."""
    ticket = pdfs(job_id(), pages=1, extra=HELD)
    cups_printer.submit(ticket)
    cups_lab.purge_job(cups_printer._cups_ids[ticket.job_id])
    assert cups_printer.withdraw(ticket.job_id) is False


def test_withdrawing_on_a_queue_that_does_not_exist_says_so(cups_lab):
    """A wrong queue is an error naming it, not a quiet False."""
    with pytest.raises(CupsQueueUnknown, match="no-such-queue"):
        CupsPrinter("press-x", cups_lab.server, queue="no-such-queue").withdraw("J-1")


def test_an_invalid_job_id_is_refused():
    """The job id is checked before anything is asked of CUPS."""
    with pytest.raises(InvalidJobId):
        CupsPrinter("press-x", "127.0.0.1:1").withdraw("../J-1")


# -- the decision, on attribute tables -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "proven"),
    [
        ({}, True),
        ({"time-at-processing": 1795314156}, False),  # entered processing once
        ({"job-impressions-completed": 1}, False),  # an impression counted
        ({"job-media-sheets-completed": 1}, False),  # a sheet counted
        ({"job-state": 9}, False),  # completed, not canceled
        ({"job-state": 8}, False),  # aborted, not withdrawn
    ],
)
def test_only_a_canceled_never_started_job_is_proven_unprinted(change, proven):
    """The proof needs the cancel, an empty processing stamp and no counted impression or sheet."""
    assert withdrawn_unprinted({**UNSTARTED, **change}) is proven


def test_a_job_without_a_processing_stamp_proves_nothing():
    """A missing time-at-processing (not an empty one) is no proof that the job never started."""
    attributes = {key: value for key, value in UNSTARTED.items() if key != "time-at-processing"}
    assert never_started(attributes) is False
