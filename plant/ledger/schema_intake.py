"""The intake area's tables: submission and letter sources, pre-flight rejections, consent entries, routing
decisions and digital deliveries (on the shared ``metadata``; the ledger loads this module on start).

Every routing decision is a row here *and* the data of the letter's route event, so "why did this letter go
digital on that day" is answered by one query: registry version, time, answer, rule and the matching entry.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, Integer, String, Table, Text

from plant.ledger.schema import metadata

intake_submissions = Table(
    "intake_submissions",
    metadata,
    Column("submission_id", String(64), ForeignKey("submissions.submission_id"), primary_key=True),
    #: The sender the consent scopes are matched against ("" = unnamed sender: only all-sender consents
    #: apply).
    Column("sender_id", String(128), nullable=False),
    #: ``csv`` or ``json``.
    Column("manifest_format", String(8), nullable=False),
    #: Where it came from: ``cli``, ``watch`` or ``http``.
    Column("channel", String(16), nullable=False),
)

intake_letters = Table(
    "intake_letters",
    metadata,
    Column("letter_pk", Integer, ForeignKey("letters.pk"), primary_key=True),
    #: ``pdf`` (sent as PDF) or ``xml`` (composed here from data and a template).
    Column("source_kind", String(8), nullable=False),
    #: SHA-256 of the XML source in the blob store (the composed PDF is the letter's ``pdf_sha256``).
    Column("source_sha256", String(64)),
    Column("template_id", String(64)),
)

preflight_rejections = Table(
    "preflight_rejections",
    metadata,
    Column("letter_pk", Integer, ForeignKey("letters.pk"), primary_key=True),
    Column("code", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    #: Each finding: code, message, page, rect and expected rect in points from the page's top-left.
    Column("findings", JSON),
    #: The overlay PDF marking the offending areas, when the rejection is geometric.
    Column("overlay_path", Text),
    Column("checked_at", Float, nullable=False),
)

consent_entries = Table(
    "consent_entries",
    metadata,
    Column("version", Integer, ForeignKey("consent_registries.version"), nullable=False),
    #: Line (CSV) or item number (JSON) in the imported file: the rule that matched names it.
    Column("line", Integer, nullable=False),
    Column("recipient_id", String(128), nullable=False),
    #: Sender ids the consent covers; NULL = all senders.
    Column("senders", JSON),
    Column("channel", String(32), nullable=False),
    Column("address", Text, nullable=False),
    Column("valid_from", Float),
    Column("valid_to", Float),
    Column("revoked_at", Float),
)
Index("ix_consent_entries_lookup", consent_entries.c.version, consent_entries.c.recipient_id)

routing_decisions = Table(
    "routing_decisions",
    metadata,
    Column("letter_pk", Integer, ForeignKey("letters.pk"), primary_key=True),
    Column("registry_version", Integer),
    Column("decided_at", Float, nullable=False),
    Column("sender_id", String(128), nullable=False),
    #: ``digital`` or ``print``.
    Column("answer", String(16), nullable=False),
    Column("rule", Text, nullable=False),
    #: The registry line that decided it (NULL when no entry matched).
    Column("entry_line", Integer),
)

digital_deliveries = Table(
    "digital_deliveries",
    metadata,
    Column("letter_pk", Integer, ForeignKey("letters.pk"), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("address", Text, nullable=False),
    Column("outbox_path", Text),
    Column("delivered_at", Float),
    #: When an unopened letter falls back to print.
    Column("fallback_due_at", Float),
    Column("opened_at", Float),
    Column("fallback_at", Float),
    #: ``delivered``, ``opened``, ``fallback`` or ``kept`` (no mailbox: kept for the sender).
    Column("status", String(16), nullable=False),
)
Index("ix_digital_due", digital_deliveries.c.status, digital_deliveries.c.fallback_due_at)
