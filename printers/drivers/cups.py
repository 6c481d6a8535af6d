"""CUPS printers: jobs go to a CUPS queue through pycups, and the queue's IPP states are the protocol's
states.

**What "completed" means.** CUPS marks a job completed once its data reached the printer, not when paper came
out: a jam after that point still reads ``COMPLETED`` here, and so may a job the device itself failed (CUPS
reports it ``CANCELED`` only when its IPP backend saw the failure before it let go of the job; both happen
with ippeveprinter). Only a read of the sheets' codes downstream proves a piece was printed; the plant never
treats this state as more than "the printer has the data".

**Finding a job again.** A job is created with the plant's job id as its IPP ``job-name``;
:meth:`CupsPrinter.find` returns the queue's oldest job of that name (finished ones too), so a controller that
crashed after submitting finds the job again instead of printing it twice. The driver keeps a map of job
name → CUPS job id for its queue, so a look-up costs the same whatever the history holds: a name it knows is
read by its CUPS id (Get-Job-Attributes); a name it does not know costs one listing of only the jobs created
since its last listing (Get-Jobs with ``first-job-id``, four attributes each), which also learns their names.
Only the first look-up of a process (or one after the remembered id of a name turned out purged) lists the
whole history once. CUPS numbers jobs in creation order, so every job older than the last listing was in a
listing.

**Never twice.** :meth:`CupsPrinter.submit` asks :meth:`~CupsPrinter.find` first, then claims the name before
any byte is sent: it creates the job empty (IPP Create-Job; CUPS holds it as ``job-incoming``), lists the jobs
of that name again, and sends the document only if no older job has it. Of two submitters racing with the same
id, the younger job is purged unprinted, because CUPS numbers jobs in creation order and each submitter looks
after creating its own. A submitter that dies between the two steps leaves an empty job that CUPS aborts after
its ``MultipleOperationTimeout`` (15 minutes by default); it never prints, and :meth:`~CupsPrinter.find`
reports it (held, then aborted).

The window that remains, honestly: CUPS forgets finished jobs it no longer keeps (``PreserveJobHistory``,
``MaxJobs``, ``MaxJobsPerPrinter`` in ``cupsd.conf``; an operator's ``cancel -x``), and jobs an operator moved
to another queue. A job submitted, then forgotten by CUPS before the plant recorded the submission, would be
printed again on a retry. Keep the history longer than the plant's longest retry (the defaults keep 500 jobs),
and keep job names visible to the plant (``JobPrivateValues none`` in the server's default policy, which
governs listing jobs): when CUPS hides them, the driver refuses to submit
(:class:`~printers.errors.JobNamesHidden`) rather than guess.

**Taking a job back.** :meth:`CupsPrinter.withdraw` cancels a job only while CUPS says it never started it,
and answers from what CUPS reports *after* the cancel: cupsd stamps ``time-at-processing`` on a job the moment
it enters processing, before any filter or backend runs, and never clears it (a job sent back to pending by a
paused queue, or restarted, keeps it). A canceled job whose stamp is still empty never had a byte sent to the
printer; any other job may have paper, and answers False.

**Server.** ``server`` is ``host:port`` or the path of cupsd's local socket. libcups resolves a queue through
its process-wide server setting (pycups' ``createJob`` fails on a connection to any other server), so every
request sets it, under one lock shared by all CUPS printers of the process: their requests run one at a time.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import cups

from printers._values import as_int
from printers.drivers._common import require_job
from printers.errors import (
    CupsQueueUnknown,
    CupsRequestRefused,
    CupsUnreachable,
    DocumentRejected,
    DuplicateJob,
    JobFinished,
    JobNamesHidden,
    PrinterError,
    UnknownJob,
)
from printers.ipp_semantics import keywords, printer_status, ticket_format, ticket_media, withdraw_with_proof
from printers.protocol import JobState, JobStatus, JobTicket, PrinterStatus, check_job_id

#: Port of a CUPS server given without one.
DEFAULT_PORT = 631
#: IPP status of a document format the queue cannot print.
FORMAT_NOT_SUPPORTED = cups.IPP_STATUS_ERROR_DOCUMENT_FORMAT_NOT_SUPPORTED
#: HTTP "100 Continue": libcups' answer to each write of a document in progress (pycups exports no name for
#: it).
HTTP_CONTINUE = 100
#: Bytes sent to cupsd per write while streaming a document.
CHUNK_BYTES = 1 << 20
#: Job attributes the driver reads.
JOB_ATTRIBUTES = (
    "job-id",
    "job-name",
    "job-state",
    "job-state-reasons",
    "job-printer-uri",
    "job-printer-state-message",
    "job-media-sheets-completed",
)
#: Attributes read to list jobs (the name is what finds a job, the printer URI says which queue has it; pycups
#: keys the listing by job-id and drops jobs without it). ``job-priority`` is there to make cupsd load each
#: listed job: asked only for attributes it keeps in memory, cupsd answers a finished job it has unloaded (a
#: few seconds after it ended) without its ``job-name``, which would read as a name CUPS hides.
LIST_ATTRIBUTES = ("job-id", "job-name", "job-state", "job-printer-uri", "job-priority")
#: Names the driver remembers before it forgets them all and lists the whole history again (once): bounds the
#: map of a long-running plant, whose CUPS keeps only its last MaxJobs jobs anyway.
REMEMBERED_NAMES = 20_000
#: Job attributes a withdrawal decides by: cupsd sets time-at-processing (no-value until then) when the job
#: enters processing, before any filter or backend runs, and never clears it; the counters are read as a
#: second check.
PROOF_ATTRIBUTES = (
    "job-name",
    "job-printer-uri",
    "job-state",
    "time-at-processing",
    "job-impressions-completed",
    "job-media-sheets-completed",
)
#: Printer attributes the driver reads.
PRINTER_ATTRIBUTES = ("printer-state", "printer-state-reasons", "queued-job-count", "printer-state-message")
#: What a job's state means when CUPS gives no message of its own.
STATE_MESSAGES: Mapping[JobState, str] = {
    JobState.PENDING: "queued in CUPS",
    JobState.HELD: "held in CUPS; release it to print it",
    JobState.PROCESSING: "CUPS is sending it to the printer",
    JobState.STOPPED: "stopped: the queue or the printer stopped; fix it, then enable the queue (cupsenable)",
    JobState.CANCELED: "canceled",
    JobState.ABORTED: "aborted by CUPS or the printer",
    JobState.COMPLETED: "CUPS delivered the data to the printer (that does not prove paper came out)",
}
#: Message for a job whose document never arrived completely (its submitter stopped half-way).
INCOMING_MESSAGE = (
    "created but its document never arrived completely; it will not print, and CUPS aborts it "
    "after its MultipleOperationTimeout"
)

#: The operation name of a cancel (canceling a canceled job is not an error, unlike holding one).
CANCEL = "cancel the job"

#: libcups keeps the server in process-wide settings; every CUPS request in the process holds this lock.
_LOCK = threading.RLock()


def parse_server(server: str) -> tuple[str, int]:
    """Split ``host:port`` (or a local socket path, or ``[v6]:port``) into host and port."""
    if server.startswith("/"):
        return server, DEFAULT_PORT
    host, sep, port = server.rpartition(":")
    if not sep or not port.isdigit() or (":" in host and not host.startswith("[")):
        return server, DEFAULT_PORT
    return host.strip("[]"), int(port)


def job_options(ticket: JobTicket) -> dict[str, str]:
    """The IPP job attributes (as CUPS options) for a ticket: copies, sides, media, then its extra options."""
    options = {"copies": str(ticket.copies), "sides": ticket.sides, "media": ticket_media(ticket)}
    for key, value in ticket.extra.items():
        options[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
    return options


def job_status(job_id: str, attributes: Mapping[str, object]) -> JobStatus:
    """The protocol's view of a CUPS job from its IPP attributes (IPP job-state numbers are JobState's)."""
    state = JobState(as_int(attributes["job-state"]))
    reasons = keywords(attributes.get("job-state-reasons"))
    message = str(attributes.get("job-printer-state-message") or "")
    if not message:
        message = INCOMING_MESSAGE if "job-incoming" in reasons else STATE_MESSAGES[state]
    sheets = as_int(attributes.get("job-media-sheets-completed") or 0)
    return JobStatus(job_id, state, sheets, reasons, None, message)


class CupsPrinter:
    """A printer behind a CUPS queue, driven through pycups (see the module docstring for the guarantees)."""

    def __init__(self, name: str, server: str, queue: str | None = None) -> None:
        """Drive CUPS queue ``queue`` (default: ``name``) on ``server`` as printer ``name``; nothing is
        contacted yet."""
        if not server:
            raise ValueError("a CUPS printer needs its server ('host:port' or the local socket path)")
        self.name = name
        self.server = server
        self.queue = queue or name
        self._host, self._port = parse_server(server)
        self._connection: cups.Connection | None = None
        #: job name -> CUPS id of the queue's oldest job of that name seen in a listing or created here.
        self._cups_ids: dict[str, int] = {}
        #: The lowest CUPS job id no listing has shown yet (0: nothing listed, the next listing lists all).
        self._next_cups_id = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.server!r}, queue={self.queue!r})"

    # -- the Printer protocol --------------------------------------------------------------------------------

    def submit(self, ticket: JobTicket) -> JobStatus:
        """Queue the ticket's document under its job id; raise DuplicateJob if the queue has that id already.

        Raises InvalidTicket when the file is missing or neither PDF nor PWG raster, DocumentRejected when the
        queue does not take its format, and CupsQueueUnknown / CupsUnreachable for a wrong queue or server.
        """
        job_id = ticket.job_id
        existing = self.find(job_id)
        if existing is not None:
            raise DuplicateJob(self.name, job_id, existing.state.keyword)
        fmt = self._document_format(ticket)
        options = job_options(ticket)
        with self._session("create a job") as conn:
            cups_id = conn.createJob(self.queue, job_id, options)
            try:
                self._claim(conn, job_id, cups_id)
                self._send(conn, cups_id, ticket.pdf_path, fmt)
            except BaseException as error:
                self._purge(cups_id)
                if isinstance(error, cups.IPPError) and error.args[0] == FORMAT_NOT_SUPPORTED:
                    raise DocumentRejected(self.name, job_id, fmt, str(error.args[1])) from None
                raise
            self._cups_ids[job_id] = cups_id
        return self.status(job_id)

    def find(self, job_id: str) -> JobStatus | None:
        """The queue's oldest job named ``job_id``, finished or not; None if CUPS has none (safe to
        submit)."""
        check_job_id(job_id)
        with self._session("look up a job") as conn:
            attributes = self._oldest(conn, job_id)
            if attributes is None:
                self._require_queue(conn)
                return None
        return job_status(job_id, attributes)

    def status(self, job_id: str) -> JobStatus:
        """The job's status; raises UnknownJob if the queue does not have it."""
        return require_job(self, job_id)

    def printer_status(self) -> PrinterStatus:
        """The queue's state and reasons (STOPPED for a disabled queue, or a printer reporting an error)."""
        with self._session("read the queue's state") as conn:
            attributes = conn.getPrinterAttributes(self.queue, requested_attributes=list(PRINTER_ATTRIBUTES))
        return printer_status(self.name, attributes)

    def cancel(self, job_id: str) -> None:
        """Cancel the job; nothing for a canceled one, JobFinished for one completed or aborted."""
        self._change(job_id, CANCEL, lambda conn, cups_id: conn.cancelJob(cups_id))

    def withdraw(self, job_id: str) -> bool:
        """Take a job back only if CUPS never started it; True when provably no sheet of it was printed.

        A pending or held job that never entered processing is canceled, and the answer is read from CUPS
        after the cancel: True only if the job is then canceled with ``time-at-processing`` still empty. A job
        that started meanwhile (the cancel met it processing, or found it finished) answers False, as does
        every job that ever reached processing, which is left alone: a job a paused queue sent back to pending
        may be half printed. A job withdrawn before answers True again; a job the queue does not have answers
        False.
        """
        check_job_id(job_id)
        if self.find(job_id) is None:
            return False
        cups_id = self._cups_ids[job_id]  # find() remembered it
        try:
            with self._session("withdraw the job", job_id) as conn:
                return withdraw_with_proof(
                    lambda: self._proof(conn, job_id, cups_id), lambda: self._cancel_if_live(conn, cups_id)
                )
        except UnknownJob:  # purged meanwhile: nothing can be proven about it
            return False

    # -- beyond the protocol: CUPS can hold a job that has not started ---------------------------------------

    def hold(self, job_id: str) -> None:
        """Hold a job that has not started printing, so CUPS keeps it until :meth:`release`."""
        self._change(
            job_id, "hold the job", lambda conn, cups_id: conn.setJobHoldUntil(cups_id, "indefinite")
        )

    def release(self, job_id: str) -> None:
        """Release a held job: CUPS queues it for printing again."""
        self._change(
            job_id, "release the job", lambda conn, cups_id: conn.setJobHoldUntil(cups_id, "no-hold")
        )

    # -- CUPS requests ---------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _session(self, operation: str, job_id: str | None = None) -> Iterator[cups.Connection]:
        """Hold the process-wide CUPS lock with libcups pointed at our server; turn CUPS errors into ours.

        ``job_id`` names the job an operation acts on, so that CUPS's "not found" means the job, not the
        queue.
        """
        with _LOCK:
            cups.setServer(self._host)
            cups.setPort(self._port)
            if self._connection is None:
                try:
                    self._connection = cups.Connection(host=self._host, port=self._port)
                except RuntimeError as error:  # pycups: "failed to connect to server"
                    raise CupsUnreachable(self.name, self.server, str(error)) from None
            try:
                yield self._connection
            except cups.HTTPError as error:
                self._connection = None
                raise CupsUnreachable(self.name, self.server, f"HTTP status {error.args[0]}") from None
            except cups.IPPError as error:
                raise self._translate(error, operation, job_id) from None

    def _translate(self, error: cups.IPPError, operation: str, job_id: str | None) -> PrinterError:
        """The PrinterError for an IPP error CUPS (or libcups, for a lost connection) answered with."""
        status, detail = error.args[0], str(error.args[1])
        if status == cups.IPP_STATUS_ERROR_NOT_FOUND:
            if job_id is not None:
                return UnknownJob(self.name, job_id)
            return CupsQueueUnknown(self.name, self.server, self.queue)
        if status == cups.IPP_STATUS_ERROR_SERVICE_UNAVAILABLE:
            self._connection = None
            return CupsUnreachable(self.name, self.server, detail)
        if status == cups.IPP_STATUS_ERROR_INTERNAL:
            self._connection = None  # libcups also reports a broken connection this way, with errno's text
        return CupsRequestRefused(self.name, operation, cups.ippErrorString(status), detail)

    def _claim(self, conn: cups.Connection, job_id: str, cups_id: int) -> None:
        """Make sure our new, still empty job is the queue's oldest of its name, else raise DuplicateJob.

        CUPS numbers jobs in creation order and every submitter looks only after creating its own, so of any
        number of racing submitters exactly one, the first to create, sees no older job. The listing since
        the last one shows our job and every job created after that listing; older ones are in the map.
        """
        listed = self._list_new(conn)
        if cups_id not in listed:  # a queue whose names CUPS hides raised already; this is a job moved away
            raise JobNamesHidden(self.name, self.server, self.queue)
        oldest = self._oldest(conn, job_id)
        if oldest is None:
            raise JobNamesHidden(self.name, self.server, self.queue)
        if self._cups_ids[job_id] < cups_id:  # _oldest() left the oldest live job's id in the map
            raise DuplicateJob(self.name, job_id, JobState(as_int(oldest["job-state"])).keyword)

    def _require_queue(self, conn: cups.Connection) -> None:
        """Raise CupsQueueUnknown (through the session) if the queue does not exist."""
        try:
            conn.getPrinterAttributes(self.queue, requested_attributes=["printer-state"])
        except cups.IPPError as error:
            if error.args[0] == cups.IPP_STATUS_ERROR_NOT_FOUND:
                raise CupsQueueUnknown(self.name, self.server, self.queue) from None
            raise

    def _oldest(self, conn: cups.Connection, job_id: str) -> Mapping[str, object] | None:
        """The attributes of the queue's oldest job named ``job_id``, or None if CUPS has none.

        A remembered CUPS id is read directly; an unknown name costs one listing of the jobs created since the
        last listing. A remembered job that is gone (purged, moved) may hide a younger one of its name that an
        earlier listing saw and did not remember, so then the whole history is listed once more.
        """
        remembered = job_id in self._cups_ids
        attributes = self._known(conn, job_id)
        if attributes is None:
            if remembered:
                self._forget_all()
            self._list_new(conn)
            attributes = self._known(conn, job_id)  # None also for one purged between the two requests
        return attributes

    def _forget_all(self) -> None:
        """Drop the map: the next listing lists the whole history and learns it again."""
        self._cups_ids.clear()
        self._next_cups_id = 0

    def _list_new(self, conn: cups.Connection) -> set[int]:
        """List the jobs CUPS created since the last listing (all of them the first time) and remember the
        oldest CUPS id of each name on this queue; return the CUPS ids of this queue's jobs listed.

        Raises JobNamesHidden, remembering nothing, when CUPS hides a name on this queue.
        """
        if len(self._cups_ids) > REMEMBERED_NAMES:
            self._forget_all()
        jobs: Mapping[int, Mapping[str, object]] = conn.getJobs(
            which_jobs="all",
            first_job_id=self._next_cups_id or -1,
            requested_attributes=list(LIST_ATTRIBUTES),
        )
        ours = sorted((cups_id, attrs) for cups_id, attrs in jobs.items() if self._on_queue(attrs))
        if any(not attrs.get("job-name") for _, attrs in ours):
            raise JobNamesHidden(self.name, self.server, self.queue)
        for cups_id, attrs in ours:
            self._cups_ids.setdefault(str(attrs["job-name"]), cups_id)
        if jobs:
            self._next_cups_id = max(self._next_cups_id, max(jobs) + 1)
        return {cups_id for cups_id, _ in ours}

    def _on_queue(self, attributes: Mapping[str, object]) -> bool:
        """True for a job of this queue (CUPS lists every queue's jobs)."""
        return str(attributes.get("job-printer-uri", "")).endswith(f"/printers/{self.queue}")

    def _known(self, conn: cups.Connection, job_id: str) -> Mapping[str, object] | None:
        """The attributes of a job whose CUPS id this driver remembers, if CUPS still has it under that
        name."""
        cups_id = self._cups_ids.get(job_id)
        if cups_id is None:
            return None
        try:
            attributes: Mapping[str, object] = conn.getJobAttributes(
                cups_id, requested_attributes=list(JOB_ATTRIBUTES)
            )
        except cups.IPPError as error:
            if error.args[0] != cups.IPP_STATUS_ERROR_NOT_FOUND:
                raise
            attributes = {}
        if attributes.get("job-name") != job_id or not self._on_queue(attributes):
            del self._cups_ids[job_id]  # purged, renumbered, or its name hidden: look it up by name again
            return None
        return attributes

    def _proof(self, conn: cups.Connection, job_id: str, cups_id: int) -> Mapping[str, object] | None:
        """The attributes a withdrawal decides by, or None when ``cups_id`` is no longer our job
        ``job_id``."""
        attributes: Mapping[str, object] = conn.getJobAttributes(
            cups_id, requested_attributes=list(PROOF_ATTRIBUTES)
        )
        if attributes.get("job-name") != job_id or not self._on_queue(attributes):
            return None
        return attributes

    def _cancel_if_live(self, conn: cups.Connection, cups_id: int) -> None:
        """Cancel a job; a job that ended meanwhile (CUPS: "not possible") is left for the caller to read."""
        try:
            conn.cancelJob(cups_id)
        except cups.IPPError as error:
            if error.args[0] != cups.IPP_STATUS_ERROR_NOT_POSSIBLE:
                raise

    def _send(self, conn: cups.Connection, cups_id: int, path: Path, fmt: str) -> None:
        """Stream the document into the (empty) job as its last document: from here on CUPS prints it."""
        conn.startDocument(self.queue, cups_id, path.name, fmt, 1)
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                status = conn.writeRequestData(chunk, len(chunk))
                if status != HTTP_CONTINUE:
                    raise CupsUnreachable(
                        self.name, self.server, f"HTTP status {status} while sending the document"
                    )
        conn.finishDocument(self.queue)

    def _purge(self, cups_id: int) -> None:
        """Remove a job of ours that must not print (never sent, or refused), on a fresh connection.

        The connection the job was created on may be in the middle of a request; if the server is gone, CUPS
        aborts the empty job itself after its MultipleOperationTimeout.
        """
        with contextlib.suppress(RuntimeError, cups.IPPError, cups.HTTPError):
            cups.Connection(host=self._host, port=self._port).cancelJob(cups_id, purge_job=True)
        self._connection = None

    def _change(self, job_id: str, operation: str, change: Callable[[cups.Connection, int], object]) -> None:
        """Apply ``change(conn, cups_id)`` to a live job: canceled jobs are left alone, finished ones
        refused."""
        if self._nothing_to_do(self.status(job_id), operation):
            return
        try:
            with self._session(operation, job_id) as conn:
                change(conn, self._cups_ids[job_id])  # status() above remembered the CUPS id
        except CupsRequestRefused:
            if self._nothing_to_do(self.status(job_id), operation):  # it may have ended since we looked
                return
            raise

    def _nothing_to_do(self, current: JobStatus, operation: str) -> bool:
        """True for canceling a canceled job; raise for any other change to a job that ended."""
        if not current.is_final:
            return False
        if operation == CANCEL and current.state is JobState.CANCELED:
            return True
        if operation == CANCEL:
            raise JobFinished(self.name, current.job_id, current.state.keyword)
        raise CupsRequestRefused(
            self.name,
            operation,
            "client-error-not-possible",
            f"job {current.job_id!r} is already {current.state.keyword}",
        )

    def _document_format(self, ticket: JobTicket) -> str:
        """The ticket's document format; InvalidTicket when the file is missing or of a kind we do not
        print."""
        return ticket_format(ticket, missing="does not exist", directory="is a directory")
