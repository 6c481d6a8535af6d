"""No letter stalls another, through the real processes (issue 11): a mixed submission runs to the end with
its bad letters ended and named on the receipts; a job that cannot be imposed stops the wait with its
cause."""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import select

from plant.demo import generate
from plant.errors import Stalled
from plant.ledger import schema as t
from plant.ledger.jobs import IMPOSE_FAILED
from plant.stages.impose import STORED_COPY_DAMAGED
from plant.stages.preflight import preflight
from plant.stages.route import route
from plant.storage.files import blob_path
from plant.testing import accept_batch, configure, installed_plant, open_session, read_rows
from tests.plant.helpers import PHASE_TIMEOUT_S, wait_for
from tests.plant.test_impose_isolation import hide_last_page

pytestmark = pytest.mark.usefixtures("no_leftover_redis")

#: A "PDF" built to hurt a parser: a header, then 200 000 nested arrays and no end.
HOSTILE = b"%PDF-1.7\n1 0 obj\n" + b"[" * 200_000 + b"\n"


def letters(source) -> dict[str, tuple[str, str | None, str | None]]:
    c = t.letters.c
    rows = read_rows(source, select(c.letter_id, c.state, c.reason_code, c.reason))
    return {r.letter_id: (r.state, r.reason_code, r.reason) for r in rows}


def worker_started(settings) -> bool:
    log = settings.state_dir / "logs" / "worker.log"
    return log.exists() and "worker_started" in log.read_text(errors="replace")


def test_a_mixed_submission_ends_every_letter_and_the_wait(tmp_path):
    """Good letters, one imposition refuses (its page tree hides a page from pre-flight), one whose stored
    copy was damaged after pre-flight and a hostile one: the good ones are DISPATCHED, each bad one REJECTED
    or FAILED with its reason on the receipt, and the session's wait returns as soon as all are final."""
    config, settings = configure(tmp_path)
    batch = generate(tmp_path / "in", 8, seed=3)
    refused, damaged, hostile = "L000002", "L000004", "L000006"
    hide_last_page(batch.submission / f"{refused}.pdf")
    (batch.submission / f"{hostile}.pdf").write_bytes(HOSTILE)
    with installed_plant(settings, devices=False) as plant:  # accepted and checked; then the blob is damaged
        submission = accept_batch(plant, batch.submission)
        preflight(submission)
        route(submission)
        (sha,) = read_rows(plant, select(t.letters.c.pdf_sha256).where(t.letters.c.letter_id == damaged))
        blob_path(settings.blobs_dir, sha[0]).write_bytes(b"%PDF-1.4\n% truncated after pre-flight\n")

    with open_session(settings, config) as session:
        session.resume()
        session.wait([submission], timeout=PHASE_TIMEOUT_S, stall_s=PHASE_TIMEOUT_S)
        final = letters(session)

    bad = {refused, damaged, hostile}
    assert {final[k][0] for k in final if k not in bad} == {"DISPATCHED"}
    assert final[refused][:2] == ("REJECTED", "PAGE_COUNT") and refused in final[refused][2]
    assert final[damaged][:2] == ("FAILED", STORED_COPY_DAMAGED)
    assert final[hostile][0] == "REJECTED" and final[hostile][1]
    receipt = {
        r["letter_id"]: r
        for r in json.loads((settings.receipts_dir / f"{submission}.json").read_text())["letters"]
    }
    for letter_id in bad:
        assert receipt[letter_id]["status"] == final[letter_id][0]
        assert receipt[letter_id]["code"] == final[letter_id][1]
        assert receipt[letter_id]["reason"] == final[letter_id][2]
    assert all(receipt[k]["tracking_id"] for k in final if k != hostile)


def test_a_job_that_cannot_be_imposed_stops_the_wait_with_its_cause(tmp_path):
    """The spool folder becomes unwritable once the worker runs: the job fails its bounded attempts, its
    letters are HELD with the cause, and the wait stops with a Stalled naming them and the cause (no timeout,
    no endless retries)."""
    config, settings = configure(tmp_path)
    batch = generate(tmp_path / "in", 3, seed=5)
    with installed_plant(settings, devices=False) as plant:
        submission = accept_batch(plant, batch.submission)
        preflight(submission)
        route(submission)

    with open_session(settings, config) as session:
        wait_for(lambda: worker_started(settings), "the worker to start")
        shutil.rmtree(settings.spool_dir)
        settings.spool_dir.write_text("not a folder")
        session.resume()
        with pytest.raises(Stalled) as stalled:
            session.wait([submission], timeout=PHASE_TIMEOUT_S, stall_s=3)
        held = letters(session)

    assert {state for state, _, _ in held.values()} == {"HELD"}
    assert {code for _, code, _ in held.values()} == {IMPOSE_FAILED}
    message = str(stalled.value)
    assert "HELD" in message and IMPOSE_FAILED in message and "Not a directory" in message
    assert "plant release" in message
    assert stalled.value.exit_code == 75
