"""Stage ``plan(submission_id)``: form print jobs from print-ready pieces, and give each a press and an
inserter.

The decision is the scheduler's (:func:`plant.scheduling.plan_work`, pure, over plain data): jobs of matching
pieces in due order, reprints first, on the press and inserter that keep every piece on time and the plant's
makespan near its lower bound, given what the devices already have queued. What must match is what the ledger
knows of a piece today — its mail class, its sheets (its leaves: ⌈pages/2⌉ for a duplex letter), whether it is
duplex and whether it is a reprint — with the scheduler's defaults for the rest (plain stock, black only, the
inserter's envelope, no inserts); :class:`~plant.scheduling.work.Piece` takes stock, colour, sheet size,
envelope and inserts as soon as letters carry them. Duplex is the letter's (the sender's choice): a duplex job
goes only to a press whose ``[[printers]] duplex`` is ``turn`` or ``tumble``, a simplex job to any press (a
duplex press prints it one-sided), and the job records which it is (``print_jobs.duplex``) for the impose and
spool stages. This stage only reads the ledger, asks, and writes the answer: pieces move PRINT_READY → PLANNED
by compare-and-set, so a duplicate message plans nothing. Pieces no device can take fail with the reason and
its code (``NO_INSERTER``, ``NO_PRESS``: e.g. a duplex letter on a fleet without a duplex press). A piece is
due ``[sla]`` hours after its letter's receipt (its mail class's, else the default); the scheduler searches at
most ``[plan] time_limit_s``.

Only devices in service are planned on: a press or inserter an operator took down, or a press stopped longer
than ``plan.replan_after_s`` (:mod:`plant.stages.replan`), gets no new job. Pieces that only such a device
could take, and every piece while no press or no inserter is in service, wait PRINT_READY: they are planned
when a device is back (its return queues ``plan``), never failed for it. A device taken out while this stage
was planning is checked again in the write transaction; jobs meant for it are not written, and ``plan`` runs
again.
"""

from __future__ import annotations

from dataclasses import replace

import structlog
from sqlalchemy import func, insert, select, update

from plant.fleet.service import out_of_service
from plant.ledger import append_event, enqueue, move_letters, now
from plant.ledger import schema as t
from plant.model import Event, JobState, State, job_name
from plant.scheduling import Inserter, Printer, plan_work
from plant.scheduling.model import Instance, Job, manual_reason
from plant.scheduling.work import Piece
from plant.stages.context import current

log = structlog.get_logger(__name__)


def plan(submission_id: str) -> None:
    """Plan the submission's PRINT_READY pieces into jobs on presses and inserters."""
    plant = current()
    letters, pieces = t.letters.c, t.pieces.c
    settings = plant.settings
    with plant.ledger.read() as conn:  # plan outside the write lock: the writes below are compare-and-set
        rows = conn.execute(
            select(
                letters.pk,
                letters.mail_class,
                letters.received_at,
                letters.duplex,
                pieces.piece_id,
                pieces.sheets,
                pieces.prints,
            )
            .select_from(t.letters.join(t.pieces, pieces.letter_pk == letters.pk))
            .where(letters.submission_id == submission_id, letters.state == State.PRINT_READY.value)
            .order_by(letters.pk)
        ).all()
        if not rows:
            return
        stamp = int(now())
        printer_busy, inserter_busy = _queued_seconds(conn, settings)
        down = out_of_service(conn)
    printers = [
        Printer(
            p.name,
            p.sheets_per_minute,
            available_s=stamp + printer_busy[p.name],
            up=p.name not in down,
            duplex=p.can_duplex,
        )
        for p in settings.printers
    ]
    inserters = [
        Inserter(
            i.name,
            i.envelopes_per_hour,
            i.max_sheets,
            available_s=stamp + inserter_busy[i.name],
            up=i.name not in down,
        )
        for i in settings.inserters
    ]
    if not any(p.up for p in printers) or not any(i.up for i in inserters):
        log.warning(
            "plan_waiting",
            submission=submission_id,
            pieces=len(rows),
            out_of_service=sorted(down),
            message="no press or no inserter is in service; the pieces are planned when one is back "
            "(`plant device up NAME`)",
        )
        return
    work = plan_work(
        printers,
        inserters,
        [
            Piece(
                r.piece_id,
                r.sheets,
                r.mail_class,
                int(r.received_at + settings.sla.due_after_s(r.mail_class)),
                reprint=r.prints > 0,
                duplex=bool(r.duplex),
            )
            for r in rows
        ],
        stamp,
        max_job_pieces=settings.job_max_pieces,
        time_limit_s=settings.plan.time_limit_s,
    )
    by_piece = {r.piece_id: r for r in rows}
    assignments = {a.job: a for a in work.plan.assignments}
    ordered = sorted(work.jobs, key=lambda j: assignments[j.job].print_start_s)
    waiting = [m for m in work.manual if down and _fits_when_all_up(by_piece[m.piece], printers, inserters)]
    manual = [m for m in work.manual if m not in waiting]
    with plant.ledger.tx() as conn:
        gone = out_of_service(conn) - down  # taken out while we planned: write nothing for it
        skipped = [f for f in ordered if {assignments[f.job].printer, assignments[f.job].inserter} & gone]
        for formed in ordered:
            if formed not in skipped:
                _record_job(conn, submission_id, formed, assignments[formed.job], by_piece)
        for piece in manual:
            pk = by_piece[piece.piece].pk
            if move_letters(conn, [pk], Event.PLAN, State.PRINT_READY):
                move_letters(
                    conn,
                    [pk],
                    Event.FAIL,
                    State.PLANNED,
                    extra={"reason_code": piece.code.value, "reason": piece.reason},
                )
        if manual:
            enqueue(conn, "receipts", submission_id)
        if skipped:
            enqueue(conn, "plan", submission_id)
    log.info(
        "planned",
        submission=submission_id,
        jobs=len(work.jobs) - len(skipped),
        manual=len(manual),
        waiting=len(waiting),
        makespan_s=work.plan.makespan_s - stamp,
        late_jobs=len(work.plan.late_jobs),
        out_of_service=sorted(down | gone),
    )
    plant.notify()


def _fits_when_all_up(row, printers, inserters) -> bool:
    """Whether a piece the devices in service cannot take would fit the fleet with every device back: it
    waits."""
    fleet = Instance(
        tuple(replace(p, up=True) for p in printers), tuple(replace(i, up=True) for i in inserters), ()
    )
    return manual_reason(Job("probe", 1, row.sheets, 0, duplex=bool(row.duplex)), fleet) is None


def _record_job(conn, submission_id: str, formed, assignment, by_piece) -> None:
    """Write one planned job: its row, its pieces in order, their PLANNED state, and the impose message."""
    group = [by_piece[p] for p in formed.pieces]
    moved = set(move_letters(conn, [r.pk for r in group], Event.PLAN, State.PRINT_READY))
    group = [r for r in group if r.pk in moved]
    if not group:
        return
    sheets = sum(r.sheets for r in group)
    stamp = now()
    number = conn.execute(
        insert(t.print_jobs)
        .values(
            submission_id=submission_id,
            printer=assignment.printer,
            inserter=assignment.inserter,
            state=JobState.PLANNED.value,
            duplex=int(formed.duplex),
            sheets=sheets,
            pieces=len(group),
            due_at=assignment.insert_end_s,
            created_at=stamp,
            updated_at=stamp,
        )
        .returning(t.print_jobs.c.number)
    ).scalar_one()
    job_id = job_name(number)
    conn.execute(update(t.print_jobs).where(t.print_jobs.c.number == number).values(job_id=job_id))
    conn.execute(
        insert(t.job_pieces),
        [{"job_id": job_id, "seq": i, "piece_id": r.piece_id} for i, r in enumerate(group)],
    )
    conn.execute(
        update(t.pieces)
        .where(t.pieces.c.piece_id.in_([r.piece_id for r in group]))
        .values(job_id=job_id, run_id=None)
    )
    append_event(
        conn,
        "job",
        job_id,
        "plan",
        None,
        JobState.PLANNED.value,
        {
            "printer": assignment.printer,
            "inserter": assignment.inserter,
            "pieces": len(group),
            "sheets": sheets,
            "duplex": formed.duplex,
            "print_start_s": assignment.print_start_s,
            "insert_end_s": assignment.insert_end_s,
        },
    )
    enqueue(conn, "impose", job_id)
    log.info(
        "job_planned",
        job=job_id,
        printer=assignment.printer,
        inserter=assignment.inserter,
        pieces=len(group),
        sheets=sheets,
        duplex=formed.duplex,
    )


def _queued_seconds(conn, settings) -> tuple[dict[str, int], dict[str, int]]:
    """Seconds of work each press and inserter already has (jobs not yet printed / runs not yet
    reconciled)."""
    speed = {p.name: p.sheets_per_minute for p in settings.printers}
    rate = {i.name: i.envelopes_per_hour for i in settings.inserters}
    printer_busy = {name: 0 for name in speed}
    inserter_busy = {name: 0 for name in rate}
    busy = [
        JobState.PLANNED.value,
        JobState.IMPOSED.value,
        JobState.SPOOLING.value,
        JobState.SPOOLED.value,
        JobState.WITHDRAWING.value,
    ]
    for name, sheets in conn.execute(
        select(t.print_jobs.c.printer, func.sum(t.print_jobs.c.sheets))
        .where(t.print_jobs.c.state.in_(busy))
        .group_by(t.print_jobs.c.printer)
    ):
        if name in speed:
            printer_busy[name] = int(60 * (sheets or 0) / speed[name])
    for name, count in conn.execute(
        select(t.print_jobs.c.inserter, func.sum(t.print_jobs.c.pieces))
        .where(t.print_jobs.c.state.in_(busy + [JobState.PRINTED.value]))
        .group_by(t.print_jobs.c.inserter)
    ):
        if name in rate:
            inserter_busy[name] = int(3600 * (count or 0) / rate[name])
    return printer_busy, inserter_busy
