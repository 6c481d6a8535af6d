"""PWG raster: the Numba encoder equals its reference, libcups reads what we write, codes are stamped
crisp."""

from __future__ import annotations

import numpy as np
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from imposition import Duplex, Layout, PieceInput, Scheme, SheetSize, _pwg_reference
from imposition.pwg import SYNC, encode_page, impose_raster, page_header
from tests.imposition.imposition_helpers import read_pwg_with_libcups, write_labelled

#: Pixel values drawn from a small alphabet so rows have runs, literals and repeated lines.
pages = st.integers(1, 12).flatmap(
    lambda h: st.integers(1, 300).flatmap(
        lambda w: arrays(np.uint8, (h, w), elements=st.sampled_from([0, 7, 128, 255]))
    )
)


@settings(max_examples=200, deadline=None)
@given(pages)
def test_numba_encoder_matches_the_reference_byte_for_byte(page):
    """Property: the compiled encoder writes exactly the reference's bytes."""
    assert encode_page(page) == _pwg_reference.encode_page(page)


def test_long_runs_and_many_equal_lines_are_split_at_the_format_limits():
    """600 equal lines of one value: groups of 256 lines (repeat byte 255) with runs of 128 pixels."""
    data = encode_page(np.full((600, 300), 255, np.uint8))
    assert data[:7] == bytes([255, 127, 255, 127, 255, 43, 255])
    assert data == _pwg_reference.encode_page(np.full((600, 300), 255, np.uint8))


def test_libcups_reads_back_the_pixels_and_header(tmp_path):
    """A written page decodes with libcups to the same pixels, size, resolution and sGray colour space."""
    rng = np.random.default_rng(3)
    page = (rng.random((40, 123)) < 0.3).astype(np.uint8) * 200
    path = tmp_path / "p.pwg"
    path.write_bytes(SYNC + page_header(123, 40, 300, (595.28, 841.89), 1) + encode_page(page))
    ((fields, pixels),) = read_pwg_with_libcups(path)
    assert (fields["width"], fields["height"], fields["dpi"], fields["color_space"]) == (123, 40, 300, 18)
    assert np.array_equal(pixels, page)


def test_raster_job_codes_decode_on_every_sheet_side(tmp_path):
    """2-up SRA3 work-and-tumble at 200 dpi: libcups-decoded sides carry the stamped codes, backs flagged
    R."""
    pieces = [
        PieceInput("P1", write_labelled(tmp_path / "a.pdf", "p1", 2), "RR100000015ZZ", "PM1:ABC"),
        PieceInput("P2", write_labelled(tmp_path / "b.pdf", "p2", 1)),
    ]
    out = tmp_path / "job.pwg"
    impose_raster(pieces, out, "J1", Layout(Scheme.CUT_STACK, SheetSize.SRA3, Duplex.TUMBLE), dpi=200)
    sides = read_pwg_with_libcups(out)
    assert [(f["duplex"], f["tumble"], f["total"]) for f, _ in sides] == [(1, 1, 2), (1, 1, 2)]
    texts = [sorted(r.text for r in zxingcpp.read_barcodes(pixels)) for _, pixels in sides]
    assert texts == [["J1|P1|1/1", "J1|P2|1/1", "PM1:ABC", "RR100000015ZZ"], ["J1|P1|1/1||R", "J1|P2|1/1||R"]]


def test_control_code_modules_are_whole_device_pixels(tmp_path):
    """At 300 dpi a 0.5 mm module is stamped as solid 6-pixel squares: only pure black and white inside the
    code."""
    out = tmp_path / "job.pwg"
    impose_raster([PieceInput("P1", write_labelled(tmp_path / "a.pdf", "p1", 1))], out, "J1", dpi=300)
    ((_, pixels),) = read_pwg_with_libcups(out)
    zone = pixels[
        round(250 / 25.4 * 300) : round(262 / 25.4 * 300), round(6 / 25.4 * 300) : round(18 / 25.4 * 300)
    ]
    assert set(np.unique(zone)) <= {0, 255} and (zone == 0).any()
