"""The hot-folder driver: atomic drops, no duplicate jobs, and status read back from what the RIP writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from printers import (
    DuplicateJob,
    HotFolderMissing,
    HotFolderPrinter,
    InvalidTicket,
    JobFinished,
    JobState,
    PrinterState,
    StatusUnreadable,
    UnknownJob,
    _files,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An empty hot folder."""
    path = tmp_path / "hot"
    path.mkdir()
    return path


@pytest.fixture
def printer(folder: Path) -> HotFolderPrinter:
    """A driver on the empty hot folder."""
    return HotFolderPrinter("rip-1", folder)


def write_rip_status(folder: Path, job_id: str, **record) -> None:
    """Write a status file the way a RIP would."""
    (folder / "status").mkdir(exist_ok=True)
    (folder / "status" / f"{job_id}.json").write_text(json.dumps(record))


def test_submit_makes_ticket_visible_only_after_complete_pdf(printer, folder, pdfs, monkeypatch):
    """At every name that appears in the folder, a ticket appears only after its PDF is complete under its
    final name (the PDF is renamed into place, the ticket linked)."""
    ticket = pdfs("J-1", pages=4)
    seen = []
    real_replace, real_link = os.replace, os.link

    def spy(real):
        def call(src, dst):
            dst = Path(dst)
            pdf = folder / "J-1.pdf"
            if dst.parent == folder:  # the driver's own files live in submitted/, out of the RIP's view
                seen.append(
                    (
                        dst.name,
                        pdf.exists() and pdf.read_bytes() == ticket.pdf_path.read_bytes(),
                        (folder / "J-1.json").exists(),
                    )
                )
            real(src, dst)

        return call

    monkeypatch.setattr(_files.os, "replace", spy(real_replace))
    monkeypatch.setattr(_files.os, "link", spy(real_link))
    printer.submit(ticket)
    assert seen == [("J-1.pdf", False, False), ("J-1.json", True, False)]


def test_interrupted_pdf_copy_leaves_no_job_in_folder(printer, folder, pdfs, monkeypatch):
    """If the PDF copy fails halfway, neither PDF nor ticket is visible, and the id can be submitted again."""
    ticket = pdfs("J-1")

    def broken_copy(src, dst):
        dst.write(src.read(100))
        raise OSError("disk full")

    monkeypatch.setattr(_files.shutil, "copyfileobj", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        printer.submit(ticket)
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == []
    monkeypatch.undo()
    assert printer.submit(ticket).state is JobState.PENDING


def test_submit_refuses_a_job_id_the_folder_has(printer, pdfs):
    """Submitting the same job id twice raises DuplicateJob."""
    printer.submit(pdfs("J-1"))
    with pytest.raises(DuplicateJob, match="J-1"):
        printer.submit(pdfs("J-1"))


def test_submit_refuses_a_job_another_driver_instance_submitted(printer, folder, pdfs):
    """The refusal comes from the folder, not from the driver's memory (e.g. after a plant restart)."""
    printer.submit(pdfs("J-1"))
    with pytest.raises(DuplicateJob):
        HotFolderPrinter("rip-1", folder).submit(pdfs("J-1"))


def test_submit_refuses_a_job_the_rip_already_finished(printer, folder, pdfs):
    """A job the RIP completed (files gone, status written) is still a duplicate."""
    write_rip_status(folder, "J-1", state="completed", sheets_completed=3)
    with pytest.raises(DuplicateJob, match="completed"):
        printer.submit(pdfs("J-1"))


def test_find_returns_none_for_an_unknown_job(printer):
    """find says None for a job the device never received: safe to submit."""
    assert printer.find("J-404") is None


def test_find_returns_pending_for_a_job_waiting_in_the_folder(printer, pdfs):
    """A submitted job whose ticket still waits in the folder is PENDING."""
    printer.submit(pdfs("J-1"))
    assert printer.find("J-1").state is JobState.PENDING


def test_status_raises_unknown_job(printer):
    """status of a job the device does not have raises UnknownJob."""
    with pytest.raises(UnknownJob, match="J-404"):
        printer.status("J-404")


def test_status_reads_what_the_rip_wrote(printer, folder, pdfs):
    """Once the RIP writes status/<job>.json, that is the job's status (output path relative to the
    folder)."""
    printer.submit(pdfs("J-1"))
    write_rip_status(
        folder,
        "J-1",
        state="processing-stopped",
        sheets_completed=2,
        reasons=["media-jam"],
        output_path="output/J-1.pdf",
        message="jammed",
    )
    status = printer.status("J-1")
    assert (status.state, status.sheets_completed, status.reasons, status.output_path, status.message) == (
        JobState.STOPPED,
        2,
        ("media-jam",),
        folder / "output" / "J-1.pdf",
        "jammed",
    )


def test_job_taken_without_status_is_processing_unknown(printer, folder, pdfs):
    """If the RIP took the files and wrote nothing, the job is PROCESSING with an 'unknown' message."""
    printer.submit(pdfs("J-1"))
    (folder / "J-1.json").unlink()
    (folder / "J-1.pdf").unlink()
    status = printer.status("J-1")
    assert status.state is JobState.PROCESSING
    assert "status unknown" in status.message


def test_malformed_status_file_is_reported(printer, folder):
    """A status file that is not the documented format raises StatusUnreadable, not a raw parse error."""
    write_rip_status(folder, "J-1", state="exploded")
    with pytest.raises(StatusUnreadable, match="J-1.json"):
        printer.find("J-1")


def test_cancel_withdraws_a_waiting_job(printer, folder, pdfs):
    """Canceling a job still in the folder removes its files and reports it CANCELED."""
    printer.submit(pdfs("J-1"))
    printer.cancel("J-1")
    assert not (folder / "J-1.json").exists() and not (folder / "J-1.pdf").exists()
    assert printer.status("J-1").state is JobState.CANCELED


def test_cancel_of_a_taken_job_leaves_a_request_for_the_device(printer, folder, pdfs):
    """Canceling a job the RIP has taken drops control/cancel/<job> for the device to act on."""
    printer.submit(pdfs("J-1"))
    write_rip_status(folder, "J-1", state="processing")
    (folder / "J-1.json").unlink()
    printer.cancel("J-1")
    assert (folder / "control" / "cancel" / "J-1").exists()


def test_cancel_of_a_completed_job_raises(printer, folder):
    """A completed job cannot be canceled; the error says so."""
    write_rip_status(folder, "J-1", state="completed")
    with pytest.raises(JobFinished, match="already completed"):
        printer.cancel("J-1")


def test_printer_status_reads_printer_json_and_counts_queue(printer, folder, pdfs):
    """printer_status takes state and reasons from status/printer.json and counts waiting tickets."""
    printer.submit(pdfs("J-1"))
    printer.submit(pdfs("J-2"))
    (folder / "status").mkdir()
    (folder / "status" / "printer.json").write_text(
        json.dumps({"state": "stopped", "reasons": ["media-jam"]})
    )
    status = printer.printer_status()
    assert (status.state, status.reasons, status.queued_jobs) == (PrinterState.STOPPED, ("media-jam",), 2)


def test_missing_folder_is_an_operator_error(tmp_path, pdfs):
    """A hot folder that does not exist is reported, never silently created."""
    printer = HotFolderPrinter("rip-1", tmp_path / "not-mounted")
    with pytest.raises(HotFolderMissing, match="mount"):
        printer.submit(pdfs("J-1"))
    assert not (tmp_path / "not-mounted").exists()


def test_missing_pdf_is_a_ticket_error_and_claims_nothing(printer, pdfs):
    """A ticket whose PDF does not exist raises InvalidTicket, and the id stays free."""
    ticket = pdfs("J-1")
    ticket.pdf_path.unlink()
    with pytest.raises(InvalidTicket, match="does not exist"):
        printer.submit(ticket)
    assert printer.find("J-1") is None


def test_extra_options_that_are_not_json_are_refused_before_anything_is_written(printer, folder, pdfs):
    """Non-JSON extra options raise InvalidTicket and leave the folder untouched."""
    from printers import JobTicket

    ticket = pdfs("J-1")
    bad = JobTicket(ticket.job_id, ticket.pdf_path, ticket.sheets, extra={"when": object()})
    with pytest.raises(InvalidTicket, match="JSON"):
        printer.submit(bad)
    assert list(folder.iterdir()) == []
