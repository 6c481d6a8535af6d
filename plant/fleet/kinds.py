"""The two kinds of device the plant plans around, described once: presses (:data:`PRINTERS`) and inserters
(:data:`INSERTERS`).

A :class:`DeviceKind` says where a kind's devices are configured and driven, how its driver reports the device
(stopped or not, and why), how to ask the device whether a piece of work waits at it unstarted, whether a
driver can prove a withdrawal, and the ledger table of its work with the states re-planning moves it through.
What the sweep sees of a device (:func:`plant.fleet.watch.sight`) and how waiting work is taken back from one
out of the plan (:mod:`plant.stages.replan`) are then written once for both kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Row, Table, select

from inserters import InserterError, InserterState
from inserters import Withdrawable as InserterWithdrawable
from plant.config import Settings
from plant.ledger import move_entity
from plant.ledger import schema as t
from plant.model import JobState, RunState
from printers import JobState as DeviceJob
from printers import PrinterError, PrinterState, PrinterStopped
from printers.protocol import Withdrawable as PrinterWithdrawable


@dataclass(frozen=True)
class DeviceKind:
    """One kind of device and its work, as the sweep and re-planning see it."""

    #: ``printer`` or ``inserter``: the kind in the service row, and the key naming the device in events and
    #: logs. Its plural (``printers``) holds the devices, on the settings (configs) and on the plant
    #: (drivers).
    name: str
    #: What this kind's drivers raise when the device cannot answer or refuses (a withdrawal, a look-up).
    errors: tuple[type[Exception], ...]
    #: ``(stopped, message)``: what the driver of device ``name`` reports of the device itself.
    report: Callable[[str, Any], tuple[bool, str]]
    #: The protocol of a driver that can prove the device never started a piece of work and give it back.
    withdrawable: type
    #: The ledger table of this kind's work (its key column: ``<entity>_id``).
    table: Table
    #: The entity of that work in events and logs: ``job`` or ``run``.
    entity: str
    #: Whether what the driver's ``find`` answered of a piece of work says it waits at the device, unstarted.
    unstarted: Callable[[Any], bool]
    #: The states of a withdrawal: the work's state at the device, while it is claimed for a withdrawal, and
    #: once the device gave it back.
    withdrawal: tuple[Enum, Enum, Enum]
    #: The event reason of a withdrawal, and of a refusal (the work stays): ``{device}`` is the device's name.
    never_started: str
    stays: str
    #: The actor that follows work the device keeps.
    follow: str

    @property
    def at_device(self) -> Enum:
        """The state of work at the device (SPOOLED, SUBMITTED)."""
        return self.withdrawal[0]

    @property
    def withdrawing(self) -> Enum:
        """The state of work claimed for a withdrawal (WITHDRAWING)."""
        return self.withdrawal[1]

    @property
    def given_back(self) -> Enum:
        """The state of work the device gave back (REPLANNED, CREATED)."""
        return self.withdrawal[2]

    @property
    def key(self) -> str:
        """The name of the work table's key column."""
        return f"{self.entity}_id"

    def configured(self, settings: Settings) -> tuple[Any, ...]:
        """The configured devices of this kind."""
        devices: tuple[Any, ...] = getattr(settings, f"{self.name}s")
        return devices

    def names(self, settings: Settings) -> set[str]:
        """The names of the configured devices of this kind."""
        return {device.name for device in self.configured(settings)}

    def drivers(self, plant: Any) -> dict[str, Any]:
        """The running plant's drivers of this kind, by device name."""
        drivers: dict[str, Any] = getattr(plant, f"{self.name}s")
        return drivers

    @property
    def status_errors(self) -> tuple[type[Exception], ...]:
        """What reading a device's own status may raise: the driver's errors, or its files' (OSError)."""
        return (*self.errors, OSError)

    def can_withdraw(self, driver: Any) -> bool:
        """Whether ``driver`` can prove its device never started a piece of work, and give it back."""
        return isinstance(driver, self.withdrawable)

    def waiting(self, driver: Any, work_id: str) -> bool:
        """Whether the device says ``work_id`` waits at it, not started (False when it cannot be asked)."""
        try:
            found = driver.find(work_id)
        except self.errors:
            return False
        return found is not None and self.unstarted(found)

    def load(self, conn: Connection, work_id: str) -> Row[Any] | None:
        """The ledger row of ``work_id`` (None when there is none)."""
        return conn.execute(select(self.table).where(self.table.c[self.key] == work_id)).first()

    def device_of(self, row: Row[Any]) -> str:
        """The device a work row is on."""
        device: str = getattr(row, self.name)
        return device

    def move(
        self, conn: Connection, work_id: str, expect: Enum, target: Enum, event: str, data: dict[str, Any]
    ) -> bool:
        """Compare-and-set the work's state from ``expect`` to ``target`` with its ``event``; False when it
        moved meanwhile."""
        return move_entity(
            conn,
            self.table,
            self.table.c[self.key],
            work_id,
            expect.value,
            target.value,
            event,
            self.entity,
            data,
        )


def _press_report(name: str, driver: Any) -> tuple[bool, str]:
    status = driver.printer_status()
    stopped = status.state is PrinterState.STOPPED
    return stopped, str(PrinterStopped(name, status.reasons)) if stopped else ""


def _inserter_report(name: str, driver: Any) -> tuple[bool, str]:
    status = driver.machine_status()
    return status.state is InserterState.STOPPED, status.message


#: Presses: their print jobs SPOOLED at them are withdrawn to REPLANNED (pieces planned again under new job
#: ids).
PRINTERS = DeviceKind(
    name="printer",
    errors=(PrinterError,),
    report=_press_report,
    withdrawable=PrinterWithdrawable,
    table=t.print_jobs,
    entity="job",
    # waiting, not started: pending, or held on the device by an operator (the driver's withdraw proves the
    # rest)
    unstarted=lambda status: status.state in (DeviceJob.PENDING, DeviceJob.HELD),
    withdrawal=(JobState.SPOOLED, JobState.WITHDRAWING, JobState.REPLANNED),
    never_started="{device} is out of the plan; it never took the job",
    stays="{device} could not prove the job unprinted: it stays with the press",
    follow="follow_print",
)

#: Inserters: their insert runs SUBMITTED to them are withdrawn to CREATED (then moved to another inserter).
INSERTERS = DeviceKind(
    name="inserter",
    errors=(InserterError, OSError),
    report=_inserter_report,
    withdrawable=InserterWithdrawable,
    table=t.insert_runs,
    entity="run",
    unstarted=lambda found: found.waiting,
    withdrawal=(RunState.SUBMITTED, RunState.WITHDRAWING, RunState.CREATED),
    never_started="{device} is out of the plan; it never started the run",
    stays="{device} started the run first: it stays there",
    follow="follow_insert",
)

#: Every kind, in the order the sweep looks at them.
KINDS = (PRINTERS, INSERTERS)
