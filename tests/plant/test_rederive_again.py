"""After a Redis restart (or return) the unfinished work is derived twice: at once, and again once dramatiq's
consumers have reconnected (:data:`plant.runtime.broker.REDERIVE_AGAIN_S`) — a consumer that meets the broken
connection drops the delayed messages it holds, and what it fetched of the first re-derive can go with them
(seen in the fault suite: a third of the redis-server kills healed only through the quiet re-derive, 30 s)."""

from __future__ import annotations

import threading

import dramatiq.worker

from plant.runtime import session as session_module
from plant.runtime import worker as worker_module
from plant.runtime.broker import REDERIVE_AGAIN_S, RedisNews
from plant.runtime.session import Session


def test_the_second_re_derive_waits_for_dramatiqs_consumer_restart():
    assert dramatiq.worker.CONSUMER_RESTART_DELAY_SECS < REDERIVE_AGAIN_S


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bare_session(monkeypatch, clock: Clock) -> tuple[Session, list[int]]:
    """A Session with only what its re-derive schedule reads (no Redis, no workers)."""
    monkeypatch.setattr(session_module.time, "monotonic", clock)
    session = object.__new__(Session)
    calls: list[int] = []
    session._redis_watch = None
    session._rederive_again_at = None
    session.resume = lambda: calls.append(1) or 7  # type: ignore[method-assign]
    return session, calls


class Watch:
    """A RedisWatch stand-in: ``lost`` while Redis is away."""

    def __init__(self) -> None:
        self.lost: tuple[float, float] | None = None


def test_a_session_derives_again_once_after_the_delay_and_only_with_redis_back(monkeypatch):
    clock = Clock()
    session, calls = bare_session(monkeypatch, clock)
    session._rederive_again()
    assert calls == []  # nothing scheduled

    session._rederive_again_at = clock.now + REDERIVE_AGAIN_S
    clock.now += REDERIVE_AGAIN_S - 0.1
    session._rederive_again()
    assert calls == []  # not yet

    watch = Watch()
    watch.lost = (0.0, 0.0)
    session._redis_watch = watch  # type: ignore[assignment]
    clock.now += 0.2
    session._rederive_again()
    assert calls == []  # Redis away again: waits for it

    watch.lost = None
    session._rederive_again()
    assert calls == [1]
    session._rederive_again()
    clock.now += 100
    session._rederive_again()
    assert calls == [1]  # once


def test_a_standalone_worker_derives_again_after_its_restart(monkeypatch):
    """`plant worker`'s Redis watch: the re-derive at the restart, then one more after the delay."""
    monkeypatch.setattr(worker_module, "REDERIVE_AGAIN_S", 0.05)
    stop = threading.Event()
    steps: list[str] = []

    class Restarting(Watch):
        def __init__(self) -> None:
            super().__init__()
            self.checks = 0

        def check(self) -> RedisNews | None:
            self.checks += 1
            if self.checks == 1:
                return RedisNews("redis_restarted", "restarted", rederive=True)
            if self.checks > 40:
                stop.set()
            return None

    def rederive() -> int:
        steps.append("rederive")
        return 1

    worker_module.watch_redis(Restarting(), stop, rederive, [], interval_s=0.005)
    assert steps == ["rederive", "rederive"]
