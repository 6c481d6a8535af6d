"""Collation: turn the stack's decoded control codes into one result per piece of the mail run data.

Pure: codes and records in, results out. A piece is inserted when sheets 1..n of it arrived in order, its
record agrees on n, n fits the envelope, its divert flag is clear, and it was not inserted before in this run.
Anything else is outsorted with a reason that says exactly what was wrong; a record no sheet of which arrived
is MISSING. Every record gets exactly one result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from inserters.protocol import Outcome, PieceResult, RunRecord
from tracking.control_code import ControlCodeError, parse_control


@dataclass
class _Collation:
    piece: str
    of: int
    got: int = 0
    broken: str = ""
    first_sheet_index: int = 0


@dataclass
class Collated:
    """The outcome of collating one stack."""

    results: dict[str, PieceResult] = field(default_factory=dict)
    outsorted: list[PieceResult] = field(default_factory=list)
    #: Pieces in the order their envelopes were closed (or their sheets outsorted).
    order: list[str] = field(default_factory=list)


def collate(codes: Sequence[str | None], records: Sequence[RunRecord], job_id: str, max_sheets: int,
            fault: Callable[[str, int], tuple[Outcome, str] | None] = lambda piece, n: None) -> Collated:
    """Collate ``codes`` (one per sheet, None when unreadable) against ``records``.

    ``fault(piece, envelope_number)`` may return a fault outcome (DAMAGED in a jam, REMOVED by the operator)
    for an envelope that would otherwise be inserted.
    """
    by_id = {r.piece_id: r for r in records}
    out = Collated()
    current: _Collation | None = None
    envelopes = 0

    def close(collation: _Collation, missing_reason: str = "") -> None:
        nonlocal envelopes
        piece, sheets_read = collation.piece, collation.got
        complete = collation.got == collation.of and not collation.broken
        reason = collation.broken or missing_reason
        if piece in out.results:
            previous = out.results[piece]
            if previous.outcome is Outcome.INSERTED:
                out.outsorted.append(PieceResult(piece, Outcome.DIVERTED, "duplicate piece: already inserted in "
                                                 "this run", sheets_read))
            else:
                out.results[piece] = PieceResult(piece, previous.outcome, previous.reason,
                                                 previous.sheets_read + sheets_read)
            return
        record = by_id.get(piece)
        if record is None:
            out.outsorted.append(PieceResult(piece, Outcome.DIVERTED, "not in mail run data", sheets_read))
            return
        out.order.append(piece)
        if not complete:
            out.results[piece] = PieceResult(piece, Outcome.DIVERTED, reason, sheets_read)
        elif record.divert:
            out.results[piece] = PieceResult(piece, Outcome.DIVERTED, "divert flag set", sheets_read)
        elif collation.of != record.sheets:
            out.results[piece] = PieceResult(piece, Outcome.DIVERTED, f"codes say {collation.of} sheets, mail run "
                                             f"data says {record.sheets}", sheets_read)
        elif collation.of > max_sheets:
            out.results[piece] = PieceResult(piece, Outcome.DIVERTED, f"{collation.of} sheets exceed the "
                                             f"{max_sheets} this envelope takes", sheets_read)
        else:
            envelopes += 1
            faulted = fault(piece, envelopes)
            if faulted is not None:
                out.results[piece] = PieceResult(piece, faulted[0], faulted[1], sheets_read)
            else:
                out.results[piece] = PieceResult(piece, Outcome.INSERTED, "", sheets_read)

    for index, text in enumerate(codes, start=1):
        code = None
        if text is not None:
            try:
                code = parse_control(text)
            except ControlCodeError:
                code = None
        if code is None:
            out.outsorted.append(PieceResult("", Outcome.DIVERTED, f"unreadable control code on sheet {index} of "
                                             "the stack", 0))
            if current is not None:
                current.broken = current.broken or f"unreadable control code on sheet {index} of the stack"
                close(current)
                current = None
            continue
        if code.job != job_id:
            out.outsorted.append(PieceResult(code.piece, Outcome.DIVERTED, f"sheet {index} of the stack belongs to "
                                             f"job {code.job}, not {job_id}", 1))
            continue
        if current is not None and code.piece == current.piece and code.sheet == current.got + 1 \
                and code.of == current.of and not current.broken:
            current.got += 1
        else:
            if current is not None:
                if code.piece == current.piece:
                    current.broken = current.broken or (f"sheet out of sequence: got {code.sheet}/{code.of} after "
                                                        f"{current.got}/{current.of}")
                    current.got += 1
                    close(current)
                    current = None
                    continue
                close(current, f"sheet {current.got + 1}/{current.of} missing")
            current = _Collation(code.piece, code.of, got=1, first_sheet_index=index)
            if code.sheet != 1:
                current.broken = f"sheet {1}/{code.of} missing (stack starts the piece at {code.sheet}/{code.of})"
        if current.got >= current.of and not current.broken:
            close(current)
            current = None
    if current is not None:
        close(current, f"sheet {current.got + 1}/{current.of} missing")
    for record in records:
        if record.piece_id not in out.results:
            out.results[record.piece_id] = PieceResult(record.piece_id, Outcome.MISSING, "no sheet of the piece "
                                                       "arrived", 0)
    return out
