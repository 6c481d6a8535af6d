"""The printers library: the `Printer` role, its states and tickets, its errors, and the drivers.

The plant composes this library; it never imports the plant. Everything here takes and returns plain values
(paths, dataclasses, enums), so it can be tested, and used in a dry run, without the ledger or the queue.
"""

from typing import TYPE_CHECKING

from printers.drivers import make_printer
from printers.drivers.hotfolder import HotFolderPrinter
from printers.drivers.ipp import IppPrinter
from printers.errors import (
    CupsQueueUnknown,
    CupsRequestRefused,
    CupsUnreachable,
    DocumentRejected,
    DuplicateJob,
    HotFolderMissing,
    InvalidJobId,
    InvalidPrinterOptions,
    InvalidTicket,
    IppRequestRefused,
    IppUnreachable,
    JobFinished,
    JobNamesHidden,
    NotAnIppPrinter,
    PrinterError,
    PrinterStopped,
    StatusUnreadable,
    UnknownJob,
    UnknownPrinterKind,
)
from printers.protocol import JobState, JobStatus, JobTicket, Printer, PrinterState, PrinterStatus

if TYPE_CHECKING:
    from printers.drivers.cups import CupsPrinter
    from printers.drivers.simulated import SimulatedPress, SimulatedPrinter

#: Names served lazily from the simulated driver, so `python -m printers.drivers.simulated` imports it only
#: once.
_SIMULATED = frozenset({"SimulatedPress", "SimulatedPrinter"})


def __getattr__(name: str) -> object:
    """Import the simulated press, and the CUPS driver (which loads libcups), on first access (PEP 562)."""
    if name in _SIMULATED:
        from printers.drivers import simulated

        return getattr(simulated, name)
    if name == "CupsPrinter":
        from printers.drivers.cups import CupsPrinter

        return CupsPrinter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CupsPrinter",
    "CupsQueueUnknown",
    "CupsRequestRefused",
    "CupsUnreachable",
    "DocumentRejected",
    "DuplicateJob",
    "HotFolderMissing",
    "HotFolderPrinter",
    "InvalidJobId",
    "InvalidPrinterOptions",
    "InvalidTicket",
    "IppPrinter",
    "IppRequestRefused",
    "IppUnreachable",
    "JobFinished",
    "JobNamesHidden",
    "JobState",
    "JobStatus",
    "JobTicket",
    "NotAnIppPrinter",
    "Printer",
    "PrinterError",
    "PrinterState",
    "PrinterStatus",
    "PrinterStopped",
    "SimulatedPress",
    "SimulatedPrinter",
    "StatusUnreadable",
    "UnknownJob",
    "UnknownPrinterKind",
    "make_printer",
]
