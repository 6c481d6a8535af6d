"""Ledger table of the plant's identity (loaded on start with every ``schema_*.py``).

- ``plant_identity``: one row (``id`` 1) with the plant id, a short random id created once with the ledger
  (and, for a ledger older than the table, on its first start: :func:`plant.ledger.jobs.ensure_plant_id`).
  Every name a device sees — print jobs, insert runs — is ``<plant id>-<ledger id>``
  (:func:`plant.model.device_name`), so two ledgers sharing a device never take each other's jobs for their
  own. A new ledger (a reset, a staging copy) gets a new id.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, String, Table

from plant.ledger.schema import metadata

plant_identity = Table(
    "plant_identity",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("plant_id", String(16), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)
