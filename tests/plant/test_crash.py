"""Crash safety with real processes and a real redis-server: kill -9 in the middle of `plant run`, then
`plant resume` finishes everything, loses nothing, and prints, inserts and dispatches no piece twice."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter

import pytest

from plant.demo import generate
from plant.model import device_name
from plant.testing import plant_id, write_config
from tests.plant.helpers import plant_command, plant_env, query, read_csv, reap_redis, run_plant

pytestmark = pytest.mark.slow

#: A fleet slow enough (real time) that a kill lands in the middle of the run.
SLOW_FLEET = """
time_scale = 1.0
job_max_pieces = 8
[[printers]]
name = "press-a"
sheets_per_minute = 900
[[printers]]
name = "press-b"
sheets_per_minute = 900
[[inserters]]
name = "ins-a"
envelopes_per_hour = 30000
[[inserters]]
name = "ins-b"
envelopes_per_hour = 30000
"""


@pytest.fixture(autouse=True)
def no_leftover_redis(tmp_path):
    """Whatever happens in the test, no redis-server outlives it."""
    yield
    reap_redis(tmp_path / "state")


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def some_printing_done(state) -> bool:
    if not (state / "ledger.sqlite").exists():
        return False
    try:
        rows = query(state, "SELECT count(*) FROM print_jobs WHERE state IN ('SPOOLED', 'PRINTED', 'DONE')")
        finished = query(state, "SELECT count(*) FROM letters WHERE state = 'DISPATCHED'")
    except Exception:  # the schema may not exist yet
        return False
    return rows[0][0] >= 2 and finished[0][0] < 40


def test_kill_9_mid_run_then_resume_finishes_exactly_once(tmp_path):
    """kill -9 of the whole `plant run` (controller and worker), then `plant resume`: all final, nothing
    twice."""
    batch = generate(tmp_path / "in", 60, seed=11)
    config = write_config(tmp_path, SLOW_FLEET)
    state = tmp_path / "state"
    proc = subprocess.Popen(
        plant_command(["run", str(batch.submission), "--consents", str(batch.consents)], config),
        env=plant_env(state),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: some_printing_done(state), 240, "the first jobs to reach the printers")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (
        query(
            state,
            "SELECT count(*) FROM letters WHERE state NOT IN ('DISPATCHED', 'DELIVERED_DIGITAL', 'REJECTED')",
        )[0][0]
        > 0
    ), "the kill came too late"

    result = run_plant(["resume", "--timeout", "400"], state, config=config)
    assert result.returncode == 0, result.stderr[-3000:]

    states = Counter(s for (s,) in query(state, "SELECT state FROM letters"))
    assert sum(states.values()) == 60
    assert set(states) <= {"DISPATCHED", "DELIVERED_DIGITAL", "REJECTED"}
    assert_nothing_twice(state)


def assert_nothing_twice(state) -> None:
    """Each piece reached a printer once per print it was given, was inserted once and dispatched once."""
    inserts = Counter(e for (e,) in query(state, "SELECT entity_id FROM events WHERE event = 'insert'"))
    dispatches = Counter(e for (e,) in query(state, "SELECT entity_id FROM events WHERE event = 'dispatch'"))
    assert inserts and max(inserts.values()) == 1
    assert dispatches and max(dispatches.values()) == 1
    manifest_ids = [r["tracking_id"] for m in (state / "manifests").glob("*.csv") for r in read_csv(m)]
    assert len(manifest_ids) == len(set(manifest_ids)) == len(dispatches)
    # The presses printed every job once: one output per job, and its pages are the job's sheets.
    jobs = dict(query(state, "SELECT job_id, sheets FROM print_jobs"))
    outputs = [p for p in (state / "devices" / "printers").glob("*/output/*.pdf")]
    plant = plant_id(state)  # the presses know each job as <plant id>-<job id>
    assert sorted(p.stem for p in outputs) == sorted(device_name(plant, j) for j in jobs)
    spoils = Counter(e for (e,) in query(state, "SELECT entity_id FROM events WHERE event = 'spoil'"))
    spools = Counter(
        e for (e,) in query(state, "SELECT entity_id FROM events WHERE event = 'spool' AND entity = 'letter'")
    )
    for letter, count in spools.items():
        assert count == 1 + spoils.get(letter, 0), f"letter {letter} printed {count} times"


def worker_pids(parent: int) -> list[int]:
    """Pids of the `plant … worker` children of ``parent``."""
    children = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout.split()
    found = []
    for pid in children:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
        if b"worker" in argv:
            found.append(int(pid))
    return found


def test_killed_worker_is_replaced_and_the_run_completes(tmp_path):
    """kill -9 of just the worker: `plant run` restarts it and still finishes every letter exactly once."""
    batch = generate(tmp_path / "in", 30, seed=12)
    config = write_config(tmp_path, SLOW_FLEET)
    state = tmp_path / "state"
    proc = subprocess.Popen(
        plant_command(["run", str(batch.submission), "--timeout", "400"], config),
        env=plant_env(state),
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: some_printing_done(state), 240, "the first jobs to reach the printers")
        workers = worker_pids(proc.pid)
        assert workers, "no worker process found"
        for pid in workers:
            os.kill(int(pid), signal.SIGKILL)
        out, err = proc.communicate(timeout=500)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-3000:]
    assert "worker_died" in err
    assert set(s for (s,) in query(state, "SELECT state FROM letters")) <= {"DISPATCHED", "REJECTED"}
    assert_nothing_twice(state)
