"""Issue 12, hole 8: a submission is finished only when every letter is final as the finishing transaction
commits — never from the snapshot the receipt files were written from, while a digital fallback moves a letter
back to print. On SQLite and on a real PostgreSQL."""

from __future__ import annotations

import dataclasses
import importlib
import threading
import time

import pytest
from sqlalchemy import event, select, update

from plant.intake.digital import DAY_S, fall_back_due
from plant.ledger import move_letters
from plant.ledger import schema as t
from plant.model import FINAL_STATES, Event, State
from plant.stages.context import install
from plant.stages.receipts import receipts
from tests.plant.sweeping import routed_plant

#: The stage's module (``plant.stages`` exports the stage function under the same name).
receipts_stage = importlib.import_module("plant.stages.receipts")
T0 = float(int(time.time()) - 30 * DAY_S)
#: When every digital letter's fallback is due.
DUE = T0 + 6 * DAY_S
STALL_S = 1.0


@pytest.fixture
def plant(settings, small_batch, tmp_path, database_url):
    """Every print letter cancelled, every digital letter delivered: all final, the fallback due."""
    current = routed_plant(
        dataclasses.replace(settings, database_url=database_url), small_batch, tmp_path, T0
    )
    with current.ledger.tx() as conn:
        ready = conn.execute(
            select(t.letters.c.pk).where(t.letters.c.state == State.PRINT_READY.value)
        ).scalars()
        move_letters(conn, list(ready), Event.CANCEL, State.PRINT_READY)
    assert set(states(current).values()) <= FINAL_STATES
    yield current
    install(None)
    current.ledger.dispose()


def states(plant) -> dict[int, State]:
    with plant.ledger.read() as conn:
        rows = conn.execute(
            select(t.letters.c.pk, t.letters.c.state).where(t.letters.c.submission_id == plant.submission_id)
        ).all()
    return {pk: State(state) for pk, state in rows}


def finished_at(plant) -> float | None:
    with plant.ledger.read() as conn:
        return conn.execute(
            select(t.submissions.c.finished_at).where(t.submissions.c.submission_id == plant.submission_id)
        ).scalar_one()


def submission_events(plant) -> list[str]:
    with plant.ledger.read() as conn:
        return list(
            conn.execute(
                select(t.events.c.event)
                .where(t.events.c.entity == "submission", t.events.c.entity_id == plant.submission_id)
                .order_by(t.events.c.id)
            ).scalars()
        )


def assert_never_finished_with_open_letters(plant) -> None:
    open_letters = [pk for pk, state in states(plant).items() if state not in FINAL_STATES]
    assert not (finished_at(plant) is not None and open_letters), open_letters


def test_all_final_finishes_the_submission(plant):
    """With nothing racing, receipts finishes the submission once."""
    receipts(plant.submission_id)
    receipts(plant.submission_id)
    assert finished_at(plant) is not None
    assert submission_events(plant).count("finish") == 1


def test_fallback_committing_after_the_snapshot_keeps_the_submission_open(plant, monkeypatch):
    """The fallback commits between the receipts' read (all final) and the finishing write: the submission
    stays open, with its letters back in print."""
    read = receipts_stage.receipt_rows

    def read_then_fall_back(conn, submission_id):
        rows = read(conn, submission_id)
        assert fall_back_due(plant.ledger, plant.settings, at=DUE) == list(plant.digital)
        return rows

    monkeypatch.setattr(receipts_stage, "receipt_rows", read_then_fall_back)
    receipts(plant.submission_id)
    assert [states(plant)[pk] for pk in plant.digital] == [State.PRINT_READY] * len(plant.digital)
    assert finished_at(plant) is None
    assert "finish" not in submission_events(plant)
    assert_never_finished_with_open_letters(plant)


def test_receipts_waiting_on_a_fallback_in_flight_keeps_the_submission_open(plant):
    """The fallback has re-opened the submission but not committed when receipts (whose snapshot still shows
    every letter final) comes to finish it: receipts waits for the fallback and then sees its letters."""
    me = threading.get_ident()
    worker = threading.Thread(target=receipts, args=(plant.submission_id,))
    fired = threading.Event()

    @event.listens_for(plant.ledger.engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        upper = statement.lstrip().upper()
        if threading.get_ident() == me and not fired.is_set() and upper.startswith("UPDATE SUBMISSIONS"):
            fired.set()
            worker.start()
            worker.join(STALL_S)  # receipts reads its snapshot, then waits for this transaction

    moved = fall_back_due(plant.ledger, plant.settings, at=DUE)
    worker.join(30)
    assert fired.is_set() and not worker.is_alive() and moved == list(plant.digital)
    assert finished_at(plant) is None
    assert_never_finished_with_open_letters(plant)
    receipts(plant.submission_id)  # the receipts the fallback queued: still open
    assert finished_at(plant) is None


def test_a_finished_submission_with_an_open_letter_is_reopened(plant):
    """A submission left finished while a letter is not final (as the old race left them) is re-opened by
    the next receipts, with an event saying why."""
    receipts(plant.submission_id)
    with plant.ledger.tx() as conn:  # a fallback that did not re-open it
        move_letters(conn, list(plant.digital), Event.FALLBACK_PRINT, State.DELIVERED_DIGITAL)
        conn.execute(update(t.submissions).values(finished_at=T0))
    receipts(plant.submission_id)
    assert finished_at(plant) is None
    assert submission_events(plant)[-1] == "reopen"


def test_files_from_a_snapshot_before_the_last_letters_were_final_leave_it_open(plant, monkeypatch):
    """The receipt files are written from a snapshot in which a letter is not final yet; the letter becomes
    final before the finishing transaction (its own receipts message lost, as with a Redis killed before it
    saved it). The submission is not finished on files that show a letter in flight: it stays open and
    another ``receipts`` is queued in the same transaction, which writes the final files and finishes it."""
    read = receipts_stage.receipt_rows

    def read_in_flight(conn, submission_id):
        rows = read(conn, submission_id)
        rows[0] = {**rows[0], "status": State.INSERTED.value}  # as read a moment before its dispatch
        return rows

    monkeypatch.setattr(receipts_stage, "receipt_rows", read_in_flight)
    receipts(plant.submission_id)
    assert finished_at(plant) is None
    with plant.ledger.read() as conn:
        queued = conn.execute(
            select(t.outbox.c.args).where(t.outbox.c.actor == "receipts", t.outbox.c.published_at.is_(None))
        ).all()
    assert [plant.submission_id] in [list(r.args) for r in queued]

    monkeypatch.setattr(receipts_stage, "receipt_rows", read)
    receipts(plant.submission_id)  # the queued message: the files show every letter final
    assert finished_at(plant) is not None
    receipt = plant.settings.receipts_dir / f"{plant.submission_id}.csv"
    assert State.INSERTED.value not in receipt.read_text()
