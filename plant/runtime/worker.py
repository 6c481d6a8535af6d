"""A plant worker process: the stage actors on a dramatiq worker, plus an outbox relay and the sweeper.

``plant worker`` runs one; ``plant run`` starts its own. Stops gracefully on SIGTERM or SIGINT (dramatiq
finishes the messages in hand; anything un-acked is re-delivered to another worker). The sweeper
(:class:`plant.sweeps.Sweeper`) claims the timed sweeps, so a plant of workers alone still expires postage
marks and prints unopened digital letters; ``--no-sweeps`` leaves that to another process (a session's workers
do).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Mapping

import structlog

from plant.config import Settings
from plant.runtime.broker import EmbeddedRedis, declare_actors, make_broker, start_worker
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
    relay = Relay(plant.ledger, broker, actors, settings.queue)
    plant.notify = relay.wake.set
    install(plant)
    worker = start_worker(broker, settings.worker_threads, settings.queue_prefetch)
    relay_thread = threading.Thread(target=relay.run, args=(stop,), name="relay", daemon=True)
    relay_thread.start()
    sweeper_thread = None
    if sweeps:
        sweeper = Sweeper(plant.ledger, settings.sweeps.interval_s, notify=relay.wake.set)
        sweeper_thread = threading.Thread(target=sweeper.run, args=(stop,), name="sweeper", daemon=True)
        sweeper_thread.start()
    log.info(
        "worker_started",
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
        relay.wake.set()
        relay_thread.join(timeout=10)
        if sweeper_thread is not None:
            sweeper_thread.join(timeout=10)
        broker.close()
        plant.close()
        log.info("worker_stopped")
