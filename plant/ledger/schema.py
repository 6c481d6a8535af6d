"""The ledger's tables (SQLAlchemy Core), created or upgraded on start.

The ledger is the truth. ``events`` is append-only; ``outbox`` holds the next messages, published by the relay
only after the transaction that wrote them committed.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

#: Bump when a table changes; :func:`plant.ledger.store.Ledger.migrate` upgrades older ledgers.
#: 2: ``letters.duplex`` (the sender's choice per letter) and ``print_jobs.duplex`` (the job is printed
#: duplex).
#: 3: ``events.chain_seq``, ``events.prev_hash`` and ``events.hash`` (the tamper-evident chain of the events,
#: with :data:`event_chain` and :data:`event_anchors`); the upgrade chains the events already there.
SCHEMA_VERSION = 3

metadata = MetaData()

schema_info = Table(
    "schema_info",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)

submissions = Table(
    "submissions",
    metadata,
    Column("submission_id", String(64), primary_key=True),
    Column("source", Text, nullable=False),
    Column("received_at", Float, nullable=False),
    Column("letters", Integer, nullable=False),
    Column("consent_version", Integer),
    Column("finished_at", Float),
)

letters = Table(
    "letters",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("submission_id", String(64), ForeignKey("submissions.submission_id"), nullable=False),
    Column("letter_id", String(128), nullable=False),
    Column("recipient_id", String(128), nullable=False),
    Column("name", Text, nullable=False),
    Column("address_1", Text, nullable=False),
    Column("address_2", Text, nullable=False),
    Column("postcode", String(32), nullable=False),
    Column("city", Text, nullable=False),
    Column("country", String(64), nullable=False),
    Column("mail_class", String(32), nullable=False),
    #: 1 when the sender wants the letter printed on both sides of each leaf (manifest ``duplex``), else 0.
    Column("duplex", Integer, nullable=False, default=0, server_default="0"),
    Column("pdf_sha256", String(64)),
    Column("pages", Integer),
    Column("state", String(32), nullable=False),
    Column("held_from", String(32)),
    Column("reason_code", String(64)),
    Column("reason", Text),
    Column("channel", String(16)),
    Column("preflight_ok", Integer),
    Column("received_at", Float, nullable=False),
    Column("final_at", Float),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("submission_id", "letter_id", name="uq_letter_per_submission"),
)
Index("ix_letters_state", letters.c.submission_id, letters.c.state)
Index("ix_letters_by_state", letters.c.state)  # the pages' "needs attention" list, across submissions

pieces = Table(
    "pieces",
    metadata,
    Column("piece_id", Integer, primary_key=True, autoincrement=True),
    Column("letter_pk", Integer, ForeignKey("letters.pk"), nullable=False, unique=True),
    Column("tracking_id", String(32), nullable=False, unique=True),
    Column("sheets", Integer, nullable=False),
    Column("mass_g", Float, nullable=False),
    Column("job_id", String(32)),
    Column("run_id", String(32)),
    Column("prints", Integer, nullable=False, default=0),
)
Index("ix_pieces_job", pieces.c.job_id)

print_jobs = Table(
    "print_jobs",
    metadata,
    Column("number", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(32), unique=True),
    Column("submission_id", String(64), nullable=False),
    Column("printer", String(64), nullable=False),
    #: The inserter the planner chose for the job's run.
    Column("inserter", String(64)),
    #: When the planner expects the job inserted (epoch seconds): the SLA-risk yardstick.
    Column("due_at", Float),
    Column("state", String(32), nullable=False),
    #: 1 when the job's letters are duplex: imposed two pages a leaf and printed two-sided; else 0 (simplex).
    Column("duplex", Integer, nullable=False, default=0, server_default="0"),
    Column("pdf_path", Text),
    Column("sheets", Integer),
    Column("pieces", Integer, nullable=False),
    Column("device_state", String(32)),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

job_pieces = Table(
    "job_pieces",
    metadata,
    Column("job_id", String(32), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("piece_id", Integer, ForeignKey("pieces.piece_id"), nullable=False),
    UniqueConstraint("job_id", "seq", name="uq_job_seq"),
    UniqueConstraint("job_id", "piece_id", name="uq_job_piece"),
)

insert_runs = Table(
    "insert_runs",
    metadata,
    Column("number", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), unique=True),
    Column("job_id", String(32), nullable=False, unique=True),
    Column("inserter", String(64), nullable=False),
    Column("state", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

id_ranges = Table(
    "id_ranges",
    metadata,
    Column("service", String(2), primary_key=True),
    Column("country", String(2), primary_key=True),
    Column("first", Integer, primary_key=True),
    Column("last", Integer, nullable=False),
    Column("next_serial", Integer, nullable=False),
)

consent_registries = Table(
    "consent_registries",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("loaded_at", Float, nullable=False),
    Column("entries", Integer, nullable=False),
)

consents = Table(
    "consents",
    metadata,
    Column("version", Integer, ForeignKey("consent_registries.version"), nullable=False),
    Column("recipient_id", String(128), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("address", Text, nullable=False),
    Column("valid_from", Float),
    Column("valid_to", Float),
)
Index("ix_consents_lookup", consents.c.version, consents.c.recipient_id)

manifest_items = Table(
    "manifest_items",
    metadata,
    Column("manifest", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("piece_id", Integer, ForeignKey("pieces.piece_id"), nullable=False, unique=True),
    Column("tracking_id", String(32), nullable=False),
    Column("recipient", Text, nullable=False),
    Column("postcode", String(32), nullable=False),
    Column("sheets", Integer, nullable=False),
    Column("mass_g", Float, nullable=False),
    UniqueConstraint("manifest", "seq", name="uq_manifest_seq"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("entity", String(16), nullable=False),
    Column("entity_id", String(64), nullable=False),
    Column("event", String(32), nullable=False),
    Column("from_state", String(32)),
    Column("to_state", String(32)),
    Column("data", JSON),
    #: The event's place in the plant's one chain (1, 2, …), set in the transaction that appends it; with
    #: ``hash`` = SHA-256 over the row's fields and ``prev_hash`` (the hash of the event before it in the
    #: chain), so an edited, removed or reordered event shows (``plant audit --verify-chain``).
    Column("chain_seq", Integer),
    Column("prev_hash", String(64)),
    Column("hash", String(64)),
)
Index("ix_events_entity", events.c.entity, events.c.entity_id)
Index("ix_events_chain", events.c.chain_seq, unique=True)  # one event per place; NULL: not chained yet
Index("ix_events_at", events.c.at)  # the throughput dashboard reads events by time
Index("ix_events_event", events.c.event, events.c.entity, events.c.at)  # /metrics counts events by name

#: The head of the event chain: one row (``id`` 1), locked by the transaction that chains its events
#: (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers already).
event_chain = Table(
    "event_chain",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False),  # the chain_seq of the last chained event (0: none yet)
    Column("hash", String(64), nullable=False),  # its hash (the genesis hash before any)
    Column("event_id", Integer),
    Column("day", String(10)),  # the UTC day (YYYY-MM-DD) of the newest event chained
)

#: The last hash of each UTC day of events, written when the first event of a later day is chained: what an
#: operator copies off-site, so that even a chain recomputed from its start shows against the copy.
event_anchors = Table(
    "event_anchors",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("event_id", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("at", Float, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("args", JSON, nullable=False),
    Column("delay_ms", Integer, nullable=False, default=0),
    Column("published_at", Float),
)
Index("ix_outbox_pending", outbox.c.published_at, outbox.c.id)
