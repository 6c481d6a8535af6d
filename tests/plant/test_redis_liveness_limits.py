"""The session's Redis supervision is bounded: an embedded redis-server that keeps dying ends the run with a
ServiceError saying what to do; one that is there but silent gets its time before it is restarted."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from plant.errors import ServiceError
from plant.runtime import session as session_module
from plant.runtime.session import MAX_REDIS_RESTARTS, Session
from plant.testing import state_settings


class FakeEmbedded:
    """An embedded Redis whose health the test sets, counting restarts."""

    def __init__(self, tmp_path, health: str) -> None:
        self.redis_dir = tmp_path / "redis"
        self.url = f"unix://{self.redis_dir / 'redis.sock'}"
        self.pid = 1
        self.state = health
        self.restarted = 0

    def health(self) -> str:
        return self.state

    def restart(self) -> str:
        self.restarted += 1
        return self.url


@pytest.fixture
def session(tmp_path, monkeypatch):
    session = Session(state_settings(tmp_path / "state"), progress=False)
    monkeypatch.setattr(Session, "resume", lambda self: 0)
    session.relay = SimpleNamespace(wake=threading.Event())
    return session


def test_a_redis_that_keeps_dying_ends_the_run_with_what_to_do(tmp_path, session):
    embedded = FakeEmbedded(tmp_path, "gone")
    session.embedded = embedded
    for _ in range(MAX_REDIS_RESTARTS):
        session._watch_redis()
    assert embedded.restarted == MAX_REDIS_RESTARTS
    with pytest.raises(ServiceError, match=r"died 6 times; read .*redis\.log.*plant resume"):
        session._watch_redis()
    assert embedded.restarted == MAX_REDIS_RESTARTS


def test_a_silent_redis_is_restarted_only_after_its_time(tmp_path, session, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(session_module.time, "monotonic", lambda: clock[0])
    embedded = FakeEmbedded(tmp_path, "silent")
    session.embedded = embedded
    session._watch_redis()
    clock[0] += session_module.REDIS_SILENT_S - 1
    session._watch_redis()
    assert embedded.restarted == 0
    clock[0] += 2
    session._watch_redis()
    assert embedded.restarted == 1
    embedded.state = "ok"
    session._watch_redis()
    assert session._redis_lost is None
