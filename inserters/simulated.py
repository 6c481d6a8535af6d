"""A simulated envelope inserter that does the real work, behind a folder protocol.

Driver side (the host, any process): :meth:`SimulatedInserter.submit` writes ``runs/<run>.csv`` (the mail run
data, in the configured layout) and then ``runs/<run>.json`` (job id, printed sheets, control zone), both
atomically; the header appearing is what hands the run over. :meth:`~SimulatedInserter.find` and
:meth:`~SimulatedInserter.result` read ``progress/<run>.json`` while the run is in the machine and
``results/<run>.csv`` + ``results/<run>.json`` once it is finished (the JSON is written last).

Device side (:meth:`~SimulatedInserter.step` for tests, :meth:`~SimulatedInserter.run` in a thread, or
``python -m inserters.simulated --folder F``): takes runs in submission order, reads every sheet's control code
with the camera, collates (:mod:`inserters.collation`), and works through the envelopes at its rated speed —
``envelopes_per_hour`` of device time, ``time_scale`` wall seconds per device second (0 = instantly) — on an
injectable clock. Progress is saved after every step, so a restarted device resumes a run where it stopped and
never touches a run whose results exist: no piece is enveloped twice.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from inserters.camera import read_sheets
from inserters.collation import NO_FAULTS, Envelope, Faults, account, collate
from inserters.errors import BadRunId, DuplicateRun, MailRunFileError, RunRejected, UnknownRun, UnreadableStack
from inserters.mailrun import DEFAULT_LAYOUT, MailRunLayout, atomic_write
from inserters.protocol import MailRun, Outcome, PieceResult, RunRecord, RunResult

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


@dataclass
class _Active:
    """The run in the machine: its collated envelopes and how many of them are done."""

    run_id: str
    records: tuple[RunRecord, ...]
    envelopes: tuple[Envelope, ...]
    outsorted: tuple[PieceResult, ...]
    final: dict[str, PieceResult]
    started_at: float
    done_at_start: int
    done: int


class SimulatedInserter:
    """Driver and device of one simulated inserter working in ``folder`` (see the module docstring)."""

    def __init__(self, name: str, folder: Path | str, envelopes_per_hour: float = DEFAULT_ENVELOPES_PER_HOUR,
                 max_sheets: int = DEFAULT_MAX_SHEETS, time_scale: float = 1.0, *, faults: Faults = NO_FAULTS,
                 clock: Callable[[], float] = time.monotonic, layout: MailRunLayout = DEFAULT_LAYOUT) -> None:
        if envelopes_per_hour <= 0 or max_sheets < 1 or time_scale < 0:
            raise ValueError("envelopes_per_hour > 0, max_sheets >= 1 and time_scale >= 0 are required")
        self.name = name
        self.folder = Path(folder)
        self.envelopes_per_hour = float(envelopes_per_hour)
        self.max_sheets = int(max_sheets)
        self.time_scale = float(time_scale)
        self.faults = faults
        self.layout = layout
        self._clock = clock
        self._active: _Active | None = None
        self._lock = threading.Lock()
        for sub in ("runs", "progress", "results"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)

    @property
    def wall_seconds_per_envelope(self) -> float:
        """Wall-clock seconds one envelope takes: device time per envelope × time_scale."""
        return 3600.0 / self.envelopes_per_hour * self.time_scale

    # -- driver side --------------------------------------------------------------------------------------------
    def submit(self, run: MailRun) -> None:
        """Hand ``run`` to the inserter, once: DuplicateRun when it has a run of that id already."""
        _check_run_id(run.run_id)
        if self._header(run.run_id).exists() or self._summary(run.run_id).exists():
            raise DuplicateRun(self.name, run.run_id)
        self.layout.write_run(self._data(run.run_id), run.records)
        header = {"run_id": run.run_id, "job_id": run.job_id, "sheets_pdf": str(Path(run.sheets_pdf).resolve()),
                  "control_zone": list(run.control_zone), "submitted_ns": time.time_ns()}
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
        if self._header(run_id).exists():
            return RunResult(run_id, (), (), False)
        return None

    def result(self, run_id: str) -> RunResult:
        """The run's result so far (``finished`` False while it runs); UnknownRun when the inserter has no such run."""
        found = self.find(run_id)
        if found is None:
            raise UnknownRun(self.name, run_id)
        return found

    # -- device side --------------------------------------------------------------------------------------------
    def step(self) -> int:
        """Do what is due by now on the device clock; return the envelopes completed in this step.

        Starts the next submitted run when idle, advances the run in the machine by the envelopes its speed
        allows, saves progress, and writes the results when the run is done — then goes on with the next run in
        the time left over.
        """
        with self._lock:
            now, completed, start_at = self._clock(), 0, None
            while True:
                if self._active is None:
                    self._active = self._start_next(now if start_at is None else start_at)
                    if self._active is None:
                        return completed
                active = self._active
                completed += self._advance(active, now)
                if active.done < len(active.envelopes):
                    return completed
                self._finish(active)
                start_at = active.started_at + (active.done - active.done_at_start) * self.wall_seconds_per_envelope
                self._active = None

    @property
    def busy(self) -> bool:
        """True while a run is in the machine."""
        return self._active is not None

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set (the device thread's body).

        A failing step is logged and retried after a pause: the device keeps serving its other runs, and a step
        is safe to repeat because progress and results are only written once the envelopes are done.
        """
        while not stop.is_set():
            try:
                self.step()
            except Exception:
                log.exception("inserter_step_failed", inserter=self.name)
                stop.wait(FAILED_STEP_PAUSE_S)
            stop.wait(POLL_INTERVAL_S)

    def _start_next(self, now: float) -> _Active | None:
        for header_path in self._pending():
            header = json.loads(header_path.read_text())
            run_id = header["run_id"]
            try:
                records = self.layout.read_run(self._data(run_id))
            except MailRunFileError as exc:
                atomic_write(self._rejected(run_id), json.dumps({"problem": str(exc)}).encode())
                log.error("run_rejected", inserter=self.name, run=run_id, problem=str(exc))
                continue
            return self._load(run_id, header, records, now)
        return None

    def _load(self, run_id: str, header: dict, records: tuple[RunRecord, ...], now: float) -> _Active:
        try:
            codes = read_sheets(Path(header["sheets_pdf"]), tuple(header["control_zone"]))
        except UnreadableStack as exc:  # no sheet arrives: every piece is MISSING, the host reprints them
            log.warning("stack_unreadable", inserter=self.name, run=run_id, error=str(exc))
            codes = []
        collated = collate(codes, records, header["job_id"], self.max_sheets, self.faults, run_id)
        done = 0
        if self._progress(run_id).exists():
            done = json.loads(self._progress(run_id).read_text())["envelopes_done"]
            log.info("run_resumed", inserter=self.name, run=run_id, envelopes_done=done)
        else:
            log.info("run_started", inserter=self.name, run=run_id, pieces=len(records), sheets=len(codes),
                     envelopes=len(collated.envelopes))
        return _Active(run_id, records, collated.envelopes, tuple(collated.outsorted), collated.results, now,
                       done, done)

    def _advance(self, active: _Active, now: float) -> int:
        total = len(active.envelopes)
        if self.time_scale == 0:
            due = total
        else:
            elapsed = max(0.0, now - active.started_at)
            due = min(total, active.done_at_start + math.floor(elapsed / self.wall_seconds_per_envelope
                                                               + _DUE_EPSILON))
        advanced = max(0, due - active.done)
        if advanced and due < total:
            results, outsorted = account(active.envelopes[:due], active.records, finished=False)
            progress = {"envelopes_done": due, "results": _encode(results.values()), "outsorted": _encode(outsorted)}
            atomic_write(self._progress(active.run_id), json.dumps(progress).encode())
        active.done = max(active.done, due)
        return advanced

    def _finish(self, active: _Active) -> None:
        results = tuple(active.final[r.piece_id] for r in active.records)
        self.layout.write_results(self._results(active.run_id), results)
        reprint = [r.piece_id for r in results if r.outcome is not Outcome.INSERTED]
        summary = {"run_id": active.run_id, "finished_at": time.time(), "reprint": reprint,
                   "outsorted": _encode(active.outsorted)}
        atomic_write(self._summary(active.run_id), json.dumps(summary).encode())
        self._progress(active.run_id).unlink(missing_ok=True)
        log.info("run_finished", inserter=self.name, run=active.run_id, inserted=len(results) - len(reprint),
                 reprint=len(reprint), outsorted=len(active.outsorted))

    def _pending(self) -> list[Path]:
        """Headers of runs neither finished nor rejected, in submission order."""
        headers = [p for p in (self.folder / "runs").glob("*.json")
                   if not self._summary(p.stem).exists() and not self._rejected(p.stem).exists()]
        return sorted(headers, key=lambda p: (json.loads(p.read_text()).get("submitted_ns", 0), p.name))

    def _data(self, run_id: str) -> Path:
        return self.folder / "runs" / f"{run_id}.csv"

    def _header(self, run_id: str) -> Path:
        return self.folder / "runs" / f"{run_id}.json"

    def _progress(self, run_id: str) -> Path:
        return self.folder / "progress" / f"{run_id}.json"

    def _results(self, run_id: str) -> Path:
        return self.folder / "results" / f"{run_id}.csv"

    def _summary(self, run_id: str) -> Path:
        return self.folder / "results" / f"{run_id}.json"

    def _rejected(self, run_id: str) -> Path:
        return self.folder / "results" / f"{run_id}.rejected.json"


def _check_run_id(run_id: str) -> None:
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        raise BadRunId(str(run_id))


def _encode(results) -> list[dict]:
    return [{"piece_id": r.piece_id, "outcome": r.outcome.value, "reason": r.reason, "sheets_read": r.sheets_read}
            for r in results]


def _decode(items: Sequence[dict]) -> tuple[PieceResult, ...]:
    return tuple(PieceResult(i["piece_id"], Outcome(i["outcome"]), i["reason"], i["sheets_read"]) for i in items)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m inserters.simulated --folder F``: run one simulated inserter until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m inserters.simulated", description=main.__doc__)
    parser.add_argument("--folder", type=Path, required=True, help="the inserter's working folder")
    parser.add_argument("--name", default="inserter")
    parser.add_argument("--envelopes-per-hour", type=float, default=DEFAULT_ENVELOPES_PER_HOUR)
    parser.add_argument("--max-sheets", type=int, default=DEFAULT_MAX_SHEETS)
    parser.add_argument("--time-scale", type=float, default=1.0, help="wall seconds per device second; 0 = instant")
    parser.add_argument("--jam-rate", type=float, default=0.0, help="probability that an envelope jams the track")
    parser.add_argument("--remove-rate", type=float, default=0.0, help="probability that the operator pulls one")
    parser.add_argument("--jam-at", type=int, action="append", default=[], help="envelope number that jams")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--once", action="store_true", help="process what is pending now, then exit")
    args = parser.parse_args(argv)
    faults = Faults(jam_at=frozenset(args.jam_at), jam_rate=args.jam_rate, remove_rate=args.remove_rate,
                    seed=args.seed)
    device = SimulatedInserter(args.name, args.folder, args.envelopes_per_hour, args.max_sheets, args.time_scale,
                               faults=faults)
    if args.once:
        while device.step() or device.busy:
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
