"""Golden placement tables: the matrix every source page is drawn with, read back from the PDF with pypdf.

The job is three pieces of 1, 3 and 2 pages, the third a simplex letter; stacks are 2 sheets deep where the
layout cuts. Numbers are points: 595.28 = 210 mm, 42.52 = 15 mm, 32.6 = 11.5 mm, 141.73 = 50 mm.
"""

from __future__ import annotations

import pytest
from pypdf import PdfReader

from imposition import Duplex, Layout, Marks, Scheme, SheetSize, impose
from tests.imposition.imposition_helpers import make_pieces, placements

IDENTITY = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
RIGHT_A3 = (1.0, 0.0, 0.0, 1.0, 595.28, 0.0)
LEFT_SRA3 = (1.0, 0.0, 0.0, 1.0, 42.52, 32.6)
RIGHT_SRA3 = (1.0, 0.0, 0.0, 1.0, 637.79, 32.6)
LEFT_SRA3_TURNED = (-1.0, 0.0, 0.0, -1.0, 637.79, 874.49)
LEFT_WEB = (1.0, 0.0, 0.0, 1.0, 141.73, 0.0)
RIGHT_WEB = (1.0, 0.0, 0.0, 1.0, 737.01, 0.0)

GOLDEN = {
    "1up simplex": (
        Layout(),
        [
            [("p1-1", IDENTITY)],
            [("p2-1", IDENTITY)],
            [("p2-2", IDENTITY)],
            [("p2-3", IDENTITY)],
            [("p3-1", IDENTITY)],
            [("p3-2", IDENTITY)],
        ],
    ),
    "1up duplex turn": (
        Layout(duplex=Duplex.TURN),
        [
            [("p1-1", IDENTITY)],
            [],
            [("p2-1", IDENTITY)],
            [("p2-2", IDENTITY)],
            [("p2-3", IDENTITY)],
            [],
            [("p3-1", IDENTITY)],
            [],
            [("p3-2", IDENTITY)],
            [],
        ],
    ),
    "2up A3 simplex": (
        Layout(Scheme.CUT_STACK, SheetSize.A3, stack_depth=2),
        [
            [("p1-1", IDENTITY), ("p2-2", RIGHT_A3)],
            [("p2-1", IDENTITY), ("p2-3", RIGHT_A3)],
            [("p3-1", IDENTITY), ("p3-2", RIGHT_A3)],
        ],
    ),
    "2up A3 turn": (
        Layout(Scheme.CUT_STACK, SheetSize.A3, Duplex.TURN, stack_depth=2),
        [
            [("p1-1", IDENTITY), ("p2-3", RIGHT_A3)],
            [],
            [("p2-1", IDENTITY)],
            [("p2-2", RIGHT_A3)],
            [("p3-1", IDENTITY), ("p3-2", RIGHT_A3)],
            [],
        ],
    ),
    "2up SRA3 tumble": (
        Layout(Scheme.CUT_STACK, SheetSize.SRA3, Duplex.TUMBLE, stack_depth=2),
        [
            [("p1-1", LEFT_SRA3), ("p2-3", RIGHT_SRA3)],
            [],
            [("p2-1", LEFT_SRA3)],
            [("p2-2", LEFT_SRA3_TURNED)],
            [("p3-1", LEFT_SRA3), ("p3-2", RIGHT_SRA3)],
            [],
        ],
    ),
    "web 2up": (
        Layout(Scheme.WEB_2UP, SheetSize.WEB520),
        [
            [("p1-1", LEFT_WEB), ("p2-3", RIGHT_WEB)],
            [("p2-1", LEFT_WEB), ("p3-1", RIGHT_WEB)],
            [("p2-2", LEFT_WEB), ("p3-2", RIGHT_WEB)],
        ],
    ),
}


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    return make_pieces(tmp_path_factory.mktemp("letters"), [1, 3, 2], simplex={2})


@pytest.mark.parametrize("name", list(GOLDEN))
def test_placement_matrices_match_the_golden_table(name, pieces, tmp_path):
    """Every source page lands on the expected sheet side with the expected matrix, and nothing else is
    placed."""
    layout, expected = GOLDEN[name]
    out = tmp_path / "job.pdf"
    impose(pieces, out, "J1", layout, Marks.none())
    assert placements(out) == expected


@pytest.mark.parametrize(
    ("sheet", "size"), [(SheetSize.A3, [1190.55, 841.89]), (SheetSize.SRA3, [1275.59, 907.09])]
)
def test_two_up_sheets_have_the_press_sheet_size(sheet, size, pieces, tmp_path):
    """Every output page is the landscape press sheet."""
    out = tmp_path / "job.pdf"
    impose(pieces, out, "J1", Layout(Scheme.CUT_STACK, sheet), Marks.none())
    assert {tuple(round(float(v), 2) for v in p.mediabox[2:]) for p in PdfReader(out).pages} == {tuple(size)}


def test_sheet_map_names_sheet_side_slot_and_stack(pieces, tmp_path):
    """The sheet map of 2-up A3 work-and-turn lists each leaf side with its slot, stack and blank backs as
    page 0."""
    sheet_map = impose(
        pieces,
        tmp_path / "job.pdf",
        "J1",
        Layout(Scheme.CUT_STACK, SheetSize.A3, Duplex.TURN, stack_depth=2),
        Marks.none(),
    )
    rows = [
        (r.sheet, r.side.value, r.slot, r.piece_id, r.page, r.sheet_of_piece, r.sheets_in_piece, r.stack)
        for r in sheet_map
    ]
    assert rows == [
        (1, "front", 1, "P1", 1, 1, 1, 1),
        (1, "front", 2, "P2", 3, 2, 2, 1),
        (1, "back", 1, "P2", 0, 2, 2, 1),
        (1, "back", 2, "P1", 0, 1, 1, 1),
        (2, "front", 1, "P2", 1, 1, 2, 1),
        (2, "back", 2, "P2", 2, 1, 2, 1),
        (3, "front", 1, "P3", 1, 1, 2, 2),
        (3, "front", 2, "P3", 2, 2, 2, 2),
        (3, "back", 1, "P3", 0, 2, 2, 2),
        (3, "back", 2, "P3", 0, 1, 2, 2),
    ]
