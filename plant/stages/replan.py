"""Re-planning in the running plant: take work back from a device that left the plan, and plan it elsewhere.

A press leaves the plan when an operator takes it out of service (``plant device down``) or when it has reported
itself stopped for longer than ``plan.replan_after_s`` (seen by the timed sweep, on the sweep's clock). Its work
is then sorted by whether paper can exist for it:

* jobs PLANNED or IMPOSED are not on the press: each is *released* — the job becomes REPLANNED and its pieces go
  REPLAN → PRINT_READY, one event each, by compare-and-set, with a ``plan`` message in the same transaction. The
  plan stage forms new jobs (new ids) on the presses in service; the old job id and its PDF are never used again.
* jobs SPOOLED are on the press. Those the press has not taken are *withdrawn* when the driver can prove it never
  took them (a hot folder: the plant removed the ticket before the press picked it up); their pieces go
  WITHDRAW → PRINT_READY the same way. Every other spooled job stays: it prints when the press runs again (or an
  operator cancels it at the press, and its pieces are reprinted with the same ids).

Running work is never touched. The release is also what an operator's hold, cancel or pull of a piece not yet
spooled uses (:mod:`plant.operator`): the job is released, the piece taken out, the others planned again.
The spool stage claims a job (IMPOSED → SPOOLING) before it hands it to the press, so a release and a spool can
never both win: whichever compare-and-set commits first decides.

An inserter leaves the plan the same ways (the sweep reads its ``machine_status``, with the same :func:`observe`).
Its insert runs are sorted by the same rule (:func:`run_fate`):

* runs CREATED are not at the inserter (for N-up work its cutter may be cutting them): each is *moved* to an
  inserter in service whose envelopes take the job's leaves — one transaction per run, a ``move`` event, an
  ``insert`` message; the pieces stay SPOOLED. A cut already made in front of the old inserter is fed to the new one
  (:func:`plant.stages.insert.insert`). With no inserter able to take it, the run waits.
* runs SUBMITTED are at the inserter: those it proves it never started are *withdrawn* (SUBMITTED → WITHDRAWING →
  CREATED, then moved); every other one stays and is enveloped when the inserter runs again.

The insert stage claims a run (CREATED → SUBMITTING) before it hands it to the inserter, so a move and a hand-over
never both win. Nothing moves back when a device returns to the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import structlog
from sqlalchemy import Connection, func, insert, select, update

from inserters import InserterError, InserterState, Withdrawable
from plant.ledger import append_event, enqueue, move_entity, move_letters, now
from plant.ledger import schema as t
from plant.ledger import schema_devices as td
from plant.model import Event, JobState, RunState, State
from plant.runtime import current
from plant.stages.cut import leaves_per_piece
from plant.stages.impose import job_pieces, load_job
from printers import JobState as DeviceJob
from printers import PrinterError, PrinterState, PrinterStopped

log = structlog.get_logger(__name__)

#: Job states from which a job can be released: no paper can exist for it yet.
RELEASABLE = (JobState.PLANNED, JobState.IMPOSED)
#: Piece states a releasable job's pieces are in (pulled or failed pieces of it stay where they are).
_RELEASABLE_PIECES = (State.PLANNED, State.IMPOSED)


# -- the decision ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """What the sweep concludes from a press's state: when it has been stopped since, and whether it is out."""

    stopped_since: float | None
    stopped_down: bool


def observe(
    stopped: bool, stopped_since: float | None, stopped_down: bool, at: float, replan_after_s: float
) -> Observation:
    """The press's service state after seeing it ``stopped`` (or running) at ``at``.

    A press is out of the plan once it has been seen stopped for ``replan_after_s``; seen running, it is back.
    A first sighting later than ``at`` (a clock set back) restarts the count rather than waiting for the clock.
    """
    if not stopped:
        return Observation(None, False)
    since = at if stopped_since is None or stopped_since > at else stopped_since
    return Observation(since, stopped_down or at - since >= replan_after_s)


class RunFate(Enum):
    """What becomes of an insert run whose inserter left the plan."""

    #: Not at the inserter: it goes to an inserter in service.
    MOVE = "move"
    #: Waiting at the inserter, which can prove it never started it: taken back, then moved.
    WITHDRAW = "withdraw"
    #: At the inserter (or on its way, or done): it stays.
    STAY = "stay"


def run_fate(state: RunState, waiting: bool, withdrawable: bool) -> RunFate:
    """The fate of a run in ``state`` on an inserter out of the plan: ``waiting`` is what the inserter says of it
    (queued, no sheet fed), ``withdrawable`` whether the inserter can prove a withdrawal."""
    if state is RunState.CREATED:
        return RunFate.MOVE
    if state is RunState.SUBMITTED and waiting and withdrawable:
        return RunFate.WITHDRAW
    return RunFate.STAY


# -- the ledger ----------------------------------------------------------------------------------------------------
def service_rows(conn: Connection) -> dict[str, object]:
    """Every device's service row by name (devices without a row are in service)."""
    return {r.name: r for r in conn.execute(select(td.device_service))}


def out_of_service(conn: Connection) -> set[str]:
    """Names of the devices out of the plan: taken down by an operator, or a press stopped too long."""
    return {r.name for r in service_rows(conn).values() if r.operator_down or r.stopped_down}


def release_job(conn: Connection, job_id: str, reason: str) -> list[int] | None:
    """Release a PLANNED or IMPOSED job: the job becomes REPLANNED, its pieces PRINT_READY, a ``plan`` is queued.

    Returns the letter pks moved back, or None when the job is not releasable (spooled, or released already):
    paper may exist for it, or someone else took it first. Runs in the caller's transaction.
    """
    job = load_job(conn, job_id)
    if job is None:
        return None
    for expect in RELEASABLE:
        if move_entity(
            conn,
            t.print_jobs,
            t.print_jobs.c.job_id,
            job_id,
            expect.value,
            JobState.REPLANNED.value,
            "replan",
            "job",
            {"reason": reason, "printer": job.printer},
        ):
            break
    else:
        return None
    rows = job_pieces(conn, job_id)
    moved: list[int] = []
    for state in _RELEASABLE_PIECES:
        moved += move_letters(
            conn,
            [r.pk for r in rows if r.state == state.value],
            Event.REPLAN,
            state,
            data={"job": job_id, "reason": reason},
        )
    _leave_job(conn, moved, job_id)
    enqueue(conn, "plan", job.submission_id)
    log.info("job_released", job=job_id, printer=job.printer, pieces=len(moved), reason=reason)
    return moved


def release_printer_jobs(conn: Connection, printer: str, reason: str) -> list[str]:
    """Release every job on ``printer`` that is not on it yet; return their ids."""
    jobs = (
        conn.execute(
            select(t.print_jobs.c.job_id)
            .where(t.print_jobs.c.printer == printer, t.print_jobs.c.state.in_([s.value for s in RELEASABLE]))
            .order_by(t.print_jobs.c.number)
        )
        .scalars()
        .all()
    )
    return [job_id for job_id in jobs if release_job(conn, job_id, reason) is not None]


def waiting_submissions(conn: Connection) -> list[str]:
    """Submissions with letters waiting to be planned."""
    return (
        conn.execute(
            select(t.letters.c.submission_id)
            .distinct()
            .where(t.letters.c.state == State.PRINT_READY.value)
            .order_by(t.letters.c.submission_id)
        )
        .scalars()
        .all()
    )


def set_service(
    conn: Connection,
    name: str,
    kind: str,
    *,
    operator_down: bool | None = None,
    reason: str | None = None,
    observation: Observation | None = None,
    by: str | None = None,
) -> tuple[bool, bool]:
    """Write the device's service row: an operator's down/up (``operator_down``) or what a sweep saw of the press
    (``observation``). Returns (out of the plan before, out after). When the device left or rejoined the plan, a
    ``device`` event is appended; when it rejoined, ``plan`` is queued for every submission with waiting letters.
    An operator's "up" also restarts the stop count, so a press still stopped gets ``replan_after_s`` again.
    ``by`` names the operator in that event (``data.by``).
    """
    row = conn.execute(select(td.device_service).where(td.device_service.c.name == name)).first()
    was_operator, was_stopped = bool(row and row.operator_down), bool(row and row.stopped_down)
    operator, why = was_operator, row.reason if row else None
    since, stopped = (row.stopped_since if row else None), was_stopped
    if operator_down is not None:
        operator, why = operator_down, reason if operator_down else None
        if not operator_down:
            since, stopped = None, False
    if observation is not None:
        since, stopped = observation.stopped_since, observation.stopped_down
    values = {
        "kind": kind,
        "operator_down": int(operator),
        "reason": why,
        "stopped_since": since,
        "stopped_down": int(stopped),
        "updated_at": now(),
    }
    if row is None:
        conn.execute(insert(td.device_service).values(name=name, **values))
    else:
        conn.execute(update(td.device_service).where(td.device_service.c.name == name).values(**values))
    before, after = was_operator or was_stopped, operator or stopped
    if before != after:
        cause = "operator" if operator_down is not None else "stopped"
        append_event(
            conn,
            "device",
            name,
            "down" if after else "up",
            "IN_SERVICE" if after else "OUT_OF_SERVICE",
            "OUT_OF_SERVICE" if after else "IN_SERVICE",
            {"cause": cause, **({"reason": why} if why else {}), **({"by": by} if by else {})},
        )
        log.warning(
            "device_out_of_plan" if after else "device_back_in_plan", device=name, cause=cause, reason=why
        )
    if before and not after:
        for submission in waiting_submissions(conn):
            enqueue(conn, "plan", submission)
    return before, after


def spooled_jobs(conn: Connection, printer: str) -> list[str]:
    """Jobs on ``printer`` that were handed to it and are not finished (candidates for a withdrawal)."""
    return (
        conn.execute(
            select(t.print_jobs.c.job_id)
            .where(t.print_jobs.c.printer == printer, t.print_jobs.c.state == JobState.SPOOLED.value)
            .order_by(t.print_jobs.c.number)
        )
        .scalars()
        .all()
    )


def _leave_job(conn: Connection, pks: list[int], job_id: str) -> None:
    if pks:
        conn.execute(
            update(t.pieces)
            .where(t.pieces.c.letter_pk.in_(pks), t.pieces.c.job_id == job_id)
            .values(job_id=None)
        )


# -- the actors ----------------------------------------------------------------------------------------------------
def device_check(name: str) -> None:
    """Actor ``device_check(name)``: when ``name`` is out of the plan, release its jobs not yet on it and withdraw
    those it provably never took; for an inserter, move its runs not yet at it and withdraw those it provably never
    started. Safe to repeat: every step is a compare-and-set."""
    plant = current()
    if name in {i.name for i in plant.settings.inserters}:
        move_inserter_runs(plant, name)
        return
    with plant.ledger.tx() as conn:
        if name not in out_of_service(conn) or name not in {p.name for p in plant.settings.printers}:
            return
        released = release_printer_jobs(conn, name, f"{name} is out of the plan")
        spooled = spooled_jobs(conn, name)
    withdrawn = [job_id for job_id in spooled if withdraw(job_id)]
    if released or withdrawn:
        log.info("device_work_moved", device=name, released=released, withdrawn=withdrawn)
        plant.notify()


def withdraw(job_id: str) -> bool:
    """Actor ``withdraw(job_id)``: take a SPOOLED job back from a press out of the plan, only when the driver proves
    the press never took it; True when it was withdrawn.

    The job is claimed first (SPOOLED → WITHDRAWING), so its follower leaves it alone while the driver is asked;
    a press that took the job meanwhile keeps it (WITHDRAWING → SPOOLED, and it is followed again). A message
    redelivered after a crash finds WITHDRAWING and asks the driver again: its answer is idempotent.
    """
    plant = current()
    with plant.ledger.read() as conn:
        job = load_job(conn, job_id)
        down = out_of_service(conn)
    if job is None or job.state not in (JobState.SPOOLED.value, JobState.WITHDRAWING.value):
        return False
    driver = plant.printers.get(job.printer)
    take_back = getattr(driver, "withdraw", None)
    if take_back is None:  # this driver cannot prove a job never started: it stays on the press
        return False
    if job.state == JobState.SPOOLED.value:
        if job.printer not in down or not _waiting(driver, job_id):
            return False
        with plant.ledger.tx() as conn:
            if not move_entity(
                conn,
                t.print_jobs,
                t.print_jobs.c.job_id,
                job_id,
                JobState.SPOOLED.value,
                JobState.WITHDRAWING.value,
                "withdraw_claim",
                "job",
                {"printer": job.printer},
            ):
                return False
    try:
        withdrawn = take_back(job_id)
    except PrinterError as exc:
        log.warning("withdraw_failed", job=job_id, printer=job.printer, error=str(exc))
        withdrawn = False
    with plant.ledger.tx() as conn:
        if withdrawn:
            _withdrawn(conn, job)
        elif move_entity(
            conn,
            t.print_jobs,
            t.print_jobs.c.job_id,
            job_id,
            JobState.WITHDRAWING.value,
            JobState.SPOOLED.value,
            "withdraw_refused",
            "job",
            {"reason": f"{job.printer} could not prove the job unprinted: it stays with the press"},
        ):
            enqueue(conn, "follow_print", job_id)
    plant.notify()
    return withdrawn


def _waiting(driver, job_id: str) -> bool:
    try:
        status = driver.find(job_id)
    except PrinterError:
        return False
    # waiting, not started: pending, or held on the device by an operator (the driver's withdraw proves the rest)
    return status is not None and status.state in (DeviceJob.PENDING, DeviceJob.HELD)


def _withdrawn(conn: Connection, job) -> None:
    """The press gave the job back untouched: REPLANNED, its spooled pieces PRINT_READY (not a print: the count
    the spool stage took is given back), and a ``plan`` message."""
    if not move_entity(
        conn,
        t.print_jobs,
        t.print_jobs.c.job_id,
        job.job_id,
        JobState.WITHDRAWING.value,
        JobState.REPLANNED.value,
        "withdraw",
        "job",
        {"printer": job.printer, "reason": f"{job.printer} is out of the plan; it never took the job"},
    ):
        return
    rows = [r for r in job_pieces(conn, job.job_id) if r.state == State.SPOOLED.value]
    moved = move_letters(
        conn,
        [r.pk for r in rows],
        Event.WITHDRAW,
        State.SPOOLED,
        data={"job": job.job_id, "printer": job.printer},
    )
    if moved:
        conn.execute(
            update(t.pieces)
            .where(t.pieces.c.letter_pk.in_(moved), t.pieces.c.prints > 0)
            .values(prints=t.pieces.c.prints - 1)
        )
    _leave_job(conn, moved, job.job_id)
    enqueue(conn, "plan", job.submission_id)
    log.info("job_withdrawn", job=job.job_id, printer=job.printer, pieces=len(moved))


def watch_printers(plant, at: float) -> list[str]:
    """Look at every press at ``at`` (the sweep's time): record when it stopped, take it out of the plan after
    ``plan.replan_after_s``, put it back when it runs; then move the work of every press out of the plan.
    Returns the names out of the plan."""
    for printer in plant.settings.printers:
        driver = plant.printers.get(printer.name)
        if driver is None:
            continue
        try:
            status = driver.printer_status()
        except (PrinterError, OSError) as exc:  # unreadable: judge it at the next sweep
            log.warning("printer_status_unreadable", printer=printer.name, error=str(exc))
            continue
        stopped = status.state is PrinterState.STOPPED
        _sighting(
            plant,
            printer.name,
            "printer",
            stopped,
            at,
            str(PrinterStopped(printer.name, status.reasons)) if stopped else "",
        )
    with plant.ledger.read() as conn:
        down = sorted(out_of_service(conn) & {p.name for p in plant.settings.printers})
    for name in down:
        device_check(name)
    return down


def watch_inserters(plant, at: float) -> list[str]:
    """:func:`watch_printers` for the inserters, from their ``machine_status``: one stopped for an operator longer
    than ``plan.replan_after_s`` leaves the plan and its runs not yet at it move. Returns the names out of the plan."""
    for inserter in plant.settings.inserters:
        driver = plant.inserters.get(inserter.name)
        if driver is None:
            continue
        try:
            status = driver.machine_status()
        except (InserterError, OSError) as exc:  # unreadable: judge it at the next sweep
            log.warning("inserter_status_unreadable", inserter=inserter.name, error=str(exc))
            continue
        _sighting(plant, inserter.name, "inserter", status.state is InserterState.STOPPED, at, status.message)
    with plant.ledger.read() as conn:
        down = sorted(out_of_service(conn) & {i.name for i in plant.settings.inserters})
    for name in down:
        device_check(name)
    return down


def watch_devices(plant, at: float) -> list[str]:
    """Look at every press and inserter at ``at``; return the names out of the plan."""
    return watch_printers(plant, at) + watch_inserters(plant, at)


def _sighting(plant, name: str, kind: str, stopped: bool, at: float, message: str) -> None:
    """Record what a sweep saw of device ``name`` (one transaction): the start of a stop, its leaving the plan
    after ``plan.replan_after_s``, its return when running. Nothing is written for a device never seen stopped."""
    with plant.ledger.tx() as conn:
        row = service_rows(conn).get(name)
        seen = observe(
            stopped,
            row.stopped_since if row else None,
            bool(row and row.stopped_down),
            at,
            plant.settings.plan.replan_after_s,
        )
        if row is None and not stopped:
            return
        if row is not None and (row.stopped_since, bool(row.stopped_down)) == (
            seen.stopped_since,
            seen.stopped_down,
        ):
            return
        if seen.stopped_since is not None and (row is None or row.stopped_since is None):
            log.warning(
                "device_stopped",
                device=name,
                kind=kind,
                message=message,
                leaves_plan_after_s=plant.settings.plan.replan_after_s,
            )
        set_service(conn, name, kind, observation=seen)


# -- inserters -----------------------------------------------------------------------------------------------------
def set_run_state(
    conn: Connection,
    run_id: str,
    expect: RunState,
    target: RunState,
    event: str,
    data: dict | None = None,
    *,
    on: str | None = None,
    **values,
) -> bool:
    """Compare-and-set a run's state (and, with ``on``, its inserter) and append its event; False when the run moved
    meanwhile. ``values`` sets further columns (a new ``inserter``)."""
    where = [t.insert_runs.c.run_id == run_id, t.insert_runs.c.state == expect.value]
    if on is not None:
        where.append(t.insert_runs.c.inserter == on)
    if (
        conn.execute(
            update(t.insert_runs).where(*where).values(state=target.value, updated_at=now(), **values)
        ).rowcount
        != 1
    ):
        return False
    append_event(conn, "run", run_id, event, expect.value, target.value, data)
    return True


def envelope_sheets(conn: Connection, job) -> int:
    """The most sheets one envelope of ``job``'s run holds: its pieces' leaves (fewer than their pages in duplex
    work), as the mail run data gives them to the inserter."""
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
    busy = dict(
        conn.execute(
            select(t.insert_runs.c.inserter, func.count())
            .where(t.insert_runs.c.state != RunState.RECONCILED.value)
            .group_by(t.insert_runs.c.inserter)
        ).all()
    )
    return min(able, key=lambda i: (busy.get(i.name, 0) + 1) / i.envelopes_per_hour).name


def move_run(conn: Connection, settings, run_id: str, reason: str) -> str | None:
    """Move a CREATED run off its inserter to one in service that takes its sheets, in the caller's transaction:
    the new inserter, a ``move`` event and an ``insert`` message. Returns the new inserter, or None when the run is
    not CREATED (it is at its inserter, or on its way) or no inserter in service can take it (it waits)."""
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
            message=f"no inserter in service takes {envelope_sheets(conn, job)} sheet(s); the run goes on when "
            f"{run.inserter} or another inserter taking them is in service",
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


def runs_on(conn: Connection, inserter: str, state: RunState) -> list[str]:
    """Ids of the runs in ``state`` on ``inserter``, oldest first."""
    return (
        conn.execute(
            select(t.insert_runs.c.run_id)
            .where(t.insert_runs.c.inserter == inserter, t.insert_runs.c.state == state.value)
            .order_by(t.insert_runs.c.number)
        )
        .scalars()
        .all()
    )


def move_inserter_runs(plant, name: str) -> tuple[list[str], list[str]]:
    """When inserter ``name`` is out of the plan: move its runs not yet at it (one transaction each) and withdraw
    those it provably never started. Returns (moved, withdrawn) run ids."""
    with plant.ledger.read() as conn:
        if name not in out_of_service(conn):
            return [], []
        created, submitted = runs_on(conn, name, RunState.CREATED), runs_on(conn, name, RunState.SUBMITTED)
    reason = f"{name} is out of the plan"
    moved = []
    for run_id in created:
        with plant.ledger.tx() as conn:
            if move_run(conn, plant.settings, run_id, reason) is not None:
                moved.append(run_id)
    withdrawn = [run_id for run_id in submitted if withdraw_run(run_id)]
    if moved or withdrawn:
        log.info("device_work_moved", device=name, moved=moved, withdrawn=withdrawn)
        plant.notify()
    return moved, withdrawn


def withdraw_run(run_id: str) -> bool:
    """Actor ``withdraw_run(run_id)``: take a SUBMITTED run back from an inserter out of the plan, only when the
    inserter proves it never started it; True when it was withdrawn (it is CREATED again, moved to an inserter in
    service when one takes it).

    The run is claimed first (SUBMITTED → WITHDRAWING), so its follower leaves it alone while the inserter is asked;
    an inserter that started the run meanwhile keeps it (WITHDRAWING → SUBMITTED, followed again). A message
    redelivered after a crash finds WITHDRAWING and asks again: the inserter's answer is idempotent.
    """
    plant = current()
    with plant.ledger.read() as conn:
        run = conn.execute(select(t.insert_runs).where(t.insert_runs.c.run_id == run_id)).first()
        down = out_of_service(conn)
    if run is None or run.state not in (RunState.SUBMITTED.value, RunState.WITHDRAWING.value):
        return False
    driver = plant.inserters.get(run.inserter)
    if not isinstance(driver, Withdrawable):  # it cannot prove a run never started: the run stays
        return False
    if run.state == RunState.SUBMITTED.value:
        if (
            run.inserter not in down
            or run_fate(RunState.SUBMITTED, _run_waiting(driver, run_id), True) is not RunFate.WITHDRAW
        ):
            return False
        with plant.ledger.tx() as conn:
            if not set_run_state(
                conn,
                run_id,
                RunState.SUBMITTED,
                RunState.WITHDRAWING,
                "withdraw_claim",
                {"inserter": run.inserter},
            ):
                return False
    try:
        withdrawn = driver.withdraw(run_id)
    except (InserterError, OSError) as exc:
        log.warning("withdraw_failed", run=run_id, inserter=run.inserter, error=str(exc))
        withdrawn = False
    with plant.ledger.tx() as conn:
        if withdrawn:
            if set_run_state(
                conn,
                run_id,
                RunState.WITHDRAWING,
                RunState.CREATED,
                "withdraw",
                {
                    "inserter": run.inserter,
                    "reason": f"{run.inserter} is out of the plan; it never started the run",
                },
            ):
                if move_run(conn, plant.settings, run_id, f"{run.inserter} is out of the plan") is None:
                    enqueue(conn, "insert", run_id)  # the insert stage waits for an inserter that takes it
                log.info("run_withdrawn", run=run_id, inserter=run.inserter)
        elif set_run_state(
            conn,
            run_id,
            RunState.WITHDRAWING,
            RunState.SUBMITTED,
            "withdraw_refused",
            {"reason": f"{run.inserter} started the run first: it stays there"},
        ):
            enqueue(conn, "follow_insert", run_id)
    plant.notify()
    return withdrawn


def _run_waiting(driver, run_id: str) -> bool:
    try:
        found = driver.find(run_id)
    except (InserterError, OSError):
        return False
    return found is not None and found.waiting
