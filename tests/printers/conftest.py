"""Fixtures for the printers tests: a fake clock, generated PDFs, tickets, a simulated printer on tmp_path,
and a real cupsd with an ippeveprinter behind it (one per session, a fresh queue per test)."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

import pytest
from pypdf import PdfReader
from reportlab.pdfgen import canvas

from printers import CupsPrinter, JobTicket, SimulatedPrinter


class FakeClock:
    """A monotonic clock that only moves when a test moves it."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def make_pdf(path: Path, pages: int, label: str = "doc") -> Path:
    """Write a PDF whose page i carries the text '<label> page <i>' (1-based)."""
    sheet = canvas.Canvas(str(path))
    for page in range(1, pages + 1):
        sheet.drawString(72, 720, f"{label} page {page}")
        sheet.showPage()
    sheet.save()
    return path


def _page_texts(path: Path) -> list[str]:
    """The text of each page of a PDF, stripped."""
    return [page.extract_text().strip() for page in PdfReader(path).pages]


@pytest.fixture
def page_texts():
    """Function: the stripped text of each page of a PDF (pypdf), to compare printed output with its
    source."""
    return _page_texts


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting at 0."""
    return FakeClock()


@pytest.fixture
def pdfs(tmp_path: Path):
    """Factory: a ticket for a generated PDF of `pages` pages, labelled with the job id."""
    source = tmp_path / "source"
    source.mkdir()

    def ticket(job_id: str, pages: int = 3, **fields) -> JobTicket:
        pdf = make_pdf(source / f"{job_id}.pdf", pages, label=job_id)
        return JobTicket(job_id=job_id, pdf_path=pdf, sheets=pages, **fields)

    return ticket


@pytest.fixture
def simulated(tmp_path: Path, clock: FakeClock):
    """Factory: a SimulatedPrinter on tmp_path/press driven by the fake clock (no thread; call
    press.step())."""

    def build(**options) -> SimulatedPrinter:
        options.setdefault("sheets_per_minute", 60)
        options.setdefault("time_scale", 0)
        return SimulatedPrinter("press-1", tmp_path / "press", clock=clock, run_press=False, **options)

    return build


# -- a real CUPS: cupsd + ippeveprinter (tests/printers/cupsd.py) --------------------------------------------


@pytest.fixture(scope="session")
def cups_lab():
    """A private D-Bus bus, ippeveprinter and unprivileged cupsd for the session; skipped only without
    binaries."""
    from tests.printers.cupsd import CupsLab, missing_binaries

    missing = missing_binaries()
    if missing:
        pytest.skip(
            f"needs {', '.join(missing)}: scripts/setup.sh installs cups-daemon, cups-client, "
            "cups-ipp-utils and dbus-daemon"
        )
    lab = CupsLab().start()
    yield lab
    lab.stop()


_queues = itertools.count(1)


@pytest.fixture
def cups_queue(cups_lab):
    """Factory: a fresh queue on the lab's cupsd (``raster_only=True`` for one that takes PWG raster only)."""
    made = []

    def make(*, raster_only: bool = False) -> str:
        made.append(cups_lab.add_queue(f"q{next(_queues)}", raster_only=raster_only))
        return made[-1]

    yield make
    for queue in made:
        cups_lab.remove_queue(queue)


@pytest.fixture
def cups_printer(cups_lab, cups_queue):
    """A CupsPrinter on a fresh plain queue of the lab."""
    return CupsPrinter("press-cups", cups_lab.server, queue=cups_queue())


@pytest.fixture
def job_id():
    """Factory: a job id no other test uses (ippeveprinter keeps every test's documents in one spool)."""
    return lambda label="J": f"{label}-{uuid.uuid4().hex[:10]}"
