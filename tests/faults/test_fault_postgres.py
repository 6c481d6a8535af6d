"""The pipeline on PostgreSQL with two worker processes and one killed: the ledger on a real PostgreSQL server
(a fresh database per run), `plant run` of a demo batch (its session, its own `plant worker`, the embedded
Redis and the simulated devices) and a second `plant worker` joined to the same Redis and database, as a
further machine would be. At a seeded moment one of the two workers (seeded which) is killed with -9: the
session's own one is started again by the session; the joined one stays dead and the session's worker must
take over what it had in flight. The run finishes by itself; the independent checker reads the PostgreSQL
ledger. The heal time is from the kill to the last letter final."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from plant.runtime.broker import socket_path
from tests.faults.checker import assert_held, check_run
from tests.faults.harness import (
    HEALED_STATES,
    POINT_TIMEOUT_S,
    POINTS,
    RESULTS,
    RUN_TIMEOUT_S,
    Moment,
    Result,
    last_final_at,
    moment,
    runs,
    scalar,
    start_run,
    unfinished,
)
from tests.plant.helpers import plant_command, plant_env, reap_redis, wait_for, workers_of

#: The fault's name in the table.
FAULT = "PostgreSQL, 2 workers, kill -9 of one"


@pytest.fixture
def ledger_url(postgres) -> str:
    """A new, empty database on the session's PostgreSQL server."""
    name = f"f{uuid.uuid4().hex[:12]}"
    engine = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return postgres.rsplit("/", 1)[0] + f"/{name}"


def wait_for_point(state: Path, url: str, at: Moment, proc: subprocess.Popen) -> None:
    """Return at ``at`` in the run whose ledger is at ``url``; fail when it does not come."""
    deadline = time.monotonic() + POINT_TIMEOUT_S
    while not (scalar(state, POINTS[at.point], url) or 0) > 0:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {at.point}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {at.point}")
        time.sleep(0.05)
    time.sleep(at.delay_s)


def stop(proc: subprocess.Popen | None, group: bool = False) -> None:
    """Kill ``proc`` (with its process group when ``group``) unless it has ended, and reap it."""
    if proc is None or proc.poll() is not None:
        return
    if group:
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.kill()
    proc.wait()


@pytest.mark.parametrize("run", runs())
def test_postgresql_two_workers_one_killed(tmp_path, ledger_url, run):
    """Two `plant worker` processes on one PostgreSQL ledger and one Redis; kill -9 of one at a seeded
    moment: every letter final exactly once, nothing twice at the devices."""
    at = moment("postgres", run)
    victim = "joined" if run % 2 == 0 else "session"  # CI keeps run0: the joined one
    err_path, joined_log = tmp_path / "run.err", tmp_path / "joined-worker.log"
    joined: subprocess.Popen | None = None
    database = {"PLANT_DATABASE_URL": ledger_url}
    with open(tmp_path / "run.out", "w") as out, open(err_path, "w") as err:
        proc, state, config = start_run(tmp_path, run, seed=400, env=database, stdout=out, stderr=err)
    env = dict(plant_env(state), **database)
    try:
        wait_for(
            lambda: bool(workers_of(proc.pid)) or proc.poll() is not None,
            "the session's worker",
            detail=lambda: err_path.read_text(errors="replace")[-2000:],
        )
        assert proc.poll() is None, err_path.read_text(errors="replace")[-3000:]
        with open(joined_log, "w") as log:
            joined = subprocess.Popen(
                plant_command(["worker", "--no-sweeps"], config),
                env=dict(env, PLANT_REDIS_URL=f"unix://{socket_path(state / 'redis')}"),
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        wait_for_point(state, ledger_url, at, proc)
        own = workers_of(proc.pid)
        assert own, "no worker of the session found"
        assert joined.poll() is None, f"the joined worker died: {joined_log.read_text()[-3000:]}"
        open_at = unfinished(state, ledger_url)
        killed_at = time.time()
        if victim == "joined":
            joined.kill()
            joined.wait()
        else:
            for pid in own:
                os.kill(pid, signal.SIGKILL)
        code = proc.wait(timeout=RUN_TIMEOUT_S + 60)
    finally:
        stop(proc, group=True)
        stop(joined)
        reap_redis(state)
    err_text = err_path.read_text(errors="replace")
    what = f"{at}, killed the {victim} worker"
    if code != 0:
        detail = f"exit {code}: {err_text[-800:]}"
        RESULTS.items.append(Result(FAULT, run, what, False, None, open_at, detail))
        raise AssertionError(
            f"{FAULT} at {what}: the run did not heal by itself, {detail}\n{err_text[-3000:]}"
        )
    assert open_at, f"the kill at {at} came after the run ended"
    if victim == "session":
        assert "worker_died" in err_text
    report = check_run(state, config, ledger_url=ledger_url, expect_states=HEALED_STATES)
    last = last_final_at(state, ledger_url)
    heal = None if last is None else max(0.0, last - killed_at)
    RESULTS.items.append(Result(FAULT, run, what, report.held, heal, open_at, report.summary()))
    assert_held(report)
