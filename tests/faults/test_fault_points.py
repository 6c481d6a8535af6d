"""kill -9 of the worker at chosen points of the code (:mod:`plant.crashpoints`), with real redelivery: after
the press accepted a job and before the ledger recorded it (``spool.submitted``), after a stage committed its
outbox rows and before they were published (``relay.committed``), after the inserter accepted a run and
before the ledger recorded it (``insert.mid``), after the dispatch committed and before its manifest files
were written (``dispatch.mid``). The worker of `plant run` dies there (``os._exit(137)``, no clean-up) at a
seeded hit of the point; the session starts another, which inherits the environment but finds the marker and
carries on. Every run heals by itself and ends with the independent checker (:mod:`tests.faults.checker`);
the heal time is from the crash to the last letter final."""

from __future__ import annotations

import contextlib
import random
import subprocess
import time
from pathlib import Path

import pytest

from plant.crashpoints import CRASH_AT, CRASH_EXIT, CRASH_ONCE
from tests.faults.harness import POINT_TIMEOUT_S, runs, start_run, unfinished
from tests.faults.test_fault_kills import ended, finish, settle

#: The crash points, and the highest hit a run crashes at: each is reached at least that often in a run of
#: the harness's batch (a job, an insert run and a dispatch per eight print letters; a notify per commit).
POINTS = {"spool.submitted": 3, "relay.committed": 12, "insert.mid": 3, "dispatch.mid": 3}


def nth(point: str, run: int) -> int:
    """The hit of ``point`` at which ``run`` crashes: the same every time (seeded by both)."""
    return random.Random(f"crash/{point}/{run}").randint(1, POINTS[point])


def wait_for_crash(marker: Path, state: Path, proc: subprocess.Popen) -> int | None:
    """Return the letters not yet final once the crash point's marker is there; fail when the run ended
    first (the point was not reached often enough) or it does not come."""
    deadline = time.monotonic() + POINT_TIMEOUT_S
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before the crash point")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the crash point")
        time.sleep(0.05)
    return unfinished(state)


@pytest.mark.parametrize("point", list(POINTS))
@pytest.mark.parametrize("run", runs())
def test_kill_9_of_the_worker_at_a_crash_point(tmp_path, run, point):
    """The worker dies (exit 137, like kill -9) at the seeded hit of ``point``; the session starts another,
    the messages it held are delivered again, and every letter ends once."""
    fault, at = f"kill -9 at {point}", f"{point}:{nth(point, run)}"
    marker = tmp_path / "crashed"
    proc, state, config = start_run(tmp_path, run, env={CRASH_AT: at, CRASH_ONCE: str(marker)})
    try:
        open_at = wait_for_crash(marker, state, proc)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):  # the run may have ended (with its group) already
            _, err = finish(proc, failed=True)
            print(err[-3000:])
        raise
    out, err = finish(proc)
    name, hit, pid = marker.read_text().split()
    assert (name, hit) == tuple(at.split(":")) and int(pid) != proc.pid, "the crash was not in the worker"
    killed_at = marker.stat().st_mtime
    ended(fault, run, at, open_at, proc.returncode, err)
    died = [line for line in err.splitlines() if "worker_died" in line and str(CRASH_EXIT) in line]
    assert died, f"the session did not see its worker die with exit {CRASH_EXIT}:\n{err[-3000:]}"
    settle(fault, run, at, state, config, killed_at, open_at)
