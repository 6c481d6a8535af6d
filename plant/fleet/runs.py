"""Where an insert run goes when its inserter leaves the plan.

Runs CREATED are not at the inserter: each is *moved* (:func:`move_run`) to an inserter in service whose
envelopes take the job's leaves, least loaded first (:func:`choose_inserter`). Runs SUBMITTED are at the
inserter: only those it proves it never started are withdrawn (:func:`run_fate`); every other run stays.
Nothing moves back when a device returns to the plan.
"""

from __future__ import annotations

from enum import Enum

import structlog
from sqlalchemy import Connection, func, select

from plant.fleet.cutting import leaves_per_piece
from plant.fleet.service import out_of_service
from plant.ledger import enqueue
from plant.ledger import schema as t
from plant.ledger.jobs import job_pieces, load_job, set_run_state
from plant.model import RunState, State

log = structlog.get_logger(__name__)


class RunFate(Enum):
    """What becomes of an insert run whose inserter left the plan."""

    #: Not at the inserter: it goes to an inserter in service.
    MOVE = "move"
    #: Waiting at the inserter, which can prove it never started it: taken back, then moved.
    WITHDRAW = "withdraw"
    #: At the inserter (or on its way, or done): it stays.
    STAY = "stay"


def run_fate(state: RunState, waiting: bool, withdrawable: bool) -> RunFate:
    """The fate of a run in ``state`` on an inserter out of the plan: ``waiting`` is what the inserter says of
    it (queued, no sheet fed), ``withdrawable`` whether the inserter can prove a withdrawal."""
    if state is RunState.CREATED:
        return RunFate.MOVE
    if state is RunState.SUBMITTED and waiting and withdrawable:
        return RunFate.WITHDRAW
    return RunFate.STAY


def envelope_sheets(conn: Connection, job) -> int:
    """The most sheets one envelope of ``job``'s run holds: its pieces' leaves (fewer than their pages in
    duplex work), as the mail run data gives them to the inserter."""
    leaves = leaves_per_piece(job.pdf_path) if job.pdf_path else {}
    sheets = [
        leaves.get(str(r.piece_id), r.sheets)
        for r in job_pieces(conn, job.job_id)
        if r.state in (State.SPOOLED.value, State.PULLED.value)
    ]
    return max(sheets, default=1)


def choose_inserter(conn: Connection, settings, job, exclude: set[str]) -> str | None:
    """The inserter in service (not in ``exclude``) whose envelopes take ``job``'s pieces, least loaded by its
    runs not yet reconciled per envelope-hour; None when no such inserter is in service."""
    need = envelope_sheets(conn, job)
    able = [i for i in settings.inserters if i.name not in exclude and i.max_sheets >= need]
    if not able:
        return None
    busy: dict[str, int] = dict(
        conn.execute(
            select(t.insert_runs.c.inserter, func.count())
            .where(t.insert_runs.c.state != RunState.RECONCILED.value)
            .group_by(t.insert_runs.c.inserter)
        ).all()
    )
    return min(able, key=lambda i: (busy.get(i.name, 0) + 1) / i.envelopes_per_hour).name


def move_run(conn: Connection, settings, run_id: str, reason: str) -> str | None:
    """Move a CREATED run off its inserter to one in service that takes its sheets, in the caller's
    transaction: the new inserter, a ``move`` event and an ``insert`` message. Returns the new inserter, or
    None when the run is not CREATED (it is at its inserter, or on its way) or no inserter in service can take
    it (it waits)."""
    run = conn.execute(select(t.insert_runs).where(t.insert_runs.c.run_id == run_id)).first()
    if run is None or run.state != RunState.CREATED.value:
        return None
    job = load_job(conn, run.job_id)
    target = choose_inserter(conn, settings, job, out_of_service(conn) | {run.inserter})
    if target is None:
        log.info(
            "run_waits_for_an_inserter",
            run=run_id,
            inserter=run.inserter,
            job=run.job_id,
            reason=reason,
            message=f"no inserter in service takes {envelope_sheets(conn, job)} sheet(s); the run goes on "
            f"when {run.inserter} or another inserter taking them is in service",
        )
        return None
    if not set_run_state(
        conn,
        run_id,
        RunState.CREATED,
        RunState.CREATED,
        "move",
        {"from": run.inserter, "to": target, "reason": reason},
        on=run.inserter,
        inserter=target,
    ):
        return None
    enqueue(conn, "insert", run_id)
    log.warning(
        "run_moved", run=run_id, job=run.job_id, inserter=target, moved_from=run.inserter, reason=reason
    )
    return target
