"""The error tree of the printers library.

Every error a printer driver raises is a :class:`PrinterError`, so the plant can catch the whole family in one
place and map it to an operator message or a CLI exit code. Each subclass keeps the facts (printer, job id,
reasons, …) as attributes and builds a message that says what happened *and what the operator should do*.
"""

from __future__ import annotations

from collections.abc import Iterable

#: What an operator does about a printer-state-reason keyword (IPP, without the -report/-warning/-error
#: suffix).
REMEDIES: dict[str, str] = {
    "media-jam": "clear the jam, then the job resumes",
    "media-empty": "load paper, then the job resumes",
    "media-needed": "load the requested media, then the job resumes",
    "toner-empty": "replace the toner, then the job resumes",
    "marker-supply-empty": "replace the empty supply, then the job resumes",
    "cover-open": "close the cover, then the job resumes",
    "door-open": "close the door, then the job resumes",
    "paused": "resume the printer (a CUPS queue: cupsenable QUEUE)",
    "offline": "bring the printer online",
    "shutdown": "start the printer",
}

#: What we tell the operator when no reason we know explains the stop.
DEFAULT_REMEDY = "check the printer's panel, fix what it reports, then resume it"

#: IPP suffixes that qualify a printer-state-reason keyword's severity.
REASON_SUFFIXES = ("-report", "-warning", "-error")


def remedy_for(reasons: Iterable[str]) -> str:
    """Return the operator action for the first reason we know, so stop messages always end in a fix."""
    for reason in reasons:
        for suffix in REASON_SUFFIXES:
            if reason.endswith(suffix):
                reason = reason[: -len(suffix)]
                break
        if reason in REMEDIES:
            return REMEDIES[reason]
    return DEFAULT_REMEDY


class PrinterError(Exception):
    """Base of every error raised by the printers library."""


class InvalidJobId(PrinterError):
    """A job id cannot be used as a job name (and file name) on a device."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(
            f"Job id {job_id!r} cannot be used as a job name on a printer; use 1-128 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit (and not the reserved name 'printer')."
        )


class InvalidTicket(PrinterError):
    """A job ticket is inconsistent (bad counts, unknown sides, missing PDF) and was not submitted."""

    def __init__(self, job_id: str, problem: str) -> None:
        self.job_id = job_id
        self.problem = problem
        super().__init__(
            f"Job ticket {job_id!r} is invalid: {problem}; fix the ticket, then submit it again."
        )


class DuplicateJob(PrinterError):
    """The device already has a job with this id, so submitting it again could print it twice."""

    def __init__(self, printer: str, job_id: str, state: str) -> None:
        self.printer = printer
        self.job_id = job_id
        self.state = state
        super().__init__(
            f"Printer {printer!r} already has job {job_id!r} ({state}); it was not submitted again. "
            "Follow the existing job, or give a reprint a new job id."
        )


class UnknownJob(PrinterError):
    """The device has no job with this id."""

    def __init__(self, printer: str, job_id: str) -> None:
        self.printer = printer
        self.job_id = job_id
        super().__init__(
            f"Printer {printer!r} has no job {job_id!r}; check the job id, or submit the job "
            "(the printer never received it)."
        )


class JobFinished(PrinterError):
    """The job already ended (completed or aborted), so it can no longer be cancelled."""

    def __init__(self, printer: str, job_id: str, state: str) -> None:
        self.printer = printer
        self.job_id = job_id
        self.state = state
        super().__init__(
            f"Job {job_id!r} on printer {printer!r} is already {state}; there is nothing to cancel. "
            "Pull its sheets downstream if they must not be mailed."
        )


class PrinterStopped(PrinterError):
    """The printer is stopped (jam, empty tray, open cover, …) and needs an operator."""

    def __init__(self, printer: str, reasons: tuple[str, ...]) -> None:
        self.printer = printer
        self.reasons = tuple(reasons)
        shown = ", ".join(self.reasons) or "no reason given"
        super().__init__(f"Printer {printer!r} is stopped ({shown}); {remedy_for(self.reasons)}.")


class HotFolderMissing(PrinterError):
    """The hot folder of a printer does not exist (share not mounted, wrong path in the fleet config)."""

    def __init__(self, printer: str, folder: str) -> None:
        self.printer = printer
        self.folder = folder
        super().__init__(
            f"Hot folder {folder!r} of printer {printer!r} does not exist; mount the RIP's share or fix "
            "the folder in the fleet configuration."
        )


class StatusUnreadable(PrinterError):
    """A status file written by the device cannot be read or does not follow the documented format."""

    def __init__(self, printer: str, path: str, detail: str) -> None:
        self.printer = printer
        self.path = path
        self.detail = detail
        super().__init__(
            f"Printer {printer!r} wrote an unreadable status file {path!r} ({detail}); check the RIP's "
            "status writer, then ask again."
        )


class UnknownPrinterKind(PrinterError):
    """The fleet configuration names a printer driver this library does not have."""

    def __init__(self, kind: str, known: tuple[str, ...]) -> None:
        self.kind = kind
        self.known = known
        super().__init__(f"Unknown printer kind {kind!r}; use one of: {', '.join(known)}.")


class InvalidPrinterOptions(PrinterError):
    """The options given for a printer do not fit its driver."""

    def __init__(self, kind: str, name: str, detail: str) -> None:
        self.kind = kind
        self.name = name
        self.detail = detail
        super().__init__(
            f"Options for {kind} printer {name!r} do not fit its driver ({detail}); fix them in the fleet "
            "configuration."
        )


class CupsUnreachable(PrinterError):
    """The CUPS server of a printer does not answer (not running, wrong host or port, firewall)."""

    def __init__(self, printer: str, server: str, detail: str) -> None:
        self.printer = printer
        self.server = server
        self.detail = detail
        super().__init__(
            f"CUPS server {server!r} of printer {printer!r} cannot be reached ({detail}); start cupsd there, "
            "or fix the printer's server in the fleet configuration."
        )


class CupsQueueUnknown(PrinterError):
    """The CUPS server has no queue of the configured name."""

    def __init__(self, printer: str, server: str, queue: str) -> None:
        self.printer = printer
        self.server = server
        self.queue = queue
        super().__init__(
            f"CUPS server {server!r} has no queue {queue!r} (printer {printer!r}); create it "
            f"(lpadmin -h {server} -p {queue} -v <device-uri> -E), or fix the printer's queue in the fleet "
            "configuration."
        )


class DocumentRejected(PrinterError):
    """The CUPS queue refused the job's document format (no filter turns it into what the printer takes)."""

    def __init__(self, printer: str, job_id: str, document_format: str, detail: str) -> None:
        self.printer = printer
        self.job_id = job_id
        self.document_format = document_format
        self.detail = detail
        super().__init__(
            f"Printer {printer!r} refused job {job_id!r} as {document_format} ({detail}); the job was not "
            "queued. Send the job in a format the queue takes (e.g. PWG raster for a raster printer), or "
            "give the queue a driver that converts this one."
        )


class JobNamesHidden(PrinterError):
    """The CUPS server hides job names from the plant, so it cannot tell whether a job was already
    submitted."""

    def __init__(self, printer: str, server: str, queue: str) -> None:
        self.printer = printer
        self.server = server
        self.queue = queue
        super().__init__(
            f"CUPS server {server!r} hides job names on queue {queue!r} (printer {printer!r}), so the plant "
            "cannot tell whether a job is already there and nothing was submitted; set "
            "'JobPrivateAccess all' and 'JobPrivateValues none' in the server's default <Policy> in "
            "cupsd.conf, or let the plant authenticate as the jobs' owner (cupsd's local socket)."
        )


#: What an operator does when CUPS refuses a request with this IPP status (RFC 8011 names).
CUPS_REMEDIES: dict[str, str] = {
    "server-error-not-accepting-jobs": "the queue rejects new jobs; accept them again (cupsaccept <queue>)",
    "client-error-forbidden": "give the plant's user this right in the queue's <Policy> in cupsd.conf",
    "client-error-not-authorized": "give the plant's user this right in the queue's <Policy> in cupsd.conf",
    "client-error-not-authenticated": (
        "let the plant authenticate (local socket), or relax the queue's <Policy>"
    ),
    "client-error-not-possible": "the job is past the point where CUPS can do this; look at its state first",
    "server-error-busy": "CUPS is busy; ask again shortly",
}


class CupsRequestRefused(PrinterError):
    """CUPS answered a request with an IPP error the driver has no more specific class for."""

    def __init__(self, printer: str, operation: str, status: str, detail: str) -> None:
        self.printer = printer
        self.operation = operation
        self.status = status
        self.detail = detail
        remedy = CUPS_REMEDIES.get(
            status, "read the CUPS error log on the server, fix what it reports, then retry"
        )
        super().__init__(
            f"CUPS refused to {operation} for printer {printer!r} ({status}: {detail}); {remedy}."
        )


class IppUnreachable(PrinterError):
    """An IPP printer does not answer (switched off, wrong host or port, firewall)."""

    def __init__(self, printer: str, uri: str, detail: str) -> None:
        self.printer = printer
        self.uri = uri
        self.detail = detail
        super().__init__(
            f"IPP printer {uri!r} (printer {printer!r}) cannot be reached ({detail}); switch it on and "
            "check its network, or fix the printer's uri in the fleet configuration."
        )


class NotAnIppPrinter(PrinterError):
    """Something answers at the printer's address, but not as an IPP printer."""

    def __init__(self, printer: str, uri: str, detail: str) -> None:
        self.printer = printer
        self.uri = uri
        self.detail = detail
        super().__init__(
            f"{uri!r} (printer {printer!r}) does not answer as an IPP printer ({detail}); point the "
            "printer's uri at its IPP endpoint (usually ipp://HOST:631/ipp/print) in the fleet configuration."
        )


#: What an operator does when an IPP printer refuses a request with this status (RFC 8011 names).
IPP_REMEDIES: dict[str, str] = {
    "server-error-busy": (
        "the printer is busy with another job (or one whose document never arrived: look at its job list "
        "and cancel it); ask again shortly"
    ),
    "server-error-not-accepting-jobs": "the printer does not accept jobs; enable it on its panel or web page",
    "client-error-forbidden": "give the plant's user this right on the printer",
    "client-error-not-authorized": "give the plant's user this right on the printer",
    "client-error-not-authenticated": "configure the printer to accept the plant without authentication",
    "client-error-not-possible": (
        "the job is past the point where the printer can do this; look at its state first"
    ),
}


class IppRequestRefused(PrinterError):
    """An IPP printer answered with an error the driver has no more specific class for."""

    def __init__(self, printer: str, operation: str, status: str, detail: str) -> None:
        self.printer = printer
        self.operation = operation
        self.status = status
        self.detail = detail
        remedy = IPP_REMEDIES.get(
            status, "look at the printer's panel or web page, fix what it reports, then retry"
        )
        super().__init__(f"IPP printer {printer!r} refused to {operation} ({status}: {detail}); {remedy}.")
