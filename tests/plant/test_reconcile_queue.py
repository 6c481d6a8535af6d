"""The manual reconciliation queue from the command line: `plant reconcile list`, and `found` (dispatched with
its run into the handover manifest), `reprint` (printed again with the same tracking id) and `lost` (FAILED,
code LOST, its mark annulled) — each recorded with who and why, by compare-and-set from UNACCOUNTED."""

from __future__ import annotations

import csv
import json

import pytest
from sqlalchemy import select

from plant.cli import main
from plant.ledger import schema as t
from plant.ledger import schema_postage as tp
from plant.stages.dispatch import dispatch
from plant.stages.plan import plan
from tests.plant.operating import close_plant, events, job_members, open_plant, outbox, rows
from tests.plant.test_reconcile_results import a_job, envelope, piece, printed_run


@pytest.fixture
def plant(settings, small_batch):
    current = open_plant(settings, small_batch)
    yield current
    close_plant(current)


@pytest.fixture
def lost_pair(plant):
    """A job of two pieces enveloped and reconciled with no result for either: both UNACCOUNTED; the run
    id and the pieces."""
    job_id, members = a_job(plant)
    run_id = printed_run(plant, job_id)
    envelope(plant, run_id, lambda found: [])
    assert {piece(plant, m).state for m in members} == {"UNACCOUNTED"}
    return run_id, [piece(plant, m) for m in members]


def reconcile(plant, *args: str) -> int:
    return main(["reconcile", *args, "--state-dir", str(plant.settings.state_dir)])


def command_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if "\t" in line]


def last_event(plant, pk: int, name: str):
    letter = (t.events.c.entity == "letter", t.events.c.entity_id == str(pk), t.events.c.event == name)
    return rows(plant, select(t.events).where(*letter).order_by(t.events.c.id.desc()))[0]


def manifest_ids(plant) -> list[str]:
    return [
        r["tracking_id"]
        for path in plant.settings.manifests_dir.glob("*.csv")
        for r in csv.DictReader(path.open())
    ]


def test_list_shows_the_unaccounted_pieces(plant, lost_pair, capsys):
    """`plant reconcile list` prints one line per UNACCOUNTED piece (tracking id, letter, run, since,
    reason); --json the same as data."""
    run_id, found = lost_pair
    assert reconcile(plant, "list") == 0
    lines = command_lines(capsys)
    assert sorted(line.split("\t")[0] for line in lines) == sorted(p.tracking_id for p in found)
    assert all(f"\t{run_id}\t" in line and "gave no result" in line for line in lines)
    assert reconcile(plant, "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert {p["tracking_id"] for p in listed} == {p.tracking_id for p in found}


def test_found_is_dispatched_with_its_run_into_the_manifest(plant, lost_pair, capsys):
    """found: INSERTED with the operator and reason on the event, a dispatch of its run queued; the dispatch
    stage puts it in the handover manifest (DISPATCHED) once; a second `found` is refused."""
    run_id, (target, other) = lost_pair
    dispatches = outbox(plant, "dispatch")[(run_id,)]
    assert reconcile(plant, "found", target.tracking_id, "--reason", "under the belt") == 0
    (line,) = command_lines(capsys)
    assert line.startswith(f"{target.tracking_id}\tfound\tINSERTED") and run_id in line
    assert piece(plant, target.piece_id).state == "INSERTED"
    event = last_event(plant, target.pk, "find")
    assert event.data == {"by": "operator", "reason": "under the belt", "run": run_id}
    assert outbox(plant, "dispatch")[(run_id,)] == dispatches + 1
    dispatch(run_id)
    assert piece(plant, target.piece_id).state == "DISPATCHED"
    assert piece(plant, other.piece_id).state == "UNACCOUNTED"
    assert manifest_ids(plant).count(target.tracking_id) == 1 and other.tracking_id not in manifest_ids(plant)
    assert reconcile(plant, "found", target.tracking_id, "--reason", "again") == 1
    (line,) = command_lines(capsys)
    assert "\trefused\tDISPATCHED: not waiting for reconciliation" in line


def test_reprint_goes_back_to_print_with_the_same_tracking_id(plant, lost_pair, capsys):
    """reprint: SPOILED then PRINT_READY through the reprint edge, recorded with who and why; the plan stage
    puts it in a new job with the same piece and tracking id."""
    run_id, (target, _) = lost_pair
    assert reconcile(plant, "reprint", target.tracking_id, "--reason", "crushed in the stacker") == 0
    (line,) = command_lines(capsys)
    assert line.startswith(f"{target.tracking_id}\treprinted\tPRINT_READY")
    after = piece(plant, target.piece_id)
    assert (after.state, after.reason_code, after.tracking_id) == ("PRINT_READY", None, target.tracking_id)
    assert events(plant, target.pk)[-2:] == ["spoil", "reprint"]
    assert last_event(plant, target.pk, "spoil").data == {
        "by": "operator",
        "reason": "crushed in the stacker",
    }
    submission = plant.submission_id
    assert outbox(plant, "plan")[(submission,)] >= 1
    plan(submission)
    again = piece(plant, target.piece_id)
    assert again.state == "PLANNED" and again.tracking_id == target.tracking_id
    assert target.piece_id in job_members(plant, again.job_id) and again.job_id != target.job_id


def test_lost_is_final_with_the_reason_and_its_mark_annulled(plant, lost_pair, capsys):
    """lost: FAILED with code LOST and the reason, event write_off with who and why, the postage mark
    annulled; it leaves the queue."""
    _, (target, other) = lost_pair
    assert reconcile(plant, "lost", target.tracking_id, "--reason", "not in the hall after two searches") == 0
    after = piece(plant, target.piece_id)
    assert (after.state, after.reason_code) == ("FAILED", "LOST")
    assert "not in the hall after two searches" in after.reason
    assert last_event(plant, target.pk, "write_off").data == {
        "by": "operator",
        "reason": "not in the hall after two searches",
    }
    mark = rows(plant, select(tp.postage_marks.c.state).where(tp.postage_marks.c.piece_id == target.piece_id))
    assert [m.state for m in mark] == ["annulled"]
    capsys.readouterr()
    reconcile(plant, "list")
    assert [line.split("\t")[0] for line in command_lines(capsys)] == [other.tracking_id]


def test_refusals_name_why(plant, lost_pair, capsys):
    """A piece not UNACCOUNTED, an unknown id and an empty reason are refused (exit 1) and move nothing;
    --reason is required."""
    _, (target, _) = lost_pair
    assert reconcile(plant, "lost", "NOSUCHID", "--reason", "x") == 1
    assert reconcile(plant, "lost", target.tracking_id, "--reason", "  ") == 1
    lines = command_lines(capsys)
    assert "\tnot found\t" in lines[0] and "give a reason" in lines[1]
    assert piece(plant, target.piece_id).state == "UNACCOUNTED"
    with pytest.raises(SystemExit):
        reconcile(plant, "found", target.tracking_id)
