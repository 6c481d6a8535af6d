"""A poll sent while Redis is away goes to the outbox (the relay publishes it when Redis is back) instead of
being lost — a lost poll broke its chain until the session's quiet re-derive (~30 s, seen in the fault suite
after a redis-server was killed)."""

from __future__ import annotations

import dramatiq.errors
import pytest
import redis
from sqlalchemy import select

from plant.ledger import schema as t
from plant.testing import configure, installed_plant


@pytest.mark.parametrize(
    "error",
    [redis.ConnectionError("gone"), redis.TimeoutError("slow"), dramatiq.errors.ConnectionClosed(OSError())],
)
def test_a_poll_that_finds_redis_away_goes_to_the_outbox(tmp_path, error):
    _, settings = configure(tmp_path)
    notified = []
    with installed_plant(settings, devices=False, notify=lambda: notified.append(1)) as plant:

        def away(actor, args, delay_ms):
            raise error

        plant.sender = away
        plant.send("follow_print", "J000001", delay_ms=1500)
        with plant.ledger.read() as conn:
            rows = conn.execute(select(t.outbox.c.actor, t.outbox.c.args, t.outbox.c.delay_ms)).all()
    assert [(r.actor, list(r.args), r.delay_ms) for r in rows] == [("follow_print", ["J000001"], 1500)]
    assert notified  # the relay is woken to publish it


def test_a_poll_that_reaches_redis_writes_no_outbox_row(tmp_path):
    _, settings = configure(tmp_path)
    with installed_plant(settings, devices=False) as plant:
        sent = []
        plant.sender = lambda actor, args, delay_ms: sent.append((actor, args, delay_ms))
        plant.send("follow_print", "J000001", delay_ms=1500)
        with plant.ledger.read() as conn:
            assert conn.execute(select(t.outbox.c.id)).all() == []
    assert sent == [("follow_print", ("J000001",), 1500)]


def test_other_errors_of_a_send_are_not_swallowed(tmp_path):
    _, settings = configure(tmp_path)
    with installed_plant(settings, devices=False) as plant:

        def broken(actor, args, delay_ms):
            raise KeyError(actor)

        plant.sender = broken
        with pytest.raises(KeyError):
            plant.send("no_such_actor")
