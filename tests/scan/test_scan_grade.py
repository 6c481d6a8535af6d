"""ISO/IEC 15415-style DataMatrix grading: thresholds, ECC200 structure, and grades of generated scans."""

from __future__ import annotations

import numpy as np
import pytest

from tracking import datamatrix
from tracking.raster import render_symbol
from tracking.scan import Grade, ecc200, grade_datamatrix, grade_value, read_codes
from tracking.scan.synthetic import CONTROL_REGION, HARSH, MODERATE, clean_page, degrade, dl_envelope_scan

TEXT = "J000042|RR473124829DE|12/13|F1-2-3|DIVERT"


@pytest.mark.parametrize(
    ("parameter", "value", "grade"),
    [
        ("symbol_contrast", 0.70, "A"),
        ("symbol_contrast", 0.69, "B"),
        ("symbol_contrast", 0.40, "C"),
        ("symbol_contrast", 0.19, "F"),
        ("modulation", 0.50, "A"),
        ("modulation", 0.25, "D"),
        ("axial_nonuniformity", 0.06, "A"),
        ("axial_nonuniformity", 0.11, "D"),
        ("axial_nonuniformity", 0.13, "F"),
        ("grid_nonuniformity", 0.38, "A"),
        ("grid_nonuniformity", 0.63, "C"),
        ("grid_nonuniformity", 0.76, "F"),
        ("unused_error_correction", 0.62, "A"),
        ("unused_error_correction", 0.50, "B"),
        ("unused_error_correction", 0.24, "F"),
    ],
)
def test_grade_thresholds_follow_the_reference(parameter, value, grade):
    """Each parameter's value maps to the letter REFERENCE.md's thresholds give it."""
    assert grade_value(parameter, value).name == grade


@pytest.mark.parametrize("size", sorted(ecc200.SIZES))
def test_placement_fills_every_codeword(size):
    """The Annex F placement uses exactly the size's data + EC codewords, 8 modules each."""
    spec = ecc200.symbol_size(size)
    counts = np.bincount(ecc200.codeword_map(size)[ecc200.codeword_map(size) >= 0])
    assert counts.size == spec.data_codewords + spec.ec_codewords and set(counts) == {8}


@pytest.mark.parametrize("text", ["x", "hello", TEXT, "A" * 100, "B" * 300])
def test_finder_and_clock_patterns_match_libzint(text):
    """The pattern the grader orients by is exactly what libzint prints on the region borders."""
    matrix = datamatrix(text)
    mask = ecc200.pattern_mask(matrix.shape[0])
    assert np.array_equal(matrix[mask], ecc200.finder_pattern(matrix.shape[0])[mask])


def _grade(scan: np.ndarray):
    code = read_codes(scan, 300, [CONTROL_REGION])[0]
    return grade_datamatrix(scan, code.corners, int(code.version.split("x")[0]), code.text, code.decoder_uec)


def test_clean_scan_grades_a():
    """A clean, square-on scan of a well-printed symbol grades A overall."""
    assert _grade(dl_envelope_scan(TEXT, 300)).overall is Grade.A


def test_harsh_scan_grades_below_moderate():
    """A harsh scan grades strictly lower than a moderate one of the same symbol."""
    assert (
        _grade(dl_envelope_scan(TEXT, 300, HARSH, 5)).overall
        < _grade(dl_envelope_scan(TEXT, 300, MODERATE, 5)).overall
    )


def test_low_contrast_print_lowers_symbol_contrast():
    """Gray ink on gray paper (contrast about 35 %) grades C or worse on symbol contrast."""
    scan = dl_envelope_scan(TEXT, 300)
    faded = (110 + (scan.astype(np.int32) - 25) * 90 // 210).astype(np.uint8)
    assert _grade(faded).symbol_contrast.grade <= Grade.C


def test_damaged_codewords_use_error_correction():
    """Two codewords printed wrong in a 24×24 symbol (24 EC codewords) leave UEC = 1 − 2·2/24."""
    matrix = datamatrix(TEXT)
    codewords = ecc200.codeword_map(24)
    damaged = matrix ^ np.isin(codewords, (3, 17))
    page = clean_page((60, 40), 300, [(render_symbol(damaged, 300, 0.5), 10, 10)])
    code = read_codes(page, 300)[0]
    grading = grade_datamatrix(page, code.corners, 24, code.text, code.decoder_uec)
    assert grading.unused_error_correction.value == pytest.approx(1 - 4 / 24)


def test_blur_lowers_modulation():
    """Blur spreads ink into light modules: a 2 px blur grades modulation lower than none."""
    page = clean_page((60, 40), 300, [(render_symbol(datamatrix(TEXT), 300, 0.5), 10, 10)])
    sharp, blurred = page, degrade(page, type(HARSH)(0.0, 0.0, 2.0), 0)
    grades = []
    for scan in (sharp, blurred):
        code = read_codes(scan, 300)[0]
        grades.append(grade_datamatrix(scan, code.corners, 24, code.text).modulation.grade)
    assert grades[1] < grades[0]
