"""The reconciliation queue page over HTTP: /reconcile lists the UNACCOUNTED pieces (and /api/reconcile), a
signed-in operator ends one found, reprint or lost with a reason — recorded with their name — and the gates of
every action hold (no sign-in: 401, a forged form: 403)."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from plant.ledger import schema as t
from plant.stages.dispatch import dispatch
from plant.web import create_app
from plant.web.auth import add_operator
from tests.plant.operating import close_plant, open_plant, rows
from tests.plant.test_reconcile_results import a_job, envelope, piece, printed_run
from tests.web.actionplant import OPERATOR, PASSWORD, csrf_of


@pytest.fixture
def unaccounted(settings, small_batch, tmp_path):
    """An in-process plant with operators, a run reconciled with no results: its pieces UNACCOUNTED."""
    operators = tmp_path / "operators"
    add_operator(operators, OPERATOR, PASSWORD)
    settings = dataclasses.replace(settings, web=dataclasses.replace(settings.web, operators_file=operators))
    plant = open_plant(settings, small_batch)
    job_id, members = a_job(plant)
    run_id = printed_run(plant, job_id)
    envelope(plant, run_id, lambda found: [])
    yield plant, run_id, [piece(plant, m) for m in members]
    close_plant(plant)


@pytest.fixture
def http(unaccounted):
    with TestClient(create_app(unaccounted[0].settings), follow_redirects=False) as client:
        yield client


def signed_in(http) -> str:
    token = csrf_of(http.get("/login").text)
    answer = http.post("/login", data={"csrf": token, "name": OPERATOR, "password": PASSWORD, "next": "/"})
    assert answer.status_code == 303
    return csrf_of(http.get("/reconcile").text)


def act(http, token, identifier, action, reason="checked by hand"):
    return http.post("/reconcile", data={"csrf": token, "id": identifier, "action": action, "reason": reason})


def event(plant, pk: int, name: str):
    letter = (t.events.c.entity == "letter", t.events.c.entity_id == str(pk), t.events.c.event == name)
    return rows(plant, select(t.events).where(*letter).order_by(t.events.c.id.desc()))[0]


def test_the_page_lists_the_queue_and_forms_only_when_signed_in(http, unaccounted):
    """Read-only, the queue shows every UNACCOUNTED piece with its reason and no form; /api/reconcile is the
    same as JSON; signed in, each row has the three actions."""
    _, run_id, pieces = unaccounted
    page = http.get("/reconcile")
    assert page.status_code == 200
    for p in pieces:
        assert p.tracking_id in page.text
    assert "gave no result" in page.text and 'action="/reconcile"' not in page.text
    data = http.get("/api/reconcile").json()
    assert data["count"] == 2 and {p["run_id"] for p in data["pieces"]} == {run_id}
    signed_in(http)
    page = http.get("/reconcile").text
    assert page.count('action="/reconcile"') == 2
    assert all(f'value="{a}"' in page for a in ("found", "reprint", "lost"))


def test_without_sign_in_or_with_a_forged_form_nothing_moves(http, unaccounted):
    """No operator signed in: 401; signed in but the wrong token: 403; the piece stays UNACCOUNTED."""
    plant, _, (target, _) = unaccounted
    token = csrf_of(http.get("/login").text)
    assert act(http, token, target.tracking_id, "lost").status_code == 401
    signed_in(http)
    assert act(http, "forged", target.tracking_id, "lost").status_code == 403
    assert piece(plant, target.piece_id).state == "UNACCOUNTED"


def test_found_from_the_page_is_dispatched_with_the_operators_name(http, unaccounted):
    """found: INSERTED, the event naming alice and the reason; the dispatch stage hands it over."""
    plant, run_id, (target, _) = unaccounted
    token = signed_in(http)
    answer = act(http, token, target.tracking_id, "found", "in the reject bin, whole")
    assert answer.status_code == 303 and answer.headers["location"] == "/reconcile"
    assert piece(plant, target.piece_id).state == "INSERTED"
    assert event(plant, target.pk, "find").data == {
        "by": OPERATOR,
        "reason": "in the reject bin, whole",
        "run": run_id,
    }
    assert f"{target.tracking_id}: found" in http.get("/reconcile").text
    dispatch(run_id)
    assert piece(plant, target.piece_id).state == "DISPATCHED"


def test_reprint_and_lost_from_the_page(http, unaccounted):
    """reprint: PRINT_READY with the same tracking id; lost: FAILED (LOST); both name alice; the queue is
    then empty."""
    plant, _, (first, second) = unaccounted
    token = signed_in(http)
    act(http, token, first.tracking_id, "reprint", "torn")
    act(http, token, second.tracking_id, "lost", "never found")
    again = piece(plant, first.piece_id)
    assert (again.state, again.tracking_id) == ("PRINT_READY", first.tracking_id)
    assert event(plant, first.pk, "reprint").data == {"by": OPERATOR, "reason": "torn"}
    gone = piece(plant, second.piece_id)
    assert (gone.state, gone.reason_code) == ("FAILED", "LOST")
    assert event(plant, second.pk, "write_off").data == {"by": OPERATOR, "reason": "never found"}
    assert "No piece waits for reconciliation." in http.get("/reconcile").text


def test_a_refusal_is_shown_and_moves_nothing(http, unaccounted):
    """An action without a reason, or on a piece already reconciled, is refused with the reason shown."""
    plant, _, (target, _) = unaccounted
    token = signed_in(http)
    act(http, token, target.tracking_id, "lost", "")
    assert "give a reason" in http.get("/reconcile").text
    assert piece(plant, target.piece_id).state == "UNACCOUNTED"
    act(http, token, target.tracking_id, "lost", "gone")
    act(http, token, target.tracking_id, "found", "after all")
    assert "FAILED: not waiting for reconciliation" in http.get("/reconcile").text
    assert piece(plant, target.piece_id).state == "FAILED"
    assert act(http, token, target.tracking_id, "burn").status_code == 400
