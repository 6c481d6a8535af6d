"""The simulated cutter/stacker on real imposed sheets: the camera reads every leaf in job order after the
cut, in every N-up layout and duplex mode; its speed, restarts, faults and folder protocol; what the inserter
makes of a faulty cut."""

from __future__ import annotations

import json
import subprocess
from collections import Counter

import pytest

from imposition import Duplex, Layout, MarkLayout, Marks, Scheme, SheetSize, Side, impose
from inserters import (
    Backs,
    BadCutId,
    CutFaults,
    CutJob,
    CutSpec,
    DuplicateCut,
    MailRun,
    Outcome,
    RunRecord,
    SimulatedCutter,
    SimulatedInserter,
    UnknownCut,
)
from inserters.camera import read_sheets
from tests.imposition.imposition_helpers import make_pieces

JOB = "J1"
#: Page counts of the test job's pieces.
COUNTS = [3, 1, 2, 4, 1, 2, 3]
ZONE = MarkLayout().control_zone
CONTROL_ZONE = (ZONE.x, ZONE.y, ZONE.w, ZONE.h)


class Clock:
    """A device clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def imposed(tmp_path, layout: Layout, counts=COUNTS):
    """Impose pieces P1… of ``counts`` pages by ``layout``; return the sheets PDF, its cut spec and the sheet
    map."""
    folder = tmp_path / "letters"
    folder.mkdir(exist_ok=True)
    out = tmp_path / f"{JOB}-{layout.scheme.value}-{layout.sheet.value}-{layout.duplex.value}.pdf"
    sheet_map = impose(make_pieces(folder, counts), out, JOB, layout, Marks(postage=False))
    leaves = Counter(r.stack for r in sheet_map if r.side is Side.FRONT)
    spec = CutSpec(
        layout.sheet.points,
        tuple((r.x, r.y, r.w, r.h) for r in map(layout.slot_rect, range(layout.n_up))),
        tuple(leaves[s] for s in sorted(leaves)),
        Backs(layout.duplex.value),
    )
    return out, spec, sheet_map


def cut(tmp_path, sheets, spec, cut_id="R1", **options):
    """Cut ``sheets`` on an instantaneous cutter; return its finished result."""
    cutter = SimulatedCutter("cutter", tmp_path / "cutter", time_scale=0, **options)
    cutter.submit(CutJob(cut_id, JOB, sheets, spec))
    assert cutter.step() == 1
    result = cutter.result(cut_id)
    assert result.finished
    return result


def expected_codes(counts, duplexed: bool) -> list[str]:
    """Every leaf side's control code in job order (backs flagged R)."""
    codes = []
    for number, pages in enumerate(counts, start=1):
        of = -(-pages // 2) if duplexed else pages
        for leaf in range(1, of + 1):
            codes.append(f"{JOB}|P{number}|{leaf}/{of}")
            if duplexed:
                codes.append(f"{JOB}|P{number}|{leaf}/{of}||R")
    return codes


def page_labels(pdf) -> list[str]:
    """The label printed on every page (empty for a blank back), page by page."""
    count = int(
        next(
            line.split()[-1]
            for line in subprocess.run(
                ["pdfinfo", str(pdf)], capture_output=True, text=True
            ).stdout.splitlines()
            if line.startswith("Pages:")
        )
    )
    return [
        subprocess.run(
            ["pdftotext", "-f", str(i), "-l", str(i), str(pdf), "-"], capture_output=True, text=True
        ).stdout.strip()
        for i in range(1, count + 1)
    ]


LAYOUTS = [
    Layout(Scheme.CUT_STACK, SheetSize.A3, Duplex.NONE, stack_depth=3),
    Layout(Scheme.CUT_STACK, SheetSize.SRA3, Duplex.NONE, stack_depth=4),
    Layout(Scheme.CUT_STACK, SheetSize.A3, Duplex.TURN, stack_depth=3),
    Layout(Scheme.CUT_STACK, SheetSize.SRA3, Duplex.TUMBLE, stack_depth=3),
    Layout(Scheme.WEB_2UP, SheetSize.WEB520, Duplex.NONE, stack_depth=3),
    Layout(Scheme.WEB_2UP, SheetSize.WEB520, Duplex.TUMBLE, stack_depth=500),
]


@pytest.mark.parametrize(
    "layout", LAYOUTS, ids=lambda layout: f"{layout.scheme.value}-{layout.sheet.value}-{layout.duplex.value}"
)
def test_camera_reads_every_leaf_in_job_order_after_the_cut(tmp_path, layout):
    """Imposed N-up (several stacks, padded), cut and stacked: the camera reads each leaf side's code in job
    order, upright where it belongs (so tumbled backs were turned), and each page shows its own piece page."""
    sheets, spec, sheet_map = imposed(tmp_path, layout)
    result = cut(tmp_path, sheets, spec)
    assert read_sheets(result.output_pdf, CONTROL_ZONE) == expected_codes(COUNTS, layout.duplexed)
    labels = [f"p{n}-{page}" for n, pages in enumerate(COUNTS, start=1) for page in range(1, pages + 1)]
    assert [label for label in page_labels(result.output_pdf) if label] == labels
    assert (result.leaves, result.sheets_received, result.destroyed, result.misfed, result.faulted) == (
        spec.leaf_count,
        sheet_map.sheet_count,
        (),
        (),
        False,
    )


def test_the_inserter_envelopes_every_piece_of_a_cut_duplex_job(tmp_path):
    """Duplex leaves come with their backs (flag R); the inserter collates by the fronts, inserts every piece
    once and outsorts nothing (a back is not a sheet of its own)."""
    sheets, spec, _ = imposed(tmp_path, Layout(Scheme.CUT_STACK, SheetSize.SRA3, Duplex.TURN, stack_depth=3))
    result = cut(tmp_path, sheets, spec)
    records = tuple(RunRecord(f"P{n}", -(-pages // 2)) for n, pages in enumerate(COUNTS, start=1))
    inserted = insert(tmp_path, result.output_pdf, records)
    assert {r.piece_id: r.outcome for r in inserted.results} == {
        r.piece_id: Outcome.INSERTED for r in records
    }
    assert inserted.outsorted == ()


def insert(tmp_path, stack, records):
    """Run ``stack`` through an instantaneous inserter; its finished result."""
    inserter = SimulatedInserter("ins", tmp_path / "inserter", time_scale=0)
    inserter.submit(MailRun("R1", JOB, tuple(records), stack, CONTROL_ZONE))
    inserter.step()
    return inserter.result("R1")


def simplex_records(counts=COUNTS):
    return tuple(RunRecord(f"P{n}", pages) for n, pages in enumerate(counts, start=1))


def test_a_destroyed_sheet_spoils_only_the_pieces_it_carried(tmp_path):
    """Lifetime sheet 2 is destroyed: the leaves on it never arrive, the inserter misses or diverts the pieces
    they belong to, envelopes every other piece, and never envelopes a piece that lacks a sheet."""
    sheets, spec, sheet_map = imposed(tmp_path, Layout(Scheme.CUT_STACK, SheetSize.A3, stack_depth=3))
    result = cut(tmp_path, sheets, spec, faults=CutFaults(destroy_at={2}))
    assert result.destroyed == (2,) and result.faulted and result.leaves == spec.leaf_count - 2
    lost = {r.piece_id for r in sheet_map if r.sheet == 2}
    outcomes = {r.piece_id: r.outcome for r in insert(tmp_path, result.output_pdf, simplex_records()).results}
    assert {p for p, o in outcomes.items() if o is not Outcome.INSERTED} == lost
    assert "destroyed in a misfeed: sheet 2" in result.message


def test_a_misfed_sheet_gets_its_pieces_diverted_out_of_sequence(tmp_path):
    """Lifetime sheet 1 lands behind sheet 2: P1's first two leaves swap, the inserter diverts P1 (sheet out
    of sequence) and the pieces whose leaves traded places on the other pile, and inserts the rest."""
    sheets, spec, sheet_map = imposed(tmp_path, Layout(Scheme.CUT_STACK, SheetSize.A3, stack_depth=3))
    result = cut(tmp_path, sheets, spec, faults=CutFaults(misfeed_at={1}))
    assert result.misfed == (1,) and result.leaves == spec.leaf_count
    by_piece = {r.piece_id: r for r in insert(tmp_path, result.output_pdf, simplex_records()).results}
    assert by_piece["P1"].outcome is Outcome.DIVERTED and "out of sequence" in by_piece["P1"].reason
    moved = {r.piece_id for r in sheet_map if r.sheet in (1, 2)}
    assert {p for p, r in by_piece.items() if r.outcome is not Outcome.INSERTED} <= moved
    assert sum(r.outcome is Outcome.INSERTED for r in by_piece.values()) >= len(COUNTS) - len(moved)


def test_unreadable_sheets_are_not_cut_and_every_piece_goes_missing(tmp_path):
    """A sheets file the cutter cannot feed gives an empty cut with the reason; the inserter then sees no
    sheet and reports every piece MISSING, which the host reprints."""
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"not a pdf")
    spec = CutSpec(SheetSize.A3.points, ((0.0, 0.0, 100.0, 100.0),), (2,))
    result = cut(tmp_path, bad, spec)
    assert (result.leaves, result.sheets_received, result.faulted) == (0, 0, True)
    assert "cannot be fed" in result.message
    missing = insert(tmp_path, result.output_pdf, simplex_records([1, 1])).results
    assert {r.outcome for r in missing} == {Outcome.MISSING}


def test_the_cutter_works_at_its_rated_speed(tmp_path):
    """At 60 sheets a minute of device time, a 5-sheet cut is done after 5 device seconds, and the next cut
    starts when the first ends."""
    sheets, spec, _ = imposed(tmp_path, Layout(Scheme.CUT_STACK, SheetSize.A3, stack_depth=3))
    clock = Clock()
    cutter = SimulatedCutter("cutter", tmp_path / "cutter", sheets_per_minute=60, time_scale=1.0, clock=clock)
    cutter.submit(CutJob("R1", JOB, sheets, spec))
    cutter.submit(CutJob("R2", JOB, sheets, spec))
    assert cutter.step() == 0 and cutter.busy
    clock.now = spec.sheet_count - 0.01
    assert cutter.step() == 0 and not cutter.result("R1").finished
    clock.now = spec.sheet_count
    assert cutter.step() == 1 and cutter.result("R1").finished and not cutter.result("R2").finished
    clock.now = 2 * spec.sheet_count
    assert cutter.step() == 1 and cutter.result("R2").finished
    assert cutter.lifetime_sheets == 2 * spec.sheet_count


def test_a_restarted_cutter_cuts_again_with_the_same_lifetime_numbers(tmp_path):
    """A cutter that stopped mid-cut is replaced by a new instance on the same folder: it cuts the job again
    from its first lifetime sheet (so the same faults), counts its sheets once, and never recuts a finished
    cut."""
    sheets, spec, _ = imposed(tmp_path, Layout(Scheme.CUT_STACK, SheetSize.A3, stack_depth=3))
    faults = CutFaults(destroy_at={3})
    first = SimulatedCutter("cutter", tmp_path / "cutter", sheets_per_minute=60, clock=Clock(), faults=faults)
    first.submit(CutJob("R1", JOB, sheets, spec))
    first.step()
    assert first.busy and not first.result("R1").finished
    again = SimulatedCutter("cutter", tmp_path / "cutter", time_scale=0, faults=faults)
    assert again.step() == 1
    result = again.result("R1")
    assert result.destroyed == (3,) and again.lifetime_sheets == spec.sheet_count
    output = result.output_pdf.read_bytes()
    assert again.step() == 0 and result.output_pdf.read_bytes() == output


def test_the_folder_protocol_refuses_duplicates_and_names_unknown_cuts(tmp_path):
    """A cut is taken once; an unknown cut is None to find and UnknownCut to ask for; ids must be file
    names."""
    sheets, spec, _ = imposed(tmp_path, Layout(Scheme.CUT_STACK, SheetSize.A3, stack_depth=3), counts=[1])
    cutter = SimulatedCutter("cutter", tmp_path / "cutter", time_scale=0)
    job = CutJob("R1", JOB, sheets, spec)
    cutter.submit(job)
    assert cutter.find("R1") == cutter.result("R1") and not cutter.find("R1").finished
    assert cutter.find("R1").sheets_expected == 1
    with pytest.raises(DuplicateCut, match="ask it for the cut's result"):
        cutter.submit(job)
    cutter.step()
    with pytest.raises(DuplicateCut):
        cutter.submit(job)
    assert cutter.find("R9") is None
    with pytest.raises(UnknownCut, match="submit the cut first"):
        cutter.result("R9")
    with pytest.raises(BadCutId):
        cutter.submit(CutJob("../R2", JOB, sheets, spec))
    ticket = json.loads((tmp_path / "cutter" / "jobs" / "R1.json").read_text())
    assert CutSpec.from_json(json.dumps(ticket["spec"])) == spec
