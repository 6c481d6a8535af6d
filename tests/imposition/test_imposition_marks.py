"""Marks on paper: tracking barcode and postage mark on first pages, OMR tracks, crop marks, control
fields."""

from __future__ import annotations

import numpy as np
import pytest
import zxingcpp
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader
from pypdf.generic import ContentStream

from imposition import (
    Duplex,
    Layout,
    Marks,
    OmrGeometryError,
    OmrSpec,
    PieceInput,
    Scheme,
    SheetSize,
    impose,
    mm,
)
from tests.imposition.imposition_helpers import DPI, codes_by_slot, render, write_labelled

PAYLOAD = "PM1:TESTPAYLOADPIECE1RR100000015ZZ"


@pytest.fixture
def two_pieces(tmp_path):
    return [
        PieceInput("P1", write_labelled(tmp_path / "a.pdf", "p1", 2), "RR100000015ZZ", PAYLOAD, selects="13"),
        PieceInput("P2", write_labelled(tmp_path / "b.pdf", "p2", 1), "RR100000029ZZ", None, flags="D"),
    ]


def test_tracking_barcode_and_postage_mark_only_on_first_pages(two_pieces, tmp_path):
    """2-up A3: each piece's first page carries its Code 128 and (when it has one) its postage QR."""
    layout = Layout(Scheme.CUT_STACK, SheetSize.A3)
    out = tmp_path / "job.pdf"
    impose(two_pieces, out, "J1", layout)
    (sheet, second) = render(out, tmp_path, dpi=200)  # 0.25 mm bars need 2 px
    assert codes_by_slot(sheet, layout, 200, zxingcpp.BarcodeFormat.Code128) == {
        0: ["RR100000015ZZ"],
        1: ["RR100000029ZZ"],
    }
    assert codes_by_slot(sheet, layout, 200, zxingcpp.BarcodeFormat.QRCode) == {0: [PAYLOAD]}
    assert (
        codes_by_slot(second, layout, 200, (zxingcpp.BarcodeFormat.Code128, zxingcpp.BarcodeFormat.QRCode))
        == {}
    )


def test_postage_mark_shows_in_the_din_5008_address_field(two_pieces, tmp_path):
    """The QR lies inside the 85 × 45 mm address field at (20, 45) mm, which faces the envelope window."""
    out = tmp_path / "job.pdf"
    impose(two_pieces[:1], out, "J1", Layout())
    image = render(out, tmp_path)[0]
    (found,) = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    dpmm = DPI / 25.4
    for point in (found.position.top_left, found.position.bottom_right):
        assert 20 * dpmm <= point.x <= 105 * dpmm and 45 * dpmm <= point.y <= 90 * dpmm


def test_control_code_carries_selects_and_flags(two_pieces, tmp_path):
    """The control DataMatrix reads job|piece|i/n|selects|flags."""
    out = tmp_path / "job.pdf"
    impose(two_pieces, out, "J1", Layout())
    layout = Layout()
    texts = [codes_by_slot(image, layout)[0][0] for image in render(out, tmp_path)]
    assert texts == ["J1|P1|1/2|13|", "J1|P1|2/2|13|", "J1|P2|1/1||D"]


def dark_positions(image: np.ndarray, spec: OmrSpec) -> list[bool]:
    """Read an OMR track off a rendering: mean darkness along the middle of each position's bar."""
    scale = DPI / 72
    x0, x1 = int((spec.x + 1) * scale), int((spec.x + spec.length - 1) * scale)
    marks = []
    for position in range(spec.positions):
        y = int((spec.top + position * spec.pitch + spec.thickness / 2) * scale)
        marks.append(image[y - 1 : y + 2, x0:x1].mean() < 128)
    return marks


def test_omr_track_reads_back_end_of_collation_selects_and_sequence(two_pieces, tmp_path):
    """Rendered OMR tracks decode to (end of collation, selects, leaf number mod 8) with even parity."""
    spec = OmrSpec()
    out = tmp_path / "job.pdf"
    impose(two_pieces, out, "J1", Layout(), Marks(omr=spec))
    reads = [spec.read(dark_positions(image, spec)) for image in render(out, tmp_path)]
    assert reads == [(False, "13", 1), (True, "13", 2), (True, "", 3)]


@given(st.booleans(), st.sets(st.integers(1, 3)), st.integers(0, 10_000))
def test_omr_bits_read_back_with_even_parity(last, feeders, sequence):
    """Property: any track :meth:`OmrSpec.bits` makes reads back to its fields and has an even mark count."""
    spec = OmrSpec()
    selects = "".join(str(f) for f in sorted(feeders))
    bits = spec.bits(last, selects, sequence)
    assert sum(bits) % 2 == 0
    assert spec.read(bits) == (last, selects, sequence % 8)


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({"thickness": mm(0.3)}, "thickness"),
        ({"thickness": mm(0.8)}, "thickness"),
        ({"length": mm(8)}, "length"),
        ({"pitch": mm(2)}, "pitch"),
        ({"pitch": mm(8)}, "pitch"),
        ({"feeders": 9, "pitch": mm(5)}, "pitch"),
        ({"x": mm(199)}, "x"),
        ({"top": mm(10)}, "top"),
        ({"top": mm(260)}, "top"),
    ],
)
def test_omr_geometry_outside_the_reader_limits_is_refused(options, setting):
    """Marks thinner, shorter, closer, longer than the limits, or without clear zones, are refused by
    setting."""
    with pytest.raises(OmrGeometryError) as info:
        OmrSpec(**options)
    assert info.value.setting == setting


def test_omr_track_behind_the_back_control_code_is_refused(two_pieces, tmp_path):
    """Duplex: a track placed where the back's control code is printed would be misread; it is refused."""
    with pytest.raises(OmrGeometryError, match="behind the control code"):
        impose(
            two_pieces,
            tmp_path / "job.pdf",
            "J1",
            Layout(duplex=Duplex.TURN),
            Marks(omr=OmrSpec(top=mm(230))),
        )


@pytest.mark.parametrize(("sheet", "strokes"), [(SheetSize.SRA3, 10), (SheetSize.A3, 0)])
def test_crop_marks_where_the_sheet_has_margin(sheet, strokes, two_pieces, tmp_path):
    """SRA3: a mark above and below each of the 3 vertical cuts, left and right of the 2 horizontal ones; A3
    none."""
    out = tmp_path / "job.pdf"
    impose(two_pieces, out, "J1", Layout(Scheme.CUT_STACK, sheet))
    reader = PdfReader(out)
    operators = [op for _, op in ContentStream(reader.pages[0].get_contents(), reader).operations]
    assert operators.count(b"l") == strokes
