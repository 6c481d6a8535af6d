"""Device-visible names: every job, run and cut a device sees is named ``<plant id>-<ledger id>``.

Job and run numbers start again at 1 in every ledger (``J000001``, ``R000001``), so two ledgers — a second
plant, a staging copy, a ledger reset — pointed at one CUPS queue, hot folder, press, cutter or inserter would
otherwise take each other's work for their own: find-before-submit would "find" the other ledger's job and the
pieces would go on with no paper printed. The plant's own code keeps using ledger ids; the drivers made here
(:func:`named_printer`, :func:`named_inserter`, :class:`NamedCutter`) translate them to device names on the
way in (:func:`plant.model.device_name`) and back on the way out. What a device holds under another plant's
name is invisible through them: ``find`` answers None, as for work the device never received.

Anything else a driver has (its folder, ``find_proves_absence``, a simulated device's ``step``) is reached
through the wrapper unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from inserters import CutJob, CutResult, Inserter, InserterStatus, MailRun, RunResult
from inserters import Withdrawable as InserterWithdrawable
from plant.model import device_name, ledger_id
from printers import JobStatus, JobTicket, Printer, PrinterStatus, UnknownJob
from printers.protocol import Withdrawable as PrinterWithdrawable


class _Named:
    """What the named drivers share: the plant id, the names both ways, and the driver's other attributes."""

    def __init__(self, driver: Any, plant_id: str) -> None:
        device_name(plant_id, "J000001")  # a plant id that names nothing is a programmer error: fail here
        self.driver = driver
        self.plant_id = plant_id
        #: The device's configured name.
        self.name: str = driver.name

    def device_name(self, ledger_id: str) -> str:
        """The name the device knows job, run or cut ``ledger_id`` by."""
        return device_name(self.plant_id, ledger_id)

    def ledger_id(self, name: str) -> str | None:
        """The ledger id of device name ``name`` when it is this plant's, else None."""
        return ledger_id(self.plant_id, name)

    def __getattr__(self, attribute: str) -> Any:
        # only reached for what the wrapper does not define itself: the driver's folder, flags and the
        # simulated devices' own controls (step, fault, clear, books), none of which takes a job or run id
        return getattr(self.driver, attribute)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.driver!r}, plant_id={self.plant_id!r})"


# -- printers ------------------------------------------------------------------------------------------------
class NamedPrinter(_Named):
    """A :class:`printers.Printer` that names jobs ``<plant id>-<job id>`` on the device."""

    def _ours(self, status: JobStatus) -> JobStatus | None:
        job_id = self.ledger_id(status.job_id)
        return None if job_id is None else dataclasses.replace(status, job_id=job_id)

    def _back(self, status: JobStatus, job_id: str) -> JobStatus:
        ours = self._ours(status)
        if ours is None:  # the device answered for another name: never take another plant's job for ours
            raise UnknownJob(self.name, job_id)
        return ours

    def submit(self, ticket: JobTicket) -> JobStatus:
        """Submit the job under its device name; the status answered names the ledger's job."""
        named = dataclasses.replace(ticket, job_id=self.device_name(ticket.job_id))
        return self._back(self.driver.submit(named), ticket.job_id)

    def find(self, job_id: str) -> JobStatus | None:
        """The device's status of this plant's job ``job_id``; None when it has none (another plant's job of
        the same ledger id is not this one)."""
        found = self.driver.find(self.device_name(job_id))
        return None if found is None else self._ours(found)

    def status(self, job_id: str) -> JobStatus:
        """The status of this plant's job ``job_id``; UnknownJob when the device does not have it."""
        return self._back(self.driver.status(self.device_name(job_id)), job_id)

    def printer_status(self) -> PrinterStatus:
        """The device's own state."""
        status: PrinterStatus = self.driver.printer_status()
        return status

    def cancel(self, job_id: str) -> None:
        """Cancel this plant's job ``job_id`` on the device."""
        self.driver.cancel(self.device_name(job_id))


class WithdrawableNamedPrinter(NamedPrinter):
    """A :class:`NamedPrinter` whose driver can take a job back (:class:`printers.protocol.Withdrawable`)."""

    def withdraw(self, job_id: str) -> bool:
        """Take this plant's job ``job_id`` back if the device provably never started it."""
        return bool(self.driver.withdraw(self.device_name(job_id)))


def named_printer(driver: Printer, plant_id: str) -> NamedPrinter:
    """``driver`` naming its jobs with ``plant_id`` (withdrawable when the driver is)."""
    if isinstance(driver, PrinterWithdrawable):
        return WithdrawableNamedPrinter(driver, plant_id)
    return NamedPrinter(driver, plant_id)


# -- inserters -----------------------------------------------------------------------------------------------
class NamedInserter(_Named):
    """An :class:`inserters.Inserter` that names runs ``<plant id>-<run id>`` on the device.

    The run's job id stays the ledger's: it is what the control code printed on every sheet says, and the
    inserter matches the two."""

    def _ours(self, result: RunResult) -> RunResult | None:
        run_id = self.ledger_id(result.run_id)
        return None if run_id is None else dataclasses.replace(result, run_id=run_id)

    def submit(self, run: MailRun) -> None:
        """Send the run under its device name."""
        self.driver.submit(dataclasses.replace(run, run_id=self.device_name(run.run_id)))

    def find(self, run_id: str) -> RunResult | None:
        """This plant's run ``run_id`` so far; None when the inserter never got it."""
        found = self.driver.find(self.device_name(run_id))
        return None if found is None else self._ours(found)

    def result(self, run_id: str) -> RunResult:
        """This plant's run ``run_id`` so far (the driver raises UnknownRun when it is absent)."""
        result: RunResult = self.driver.result(self.device_name(run_id))
        return dataclasses.replace(result, run_id=run_id)

    def machine_status(self) -> InserterStatus:
        """The machine's own state."""
        status: InserterStatus = self.driver.machine_status()
        return status


class WithdrawableNamedInserter(NamedInserter):
    """A :class:`NamedInserter` whose driver can take a run back (:class:`inserters.Withdrawable`)."""

    def withdraw(self, run_id: str) -> bool:
        """Take this plant's run ``run_id`` back if the machine never started it."""
        return bool(self.driver.withdraw(self.device_name(run_id)))


def named_inserter(driver: Inserter, plant_id: str) -> NamedInserter:
    """``driver`` naming its runs with ``plant_id`` (withdrawable when the driver is)."""
    if isinstance(driver, InserterWithdrawable):
        return WithdrawableNamedInserter(driver, plant_id)
    return NamedInserter(driver, plant_id)


# -- cutters -------------------------------------------------------------------------------------------------
class NamedCutter(_Named):
    """A cutter (:class:`inserters.cutter.Cutter`) that names cuts ``<plant id>-<run id>`` and the job
    they come from ``<plant id>-<job id>``."""

    def submit(self, job: CutJob) -> None:
        """Hand the cut over under its device names."""
        self.driver.submit(
            dataclasses.replace(job, cut_id=self.device_name(job.cut_id), job_id=self.device_name(job.job_id))
        )

    def find(self, cut_id: str) -> CutResult | None:
        """This plant's cut ``cut_id`` so far; None when the cutter never got it."""
        found: CutResult | None = self.driver.find(self.device_name(cut_id))
        if found is None or self.ledger_id(found.cut_id) is None:
            return None
        return dataclasses.replace(found, cut_id=cut_id)

    def result(self, cut_id: str) -> CutResult:
        """This plant's cut ``cut_id`` so far (the driver raises UnknownCut when it is absent)."""
        result: CutResult = self.driver.result(self.device_name(cut_id))
        return dataclasses.replace(result, cut_id=cut_id)
