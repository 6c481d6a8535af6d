"""A standalone `plant worker` keeps its Redis alive (issue 12, hole 10): the embedded redis-server of its
state dir, killed with -9, is started again — by exactly one of the processes that notice at once (the dir's
lock and a pid check), the others join it — and the work carries on; an external Redis that goes away is
waited for with a plain message."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from plant.demo import generate
from plant.intake.submission import intake
from plant.ledger import open_ledger
from plant.ledger import schema as t
from plant.runtime.broker import PID_FILE, EmbeddedRedis, answers_now, socket_path
from plant.testing import state_settings
from tests.plant.helpers import PHASE_TIMEOUT_S, plant_command, plant_env, reap_redis, wait_for
from tests.plant.test_external_redis import ExternalRedis

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_leftover_redis")]


def servers_of(redis_dir: Path) -> list[int]:
    """Pids of the live redis-server processes listening on ``redis_dir``'s socket (a redis-server's
    command line reads ``redis-server unixsocket:PATH``)."""
    config = f"unixsocket:{socket_path(redis_dir)}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            zombie = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            continue
        if b"redis-server" in cmdline and config in cmdline and not zombie:
            found.append(int(entry.name))
    return found


def pid_in_file(redis_dir: Path) -> int | None:
    try:
        return int((redis_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def kill_and_wait_gone(pid: int, redis_dir: Path) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid not in servers_of(redis_dir), "the killed redis-server to be gone")


def test_two_processes_restarting_at_once_start_one_server(tmp_path):
    """Two processes of the plant see the embedded server dead at the same moment and both restart it: the
    one that takes the dir's lock first starts it, the other finds it answering (pid file) and joins it —
    one server on the dir's AOF, never two."""
    redis_dir = tmp_path / "state" / "redis"
    first, second = EmbeddedRedis(redis_dir), EmbeddedRedis(redis_dir)
    url = first.start()
    try:
        assert second.start() == url and second.pid == first.pid
        redis.Redis.from_url(url).set("kept", "1")
        kill_and_wait_gone(first.pid, redis_dir)
        assert first.health() == second.health() == "gone"

        both = threading.Barrier(2)
        errors: list[BaseException] = []

        def restart(server: EmbeddedRedis) -> None:
            both.wait()
            try:
                server.restart()
            except BaseException as exc:  # handed to the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=restart, args=(s,)) for s in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=PHASE_TIMEOUT_S)
        assert errors == []
        running = servers_of(redis_dir)
        assert len(running) == 1, running
        assert first.pid == second.pid == running[0] == pid_in_file(redis_dir)
        assert sorted([first.rejoined, second.rejoined]) == [False, True]  # one started it, one joined
        assert first.health() == second.health() == "ok"
        assert redis.Redis.from_url(url).get("kept") == b"1"  # from the AOF
    finally:
        first.stop()
        for pid in servers_of(redis_dir):  # a second server, had the restart started two
            os.kill(pid, signal.SIGKILL)


def events(text: str) -> list[dict]:
    """The JSON log lines of a worker's output (off a terminal its log is JSON)."""
    found = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict) and "event" in event:
                found.append(event)
    return found


def start_worker(state: Path, log: Path, env: dict | None = None) -> subprocess.Popen:
    with open(log, "wb") as fh:
        return subprocess.Popen(
            plant_command(["worker"]),
            env=env or plant_env(state),
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for proc in workers:
        if proc.poll() is None:
            proc.terminate()
    for proc in workers:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_standalone_workers_restart_their_embedded_redis_once_and_carry_on(tmp_path):
    """Two `plant worker`s on one state dir (no PLANT_REDIS_URL, so on its embedded Redis); kill -9 of the
    redis-server: it is started again in `<state>/redis` by one of them (`redis_restarted`), the other joins
    it (`redis_rejoined`), one server runs, and a submission taken afterwards is worked on."""
    state = tmp_path / "state"
    redis_dir = state / "redis"
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers: list[subprocess.Popen] = []

    def said(text: str) -> int:
        return sum(log.read_text(errors="replace").count(text) for log in logs if log.exists())

    def detail() -> str:
        return "\n".join(log.read_text(errors="replace")[-2000:] for log in logs if log.exists())

    try:
        workers.append(start_worker(state, logs[0]))
        wait_for(lambda: said("worker_started") == 1, "the first worker to start", detail=detail)
        workers.append(start_worker(state, logs[1]))
        wait_for(lambda: said("worker_started") == 2, "the second worker to start", detail=detail)
        first = pid_in_file(redis_dir)
        assert first is not None and servers_of(redis_dir) == [first]
        assert said("redis_joined") == 1  # the second worker joined the first one's server

        os.kill(first, signal.SIGKILL)
        wait_for(
            lambda: said("redis_restarted") + said("redis_rejoined") == 2,
            "both workers to see the server back",
            detail=detail,
        )
        assert said("redis_restarted") == 1 and said("redis_rejoined") == 1, detail()
        running = servers_of(redis_dir)
        assert len(running) == 1 and running[0] != first and running[0] == pid_in_file(redis_dir)
        assert answers_now(f"unix://{redis_dir.resolve() / 'redis.sock'}")
        assert all(proc.poll() is None for proc in workers)

        settings = state_settings(state)
        batch = generate(tmp_path / "in", 4, seed=21)
        ledger = open_ledger(settings)
        try:
            submission = intake(ledger, settings, batch.submission).submission_id
            letters = t.letters.c

            def checked() -> bool:
                with ledger.read() as conn:
                    rows = conn.execute(
                        select(letters.preflight_ok).where(letters.submission_id == submission)
                    ).all()
                return len(rows) == 4 and all(ok is not None for (ok,) in rows)

            wait_for(checked, "the workers to pre-flight the letters on the restarted Redis", detail=detail)
        finally:
            ledger.dispose()
    finally:
        stop_workers(workers)
        reap_redis(state)
    assert "Traceback" not in detail()


def test_a_standalone_worker_waits_for_an_external_redis_with_a_plain_message(tmp_path):
    """PLANT_REDIS_URL names an external Redis that stops: the worker says plainly that it waits (no
    traceback, no restart of anything), and `redis_back` when it answers again."""
    (tmp_path / "external").mkdir()
    server = ExternalRedis(tmp_path / "external")
    server.start()
    state = tmp_path / "state"
    log = tmp_path / "worker.log"
    worker = None
    try:
        worker = start_worker(state, log, env=plant_env(state) | {"PLANT_REDIS_URL": server.url})

        def text() -> str:
            return log.read_text(errors="replace") if log.exists() else ""

        wait_for(lambda: "worker_started" in text(), "the worker to start", detail=text)
        server.stop()
        wait_for(lambda: "redis_unreachable" in text(), "the worker to say it waits", detail=text)
        (waiting,) = [e for e in events(text()) if e["event"] == "redis_unreachable"]
        assert waiting["detail"].startswith(f"Redis at {server.url} is unreachable since ")
        assert waiting["detail"].endswith("; waiting — check the server")
        server.start()
        wait_for(lambda: "redis_back" in text(), "the worker to see the Redis back", detail=text)
        assert worker.poll() is None
    finally:
        if worker is not None:
            stop_workers([worker])
        with contextlib.suppress(Exception):
            server.stop()
    assert text().count("redis_unreachable") == 1
    assert "Traceback" not in text()
    assert not (state / "redis").exists()
