"""Benchmarks of the inserters library: the camera's two ways of seeing the control zone, collation, a whole
run.

``crop`` (PDFium renders only the zone) against ``full`` (render the page, cut the zone out) is the
measurement behind :mod:`inserters.camera` rendering with a crop.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
import zxingcpp

from inserters import MailRun, RunRecord, SimulatedInserter, collate
from inserters.camera import DEFAULT_DPI, POINTS_PER_INCH, read_sheets
from tests.inserters.stacks import ZONE, make_stack, sheets_of

#: Pieces in the benchmark stack (two sheets each).
PIECES = 100
#: Job id of the benchmark stack.
JOB = "J000001"


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Path:
    """A 2·PIECES-sheet stack with a real DataMatrix on every sheet, generated once."""
    path = tmp_path_factory.mktemp("stack") / "stack.pdf"
    return make_stack(path, sheets_of(JOB, {str(p): 2 for p in range(PIECES)}))


def _read_full_page(path: Path) -> list[str | None]:
    """The rejected alternative: render the whole page, then cut the zone out of the bitmap."""
    x, y, w, h = ZONE
    scale = DEFAULT_DPI / POINTS_PER_INCH
    texts = []
    document = pdfium.PdfDocument(str(path))
    for page in document:
        image = np.asarray(page.render(scale=scale, grayscale=True).to_numpy())
        zone = image[int(y * scale) : int((y + h) * scale), int(x * scale) : int((x + w) * scale)]
        found = zxingcpp.read_barcodes(zone, formats=zxingcpp.BarcodeFormat.DataMatrix)
        texts.append(found[0].text if found else None)
    document.close()
    return texts


@pytest.mark.benchmark(group="inserters-camera")
def test_camera_crop_render(benchmark, stack):
    """Read every sheet rendering only the control zone (what the camera does)."""
    assert None not in benchmark(read_sheets, stack, ZONE)


@pytest.mark.benchmark(group="inserters-camera")
def test_camera_full_page_render(benchmark, stack):
    """Read every sheet rendering the full page and cropping afterwards (for comparison)."""
    assert None not in benchmark(_read_full_page, stack)


@pytest.mark.benchmark(group="inserters")
def test_collate_large_stack(benchmark):
    """Collate a 20,000-sheet stack of 10,000 two-sheet pieces."""
    codes = sheets_of(JOB, {str(p): 2 for p in range(10_000)})
    records = [RunRecord(str(p), 2) for p in range(10_000)]
    assert len(benchmark(collate, codes, records, JOB, 6).results) == 10_000


@pytest.mark.benchmark(group="inserters")
def test_simulated_run_instantly(benchmark, tmp_path, stack):
    """Submit and finish one run on an instantaneous simulated inserter (camera, collation, files)."""
    inserter = SimulatedInserter("ins", tmp_path, time_scale=0)
    ids = (f"R{n}" for n in itertools.count())
    records = tuple(RunRecord(str(p), 2) for p in range(PIECES))

    def one_run():
        inserter.submit(MailRun(next(ids), JOB, records, stack, ZONE))
        inserter.step()

    benchmark(one_run)
