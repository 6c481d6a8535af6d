"""Ledger table of the handover manifests (loaded on start with every ``schema_*.py``).

- ``manifests``: one row per manifest, i.e. per post office (``postage.office``), mail class and collection
  (today one collection per UTC day: the manifest opens at 00:00 UTC and its cut-off is the next 00:00 UTC).
  Its pieces are the ``manifest_items`` rows whose ``manifest`` is its id, numbered in the transaction that
  made them DISPATCHED. A manifest is OPEN until the first dispatch at or after its cut-off CLOSES it; a
  CLOSED manifest never gains a row again (a piece dispatched later goes into the next collection's). The
  row is also the manifest's lock: pieces are added, and its files written, only under ``FOR UPDATE`` of it
  (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers anyway), so a file is always rendered from
  every row committed before it and a slower writer can never put back an older snapshot.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, String, Table, UniqueConstraint

from plant.ledger.schema import metadata

#: States of a manifest.
OPEN = "OPEN"
CLOSED = "CLOSED"

manifests = Table(
    "manifests",
    metadata,
    #: ``<collection>-<mail class>-<office>`` (the office hashed when the whole would pass 64 characters).
    Column("manifest_id", String(64), primary_key=True),
    Column("office", String(64), nullable=False),
    Column("mail_class", String(32), nullable=False),
    #: The collection: the UTC day ``YYYY-MM-DD`` its pieces were dispatched on.
    Column("collection", String(10), nullable=False),
    #: Epoch seconds: pieces dispatched from ``opens_at`` up to (not including) ``cutoff_at``.
    Column("opens_at", Float, nullable=False),
    Column("cutoff_at", Float, nullable=False),
    Column("state", String(8), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("closed_at", Float),
    UniqueConstraint("office", "mail_class", "collection", name="uq_manifest_collection"),
)
Index("ix_manifests_open", manifests.c.state, manifests.c.cutoff_at)
