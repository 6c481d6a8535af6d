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

import structlog
from sqlalchemy import Connection, select, update

from inserters import InserterError, Withdrawable
from plant.fleet.runs import RunFate, move_run, run_fate
from plant.fleet.service import out_of_service
from plant.fleet.watch import sight_inserters, sight_printers
from plant.ledger import enqueue, move_entity, move_letters
from plant.ledger import schema as t
from plant.ledger.jobs import (
    job_pieces,
    leave_job,
    load_job,
    release_printer_jobs,
    runs_on,
    set_run_state,
    spooled_jobs,
)
from plant.model import Event, JobState, RunState, State
from plant.stages.context import Plant, current
from printers import JobState as DeviceJob
from printers import PrinterError

log = structlog.get_logger(__name__)



























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
    leave_job(conn, moved, job.job_id)
    enqueue(conn, "plan", job.submission_id)
    log.info("job_withdrawn", job=job.job_id, printer=job.printer, pieces=len(moved))




















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


def watch_printers(plant: Plant, at: float) -> list[str]:
    """The sweep's look at the presses at ``at`` (:func:`plant.fleet.watch.sight_printers`), then the work of every
    press out of the plan moved (:func:`device_check`). Returns the names out of the plan."""
    down = sight_printers(plant, at)
    for name in down:
        device_check(name)
    return down


def watch_inserters(plant: Plant, at: float) -> list[str]:
    """:func:`watch_printers` for the inserters: their runs not yet at them move."""
    down = sight_inserters(plant, at)
    for name in down:
        device_check(name)
    return down


def watch_devices(plant: Plant, at: float) -> list[str]:
    """Look at every press and inserter at ``at`` and move the work of those out of the plan; their names."""
    return watch_printers(plant, at) + watch_inserters(plant, at)
