"""Policy out of code: what a plant manager sets lives in plant.toml — service levels, the planning budget,
the most prints of a piece, the queue's retries, heartbeat and relay, a hot folder's abandoned-claim time and
the session cookie's Secure flag. Each value reaches the code that uses it; a bad one is refused naming the
key."""

from __future__ import annotations

import importlib
import json
import os
import socket
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from plant.cli import main
from plant.config import QueueConfig, SlaConfig, SlaTarget, load_settings
from plant.errors import ConfigError
from plant.fleet.devices import make_printer_drivers
from plant.intake.consent import import_registry
from plant.intake.submission import accept, read_submission
from plant.ledger import Ledger, enqueue, now
from plant.ledger import schema as t
from plant.model import Event, State
from plant.runtime.broker import EmbeddedRedis, declare_actors, make_broker
from plant.runtime.relay import Relay
from plant.stages.context import Plant, install
from plant.stages.preflight import preflight
from plant.stages.route import route
from plant.stages.spool import reprint_or_fail

#: The plan stage's module (``plant.stages.plan`` as an attribute is the stage function).
plan_stage = importlib.import_module("plant.stages.plan")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plant.toml"
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str):
    return load_settings(write(tmp_path, text), environ={"PLANT_STATE_DIR": str(tmp_path / "state")})


# -- defaults: today's values, so behaviour does not change --------------------------------------------------
def test_defaults_are_the_values_that_were_in_code(tmp_path):
    """24 h, priority 8 h; 0.2 s of planning; three prints; heartbeat 15 s, 20 retries 0.2…10 s, relay 30 s
    and 500 rows; the hot folder's own 120 s; a cookie sent over http too."""
    settings = load(tmp_path, "")
    assert settings.sla.due_after_s("standard") == 24 * 3600
    assert settings.sla.due_after_s("priority") == 8 * 3600
    assert settings.plan.time_limit_s == 0.2
    assert settings.reprint.max_prints == 3
    assert settings.queue == QueueConfig(15.0, 20, 0.2, 10.0, 30.0, 500)
    assert all(p.abandoned_claim_s is None for p in settings.printers)
    assert all(d.abandoned_claim_s == 120.0 for d in make_printer_drivers(settings).values())
    assert settings.web.cookie_https_only is False


# -- refusals ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ("[sla]\ndefault_hours = 0\n", "sla.default_hours", "more than 0"),
        ("[sla]\ndefault_hours = 9000\n", "sla.default_hours", "at most 8760"),
        ("[sla]\ndefault_hours = nan\n", "sla.default_hours", "hours from receipt"),
        ("[sla.mail_class.priority]\nhours = -1\n", "sla.mail_class.priority.hours", "more than 0"),
        ('[sla.mail_class.priority]\nhours = "8h"\n', "sla.mail_class.priority.hours", "use a number"),
        ("[sla.mail_class.priority]\nminutes = 30\n", "sla.mail_class.priority.minutes", "hours"),
        ("[sla.mail_class.priority]\n", "sla.mail_class.priority.hours", "needs the key hours"),
        ("[sla]\nmail_class = 8\n", "sla.mail_class", "table"),
        ('[sla.mail_class."  "]\nhours = 8\n', "sla.mail_class.  ", "name a mail class"),
        ("[plan]\ntime_limit_s = 0\n", "plan.time_limit_s", "from 0.01 to 60"),
        ("[plan]\ntime_limit_s = 120\n", "plan.time_limit_s", "from 0.01 to 60"),
        ("[reprint]\nmax_prints = 0\n", "reprint.max_prints", "from 1 (never reprint) to 10"),
        ("[reprint]\nmax_prints = 2.5\n", "reprint.max_prints", "whole number"),
        ("[queue]\nheartbeat_timeout_s = 1\n", "queue.heartbeat_timeout_s", "from 5 to 3600"),
        ("[queue]\nmax_retries = -1\n", "queue.max_retries", "from 0 to 1000"),
        ("[queue]\nmin_backoff_s = 0\n", "queue.min_backoff_s", "from 0.001 to 86400"),
        ("[queue]\nmax_backoff_s = 100000\n", "queue.max_backoff_s", "from 0.001 to 86400"),
        ("[queue]\nmin_backoff_s = 20\n", "queue.min_backoff_s", "above queue.max_backoff_s"),
        ("[queue]\nrelay_reclaim_s = 0.5\n", "queue.relay_reclaim_s", "from 1 to 3600"),
        ("[queue]\nrelay_batch = 0\n", "queue.relay_batch", "from 1 to 100000"),
        ("[queue]\njob_attempts = 0\n", "queue.job_attempts", "from 1 to 100"),
        ("[queue]\nworker_threads = 4\n", "queue.worker_threads", "allowed keys"),
        (
            '[[printers]]\nname = "p"\nabandoned_claim_s = 0\n[[inserters]]\nname = "i"\n',
            "printers[0].abandoned_claim_s",
            "from 1 to 86400",
        ),
        (
            '[[printers]]\nname = "p"\ndriver = "ipp"\nuri = "ipp://h/ipp/print"\nabandoned_claim_s = 60\n'
            '[[inserters]]\nname = "i"\n',
            "printers[0].abandoned_claim_s",
            "only hot-folder and simulated",
        ),
        ('[web]\ncookie_https_only = "yes"\n', "web.cookie_https_only", "true or false"),
    ],
)
def test_bad_policy_values_are_refused_naming_the_key(tmp_path, text, key, hint):
    """Each new key: a bad value raises ConfigError with the key and what is allowed."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert info.value.key == key
    assert key.split("[")[0].split(".")[0] in str(info.value) and hint in str(info.value)


def test_a_bad_policy_value_stops_the_command_with_exit_78(tmp_path, capsys):
    """The CLI turns the refusal into EX_CONFIG, naming the key."""
    config = write(tmp_path, "[reprint]\nmax_prints = 0\n")
    assert main(["--config", str(config), "ids", "check", "RR473124829ZZ"]) == 78
    assert "reprint.max_prints" in capsys.readouterr().err


# -- [sla] and [plan] time_limit_s reach the plan stage ------------------------------------------------------
def test_sla_table_reads_hours_per_mail_class(tmp_path):
    """[sla] default_hours and [sla.mail_class.NAME] hours replace the defaults; classes not listed take the
    default (the embedded priority entry is replaced, not merged)."""
    settings = load(
        tmp_path,
        "[sla]\ndefault_hours = 48\n[sla.mail_class.express]\nhours = 2.5\n",
    )
    assert settings.sla == SlaConfig(default_hours=48.0, mail_class={"express": SlaTarget(hours=2.5)})
    assert settings.sla.due_after_s("express") == 9000
    assert settings.sla.due_after_s("priority") == settings.sla.due_after_s("standard") == 48 * 3600


@pytest.fixture
def routed(settings, small_batch, monkeypatch):
    """A plant without devices whose 12-letter batch is pre-flighted and routed; ``calls`` records what the
    plan stage asks the scheduler."""
    for folder in (
        settings.blobs_dir,
        settings.spool_dir,
        settings.receipts_dir,
        settings.digital_outbox_dir,
    ):
        folder.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(settings.ledger_url)
    current = Plant(settings=settings, ledger=ledger, printers={}, inserters={})
    install(current)
    with ledger.tx() as conn:
        import_registry(conn, small_batch.consents)
    submission_id, _ = accept(ledger.tx, settings.blobs_dir, read_submission(small_batch.submission))
    preflight(submission_id)
    route(submission_id)
    calls = []
    real = plan_stage.plan_work

    def spy(printers, inserters, pieces, now_s, **options):
        pieces = list(pieces)
        calls.append(SimpleNamespace(pieces=pieces, now_s=now_s, **options))
        return real(printers, inserters, pieces, now_s, **options)

    monkeypatch.setattr(plan_stage, "plan_work", spy)
    yield current, submission_id, calls
    install(None)
    ledger.dispose()


def received(current) -> dict[str, float]:
    """Piece id → its letter's receipt time."""
    with current.ledger.read() as conn:
        rows = conn.execute(
            select(t.pieces.c.piece_id, t.letters.c.received_at).select_from(
                t.pieces.join(t.letters, t.pieces.c.letter_pk == t.letters.c.pk)
            )
        ).all()
    return {r.piece_id: r.received_at for r in rows}


def test_sla_hours_set_the_due_times_the_plan_stage_plans_to(routed):
    """Every piece is due its mail class's [sla] hours after receipt, others the default hours."""
    current, submission_id, calls = routed
    current.settings = replace(
        current.settings, sla=SlaConfig(default_hours=30.0, mail_class={"priority": SlaTarget(hours=2.0)})
    )
    plan_stage.plan(submission_id)
    (call,) = calls
    at = received(current)
    classes = {p.mail_class for p in call.pieces}
    assert {"priority", "standard"} <= classes
    for piece in call.pieces:
        hours = 2.0 if piece.mail_class == "priority" else 30.0
        assert piece.due_s == int(at[piece.id] + hours * 3600)


def test_plan_time_limit_is_the_schedulers_budget(routed):
    """[plan] time_limit_s is what the plan stage gives the scheduler to search."""
    current, submission_id, calls = routed
    current.settings = replace(current.settings, plan=replace(current.settings.plan, time_limit_s=1.5))
    plan_stage.plan(submission_id)
    assert [c.time_limit_s for c in calls] == [1.5]


# -- [reprint] max_prints reaches reprint_or_fail ------------------------------------------------------------
@pytest.mark.parametrize(("max_prints", "after"), [(3, State.PRINT_READY), (2, State.FAILED)])
def test_max_prints_decides_reprint_or_fail(routed, max_prints, after):
    """A piece spoiled on its second print is reprinted under the default (3) and failed with max_prints = 2,
    its reason saying how often."""
    current, _, _ = routed
    current.settings = replace(
        current.settings, reprint=replace(current.settings.reprint, max_prints=max_prints)
    )
    with current.ledger.tx() as conn:
        pk = conn.execute(
            select(t.letters.c.pk).where(t.letters.c.state == State.PRINT_READY.value).limit(1)
        ).scalar_one()
        conn.execute(update(t.letters).where(t.letters.c.pk == pk).values(state=State.SPOOLED.value))
        again, failed = reprint_or_fail(
            conn, [SimpleNamespace(pk=pk, prints=2)], Event.SPOIL, State.SPOOLED, "jam"
        )
    with current.ledger.read() as conn:
        state, reason = conn.execute(
            select(t.letters.c.state, t.letters.c.reason).where(t.letters.c.pk == pk)
        ).one()
    assert state == after.value
    assert (again, failed) == (([pk], []) if after is State.PRINT_READY else ([], [pk]))
    if after is State.FAILED:
        assert reason.startswith("spoiled 2 times")


# -- [queue] reaches the broker, the actors and the relay ----------------------------------------------------
@pytest.fixture
def embedded(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    yield url
    server.stop()


def test_queue_settings_reach_broker_and_actors(embedded):
    """heartbeat_timeout_s becomes the broker's heartbeat (ms); max_retries and the back-off the actors'."""
    queue = QueueConfig(heartbeat_timeout_s=7.5, max_retries=4, min_backoff_s=0.05, max_backoff_s=2.0)
    broker = make_broker(embedded, queue)
    try:
        actors = declare_actors(broker, {"plan": lambda s: None}, queue)
        assert broker.heartbeat_timeout == 7500
        assert actors["plan"].options == {"max_retries": 4, "min_backoff": 50, "max_backoff": 2000}
    finally:
        broker.close()


def test_relay_batch_and_reclaim_come_from_the_queue_settings(embedded, tmp_path):
    """A pass publishes at most relay_batch rows; a row claimed longer ago than relay_reclaim_s is claimed
    again, a younger claim is left to its relay."""
    broker = make_broker(embedded)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    try:
        actors = declare_actors(broker, {"plan": lambda s: None})
        with ledger.tx() as conn:
            for i in range(5):
                enqueue(conn, "plan", f"S{i}")
        relay = Relay(ledger, broker, actors, QueueConfig(relay_batch=2, relay_reclaim_s=5.0))
        assert [relay.publish_pending() for _ in range(4)] == [2, 2, 1, 0]
        with ledger.tx() as conn:
            enqueue(conn, "plan", "old")
            enqueue(conn, "plan", "young")
            for name, age_s in (("old", 10), ("young", 1)):
                claimed = update(t.outbox).where(t.outbox.c.args == [name])
                conn.execute(claimed.values(published_at=-(now() - age_s)))
        assert relay.publish_pending() == 1
        assert Relay(ledger, broker, actors).publish_pending() == 0  # the default 30 s: neither is due
    finally:
        broker.close()
        ledger.dispose()


def test_worker_and_session_pass_the_queue_settings_on(tmp_path, no_leftover_redis):
    """`plant worker`'s connect and a session build broker, actors and relay from [queue]."""
    from plant.runtime.session import Session
    from plant.runtime.worker import connect

    settings = load(tmp_path, "[queue]\nheartbeat_timeout_s = 9\nmax_retries = 3\nrelay_batch = 7\n")
    broker, actors, plant, embedded, _ = connect(settings)
    try:
        assert broker.heartbeat_timeout == 9000 and actors["plan"].options["max_retries"] == 3
    finally:
        broker.close()
        plant.close()
        embedded.stop()
    with Session(settings, workers=0, progress=False) as session:
        assert session.broker.heartbeat_timeout == 9000
        assert session.actors["plan"].options["max_retries"] == 3
        assert session.relay.queue.relay_batch == 7


# -- [[printers]] abandoned_claim_s reaches the hot-folder driver --------------------------------------------
def stale_claim(folder: Path, job_id: str, age_s: float) -> None:
    """A claim of a submitter on another host whose heartbeat stopped ``age_s`` ago (only the heartbeat's age
    can prove another host's submitter dead)."""
    (folder / "submitted").mkdir(parents=True, exist_ok=True)
    path = folder / "submitted" / f"{job_id}.json"
    path.write_text(
        json.dumps(
            {
                "format": "plant-hotfolder-receipt/1",
                "job_id": job_id,
                "printer": "p",
                "stage": "claimed",
                "pid": 1,
                "host": f"not-{socket.gethostname()}",
                "at": time.time() - age_s,
                "heartbeat_s": 0.25,
            }
        )
    )
    os.utime(path, (time.time() - age_s,) * 2)


@pytest.mark.parametrize("driver", ["hotfolder", "simulated"])
def test_abandoned_claim_time_reaches_the_hot_folder_driver(tmp_path, driver):
    """A claim 60 s old is abandoned with abandoned_claim_s = 30, still "being submitted" with the default
    120."""
    folder = tmp_path / "hot"
    text = f'[[printers]]\nname = "p"\ndriver = "{driver}"\nfolder = "{folder}"\n[[inserters]]\nname = "i"\n'
    stale_claim(folder, "J1", age_s=60)
    default = make_printer_drivers(load(tmp_path, text))["p"]
    configured = text.replace("[[inserters]]", "abandoned_claim_s = 30\n[[inserters]]")
    short = make_printer_drivers(load(tmp_path, configured))["p"]
    assert (default.abandoned_claim_s, short.abandoned_claim_s) == (120.0, 30.0)
    assert default.find("J1") is not None and short.find("J1") is None


# -- [web] cookie_https_only reaches the session middleware --------------------------------------------------
@pytest.mark.parametrize("https_only", [False, True])
def test_cookie_https_only_sets_the_secure_flag(tmp_path, https_only):
    """With cookie_https_only the session cookie carries Secure; without it (the default) it does not."""
    from plant.web import create_app
    from plant.web.auth import add_operator

    operators = tmp_path / "operators"
    settings = load(
        tmp_path,
        f'[web]\noperators_file = "{operators}"\ncookie_https_only = {str(https_only).lower()}\n',
    )
    add_operator(operators, "alice", "correct horse battery")
    settings.state_dir.mkdir(parents=True)  # the ledger the pages read lives there
    with TestClient(create_app(settings), follow_redirects=False) as client:
        cookie = client.get("/login").headers["set-cookie"].lower()
    assert cookie.startswith("plant_session=")
    assert ("; secure" in cookie) is https_only
