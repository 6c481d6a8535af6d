"""A submission attempt names the worker that made it, so a retry need not wait out the grace of an attempt
whose worker is gone for sure (issue 12, point 10): the job goes on at once — submitted again to a press
whose silence proves it never got the job, parked for an operator on one that may forget — while an attempt
by a live worker (or one the plant cannot judge) is still given :data:`SUBMIT_GRACE_S`."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
from sqlalchemy import select, update

from plant.ledger import schema as t
from plant.ledger.schema_workers import workers
from plant.ledger.workers import register
from plant.stages.impose import impose
from plant.stages.spool import spool
from tests.plant.operating import jobs, operating, planned, rows

spool_stage = importlib.import_module("plant.stages.spool")  # the package exports the actor under this name
workers_module = importlib.import_module("plant.ledger.workers")


class Crash(BaseException):
    """The worker dies after its attempt was committed, before the submit reached the press."""


@pytest.fixture
def plant(settings, small_batch, monkeypatch):
    monkeypatch.setattr(spool_stage, "SUBMIT_GRACE_S", 3600.0)  # a grace no test could wait out
    with operating(settings, small_batch) as current:
        yield current


@pytest.fixture
def other_worker():
    """A real process to stand for another worker: (process, its kill)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])

    def kill() -> None:
        proc.kill()
        proc.wait()

    yield proc, kill
    if proc.poll() is None:
        kill()


def attempted_by(plant, monkeypatch, pid: int) -> tuple:
    """An imposed job whose submission attempt was made by a worker registered for process ``pid``, which
    stopped between its attempt and the submit; returns (job, that worker's id)."""
    planned(plant)
    job = jobs(plant)[0]
    impose(job.job_id)
    with plant.ledger.tx() as conn:
        worker_id = register(conn, pid=pid)
    monkeypatch.setattr(workers_module, "_current", worker_id)
    driver = plant.printers[job.printer]

    def submit(ticket):
        raise Crash

    monkeypatch.setattr(driver, "submit", submit)
    with pytest.raises(Crash):
        spool(job.job_id)
    monkeypatch.undo()
    monkeypatch.setattr(spool_stage, "SUBMIT_GRACE_S", 3600.0)
    monkeypatch.setattr(workers_module, "_current", None)  # the retry runs in another worker
    assert driver.find(job.job_id) is None
    return job, worker_id


def job_events(plant, job_id) -> list:
    return rows(
        plant,
        select(t.events.c.event, t.events.c.data)
        .where(t.events.c.entity == "job", t.events.c.entity_id == job_id)
        .order_by(t.events.c.id),
    )


def state(plant, job_id) -> str:
    return jobs(plant, t.print_jobs.c.job_id == job_id)[0].state


def test_the_attempt_records_its_worker(plant, monkeypatch, other_worker):
    proc, _ = other_worker
    job, worker_id = attempted_by(plant, monkeypatch, proc.pid)
    attempts = [e.data for e in job_events(plant, job.job_id) if e.event == "submit_attempt"]
    assert [a["worker"] for a in attempts] == [worker_id]


def test_an_attempt_by_a_live_worker_still_waits(plant, monkeypatch, other_worker):
    proc, _ = other_worker
    job, _ = attempted_by(plant, monkeypatch, proc.pid)
    spool(job.job_id)
    assert state(plant, job.job_id) == "SPOOLING"
    assert plant.printers[job.printer].find(job.job_id) is None
    assert plant.sent[-1] == ("spool", (job.job_id,))  # looked at again after the grace


def test_an_attempt_by_a_dead_worker_goes_on_at_once_on_a_press_that_proves_absence(
    plant, monkeypatch, other_worker
):
    proc, kill = other_worker
    job, worker_id = attempted_by(plant, monkeypatch, proc.pid)
    kill()  # kill -9 of the worker that made the attempt
    sent = len(plant.sent)
    spool(job.job_id)
    assert state(plant, job.job_id) == "SPOOLED"  # submitted again: the press proves it never got it
    assert plant.printers[job.printer].find(job.job_id) is not None
    assert ("spool", (job.job_id,)) not in plant.sent[sent:]
    events = [e.event for e in job_events(plant, job.job_id)]
    assert events.count("submit_attempt") == 2 and events[-1] == "spool"


def test_an_attempt_by_a_dead_worker_is_parked_at_once_on_a_press_that_may_forget(
    plant, monkeypatch, other_worker
):
    proc, kill = other_worker
    job, worker_id = attempted_by(plant, monkeypatch, proc.pid)
    plant.printers[job.printer].find_proves_absence = False
    kill()
    spool(job.job_id)
    assert state(plant, job.job_id) == "PARKED"
    (facts,) = [e.data for e in job_events(plant, job.job_id) if e.event == "parked"]
    assert facts["worker"] == worker_id and facts["attempts"] == 1
    assert plant.printers[job.printer].find(job.job_id) is None  # never submitted on a guess


def test_an_attempt_by_a_worker_claimed_dead_elsewhere_goes_on_but_a_silent_one_waits(
    plant, monkeypatch, other_worker
):
    """A worker of another machine is gone for sure only once a plant process claimed it dead."""
    proc, _ = other_worker
    job, worker_id = attempted_by(plant, monkeypatch, proc.pid)
    with plant.ledger.tx() as conn:
        conn.execute(
            update(workers).where(workers.c.worker_id == worker_id).values(host="another-host", beat_at=0.0)
        )
    spool(job.job_id)
    assert state(plant, job.job_id) == "SPOOLING"  # silent, not claimed: unsure, so it waits
    with plant.ledger.tx() as conn:
        conn.execute(update(workers).where(workers.c.worker_id == worker_id).values(dead_at=1.0))
    spool(job.job_id)
    assert state(plant, job.job_id) == "SPOOLED"


def test_an_attempt_with_no_worker_waits(plant, monkeypatch):
    """An attempt recorded before the registry (or by a process that is no worker) is given its grace."""
    planned(plant)
    job = jobs(plant)[0]
    impose(job.job_id)
    driver = plant.printers[job.printer]

    def submit(ticket):
        raise Crash

    monkeypatch.setattr(driver, "submit", submit)
    with pytest.raises(Crash):
        spool(job.job_id)
    monkeypatch.undo()
    monkeypatch.setattr(spool_stage, "SUBMIT_GRACE_S", 3600.0)
    spool(job.job_id)
    assert state(plant, job.job_id) == "SPOOLING" and driver.find(job.job_id) is None
