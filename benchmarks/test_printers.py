"""Benchmarks of the printers library: hot-folder submission and the simulated press at full speed."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from reportlab.pdfgen import canvas

from printers import HotFolderPrinter, JobState, JobTicket, SimulatedPrinter

#: Sheets in the benchmark job: a typical mid-size print job of single-sheet letters.
JOB_SHEETS = 200


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
    """Time for an instantaneous press (time_scale 0) to print a JOB_SHEETS-sheet job with progress reports."""
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
