"""Reading codes from scans: generated degraded DL envelopes (fixed seeds) and a real pdftoppm rendering."""

from __future__ import annotations

import subprocess

import numpy as np
import pikepdf
import pytest
import zxingcpp
from PIL import Image

from imposition import marks
from imposition.geometry import A4_HEIGHT, A4_WIDTH, Rect
from tracking import code128, datamatrix, qr
from tracking.errors import ScanError
from tracking.scan import CodeKind, Region, read_codes, scan_piece
from tracking.scan.preprocess import rotate, skew_deg
from tracking.scan.synthetic import CONTROL_REGION, HARSH, MODERATE, Degradation, dl_envelope_scan

TEXT = "J000042|RR473124829DE|12/13|F1-2-3|DIVERT"


def _flip(degradation: Degradation, seed: int) -> Degradation:
    """The degradation with its skew turned the other way on odd seeds."""
    sign = -1 if seed % 2 else 1
    return Degradation(sign * degradation.rotation_deg, degradation.noise_sigma, degradation.blur_px)


@pytest.fixture(scope="module")
def harsh_scans():
    """Twelve harsh DL envelope scans (3°, σ 30, 2 px blur), seeds 0–11."""
    return [dl_envelope_scan(TEXT, 300, _flip(HARSH, seed), seed) for seed in range(12)]


def test_moderate_scans_read_without_preprocessing():
    """Moderate scans (3°, σ 12, 1 px blur) read on the plain path, every one."""
    for seed in range(4):
        codes = read_codes(dl_envelope_scan(TEXT, 300, _flip(MODERATE, seed), seed), 300, [CONTROL_REGION])
        assert [(c.kind, c.text, c.preprocessed) for c in codes] == [(CodeKind.CONTROL, TEXT, False)]


def test_plain_zxing_fails_on_harsh_scans(harsh_scans):
    """The harsh scans defeat zxing-cpp's own binariser (the reason the pre-processing path exists)."""
    rows, cols = CONTROL_REGION.pixels(300, harsh_scans[0].shape)
    plain = [
        zxingcpp.read_barcodes(s[rows, cols], formats=zxingcpp.BarcodeFormat.DataMatrix) for s in harsh_scans
    ]
    assert sum(bool(found) for found in plain) <= 1


def test_harsh_scans_read_through_preprocessing(harsh_scans):
    """Every harsh scan reads, to the exact text, through the pre-processing path."""
    read = [read_codes(scan, 300, [CONTROL_REGION]) for scan in harsh_scans]
    assert [[c.text for c in codes] for codes in read] == [[TEXT]] * len(harsh_scans)


def test_corners_are_in_whole_image_pixels():
    """Reported corners are whole-image coordinates: the symbol's top-left lies at the stamped position."""
    codes = read_codes(dl_envelope_scan(TEXT, 300), 300, [CONTROL_REGION])
    x, y = codes[0].corners[0]
    assert abs(x - 150.5 * 300 / 25.4) <= 2 and abs(y - 70.5 * 300 / 25.4) <= 2


def test_deskew_rights_a_skewed_symbol():
    """The estimated skew of a symbol turned by 3° is undone by rotating it back (residual under 1°)."""
    scan = dl_envelope_scan(TEXT, 300, Degradation(3.0, 0.0, 1.0))
    roi = np.ascontiguousarray(scan[CONTROL_REGION.pixels(300, scan.shape)])
    angle = skew_deg(roi)
    assert abs(angle) > 2 and abs(skew_deg(rotate(roi, angle))) < 1


def test_region_outside_the_image_is_a_scan_error():
    """A region that misses the image raises ScanError naming the region, not an empty read."""
    with pytest.raises(ScanError, match="region control"):
        read_codes(np.full((100, 100), 255, np.uint8), 300, [Region(CodeKind.CONTROL, 500, 500, 10, 10)])


def test_missing_expected_code_is_grade_f():
    """A piece whose expected code is absent scores F overall and names the missing kind."""
    blank = np.full((1299, 2598), 235, np.uint8)
    result = scan_piece(blank, 300, [CONTROL_REGION])
    assert (result.codes, result.missing, result.overall.name) == ((), (CodeKind.CONTROL,), "F")


#: The three kinds of code on a rendered A4 sheet: (kind, text, symbol, module mm, box top-left mm).
SHEET_CODES = [
    (CodeKind.CONTROL, "J000042|1234|2/3", datamatrix, 0.5, (6, 250)),
    (CodeKind.TRACKING, "RR473124829DE", code128, 0.25, (24, 81)),
    (CodeKind.POSTAGE, "plant-mark/1;RR473124829DE;standard;20g", qr, 0.5, (150, 20)),
]


@pytest.fixture(scope="module")
def rendered_sheet(tmp_path_factory):
    """An A4 PDF with the three codes as 1-bit images, rendered by pdftoppm at 300 dpi to gray."""
    tmp = tmp_path_factory.mktemp("sheet")
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(A4_WIDTH, A4_HEIGHT))
    content, xobjects = b"", {}
    for n, (kind, text, symbol, module, (x, y)) in enumerate(SHEET_CODES):
        if kind is CodeKind.TRACKING:
            bitmap = marks.linear_bitmap(symbol(text), 10)
            box = Rect.from_mm(x, y, bitmap.shape[1] * module, 6)
        else:
            bitmap = marks.symbol_bitmap(symbol(text), 4 if kind is CodeKind.POSTAGE else 1)
            box = Rect.from_mm(x, y, bitmap.shape[1] * module, bitmap.shape[0] * module)
        xobjects[f"/Im{n}"] = marks.image_xobject(pdf, bitmap)
        content += marks.draw_image(f"/Im{n}", box, A4_HEIGHT)
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(xobjects))
    page.obj.Contents = pdf.make_stream(content)
    pdf.save(tmp / "sheet.pdf")
    subprocess.run(
        ["pdftoppm", "-r", "300", "-gray", "-singlefile", str(tmp / "sheet.pdf"), str(tmp / "sheet")],
        check=True,
    )
    return np.asarray(Image.open(tmp / "sheet.pgm"))


def test_every_kind_reads_from_its_region_of_a_rendered_sheet(rendered_sheet):
    """Each region of the layout yields its code, kind and exact text, from a real rendering."""
    regions = [Region(kind, x - 3, y - 3, 50, 30, module) for kind, _, _, module, (x, y) in SHEET_CODES]
    codes = read_codes(rendered_sheet, 300, regions)
    assert [(c.kind, c.text) for c in codes] == [(kind, text) for kind, text, *_ in SHEET_CODES]


def test_whole_sheet_read_finds_every_kind(rendered_sheet):
    """Without a layout the whole sheet is read and each code's kind comes from its symbology."""
    codes = read_codes(rendered_sheet, 300)
    assert sorted((c.kind.value, c.text) for c in codes) == sorted((k.value, t) for k, t, *_ in SHEET_CODES)
