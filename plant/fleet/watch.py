"""What the timed sweep sees of the devices: each press's and inserter's own status, recorded as a sighting
(:func:`plant.fleet.service.observe`), so a device stopped too long leaves the plan and one running again rejoins
it. The sweep stage then moves the work of every device out of the plan (:func:`plant.stages.replan.watch_devices`).
"""

from __future__ import annotations

import structlog

from inserters import InserterError, InserterState
from plant.fleet.service import observe, out_of_service, service_rows, set_service
from printers import PrinterError, PrinterState, PrinterStopped

log = structlog.get_logger(__name__)


def sight_printers(plant, at: float) -> list[str]:
    """Look at every press at ``at`` (the sweep's time): record when it stopped, take it out of the plan after
    ``plan.replan_after_s``, put it back when it runs. Returns the names of the presses out of the plan."""
    for printer in plant.settings.printers:
        driver = plant.printers.get(printer.name)
        if driver is None:
            continue
        try:
            status = driver.printer_status()
        except (PrinterError, OSError) as exc:  # unreadable: judge it at the next sweep
            log.warning("printer_status_unreadable", printer=printer.name, error=str(exc))
            continue
        stopped = status.state is PrinterState.STOPPED
        _sighting(
            plant,
            printer.name,
            "printer",
            stopped,
            at,
            str(PrinterStopped(printer.name, status.reasons)) if stopped else "",
        )
    with plant.ledger.read() as conn:
        down = sorted(out_of_service(conn) & {p.name for p in plant.settings.printers})
    return down


def sight_inserters(plant, at: float) -> list[str]:
    """:func:`sight_printers` for the inserters, from their ``machine_status``: one stopped for an operator longer
    than ``plan.replan_after_s`` leaves the plan. Returns the names of the inserters out of the plan."""
    for inserter in plant.settings.inserters:
        driver = plant.inserters.get(inserter.name)
        if driver is None:
            continue
        try:
            status = driver.machine_status()
        except (InserterError, OSError) as exc:  # unreadable: judge it at the next sweep
            log.warning("inserter_status_unreadable", inserter=inserter.name, error=str(exc))
            continue
        _sighting(plant, inserter.name, "inserter", status.state is InserterState.STOPPED, at, status.message)
    with plant.ledger.read() as conn:
        down = sorted(out_of_service(conn) & {i.name for i in plant.settings.inserters})
    return down


def _sighting(plant, name: str, kind: str, stopped: bool, at: float, message: str) -> None:
    """Record what a sweep saw of device ``name`` (one transaction): the start of a stop, its leaving the plan
    after ``plan.replan_after_s``, its return when running. Nothing is written for a device never seen stopped."""
    with plant.ledger.tx() as conn:
        row = service_rows(conn).get(name)
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
