"""A session's workers die with it: `plant run` killed with -9 (only the session process, as a crash or the
OOM killer would) leaves no `plant worker` behind serving a queue no one watches (issue 12, liveness)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plant.demo import generate
from plant.runtime.worker import SESSION_PID
from plant.testing import write_config
from tests.plant.helpers import plant_command, plant_env, reap_redis, workers_of

pytestmark = pytest.mark.slow

#: A fleet slow enough (real time) that the run is still going when the session is killed.
SLOW_FLEET = """
time_scale = 1.0
[[printers]]
name = "press-a"
sheets_per_minute = 60
[[inserters]]
name = "ins-a"
envelopes_per_hour = 3600
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_killing_the_session_stops_its_workers(tmp_path):
    """Given `plant run` with its worker running, when only the session process is killed with -9, then the
    worker gets SIGTERM from the kernel and stops within seconds."""
    batch = generate(tmp_path / "in", 30, seed=3)
    config = write_config(tmp_path, SLOW_FLEET)
    state = tmp_path / "state"
    session = subprocess.Popen(
        plant_command(["run", str(batch.submission)], config),
        env=plant_env(state),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not workers_of(session.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = workers_of(session.pid)
        assert workers, "the session never started its worker"
        os.kill(session.pid, signal.SIGKILL)  # the session alone, not its process group
        session.wait()
        deadline = time.monotonic() + 60
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in workers if alive(pid)], "a worker outlived its session"
    finally:
        if session.poll() is None:
            os.killpg(session.pid, signal.SIGKILL)
            session.wait()
        for pid in workers_of(session.pid):
            os.kill(pid, signal.SIGKILL)
        reap_redis(state)


#: A child that asks die_with_session whether to stop (prctl arms only in that child, never in pytest).
CHILD = """
import os, sys, threading
from plant.runtime.worker import die_with_session
stop = threading.Event()
die_with_session(stop)
print(stop.is_set())
"""


@pytest.mark.parametrize(("session", "stops"), [("parent-gone", True), ("none", False), ("parent", False)])
def test_a_worker_whose_session_is_already_gone_stops_at_once(session, stops):
    """A worker whose session died before it could arm the signal (its parent is not the session it was
    started by) stops right away; one whose parent is its session runs; one started by hand (no session
    named) is left alone."""
    env = {k: v for k, v in os.environ.items() if k != SESSION_PID}
    if session == "parent-gone":
        env[SESSION_PID] = "1"  # init: never this child's parent here
    elif session == "parent":
        env[SESSION_PID] = str(os.getpid())
    result = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == str(stops)  # after the log line, when it stops
