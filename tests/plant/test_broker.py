"""The queue: the embedded redis-server's durability settings, and the outbox relay on a real Redis."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import dramatiq
import pytest
import redis
from sqlalchemy import select

from plant.errors import ServiceError
from plant.ledger import Ledger, enqueue
from plant.ledger import schema as t
from plant.runtime.broker import MAX_SOCKET_PATH, EmbeddedRedis, declare_actors, make_broker
from plant.runtime.relay import Relay


@pytest.fixture
def embedded(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    yield server, url
    server.stop()


def test_embedded_redis_is_durable(embedded):
    """AOF on with appendfsync always and noeviction: no acknowledged message is lost or evicted."""
    _, url = embedded
    client = redis.Redis.from_url(url)
    assert client.config_get("appendonly")["appendonly"] == "yes"
    assert client.config_get("appendfsync")["appendfsync"] == "always"
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    client.close()


def test_embedded_redis_stops_cleanly(tmp_path):
    """stop() shuts the server down and waits for its process to go."""
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    pid = server.pid
    server.stop()
    assert not os.path.exists(f"/proc/{pid}") or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_data_survives_a_restart(tmp_path):
    """What was written before a stop is there after the next start in the same dir."""
    server = EmbeddedRedis(tmp_path / "redis")
    redis.Redis.from_url(server.start()).set("k", "v")
    server.stop()
    again = EmbeddedRedis(tmp_path / "redis")
    assert redis.Redis.from_url(again.start()).get("k") == b"v"
    again.stop()


def test_embedded_redis_lives_in_its_dir(tmp_path):
    """Socket, pid file, log, config and AOF are all in the redis dir: nothing in a temp dir."""
    server = EmbeddedRedis(tmp_path / "redis")
    try:
        url = server.start()
        assert url == f"unix://{(tmp_path / 'redis' / 'redis.sock').resolve()}"
        redis.Redis.from_url(url).set("k", "v")
        names = {p.name for p in (tmp_path / "redis").iterdir()}
        assert {"redis.sock", "redis.pid", "redis.log", "redis.conf", "appendonly.aof"} <= names
        title = Path(f"/proc/{server.pid}/cmdline").read_bytes()  # what `ps` shows
        assert b"redis-server" in title and f"unixsocket:{url.removeprefix('unix://')}".encode() in title
    finally:
        server.stop()


def test_a_too_long_socket_path_falls_back_to_a_stable_short_one(tmp_path, capsys):
    """When <dir>/redis.sock is longer than a unix socket may be, the socket goes to one short path per dir,
    the same on every start, and a log line says where."""
    deep = tmp_path / ("d" * (MAX_SOCKET_PATH - len(str(tmp_path)))) / "redis"
    server = EmbeddedRedis(deep)
    try:
        url = server.start()
        sock = url.removeprefix("unix://")
        assert (
            len(sock) <= MAX_SOCKET_PATH and sock.startswith("/tmp/plant-") and sock.endswith("/redis.sock")
        )
        assert EmbeddedRedis(deep).url == url != EmbeddedRedis(tmp_path / "other").url
        said = capsys.readouterr()
        assert "redis_socket_elsewhere" in said.out + said.err
        assert redis.Redis.from_url(url).ping()
        assert (deep / "redis.pid").exists()
    finally:
        server.stop()


def test_a_killed_server_restarts_on_the_same_url_with_its_data(tmp_path):
    """kill -9 of the embedded server: health says gone; restart() brings it back on the same socket from
    its AOF, and a client and a dramatiq broker made before the kill carry on without being rebuilt."""
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    client = redis.Redis.from_url(url)
    broker = make_broker(url)
    try:
        (actor,) = declare_actors(broker, {"plan": lambda s: None}).values()
        actor.send("S-before")
        client.set("k", "v")
        old = server.pid
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while server.health() != "gone" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.health() == "gone"
        assert server.restart() == url
        assert server.pid != old and server.health() == "ok"
        assert client.get("k") == b"v"  # redis-py reconnects on the next call
        actor.send("S-after")  # so does the broker's client
        assert sorted(a for _, a in queued(broker)) == [("S-after",), ("S-before",)]
    finally:
        broker.close()
        client.close()
        server.stop()


def test_a_hung_server_is_killed_and_restarted(tmp_path):
    """A server that is there but does not answer (SIGSTOP) is 'silent'; restart() kills it and starts
    another one on the same socket."""
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    old = server.pid
    try:
        os.kill(old, signal.SIGSTOP)
        assert server.health() == "silent"
        assert server.restart() == url and server.pid != old
        assert not Path(f"/proc/{old}").exists() or Path(f"/proc/{old}/stat").read_text().split()[2] == "Z"
        assert server.health() == "ok"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(old, signal.SIGKILL)
        server.stop()


def test_a_second_start_joins_the_running_server(tmp_path):
    """Another process starting the embedded Redis of the same dir joins it (one server per dir)."""
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    try:
        other = EmbeddedRedis(tmp_path / "redis")
        assert other.start() == url and other.pid == server.pid
    finally:
        server.stop()


def test_unreachable_redis_is_a_clear_error():
    """A Redis URL nobody answers raises ServiceError naming the URL and the fix."""
    with pytest.raises(ServiceError, match="does not answer.*PLANT_REDIS_URL"):
        make_broker("redis://127.0.0.1:9/0")


@pytest.fixture
def relay(embedded, tmp_path):
    _, url = embedded
    broker = make_broker(url)
    seen = []
    actors = declare_actors(broker, {"plan": lambda s: seen.append(s), "route": lambda s: seen.append(s)})
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield Relay(ledger, broker, actors), broker, ledger
    broker.close()
    ledger.dispose()


def queued(broker) -> list[tuple[str, tuple]]:
    client = broker.client
    messages = []
    for raw in client.hvals(f"plant:{'plant'}.msgs"):
        message = dramatiq.Message.decode(raw)
        messages.append((message.actor_name, tuple(message.args)))
    return messages


def test_relay_publishes_committed_rows_once(relay):
    """Committed outbox rows reach Redis once; a second pass publishes nothing."""
    relay_, broker, ledger = relay
    with ledger.tx() as conn:
        enqueue(conn, "plan", "S-1")
        enqueue(conn, "route", "S-2")
    assert relay_.publish_pending() == 2
    assert relay_.publish_pending() == 0
    assert sorted(queued(broker)) == [("plan", ("S-1",)), ("route", ("S-2",))]
    with ledger.read() as conn:
        assert all(v > 0 for v in conn.execute(select(t.outbox.c.published_at)).scalars())


def test_relay_never_sends_a_rolled_back_row(relay):
    """A row whose transaction rolled back is never published."""
    relay_, broker, ledger = relay
    with pytest.raises(RuntimeError), ledger.tx() as conn:
        enqueue(conn, "plan", "S-ghost")
        raise RuntimeError("rollback")
    assert relay_.publish_pending() == 0
    assert queued(broker) == []


def test_row_claimed_by_a_dead_relay_is_published_later(relay, monkeypatch):
    """A row claimed by a relay that died before publishing is claimed again after the reclaim delay."""
    relay_, broker, ledger = relay
    with ledger.tx() as conn:
        enqueue(conn, "plan", "S-3")
    with ledger.tx() as conn:  # what a relay that died right after claiming leaves behind
        conn.execute(t.outbox.update().values(published_at=-1.0))
    assert relay_.publish_pending() == 1
    assert queued(broker) == [("plan", ("S-3",))]
