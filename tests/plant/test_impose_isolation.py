"""No letter stalls another (issue 11): a letter imposition refuses is ended alone, its job planned again
without it; an error of the whole job ends, after bounded attempts, in an operator state with its cause."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pikepdf
import pytest
from sqlalchemy import select

from imposition import Marks, PieceInput
from plant.demo import generate
from plant.ledger import schema as t
from plant.ledger import schema_postage as tp
from plant.ledger.jobs import IMPOSE_FAILED, job_pieces
from plant.operator import Action, act
from plant.stages.impose import STORED_COPY_DAMAGED, find_culprits, impose, job_layout
from plant.stages.plan import plan
from plant.stages.receipts import receipts
from plant.storage.files import blob_path
from plant.testing import (
    accept_batch,
    configure,
    installed_plant,
    job_ids,
    plan_submission,
    read_rows,
)

#: One press and one inserter: every letter of the batch lands in one job.
ONE_PRESS = {"printers": [{"name": "press-1", "sheets_per_minute": 600}]}


def hide_last_page(path: Path) -> None:
    """Damage ``path``'s page tree the way broken PDF writers do: its ``/Count`` says one page fewer than its
    ``/Kids`` hold. Pre-flight's reader (PDFium) believes the count and checks the pages it sees, so the
    letter is accepted with one page too few; imposition's (qpdf) walks the kids, finds a page more than
    pre-flight counted and refuses the file as damaged (``PAGE_COUNT``) — the sender's fault, after pre-flight
    passed, with the blob intact."""
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        if len(pdf.pages) == 1:
            pdf.pages.append(pdf.pages[0])
        count = len(pdf.pages)
        # plain objects, so the count can be edited in place (same length: the xref offsets still hold)
        pdf.save(path, object_stream_mode=pikepdf.ObjectStreamMode.disable, compress_streams=False)
    data, found = re.subn(rb"/Count %d\b" % count, b"/Count %d" % (count - 1), path.read_bytes())
    assert found == 1 and count < 10, "one flat page tree, its count one digit"
    path.write_bytes(data)


def letters(plant) -> dict[str, dict]:
    """Every letter of the ledger by letter id: state, code, reason, tracking id, piece id."""
    letter, piece = t.letters.c, t.pieces.c
    rows = read_rows(
        plant,
        select(
            letter.letter_id,
            letter.state,
            letter.reason_code,
            letter.reason,
            piece.tracking_id,
            piece.piece_id,
        ).select_from(t.letters.outerjoin(t.pieces, piece.letter_pk == letter.pk)),
    )
    return {r.letter_id: r._asdict() for r in rows}


def job_of(plant, letter_id: str) -> str:
    """The PLANNED job holding ``letter_id``'s piece."""
    (job,) = read_rows(
        plant,
        select(t.pieces.c.job_id)
        .select_from(t.pieces.join(t.letters, t.letters.c.pk == t.pieces.c.letter_pk))
        .where(t.letters.c.letter_id == letter_id),
    )
    return job.job_id


def impose_all(plant) -> None:
    """Impose every PLANNED job."""
    for job in job_ids(plant, t.print_jobs.c.state == "PLANNED"):
        impose(job)


def outbox(plant) -> list[tuple[str, list]]:
    return [(r.actor, r.args) for r in read_rows(plant, select(t.outbox.c.actor, t.outbox.c.args))]


@pytest.fixture
def batch(tmp_path):
    """Six print letters (no consents), all accepted by pre-flight."""
    return generate(tmp_path / "in", 6, seed=7)


@pytest.fixture
def settings(tmp_path, request):
    """One press; ``[queue] job_attempts`` from an indirect parameter, else the default (3)."""
    attempts = getattr(request, "param", None)
    queue = {"queue": {"job_attempts": attempts}} if attempts else {}
    return configure(tmp_path, **ONE_PRESS, **queue)[1]


def test_a_letter_imposition_refuses_is_rejected_and_the_others_keep_their_ids(batch, settings):
    """A PDF pre-flight accepts but imposition refuses (a page tree whose /Count hides its last page): that
    letter is REJECTED with a code and what to fix on its receipt; the others are planned again and imposed
    with the same pieces and tracking ids."""
    bad = "L000002"
    hide_last_page(batch.submission / f"{bad}.pdf")
    with installed_plant(settings, devices=False) as plant:
        submission = plan_submission(accept_batch(plant, batch.submission))
        before = letters(plant)
        assert {v["state"] for v in before.values()} == {"PLANNED"}
        job = job_of(plant, bad)
        with plant.ledger.read() as conn:
            mates = {r.letter_id for r in job_pieces(conn, job)} - {bad}
        assert mates, "the bad letter shares its job"

        impose_all(plant)

        after = letters(plant)
        assert after[bad]["state"] == "REJECTED"
        assert after[bad]["reason_code"] == "PAGE_COUNT"
        assert "damaged" in after[bad]["reason"]  # what is wrong…
        assert "PDF again and resubmit" in after[bad]["reason"]  # …and what the sender does about it
        assert "blobs" not in after[bad]["reason"]  # the sender reads the letter's name, not our paths
        assert bad in after[bad]["reason"]
        assert {after[k]["state"] for k in mates} == {"PRINT_READY"}
        assert {v["state"] for k, v in after.items() if k not in mates | {bad}} <= {"IMPOSED"}
        assert read_rows(plant, select(t.print_jobs.c.state).where(t.print_jobs.c.job_id == job)) == [
            ("REPLANNED",)
        ]
        assert ("plan", [submission]) in outbox(plant)
        marks = dict(read_rows(plant, select(tp.postage_marks.c.piece_id, tp.postage_marks.c.state)))
        assert marks[str(before[bad]["piece_id"])] == "annulled"

        plan(submission)
        impose_all(plant)

        final = letters(plant)
        for letter_id, row in before.items():
            assert final[letter_id]["tracking_id"] == row["tracking_id"]
            assert final[letter_id]["piece_id"] == row["piece_id"]
            assert final[letter_id]["state"] == ("REJECTED" if letter_id == bad else "IMPOSED")

        receipts(submission)
        with open(settings.receipts_dir / f"{submission}.csv", newline="") as fh:
            receipt = {r["letter_id"]: r for r in csv.DictReader(fh)}
        assert receipt[bad]["status"] == "REJECTED"
        assert receipt[bad]["code"] == after[bad]["reason_code"]
        assert receipt[bad]["reason"] == after[bad]["reason"]


def test_a_damaged_stored_copy_fails_its_letter_alone(batch, settings):
    """A letter's stored blob replaced by garbage after pre-flight accepted it: the plant's fault, so that
    letter is FAILED with STORED_COPY_DAMAGED (found by imposing each piece alone); the others go on."""
    with installed_plant(settings, devices=False) as plant:
        submission = plan_submission(accept_batch(plant, batch.submission))
        job = job_of(plant, "L000002")
        with plant.ledger.read() as conn:
            pieces = job_pieces(conn, job)
        assert len(pieces) > 1
        victim = pieces[-1]
        blob_path(settings.blobs_dir, victim.pdf_sha256).write_bytes(b"%PDF-1.7\n\x00garbage\xff" * 50)

        impose(job)

        after = letters(plant)
        assert after[victim.letter_id]["state"] == "FAILED"
        assert after[victim.letter_id]["reason_code"] == STORED_COPY_DAMAGED
        assert {after[r.letter_id]["state"] for r in pieces if r.pk != victim.pk} == {"PRINT_READY"}
        impose_all(plant)
        plan(submission)
        impose_all(plant)
        assert {v["state"] for k, v in letters(plant).items() if k != victim.letter_id} == {"IMPOSED"}


def test_the_culprit_search_finds_every_bad_piece(batch, settings, tmp_path):
    """Imposed alone, the good pieces pass and each bad one (truncated, garbage, password-only) fails."""
    good = [batch.submission / f"L00000{n}.pdf" for n in (1, 3, 5)]
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes((batch.submission / "L000002.pdf").read_bytes()[:300])
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"this is not a pdf at all")
    locked = tmp_path / "locked.pdf"
    shutil.copy(batch.submission / "L000004.pdf", locked)
    with pikepdf.open(locked, allow_overwriting_input=True) as pdf:
        pdf.save(locked, encryption=pikepdf.Encryption(owner="o", user="u", R=6))
    paths = [good[0], truncated, good[1], garbage, locked, good[2]]
    pieces = [PieceInput(piece_id=str(i), pdf_path=p) for i, p in enumerate(paths, 1)]
    found = find_culprits(pieces, "J999999", job_layout(settings, "press-1"), Marks())
    assert sorted(found) == ["2", "4", "5"]


@pytest.mark.parametrize("settings", [None, 1], indirect=True, ids=["default-attempts", "one-attempt"])
def test_a_job_error_that_persists_ends_held_with_its_cause(batch, settings):
    """Every piece imposes alone but the job's print file cannot be written (its spool folder is a file):
    after [queue] job_attempts attempts the job is FAILED with the cause and its letters HELD
    (IMPOSE_FAILED) for an operator, never retried again; fixed and released, they are planned and imposed
    with the same ids."""
    with installed_plant(settings, devices=False) as plant:
        submission = plan_submission(accept_batch(plant, batch.submission))
        before = letters(plant)
        job = job_of(plant, "L000002")
        with plant.ledger.read() as conn:
            mates = {r.letter_id for r in job_pieces(conn, job)}
        shutil.rmtree(settings.spool_dir)
        settings.spool_dir.write_text("not a folder")
        planned = len([a for a in outbox(plant) if a == ("impose", [job])])  # the plan stage's message

        for attempt in range(1, plant.settings.queue.job_attempts + 1):
            impose(job)
            state = read_rows(plant, select(t.print_jobs.c.state).where(t.print_jobs.c.job_id == job))
            retries = [a for a in outbox(plant) if a == ("impose", [job])]
            if attempt < plant.settings.queue.job_attempts:
                assert state == [("PLANNED",)]
                assert len(retries) == planned + attempt  # each failed attempt queues the next
                assert {letters(plant)[k]["state"] for k in mates} == {"PLANNED"}
        assert state == [("FAILED",)]
        failed = read_rows(
            plant,
            select(t.events.c.data).where(t.events.c.entity_id == job, t.events.c.event == "impose_failed"),
        )
        assert (
            failed
            and failed[0].data["attempts"] == plant.settings.queue.job_attempts
            and failed[0].data["cause"]
        )
        held = {k: v for k, v in letters(plant).items() if k in mates}
        assert {v["state"] for v in held.values()} == {"HELD"}
        assert {v["reason_code"] for v in held.values()} == {IMPOSE_FAILED}
        assert all(job in v["reason"] and "release" in v["reason"] for v in held.values())
        impose(job)  # a late message finds the job failed: nothing more
        assert (
            len([a for a in outbox(plant) if a == ("impose", [job])])
            == planned + plant.settings.queue.job_attempts - 1
        )

        settings.spool_dir.unlink()
        settings.spool_dir.mkdir()
        act(plant.ledger, Action.RELEASE, [v["tracking_id"] for v in held.values()], "spool folder fixed")
        plan(submission)
        impose_all(plant)
        final = letters(plant)
        assert {v["state"] for v in final.values()} == {"IMPOSED"}
        assert {k: v["tracking_id"] for k, v in final.items()} == {
            k: v["tracking_id"] for k, v in before.items()
        }
