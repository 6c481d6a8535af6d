"""A printer of the plant's fleet configured with ``driver = "cups"``: plant.toml to a working CupsPrinter."""

from __future__ import annotations

from pathlib import Path

import pytest

from plant.config import PrinterDriver, load_settings
from plant.errors import ConfigError
from plant.fleet.devices import make_printer_drivers
from printers import CupsPrinter, PrinterState

INSERTER = '[[inserters]]\nname = "ins-1"\n'


def settings_for(tmp_path: Path, printer: str):
    """Settings from a plant.toml with one printer table (``printer``) and one inserter."""
    path = tmp_path / "plant.toml"
    path.write_text(f"[[printers]]\n{printer}{INSERTER}")
    return load_settings(path, environ={"PLANT_STATE_DIR": str(tmp_path / "state")})


def test_a_cups_printer_is_read_with_its_server_and_queue(tmp_path):
    """driver, server and queue of a [[printers]] table are read, typed."""
    settings = settings_for(
        tmp_path, 'name = "press-9"\ndriver = "cups"\nserver = "cups.lan:631"\nqueue = "p9"\n'
    )
    printer = settings.printers[0]
    assert (printer.driver, printer.server, printer.queue) == (PrinterDriver.CUPS, "cups.lan:631", "p9")


def test_a_cups_printer_without_a_server_is_refused(tmp_path):
    """driver = "cups" without server is a ConfigError naming the key and showing the form to use."""
    with pytest.raises(ConfigError, match='no server; add server = "host:port"') as raised:
        settings_for(tmp_path, 'name = "press-9"\ndriver = "cups"\n')
    assert raised.value.key == "printers[0].server"


def test_the_fleet_builds_a_cups_driver_for_a_cups_printer(tmp_path):
    """make_printer_drivers gives a CUPS printer a CupsPrinter on its server, its queue defaulting to its
    name."""
    settings = settings_for(tmp_path, 'name = "press-9"\ndriver = "cups"\nserver = "127.0.0.1:1"\n')
    driver = make_printer_drivers(settings)["press-9"]
    assert isinstance(driver, CupsPrinter) and (driver.server, driver.queue) == ("127.0.0.1:1", "press-9")


def test_the_fleets_cups_driver_reaches_the_queue(tmp_path, cups_lab, cups_queue):
    """Configured against the test cupsd, the fleet's driver reads its queue's state."""
    queue = cups_queue()
    settings = settings_for(
        tmp_path, f'name = "press-9"\ndriver = "cups"\nserver = "{cups_lab.server}"\nqueue = "{queue}"\n'
    )
    assert make_printer_drivers(settings)["press-9"].printer_status().state is PrinterState.IDLE
