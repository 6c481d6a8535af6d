"""kill -9 at seeded moments, with real processes on loopback: the whole `plant run` (then `plant resume`),
only its worker (the session restarts it), only its embedded redis-server (the session restarts it). Every
run ends with the independent checker (:mod:`tests.faults.checker`); the heal time is from the kill to the
last letter final."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.faults.checker import assert_held, check_run
from tests.faults.harness import (
    HEALED_STATES,
    RESULTS,
    RUN_TIMEOUT_S,
    Result,
    last_final_at,
    moment,
    runs,
    start_run,
    unfinished,
    wait_for_moment,
)
from tests.plant.helpers import reap_redis, run_plant, workers_of


def finish(proc: subprocess.Popen, failed: bool = False) -> tuple[str, str]:
    """Wait for `plant run` to end by itself (killed with its group when it does not, or at once when the
    test ``failed`` before its fault)."""
    try:
        if failed:
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.communicate(timeout=RUN_TIMEOUT_S + 60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def settle(
    fault: str, run: int, at, state: Path, config: Path, killed_at: float, open_at: int | None
) -> None:
    """Check the finished run, record its row of the table, and fail naming what did not hold."""
    report = check_run(state, config, expect_states=HEALED_STATES)
    last = last_final_at(state)
    heal = None if last is None else max(0.0, last - killed_at)
    RESULTS.items.append(Result(fault, run, str(at), report.held, heal, open_at, report.summary()))
    assert_held(report)


def ended(fault: str, run: int, at, open_at: int | None, code: int | None, err: str) -> None:
    """Fail (recording a row that did not hold) when the run after the fault did not end with exit 0."""
    if code != 0:
        last = [line for line in err.splitlines() if line.startswith("plant:")] or err.splitlines()[-1:]
        detail = f"exit {code}: {' '.join(last)[-800:]}"
        RESULTS.items.append(Result(fault, run, str(at), False, None, open_at, detail))
        raise AssertionError(f"{fault} at {at}: the run did not heal by itself, {detail}\n{err[-3000:]}")


@pytest.mark.parametrize("run", runs())
def test_kill_9_of_plant_run_then_resume(tmp_path, run):
    """kill -9 of the whole `plant run` (session, worker, redis-server) at a seeded moment; `plant resume`
    finishes every letter, once."""
    at = moment("run", run)
    proc, state, config = start_run(tmp_path, run)
    try:
        wait_for_moment(state, at, proc)
        open_at = unfinished(state)
        killed_at = time.time()
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    reap_redis(state)
    assert open_at, f"the kill at {at} came after the run ended"
    result = run_plant(["resume", "--timeout", str(RUN_TIMEOUT_S)], state, config=config)
    ended("kill -9 plant run + resume", run, at, open_at, result.returncode, result.stderr)
    settle("kill -9 plant run + resume", run, at, state, config, killed_at, open_at)


@pytest.mark.parametrize("run", runs())
def test_kill_9_of_the_worker(tmp_path, run):
    """kill -9 of the session's worker process at a seeded moment: the session starts another and finishes
    every letter, once."""
    at = moment("worker", run)
    proc, state, config = start_run(tmp_path, run)
    try:
        wait_for_moment(state, at, proc)
        workers = workers_of(proc.pid)
        assert workers, "no worker of the session found"
        open_at = unfinished(state)
        killed_at = time.time()
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
    except BaseException:
        finish(proc, failed=True)
        raise
    out, err = finish(proc)
    assert open_at, f"the kill at {at} came after the run ended"
    ended("kill -9 worker", run, at, open_at, proc.returncode, err)
    assert "worker_died" in err
    settle("kill -9 worker", run, at, state, config, killed_at, open_at)


def redis_pid(state: Path) -> int | None:
    try:
        return int((state / "redis" / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return None


@pytest.mark.parametrize("run", runs())
def test_kill_9_of_embedded_redis(tmp_path, run):
    """kill -9 of the embedded redis-server at a seeded moment: the session restarts it from its AOF and
    finishes every letter, once."""
    at = moment("redis", run)
    proc, state, config = start_run(tmp_path, run)
    try:
        wait_for_moment(state, at, proc)
        pid = redis_pid(state)
        assert pid is not None, "no embedded redis-server"
        open_at = unfinished(state)
        killed_at = time.time()
        os.kill(pid, signal.SIGKILL)
    except BaseException:
        finish(proc, failed=True)
        raise
    out, err = finish(proc)
    assert open_at, f"the kill at {at} came after the run ended"
    ended("kill -9 redis-server", run, at, open_at, proc.returncode, err)
    assert "redis_restarted" in err
    settle("kill -9 redis-server", run, at, state, config, killed_at, open_at)
