"""Timed sweeps: the rules that fall due with the clock, applied by the running plant on its own.

Some rules of the plant are not set off by any message but by time passing:

- a postage mark on hold longer than ``postage.hand_in_hours`` (72 h) is annulled
  (:func:`plant.postage.marks.expire_marks`);
- a digital letter still unopened at its ``fallback_due_at`` (delivery + ``intake.digital_fallback_days``)
  goes to print (:func:`plant.intake.digital.fall_back_due`), which gives it a piece, re-opens its submission
  and writes the ``plan`` and ``receipts`` messages that carry it through the pipeline like any other print
  letter;
- a handover manifest past its cut-off is closed and its files written atomically
  (:func:`plant.stages.sweep.close_manifests`), so the day's last collection is closed without waiting for a
  dispatch after it;
- with the plant's queue at hand (the ``sweep`` actor), stopped devices and stranded work
  (:mod:`plant.stages.replan`, :mod:`plant.stages.recover`).

How they run, and why this way. Work in the house is a message written to the ledger's outbox and served by an
idempotent dramatiq actor, so a sweep is one too: the ``sweep`` actor (:mod:`plant.stages.sweep`) takes the
sweep's time as its id and applies the rules *as of that time*. The only thing that needs a clock is deciding
that a sweep is due, and that is a small thread, :class:`Sweeper`, beside the outbox relay in every process
that runs one (the session of ``plant run``/``demo``/``resume``/``watch``, and ``plant worker``; the workers a
session spawns leave it to the session, whose clock can be injected). Every ``sweeps.interval_s`` it:

1. reads the last claimed run from the ledger (``sweep_clock``) and asks the pure :func:`sweep_due`;
2. when due, claims the run by compare-and-set of ``last_at`` and writes the ``sweep`` outbox row in the same
   transaction — of several plants sharing a ledger, exactly one sends each sweep.

Safety does not rest on the claim: the rules move each mark, letter or manifest by compare-and-set from
the state they expect and append their event only when the row moved, so a sweep repeated (at-least-once
delivery), run by hand (``plant sweep``) while the plant runs, or run by two plants at once moves each item
once, with one event. A message carries its sweep time, so a redelivered one judges by the same time and
finds its work done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from plant.config import Settings
from plant.ledger import Ledger, enqueue, now
from plant.ledger import schema_sweeps as ts
from plant.stages.sweep import SweepResult, run_sweep

log = structlog.get_logger(__name__)

#: Name of the timed sweep's row in ``sweep_clock`` (one row per kind of sweep).
TIMED = "timed"
#: Longest real time the sweeper sleeps before it looks at the clock again, seconds.
TICK_S = 1.0


# -- the decision --------------------------------------------------------------------------------------------
def sweep_due(at: float, last_at: float | None, interval_s: float) -> bool:
    """Whether a sweep is due at ``at``, given the last claimed run: never run, or an interval has passed
    since.

    A last run more than an interval *ahead* of ``at`` means a clock was set back; the sweep is due then too,
    or the sweeps would stop until the clock caught up.
    """
    return last_at is None or at - last_at >= interval_s or last_at - at > interval_s


def sweep_id(at: float) -> str:
    """The id a sweep's message carries: its time, exactly (``float(sweep_id(at)) == at``)."""
    return repr(float(at))


# -- the claim -----------------------------------------------------------------------------------------------
def last_sweep(conn: Connection) -> float | None:
    """Time of the last claimed sweep, or None before the first."""
    return conn.execute(select(ts.sweep_clock.c.last_at).where(ts.sweep_clock.c.name == TIMED)).scalar()


def record_run(conn: Connection, at: float, interval_s: float = 0.0) -> bool:
    """Claim the sweep at ``at`` when one is due (interval 0: always): compare-and-set of the last run.

    False when none is due, or when another plant claimed the run first (its row changed under us).
    """
    last = last_sweep(conn)
    if not sweep_due(at, last, interval_s):
        return False
    if last is None:
        try:
            with conn.begin_nested():  # two plants' first claims race on the insert: the loser gets False
                conn.execute(insert(ts.sweep_clock).values(name=TIMED, last_at=at, updated_at=now()))
        except IntegrityError:
            return False
        return True
    return (
        conn.execute(
            update(ts.sweep_clock)
            .where(ts.sweep_clock.c.name == TIMED, ts.sweep_clock.c.last_at == last)
            .values(last_at=at, updated_at=now())
        ).rowcount
        == 1
    )


def claim(conn: Connection, at: float, interval_s: float) -> bool:
    """Claim the sweep at ``at`` when due and write its ``sweep`` outbox row in the caller's transaction."""
    if not record_run(conn, at, interval_s):
        return False
    enqueue(conn, "sweep", sweep_id(at))
    return True


class Sweeper:
    """The clock thread of a running plant: every tick, claims a sweep when one is due.

    ``clock`` is the time the rules judge by (tests inject one); ``notify`` wakes the in-process relay so the
    claimed sweep's message is published at once.
    """

    def __init__(
        self,
        ledger: Ledger,
        interval_s: float,
        clock: Callable[[], float] = now,
        notify: Callable[[], None] = lambda: None,
    ) -> None:
        self.ledger = ledger
        self.interval_s = interval_s
        self.clock = clock
        self.notify = notify

    def tick(self) -> bool:
        """Claim and send a sweep if one is due now; True when this process claimed it."""
        at = self.clock()
        with self.ledger.read() as conn:  # most ticks find nothing due: decide before taking the write lock
            if not sweep_due(at, last_sweep(conn), self.interval_s):
                return False
        with self.ledger.tx() as conn:
            claimed = claim(conn, at, self.interval_s)
        if claimed:
            log.debug("sweep_claimed", at=_iso(at))
            self.notify()
        return claimed

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # a locked or unreachable ledger: the next tick tries again
                log.exception("sweep_tick_failed")
            stop.wait(min(self.interval_s, TICK_S))


def sweep_now(ledger: Ledger, settings: Settings, at: float | None = None) -> SweepResult:
    """Run one sweep in this process as of ``at`` (default now), recorded as the last sweep run
    (``plant sweep``)."""
    at = now() if at is None else at
    with ledger.tx() as conn:
        record_run(conn, at)
    return run_sweep(ledger, settings, at)


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")
