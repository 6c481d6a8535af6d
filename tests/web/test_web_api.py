"""The JSON API under /api/ reads the ledger the plant's own stages filled: the queue, a submission's receipt
rows, a piece's history, throughput, and health."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import Integer, cast, func, select
from starlette.testclient import TestClient

from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.ledger.reads import RECEIPT_COLUMNS, letter_history, receipt_rows
from plant.testing import read_rows as ledger_read
from plant.testing import state_settings
from plant.web import create_app
from tests.web.webplant import HOSTILE_NAME, SPOIL_REASON, accept_batch, client_on_a_broken_ledger


def test_health_answers_ok(client):
    """/api/health is 200 with the ledger's schema version when the ledger answers."""
    answer = client.get("/api/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok" and answer.json()["schema_version"] == t.SCHEMA_VERSION


def test_health_is_503_when_the_ledger_cannot_be_read(tmp_path):
    """A ledger file that is no database any more makes /api/health answer 503 with the reason."""
    with client_on_a_broken_ledger(tmp_path / "state") as http:
        answer = http.get("/api/health")
    assert answer.status_code == 503
    assert answer.json()["status"] == "unavailable" and "DatabaseError" in answer.json()["ledger"]


def test_overview_counts_letters_by_state_per_submission(client, filled):
    """Every listed submission's counts equal the ledger's letters grouped by state."""
    letters = t.letters.c
    rows = ledger_read(
        filled,
        select(letters.submission_id, letters.state, func.count()).group_by(
            letters.submission_id, letters.state
        ),
    )
    expected: dict[str, dict[str, int]] = {}
    for submission_id, state, count in rows:
        expected.setdefault(submission_id, {})[state] = count
    overview = client.get("/api/overview").json()
    assert {s["submission_id"]: s["states"] for s in overview["submissions"]} == expected
    assert overview["totals"] == dict(sum((Counter(c) for c in expected.values()), Counter()))


def test_overview_lists_open_submissions_first(client, filled):
    """The open submission comes before the finished demo batch."""
    listed = [s["submission_id"] for s in client.get("/api/overview").json()["submissions"]]
    assert listed == [filled.queue_submission, filled.demo_submission]


def test_overview_puts_active_jobs_under_their_printers(client, filled):
    """Each printer lists exactly its jobs not yet done, with their pieces; done jobs are only counted."""
    jobs = t.print_jobs.c
    active = ledger_read(filled, select(jobs.printer, jobs.job_id, jobs.pieces).where(jobs.state != "DONE"))
    done = Counter(p for (p,) in ledger_read(filled, select(jobs.printer).where(jobs.state == "DONE")))
    printers = {p["name"]: p for p in client.get("/api/overview").json()["printers"]}
    assert set(printers) == {"press-1", "press-2"}
    for name, printer in printers.items():
        assert {(j["job_id"], j["pieces"]) for j in printer["jobs"]} == {
            (j, n) for p, j, n in active if p == name
        }
        assert printer["done"] == done[name]
    assert all(j["state"] == "SPOOLED" for p in printers.values() for j in p["jobs"])


def test_overview_lists_idle_inserters_with_their_reconciled_runs(client):
    """Configured inserters show even with no run going; the demo's reconciled runs are counted."""
    inserters = client.get("/api/overview").json()["inserters"]
    assert {i["name"] for i in inserters} == {"inserter-1", "inserter-2"}
    assert all(i["runs"] == [] for i in inserters)
    assert sum(i["reconciled"] for i in inserters) >= 1


def test_overview_lists_failed_and_unaccounted_pieces_as_needing_attention(client, filled):
    """The lost piece (UNACCOUNTED) and the failed one are listed with their codes; nothing else is."""
    attention = client.get("/api/overview").json()["attention"]
    listed = {(a["letter_id"], a["state"], a["code"]) for a in attention["letters"]}
    assert listed == {
        (filled.hostile_letter, "UNACCOUNTED", "UNACCOUNTED"),
        (filled.failed_letter, "FAILED", "SPOILED_REPEATEDLY"),
    }
    assert attention["count"] == 2


def test_overview_lists_the_outsorted_piece_waiting_for_its_reprint(client, filled):
    """The spoiled piece, back to PRINT_READY with one print behind it, is listed with the spoil reason."""
    reprinting = client.get("/api/overview").json()["reprinting"]
    assert reprinting["count"] == 1
    (piece,) = reprinting["letters"]
    assert (piece["letter_id"], piece["state"], piece["prints"], piece["reason"]) == (
        filled.reprint_letter,
        "PRINT_READY",
        1,
        SPOIL_REASON,
    )
    assert piece["tracking_id"]


def test_submission_rows_are_its_receipt_rows(client, filled):
    """A submission's rows carry exactly what `plant receipts` lists, plus name, class, pages, job and run."""
    ledger = Ledger(filled.settings.ledger_url)
    with ledger.read() as conn:
        receipts = receipt_rows(conn, filled.queue_submission)
    ledger.dispose()
    data = client.get(f"/api/submissions/{filled.queue_submission}").json()
    assert [{k: row[k] for k in RECEIPT_COLUMNS} for row in data["rows"]] == receipts
    names = {row["letter_id"]: row["name"] for row in data["rows"]}
    assert names[filled.hostile_letter] == HOSTILE_NAME
    assert data["states"] == dict(Counter(r["status"] for r in receipts)) and data["letters"] == 8


def test_submission_rows_show_the_rejection_code(client, filled):
    """The letter that was not a PDF shows its rejection code and reason, and no tracking id."""
    rows = client.get(f"/api/submissions/{filled.queue_submission}").json()["rows"]
    (row,) = [r for r in rows if r["letter_id"] == filled.rejected_letter]
    assert (
        row["status"] == "REJECTED" and row["code"] == "NOT_PDF" and row["reason"] and not row["tracking_id"]
    )


def test_submission_filters_by_state(client, filled):
    """?state=SPOOLED lists only the spooled letters, and says how many match."""
    data = client.get(f"/api/submissions/{filled.queue_submission}?state=SPOOLED").json()
    assert data["matching"] == 4 and len(data["rows"]) == 4
    assert {r["status"] for r in data["rows"]} == {"SPOOLED"}


def test_submission_pages_with_offset_and_limit(client, filled):
    """Pages of 3 letters walk the submission in manifest order without gaps or repeats."""
    seen = []
    for offset in (0, 3, 6):
        seen += [
            r["letter_id"]
            for r in client.get(f"/api/submissions/{filled.queue_submission}?offset={offset}&limit=3").json()[
                "rows"
            ]
        ]
    assert seen == [f"L{n:06d}" for n in range(1, 9)]


@pytest.mark.parametrize("path", ["/api/submissions/S-nothing", "/api/pieces/RR999999999ZZ"])
def test_unknown_ids_are_404_with_the_fix(client, path):
    """An id the ledger does not know is a 404 whose message says what to check."""
    answer = client.get(path)
    assert answer.status_code == 404 and "check" in answer.json()["error"]


@pytest.mark.parametrize("query", ["?limit=0", "?offset=-1", "?limit=abc", "?state=LOST"])
def test_bad_query_parameters_are_400(client, filled, query):
    """Malformed paging or state parameters are refused with what is allowed."""
    answer = client.get(f"/api/submissions/{filled.queue_submission}{query}")
    assert answer.status_code == 400 and "use" in answer.json()["error"]


def test_piece_history_is_plant_status(client, filled):
    """A piece found by tracking id has the same letter and events as `plant status` prints."""
    (tracking_id,) = [
        r["tracking_id"]
        for r in client.get(f"/api/submissions/{filled.queue_submission}").json()["rows"]
        if r["letter_id"] == filled.reprint_letter
    ]
    data = client.get(f"/api/pieces/{tracking_id}").json()
    (expected,) = letter_history(filled.settings, tracking_id)
    (letter,) = data["letters"]
    assert {k: letter[k] for k in expected} == expected
    assert [e["event"] for e in letter["events"]][-3:] == ["spool", "spoil", "reprint"]
    assert letter["prints"] == 1 and letter["job_id"]


def test_throughput_counts_the_output_events(client, filled):
    """Printed, inserted and dispatched per hour add up to the ledger's downstream-read, insert and dispatch
    events; pages are the printed letters' pages."""
    events, letters = t.events.c, t.letters.c
    counts = dict(
        ledger_read(
            filled, select(events.event, func.count()).where(events.entity == "letter").group_by(events.event)
        )
    )
    (pages,) = ledger_read(
        filled,
        select(func.sum(letters.pages))
        .select_from(t.events.join(t.letters, letters.pk == cast(events.entity_id, Integer)))
        .where(events.event == "read_downstream"),
    )[0]
    data = client.get("/api/throughput").json()
    assert data["totals"] == {
        "printed": counts["read_downstream"],
        "inserted": counts["insert"],
        "dispatched": counts["dispatch"],
        "pages": pages,
    }
    assert (
        len(data["buckets"]) == 24 and sum(b["printed"] for b in data["buckets"]) == counts["read_downstream"]
    )
    assert data["pages_per_s_while_printing"] > 0


def test_throughput_backlog_is_the_work_not_yet_dispatched(client):
    """The staged batch's four spooled pieces and one waiting for its reprint make the backlog."""
    backlog = client.get("/api/throughput").json()["backlog"]
    assert backlog["states"] == {"PRINT_READY": 1, "SPOOLED": 4} and backlog["pieces"] == 5


def test_throughput_hours_window(client):
    """?hours=3 gives three consecutive hourly buckets ending in the current hour."""
    buckets = client.get("/api/throughput?hours=3").json()["buckets"]
    assert len(buckets) == 3 and buckets[0]["hour"] < buckets[1]["hour"] < buckets[2]["hour"]


def test_a_new_submission_shows_in_the_next_answer(tmp_path):
    """The API reads the ledger on every request: a batch accepted after the app started is counted."""
    settings = state_settings(tmp_path / "state")
    settings.state_dir.mkdir()
    with TestClient(create_app(settings)) as http:
        assert http.get("/api/overview").json()["submissions"] == []
        submission_id = accept_batch(settings, tmp_path / "in")
        (listed,) = http.get("/api/overview").json()["submissions"]
    assert listed["submission_id"] == submission_id and listed["states"] == {"RECEIVED": 3}
