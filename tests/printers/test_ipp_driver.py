"""IppPrinter against a real ippeveprinter: jobs print once, are found again by name, cancel, withdraw with
proof, and a wrong address or format is a clear error.

Most tests use the lab's ippeveprinter (the one behind the CUPS queues, ``tests/printers/cupsd.py``); tests
that leave the printer blocked, restart it or need other formats start a private one on the lab's host.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from plant.config import PrinterDriver
from plant.errors import ConfigError
from printers import (
    DocumentRejected,
    DuplicateJob,
    InvalidTicket,
    IppPrinter,
    IppUnreachable,
    JobFinished,
    JobState,
    NotAnIppPrinter,
    Printer,
    PrinterState,
    UnknownJob,
    make_printer,
)
from printers import ipp_wire as wire
from printers.ipp_wire import GroupTag, Operation, Tag, attr
from tests.printers.cupsd import BUS_CONFIG, _which, free_port, stop, wait_for_port, wait_until_final


@pytest.fixture
def lab_printer(cups_lab):
    """An IppPrinter on the lab's ippeveprinter."""
    return IppPrinter("press-ipp", f"ipp://localhost:{cups_lab.eve_port}/ipp/print")


class PrivateEve:
    """A private D-Bus bus and an ippeveprinter that a test may block, restart or give other formats."""

    def __init__(self, formats: str = "application/pdf,image/pwg-raster") -> None:
        self.formats = formats
        self.root = Path(tempfile.mkdtemp(prefix="plant-eve-"))
        self.spool = self.root / "spool"
        self.spool.mkdir()
        self.port = free_port()
        self.bus = self.eve = None

    @property
    def uri(self) -> str:
        return f"ipp://localhost:{self.port}/ipp/print"

    def start(self) -> PrivateEve:
        config = self.root / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=self.root / "bus.sock"))
        self.bus = subprocess.Popen(
            [_which("dbus-daemon"), f"--config-file={config}", "--print-address", "--nofork"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.address = self.bus.stdout.readline().strip()
        return self.start_printer()

    def start_printer(self) -> PrivateEve:
        self.eve = subprocess.Popen(
            [
                _which("ippeveprinter"),
                "-r",
                "off",
                "-n",
                "localhost",
                "-p",
                str(self.port),
                "-d",
                str(self.spool),
                "-k",
                "-c",
                _which("true"),
                "-f",
                self.formats,
                "Private",
            ],
            env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": self.address},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.eve, "ippeveprinter")
        return self

    def stop(self) -> None:
        stop(self.eve)
        stop(self.bus)

    def received(self, job_name: str) -> list[Path]:
        return sorted(p for p in self.spool.glob(f"*-{job_name.lower()}.*") if p.suffix != ".prn")


@pytest.fixture
def private_eve(cups_lab):
    """Factory: a started PrivateEve (``cups_lab`` only to skip where the binaries are missing)."""
    made: list[PrivateEve] = []

    def make(**options) -> PrivateEve:
        made.append(PrivateEve(**options).start())
        return made[-1]

    yield make
    for eve in made:
        eve.stop()


def raw_call(printer: IppPrinter, operation: Operation, *attributes) -> wire.Message:
    """An IPP request sent as another client would, to set up what the driver must cope with."""
    return printer._call(operation, "test", *attributes)


# -- printing once -------------------------------------------------------------------------------------------


def test_a_submitted_job_completes_and_its_document_arrives(cups_lab, lab_printer, pdfs, job_id):
    """Given a PDF ticket, when it is submitted, then the job completes and ippeveprinter holds the same
    bytes."""
    ticket = pdfs(job_id(), pages=2)
    submitted = lab_printer.submit(ticket)
    assert submitted.job_id == ticket.job_id and submitted.state in set(JobState)
    assert wait_until_final(lab_printer, ticket.job_id).state is JobState.COMPLETED
    received = cups_lab.received(ticket.job_id)
    assert [path.read_bytes() for path in received] == [ticket.pdf_path.read_bytes()]


def test_a_new_driver_finds_the_job_by_its_name(lab_printer, cups_lab, pdfs, job_id):
    """A driver that never submitted the job (a restarted controller) finds it by the plant's job id."""
    ticket = pdfs(job_id())
    lab_printer.submit(ticket)
    final = wait_until_final(lab_printer, ticket.job_id)
    fresh = IppPrinter("press-ipp", lab_printer.uri)
    assert fresh.find(ticket.job_id) == final
    assert fresh.find(job_id("never")) is None


def test_a_duplicate_submit_is_refused_and_not_printed(lab_printer, cups_lab, pdfs, job_id):
    """Submitting a job id the printer has raises DuplicateJob, from any driver, and it arrives once."""
    ticket = pdfs(job_id())
    lab_printer.submit(ticket)
    wait_until_final(lab_printer, ticket.job_id)
    for driver in (lab_printer, IppPrinter("other", lab_printer.uri)):
        with pytest.raises(DuplicateJob, match="completed"):
            driver.submit(ticket)
    assert len(cups_lab.received(ticket.job_id)) == 1


def test_a_submitter_that_loses_the_race_cancels_its_empty_job(
    lab_printer, cups_lab, pdfs, job_id, monkeypatch
):
    """Given another submitter's job of the same name appears after find looked, the claim sees the older job:
    DuplicateJob, the late job is canceled empty, and the document arrives once."""
    ticket = pdfs(job_id())
    lab_printer.submit(ticket)
    wait_until_final(lab_printer, ticket.job_id)
    late = IppPrinter("late", lab_printer.uri)
    monkeypatch.setattr(late, "find", lambda _job_id: None)  # it looked before the other job was created
    with pytest.raises(DuplicateJob):
        late.submit(ticket)
    jobs = late._jobs_named(ticket.job_id, ("job-id", "job-name", "job-state"))
    assert [JobState(job["job-state"]) for job in jobs] == [JobState.COMPLETED, JobState.CANCELED]
    assert len(cups_lab.received(ticket.job_id)) == 1


def test_job_options_reach_the_printer(lab_printer, pdfs, job_id):
    """copies, sides and media travel as IPP job attributes."""
    ticket = pdfs(job_id(), copies=2, sides="two-sided-long-edge", media="Letter")
    lab_printer.submit(ticket)
    job = raw_call(
        lab_printer,
        Operation.GET_JOB_ATTRIBUTES,
        lab_printer._job_ref(ticket.job_id),
        attr("requested-attributes", Tag.KEYWORD, "copies", "sides", "media"),
    ).group(GroupTag.JOB)
    assert (job["copies"].value, job["sides"].value, job["media"].value) == (
        2,
        "two-sided-long-edge",
        "na_letter_8.5x11in",
    )


# -- identity across a printer restart -----------------------------------------------------------------------


def test_after_a_restart_a_reused_job_number_is_not_taken_for_the_old_job(private_eve, pdfs, job_id):
    """ippeveprinter restarts its job ids at 1: the driver's remembered number then names another job, which
    find must not report as ours. The old job is gone (the documented window)."""
    eve = private_eve()
    printer = IppPrinter("press-ipp", eve.uri)
    first, second = pdfs(job_id()), pdfs(job_id())
    printer.submit(first)
    wait_until_final(printer, first.job_id)
    printer.printer_status()
    stop(eve.eve)
    eve.start_printer()
    IppPrinter("other", eve.uri).submit(second)
    assert (
        printer._jobs[first.job_id][0]
        == IppPrinter("probe", eve.uri)._jobs_named(second.job_id, ("job-id", "job-name"))[0]["job-id"]
    )  # the same IPP number, now another job
    assert printer.find(first.job_id) is None


def test_a_printer_whose_boot_time_moves_is_logged_as_restarted():
    """printer-up-time that falls back (boot time moved on) or a new printer-uuid logs ipp_printer_restarted
    once per restart; the clock's advance alone does not."""
    printer = IppPrinter("press-ipp", "ipp://press9/ipp/print")
    with capture_logs() as logs:
        printer._note_boot({"printer-uuid": "urn:uuid:a", "printer-up-time": 50}, now=100.0)
        printer._note_boot({"printer-uuid": "urn:uuid:a", "printer-up-time": 60}, now=110.0)
        printer._note_boot({"printer-uuid": "urn:uuid:a", "printer-up-time": 3}, now=120.0)
        printer._note_boot({"printer-uuid": "urn:uuid:b", "printer-up-time": 4}, now=121.0)
    assert [entry["event"] for entry in logs] == ["ipp_printer_restarted"] * 2


# -- cancel and withdraw -------------------------------------------------------------------------------------


def test_cancel_of_a_finished_job_is_refused_and_of_a_canceled_one_is_quiet(lab_printer, pdfs, job_id):
    """A completed job cannot be canceled (JobFinished); canceling a canceled job again does nothing."""
    ticket = pdfs(job_id())
    lab_printer.submit(ticket)
    wait_until_final(lab_printer, ticket.job_id)
    with pytest.raises(JobFinished):
        lab_printer.cancel(ticket.job_id)
    with pytest.raises(UnknownJob):
        lab_printer.cancel(job_id("never"))


def test_an_empty_job_left_by_a_dead_submitter_is_withdrawn_with_proof(private_eve, job_id, pdfs):
    """Given a job created whose document never came (it keeps ippeveprinter busy), find reports it held, and
    withdraw cancels it with proof: no processing stamp; asking again answers True again; nothing arrived."""
    eve = private_eve()
    printer = IppPrinter("press-ipp", eve.uri, busy_wait_s=0)
    name = job_id()
    raw_call(printer, Operation.CREATE_JOB, attr("job-name", Tag.NAME, name))
    found = printer.find(name)
    assert found.state is JobState.HELD and "never arrived" in found.message
    with pytest.raises(Exception, match="server-error-busy"):
        printer.submit(pdfs(job_id()))  # the empty job blocks the printer
    assert printer.withdraw(name) is True
    assert printer.status(name).state is JobState.CANCELED and printer.withdraw(name) is True
    assert eve.received(name) == []


def test_a_job_that_was_processed_is_not_withdrawn(lab_printer, pdfs, job_id):
    """A job the printer started (time-at-processing set) answers False and is left as it was."""
    ticket = pdfs(job_id())
    lab_printer.submit(ticket)
    wait_until_final(lab_printer, ticket.job_id)
    assert lab_printer.withdraw(ticket.job_id) is False
    assert lab_printer.status(ticket.job_id).state is JobState.COMPLETED
    assert lab_printer.withdraw(job_id("never")) is False


def test_a_canceled_job_is_canceled(private_eve, job_id):
    """cancel() on a live job leaves it canceled."""
    eve = private_eve()
    printer = IppPrinter("press-ipp", eve.uri)
    name = job_id()
    raw_call(printer, Operation.CREATE_JOB, attr("job-name", Tag.NAME, name))
    printer.cancel(name)
    assert printer.status(name).state is JobState.CANCELED
    printer.cancel(name)  # again: nothing to do


# -- errors --------------------------------------------------------------------------------------------------


def test_a_printer_without_pdf_rejects_the_job_naming_what_it_takes(private_eve, pdfs, job_id):
    """A PDF for a raster-only printer raises DocumentRejected listing its formats, and creates no job."""
    eve = private_eve(formats="image/pwg-raster")
    printer = IppPrinter("press-raster", eve.uri)
    ticket = pdfs(job_id())
    with pytest.raises(DocumentRejected, match="image/pwg-raster") as raised:
        printer.submit(ticket)
    assert "application/pdf" not in raised.value.detail
    assert printer.find(ticket.job_id) is None


def test_an_unreachable_printer_is_a_clear_error(pdfs, job_id):
    """Nothing listening at the uri: IppUnreachable naming the uri and what to fix."""
    printer = IppPrinter("press-ipp", f"ipp://127.0.0.1:{free_port()}/ipp/print")
    with pytest.raises(IppUnreachable, match="cannot be reached.*fleet configuration"):
        printer.submit(pdfs(job_id()))
    with pytest.raises(IppUnreachable):
        printer.printer_status()


def test_a_web_server_is_not_an_ipp_printer():
    """An HTTP server that answers HTML raises NotAnIppPrinter, saying where the IPP endpoint usually is."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        printer = IppPrinter("press-ipp", f"ipp://127.0.0.1:{server.server_port}/ipp/print")
        with pytest.raises(NotAnIppPrinter, match="ipp://HOST:631/ipp/print"):
            printer.printer_status()
    finally:
        server.shutdown()
        server.server_close()


def test_a_ticket_that_is_not_pdf_is_invalid_before_anything_is_sent(tmp_path, job_id):
    """A text file is neither PDF nor PWG raster: InvalidTicket, without contacting the printer."""
    from printers import JobTicket

    text = tmp_path / "letter.txt"
    text.write_text("hello")
    printer = IppPrinter("press-ipp", f"ipp://127.0.0.1:{free_port()}/ipp/print")
    with pytest.raises(InvalidTicket, match="neither a PDF"):
        printer.submit(JobTicket(job_id(), text, sheets=1))


def test_printer_status_reads_the_printer(lab_printer):
    """The lab printer reports a state and no stopping reason."""
    status = lab_printer.printer_status()
    assert status.name == "press-ipp" and status.state in (PrinterState.IDLE, PrinterState.PROCESSING)


# -- configuration -------------------------------------------------------------------------------------------


def test_make_printer_builds_an_ipp_driver():
    """kind 'ipp' with a uri gives an IppPrinter that plays the Printer role; a bad uri is a config error."""
    printer = make_printer("ipp", "press-9", uri="ipp://press9.plant.lan/ipp/print")
    assert isinstance(printer, IppPrinter) and isinstance(printer, Printer)
    assert printer._port == 631
    with pytest.raises(ValueError, match="ipp://"):
        make_printer("ipp", "press-9", uri="http://press9/")


def test_the_plant_config_takes_an_ipp_printer(tmp_path):
    """driver = "ipp" with a uri builds an IppPrinter for the stages; without a uri the config names the
    fix."""
    from plant.config import load_settings
    from plant.fleet.devices import make_printer_drivers

    def settings(printer: str):
        path = tmp_path / "plant.toml"
        path.write_text(
            f'[[printers]]\nname = "press-9"\ndriver = "ipp"\n{printer}\n[[inserters]]\nname = "inserter-1"\n'
        )
        return load_settings(path, environ={"PLANT_STATE_DIR": str(tmp_path / "state")})

    assert settings('uri = "ipp://press9:631/ipp/print"').printers[0].driver is PrinterDriver.IPP
    drivers = make_printer_drivers(settings('uri = "ipp://press9:631/ipp/print"'))
    assert (
        isinstance(drivers["press-9"], IppPrinter) and drivers["press-9"].uri == "ipp://press9:631/ipp/print"
    )
    with pytest.raises(ConfigError, match="uri"):
        settings("")
