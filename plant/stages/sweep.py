"""Actor ``sweep(sweep_id)``: apply the timed rules (postage-mark expiry, digital fallback, presses and
inserters stopped longer than ``plan.replan_after_s``, and the recovery of stranded work with the dead-letter
alert, :mod:`plant.stages.recover`) as of the sweep's time.

A running plant's :class:`plant.runtime.sweeps.Sweeper` claims a sweep every ``sweeps.interval_s`` and writes
this message; the id is the sweep's time, so a redelivered message judges by the same time and finds its work
done (both rules move by compare-and-set). Letters sent to print leave ``plan`` and ``receipts`` messages in
the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from plant.config import Settings
from plant.intake.digital import fall_back_due
from plant.ledger import Ledger
from plant.postage.marks import expire_marks
from plant.stages.context import current
from plant.stages.recover import queue_view, run_recovery
from plant.stages.replan import watch_devices

log = structlog.get_logger(__name__)


def sweep(sweep_id: str) -> None:
    """Apply the timed rules as of ``float(sweep_id)``; wake the relay when letters went to print."""
    plant = current()
    result = run_sweep(plant.ledger, plant.settings, float(sweep_id))
    if result.to_print:
        plant.notify()
    watch_devices(plant, float(sweep_id))  # a device stopped too long: its work not yet on it goes elsewhere
    recovered = run_recovery(plant.ledger, plant.settings, float(sweep_id), queue_view())
    if recovered.rederived or recovered.ended:  # stranded work re-derived or ended: its messages to the relay
        plant.notify()


# -- the rules -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepResult:
    """What one sweep did: the pieces whose marks it annulled and the digital letters (pks) it sent to
    print."""

    at: float
    annulled: tuple[str, ...] = ()
    to_print: tuple[int, ...] = ()


def run_sweep(ledger: Ledger, settings: Settings, at: float) -> SweepResult:
    """Apply both timed rules as of ``at`` and log the counts; safe to repeat and to run concurrently."""
    with ledger.tx() as conn:
        annulled = expire_marks(conn, settings, at=at)
    to_print = fall_back_due(ledger, settings, at=at)
    log.info("swept", at=_iso(at), annulled=len(annulled), to_print=len(to_print))
    return SweepResult(at, tuple(annulled), tuple(to_print))


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")
