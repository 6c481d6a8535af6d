"""The outbox relay: publishes the ledger's committed outbox rows to dramatiq, so that nothing is sent before
the transaction that decided it has committed (docs/architecture.md, "State and messages")."""

from __future__ import annotations

import threading
import time

import dramatiq
import structlog
from sqlalchemy import and_, func, or_, select, update

from plant.config import QueueConfig
from plant.crashpoints import crash_point
from plant.ledger import Ledger, now
from plant.ledger import schema as t
from plant.runtime.broker import answers_now, redact
from plant.stages.context import REDIS_AWAY  # what a publish raises while Redis is away

log = structlog.get_logger(__name__)

#: Seconds the relay waits before it tries again after a failed pass (or while paused).
RETRY_S = 1.0
#: Outbox rows not yet published: never claimed, or claimed (a negative stamp) and not yet stamped published.
UNPUBLISHED = or_(t.outbox.c.published_at.is_(None), t.outbox.c.published_at < 0)


class Relay:
    """Publishes committed outbox rows to dramatiq, oldest first.

    A row is claimed (stamped with a negative time), published, then stamped published. A relay that dies
    between claim and publish leaves the row claimed; it is claimed again after ``[queue] relay_reclaim_s``.
    Publishing twice is harmless (every actor is idempotent) but not the plan: every process of a scale-out
    runs a relay, so the claim locks its rows. On PostgreSQL the claim is ``SELECT … FOR UPDATE SKIP LOCKED``
    (a relay skips the rows another is claiming instead of publishing them too); SQLite's ``BEGIN IMMEDIATE``
    serialises the claiming transactions, so a second relay sees the rows already stamped.

    While Redis is away (a publish finds no Redis) the relay says so once, plainly (``relay_waits_for_redis``:
    "redis unreachable at URL; N messages waiting in the outbox; retrying every S s"), gives back the rows it
    could not send (they wait in the outbox, claimable at once), tries every :data:`RETRY_S` and says
    ``relay_redis_back`` when Redis answers again. No traceback: a Redis away is the plant's weather.
    """

    def __init__(
        self,
        ledger: Ledger,
        broker: dramatiq.Broker,
        actors: dict[str, dramatiq.Actor],
        queue: QueueConfig | None = None,
        url: str | None = None,
    ) -> None:
        self.ledger = ledger
        self.broker = broker
        self.actors = actors
        self.queue = queue or QueueConfig()
        self.wake = threading.Event()
        self._ping_url = url or _url_of(broker)
        #: The Redis published to, without its password (for messages).
        self.url = redact(self._ping_url)
        self._away_since: float | None = None  # monotonic, since a publish found Redis away

    def committed(self) -> None:
        """A stage of this process committed outbox rows: publish them now (its ``Plant.notify``)."""
        crash_point("relay.committed")  # the fault suite: committed, not yet published
        self.wake.set()

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
        sent: list[int] = []
        try:
            for row in rows:
                actor = self.actors[row.actor]
                actor.send_with_options(args=tuple(row.args), delay=row.delay_ms or None)
                sent.append(row.id)
        except REDIS_AWAY:
            self._settle(stamp, sent, [r.id for r in rows if r.id not in sent])
            raise
        with self.ledger.tx() as conn:  # only rows still under this claim (not reclaimed by another relay)
            conn.execute(
                update(t.outbox)
                .where(t.outbox.c.id.in_([r.id for r in rows]), t.outbox.c.published_at == -stamp)
                .values(published_at=now())
            )
        return len(rows)

    def _settle(self, stamp: float, sent: list[int], unsent: list[int]) -> None:
        """After a publish Redis broke off: the rows ``sent`` are published; the ``unsent`` go back to the
        outbox (claimable at once, not after the reclaim time) — only rows still under this claim."""
        claimed = t.outbox.c.published_at == -stamp
        with self.ledger.tx() as conn:
            if sent:
                conn.execute(
                    update(t.outbox).where(t.outbox.c.id.in_(sent), claimed).values(published_at=now())
                )
            if unsent:
                conn.execute(
                    update(t.outbox).where(t.outbox.c.id.in_(unsent), claimed).values(published_at=None)
                )

    def waiting(self) -> int:
        """Outbox rows not yet published."""
        with self.ledger.read() as conn:
            return int(
                conn.execute(select(func.count()).select_from(t.outbox).where(UNPUBLISHED)).scalar_one()
            )

    def _away(self, exc: BaseException) -> None:
        """A publish found Redis away: say it once while it lasts."""
        if self._away_since is not None:
            return
        self._away_since = time.monotonic()
        try:
            waiting: int | str = self.waiting()
        except Exception:  # the count is for the operator; the relay goes on without it
            waiting = "some"
        detail = (
            f"redis unreachable at {self.url}; {waiting} messages waiting in the outbox; "
            f"retrying every {RETRY_S:g} s"
        )
        log.warning("relay_waits_for_redis", url=self.url, waiting=waiting, error=str(exc), detail=detail)

    def _back(self) -> None:
        """Redis answers again after it was away: say it once."""
        if self._away_since is None:
            return
        away = time.monotonic() - self._away_since
        self._away_since = None
        detail = f"redis back at {self.url} after {away:.0f} s; publishing the outbox again"
        log.warning("relay_redis_back", url=self.url, away_s=round(away, 1), detail=detail)

    def run(self, stop: threading.Event, idle_s: float = 0.05, pause: threading.Event | None = None) -> None:
        """Publish until ``stop`` is set; wake early when :attr:`wake` is set by a committing stage. While
        ``pause`` is set (a session that knows its Redis is away) nothing is tried; a pass that meets a
        Redis gone in the meantime is one plain warning while it lasts, not a traceback, and until Redis
        answers a PING again nothing is claimed."""
        while not stop.is_set():
            if pause is not None and pause.is_set():
                stop.wait(RETRY_S)
                continue
            if self._away_since is not None:  # a PING, not a claim, until Redis answers again
                if not answers_now(self._ping_url):
                    stop.wait(RETRY_S)
                    continue
                self._back()
            try:
                published = self.publish_pending()
            except REDIS_AWAY as exc:
                self._away(exc)
                published = 0
                stop.wait(RETRY_S)
            except Exception:  # the relay must outlive a locked database
                log.exception("relay_failed")
                published = 0
                stop.wait(RETRY_S)
            if not published:
                self.wake.wait(idle_s)
                self.wake.clear()


def _url_of(broker: dramatiq.Broker) -> str:
    """The URL of a Redis broker's client (``unix://PATH`` or ``redis://HOST:PORT/DB``)."""
    kwargs = broker.client.connection_pool.connection_kwargs  # type: ignore[attr-defined]  # a RedisBroker
    password = f":{kwargs['password']}@" if kwargs.get("password") else ""
    if kwargs.get("path"):
        return f"unix://{password}{kwargs['path']}?db={kwargs.get('db', 0)}"
    host, port = kwargs.get("host", "localhost"), kwargs.get("port", 6379)
    return f"redis://{password}{host}:{port}/{kwargs.get('db', 0)}"
