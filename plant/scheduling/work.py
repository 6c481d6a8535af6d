"""From pieces to a plan: the adapter the plant's plan stage calls.

The stage knows pieces (id, sheets, mail class, due time, reprint flag); the planner knows jobs of identical
pieces. :func:`plan_work` forms the jobs — pieces that must match (mail class, sheets per piece, reprint or
not) in due order, at most ``max_job_pieces`` to a job so one press run stays manageable and a jam costs
little — sends pieces no inserter can take to the manual path with a reason, and plans the jobs.
Plain data in, plain data out: the stage does the ledger work with the answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from plant.scheduling.errors import ScheduleError
from plant.scheduling.model import Inserter, Instance, Job, Plan, Printer
from plant.scheduling.planner import plan as plan_instance

#: Most pieces in one print job unless the caller says otherwise.
DEFAULT_MAX_JOB_PIECES = 5000
#: Planning budget of the stage, seconds.
WORK_TIME_LIMIT_S = 0.2


@dataclass(frozen=True, slots=True)
class Piece:
    """A print-ready mail piece as the plan stage sees it."""

    id: int | str
    sheets: int
    mail_class: str
    due_s: int
    reprint: bool = False


@dataclass(frozen=True, slots=True)
class FormedJob:
    """A print job formed from pieces that match; ``pieces`` in the order they are printed."""

    job: str
    pieces: tuple[int | str, ...]
    mail_class: str
    sheets_per_piece: int
    reprint: bool


@dataclass(frozen=True, slots=True)
class ManualPiece:
    """A piece no working inserter can take, with the reason."""

    piece: int | str
    reason: str


@dataclass(frozen=True, slots=True)
class WorkPlan:
    """The formed jobs, their plan, and the pieces for the manual path."""

    plan: Plan
    jobs: tuple[FormedJob, ...]
    manual: tuple[ManualPiece, ...]


def plan_work(printers: Iterable[Printer], inserters: Iterable[Inserter], pieces: Iterable[Piece], now_s: int,
              *, max_job_pieces: int = DEFAULT_MAX_JOB_PIECES,
              time_limit_s: float = WORK_TIME_LIMIT_S) -> WorkPlan:
    """Form bounded jobs of matching pieces and plan them on ``printers`` and ``inserters`` from ``now_s``."""
    if isinstance(max_job_pieces, bool) or not isinstance(max_job_pieces, int) or max_job_pieces < 1:
        raise ScheduleError("max_job_pieces", max_job_pieces, "a whole number ≥ 1")
    printers = tuple(replace(p, available_s=max(p.available_s, now_s)) for p in printers)
    inserters = tuple(replace(k, available_s=max(k.available_s, now_s)) for k in inserters)
    widest = max((k.max_sheets for k in inserters if k.up), default=0)
    groups: dict[tuple[str, int, bool], list[Piece]] = defaultdict(list)
    manual = []
    for piece in pieces:
        if piece.sheets > widest:
            manual.append(ManualPiece(piece.id, f"{piece.sheets} sheets, but the most any working inserter "
                                                f"takes is {widest}; use the flat or manual line"))
        else:
            groups[(piece.mail_class, piece.sheets, piece.reprint)].append(piece)
    formed, jobs = [], []
    for (mail_class, sheets, reprint), members in sorted(groups.items(), key=lambda g: (not g[0][2], g[0])):
        members.sort(key=lambda p: (p.due_s, str(p.id)))
        for n, start in enumerate(range(0, len(members), max_job_pieces)):
            chunk = members[start:start + max_job_pieces]
            job_id = f"{'R-' if reprint else ''}{mail_class}-{sheets}s-{n + 1}"
            formed.append(FormedJob(job_id, tuple(p.id for p in chunk), mail_class, sheets, reprint))
            jobs.append(Job(job_id, len(chunk), sheets, min(p.due_s for p in chunk), now_s, reprint))
    plan = plan_instance(Instance(printers, inserters, tuple(jobs)), time_limit_s)
    return WorkPlan(plan, tuple(formed), tuple(manual))
