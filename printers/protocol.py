"""The printer role: job and printer states (IPP numbering), the job ticket, and the `Printer` protocol.

Every driver (hot folder, simulated press, later CUPS/IPP) speaks this one vocabulary, so the plant's spool
stage follows a job the same way whatever device prints it. States use the IPP numbers (RFC 8011) so a value
read from a CUPS queue needs no translation table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

from printers.errors import InvalidJobId, InvalidTicket, PrinterStopped

#: Job ids travel as job names and file names on devices, so they are restricted to a portable, safe alphabet.
JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

#: Names a job may not take because the hot-folder protocol uses them for its own files.
RESERVED_JOB_IDS = frozenset({"printer"})

#: IPP `sides` keywords and how many PDF pages each one puts on a sheet.
PAGES_PER_SHEET: Mapping[str, int] = {"one-sided": 1, "two-sided-long-edge": 2, "two-sided-short-edge": 2}


def check_job_id(job_id: str) -> str:
    """Return `job_id` if it can name a job on any device, else raise :class:`InvalidJobId`.

    Checked at every driver entry point, because the id becomes a file name and must never escape the folder.
    """
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.fullmatch(job_id) or job_id in RESERVED_JOB_IDS:
        raise InvalidJobId(str(job_id))
    return job_id


class JobState(IntEnum):
    """The state of one print job, numbered as IPP `job-state`."""

    PENDING = 3
    HELD = 4
    PROCESSING = 5
    STOPPED = 6
    CANCELED = 7
    ABORTED = 8
    COMPLETED = 9

    @property
    def is_final(self) -> bool:
        """True once the job can no longer change (canceled, aborted or completed)."""
        return self >= JobState.CANCELED

    @property
    def keyword(self) -> str:
        """The IPP keyword for this state, as written in hot-folder status files."""
        return _JOB_KEYWORDS[self]

    @classmethod
    def parse(cls, value: str | int) -> JobState:
        """Read a state given as an IPP number or keyword (raises ValueError for anything else)."""
        if isinstance(value, str) and not value.isdigit():
            return _JOB_BY_KEYWORD[value]
        return cls(int(value))


_JOB_KEYWORDS = {
    JobState.PENDING: "pending",
    JobState.HELD: "pending-held",
    JobState.PROCESSING: "processing",
    JobState.STOPPED: "processing-stopped",
    JobState.CANCELED: "canceled",
    JobState.ABORTED: "aborted",
    JobState.COMPLETED: "completed",
}
_JOB_BY_KEYWORD = {keyword: state for state, keyword in _JOB_KEYWORDS.items()}


class PrinterState(IntEnum):
    """The state of a printer, numbered as IPP `printer-state`."""

    IDLE = 3
    PROCESSING = 4
    STOPPED = 5

    @property
    def keyword(self) -> str:
        """The IPP keyword for this state, as written in hot-folder status files."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | int) -> PrinterState:
        """Read a state given as an IPP number or keyword (raises ValueError for anything else)."""
        if isinstance(value, str) and not value.isdigit():
            try:
                return cls[value.upper()]
            except KeyError:
                raise ValueError(f"unknown printer state {value!r}") from None
        return cls(int(value))


@dataclass(frozen=True)
class JobTicket:
    """One print job as the plant hands it to a printer: the print-ready PDF and how to print it.

    `sheets` is the planner's sheet count for one copy; the device prints what the PDF holds.
    `extra` carries device-specific options through untouched (it must be JSON-serialisable for hot folders).
    """

    job_id: str
    pdf_path: Path
    sheets: int
    copies: int = 1
    media: str = "A4"
    sides: str = "one-sided"
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_job_id(self.job_id)
        object.__setattr__(self, "pdf_path", Path(self.pdf_path))
        if self.sheets < 0:
            raise InvalidTicket(self.job_id, f"sheets is {self.sheets}, it cannot be negative")
        if self.copies < 1:
            raise InvalidTicket(self.job_id, f"copies is {self.copies}, it must be at least 1")
        if self.sides not in PAGES_PER_SHEET:
            raise InvalidTicket(
                self.job_id, f"sides {self.sides!r} is not one of {', '.join(PAGES_PER_SHEET)}"
            )


@dataclass(frozen=True)
class JobStatus:
    """What a device says about one job: its state, the sheets out so far, the IPP reasons and a message."""

    job_id: str
    state: JobState
    sheets_completed: int
    reasons: tuple[str, ...]
    output_path: Path | None
    message: str

    @property
    def is_final(self) -> bool:
        """True once the job can no longer change."""
        return self.state.is_final


@dataclass(frozen=True)
class PrinterStatus:
    """What a device says about itself: state, IPP printer-state-reasons and how many jobs it holds."""

    name: str
    state: PrinterState
    reasons: tuple[str, ...]
    queued_jobs: int

    def raise_if_stopped(self) -> None:
        """Raise :class:`PrinterStopped` when the printer needs an operator, so callers need no state
        table."""
        if self.state is PrinterState.STOPPED:
            raise PrinterStopped(printer=self.name, reasons=self.reasons)


@runtime_checkable
class Printer(Protocol):
    """A device that prints jobs: the role every driver plays.

    The job id is the job's name on the device, and :meth:`submit` refuses an id the device already has; with
    :meth:`find` before any resubmission this is what keeps a job from printing twice. A driver whose
    :meth:`find` answers None only for a job the device never received (not one it forgot) says so with a
    class attribute ``find_proves_absence = True``; the plant then resubmits after a crash instead of parking
    the job for an operator.
    """

    name: str

    def submit(self, ticket: JobTicket) -> JobStatus:
        """Hand the job to the device; raise DuplicateJob if it already has this job id."""
        ...

    def find(self, job_id: str) -> JobStatus | None:
        """Ask the device about a job: its status, or None if the device never received it."""
        ...

    def status(self, job_id: str) -> JobStatus:
        """The job's status; raise UnknownJob if the device does not have it."""
        ...

    def printer_status(self) -> PrinterStatus:
        """The device's own state, reasons and queue length."""
        ...

    def cancel(self, job_id: str) -> None:
        """Ask the device to cancel the job (idempotent for a job already canceled)."""
        ...


@runtime_checkable
class Withdrawable(Protocol):
    """A printer that can take a job back with proof that no sheet of it exists (optional, beside
    :class:`Printer`).

    The plant asks it for a job spooled to a press that left the plan (``plant/stages/replan.py``); a driver
    without ``withdraw`` keeps every spooled job on its press.
    """

    def withdraw(self, job_id: str) -> bool:
        """Take the job back if the device provably never started it: True when no sheet of it can exist.

        Answers from what the device reports after taking it back, so a job the device starts meanwhile
        answers False. False also for a job that did start (left alone) or that the device does not have; a
        job withdrawn before answers True again. Errors reaching the device raise, like every other call.
        """
        ...
