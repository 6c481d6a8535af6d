"""CupsPrinter against a real, unprivileged cupsd whose queues print to a real ippeveprinter
(tests/printers/cupsd.py).

A job through the lab's cupsd takes about a second (the IPP backend polls the printer), so the claims about a
printed job share one module-scoped job; every other test holds its jobs or stops its queue, and ends in ms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imposition import _pwg_reference
from imposition.pwg import SYNC, page_header
from printers import (
    CupsPrinter,
    CupsQueueUnknown,
    CupsRequestRefused,
    CupsUnreachable,
    DocumentRejected,
    DuplicateJob,
    InvalidTicket,
    JobFinished,
    JobNamesHidden,
    JobState,
    JobTicket,
    PrinterState,
    PrinterStopped,
    make_printer,
)
from tests.printers.cupsd import CupsLab, free_port, missing_binaries, stop, wait_until_final, write_pdf

#: Ticket extra that makes CUPS hold a job as it arrives, so a test can look at it before anything prints.
HELD = {"job-hold-until": "indefinite"}


def write_pwg(path: Path) -> Path:
    """A one-page, white A4 PWG raster file at 36 dpi."""
    width, height = 298, 421
    page = _pwg_reference.encode_page(np.full((height, width), 255, dtype=np.uint8))
    path.write_bytes(SYNC + page_header(width, height, 36, (595.0, 842.0), 1) + page)
    return path


@pytest.fixture(scope="module")
def printed(cups_lab, tmp_path_factory):
    """One job printed through a queue of its own: (printer, ticket, final status)."""
    queue = cups_lab.add_queue("printed")
    printer = CupsPrinter("press-printed", cups_lab.server, queue=queue)
    pdf = write_pdf(tmp_path_factory.mktemp("printed") / "job.pdf", 2, label="printed")
    ticket = JobTicket("J-printed-once", pdf, sheets=1, sides="two-sided-long-edge")
    printer.submit(ticket)
    yield printer, ticket, wait_until_final(printer, ticket.job_id)
    cups_lab.remove_queue(queue)


# -- a job printed -------------------------------------------------------------------------------------------


def test_a_submitted_job_completes(printed):
    """A PDF job through cupsd ends COMPLETED."""
    _, _, final = printed
    assert final.state is JobState.COMPLETED


def test_the_document_reaches_the_printer_byte_for_byte(printed, cups_lab):
    """ippeveprinter received exactly one document for the job, identical to the ticket's PDF."""
    _, ticket, _ = printed
    received = cups_lab.received(ticket.job_id)
    assert len(received) == 1
    assert received[0].read_bytes() == ticket.pdf_path.read_bytes()


def test_completed_says_the_data_arrived_not_that_paper_came_out(printed):
    """The completed status's message does not claim printed paper."""
    _, _, final = printed
    assert "does not prove paper came out" in final.message


def test_a_restarted_driver_finds_the_job(printed, cups_lab):
    """A new driver object (a controller after a crash) finds the job by its id, in its state."""
    printer, ticket, _ = printed
    again = CupsPrinter(printer.name, cups_lab.server, queue=printer.queue)
    found = again.find(ticket.job_id)
    assert found is not None and found.job_id == ticket.job_id and found.state is JobState.COMPLETED


def test_submitting_a_printed_job_again_is_refused(printed, cups_lab):
    """The same job id again, from the same or a restarted driver: DuplicateJob, and nothing printed twice."""
    printer, ticket, _ = printed
    for driver in (printer, CupsPrinter(printer.name, cups_lab.server, queue=printer.queue)):
        with pytest.raises(DuplicateJob, match="completed"):
            driver.submit(ticket)
    assert len(cups_lab.jobs_named(ticket.job_id)) == 1
    assert len(cups_lab.received(ticket.job_id)) == 1


def test_a_completed_job_cannot_be_canceled(printed):
    """Cancel of a completed job raises JobFinished, which tells the operator to pull the sheets
    downstream."""
    printer, ticket, _ = printed
    with pytest.raises(JobFinished, match="Pull its sheets"):
        printer.cancel(ticket.job_id)


def test_a_job_the_printer_refuses_ends_canceled_with_its_message(cups_printer, cups_lab, pdfs, job_id):
    """A job whose options the device refuses (paper it does not have) ends CANCELED with CUPS's message."""
    ticket = pdfs(job_id(), pages=1, media="iso_a0_841x1189mm")
    cups_printer.submit(ticket)
    final = wait_until_final(cups_printer, ticket.job_id)
    assert final.state is JobState.CANCELED and "cannot print with supplied options" in final.message
    assert cups_lab.received(ticket.job_id) == []


# -- never twice ---------------------------------------------------------------------------------------------


def test_a_racing_second_submitter_is_refused_and_leaves_no_job(cups_printer, cups_lab, pdfs, job_id):
    """A submitter that looked before the first one created its job still gets DuplicateJob; its job is
    purged."""
    ticket = pdfs(job_id(), pages=1, extra=HELD)
    cups_printer.submit(ticket)
    late = CupsPrinter(cups_printer.name, cups_lab.server, queue=cups_printer.queue)
    late.find = lambda _job_id: None  # it looked before the first job existed
    with pytest.raises(DuplicateJob, match="pending-held"):
        late.submit(ticket)
    assert list(cups_lab.jobs_named(ticket.job_id)) == [cups_printer._cups_ids[ticket.job_id]]


def test_a_job_purged_from_cups_is_not_found_any_more(cups_printer, cups_lab, pdfs, job_id):
    """Once CUPS forgot a job (cancel -x), find says so even to the driver that remembers its CUPS id."""
    ticket = pdfs(job_id(), pages=1, extra=HELD)
    cups_printer.submit(ticket)
    (cups_id,) = cups_lab.jobs_named(ticket.job_id)
    cups_lab.purge_job(cups_id)
    assert cups_printer.find(ticket.job_id) is None


def test_options_of_the_ticket_reach_cups(cups_printer, cups_lab, pdfs, job_id):
    """copies, sides and media of the ticket become the CUPS job's attributes, and the plant's id its name."""
    ticket = pdfs(job_id(), pages=2, copies=3, sides="two-sided-short-edge", media="A4", extra=HELD)
    cups_printer.submit(ticket)
    (attributes,) = cups_lab.jobs_named(ticket.job_id).values()
    assert (attributes["copies"], attributes["sides"], attributes["media"]) == (
        3,
        "two-sided-short-edge",
        "iso_a4_210x297mm",
    )


# -- hold, release, cancel -----------------------------------------------------------------------------------


def test_a_held_job_can_be_canceled(cups_printer, cups_lab, pdfs, job_id):
    """A held job cancels to CANCELED, canceling it again is a no-op, and the printer never gets it."""
    ticket = pdfs(job_id(), pages=1, extra=HELD)
    assert cups_printer.submit(ticket).state is JobState.HELD
    cups_printer.cancel(ticket.job_id)
    cups_printer.cancel(ticket.job_id)
    assert cups_printer.status(ticket.job_id).state is JobState.CANCELED
    assert cups_lab.received(ticket.job_id) == []


def test_hold_keeps_a_pending_job_and_release_requeues_it(cups_printer, cups_lab, pdfs, job_id):
    """On a stopped queue a job waits PENDING; hold makes it HELD, release makes it PENDING again."""
    cups_lab.admin("cupsdisable", cups_printer.queue)
    ticket = pdfs(job_id(), pages=1)
    assert cups_printer.submit(ticket).state is JobState.PENDING
    cups_printer.hold(ticket.job_id)
    assert cups_printer.status(ticket.job_id).state is JobState.HELD
    cups_printer.release(ticket.job_id)
    assert cups_printer.status(ticket.job_id).state is JobState.PENDING


def test_a_released_job_prints(cups_printer, cups_lab, pdfs, job_id):
    """A job submitted held prints once released."""
    ticket = pdfs(job_id(), pages=1, extra=HELD)
    cups_printer.submit(ticket)
    cups_printer.release(ticket.job_id)
    assert wait_until_final(cups_printer, ticket.job_id).state is JobState.COMPLETED
    assert len(cups_lab.received(ticket.job_id)) == 1


def test_holding_a_canceled_job_is_refused(cups_printer, pdfs, job_id):
    """Hold of a job that ended names the state it is in."""
    ticket = pdfs(job_id(), pages=1, extra=HELD)
    cups_printer.submit(ticket)
    cups_printer.cancel(ticket.job_id)
    with pytest.raises(CupsRequestRefused, match="already canceled"):
        cups_printer.hold(ticket.job_id)


# -- the printer's state -------------------------------------------------------------------------------------


def test_an_idle_queue_reads_idle(cups_printer):
    """A fresh enabled queue with no jobs is IDLE with no reasons."""
    status = cups_printer.printer_status()
    assert (status.state, status.reasons, status.queued_jobs) == (PrinterState.IDLE, (), 0)


def test_a_disabled_queue_reads_stopped_with_its_reason(cups_printer, cups_lab):
    """cupsdisable makes the printer STOPPED with reason 'paused', and raise_if_stopped names the fix."""
    cups_lab.admin("cupsdisable", cups_printer.queue)
    status = cups_printer.printer_status()
    assert status.state is PrinterState.STOPPED and "paused" in status.reasons
    with pytest.raises(PrinterStopped, match="resume the printer"):
        status.raise_if_stopped()


def test_jobs_waiting_on_a_stopped_queue_are_counted(cups_printer, cups_lab, pdfs, job_id):
    """queued_jobs counts the jobs CUPS holds for the queue."""
    cups_lab.admin("cupsdisable", cups_printer.queue)
    for _ in range(2):
        cups_printer.submit(pdfs(job_id(), pages=1))
    assert cups_printer.printer_status().queued_jobs == 2


# -- errors that say what to do ------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["submit", "find", "printer_status"])
def test_an_unknown_queue_is_named_with_the_fix(cups_lab, pdfs, call):
    """Every entry point on a queue CUPS does not have raises CupsQueueUnknown naming the queue and
    lpadmin."""
    printer = CupsPrinter("press-x", cups_lab.server, queue="no-such-queue")
    args = {"submit": (pdfs("J-unknown-queue", pages=1),), "find": ("J-1",), "printer_status": ()}[call]
    with pytest.raises(CupsQueueUnknown, match="no queue 'no-such-queue'.*lpadmin"):
        getattr(printer, call)(*args)


def test_an_unreachable_server_is_named_with_the_fix(pdfs):
    """A server nobody listens on raises CupsUnreachable naming it and saying to start cupsd or fix the
    config."""
    server = f"127.0.0.1:{free_port()}"
    with pytest.raises(CupsUnreachable, match=f"{server}.*start cupsd there"):
        CupsPrinter("press-x", server, queue="q").printer_status()


def test_a_server_that_goes_away_is_reported_unreachable():
    """A driver already connected to a cupsd that stops raises CupsUnreachable on its next request."""
    if missing_binaries():
        pytest.skip(f"needs {', '.join(missing_binaries())}")
    lab = CupsLab().start()
    try:
        printer = CupsPrinter("press-gone", lab.server, queue=lab.add_queue("gone"))
        printer.printer_status()
        stop(lab.processes[-1])  # cupsd, the last process the lab started
        with pytest.raises(CupsUnreachable, match="start cupsd there"):
            printer.printer_status()
    finally:
        lab.stop()


def test_a_missing_file_is_a_ticket_error_and_creates_no_job(cups_printer, cups_lab, tmp_path, job_id):
    """A ticket whose document does not exist raises InvalidTicket naming the path, before CUPS sees a job."""
    name = job_id()
    with pytest.raises(InvalidTicket, match="does not exist"):
        cups_printer.submit(JobTicket(name, tmp_path / "gone.pdf", sheets=1))
    assert cups_lab.jobs_named(name) == {}


def test_a_document_the_queue_cannot_print_is_rejected_and_leaves_no_job(cups_lab, cups_queue, pdfs, job_id):
    """A PDF to a raster-only queue raises DocumentRejected, and the refused job is gone (a fixed job may
    retry)."""
    printer = CupsPrinter("press-raster", cups_lab.server, queue=cups_queue(raster_only=True))
    ticket = pdfs(job_id(), pages=1)
    with pytest.raises(DocumentRejected, match="as application/pdf.*format the queue takes"):
        printer.submit(ticket)
    assert printer.find(ticket.job_id) is None
    assert cups_lab.jobs_named(ticket.job_id) == {}


def test_a_pwg_raster_file_goes_as_pwg_raster(cups_lab, cups_queue, tmp_path, job_id):
    """A PWG raster document is sent as image/pwg-raster (read from its bytes), so a raster-only queue prints
    it."""
    printer = CupsPrinter("press-raster", cups_lab.server, queue=cups_queue(raster_only=True))
    name = job_id()
    printer.submit(JobTicket(name, write_pwg(tmp_path / "job.pwg"), sheets=1))
    assert wait_until_final(printer, name).state is JobState.COMPLETED
    assert [path.suffix for path in cups_lab.received(name)] == [".pwg"]


def test_a_queue_rejecting_jobs_says_to_accept_them(cups_printer, cups_lab, pdfs, job_id):
    """cupsreject makes submit raise CupsRequestRefused with the cupsaccept fix."""
    cups_lab.admin("cupsreject", cups_printer.queue)
    with pytest.raises(CupsRequestRefused, match="cupsaccept"):
        cups_printer.submit(pdfs(job_id(), pages=1))


def test_hidden_job_names_refuse_submission_and_leave_no_job(tmp_path):
    """When cupsd hides job names (its default), submit raises JobNamesHidden and purges the job it
    created."""
    if missing_binaries():
        pytest.skip(f"needs {', '.join(missing_binaries())}")
    lab = CupsLab(hide_job_names=True).start()
    try:
        printer = CupsPrinter("press-private", lab.server, queue=lab.add_queue("private"))
        ticket = JobTicket("J-hidden", write_pdf(tmp_path / "a.pdf"), sheets=1)
        with pytest.raises(JobNamesHidden, match="JobPrivateValues none"):
            printer.submit(ticket)
        assert printer.printer_status().queued_jobs == 0
    finally:
        lab.stop()


def test_make_printer_builds_a_working_cups_driver(cups_lab, cups_queue):
    """kind 'cups' from the fleet configuration gives a driver that talks to the configured queue."""
    printer = make_printer("cups", "press-9", server=cups_lab.server, queue=cups_queue())
    assert printer.printer_status().state is PrinterState.IDLE
