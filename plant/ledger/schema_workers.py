"""Ledger table of the plant's worker registry (loaded on start with every ``schema_*.py``).

- ``workers``: one row per start of a ``plant worker`` (a session's or one started by hand): where it runs
  (``host``, the kernel's ``boot_id``, the pid namespace ``pid_ns``), its ``pid`` and the kernel's start
  time of that pid (``proc_start``, so a reused pid is not taken for it), ``started_at``, ``beat_at``
  (written about every second while it runs), ``stopped_at`` (a clean exit) and, for one that died,
  ``dead_at`` with ``handled_by``: the process that claimed it (by compare-and-set) and derived its
  unfinished work again (:mod:`plant.ledger.workers`).
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table

from plant.ledger.schema import metadata

workers = Table(
    "workers",
    metadata,
    Column("worker_id", String(32), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("boot_id", String(64), nullable=False),
    Column("pid_ns", String(32), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("proc_start", String(32)),
    Column("started_at", Float, nullable=False),
    Column("beat_at", Float, nullable=False),
    Column("stopped_at", Float),
    Column("dead_at", Float),
    Column("handled_by", String(300)),
)
Index("ix_workers_open", workers.c.stopped_at, workers.c.dead_at)
