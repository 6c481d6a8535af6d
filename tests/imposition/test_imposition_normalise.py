"""Odd input: landscape pages, /Rotate, differing page boxes and non-A4 sizes are normalised or refused by
page."""

from __future__ import annotations

import pikepdf
import pytest
from reportlab.lib.pagesizes import A4, A5, landscape, letter

from imposition import Layout, Marks, Normalise, PageDoesNotFit, PieceInput, WrongPageSize, impose
from tests.imposition.imposition_helpers import placements, write_labelled

W, H = 595.28, 841.89


#: Pages taken as they are (the default of impose).
AS_THEY_ARE = Normalise()


def placed(tmp_path, path, normalise=AS_THEY_ARE):
    out = tmp_path / "job.pdf"
    impose([PieceInput("P1", path)], out, "J1", Layout(), Marks.none(), normalise)
    return placements(out)[0][0][1]


def test_landscape_page_is_turned_onto_the_portrait_leaf(tmp_path):
    """A landscape A4 page is turned a quarter counter-clockwise and fills the leaf."""
    path = write_labelled(tmp_path / "l.pdf", "p1", 1, pagesize=landscape(A4))
    assert placed(tmp_path, path) == (0.0, 1.0, -1.0, 0.0, W, 0.0)


def test_landscape_page_is_refused_when_turning_is_not_allowed(tmp_path):
    """Without rotate_landscape the landscape page is refused, naming file and page."""
    path = write_labelled(tmp_path / "l.pdf", "p1", 1, pagesize=landscape(A4))
    with pytest.raises(WrongPageSize, match=r"l\.pdf page 1 .*allow rotate_landscape"):
        placed(tmp_path, path, Normalise(rotate_landscape=False))


def test_rotate_90_is_applied_so_the_page_shows_upright(tmp_path):
    """A portrait page stored landscape with /Rotate 90 is placed with the 90° turn its viewer would apply."""
    path = write_labelled(tmp_path / "r.pdf", "p1", 1, pagesize=landscape(A4), rotate=90)
    assert placed(tmp_path, path) == (0.0, -1.0, 1.0, 0.0, 0.0, H)


def test_trim_box_smaller_than_media_box_is_what_is_placed(tmp_path):
    """A page with a bleed (media box 6 mm larger) is placed by its A4 trim box, shifted by the bleed."""
    path = write_labelled(tmp_path / "b.pdf", "p1", 1, pagesize=(W + 34.02, H + 34.02))
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        pdf.pages[0].obj.TrimBox = pikepdf.Array([17.01, 17.01, W + 17.01, H + 17.01])
        pdf.save(path)
    assert placed(tmp_path, path) == (1.0, 0.0, 0.0, 1.0, -17.01, -17.01)


def test_letter_size_is_refused_unless_scaling_is_allowed(tmp_path):
    """US Letter is refused by default, naming file and page, and the message names the option."""
    path = write_labelled(tmp_path / "us.pdf", "p1", 2, pagesize=letter)
    with pytest.raises(WrongPageSize, match=r"us\.pdf page 1 .*scale-to-fit"):
        placed(tmp_path, path)


def test_letter_size_is_scaled_to_fit_when_allowed(tmp_path):
    """With scale_to_fit, US Letter is scaled by 210 mm / 8.5 in (0.97) and centred vertically (12.6 mm)."""
    path = write_labelled(tmp_path / "us.pdf", "p1", 1, pagesize=letter)
    assert placed(tmp_path, path, Normalise(scale_to_fit=True)) == (0.97, 0.0, 0.0, 0.97, 0.0, 35.77)


def test_a5_is_enlarged_to_a4_when_scaling_is_allowed(tmp_path):
    """A5 has A4's shape: scale-to-fit enlarges it by √2 to fill the leaf."""
    path = write_labelled(tmp_path / "a5.pdf", "p1", 1, pagesize=A5)
    assert placed(tmp_path, path, Normalise(scale_to_fit=True))[0] == 1.41


def test_a_strip_too_far_from_a4_shape_is_refused_even_when_scaling(tmp_path):
    """A 210 × 99 mm slip (turned: 99 × 210 mm) would be scaled into a band: refused, naming the page."""
    path = write_labelled(tmp_path / "dl.pdf", "p1", 1, pagesize=(W, 280.63))
    with pytest.raises(PageDoesNotFit, match=r"dl\.pdf page 1: 99 × 210 mm is too far"):
        placed(tmp_path, path, Normalise(scale_to_fit=True))
