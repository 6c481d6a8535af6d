"""The SQL ledger: durability settings, compare-and-set transitions, events, outbox, id allocation."""

from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy import func, inspect, select, text

from plant.config import IdRangeConfig
from plant.errors import IdRangeExhausted, IllegalTransition
from plant.intake.submission import accept, read_submission
from plant.ledger import Ledger, enqueue, move_letters
from plant.ledger import schema as t
from plant.model import Event, State
from plant.postage.ids import allocate
from tracking.ids import validate_s10


@pytest.fixture
def ledger(database_url):
    """The ledger on SQLite and on a real PostgreSQL: the same code must hold on both."""
    ledger = Ledger(database_url)
    yield ledger
    ledger.dispose()


@pytest.fixture
def letters(ledger, small_batch, tmp_path):
    """The pks of a 12-letter submission, all RECEIVED."""
    accept(ledger.tx, tmp_path / "blobs", read_submission(small_batch.submission))
    with ledger.read() as conn:
        return conn.execute(select(t.letters.c.pk).order_by(t.letters.c.pk)).scalars().all()


def test_sqlite_runs_wal_with_full_sync(tmp_path):
    """The embedded ledger is in WAL mode with synchronous=FULL (2)."""
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    with ledger.read() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2
    ledger.dispose()


def test_schema_is_created_and_versioned(ledger):
    """A new ledger has every table and records its schema version; opening it again keeps it."""
    again = Ledger(ledger.url)
    with again.read() as conn:
        assert conn.execute(select(t.schema_info.c.version)).scalar() == t.SCHEMA_VERSION
    again.dispose()


def test_an_older_ledger_gets_the_indexes_added_since(ledger):
    """Opening a ledger made before an index existed creates it (create_all alone only indexes new tables)."""
    with ledger.tx() as conn:
        conn.execute(text("DROP INDEX ix_events_at"))
    again = Ledger(ledger.url)
    with again.read() as conn:
        assert "ix_events_at" in {i["name"] for i in inspect(conn).get_indexes("events")}
    again.dispose()


def test_move_is_compare_and_set_with_events(ledger, letters):
    """Only letters in the expected state move; each move appends one event; a repeat moves nothing."""
    first = move_and_count(ledger, letters[:5], Event.ROUTE_PRINT, State.RECEIVED)
    again = move_and_count(ledger, letters[:8], Event.ROUTE_PRINT, State.RECEIVED)
    assert first == letters[:5]
    assert again == letters[5:8]
    with ledger.read() as conn:
        events = conn.execute(
            select(func.count()).select_from(t.events).where(t.events.c.event == "route_print")
        )
        assert events.scalar() == 8


def test_illegal_transition_writes_nothing(ledger, letters):
    """Asking for an edge the lifecycle lacks raises before any row changes."""
    with pytest.raises(IllegalTransition), ledger.tx() as conn:
        move_letters(conn, letters, Event.DISPATCH, State.RECEIVED)
    with ledger.read() as conn:
        assert set(conn.execute(select(t.letters.c.state)).scalars()) == {"RECEIVED"}


def test_outbox_row_dies_with_its_transaction(ledger, letters):
    """A state change and its outbox row commit together or not at all."""
    with pytest.raises(RuntimeError), ledger.tx() as conn:
        move_letters(conn, letters[:1], Event.ROUTE_PRINT, State.RECEIVED)
        enqueue(conn, "plan", "S-x")
        raise RuntimeError("crash before commit")
    with ledger.read() as conn:
        assert (
            conn.execute(
                select(func.count()).select_from(t.outbox).where(t.outbox.c.actor == "plan")
            ).scalar()
            == 0
        )
        assert (
            conn.execute(select(t.letters.c.state).where(t.letters.c.pk == letters[0])).scalar() == "RECEIVED"
        )


def move_and_count(ledger, pks, event, expect):
    with ledger.tx() as conn:
        return move_letters(conn, pks, event, expect)


def test_allocation_hands_out_consecutive_valid_ids(ledger):
    """Ids come from the configured range in order, each a valid S10."""
    ids = IdRangeConfig(service="RR", country="ZZ", first=100, last=199)
    with ledger.tx() as conn:
        first = allocate(conn, ids, 3)
    with ledger.tx() as conn:
        second = allocate(conn, ids, 2)
    assert [i[2:10] for i in first + second] == ["00000100", "00000101", "00000102", "00000103", "00000104"]
    for identifier in first + second:
        validate_s10(identifier)


def test_allocation_refuses_past_the_range(ledger):
    """An exhausted range raises IdRangeExhausted saying how many are left and what to do."""
    ids = IdRangeConfig(service="RR", country="ZZ", first=1, last=10)
    with ledger.tx() as conn:
        allocate(conn, ids, 8)
    with (
        pytest.raises(IdRangeExhausted, match="2 ids left but 3 are needed; add a new range"),
        ledger.tx() as conn,
    ):
        allocate(conn, ids, 3)


def test_rolled_back_allocation_is_not_consumed(ledger):
    """Allocation is part of the caller's transaction: a rollback hands the same ids out again."""
    ids = IdRangeConfig(first=500, last=600)
    with pytest.raises(RuntimeError), ledger.tx() as conn:
        allocate(conn, ids, 5)
        raise RuntimeError("crash")
    with ledger.tx() as conn:
        assert allocate(conn, ids, 1)[0][2:10] == "00000500"


def _allocate_many(url: str, rounds: int, queue) -> None:
    ledger = Ledger(url)
    got = []
    for _ in range(rounds):
        with ledger.tx() as conn:
            got.extend(allocate(conn, IdRangeConfig(first=0, last=99_999), 7))
    ledger.dispose()
    queue.put(got)


def test_concurrent_processes_never_share_an_id(ledger):
    """Four processes allocating against one ledger at once get disjoint ids."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_allocate_many, args=(ledger.url, 25, queue)) for _ in range(4)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    everything = [i for r in results for i in r]
    assert len(everything) == 4 * 25 * 7
    assert len(set(everything)) == len(everything)
