"""Collation: turn the stack's decoded control codes into one result per piece of the mail run data.

Pure: codes, records and faults in, results out; the simulated inserter only adds time and files around it.

The stack is cut into *envelopes* (machine cycles), in feed order: consecutive sheets of the same piece form
one collation, which closes when sheets 1..n arrived in order, when a sheet of another piece comes, or when a
new sheet 1 of the same piece starts a second copy. A collation is inserted when it is complete, its record
agrees on n, n fits the envelope, its divert flag is clear and the piece was not inserted before in this run;
anything else is diverted with a reason that says exactly what was wrong. Faults (a jam, an operator removal)
hit the collations in the track whatever they would have become. Codes flagged ``R`` are the backs of duplex
leaves, read when a stack holds both sides of each leaf: a leaf is collated by its front, so they are passed
over.

Every record gets exactly one result (:attr:`Collated.results`); a record no sheet of which arrived is
MISSING. Collations that account for no record — a second copy of a piece, sheets of another job, unreadable
sheets that joined no piece — are listed in :attr:`Collated.outsorted`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from inserters.protocol import Outcome, PieceResult, RunRecord
from tracking.control_code import ControlCode, parse_control
from tracking.errors import ControlCodeError

#: Pieces in the track that a jam damages: the one being fed and the one fed right behind it.
DEFAULT_TRACK_DEPTH = 2
#: Reason given to a record no sheet of which arrived.
MISSING_REASON = "no sheet of the piece arrived"
#: Reason given to a second copy of a piece already enveloped in this run.
DUPLICATE_REASON = "duplicate piece: already inserted in this run"
#: Reason given to a piece the mail run data does not list.
NOT_IN_DATA_REASON = "not in mail run data"


@dataclass(frozen=True, slots=True)
class Faults:
    """Faults a simulated inserter suffers, deterministic by envelope number, piece id or seed.

    Envelope numbers count machine cycles (collations) from 1 in feed order. ``jam_rate``/``remove_rate`` are
    per-envelope probabilities drawn from a generator seeded by ``seed`` and the run id, so the same run on
    the same device always suffers the same faults (a restart resumes into the same outcome).
    """

    #: Envelope numbers at which the track jams.
    jam_at: frozenset[int] = frozenset()
    #: Piece ids whose feeding jams the track.
    jam_pieces: frozenset[str] = frozenset()
    #: Envelope numbers the operator pulls out of the track.
    remove_at: frozenset[int] = frozenset()
    #: Piece ids the operator pulls out of the track.
    remove_pieces: frozenset[str] = frozenset()
    #: Probability that feeding an envelope jams the track.
    jam_rate: float = 0.0
    #: Probability that the operator pulls an envelope.
    remove_rate: float = 0.0
    #: Seed of the random faults.
    seed: int = 0
    #: Collations a jam damages: the jamming one and those fed behind it.
    track_depth: int = DEFAULT_TRACK_DEPTH

    def __post_init__(self) -> None:
        for name in ("jam_at", "jam_pieces", "remove_at", "remove_pieces"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))
        if not (0.0 <= self.jam_rate <= 1.0 and 0.0 <= self.remove_rate <= 1.0) or self.track_depth < 1:
            raise ValueError("fault rates must lie in [0, 1] and track_depth must be at least 1")

    def plan(self, run_id: str, pieces: Sequence[str]) -> dict[int, tuple[Outcome, str]]:
        """Fault outcome per envelope index (0-based) for a run whose envelopes carry ``pieces`` in order."""
        rng = random.Random(f"{self.seed}|{run_id}")
        planned: dict[int, tuple[Outcome, str]] = {}
        for index, piece in enumerate(pieces):
            jam_draw, remove_draw = rng.random(), rng.random()
            number = index + 1
            if number in self.jam_at or piece in self.jam_pieces or jam_draw < self.jam_rate:
                for hit in range(index, min(index + self.track_depth, len(pieces))):
                    planned.setdefault(hit, (Outcome.DAMAGED, f"damaged in a jam at envelope {number}"))
            if number in self.remove_at or piece in self.remove_pieces or remove_draw < self.remove_rate:
                planned.setdefault(index, (Outcome.REMOVED, "removed by the operator"))
        return planned


#: No faults at all.
NO_FAULTS = Faults()


#: Stand-in (sheet, of) of a sheet whose control code could not be read.
_UNREADABLE = (0, 0)


@dataclass
class _Collation:
    """Sheets gathered for one envelope: (sheet, of) per readable sheet, (0, 0) for an unreadable one."""

    job: str | None
    piece: str | None
    first: int
    sheets: list[tuple[int, int]] = field(default_factory=list)
    unreadable_at: int = 0

    def complete(self) -> bool:
        of = self.sheets[0][1] if self.sheets else 0
        return not self.unreadable_at and of >= 1 and self.sheets == [(i, of) for i in range(1, of + 1)]

    def takes(self, job: str, piece: str, sheet: int) -> bool:
        if self.piece is None:  # only unreadable sheets so far: adopt the piece they were probably part of
            return sheet != 1
        return (job, piece) == (self.job, self.piece) and not (
            sheet == 1 and any(s == 1 for s, _ in self.sheets)
        )

    def fault(self) -> str:
        """Why this collation cannot be enveloped, or "" when it is complete."""
        if self.unreadable_at:
            return f"unreadable control code on sheet {self.unreadable_at} of the stack"
        if self.complete():
            return ""
        of = self.sheets[0][1]
        for sheet, n in self.sheets:
            if not 1 <= sheet <= n:
                return f"sheet {sheet}/{n} is beyond the piece's {n} sheets"
        pairs = list(zip(self.sheets, self.sheets[1:], strict=False))  # each sheet with the next
        if any(b[1] != a[1] or b[0] <= a[0] for a, b in pairs):
            a, b = next((a, b) for a, b in pairs if b != (a[0] + 1, a[1]))
            return f"sheet out of sequence: got {b[0]}/{b[1]} after {a[0]}/{a[1]}"
        seen = {s for s, _ in self.sheets}
        return f"sheet {min(set(range(1, of + 1)) - seen)}/{of} missing"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One machine cycle: a collation and what became of it. ``record`` is True when it is a sheet set of a
    piece in this run's mail run data (so it may account for that record)."""

    result: PieceResult
    record: bool


@dataclass
class Collated:
    """The outcome of collating one stack: a result per record, the outsorts, and the cycles in feed order."""

    results: dict[str, PieceResult] = field(default_factory=dict)
    outsorted: list[PieceResult] = field(default_factory=list)
    envelopes: tuple[Envelope, ...] = ()


def collate(
    codes: Sequence[str | None],
    records: Sequence[RunRecord],
    job_id: str,
    max_sheets: int,
    faults: Faults = NO_FAULTS,
    run_id: str = "",
) -> Collated:
    """Collate ``codes`` (one per sheet in feed order, None when unreadable) against ``records``."""
    collations = _gather(codes)
    by_id = {r.piece_id: r for r in records}
    planned = faults.plan(run_id, [c.piece or "" for c in collations])
    envelopes: list[Envelope] = []
    inserted: set[str | None] = set()
    for index, collation in enumerate(collations):
        outcome, reason = planned.get(index) or _verdict(collation, by_id, job_id, max_sheets, inserted)
        if outcome is Outcome.INSERTED:
            inserted.add(collation.piece)
        is_record = collation.job == job_id and collation.piece in by_id
        read = sum(1 for sheet in collation.sheets if sheet != _UNREADABLE)
        envelopes.append(Envelope(PieceResult(collation.piece or "", outcome, reason, read), is_record))
    results, outsorted = account(envelopes, records, finished=True)
    return Collated(results, outsorted, tuple(envelopes))


def account(
    envelopes: Iterable[Envelope], records: Sequence[RunRecord], finished: bool
) -> tuple[dict[str, PieceResult], list[PieceResult]]:
    """One result per record from the envelopes so far: its inserted copy, else its first collation; the other
    collations are outsorts. When ``finished``, records without any collation are MISSING."""
    results: dict[str, PieceResult] = {}
    extra: list[tuple[int, PieceResult]] = []
    for position, envelope in enumerate(envelopes):
        result = envelope.result
        current = results.get(result.piece_id) if envelope.record else None
        if not envelope.record:
            extra.append((position, result))
        elif current is None:
            results[result.piece_id] = result
        elif result.outcome is Outcome.INSERTED and current.outcome is not Outcome.INSERTED:
            results[result.piece_id] = result
            extra.append((position, current))
        else:
            extra.append((position, result))
    ordered = {}
    for record in records:
        if record.piece_id in results:
            ordered[record.piece_id] = results[record.piece_id]
        elif finished:
            ordered[record.piece_id] = PieceResult(record.piece_id, Outcome.MISSING, MISSING_REASON, 0)
    return ordered, [result for _, result in sorted(extra, key=lambda item: item[0])]


def _gather(codes: Sequence[str | None]) -> list[_Collation]:
    """Cut the stack into collations (see the module docstring for the rule)."""
    closed: list[_Collation] = []
    current: _Collation | None = None
    for position, text in enumerate(codes, start=1):
        code = _parse(text)
        if code is not None and code.reverse:  # the back of a duplex leaf (flag R): its front was collated
            continue
        if code is None:
            if current is None:
                current = _Collation(None, None, position)
            current.sheets.append(_UNREADABLE)
            current.unreadable_at = current.unreadable_at or position
            continue
        if current is None or not current.takes(code.job, code.piece, code.sheet):
            if current is not None:
                closed.append(current)
            current = _Collation(code.job, code.piece, position)
        if current.piece is None:
            current.job, current.piece = code.job, code.piece
        current.sheets.append((code.sheet, code.of))
        if current.complete():
            closed.append(current)
            current = None
    if current is not None:
        closed.append(current)
    return closed


def _parse(text: str | None) -> ControlCode | None:
    if text is None:
        return None
    try:
        return parse_control(text)
    except ControlCodeError:
        return None


def _verdict(
    collation: _Collation,
    by_id: dict[str, RunRecord],
    job_id: str,
    max_sheets: int,
    inserted: set[str | None],
) -> tuple[Outcome, str]:
    """What the inserter does with a fault-free collation: INSERTED, or DIVERTED with the reason."""
    problem = collation.fault()
    record = by_id.get(collation.piece or "")
    if problem:
        return Outcome.DIVERTED, problem
    of = collation.sheets[0][1]
    if collation.job != job_id:
        return (
            Outcome.DIVERTED,
            f"sheet {collation.first} of the stack belongs to job {collation.job}, not {job_id}",
        )
    if record is None:
        return Outcome.DIVERTED, NOT_IN_DATA_REASON
    if record.divert:
        return Outcome.DIVERTED, "divert flag set"
    if of != record.sheets:
        return Outcome.DIVERTED, f"codes say {of} sheets, mail run data says {record.sheets}"
    if of > max_sheets:
        return Outcome.DIVERTED, f"{of} sheets exceed the {max_sheets} this envelope takes"
    if collation.piece in inserted:
        return Outcome.DIVERTED, DUPLICATE_REASON
    return Outcome.INSERTED, ""
