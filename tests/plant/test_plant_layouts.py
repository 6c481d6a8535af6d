"""Per-printer layouts: the [[printers]] layout, sheet, duplex and stack_depth keys (validated, naming the
key), the layout and press ticket a printer's jobs get, the cut spec written at imposition, and the insert
stage's feed through the cutter in front of the inserter."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from imposition import Duplex, Layout, Marks, PieceInput, Scheme, SheetSize, impose
from inserters import Backs, CutSpec
from plant.config import load_settings
from plant.errors import ConfigError
from plant.fleet.cutting import cut_spec_path, feed, leaves_per_piece, write_cut_spec
from plant.fleet.devices import make_cutter
from plant.stages.impose import job_layout, ticket_options
from tests.imposition.imposition_helpers import write_labelled

INSERTER = '[[inserters]]\nname = "ins"\n'


def settings_with(tmp_path: Path, printer: str, inserter: str = INSERTER):
    """Settings of a one-printer, one-inserter fleet; ``printer`` holds extra [[printers]] lines."""
    path = tmp_path / "plant.toml"
    path.write_text(f'[[printers]]\nname = "p"\n{printer}\n{inserter}')
    return load_settings(path, environ={"PLANT_STATE_DIR": str(tmp_path / "state")})


@pytest.mark.parametrize(
    "lines, layout",
    [
        ("", Layout()),
        ('layout = "2up-cutstack"', Layout(Scheme.CUT_STACK, SheetSize.A3)),
        (
            'layout = "2up-cutstack"\nsheet = "SRA3"\nduplex = "tumble"\nstack_depth = 40',
            Layout(Scheme.CUT_STACK, SheetSize.SRA3, Duplex.TUMBLE, stack_depth=40),
        ),
        ('layout = "web-2up"\nduplex = "turn"', Layout(Scheme.WEB_2UP, SheetSize.WEB520, Duplex.TURN)),
        ('duplex = "turn"', Layout(duplex=Duplex.TURN)),
    ],
)
def test_a_printers_layout_keys_make_its_jobs_layout(tmp_path, lines, layout):
    """layout/sheet/duplex/stack_depth become the imposition layout of the printer's duplex jobs (default 1-up
    simplex A4, and each N-up layout's first sheet); simplex jobs: tests/plant/test_duplex_letters.py."""
    assert job_layout(settings_with(tmp_path, lines), "p", duplex=True) == layout


def test_a_printer_the_fleet_no_longer_has_gets_one_up(tmp_path):
    """A job planned on a printer since removed from plant.toml is imposed 1-up simplex A4."""
    assert job_layout(settings_with(tmp_path, 'layout = "web-2up"'), "gone") == Layout()


@pytest.mark.parametrize(
    "lines, key, hint",
    [
        ('layout = "4up"', "printers[0].layout", "1up, 2up-cutstack, web-2up"),
        ('layout = "2up-cutstack"\nsheet = "A4"', "printers[0].sheet", 'use sheet = "A3" or "SRA3"'),
        ('layout = "web-2up"\nsheet = "SRA3"', "printers[0].sheet", 'use sheet = "WEB520"'),
        ('sheet = "A3"', "printers[0].sheet", 'layout = "1up" cannot print on sheet = "A3"'),
        ('sheet = "A5"', "printers[0].sheet", "A4, A3, SRA3, WEB520"),
        ('duplex = "none"', "printers[0].duplex", "simplex, turn, tumble"),
        ('layout = "2up-cutstack"\nstack_depth = 0', "printers[0].stack_depth", "≥ 1"),
        ('layout = "2up-cutstack"\nstack_depth = 2', "printers[0].stack_depth", "use stack_depth ≥ 3"),
        ('sides = "two-sided-long-edge"', "printers[0].sides", "prints simplex"),
        (
            'duplex = "tumble"\nsides = "one-sided"',
            "printers[0].sides",
            "two-sided-long-edge, two-sided-short-edge",
        ),
    ],
)
def test_impossible_layouts_are_refused_naming_the_key(tmp_path, lines, key, hint):
    """A layout imposition has not, a sheet the layout cannot use, a stack too shallow for the longest piece
    an inserter takes, or IPP sides that contradict the duplex mode: refused, naming the key and what to
    do."""
    with pytest.raises(ConfigError, match=hint) as refused:
        settings_with(tmp_path, lines)
    assert refused.value.key == key


@pytest.mark.parametrize(
    "lines, problem",
    [
        ("cutter_sheets_per_minute = 0", "cutter_sheets_per_minute"),
        ("cutter_destroys = [0]", "cutter_destroys"),
    ],
)
def test_impossible_cutters_are_refused(tmp_path, lines, problem):
    """The cutter in front of an inserter needs a speed and lifetime sheet numbers from 1."""
    with pytest.raises(ConfigError, match=problem):
        settings_with(tmp_path, "", INSERTER + lines + "\n")


@pytest.mark.parametrize(
    "lines, ticket",
    [
        ("", {"media": "A4", "sides": "one-sided"}),
        ('layout = "2up-cutstack"\nsheet = "SRA3"', {"media": "SRA3", "sides": "one-sided"}),
        ('layout = "2up-cutstack"\nduplex = "turn"', {"media": "A3", "sides": "two-sided-long-edge"}),
        ('duplex = "tumble"', {"media": "A4", "sides": "two-sided-short-edge"}),
        ('duplex = "tumble"\nsides = "two-sided-long-edge"', {"media": "A4", "sides": "two-sided-long-edge"}),
        ('layout = "web-2up"', {"media": "Custom.520x297mm", "sides": "one-sided"}),
    ],
)
def test_the_press_ticket_names_the_sheet_and_the_sides(tmp_path, lines, ticket):
    """A duplex job's ticket: media is the printer's sheet, its sides the duplex mode (or the configured
    sides)."""
    assert ticket_options(settings_with(tmp_path, lines), "p", duplex=True) == ticket


def imposed(tmp_path, layout: Layout, counts=(3, 1, 2)) -> Path:
    """A job of pieces ``1``… imposed by ``layout`` with its sheet map and cut spec, as the impose stage
    leaves it."""
    pieces = [
        PieceInput(str(i), write_labelled(tmp_path / f"{i}.pdf", f"l{i}", n)) for i, n in enumerate(counts, 1)
    ]
    out = tmp_path / "J000001.pdf"
    sheet_map = impose(pieces, out, "J000001", layout, Marks(postage=False, tracking=False))
    Path(f"{out}.map.json").write_text(sheet_map.to_json())
    write_cut_spec(out, layout, sheet_map)
    return out


def test_n_up_jobs_get_the_cut_spec_of_their_layout(tmp_path):
    """2-up tumble on SRA3, depth 2: the cut spec has the sheet, both leaf slots, the leaves per stack (4
    leaves per stack at most, stacks closed on pieces) and the backs' turn."""
    layout = Layout(Scheme.CUT_STACK, SheetSize.SRA3, Duplex.TUMBLE, stack_depth=2)
    spec = CutSpec.from_json(cut_spec_path(imposed(tmp_path, layout, counts=(4, 2, 3, 6))).read_text())
    assert spec.sheet == SheetSize.SRA3.points and spec.backs is Backs.TUMBLE
    assert spec.leaves == tuple((r.x, r.y, r.w, r.h) for r in map(layout.slot_rect, range(2)))
    assert spec.stacks == (3, 2, 3)  # leaves 2+1 | 2 | 3


def test_one_up_jobs_get_no_cut_spec(tmp_path):
    """1-up work needs no cutter: no spec is written (and a stale one is removed)."""
    cut_spec_path(tmp_path / "J000001.pdf").write_text("stale")
    assert not cut_spec_path(imposed(tmp_path, Layout(duplex=Duplex.TURN))).exists()


def test_records_count_leaves_not_pages(tmp_path):
    """In duplex work a 3-page piece is 2 leaves in its envelope: the mail run data says so."""
    out = imposed(tmp_path, Layout(Scheme.CUT_STACK, SheetSize.A3, Duplex.TURN), counts=(3, 1, 4))
    assert leaves_per_piece(out) == {"1": 2, "2": 1, "3": 2}


def test_the_insert_stage_feeds_the_cutters_leaves_once_they_are_cut(tmp_path):
    """N-up work: the first look submits the cut (once, under the run id) and waits; when the cutter has cut,
    the inserter is fed its leaves, and the run's event gets the cut's facts. 1-up work goes straight in."""
    settings = settings_with(tmp_path, 'layout = "2up-cutstack"\nstack_depth = 3')
    plant = SimpleNamespace(settings=settings, plant_id="3fa9c21b")
    pdf = imposed(tmp_path, job_layout(settings, "p"))
    run, job = (
        SimpleNamespace(run_id="R000001", inserter="ins"),
        SimpleNamespace(job_id="J000001", pdf_path=str(pdf)),
    )
    assert feed(plant, run, job, pdf) is None
    assert feed(plant, run, job, pdf) is None
    cutter = make_cutter(settings, "ins")
    assert [p.name for p in (cutter.folder / "jobs").iterdir()] == [
        "3fa9c21b-R000001.json"
    ]  # its device name
    assert cutter.step() == 1
    fed = feed(plant, run, job, pdf)
    assert fed.sheets_pdf == cutter.result("3fa9c21b-R000001").output_pdf
    assert fed.cutting == {
        "cutter": "ins-cutter",
        "device_name": "3fa9c21b-R000001",
        "leaves": 6,
        "sheets_received": 3,
        "sheets_expected": 3,
        "destroyed": [],
        "misfed": [],
        "message": "6 leaves from 3 of 3 sheets",
    }
    (tmp_path / "one").mkdir()
    one_up = imposed(tmp_path / "one", Layout())
    assert (
        feed(plant, run, SimpleNamespace(job_id="J000001", pdf_path=str(one_up)), one_up).sheets_pdf == one_up
    )
