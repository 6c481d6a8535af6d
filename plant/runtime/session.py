"""A plant session on one machine: what ``plant run``, ``plant resume`` and ``plant demo`` start and stop.

It starts (or joins) the embedded Redis, opens the ledger, runs the outbox relay, the sweeper and the
simulated devices in this process, supervises worker processes (a worker that dies is restarted: its
un-finished work is derived again from the ledger) and Redis, shows progress per stage, and on exit stops
everything it started, in reverse order. The sweeper (:class:`plant.sweeps.Sweeper`) claims the timed
sweeps — postage-mark expiry, digital fallback — every ``sweeps.interval_s`` by the session's clock; the
workers it spawns leave that to it.

A wait ends as soon as every letter is final (and its receipts are written). It never waits blind: when no
letter has moved for ``stall_s`` seconds and some wait on an operator — HELD (by an operator, or by the plant
after a job could not be imposed), in a job failing to impose, or (once the plant's own re-planning had its
time) in a job on a stopped printer — it raises :class:`~plant.errors.Stalled` naming them and the cause.

Redis is watched while a wait runs. The embedded server, when its process is gone (or it has not answered for
:data:`REDIS_SILENT_S`), is started again from its AOF on the same socket (``redis_restarted``), at most
:data:`MAX_REDIS_RESTARTS` times; the workers' brokers reconnect by themselves. An external Redis
(``PLANT_REDIS_URL``) that stops answering is waited for, said on the terminal and in the log
(``redis_unreachable``), and the run carries on when it is back (``redis_back``). Meanwhile the session's
relay is paused: its rows stay in the outbox until Redis is there.

The disks of the state dir's folders are watched too: one with less than ``disk_floor`` bytes free is said
once on the terminal and in the log (``disk_full``: "disk full at PATH: N MB needed; …") while it lasts, and
``disk_room`` when there is room again (the stages that found no room try again by themselves). A worker's
warnings that its log file (on that disk) cannot take reach the session's terminal through an inherited
descriptor (:data:`plant.logs.ALERT_FD`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from tqdm import tqdm

from plant.config import Settings
from plant.errors import DiskFull, ServiceError, Stalled
from plant.fleet.devices import DeviceHost
from plant.ledger import enqueue, now
from plant.ledger import schema as t
from plant.ledger.workers import here
from plant.logs import ALERT_FD
from plant.model import FINAL_STATES, JobState, State
from plant.postage.marks import signing_key
from plant.runtime.broker import (
    MAX_REDIS_RESTARTS,
    REDERIVE_AGAIN_S,
    REDIS_REMIND_S,
    REDIS_SILENT_S,
    EmbeddedRedis,
    RedisWatch,
    declare_actors,
    make_broker,
)
from plant.runtime.recovery import recover, watch_peers
from plant.runtime.relay import Relay
from plant.runtime.sweeps import Sweeper
from plant.stages import HANDLERS
from plant.stages.context import Plant
from plant.storage.files import FREE_FLOOR_BYTES, room_short

log = structlog.get_logger(__name__)

#: Seconds between progress refreshes.
PROGRESS_INTERVAL_S = 0.25
#: Times a dead worker is restarted before the session gives up.
MAX_WORKER_RESTARTS = 5
__all__ = ["MAX_REDIS_RESTARTS", "REDIS_REMIND_S", "REDIS_SILENT_S", "Session"]  # Redis limits: broker.py
#: Seconds without a letter moving after which a wait reports the letters and jobs waiting on an operator.
STALL_S = 30.0
#: Seconds every letter may be final before a wait asks for the receipts again (the last receipts message
#: should have come already; this only covers one lost).
RECEIPTS_GRACE_S = 5.0
#: Quiet periods, in heartbeat timeouts (``[queue] heartbeat_timeout_s``), after which a waiting session
#: derives every unfinished thing's next step again from the ledger: a message lost with a dead worker or a
#: dead Redis (in flight, not yet in the AOF) must not hang the run; the actors are idempotent, so one more
#: message is harmless.
QUIET_HEARTBEATS = 2
#: Most letters a stall message names per cause.
NAMED_LETTERS = 10
#: Job states in which a job holds letters on a press (a stopped printer keeps them there).
_ON_PRESS = (JobState.IMPOSED.value, JobState.SPOOLING.value, JobState.SPOOLED.value)

#: Progress bars: label → states that count as past that stage.
_STAGES = (
    ("checked", None),
    ("routed", None),
    ("printed", {State.PRINTED, State.INSERTED, State.DISPATCHED}),
    ("inserted", {State.INSERTED, State.DISPATCHED}),
    ("final", FINAL_STATES),
)


class Session:
    """Context manager running the plant's services for a batch on one machine.

    ``clock`` is the time the timed sweeps judge by (the wall clock; tests inject their own).
    """

    def __init__(
        self,
        settings: Settings,
        config_path: Path | None = None,
        workers: int = 1,
        progress: bool = True,
        clock: Callable[[], float] = now,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.config_path = config_path
        self.worker_count = workers
        self.progress = progress
        self.embedded: EmbeddedRedis | None = None
        self.redis_url = settings.redis_url  # the embedded server's, once started
        self.workers: list[subprocess.Popen] = []
        self.restarts = 0
        self.stop = threading.Event()
        #: Set while Redis is away: the session's relay does not publish.
        self.relay_pause = threading.Event()
        self._redis_watch: RedisWatch | None = None  # made by _watch_redis for the session's Redis
        self._rederive_again_at: float | None = None  # monotonic: a second re-derive after a Redis restart
        #: Free bytes below which a disk of the state dir counts as full (said on the terminal).
        self.disk_floor = FREE_FLOOR_BYTES
        self._disk_full: dict[int, DiskFull] = {}  # device → what was said, while that disk is full
        self._alert_fd: int | None = None  # the session's stderr, for workers whose log is on a full disk

    # -- start and stop --------------------------------------------------------------------------------------
    def __enter__(self) -> Session:
        settings = self.settings
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.redis_url = settings.redis_url
        if not self.redis_url:
            self.embedded = EmbeddedRedis(settings.redis_dir)
            self.redis_url = self.embedded.start()
        try:
            self.broker = make_broker(self.redis_url, settings.queue)
            self.actors = declare_actors(self.broker, HANDLERS, settings.queue)
            self.plant = Plant.open(settings)
            signing_key(settings)  # made once here, before any worker signs a postage mark with it
            self.relay = Relay(self.plant.ledger, self.broker, self.actors, settings.queue)
            self.plant.notify = self.relay.wake.set
            self.relay_thread = threading.Thread(
                target=self.relay.run,
                args=(self.stop,),
                kwargs={"pause": self.relay_pause},
                name="relay",
                daemon=True,
            )
            self.relay_thread.start()
            self.sweeper = Sweeper(
                self.plant.ledger, settings.sweeps.interval_s, self.clock, self.relay.wake.set
            )
            self.sweeper_thread = threading.Thread(
                target=self.sweeper.run, args=(self.stop,), name="sweeper", daemon=True
            )
            self.sweeper_thread.start()
            # dead workers (ours or a joined `plant worker`): one process of the plant re-derives their work
            self.peers_thread = threading.Thread(
                target=watch_peers,
                args=(
                    self.plant.ledger,
                    self.stop,
                    self.resume,
                    f"session (pid {os.getpid()} on {here().host})",
                ),
                name="registry",
                daemon=True,
            )
            self.peers_thread.start()
            self.devices = DeviceHost(settings).start()
            for _ in range(self.worker_count):
                self.workers.append(self._spawn_worker())
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.workers:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.workers.clear()
        self.stop.set()
        if getattr(self, "sweeper_thread", None):
            self.sweeper_thread.join(timeout=10)
        if getattr(self, "peers_thread", None):
            self.peers_thread.join(timeout=10)
        if getattr(self, "relay", None):
            self.relay.wake.set()
            self.relay_thread.join(timeout=10)
        if getattr(self, "devices", None):
            self.devices.stop()
        if getattr(self, "broker", None):
            self.broker.close()
        if self._redis_watch is not None:
            self._redis_watch.close()
        if getattr(self, "plant", None):
            self.plant.close()
        if self.embedded is not None:
            self.embedded.stop()
        if self._alert_fd is not None:
            os.close(self._alert_fd)
            self._alert_fd = None

    def _spawn_worker(self) -> subprocess.Popen[bytes]:
        """A ``plant worker`` child on the session's Redis and ledger, which dies with the session (a session
        killed with -9 leaves no worker behind to serve a queue no one watches)."""
        if not self.redis_url:  # pragma: no cover - programmer error
            raise RuntimeError("a session starts its workers inside `with Session(...)`, after its Redis")
        env = dict(
            os.environ,
            PLANT_STATE_DIR=str(self.settings.state_dir.resolve()),
            PLANT_REDIS_URL=self.redis_url,
            PLANT_DATABASE_URL=self.plant.ledger.url,
            # the worker stops when this process dies (plant.runtime.worker.die_with_session)
            PLANT_SESSION_PID=str(os.getpid()),
        )
        if self._alert_fd is None:
            self._alert_fd = os.dup(2)
        env[ALERT_FD] = str(self._alert_fd)  # a warning the worker's log cannot take (a full disk) comes here
        command = [sys.executable, "-m", "plant"]
        if self.config_path:
            command += ["--config", str(self.config_path)]
        command += [
            "worker",
            "--no-sweeps",
        ]  # the session's sweeper, on the session's clock, claims the sweeps
        logs = self.settings.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / "worker.log", "ab") as log_file:  # JSON lines; the terminal keeps the progress bars
            return subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                pass_fds=(self._alert_fd,),
            )

    # -- work ------------------------------------------------------------------------------------------------
    def resume(self) -> int:
        """Derive and queue the next step of every unfinished thing in the ledger."""
        count = recover(self.plant.ledger)
        self.relay.wake.set()
        return count

    def wait(self, submissions: list[str], timeout: float | None = None, stall_s: float = STALL_S) -> None:
        """Wait until every letter of ``submissions`` is final and its receipts are written; show progress.

        Raises :class:`Stalled` when no letter has moved for ``stall_s`` seconds and letters or jobs wait on
        an operator (the message names them and the cause), :class:`ServiceError` after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        bars = self._bars(submissions)
        last_move: tuple[object, ...] | None = None
        moved_at = rederived_at = time.monotonic()
        asked_receipts = False
        quiet_s = QUIET_HEARTBEATS * self.settings.queue.heartbeat_timeout_s
        try:
            while True:
                try:
                    self._supervise()
                    counts, done = self._counts(submissions)
                except DBAPIError:  # the ledger on a full disk: said once (_watch_disks); wait for room
                    if not self._short_of_room() or (deadline is not None and time.monotonic() > deadline):
                        raise
                    time.sleep(PROGRESS_INTERVAL_S)
                    continue
                self._show(bars, counts)
                if done:
                    return
                move = self._last_move(submissions)
                if move != last_move:
                    last_move, moved_at = move, time.monotonic()
                still = time.monotonic() - moved_at
                if still > quiet_s and time.monotonic() - rederived_at > quiet_s:
                    rederived_at = time.monotonic()
                    log.info("quiet_rederive", quiet_s=round(still), steps=self.resume())
                final, total = counts["final"]
                if total and final == total and still > RECEIPTS_GRACE_S and not asked_receipts:
                    self._ask_receipts(submissions)
                    asked_receipts = True
                if still > stall_s:
                    causes = self._waiting_on_operator(submissions, still)
                    if causes:
                        raise Stalled(
                            f"Submission(s) {', '.join(submissions)} stalled: no letter has moved for "
                            f"{still:.0f} s, and these wait on an operator:\n  - "
                            + "\n  - ".join(causes)
                            + "\nFix the cause, then release or cancel the letters (`plant release|cancel "
                            "<tracking id>`; `plant status <id>` shows each one's history) and run "
                            "`plant resume`.",
                            submissions=submissions,
                            causes=causes,
                        )
                if deadline is not None and time.monotonic() > deadline:
                    raise ServiceError(
                        f"Submissions {', '.join(submissions)} did not finish within {timeout:.0f} s "
                        f"({self._standing(submissions)}); check `plant status` and the devices, then run "
                        "`plant resume`.",
                        submissions=submissions,
                    )
                time.sleep(PROGRESS_INTERVAL_S)
        finally:
            for bar in bars.values():
                bar.close()

    def _last_move(self, submissions: list[str]) -> tuple[object, ...]:
        """When a letter of ``submissions`` last moved, and how many are final (a change is a move)."""
        letters = t.letters.c
        with self.plant.ledger.read() as conn:
            row = conn.execute(
                select(func.max(letters.updated_at), func.count(letters.final_at)).where(
                    letters.submission_id.in_(submissions)
                )
            ).one()
        return tuple(row)

    def _ask_receipts(self, submissions: list[str]) -> None:
        with self.plant.ledger.tx() as conn:
            for submission in submissions:
                enqueue(conn, "receipts", submission)
        self.relay.wake.set()

    def _standing(self, submissions: list[str]) -> str:
        """Where the letters not final stand: ``"3 PLANNED, 1 HELD"``."""
        letters = t.letters.c
        with self.plant.ledger.read() as conn:
            rows = conn.execute(
                select(letters.state, func.count())
                .where(
                    letters.submission_id.in_(submissions),
                    letters.state.not_in([s.value for s in FINAL_STATES]),
                )
                .group_by(letters.state)
                .order_by(letters.state)
            ).all()
        return ", ".join(f"{count} {state}" for state, count in rows) or "every letter final"

    def _waiting_on_operator(self, submissions: list[str], still: float) -> list[str]:
        """One line per cause that keeps letters of ``submissions`` waiting on an operator: held letters (by
        code and reason), jobs failing to impose, and — once the plant's own re-planning of a stopped press
        had its time (``[plan] replan_after_s`` and a sweep) — jobs on a stopped printer."""
        letters, pieces, jobs, events = t.letters.c, t.pieces.c, t.print_jobs.c, t.events.c
        causes: list[str] = []
        with self.plant.ledger.read() as conn:
            held: dict[tuple[str | None, str | None], list[str]] = {}
            for letter_id, tracking_id, code, reason in conn.execute(
                select(letters.letter_id, pieces.tracking_id, letters.reason_code, letters.reason)
                .select_from(t.letters.outerjoin(t.pieces, pieces.letter_pk == letters.pk))
                .where(letters.submission_id.in_(submissions), letters.state == State.HELD.value)
                .order_by(letters.pk)
            ):
                held.setdefault((code, reason), []).append(tracking_id or letter_id)
            for (code, reason), ids in held.items():
                causes.append(f"{len(ids)} letter(s) HELD [{code or 'HELD'}] ({_some(ids)}): {reason or ''}")
            failing = conn.execute(
                select(jobs.job_id, jobs.printer, events.data)
                .select_from(t.print_jobs.join(t.events, events.entity_id == jobs.job_id))
                .where(
                    jobs.submission_id.in_(submissions),
                    jobs.state == JobState.PLANNED.value,
                    events.entity == "job",
                    events.event == "impose_error",
                )
                .order_by(events.id)
            ).all()
            last_error = {job_id: (printer, data or {}) for job_id, printer, data in failing}
            for job_id, (printer, data) in last_error.items():
                causes.append(
                    f"job {job_id} on {printer} fails to impose (attempt {data.get('attempt')} of "
                    f"{data.get('of')}): {data.get('cause')} [{data.get('code')}]"
                )
            settings = self.settings
            if still > settings.plan.replan_after_s + settings.sweeps.interval_s:
                for job_id, printer in conn.execute(
                    select(jobs.job_id, jobs.printer).where(
                        jobs.submission_id.in_(submissions),
                        jobs.state.in_(_ON_PRESS),
                        jobs.device_state == "STOPPED",
                    )
                ):
                    causes.append(
                        f"job {job_id} waits on printer {printer}, which is stopped; fix the printer or "
                        f"take it out of the plan (`plant device down {printer}`)"
                    )
        return causes

    def _say(self, text: str) -> None:
        """``text`` on the terminal, above the progress bars (the log has it too)."""
        if self.progress:
            tqdm.write(text, file=sys.stderr)

    @property
    def _redis_lost(self) -> tuple[float, float] | None:
        """(wall clock, monotonic) since the session's Redis is away or silent; None while it answers."""
        return None if self._redis_watch is None else self._redis_watch.lost

    def _watch_redis(self) -> None:
        """Restart a dead embedded redis-server (or join it when another process of the plant restarted it
        first); wait, saying so, for an external Redis that went away (:class:`RedisWatch`). The relay is
        paused meanwhile; whoever restarted it, or saw it come back, derives the unfinished work again."""
        if self.embedded is not None and self._disk_full:
            return  # its AOF is on a full disk: restarted (when it died of that) once there is room
        watch = self._redis_watch
        if watch is None or watch.embedded is not self.embedded:
            watch = RedisWatch(self.redis_url or "", self.embedded, pause=self.relay_pause)
            self._redis_watch = watch
        news = watch.check()
        if news is None:
            return
        if not self.relay_pause.is_set():
            self.relay.wake.set()
        self._say(news.text)
        if news.rederive:
            self.resume()  # whatever a restarted (or forgetful) Redis lost is derived again
            self._rederive_again_at = time.monotonic() + REDERIVE_AGAIN_S

    def _rederive_again(self) -> None:
        """Derive the unfinished work once more :data:`REDERIVE_AGAIN_S` after a Redis restart (or return):
        a worker's consumer that meets the broken connection drops the delayed messages it holds (polls,
        back-offs) and reconnects only after dramatiq's restart delay — what it fetched from the first
        re-derive in between can be lost with them."""
        due = self._rederive_again_at
        if due is None or time.monotonic() < due or self._redis_lost is not None:
            return
        self._rederive_again_at = None
        log.info("redis_rederive_again", steps=self.resume())

    def _watch_disks(self) -> None:
        """Say once while it lasts that a disk of the state dir is full, and when there is room again."""
        settings = self.settings
        folders = (settings.state_dir, settings.blobs_dir, settings.spool_dir, settings.receipts_dir)
        seen: set[int] = set()
        for folder in (*folders, settings.manifests_dir, settings.redis_dir, settings.state_dir / "logs"):
            try:
                device = folder.stat().st_dev
            except OSError:
                continue
            if device in seen:
                continue
            seen.add(device)
            short = room_short(folder, self.disk_floor)
            said = self._disk_full.get(device)
            if short is not None and said is None:
                self._disk_full[device] = short
                log.warning("disk_full", path=short.path, needed_bytes=short.needed_bytes, detail=str(short))
                self._say(str(short))
            elif short is None and said is not None:
                del self._disk_full[device]
                log.warning("disk_room", path=said.path)
                self._say(f"There is room again at {said.path}; carrying on.")
                self.resume()  # whatever gave up for want of room is derived again

    def _short_of_room(self) -> bool:
        """Whether a disk of the state dir is full now (said on the terminal once while it lasts)."""
        self._watch_disks()
        return bool(self._disk_full)

    def _supervise(self) -> None:
        self._watch_disks()  # first: a Redis that died for want of room waits for room
        self._watch_redis()
        self._rederive_again()
        for index, proc in enumerate(self.workers):
            code = proc.poll()
            if code is None:
                continue
            if self.restarts >= MAX_WORKER_RESTARTS:
                raise ServiceError(
                    f"The worker died {self.restarts + 1} times (last exit code {code}); read its "
                    "log above, fix the cause, then run `plant resume`.",
                    exit_code_seen=code,
                )
            self.restarts += 1
            log.warning("worker_died", exit_code=code, restart=self.restarts)
            self.workers[index] = self._spawn_worker()
            self.resume()

    def _counts(self, submissions: list[str]) -> tuple[dict[str, tuple[int, int]], bool]:
        letters = t.letters.c
        with self.plant.ledger.read() as conn:
            rows = conn.execute(
                select(letters.state, letters.channel, func.count(), func.count(letters.preflight_ok))
                .where(letters.submission_id.in_(submissions))
                .group_by(letters.state, letters.channel)
            ).all()
            unfinished = conn.execute(
                select(func.count())
                .select_from(t.submissions)
                .where(t.submissions.c.submission_id.in_(submissions), t.submissions.c.finished_at.is_(None))
            ).scalar()
        total = sum(r[2] for r in rows)
        by_state: Counter[str] = Counter()
        printing = 0
        checked = 0
        for state, channel, count, preflighted in rows:
            by_state[State(state)] += count
            printing += count if channel == "print" else 0
            checked += count if state != State.RECEIVED.value else preflighted
        counts = {
            "checked": (checked, total),
            "routed": (total - by_state[State.RECEIVED], total),
            "printed": (sum(by_state[s] for s in _STAGES[2][1]), printing),
            "inserted": (sum(by_state[s] for s in _STAGES[3][1]), printing),
            "final": (sum(by_state[s] for s in FINAL_STATES), total),
        }
        return counts, unfinished == 0 and total > 0

    def _bars(self, submissions: list[str]) -> dict[str, tqdm]:
        return {
            label: tqdm(
                desc=f"{label:>9}", unit="letter", disable=not self.progress or None, leave=True, position=i
            )
            for i, (label, _) in enumerate(_STAGES)
        }

    @staticmethod
    def _show(bars: dict[str, tqdm], counts: dict[str, tuple[int, int]]) -> None:
        for label, (value, total) in counts.items():
            bar = bars[label]
            if bar.total != total:
                bar.total = total
            bar.n = value
            bar.refresh()


def _some(ids: list[str]) -> str:
    """The first :data:`NAMED_LETTERS` of ``ids``, and how many more."""
    more = len(ids) - NAMED_LETTERS
    return ", ".join(ids[:NAMED_LETTERS]) + (f" and {more} more" if more > 0 else "")
