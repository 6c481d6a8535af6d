"""The HTML pages, through an HTTP client: the counts and histories are on the page, every page links its JSON
twin, and sender text is escaped everywhere it is shown."""

from __future__ import annotations

import html
import json

import pytest
from markupsafe import escape

from tests.web.webplant import HOSTILE_NAME, elements


def page(client, path: str) -> str:
    answer = client.get(path)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    return answer.text


def hostile_tracking_id(client, filled) -> str:
    rows = client.get(f"/api/submissions/{filled.queue_submission}").json()["rows"]
    return next(r["tracking_id"] for r in rows if r["letter_id"] == filled.hostile_letter)


@pytest.mark.parametrize("where", ["overview", "submission", "piece"])
def test_sender_markup_is_escaped(client, filled, where):
    """The recipient name full of markup appears only escaped on the queue, submission and piece pages."""
    path = {
        "overview": "/",
        "submission": f"/submissions/{filled.queue_submission}",
        "piece": f"/pieces/{hostile_tracking_id(client, filled)}",
    }[where]
    text = page(client, path)
    assert str(escape(HOSTILE_NAME)) in text
    if where == "piece":  # the lost piece's event quotes it too, as JSON text
        assert str(escape(json.dumps(HOSTILE_NAME, ensure_ascii=False))) in text
    assert HOSTILE_NAME not in text and "<script>window" not in text


def test_every_page_forbids_inline_script(client, filled):
    """Pages and API answers carry a Content-Security-Policy that runs only the plant's own script files."""
    for path in (
        "/",
        f"/submissions/{filled.queue_submission}",
        "/throughput",
        "/api/overview",
        "/pieces/nothing",
    ):
        policy = client.get(path).headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy


def test_queue_page_shows_counts_per_submission(client):
    """Each submission's row shows its count in every state column."""
    expected = {s["submission_id"]: s["states"] for s in client.get("/api/overview").json()["submissions"]}
    shown: dict[str, dict[str, int]] = {}
    for attrs, text in elements(page(client, "/"), "data-state"):
        if "data-submission" in attrs and text:
            shown.setdefault(attrs["data-submission"], {})[attrs["data-state"]] = int(text)
    assert shown == expected


def test_queue_page_shows_jobs_under_printers(client):
    """Every active job appears in the block of the printer it is on."""
    overview = client.get("/api/overview").json()
    devices = {attrs["data-device"]: text for attrs, text in elements(page(client, "/"), "data-device")}
    for printer in overview["printers"]:
        for job in printer["jobs"]:
            assert job["job_id"] in devices[printer["name"]]
    assert sum(len(p["jobs"]) for p in overview["printers"]) == 4


def test_queue_page_lists_letters_needing_attention(client, filled):
    """The attention table lists the failed and the unaccounted letter."""
    text = page(client, "/")
    section = text[text.index('id="attention"') : text.index('id="reprinting"')]
    letters = {attrs["data-letter"] for attrs, _ in elements(section, "data-letter")}
    assert letters == {filled.hostile_letter, filled.failed_letter}


def test_submission_page_shows_statuses_codes_and_tracking_ids(client, filled):
    """Each letter's row shows its status, and its rejection code or tracking id."""
    data = client.get(f"/api/submissions/{filled.queue_submission}").json()
    rows = {
        attrs["data-letter"]: text
        for attrs, text in elements(page(client, f"/submissions/{filled.queue_submission}"), "data-letter")
    }
    for row in data["rows"]:
        shown = rows[row["letter_id"]]
        assert row["status"] in shown and (row["tracking_id"] or row["code"]) in shown
    assert "NOT_PDF" in rows[filled.rejected_letter]


def test_piece_page_lists_every_event(client, filled):
    """The piece page has one history row per ledger event of the letter, in order."""
    tracking_id = hostile_tracking_id(client, filled)
    (letter,) = client.get(f"/api/pieces/{tracking_id}").json()["letters"]
    shown = [
        attrs["data-event"] for attrs, _ in elements(page(client, f"/pieces/{tracking_id}"), "data-event")
    ]
    assert shown == [e["event"] for e in letter["events"]] and shown[-1] == "lose"


def test_throughput_page_shows_totals_and_backlog(client):
    """The dashboard shows the printed, inserted and dispatched totals and the backlog count."""
    data = client.get("/api/throughput").json()
    figures = {attrs["id"]: text for attrs, text in elements(page(client, "/throughput"), "id")}
    for name in ("printed", "inserted", "dispatched"):
        assert figures[f"total-{name}"].startswith(str(data["totals"][name]))
    assert figures["backlog-pieces"].startswith(str(data["backlog"]["pieces"]))


@pytest.mark.parametrize(
    "path, api",
    [
        ("/", "/api/overview"),
        ("/throughput", "/api/throughput"),
        ("/submissions/{sid}?state=SPOOLED", "/api/submissions/{sid}?state=SPOOLED"),
    ],
)
def test_pages_link_their_json_twin(client, filled, path, api):
    """Each page's footer links the API answer it was rendered from."""
    api = api.format(sid=filled.queue_submission)
    assert f'href="{html.escape(api)}"' in page(client, path.format(sid=filled.queue_submission))


def test_pages_carry_the_refresh_interval(client, filled):
    """Pages tell the refresh script how often to re-read (web.refresh_s)."""
    assert f'data-refresh-s="{filled.settings.web.refresh_s}"' in page(client, "/")


def test_unknown_piece_is_an_html_404(client):
    """A page for an id the ledger does not know is a 404 page saying what to check."""
    answer = client.get("/pieces/RR999999999ZZ")
    assert answer.status_code == 404 and "check the id on the receipt" in answer.text
