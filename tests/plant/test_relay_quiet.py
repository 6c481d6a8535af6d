"""The outbox relay while Redis is away (issue 12, hole 10): one plain warning naming the Redis, the messages
waiting and the retry interval — no traceback, not one line per try — and one "redis back" when it returns;
the rows it could not send wait in the outbox and are published once, as soon as Redis is back."""

from __future__ import annotations

import os
import signal
import threading

import dramatiq
import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from plant.ledger import Ledger, enqueue
from plant.ledger import schema as t
from plant.runtime import relay as relay_module
from plant.runtime.broker import EmbeddedRedis, declare_actors, make_broker
from plant.runtime.relay import RETRY_S, Relay
from tests.plant.helpers import wait_for


@pytest.fixture
def server(tmp_path):
    embedded = EmbeddedRedis(tmp_path / "redis")
    embedded.start()
    yield embedded
    embedded.stop()


def queued(broker) -> list[tuple]:
    return sorted(tuple(dramatiq.Message.decode(raw).args) for raw in broker.client.hvals("plant:plant.msgs"))


def test_the_relay_says_once_that_redis_is_away_and_once_that_it_is_back(
    tmp_path, server, monkeypatch, capfd
):
    broker = make_broker(server.url)
    actors = declare_actors(broker, {"plan": lambda s: None})
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    relay = Relay(ledger, broker, actors, url=server.url)
    pings = []
    real_ping = relay_module.answers_now
    monkeypatch.setattr(relay_module, "answers_now", lambda url: pings.append(url) or real_ping(url))
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    try:
        with capture_logs() as lines:
            thread.start()
            os.kill(server.pid, signal.SIGKILL)
            wait_for(lambda: server.health() == "gone", "the killed redis-server to be gone")
            with ledger.tx() as conn:
                for submission in ("S-1", "S-2", "S-3"):
                    enqueue(conn, "plan", submission)
            relay.wake.set()
            wait_for(
                lambda: any(e["event"] == "relay_waits_for_redis" for e in lines), "the relay to say it waits"
            )
            wait_for(lambda: len(pings) >= 3, "the relay to try again a few times")
            with ledger.read() as conn:  # given back to the outbox, not left claimed for the reclaim time
                stamps = conn.execute(select(t.outbox.c.published_at)).scalars().all()
            assert stamps == [None, None, None]

            server.restart()
            wait_for(lambda: relay.waiting() == 0, "the relay to publish the outbox once Redis is back")
            stop.set()
            thread.join(timeout=10)
    finally:
        stop.set()
        thread.join(timeout=10)
        broker.close()
        ledger.dispose()

    away = [e for e in lines if e["event"] == "relay_waits_for_redis"]
    assert len(away) == 1, away
    assert away[0]["log_level"] == "warning" and away[0]["waiting"] == 3
    assert away[0]["detail"] == (
        f"redis unreachable at {server.url}; 3 messages waiting in the outbox; retrying every {RETRY_S:g} s"
    )
    back = [e for e in lines if e["event"] == "relay_redis_back"]
    assert len(back) == 1 and back[0]["detail"].startswith(f"redis back at {server.url} after ")
    assert not [e for e in lines if e.get("exc_info") or e["event"] == "relay_failed"], lines
    assert "Traceback" not in "".join(capfd.readouterr())
    check = make_broker(server.url)
    try:
        assert queued(check) == [("S-1",), ("S-2",), ("S-3",)]  # each once
    finally:
        check.close()
