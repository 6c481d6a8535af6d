"""Intake of submissions: whole-package refusals that say what to fix, per-letter rejections, nothing lost."""

from __future__ import annotations

import csv
import shutil
import zipfile

import pytest
from sqlalchemy import select

from plant.errors import SubmissionError
from plant.intake.submission import accept, read_submission
from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.storage.files import blob_path


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield ledger
    ledger.dispose()


def rows_of(folder):
    with open(folder / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def write_rows(folder, rows, fields=None):
    with open(folder / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def states(ledger):
    with ledger.read() as conn:
        return {r.letter_id: (r.state, r.reason_code, r.reason) for r in conn.execute(select(t.letters))}


def test_every_letter_is_recorded_and_stored_by_hash(ledger, small_batch, tmp_path):
    """Accepting records every letter RECEIVED and keeps each PDF under its SHA-256."""
    package = read_submission(small_batch.submission)
    submission_id, new = accept(ledger.tx, tmp_path / "blobs", package)
    assert new and submission_id.startswith("S-")
    recorded = states(ledger)
    assert len(recorded) == 12 and {s for s, _, _ in recorded.values()} == {"RECEIVED"}
    with ledger.read() as conn:
        for row in conn.execute(select(t.letters)):
            stored = blob_path(tmp_path / "blobs", row.pdf_sha256).read_bytes()
            assert stored == (small_batch.submission / f"{row.letter_id}.pdf").read_bytes()
        assert conn.execute(select(t.outbox.c.actor)).scalars().all() == ["preflight"]


def test_same_submission_twice_is_accepted_once(ledger, small_batch, tmp_path):
    """Submitting the same package again records nothing new."""
    package = read_submission(small_batch.submission)
    first = accept(ledger.tx, tmp_path / "blobs", package)
    second = accept(ledger.tx, tmp_path / "blobs", read_submission(small_batch.submission))
    assert second == (first[0], False)
    assert len(states(ledger)) == 12


def test_no_manifest_refuses_the_submission(small_batch):
    """A folder without manifest.csv is refused, naming the file and its columns."""
    (small_batch.submission / "manifest.csv").unlink()
    with pytest.raises(SubmissionError, match="has no manifest.csv; add one with the columns letter_id"):
        read_submission(small_batch.submission)


def test_missing_column_is_named(small_batch):
    """A manifest without a required column is refused, naming it."""
    rows = rows_of(small_batch.submission)
    for row in rows:
        del row["postcode"]
    write_rows(small_batch.submission, rows)
    with pytest.raises(SubmissionError, match="lacks the column\\(s\\) postcode"):
        read_submission(small_batch.submission)


def test_duplicate_letter_id_names_both_lines(small_batch):
    """The same letter id twice refuses the submission, naming both lines."""
    rows = rows_of(small_batch.submission)
    rows[3]["letter_id"] = rows[1]["letter_id"]
    write_rows(small_batch.submission, rows)
    with pytest.raises(SubmissionError, match=f"{rows[1]['letter_id']}' appears on lines 3 and 5"):
        read_submission(small_batch.submission)


def test_row_without_pdf_rejects_only_that_letter(ledger, small_batch, tmp_path):
    """A row whose PDF is missing is REJECTED with a reason; the other letters are received."""
    (small_batch.submission / "L000004.pdf").unlink()
    accept(ledger.tx, tmp_path / "blobs", read_submission(small_batch.submission))
    recorded = states(ledger)
    assert recorded["L000004"][:2] == ("REJECTED", "MISSING_PDF")
    assert "no file L000004.pdf" in recorded["L000004"][2]
    assert sum(1 for s, _, _ in recorded.values() if s == "RECEIVED") == 11


def test_row_with_empty_required_value_is_rejected(ledger, small_batch, tmp_path):
    """An empty city rejects that letter with a reason naming the line and column."""
    rows = rows_of(small_batch.submission)
    rows[0]["city"] = ""
    write_rows(small_batch.submission, rows)
    accept(ledger.tx, tmp_path / "blobs", read_submission(small_batch.submission))
    state, code, reason = states(ledger)[rows[0]["letter_id"]]
    assert (state, code) == ("REJECTED", "BAD_MANIFEST_ROW") and "line 2: city empty" in reason


def test_zip_of_a_folder_is_a_submission(small_batch, tmp_path):
    """A .zip holding the submission folder reads like the folder itself."""
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for item in small_batch.submission.iterdir():
            zf.write(item, f"batch/{item.name}")
    from_zip = read_submission(archive)
    from_folder = read_submission(small_batch.submission)
    assert from_zip.submission_id == from_folder.submission_id
    assert len(from_zip.files) == 12


def test_zip_with_parent_paths_is_refused(tmp_path):
    """Entries escaping the folder ('..') refuse the zip."""
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../manifest.csv", "x")
    with pytest.raises(SubmissionError, match="absolute paths or '..'"):
        read_submission(archive)


def test_not_a_zip_is_refused(tmp_path):
    """A file that is not a zip is refused with what to send instead."""
    bogus = tmp_path / "batch.zip"
    bogus.write_text("hello")
    with pytest.raises(SubmissionError, match="neither a folder nor a readable .zip"):
        read_submission(bogus)


def test_copy_is_independent_of_source(ledger, small_batch, tmp_path):
    """Once accepted, removing the sender's folder loses nothing: the bytes are in the blob store."""
    accept(ledger.tx, tmp_path / "blobs", read_submission(small_batch.submission))
    shutil.rmtree(small_batch.submission)
    with ledger.read() as conn:
        for digest in conn.execute(select(t.letters.c.pdf_sha256)).scalars():
            assert blob_path(tmp_path / "blobs", digest).exists()
