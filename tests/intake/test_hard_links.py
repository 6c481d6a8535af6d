"""Issue 12, hole 9: a hard link in a drop folder is not the sender's own file.

A sender who can hard-link another tenant's file into a drop folder would get it printed and mailed: a letter
file with more than one name (``st_nlink`` > 1) is not read, that letter alone is rejected (``HARD_LINKED``)
with a reason naming the file and the fix, and its neighbours go on; a hard-linked manifest refuses the
submission.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os

import pytest
from sqlalchemy import select

from plant.errors import SubmissionError
from plant.intake.submission import HARD_LINKED, MANIFEST_COLUMNS, intake, read_submission
from plant.ledger import Ledger
from plant.ledger import schema as t
from tests.intake.letters import ROW, write


def manifest(letter_ids) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(
        {**ROW, "letter_id": letter_id, "recipient_id": f"R-{n}"} for n, letter_id in enumerate(letter_ids)
    )
    return out.getvalue().encode()


@pytest.fixture
def drop(tmp_path):
    """A drop folder with L1, L2 and L3 listed; L1 and L3 are the sender's own files, L2.pdf is a hard link
    to another tenant's letter. Yields (folder, the other tenant's file)."""
    (tmp_path / "other-tenant").mkdir()
    secret = write(tmp_path / "other-tenant" / "secret.pdf")
    with secret.open("ab") as handle:  # bytes of its own, so its blob would be told apart from L1's
        handle.write(b"%other tenant\n")
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "manifest.csv").write_bytes(manifest(["L1", "L2", "L3"]))
    write(folder / "L1.pdf")
    write(folder / "L3.pdf")
    os.link(secret, folder / "L2.pdf")
    assert (folder / "L2.pdf").stat().st_nlink == 2
    return folder, secret


def test_a_hard_linked_letter_is_rejected_alone_and_never_read(drop, settings):
    folder, secret = drop
    settings.state_dir.mkdir(parents=True)
    ledger = Ledger(settings.ledger_url)
    try:
        result = intake(ledger, settings, folder)
        with ledger.read() as conn:
            letters = {
                r.letter_id: r
                for r in conn.execute(
                    select(
                        t.letters.c.letter_id, t.letters.c.state, t.letters.c.reason_code, t.letters.c.reason
                    )
                )
            }
    finally:
        ledger.dispose()
    assert result.rejected_at_intake == 1
    assert {k: (r.state, r.reason_code) for k, r in letters.items()} == {
        "L1": ("RECEIVED", None),
        "L2": ("REJECTED", HARD_LINKED),
        "L3": ("RECEIVED", None),
    }
    reason = letters["L2"].reason
    assert str(folder / "L2.pdf") in reason and "hard link" in reason and "cp, not ln" in reason
    secret_hash = hashlib.sha256(secret.read_bytes()).hexdigest()
    blobs = [p for p in settings.blobs_dir.rglob("*") if p.is_file()]
    assert blobs and not any(secret_hash in p.name for p in blobs)  # the other tenant's bytes were not stored


def test_the_other_tenants_bytes_are_not_in_the_package(drop):
    folder, secret = drop
    package = read_submission(folder)
    assert set(package.files) == {"L1", "L3"} and secret.read_bytes() not in package.files.values()
    assert package.problems["L2"][0] == HARD_LINKED


def test_the_same_file_once_it_has_one_name_is_taken(drop):
    """The fix the reason names: a copy (one name) of the file is read like any other letter."""
    folder, secret = drop
    (folder / "L2.pdf").unlink()
    (folder / "L2.pdf").write_bytes(secret.read_bytes())
    package = read_submission(folder)
    assert set(package.files) == {"L1", "L2", "L3"} and package.problems == {}


def test_a_hard_linked_manifest_refuses_the_submission_naming_it(tmp_path, drop):
    folder, _ = drop
    (folder / "L2.pdf").unlink()
    write(folder / "L2.pdf")
    os.link(folder / "manifest.csv", tmp_path / "manifest-elsewhere.csv")
    with pytest.raises(SubmissionError, match=r"manifest\.csv is a hard link.*cp, not ln"):
        read_submission(folder)
