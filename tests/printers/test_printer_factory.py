"""make_printer: printers built by kind name from the fleet configuration, and config mistakes reported."""

from __future__ import annotations

import pytest

from printers import (
    HotFolderPrinter,
    InvalidPrinterOptions,
    Printer,
    SimulatedPrinter,
    UnknownPrinterKind,
    make_printer,
)


def test_make_printer_builds_a_hotfolder_driver(tmp_path):
    """kind 'hotfolder' gives a HotFolderPrinter on the configured folder."""
    printer = make_printer("hotfolder", "rip-1", folder=tmp_path)
    assert isinstance(printer, HotFolderPrinter) and printer.folder == tmp_path and printer.name == "rip-1"


def test_make_printer_builds_a_simulated_press(tmp_path):
    """kind 'simulated' gives a SimulatedPrinter with its press configured."""
    printer = make_printer("simulated", "press-1", folder=tmp_path, sheets_per_minute=90, run_press=False)
    assert isinstance(printer, SimulatedPrinter) and printer.press.sheets_per_minute == 90


@pytest.mark.parametrize("kind", ["hotfolder", "simulated"])
def test_every_driver_plays_the_printer_role(tmp_path, kind):
    """Each driver satisfies the Printer protocol."""
    options = {"run_press": False} if kind == "simulated" else {}
    assert isinstance(make_printer(kind, "p", folder=tmp_path, **options), Printer)


def test_unknown_kind_lists_the_known_ones():
    """An unknown kind raises UnknownPrinterKind naming the kinds that exist."""
    with pytest.raises(UnknownPrinterKind, match="hotfolder, simulated"):
        make_printer("laser-cannon", "p")


def test_options_that_do_not_fit_the_driver_are_a_config_error(tmp_path):
    """A misspelt option raises InvalidPrinterOptions, not a TypeError from deep inside."""
    with pytest.raises(InvalidPrinterOptions, match="fleet configuration"):
        make_printer("hotfolder", "rip-1", folder=tmp_path, speed=3)
