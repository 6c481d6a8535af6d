"""From pieces to a plan: the adapter the plant's plan stage calls.

The stage knows pieces; the planner knows jobs of identical pieces. :func:`plan_work` forms the jobs — pieces
that must match in due order, at most ``max_job_pieces`` to a job so one press run stays manageable and a jam
costs little — and plans them. What must match is everything a device may lack or a run may change: mail
class, sheets per piece, reprint or not, paper stock, duplex, colour, sheet size, envelope and inserts; the
formed jobs carry those attributes, so the planner puts them only on presses and inserters that can take them.
Pieces no working device can take (too many sheets, an envelope or insert no inserter has, a stock or
duplex/colour no press prints) go to the manual path with the planner's reason and a :class:`ManualCode`.
Plain data in, plain data out: the stage does the ledger work with the answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from plant.scheduling.errors import ScheduleError
from plant.scheduling.model import (
    DEFAULT_STOCK,
    NEEDS,
    Inserter,
    Instance,
    Job,
    Needs,
    Plan,
    Printer,
    can_insert,
    manual_reason,
)
from plant.scheduling.planner import plan as plan_instance

#: Most pieces in one print job unless the caller says otherwise.
DEFAULT_MAX_JOB_PIECES = 5000
#: Planning budget of the stage, seconds.
WORK_TIME_LIMIT_S = 0.2


@dataclass(frozen=True)
class _PieceOwn:
    """The fields of a :class:`Piece` before its :class:`~plant.scheduling.model.Needs`."""

    __slots__ = ()

    id: int | str
    sheets: int
    mail_class: str
    due_s: int
    reprint: bool = False


@dataclass(frozen=True, slots=True)
class Piece(Needs, _PieceOwn):
    """A print-ready mail piece as the plan stage sees it: what it needs from a press and an inserter.

    ``Piece(id, sheets, mail_class, due_s, reprint, …)``, then what must match a device
    (:class:`~plant.scheduling.model.Needs`; defaults: plain stock, simplex, black only, any sheet size, the
    inserter's envelope, no inserts).
    """


@dataclass(frozen=True)
class _FormedOwn:
    """The fields of a :class:`FormedJob` before its :class:`~plant.scheduling.model.Needs`."""

    __slots__ = ()

    job: str
    pieces: tuple[int | str, ...]
    mail_class: str
    sheets_per_piece: int
    reprint: bool


@dataclass(frozen=True, slots=True)
class FormedJob(Needs, _FormedOwn):
    """A print job formed from pieces that match; ``pieces`` in the order they are printed, and what they
    share (``FormedJob(job, pieces, mail_class, sheets_per_piece, reprint, …)``, then its
    :class:`~plant.scheduling.model.Needs`)."""


class ManualCode(StrEnum):
    """Why a piece goes to the manual path, as the code the ledger records."""

    #: No working inserter takes it (too many sheets, its envelope or its inserts).
    NO_INSERTER = "NO_INSERTER"
    #: No working press prints it (its stock, duplex, colour or sheet size).
    NO_PRESS = "NO_PRESS"


@dataclass(frozen=True, slots=True)
class ManualPiece:
    """A piece no working device can take, with the reason in words and its code."""

    piece: int | str
    reason: str
    code: ManualCode = ManualCode.NO_INSERTER


@dataclass(frozen=True, slots=True)
class WorkPlan:
    """The formed jobs, their plan, and the pieces for the manual path."""

    plan: Plan
    jobs: tuple[FormedJob, ...]
    manual: tuple[ManualPiece, ...]


#: What pieces of one job share: reprint, mail class, sheets, stock, duplex, colour, sheet size, envelope,
#: inserts (the last six: :meth:`~plant.scheduling.model.Needs.needs`).
_Group = tuple[bool, str, int, str, bool, bool, str | None, str | None, tuple[str, ...]]


def plan_work(
    printers: Iterable[Printer],
    inserters: Iterable[Inserter],
    pieces: Iterable[Piece],
    now_s: int,
    *,
    max_job_pieces: int = DEFAULT_MAX_JOB_PIECES,
    time_limit_s: float = WORK_TIME_LIMIT_S,
) -> WorkPlan:
    """Form bounded jobs of matching pieces and plan them on ``printers`` and ``inserters`` from ``now_s``."""
    if isinstance(max_job_pieces, bool) or not isinstance(max_job_pieces, int) or max_job_pieces < 1:
        raise ScheduleError("max_job_pieces", max_job_pieces, "a whole number ≥ 1")
    printers = tuple(replace(p, available_s=max(p.available_s, now_s)) for p in printers)
    inserters = tuple(replace(k, available_s=max(k.available_s, now_s)) for k in inserters)
    fleet = Instance(printers, inserters, ())
    groups: dict[_Group, list[Piece]] = defaultdict(list)
    for piece in pieces:
        groups[(piece.reprint, piece.mail_class, piece.sheets, *piece.needs())].append(piece)
    formed: list[FormedJob] = []
    jobs: list[Job] = []
    manual: list[ManualPiece] = []
    labels: dict[str, int] = {}
    for group, members in sorted(groups.items(), key=lambda g: (not g[0][0], _sortable(g[0]))):
        reprint, mail_class, sheets = group[:3]
        needs: dict[str, Any] = dict(zip(NEEDS, group[3:], strict=True))
        members.sort(key=lambda p: (p.due_s, str(p.id)))
        probe = Job("probe", 1, sheets, 0, now_s, reprint, **needs)
        reason = manual_reason(probe, fleet)
        if reason is not None:
            code = (
                ManualCode.NO_PRESS
                if any(can_insert(probe, k) for k in inserters)
                else ManualCode.NO_INSERTER
            )
            manual.extend(ManualPiece(p.id, reason, code) for p in members)
            continue
        label = _label(group)
        labels[label] = labels.get(label, 0) + 1
        if labels[label] > 1:  # two groups whose names read alike (a "-" inside a name): keep the ids apart
            label = f"{label}~{labels[label]}"
        for n, start in enumerate(range(0, len(members), max_job_pieces)):
            chunk = members[start : start + max_job_pieces]
            job_id = f"{label}-{n + 1}"
            ids = tuple(p.id for p in chunk)
            formed.append(FormedJob(job_id, ids, mail_class, sheets, reprint, **needs))
            due_s = min(p.due_s for p in chunk)
            jobs.append(Job(job_id, len(chunk), sheets, due_s, now_s, reprint, **needs))
    plan = plan_instance(Instance(printers, inserters, tuple(jobs)), time_limit_s)
    return WorkPlan(plan, tuple(formed), tuple(manual))


def _sortable(group: _Group) -> tuple[Any, ...]:
    return tuple("" if x is None else x for x in group)


def _label(group: _Group) -> str:
    """A readable job id stem: ``[R-]class-Ns`` and whatever differs from the defaults."""
    reprint, mail_class, sheets, stock, duplex, colour, sheet_size, envelope, inserts = group
    parts = [f"{'R-' if reprint else ''}{mail_class}", f"{sheets}s"]
    parts += [stock] if stock != DEFAULT_STOCK else []
    parts += ["duplex"] if duplex else []
    parts += ["colour"] if colour else []
    parts += [x for x in (sheet_size, envelope) if x is not None]
    parts += ["+".join(inserts)] if inserts else []
    return "-".join(parts)
