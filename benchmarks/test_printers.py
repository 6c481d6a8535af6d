"""Benchmarks of the printers library: hot-folder submission, the simulated press at full speed, and jobs
through a real cupsd queue to a real ippeveprinter (the lab of tests/printers/cupsd.py)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from reportlab.pdfgen import canvas

from printers import CupsPrinter, HotFolderPrinter, JobState, JobTicket, SimulatedPrinter
from tests.printers.cupsd import CupsLab, missing_binaries, wait_until_final, write_pdf

#: Sheets in the benchmark job: a typical mid-size print job of single-sheet letters.
JOB_SHEETS = 200
#: Jobs timed through the cupsd queue, end to end (about a second each: the IPP backend polls the printer).
CUPS_JOBS = 5
#: Submissions timed into a stopped cupsd queue (each adds a job to the history that every lookup lists).
CUPS_SUBMITS = 50


@pytest.fixture(scope="module")
def job_pdf(tmp_path_factory) -> Path:
    """A JOB_SHEETS-page PDF, generated once."""
    path = tmp_path_factory.mktemp("src") / "job.pdf"
    sheet = canvas.Canvas(str(path))
    for page in range(JOB_SHEETS):
        sheet.drawString(72, 720, f"letter {page}")
        sheet.showPage()
    sheet.save()
    return path


@pytest.mark.benchmark(group="printers")
def test_hotfolder_submit(benchmark, tmp_path, job_pdf):
    """Time to drop one job (claim, PDF copy, ticket; all fsynced) into a hot folder."""
    printer = HotFolderPrinter("rip", tmp_path)
    ids = (f"J-{n}" for n in itertools.count())
    benchmark(lambda: printer.submit(JobTicket(next(ids), job_pdf, JOB_SHEETS)))


@pytest.mark.benchmark(group="printers")
def test_simulated_press_prints_a_job_instantly(benchmark, tmp_path, job_pdf):
    """Time for an instantaneous press (time_scale 0) to print a JOB_SHEETS-sheet job with progress
    reports."""
    printer = SimulatedPrinter("press", tmp_path, sheets_per_minute=6000, time_scale=0, run_press=False)
    ids = (f"J-{n}" for n in itertools.count())

    def setup():
        job_id = next(ids)
        printer.submit(JobTicket(job_id, job_pdf, JOB_SHEETS))
        return (job_id,), {}

    def run(job_id):
        printer.press.step()
        assert printer.status(job_id).state is JobState.COMPLETED

    benchmark.pedantic(run, setup=setup, rounds=5)


@pytest.fixture(scope="module")
def cups_lab():
    """The test lab's cupsd + ippeveprinter, for this module."""
    if missing_binaries():
        pytest.skip(f"needs {', '.join(missing_binaries())}")
    lab = CupsLab().start()
    yield lab
    lab.stop()


@pytest.mark.benchmark(group="printers-cups")
def test_cups_submit(benchmark, cups_lab, job_pdf):
    """Time to submit one JOB_SHEETS-page job to a stopped cupsd queue: lookup, claim, and the PDF
    streamed."""
    queue = cups_lab.add_queue("bench-submit")
    cups_lab.admin("cupsdisable", queue)
    printer = CupsPrinter("bench", cups_lab.server, queue=queue)
    ids = (f"S-{n}" for n in itertools.count())
    benchmark.pedantic(lambda: printer.submit(JobTicket(next(ids), job_pdf, JOB_SHEETS)), rounds=CUPS_SUBMITS)
    benchmark.extra_info["pdf_bytes"] = job_pdf.stat().st_size


@pytest.mark.benchmark(group="printers-cups")
def test_cups_jobs_end_to_end(benchmark, cups_lab, tmp_path):
    """Jobs per second through a cupsd IPP queue to ippeveprinter, submitted back to back, until all
    completed."""
    printer = CupsPrinter("bench", cups_lab.server, queue=cups_lab.add_queue("bench-e2e"))
    pdf = write_pdf(tmp_path / "letter.pdf", 2)
    rounds = itertools.count()

    def run() -> float:
        start = time.perf_counter()
        ids = [f"E-{next(rounds)}" for _ in range(CUPS_JOBS)]
        for job_id in ids:
            printer.submit(JobTicket(job_id, pdf, 1))
        assert all(wait_until_final(printer, job_id).state is JobState.COMPLETED for job_id in ids)
        return CUPS_JOBS / (time.perf_counter() - start)

    benchmark.extra_info["jobs_per_s"] = round(benchmark.pedantic(run, rounds=1), 2)


#: Finished jobs of other names in the history of the queue the look-up benchmark asks.
CUPS_HISTORY = 300


@pytest.fixture(scope="module")
def cups_history(cups_lab, tmp_path_factory):
    """A queue holding CUPS_HISTORY finished (canceled) jobs of other names, and a driver that looked once."""
    queue = cups_lab.add_queue("bench-history")
    pdf = write_pdf(tmp_path_factory.mktemp("history") / "letter.pdf", 1)
    conn = cups_lab._connect()
    cups_lab.admin("cupsdisable", queue)
    for cups_id in [conn.printFile(queue, str(pdf), f"other-{n}", {}) for n in range(CUPS_HISTORY)]:
        conn.cancelJob(cups_id)
    printer = CupsPrinter("bench", cups_lab.server, queue=queue)
    assert printer.find("P1-J-warm") is None  # the driver's one listing of the whole history
    return printer, queue


@pytest.mark.benchmark(group="printers-cups-history")
@pytest.mark.parametrize("path", ["listing", "driver"])
def test_cups_find_on_a_long_history(benchmark, cups_lab, cups_history, path):
    """find() of a job id the queue does not have (the look-up before every submit) on a queue with
    CUPS_HISTORY finished jobs: the old path (list every job of the server, keep this queue's, match the
    name) against the driver (only the jobs created since its last listing)."""
    printer, queue = cups_history
    ids = (f"P1-J-{path}-{n}" for n in itertools.count())
    if path == "driver":
        benchmark(lambda: printer.find(next(ids)))
        return
    conn = cups_lab._connect()

    def listing() -> None:
        job_id = next(ids)
        jobs = conn.getJobs(
            which_jobs="all", requested_attributes=["job-id", "job-name", "job-state", "job-printer-uri"]
        )
        ours = [
            n for n, a in jobs.items() if str(a.get("job-printer-uri", "")).endswith(f"/printers/{queue}")
        ]
        assert len(ours) >= CUPS_HISTORY and not [n for n in ours if jobs[n].get("job-name") == job_id]
        conn.getPrinterAttributes(queue, requested_attributes=["printer-state"])

    benchmark(listing)
