"""The consent registry: who agreed to receive letters digitally, from which senders, on which channel, when.

A registry file is imported from CSV or JSON as a new numbered version (the same bytes imported twice are the
same version); routing asks the newest version and records that version, the time, the answer and the rule
that decided with every letter.

CSV columns: ``recipient_id, channel, address, valid_from, valid_to`` and, optionally, ``senders`` (empty or
``*`` = all senders, else sender ids separated by ``;``) and ``revoked_at``. Dates are ISO 8601 (a date alone
is midnight UTC); empty = open. JSON: ``{"consents": [{...same keys, "senders": "*" or [ids]}],
"revocations": [{"recipient_id", "revoked_at", optional "senders"}]}`` — a revocation ends every matching
consent from then on.

Lookups go through a :class:`ConsentIndex`: one SQLite file per registry version, keyed by recipient (a
clustered primary key), built once from the ledger and then shared read-only by every process of the machine —
fast with millions of recipients, no per-process memory, and rebuilt from the ledger where it is missing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select

from plant.errors import SubmissionError
from plant.ledger import append_event, now
from plant.ledger import schema as t
from plant.ledger import schema_intake as ti

#: Columns a consent CSV must have.
CONSENT_COLUMNS = ("recipient_id", "channel", "address", "valid_from", "valid_to")
#: Columns a consent CSV may add.
OPTIONAL_COLUMNS = ("senders", "revoked_at")
#: Recipients looked up per SQL statement.
LOOKUP_CHUNK = 500
#: Entries written to the ledger per INSERT.
INSERT_CHUNK = 10_000
#: Separator of sender ids in a CSV ``senders`` cell.
SENDER_SEPARATOR = ";"


@dataclass(frozen=True)
class Consent:
    """One registry entry: a recipient's consent to digital delivery (``senders`` None = all senders)."""

    recipient_id: str
    channel: str
    address: str
    valid_from: float | None = None
    valid_to: float | None = None
    senders: tuple[str, ...] | None = None
    revoked_at: float | None = None
    #: Line (CSV) or item number (JSON) in the imported file.
    line: int = 0

    def covers(self, sender: str) -> bool:
        """True when the consent's scope includes ``sender``."""
        return self.senders is None or sender in self.senders

    def holds_at(self, at: float) -> bool:
        """True when the consent is in force at ``at`` (epoch seconds): valid and not yet revoked."""
        return (
            (self.valid_from is None or self.valid_from <= at)
            and (self.valid_to is None or at < self.valid_to)
            and (self.revoked_at is None or at < self.revoked_at)
        )

    def valid_at(self, at: float) -> bool:
        """Alias of :meth:`holds_at` (the foundation's name)."""
        return self.holds_at(at)


@dataclass(frozen=True)
class Decision:
    """The answer for one letter: ``digital`` with the consent used, or ``print``; and the deciding rule."""

    answer: str
    rule: str
    consent: Consent | None = None

    @property
    def digital(self) -> bool:
        """True when the letter goes to the recipient's digital mailbox."""
        return self.answer == "digital"


def decide(entries: Sequence[Consent], sender: str, at: float) -> Decision:
    """The routing rule over one recipient's entries: a sender-specific consent in force beats an all-senders
    one (the later line wins a tie); without one in force the letter goes to print, saying why."""
    holding = [e for e in entries if e.covers(sender) and e.holds_at(at)]
    if holding:
        best = max(holding, key=lambda e: (e.senders is not None, e.line))
        scope = "all senders" if best.senders is None else f"sender {sender}"
        return Decision("digital", f"consent line {best.line} for {scope} in force at {_iso(at)}", best)
    if not entries:
        return Decision("print", "no consent entry for the recipient")
    covering = [e for e in entries if e.covers(sender)]
    if not covering:
        return Decision(
            "print", f"consent line(s) {_lines(entries)} do not cover sender {sender or '(unnamed)'}"
        )
    latest = max(covering, key=lambda e: e.line)
    if latest.revoked_at is not None and at >= latest.revoked_at:
        why = f"revoked at {_iso(latest.revoked_at)}"
    elif latest.valid_to is not None and at >= latest.valid_to:
        why = f"expired at {_iso(latest.valid_to)}"
    else:
        why = f"valid only from {_iso(latest.valid_from)}"
    return Decision("print", f"consent line {latest.line} {why}")


# ---- import ------------------------------------------------------------------------------------------------
def import_registry(conn: Connection, path: Path, index_dir: Path | None = None) -> int:
    """Import the consent CSV or JSON at ``path`` as a registry version (reused when the bytes were seen).

    With ``index_dir`` the version's lookup index is built there at once (otherwise on first use).
    """
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    known: int | None = conn.execute(
        select(t.consent_registries.c.version)
        .where(t.consent_registries.c.sha256 == digest)
        .order_by(t.consent_registries.c.version.desc())
    ).scalar()
    if known is not None:
        return known
    entries = parse_registry(data, Path(path))
    version: int = conn.execute(
        insert(t.consent_registries)
        .values(source=str(Path(path).resolve()), sha256=digest, loaded_at=now(), entries=len(entries))
        .returning(t.consent_registries.c.version)
    ).scalar_one()
    for start in range(0, len(entries), INSERT_CHUNK):
        conn.execute(
            insert(ti.consent_entries),
            [
                {
                    "version": version,
                    "line": e.line,
                    "recipient_id": e.recipient_id,
                    "senders": None if e.senders is None else list(e.senders),
                    "channel": e.channel,
                    "address": e.address,
                    "valid_from": e.valid_from,
                    "valid_to": e.valid_to,
                    "revoked_at": e.revoked_at,
                }
                for e in entries[start : start + INSERT_CHUNK]
            ],
        )
    append_event(
        conn,
        "consents",
        str(version),
        "import",
        data={"entries": len(entries), "sha256": digest, "source": str(path)},
    )
    if index_dir is not None:
        build_index(entries, index_path(index_dir, version, digest))
    return version


def newest_version(conn: Connection) -> int | None:
    """The newest registry version, or None when no registry was ever imported."""
    return conn.execute(select(func.max(t.consent_registries.c.version))).scalar()


def parse_registry(data: bytes, path: Path) -> list[Consent]:
    """A consent file's entries (JSON when it starts with ``{`` or ``[``, else CSV), revocations applied."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(
            f"{path} is not UTF-8 (byte {exc.start}); save it as UTF-8.", path=str(path)
        ) from None
    if text.lstrip()[:1] in ("{", "["):
        return _parse_json(text, path)
    return _parse_csv(text, path)


def _parse_csv(text: str, path: Path) -> list[Consent]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in CONSENT_COLUMNS if c not in header]
    if missing:
        raise SubmissionError(
            f"{path} lacks the column(s) {', '.join(missing)}; the header must be: "
            f"{','.join(CONSENT_COLUMNS)} (optionally senders, revoked_at).",
            path=str(path),
        )
    reader.fieldnames = header
    entries = []
    for line, row in enumerate(reader, start=2):
        senders = (row.get("senders") or "").strip()
        scope = (
            None
            if senders in ("", "*")
            else tuple(s.strip() for s in senders.split(SENDER_SEPARATOR) if s.strip())
        )
        entries.append(_entry(row, scope, line, path))
    return entries


def _parse_json(text: str, path: Path) -> list[Consent]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); fix it.", path=str(path)
        ) from None
    items = (
        document
        if isinstance(document, list)
        else document.get("consents")
        if isinstance(document, dict)
        else None
    )
    if not isinstance(items, list):
        raise SubmissionError(
            f'{path}: expected {{"consents": [...], "revocations": [...]}} or a list of consents.',
            path=str(path),
        )
    entries = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise SubmissionError(
                f"{path} consent {number} is not an object; give recipient_id, channel, ...", path=str(path)
            )
        senders = item.get("senders", "*")
        scope = (
            None
            if senders in (None, "*", [])
            else tuple(str(s) for s in senders)
            if isinstance(senders, list)
            else (str(senders),)
        )
        entries.append(_entry({k: _text(v) for k, v in item.items()}, scope, number, path))
    revocations = document.get("revocations", []) if isinstance(document, dict) else []
    return _apply_revocations(entries, revocations, path)


def _apply_revocations(entries: list[Consent], revocations: list[Any], path: Path) -> list[Consent]:
    import dataclasses

    for number, item in enumerate(revocations, start=1):
        when = (
            _date(str(item["revoked_at"]), path, number)
            if isinstance(item, dict) and item.get("recipient_id") and item.get("revoked_at")
            else None
        )
        if when is None:  # not an object, no recipient_id, or no (or a blank) revoked_at
            raise SubmissionError(
                f"{path} revocation {number} needs recipient_id and revoked_at.", path=str(path)
            )
        only = item.get("senders")
        scope = None if only in (None, "*") else set(only if isinstance(only, list) else [only])
        for index, entry in enumerate(entries):
            if (
                entry.recipient_id == item["recipient_id"]
                and (scope is None or entry.senders is None or scope & set(entry.senders))
                and (entry.revoked_at is None or when < entry.revoked_at)
            ):
                entries[index] = dataclasses.replace(entry, revoked_at=when)
    return entries


def _entry(row: dict[str, Any], scope: tuple[str, ...] | None, line: int, path: Path) -> Consent:
    recipient = (row.get("recipient_id") or "").strip()
    channel = (row.get("channel") or "").strip()
    if not recipient or not channel:
        raise SubmissionError(
            f"{path} line {line}: recipient_id and channel must not be empty.", path=str(path)
        )
    return Consent(
        recipient,
        channel,
        (row.get("address") or "").strip(),
        _date(row.get("valid_from"), path, line),
        _date(row.get("valid_to"), path, line),
        scope,
        _date(row.get("revoked_at"), path, line),
        line,
    )


def _text(value: object) -> str | list[Any] | None:
    return value if value is None or isinstance(value, (str, list)) else str(value)


def _date(value: str | None, path: Path, line: int) -> float | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SubmissionError(
            f"{path} line {line}: {value!r} is not an ISO 8601 date (use 2026-01-31 or "
            "2026-01-31T12:00:00+00:00).",
            path=str(path),
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _iso(stamp: float | None) -> str:
    return "-" if stamp is None else datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")


def _lines(entries: Sequence[Consent]) -> str:
    return ", ".join(str(e.line) for e in entries)


# ---- the lookup index --------------------------------------------------------------------------------------
def index_path(index_dir: Path, version: int, sha256: str) -> Path:
    """Where the index of registry ``version`` lives."""
    return Path(index_dir) / f"consent-v{version}-{sha256[:16]}.sqlite"


def build_index(entries: Iterable[Consent], path: Path) -> Path:
    """Write the lookup index of ``entries`` to ``path`` atomically (a temp file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temp.unlink(missing_ok=True)
    db = sqlite3.connect(temp)
    try:
        db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE entries (recipient_id TEXT NOT NULL, line INTEGER NOT NULL, senders TEXT, "
            "channel TEXT NOT NULL, address TEXT NOT NULL, valid_from REAL, valid_to REAL, "
            "revoked_at REAL, PRIMARY KEY (recipient_id, line)) WITHOUT ROWID;"
        )
        db.executemany(
            "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    e.recipient_id,
                    e.line,
                    None if e.senders is None else "\x1f".join(e.senders),
                    e.channel,
                    e.address,
                    e.valid_from,
                    e.valid_to,
                    e.revoked_at,
                )
                for e in entries
            ),
        )
        db.commit()
    finally:
        db.close()
    with open(temp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(temp, path)
    return path


class ConsentIndex:
    """Read-only lookups in one registry version's index file (one SQLite connection per thread)."""

    def __init__(self, path: Path, version: int) -> None:
        self.path = Path(path)
        self.version = version
        self._local = threading.local()

    @classmethod
    def open(cls, conn: Connection, version: int, index_dir: Path) -> ConsentIndex:
        """The index of ``version``, built from the ledger first when this machine does not have it yet."""
        sha = conn.execute(
            select(t.consent_registries.c.sha256).where(t.consent_registries.c.version == version)
        ).scalar_one()
        path = index_path(index_dir, version, sha)
        if not path.exists():
            c = ti.consent_entries.c
            rows = conn.execute(
                select(
                    c.recipient_id,
                    c.channel,
                    c.address,
                    c.valid_from,
                    c.valid_to,
                    c.senders,
                    c.revoked_at,
                    c.line,
                ).where(c.version == version)
            )
            build_index(
                (
                    Consent(r[0], r[1], r[2], r[3], r[4], None if r[5] is None else tuple(r[5]), r[6], r[7])
                    for r in rows
                ),
                path,
            )
        return cls(path, version)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            self._local.db = db
        return db

    def entries(self, recipient_ids: Sequence[str]) -> dict[str, list[Consent]]:
        """The entries of each recipient that has any."""
        found: dict[str, list[Consent]] = {}
        db = self._db()
        for start in range(0, len(recipient_ids), LOOKUP_CHUNK):
            chunk = recipient_ids[start : start + LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in db.execute(
                f"SELECT recipient_id, channel, address, valid_from, valid_to, senders, revoked_at, "
                f"line FROM entries WHERE recipient_id IN ({marks})",
                chunk,
            ):
                found.setdefault(row[0], []).append(_row_consent(row))
        return found

    def decide_many(self, recipient_ids: Sequence[str], sender: str, at: float) -> dict[str, Decision]:
        """The decision for each of ``recipient_ids`` (sender ``sender``, time ``at``)."""
        ids = list(dict.fromkeys(recipient_ids))
        entries = self.entries(ids)
        return {rid: decide(entries.get(rid, ()), sender, at) for rid in ids}

    def decide(self, recipient_id: str, sender: str, at: float) -> Decision:
        """The decision for one recipient."""
        rows = (
            self._db()
            .execute(
                "SELECT recipient_id, channel, address, valid_from, valid_to, senders, revoked_at, "
                "line FROM entries WHERE recipient_id = ?",
                (recipient_id,),
            )
            .fetchall()
        )
        return decide([_row_consent(r) for r in rows], sender, at)

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def _row_consent(row: Sequence[Any]) -> Consent:
    return Consent(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        None if row[5] is None else tuple(row[5].split("\x1f")),
        row[6],
        row[7],
    )
