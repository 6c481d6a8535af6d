"""Hot-folder printers: jobs are files dropped into a folder a RIP watches; status comes back as files.

The protocol, as both sides (our driver, and a RIP or the simulated press) use it::

    <folder>/<job>.pdf             the print-ready document, written first
    <folder>/<job>.json            the ticket, written last: a RIP picks a job up when its ticket appears
    <folder>/work/<job>.{pdf,json} where a device moves a job it has taken (optional for a RIP)
    <folder>/status/<job>.json     what the device reports about a job (format below)
    <folder>/status/printer.json   what the device reports about itself (format below)
    <folder>/output/<job>.pdf      the simulated press's printed sheets
    <folder>/control/cancel/<job>  a cancel request for a job the device has taken
    <folder>/control/clear         a request to clear a jam (the simulated press honours it)
    <folder>/submitted/<job>.json  the driver's receipt: this job id was claimed here

Every file appears atomically (hidden temp file, fsync, rename), so a watcher never sees half a file.

Job status file (``status/<job>.json``; unknown keys are ignored, so a RIP may add its own)::

    {"format": "plant-hotfolder-status/1", "job_id": "J-1",
     "state": "processing",            # IPP keyword (pending, processing, processing-stopped, canceled,
                                       # aborted, completed, pending-held) or the IPP number
     "sheets_completed": 12,           # sheets that came out
     "reasons": ["job-printing"],      # IPP job-state-reasons keywords
     "output_path": "output/J-1.pdf",  # optional; relative to the folder, or absolute
     "message": "printing: 12 of 40 sheets out"}

Printer status file (``status/printer.json``)::

    {"format": "plant-hotfolder-printer/1", "state": "stopped", "reasons": ["media-jam"]}

Without a status file, a job is PENDING while its ticket waits in the folder, and PROCESSING with an "unknown"
message once a RIP took it without reporting back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from printers import _files
from printers._values import as_int, as_items, as_record
from printers.drivers._common import require_job
from printers.errors import (
    DuplicateJob,
    HotFolderMissing,
    InvalidTicket,
    JobFinished,
    StatusUnreadable,
)
from printers.protocol import JobState, JobStatus, JobTicket, PrinterState, PrinterStatus, check_job_id

#: Format tag of ticket files.
TICKET_FORMAT = "plant-hotfolder-ticket/1"
#: Format tag of job status files.
STATUS_FORMAT = "plant-hotfolder-status/1"
#: Format tag of the printer status file.
PRINTER_FORMAT = "plant-hotfolder-printer/1"
#: Format tag of the driver's submission receipts.
RECEIPT_FORMAT = "plant-hotfolder-receipt/1"

#: IPP job-state-reasons while a job waits for the device.
REASONS_QUEUED = ("job-queued",)
#: IPP job-state-reasons for a job canceled on request.
REASONS_CANCELED = ("job-canceled-by-user",)
#: IPP job-state-reasons of a job withdrawn before the device took it (our vendor keyword says no sheet
#: exists).
REASONS_WITHDRAWN = ("job-canceled-by-user", "job-withdrawn-unprinted")
#: Our reason keyword (IPP allows vendor keywords) when the device took a job and says nothing about it.
REASONS_UNKNOWN = ("job-status-unknown",)
#: Seconds after which a claim whose ticket was never written is taken as abandoned (its submitter died).
ABANDONED_CLAIM_S = 120.0


@dataclass(frozen=True)
class HotFolderLayout:
    """Where each file of the hot-folder protocol lives, so driver and device agree on every path."""

    root: Path

    def ticket(self, job_id: str) -> Path:
        """The ticket of a job waiting in the folder."""
        return self.root / f"{job_id}.json"

    def document(self, job_id: str) -> Path:
        """The PDF of a job waiting in the folder."""
        return self.root / f"{job_id}.pdf"

    @property
    def work(self) -> Path:
        """Where a device keeps the job it has taken."""
        return self.root / "work"

    def work_ticket(self, job_id: str) -> Path:
        """The ticket of a job the device has taken."""
        return self.work / f"{job_id}.json"

    def work_document(self, job_id: str) -> Path:
        """The PDF of a job the device has taken."""
        return self.work / f"{job_id}.pdf"

    @property
    def status_dir(self) -> Path:
        """Where the device reports back."""
        return self.root / "status"

    def status(self, job_id: str) -> Path:
        """The device's report on one job."""
        return self.status_dir / f"{job_id}.json"

    @property
    def printer_status(self) -> Path:
        """The device's report on itself."""
        return self.status_dir / "printer.json"

    def output(self, job_id: str) -> Path:
        """The sheets of a job that came out of the (simulated) press."""
        return self.root / "output" / f"{job_id}.pdf"

    @property
    def cancel_dir(self) -> Path:
        """Where cancel requests for taken jobs are dropped."""
        return self.root / "control" / "cancel"

    def cancel_request(self, job_id: str) -> Path:
        """A request to cancel one taken job."""
        return self.cancel_dir / job_id

    @property
    def clear_request(self) -> Path:
        """A request to clear a jam."""
        return self.root / "control" / "clear"

    def receipt(self, job_id: str) -> Path:
        """The driver's record that this job id was submitted here."""
        return self.root / "submitted" / f"{job_id}.json"

    def waiting_tickets(self) -> list[Path]:
        """Tickets waiting in the folder, oldest first (arrival order, then name)."""
        return _by_arrival(self.root.glob("*.json"))

    def taken_tickets(self) -> list[Path]:
        """Tickets of jobs the device has taken, oldest first."""
        return _by_arrival(self.work.glob("*.json"))

    def make_dirs(self) -> None:
        """Create every directory of the protocol (the device does this; the driver only what it writes)."""
        for directory in (
            self.work,
            self.status_dir,
            self.root / "output",
            self.cancel_dir,
            self.root / "submitted",
        ):
            directory.mkdir(parents=True, exist_ok=True)


def _by_arrival(paths: Iterable[Path]) -> list[Path]:
    """Sort ticket paths by modification time, then name; files that vanished meanwhile are dropped."""
    stamped = []
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            stamped.append((path.stat().st_mtime_ns, path.name, path))
    return [path for _, _, path in sorted(stamped)]


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string, for the human-facing `updated` fields."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def ticket_to_json(ticket: JobTicket) -> dict[str, object]:
    """The ticket file's content for a job (the document sits beside it as `<job_id>.pdf`)."""
    return {
        "format": TICKET_FORMAT,
        "job_id": ticket.job_id,
        "document": f"{ticket.job_id}.pdf",
        "sheets": ticket.sheets,
        "copies": ticket.copies,
        "media": ticket.media,
        "sides": ticket.sides,
        "extra": dict(ticket.extra),
        "submitted": utc_now(),
    }


def ticket_from_json(data: Mapping[str, object], document: Path) -> JobTicket:
    """Rebuild a ticket read from a ticket file, with `document` as its PDF (KeyError/ValueError if
    malformed)."""
    return JobTicket(
        job_id=str(data["job_id"]),
        pdf_path=document,
        sheets=as_int(data["sheets"]),
        copies=as_int(data.get("copies", 1)),
        media=str(data.get("media", "A4")),
        sides=str(data.get("sides", "one-sided")),
        extra=dict(as_record(data.get("extra") or {})),
    )


def write_job_status(layout: HotFolderLayout, status: JobStatus) -> None:
    """Publish a job's status atomically (the device side of the protocol)."""
    output = status.output_path
    if output is not None and output.is_relative_to(layout.root):
        output = output.relative_to(layout.root)
    _files.atomic_write_json(
        layout.status(status.job_id),
        {
            "format": STATUS_FORMAT,
            "job_id": status.job_id,
            "state": status.state.keyword,
            "sheets_completed": status.sheets_completed,
            "reasons": list(status.reasons),
            "output_path": None if output is None else str(output),
            "message": status.message,
            "updated": utc_now(),
        },
    )


def read_job_status(layout: HotFolderLayout, job_id: str) -> JobStatus | None:
    """The status a device wrote for a job, or None if it wrote none (ValueError/KeyError if malformed)."""
    data = _files.read_json(layout.status(job_id))
    if data is None:
        return None
    record = as_record(data)
    return JobStatus(
        job_id=job_id,
        state=JobState.parse(_state_value(record["state"])),
        sheets_completed=as_int(record.get("sheets_completed", 0)),
        reasons=_reasons(record),
        output_path=_output_path(layout, record.get("output_path")),
        message=str(record.get("message", "")),
    )


def _state_value(value: object) -> str | int:
    """A state as a status file gives it: an IPP keyword, or its number (TypeError for anything else)."""
    return value if isinstance(value, str) else as_int(value)


def _output_path(layout: HotFolderLayout, output: object) -> Path | None:
    """Where a status file says the job's output is (relative to the folder, or absolute), if it says."""
    if not output:
        return None
    if not isinstance(output, str):
        raise TypeError(f"output_path must be a path, not {type(output).__name__!r}")
    return layout.root / output


def _reasons(record: Mapping[str, object]) -> tuple[str, ...]:
    """The IPP reasons keywords a status file lists (none when it lists none)."""
    return tuple(str(reason) for reason in as_items(record.get("reasons", ())))


def write_printer_status(
    layout: HotFolderLayout, state: PrinterState, reasons: tuple[str, ...], **extra: object
) -> None:
    """Publish the device's own state atomically (the device side of the protocol)."""
    record = {
        "format": PRINTER_FORMAT,
        "state": state.keyword,
        "reasons": list(reasons),
        "updated": utc_now(),
    }
    _files.atomic_write_json(layout.printer_status, {**extra, **record})


class HotFolderPrinter:
    """A printer reached through a hot folder: submit drops files, status reads what the RIP writes back."""

    def __init__(self, name: str, folder: Path | str, abandoned_claim_s: float = ABANDONED_CLAIM_S) -> None:
        """Drive the hot folder `folder` as printer `name` (nothing is touched until the first call); a claim
        whose ticket was never written is taken over after `abandoned_claim_s` seconds."""
        self.name = name
        self.folder = Path(folder)
        self.layout = HotFolderLayout(self.folder)
        self.abandoned_claim_s = abandoned_claim_s

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {str(self.folder)!r})"

    def submit(self, ticket: JobTicket) -> JobStatus:
        """Drop the job into the folder: claim the id, then the PDF, then the ticket (the RIP's trigger).

        Raises DuplicateJob when the folder already knows this job id, InvalidTicket when the PDF is missing.
        """
        job_id = ticket.job_id
        try:
            record = json.dumps(ticket_to_json(ticket), indent=1, sort_keys=True).encode()
        except (TypeError, ValueError) as error:
            raise InvalidTicket(job_id, f"its extra options cannot be written as JSON ({error})") from None
        self._require_folder()
        existing = self.find(job_id)
        if existing is not None:
            raise DuplicateJob(self.name, job_id, existing.state.keyword)
        receipt = self.layout.receipt(job_id)
        receipt.parent.mkdir(exist_ok=True)
        self._release_abandoned(job_id)
        claim = {
            "format": RECEIPT_FORMAT,
            "job_id": job_id,
            "printer": self.name,
            "submitted": utc_now(),
            "stage": "claimed",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "at": time.time(),
        }
        if not _files.create_json_exclusive(receipt, claim):
            raise DuplicateJob(self.name, job_id, "being submitted")
        try:
            _files.atomic_copy(ticket.pdf_path, self.layout.document(job_id))
        except FileNotFoundError:
            _files.remove(receipt)
            raise InvalidTicket(job_id, f"its PDF {str(ticket.pdf_path)!r} does not exist") from None
        except BaseException:
            _files.remove(receipt, self.layout.document(job_id))
            raise
        _files.atomic_write(self.layout.ticket(job_id), lambda handle: handle.write(record))
        _files.atomic_write_json(receipt, {**claim, "stage": "queued"})
        return self._queued(job_id)

    def find(self, job_id: str) -> JobStatus | None:
        """What the device knows about a job, or None if it never received it (safe to submit)."""
        check_job_id(job_id)
        self._require_folder()
        reported = self._reported(job_id)
        if reported is not None:
            return reported
        if self.layout.ticket(job_id).exists():
            return self._queued(job_id)
        if self.layout.work_ticket(job_id).exists():
            return JobStatus(
                job_id,
                JobState.PROCESSING,
                0,
                REASONS_UNKNOWN,
                None,
                "taken by the device, which has not reported on it yet",
            )
        if self._abandoned(job_id):
            return None  # its submitter died before the ticket existed: the device never saw the job
        if self.layout.receipt(job_id).exists():
            # The device may have reported between our reads: ask once more before saying "unknown".
            return self._reported(job_id) or JobStatus(
                job_id,
                JobState.PROCESSING,
                0,
                REASONS_UNKNOWN,
                None,
                "status unknown: submitted here, no longer in the hot folder, and the RIP wrote no status; "
                "check the device before printing this job again",
            )
        return None

    def status(self, job_id: str) -> JobStatus:
        """The job's status; raises UnknownJob if the device never received it."""
        return require_job(self, job_id)

    def printer_status(self) -> PrinterStatus:
        """The device's state from `status/printer.json`; without that file, idle or processing by the
        queue."""
        self._require_folder()
        queued = len(self.layout.waiting_tickets()) + len(self.layout.taken_tickets())
        path = self.layout.printer_status
        try:
            data = _files.read_json(path)
            if data is None:
                state = PrinterState.PROCESSING if queued else PrinterState.IDLE
                return PrinterStatus(self.name, state, (), queued)
            record = as_record(data)
            return PrinterStatus(
                self.name, PrinterState.parse(_state_value(record["state"])), _reasons(record), queued
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise StatusUnreadable(self.name, str(path), str(error)) from error

    def cancel(self, job_id: str) -> None:
        """Cancel a job: withdraw it if still waiting, else ask the device through `control/cancel/<job>`.

        Canceling a canceled job does nothing; a completed or aborted one raises JobFinished.
        """
        current = self.status(job_id)
        if current.state is JobState.CANCELED:
            return
        if current.is_final:
            raise JobFinished(self.name, job_id, current.state.keyword)
        try:
            # Whoever removes (or, for the device, renames) the ticket first owns the job.
            os.unlink(self.layout.ticket(job_id))
        except FileNotFoundError:
            self.layout.cancel_dir.mkdir(parents=True, exist_ok=True)
            _files.atomic_write_json(
                self.layout.cancel_request(job_id), {"job_id": job_id, "requested": utc_now()}
            )
            return
        _files.remove(self.layout.document(job_id))
        self.layout.status_dir.mkdir(exist_ok=True)
        write_job_status(
            self.layout,
            JobStatus(
                job_id, JobState.CANCELED, 0, REASONS_CANCELED, None, "canceled before the device took it"
            ),
        )

    def withdraw(self, job_id: str) -> bool:
        """Take a job back only if the device never took it; True when provably no sheet of it was printed.

        Removing the waiting ticket is the proof: the device takes a job by renaming that same ticket, so
        exactly one of the two wins. A job withdrawn before answers True again; a job the device took (or that
        is not here) answers False and is left alone — nothing is asked of the device, unlike :meth:`cancel`.
        """
        check_job_id(job_id)
        self._require_folder()
        try:
            os.unlink(self.layout.ticket(job_id))
        except FileNotFoundError:
            reported = self._reported(job_id)
            return reported is not None and set(REASONS_WITHDRAWN) <= set(reported.reasons)
        self.layout.status_dir.mkdir(exist_ok=True)
        write_job_status(
            self.layout,
            JobStatus(
                job_id,
                JobState.CANCELED,
                0,
                REASONS_WITHDRAWN,
                None,
                "withdrawn before the device took it: nothing was printed",
            ),
        )
        _files.remove(self.layout.document(job_id))
        return True

    def _abandoned(self, job_id: str) -> bool:
        """True when the job was claimed here but its submitter died before writing the ticket.

        The device only takes a job when its ticket appears, so such a job never reached it. A claim counts as
        abandoned when its owner process on this host is gone, or after :attr:`abandoned_claim_s`.
        """
        try:
            claim = _files.read_json(self.layout.receipt(job_id))
        except ValueError:
            return False
        if not isinstance(claim, dict) or claim.get("stage") != "claimed":
            return False
        if self.layout.ticket(job_id).exists() or self.layout.work_ticket(job_id).exists():
            return False
        if (
            claim.get("host") == socket.gethostname()
            and isinstance(claim.get("pid"), int)
            and not _process_alive(claim["pid"])
        ):
            return True
        return time.time() - float(claim.get("at", time.time())) > self.abandoned_claim_s

    def _release_abandoned(self, job_id: str) -> None:
        """Take an abandoned claim out of the way.

        Takers race through an exclusive marker named after the abandoned claim: of two drivers that both saw
        it, exactly one removes it; the other finds the job being submitted.
        """
        if not self._abandoned(job_id):
            return
        receipt = self.layout.receipt(job_id)
        claim = as_record(_files.read_json(receipt) or {})
        marker = receipt.with_name(f"{receipt.name}.takeover-{claim.get('pid')}-{claim.get('at')}")
        if not _files.create_json_exclusive(marker, {"by": os.getpid(), "host": socket.gethostname()}):
            raise DuplicateJob(self.name, job_id, "being submitted")
        _files.remove(receipt)

    def _reported(self, job_id: str) -> JobStatus | None:
        """The device's status file for a job, with a malformed file reported as StatusUnreadable."""
        try:
            return read_job_status(self.layout, job_id)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise StatusUnreadable(self.name, str(self.layout.status(job_id)), str(error)) from error

    def _queued(self, job_id: str) -> JobStatus:
        """The status of a job whose ticket waits in the folder."""
        return JobStatus(job_id, JobState.PENDING, 0, REASONS_QUEUED, None, "waiting in the hot folder")

    def _require_folder(self) -> None:
        """Refuse to work on a folder that is not there, rather than create a local look-alike."""
        if not self.folder.is_dir():
            raise HotFolderMissing(self.name, str(self.folder))


def _process_alive(pid: int) -> bool:
    """True when process ``pid`` exists on this host (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except OSError:
        return False
