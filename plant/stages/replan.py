"""Re-planning in the running plant: take work back from a device that left the plan, and plan it elsewhere.

A press leaves the plan when an operator takes it out of service (``plant device down``) or when it has
reported itself stopped for longer than ``plan.replan_after_s`` (seen by the timed sweep, on the sweep's
clock). Its work is then sorted by whether paper can exist for it:

* jobs PLANNED or IMPOSED are not on the press: each is *released* — the job becomes REPLANNED and its pieces
  go REPLAN → PRINT_READY, one event each, by compare-and-set, with a ``plan`` message in the same
  transaction. The plan stage forms new jobs (new ids) on the presses in service; the old job id and its PDF
  are never used again.
* jobs SPOOLED are on the press. Those the press has not taken are *withdrawn* when the driver can prove it
  never took them (a hot folder: the plant removed the ticket before the press picked it up); their pieces go
  WITHDRAW → PRINT_READY the same way. Every other spooled job stays: it prints when the press runs again (or
  an operator cancels it at the press, and its pieces are reprinted with the same ids).

Running work is never touched. The release is also what an operator's hold, cancel or pull of a piece not yet
spooled uses (:mod:`plant.operator`): the job is released, the piece taken out, the others planned again. The
spool stage claims a job (IMPOSED → SPOOLING) before it hands it to the press, so a release and a spool can
never both win: whichever compare-and-set commits first decides.

An inserter leaves the plan the same ways (the sweep reads its ``machine_status``, with the same
:func:`observe`). Its insert runs are sorted by the same rule (:func:`run_fate`):

* runs CREATED are not at the inserter (for N-up work its cutter may be cutting them): each is *moved* to an
  inserter in service whose envelopes take the job's leaves — one transaction per run, a ``move`` event, an
  ``insert`` message; the pieces stay SPOOLED. A cut already made in front of the old inserter is fed to the
  new one (:func:`plant.stages.insert.insert`). With no inserter able to take it, the run waits.
* runs SUBMITTED are at the inserter: those it proves it never started are *withdrawn* (SUBMITTED →
  WITHDRAWING → CREATED, then moved); every other one stays and is enveloped when the inserter runs again.

The insert stage claims a run (CREATED → SUBMITTING) before it hands it to the inserter, so a move and a
hand-over never both win. Nothing moves back when a device returns to the plan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import Connection, update

from plant.fleet.kinds import INSERTERS, KINDS, PRINTERS, DeviceKind
from plant.fleet.runs import move_run
from plant.fleet.service import out_of_service
from plant.fleet.watch import sight
from plant.ledger import enqueue, move_letters
from plant.ledger import schema as t
from plant.ledger.jobs import job_pieces, leave_job, release_printer_jobs, runs_on, spooled_jobs
from plant.model import Event, RunState, State
from plant.stages.context import Plant, current

log = structlog.get_logger(__name__)


# -- the actors ----------------------------------------------------------------------------------------------
def device_check(name: str) -> None:
    """Actor ``device_check(name)``: when ``name`` is out of the plan, release its jobs not yet on it and
    withdraw those it provably never took; for an inserter, move its runs not yet at it and withdraw those it
    provably never started. Safe to repeat: every step is a compare-and-set."""
    plant = current()
    if name in INSERTERS.names(plant.settings):
        move_inserter_runs(plant, name)
        return
    with plant.ledger.tx() as conn:
        if name not in out_of_service(conn) or name not in PRINTERS.names(plant.settings):
            return
        released = release_printer_jobs(conn, name, f"{name} is out of the plan")
        spooled = spooled_jobs(conn, name)
    withdrawn = [job_id for job_id in spooled if withdraw(job_id)]
    if released or withdrawn:
        log.info("device_work_moved", device=name, released=released, withdrawn=withdrawn)
        plant.notify()


def withdraw(job_id: str) -> bool:
    """Actor ``withdraw(job_id)``: take a SPOOLED job back from a press out of the plan, only when the driver
    proves the press never took it; True when it was withdrawn.

    The job is claimed first (SPOOLED → WITHDRAWING), so its follower leaves it alone while the driver is
    asked; a press that took the job meanwhile keeps it (WITHDRAWING → SPOOLED, and it is followed again). A
    message redelivered after a crash finds WITHDRAWING and asks the driver again: its answer is idempotent.
    """
    return take_back(PRINTERS, job_id, _job_given_back)


def withdraw_run(run_id: str) -> bool:
    """Actor ``withdraw_run(run_id)``: take a SUBMITTED run back from an inserter out of the plan, only when
    the inserter proves it never started it; True when it was withdrawn (it is CREATED again, moved to an
    inserter in service when one takes it).

    The run is claimed first (SUBMITTED → WITHDRAWING), so its follower leaves it alone while the inserter is
    asked; an inserter that started the run meanwhile keeps it (WITHDRAWING → SUBMITTED, followed again). A
    message redelivered after a crash finds WITHDRAWING and asks again: the inserter's answer is idempotent.
    """
    return take_back(INSERTERS, run_id, _run_given_back)


def take_back(kind: DeviceKind, work_id: str, given_back: Callable[[Connection, Plant, Any], None]) -> bool:
    """Take work ``work_id`` (a job, a run) back from its device of ``kind`` out of the plan, only when the
    driver proves the device never started it; True when it was withdrawn.

    The work at the device is claimed first (``kind.at_device`` → ``kind.withdrawing``); the driver is asked;
    the work given back goes to ``kind.given_back`` (a ``withdraw`` event) and ``given_back(conn, plant,
    row)`` does the rest in the same transaction. Work the device kept goes back to ``kind.at_device``
    (``withdraw_refused``) and is followed again (``kind.follow``).
    """
    plant = current()
    with plant.ledger.read() as conn:
        row = kind.load(conn, work_id)
        down = out_of_service(conn)
    if row is None or row.state not in (kind.at_device.value, kind.withdrawing.value):
        return False
    device = kind.device_of(row)
    driver: Any = kind.drivers(plant).get(device)
    if not kind.can_withdraw(driver):  # it cannot prove the work never started: the work stays on the device
        return False
    if row.state == kind.at_device.value:
        if device not in down or not kind.waiting(driver, work_id):
            return False
        with plant.ledger.tx() as conn:
            if not kind.move(
                conn, work_id, kind.at_device, kind.withdrawing, "withdraw_claim", {kind.name: device}
            ):
                return False
    try:
        withdrawn = bool(driver.withdraw(work_id))
    except kind.errors as exc:
        log.warning("withdraw_failed", **{kind.entity: work_id, kind.name: device}, error=str(exc))
        withdrawn = False
    with plant.ledger.tx() as conn:
        if withdrawn:
            reason = kind.never_started.format(device=device)
            if kind.move(
                conn,
                work_id,
                kind.withdrawing,
                kind.given_back,
                "withdraw",
                {kind.name: device, "reason": reason},
            ):
                given_back(conn, plant, row)
        elif kind.move(
            conn,
            work_id,
            kind.withdrawing,
            kind.at_device,
            "withdraw_refused",
            {"reason": kind.stays.format(device=device)},
        ):
            enqueue(conn, kind.follow, work_id)
    plant.notify()
    return withdrawn


def _job_given_back(conn: Connection, plant: Plant, job: Any) -> None:
    """The press gave the job back untouched (it is REPLANNED): its spooled pieces PRINT_READY (not a print:
    the count the spool stage took is given back), and a ``plan`` message."""
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


def _run_given_back(conn: Connection, plant: Plant, run: Any) -> None:
    """The inserter gave the run back unstarted (it is CREATED): moved to an inserter in service, or left for
    the insert stage to wait for one that takes it."""
    if move_run(conn, plant.settings, run.run_id, f"{run.inserter} is out of the plan") is None:
        enqueue(conn, "insert", run.run_id)  # the insert stage waits for an inserter that takes it
    log.info("run_withdrawn", run=run.run_id, inserter=run.inserter)


def move_inserter_runs(plant: Plant, name: str) -> tuple[list[str], list[str]]:
    """When inserter ``name`` is out of the plan: move its runs not yet at it (one transaction each) and
    withdraw those it provably never started. Returns (moved, withdrawn) run ids."""
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


def watch(plant: Plant, kind: DeviceKind, at: float) -> list[str]:
    """The sweep's look at the devices of ``kind`` at ``at`` (:func:`plant.fleet.watch.sight`), then the work
    of every one out of the plan moved (:func:`device_check`). Returns the names out of the plan."""
    down = sight(plant, kind, at)
    for name in down:
        device_check(name)
    return down


def watch_printers(plant: Plant, at: float) -> list[str]:
    """:func:`watch` the presses: the work of every press out of the plan moves."""
    return watch(plant, PRINTERS, at)


def watch_inserters(plant: Plant, at: float) -> list[str]:
    """:func:`watch` the inserters: their runs not yet at them move."""
    return watch(plant, INSERTERS, at)


def watch_devices(plant: Plant, at: float) -> list[str]:
    """Look at every press and inserter at ``at`` and move the work of those out of the plan; their names."""
    return [name for kind in KINDS for name in watch(plant, kind, at)]
