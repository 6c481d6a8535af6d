"""Liveness of the queue: kill -9 of the embedded redis-server in the middle of `plant run`; the session
starts it again from its AOF on the same socket and the run finishes, every letter final, nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from plant.demo import generate
from plant.testing import write_config
from tests.plant.helpers import plant_command, plant_env, query, reap_redis
from tests.plant.test_crash import SLOW_FLEET, assert_nothing_twice, some_printing_done, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def no_leftover_redis(tmp_path):
    """Whatever happens in the test, no redis-server outlives it."""
    yield
    reap_redis(tmp_path / "state")


def redis_pid(state: Path) -> int | None:
    try:
        return int((state / "redis" / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def test_killed_embedded_redis_is_restarted_and_the_run_completes(tmp_path):
    """kill -9 of the embedded redis-server mid-run: the session restarts it on the same socket in the state
    dir (`redis_restarted`), the workers reconnect, and the run ends with every letter final, once."""
    batch = generate(tmp_path / "in", 30, seed=13)
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
        first = redis_pid(state)
        assert first is not None
        socket = state.resolve() / "redis" / "redis.sock"
        assert f"unixsocket:{socket}".encode() in Path(f"/proc/{first}/cmdline").read_bytes()
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: redis_pid(state) not in (None, first), 60, "the session to restart redis-server")
        assert socket.is_socket()
        undone = query(
            state,
            "SELECT count(*) FROM letters WHERE state NOT IN ('DISPATCHED', 'DELIVERED_DIGITAL', 'REJECTED')",
        )[0][0]
        assert undone > 0, "the kill came too late"
        out, err = proc.communicate(timeout=500)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert "redis_restarted" in err
    assert "Traceback" not in err
    states = Counter(s for (s,) in query(state, "SELECT state FROM letters"))
    assert sum(states.values()) == 30
    assert set(states) <= {"DISPATCHED", "REJECTED"}
    assert_nothing_twice(state)
    wait_for(lambda: redis_pid(state) is None, 10, "redis-server to stop with the session")
