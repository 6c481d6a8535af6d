"""The CUPS driver's pure parts: IPP attributes to protocol states, ticket to job options, files to formats.

No cupsd here: these are the decisions the driver makes on what pycups returns (shapes as pycups returns them:
a single keyword as a string, several as a list, "none" for no reason).
"""

from __future__ import annotations

import pytest

from printers import (
    CupsPrinter,
    CupsQueueUnknown,
    CupsRequestRefused,
    CupsUnreachable,
    InvalidTicket,
    JobState,
    JobTicket,
    Printer,
    PrinterState,
    make_printer,
)
from printers.drivers.cups import job_options, job_status, parse_server
from printers.ipp_semantics import document_format, media_keyword, printer_status, stops_printer


@pytest.mark.parametrize("number", [3, 4, 5, 6, 7, 8, 9])
def test_every_ipp_job_state_maps_to_the_same_numbered_state(number):
    """CUPS job-state 3..9 (pending … completed) is JobState with the same number."""
    assert job_status("J-1", {"job-state": number}).state is JobState(number)


def test_job_reasons_come_as_a_tuple_without_none():
    """One reason (a string from pycups) or several (a list) become a tuple; 'none' is dropped."""
    assert job_status("J-1", {"job-state": 5, "job-state-reasons": "job-printing"}).reasons == (
        "job-printing",
    )
    assert job_status("J-1", {"job-state": 3, "job-state-reasons": ["none"]}).reasons == ()


def test_the_printers_message_is_kept():
    """CUPS's job-printer-state-message is the status message when it has one."""
    status = job_status(
        "J-1", {"job-state": 7, "job-printer-state-message": "Printer cannot print with supplied options."}
    )
    assert status.message == "Printer cannot print with supplied options."


def test_a_job_whose_document_never_arrived_says_it_will_not_print():
    """A job CUPS holds as 'job-incoming' (submitter died mid-way) is explained as never printing."""
    status = job_status("J-1", {"job-state": 4, "job-state-reasons": "job-incoming"})
    assert status.state is JobState.HELD and "will not print" in status.message


def test_sheets_completed_come_from_job_media_sheets_completed():
    """The sheet count is CUPS's job-media-sheets-completed, and CUPS has no output file to offer."""
    status = job_status("J-1", {"job-state": 9, "job-media-sheets-completed": 12})
    assert (status.sheets_completed, status.output_path) == (12, None)


@pytest.mark.parametrize(
    ("state", "reasons", "expected"),
    [
        (3, ["none"], PrinterState.IDLE),
        (4, ["none"], PrinterState.PROCESSING),
        (5, ["paused"], PrinterState.STOPPED),
        (4, ["media-empty-error"], PrinterState.STOPPED),
        (4, ["media-jam"], PrinterState.STOPPED),
        (4, ["toner-low-warning", "media-empty-report"], PrinterState.PROCESSING),
        (4, ["connecting-to-device"], PrinterState.PROCESSING),
        (4, ["cups-waiting-for-job-completed"], PrinterState.PROCESSING),
    ],
)
def test_printer_state_follows_cups_and_stopping_reasons(state, reasons, expected):
    """A queue is STOPPED when CUPS says so or a reason stops the device; warnings and CUPS's own notes do
    not."""
    assert printer_status("p", {"printer-state": state, "printer-state-reasons": reasons}).state is expected


def test_printer_reasons_and_queue_length_are_reported():
    """Reasons (without 'none') and queued-job-count reach PrinterStatus."""
    status = printer_status(
        "p", {"printer-state": 4, "printer-state-reasons": ["media-empty-error"], "queued-job-count": 3}
    )
    assert (status.reasons, status.queued_jobs) == (("media-empty-error",), 3)


@pytest.mark.parametrize(
    ("reason", "stops"),
    [
        ("cover-open-error", True),
        ("cover-open-warning", False),
        ("offline-report", False),
        ("shutdown", True),
        ("vendor-thing-error", True),
        ("vendor-thing", False),
    ],
)
def test_which_reasons_stop_a_printer(reason, stops):
    """'-error' always stops; a known stop reason without suffix stops; unknown suffix-less notes do not."""
    assert stops_printer(reason) is stops


def test_ticket_options_become_ipp_job_attributes(tmp_path):
    """copies, sides and media (as a PWG keyword) go to CUPS; extra options pass through as strings."""
    ticket = JobTicket(
        "J-1",
        tmp_path / "a.pdf",
        2,
        copies=2,
        sides="two-sided-long-edge",
        media="A4",
        extra={"job-priority": 80, "print-scaling": "none", "collate": True},
    )
    assert job_options(ticket) == {
        "copies": "2",
        "sides": "two-sided-long-edge",
        "media": "iso_a4_210x297mm",
        "job-priority": "80",
        "print-scaling": "none",
        "collate": "true",
    }


@pytest.mark.parametrize(
    ("media", "keyword"),
    [
        ("A4", "iso_a4_210x297mm"),
        ("Letter", "na_letter_8.5x11in"),
        ("iso_sra3_320x450mm", "iso_sra3_320x450mm"),
        ("Foolscap", None),
    ],
)
def test_media_names_become_pwg_keywords(media, keyword):
    """Paper names map to PWG 5101.1 keywords; PWG names pass through; other names have none."""
    assert media_keyword(media) == keyword


def test_unknown_media_is_a_ticket_error(tmp_path):
    """A paper name without an IPP keyword raises InvalidTicket listing the known names."""
    with pytest.raises(InvalidTicket, match="Foolscap.*A4"):
        job_options(JobTicket("J-1", tmp_path / "a.pdf", 1, media="Foolscap"))


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"%PDF-1.7\n", "application/pdf"),
        (b"RaS2PwgRaster", "image/pwg-raster"),
        (b"\x89PNG\r\n", None),
        (b"", None),
    ],
)
def test_document_format_is_read_from_the_files_first_bytes(tmp_path, head, fmt):
    """PDF and PWG raster are told apart by their magic; anything else has no format we print."""
    path = tmp_path / "doc"
    path.write_bytes(head)
    assert document_format(path) == fmt


def test_a_file_that_is_neither_pdf_nor_pwg_is_refused_before_cups(tmp_path):
    """submit refuses a PNG as an invalid ticket without contacting any server."""
    path = tmp_path / "a.pdf"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    printer = CupsPrinter("p", "127.0.0.1:1", queue="q")
    printer.find = lambda job_id: None  # nothing listens on port 1: the refusal must come first
    with pytest.raises(InvalidTicket, match="neither a PDF nor a PWG raster"):
        printer.submit(JobTicket("J-1", path, 1))


@pytest.mark.parametrize(
    ("server", "parsed"),
    [
        ("127.0.0.1:8631", ("127.0.0.1", 8631)),
        ("cups.plant.lan", ("cups.plant.lan", 631)),
        ("/run/cups/cups.sock", ("/run/cups/cups.sock", 631)),
        ("[::1]:8631", ("::1", 8631)),
    ],
)
def test_server_names_split_into_host_and_port(server, parsed):
    """host:port, a bare host (port 631), a socket path and a bracketed IPv6 address are understood."""
    assert parse_server(server) == parsed


def test_make_printer_builds_a_cups_driver_without_contacting_it():
    """kind 'cups' gives a CupsPrinter on the configured server and queue (the queue defaults to the name)."""
    printer = make_printer("cups", "press-9", server="127.0.0.1:1")
    assert isinstance(printer, CupsPrinter) and isinstance(printer, Printer)
    assert (printer.server, printer.queue) == ("127.0.0.1:1", "press-9")


def test_a_cups_printer_needs_a_server():
    """No default server: a CUPS printer that names none never reaches a real CUPS by accident."""
    with pytest.raises(ValueError, match="needs its server"):
        CupsPrinter("press-9", "")


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        (CupsUnreachable("p", "h:631", "refused"), "start cupsd there"),
        (CupsQueueUnknown("p", "h:631", "q"), "lpadmin -h h:631 -p q"),
        (CupsRequestRefused("p", "create a job", "server-error-not-accepting-jobs", "x"), "cupsaccept"),
        (CupsRequestRefused("p", "create a job", "client-error-forbidden", "x"), "<Policy>"),
        (CupsRequestRefused("p", "create a job", "server-error-internal-error", "x"), "error log"),
    ],
)
def test_cups_errors_name_the_fix(error, fix):
    """Every CUPS error message says what to do."""
    assert fix in str(error)
