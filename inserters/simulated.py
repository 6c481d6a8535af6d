"""A simulated envelope inserter that does the real work, behind a folder protocol.

Driver side (the host, any process): :meth:`SimulatedInserter.submit` writes ``runs/<run>.csv`` (the mail run
data, in the configured layout) and then ``runs/<run>.json`` (job id, printed sheets, control zone), both
atomically; the header appearing is what hands the run over. :meth:`~SimulatedInserter.find` and
:meth:`~SimulatedInserter.result` read ``progress/<run>.json`` while the run is in the machine and
``results/<run>.csv`` + ``results/<run>.json`` once it is finished (the JSON is written last).
:meth:`~SimulatedInserter.machine_status` reads ``machine.json``, the device's own state.

Device side (:meth:`~SimulatedInserter.step` for tests, :meth:`~SimulatedInserter.run` in a thread, or
``python -m inserters.simulated --folder F``): takes runs in submission order, reads every sheet's control
code with the camera, collates (:mod:`inserters.collation`), and works through the envelopes at its rated
speed — ``envelopes_per_hour`` of device time, ``time_scale`` wall seconds per device second (0 = instantly) —
on an injectable clock. Progress is saved after every step, so a restarted device resumes a run where it
stopped and never touches a run whose results exist: no piece is enveloped twice — not even when a save was
lost, because the books (below) are what says how far a run got.

Taking and withdrawing a run. The device *takes* a run by renaming its header from ``runs/`` into ``taken/``
before it feeds a sheet; :meth:`~SimulatedInserter.withdraw` renames the same header into ``withdrawn/``. A
rename is atomic, so exactly one of the two wins: a header in ``withdrawn/`` proves the machine never started
the run and never will.

Stops. The machine stops for an operator after the machine-lifetime envelope numbers ``stops_at`` (with
``stop_reasons``, by default an empty envelope hopper), or when a fault is injected (:meth:`fault`, for tests
and demos: ``control/fault.json``). Stopped, it feeds nothing and reports ``stopped`` with the reasons in
``machine.json``; the envelopes done so far stay done. :meth:`clear` (``control/clear``, the operator's
action) starts it again where it stopped. Only the device writes ``machine.json``; the state and the lifetime
count survive a restart. The machine status file::

    {"format": "plant-inserter-machine/1", "state": "stopped", "reasons": ["envelope-jam"], "envelopes": 412}

``state`` is ``stopped`` or ``running`` (``idle``/``processing`` are read as running); a running machine is
reported idle or processing by its queue, as is a folder without the file.

The machine keeps its own books (:mod:`printers.books`, ``<folder>/books.jsonl``): each run it started,
resumed, rejected or finished (``kind: run``) and every envelope cycle (``kind: envelope``: run, job,
``cycle`` in the run, ``piece``, ``outcome``, ``reason``, ``sheets_read``, machine-lifetime
``machine_envelope``), booked (fsynced) before the state that counts it — ``machine.json``, the run's
progress — is saved. The books are the counter a restart cannot roll back, as a real machine's counters: a
device that starts (or resumes a run) takes every envelope of the run already booked as done, with its
result as booked, and its lifetime count from the last ``machine_envelope``; so a state save that failed (a
full disk) or was lost in a crash is made good, and no envelope is made, or booked, twice. A cycle booked
twice would show in :meth:`SimulatedInserter.envelope_counts`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, Unpack

import structlog

from inserters.camera import read_sheets
from inserters.collation import NO_FAULTS, Envelope, Faults, account, collate
from inserters.errors import (
    BadRunId,
    DuplicateRun,
    MachineStatusUnreadable,
    MailRunFileError,
    RunRejected,
    UnknownRun,
    UnreadableStack,
)
from inserters.mailrun import DEFAULT_LAYOUT, MailRunLayout, atomic_write
from inserters.protocol import (
    InserterState,
    InserterStatus,
    MailRun,
    Outcome,
    PieceResult,
    RunRecord,
    RunResult,
)
from printers.books import Books, Record

log = structlog.get_logger(__name__)

#: Wall seconds the device thread waits between steps.
POLL_INTERVAL_S = 0.05
#: Wall seconds the device thread pauses after a failed step before it tries again.
FAILED_STEP_PAUSE_S = 1.0
#: Default rated speed, envelopes per hour of device time.
DEFAULT_ENVELOPES_PER_HOUR = 6000.0
#: Default most sheets one envelope takes.
DEFAULT_MAX_SHEETS = 6
#: Run ids name files, so they must be plain file names.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: Slack on the envelope count due, so 0.3 s / 0.1 s counts 3 envelopes, not 2.999….
_DUE_EPSILON = 1e-9
#: Format tag of the machine status file.
MACHINE_FORMAT = "plant-inserter-machine/1"
#: Reasons the machine gives when it stops at one of its ``stops_at`` envelopes.
DEFAULT_STOP_REASONS = ("envelopes-empty",)
#: Reasons of an injected fault (:meth:`SimulatedInserter.fault`) that names none.
DEFAULT_FAULT_REASONS = ("envelope-jam",)
#: ``machine.json`` states read as a running machine (idle or processing by its queue).
_RUNNING = frozenset({"running", InserterState.IDLE.value, InserterState.PROCESSING.value})


class _RunHeader(TypedDict):
    """A submitted run as its header ``runs/<run_id>.json`` holds it (its records are in the CSV beside
    it)."""

    run_id: str
    job_id: str
    sheets_pdf: str
    control_zone: list[float]
    submitted_ns: int


class _PieceRecord(TypedDict):
    """One piece's result as progress and summary files hold it."""

    piece_id: str
    outcome: str
    reason: str
    sheets_read: int


class _MachineChange(TypedDict, total=False):
    """Fields of the machine's own state that a step changes."""

    state: str
    reasons: list[str]
    envelopes: int


class _MachineState(TypedDict):
    """The machine's own state, as ``machine.json`` holds it besides its format tag and time stamp."""

    state: str
    reasons: list[str]
    envelopes: int


@dataclass
class _Active:
    """The run in the machine: its collated envelopes and how many of them are done."""

    run_id: str
    job_id: str
    records: tuple[RunRecord, ...]
    envelopes: tuple[Envelope, ...]
    outsorted: tuple[PieceResult, ...]
    final: dict[str, PieceResult]
    started_at: float
    done_at_start: int
    #: Envelopes of this run done: every one of them is in the books.
    done: int
    #: Envelopes the saved progress counts (behind ``done`` after a failed or lost save, until made good).
    saved: int = 0
    #: True once the run's end is in the books (a finish done again after a failed save books it once).
    finish_booked: bool = False


class SimulatedInserter:
    """Driver and device of one simulated inserter working in ``folder`` (see the module docstring)."""

    def __init__(
        self,
        name: str,
        folder: Path | str,
        envelopes_per_hour: float = DEFAULT_ENVELOPES_PER_HOUR,
        max_sheets: int = DEFAULT_MAX_SHEETS,
        time_scale: float = 1.0,
        *,
        faults: Faults = NO_FAULTS,
        clock: Callable[[], float] = time.monotonic,
        layout: MailRunLayout = DEFAULT_LAYOUT,
        stops_at: Sequence[int] = (),
        stop_reasons: Sequence[str] = DEFAULT_STOP_REASONS,
    ) -> None:
        if envelopes_per_hour <= 0 or max_sheets < 1 or time_scale < 0 or any(n < 1 for n in stops_at):
            raise ValueError(
                "envelopes_per_hour > 0, max_sheets >= 1, time_scale >= 0 and stops_at >= 1 are required"
            )
        self.name = name
        self.folder = Path(folder)
        self.envelopes_per_hour = float(envelopes_per_hour)
        self.max_sheets = int(max_sheets)
        self.time_scale = float(time_scale)
        self.faults = faults
        self.layout = layout
        #: Machine-lifetime envelope numbers after which the machine stops for an operator.
        self.stops_at = frozenset(stops_at)
        self.stop_reasons = tuple(stop_reasons)
        self._clock = clock
        self._active: _Active | None = None
        self._lock = threading.Lock()
        for sub in ("runs", "taken", "withdrawn", "progress", "results", "control"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self._books = Books(self.folder, name)
        booked = self._books.records()
        self._runs_booked = {str(r.get("run")) for r in booked if r.get("kind") == "run"}
        #: The machine-lifetime envelope count by the books: a restart cannot roll it back.
        self._lifetime_booked = max(
            (_as_int(r.get("machine_envelope")) for r in booked if r.get("kind") == "envelope"), default=0
        )
        self._machine: _MachineState | None = None  # the device's own state, loaded on its first step

    @property
    def wall_seconds_per_envelope(self) -> float:
        """Wall-clock seconds one envelope takes: device time per envelope × time_scale."""
        return 3600.0 / self.envelopes_per_hour * self.time_scale

    # -- driver side -----------------------------------------------------------------------------------------
    def submit(self, run: MailRun) -> None:
        """Hand ``run`` to the inserter, once: DuplicateRun when it has a run of that id already."""
        _check_run_id(run.run_id)
        if any(
            path.exists()
            for path in (self._header(run.run_id), self._taken(run.run_id), self._summary(run.run_id))
        ):
            raise DuplicateRun(self.name, run.run_id)
        self._withdrawn(run.run_id).unlink(
            missing_ok=True
        )  # sent here again: an old withdrawal proves nothing now
        self.layout.write_run(self._data(run.run_id), run.records)
        header: _RunHeader = {
            "run_id": run.run_id,
            "job_id": run.job_id,
            "sheets_pdf": str(Path(run.sheets_pdf).resolve()),
            "control_zone": list(run.control_zone),
            "submitted_ns": time.time_ns(),
        }
        if not atomic_write(self._header(run.run_id), json.dumps(header).encode(), exclusive=True):
            raise DuplicateRun(self.name, run.run_id)
        log.info("run_received", inserter=self.name, run=run.run_id, job=run.job_id, pieces=len(run.records))

    def find(self, run_id: str) -> RunResult | None:
        """The run's result so far, or None when this inserter never got the run (ask before resubmitting).

        While the run is in the machine ``finished`` is False, ``results`` holds the pieces decided so far
        (provisional) and ``reprint`` is empty; RunRejected when the device refused the run's data.
        """
        _check_run_id(run_id)
        if self._summary(run_id).exists():
            summary = json.loads(self._summary(run_id).read_text())
            results = self.layout.read_results(self._results(run_id))
            return RunResult(run_id, results, tuple(summary["reprint"]), True, _decode(summary["outsorted"]))
        if self._rejected(run_id).exists():
            raise RunRejected(self.name, run_id, json.loads(self._rejected(run_id).read_text())["problem"])
        if self._progress(run_id).exists():
            progress = json.loads(self._progress(run_id).read_text())
            return RunResult(run_id, _decode(progress["results"]), (), False, _decode(progress["outsorted"]))
        if self._header(
            run_id
        ).exists():  # checked before taken/: the device moves the header from here to there
            return RunResult(run_id, (), (), False, waiting=True)
        if self._taken(run_id).exists():
            return RunResult(run_id, (), (), False)
        return None

    def result(self, run_id: str) -> RunResult:
        """The run's result so far (``finished`` False while it runs); UnknownRun when the inserter has no
        such run."""
        found = self.find(run_id)
        if found is None:
            raise UnknownRun(self.name, run_id)
        return found

    def machine_status(self) -> InserterStatus:
        """The machine's state from ``machine.json`` (see the module docstring) and the runs it holds;
        MachineStatusUnreadable when the file is not what the protocol says."""
        path = self._machine_path()
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            record = None
        except (OSError, ValueError) as exc:
            raise MachineStatusUnreadable(self.name, path, str(exc)) from exc
        return machine_status_from(self.name, record, len(self._pending()), path)

    def withdraw(self, run_id: str) -> bool:
        """Take a run back if the machine never started it; True when provably no sheet of it was fed.

        The header is renamed from ``runs/`` into ``withdrawn/``; the device takes a run by renaming the same
        header into ``taken/``, so exactly one of the two wins, and the header in ``withdrawn/`` is the proof.
        A run withdrawn before answers True again; a run the machine took, or never had, answers False and is
        left alone.
        """
        _check_run_id(run_id)
        try:
            os.rename(self._header(run_id), self._withdrawn(run_id))
        except FileNotFoundError:
            return self._withdrawn(run_id).exists() and not self._taken(run_id).exists()
        self._data(run_id).unlink(missing_ok=True)
        log.info("run_withdrawn", inserter=self.name, run=run_id)
        return True

    # -- the machine's own books ----------------------------------------------------------------------------
    def books(self, kind: str | None = None) -> list[Record]:
        """Every record of the machine's books, oldest first (only ``kind``'s: run, envelope); see the module
        docstring. :func:`printers.books.read_books` reads them without a machine."""
        return self._books.records(kind)

    def envelope_counts(self, outcome: str | None = Outcome.INSERTED.value) -> Counter[str]:
        """Envelope cycles per piece id (only those with ``outcome``; None: all): a piece inserted more than
        once shows a count above 1."""
        return Counter(
            str(r.get("piece"))
            for r in self.books("envelope")
            if outcome is None or r.get("outcome") == outcome
        )

    # -- the machine's panel (simulation: a fault; the operator: clear) --------------------------------------
    def fault(self, reasons: Sequence[str] = DEFAULT_FAULT_REASONS) -> None:
        """Make the machine stop before its next envelope, as a jam would, with ``reasons``: what a test or a
        demo uses to stop it. Written to ``control/fault.json``; the device (any process) stops at its next
        step."""
        self._clear_request().unlink(missing_ok=True)
        atomic_write(self._fault_request(), json.dumps({"reasons": list(reasons)}).encode())

    def clear(self) -> None:
        """The operator cleared the stop: the machine goes on where it stopped at its next step."""
        self._fault_request().unlink(missing_ok=True)
        atomic_write(self._clear_request(), b"")

    # -- device side -----------------------------------------------------------------------------------------
    def step(self) -> int:
        """Do what is due by now on the device clock; return the envelopes completed in this step.

        Applies a fault or a clear asked for on the panel; then, unless stopped, starts the next submitted run
        when idle, advances the run in the machine by the envelopes its speed allows (up to the next
        ``stops_at`` envelope), saves progress, and writes the results when the run is done — then goes on
        with the next run in the time left over.
        """
        with self._lock:
            now, completed, start_at = self._clock(), 0, None
            self._apply_requests(now)
            while not self.stopped:
                if self._active is None:
                    self._active = self._start_next(now if start_at is None else start_at)
                    if self._active is None:
                        return completed
                active = self._active
                completed += self._advance(active, now)
                if active.done < len(active.envelopes):
                    return completed
                self._finish(active)
                start_at = (
                    active.started_at + (active.done - active.done_at_start) * self.wall_seconds_per_envelope
                )
                self._active = None
            return completed

    @property
    def stopped(self) -> bool:
        """True while the machine is stopped for an operator (the device's own view)."""
        return self._state()["state"] == InserterState.STOPPED.value

    @property
    def busy(self) -> bool:
        """True while a run is in the machine."""
        return self._active is not None

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set (the device thread's body).

        A failing step is logged and retried after a pause: the device keeps serving its other runs, and a
        step is safe to repeat because an envelope in the books is never made again (a save that failed is
        made at the next step).
        """
        while not stop.is_set():
            try:
                self.step()
            except Exception:
                log.exception("inserter_step_failed", inserter=self.name)
                stop.wait(FAILED_STEP_PAUSE_S)
            stop.wait(POLL_INTERVAL_S)

    def _state(self) -> _MachineState:
        if self._machine is None:
            try:
                saved = json.loads(self._machine_path().read_text())
            except (FileNotFoundError, ValueError):
                saved = {}
            stopped = saved.get("state") == InserterState.STOPPED.value
            self._machine = {
                "state": "stopped" if stopped else "running",
                "reasons": list(saved.get("reasons", [])) if stopped else [],
                "envelopes": int(saved.get("envelopes", 0)),
            }
        return self._machine

    def _save_state(self, **changes: Unpack[_MachineChange]) -> None:
        """Save the machine's state with ``changes``; the device's view changes only once it is saved (a save
        that fails, a full disk, is made again at the next step)."""
        state = self._state()
        record: dict[str, object] = {"format": MACHINE_FORMAT, **state, **changes, "updated": time.time()}
        atomic_write(self._machine_path(), json.dumps(record).encode())
        state.update(changes)

    def _stop(self, reasons: Sequence[str], envelopes: int | None = None) -> None:
        if envelopes is None:
            self._save_state(state=InserterState.STOPPED.value, reasons=list(reasons))
        else:
            self._save_state(state=InserterState.STOPPED.value, reasons=list(reasons), envelopes=envelopes)
        run = self._active.run_id if self._active is not None else None
        log.warning("inserter_stopped", inserter=self.name, reasons=list(reasons), run=run)

    def _apply_requests(self, now: float) -> None:
        """Apply a fault, then a clear, asked for on the panel since the last step."""
        if self._fault_request().exists():
            try:
                reasons = (
                    json.loads(self._fault_request().read_text()).get("reasons") or DEFAULT_FAULT_REASONS
                )
            except ValueError:
                reasons = DEFAULT_FAULT_REASONS
            self._stop(reasons)
            self._fault_request().unlink(missing_ok=True)
        if self._clear_request().exists():
            if self.stopped:
                self._save_state(state="running", reasons=[])
                if self._active is not None:  # the run goes on from now: the stop took no envelope's time
                    self._active.started_at, self._active.done_at_start = now, self._active.done
                log.info("inserter_cleared", inserter=self.name)
            self._clear_request().unlink(missing_ok=True)

    def _start_next(self, now: float) -> _Active | None:
        for header_path in self._pending():
            if header_path.parent.name == "runs":
                taken = self._taken(header_path.stem)
                try:
                    os.rename(header_path, taken)  # the take: from here on it cannot be withdrawn
                except FileNotFoundError:  # withdrawn (or taken by another device process) meanwhile
                    continue
                header_path = taken
            header: _RunHeader = json.loads(header_path.read_text())
            run_id = header["run_id"]
            try:
                records = self.layout.read_run(self._data(run_id))
            except MailRunFileError as exc:
                self._books.append(
                    "run", event="rejected", run=run_id, job=header["job_id"], problem=str(exc)
                )
                atomic_write(self._rejected(run_id), json.dumps({"problem": str(exc)}).encode())
                log.error("run_rejected", inserter=self.name, run=run_id, problem=str(exc))
                continue
            return self._load(run_id, header, records, now)
        return None

    def _load(self, run_id: str, header: _RunHeader, records: tuple[RunRecord, ...], now: float) -> _Active:
        try:
            x, y, w, h = header["control_zone"]
            codes = read_sheets(Path(header["sheets_pdf"]), (x, y, w, h))
        except UnreadableStack as exc:  # no sheet arrives: every piece is MISSING, the host reprints them
            log.warning("stack_unreadable", inserter=self.name, run=run_id, error=str(exc))
            codes = []
        collated = collate(codes, records, header["job_id"], self.max_sheets, self.faults, run_id)
        saved = 0
        if self._progress(run_id).exists():
            saved = json.loads(self._progress(run_id).read_text())["envelopes_done"]
        # The books are the counter a restart cannot roll back: envelopes booked after the last save are done.
        cycles, finish_booked = self._booked_run(run_id)
        envelopes, booked = _as_booked(collated.envelopes, cycles, records)
        done = max(saved, booked)
        final, outsorted = account(envelopes, records, finished=True)
        if done:
            log.info("run_resumed", inserter=self.name, run=run_id, envelopes_done=done, saved=saved)
        if done > saved:
            log.warning(
                "run_resumed_from_books",
                inserter=self.name,
                run=run_id,
                envelopes_done=done,
                saved=saved,
                message=f"{done - saved} envelope(s) of {run_id} were booked after its last saved progress: "
                "taken as done, not made again",
            )
        event = "resumed" if done or run_id in self._runs_booked else "started"
        self._runs_booked.add(run_id)
        self._books.append(
            "run", event=event, run=run_id, job=header["job_id"], envelopes=len(envelopes), done=done
        )
        if not done:
            log.info(
                "run_started",
                inserter=self.name,
                run=run_id,
                pieces=len(records),
                sheets=len(codes),
                envelopes=len(collated.envelopes),
            )
        return _Active(
            run_id,
            header["job_id"],
            records,
            envelopes,
            tuple(outsorted),
            final,
            now,
            done,
            done,
            saved,
            finish_booked,
        )

    def _booked_run(self, run_id: str) -> tuple[dict[int, Record], bool]:
        """The envelope cycles of ``run_id`` in the books by cycle number (the first booking of each), and
        whether its end is booked (a crash before its results were saved)."""
        cycles: dict[int, Record] = {}
        finished = False
        for record in self._books.records():
            if record.get("run") != run_id:
                continue
            if record.get("kind") == "envelope":
                cycles.setdefault(_as_int(record.get("cycle")), record)
            elif record.get("kind") == "run" and record.get("event") == "finished":
                finished = True
        return cycles, finished

    def _advance(self, active: _Active, now: float) -> int:
        total = len(active.envelopes)
        if self.time_scale == 0:
            due = total
        else:
            elapsed = max(0.0, now - active.started_at)
            due = min(
                total,
                active.done_at_start + math.floor(elapsed / self.wall_seconds_per_envelope + _DUE_EPSILON),
            )
        # The lifetime count: the saved one, or the books' when envelopes were booked after the last save.
        saved = self._state()["envelopes"]
        lifetime = max(saved, self._lifetime_booked)
        # The next stop not yet saved (one the books reached but whose save was lost is due now).
        stop = min((n for n in self.stops_at if n > saved and n >= lifetime), default=None)
        if stop is not None:
            due = min(due, active.done + stop - lifetime)
        advanced = max(0, due - active.done)
        for cycle in range(active.done, active.done + advanced):
            result = active.envelopes[cycle].result
            self._books.append(
                "envelope",
                run=active.run_id,
                job=active.job_id,
                cycle=cycle + 1,
                piece=result.piece_id,
                outcome=result.outcome.value,
                reason=result.reason,
                sheets_read=result.sheets_read,
                machine_envelope=lifetime + 1,
            )
            lifetime = self._lifetime_booked = lifetime + 1
            active.done = cycle + 1
        # Saved after the books, and again at the next step while a save fails: idempotent, never added twice.
        if stop is not None and lifetime == stop:
            self._stop(self.stop_reasons, envelopes=lifetime)
        elif lifetime != saved:
            self._save_state(envelopes=lifetime)
        if active.saved < active.done < total:
            results, outsorted = account(active.envelopes[: active.done], active.records, finished=False)
            progress = {
                "envelopes_done": active.done,
                "results": _encode(results.values()),
                "outsorted": _encode(outsorted),
            }
            atomic_write(self._progress(active.run_id), json.dumps(progress).encode())
            active.saved = active.done
        return advanced

    def _finish(self, active: _Active) -> None:
        results = tuple(active.final[r.piece_id] for r in active.records)
        self.layout.write_results(self._results(active.run_id), results)
        reprint = [r.piece_id for r in results if r.outcome is not Outcome.INSERTED]
        if not active.finish_booked:
            self._books.append(
                "run",
                event="finished",
                run=active.run_id,
                job=active.job_id,
                inserted=len(results) - len(reprint),
                reprint=len(reprint),
                outsorted=len(active.outsorted),
            )
            active.finish_booked = True
        summary = {
            "run_id": active.run_id,
            "finished_at": time.time(),
            "reprint": reprint,
            "outsorted": _encode(active.outsorted),
        }
        atomic_write(self._summary(active.run_id), json.dumps(summary).encode())
        self._progress(active.run_id).unlink(missing_ok=True)
        log.info(
            "run_finished",
            inserter=self.name,
            run=active.run_id,
            inserted=len(results) - len(reprint),
            reprint=len(reprint),
            outsorted=len(active.outsorted),
        )

    def _pending(self) -> list[Path]:
        """Headers of runs neither finished nor rejected: those taken first (a restarted device resumes the
        run in its machine), then those waiting, each in submission order."""
        found = []
        for rank, sub in enumerate(("taken", "runs")):
            for path in (self.folder / sub).glob("*.json"):
                if self._summary(path.stem).exists() or self._rejected(path.stem).exists():
                    continue
                try:
                    submitted = json.loads(path.read_text()).get("submitted_ns", 0)
                except FileNotFoundError:  # taken or withdrawn while we looked
                    continue
                found.append((rank, submitted, path.name, path))
        return [path for *_, path in sorted(found)]

    def _data(self, run_id: str) -> Path:
        return self.folder / "runs" / f"{run_id}.csv"

    def _header(self, run_id: str) -> Path:
        return self.folder / "runs" / f"{run_id}.json"

    def _taken(self, run_id: str) -> Path:
        return self.folder / "taken" / f"{run_id}.json"

    def _withdrawn(self, run_id: str) -> Path:
        return self.folder / "withdrawn" / f"{run_id}.json"

    def _machine_path(self) -> Path:
        return self.folder / "machine.json"

    def _fault_request(self) -> Path:
        return self.folder / "control" / "fault.json"

    def _clear_request(self) -> Path:
        return self.folder / "control" / "clear"

    def _progress(self, run_id: str) -> Path:
        return self.folder / "progress" / f"{run_id}.json"

    def _results(self, run_id: str) -> Path:
        return self.folder / "results" / f"{run_id}.csv"

    def _summary(self, run_id: str) -> Path:
        return self.folder / "results" / f"{run_id}.json"

    def _rejected(self, run_id: str) -> Path:
        return self.folder / "results" / f"{run_id}.rejected.json"


def machine_status_from(
    name: str, record: object, queued: int, path: Path | str = "machine.json"
) -> InserterStatus:
    """The machine status a ``machine.json`` record (None: no file) says, with ``queued`` runs in the machine
    or waiting: stopped with its reasons, else idle or processing by the queue. MachineStatusUnreadable when
    the record is not what the protocol says."""
    if record is None:
        record = {"state": "running"}
    if not isinstance(record, dict):
        raise MachineStatusUnreadable(name, Path(path), "not a JSON object")
    state, reasons = record.get("state"), record.get("reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise MachineStatusUnreadable(
            name, Path(path), f"reasons must be a list of keywords, not {reasons!r}"
        )
    if state == InserterState.STOPPED.value:
        return InserterStatus(name, InserterState.STOPPED, tuple(reasons), queued)
    if state in _RUNNING:
        return InserterStatus(name, InserterState.PROCESSING if queued else InserterState.IDLE, (), queued)
    raise MachineStatusUnreadable(name, Path(path), f"unknown state {state!r}; use stopped or running")


def _check_run_id(run_id: str) -> None:
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        raise BadRunId(str(run_id))


def _as_int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _as_booked(
    envelopes: Sequence[Envelope], booked: dict[int, Record], records: Sequence[RunRecord]
) -> tuple[tuple[Envelope, ...], int]:
    """``envelopes`` with the cycles the books hold (1, 2, … without a gap) as booked, and how many those are.

    The books say what the machine did: a booked cycle keeps its booked piece, outcome and sheets read (the
    collation of the same stack gives the same, unless the stack changed under the run)."""
    ids = {record.piece_id for record in records}
    out = list(envelopes)
    done = 0
    for index, envelope in enumerate(envelopes):
        record = booked.get(index + 1)
        if record is None:
            break
        try:
            outcome = Outcome(record.get("outcome"))
        except ValueError:
            outcome = envelope.result.outcome
        piece = str(record.get("piece", envelope.result.piece_id))
        same = (piece, outcome) == (envelope.result.piece_id, envelope.result.outcome)
        reason = record.get("reason")
        result = PieceResult(
            piece,
            outcome,
            reason if isinstance(reason, str) else envelope.result.reason if same else "",
            _as_int(record.get("sheets_read")),
        )
        is_record = envelope.record if piece == envelope.result.piece_id else piece in ids
        if (result, is_record) != (envelope.result, envelope.record):
            out[index] = Envelope(result, is_record)
        done = index + 1
    return tuple(out), done


def _encode(results: Iterable[PieceResult]) -> list[_PieceRecord]:
    return [
        {"piece_id": r.piece_id, "outcome": r.outcome.value, "reason": r.reason, "sheets_read": r.sheets_read}
        for r in results
    ]


def _decode(items: Sequence[_PieceRecord]) -> tuple[PieceResult, ...]:
    return tuple(
        PieceResult(i["piece_id"], Outcome(i["outcome"]), i["reason"], i["sheets_read"]) for i in items
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m inserters.simulated --folder F``: run one simulated inserter until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m inserters.simulated", description=main.__doc__)
    parser.add_argument("--folder", type=Path, required=True, help="the inserter's working folder")
    parser.add_argument("--name", default="inserter")
    parser.add_argument("--envelopes-per-hour", type=float, default=DEFAULT_ENVELOPES_PER_HOUR)
    parser.add_argument("--max-sheets", type=int, default=DEFAULT_MAX_SHEETS)
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="wall seconds per device second; 0 = instant"
    )
    parser.add_argument(
        "--jam-rate", type=float, default=0.0, help="probability that an envelope jams the track"
    )
    parser.add_argument(
        "--remove-rate", type=float, default=0.0, help="probability that the operator pulls one"
    )
    parser.add_argument("--jam-at", type=int, action="append", default=[], help="envelope number that jams")
    parser.add_argument(
        "--stop-at",
        type=int,
        action="append",
        default=[],
        help="machine-lifetime envelope number after which the machine stops for an operator",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--once", action="store_true", help="process what is pending now, then exit")
    args = parser.parse_args(argv)
    faults = Faults(
        jam_at=frozenset(args.jam_at), jam_rate=args.jam_rate, remove_rate=args.remove_rate, seed=args.seed
    )
    device = SimulatedInserter(
        args.name,
        args.folder,
        args.envelopes_per_hour,
        args.max_sheets,
        args.time_scale,
        faults=faults,
        stops_at=args.stop_at,
    )
    if args.once:
        while (device.step() or device.busy) and not device.stopped:
            time.sleep(POLL_INTERVAL_S)
        return 0
    stop = threading.Event()
    try:
        device.run(stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
