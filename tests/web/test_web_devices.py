"""Devices out of the plan, re-planned jobs and held letters on the queue, the piece page, the API and
/metrics, over a ledger the operator commands and the stage functions filled (:func:`webplant.fill_devices`):
press-2 taken down by the operator, press-1 stopped longer than ``plan.replan_after_s`` with a job waiting on
a jam, inserter-2 taken down, a letter held (and another held and released)."""

from __future__ import annotations

import shutil
import time

import pytest
from markupsafe import escape
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, func, inspect, select, text
from starlette.testclient import TestClient

from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.model import JobState
from plant.testing import read_rows as read
from plant.testing import state_settings
from plant.web import create_app, queries
from printers.errors import remedy_for
from tests.web.webplant import (
    HOLD_REASON,
    INSERTER_DOWN_REASON,
    PRESS_DOWN_REASON,
    STOP_REASON,
    elements,
)

#: Job states the queue lists under a printer: the ones still holding work on it.
ACTIVE = {
    JobState.PLANNED,
    JobState.IMPOSED,
    JobState.SPOOLING,
    JobState.SPOOLED,
    JobState.PARKED,
    JobState.WITHDRAWING,
    JobState.PRINTED,
}


def page(http, path: str) -> str:
    answer = http.get(path)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    return answer.text


def devices(http) -> dict[str, dict]:
    return {d["name"]: d for d in http.get("/api/overview").json()["devices"]}


def went_down_at(settings, name: str) -> str:
    events = t.events.c
    (at,) = read(
        settings,
        select(func.max(events.at)).where(
            events.entity == "device", events.entity_id == name, events.event == "down"
        ),
    )[0]
    return queries.iso(at)


# -- active jobs ---------------------------------------------------------------------------------------------
def test_replanned_jobs_are_not_among_a_printers_jobs(devices_client, devices_plant):
    """Each printer lists exactly its jobs that still hold work on it; the REPLANNED ones are only counted."""
    jobs = t.print_jobs.c
    rows = read(devices_plant.settings, select(jobs.printer, jobs.job_id, jobs.state))
    printers = {p["name"]: p for p in devices_client.get("/api/overview").json()["printers"]}
    for name, printer in printers.items():
        assert {j["job_id"] for j in printer["jobs"]} == {j for p, j, s in rows if p == name and s in ACTIVE}
        assert printer["replanned"] == sum(p == name and s == JobState.REPLANNED for p, _, s in rows)
    assert printers["press-2"]["jobs"] == [] and printers["press-2"]["replanned"] >= 1
    listed = {j["job_id"] for p in printers.values() for j in p["jobs"]}
    assert devices_plant.replanned and not listed & set(devices_plant.replanned)


def test_queue_page_leaves_replanned_jobs_out(devices_client, devices_plant):
    """No REPLANNED job has a row on the queue page; the printers that gave jobs up say how many."""
    html = page(devices_client, "/")
    shown = {attrs["data-job"] for attrs, _ in elements(html, "data-job")}
    assert devices_plant.stopped_job in shown and not shown & set(devices_plant.replanned)
    headers = {attrs["data-device"]: text for attrs, text in elements(html, "data-device")}
    (press2,) = [p for p in devices_client.get("/api/overview").json()["printers"] if p["name"] == "press-2"]
    assert f"{press2['replanned']} re-planned elsewhere" in headers["press-2"]


def test_active_job_states_are_the_ones_holding_work():
    """The active states are every job state but the finished ones (REPLANNED, DONE, FAILED)."""
    assert set(queries.ACTIVE_JOB_STATES) == ACTIVE
    assert set(JobState) - ACTIVE == {JobState.REPLANNED, JobState.DONE, JobState.FAILED}


# -- devices -------------------------------------------------------------------------------------------------
def test_a_device_the_operator_took_down_says_who_when_and_why(devices_client, devices_plant):
    """press-2 and inserter-2 are out of service, taken down by the operator at their `down` event, with the
    reason given."""
    shown = devices(devices_client)
    for name, reason in (("press-2", PRESS_DOWN_REASON), ("inserter-2", INSERTER_DOWN_REASON)):
        device = shown[name]
        assert (device["in_service"], device["down_by"], device["down_reason"]) == (False, "operator", reason)
        assert device["down_since"] == went_down_at(devices_plant.settings, name)
    assert not shown["press-2"]["stopped"] and shown["press-2"]["remedy"] is None


def test_a_press_stopped_too_long_is_out_by_the_plant_with_the_printers_reasons(
    devices_client, devices_plant
):
    """press-1, seen stopped by the sweeps for `replan_after_s`, is out of the plan by the plant; it shows
    since when it is stopped, the job waiting on it, the reason recorded with that job and what to do."""
    press = devices(devices_client)["press-1"]
    assert (press["in_service"], press["down_by"]) == (False, "plant")
    assert "plan.replan_after_s" in press["down_reason"]
    assert press["down_since"] == went_down_at(devices_plant.settings, "press-1")
    assert press["stopped"] and press["stopped_since"] == queries.iso(devices_plant.stopped_since)
    assert press["stopped_jobs"] == [devices_plant.stopped_job]
    assert press["stop_reasons"] == [STOP_REASON]
    assert press["remedy"] == remedy_for([STOP_REASON]) and "jam" in press["remedy"]


def test_a_device_just_seen_stopped_is_still_in_service(devices_client, devices_plant):
    """inserter-1, seen stopped for less than `replan_after_s`, is in the plan with no one, time or reason for
    being out, but stopped since the sweep saw it; no printer remedy is offered for an inserter."""
    inserter = devices(devices_client)["inserter-1"]
    assert (
        inserter["in_service"]
        and inserter["down_by"] is inserter["down_since"] is inserter["down_reason"] is None
    )
    assert inserter["stopped"] and inserter["stopped_since"] == queries.iso(devices_plant.stopped_since)
    assert inserter["stopped_jobs"] == [] and inserter["remedy"] is None


def test_printers_and_inserters_carry_their_service_state(devices_client):
    """The job and run blocks know whether their device is in the plan."""
    overview = devices_client.get("/api/overview").json()
    assert {p["name"]: p["in_service"] for p in overview["printers"]} == {"press-1": False, "press-2": False}
    assert {i["name"]: i["in_service"] for i in overview["inserters"]} == {
        "inserter-1": True,
        "inserter-2": False,
    }


def test_devices_section_shows_service_and_stop(devices_client, devices_plant):
    """The queue's Devices rows say out of service, by whom, why, and for press-1 its stop reason and
    remedy."""
    rows = {
        attrs["data-service"]: (attrs["data-in-service"], text)
        for attrs, text in elements(page(devices_client, "/"), "data-service")
    }
    assert set(rows) == {"press-1", "press-2", "inserter-1", "inserter-2"}
    flag, inserter1 = rows["inserter-1"]
    assert flag == "1" and "in service" in inserter1 and "stopped since" in inserter1
    assert "not seen stopped" in rows["press-2"][1]
    flag, press2 = rows["press-2"]
    assert flag == "0" and all(word in press2 for word in ("out of service", "operator", PRESS_DOWN_REASON))
    flag, press1 = rows["press-1"]
    assert flag == "0" and all(
        word in press1
        for word in ("plant", "stopped", STOP_REASON, devices_plant.stopped_job, remedy_for([STOP_REASON]))
    )


def test_overview_lists_every_configured_device_when_none_is_down(client, filled):
    """On a ledger with no service rows every configured device is listed in service."""
    shown = devices(client)
    names = [p.name for p in filled.settings.printers] + [i.name for i in filled.settings.inserters]
    assert list(shown) == names and all(d["in_service"] for d in shown.values())


# -- held letters --------------------------------------------------------------------------------------------
def test_held_letter_needs_attention_with_who_and_why(devices_client, devices_plant):
    """The held letter is in the attention list with its hold: by the operator, the reason, when, and the
    state it was held from, as its `hold` event says."""
    (letter,) = [
        a
        for a in devices_client.get("/api/overview").json()["attention"]["letters"]
        if a["letter_id"] == devices_plant.held_letter
    ]
    events, letters = t.events.c, t.letters.c
    ((pk,),) = read(
        devices_plant.settings, select(letters.pk).where(letters.letter_id == devices_plant.held_letter)
    )
    ((at,),) = read(
        devices_plant.settings,
        select(events.at).where(
            events.entity == "letter", events.entity_id == str(pk), events.event == "hold"
        ),
    )
    assert letter["state"] == "HELD"
    assert letter["held"] == {
        "by": "operator",
        "reason": HOLD_REASON,
        "at": queries.iso(at),
        "from": "PRINT_READY",
    }


def test_a_released_letter_is_not_shown_held(devices_client, devices_plant):
    """A letter held and released again is neither in the attention list nor shown held on its page."""
    attention = devices_client.get("/api/overview").json()["attention"]["letters"]
    assert devices_plant.released_letter not in {a["letter_id"] for a in attention}
    (letter,) = devices_client.get(f"/api/pieces/{devices_plant.released_letter}").json()["letters"]
    assert "hold" in [e["event"] for e in letter["events"]] and letter["held"] is None


def test_piece_page_says_who_held_it_and_why(devices_client, devices_plant):
    """The held letter's page and JSON give the hold; the reason (markup) is shown escaped."""
    (letter,) = devices_client.get(f"/api/pieces/{devices_plant.held_letter}").json()["letters"]
    assert (letter["held"]["by"], letter["held"]["reason"], letter["held"]["from"]) == (
        "operator",
        HOLD_REASON,
        "PRINT_READY",
    )
    html = page(devices_client, f"/pieces/{devices_plant.held_letter}")
    (held,) = [text_ for attrs, text_ in elements(html, "class") if attrs["class"] == "held"]
    assert held.startswith("by operator at ") and "from PRINT_READY" in held and HOLD_REASON in held
    assert str(escape(HOLD_REASON)) in html and HOLD_REASON not in html


def test_attention_row_says_who_held_it(devices_client, devices_plant):
    """The held letter's row in the attention table says held by the operator, from where, and why."""
    html = page(devices_client, "/")
    (row,) = [
        text_
        for attrs, text_ in elements(html, "data-letter")
        if attrs["data-letter"] == devices_plant.held_letter
    ]
    assert "held by operator from PRINT_READY" in row and HOLD_REASON in row


# -- /metrics ------------------------------------------------------------------------------------------------
def test_device_in_service_gauge(devices_client):
    """plant_device_in_service{device,kind} is 1 for the device in the plan and 0 for each one out of it."""
    answer = devices_client.get("/metrics")
    (family,) = [
        f for f in text_string_to_metric_families(answer.text) if f.name == "plant_device_in_service"
    ]
    assert family.type == "gauge"
    assert {(s.labels["device"], s.labels["kind"]): s.value for s in family.samples} == {
        ("press-1", "printer"): 0.0,
        ("press-2", "printer"): 0.0,
        ("inserter-1", "inserter"): 1.0,
        ("inserter-2", "inserter"): 0.0,
    }


@pytest.mark.parametrize(
    "read_figures",
    [
        pytest.param(
            lambda conn, settings: queries.metrics(conn, settings, time.time())["pieces"]["printed"],
            id="metrics",
        ),
        pytest.param(
            lambda conn, settings: queries.throughput(conn, time.time())["totals"]["printed"], id="throughput"
        ),
    ],
)
def test_event_counts_read_the_event_index(filled, read_figures):
    """On SQLite every query of a /metrics scrape and of the throughput page on the events table searches the
    ``ix_events_event`` index, none scans the table (the query plans of the statements they run)."""
    ledger = Ledger(filled.settings.ledger_url)
    statements = []

    def seen(_conn, _cursor, statement, parameters, _context, _many):
        statements.append((statement, parameters))

    event.listen(ledger.reader, "before_cursor_execute", seen)
    try:
        with ledger.read() as conn:
            printed = read_figures(conn, filled.settings)
        event.remove(ledger.reader, "before_cursor_execute", seen)
        with ledger.read() as conn:
            plans = [
                " ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + s, p))
                for s, p in statements
                if "FROM events" in s
            ]
    finally:
        ledger.dispose()
    assert printed > 0 and plans
    assert all("ix_events_event" in plan and "SCAN events" not in plan for plan in plans), plans


def test_an_older_ledger_gets_the_event_index_on_open(filled, tmp_path):
    """A ledger made before the index existed has it after the next open (and the counters stay the same)."""
    state = tmp_path / "state"
    shutil.copytree(filled.state, state, ignore=shutil.ignore_patterns("redis"))
    settings = state_settings(state)
    ledger = Ledger(settings.ledger_url)
    with ledger.tx() as conn:
        conn.execute(text("DROP INDEX ix_events_event"))
        assert "ix_events_event" not in {i["name"] for i in inspect(conn).get_indexes("events")}
    ledger.dispose()
    with TestClient(create_app(settings)) as http:
        answer = http.get("/metrics")
    ledger = Ledger(settings.ledger_url)
    with ledger.read() as conn:
        indexes = {i["name"]: i["column_names"] for i in inspect(conn).get_indexes("events")}
    ledger.dispose()
    assert answer.status_code == 200
    assert indexes["ix_events_event"] == ["event", "entity", "at"]
