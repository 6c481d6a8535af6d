"""The printer vocabulary: IPP numbering, tickets, and errors that tell the operator what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from printers import (
    InvalidJobId,
    InvalidTicket,
    JobState,
    JobTicket,
    PrinterError,
    PrinterState,
    PrinterStatus,
    PrinterStopped,
)


@pytest.mark.parametrize(
    ("state", "number"),
    [
        (JobState.PENDING, 3),
        (JobState.HELD, 4),
        (JobState.PROCESSING, 5),
        (JobState.STOPPED, 6),
        (JobState.CANCELED, 7),
        (JobState.ABORTED, 8),
        (JobState.COMPLETED, 9),
    ],
)
def test_job_states_use_ipp_numbers(state, number):
    """Job states carry the IPP job-state numbers, so CUPS values need no translation."""
    assert int(state) == number


def test_printer_states_use_ipp_numbers():
    """Printer states carry the IPP printer-state numbers."""
    assert [int(s) for s in (PrinterState.IDLE, PrinterState.PROCESSING, PrinterState.STOPPED)] == [3, 4, 5]


def test_only_canceled_aborted_completed_are_final():
    """is_final holds exactly for the three end states."""
    assert {s for s in JobState if s.is_final} == {JobState.CANCELED, JobState.ABORTED, JobState.COMPLETED}


@pytest.mark.parametrize("state", list(JobState))
def test_job_state_parses_its_keyword_and_number(state):
    """A state written as IPP keyword or number reads back as itself."""
    assert JobState.parse(state.keyword) is state
    assert JobState.parse(int(state)) is state


@pytest.mark.parametrize("job_id", ["", "a/b", "../x", ".hidden", "printer", "x" * 129, "a b"])
def test_ticket_refuses_ids_that_are_not_safe_job_names(job_id):
    """A job id that could escape the folder or collide with protocol files is refused."""
    with pytest.raises(InvalidJobId):
        JobTicket(job_id=job_id, pdf_path=Path("x.pdf"), sheets=1)


def test_ticket_refuses_unknown_sides():
    """An unknown `sides` value is a ticket error naming the accepted values."""
    with pytest.raises(InvalidTicket, match="two-sided-long-edge"):
        JobTicket(job_id="J-1", pdf_path=Path("x.pdf"), sheets=1, sides="both")


def test_printer_stopped_message_names_the_fix():
    """PrinterStopped carries printer and reasons, and its message says what to do."""
    error = PrinterStopped(printer="press-2", reasons=("media-jam",))
    assert isinstance(error, PrinterError)
    assert error.printer == "press-2" and error.reasons == ("media-jam",)
    assert str(error) == "Printer 'press-2' is stopped (media-jam); clear the jam, then the job resumes."


def test_printer_status_raises_when_stopped():
    """raise_if_stopped turns a STOPPED printer status into PrinterStopped with its reasons."""
    status = PrinterStatus("press-2", PrinterState.STOPPED, ("cover-open-error",), 0)
    with pytest.raises(PrinterStopped, match="close the cover"):
        status.raise_if_stopped()
