"""Hot-folder printers: jobs are files dropped into a folder a RIP watches; status comes back as files.

The protocol, as both sides (our driver, and a RIP or the simulated press) use it::

    <folder>/<job>.pdf             the print-ready document, written first
    <folder>/<job>.json            the ticket, written last: a RIP picks a job up when its ticket appears
    <folder>/work/<job>.{pdf,json} where a device moves a job it has taken (optional for a RIP)
    <folder>/status/<job>.json     what the device reports about a job (format below)
    <folder>/status/printer.json   what the device reports about itself (format below)
    <folder>/output/<job>.pdf      the simulated press's printed sheets (<job>+2.pdf for a second print, …)
    <folder>/books.jsonl           the simulated press's own books (printers.books)
    <folder>/control/cancel/<job>  a cancel request for a job the device has taken
    <folder>/control/clear         a request to clear a jam (the simulated press honours it)
    <folder>/submitted/<job>.json  the driver's receipt: this job id was claimed here (by whom: below)
    <folder>/submitted/<job>+ticket.json  the ticket as first written, never removed: one ticket per job id

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

Claims. A submitter first creates ``submitted/<job>.json`` exclusively (stage ``claimed``), copies the PDF,
then writes the ticket exclusively: a hard link to ``submitted/<job>+ticket.json`` (never removed) and then to
``<job>.json``, each refusing an existing name, so of any number of submitters of one job id exactly one
writes a ticket, ever — even when the device already took the first ticket out of the folder. The claim
records its owner: ``host`` (host name), ``boot_id`` (Linux's per-boot id), ``pid_ns`` (the pid namespace),
``pid``, ``proc_start`` (the process's start time, in clock ticks after boot) and a random ``token``. While
the owner submits, a thread refreshes the claim's modification time every ``heartbeat_s`` seconds (recorded
in the claim).

A claim whose ticket was never written blocks its job id until its owner is *proven* dead; then another
submitter may take it over (through an exclusive ``submitted/<job>+takeover-<token>`` marker, so one of them
does). Proof, by where the owner ran:

- this host (same host name, boot id and pid namespace): the pid is gone, a zombie, or a different process
  (its start time is not the one recorded). A live owner's claim is never taken over, however old;
- another host (or this host before a reboot): the claim's heartbeat is older than ``abandoned_claim_s``
  (and than 4 × the owner's ``heartbeat_s``), measured by the shared folder's own clock (a probe file's time
  stamp). A claim without ``heartbeat_s`` (written by an older driver) is never taken over: it is reported
  HELD with a message for an operator, who removes the claim once they know its submitter is gone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
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
#: IPP reason of a job whose submitter is writing it into the folder right now.
REASONS_INCOMING = ("job-incoming",)
#: Reasons of a job whose claim blocks it until an operator acts (its submitter cannot be proven dead).
REASONS_CLAIM_HELD = ("job-incoming", "job-claim-unproven")
#: Seconds without a heartbeat after which a claim of another host's submitter proves that submitter dead.
ABANDONED_CLAIM_S = 120.0
#: Longest interval between two heartbeats of a submitter's claim.
MAX_HEARTBEAT_S = 30.0


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

    def output(self, job_id: str, print_no: int = 1) -> Path:
        """The sheets of a job that came out of the (simulated) press: ``<job>.pdf`` for its first print,
        ``<job>+<n>.pdf`` for its n-th (``+`` is never part of a job id, so no name is shared)."""
        suffix = "" if print_no == 1 else f"+{print_no}"
        return self.root / "output" / f"{job_id}{suffix}.pdf"

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

    def ticket_once(self, job_id: str) -> Path:
        """The job's ticket as first written (``+`` is never part of a job id, so no job's receipt is named
        so)."""
        return self.root / "submitted" / f"{job_id}+ticket.json"

    def takeover(self, job_id: str, token: str) -> Path:
        """The marker of the one submitter that took over the claim ``token`` of a dead owner."""
        return self.root / "submitted" / f"{job_id}+takeover-{token}"

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

    #: :meth:`find` answers None only for a job id whose ticket was never written here (every ticket is kept
    #: in ``submitted/``, and a live or unproven claim is reported), so None proves the device never received
    #: the job — not merely that it forgot it, as a CUPS queue that keeps 500 jobs may have.
    find_proves_absence = True

    def __init__(self, name: str, folder: Path | str, abandoned_claim_s: float = ABANDONED_CLAIM_S) -> None:
        """Drive the hot folder `folder` as printer `name` (nothing is touched until the first call); the
        claim of another host's submitter whose heartbeat stopped `abandoned_claim_s` seconds ago is taken
        over (see the module docstring)."""
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
        heartbeat_s = min(MAX_HEARTBEAT_S, self.abandoned_claim_s / 4)
        claim = {
            "format": RECEIPT_FORMAT,
            "job_id": job_id,
            "printer": self.name,
            "submitted": utc_now(),
            "stage": "claimed",
            **owner_identity(),
            "token": secrets.token_hex(8),
            "heartbeat_s": heartbeat_s,
            "at": time.time(),
        }
        if not _files.create_json_exclusive(receipt, claim):
            raise DuplicateJob(self.name, job_id, "being submitted")
        try:
            claim_fd = os.open(receipt, os.O_RDONLY)
        except FileNotFoundError:  # a racing submitter took a dead claim out of the way and ours with it
            raise DuplicateJob(self.name, job_id, "being submitted") from None
        with _heartbeat(claim_fd, heartbeat_s, job_id):
            try:
                _files.atomic_copy(ticket.pdf_path, self.layout.document(job_id))
            except FileNotFoundError:
                self._drop_claim(receipt, claim)
                raise InvalidTicket(job_id, f"its PDF {str(ticket.pdf_path)!r} does not exist") from None
            except BaseException:
                if self._drop_claim(receipt, claim):
                    _files.remove(self.layout.document(job_id))
                raise
            # Exclusive twice: the permanent record refuses a second ticket even after the device took the
            # first out of the folder; the folder's name refuses one that was put there another way.
            if not _files.create_exclusive(self.layout.ticket_once(job_id), record):
                raise DuplicateJob(self.name, job_id, "submitted by another submitter")
            if not _files.create_exclusive(self.layout.ticket(job_id), record):
                raise DuplicateJob(self.name, job_id, "already waiting in the hot folder")
            if self._owns(receipt, claim):
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
        claim = self._claim(job_id)
        if claim is not None:
            verdict, why = self._judge(job_id, claim)
            if verdict == "dead":
                return None  # its submitter died before the ticket existed: the device never saw the job
            if verdict == "alive":
                return JobStatus(job_id, JobState.PENDING, 0, REASONS_INCOMING, None, why)
            if verdict == "unproven":
                return JobStatus(job_id, JobState.HELD, 0, REASONS_CLAIM_HELD, None, why)
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

    def _claim(self, job_id: str) -> dict[str, object] | None:
        """The job's receipt while it is a claim whose ticket is neither waiting nor taken, else None."""
        try:
            claim = _files.read_json(self.layout.receipt(job_id))
        except ValueError:
            return None
        if not isinstance(claim, dict) or claim.get("stage") != "claimed":
            return None
        if self.layout.ticket(job_id).exists() or self.layout.work_ticket(job_id).exists():
            return None
        return claim

    def _judge(self, job_id: str, claim: Mapping[str, object]) -> tuple[str, str]:
        """Whether the owner of a claim whose ticket is not in the folder is ``dead`` (proven), ``alive`` or
        ``unproven`` (an operator must decide), or ``written`` (its ticket went out already), with the words
        for an operator (the rules are in the module docstring)."""
        if self.layout.ticket_once(job_id).exists() and (
            self._reported(job_id) is not None
            or self.layout.ticket(job_id).exists()
            or self.layout.work_ticket(job_id).exists()
        ):
            return "written", ""
        owner = f"pid {claim.get('pid')} on host {claim.get('host')!r}"
        since = f"since {claim.get('submitted')}"
        if same_host(claim):
            pid = claim.get("pid")
            if not isinstance(pid, int) or not _process_alive(pid):
                return "dead", f"its submitter ({owner}) is gone"
            start = claim.get("proc_start")
            if start is not None and process_start(pid) != start:
                return "dead", f"its submitter ({owner}) is gone; that pid is another process now"
            return "alive", (
                f"being submitted by {owner} (running) {since}; its ticket is not written yet. If that "
                "process hangs, stop it: the job is free again once it is gone"
            )
        heartbeat_s = claim.get("heartbeat_s")
        if not isinstance(heartbeat_s, int | float):
            return "unproven", (
                f"claimed by {owner} {since}, which wrote no ticket and keeps no heartbeat, so the plant "
                f"cannot tell whether it is still submitting. If that submitter is gone, remove "
                f"{self.layout.receipt(job_id)}; the job is then submitted again"
            )
        try:
            age = _files.filesystem_now(self.layout.receipt(job_id).parent) - (
                self.layout.receipt(job_id).stat().st_mtime
            )
        except FileNotFoundError:
            return "alive", f"claimed by {owner} {since}"
        if age > max(self.abandoned_claim_s, 4 * float(heartbeat_s)):
            return "dead", f"its submitter ({owner}) stopped its heartbeat {age:.0f} s ago"
        return "alive", (
            f"being submitted by {owner} {since} (heartbeat {age:.0f} s ago); its ticket is not written "
            f"yet. Should it stop, the job is free {self.abandoned_claim_s:g} s after its last heartbeat"
        )

    def _release_abandoned(self, job_id: str) -> None:
        """Take the claim of a proven-dead submitter out of the way.

        The taker hard-links the dead claim to ``submitted/<job>+takeover-<token>``: of two takers that both
        saw it, one makes the link; the other (or whoever comes after a taker that died half-way) finishes the
        same removal, and only while the receipt is still that very file. Then all of them race to claim the
        job afresh, and one wins.
        """
        claim = self._claim(job_id)
        if claim is None or self._judge(job_id, claim)[0] != "dead":
            return
        receipt = self.layout.receipt(job_id)
        token = str(claim.get("token") or f"{claim.get('pid')}-{claim.get('at')}")
        marker = self.layout.takeover(job_id, token)
        try:
            os.link(receipt, marker)
        except FileNotFoundError:
            return  # taken out of the way already
        except FileExistsError:
            pass  # another taker is at it, or died half-way: the steps below are safe to repeat
        else:
            _files.fsync_dir(marker.parent)
            if _token(marker) != token:
                _files.remove(marker)  # the receipt changed under us: a new claim, not the dead one
                raise DuplicateJob(self.name, job_id, "being submitted")
        try:
            if not os.path.samefile(receipt, marker):
                return
        except FileNotFoundError:
            return
        # The dead owner may have recorded its ticket without linking it into the folder: nothing reached the
        # device (no ticket, none taken, no status), so that record goes with the claim.
        if not (
            self.layout.ticket(job_id).exists()
            or self.layout.work_ticket(job_id).exists()
            or self.layout.status(job_id).exists()
        ):
            _files.remove(self.layout.ticket_once(job_id))
        _files.remove(receipt)

    def _owns(self, receipt: Path, claim: Mapping[str, object]) -> bool:
        """True while `receipt` still holds our `claim` (nobody took it over)."""
        return _token(receipt) == claim["token"]

    def _drop_claim(self, receipt: Path, claim: Mapping[str, object]) -> bool:
        """Remove our own claim (never one that took it over); True if it was ours."""
        if not self._owns(receipt, claim):
            return False
        _files.remove(receipt)
        return True

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


def _token(claim: Path) -> str | None:
    """The token of the claim in file `claim` (the claim's "pid-at" for one written without a token)."""
    try:
        data = _files.read_json(claim)
    except (ValueError, OSError):
        return None
    if not isinstance(data, dict):
        return None
    return str(data.get("token") or f"{data.get('pid')}-{data.get('at')}")


def owner_identity() -> dict[str, object]:
    """Who this process is, as a claim records it (see the module docstring)."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "boot_id": _boot_id(),
        "pid_ns": _pid_namespace(),
        "proc_start": process_start(os.getpid()),
    }


def same_host(claim: Mapping[str, object]) -> bool:
    """True when the claim's owner ran on this host, in this boot and pid namespace (its pid means ours).

    A claim an older driver wrote records only the host; its pid is then judged as ours, and as that claim
    has no start time either, a live process of that pid keeps it (never taken over on a guess).
    """
    here = owner_identity()
    if claim.get("host") != here["host"]:
        return False
    return all(claim.get(key, here[key]) == here[key] for key in ("boot_id", "pid_ns"))


def process_start(pid: int) -> int | None:
    """When process `pid` started, in clock ticks after boot (Linux), or None if it is not there."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            # Field 22; the command name (field 2) may hold spaces and parentheses, so count after its end.
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _boot_id() -> str | None:
    """The kernel's id of this boot (changes at every reboot), or None where there is none."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _pid_namespace() -> str | None:
    """This process's pid namespace (containers on one host share a boot id, not their pids)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


@contextlib.contextmanager
def _heartbeat(fd: int, every_s: float, job_id: str) -> Iterator[None]:
    """Refresh the modification time of the claim open as ``fd`` every `every_s` seconds while the body
    runs; close ``fd`` at the end.

    Through the open descriptor, so a claim another submitter put in its place is never refreshed by us.
    """
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            with contextlib.suppress(OSError):
                os.utime(fd)

    thread = threading.Thread(target=beat, name=f"claim-heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        os.close(fd)
