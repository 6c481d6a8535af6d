"""The consent registry: who agreed to receive letters digitally, on which channel, for which period.

A registry is imported from CSV (``recipient_id, channel, address, valid_from, valid_to``; dates ISO 8601,
empty = open) as a new numbered version; the same file imported twice is the same version. Routing asks the
newest version, and records that version with every decision.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, func, insert, select

from plant.errors import SubmissionError
from plant.ledger import append_event, now
from plant.ledger import schema as t

#: Columns of a consent CSV.
CONSENT_COLUMNS = ("recipient_id", "channel", "address", "valid_from", "valid_to")
#: Recipients looked up per SQL statement.
LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class Consent:
    """A recipient's consent to digital delivery."""

    recipient_id: str
    channel: str
    address: str
    valid_from: float | None
    valid_to: float | None

    def valid_at(self, at: float) -> bool:
        """True when the consent holds at ``at`` (epoch seconds)."""
        return (self.valid_from is None or self.valid_from <= at) and (self.valid_to is None or at < self.valid_to)


def import_registry(conn: Connection, path: Path) -> int:
    """Import the consent CSV at ``path`` as a registry version (reusing it when the bytes were seen); return it."""
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    known = conn.execute(select(t.consent_registries.c.version).where(t.consent_registries.c.sha256 == digest)
                         .order_by(t.consent_registries.c.version.desc())).scalar()
    if known is not None:
        return known
    entries = list(_parse(data, path))
    version = conn.execute(insert(t.consent_registries).values(source=str(Path(path).resolve()), sha256=digest,
                                                               loaded_at=now(), entries=len(entries))
                           .returning(t.consent_registries.c.version)).scalar_one()
    if entries:
        conn.execute(insert(t.consents), [{"version": version, **e.__dict__} for e in entries])
    append_event(conn, "consents", str(version), "import", data={"entries": len(entries), "sha256": digest})
    return version


def newest_version(conn: Connection) -> int | None:
    """The newest registry version, or None when no registry was ever imported."""
    return conn.execute(select(func.max(t.consent_registries.c.version))).scalar()


def lookup(conn: Connection, version: int, recipient_ids: Iterable[str], at: float) -> dict[str, Consent]:
    """The consents of ``recipient_ids`` in registry ``version`` that hold at ``at``."""
    ids = sorted(set(recipient_ids))
    found: dict[str, Consent] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        rows = conn.execute(select(t.consents).where(t.consents.c.version == version,
                                                     t.consents.c.recipient_id.in_(ids[start:start + LOOKUP_CHUNK])))
        for row in rows:
            consent = Consent(row.recipient_id, row.channel, row.address, row.valid_from, row.valid_to)
            if consent.valid_at(at):
                found[consent.recipient_id] = consent
    return found


def _parse(data: bytes, path: Path) -> Iterable[Consent]:
    text = data.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CONSENT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise SubmissionError(f"{path} lacks the column(s) {', '.join(missing)}; the header must be: "
                              f"{','.join(CONSENT_COLUMNS)}.", path=str(path))
    for line, row in enumerate(reader, start=2):
        recipient = (row["recipient_id"] or "").strip()
        channel = (row["channel"] or "").strip()
        if not recipient or not channel:
            raise SubmissionError(f"{path} line {line}: recipient_id and channel must not be empty.", path=str(path))
        yield Consent(recipient, channel, (row["address"] or "").strip(), _date(row["valid_from"], path, line),
                      _date(row["valid_to"], path, line))


def _date(value: str | None, path: Path, line: int) -> float | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SubmissionError(f"{path} line {line}: {value!r} is not an ISO 8601 date (use 2026-01-31 or "
                              "2026-01-31T12:00:00+00:00).", path=str(path)) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
