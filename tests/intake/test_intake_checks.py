"""Pre-flight checks on real renderings: page size, address in the window, clear zones, fonts — each failure
with its code, a message in millimetres and an overlay that marks the right place in red."""

from __future__ import annotations

import pytest
from reportlab.lib.pagesizes import A4, landscape, letter

from plant.config import load_settings
from plant.intake.overlay import write_overlay
from plant.intake.pdfcheck import Code, check
from plant.intake.preflight import check_spec
from tests.intake import hostile
from tests.intake.letters import ROW, address_of, red_box_mm, write

SPEC = check_spec(max_pages=6)


def verdict_of(path, row=ROW, spec=SPEC):
    return check(path.read_bytes(), spec, address_of(row))


def test_a_sound_letter_passes(tmp_path):
    """A form-B letter with the manifest's address in the window and clear zones passes with its page
    count."""
    verdict = verdict_of(write(tmp_path / "ok.pdf", pages=3))
    assert verdict.ok and verdict.pages == 3


def test_address_match_ignores_whitespace_and_case(tmp_path):
    """The manifest's address matches the window text regardless of spacing and letter case."""
    shouty = {**ROW, "name": "  ANNA   becker ", "address_1": "hafenSTRASSE 12".replace("SS", "ß").lower()}
    assert verdict_of(write(tmp_path / "ok.pdf"), row=shouty).ok


def test_another_address_in_the_window_is_a_mismatch(tmp_path):
    """A window showing someone else's address is ADDRESS_MISMATCH, naming the missing line."""
    verdict = verdict_of(write(tmp_path / "x.pdf"), row={**ROW, "name": "Jonas Keller"})
    assert verdict.code == Code.ADDRESS_MISMATCH and "'Jonas Keller'" in verdict.reason


def test_address_outside_the_window_is_located_in_millimetres(tmp_path):
    """An address printed at 120 mm / 30 mm is ADDRESS_OUTSIDE_WINDOW with where it is, in mm."""
    verdict = verdict_of(write(tmp_path / "x.pdf", address_at=(120, 30)))
    assert verdict.code == Code.ADDRESS_OUTSIDE_WINDOW
    assert (
        "at 120 mm from the left" in verdict.reason
        and "outside the window field (20–105 mm" in verdict.reason
    )


def test_overlay_marks_the_misplaced_address(tmp_path):
    """The overlay's red mark lies where the address was printed (120 mm from the left, about 27–31 mm
    down)."""
    verdict = verdict_of(write(tmp_path / "x.pdf", address_at=(120, 40)))
    overlay = write_overlay(tmp_path / "overlay.pdf", "L1", verdict)
    x0, y0, x1, y1 = red_box_mm(overlay)
    assert 118 <= x0 <= 122 and 35 <= y0 <= 41 and y1 <= 46


@pytest.mark.parametrize(
    ("page", "x", "y", "code", "zone"),
    [
        (1, 8, 256, Code.CONTROL_ZONE_NOT_CLEAR, "control-code zone"),
        (0, 30, 86, Code.BARCODE_ZONE_NOT_CLEAR, "tracking-barcode zone"),
    ],
)
def test_text_in_a_clear_zone_is_rejected_in_millimetres(tmp_path, page, x, y, code, zone):
    """Text in the control-code zone (any page) or the barcode zone (page 1) is rejected naming place and
    zone."""
    verdict = verdict_of(write(tmp_path / "x.pdf", marks=((page, x, y, "ink"),)))
    assert verdict.code == code
    assert f"at {x} mm from the left edge" in verdict.reason and f"inside the {zone}" in verdict.reason
    assert f"on page {page + 1}" in verdict.reason


@pytest.mark.parametrize(("page", "x", "y"), [(1, 8, 256), (0, 30, 86)])
def test_overlay_marks_the_ink_in_the_zone(tmp_path, page, x, y):
    """The overlay's red mark sits on the offending text inside the zone, on the right page."""
    verdict = verdict_of(write(tmp_path / "x.pdf", marks=((page, x, y, "ink"),)))
    overlay = write_overlay(tmp_path / "overlay.pdf", "L1", verdict)
    x0, y0, x1, y1 = red_box_mm(overlay, page=[p.page for p in verdict.pictures].index(page))
    assert x - 1.5 <= x0 <= x + 1.5 and y - 4 <= y0 <= y + 1 and y1 <= y + 6


def test_barcode_zone_is_only_checked_on_the_first_page(tmp_path):
    """Page 2 may use the area of page 1's barcode zone (no window behind it)."""
    assert verdict_of(write(tmp_path / "ok.pdf", marks=((1, 30, 86, "text"),))).ok


def test_configured_omr_strip_must_be_clear(tmp_path):
    """With an OMR strip configured, ink inside it is OMR_ZONE_NOT_CLEAR."""
    settings = load_settings(environ={})
    import dataclasses

    settings = dataclasses.replace(
        settings, intake=dataclasses.replace(settings.intake, omr_zone_mm=(196.0, 100.0, 8.0, 80.0))
    )
    spec = check_spec(settings)
    verdict = verdict_of(write(tmp_path / "x.pdf", marks=((0, 198, 150, "|"),)), spec=spec)
    assert verdict.code == Code.OMR_ZONE_NOT_CLEAR and "inside the OMR strip" in verdict.reason


def test_landscape_page_is_its_own_code(tmp_path):
    """An A4 landscape page is PAGE_LANDSCAPE, saying to rotate it."""
    verdict = verdict_of(write(tmp_path / "x.pdf", pagesize=landscape(A4)))
    assert verdict.code == Code.PAGE_LANDSCAPE and "297 × 210 mm" in verdict.reason


def test_letter_size_page_is_refused_in_millimetres(tmp_path):
    """A US Letter page is PAGE_SIZE naming 216 × 279 mm."""
    verdict = verdict_of(write(tmp_path / "x.pdf", pagesize=letter))
    assert verdict.code == Code.PAGE_SIZE and "216 × 279 mm" in verdict.reason


def test_too_many_pages_for_the_largest_envelope(tmp_path):
    """More pages than the largest envelope takes is TOO_MANY_PAGES with both numbers."""
    verdict = check(write(tmp_path / "x.pdf", pages=4).read_bytes(), check_spec(max_pages=3), address_of(ROW))
    assert verdict.code == Code.TOO_MANY_PAGES and "4 pages" in verdict.reason and "takes 3" in verdict.reason


def test_font_that_is_not_embedded_is_named(tmp_path):
    """A TrueType font used without embedding is FONT_NOT_EMBEDDED, naming the font."""
    data = hostile.one_page(b"BT /F1 12 Tf 72 400 Td (Hello) Tj ET").replace(
        b"/Subtype /Type1 /BaseFont /Helvetica", b"/Subtype /TrueType /BaseFont /ArialMT"
    )
    verdict = check(data, SPEC)
    assert verdict.code == Code.FONT_NOT_EMBEDDED and "ArialMT" in verdict.reason


def test_standard_fonts_may_stay_unembedded(tmp_path):
    """Helvetica (a standard PDF font) without embedding passes by default."""
    assert check(hostile.one_page(b"BT /F1 12 Tf 72 400 Td (Hello) Tj ET"), SPEC).ok


def test_standard_fonts_can_be_required_embedded(tmp_path):
    """With allow_standard_fonts off, even Helvetica must be embedded."""
    import dataclasses

    strict = dataclasses.replace(SPEC, allow_standard_fonts=False)
    verdict = check(hostile.one_page(b"BT /F1 12 Tf 72 400 Td (Hello) Tj ET"), strict)
    assert verdict.code == Code.FONT_NOT_EMBEDDED and "Helvetica" in verdict.reason
