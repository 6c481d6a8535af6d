"""Issue 12, hole 5: scale-out on PostgreSQL (and the same code on SQLite).

Two relays publishing one outbox never publish a row twice (counted at the broker, a real Redis), and an
operator's "down" or "up" racing a sweep's sighting of the same device keeps what each of them decided.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter

import dramatiq
import pytest
from sqlalchemy import event, select

from plant.config import QueueConfig
from plant.fleet.service import observe, service_rows, set_service
from plant.ledger import Ledger, enqueue
from plant.ledger import schema as t
from plant.ledger import schema_devices as td
from plant.runtime.broker import EmbeddedRedis, declare_actors, make_broker
from plant.runtime.relay import Relay

#: Outbox rows in the race, and the rows one relay pass takes.
ROWS, BATCH = 600, 50
#: Seconds a stalled transaction waits for the other party before it goes on.
STALL_S = 1.0
LIMIT = 60.0


@pytest.fixture
def redis_url(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    yield url
    server.stop()


def messages(broker: dramatiq.Broker) -> list[tuple]:
    """Every message the broker holds (each publication is a message of its own id)."""
    return [tuple(dramatiq.Message.decode(raw).args) for raw in broker.client.hvals("plant:plant.msgs")]


def test_two_relays_never_publish_a_row_twice(database_url, redis_url):
    """Both relays claim at the same moment (each holds its claim until the other has looked): every row
    reaches Redis exactly once. Without ``FOR UPDATE SKIP LOCKED`` both claim the same first batch on
    PostgreSQL."""
    Ledger(database_url).dispose()  # the schema, once, before the race
    ledgers = [Ledger(database_url) for _ in range(2)]
    brokers = [make_broker(redis_url) for _ in range(2)]
    queue = QueueConfig(relay_batch=BATCH)
    relays = [
        Relay(ledger, broker, declare_actors(broker, {"plan": lambda s: None}, queue), queue)
        for ledger, broker in zip(ledgers, brokers, strict=True)
    ]
    with ledgers[0].tx() as conn:
        for n in range(ROWS):
            enqueue(conn, "plan", f"S-{n:04d}")
    barrier = threading.Barrier(2)

    def stall_first_claim(ledger: Ledger) -> None:
        stalled = threading.Event()

        @event.listens_for(ledger.engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):
            claim = statement.lstrip().upper().startswith("SELECT") and "outbox" in statement
            if claim and not stalled.is_set():
                stalled.set()
                # SQLite: the other relay waits for the write lock, so the barrier breaks after STALL_S.
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait(STALL_S)

    for ledger in ledgers:
        stall_first_claim(ledger)
    errors: list[BaseException] = []

    def drain(relay: Relay) -> None:
        try:
            idle = 0
            while idle < 3:
                idle = 0 if relay.publish_pending() else idle + 1
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(relay,)) for relay in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert not errors
        got = Counter(args for args in messages(brokers[0]))
        assert [args for args, n in got.items() if n > 1] == []
        assert len(got) == ROWS
        with ledgers[0].read() as conn:
            stamps = conn.execute(select(t.outbox.c.published_at)).scalars().all()
        assert len(stamps) == ROWS and all(stamp > 0 for stamp in stamps)
    finally:
        for broker in brokers:
            broker.close()
        for ledger in ledgers:
            ledger.dispose()


def race(ledger: Ledger, trigger, other) -> threading.Thread:
    """Run ``other`` in a thread of its own the first time this thread executes a statement matching
    ``trigger``, and give it :data:`STALL_S` to finish (it may be waiting for a lock this thread holds)."""
    me = threading.get_ident()
    thread = threading.Thread(target=other)
    fired = threading.Event()

    @event.listens_for(ledger.engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() == me and not fired.is_set() and trigger(statement):
            fired.set()
            thread.start()
            thread.join(STALL_S)

    return thread


def is_device_statement(verb: str, nth: int = 1):
    count = [0]

    def match(statement: str) -> bool:
        if statement.lstrip().upper().startswith(verb) and td.device_service.name in statement:
            count[0] += 1
            return count[0] == nth
        return False

    return match


def sighting(ledger: Ledger, at: float) -> None:
    """What the timed sweep does (:func:`plant.fleet.watch._sighting`): read, judge, write, in one
    transaction."""
    with ledger.tx() as conn:
        row = service_rows(conn)["press-1"]
        seen = observe(True, row.stopped_since, bool(row.stopped_down), at, LIMIT)
        set_service(conn, "press-1", "printer", observation=seen)


def test_operator_down_racing_a_sweep_keeps_both(database_url):
    """The operator takes the press down while the sweep, which read the row before, writes that the press
    has been stopped too long: the press is down for both reasons (the sweep's write no longer carries the
    operator's column it read earlier)."""
    ledger = Ledger(database_url)
    try:
        with ledger.tx() as conn:  # first seen stopped at 1000
            set_service(conn, "press-1", "printer", observation=observe(True, None, False, 1000.0, LIMIT))

        def operator() -> None:
            with ledger.tx() as conn:
                set_service(conn, "press-1", "printer", operator_down=True, reason="jammed", by="ops")

        thread = race(ledger, is_device_statement("UPDATE"), operator)
        sighting(ledger, 1000.0 + LIMIT)
        thread.join(30)
        with ledger.read() as conn:
            row = service_rows(conn)["press-1"]
        assert (row.operator_down, row.reason) == (1, "jammed")
        assert (row.stopped_since, row.stopped_down) == (1000.0, 1)
    finally:
        ledger.dispose()


def test_operator_up_racing_a_sweep_is_not_undone(database_url):
    """The operator puts a press back (the stop count restarts) after the sweep read the row but before it
    wrote: the sweep's stale judgement (stopped too long) is not written over the operator's "up"."""
    ledger = Ledger(database_url)
    try:
        with ledger.tx() as conn:  # stopped long enough: out of the plan
            set_service(conn, "press-1", "printer", observation=observe(True, None, False, 1000.0, LIMIT))
            set_service(conn, "press-1", "printer", observation=observe(True, 1000.0, False, 1100.0, LIMIT))

        def operator() -> None:
            with ledger.tx() as conn:
                set_service(conn, "press-1", "printer", operator_down=False, by="ops")

        thread = race(ledger, is_device_statement("SELECT", nth=2), operator)
        sighting(ledger, 1200.0)
        thread.join(30)
        with ledger.read() as conn:
            row = service_rows(conn)["press-1"]
        assert (row.operator_down, row.stopped_down, row.stopped_since) == (0, 0, None)
    finally:
        ledger.dispose()
