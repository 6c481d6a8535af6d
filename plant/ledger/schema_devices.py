"""Ledger table of the devices' service state (loaded on start with every ``schema_*.py``).

- ``device_service``: one row per printer or inserter that was ever taken out of the plan, by an operator
  (``plant device down``) or by the plant itself (a press stopped longer than ``plan.replan_after_s``). A
  device without a row is in service. The plan stage plans only on devices in service; every change is an
  event (entity ``device``) written in the same transaction as the release of the device's work.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, String, Table, Text

from plant.ledger.schema import metadata

device_service = Table(
    "device_service",
    metadata,
    Column("name", String(64), primary_key=True),
    #: ``printer`` or ``inserter``.
    Column("kind", String(16), nullable=False),
    #: 1 while an operator has the device out of service.
    Column("operator_down", Integer, nullable=False, default=0),
    #: What the operator gave as the reason.
    Column("reason", Text),
    #: The first sweep that saw the press stopped (its time); none while it runs.
    Column("stopped_since", Float),
    #: 1 once the press was stopped longer than ``plan.replan_after_s``: out of the plan until it runs again.
    Column("stopped_down", Integer, nullable=False, default=0),
    Column("updated_at", Float, nullable=False),
)
