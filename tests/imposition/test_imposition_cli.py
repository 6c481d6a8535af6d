"""``plant impose``: a folder of letters in, a print-ready file and a sheet map out."""

from __future__ import annotations

import json

import pytest
import zxingcpp
from pypdf import PdfReader
from reportlab.lib.pagesizes import letter

from imposition import Layout
from plant.cli import main
from tests.imposition.imposition_helpers import codes_by_slot, render, write_labelled
from tracking import is_valid_s10


@pytest.fixture
def letters(tmp_path):
    folder = tmp_path / "letters"
    folder.mkdir()
    for name, pages in [("b", 2), ("a", 1), ("c", 3)]:
        write_labelled(folder / f"{name}.pdf", name, pages)
    return folder


def test_two_up_duplex_job_and_its_sheet_map(letters, tmp_path, capsys):
    """2-up A3 work-and-turn of 3 letters (6 pages, 4 leaves): 2 sheets, 4 pages, the map in name order."""
    out, sheet_map = tmp_path / "job.pdf", tmp_path / "map.json"
    code = main(
        [
            "impose",
            str(letters),
            "-o",
            str(out),
            "--layout",
            "2up-cutstack",
            "--duplex",
            "turn",
            "--stack-depth",
            "2",
            "--map",
            str(sheet_map),
            "--job",
            "J9",
            "--state-dir",
            str(tmp_path / "s"),
        ]
    )
    assert code == 0
    assert len(PdfReader(out).pages) == 4
    data = json.loads(sheet_map.read_text())
    fronts = [
        (s["sheet"], s["slot"], s["piece_id"], s["page"]) for s in data["sheets"] if s["side"] == "front"
    ]
    assert fronts == [(1, 1, "a", 1), (1, 2, "c", 1), (2, 1, "b", 1), (2, 2, "c", 3)]
    assert "onto 2 sheets" in capsys.readouterr().err


def test_marks_all_allocates_tracking_ids_and_signs_postage_marks(letters, tmp_path):
    """--marks all: each first page carries a valid S10 id from the configured range and a PM1 postage
    mark."""
    out = tmp_path / "job.pdf"
    assert (
        main(["impose", str(letters), "-o", str(out), "--marks", "all", "--state-dir", str(tmp_path / "s")])
        == 0
    )
    images = render(out, tmp_path, dpi=200)
    layout = Layout()
    ids = [codes_by_slot(images[i], layout, 200, zxingcpp.BarcodeFormat.Code128)[0][0] for i in (0, 1, 3)]
    marks = [codes_by_slot(images[i], layout, 200, zxingcpp.BarcodeFormat.QRCode)[0][0] for i in (0, 1, 3)]
    assert all(is_valid_s10(i) for i in ids) and len(set(ids)) == 3
    assert all(m.startswith("PM1:") for m in marks)


def test_refusal_names_the_page_and_exits_65(letters, tmp_path, capsys):
    """A Letter-size page is refused: exit 65 and a message naming the file and page; no output file."""
    write_labelled(letters / "d.pdf", "d", 1, pagesize=letter)
    out = tmp_path / "job.pdf"
    assert main(["impose", str(letters), "-o", str(out), "--state-dir", str(tmp_path / "s")]) == 65
    assert "d.pdf page 1" in capsys.readouterr().err
    assert not out.exists()


def test_sheet_must_suit_the_layout(letters, tmp_path, capsys):
    """1up on A3 is refused with the sheets the layout takes."""
    code = main(
        ["impose", str(letters), "-o", str(tmp_path / "o.pdf"), "--sheet", "A3", "--state-dir", str(tmp_path)]
    )
    assert code == 65 and "use A4" in capsys.readouterr().err


def test_pwg_format_writes_a_raster_libcups_reads(letters, tmp_path):
    """--format pwg --dpi 150: one raster page per sheet side, readable by libcups."""
    from tests.imposition.imposition_helpers import read_pwg_with_libcups

    out = tmp_path / "job.pwg"
    assert (
        main(
            [
                "impose",
                str(letters),
                "-o",
                str(out),
                "--format",
                "pwg",
                "--dpi",
                "150",
                "--state-dir",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )
    pages = read_pwg_with_libcups(out)
    assert [(f["width"], f["height"]) for f, _ in pages] == [(1241, 1754)] * 6  # pdftoppm rounds 1240.2 px up
