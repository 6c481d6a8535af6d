"""End to end on N-up presses: letters of mixed page counts are imposed 2-up, printed, cut and stacked in
front of the inserter, read leaf by leaf by its camera and dispatched exactly once; a cutter fault ends in the
normal spoil → reprint path with the same ids."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pikepdf
import pytest

from imposition import SheetMap, SheetSize
from inserters.camera import read_sheets
from plant.demo import generate
from plant.testing import device_name
from tests.plant.helpers import expected_codes, query, read_csv, run_submission

pytestmark = pytest.mark.slow

#: The control zone of the default [marks], in points.
CONTROL_ZONE = tuple(v * 72 / 25.4 for v in (6, 250, 12, 12))


def fleet(printer: str, inserter: str = "") -> str:
    return (
        f'[[printers]]\nname = "press-n"\nsheets_per_minute = 600\n{printer}\n'
        f'[[inserters]]\nname = "ins-n"\n{inserter}\n'
    )


def run_batch(
    tmp_path: Path, config_text: str, letters: int = 20, seed: int = 11, duplex: bool = False
) -> Path:
    """Run ``letters`` generated letters (1–4 pages, all printed; all duplex when ``duplex``) through a plant
    of the given fleet; its state."""
    batch = generate(tmp_path / "in", letters, seed=seed)
    if duplex:
        manifest = batch.submission / "manifest.csv"
        rows = read_csv(manifest)
        with open(manifest, "w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=[*rows[0], "duplex"])
            writer.writeheader()
            writer.writerows({**row, "duplex": "true"} for row in rows)
    return run_submission(tmp_path, batch.submission, config_text)


def dispatched_once(state: Path, letters: int) -> None:
    """Every letter DISPATCHED, dispatched once, each tracking id once in the manifests."""
    assert query(state, "SELECT state, count(*) FROM letters GROUP BY state") == [("DISPATCHED", letters)]
    dispatches = Counter(e for (e,) in query(state, "SELECT entity_id FROM events WHERE event = 'dispatch'"))
    assert len(dispatches) == letters and set(dispatches.values()) == {1}
    manifest = Counter(r["tracking_id"] for m in (state / "manifests").glob("*.csv") for r in read_csv(m))
    assert set(manifest.values()) == {1}
    assert set(manifest) == {t for (t,) in query(state, "SELECT tracking_id FROM pieces")}


def runs(state: Path) -> list[tuple[str, str, dict]]:
    """(run, job, submit event data) of every insert run."""
    submitted = {
        rid: json.loads(data)
        for rid, data in query(
            state, "SELECT entity_id, data FROM events WHERE entity = 'run' AND event = 'submit'"
        )
    }
    return [(rid, job, submitted[rid]) for rid, job in query(state, "SELECT run_id, job_id FROM insert_runs")]


def inserter_results(state: Path, run_id: str) -> list[dict]:
    name = device_name(state, run_id)
    return read_csv(state / "devices" / "inserters" / "ins-n" / "results" / f"{name}.csv")


def test_a_batch_on_a_2up_cut_and_stack_press_is_read_leaf_by_leaf_and_dispatched_once(tmp_path):
    """20 letters of 1–4 pages on a 2-up A3 press (stacks of 3 sheets): every job is printed on A3 sheets two
    leaves up, the cutter gives the inserter every leaf in job order, the inserter reads and envelopes every
    piece with all its sheets, and every letter is dispatched exactly once without a reprint."""
    state = run_batch(tmp_path, fleet('layout = "2up-cutstack"\nsheet = "A3"\nstack_depth = 3'))
    dispatched_once(state, 20)
    assert query(state, "SELECT count(*) FROM events WHERE event = 'spoil'") == [(0,)]
    pages = dict(query(state, "SELECT piece_id, sheets FROM pieces"))
    read = {}
    for run_id, job_id, event in runs(state):
        (pdf,) = query(state, f"SELECT pdf_path FROM print_jobs WHERE job_id = '{job_id}'")[0]
        with pikepdf.open(pdf) as printed:
            assert {tuple(round(float(v), 1) for v in p.mediabox[2:]) for p in printed.pages} == {
                tuple(round(v, 1) for v in SheetSize.A3.points)
            }
        assert (event["destroyed"], event["misfed"]) == ([], [])
        assert event["leaves"] == len(expected_codes(state, job_id))
        cut = (
            state
            / "devices"
            / "inserters"
            / "ins-n"
            / "cutter"
            / "output"
            / f"{device_name(state, run_id)}.pdf"
        )
        assert read_sheets(cut, CONTROL_ZONE) == expected_codes(state, job_id)
        for row in inserter_results(state, run_id):
            assert row["outcome"] == "inserted"
            read[int(row["piece_id"])] = int(row["sheets_read"])
    assert read == pages


def test_duplex_tumble_on_sra3_envelopes_leaves_not_pages(tmp_path):
    """Duplex letters on a tumble press, 2-up on SRA3: the press is sent two-sided jobs (it counts sheets, not
    pages), the cutter turns the backs upright, the inserter takes each piece as its leaves and every letter
    goes out once."""
    state = run_batch(
        tmp_path,
        fleet('layout = "2up-cutstack"\nsheet = "SRA3"\nduplex = "tumble"\nstack_depth = 3'),
        seed=12,
        duplex=True,
    )
    dispatched_once(state, 20)
    assert query(state, "SELECT count(*) FROM events WHERE event = 'spoil'") == [(0,)]
    press = json.loads((state / "devices" / "printers" / "press-n" / "state" / "press.json").read_text())
    assert press["lifetime_sheets"] == query(state, "SELECT sum(sheets) FROM print_jobs")[0][0]
    pages = dict(
        query(state, "SELECT p.piece_id, l.pages FROM pieces p JOIN letters l ON l.pk = p.letter_pk")
    )
    read = {
        int(r["piece_id"]): int(r["sheets_read"])
        for run_id, _, _ in runs(state)
        for r in inserter_results(state, run_id)
    }
    assert read == {piece: -(-n // 2) for piece, n in pages.items()}
    assert read == dict(query(state, "SELECT piece_id, sheets FROM pieces"))


def test_a_cutter_fault_ends_in_a_reprint_with_the_same_ids(tmp_path):
    """The cutter destroys its lifetime sheet 2 and misfeeds sheet 7: the pieces on the destroyed sheet (and
    any the misfeed put out of sequence) are spoiled by reconciliation, reprinted in a later job with the same
    tracking ids, and every letter is dispatched exactly once — never a piece short of a sheet."""
    state = run_batch(
        tmp_path,
        fleet('layout = "2up-cutstack"\nstack_depth = 3', "cutter_destroys = [2]\ncutter_misfeeds = [7]"),
    )
    dispatched_once(state, 20)
    faulted = [(run_id, job_id, event) for run_id, job_id, event in runs(state) if event["destroyed"]]
    assert len(faulted) == 1
    _, job_id, event = faulted[0]
    (pdf,) = query(state, f"SELECT pdf_path FROM print_jobs WHERE job_id = '{job_id}'")[0]
    sheet_map = SheetMap.from_json(Path(f"{pdf}.map.json").read_text())
    lost = {int(r.piece_id) for sheet in event["destroyed"] for r in sheet_map if r.sheet == sheet}
    assert lost
    spoiled = {
        int(p)
        for (p,) in query(
            state,
            "SELECT p.piece_id FROM events e JOIN pieces p "
            "ON e.entity_id = CAST(p.letter_pk AS TEXT) WHERE e.event = 'spoil'",
        )
    }
    assert lost <= spoiled
    for piece in spoiled:
        jobs = query(state, f"SELECT job_id FROM job_pieces WHERE piece_id = {piece} ORDER BY job_id")
        assert len(jobs) == 2, f"piece {piece} is printed once more, in a later job"
    inserted = Counter(
        int(r["piece_id"])
        for run_id, _, _ in runs(state)
        for r in inserter_results(state, run_id)
        if r["outcome"] == "inserted"
    )
    assert set(inserted.values()) == {1} and len(inserted) == 20
