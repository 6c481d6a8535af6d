"""Upgrading a ledger made with an older schema, on SQLite and PostgreSQL: opening it adds what the newer
schema has (version 2: ``letters.duplex`` and ``print_jobs.duplex``), keeps every row, and records the new
version."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, inspect, select, text, update

from plant.ledger import Ledger
from plant.ledger import schema as t

#: Columns version 2 added, by table.
ADDED_IN_2 = {"letters": "duplex", "print_jobs": "duplex"}


def columns(ledger: Ledger, table: str) -> set[str]:
    with ledger.read() as conn:
        return {c["name"] for c in inspect(conn).get_columns(table)}


def version(ledger: Ledger) -> int:
    with ledger.read() as conn:
        return conn.execute(select(t.schema_info.c.version)).scalar()


@pytest.fixture
def version_1(database_url):
    """A ledger as schema version 1 left it — without the duplex columns — holding a letter and a print
    job."""
    ledger = Ledger(database_url)
    with ledger.tx() as conn:
        for table, column in ADDED_IN_2.items():
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute(update(t.schema_info).values(version=1))
        conn.execute(
            text(
                "INSERT INTO submissions (submission_id, source, received_at, letters) "
                "VALUES ('S-old', 'old', 1.0, 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO letters (submission_id, letter_id, recipient_id, name, address_1, address_2, "
                "postcode, city, country, mail_class, pages, state, received_at, updated_at) VALUES "
                "('S-old', 'L1', 'R1', 'A', 'B', '', '1', 'C', 'DE', 'standard', 3, 'RECEIVED', 1.0, 1.0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO print_jobs (job_id, submission_id, printer, state, pieces, created_at, "
                "updated_at) VALUES ('J000001', 'S-old', 'press-1', 'PLANNED', 1, 1.0, 1.0)"
            )
        )
    assert all(column not in columns(ledger, table) for table, column in ADDED_IN_2.items())
    ledger.dispose()
    return database_url


def test_opening_an_old_ledger_adds_the_duplex_columns_and_bumps_the_version(version_1):
    """The columns appear, the old letter and job read as simplex (how they were printed), the version is the
    current one, and new rows can say duplex."""
    ledger = Ledger(version_1)
    try:
        assert all(column in columns(ledger, table) for table, column in ADDED_IN_2.items())
        assert version(ledger) == t.SCHEMA_VERSION == 3
        with ledger.tx() as conn:
            assert conn.execute(
                select(t.letters.c.letter_id, t.letters.c.pages, t.letters.c.duplex)
            ).all() == [("L1", 3, 0)]
            assert conn.execute(select(t.print_jobs.c.job_id, t.print_jobs.c.duplex)).all() == [
                ("J000001", 0)
            ]
            conn.execute(
                insert(t.letters).values(
                    submission_id="S-old",
                    letter_id="L2",
                    recipient_id="R2",
                    name="A",
                    address_1="B",
                    address_2="",
                    postcode="1",
                    city="C",
                    country="DE",
                    mail_class="standard",
                    duplex=1,
                    state="RECEIVED",
                    received_at=2.0,
                    updated_at=2.0,
                )
            )
        with ledger.read() as conn:
            assert dict(conn.execute(select(t.letters.c.letter_id, t.letters.c.duplex)).all()) == {
                "L1": 0,
                "L2": 1,
            }
    finally:
        ledger.dispose()


def test_an_upgrade_finding_the_columns_there_already_only_records_the_version(version_1):
    """Another process upgraded the tables but had not recorded the version (or two start at once): opening
    the ledger again neither fails nor changes the rows."""
    ledger = Ledger(version_1)
    with ledger.tx() as conn:
        conn.execute(update(t.schema_info).values(version=1))
    ledger.dispose()
    again = Ledger(version_1)
    try:
        assert version(again) == t.SCHEMA_VERSION
        with again.read() as conn:
            assert conn.execute(select(t.letters.c.letter_id, t.letters.c.duplex)).all() == [("L1", 0)]
    finally:
        again.dispose()
