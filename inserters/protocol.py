"""The Inserter protocol and the plain values it exchanges with the host.

An inserter takes a *mail run*: the mail run data (one record per piece: id, sheet count, feeder selects,
divert flag) and the stack of printed sheets. It reads every sheet's control code, collates sheets into
pieces, envelopes what matches, outsorts the rest, and answers one result per piece of the run data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol, runtime_checkable


class Outcome(Enum):
    """What happened to a piece in the inserter."""

    INSERTED = "inserted"
    DIVERTED = "diverted"
    DAMAGED = "damaged"
    REMOVED = "removed"
    #: The host expected the piece but no sheet of it arrived.
    MISSING = "missing"


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
    record): a second copy of a piece, a broken copy superseded by an inserted one, pieces the run data does not
    list, sheets of another job, unreadable sheets that joined no piece. The host destroys or investigates them;
    it never reprints from them. While ``finished`` is False the results are provisional and ``reprint`` is empty.
    """

    run_id: str
    results: tuple[PieceResult, ...]
    reprint: tuple[str, ...]
    finished: bool
    outsorted: tuple[PieceResult, ...] = ()


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
