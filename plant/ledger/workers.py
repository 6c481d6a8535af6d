"""The worker registry (table ``workers``, :mod:`plant.ledger.schema_workers`): which ``plant worker``
processes run, and which died holding messages.

Every worker registers when it starts (:func:`register`), beats about every :data:`BEAT_S` seconds
(:func:`beat`) and marks itself stopped on a clean exit (:func:`mark_stopped`). Every running plant process
(session and workers) looks for dead peers on its own beat (:func:`claim_dead`): a worker not stopped is
dead when

- it ran on this machine (same host, boot and pid namespace) and its process is gone (the pid no longer
  lives, is a zombie, or is another process now: the kernel's start time of the pid differs) — the pid
  decides there, a worker alive but slow to beat (a locked ledger, a full disk) is alive;
- it ran on this host before a reboot (another boot id);
- it ran elsewhere and has not beaten for :data:`DEAD_AFTER_BEATS` beats (wall clocks of the machines
  are assumed to agree within a few seconds).

A dead worker is claimed by compare-and-set (``dead_at``, ``handled_by``, and only while its ``beat_at`` is
the one seen), so of several processes that see it one acts: it logs ``worker_dead`` and derives the
unfinished work again (:func:`plant.runtime.recovery.recover`) — what the dead worker held comes back at
once, not after the queue's heartbeat timeout.

The spool stage asks :func:`owner_gone` whether the worker of an open submission attempt is gone for sure
(claimed dead, or a process of this machine that no longer lives); when unsure it waits.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Connection, insert, select, update

from plant.ledger.schema_workers import workers
from plant.ledger.store import now

log = structlog.get_logger(__name__)

#: Seconds between two beats of a running plant process (and its look for dead peers).
BEAT_S = 1.0
#: Beats a worker on another machine may miss before it counts as dead.
DEAD_AFTER_BEATS = 10

_current: str | None = None


@dataclass(frozen=True)
class Machine:
    """Where a process runs: its host name, the kernel's boot id and its pid namespace."""

    host: str
    boot_id: str
    pid_ns: str


@cache
def here() -> Machine:
    """This process's machine."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    try:
        pid_ns = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        pid_ns = ""
    return Machine(socket.gethostname(), boot, pid_ns)


def proc_start(pid: int) -> str | None:
    """The kernel's start time (clock ticks since boot) of the live process ``pid``; None when there is no
    such process or it is a zombie (dead, not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 20 or fields[0] in ("Z", "X", "x"):
        return None
    return fields[19]


def current() -> str | None:
    """The registered id of the worker this process is (None in a process that is no worker)."""
    return _current


def register(conn: Connection, pid: int | None = None) -> str:
    """Register a worker process (this one by default) and return its new id; the id of this process's
    worker is :func:`current` after."""
    global _current
    pid = os.getpid() if pid is None else pid
    machine, stamp = here(), now()
    worker_id = uuid.uuid4().hex
    conn.execute(
        insert(workers).values(
            worker_id=worker_id,
            host=machine.host,
            boot_id=machine.boot_id,
            pid_ns=machine.pid_ns,
            pid=pid,
            proc_start=proc_start(pid),
            started_at=stamp,
            beat_at=stamp,
        )
    )
    if pid == os.getpid():
        _current = worker_id
    return worker_id


def beat(conn: Connection, worker_id: str) -> bool:
    """Record that the worker is alive; False when its row says it stopped or was claimed dead."""
    result = conn.execute(
        update(workers)
        .where(workers.c.worker_id == worker_id, workers.c.stopped_at.is_(None), workers.c.dead_at.is_(None))
        .values(beat_at=now())
    )
    return result.rowcount == 1


def mark_stopped(conn: Connection, worker_id: str) -> None:
    """The worker exits cleanly: never to be taken for dead."""
    conn.execute(
        update(workers)
        .where(workers.c.worker_id == worker_id, workers.c.stopped_at.is_(None))
        .values(stopped_at=now())
    )


def _gone(row: Any, at: float, machine: Machine) -> bool:
    if row.host == machine.host and row.boot_id == machine.boot_id and row.pid_ns == machine.pid_ns:
        start = proc_start(row.pid)
        return start is None or (row.proc_start is not None and start != row.proc_start)
    if row.host == machine.host and machine.boot_id and row.boot_id != machine.boot_id:
        return True  # this host booted since
    return at - row.beat_at > DEAD_AFTER_BEATS * BEAT_S


def claim_dead(conn: Connection, by: str) -> list[dict[str, Any]]:
    """Find the workers that died without stopping and claim each one not claimed yet for ``by`` (the caller
    then derives the unfinished work again); return those this call claimed."""
    at, machine = now(), here()
    open_rows = conn.execute(
        select(workers).where(workers.c.stopped_at.is_(None), workers.c.dead_at.is_(None))
    ).all()
    claimed = []
    for row in open_rows:
        if row.worker_id == _current or not _gone(row, at, machine):
            continue
        won = conn.execute(
            update(workers)
            .where(
                workers.c.worker_id == row.worker_id,
                workers.c.stopped_at.is_(None),
                workers.c.dead_at.is_(None),
                workers.c.beat_at == row.beat_at,
            )
            .values(dead_at=at, handled_by=by[:300])
        )
        if won.rowcount == 1:
            claimed.append(
                {"worker": row.worker_id, "host": row.host, "pid": row.pid, "last_beat_at": row.beat_at}
            )
    return claimed


def owner_gone(conn: Connection, worker_id: str | None) -> bool:
    """Whether the worker ``worker_id`` (of a submission attempt) is gone for sure: claimed dead, or a
    process of this machine that no longer lives (or this host rebooted since). False when unsure (no id,
    not registered, alive, stopped on another machine, silent but not yet claimed)."""
    if not worker_id:
        return False
    row = conn.execute(select(workers).where(workers.c.worker_id == worker_id)).first()
    if row is None:
        return False
    if row.dead_at is not None:
        return True
    machine = here()
    if row.host != machine.host:
        return False
    return _gone(row, now(), machine) and (row.boot_id != machine.boot_id or row.pid_ns == machine.pid_ns)
