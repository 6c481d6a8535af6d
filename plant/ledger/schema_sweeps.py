"""Ledger table of the timed sweeps (loaded on start with every ``schema_*.py``).

- ``sweep_clock``: one row per kind of sweep with the time of its last claimed run. A plant claims the next
  run by compare-and-set of ``last_at``, so of several plants (or sessions and workers) sharing a ledger
  exactly one sends each sweep; the row is written in the same transaction as the sweep's outbox row.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, String, Table

from plant.ledger.schema import metadata

sweep_clock = Table(
    "sweep_clock",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("last_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
