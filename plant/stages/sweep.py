"""Actor ``sweep(sweep_id)``: apply the timed rules (postage-mark expiry, digital fallback, presses and inserters
stopped longer than ``plan.replan_after_s``) as of the sweep's time.

A running plant's :class:`plant.sweeps.Sweeper` claims a sweep every ``sweeps.interval_s`` and writes this message;
the id is the sweep's time, so a redelivered message judges by the same time and finds its work done (both rules
move by compare-and-set). Letters sent to print leave ``plan`` and ``receipts`` messages in the outbox.
"""

from __future__ import annotations

from plant.runtime import current
from plant.stages.replan import watch_devices
from plant.sweeps import run_sweep


def sweep(sweep_id: str) -> None:
    """Apply the timed rules as of ``float(sweep_id)``; wake the relay when letters went to print."""
    plant = current()
    result = run_sweep(plant.ledger, plant.settings, float(sweep_id))
    if result.to_print:
        plant.notify()
    watch_devices(plant, float(sweep_id))  # a device stopped too long: its work not yet on it goes elsewhere
