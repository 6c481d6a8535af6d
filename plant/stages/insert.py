"""Stages ``insert(run_id)`` and ``follow_insert(run_id)``: envelope a printed job, then reconcile every
piece.

The inserter reads each sheet's control code; its per-piece results are the only evidence that a piece was
printed (SPOOLED → PRINTED) and enveloped (→ INSERTED). A piece that was read but diverted, damaged or removed
is SPOILED and goes back to print with the same ids; a piece no sheet of which arrived is spoiled too; a piece
the inserter says nothing about is UNACCOUNTED, never assumed fine. Every piece is accounted for exactly once:
the reconciliation is one transaction guarded by the run's state. A piece an operator pulled after its job was
spooled goes into the mail run data with the divert flag set, so the inserter outsorts it; one pulled after
the run was handed over may come out enveloped, which the reconciliation reports (it is never dispatched).

A run is handed to its inserter only while that inserter is in the plan and does not report itself stopped:
until then it stays CREATED, so it can still go elsewhere (:mod:`plant.stages.replan` moves the runs of an
inserter that left the plan). The stage claims the run (CREATED → SUBMITTING) before anything reaches the
inserter.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import structlog
from sqlalchemy import update

from inserters import DuplicateRun, InserterError, InserterState, MailRun, Outcome, RunRecord
from plant.fleet.cutting import cut_spec_path, feed, leaves_per_piece
from plant.fleet.devices import make_cutter
from plant.fleet.runs import move_run
from plant.fleet.service import out_of_service
from plant.ledger import append_event, enqueue, move_entity, move_letters
from plant.ledger import schema as t
from plant.ledger.jobs import job_pieces, load_run, require_job, set_run_state
from plant.model import Event, JobState, RunState, State
from plant.stages.context import current
from plant.stages.spool import reprint_or_fail

log = structlog.get_logger(__name__)


def printed_sheets(plant, job) -> Path:
    """What the press delivered to the inserter line: its own output where its driver reports one (a RIP's hot
    folder, the simulated press), else the job file the press was sent (a CUPS queue gives no sheets back).
    The camera sees these sheets in 1-up work, the cutter's leaves in N-up work
    (:func:`plant.stages.cut.feed`)."""
    printed = plant.printers[job.printer].status(job.job_id)
    return printed.output_path if printed.output_path is not None else Path(job.pdf_path)


def insert(run_id: str) -> None:
    """Send a CREATED run's mail run data and printed sheets to its inserter (once), then follow it.

    The run waits (this message comes back later) while its inserter reports itself stopped, or while no
    inserter in service takes it; a run whose inserter left the plan is moved instead. N-up work is cut first,
    by the cutter in front of the run's inserter — or, for a run moved after its cut began, by the cutter that
    has the cut.
    """
    plant = current()
    with plant.ledger.read() as conn:
        run = load_run(conn, run_id)
        if run is None or run.state not in (RunState.CREATED.value, RunState.SUBMITTING.value):
            return
        job = require_job(conn, run.job_id)
        rows = [
            r for r in job_pieces(conn, run.job_id) if r.state in (State.SPOOLED.value, State.PULLED.value)
        ]
    if run.state == RunState.CREATED.value and not _ready(plant, run):
        return
    fed = feed(plant, _cut_line(plant, run, job), job, printed_sheets(plant, job))
    if fed is None:  # N-up work: the cutter in front of the inserter is still cutting the sheets into leaves
        _later(plant, run_id)
        return
    if run.state == RunState.CREATED.value and not _claim(plant, run):
        return
    inserter = plant.inserters[run.inserter]
    if inserter.find(run_id) is None:
        zone = plant.settings.mark_layout().control_zone
        leaves = leaves_per_piece(job.pdf_path)
        try:
            inserter.submit(
                MailRun(
                    run_id=run_id,
                    job_id=job.job_id,
                    records=tuple(
                        RunRecord(
                            piece_id=str(r.piece_id),
                            sheets=leaves.get(str(r.piece_id), r.sheets),
                            divert=r.state == State.PULLED.value,
                        )
                        for r in rows
                    ),
                    sheets_pdf=fed.sheets_pdf,
                    control_zone=(zone.x, zone.y, zone.w, zone.h),
                )
            )
        except (
            DuplicateRun
        ):  # another delivery of this message handed it over between our find and our submit
            pass
        else:
            log.info("run_submitted", run=run_id, job=job.job_id, inserter=run.inserter, pieces=len(rows))
    with plant.ledger.tx() as conn:
        if set_run_state(
            conn,
            run_id,
            RunState.SUBMITTING,
            RunState.SUBMITTED,
            "submit",
            {"inserter": run.inserter, **fed.cutting},
        ):
            enqueue(conn, "follow_insert", run_id)
    plant.notify()


def _ready(plant, run) -> bool:
    """Whether ``run`` may go to its inserter now. An inserter out of the plan gets no run: the run is moved
    to one in service (or waits for one); an inserter reporting itself stopped gets none until it runs again
    (the run stays CREATED, so it can still move). An unreadable status does not hold the run back."""
    with plant.ledger.read() as conn:
        down = run.inserter in out_of_service(conn)
    if down:
        _move_or_wait(plant, run)
        return False
    try:
        status = plant.inserters[run.inserter].machine_status()
    except (InserterError, OSError) as exc:
        log.warning("inserter_status_unreadable", inserter=run.inserter, run=run.run_id, error=str(exc))
        return True
    if status.state is InserterState.STOPPED:
        log.debug(
            "run_waits_for_stopped_inserter", run=run.run_id, inserter=run.inserter, message=status.message
        )
        _later(plant, run.run_id)
        return False
    return True


def _claim(plant, run) -> bool:
    """Claim the CREATED run for its inserter (→ SUBMITTING) before anything reaches it: from here on no move
    can take it away, and a run moved first is never sent here. A run whose inserter left the plan meanwhile
    is moved instead. False when the run is not to be sent now."""
    with plant.ledger.tx() as conn:
        if run.inserter not in out_of_service(conn):
            return set_run_state(
                conn,
                run.run_id,
                RunState.CREATED,
                RunState.SUBMITTING,
                "submit_claim",
                {"inserter": run.inserter},
                on=run.inserter,
            )
    _move_or_wait(plant, run)
    return False


def _move_or_wait(plant, run) -> None:
    with plant.ledger.tx() as conn:
        moved = move_run(conn, plant.settings, run.run_id, f"{run.inserter} is out of the plan")
    if moved is None:
        _later(plant, run.run_id)
    plant.notify()


def _later(plant, run_id: str) -> None:
    plant.send("insert", run_id, delay_ms=int(plant.settings.poll_interval_s * 1000))


def _cut_line(plant, run, job):
    """The run as the cutter sees it: N-up work is cut once, under the run id, by the cutter in front of the
    run's inserter — unless the run was moved after its cut began, whose leaves come from the cutter that has
    the cut."""
    if not cut_spec_path(job.pdf_path).exists():
        return run
    lines = [run.inserter] + [i.name for i in plant.settings.inserters if i.name != run.inserter]
    for line in lines:
        if make_cutter(plant.settings, line).find(run.run_id) is not None:
            return SimpleNamespace(run_id=run.run_id, inserter=line)
    return run


def follow_insert(run_id: str) -> None:
    """Read the inserter's results; when the run is finished, reconcile it, else look again later."""
    plant = current()
    with plant.ledger.read() as conn:
        run = load_run(conn, run_id)
    if run is None or run.state != RunState.SUBMITTED.value:
        return
    result = plant.inserters[run.inserter].result(run_id)
    if not result.finished:
        plant.send("follow_insert", run_id, delay_ms=int(plant.settings.poll_interval_s * 1000))
        return
    reconcile(plant, run, result)


def reconcile(plant, run, result) -> None:
    """Account for every piece of the run exactly once, from the inserter's results only."""
    outcomes = {r.piece_id: r for r in result.results}
    counts: dict[str, int] = {}
    with plant.ledger.tx() as conn:
        if not move_entity(
            conn,
            t.insert_runs,
            t.insert_runs.c.run_id,
            run.run_id,
            RunState.SUBMITTED.value,
            RunState.RECONCILED.value,
            "reconcile",
            "run",
        ):
            return
        job = require_job(conn, run.job_id)
        rows = [r for r in job_pieces(conn, run.job_id) if r.state == State.SPOOLED.value]
        inserted = [r for r in rows if _outcome(outcomes, r) is Outcome.INSERTED]
        read_spoiled = [
            r
            for r in rows
            if _outcome(outcomes, r) not in (None, Outcome.INSERTED)
            and outcomes[str(r.piece_id)].sheets_read > 0
        ]
        unread_spoiled = [
            r
            for r in rows
            if _outcome(outcomes, r) not in (None, Outcome.INSERTED)
            and outcomes[str(r.piece_id)].sheets_read == 0
        ]
        silent = [r for r in rows if _outcome(outcomes, r) is None]
        evidence = {"run": run.run_id, "inserter": run.inserter}
        move_letters(
            conn, [r.pk for r in inserted + read_spoiled], Event.READ_DOWNSTREAM, State.SPOOLED, data=evidence
        )
        moved = move_letters(conn, [r.pk for r in inserted], Event.INSERT, State.PRINTED, data=evidence)
        conn.execute(update(t.pieces).where(t.pieces.c.letter_pk.in_(moved)).values(run_id=run.run_id))
        reprints = []
        for rows_, expect in ((read_spoiled, State.PRINTED), (unread_spoiled, State.SPOOLED)):
            for row in rows_:
                outcome = outcomes[str(row.piece_id)]
                reason = f"{outcome.outcome.name.lower()} in {run.run_id}: {outcome.reason}"
                again, failed = reprint_or_fail(conn, [row], Event.SPOIL, expect, reason)
                reprints.extend(again)
                log.warning(
                    "piece_spoiled",
                    letter_id=row.letter_id,
                    tracking_id=row.tracking_id,
                    piece=row.piece_id,
                    run=run.run_id,
                    reason=reason,
                    next="reprint" if again else "failed",
                )
        for row in silent:
            log.error(
                "piece_unaccounted",
                letter_id=row.letter_id,
                tracking_id=row.tracking_id,
                piece=row.piece_id,
                run=run.run_id,
            )
        _pulled(conn, run, outcomes, job_pieces(conn, run.job_id))
        move_letters(
            conn,
            [r.pk for r in silent],
            Event.LOSE,
            State.SPOOLED,
            extra={
                "reason_code": "UNACCOUNTED",
                "reason": f"{run.inserter} gave no result for the piece in {run.run_id}; find the "
                "envelope and reconcile it by hand.",
            },
        )
        move_entity(
            conn,
            t.print_jobs,
            t.print_jobs.c.job_id,
            run.job_id,
            JobState.PRINTED.value,
            JobState.DONE.value,
            "done",
            "job",
        )
        counts = {
            "inserted": len(inserted),
            "spoiled": len(read_spoiled) + len(unread_spoiled),
            "reprint": len(reprints),
            "unaccounted": len(silent),
        }
        enqueue(conn, "dispatch", run.run_id)
        if reprints:
            enqueue(conn, "plan", job.submission_id)
        enqueue(conn, "receipts", job.submission_id)
    log.info("run_reconciled", run=run.run_id, job=run.job_id, **counts)
    plant.notify()


def _pulled(conn, run, outcomes, rows) -> None:
    """Record what the inserter did with pieces pulled while their job was on its way (their state stays
    PULLED): outsorted as asked, or — pulled after the run was handed over — enveloped, to be taken out by
    hand."""
    for row in (r for r in rows if r.state == State.PULLED.value and str(r.piece_id) in outcomes):
        outcome = outcomes[str(row.piece_id)].outcome
        enveloped = outcome is Outcome.INSERTED
        append_event(
            conn,
            "letter",
            str(row.pk),
            "pulled_enveloped" if enveloped else "outsorted",
            data={"run": run.run_id, "inserter": run.inserter, "outcome": outcome.name.lower()},
        )
        if enveloped:
            log.error(
                "pulled_piece_enveloped",
                letter_id=row.letter_id,
                tracking_id=row.tracking_id,
                run=run.run_id,
                inserter=run.inserter,
                message=f"take envelope {row.tracking_id} out of {run.run_id}'s output: it was pulled and is "
                "not dispatched",
            )


def _outcome(outcomes, row):
    found = outcomes.get(str(row.piece_id))
    return None if found is None else found.outcome
