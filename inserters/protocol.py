"""The Inserter protocol and the plain values it exchanges with the host.

An inserter takes a *mail run*: the mail run data (one record per piece: id, sheet count, feeder selects,
divert flag) and the stack of printed sheets. It reads every sheet's control code, collates sheets into
pieces, envelopes what matches, outsorts the rest, and answers one result per piece of the run data. It says
how the machine itself stands (:class:`InserterStatus`: idle, processing, or stopped for an operator, with the
reasons), the way a printer answers ``printer_status``. An inserter that can prove it never started a run
waiting in its queue can give it back (:class:`Withdrawable`), so a host may send the run to another inserter.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol, runtime_checkable

from inserters.errors import InserterStopped


class Outcome(Enum):
    """What happened to a piece in the inserter."""

    INSERTED = "inserted"
    DIVERTED = "diverted"
    DAMAGED = "damaged"
    REMOVED = "removed"
    #: The host expected the piece but no sheet of it arrived.
    MISSING = "missing"


class InserterState(Enum):
    """The state of the machine itself, in the vocabulary of IPP's printer-state."""

    IDLE = "idle"
    PROCESSING = "processing"
    #: Stopped by a fault (a jam, an empty hopper, an open cover) or paused: it needs an operator.
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class InserterStatus:
    """What an inserter says about itself: its state, the reasons it gives, and how many runs it holds."""

    name: str
    state: InserterState
    reasons: tuple[str, ...]
    queued_runs: int

    @property
    def message(self) -> str:
        """For the operator: the stop, its reasons and what to do; empty while the machine runs."""
        return str(InserterStopped(self.name, self.reasons)) if self.state is InserterState.STOPPED else ""

    def raise_if_stopped(self) -> None:
        """Raise :class:`~inserters.errors.InserterStopped` when the machine needs an operator."""
        if self.state is InserterState.STOPPED:
            raise InserterStopped(self.name, self.reasons)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One piece of the mail run data."""

    piece_id: str
    sheets: int
    feeder_selects: tuple[int, ...] = ()
    divert: bool = False
    envelope_text: str = ""


@dataclass(frozen=True, slots=True)
class MailRun:
    """A run: its records in stack order, the printed sheets, and where the control code sits on a sheet.

    ``control_zone`` is (x, y, w, h) in PDF points from the sheet's top-left corner.
    """

    run_id: str
    job_id: str
    records: tuple[RunRecord, ...]
    sheets_pdf: Path
    control_zone: tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class PieceResult:
    """The inserter's word on one piece."""

    piece_id: str
    outcome: Outcome
    reason: str
    sheets_read: int


@dataclass(frozen=True, slots=True)
class RunResult:
    """Results of a run: one per record once ``finished``; ``reprint`` lists the pieces not inserted.

    ``outsorted`` holds collations that account for no record (so ``results`` can keep exactly one entry per
    record): a second copy of a piece, a broken copy superseded by an inserted one, pieces the run data does
    not list, sheets of another job, unreadable sheets that joined no piece. The host destroys or investigates
    them; it never reprints from them. While ``finished`` is False the results are provisional and ``reprint``
    is empty. ``waiting`` is True while the run waits in the inserter's queue and no sheet of it was fed.
    """

    run_id: str
    results: tuple[PieceResult, ...]
    reprint: tuple[str, ...]
    finished: bool
    outsorted: tuple[PieceResult, ...] = ()
    waiting: bool = False


@runtime_checkable
class Inserter(Protocol):
    """An envelope inserter as the plant sees it."""

    name: str

    def submit(self, run: MailRun) -> None:
        """Send the run; raise DuplicateRun when the inserter already has it."""

    def find(self, run_id: str) -> RunResult | None:
        """The run's result so far, or None when the inserter never got it (ask before any resubmission)."""

    def result(self, run_id: str) -> RunResult:
        """The run's result so far (``finished`` False while it runs); UnknownRun when absent."""

    def machine_status(self) -> InserterStatus:
        """The machine's own state, the reasons it gives and how many runs it holds."""


@runtime_checkable
class Withdrawable(Protocol):
    """An inserter that can take back a run it has not started, and prove it."""

    def withdraw(self, run_id: str) -> bool:
        """Take ``run_id`` back if the machine never started it: True only when provably no sheet of it was
        fed (and it never will be); True again for a run withdrawn before; False for a run the machine took
        (or does not have), which is left alone."""
