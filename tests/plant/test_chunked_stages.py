"""Pre-flight and route work in bounded chunks of ``[queue] chunk_letters``: each message commits its chunk
and asks for the next, a re-sent message takes only the letters still waiting, and recovery goes on where the
last chunk stopped."""

from __future__ import annotations

import dataclasses
import importlib
from collections import Counter

import pytest
from sqlalchemy import select, update

from plant.cli import main
from plant.config import load_settings
from plant.demo import generate
from plant.ledger import schema as t
from plant.runtime.recovery import recover
from plant.stages.preflight import CLAIM_LEASE_S, preflight
from plant.stages.route import route
from plant.testing import accept_batch, installed_plant, read_rows

LETTERS = 25
CHUNK = 10
STAGES = {"preflight": preflight, "route": route}
#: The module (``plant.stages`` exports the actor under the same name).
preflight_stage = importlib.import_module("plant.stages.preflight")


@pytest.fixture
def plant(settings, tmp_path):
    """A plant without devices, chunks of 10 letters, and 25 letters accepted with their consents."""
    chunked = dataclasses.replace(settings, queue=dataclasses.replace(settings.queue, chunk_letters=CHUNK))
    batch = generate(tmp_path / "in", LETTERS, seed=13)
    with installed_plant(chunked, devices=False) as current:
        accept_batch(current, batch.submission, batch.consents)
        yield current


def drain(plant) -> Counter:
    """Run the pending pre-flight and route messages of the outbox (and those they write) in order, each once,
    as the relay and a worker would; the messages run, by actor."""
    ran: Counter = Counter()
    while True:
        rows = read_rows(
            plant,
            select(t.outbox.c.id, t.outbox.c.actor, t.outbox.c.args)
            .where(t.outbox.c.published_at.is_(None), t.outbox.c.actor.in_(STAGES))
            .order_by(t.outbox.c.id)
            .limit(1),
        )
        if not rows:
            return ran
        with plant.ledger.tx() as conn:
            conn.execute(update(t.outbox).where(t.outbox.c.id == rows[0].id).values(published_at=1.0))
        STAGES[rows[0].actor](*rows[0].args)
        ran[rows[0].actor] += 1


def events(plant, *names: str) -> Counter:
    """Letter events named ``names``, counted per letter."""
    rows = read_rows(plant, select(t.events.c.entity_id).where(t.events.c.event.in_(names)))
    return Counter(row.entity_id for row in rows)


def pending(plant, actor: str) -> int:
    return len(
        read_rows(
            plant, select(t.outbox.c.id).where(t.outbox.c.actor == actor, t.outbox.c.published_at.is_(None))
        )
    )


def assert_each_letter_once(plant) -> None:
    """Every letter checked once (passed or rejected) and routed once; none left RECEIVED."""
    checked = events(plant, "preflight_pass", "reject")
    assert len(checked) == LETTERS and set(checked.values()) == {1}
    rejected = set(events(plant, "reject"))
    routed = events(plant, "route_digital", "route_print")
    assert len(routed) == LETTERS - len(rejected) and set(routed.values()) == {1}
    states = [row.state for row in read_rows(plant, select(t.letters.c.state))]
    assert len(states) == LETTERS and "RECEIVED" not in states


def test_a_submission_is_checked_and_routed_in_chunks(plant):
    """25 letters in chunks of 10: three pre-flight and three route messages, each letter checked and routed
    once, then one plan and one receipts message."""
    ran = drain(plant)
    assert ran == {"preflight": 3, "route": 3}
    assert_each_letter_once(plant)
    assert pending(plant, "plan") == 1 and pending(plant, "receipts") == 2  # after pre-flight, after routing


def test_each_message_commits_its_chunk_and_asks_for_the_next(plant):
    """One pre-flight message checks ten letters and commits them (they are seen to move), with the next
    pre-flight message in the outbox and no routing yet."""
    assert pending(plant, "preflight") == 1  # intake's
    preflight(plant.submission_id)
    assert sum(events(plant, "preflight_pass", "reject").values()) == CHUNK
    assert pending(plant, "preflight") == 2 and pending(plant, "route") == 0


def test_a_message_sent_twice_checks_no_letter_twice(plant):
    """The same message delivered again (and recovery's too) takes the letters still waiting."""
    for _ in range(5):
        preflight(plant.submission_id)
        route(plant.submission_id)
    drain(plant)
    assert_each_letter_once(plant)


def test_two_deliveries_at_once_check_different_letters(plant, monkeypatch):
    """A second delivery arriving while the first checks its chunk claims the next chunk, not the same one."""
    checked: list[list[int]] = []
    real = preflight_stage.preflight_letters

    def checking(settings, letters, duplex):
        checked.append([pk for pk, _, _ in letters])
        if len(checked) == 1:
            preflight(plant.submission_id)  # the same message, delivered again meanwhile
        return real(settings, letters, duplex=duplex)

    monkeypatch.setattr(preflight_stage, "preflight_letters", checking)
    preflight(plant.submission_id)
    assert len(checked) == 2 and not set(checked[0]) & set(checked[1])
    assert len(checked[0]) == len(checked[1]) == CHUNK
    drain(plant)
    assert_each_letter_once(plant)


def test_a_claim_left_by_a_stopped_message_is_taken_after_its_lease(plant, monkeypatch):
    """A message stopped while checking leaves its chunk claimed: the next message takes the letters after
    it, and the claimed ones only once the lease has run out."""
    real = preflight_stage.preflight_letters

    def dying(settings, letters, duplex):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(preflight_stage, "preflight_letters", dying)
    with pytest.raises(RuntimeError):
        preflight(plant.submission_id)
    monkeypatch.setattr(preflight_stage, "preflight_letters", real)
    for _ in range(3):
        preflight(plant.submission_id)
    assert sum(events(plant, "preflight_pass", "reject").values()) == LETTERS - CHUNK
    later = preflight_stage.now() + CLAIM_LEASE_S + 1
    monkeypatch.setattr(preflight_stage, "now", lambda: later)
    preflight(plant.submission_id)
    monkeypatch.undo()
    drain(plant)
    assert_each_letter_once(plant)


def test_recovery_goes_on_where_the_first_chunk_stopped(plant):
    """Stopped after the first chunk (its next message lost), recovery's messages check and route the rest,
    each letter once, and planning is asked for."""
    preflight(plant.submission_id)
    with plant.ledger.tx() as conn:
        conn.execute(update(t.outbox).values(published_at=1.0))  # lost with the queue
    assert recover(plant.ledger) > 0
    ran = drain(plant)
    assert ran["preflight"] == 2  # recovery's message and the one it asked for: 15 letters left
    assert_each_letter_once(plant)
    assert pending(plant, "plan") >= 1


@pytest.mark.parametrize("text", ["chunk_letters = 0", "chunk_letters = -5", "chunk_letters = 2.5"])
def test_chunk_letters_out_of_bounds_stops_the_command_with_exit_78(tmp_path, capsys, text):
    """``[queue] chunk_letters`` is a whole number above 0: anything else is refused naming the key."""
    config = tmp_path / "plant.toml"
    config.write_text(f"[queue]\n{text}\n")
    assert main(["--config", str(config), "ids", "check", "RR473124829ZZ"]) == 78
    assert "queue.chunk_letters" in capsys.readouterr().err


def test_chunk_letters_is_read_from_the_queue_table(tmp_path):
    """The key reaches the settings; its default is 500."""
    config = tmp_path / "plant.toml"
    config.write_text("[queue]\nchunk_letters = 7\n")
    environ = {"PLANT_STATE_DIR": str(tmp_path / "state")}
    assert load_settings(config, environ=environ).queue.chunk_letters == 7
    assert load_settings(environ=environ).queue.chunk_letters == 500
