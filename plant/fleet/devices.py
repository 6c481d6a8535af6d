"""The fleet: drivers for the stages, and the host that runs the simulated devices.

Stages talk to every printer through its driver (hot folder, a CUPS queue or an IPP printer) and to every
inserter through its folder protocol, so they work the same whether the device is a simulated one in a thread
of the plant's process, a simulated one in another process, a real RIP, a CUPS queue or an IPP printer. Every
inserter line has a cutter/stacker in front of it for N-up work (:func:`make_cutter`). :class:`DeviceHost`
runs the simulated devices of the configuration.

Given the plant id (as :meth:`plant.stages.context.Plant.open` gives it), the drivers name every job, run and
cut ``<plant id>-<ledger id>`` on the device (:mod:`plant.fleet.naming`), so two ledgers sharing a device
never take each other's work for their own.
"""

from __future__ import annotations

import threading
from typing import Any

import structlog

from inserters import CutFaults, Inserter, SimulatedCutter, SimulatedInserter
from plant.config import InserterConfig, InserterDriver, PrinterDriver, Settings
from plant.fleet.naming import NamedCutter, named_inserter, named_printer
from plant.storage.files import is_disk_full
from printers import HotFolderPrinter, Printer, make_printer
from printers.drivers.simulated import SimulatedPress

log = structlog.get_logger(__name__)

#: Seconds a device that found its disk full waits before it goes on.
DEVICE_DISK_RETRY_S = 1.0


def make_printer_drivers(settings: Settings, plant_id: str | None = None) -> dict[str, Printer]:
    """One driver per configured printer (simulated presses are driven through their hot folder); with
    ``plant_id``, each names its jobs ``<plant id>-<job id>`` on the device."""
    drivers: dict[str, Printer] = {}
    for printer in settings.printers:
        if printer.driver in (PrinterDriver.SIMULATED, PrinterDriver.HOTFOLDER):
            folder = settings.printer_folder(printer)
            if printer.abandoned_claim_s is None:  # the driver's own default
                drivers[printer.name] = HotFolderPrinter(printer.name, folder)
            else:
                drivers[printer.name] = HotFolderPrinter(
                    printer.name, folder, abandoned_claim_s=printer.abandoned_claim_s
                )
        elif printer.driver is PrinterDriver.CUPS:
            drivers[printer.name] = make_printer(
                "cups", printer.name, server=printer.server, queue=printer.queue
            )
        elif printer.driver is PrinterDriver.IPP:
            drivers[printer.name] = make_printer("ipp", printer.name, uri=printer.uri)
    if plant_id is None:
        return drivers
    return {name: named_printer(driver, plant_id) for name, driver in drivers.items()}


def make_inserter_drivers(settings: Settings, plant_id: str | None = None) -> dict[str, Inserter]:
    """One driver per configured inserter; with ``plant_id``, each names its runs ``<plant id>-<run id>``."""
    drivers: dict[str, Inserter] = {}
    for inserter in settings.inserters:
        if inserter.driver is InserterDriver.SIMULATED:
            drivers[inserter.name] = _simulated_inserter(settings, inserter)
    if plant_id is None:
        return drivers
    return {name: named_inserter(driver, plant_id) for name, driver in drivers.items()}


def _simulated_inserter(settings: Settings, inserter: InserterConfig) -> SimulatedInserter:
    return SimulatedInserter(
        inserter.name,
        settings.inserter_folder(inserter),
        envelopes_per_hour=inserter.envelopes_per_hour,
        max_sheets=inserter.max_sheets,
        time_scale=settings.time_scale,
    )


def make_cutter(settings: Settings, inserter_name: str) -> SimulatedCutter:
    """The cutter/stacker in front of inserter ``inserter_name``, working in ``<inserter folder>/cutter``."""
    inserter = next(i for i in settings.inserters if i.name == inserter_name)
    return SimulatedCutter(
        f"{inserter.name}-cutter",
        settings.inserter_folder(inserter) / "cutter",
        inserter.cutter_sheets_per_minute,
        settings.time_scale,
        faults=CutFaults(
            destroy_at=frozenset(inserter.cutter_destroys), misfeed_at=frozenset(inserter.cutter_misfeeds)
        ),
    )


def cutter_driver(settings: Settings, inserter_name: str, plant_id: str) -> NamedCutter:
    """The plant's driver of the cutter in front of inserter ``inserter_name`` (:func:`make_cutter`): cuts
    named ``<plant id>-<run id>``, from jobs named ``<plant id>-<job id>``."""
    return NamedCutter(make_cutter(settings, inserter_name), plant_id)


class DeviceHost:
    """Runs every simulated device of the configuration in a thread of this process until :meth:`stop`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.devices: dict[str, Any] = {}

    def start(self) -> DeviceHost:
        """Start a thread per simulated device."""
        settings = self.settings
        for printer in settings.printers:
            if printer.driver is PrinterDriver.SIMULATED:
                press = SimulatedPress(
                    printer.name,
                    settings.printer_folder(printer),
                    printer.sheets_per_minute,
                    time_scale=settings.time_scale,
                    jams=printer.jams,
                    auto_clear_after_s=printer.auto_clear_after_s,
                )
                self._run(printer.name, press)
        for inserter in settings.inserters:
            if inserter.driver is InserterDriver.SIMULATED:
                self._run(inserter.name, _simulated_inserter(settings, inserter))
                cutter = make_cutter(settings, inserter.name)
                self._run(cutter.name, cutter)
        return self

    def _run(self, name: str, device: Any) -> None:
        self.devices[name] = device
        thread = threading.Thread(
            target=self._keep_running, args=(name, device), name=f"device-{name}", daemon=True
        )
        thread.start()
        self.threads.append(thread)
        log.info("device_started", device=name, kind=type(device).__name__)

    def _keep_running(self, name: str, device: Any) -> None:
        """``device.run`` until stopped; a device that found no room on its disk (its folders are on the state
        dir's) goes on from its saved state once there is room, instead of its thread dying for good."""
        while not self.stop_event.is_set():
            try:
                device.run(self.stop_event)
                return
            except OSError as error:
                if not is_disk_full(error):
                    raise
                log.warning("device_disk_full", device=name, detail=str(error))
                self.stop_event.wait(DEVICE_DISK_RETRY_S)

    def stop(self) -> None:
        """Stop every device thread and wait for it."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.threads.clear()
