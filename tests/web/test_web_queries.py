"""The pages' queries: the hourly buckets and rates as pure functions, and the same answers from the ledger on
SQLite and on PostgreSQL."""

from __future__ import annotations

import math

import pytest

from plant.config import load_settings
from plant.ledger import Ledger, move_letters
from plant.ledger import schema as t
from plant.model import Event, State
from plant.web import queries
from tests.web.webplant import accept_batch

#: Hours since the epoch of the first bucket in the pure tests.
FIRST = 480_000


@pytest.mark.parametrize(
    "rows, expected",
    [
        ([("read_downstream", FIRST, 5, 12)], [(5, 0, 0, 12), (0, 0, 0, 0), (0, 0, 0, 0)]),
        (
            [("insert", FIRST + 2, 4, 9), ("dispatch", FIRST + 2, 3, 7)],
            [(0, 0, 0, 0), (0, 0, 0, 0), (0, 4, 3, 0)],
        ),
        ([("read_downstream", FIRST - 1, 9, 9), ("read_downstream", FIRST + 3, 9, 9)], [(0, 0, 0, 0)] * 3),
        (
            [("spool", FIRST + 1, 9, 9), ("read_downstream", FIRST + 1, 2, 3)],
            [(0, 0, 0, 0), (2, 0, 0, 3), (0, 0, 0, 0)],
        ),
    ],
)
def test_hourly_buckets(rows, expected):
    """Rows land in their hour; hours outside the window and other events are left out; pages count prints
    only."""
    buckets = queries.hourly(rows, FIRST, 3)
    assert [(b["printed"], b["inserted"], b["dispatched"], b["pages"]) for b in buckets] == expected
    assert buckets[0]["hour"] == queries.iso(FIRST * 3600)


@pytest.mark.parametrize(
    "pages, first, last, expected",
    [
        (100, 10.0, 60.0, 2.0),
        (100, 10.0, 10.0, None),
        (0, None, None, None),
    ],
)
def test_pages_per_second_while_printing(pages, first, last, expected):
    """Pages over the span from the first to the last print; no rate when that span is empty."""
    assert queries.pages_per_second(pages, first, last) == expected


def test_queries_agree_on_sqlite_and_postgresql(database_url, tmp_path):
    """On either database, a batch moved along the lifecycle is counted by state, per hour and in the
    backlog."""
    settings = load_settings(
        environ={"PLANT_STATE_DIR": str(tmp_path / "state"), "PLANT_DATABASE_URL": database_url}
    )
    submission_id = accept_batch(settings, tmp_path / "in", letters=3)
    ledger = Ledger(settings.ledger_url)
    try:
        with ledger.tx() as conn:
            pks = conn.execute(t.letters.select().order_by(t.letters.c.pk)).all()
            pks = [r.pk for r in pks]
            conn.execute(t.letters.update().values(pages=2))
            path = [
                (Event.ROUTE_PRINT, State.RECEIVED),
                (Event.PLAN, State.PRINT_READY),
                (Event.IMPOSE, State.PLANNED),
                (Event.SPOOL, State.IMPOSED),
                (Event.READ_DOWNSTREAM, State.SPOOLED),
                (Event.INSERT, State.PRINTED),
            ]
            for event, expect in path:
                move_letters(conn, pks[:2], event, expect)
            move_letters(conn, pks[:1], Event.DISPATCH, State.INSERTED)
        with ledger.read() as conn:
            at = conn.execute(t.events.select().order_by(t.events.c.id.desc())).first().at
            overview = queries.overview(conn, settings, at)
            flow = queries.throughput(conn, at, hours=2)
            rows = queries.submission(conn, submission_id)["rows"]
    finally:
        ledger.dispose()
    assert overview["submissions"][0]["states"] == {"RECEIVED": 1, "INSERTED": 1, "DISPATCHED": 1}
    assert flow["totals"] == {"printed": 2, "inserted": 2, "dispatched": 1, "pages": 4}
    assert flow["buckets"][-1]["hour"] == queries.iso(math.floor(at / 3600) * 3600)
    assert flow["backlog"] == {"states": {"RECEIVED": 1, "INSERTED": 1}, "pieces": 2, "pages": 4}
    assert [r["status"] for r in rows] == ["DISPATCHED", "INSERTED", "RECEIVED"]
