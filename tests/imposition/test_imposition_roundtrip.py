"""Round trip per layout: render the imposed job, read every control code, cut and stack, get the pieces back.

The simulation is physical: each cut stack (from the sheet map) is guillotined into one pile per slot, pile 0
goes on pile 1 and so on, and the fronts are read top to bottom as an inserter would. Backs are checked to
carry the same piece and leaf number, flagged R.
"""

from __future__ import annotations

import pytest

from imposition import Duplex, Layout, Scheme, SheetSize, impose
from tests.imposition.imposition_helpers import codes_by_slot, make_pieces, render
from tracking import parse_control

LAYOUTS = {
    "1up simplex": Layout(),
    "1up tumble": Layout(duplex=Duplex.TUMBLE),
    "2up A3 simplex": Layout(Scheme.CUT_STACK, SheetSize.A3, stack_depth=3),
    "2up A3 turn": Layout(Scheme.CUT_STACK, SheetSize.A3, Duplex.TURN, stack_depth=2),
    "2up SRA3 tumble": Layout(Scheme.CUT_STACK, SheetSize.SRA3, Duplex.TUMBLE, stack_depth=2),
    "web 2up turn": Layout(Scheme.WEB_2UP, SheetSize.WEB520, Duplex.TURN),
}
#: Page counts of the job's pieces; piece 4 (index 3) is a simplex letter.
COUNTS = [1, 3, 2, 4, 1]


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    return make_pieces(tmp_path_factory.mktemp("letters"), COUNTS, simplex={3})


def read_job(layout, sheet_map, images):
    """Fronts in stacking order and the back code of every leaf, both as decoded text."""
    sides = 2 if layout.duplexed else 1
    fronts = [codes_by_slot(images[i], layout) for i in range(0, len(images), sides)]
    backs = [codes_by_slot(images[i], layout) for i in range(1, len(images), sides)] if sides == 2 else []
    stacks = {}
    for record in sheet_map:
        stacks.setdefault(record.stack, set()).add(record.sheet)
    collated, paired = [], []
    for stack in sorted(stacks):
        sheets = sorted(stacks[stack])
        for slot in range(layout.n_up):
            for sheet in sheets:
                texts = fronts[sheet - 1].get(slot, [])
                assert len(texts) <= 1
                if texts:
                    collated.append(texts[0])
                    if backs:
                        back_slot, _ = layout.back_slot(slot)
                        paired.append((texts[0], backs[sheet - 1].get(back_slot, [None])[0]))
    return collated, paired


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_cut_and_stacked_fronts_give_every_piece_in_order(name, pieces, tmp_path):
    """Fronts read after cutting and stacking: pieces P1…P5 in order, each with sheets 1/n … n/n."""
    layout = LAYOUTS[name]
    out = tmp_path / "job.pdf"
    sheet_map = impose(pieces, out, "J7", layout)
    collated, _ = read_job(layout, sheet_map, render(out, tmp_path))
    codes = [parse_control(text) for text in collated]
    leaves = [(-(-n // 2) if layout.duplexed and i != 3 else n) for i, n in enumerate(COUNTS)]
    expected = [(f"P{i + 1}", s, n) for i, n in enumerate(leaves) for s in range(1, n + 1)]
    assert [(c.piece, c.sheet, c.of) for c in codes] == expected
    assert {c.job for c in codes} == {"J7"} and not any(c.reverse for c in codes)


@pytest.mark.parametrize("name", [n for n, layout in LAYOUTS.items() if layout.duplexed])
def test_every_back_carries_its_leaf_code_flagged_reverse(name, pieces, tmp_path):
    """Each leaf's back (blank or not) decodes to the same piece and i/n as its front, with flag R."""
    layout = LAYOUTS[name]
    out = tmp_path / "job.pdf"
    sheet_map = impose(pieces, out, "J8", layout)
    _, paired = read_job(layout, sheet_map, render(out, tmp_path))
    for front, back in paired:
        f, b = parse_control(front), parse_control(back)
        assert (b.piece, b.sheet, b.of, b.flags) == (f.piece, f.sheet, f.of, "R")
