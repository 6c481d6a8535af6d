"""The outbox relay: publishes the ledger's committed outbox rows to dramatiq, so that nothing is sent before
the transaction that decided it has committed (docs/architecture.md, "State and messages")."""

from __future__ import annotations

import threading

import dramatiq
import dramatiq.errors
import redis
import structlog
from sqlalchemy import and_, or_, select, update

from plant.config import QueueConfig
from plant.ledger import Ledger, now
from plant.ledger import schema as t

log = structlog.get_logger(__name__)

#: What a publish raises while Redis is away (a plain log line, not a traceback).
REDIS_AWAY = (redis.ConnectionError, redis.TimeoutError, dramatiq.errors.BrokerConnectionError)
#: Seconds the relay waits before it tries again after a failed pass (or while paused).
RETRY_S = 1.0


class Relay:
    """Publishes committed outbox rows to dramatiq, oldest first.

    A row is claimed (stamped with a negative time), published, then stamped published. A relay that dies
    between claim and publish leaves the row claimed; it is claimed again after ``[queue] relay_reclaim_s``.
    Publishing twice is harmless (every actor is idempotent) but not the plan: every process of a scale-out
    runs a relay, so the claim locks its rows. On PostgreSQL the claim is ``SELECT … FOR UPDATE SKIP LOCKED``
    (a relay skips the rows another is claiming instead of publishing them too); SQLite's ``BEGIN IMMEDIATE``
    serialises the claiming transactions, so a second relay sees the rows already stamped.
    """

    def __init__(
        self,
        ledger: Ledger,
        broker: dramatiq.Broker,
        actors: dict[str, dramatiq.Actor],
        queue: QueueConfig | None = None,
    ) -> None:
        self.ledger = ledger
        self.broker = broker
        self.actors = actors
        self.queue = queue or QueueConfig()
        self.wake = threading.Event()

    def publish_pending(self) -> int:
        """Publish up to ``[queue] relay_batch`` rows; return how many were published."""
        stamp = now()
        reclaim_s, batch = self.queue.relay_reclaim_s, self.queue.relay_batch
        with self.ledger.tx() as conn:
            claimable = or_(
                t.outbox.c.published_at.is_(None),
                and_(t.outbox.c.published_at < 0, t.outbox.c.published_at > -(stamp - reclaim_s)),
            )
            rows = conn.execute(
                select(t.outbox.c.id, t.outbox.c.actor, t.outbox.c.args, t.outbox.c.delay_ms)
                .where(claimable)
                .order_by(t.outbox.c.id)
                .limit(batch)
                .with_for_update(skip_locked=True)  # rendered on PostgreSQL; SQLite serialises writers
            ).all()
            if not rows:
                return 0
            conn.execute(
                update(t.outbox).where(t.outbox.c.id.in_([r.id for r in rows])).values(published_at=-stamp)
            )
        for row in rows:
            actor = self.actors[row.actor]
            actor.send_with_options(args=tuple(row.args), delay=row.delay_ms or None)
        with self.ledger.tx() as conn:  # only rows still under this claim (not reclaimed by another relay)
            conn.execute(
                update(t.outbox)
                .where(t.outbox.c.id.in_([r.id for r in rows]), t.outbox.c.published_at == -stamp)
                .values(published_at=now())
            )
        return len(rows)

    def run(self, stop: threading.Event, idle_s: float = 0.05, pause: threading.Event | None = None) -> None:
        """Publish until ``stop`` is set; wake early when :attr:`wake` is set by a committing stage. While
        ``pause`` is set (a session that knows its Redis is away) nothing is tried; a pass that meets a
        Redis gone in the meantime is a plain log line, not a traceback (its claimed rows are claimed again
        later)."""
        while not stop.is_set():
            if pause is not None and pause.is_set():
                stop.wait(RETRY_S)
                continue
            try:
                published = self.publish_pending()
            except REDIS_AWAY as exc:
                log.info("relay_waits_for_redis", error=str(exc))
                published = 0
                stop.wait(RETRY_S)
            except Exception:  # the relay must outlive a locked database
                log.exception("relay_failed")
                published = 0
                stop.wait(RETRY_S)
            if not published:
                self.wake.wait(idle_s)
                self.wake.clear()
