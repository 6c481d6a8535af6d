"""Printer drivers, one module per kind of device, and :func:`make_printer` to build one from the fleet
config.

Drivers are chosen by name so the plant's configuration (``kind = "simulated"``) needs no import paths. There
is deliberately no default kind: a printer that was not configured must never quietly reach a real device.

Driver modules are imported when first used, so ``python -m printers.drivers.simulated`` runs its module once.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING

from printers.errors import InvalidPrinterOptions, UnknownPrinterKind
from printers.protocol import Printer

if TYPE_CHECKING:
    from printers.drivers.cups import CupsPrinter
    from printers.drivers.hotfolder import HotFolderPrinter
    from printers.drivers.ipp import IppPrinter
    from printers.drivers.simulated import SimulatedPrinter

#: Driver per printer kind, as named in the fleet configuration: (module, class).
DRIVERS: dict[str, tuple[str, str]] = {
    "hotfolder": ("printers.drivers.hotfolder", "HotFolderPrinter"),
    "simulated": ("printers.drivers.simulated", "SimulatedPrinter"),
    "cups": ("printers.drivers.cups", "CupsPrinter"),
    "ipp": ("printers.drivers.ipp", "IppPrinter"),
}


#: A driver class as :func:`make_printer` calls it: the printer's name, then the driver's own options.
PrinterFactory = Callable[..., Printer]


def driver_class(kind: str) -> PrinterFactory:
    """The driver class for a printer kind; raises UnknownPrinterKind for a kind we have no driver for."""
    try:
        module, name = DRIVERS[kind]
    except KeyError:
        raise UnknownPrinterKind(kind, tuple(DRIVERS)) from None
    driver: PrinterFactory = getattr(importlib.import_module(module), name)
    return driver


def __getattr__(name: str) -> object:
    """Import driver classes on first access (PEP 562)."""
    for module, cls in DRIVERS.values():
        if cls == name:
            driver: object = getattr(importlib.import_module(module), cls)
            return driver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_printer(kind: str, name: str, **options: object) -> Printer:
    """Build the driver for printer `name` of `kind` with the configured `options` (e.g. ``folder=...``).

    A CUPS printer takes ``server=...`` (and ``queue=...`` when its queue is not named like the printer); an
    IPP printer takes ``uri="ipp://host:port/ipp/print"``.
    Raises UnknownPrinterKind for a kind we have no driver for and InvalidPrinterOptions when the options do
    not fit the driver, so configuration mistakes surface as operator messages rather than TypeErrors.
    """
    driver = driver_class(kind)
    try:
        inspect.signature(driver).bind(name, **options)
    except TypeError as error:
        raise InvalidPrinterOptions(kind, name, str(error)) from None
    return driver(name, **options)


__all__ = [
    "DRIVERS",
    "CupsPrinter",
    "HotFolderPrinter",
    "IppPrinter",
    "SimulatedPrinter",
    "driver_class",
    "make_printer",
]
