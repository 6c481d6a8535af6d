"""Ledger tables of tracking-id allocation and postage marks (loaded on start with every ``schema_*.py``).

- ``id_series``: one row per id *series* (kind + the fixed parts of an id, e.g. ``s10:RR/ZZ``). Every
  allocation first updates its series row, which serialises allocators of one series on every database (a row
  lock on PostgreSQL, the write lock on SQLite) so two overlapping ranges can never hand out the same id
  concurrently.
- ``id_cursors``: the next serial of each configured range, moved by compare-and-set.
- ``id_allocations``: every block of ids ever handed out, with its time. A range that is restarted, re-added
  or overlaps another skips every serial issued within the retention window.
- ``postage_marks``: one mark per piece with its state (on hold → paid | annulled) and the exact text printed.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text

from plant.ledger.schema import metadata

id_series = Table(
    "id_series",
    metadata,
    Column("series", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False),
)

id_cursors = Table(
    "id_cursors",
    metadata,
    Column("series", String(64), primary_key=True),
    Column("first", Integer, primary_key=True),
    Column("last", Integer, nullable=False),
    Column("next_serial", Integer, nullable=False),
)

id_allocations = Table(
    "id_allocations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("series", String(64), nullable=False),
    Column("first_serial", Integer, nullable=False),
    Column("last_serial", Integer, nullable=False),
    Column("allocated_at", Float, nullable=False),
)
Index("ix_id_allocations_series", id_allocations.c.series, id_allocations.c.last_serial)

postage_marks = Table(
    "postage_marks",
    metadata,
    Column("piece_id", String(64), primary_key=True),
    Column("tracking_id", String(32), nullable=False, unique=True),
    Column("key_id", String(8), nullable=False),
    Column("issued_at", Float, nullable=False),
    Column("mass_g", Float, nullable=False),
    Column("band_g", Integer, nullable=False),
    Column("tariff_minor", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("office", String(64), nullable=False),
    Column("mail_class", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text),
    Column("text", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)
Index("ix_postage_marks_state", postage_marks.c.state, postage_marks.c.issued_at)
