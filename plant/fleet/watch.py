"""What the timed sweep sees of the devices: each press's and inserter's own status, recorded as a sighting
(:func:`plant.fleet.service.observe`), so a device stopped too long leaves the plan and one running again
rejoins it. The sweep stage then moves the work of every device out of the plan
(:func:`plant.stages.replan.watch_devices`).
"""

from __future__ import annotations

from typing import Any

import structlog

from plant.fleet.kinds import DeviceKind
from plant.fleet.service import observe, out_of_service, service_rows, set_service

log = structlog.get_logger(__name__)


def sight(plant: Any, kind: DeviceKind, at: float) -> list[str]:
    """Look at every device of ``kind`` at ``at`` (the sweep's time), from its own status (a press's
    ``printer_status``, an inserter's ``machine_status``): record when it stopped, take it out of the plan
    after ``plan.replan_after_s``, put it back when it runs. Returns the names of the devices of ``kind`` out
    of the plan."""
    drivers = kind.drivers(plant)
    for device in kind.configured(plant.settings):
        driver = drivers.get(device.name)
        if driver is None:
            continue
        try:
            stopped, message = kind.report(device.name, driver)
        except kind.status_errors as exc:  # unreadable: judge it at the next sweep
            log.warning(f"{kind.name}_status_unreadable", **{kind.name: device.name}, error=str(exc))
            continue
        _sighting(plant, device.name, kind.name, stopped, at, message)
    with plant.ledger.read() as conn:
        down = sorted(out_of_service(conn) & kind.names(plant.settings))
    return down


def _sighting(plant: Any, name: str, kind: str, stopped: bool, at: float, message: str) -> None:
    """Record what a sweep saw of device ``name`` (one transaction): the start of a stop, its leaving the plan
    after ``plan.replan_after_s``, its return when running. Nothing is written for a device never seen
    stopped."""
    with plant.ledger.tx() as conn:
        row: Any = service_rows(conn).get(name)
        seen = observe(
            stopped,
            row.stopped_since if row else None,
            bool(row and row.stopped_down),
            at,
            plant.settings.plan.replan_after_s,
        )
        if row is None and not stopped:
            return
        if row is not None and (row.stopped_since, bool(row.stopped_down)) == (
            seen.stopped_since,
            seen.stopped_down,
        ):
            return
        if seen.stopped_since is not None and (row is None or row.stopped_since is None):
            log.warning(
                "device_stopped",
                device=name,
                kind=kind,
                message=message,
                leaves_plan_after_s=plant.settings.plan.replan_after_s,
            )
        set_service(conn, name, kind, observation=seen)
