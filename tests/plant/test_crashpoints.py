"""plant.crashpoints: a named point ends the process like kill -9 at its Nth hit, once per marker, and is
inert without its environment (the fault suite, tests/faults/test_fault_points.py, relies on all three)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from plant.crashpoints import CRASH_AT, CRASH_EXIT, CRASH_ONCE

#: A process that reaches point "p" five times (and "q" once), saying so after each hit, then exits 0; its
#: ``finally`` and ``atexit`` would print too, which a crash like kill -9 never runs.
SCRIPT = """
import atexit, sys
from plant.crashpoints import crash_point
atexit.register(lambda: print("atexit", flush=True))
try:
    crash_point("q")
    print("q", flush=True)
    for i in range(1, 6):
        crash_point("p")
        print(f"hit {i}", flush=True)
finally:
    print("finally", flush=True)
"""


def reach(env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PLANT_CRASH")}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def test_the_nth_hit_ends_the_process_like_kill_9(tmp_path: Path):
    marker = tmp_path / "crashed"
    done = reach({CRASH_AT: "p:3", CRASH_ONCE: str(marker)})
    assert done.returncode == CRASH_EXIT == 137, done.stderr
    assert done.stdout.split("\n") == [
        "q",
        "hit 1",
        "hit 2",
        "",
    ]  # not at hits 1 and 2; no finally, no atexit
    assert marker.read_text().split()[:2] == ["p", "3"]


def test_a_point_without_a_count_ends_at_its_first_hit(tmp_path: Path):
    done = reach({CRASH_AT: "p", CRASH_ONCE: str(tmp_path / "crashed")})
    assert done.returncode == CRASH_EXIT
    assert done.stdout.split("\n") == ["q", ""]


def test_the_marker_stops_a_second_crash(tmp_path: Path):
    """A process started again with the same environment (a session's new worker) carries on."""
    marker = tmp_path / "crashed"
    env = {CRASH_AT: "p:2", CRASH_ONCE: str(marker)}
    assert reach(env).returncode == CRASH_EXIT
    again = reach(env)
    assert again.returncode == 0, again.stderr
    assert "hit 5" in again.stdout and "finally" in again.stdout and "atexit" in again.stdout


def test_without_a_marker_every_process_crashes(tmp_path: Path):
    env = {CRASH_AT: "p:2"}
    assert reach(env).returncode == CRASH_EXIT
    assert reach(env).returncode == CRASH_EXIT
    assert list(tmp_path.iterdir()) == []


def test_without_the_environment_a_point_is_a_no_op(tmp_path: Path):
    for env in ({}, {CRASH_AT: ""}, {CRASH_AT: "other:1", CRASH_ONCE: str(tmp_path / "crashed")}):
        done = reach(env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split("\n") == ["q", *(f"hit {i}" for i in range(1, 6)), "finally", "atexit", ""]
    assert not (tmp_path / "crashed").exists()
