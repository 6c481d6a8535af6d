"""Profile a run of N demo letters through the plant: the session and its worker, each under cProfile.

``plant run`` is a session process (intake, the outbox relay, the sweeper, the peers' registry, the
simulated devices, the progress wait) and a ``plant worker`` child (the stage actors on dramatiq). The
worker's entry point has no profiling switch, so this script runs the same parts in one process, on the
embedded defaults (redis-server, SQLite, devices at ``time_scale = 0``): a :class:`~plant.runtime.session.
Session` with no worker child, and beside it the worker's own parts — its broker, actors, plant, relay and
registry beat (:func:`plant.runtime.worker.connect`, :func:`~plant.runtime.broker.start_worker`) — on the
session's Redis and ledger, as ``run_worker`` sets them up. Every thread gets its own ``cProfile.Profile``;
the threads of the dramatiq worker and of the worker's relay and beat make the "worker" profile, all the
others the "session" profile. The pre-flight sandboxes stay child processes (not profiled).

cProfile slows Python code down (about 1.5–2× here), and the two "processes" share one interpreter lock, so
the wall time is not the benchmark's (``benchmarks/test_volume.py``); the shares of time are what to read.

Writes into ``--out`` (default ``/tmp/plant-profile-N``): ``session.txt`` and ``worker.txt`` (the top
``--top`` functions by cumulative time, then the top of the plant's own code by cumulative time and the top
functions by internal time, and each thread's CPU share), ``session.prof`` and ``worker.prof`` (pstats dumps
for snakeviz or ``python -m pstats``) and ``summary.txt`` (wall time, letters, pages, final states, peak RSS).

Run::

    NUMBA_CACHE_DIR=/tmp/nc .venv/bin/python scripts/profile_run.py --letters 10000
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import os
import pstats
import shutil
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

#: Thread names of the worker's own parts started here (the dramatiq threads are known by their class).
WORKER_THREADS = ("worker-relay", "worker-registry")
#: Built-ins in which a thread waits (for a lock, a timer, a socket) rather than works.
IDLE = ("acquire' of '_thread", "time.sleep", "select", "poll", "'recv", "recv_into")
#: The plant's own code (the restriction of the second table).
OWN_CODE = r"/(plant|imposition|tracking|printers|inserters)/"


class ThreadProfiles:
    """One ``cProfile.Profile`` per thread: the calling thread's from :meth:`start`; every thread started
    after it gets its own on its first profile event (``threading.setprofile``)."""

    def __init__(self) -> None:
        self.entries: list[tuple[threading.Thread, cProfile.Profile]] = []
        self._lock = threading.Lock()
        self._main: cProfile.Profile | None = None

    def _first_event(self, frame: Any, event: str, arg: Any) -> None:
        sys.setprofile(None)
        profile = cProfile.Profile()
        with self._lock:
            self.entries.append((threading.current_thread(), profile))
        profile.enable()

    def start(self) -> None:
        threading.setprofile(self._first_event)
        self._main = cProfile.Profile()
        self.entries.append((threading.current_thread(), self._main))
        self._main.enable()

    def stop(self) -> None:
        """Stop profiling the calling thread and stop giving new threads a profile (threads still running keep
        theirs until they end; their stats are read as they stand)."""
        threading.setprofile(None)
        if self._main is not None:
            self._main.disable()

    def stats(self, keep) -> tuple[pstats.Stats | None, list[tuple[str, float, float]]]:
        """The merged stats of the threads ``keep(thread)`` selects, and each thread's name, profiled seconds
        and seconds not spent waiting (:data:`IDLE`)."""
        merged: pstats.Stats | None = None
        per_thread: list[tuple[str, float, float]] = []
        for thread, profile in self.entries:
            if not keep(thread):
                continue
            profile.create_stats()
            if not profile.stats:  # type: ignore[attr-defined]
                continue
            stats = pstats.Stats(profile)
            table = stats.stats  # type: ignore[attr-defined]
            idle = sum(row[2] for key, row in table.items() if any(word in key[2] for word in IDLE))
            total = stats.total_tt  # type: ignore[attr-defined]
            per_thread.append((f"{thread.name} ({type(thread).__name__})", total, total - idle))
            if merged is None:
                merged = stats
            else:
                merged.add(stats)
        per_thread.sort(key=lambda item: -item[2])
        return merged, per_thread


def _is_worker_thread(thread: threading.Thread) -> bool:
    return thread.name in WORKER_THREADS or type(thread).__module__.startswith("dramatiq")


def _hwm_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _report(title: str, stats: pstats.Stats | None, threads: list[tuple[str, float, float]], top: int) -> str:
    if stats is None:
        return f"{title}: nothing profiled\n"
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    out.write(f"# {title}\n\n## Threads: seconds not waiting (on a lock, a sleep, a socket) / profiled\n")
    for name, total, busy in threads:
        out.write(f"  {busy:9.1f} s / {total:9.1f} s  {name}\n")
    out.write(f"\n## Top {top} functions by cumulative time (all code)\n")
    stats.sort_stats("cumulative").print_stats(top)
    out.write(f"\n## Top {top} of the plant's own code by cumulative time\n")
    stats.sort_stats("cumulative").print_stats(OWN_CODE, top)
    out.write(f"\n## Top {top} functions by internal time\n")
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--letters", type=int, default=1000, help="demo letters (default 1000)")
    parser.add_argument("--seed", type=int, default=13, help="seed of plant.demo.generate (default 13)")
    parser.add_argument("--out", type=Path, help="output folder (default /tmp/plant-profile-N)")
    parser.add_argument("--top", type=int, default=40, help="functions per table (default 40)")
    parser.add_argument("--timeout", type=float, default=7200, help="give up after this many seconds")
    args = parser.parse_args(argv)
    out = args.out or Path(f"/tmp/plant-profile-{args.letters}")
    state = out / "state"
    if state.exists():
        shutil.rmtree(state)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.pop("PLANT_REDIS_URL", None)
    os.environ.pop("PLANT_DATABASE_URL", None)

    from plant.config import load_settings
    from plant.demo import DemoBatch, generate

    batch_dir = out / "letters"
    consents = batch_dir / f"consents-{args.seed}-{args.letters}.csv"
    if consents.exists():  # made by an earlier profile of the same size and seed
        batch = DemoBatch(batch_dir / f"batch-{args.seed}-{args.letters}", consents, args.letters, 0)
        print(f"Reusing the {args.letters} letters in {batch.submission}", flush=True)
    else:
        print(f"Generating {args.letters} letters in {batch_dir} …", flush=True)
        batch = generate(batch_dir, args.letters, seed=args.seed)
    settings = load_settings(None, environ={"PLANT_STATE_DIR": str(state)})

    from plant.intake.compose import Templates
    from plant.intake.consent import import_registry
    from plant.intake.submission import intake, read_submission
    from plant.ledger.reads import letter_outcomes
    from plant.ledger.workers import here, mark_stopped, register
    from plant.runtime.broker import start_worker
    from plant.runtime.recovery import recover, watch_peers
    from plant.runtime.relay import Relay
    from plant.runtime.session import Session
    from plant.runtime.worker import connect
    from plant.stages.context import install
    from plant.storage.paths import consent_index_dir

    profiles = ThreadProfiles()
    print("Running (session and worker under cProfile) …", flush=True)
    started = time.monotonic()
    profiles.start()
    # as `plant run` does (plant.cli.run._run), with the worker's parts in this process
    package = read_submission(batch.submission, templates=Templates(settings.intake.template_dirs))
    with Session(settings, workers=0, progress=False) as session:
        worker_settings = dataclasses.replace(settings, redis_url=session.redis_url)
        broker, actors, plant, _, url = connect(worker_settings)
        relay = Relay(plant.ledger, broker, actors, settings.queue, url=url)
        plant.notify = relay.committed
        install(plant)
        with plant.ledger.tx() as conn:
            me = register(conn)
        stop, beating = threading.Event(), threading.Event()
        worker = start_worker(broker, settings.worker_threads, settings.queue_prefetch)
        relay_thread = threading.Thread(target=relay.run, args=(stop,), name="worker-relay", daemon=True)
        relay_thread.start()

        def rederive() -> int:
            steps = recover(plant.ledger)
            relay.wake.set()
            return steps

        beat = threading.Thread(
            target=watch_peers,
            args=(plant.ledger, beating, rederive, f"worker {me} (pid {os.getpid()} on {here().host})"),
            kwargs={"me": me, "declared_dead": stop.set},
            name="worker-registry",
            daemon=True,
        )
        beat.start()
        try:
            with session.plant.ledger.tx() as conn:
                import_registry(conn, batch.consents, index_dir=consent_index_dir(settings))
            submission_id = intake(session.plant.ledger, settings, package).submission_id
            session.relay.wake.set()
            session.wait([submission_id], timeout=args.timeout)
            elapsed = time.monotonic() - started
        finally:
            worker.stop(timeout=30_000)
            beating.set()
            beat.join(timeout=10)
            with plant.ledger.tx() as conn:
                mark_stopped(conn, me)
            stop.set()
            relay.wake.set()
            relay_thread.join(timeout=10)
            broker.close()
            plant.close()
            install(None)
        with session.plant.ledger.read() as conn:
            rows = letter_outcomes(conn, [submission_id])
    profiles.stop()
    peak = _hwm_mib()

    states = Counter(r.state for r in rows)
    pages = sum(r.pages or 0 for r in rows)
    printed = sum(r.pages or 0 for r in rows if r.state == "DISPATCHED")
    summary = (
        f"{len(rows)} letters, {pages} pages submitted, {printed} printed, in {elapsed:.1f} s under cProfile "
        f"({printed / elapsed:.1f} printed pages/s); states {dict(sorted(states.items()))}; peak RSS of the "
        f"profiled process (session and worker together) {peak:.0f} MiB\n"
    )
    (out / "summary.txt").write_text(summary)
    print(summary, end="")
    for name, keep in (
        ("worker", _is_worker_thread),
        ("session", lambda thread: not _is_worker_thread(thread)),
    ):
        stats, threads = profiles.stats(keep)
        text = _report(f"{name}: {args.letters} letters", stats, threads, args.top)
        (out / f"{name}.txt").write_text(text)
        if stats is not None:
            stats.dump_stats(str(out / f"{name}.prof"))
        print(f"{name}: {out / (name + '.txt')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
