"""A simulated production press behind a hot folder, so dry runs and tests need no hardware.

:class:`SimulatedPress` is the *device*: it watches a hot folder (see :mod:`printers.drivers.hotfolder`),
takes complete jobs one at a time in arrival order, "prints" them sheet by sheet at its rated speed, writes
the sheets that came out to ``output/<job>.pdf`` and reports progress through the status files. It jams at
configured press-lifetime sheet counts and stays stopped until the jam is cleared (printing continues with the
next sheet) or the job is restarted from its first sheet (:meth:`SimulatedPress.restart`: as a real press's
operator may do after a jam, so sheets 1..k come out twice). All its state lives in the folder, so a restarted
press resumes the job it was printing, and another process can drive it through files::

    <folder>/control/clear           clear the jam (printing continues with the next sheet)
    <folder>/control/cancel/<job>    cancel the job (see printers.drivers.hotfolder)
    <folder>/control/restart/<job>   restart the job on the press from its first sheet (request_restart)

The press keeps its own books (:mod:`printers.books`, ``<folder>/books.jsonl``) as a real press's accounting
would: every job it started (``kind: job``, ``event: started``, with ``print`` — 1 for the first print of
that job id on this press, 2 for the next, … — and the ticket's digest), every sheet it fed (``kind:
sheet``: job, print, 1-based ``sheet``, press-lifetime ``press_sheet``, ``outcome`` ``out`` or ``spoiled``),
each resume after a restart and how every print ended. A restart resumes a job from its last saved position,
so the sheets fed after that save are fed again, and the books show them twice
(:meth:`SimulatedPress.sheet_counts`). An operator's restart from page 1 is a ``job`` record (``event:
restarted``, the same print number, ``sheet`` the sheet the job had reached, ``sheets_out`` so far)
followed by every sheet fed again under its own sheet number; the output then holds what came out of the
press, in order: the sheets before the restart and the reprinted ones after them. The output is always
exactly the sheets the books show ``out`` for that print, in the books' order: a job resumed after a restart
takes that list from the books (read once, when the press starts), so the sheets fed again after the last save
lie in the output twice, as in a real tray. A job id printed again (a
new ticket after the first print ended) is a new print: its output goes to ``output/<job>+<print>.pdf``
(``output/<job>.pdf`` is the first print's and is never overwritten).

The books are the press's truth, its status files only what it published of them: a crash between booking a
job's end and writing its final status leaves ``status/<job>.json`` saying "processing" (or torn, or missing)
for a job the books show ended. So a starting press rewrites, from the books, the status of every job whose
last print the books show ended (completed, canceled, aborted) and whose status file is missing, torn or not
final — the state, sheets, output and message it would have written at the end — and removes the temp files a
killed writer left in ``status/``. A leftover ticket of such a job (the same crash) is then only discarded.

Run a press on its own, and restart its job from page 1 (or clear its jam) from another shell::

    python -m printers.drivers.simulated --folder /srv/press-1 --sheets-per-minute 120 --time-scale 0.01
    python -m printers.drivers.simulated --folder /srv/press-1 --restart-job J000001
    python -m printers.drivers.simulated --folder /srv/press-1 --clear-jam

Time: ``time_scale`` is wall seconds per device second (0.01 runs the press 100 times faster than real; 0
makes it instantaneous). The clock is injectable, and :meth:`SimulatedPress.step` does exactly what is due at
the clock's current reading, so tests drive the press deterministically without sleeping.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import math
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf
import structlog

from printers import _files
from printers._values import as_int, as_items, as_record
from printers.books import Books, Record, read_books, tally
from printers.drivers.hotfolder import (
    REASONS_CANCELED,
    HotFolderLayout,
    HotFolderPrinter,
    process_start,
    read_job_status,
    ticket_from_json,
    write_job_status,
    write_printer_status,
)
from printers.errors import InvalidJobId
from printers.protocol import PAGES_PER_SHEET, JobState, JobStatus, JobTicket, PrinterState, check_job_id

log = structlog.get_logger(__name__)

#: Wall seconds between progress reports while a job prints (a time-scaled press reports on the wall clock, so
#: an instantaneous one reports only every PROGRESS_EVERY_SHEETS sheets, not once per simulated half second).
PROGRESS_INTERVAL_S = 0.5
#: Sheets between progress reports, for presses fast enough to print many sheets in PROGRESS_INTERVAL_S.
PROGRESS_EVERY_SHEETS = 50
#: Wall seconds the device loop waits between steps in :meth:`SimulatedPress.run`.
POLL_INTERVAL_S = 0.05
#: Speed of a simulated press when none is configured (a mid-range cut-sheet production press).
DEFAULT_SHEETS_PER_MINUTE = 120.0
#: Format tag of the press's own state file.
PRESS_STATE_FORMAT = "plant-simulated-press/1"
#: Printer-state-reason and job reason of a jam.
MEDIA_JAM = "media-jam"

#: IPP job-state-reasons per situation.
REASONS_PRINTING = ("job-printing",)
REASONS_JAMMED = ("printer-stopped", MEDIA_JAM)
REASONS_DONE = ("job-completed-successfully",)
REASONS_DONE_SPOILED = ("job-completed-with-errors",)
REASONS_BAD_DOCUMENT = ("aborted-by-system", "document-format-error")
#: Folder (under the press's folder) of restart-from-page-1 requests, one empty file per job.
RESTART_DIR = Path("control") / "restart"
#: Age (by the folder's clock) past which a temp file in status/ is stale whoever wrote it (a status write
#: takes milliseconds); a younger one is stale when its writer (the pid in its name) is gone here.
STALE_TEMP_S = 60.0
#: Job events that end a print.
ENDED_EVENTS = frozenset(state.keyword for state in (JobState.COMPLETED, JobState.CANCELED, JobState.ABORTED))


def restart_request(folder: Path | str, job_id: str) -> Path:
    """The control file that asks the press working ``folder`` to restart ``job_id`` from its first sheet."""
    check_job_id(job_id)
    return Path(folder) / RESTART_DIR / job_id


def request_restart(folder: Path | str, job_id: str) -> Path:
    """Ask the press working ``folder`` (in any process) to restart ``job_id`` from its first sheet: the
    operator's action after a jam. The press honours it when that job is on it, else drops it."""
    path = restart_request(folder, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    _files.atomic_write(path, lambda handle: handle.write(b""))
    return path


@dataclass
class _Job:
    """The job on the press: its ticket, its geometry and how far it got."""

    ticket: JobTicket
    pages: int
    pages_per_sheet: int
    total_sheets: int
    digest: str
    print_no: int
    output: Path
    next_sheet: int = 0
    spoiled: list[int] = field(default_factory=list)
    segment_start: float = 0.0
    segment_sheets: int = 0
    #: The passes before each restart from page 1: (sheets fed, 0-based sheets of them spoiled).
    passes: list[tuple[int, list[int]]] = field(default_factory=list)
    #: 0-based sheets that came out, in the order they came out: every sheet booked ``out`` for this print
    #: (over every pass, and twice when a resume after a restart fed it again), never a spoiled one.
    out: list[int] = field(default_factory=list)

    @property
    def job_id(self) -> str:
        """The job's id."""
        return self.ticket.job_id

    @property
    def sheets_out(self) -> int:
        """Sheets that came out of the press (fed minus spoiled), over every pass (restarts included)."""
        return sum(fed - len(spoiled) for fed, spoiled in self._all_passes())

    @property
    def all_spoiled(self) -> list[int]:
        """0-based sheets spoiled by jams, over every pass."""
        return [sheet for _, spoiled in self._all_passes() for sheet in spoiled]

    def _all_passes(self) -> list[tuple[int, list[int]]]:
        return [*self.passes, (self.next_sheet, self.spoiled)]

    def pages_out(self) -> Iterator[int]:
        """Document page indices of the sheets that came out (:attr:`out`), in the order they came out."""
        doc_sheets = max(1, math.ceil(self.pages / self.pages_per_sheet))
        for sheet in self.out:
            first = (sheet % doc_sheets) * self.pages_per_sheet
            yield from range(first, min(first + self.pages_per_sheet, self.pages))


class SimulatedPress:
    """A production press working a hot folder from the device side (see the module docstring)."""

    def __init__(
        self,
        name: str,
        folder: Path | str,
        sheets_per_minute: float,
        time_scale: float = 1.0,
        jams: Sequence[int] = (),
        jam_spoils_sheet: bool = True,
        auto_clear_after_s: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Set up press `name` on `folder` (created if missing) and reload any state a previous run left.

        `jams` are press-lifetime sheet numbers (1 = the first sheet this press ever feeds) at which it jams;
        `auto_clear_after_s` (device seconds) clears a jam without an operator.
        """
        if sheets_per_minute <= 0:
            raise ValueError(f"sheets_per_minute must be positive, not {sheets_per_minute}")
        if time_scale < 0:
            raise ValueError(f"time_scale cannot be negative, not {time_scale}")
        self.name = name
        self.layout = HotFolderLayout(Path(folder))
        self.layout.make_dirs()
        self.sheets_per_minute = float(sheets_per_minute)
        self.time_scale = float(time_scale)
        self.jams = frozenset(jams)
        self.jam_spoils_sheet = jam_spoils_sheet
        self.auto_clear_after_s = auto_clear_after_s
        self._clock = clock
        self._lock = threading.RLock()
        self._state_path = self.layout.root / "state" / "press.json"
        self._state_path.parent.mkdir(exist_ok=True)
        saved = as_record(_files.read_json(self._state_path) or {})
        self.lifetime_sheets: int = as_int(saved.get("lifetime_sheets", 0))
        self.jammed: bool = bool(saved.get("jammed", False))
        self._resume: Mapping[str, object] = as_record(saved.get("job") or {})
        self._books = Books(self.layout.root, name)
        self._print_index: dict[str, dict[str, tuple[int, bool]]] = {}
        #: (job, print) → 0-based sheets booked ``out``, in order, of the prints the books show unfinished:
        #: what a job resumed after a restart has already put in the tray.
        self._unfinished_out: dict[tuple[str, int], list[int]] = {}
        endings = _Endings(self.layout.root)
        for record in self._books.records():  # one pass over the books, at start only
            kind = record.get("kind")
            endings.fold(record)
            if kind == "job":
                _index_print(self._print_index, record)
                _forget_ended(self._unfinished_out, record)
            elif kind == "sheet":
                # The books are the counter a restart cannot roll back: sheets fed after the last save count.
                self.lifetime_sheets = max(self.lifetime_sheets, as_int(record.get("press_sheet", 0)))
                if record.get("outcome") == "out":
                    key = (str(record.get("job")), as_int(record.get("print", 0)))
                    self._unfinished_out.setdefault(key, []).append(as_int(record.get("sheet", 0)) - 1)
        self._job: _Job | None = None
        self._cursor = clock()
        self._jammed_at = self._cursor
        self._since_report = (0, 0.0)
        self._published: tuple[PrinterState, tuple[str, ...], str | None] | None = None
        self._settle_statuses(endings)
        self._publish_printer()
        for ticket in self.layout.taken_tickets():  # a job a previous run was printing resumes right away
            if self._start_taken(ticket.stem) is not None:
                break

    # -- what the press looks like ---------------------------------------------------------------------------

    @property
    def sheet_seconds(self) -> float:
        """Device seconds one sheet takes."""
        return 60.0 / self.sheets_per_minute

    @property
    def state(self) -> PrinterState:
        """The press's IPP printer state."""
        if self.jammed:
            return PrinterState.STOPPED
        return PrinterState.PROCESSING if self._job else PrinterState.IDLE

    @property
    def reasons(self) -> tuple[str, ...]:
        """The press's IPP printer-state-reasons."""
        return (MEDIA_JAM,) if self.jammed else ()

    @property
    def current_job(self) -> str | None:
        """The id of the job on the press, if any."""
        return self._job.job_id if self._job else None

    # -- the press's own books -----------------------------------------------------------------------------

    def books(self, kind: str | None = None) -> list[Record]:
        """Every record of the press's books, oldest first (only ``kind``'s: job, sheet), see the module
        docstring; :func:`press_books` reads them without a press."""
        return self._books.records(kind)

    def sheet_counts(self, job_id: str | None = None) -> Counter[tuple[str, int]]:
        """How often each sheet was fed, per (job, 1-based sheet), over all prints (spoiled ones too): more
        than once is a sheet printed twice."""
        return sheet_counts(self.books("sheet"), job_id)

    def restarts(self, job_id: str | None = None) -> list[Record]:
        """The restarts from page 1 in the books (of ``job_id`` only, if given), oldest first."""
        return [
            r
            for r in self.books("job")
            if r.get("event") == "restarted" and (job_id is None or r.get("job") == job_id)
        ]

    def prints(self, job_id: str) -> int:
        """How many times the press started printing ``job_id`` (a resume after a restart is one print)."""
        return len(self._prints(job_id))

    def _prints(self, job_id: str) -> dict[str, tuple[int, bool]]:
        """The prints of ``job_id`` in the books: ticket digest → (print number, ended)."""
        return dict(self._print_index.get(job_id, {}))

    def _book_job(self, event: str, job_id: str, print_no: int | None, **fields: object) -> None:
        """Append a job record to the books and keep the index of prints up to date."""
        record = self._books.append("job", event=event, job=job_id, print=print_no, **fields)
        _index_print(self._print_index, record)

    # -- the device loop -------------------------------------------------------------------------------------

    def step(self) -> None:
        """Do everything due by the clock's current reading: take jobs, print sheets, honour control files."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            if self._handle_control(now):
                self._advance(now)
            if self._job and self._since_report != (0, 0.0):
                self._report_progress(self._job)

    def run(self, stop: threading.Event) -> None:
        """Work the hot folder until `stop` is set (the body of a device thread or process)."""
        log.info("press_started", printer=self.name, folder=str(self.layout.root))
        while not stop.is_set():
            self.step()
            stop.wait(POLL_INTERVAL_S)
        log.info("press_stopped", printer=self.name)

    def clear_jam(self) -> bool:
        """Clear a jam (the operator's action); printing continues with the next sheet. False if not
        jammed."""
        with self._lock:
            return self._clear(self._clock())

    def restart(self, job_id: str | None = None) -> bool:
        """Restart the job on the press from its first sheet (the operator's action, usually after a jam; it
        clears the jam): every sheet is fed again, the ones already out stay in the output before them. With
        ``job_id``, only if that job is the one on the press. False when there is no such job on the press."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            return self._restart(job_id, now)

    def cancel(self, job_id: str) -> bool:
        """Cancel a job from the press's panel: the one printing or one waiting. False if it has neither."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            return self._cancel(job_id, now)

    def _advance(self, now: float) -> None:
        """Simulate the press up to wall time `now`: jams clearing, jobs starting, sheets coming out."""
        if self._job is None and not self.jammed:
            self._cursor = now  # an idle press starts the next job when it notices it
        while True:
            if self.jammed:
                due = self._jammed_at + (self.auto_clear_after_s or 0) * self.time_scale
                if self.auto_clear_after_s is None or due > now or not self._clear(due):
                    return
            elif self._job is None:
                if not self._take_next():
                    return
            elif not self._print_due(self._job, now):
                return

    def _print_due(self, job: _Job, now: float) -> bool:
        """Print the sheets of `job` due by `now`; True when the job finished, False when it waits or
        jammed."""
        wall_per_sheet = self.sheet_seconds * self.time_scale
        while job.next_sheet < job.total_sheets:
            due = job.segment_start + (job.segment_sheets + 1) * wall_per_sheet
            if due > now:
                return False
            self._feed(job, due)
            if self.jammed:
                return False
        self._finish(job, JobState.COMPLETED)
        return True

    def _feed(self, job: _Job, due: float) -> None:
        """One sheet goes through the paper path (and may jam there)."""
        self.lifetime_sheets += 1
        sheet = job.next_sheet
        job.next_sheet += 1
        job.segment_sheets += 1
        self._cursor = due
        sheets, device_s = self._since_report
        self._since_report = (sheets + 1, device_s + self.sheet_seconds)
        spoils = self.lifetime_sheets in self.jams and self.jam_spoils_sheet
        self._books.append(
            "sheet",
            job=job.job_id,
            print=job.print_no,
            sheet=sheet + 1,
            press_sheet=self.lifetime_sheets,
            outcome="spoiled" if spoils else "out",
        )
        if not spoils:
            job.out.append(sheet)
        if self.lifetime_sheets in self.jams:
            if spoils:
                job.spoiled.append(sheet)
            self.jammed = True
            self._jammed_at = due
            log.warning(
                "media_jam",
                printer=self.name,
                job=job.job_id,
                sheet=sheet + 1,
                press_sheet=self.lifetime_sheets,
                spoiled=self.jam_spoils_sheet,
            )
            self._write_output(job)
            self._report_progress(job)
        elif (
            self._since_report[0] >= PROGRESS_EVERY_SHEETS
            or self._since_report[1] * self.time_scale >= PROGRESS_INTERVAL_S
        ):
            self._report_progress(job)

    def _clear(self, at: float) -> bool:
        """End a jam at wall time `at`; the job's next sheet starts then."""
        if not self.jammed:
            return False
        self.jammed = False
        self._cursor = max(self._cursor, at)
        if self._job:
            self._job.segment_start, self._job.segment_sheets = self._cursor, 0
            self._report_progress(self._job)
        else:
            self._save_state()
            self._publish_printer()
        log.info("jam_cleared", printer=self.name, job=self.current_job)
        return True

    def _restart(self, job_id: str | None, at: float) -> bool:
        """Put the job on the press back to its first sheet at wall time `at` (see :meth:`restart`)."""
        job = self._job
        if job is None or (job_id is not None and job.job_id != job_id):
            log.warning("restart_ignored", printer=self.name, job=job_id, on_press=self.current_job)
            return False
        reached = job.next_sheet
        self._write_output(job)
        job.passes.append((job.next_sheet, job.spoiled))
        job.next_sheet, job.spoiled = 0, []
        self.jammed = False
        self._cursor = max(self._cursor, at)
        job.segment_start, job.segment_sheets = self._cursor, 0
        self._book_job("restarted", job.job_id, job.print_no, sheet=reached, sheets_out=job.sheets_out)
        log.warning(
            "job_restarted",
            printer=self.name,
            job=job.job_id,
            reached=reached,
            sheets_out=job.sheets_out,
            message=f"{job.job_id} restarts from sheet 1 after {reached} of {job.total_sheets} sheets: "
            "the sheets already out come out again",
        )
        self._report_progress(job)
        return True

    # -- jobs ------------------------------------------------------------------------------------------------

    def _take_next(self) -> bool:
        """Start the next job: one already in work/ (after a restart) first, else the oldest waiting
        ticket."""
        for ticket in self.layout.taken_tickets():
            if self._start_taken(ticket.stem) is not None:
                return True
        for ticket in self.layout.waiting_tickets():
            job_id = ticket.stem
            if self._take(job_id) and self._start_taken(job_id) is not None:
                return True
        return False

    def _take(self, job_id: str) -> bool:
        """Move a waiting job into work/; False if it is not a job id or someone else took it first."""
        try:
            check_job_id(job_id)
            # Renaming the ticket is the claim: a driver withdrawing the job unlinks that same name.
            self.layout.ticket(job_id).rename(self.layout.work_ticket(job_id))
        except (InvalidJobId, FileNotFoundError):
            return False
        self._adopt_document(job_id)
        return True

    def _adopt_document(self, job_id: str) -> None:
        """Bring a taken job's PDF into work/ (also finishes a move a crash interrupted)."""
        with contextlib.suppress(FileNotFoundError):
            self.layout.document(job_id).rename(self.layout.work_document(job_id))
        _files.fsync_dir(self.layout.work)
        _files.fsync_dir(self.layout.root)

    def _start_taken(self, job_id: str) -> _Job | None:
        """Put a job from work/ on the press, resuming where a previous run recorded it; None if it ended.

        The books tell a leftover from a new print: a ticket whose print they show ended is a leftover (a
        crash hit between the final report and cleanup); a ticket they do not know is a new print, even of a
        job id printed before.
        """
        try:
            check_job_id(job_id)
            reported = read_job_status(self.layout, job_id)
        except (InvalidJobId, ValueError, KeyError):
            reported = None
        try:
            digest = hashlib.sha256(self.layout.work_ticket(job_id).read_bytes()).hexdigest()[:32]
        except FileNotFoundError:
            digest = ""
        prints = self._prints(job_id)
        known = prints.get(digest)
        if (known is not None and known[1]) or (
            known is None and not digest and reported is not None and reported.is_final
        ):
            self._discard(job_id)
            return None
        self._adopt_document(job_id)
        try:
            data = _files.read_json(self.layout.work_ticket(job_id))
            ticket = ticket_from_json(as_record(data), self.layout.work_document(job_id))
            with pikepdf.open(ticket.pdf_path) as pdf:
                pages = len(pdf.pages)
        except Exception as error:  # a job the press cannot read ends ABORTED, whatever the cause
            self._abort(
                job_id, f"the job cannot be read ({type(error).__name__}: {error}); fix it, then resubmit"
            )
            return None
        per_sheet = PAGES_PER_SHEET[ticket.sides]
        print_no = known[0] if known is not None else len(prints) + 1
        job = _Job(
            ticket,
            pages,
            per_sheet,
            math.ceil(pages / per_sheet) * ticket.copies,
            digest,
            print_no,
            self.layout.output(job_id, print_no),
            segment_start=self._cursor,
        )
        if known is None:
            self._book_job("started", job_id, print_no, ticket=digest, sheets=job.total_sheets)
        resume = self._resume
        if resume.get("job_id") == job_id and resume.get("ticket", digest) == digest:
            job.next_sheet = as_int(resume.get("next_sheet", 0))
            job.spoiled = [as_int(sheet) for sheet in as_items(resume.get("spoiled", ()))]
            job.passes = [
                (as_int(fed), [as_int(sheet) for sheet in as_items(spoiled)])
                for fed, spoiled in (as_items(p) for p in as_items(resume.get("passes", ())))
            ]
            log.info("job_resumed", printer=self.name, job=job_id, sheet=job.next_sheet + 1)
        if known is not None:
            # What this print already put in the tray is what the books show out, sheets fed again included.
            job.out = self._unfinished_out.pop((job_id, print_no), [])
            self._book_job("resumed", job_id, print_no, sheet=job.next_sheet + 1)
        self._resume = {}
        self._job = job
        self._report_progress(job)
        return job

    def _cancel(self, job_id: str, at: float) -> bool:
        """Cancel the printing job, or take a waiting one and cancel it; False if neither is here."""
        current = self._job
        if current is None or current.job_id != job_id:
            if not (self._take(job_id) or self.layout.work_ticket(job_id).exists()):
                return False
            if current is not None:  # another job prints: this one never reaches the paper path
                self._book_job("canceled", job_id, None, sheets_out=0)
                write_job_status(
                    self.layout,
                    JobStatus(
                        job_id, JobState.CANCELED, 0, REASONS_CANCELED, None, "canceled before printing"
                    ),
                )
                self._discard(job_id)
                return True
            current = self._start_taken(job_id)
            if current is None:
                return True  # it had ended already, or could not be read (then it is aborted)
        self._cursor = max(self._cursor, at)
        self._finish(current, JobState.CANCELED)
        return True

    def _handle_control(self, now: float) -> bool:
        """Honour control files another process dropped (jam clear, restart and cancel requests); True if any
        acted."""
        acted = False
        with contextlib.suppress(FileNotFoundError):
            self.layout.clear_request.unlink()
            acted = self._clear(now) or acted
        restarts = self.layout.root / RESTART_DIR
        for request in sorted(restarts.iterdir()) if restarts.is_dir() else []:
            if request.name.startswith("."):
                continue
            acted = self._restart(request.name, now) or acted
            _files.remove(request)
        requests = sorted(self.layout.cancel_dir.iterdir()) if self.layout.cancel_dir.is_dir() else []
        for request in requests:
            if request.name.startswith("."):
                continue
            acted = self._cancel(request.name, now) or acted
            _files.remove(request)
        return acted

    def _finish(self, job: _Job, state: JobState) -> None:
        """End the job: output first, then the books, then the final report, then forget it (that order
        survives crashes: a start puts a final report the books have but the status lacks right)."""
        output = self._write_output(job)
        reasons, message = _final_words(
            state, job.sheets_out, job.total_sheets, len(job.passes), [sheet + 1 for sheet in job.all_spoiled]
        )
        self._book_job(
            state.keyword,
            job.job_id,
            job.print_no,
            sheets_out=job.sheets_out,
            output=str(output.relative_to(self.layout.root)),
        )
        write_job_status(self.layout, JobStatus(job.job_id, state, job.sheets_out, reasons, output, message))
        self._job = None
        self._since_report = (0, 0.0)
        self._save_state()
        self._discard(job.job_id)
        self._publish_printer()
        log.info("job_finished", printer=self.name, job=job.job_id, state=state.name, sheets=job.sheets_out)

    def _abort(self, job_id: str, message: str) -> None:
        """End a job the press cannot print."""
        self._book_job("aborted", job_id, None, sheets_out=0, message=message)
        write_job_status(
            self.layout, JobStatus(job_id, JobState.ABORTED, 0, REASONS_BAD_DOCUMENT, None, message)
        )
        self._discard(job_id)
        log.error("job_aborted", printer=self.name, job=job_id, message=message)

    def _settle_statuses(self, endings: _Endings) -> None:
        """Put right, from the books, the status of every job whose last print ended but whose status file
        is missing, torn or not final (a crash cut its final report), and remove the temp files dead writers
        left in status/."""
        for final in endings.final_statuses():
            try:
                reported = read_job_status(self.layout, final.job_id)
            except (ValueError, KeyError, TypeError, AttributeError):
                reported = None  # torn or unreadable: the books say what it should be
            if reported is not None and reported.is_final:
                continue  # a final report stays: the press wrote it, or a driver withdrew a later ticket
            write_job_status(self.layout, final)
            log.warning(
                "job_status_restored",
                printer=self.name,
                job=final.job_id,
                state=final.state.name,
                sheets=final.sheets_completed,
                was=None if reported is None else reported.state.name,
                message="the press's books show the job ended but its status said otherwise (a crash cut "
                "its final report): the status is rewritten from the books",
            )
        temps = list(self.layout.status_dir.glob(f".*{_files.TEMP_SUFFIX}"))
        if temps:
            now = _files.filesystem_now(self.layout.status_dir)
            _files.remove(*(temp for temp in temps if _stale_temp(temp, now)))

    def _discard(self, job_id: str) -> None:
        """Remove a finished job's files from work/ and any cancel request left for it."""
        _files.remove(
            self.layout.work_ticket(job_id),
            self.layout.work_document(job_id),
            self.layout.cancel_request(job_id),
        )

    # -- reporting -------------------------------------------------------------------------------------------

    def _report_progress(self, job: _Job) -> None:
        """Record the progress of `job`, the one on the press (press state first, so a restart resumes from
        it), and publish it."""
        self._save_state()
        reasons: tuple[str, ...]
        if self.jammed:
            state, reasons = JobState.STOPPED, REASONS_JAMMED
            message = (
                f"stopped by a media jam at sheet {job.next_sheet} of {job.total_sheets}; clear the jam "
                "(or write control/clear), then printing continues — or restart the job from its first "
                f"sheet (control/restart/{job.job_id})"
            )
        else:
            state, reasons = JobState.PROCESSING, REASONS_PRINTING
            message = f"printing: {job.sheets_out} of {job.total_sheets} sheets came out"
        output = job.output
        write_job_status(
            self.layout,
            JobStatus(
                job.job_id, state, job.sheets_out, reasons, output if output.exists() else None, message
            ),
        )
        self._since_report = (0, 0.0)
        self._publish_printer()

    def _save_state(self) -> None:
        """Persist what a restarted press needs: lifetime counter, jam, and the job's position."""
        job = self._job
        _files.atomic_write_json(
            self._state_path,
            {
                "format": PRESS_STATE_FORMAT,
                "lifetime_sheets": self.lifetime_sheets,
                "jammed": self.jammed,
                "job": None
                if job is None
                else {
                    "job_id": job.job_id,
                    "ticket": job.digest,
                    "next_sheet": job.next_sheet,
                    "spoiled": job.spoiled,
                    "passes": [[fed, spoiled] for fed, spoiled in job.passes],
                },
            },
        )

    def _publish_printer(self) -> None:
        """Write status/printer.json when the press's state, reasons or job changed."""
        current = (self.state, self.reasons, self.current_job)
        if current != self._published:
            write_printer_status(
                self.layout,
                self.state,
                self.reasons,
                current_job=self.current_job,
                lifetime_sheets=self.lifetime_sheets,
            )
            self._published = current

    def _write_output(self, job: _Job) -> Path:
        """Write the sheets that came out so far, in order, to the print's output (output/<job>.pdf for the
        first print of the job)."""
        target = job.output
        with pikepdf.open(job.ticket.pdf_path) as source, pikepdf.new() as printed:
            for index in job.pages_out():
                printed.pages.append(source.pages[index])
            _files.atomic_write(target, printed.save)
        return target


def _final_words(
    state: JobState, sheets_out: int, total_sheets: int, restarts: int, spoiled: Sequence[int]
) -> tuple[tuple[str, ...], str]:
    """The reasons and message of a print's final report (``spoiled``: its 1-based spoiled sheets)."""
    if state is JobState.CANCELED:
        return REASONS_CANCELED, f"canceled after {sheets_out} of {total_sheets} sheets came out"
    message = f"completed: {sheets_out} of {total_sheets} sheets came out"
    if restarts:
        message = (
            f"completed: {sheets_out} sheets came out for the job's {total_sheets} "
            f"(restarted from sheet 1 {restarts} time(s): sheets came out twice)"
        )
    if spoiled:
        message += f"; spoiled by jams: sheet {', '.join(str(sheet) for sheet in spoiled)}"
    return (REASONS_DONE_SPOILED if spoiled else REASONS_DONE), message


@dataclass
class _PrintTrail:
    """What the books say about one print, as much as its final report needs."""

    total_sheets: int = 0
    restarts: int = 0
    #: 1-based sheets spoiled, in the order they were fed.
    spoiled: list[int] = field(default_factory=list)


class _Endings:
    """The final report of every job whose last print the books show ended, folded from the books at start."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._trails: dict[tuple[str, int], _PrintTrail] = {}
        #: job id → its last ``job`` record.
        self._last: dict[str, Record] = {}

    def fold(self, record: Record) -> None:
        """Take one record of the books, oldest first."""
        kind = record.get("kind")
        if kind == "sheet":
            if record.get("outcome") == "spoiled":
                key = (str(record.get("job")), as_int(record.get("print", 0)))
                self._trails.setdefault(key, _PrintTrail()).spoiled.append(as_int(record.get("sheet", 0)))
            return
        if kind != "job":
            return
        job_id, event, number = str(record.get("job")), record.get("event"), record.get("print")
        self._last[job_id] = record
        if number is None:
            return
        key = (job_id, as_int(number))
        if event == "started":
            self._trails[key] = _PrintTrail(total_sheets=as_int(record.get("sheets", 0)))
        elif event == "restarted":
            self._trails.setdefault(key, _PrintTrail()).restarts += 1

    def final_statuses(self) -> Iterator[JobStatus]:
        """The final report the press would have written for each job whose last print ended."""
        for job_id, record in self._last.items():
            event = record.get("event")
            if event not in ENDED_EVENTS:
                continue
            state = JobState.parse(str(event))
            number = record.get("print")
            if state is JobState.ABORTED:
                message = str(record.get("message", "the job cannot be read"))
                yield JobStatus(job_id, state, 0, REASONS_BAD_DOCUMENT, None, message)
            elif number is None:  # canceled before it reached the paper path
                yield JobStatus(job_id, state, 0, REASONS_CANCELED, None, "canceled before printing")
            else:
                trail = self._trails.get((job_id, as_int(number)), _PrintTrail())
                sheets_out = as_int(record.get("sheets_out", 0))
                reasons, message = _final_words(
                    state, sheets_out, trail.total_sheets, trail.restarts, trail.spoiled
                )
                output = record.get("output")
                path = self._root / str(output) if output else None
                yield JobStatus(job_id, state, sheets_out, reasons, path, message)


def _stale_temp(path: Path, now: float) -> bool:
    """True for a temp file (``.<name>.<pid>.<token>.part``) no writer will finish: older than
    :data:`STALE_TEMP_S` by the folder's clock ``now``, or written by a pid that is no process here."""
    try:
        age = now - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if age > STALE_TEMP_S:
        return True
    try:
        pid = int(path.name.rsplit(".", 3)[1])
    except (IndexError, ValueError):
        return False
    return pid != os.getpid() and process_start(pid) is None


def _index_print(index: dict[str, dict[str, tuple[int, bool]]], record: Record) -> None:
    """Fold one ``job`` record into ``index``: job id → ticket digest → (print number, ended)."""
    prints = index.setdefault(str(record.get("job")), {})
    number = record.get("print")
    if record.get("event") == "started":
        prints[str(record.get("ticket"))] = (as_int(number), False)
    elif record.get("event") not in ("resumed", "restarted") and number is not None:
        for digest, (known, _) in list(prints.items()):
            if known == number:
                prints[digest] = (known, True)


def _forget_ended(unfinished: dict[tuple[str, int], list[int]], record: Record) -> None:
    """Drop the sheets of a print from ``unfinished`` once a ``job`` record shows that print ended."""
    number = record.get("print")
    if record.get("event") not in ("started", "resumed", "restarted") and number is not None:
        unfinished.pop((str(record.get("job")), as_int(number)), None)


def press_books(folder: Path | str, kind: str | None = None) -> list[Record]:
    """The books of the press working ``folder``, read without touching the press (for a checker)."""
    return read_books(Path(folder), kind)


def sheet_counts(sheets: list[Record], job_id: str | None = None) -> Counter[tuple[str, int]]:
    """How often each (job, 1-based sheet) appears among press ``sheet`` records (of ``job_id`` only, if
    given)."""
    counts = tally((r for r in sheets if job_id is None or r.get("job") == job_id), "job", "sheet")
    return Counter({(str(job), as_int(sheet)): n for (job, sheet), n in counts.items()})


class SimulatedPrinter(HotFolderPrinter):
    """The driver of a simulated press: a hot-folder printer that owns its :class:`SimulatedPress`.

    With `run_press` the press works in a daemon thread until :meth:`close`; without it, call
    ``printer.press.step()`` (tests) or run the press in another process.
    """

    def __init__(
        self,
        name: str,
        folder: Path | str,
        sheets_per_minute: float = DEFAULT_SHEETS_PER_MINUTE,
        time_scale: float = 1.0,
        jams: Sequence[int] = (),
        jam_spoils_sheet: bool = True,
        auto_clear_after_s: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        run_press: bool = True,
    ) -> None:
        """Create the press on `folder` and the driver for it; start the press thread if `run_press`."""
        self.press = SimulatedPress(
            name,
            folder,
            sheets_per_minute,
            time_scale,
            jams,
            jam_spoils_sheet,
            auto_clear_after_s,
            clock=clock,
        )
        super().__init__(name, folder)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if run_press:
            self.start()

    def start(self) -> None:
        """Run the press in a daemon thread (no-op if it runs already)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self.press.run, args=(self._stop,), name=f"press-{self.name}", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        """Stop the press thread, if any, and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> SimulatedPrinter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line of the stand-alone press."""
    parser = argparse.ArgumentParser(
        prog="python -m printers.drivers.simulated",
        description="Run a simulated production press on a hot folder.",
    )
    parser.add_argument("--folder", type=Path, required=True, help="the hot folder to work")
    control = parser.add_mutually_exclusive_group()
    control.add_argument(
        "--restart-job",
        metavar="JOB",
        help="do not run a press: ask the press working --folder to restart JOB from its first sheet",
    )
    control.add_argument(
        "--clear-jam",
        action="store_true",
        help="do not run a press: ask the press working --folder to clear its jam",
    )
    parser.add_argument("--sheets-per-minute", type=float, default=DEFAULT_SHEETS_PER_MINUTE)
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="wall seconds per device second (0 = instantaneous)"
    )
    parser.add_argument("--name", help="printer name (default: the folder's name)")
    parser.add_argument(
        "--jam",
        type=int,
        action="append",
        default=[],
        metavar="SHEET",
        help="jam at this press-lifetime sheet number (repeatable)",
    )
    parser.add_argument(
        "--keep-jammed-sheet", action="store_true", help="a jam does not destroy the sheet in the paper path"
    )
    parser.add_argument(
        "--auto-clear-after",
        type=float,
        metavar="SECONDS",
        help="clear a jam by itself after this many device seconds",
    )
    return parser.parse_args(argv)


def press_from_args(args: argparse.Namespace) -> SimulatedPress:
    """Build the press the command line describes."""
    return SimulatedPress(
        args.name or args.folder.resolve().name,
        args.folder,
        args.sheets_per_minute,
        args.time_scale,
        args.jam,
        not args.keep_jammed_sheet,
        args.auto_clear_after,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run a stand-alone press until SIGINT or SIGTERM, or drop one control request for a running one."""
    args = parse_args(argv)
    if args.restart_job is not None:
        try:
            request_restart(args.folder, args.restart_job)
        except InvalidJobId as error:
            print(
                f"{error}; give the job name the press shows (status/printer.json: current_job)",
                file=sys.stderr,
            )
            return 2
        return 0
    if args.clear_jam:
        request = HotFolderLayout(args.folder).clear_request
        request.parent.mkdir(parents=True, exist_ok=True)
        _files.atomic_write(request, lambda handle: handle.write(b""))
        return 0
    press = press_from_args(args)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    press.run(stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
