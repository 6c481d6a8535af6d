"""Duplex is the letter's, the press's duplex a capability: a piece's sheets are its leaves (mass and tariff
band follow them), the plan stage puts duplex jobs only on duplex-capable presses (or the manual/waiting
path), and the impose stage imposes and tickets a job duplex only when the job is."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pikepdf
import pytest
from sqlalchemy import select

from imposition import Duplex, Layout, Scheme, SheetMap, SheetSize, Side
from plant.config.sections import DuplexMode, InserterConfig, PrinterConfig, PrinterLayout
from plant.fleet.service import set_service
from plant.intake.submission import MANIFEST_COLUMNS, intake
from plant.ledger import schema as t
from plant.ledger import schema_postage as tp
from plant.postage.marks import weight_bands
from plant.postage.pieces import leaves, piece_mass
from plant.stages.impose import impose, job_layout, ticket_options
from plant.stages.plan import plan
from plant.stages.preflight import preflight
from plant.stages.route import route
from plant.testing import installed_plant
from tests.intake.letters import ROW, write
from tracking.postage import band_for

#: Letters of the batch: id → (pages, duplex). Duplex letters of 5–8 pages fit the 4-sheet envelopes as
#: leaves.
LETTERS = {
    "L1": (1, True),
    "L2": (2, False),
    "L3": (3, True),
    "L4": (4, False),
    "L5": (4, True),
    "L6": (8, True),
    "L7": (3, False),
    "L8": (1, False),
}
SIMPLEX_PRESS = PrinterConfig("press-s", sheets_per_minute=600.0)
DUPLEX_PRESS = PrinterConfig("press-d", sheets_per_minute=600.0, duplex=DuplexMode.TURN)


@pytest.mark.parametrize(
    "pages, duplex, expected",
    [
        (1, False, 1),
        (1, True, 1),
        (2, True, 1),
        (3, True, 2),
        (4, True, 2),
        (7, True, 4),
        (4, False, 4),
        (8, True, 4),
    ],
)
def test_a_letters_leaves_are_half_its_pages_rounded_up_when_duplex(pages, duplex, expected):
    """⌈pages/2⌉ leaves duplex, one a page simplex."""
    assert leaves(pages, duplex) == expected


def submission(folder: Path, letters: dict[str, tuple[int, bool]] = LETTERS) -> Path:
    """A folder of PDF letters with their manifest's ``duplex`` column."""
    folder.mkdir(parents=True)
    rows = []
    for number, (letter_id, (pages, duplex)) in enumerate(letters.items()):
        row = {**ROW, "letter_id": letter_id, "recipient_id": f"R{number}"}
        write(folder / f"{letter_id}.pdf", row, pages=pages)
        rows.append({**row, "duplex": "true" if duplex else "false"})
    with open(folder / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*MANIFEST_COLUMNS, "duplex"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


@pytest.fixture
def routed(settings, tmp_path):
    """A plant without devices (fleet: one simplex and one duplex press, envelopes of 4 sheets) whose batch of
    mixed duplex and simplex letters is pre-flighted and routed to print."""
    settings = replace(
        settings, printers=(SIMPLEX_PRESS, DUPLEX_PRESS), inserters=(InserterConfig("ins", max_sheets=4),)
    )
    with installed_plant(settings, devices=False) as current:
        result = intake(current.ledger, settings, submission(tmp_path / "in"))
        preflight(result.submission_id)
        route(result.submission_id)
        yield current, result.submission_id


def pieces_by_letter(current) -> dict:
    with current.ledger.read() as conn:
        return {
            r.letter_id: r
            for r in conn.execute(
                select(
                    t.letters.c.letter_id,
                    t.letters.c.state,
                    t.letters.c.reason_code,
                    t.letters.c.reason,
                    t.pieces.c.piece_id,
                    t.pieces.c.sheets,
                    t.pieces.c.mass_g,
                    t.pieces.c.job_id,
                ).select_from(t.letters.join(t.pieces, t.pieces.c.letter_pk == t.letters.c.pk))
            )
        }


def jobs(current) -> dict:
    with current.ledger.read() as conn:
        return {r.job_id: r for r in conn.execute(select(t.print_jobs))}


def test_a_pieces_sheets_and_mass_are_its_leaves(routed):
    """Every letter went to print; its piece has ⌈pages/2⌉ sheets when duplex, its pages when simplex, and the
    mass of those sheets: a 4-page duplex letter weighs 2 sheets, the 4-page simplex one 4."""
    current, _ = routed
    pieces = pieces_by_letter(current)
    assert set(pieces) == set(LETTERS)
    for letter_id, (pages, duplex) in LETTERS.items():
        expected = -(-pages // 2) if duplex else pages
        assert pieces[letter_id].sheets == expected, letter_id
        assert pieces[letter_id].mass_g == pytest.approx(piece_mass(current.settings.mass, expected))
    assert pieces["L5"].mass_g < pieces["L4"].mass_g


def test_duplex_jobs_go_only_to_the_duplex_press(routed):
    """The plan forms duplex and simplex jobs apart; every duplex letter's job is duplex and on the duplex
    press, every simplex letter's job is simplex (on either press)."""
    current, submission_id = routed
    plan(submission_id)
    pieces, formed = pieces_by_letter(current), jobs(current)
    assert {p.state for p in pieces.values()} == {"PLANNED"}
    for letter_id, (_, duplex) in LETTERS.items():
        job = formed[pieces[letter_id].job_id]
        assert job.duplex == int(duplex), letter_id
        if duplex:
            assert job.printer == DUPLEX_PRESS.name, letter_id


def test_duplex_letters_no_press_prints_fail_with_the_reason(routed):
    """On a fleet without a duplex press the duplex letters fail (NO_PRESS, the reason names duplex); the
    simplex ones are planned."""
    current, submission_id = routed
    current.settings = replace(current.settings, printers=(SIMPLEX_PRESS,))
    plan(submission_id)
    pieces = pieces_by_letter(current)
    for letter_id, (_, duplex) in LETTERS.items():
        if duplex:
            assert (pieces[letter_id].state, pieces[letter_id].reason_code) == ("FAILED", "NO_PRESS"), (
                letter_id
            )
            assert "duplex" in pieces[letter_id].reason
        else:
            assert pieces[letter_id].state == "PLANNED", letter_id


def test_duplex_letters_wait_while_the_duplex_press_is_out_of_service(routed):
    """With the only duplex press taken down, duplex letters wait PRINT_READY (planned when it is back), never
    fail; the simplex ones are planned on the simplex press."""
    current, submission_id = routed
    with current.ledger.tx() as conn:
        set_service(conn, DUPLEX_PRESS.name, "printer", operator_down=True, reason="test")
    plan(submission_id)
    pieces, formed = pieces_by_letter(current), jobs(current)
    for letter_id, (_, duplex) in LETTERS.items():
        assert pieces[letter_id].state == ("PRINT_READY" if duplex else "PLANNED"), letter_id
    assert {j.printer for j in formed.values()} == {SIMPLEX_PRESS.name}


def imposed_jobs(current, submission_id) -> dict:
    """Plan and impose the batch; the jobs by id."""
    plan(submission_id)
    for job_id in jobs(current):
        impose(job_id)
    return jobs(current)


def test_the_impose_stage_imposes_a_job_duplex_only_when_the_job_is(routed):
    """On a fleet of one duplex press: duplex jobs are imposed two pages a leaf (the PDF has a back page per
    sheet, one sheet per leaf); simplex jobs on the same press one page a sheet with no backs."""
    current, submission_id = routed
    current.settings = replace(current.settings, printers=(DUPLEX_PRESS,))
    formed = imposed_jobs(current, submission_id)
    pieces = pieces_by_letter(current)
    assert {j.duplex for j in formed.values()} == {0, 1}
    for job in formed.values():
        assert job.state == "IMPOSED" and job.printer == DUPLEX_PRESS.name
        members = {str(p.piece_id): LETTERS[lid] for lid, p in pieces.items() if p.job_id == job.job_id}
        sheet_map = SheetMap.from_json(Path(f"{job.pdf_path}.map.json").read_text())
        with pikepdf.open(job.pdf_path) as pdf:
            printed_pages = len(pdf.pages)
        leaves_in_job = sum(leaves(pages, duplex) for pages, duplex in members.values())
        assert job.sheets == sheet_map.sheet_count == leaves_in_job
        assert printed_pages == (2 if job.duplex else 1) * leaves_in_job
        assert any(r.side is Side.BACK for r in sheet_map) is bool(job.duplex)
        assert {r.piece_id: r.sheets_in_piece for r in sheet_map} == {
            piece: leaves(pages, duplex) for piece, (pages, duplex) in members.items()
        }


def test_postage_bands_follow_the_leaves(routed):
    """The postage mark issued at imposition carries the band of the piece's leaves: a 4-page duplex letter (2
    leaves, ~15 g) pays the 20 g band, the 4-page simplex one (~25 g) the 50 g band."""
    current, submission_id = routed
    imposed_jobs(current, submission_id)
    pieces = pieces_by_letter(current)
    with current.ledger.read() as conn:
        bands = dict(conn.execute(select(tp.postage_marks.c.piece_id, tp.postage_marks.c.band_g)).all())
    table = weight_bands(current.settings.postage, "standard")
    for letter_id, (pages, duplex) in LETTERS.items():
        mass = piece_mass(current.settings.mass, leaves(pages, duplex))
        assert bands[str(pieces[letter_id].piece_id)] == band_for(mass, table, "standard").up_to_g, letter_id
    assert (bands[str(pieces["L5"].piece_id)], bands[str(pieces["L4"].piece_id)]) == (20, 50)


def test_a_duplex_job_whose_press_no_longer_duplexes_is_planned_again(routed):
    """plant.toml changed between plan and impose so the duplex press prints simplex only: its duplex job is
    not imposed one-sided but released (REPLANNED), its letters back to PRINT_READY."""
    current, submission_id = routed
    plan(submission_id)
    duplex_jobs = [j for j in jobs(current).values() if j.duplex]
    current.settings = replace(
        current.settings, printers=(SIMPLEX_PRESS, replace(DUPLEX_PRESS, duplex=DuplexMode.SIMPLEX))
    )
    for job in duplex_jobs:
        impose(job.job_id)
    after = jobs(current)
    assert duplex_jobs and {after[j.job_id].state for j in duplex_jobs} == {"REPLANNED"}
    pieces = pieces_by_letter(current)
    assert {pieces[lid].state for lid, (_, duplex) in LETTERS.items() if duplex} == {"PRINT_READY"}


@pytest.mark.parametrize(
    "press",
    [
        DUPLEX_PRESS,
        replace(DUPLEX_PRESS, duplex=DuplexMode.TUMBLE, layout=PrinterLayout.CUT_STACK),
    ],
)
def test_a_simplex_job_on_a_duplex_press_is_imposed_and_ticketed_one_sided(settings, press):
    """The press's turn/tumble is used only for duplex jobs: a simplex job gets a simplex layout and a
    one-sided ticket on the same press."""
    settings = replace(settings, printers=(press,))
    duplexed = job_layout(settings, press.name, duplex=True)
    assert duplexed.duplex is Duplex(press.duplex.value)
    assert job_layout(settings, press.name, duplex=False) == replace(duplexed, duplex=Duplex.NONE)
    assert ticket_options(settings, press.name, duplex=False)["sides"] == "one-sided"
    assert ticket_options(settings, press.name, duplex=True)["sides"] != "one-sided"


def test_a_duplex_job_on_a_cut_stack_press_keeps_its_turn(settings):
    """The duplex job's layout is the press's whole layout: scheme, sheet, turn and stack depth."""
    press = replace(DUPLEX_PRESS, layout=PrinterLayout.CUT_STACK, stack_depth=40)
    assert job_layout(replace(settings, printers=(press,)), press.name, duplex=True) == Layout(
        Scheme.CUT_STACK, SheetSize.A3, Duplex.TURN, stack_depth=40
    )


def test_the_plan_event_says_whether_a_job_is_duplex(routed):
    """The job's plan event records duplex, so the ledger tells why a job went to its press."""
    current, submission_id = routed
    plan(submission_id)
    with current.ledger.read() as conn:
        rows = conn.execute(
            select(t.events.c.entity_id, t.events.c.data).where(
                t.events.c.event == "plan", t.events.c.entity == "job"
            )
        ).all()
    formed = jobs(current)
    assert {
        job_id: (data if isinstance(data, dict) else json.loads(data))["duplex"] for job_id, data in rows
    } == {job_id: bool(job.duplex) for job_id, job in formed.items()}
