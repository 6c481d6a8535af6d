"""The QA verdict on one sample, as a pure function of the codes read and what the ledger knows.

A sample passes when all of these hold (each failure adds one reason: a report says everything wrong at once):

- exactly one **tracking id** is read in the window, and it belongs to a piece of the ledger;
- exactly one **control code** is read, it parses, and it names the same piece, the piece's current job and
  the piece's number of sheets;
- exactly one **postage mark** is read, its signature verifies with a key the plant trusts
  (:func:`verify_mark`), it names the same piece and the tracking id read in the window, and the ledger
  issued a mark for that piece under the same key id;
- every **DataMatrix** read grades at least the configured minimum (``qa.min_grade``).

The sampled piece is the one the tracking id names, else the control code's, else the mark's: a sheet whose
window is unreadable is still put on its piece's history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tracking.control_code import parse_control
from tracking.errors import TrackingError
from tracking.postage import PostageError, read_unverified, verify_mark
from tracking.scan import Grade


class Verdict(StrEnum):
    """The outcome of one QA inspection."""

    PASS = "pass"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class FoundCode:
    """One code read from a sample: its kind (``control``, ``tracking``, ``postage``), symbology, text, and
    the grade of a DataMatrix (None for symbologies that are not graded)."""

    kind: str
    format: str
    text: str
    grade: Grade | None = None
    #: The ISO/IEC 15415 parameters (``Grading.as_dict()``) of a graded symbol.
    grading: Mapping[str, object] | None = None
    preprocessed: bool = False


@dataclass(frozen=True, slots=True)
class PieceFacts:
    """What the ledger knows of one piece, as the verdict needs it."""

    piece_id: int
    tracking_id: str
    job_id: str | None
    sheets: int
    letter_pk: int
    letter_id: str
    submission_id: str
    state: str


@dataclass(frozen=True, slots=True)
class MarkFacts:
    """The ledger's record of the postage mark issued for a piece."""

    piece_id: str
    tracking_id: str
    key_id: str
    state: str


@dataclass(frozen=True)
class LedgerFacts:
    """The pieces and marks the codes of one sample name (see :func:`wanted_ids`)."""

    by_tracking: Mapping[str, PieceFacts] = field(default_factory=dict)
    by_piece: Mapping[int, PieceFacts] = field(default_factory=dict)
    marks: Mapping[str, MarkFacts] = field(default_factory=dict)


@dataclass(frozen=True)
class Judgement:
    """The verdict on one sample: pass or fail with the reasons, the sampled piece, every piece the codes
    name, the tracking id read and the lowest DataMatrix grade."""

    verdict: Verdict
    reasons: tuple[str, ...]
    piece: PieceFacts | None
    named: tuple[PieceFacts, ...]
    tracking_id: str | None
    grade: Grade | None
    #: Piece id each code names (None where it names none), in the order of the codes.
    code_pieces: tuple[int | None, ...] = ()


def wanted_ids(codes: Sequence[FoundCode]) -> tuple[set[str], set[int]]:
    """The tracking ids and piece ids the codes mention: what to look up in the ledger before judging."""
    tracking_ids: set[str] = set()
    piece_ids: set[int] = set()
    for code in codes:
        if code.kind == "tracking":
            tracking_ids.add(code.text)
        elif code.kind == "control":
            piece = _control_piece(code.text)
            if piece is not None:
                piece_ids.add(piece)
        elif code.kind == "postage":
            try:
                payload = read_unverified(code.text)
            except PostageError:
                continue
            tracking_ids.add(payload.tracking_id)
            number = _number(payload.piece_id)
            if number is not None:
                piece_ids.add(number)
    return tracking_ids, piece_ids


def _control_piece(text: str) -> int | None:
    try:
        piece = parse_control(text).piece
    except TrackingError:
        return None
    return _number(piece)


def _number(text: str) -> int | None:
    """A piece id written in ASCII digits as a number, else None."""
    return int(text) if text.isascii() and text.isdigit() else None


def _distinct(codes: Sequence[FoundCode], kind: str) -> list[str]:
    return list(dict.fromkeys(c.text for c in codes if c.kind == kind))


def judge(
    codes: Sequence[FoundCode], facts: LedgerFacts, keys: Mapping[str, Ed25519PublicKey], min_grade: Grade
) -> Judgement:
    """Decide whether one sample passes QA; pure (``facts`` holds what the ledger knows of the named ids)."""
    reasons: list[str] = []
    tracking = _distinct(codes, "tracking")
    controls = _distinct(codes, "control")
    marks = _distinct(codes, "postage")

    window = _check_tracking(tracking, facts, reasons)
    control_piece = _check_control(controls, window, facts, reasons)
    mark_piece = _check_mark(marks, window or control_piece, tracking, facts, keys, reasons)
    grade = _check_grades(codes, min_grade, reasons)

    piece = window or control_piece or mark_piece
    named = tuple({p.piece_id: p for p in (window, control_piece, mark_piece) if p is not None}.values())
    return Judgement(
        Verdict.FAIL if reasons else Verdict.PASS,
        tuple(reasons),
        piece,
        named,
        tracking[0] if len(tracking) == 1 else None,
        grade,
        tuple(_code_piece(code, facts) for code in codes),
    )


def _check_tracking(tracking: list[str], facts: LedgerFacts, reasons: list[str]) -> PieceFacts | None:
    """The piece the window's tracking id names, or None (with the reason)."""
    if not tracking:
        reasons.append("no tracking id read in the window")
        return None
    if len(tracking) > 1:
        reasons.append(f"{len(tracking)} different tracking ids read in the window: {', '.join(tracking)}")
        return None
    piece = facts.by_tracking.get(tracking[0])
    if piece is None:
        reasons.append(f"tracking id {tracking[0]} belongs to no piece in the ledger")
    return piece


def _check_control(
    controls: list[str], window: PieceFacts | None, facts: LedgerFacts, reasons: list[str]
) -> PieceFacts | None:
    """The piece the control code names, checked against the window's; None (with the reason) if none."""
    if not controls:
        reasons.append("no control code read")
        return None
    if len(controls) > 1:
        reasons.append(f"{len(controls)} different control codes read: {', '.join(controls)}")
        return None
    try:
        code = parse_control(controls[0])
    except TrackingError as exc:
        reasons.append(f"control code {controls[0]!r} cannot be read: {getattr(exc, 'reason', exc)}")
        return None
    piece = facts.by_piece.get(_control_piece(controls[0]) or -1)
    if piece is None:
        reasons.append(f"control code {controls[0]} names piece {code.piece}, which is not in the ledger")
        return None
    if window is not None and piece.piece_id != window.piece_id:
        reasons.append(
            f"control code {controls[0]} names piece {piece.piece_id} ({piece.tracking_id}), but the "
            f"window shows {window.tracking_id} of piece {window.piece_id}: another piece's sheet"
        )
        return piece
    if code.job != piece.job_id:
        reasons.append(
            f"control code {controls[0]} names job {code.job}, but piece {piece.piece_id} is in job "
            f"{piece.job_id or '(none)'}: a sheet of an earlier print"
        )
    if code.of != piece.sheets:
        reasons.append(
            f"control code {controls[0]} says {code.of} sheet(s), but piece {piece.piece_id} has "
            f"{piece.sheets}"
        )
    return piece


def _check_mark(
    marks: list[str],
    piece: PieceFacts | None,
    tracking: list[str],
    facts: LedgerFacts,
    keys: Mapping[str, Ed25519PublicKey],
    reasons: list[str],
) -> PieceFacts | None:
    """The piece the postage mark names, verified; None (with the reason) when it cannot be relied on."""
    if not marks:
        reasons.append("no postage mark read")
        return None
    if len(marks) > 1:
        reasons.append(f"{len(marks)} different postage marks read")
        return None
    try:
        verified = verify_mark(marks[0], keys)
    except PostageError as exc:
        reasons.append(f"postage mark fails verification: {getattr(exc, 'reason', exc)}")
        return None
    payload = verified.payload
    named = facts.by_piece.get(_number(payload.piece_id) or -1)
    if piece is not None and payload.piece_id != str(piece.piece_id):
        reasons.append(
            f"postage mark names piece {payload.piece_id} ({payload.tracking_id}), not piece {piece.piece_id}"
        )
    if len(tracking) == 1 and payload.tracking_id != tracking[0]:
        reasons.append(
            f"postage mark names tracking id {payload.tracking_id}, the window shows {tracking[0]}"
        )
    issued = facts.marks.get(payload.piece_id)
    if issued is None:
        reasons.append(f"the ledger holds no postage mark issued for piece {payload.piece_id}")
    elif issued.key_id != verified.key_id or issued.tracking_id != payload.tracking_id:
        reasons.append(
            f"postage mark of piece {payload.piece_id} was signed with key {verified.key_id} for "
            f"{payload.tracking_id}; the ledger issued it with key {issued.key_id} for "
            f"{issued.tracking_id}"
        )
    return named


def _check_grades(codes: Sequence[FoundCode], min_grade: Grade, reasons: list[str]) -> Grade | None:
    """The lowest grade of the graded codes; a reason for each below ``min_grade``."""
    graded = [(c, c.grade) for c in codes if c.grade is not None]
    for code, grade in graded:
        if grade < min_grade:
            reasons.append(
                f"{code.kind} {code.format} {code.text!r} grades {grade.name}, below the minimum "
                f"{min_grade.name}"
            )
    return min((grade for _, grade in graded), default=None)


def _code_piece(code: FoundCode, facts: LedgerFacts) -> int | None:
    """The ledger piece one code names (unverified for a mark: for the report only)."""
    if code.kind == "tracking":
        piece = facts.by_tracking.get(code.text)
        return piece.piece_id if piece else None
    if code.kind == "control":
        number = _control_piece(code.text)
        return number if number in facts.by_piece else None
    try:
        payload = read_unverified(code.text)
    except PostageError:
        return None
    number = _number(payload.piece_id)
    return number if number in facts.by_piece else None
