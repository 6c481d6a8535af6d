"""Prometheus /metrics, parsed with prometheus_client's own parsers: letters by state, print jobs by printer
and state, output counters and QA figures equal what the ledger holds; label values survive quoting;
OpenMetrics when the scraper asks for it; a 503 when the ledger cannot be read."""

from __future__ import annotations

import math
import shutil
import time

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, insert, select
from starlette.testclient import TestClient

from plant.config import load_settings
from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.model import JobState, State
from plant.qa import Inspection, record
from plant.qa.judge import Judgement, Verdict
from plant.testing import read_rows as ledger_rows
from plant.testing import state_settings
from plant.web import create_app
from tests.web.webplant import client_on_a_broken_ledger
from tracking.scan import Grade


def scrape(http, accept: str | None = None) -> dict[str, object]:
    """The families of one scrape by name (text format), asserting the answer is the text exposition
    format."""
    answer = http.get("/metrics", headers={"accept": accept} if accept else {})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(answer.text)}


def samples(family, *labels: str) -> dict:
    """{label values: value} of a family's samples (the ``_total`` ones of a counter)."""
    return {
        tuple(s.labels[name] for name in labels): s.value
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_letters_gauge_counts_every_state(client, filled):
    """plant_letters{state} equals the ledger's letters per state, and lists every state (0 where none)."""
    families = scrape(client)
    assert families["plant_letters"].type == "gauge"
    counted = dict(
        ledger_rows(filled.settings, select(t.letters.c.state, func.count()).group_by(t.letters.c.state))
    )
    assert samples(families["plant_letters"], "state") == {
        (s.value,): float(counted.get(s.value, 0)) for s in State
    }
    assert counted["DISPATCHED"] > 0 and counted["SPOOLED"] > 0


def test_print_jobs_gauge_counts_jobs_per_printer_and_state(client, filled):
    """plant_print_jobs{printer,state} equals the ledger's jobs per printer and state; configured printers are
    listed with every job state even when idle."""
    jobs = t.print_jobs.c
    counted = {
        (p, s): n
        for p, s, n in ledger_rows(
            filled.settings, select(jobs.printer, jobs.state, func.count()).group_by(jobs.printer, jobs.state)
        )
    }
    shown = samples(scrape(client)["plant_print_jobs"], "printer", "state")
    assert {key: value for key, value in shown.items() if value} == {
        key: float(n) for key, n in counted.items()
    }
    for printer in filled.settings.printers:
        assert {(printer.name, s.value) for s in JobState} <= set(shown)


@pytest.mark.parametrize(
    ("name", "event"), [("printed", "read_downstream"), ("inserted", "insert"), ("dispatched", "dispatch")]
)
def test_piece_counters_count_the_ledgers_events(client, filled, name, event):
    """plant_pieces_<name>_total is a counter equal to the ledger's letter events of that kind."""
    family = scrape(client)[f"plant_pieces_{name}"]
    events = t.events.c
    ((count,),) = ledger_rows(
        filled.settings, select(func.count()).where(events.entity == "letter", events.event == event)
    )
    assert family.type == "counter" and count > 0
    assert samples(family) == {(): float(count)}
    assert [s.name for s in family.samples] == [f"plant_pieces_{name}_total"]


def test_qa_pass_ratio_is_nan_without_results(client):
    """With no QA result the pass ratio is NaN (no alert fires on it) and the result counters are 0."""
    families = scrape(client)
    (ratio,) = families["plant_qa_pass_ratio"].samples
    assert math.isnan(ratio.value)
    assert samples(families["plant_qa_results"], "verdict") == {("pass",): 0.0, ("fail",): 0.0}


def _inspection(verdict: Verdict, at: float) -> Inspection:
    reasons = () if verdict is Verdict.PASS else ("no postage mark read",)
    return Inspection("s.png", 300.0, (), Judgement(verdict, reasons, None, (), None, Grade.B), Grade.C, at)


def test_qa_figures_follow_the_recorded_results(filled, tmp_path):
    """Three passes and a failure today and a failure two days ago: the ratio over the last 24 h is 0.75, and
    the counters count all five."""
    state = tmp_path / "state"
    shutil.copytree(filled.state, state, ignore=shutil.ignore_patterns("redis"))
    settings = state_settings(state)
    ledger = Ledger(settings.ledger_url)
    now = time.time()
    with ledger.tx() as conn:
        for verdict, at in (
            (Verdict.PASS, now),
            (Verdict.PASS, now),
            (Verdict.PASS, now),
            (Verdict.FAIL, now),
            (Verdict.FAIL, now - 48 * 3600),
        ):
            record(conn, _inspection(verdict, at))
    ledger.dispose()
    with TestClient(create_app(settings)) as http:
        families = scrape(http)
    assert families["plant_qa_pass_ratio"].samples[0].value == 0.75
    assert samples(families["plant_qa_results"], "verdict") == {("pass",): 3.0, ("fail",): 2.0}


def test_label_values_survive_quotes_and_backslashes(tmp_path):
    """A printer named with a quote and a backslash comes back from the parser exactly as configured."""
    name = 'press "A" \\ north'
    config = tmp_path / "plant.toml"
    config.write_text(f"[[printers]]\nname = '{name}'\n")
    settings = load_settings(config, environ={"PLANT_STATE_DIR": str(tmp_path / "state")})
    settings.state_dir.mkdir()
    ledger = Ledger(settings.ledger_url)
    with ledger.tx() as conn:
        conn.execute(
            insert(t.print_jobs).values(
                job_id="J1",
                submission_id="S-1",
                printer=name,
                state="PRINTED",
                pieces=3,
                created_at=0,
                updated_at=0,
            )
        )
    ledger.dispose()
    with TestClient(create_app(settings)) as http:
        shown = samples(scrape(http)["plant_print_jobs"], "printer", "state")
    assert shown[(name, "PRINTED")] == 1.0


def test_openmetrics_when_the_scraper_asks_for_it(client, filled):
    """Accept: application/openmetrics-text gets OpenMetrics (ending in # EOF) with the same figures."""
    answer = client.get("/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.text.endswith("# EOF\n")
    families = {f.name: f for f in parse_openmetrics(answer.text)}
    assert samples(families["plant_letters"], "state") == samples(scrape(client)["plant_letters"], "state")


def test_metrics_is_503_when_the_ledger_cannot_be_read(tmp_path):
    """A ledger that is no database any more fails the scrape with a 503 saying why."""
    with client_on_a_broken_ledger(tmp_path / "state") as http:
        answer = http.get("/metrics")
    assert answer.status_code == 503 and "ledger unavailable: DatabaseError" in answer.text


def test_dead_letters_gauge_shows_what_the_last_recovery_sweep_counted(tmp_path):
    """plant_dead_letters{actor} on the live page is the last count the recovery sweep recorded in the ledger
    (no Redis needed by the page); before any, the family is there with no sample."""
    from plant.ledger import append_event
    from plant.ledger.reads import DEAD_LETTERS_EVENT

    settings = state_settings(tmp_path / "state")
    settings.state_dir.mkdir(parents=True)
    ledger = Ledger(settings.ledger_url)
    try:
        with TestClient(create_app(settings)) as http:
            assert samples(scrape(http)["plant_dead_letters"], "actor") == {}
            for counts in ({"follow_print": 1}, {"follow_print": 2, "insert": 1}):
                with ledger.tx() as conn:
                    append_event(
                        conn, "queue", DEAD_LETTERS_EVENT, DEAD_LETTERS_EVENT, None, None, {"counts": counts}
                    )
            assert samples(scrape(http)["plant_dead_letters"], "actor") == {
                ("follow_print",): 2.0,
                ("insert",): 1.0,
            }
    finally:
        ledger.dispose()
