"""A plant worker process: the stage actors on a dramatiq worker, plus an outbox relay and the sweeper.

``plant worker`` runs one; ``plant run`` starts its own. Stops gracefully on SIGTERM or SIGINT (dramatiq
finishes the messages in hand; anything un-acked is re-delivered to another worker). The sweeper
(:class:`plant.sweeps.Sweeper`) claims the timed sweeps, so a plant of workers alone still expires postage
marks and prints unopened digital letters; ``--no-sweeps`` leaves that to another process (a session's workers
do).

A standalone worker watches its Redis too (:func:`watch_redis`, every :data:`REDIS_WATCH_S`): the embedded
server of its state dir, when it dies or hangs, is started again from its AOF — by this worker, or by the
process of the plant (a session, another worker) that takes the dir's lock first, which the others then join;
an external one (``PLANT_REDIS_URL``) is waited for with a plain ``redis_unreachable`` line, then
``redis_back``.
A session's workers leave their Redis to the session.

Every worker registers in the ledger (:mod:`plant.ledger.workers`), beats about every second while it runs
and marks itself stopped on a clean exit; on its beat it looks for peers that died without stopping and,
when it claims one, derives the unfinished work again at once (:func:`plant.runtime.recovery.watch_peers`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping

import structlog

from plant.config import Settings
from plant.errors import ServiceError
from plant.ledger.workers import here, mark_stopped, register
from plant.runtime.broker import (
    REDERIVE_AGAIN_S,
    EmbeddedRedis,
    RedisWatch,
    declare_actors,
    make_broker,
    start_worker,
)
from plant.runtime.recovery import recover, watch_peers
from plant.runtime.relay import Relay
from plant.runtime.sweeps import Sweeper
from plant.stages import HANDLERS
from plant.stages.context import Plant, install

log = structlog.get_logger(__name__)


def connect(settings: Settings, notify=None):
    """Broker, actors and plant for this process; joins (or starts) the embedded Redis when no URL is set."""
    embedded = None
    url = settings.redis_url
    if not url:
        embedded = EmbeddedRedis(settings.redis_dir)
        url = embedded.start()
    broker = make_broker(url, settings.queue)
    actors = declare_actors(broker, HANDLERS, settings.queue)
    plant = Plant.open(settings, notify=notify)
    plant.sender = lambda actor, args, delay: actors[actor].send_with_options(args=args, delay=delay or None)
    return broker, actors, plant, embedded, url


#: Seconds between a worker's looks at its Redis.
REDIS_WATCH_S = 0.5


def watch_redis(
    watch: RedisWatch,
    stop: threading.Event,
    rederive: Callable[[], object],
    failed: list[ServiceError],
    interval_s: float = REDIS_WATCH_S,
) -> None:
    """Check ``watch`` every ``interval_s`` until ``stop``; call ``rederive`` when this process restarted the
    embedded server or an external one is back. A Redis that keeps dying stops the worker (``stop``) with the
    error in ``failed``."""
    again_at: float | None = None  # a second re-derive after a restart (REDERIVE_AGAIN_S)
    while not stop.wait(interval_s):
        if again_at is not None and time.monotonic() >= again_at and watch.lost is None:
            again_at = None
            try:
                log.info("redis_rederive_again", steps=rederive())
            except Exception:
                log.exception("redis_rederive_failed")
        try:
            news = watch.check()
        except ServiceError as exc:
            log.error("redis_given_up", detail=str(exc))
            failed.append(exc)
            stop.set()
            return
        except Exception:  # the watch must outlive a locked database or a slow disk
            log.exception("redis_watch_failed")
            continue
        if news is not None and news.rederive:
            again_at = time.monotonic() + REDERIVE_AGAIN_S
            try:
                log.info("redis_rederive", steps=rederive())
            except Exception:
                log.exception("redis_rederive_failed")


#: Linux's ``prctl`` option: the signal a process gets when the parent that started it dies.
PR_SET_PDEATHSIG = 1
#: Environment variable naming the session process a worker belongs to (set by plant.runtime.session).
SESSION_PID = "PLANT_SESSION_PID"


def die_with_session(stop: threading.Event, environ: Mapping[str, str] = os.environ) -> None:
    """A worker started by a session stops when the session dies, even by ``kill -9``: Linux sends it SIGTERM
    (its graceful stop) when its parent dies, and a parent already gone when this runs stops it at once. A
    worker started by hand (no ``PLANT_SESSION_PID``) is left alone."""
    session = environ.get(SESSION_PID)
    if not session:
        return
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(session):  # the session died before the signal was armed
        log.warning("session_gone", session_pid=int(session))
        stop.set()


def run_worker(settings: Settings, stop: threading.Event | None = None, sweeps: bool = True) -> None:
    """Serve stage messages until SIGTERM/SIGINT (or ``stop``); claim the timed sweeps unless ``sweeps`` is
    off."""
    stop = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    die_with_session(stop)
    broker, actors, plant, embedded, url = connect(settings)
    relay = Relay(plant.ledger, broker, actors, settings.queue, url=url)
    plant.notify = relay.committed
    install(plant)
    with plant.ledger.tx() as conn:  # before the first message: its submission attempts name this worker
        me = register(conn)
    worker = start_worker(broker, settings.worker_threads, settings.queue_prefetch)
    relay_thread = threading.Thread(target=relay.run, args=(stop,), name="relay", daemon=True)
    relay_thread.start()
    sweeper_thread = None
    if sweeps:
        sweeper = Sweeper(plant.ledger, settings.sweeps.interval_s, notify=relay.wake.set)
        sweeper_thread = threading.Thread(target=sweeper.run, args=(stop,), name="sweeper", daemon=True)
        sweeper_thread.start()
    failed: list[ServiceError] = []

    def rederive() -> int:
        steps = recover(plant.ledger)
        relay.wake.set()
        return steps

    beating = threading.Event()  # set after the actors stopped: a stopping worker still beats
    beat_thread = threading.Thread(
        target=watch_peers,
        args=(plant.ledger, beating, rederive, f"worker {me} (pid {os.getpid()} on {here().host})"),
        kwargs={"me": me, "declared_dead": stop.set},
        name="registry",
        daemon=True,
    )
    beat_thread.start()
    watch = None
    if not os.environ.get(SESSION_PID):  # a session watches its own Redis (and restarts the embedded one)
        watch = RedisWatch(url, embedded, then="start the worker again")
        threading.Thread(
            target=watch_redis, args=(watch, stop, rederive, failed), name="redis-watch", daemon=True
        ).start()
    log.info(
        "worker_started",
        worker=me,
        redis=url,
        database=plant.ledger.url.split("@")[-1],
        threads=settings.worker_threads,
        prefetch=settings.queue_prefetch,
        sweep_interval_s=settings.sweeps.interval_s if sweeps else None,
    )
    try:
        stop.wait()
    finally:
        worker.stop(timeout=30_000)
        beating.set()
        beat_thread.join(timeout=10)
        try:
            with plant.ledger.tx() as conn:
                mark_stopped(conn, me)
        except Exception:  # a ledger gone away: the others will take this worker for dead, which is safe
            log.exception("worker_stop_unrecorded", worker=me)
        relay.wake.set()
        relay_thread.join(timeout=10)
        if sweeper_thread is not None:
            sweeper_thread.join(timeout=10)
        broker.close()
        plant.close()
        if watch is not None:
            watch.close()
        log.info("worker_stopped")
    if failed:
        raise failed[0]
