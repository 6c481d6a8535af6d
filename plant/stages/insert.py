"""Stages ``insert(run_id)`` and ``follow_insert(run_id)``: envelope a printed job, then reconcile every
piece.

The inserter reads each sheet's control code; its per-piece results are the only evidence that a piece was
printed (SPOOLED → PRINTED) and enveloped (→ INSERTED). A piece that was read but diverted, damaged or removed
is SPOILED and goes back to print with the same ids; a piece no sheet of which arrived is spoiled too; a piece
the inserter says nothing about is UNACCOUNTED, never assumed fine. "Inserted" counts only with every sheet of
the piece read; a piece with two result rows, or "inserted" with sheets missing, is UNACCOUNTED for an
operator too, and result rows naming no piece of the run are recorded on the run (``result_defects``), so no
row is counted twice or dropped unseen. Every piece is accounted for exactly once:
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

from inserters import DuplicateRun, InserterError, InserterState, MailRun, Outcome, PieceResult, RunRecord
from inserters.mailrun import CheckedResults, check_results
from plant.crashpoints import crash_point
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
from printers import UnknownJob

log = structlog.get_logger(__name__)


def printed_sheets(plant, job) -> Path:
    """What the press delivered to the inserter line: its own output where its driver reports one (a RIP's hot
    folder, the simulated press), else the job file the press was sent (a CUPS queue gives no sheets back).
    The camera sees these sheets in 1-up work, the cutter's leaves in N-up work
    (:func:`plant.fleet.cutting.feed`). A job the press forgot and an operator marked printed after inspection
    (``plant job printed``) has no status there: its sheets are its job file."""
    try:
        printed = plant.printers[job.printer].status(job.job_id)
    except UnknownJob:
        return Path(job.pdf_path)
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
            crash_point("insert.mid")  # the fault suite: the inserter has the run, the ledger not yet
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
    the cut. A cutter knows the cut as ``<plant id>-<run id>``: another plant's cut of the same run id is not
    this one."""
    from plant.fleet.naming import NamedCutter

    if not cut_spec_path(job.pdf_path).exists():
        return run
    lines = [run.inserter] + [i.name for i in plant.settings.inserters if i.name != run.inserter]
    for line in lines:
        if NamedCutter(make_cutter(plant.settings, line), plant.plant_id).find(run.run_id) is not None:
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
    """Account for every piece of the run exactly once, from the inserter's results only.

    A piece is INSERTED only on one result saying inserted with every sheet of it read (its leaves); any
    other single result spoils it (reprinted with the same ids). The inserter's word is not taken where it
    cannot be right: a piece with more than one result row, or one "inserted" with a different number of
    sheets read, goes to the operator (UNACCOUNTED, the rows in the reason); rows naming no piece of the run
    are recorded on the run. Every defect is an event on the run (``result_defects``) and a log warning."""
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
        members = job_pieces(conn, run.job_id)
        leaves = leaves_per_piece(job.pdf_path)
        sheets = {str(r.piece_id): leaves.get(str(r.piece_id), r.sheets) for r in members}
        checked = check_results(sheets, result.results)
        rows = [r for r in members if r.state == State.SPOOLED.value]
        doubtful = {str(r.piece_id): _doubt(checked, sheets, r, run) for r in rows}
        doubtful = {piece: why for piece, why in doubtful.items() if why}
        decided = [r for r in rows if str(r.piece_id) in checked.single and str(r.piece_id) not in doubtful]
        outcomes = checked.single
        inserted = [r for r in decided if checked.inserted(str(r.piece_id))]
        spoiled = [r for r in decided if not checked.inserted(str(r.piece_id))]
        read_spoiled = [r for r in spoiled if outcomes[str(r.piece_id)].sheets_read > 0]
        unread_spoiled = [r for r in spoiled if outcomes[str(r.piece_id)].sheets_read == 0]
        doubted = [r for r in rows if str(r.piece_id) in doubtful]
        read_doubted = [r for r in doubted if _sheets_read(checked, str(r.piece_id)) > 0]
        silent = [
            r
            for r in rows
            if str(r.piece_id) not in checked.single and str(r.piece_id) not in checked.duplicates
        ]
        evidence = {"run": run.run_id, "inserter": run.inserter}
        if not checked.clean:
            _defects(conn, run, checked)
        if result.outsorted:
            _outsorted(conn, run, result.outsorted)
        move_letters(
            conn,
            [r.pk for r in inserted + read_spoiled + read_doubted],
            Event.READ_DOWNSTREAM,
            State.SPOOLED,
            data=evidence,
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
        _pulled(conn, run, checked, members)
        unknown = ", ".join(sorted({r.piece_id for r in checked.unknown}))
        lost = {
            row.pk: f"{run.inserter} gave no result for the piece in {run.run_id}"
            + (f" (its results name piece(s) {unknown}, not in the run)" if unknown else "")
            + "; find the envelope and reconcile it by hand (`plant reconcile`)."
            for row in silent
        }
        lost.update({row.pk: doubtful[str(row.piece_id)] for row in doubted})
        read = {r.pk for r in read_doubted}
        for row in silent + doubted:
            log.error(
                "piece_unaccounted",
                letter_id=row.letter_id,
                tracking_id=row.tracking_id,
                piece=row.piece_id,
                run=run.run_id,
                reason=lost[row.pk],
            )
            move_letters(
                conn,
                [row.pk],
                Event.LOSE,
                State.PRINTED if row.pk in read else State.SPOOLED,
                data=evidence,
                extra={"reason_code": "UNACCOUNTED", "reason": lost[row.pk]},
            )
        # Every piece accounted for in this run carries it, so a hand reconciliation can hand it over.
        conn.execute(
            update(t.pieces)
            .where(t.pieces.c.letter_pk.in_([r.pk for r in silent + doubted]))
            .values(run_id=run.run_id)
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
            "unaccounted": len(silent) + len(doubted),
        }
        enqueue(conn, "dispatch", run.run_id)
        if reprints:
            enqueue(conn, "plan", job.submission_id)
        enqueue(conn, "receipts", job.submission_id)
    log.info("run_reconciled", run=run.run_id, job=run.job_id, **counts)
    plant.notify()


def _doubt(checked: CheckedResults, sheets: dict[str, int], row, run) -> str:
    """Why the inserter's word on the piece cannot be taken (empty when it can): more than one result row
    for it, or "inserted" with a different number of sheets read than it has."""
    piece = str(row.piece_id)
    if piece in checked.duplicates:
        said = "; ".join(_said(r) for r in checked.duplicates[piece])
        return (
            f"{run.inserter} gave {len(checked.duplicates[piece])} results for the piece in {run.run_id} "
            f"({said}); there may be two envelopes or none: find them and reconcile it by hand "
            "(`plant reconcile`)."
        )
    if piece in checked.short:
        return (
            f"{run.inserter} says inserted in {run.run_id} but read {checked.short[piece].sheets_read} "
            f"sheet(s) of {sheets[piece]}; check the envelope's contents and reconcile it by hand "
            "(`plant reconcile`)."
        )
    return ""


def _said(result: PieceResult) -> str:
    """One result row in words: its outcome, sheets read and reason."""
    reason = f", {result.reason}" if result.reason else ""
    return f"{result.outcome.value} with {result.sheets_read} sheet(s) read{reason}"


def _sheets_read(checked: CheckedResults, piece: str) -> int:
    """The most sheets of the piece any of its result rows says were read."""
    found = checked.duplicates.get(piece) or ((checked.single[piece],) if piece in checked.single else ())
    return max((r.sheets_read for r in found), default=0)


def _defects(conn, run, checked: CheckedResults) -> None:
    """Record what is wrong with the run's results: an event on the run with the rows, and a warning."""
    facts = {
        "inserter": run.inserter,
        "duplicates": {
            piece: [_row(r) for r in found] for piece, found in sorted(checked.duplicates.items())
        },
        "unknown": [_row(r) for r in checked.unknown],
        "short": {piece: _row(r) for piece, r in sorted(checked.short.items())},
    }
    append_event(conn, "run", run.run_id, "result_defects", data=facts)
    log.warning(
        "inserter_result_defects",
        run=run.run_id,
        inserter=run.inserter,
        duplicate_pieces=sorted(checked.duplicates),
        unknown_pieces=[r.piece_id for r in checked.unknown],
        short_read_pieces=sorted(checked.short),
        message=f"{run.inserter}'s results for {run.run_id} do not match its run data; the pieces concerned "
        "are UNACCOUNTED for an operator (`plant reconcile list`)",
    )


def _outsorted(conn, run, outsorted) -> None:
    """Record the copies the inserter outsorted that account for no piece (a second copy of a piece, e.g. the
    second read of sheets a press restarted from page 1 printed again; a broken copy an inserted one
    superseded): an event on the run with the rows, and a warning. They are destroyed, never reprinted
    from."""
    rows = [_row(r) for r in outsorted]
    append_event(conn, "run", run.run_id, "outsorted_copies", data={"inserter": run.inserter, "rows": rows})
    log.warning(
        "copies_outsorted",
        run=run.run_id,
        inserter=run.inserter,
        pieces=[r.piece_id for r in outsorted],
        message=f"{run.inserter} outsorted {len(rows)} extra cop(ies) in {run.run_id} (each piece of the run "
        "is accounted for once): destroy them from the outsort tray",
    )


def _row(result: PieceResult) -> dict:
    return {
        "piece_id": result.piece_id,
        "outcome": result.outcome.value,
        "reason": result.reason,
        "sheets_read": result.sheets_read,
    }


def _pulled(conn, run, checked: CheckedResults, rows) -> None:
    """Record what the inserter did with pieces pulled while their job was on its way (their state stays
    PULLED): outsorted as asked, or — pulled after the run was handed over — enveloped (by any of its result
    rows), to be taken out by hand."""
    for row in (r for r in rows if r.state == State.PULLED.value):
        piece = str(row.piece_id)
        found = checked.duplicates.get(piece) or ((checked.single[piece],) if piece in checked.single else ())
        if not found:
            continue
        enveloped = any(r.outcome is Outcome.INSERTED for r in found)
        outcome = Outcome.INSERTED if enveloped else found[-1].outcome
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
