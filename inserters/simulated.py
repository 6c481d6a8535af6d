"""A simulated envelope inserter that does the real work, behind a folder protocol.

Driver side (the host, any process): :meth:`SimulatedInserter.submit` writes ``runs/<run>.csv`` (mail run data)
and then ``runs/<run>.json`` (job id, printed sheets, control zone) atomically; :meth:`find`/:meth:`result` read
``results/<run>.csv`` and ``results/<run>.json``.

Device side (:meth:`step` for tests, :meth:`run` in a thread, or ``python -m inserters.simulated``): takes runs
in arrival order, reads every sheet's control code with the camera, collates, envelopes at its rated speed
(``envelopes_per_hour``, device time; ``time_scale`` wall seconds per device second, 0 = instantly), applies
configured faults, and writes the results when the run is done. A run whose results exist is never processed
again, so a restart never envelopes a piece twice.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog

from inserters.camera import read_sheets
from inserters.collation import collate
from inserters.errors import DuplicateRun, InserterError, UnknownRun
from inserters.mailrun import DEFAULT_LAYOUT, atomic_write
from inserters.protocol import MailRun, Outcome, PieceResult, RunResult

log = structlog.get_logger(__name__)

#: Wall seconds the device loop sleeps between steps.
POLL_INTERVAL_S = 0.05


class SimulatedInserter:
    """Driver and device of a simulated inserter working in ``folder``."""

    def __init__(self, name: str, folder: Path | str, envelopes_per_hour: float = 6000.0, max_sheets: int = 6,
                 time_scale: float = 1.0, *, jam_pieces: Sequence[str] = (), remove_pieces: Sequence[str] = (),
                 jam_every: int = 0, clock: Callable[[], float] = time.monotonic, layout=DEFAULT_LAYOUT) -> None:
        if envelopes_per_hour <= 0 or max_sheets < 1 or time_scale < 0:
            raise ValueError("envelopes_per_hour > 0, max_sheets ≥ 1 and time_scale ≥ 0 are required")
        self.name = name
        self.folder = Path(folder)
        self.envelopes_per_hour = float(envelopes_per_hour)
        self.max_sheets = int(max_sheets)
        self.time_scale = float(time_scale)
        self.jam_pieces = frozenset(jam_pieces)
        self.remove_pieces = frozenset(remove_pieces)
        #: Every n-th envelope jams and is damaged (0 = never).
        self.jam_every = int(jam_every)
        self.layout = layout
        self._clock = clock
        self._busy: tuple[str, float, tuple[PieceResult, ...], tuple[PieceResult, ...]] | None = None
        for sub in ("runs", "results"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)

    # -- driver side --------------------------------------------------------------------------------------------
    def submit(self, run: MailRun) -> None:
        """Hand the run to the inserter (once)."""
        if self._header(run.run_id).exists() or self._results(run.run_id).exists():
            raise DuplicateRun(self.name, run.run_id)
        self.layout.write_run(self.folder / "runs" / f"{run.run_id}.csv", run.records)
        header = {"run_id": run.run_id, "job_id": run.job_id, "sheets_pdf": str(run.sheets_pdf),
                  "control_zone": list(run.control_zone), "submitted_at": time.time()}
        atomic_write(self._header(run.run_id), json.dumps(header).encode())

    def find(self, run_id: str) -> RunResult | None:
        """The run's result so far, or None when this inserter never got the run."""
        if self._results(run_id).with_suffix(".json").exists():
            summary = json.loads(self._results(run_id).with_suffix(".json").read_text())
            results = self.layout.read_results(self._results(run_id))
            outsorted = tuple(PieceResult(o["piece_id"], Outcome(o["outcome"]), o["reason"], o["sheets_read"])
                              for o in summary.get("outsorted", ()))
            return RunResult(run_id, results, tuple(summary["reprint"]), True, outsorted)
        if self._header(run_id).exists():
            return RunResult(run_id, (), (), False)
        return None

    def result(self, run_id: str) -> RunResult:
        """The run's result so far; UnknownRun when the inserter has no such run."""
        found = self.find(run_id)
        if found is None:
            raise UnknownRun(self.name, run_id)
        return found

    # -- device side --------------------------------------------------------------------------------------------
    def step(self) -> None:
        """Do what is due now: finish the run in the machine when its time is up, or start the next one."""
        if self._busy is not None:
            run_id, due, results, outsorted = self._busy
            if self._clock() < due:
                return
            self._finish(run_id, results, outsorted)
            self._busy = None
        pending = sorted((p for p in (self.folder / "runs").glob("*.json")
                          if not self._results(p.stem).with_suffix(".json").exists()),
                         key=lambda p: (p.stat().st_mtime_ns, p.name))
        if not pending:
            return
        run_id = pending[0].stem
        header = json.loads(pending[0].read_text())
        records = self.layout.read_run(self.folder / "runs" / f"{run_id}.csv")
        try:
            codes = read_sheets(Path(header["sheets_pdf"]), tuple(header["control_zone"]))
        except InserterError as exc:
            log.warning("run_unreadable", inserter=self.name, run=run_id, error=str(exc))
            codes = []
        collated = collate(codes, records, header["job_id"], self.max_sheets, self._fault)
        results = tuple(collated.results[r.piece_id] for r in records)
        envelopes = sum(1 for r in results if r.sheets_read)
        due = self._clock() + envelopes * 3600.0 / self.envelopes_per_hour * self.time_scale
        log.info("run_started", inserter=self.name, run=run_id, pieces=len(records), sheets=len(codes))
        self._busy = (run_id, due, results, tuple(collated.outsorted))
        if self._clock() >= due:  # instantaneous device: finish in the same step
            self.step()

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.step()
            except Exception:  # the device keeps running; the run stays pending for the operator to see
                log.exception("inserter_step_failed", inserter=self.name)
                stop.wait(1.0)
            stop.wait(POLL_INTERVAL_S)

    def _fault(self, piece: str, envelope: int) -> tuple[Outcome, str] | None:
        if piece in self.jam_pieces or (self.jam_every and envelope % self.jam_every == 0):
            return Outcome.DAMAGED, f"damaged in a jam at envelope {envelope}"
        if piece in self.remove_pieces:
            return Outcome.REMOVED, "removed by the operator"
        return None

    def _finish(self, run_id: str, results: tuple[PieceResult, ...], outsorted: tuple[PieceResult, ...]) -> None:
        self.layout.write_results(self._results(run_id), results)
        reprint = [r.piece_id for r in results if r.outcome is not Outcome.INSERTED]
        summary = {"run_id": run_id, "finished_at": time.time(), "reprint": reprint,
                   "outsorted": [{"piece_id": o.piece_id, "outcome": o.outcome.value, "reason": o.reason,
                                  "sheets_read": o.sheets_read} for o in outsorted]}
        atomic_write(self._results(run_id).with_suffix(".json"), json.dumps(summary).encode())
        log.info("run_finished", inserter=self.name, run=run_id, inserted=len(results) - len(reprint),
                 outsorted=len(reprint))

    def _header(self, run_id: str) -> Path:
        return self.folder / "runs" / f"{run_id}.json"

    def _results(self, run_id: str) -> Path:
        return self.folder / "results" / f"{run_id}.csv"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m inserters.simulated --folder F``: run one simulated inserter until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m inserters.simulated", description=main.__doc__)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--name", default="inserter")
    parser.add_argument("--envelopes-per-hour", type=float, default=6000.0)
    parser.add_argument("--max-sheets", type=int, default=6)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--jam-every", type=int, default=0)
    args = parser.parse_args(argv)
    device = SimulatedInserter(args.name, args.folder, args.envelopes_per_hour, args.max_sheets, args.time_scale,
                               jam_every=args.jam_every)
    stop = threading.Event()
    try:
        device.run(stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
