"""The worker registry (issue 12, point 10): every `plant worker` registers in the ledger and beats; a worker
killed with -9 is found dead by the other processes of the plant, claimed by one of them, which logs
``worker_dead`` and derives the unfinished work again at once — the messages the dead worker held do not wait
for the queue's heartbeat timeout (set far beyond the run's own timeout here). A worker that stops cleanly is
marked stopped and never taken for dead."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from plant.demo import generate
from plant.runtime.broker import socket_path
from plant.testing import write_config
from tests.faults.harness import FLEET, LETTERS
from tests.plant.helpers import plant_command, plant_env, query, reap_redis, wait_for, workers_of

#: The queue's heartbeat timeout: a dead worker's messages would come back (and a quiet session re-derive)
#: only after it, far beyond the run's --timeout; only the registry can heal the run in time.
HEARTBEAT_S = 3600
CONFIG = FLEET + f"\n[queue]\nheartbeat_timeout_s = {HEARTBEAT_S}\n"
#: Seconds the run may take (a bound on a hang, not a claim about speed).
RUN_TIMEOUT_S = 300


@pytest.fixture(autouse=True)
def no_leftover_redis(tmp_path):
    yield
    reap_redis(tmp_path / "state")


def registered(state: Path, pid: int) -> dict | None:
    """The registry row of the worker process ``pid`` (None before it registered)."""
    if not (state / "ledger.sqlite").exists():
        return None
    try:
        found = query(
            state,
            f"SELECT worker_id, beat_at, stopped_at, dead_at, handled_by FROM workers WHERE pid = {pid}",
        )
    except Exception:  # the ledger or its table is being created
        return None
    return found[0]._asdict() if found else None


def events_of(path: Path, name: str) -> list[dict]:
    """The JSON log lines of ``path`` whose event is ``name``."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == name:
            found.append(entry)
    return found


def _entries(path: Path) -> list[dict]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "event" in entry:
            out.append(entry)
    return out


def start_worker(config: Path, env: dict, log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            plant_command(["worker", "--no-sweeps"], config),
            env=env,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_a_killed_standalone_worker_is_claimed_and_its_work_derived_again(tmp_path):
    """`plant run` and a joined `plant worker`; the joined one dies as kill -9 would at its first submission
    (right after the printer took the job, before the ledger knew: ``spool.submitted``, plant/crashpoints.py):
    one process logs ``worker_dead`` for it, then derives the work again, and the run finishes although the
    queue would give the dead worker's messages back only after an hour. Which worker takes which message is
    the queue's choice: a run whose spool messages all went to the session's worker proves nothing and is
    tried again on a fresh state dir (at most :data:`TRIES`)."""
    for attempt in range(TRIES):
        found = _joined_worker_killed(tmp_path / f"try{attempt}")
        if found is not None:
            state, err_text, joined_pid = found
            break
    else:
        raise AssertionError(f"in {TRIES} runs the joined worker never got a spool message")
    logs = [tmp_path / f"try{attempt}" / "run.err", state / "logs" / "worker.log"]
    dead = [(path, e) for path in logs for e in _entries(path) if e["event"] == "worker_dead"]
    assert [e["pid"] for _, e in dead] == [joined_pid], dead  # one process acted, for the joined worker
    ((path, entry),) = dead
    row = registered(state, joined_pid)
    assert row is not None and entry["worker"] == row["worker_id"] and entry["host"]
    after = [e["event"] for e in _entries(path)]
    at = after.index("worker_dead")
    assert "worker_dead_rederive" in after[at:]  # the work derived again right after the claim
    assert "quiet_rederive" not in err_text
    assert row["dead_at"] is not None and row["stopped_at"] is None


#: Runs tried before the test gives up on the queue ever handing the joined worker a spool message.
TRIES = 3


def _joined_worker_killed(base: Path) -> tuple[Path, str, int] | None:
    """One run with a joined worker armed to die at its first submission: (state, the run's stderr, the
    joined worker's pid) when it did die there and the run then finished (exit 0); None when the run ended
    without the joined worker submitting anything."""
    base.mkdir()
    batch = generate(base / "in", LETTERS, seed=21)
    config = write_config(base, CONFIG)
    state = base / "state"
    env = plant_env(state)
    err_path, joined_log, marker = base / "run.err", base / "joined.log", base / "crashed"
    with open(base / "run.out", "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(
            plant_command(
                ["run", str(batch.submission), "--consents", str(batch.consents), "--timeout", "240"], config
            ),
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=err,
        )
    joined = None
    try:
        wait_for(lambda: bool(workers_of(proc.pid)) or proc.poll() is not None, "the session's worker")
        assert proc.poll() is None, err_path.read_text(errors="replace")[-3000:]
        armed = dict(
            env,
            PLANT_REDIS_URL=f"unix://{socket_path(state / 'redis')}",
            PLANT_CRASH_AT="spool.submitted:1",
            PLANT_CRASH_ONCE=str(marker),
        )
        joined = start_worker(config, armed, joined_log)
        wait_for(lambda: registered(state, joined.pid) is not None, "the joined worker's registration")
        code = proc.wait(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if joined is not None:
            stop(joined)
        reap_redis(state)
    err_text = err_path.read_text(errors="replace")
    assert code == 0, err_text[-3000:]
    if not marker.exists():
        return None
    assert joined.returncode == 137, joined_log.read_text(errors="replace")[-2000:]
    return state, err_text, joined.pid


def test_one_of_two_watchers_acts_and_a_clean_stop_is_not_dead(tmp_path):
    """A plant of standalone workers alone (no session): two watchers, one that stops cleanly, one killed
    with -9. The clean stop is marked stopped and nobody calls it dead; the killed one is claimed by exactly
    one of the two watchers, which derives the work again."""
    config = write_config(tmp_path, CONFIG)
    state = tmp_path / "state"
    env = plant_env(state)
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs["a"] = start_worker(config, env, tmp_path / "a.log")
        wait_for(lambda: registered(state, procs["a"].pid) is not None, "worker a")
        for name in ("b", "clean", "victim"):
            procs[name] = start_worker(config, env, tmp_path / f"{name}.log")
        for name, proc in procs.items():
            wait_for(
                lambda proc=proc: registered(state, proc.pid) is not None or proc.poll() is not None,
                f"worker {name}",
            )
            assert proc.poll() is None, (tmp_path / f"{name}.log").read_text()[-3000:]
        procs["clean"].send_signal(signal.SIGTERM)
        assert procs["clean"].wait(timeout=120) == 0
        clean = registered(state, procs["clean"].pid)
        assert clean is not None and clean["stopped_at"] is not None
        procs["victim"].send_signal(signal.SIGKILL)
        procs["victim"].wait()
        wait_for(
            lambda: (registered(state, procs["victim"].pid) or {}).get("dead_at") is not None,
            "the killed worker claimed dead",
        )
        claimed = registered(state, procs["victim"].pid)
        assert claimed is not None
        # both watchers beat at least twice after the claim: each had its look at the dead worker
        for name in ("a", "b"):
            wait_for(
                lambda name=name: registered(state, procs[name].pid)["beat_at"] > claimed["dead_at"] + 2.5,
                f"two more beats of worker {name}",
            )
        for name in ("a", "b"):
            procs[name].send_signal(signal.SIGTERM)
            assert procs[name].wait(timeout=120) == 0
    finally:
        for proc in procs.values():
            stop(proc)
    dead = [(n, e) for n in ("a", "b") for e in events_of(tmp_path / f"{n}.log", "worker_dead")]
    assert [e["pid"] for _, e in dead] == [procs["victim"].pid], dead  # one acted; the clean stop is no one's
    ((name, entry),) = dead
    assert registered(state, procs[name].pid)["worker_id"] in claimed["handled_by"]
    events = [e["event"] for e in _entries(tmp_path / f"{name}.log")]
    assert "worker_dead_rederive" in events[events.index("worker_dead") :]
    for name in ("a", "b", "clean"):
        row = registered(state, procs[name].pid)
        assert row is not None and row["stopped_at"] is not None and row["dead_at"] is None
    assert registered(state, procs["victim"].pid)["stopped_at"] is None
