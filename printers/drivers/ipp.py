"""IPP Everywhere printers driven directly: IPP/2.0 over HTTP to the printer, no CUPS in between.

The client is the standard library's ``http.client`` with :mod:`printers.ipp_wire` for the messages: five
operations and a handful of attributes do not justify a dependency (pyipp is asyncio-only and read-mostly, and
pycups cannot print straight to a printer, only through cupsd). Each request opens its own connection, so a
request is never sent twice on a stale keep-alive connection.

**States.** IPP job and printer states are the protocol's numbers (:class:`~printers.protocol.JobState`); a
printer is STOPPED when it says so, or when a reason says it needs someone (``…-error``, ``media-jam``, …).
"Completed" means the printer has the data, as with CUPS: only a read of the sheets' codes downstream proves
paper.

**Identity.** The plant's job id is the IPP ``job-name``. The printer numbers jobs itself and ippeveprinter
starts again at 1 when it restarts, so a remembered IPP job id alone proves nothing: the driver remembers the
job's ``job-uuid`` with it and trusts the number only while the printer reports that uuid and name for it;
otherwise it looks the job up by name again (``Get-Jobs``, all jobs) and takes the oldest (lowest id) of that
name. A printer restart shows as a new ``printer-uuid`` or a jump of the printer's boot time (now -
``printer-up-time``), and is logged (``ipp_printer_restarted``).

**Never twice.** :meth:`IppPrinter.submit` asks :meth:`~IppPrinter.find` first, then claims the name before
any byte of the document is sent: it creates the job empty (Create-Job), lists the jobs of that name, and
sends the document (Send-Document) only if no older job has the name; otherwise it cancels its empty job and
raises :class:`~printers.errors.DuplicateJob`. A printer that answers ``server-error-busy`` created nothing,
so the Create-Job is asked again (for at most ``busy_wait_s``); ippeveprinter takes one job at a time and
answers busy while another job is active.

The window that remains, honestly: a printer keeps a short job history, and only in memory. ippeveprinter
keeps finished jobs for minutes (its own cleanup decides) and forgets every job when it restarts; a real
printer keeps a few dozen. A job submitted, then forgotten by the printer before the plant recorded the
submission, would be printed again on a retry. A submitter that dies between Create-Job and Send-Document
leaves an empty job that never prints; :meth:`find` reports it held ("its document never arrived"), and on
ippeveprinter it blocks the printer (busy) until it is canceled: :meth:`IppPrinter.withdraw` takes it back
with proof.

**Taking a job back.** :meth:`IppPrinter.withdraw` cancels a job only while the printer reports
``time-at-processing`` without a value (ippeveprinter sets it when the job starts processing and never clears
it), and answers from what the printer reports after the cancel. A printer that does not report the attribute
proves nothing: the answer is False and the job is left alone.
"""

from __future__ import annotations

import http.client
import itertools
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from printers import ipp_wire as wire
from printers._values import as_int
from printers.drivers._common import require_job
from printers.errors import (
    DocumentRejected,
    DuplicateJob,
    IppRequestRefused,
    IppUnreachable,
    JobFinished,
    NotAnIppPrinter,
    PrinterError,
    UnknownJob,
)
from printers.ipp_semantics import keywords, printer_status, ticket_format, ticket_media, withdraw_with_proof
from printers.ipp_wire import Attribute, GroupTag, Operation, Tag, attr
from printers.protocol import JobState, JobStatus, JobTicket, PrinterStatus, check_job_id

log = structlog.get_logger(__name__)

#: Port of an ipp:// or ipps:// URI given without one (IANA's IPP port).
DEFAULT_PORT = 631
#: Seconds a request may wait for the printer before it counts as unreachable.
DEFAULT_TIMEOUT_S = 30.0
#: Seconds submit keeps asking a busy printer to create the job (busy answers create nothing).
DEFAULT_BUSY_WAIT_S = 60.0
#: Seconds between two Create-Job attempts on a busy printer.
BUSY_POLL_S = 0.02
#: Bytes read from the document per write while sending it.
CHUNK_BYTES = 1 << 20
#: Seconds the printer's boot time (now - printer-up-time, whole seconds) may move before it counts as a
#: restart.
BOOT_JITTER_S = 2.0
#: The user name the plant's jobs are created under.
USER_NAME = "plant"
#: Job attributes a status is built from (job-uuid is what makes a remembered IPP job id trustworthy).
JOB_ATTRIBUTES = (
    "job-id",
    "job-uuid",
    "job-name",
    "job-state",
    "job-state-reasons",
    "job-state-message",
    "job-media-sheets-completed",
)
#: Job attributes a withdrawal decides by: time-at-processing has no value until the job starts processing.
PROOF_ATTRIBUTES = (*JOB_ATTRIBUTES, "time-at-processing", "job-impressions-completed")
#: Printer attributes read for its status, and before each submit.
PRINTER_ATTRIBUTES = (
    "printer-state",
    "printer-state-reasons",
    "queued-job-count",
    "printer-up-time",
    "printer-uuid",
    "document-format-supported",
    "printer-is-accepting-jobs",
)
#: What a job's state means when the printer gives no message of its own.
STATE_MESSAGES: Mapping[JobState, str] = {
    JobState.PENDING: "queued on the printer",
    JobState.HELD: "held on the printer",
    JobState.PROCESSING: "the printer is printing it",
    JobState.STOPPED: "stopped: the printer needs an operator",
    JobState.CANCELED: "canceled",
    JobState.ABORTED: "aborted by the printer",
    JobState.COMPLETED: "the printer has all its data (that does not prove paper came out)",
}
#: Message for a job created whose document never arrived (its submitter stopped between the two requests).
INCOMPLETE_MESSAGE = (
    "created but its document never arrived; it will not print, and it keeps the printer busy "
    "until it is canceled (withdraw it)"
)
#: IPP status codes the driver tells apart.
NOT_FOUND, NOT_POSSIBLE, FORMAT_NOT_SUPPORTED, VALUES_NOT_SUPPORTED, BUSY = (
    0x0406,
    0x0404,
    0x040A,
    0x040B,
    0x0507,
)


def _value_attr(name: str, value: object) -> Attribute:
    """A job attribute from a ticket's ``extra`` value: bool, int or keyword."""
    if isinstance(value, bool):
        return attr(name, Tag.BOOLEAN, value)
    if isinstance(value, int):
        return attr(name, Tag.INTEGER, value)
    return attr(name, Tag.KEYWORD, str(value))


def job_attributes(ticket: JobTicket) -> tuple[Attribute, ...]:
    """The job template attributes for a ticket: copies, sides, media, then its extra options."""
    fixed = (
        attr("copies", Tag.INTEGER, ticket.copies),
        attr("sides", Tag.KEYWORD, ticket.sides),
        attr("media", Tag.KEYWORD, ticket_media(ticket)),
    )
    return fixed + tuple(_value_attr(str(key), value) for key, value in ticket.extra.items())


def _plain(attributes: Mapping[str, Attribute]) -> dict[str, object]:
    """Attributes as name → value (a tuple for several values), the way the mapping functions read them."""
    return {name: a.values if len(a.values) > 1 else a.value for name, a in attributes.items()}


def job_status(job_id: str, attributes: Mapping[str, object]) -> JobStatus:
    """The protocol's view of an IPP job (IPP job-state numbers are JobState's)."""
    state = JobState(as_int(attributes["job-state"]))
    reasons = keywords(attributes.get("job-state-reasons"))
    if "job-data-insufficient" in reasons or "job-incoming" in reasons:
        message = INCOMPLETE_MESSAGE
    else:
        message = str(attributes.get("job-state-message") or STATE_MESSAGES[state])
    sheets = as_int(attributes.get("job-media-sheets-completed") or 0)
    return JobStatus(job_id, state, sheets, reasons, None, message)


def parse_uri(uri: str) -> tuple[str, str, int, str]:
    """Split ``ipp://host[:port]/path`` (or ipps://) into scheme, host, port and HTTP path."""
    parts = urlsplit(uri)
    if parts.scheme not in ("ipp", "ipps") or not parts.hostname:
        raise ValueError(f"an IPP printer needs an ipp:// or ipps:// uri with a host, not {uri!r}")
    return parts.scheme, parts.hostname, parts.port or DEFAULT_PORT, parts.path or "/ipp/print"


class IppPrinter:
    """An IPP Everywhere printer driven directly (see the module docstring for the guarantees)."""

    def __init__(
        self,
        name: str,
        uri: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        busy_wait_s: float = DEFAULT_BUSY_WAIT_S,
    ) -> None:
        """Drive the printer at ``uri`` (``ipp://host:port/ipp/print``) as ``name``; nothing is contacted
        yet."""
        self.name = name
        self.uri = uri
        self.timeout_s = timeout_s
        self.busy_wait_s = busy_wait_s
        self._scheme, self._host, self._port, self._path = parse_uri(uri)
        self._request_ids = itertools.count(1)
        self._jobs: dict[str, tuple[int, str]] = {}  # plant job id -> (IPP job id, job-uuid)
        self._boot: tuple[str, float] | None = None  # (printer-uuid, boot time) as last seen

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.uri!r})"

    # -- the Printer protocol --------------------------------------------------------------------------------

    def submit(self, ticket: JobTicket) -> JobStatus:
        """Send the ticket's document as job ``ticket.job_id``; raise DuplicateJob if the printer has that
        name.

        Raises InvalidTicket for a missing file or one neither PDF nor PWG raster, DocumentRejected (naming
        the formats the printer takes) when the printer does not take it, IppUnreachable / NotAnIppPrinter for
        a wrong address, and IppRequestRefused when the printer stays busy for ``busy_wait_s``.
        """
        job_id = ticket.job_id
        fmt = self._document_format(ticket)
        template = job_attributes(ticket)
        existing = self.find(job_id)
        if existing is not None:
            raise DuplicateJob(self.name, job_id, existing.state.keyword)
        self._check_format(job_id, fmt)
        ipp_id, uuid = self._create(job_id, template)
        try:
            self._claim(job_id, ipp_id)
            self._send(job_id, ipp_id, ticket.pdf_path, fmt)
        except BaseException:
            self._abandon(ipp_id)
            raise
        self._jobs[job_id] = (ipp_id, uuid)
        return self.status(job_id)

    def find(self, job_id: str) -> JobStatus | None:
        """The printer's oldest job named ``job_id``, finished or not; None if it has none (safe to
        submit)."""
        check_job_id(job_id)
        attributes = self._known(job_id, JOB_ATTRIBUTES)
        if attributes is None:
            named = self._jobs_named(job_id, JOB_ATTRIBUTES)
            if not named:
                return None
            attributes = named[0]
            self._jobs[job_id] = (as_int(attributes["job-id"]), str(attributes.get("job-uuid") or ""))
        return job_status(job_id, attributes)

    def status(self, job_id: str) -> JobStatus:
        """The job's status; raises UnknownJob if the printer does not have it."""
        return require_job(self, job_id)

    def printer_status(self) -> PrinterStatus:
        """The printer's state and reasons (STOPPED when it says so or a reason needs an operator)."""
        return printer_status(self.name, self._printer_attributes())

    def cancel(self, job_id: str) -> None:
        """Cancel the job; nothing for a canceled one, JobFinished for one completed or aborted."""
        current = self.status(job_id)
        if not current.is_final:
            try:
                self._call(Operation.CANCEL_JOB, "cancel the job", self._job_ref(job_id), job_id=job_id)
                return
            except IppRequestRefused:
                current = self.status(job_id)  # it may have ended since we looked
                if not current.is_final:
                    raise
        if current.state is not JobState.CANCELED:
            raise JobFinished(self.name, job_id, current.state.keyword)

    def withdraw(self, job_id: str) -> bool:
        """Take a job back only if the printer never started it; True when provably no sheet of it exists.

        A pending or held job whose ``time-at-processing`` has no value is canceled, and the answer is read
        after the cancel: True only for a job then canceled and still never started. Any other job is left
        alone and answers False, as does a job the printer does not have or a printer that does not report the
        stamp.
        """
        check_job_id(job_id)
        if self.find(job_id) is None:
            return False
        try:
            return withdraw_with_proof(
                lambda: self._known(job_id, PROOF_ATTRIBUTES), lambda: self._cancel_if_live(job_id)
            )
        except UnknownJob:  # forgotten meanwhile: nothing can be proven about it
            return False

    def _cancel_if_live(self, job_id: str) -> None:
        """Cancel a job to withdraw it; a job that ended meanwhile ("not possible") is left for the caller to
        read."""
        try:
            self._call(Operation.CANCEL_JOB, "withdraw the job", self._job_ref(job_id), job_id=job_id)
        except IppRequestRefused as error:
            if error.status != wire.status_name(NOT_POSSIBLE):
                raise

    # -- IPP requests ----------------------------------------------------------------------------------------

    def _call(
        self,
        operation: Operation,
        what: str,
        *attributes: Attribute,
        job: tuple[Attribute, ...] = (),
        document: Path | None = None,
        job_id: str | None = None,
    ) -> wire.Message:
        """Send one request on a fresh connection and return the response; errors become PrinterErrors.

        ``job_id`` names the job the operation acts on, so that "not found" means that job.
        """
        request = wire.request(
            operation,
            next(self._request_ids),
            self._printer_uri,
            attr("requesting-user-name", Tag.NAME, USER_NAME),
            *attributes,
            job=job,
        )
        response = self._post(wire.encode(request), document)
        if response.ok:
            return response
        status = wire.status_name(response.code)
        if response.code == NOT_FOUND and job_id is not None:
            raise UnknownJob(self.name, job_id)
        raise IppRequestRefused(self.name, what, status, response.status_message or "no message")

    @property
    def _printer_uri(self) -> str:
        return f"{self._scheme}://{self._host}:{self._port}{self._path}"

    def _post(self, head: bytes, document: Path | None) -> wire.Message:
        """POST an encoded request (and the document after it) and decode the answer."""
        cls = http.client.HTTPSConnection if self._scheme == "ipps" else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=self.timeout_s)
        try:
            length = len(head) + (os.path.getsize(document) if document else 0)
            body = self._body(head, document) if document else head
            conn.request(
                "POST", self._path, body, {"Content-Type": "application/ipp", "Content-Length": str(length)}
            )
            answer = conn.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException) as error:
            raise IppUnreachable(self.name, self.uri, str(error) or type(error).__name__) from None
        finally:
            conn.close()
        if answer.status != 200 or not answer.getheader("Content-Type", "").startswith("application/ipp"):
            raise NotAnIppPrinter(
                self.name,
                self.uri,
                f"HTTP {answer.status} {answer.reason}, "
                f"{answer.getheader('Content-Type') or 'no content type'}",
            )
        try:
            return wire.decode(data)[0]
        except wire.IppDecodeError as error:
            raise NotAnIppPrinter(self.name, self.uri, f"unreadable IPP answer: {error}") from None

    @staticmethod
    def _body(head: bytes, document: Path) -> Iterator[bytes]:
        yield head
        with open(document, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                yield chunk

    def _printer_attributes(self) -> dict[str, object]:
        """The printer's attributes the driver reads; notes (and logs) a printer restart."""
        response = self._call(
            Operation.GET_PRINTER_ATTRIBUTES,
            "read the printer's state",
            attr("requested-attributes", Tag.KEYWORD, *PRINTER_ATTRIBUTES),
        )
        attributes = _plain(response.group(GroupTag.PRINTER))
        if "printer-state" not in attributes:
            raise NotAnIppPrinter(self.name, self.uri, "its answer has no printer-state")
        self._note_boot(attributes)
        return attributes

    def _note_boot(self, attributes: Mapping[str, object], now: float | None = None) -> None:
        """Remember the printer's identity and boot time; a change means it restarted and forgot its jobs.

        printer-up-time counts whole seconds, so a restart that takes less than ``BOOT_JITTER_S`` goes
        unnoticed here; job identity never depends on it (a remembered job is checked by its uuid and name).
        """
        if "printer-up-time" not in attributes:
            return
        now = time.time() if now is None else now
        seen = (str(attributes.get("printer-uuid") or ""), now - as_int(attributes["printer-up-time"]))
        if self._boot and (seen[0] != self._boot[0] or abs(seen[1] - self._boot[1]) > BOOT_JITTER_S):
            log.warning(
                "ipp_printer_restarted", printer=self.name, uri=self.uri, forgotten_jobs=len(self._jobs)
            )
        self._boot = seen

    def _job_ref(self, job_id: str) -> Attribute:
        """The job-id attribute of a job find() remembered."""
        return attr("job-id", Tag.INTEGER, self._jobs[job_id][0])

    def _known(self, job_id: str, requested: tuple[str, ...]) -> dict[str, object] | None:
        """The attributes of a job this driver remembers, if the printer still has it (same uuid and name)."""
        remembered = self._jobs.get(job_id)
        if remembered is None:
            return None
        try:
            response = self._call(
                Operation.GET_JOB_ATTRIBUTES,
                "read a job",
                attr("job-id", Tag.INTEGER, remembered[0]),
                attr("requested-attributes", Tag.KEYWORD, *requested),
                job_id=job_id,
            )
        except UnknownJob:
            attributes: dict[str, object] = {}
        else:
            attributes = _plain(response.group(GroupTag.JOB))
        if attributes.get("job-name") != job_id or str(attributes.get("job-uuid") or "") != remembered[1]:
            self._jobs.pop(job_id, None)  # forgotten, or the number now belongs to another job (a restart)
            return None
        return attributes

    def _jobs_named(self, job_id: str, requested: tuple[str, ...]) -> list[dict[str, object]]:
        """The printer's jobs named ``job_id``, finished ones too, oldest (lowest IPP id) first."""
        response = self._call(
            Operation.GET_JOBS,
            "list its jobs",
            attr("which-jobs", Tag.KEYWORD, "all"),
            attr("requested-attributes", Tag.KEYWORD, *requested),
        )
        jobs = [_plain(group) for group in response.all_groups(GroupTag.JOB)]
        return sorted(
            (job for job in jobs if job.get("job-name") == job_id), key=lambda job: as_int(job["job-id"])
        )

    def _check_format(self, job_id: str, fmt: str) -> None:
        """Raise DocumentRejected, naming what the printer takes, before anything is created."""
        supported = keywords(self._printer_attributes().get("document-format-supported"))
        if supported and fmt not in supported:
            raise DocumentRejected(self.name, job_id, fmt, f"the printer takes {', '.join(supported)}")

    def _create(self, job_id: str, template: tuple[Attribute, ...]) -> tuple[int, str]:
        """Create the job empty (Create-Job), asking again while the printer is busy; its IPP id and uuid."""
        deadline = time.monotonic() + self.busy_wait_s
        while True:
            try:
                response = self._call(
                    Operation.CREATE_JOB, "create a job", attr("job-name", Tag.NAME, job_id), job=template
                )
                break
            except IppRequestRefused as error:
                if error.status != wire.status_name(BUSY) or time.monotonic() > deadline:
                    raise
            time.sleep(BUSY_POLL_S)
        created = response.group(GroupTag.JOB)
        ipp_id = as_int(created["job-id"].value)
        uuid = created.get("job-uuid")
        if uuid is None:  # ippeveprinter does not return it from Create-Job: read it
            attributes = self._call(
                Operation.GET_JOB_ATTRIBUTES,
                "read a job",
                attr("job-id", Tag.INTEGER, ipp_id),
                attr("requested-attributes", Tag.KEYWORD, "job-uuid"),
            ).group(GroupTag.JOB)
            uuid = attributes.get("job-uuid")
        return ipp_id, str(uuid.value) if uuid is not None else ""

    def _claim(self, job_id: str, ipp_id: int) -> None:
        """Make sure our new, empty job is the printer's oldest of its name, else raise DuplicateJob.

        The printer numbers jobs in creation order and every submitter looks only after creating its own, so
        of racing submitters exactly one, the first to create, sees no older job.
        """
        named = self._jobs_named(job_id, ("job-id", "job-name", "job-state"))
        if ipp_id not in {as_int(job["job-id"]) for job in named}:
            raise IppRequestRefused(
                self.name,
                "list jobs by name",
                "job-names-hidden",
                f"the new job {ipp_id} is not listed under its name {job_id!r}",
            )
        older = [job for job in named if as_int(job["job-id"]) < ipp_id]
        if older:
            raise DuplicateJob(self.name, job_id, JobState(as_int(older[0]["job-state"])).keyword)

    def _send(self, job_id: str, ipp_id: int, path: Path, fmt: str) -> None:
        """Send the document into the empty job as its last: from here on the printer prints it."""
        try:
            self._call(
                Operation.SEND_DOCUMENT,
                "take the document",
                attr("job-id", Tag.INTEGER, ipp_id),
                attr("document-format", Tag.MIME_TYPE, fmt),
                attr("last-document", Tag.BOOLEAN, True),
                document=path,
            )
        except IppRequestRefused as error:
            if error.status in (
                wire.status_name(FORMAT_NOT_SUPPORTED),
                wire.status_name(VALUES_NOT_SUPPORTED),
            ):
                raise DocumentRejected(self.name, job_id, fmt, error.detail) from None
            raise

    def _abandon(self, ipp_id: int) -> None:
        """Cancel a job of ours that must not print (lost its claim, or its document was refused)."""
        try:
            self._call(Operation.CANCEL_JOB, "cancel an abandoned job", attr("job-id", Tag.INTEGER, ipp_id))
        except PrinterError:
            log.warning(
                "ipp_job_abandoned",
                printer=self.name,
                ipp_job=ipp_id,
                action="cancel it on the printer: it keeps the printer busy and will never print",
            )

    def _document_format(self, ticket: JobTicket) -> str:
        """The ticket's document format; InvalidTicket when the file is missing or of a kind we do not
        print."""
        return ticket_format(ticket, missing="is not a readable file", directory="is not a readable file")
