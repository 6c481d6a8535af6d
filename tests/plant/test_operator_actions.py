"""An operator's hold, release, cancel and pull of letters, in a plant whose stages the test calls itself: a
hold before spooling takes the piece out of its job, release plans it again, cancel is refused once paper may
exist, and a pulled piece is outsorted by the inserter or left out of the manifest — never dispatched."""

from __future__ import annotations

import csv
import threading

import pytest
from sqlalchemy import select

from plant.cli import main
from plant.demo import generate
from plant.intake.submission import accept, read_submission
from plant.ledger import schema as t
from plant.ledger import schema_postage as tp
from plant.ledger.jobs import release_job
from plant.operator import Action, act
from plant.stages.dispatch import dispatch
from plant.stages.impose import impose
from plant.stages.insert import follow_insert, insert
from plant.stages.plan import plan
from plant.stages.preflight import preflight
from plant.stages.route import route
from plant.stages.spool import follow_print, spool
from plant.testing import device_name
from printers.drivers.simulated import SimulatedPress
from tests.plant.operating import (
    close_plant,
    events,
    job_members,
    jobs,
    open_plant,
    outbox,
    pieces,
    planned,
    rows,
)


@pytest.fixture
def plant(settings, small_batch):
    current = open_plant(settings, small_batch)
    yield current
    close_plant(current)


def routed(plant) -> str:
    preflight(plant.submission_id)
    route(plant.submission_id)
    return plant.submission_id


def one(plant, action: Action, identifier: str):
    (outcome,) = act(plant.ledger, action, [identifier])
    return outcome


def piece(plant, piece_id: int):
    (found,) = pieces(plant, t.pieces.c.piece_id == piece_id)
    return found


def shared_job(plant):
    """A planned job of at least two pieces, and its pieces."""
    job = next(j for j in jobs(plant) if len(job_members(plant, j.job_id)) >= 2)
    return job, job_members(plant, job.job_id)


def print_job(plant, job_id: str) -> str:
    """Impose and spool a job, let its press print it, follow it; return its insert run's id."""
    impose(job_id)
    spool(job_id)
    job = jobs(plant, t.print_jobs.c.job_id == job_id)[0]
    config = next(p for p in plant.settings.printers if p.name == job.printer)
    SimulatedPress(job.printer, plant.settings.printer_folder(config), 6000, time_scale=0).step()
    follow_print(job_id)
    return rows(plant, select(t.insert_runs.c.run_id).where(t.insert_runs.c.job_id == job_id))[0].run_id


def envelope(plant, run_id: str) -> None:
    """Hand the run to its inserter, let the inserter work, reconcile (no dispatch yet)."""
    insert(run_id)
    (run,) = rows(plant, select(t.insert_runs).where(t.insert_runs.c.run_id == run_id))
    plant.inserters[run.inserter].step()
    follow_insert(run_id)


def command_lines(capsys) -> list[str]:
    """The command's own lines (id, outcome, message: tab-separated), without the log lines beside them."""
    return [line for line in capsys.readouterr().out.splitlines() if "\t" in line]


def manifest_ids(plant) -> list[str]:
    return [
        r["tracking_id"]
        for path in plant.settings.manifests_dir.glob("*.csv")
        for r in csv.DictReader(path.open())
    ]


# -- hold and release ----------------------------------------------------------------------------------------
def test_a_held_letter_is_not_planned_until_released(plant):
    """Held in PRINT_READY, a letter stays out of the plan; released, it goes back to PRINT_READY with a plan
    message and is planned."""
    submission = routed(plant)
    target = pieces(plant)[0]
    outcome = one(plant, Action.HOLD, target.tracking_id)
    assert (outcome.done, outcome.word) == (True, "held")
    assert (piece(plant, target.piece_id).state, piece(plant, target.piece_id).reason_code) == (
        "HELD",
        "HELD_BY_OPERATOR",
    )
    plan(submission)
    assert piece(plant, target.piece_id).state == "HELD"
    assert all(target.piece_id not in job_members(plant, j.job_id) for j in jobs(plant))
    plans = outbox(plant, "plan")[(submission,)]
    assert one(plant, Action.RELEASE, target.tracking_id).word == "released"
    assert (piece(plant, target.piece_id).state, piece(plant, target.piece_id).reason_code) == (
        "PRINT_READY",
        None,
    )
    assert outbox(plant, "plan")[(submission,)] == plans + 1
    plan(submission)
    assert piece(plant, target.piece_id).state == "PLANNED"
    assert events(plant, target.pk)[-3:] == ["hold", "release", "plan"]


def test_a_hold_before_spooling_takes_the_piece_out_of_its_job(plant):
    """Holding a piece of a planned job releases the job (REPLANNED, one transaction) and holds the piece; the
    others are planned again into a new job without it and printed, the held piece is not; released, it is
    planned and printed later in a job of its own."""
    submission = planned(plant)
    job, members = shared_job(plant)
    impose(job.job_id)
    target = piece(plant, members[0])
    outcome = one(plant, Action.HOLD, target.tracking_id)
    assert outcome.done and f"taken out of job {job.job_id}" in outcome.message
    assert jobs(plant, t.print_jobs.c.job_id == job.job_id)[0].state == "REPLANNED"
    assert piece(plant, target.piece_id).state == "HELD"
    assert {piece(plant, m).state for m in members[1:]} == {"PRINT_READY"}
    assert events(plant, target.pk)[-2:] == ["replan", "hold"]
    plan(submission)
    (again,) = [
        j
        for j in jobs(plant)
        if set(job_members(plant, j.job_id)) & set(members[1:]) and j.state == "PLANNED"
    ]
    assert target.piece_id not in job_members(plant, again.job_id) and again.job_id != job.job_id
    print_job(plant, again.job_id)
    assert "spool" not in events(plant, target.pk)
    assert {piece(plant, m).state for m in members[1:]} == {"SPOOLED"}
    one(plant, Action.RELEASE, target.tracking_id)
    plan(submission)
    (later,) = [
        j for j in jobs(plant) if target.piece_id in job_members(plant, j.job_id) and j.state == "PLANNED"
    ]
    print_job(plant, later.job_id)
    assert piece(plant, target.piece_id).state == "SPOOLED"
    assert events(plant, target.pk).count("spool") == 1


def test_a_spooled_piece_cannot_be_held(plant):
    """Once spooled, a hold is refused: paper may exist; the message points to pull."""
    planned(plant)
    job, members = shared_job(plant)
    impose(job.job_id)
    spool(job.job_id)
    outcome = one(plant, Action.HOLD, piece(plant, members[0]).tracking_id)
    assert (outcome.done, outcome.word) == (False, "refused")
    assert "SPOOLED" in outcome.message and "plant pull" in outcome.message
    assert piece(plant, members[0]).state == "SPOOLED"


def test_a_whole_submission_is_held_and_released(plant):
    """A submission id holds every letter not final (the digital ones are delivered already) in one line."""
    submission = routed(plant)
    print_letters = len(pieces(plant))
    outcome = one(plant, Action.HOLD, submission)
    assert outcome.done and outcome.message.startswith(f"{print_letters} of 12 letter(s) held")
    assert f"{12 - print_letters} already final" in outcome.message
    assert {p.state for p in pieces(plant)} == {"HELD"}
    assert one(plant, Action.RELEASE, submission).done
    assert {p.state for p in pieces(plant)} == {"PRINT_READY"}


# -- cancel --------------------------------------------------------------------------------------------------
def test_cancel_after_spooling_is_refused_with_the_state_and_what_to_do(plant, capsys):
    """`plant cancel` of a spooled piece exits 1 with one line naming the state, why, and `plant pull`; the
    piece and its job are untouched."""
    planned(plant)
    job, members = shared_job(plant)
    impose(job.job_id)
    spool(job.job_id)
    tracking = piece(plant, members[0]).tracking_id
    code = main(["cancel", tracking, "--state-dir", str(plant.settings.state_dir)])
    (line,) = command_lines(capsys)
    assert code == 1
    assert line.startswith(
        f"{tracking}\trefused\tSPOOLED: paper may exist for it, so it can no longer be cancelled"
    )
    assert f"plant pull {tracking}" in line
    assert piece(plant, members[0]).state == "SPOOLED"
    assert jobs(plant, t.print_jobs.c.job_id == job.job_id)[0].state == "SPOOLED"


def test_cancel_before_spooling_is_final_and_annuls_the_postage_mark(plant, capsys):
    """A piece of an imposed job is cancelled (CANCELLED, final, its mark annulled, receipts queued); the rest
    of its job is planned again; the command prints one line per id and exits 0."""
    submission = planned(plant)
    job, members = shared_job(plant)
    impose(job.job_id)
    tracking = piece(plant, members[0]).tracking_id
    code = main(["cancel", tracking, "--state-dir", str(plant.settings.state_dir)])
    assert code == 0
    assert command_lines(capsys) == [
        f"{tracking}\tcancelled\tcancelled; taken out of job {job.job_id} ({len(members) - 1} other piece(s) "
        "planned again)"
    ]
    assert (piece(plant, members[0]).state, piece(plant, members[0]).reason_code) == (
        "CANCELLED",
        "CANCELLED_BY_OPERATOR",
    )
    (mark,) = rows(
        plant, select(tp.postage_marks.c.state).where(tp.postage_marks.c.piece_id == str(members[0]))
    )
    assert mark.state == "annulled"
    assert outbox(plant, "receipts")[(submission,)] >= 1
    assert {piece(plant, m).state for m in members[1:]} == {"PRINT_READY"}


def test_the_command_exits_1_when_any_id_is_not_done(plant, capsys):
    """One line per id, in order; an unknown id makes the exit code 1 while the others are still done."""
    routed(plant)
    first, second = pieces(plant)[:2]
    code = main(
        [
            "hold",
            first.tracking_id,
            "NO-SUCH-ID",
            second.tracking_id,
            "--state-dir",
            str(plant.settings.state_dir),
        ]
    )
    lines = command_lines(capsys)
    assert code == 1
    assert [line.split("\t")[:2] for line in lines] == [
        [first.tracking_id, "held"],
        ["NO-SUCH-ID", "not found"],
        [second.tracking_id, "held"],
    ]


def test_a_letter_id_of_two_submissions_is_refused_as_ambiguous(plant, tmp_path):
    """A letter id two submissions use names no single letter: the operator is asked for the tracking id."""
    routed(plant)
    accept(
        plant.ledger.tx,
        plant.settings.blobs_dir,
        read_submission(generate(tmp_path / "two", 3, seed=8).submission),
    )
    outcome = one(plant, Action.HOLD, "L000001")
    assert (outcome.done, outcome.word) == (False, "ambiguous") and "tracking id" in outcome.message


# -- pull ----------------------------------------------------------------------------------------------------
def test_a_pulled_spooled_piece_is_outsorted_and_never_dispatched(plant):
    """Pulled after spooling: its mail run data carries the divert flag, the inserter outsorts it, the rest of
    the job is dispatched and the manifest has every piece but it."""
    planned(plant)
    job, members = shared_job(plant)
    impose(job.job_id)
    spool(job.job_id)
    target = piece(plant, members[0])
    outcome = one(plant, Action.PULL, target.tracking_id)
    assert outcome.done and "the inserter outsorts it" in outcome.message
    run_id = print_job(plant, job.job_id)
    insert(run_id)
    (run,) = rows(plant, select(t.insert_runs).where(t.insert_runs.c.run_id == run_id))
    data = {
        r["piece_id"]: r["divert"]
        for r in csv.DictReader(
            (
                plant.settings.inserter_folder(
                    next(i for i in plant.settings.inserters if i.name == run.inserter)
                )
                / "runs"
                / f"{device_name(plant, run_id)}.csv"
            ).open()
        )
    }
    assert data == {str(m): "1" if m == target.piece_id else "0" for m in members}
    plant.inserters[run.inserter].step()
    follow_insert(run_id)
    dispatch(run_id)
    assert piece(plant, target.piece_id).state == "PULLED"
    assert events(plant, target.pk)[-1] == "outsorted"
    assert {piece(plant, m).state for m in members[1:]} == {"DISPATCHED"}
    assert sorted(manifest_ids(plant)) == sorted(piece(plant, m).tracking_id for m in members[1:])


def test_a_pulled_enveloped_piece_is_left_out_of_the_manifest(plant):
    """Pulled once in its envelope (reconciled, not yet dispatched): the command says to take the envelope
    out, and dispatch leaves it out of the manifest; pulled again later, it is unchanged; dispatched, it is
    refused."""
    planned(plant)
    job, members = shared_job(plant)
    run_id = print_job(plant, job.job_id)
    envelope(plant, run_id)
    target, other = piece(plant, members[0]), piece(plant, members[1])
    assert {target.state, other.state} == {"INSERTED"}
    outcome = one(plant, Action.PULL, target.tracking_id)
    assert outcome.done and f"take envelope {target.tracking_id} out" in outcome.message
    dispatch(run_id)
    assert piece(plant, target.piece_id).state == "PULLED"
    assert target.tracking_id not in manifest_ids(plant) and other.tracking_id in manifest_ids(plant)
    assert one(plant, Action.PULL, target.tracking_id).word == "unchanged"
    late = one(plant, Action.PULL, other.tracking_id)
    assert (late.done, late.word) == (False, "refused") and late.message.startswith("DISPATCHED")


# -- races ---------------------------------------------------------------------------------------------------
@pytest.fixture
def any_ledger_plant(settings, small_batch, database_url):
    import dataclasses

    current = open_plant(dataclasses.replace(settings, database_url=database_url), small_batch)
    yield current
    close_plant(current)


def test_a_hold_racing_the_plan_stage_never_leaves_the_piece_in_a_live_job(any_ledger_plant):
    """Hold and plan run at once, again and again: the held piece ends HELD and in no live job, every other
    piece in exactly one live job (compare-and-set on both sides), on SQLite and on PostgreSQL."""
    plant = any_ledger_plant
    submission = routed(plant)
    target = pieces(plant)[0]
    for _ in range(8):
        start = threading.Barrier(2)
        outcomes = []

        def hold_it(start=start, outcomes=outcomes):
            start.wait()
            outcomes.append(one(plant, Action.HOLD, target.tracking_id))

        def plan_it(start=start):
            start.wait()
            plan(submission)

        threads = [threading.Thread(target=hold_it), threading.Thread(target=plan_it)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes[0].done, outcomes[0]
        live = [j.job_id for j in jobs(plant) if j.state == "PLANNED"]
        members = [m for j in live for m in job_members(plant, j)]
        assert piece(plant, target.piece_id).state == "HELD" and target.piece_id not in members
        assert sorted(members) == sorted(p.piece_id for p in pieces(plant) if p.piece_id != target.piece_id)
        # back to the start: release the piece, take every job back
        one(plant, Action.RELEASE, target.tracking_id)
        with plant.ledger.tx() as conn:
            for job_id in live:
                release_job(conn, job_id, "next round")
        assert {p.state for p in pieces(plant)} == {"PRINT_READY"}


def test_a_letter_held_before_it_was_checked_is_checked_and_routed_when_released(plant):
    """Held on arrival (RECEIVED), a letter is skipped by pre-flight and routing; released, it goes back to
    RECEIVED with preflight and route queued, and those stages take it."""
    submission = plant.submission_id
    outcome = one(plant, Action.HOLD, "L000001")
    assert outcome.done and "held from RECEIVED" in outcome.message
    preflight(submission)
    route(submission)
    (state,) = rows(plant, select(t.letters.c.state).where(t.letters.c.letter_id == "L000001"))
    assert state.state == "HELD"
    queued = outbox(plant, "preflight")[(submission,)], outbox(plant, "route")[(submission,)]
    assert one(plant, Action.RELEASE, "L000001").message == "released to RECEIVED"
    assert (outbox(plant, "preflight")[(submission,)], outbox(plant, "route")[(submission,)]) == (
        queued[0] + 1,
        queued[1] + 1,
    )
    preflight(submission)
    route(submission)
    (state,) = rows(plant, select(t.letters.c.state).where(t.letters.c.letter_id == "L000001"))
    assert state.state in ("PRINT_READY", "DELIVERED_DIGITAL")
