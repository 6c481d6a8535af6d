"""Submissions: a folder (or a .zip of one) with a manifest and one letter file per row.

The manifest is ``manifest.csv`` (columns :data:`MANIFEST_COLUMNS`, optionally ``sender_id``) or
``manifest.json`` (``{"sender_id": "...", "letters": [{"letter_id": ..., ...}]}``). A letter is
``<letter_id>.pdf``, or ``<letter_id>.xml`` — data plus a template id, composed here into a PDF
(:mod:`plant.intake.compose`). A letter may ask to be printed on both sides of its leaves (``duplex`` true in
the manifest, or ``<letter duplex="true">``); the default is one side. :func:`read_submission` reads and
checks the whole package without touching the ledger; :func:`accept` stores the bytes content-addressed and
records every letter (RECEIVED, or REJECTED with a reason when its own row or file is unusable) in one
transaction, with the outbox row that starts pre-flight. A problem with the package as a whole refuses all of
it with a :class:`~plant.errors.SubmissionError` saying what to fix; nothing is stored. :func:`intake` is the
one entry point of the CLI, the drop folder and HTTP.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import lzma
import os
import re
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NamedTuple

import structlog
from sqlalchemy import Connection, insert, select

from plant.config import Settings
from plant.errors import SubmissionError
from plant.ledger import append_event, enqueue, move_letters, now
from plant.ledger import schema as t
from plant.ledger import schema_intake as ti
from plant.model import Event, State
from plant.storage.files import store_blob

if TYPE_CHECKING:
    from plant.intake.compose import Templates
    from plant.ledger import Ledger

log = structlog.get_logger(__name__)

#: Columns of manifest.csv, in the documented order.
MANIFEST_COLUMNS = (
    "letter_id",
    "recipient_id",
    "name",
    "address_1",
    "address_2",
    "postcode",
    "city",
    "country",
    "mail_class",
)
#: Columns manifest.csv may add (the sender must be the same on every row; ``duplex`` is per letter).
OPTIONAL_COLUMNS = ("sender_id", "duplex")
#: Keys a manifest.json letter may add to :data:`MANIFEST_COLUMNS`.
OPTIONAL_KEYS = ("duplex",)
#: What a letter's ``duplex`` may say (case aside): printed on both sides of each leaf, or on one.
DUPLEX_WORDS = {"true": True, "false": False}
#: Columns a row must fill in (address_2 may stay empty).
REQUIRED_VALUES = ("recipient_id", "name", "address_1", "postcode", "city", "country", "mail_class")
#: Largest file accepted inside a submission, bytes (a larger letter is rejected unread: FILE_TOO_LARGE).
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Largest submission accepted, bytes: the manifest and letter files together (a folder's, or a .zip's
#: unpacked). Over it the whole submission is refused (split it); this bounds what one submission can make
#: the plant hold, whatever its zip compresses to.
MAX_SUBMISSION_BYTES = 1024 * 1024 * 1024
#: The same limit for a .zip (its unpacked entries), kept under its older name.
MAX_ZIP_BYTES = MAX_SUBMISSION_BYTES
#: Bytes unpacked or read at a time: a zip entry is streamed to a temporary file in chunks of this size and
#: counted on the way, so an entry is never inflated whole in memory before it is known to be within limits.
READ_CHUNK_BYTES = 1024 * 1024
#: Largest manifest, bytes.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
#: Threads storing a submission's files (their fsyncs overlap: 1,000 letters do not cost 1,000 disk flushes).
STORE_THREADS = 16
#: Letter ids become file names and appear on receipts: keep them to a safe alphabet.
LETTER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: Sender ids: the same safe alphabet.
SENDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
#: Code of a letter whose file in a folder is a hard link (it may be another tenant's file): it is not read.
HARD_LINKED = "HARD_LINKED"
#: Manifest file names, in the order they are looked for.
MANIFEST_NAMES = ("manifest.csv", "manifest.json")
#: Letter file suffixes read from a submission.
LETTER_SUFFIXES = (".pdf", ".xml")


@dataclass(frozen=True)
class Row:
    """One manifest row, with its line number for messages."""

    line: int
    values: dict[str, str]
    #: The row's ``duplex`` as written ("" when it says nothing); see :func:`parse_duplex`.
    duplex: str = ""

    @property
    def letter_id(self) -> str:
        """The row's letter id."""
        return self.values["letter_id"]


@dataclass(frozen=True)
class Package:
    """A read submission: its id, the manifest rows and the letters' PDF bytes by letter id.

    ``sources`` holds the XML of composed letters, ``templates`` their template ids, ``problems`` the letters
    that cannot go on (code, reason) although the package as a whole is fine, ``duplex`` the letters the
    sender wants printed on both sides of each leaf.
    """

    submission_id: str
    source: str
    rows: tuple[Row, ...]
    files: dict[str, bytes]
    sender_id: str = ""
    manifest_format: str = "csv"
    sources: dict[str, bytes] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)
    problems: dict[str, tuple[str, str]] = field(default_factory=dict)
    duplex: frozenset[str] = frozenset()


class IntakeResult(NamedTuple):
    """What :func:`intake` did: the submission id, whether it was new, and its letters."""

    submission_id: str
    new: bool
    letters: int
    rejected_at_intake: int


def intake(
    ledger: Ledger,
    settings: Settings,
    source: Path | Package,
    sender_id: str | None = None,
    channel: str = "cli",
) -> IntakeResult:
    """The one intake: read, compose, store and record the submission at ``source`` (folder or .zip, or a
    package already read with :func:`read_submission`).

    Used by ``plant run``, the drop folder (``plant watch``) and the HTTP API. ``sender_id`` overrides the
    manifest's. Raises :class:`SubmissionError` when the package as a whole is refused.
    """
    from plant.intake.compose import Templates

    package = (
        source
        if isinstance(source, Package)
        else read_submission(source, sender_id=sender_id, templates=Templates(settings.intake.template_dirs))
    )
    submission_id, new = accept(ledger.tx, settings.blobs_dir, package, channel=channel)
    rejected = sum(
        1
        for row in package.rows
        if row.letter_id in package.problems or _row_problem(row, row.letter_id in package.files)
    )
    return IntakeResult(submission_id, new, len(package.rows), rejected)


def read_submission(path: Path, sender_id: str | None = None, templates: Templates | None = None) -> Package:
    """Read a submission folder or .zip and check it as a whole; raise SubmissionError on any package fault.

    XML letters are composed with ``templates`` (the built-in ones when None).
    """
    path = Path(path)
    if not path.exists():
        raise SubmissionError(
            f"{path} does not exist; give the path of a submission folder or .zip.", path=str(path)
        )
    shared: dict[str, int] = {}  # letter files of the folder that are hard links: name → names of the file
    files, too_large = _read_zip(path) if path.is_file() else _read_folder(path, shared)
    if "manifest.csv" in files:
        rows, manifest_sender, manifest_format = *_parse_manifest(files.pop("manifest.csv"), path), "csv"
    elif "manifest.json" in files:
        rows, manifest_sender, manifest_format = (
            *_parse_json_manifest(files.pop("manifest.json"), path),
            "json",
        )
    else:
        raise SubmissionError(
            f"{path} has no manifest.csv; add one with the columns {', '.join(MANIFEST_COLUMNS)} "
            "(or a manifest.json).",
            path=str(path),
        )
    sender = _sender(sender_id if sender_id is not None else manifest_sender, path)
    listed = {row.letter_id for row in rows}
    pdfs = {name[:-4]: data for name, data in files.items() if name.lower().endswith(".pdf")}
    xmls = {name[:-4]: data for name, data in files.items() if name.lower().endswith(".xml")}
    for extra in sorted((set(pdfs) | set(xmls)) - listed):
        log.warning("unlisted_file", submission=str(path), file=extra)
    problems = {
        name[:-4]: (
            "FILE_TOO_LARGE",
            f"{name} is {size / 2**20:.0f} MiB; the plant takes letter files up "
            f"to {MAX_FILE_BYTES // 2**20} MiB: compress its images or split it.",
        )
        for name, size in too_large.items()
        if name[:-4] in listed
    }
    for name, links in sorted(shared.items()):
        if name[:-4] in listed:
            problems[name[:-4]] = (HARD_LINKED, _hard_link_reason(path, name, links))
    said = _manifest_duplex(rows, problems, manifest_format)
    composed, templates_used, xml_said = _compose_all(rows, pdfs, xmls, problems, templates)
    duplex = _duplex_letters(said, xml_said, problems)
    digest = hashlib.sha256()
    digest.update(_manifest_fingerprint(rows) + b"\0" + sender.encode())
    letters = {k: v for k, v in pdfs.items() if k in listed}
    for letter_id in sorted(listed & set(letters)):
        digest.update(letter_id.encode() + b"\0" + hashlib.sha256(letters[letter_id]).digest())
    for letter_id in sorted(listed & set(xmls)):
        digest.update(letter_id.encode() + b"\1" + hashlib.sha256(xmls[letter_id]).digest())
    for letter_id in sorted(problems):
        digest.update(letter_id.encode() + b"\2" + problems[letter_id][0].encode())
    for letter_id in sorted(duplex):  # only duplex letters count: submissions without any keep their old ids
        digest.update(letter_id.encode() + b"\3")
    return Package(
        submission_id=f"S-{digest.hexdigest()[:16]}",
        source=str(path.resolve()),
        rows=tuple(rows),
        files={**letters, **composed},
        sender_id=sender,
        manifest_format=manifest_format,
        sources={k: v for k, v in xmls.items() if k in composed},
        templates=templates_used,
        problems=problems,
        duplex=frozenset(duplex),
    )


def parse_duplex(text: str) -> bool | None:
    """A letter's ``duplex`` as written: True (both sides of each leaf), False (one side), None when it says
    nothing (empty); :class:`ValueError` for anything else."""
    word = text.strip().lower()
    if not word:
        return None
    if word not in DUPLEX_WORDS:
        raise ValueError(text)
    return DUPLEX_WORDS[word]


def _manifest_duplex(
    rows: Sequence[Row], problems: dict[str, tuple[str, str]], manifest_format: str
) -> dict[str, bool]:
    """What the manifest says about each letter's duplex (letters saying nothing left out); a letter whose
    value is neither true nor false gets a BAD_MANIFEST_ROW problem naming the letter and the field."""
    said: dict[str, bool] = {}
    for row in rows:
        try:
            value = parse_duplex(row.duplex)
        except ValueError:
            where = (
                f"manifest.{manifest_format} {'line' if manifest_format == 'csv' else 'letter'} {row.line}"
            )
            problems.setdefault(
                row.letter_id,
                (
                    "BAD_MANIFEST_ROW",
                    f"letter {row.letter_id} ({where}): duplex = {row.duplex!r} is neither true nor "
                    "false; write true (printed on both sides of each leaf) or false (one side, the "
                    "default) and submit the letter again.",
                ),
            )
            continue
        if value is not None:
            said[row.letter_id] = value
    return said


def _duplex_letters(
    said: dict[str, bool], xml_said: dict[str, bool], problems: dict[str, tuple[str, str]]
) -> set[str]:
    """The letters printed duplex: the manifest's word, else the XML letter's; a letter whose manifest and XML
    disagree gets a BAD_MANIFEST_ROW problem (the plant does not guess which the sender meant)."""
    for letter_id in sorted(set(said) & set(xml_said)):
        if said[letter_id] != xml_said[letter_id] and letter_id not in problems:
            problems[letter_id] = (
                "BAD_MANIFEST_ROW",
                f"letter {letter_id}: the manifest says duplex = {str(said[letter_id]).lower()}, "
                f'but {letter_id}.xml says duplex="{str(xml_said[letter_id]).lower()}"; make '
                "them agree (or say it in one place) and submit the letter again.",
            )
    return {
        letter_id for letter_id, value in {**xml_said, **said}.items() if value and letter_id not in problems
    }


def _compose_all(
    rows: Sequence[Row],
    pdfs: Mapping[str, bytes],
    xmls: Mapping[str, bytes],
    problems: dict[str, tuple[str, str]],
    templates: Templates | None,
) -> tuple[dict[str, bytes], dict[str, str], dict[str, bool]]:
    """Compose the XML letters that have no PDF; a letter that cannot be composed gets its problem. Also
    returns what the composed letters say about duplex (those saying nothing left out)."""
    from plant.errors import CompositionError
    from plant.intake.compose import Templates, compose_letter

    templates = templates or Templates()
    composed: dict[str, bytes] = {}
    used: dict[str, str] = {}
    duplex: dict[str, bool] = {}
    for row in rows:
        letter_id = row.letter_id
        if letter_id in pdfs or letter_id not in xmls or letter_id in problems:
            continue
        try:
            letter = compose_letter(xmls[letter_id], row.values, templates)
        except CompositionError as exc:
            problems[letter_id] = (exc.code, f"{letter_id}.xml: {exc}")
            continue
        composed[letter_id], used[letter_id] = letter.pdf, letter.template_id
        if letter.duplex is not None:
            duplex[letter_id] = letter.duplex
    return composed, used, duplex


def _sender(value: str, path: Path) -> str:
    value = (value or "").strip()
    if value and not SENDER_ID.match(value):
        raise SubmissionError(
            f"{path}: sender_id {value!r} has characters other than letters, digits, '.', '_', ':' "
            "and '-'; fix it.",
            path=str(path),
        )
    return value


def accept(
    conn_factory: Callable[[], AbstractContextManager[Connection]],
    blobs_dir: Path,
    package: Package,
    channel: str = "cli",
) -> tuple[str, bool]:
    """Store and record ``package``; return (submission id, True when it is new, False when seen before).

    ``conn_factory`` is the ledger's ``tx``. The PDFs are stored before the transaction (content-addressed
    writes are idempotent), then submission, letters, their events and the pre-flight message commit together.
    """
    with conn_factory() as conn:
        if conn.execute(
            select(t.submissions.c.submission_id).where(
                t.submissions.c.submission_id == package.submission_id
            )
        ).first():
            return package.submission_id, False
    with ThreadPoolExecutor(max_workers=STORE_THREADS) as pool:  # concurrent fsyncs share journal commits
        stored = pool.map(lambda item: (item[0], store_blob(blobs_dir, item[1])), package.files.items())
        digests = dict(stored)
        sources = dict(
            pool.map(lambda item: (item[0], store_blob(blobs_dir, item[1], ".xml")), package.sources.items())
        )
    stamp = now()
    with conn_factory() as conn:
        conn.execute(
            insert(t.submissions).values(
                submission_id=package.submission_id,
                source=package.source,
                received_at=stamp,
                letters=len(package.rows),
            )
        )
        records = [
            _letter_record(
                package.submission_id, row, digests.get(row.letter_id), stamp, row.letter_id in package.duplex
            )
            for row in package.rows
        ]
        conn.execute(insert(t.letters), records)
        pks = dict(
            conn.execute(
                select(t.letters.c.letter_id, t.letters.c.pk).where(
                    t.letters.c.submission_id == package.submission_id
                )
            ).all()
        )
        conn.execute(
            insert(t.events),
            [
                {
                    "at": stamp,
                    "entity": "letter",
                    "entity_id": str(pk),
                    "event": "receive",
                    "from_state": None,
                    "to_state": State.RECEIVED.value,
                    "data": {"submission": package.submission_id, "letter_id": lid},
                }
                for lid, pk in pks.items()
            ],
        )
        conn.execute(
            insert(ti.intake_submissions).values(
                submission_id=package.submission_id,
                sender_id=package.sender_id,
                manifest_format=package.manifest_format,
                channel=channel,
            )
        )
        conn.execute(
            insert(ti.intake_letters),
            [
                {
                    "letter_pk": pks[row.letter_id],
                    "source_kind": "xml" if row.letter_id in sources else "pdf",
                    "source_sha256": sources.get(row.letter_id),
                    "template_id": package.templates.get(row.letter_id),
                }
                for row in package.rows
            ],
        )
        for row in package.rows:
            problem = (
                _row_problem(row, True)
                or package.problems.get(row.letter_id)
                or _row_problem(row, row.letter_id in digests)
            )
            if problem:
                code, reason = problem
                move_letters(
                    conn,
                    [pks[row.letter_id]],
                    Event.REJECT,
                    State.RECEIVED,
                    data={"code": code},
                    extra={"reason_code": code, "reason": reason},
                )
        append_event(conn, "submission", package.submission_id, "accept", data={"letters": len(package.rows)})
        enqueue(conn, "preflight", package.submission_id)
    log.info("submission_accepted", submission=package.submission_id, letters=len(package.rows))
    return package.submission_id, True


def _letter_record(
    submission_id: str, row: Row, digest: str | None, stamp: float, duplex: bool
) -> dict[str, Any]:
    values = {column: row.values.get(column, "") for column in MANIFEST_COLUMNS}
    return {
        **values,
        "submission_id": submission_id,
        "pdf_sha256": digest,
        "duplex": int(duplex),
        "state": State.RECEIVED.value,
        "received_at": stamp,
        "updated_at": stamp,
    }


def _row_problem(row: Row, has_pdf: bool) -> tuple[str, str] | None:
    """Why this row's letter cannot go on (code, reason), or None."""
    empty = [c for c in REQUIRED_VALUES if not row.values.get(c, "").strip()]
    if empty:
        return (
            "BAD_MANIFEST_ROW",
            f"manifest line {row.line}: {', '.join(empty)} empty; fill "
            f"{'it' if len(empty) == 1 else 'them'} in and submit the letter again.",
        )
    if not has_pdf:
        return (
            "MISSING_PDF",
            f"no file {row.letter_id}.pdf (or {row.letter_id}.xml) in the submission; add it and "
            "submit the letter again.",
        )
    return None


def _parse_manifest(data: bytes, path: Path) -> tuple[list[Row], str]:
    """The rows of manifest.csv and the sender named in its optional ``sender_id`` column."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(
            f"{path}/manifest.csv is not UTF-8 (byte {exc.start}); save it as UTF-8.", path=str(path)
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        raise SubmissionError(
            f"{path}/manifest.csv lacks the column(s) {', '.join(missing)}; the header must be: "
            f"{','.join(MANIFEST_COLUMNS)}.",
            path=str(path),
            missing=missing,
        )
    unknown = [c for c in header if c not in MANIFEST_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise SubmissionError(
            f"{path}/manifest.csv has unknown column(s) {', '.join(unknown)}; allowed: "
            f"{','.join(MANIFEST_COLUMNS + OPTIONAL_COLUMNS)}.",
            path=str(path),
            unknown=unknown,
        )
    reader.fieldnames = header
    records = []
    for line, record in enumerate(reader, start=2):
        if None in record:
            raise SubmissionError(
                f"{path}/manifest.csv line {line} has more fields than the header; quote values "
                "that contain commas.",
                path=str(path),
                line=line,
            )
        records.append((line, {k: (v or "").strip() for k, v in record.items()}))
    senders = {values.pop("sender_id", "") for _, values in records}
    if len(senders) > 1:
        raise SubmissionError(
            f"{path}/manifest.csv names {len(senders)} different sender_id values; a submission "
            "comes from one sender: split it.",
            path=str(path),
        )
    return _rows(records, path, "manifest.csv"), (senders.pop() if senders else "")


def _parse_json_manifest(data: bytes, path: Path) -> tuple[list[Row], str]:
    """The rows of manifest.json (``{"sender_id": ..., "letters": [{...}, ...]}``) and its sender."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionError(
            f"{path}/manifest.json is not UTF-8 JSON ({exc}); fix it.", path=str(path)
        ) from None
    letters = document.get("letters") if isinstance(document, dict) else None
    if not isinstance(letters, list):
        raise SubmissionError(
            f'{path}/manifest.json must be {{"sender_id": "...", "letters": [{{"letter_id": ..., '
            f"...}}]}} with the keys {', '.join(MANIFEST_COLUMNS)}.",
            path=str(path),
        )
    records = []
    for number, item in enumerate(letters, start=1):
        if not isinstance(item, dict):
            raise SubmissionError(f"{path}/manifest.json letter {number} is not an object.", path=str(path))
        unknown = sorted(set(item) - set(MANIFEST_COLUMNS) - set(OPTIONAL_KEYS))
        if unknown:
            raise SubmissionError(
                f"{path}/manifest.json letter {number} has unknown key(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(MANIFEST_COLUMNS + OPTIONAL_KEYS)}.",
                path=str(path),
                unknown=unknown,
            )
        values = {c: str(item.get(c) if item.get(c) is not None else "").strip() for c in MANIFEST_COLUMNS}
        records.append((number, {**values, "duplex": _json_text(item.get("duplex"))}))
    sender = document.get("sender_id") or ""
    return _rows(records, path, "manifest.json"), str(sender)


def _json_text(value: object) -> str:
    """A manifest.json value as the text the CSV would hold: booleans as true/false, null as nothing."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _rows(records: list[tuple[int, dict[str, str]]], path: Path, name: str) -> list[Row]:
    """Rows with checked, unique letter ids."""
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for line, raw in records:
        values = {c: raw.get(c, "") for c in MANIFEST_COLUMNS}
        letter_id = values["letter_id"]
        if not LETTER_ID.match(letter_id):
            raise SubmissionError(
                f"{path}/{name} line {line}: letter_id {letter_id!r} is empty or has "
                "characters other than letters, digits, '.', '_' and '-'; fix it.",
                path=str(path),
                line=line,
            )
        if letter_id in seen:
            raise SubmissionError(
                f"{path}/{name}: letter_id {letter_id!r} appears on lines {seen[letter_id]} "
                f"and {line}; letter ids must be unique within a submission.",
                path=str(path),
                letter_id=letter_id,
            )
        seen[letter_id] = line
        rows.append(Row(line=line, values=values, duplex=raw.get("duplex", "")))
    if not rows:
        raise SubmissionError(f"{path}/{name} has no letters; add one row per letter.", path=str(path))
    return rows


def _manifest_fingerprint(rows: list[Row]) -> bytes:
    return "\n".join("\x1f".join(r.values[c] for c in MANIFEST_COLUMNS) for r in rows).encode()


def _wanted(name: str) -> bool:
    return name in MANIFEST_NAMES or name.lower().endswith(LETTER_SUFFIXES)


def _read_folder(path: Path, shared: dict[str, int] | None = None) -> tuple[dict[str, bytes], dict[str, int]]:
    """The manifest and letter files of a folder, and the letter files too large to take (name → bytes).

    Only regular files are read, each opened with ``O_NOFOLLOW`` (and ``O_NONBLOCK``, so a FIFO swapped in
    cannot hang the intake): a symbolic link, a FIFO, a socket or a device anywhere in the folder, or a
    folder where a manifest or letter file is expected, refuses the whole submission naming the entry. A link
    in a drop folder could otherwise have another sender's letter printed and mailed.

    A regular file with more than one name (a hard link: ``st_nlink`` > 1 on the open file) may be another
    tenant's file linked in, so it is not read either: a hard-linked letter file goes into ``shared`` (name →
    its number of names) and only its letter is rejected (:data:`HARD_LINKED`), a hard-linked manifest
    refuses the submission.
    """
    try:
        folder_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise SubmissionError(
            f"{path} cannot be opened as a folder ({exc.strerror or 'error'}); check that it is a readable "
            "folder, then try again.",
            path=str(path),
        ) from None
    files: dict[str, bytes] = {}
    too_large: dict[str, int] = {}
    total = 0
    try:
        for entry in sorted(os.scandir(folder_fd), key=lambda e: e.name):
            name = entry.name
            _refuse_odd_entry(path, name, entry)
            if not _wanted(name):
                continue
            limit = MAX_MANIFEST_BYTES if name in MANIFEST_NAMES else MAX_FILE_BYTES
            try:
                data, size = _read_regular(path, folder_fd, name, limit)
            except _HardLink as link:
                if name in MANIFEST_NAMES:
                    raise SubmissionError(
                        _hard_link_reason(path, name, link.links, letter=False), path=str(path), entry=name
                    ) from None
                log.warning("file_hard_linked", file=str(path / name), links=link.links)
                if shared is not None:
                    shared[name] = link.links
                continue
            if data is None:
                # Too big to take: left unread, so its letter is rejected with the reason; the rest goes on.
                log.warning("file_too_large", file=str(path / name), bytes=size)
                too_large[name] = size
                continue
            total += len(data)
            if total > MAX_SUBMISSION_BYTES:
                raise SubmissionError(_too_big(path), path=str(path), limit=MAX_SUBMISSION_BYTES)
            files[name] = data
    finally:
        os.close(folder_fd)
    return files, too_large


def _refuse_odd_entry(path: Path, name: str, entry: os.DirEntry[str]) -> None:
    """Refuse the submission when ``entry`` is a link, not a regular file, or a folder named like a file."""
    if entry.is_symlink():
        raise SubmissionError(
            f"{path}: {name!r} is a symbolic link; the plant takes only files that are themselves in the "
            "submission (a link can point at someone else's letter): put the file itself there and submit "
            "again.",
            path=str(path),
            entry=name,
        )
    if entry.is_dir(follow_symlinks=False):
        if _wanted(name):
            raise SubmissionError(
                f"{path}: {name!r} is a folder where a file is expected; put the file itself there and "
                "submit again.",
                path=str(path),
                entry=name,
            )
        return
    if not entry.is_file(follow_symlinks=False):
        raise SubmissionError(
            f"{path}: {name!r} is {_kind(entry.stat(follow_symlinks=False).st_mode)}, not a regular file; a "
            "submission holds only its manifest and letter files: remove it and submit again.",
            path=str(path),
            entry=name,
        )


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a special file"


def _read_regular(path: Path, folder_fd: int, name: str, limit: int) -> tuple[bytes | None, int]:
    """The bytes of regular file ``name`` in the folder (opened without following a link and checked again
    on the open file: what was checked is what is read), or (None, size) when it is over ``limit``."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=folder_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # replaced by a link since it was listed
            raise SubmissionError(
                f"{path}: {name!r} is a symbolic link; put the file itself there and submit again.",
                path=str(path),
                entry=name,
            ) from None
        raise SubmissionError(
            f"{path / name} cannot be read ({exc.strerror or 'read error'}); check that it is readable, "
            "then try again.",
            path=str(path),
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionError(
                f"{path}: {name!r} is {_kind(info.st_mode)}, not a regular file; a submission holds only its "
                "manifest and letter files: remove it and submit again.",
                path=str(path),
                entry=name,
            )
        if info.st_nlink > 1:
            raise _HardLink(info.st_nlink)
        if info.st_size > limit:
            return None, info.st_size
        chunks: list[bytes] = []
        read = 0
        while read <= limit:
            chunk = os.read(fd, min(READ_CHUNK_BYTES, limit + 1 - read))
            if not chunk:
                break
            chunks.append(chunk)
            read += len(chunk)
        if read > limit:  # grew while being read
            return None, read
        return b"".join(chunks), read
    except OSError as exc:
        raise SubmissionError(
            f"{path / name} cannot be read ({exc.strerror or 'read error'}); check that it is readable, "
            "then try again.",
            path=str(path),
        ) from None
    finally:
        os.close(fd)


class _HardLink(Exception):
    """A regular file of the folder has more names than its own (``links``): it is not read."""

    def __init__(self, links: int) -> None:
        super().__init__(links)
        self.links = links


def _hard_link_reason(path: Path, name: str, links: int, letter: bool = True) -> str:
    """Why a hard-linked file is not taken, and what to do."""
    what = "this letter is rejected" if letter else "the submission is refused"
    return (
        f"{path / name} is a hard link (the same file has {links} names on the disk, maybe another "
        f"sender's letter), so {what}; copy the file itself into the submission (cp, not ln) and submit "
        "it again."
    )


def _too_big(path: Path) -> str:
    """The refusal of a submission over :data:`MAX_SUBMISSION_BYTES`."""
    return (
        f"{path} holds more than {MAX_SUBMISSION_BYTES // 2**20} MiB of letters (unpacked), the plant's "
        "limit for one submission; split it into several submissions under that size and send each."
    )


#: Compression methods the plant unpacks (Python's zipfile: Store, Deflate, BZIP2, LZMA).
ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})
#: Names of the compression methods a zip may use but the plant does not unpack (by method number).
_OTHER_METHODS = {
    1: "Shrink",
    6: "Implode",
    9: 'Deflate64 ("enhanced deflate")',
    10: "Implode",
    18: "IBM TERSE",
    19: "IBM LZ77",
    93: "Zstandard",
    95: "XZ",
    96: "JPEG",
    97: "WavPack",
    98: "PPMd",
}
#: Method number of WinZip's AES encryption (the real method is inside the encryption header).
_AES_METHOD = 99
#: What zipfile and its decompressors raise on a damaged archive or entry.
_ZIP_DAMAGE: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,
    struct.error,
    NotImplementedError,
    RuntimeError,
    OverflowError,
)
#: What to do about a damaged zip.
_ZIP_AGAIN = "zip the submission folder again and upload the new .zip"


def _read_zip(path: Path) -> tuple[dict[str, bytes], dict[str, int]]:
    """Like :func:`_read_folder` for a .zip (files at the top level, or inside one top folder).

    Every way a zip can be unusable — not a zip at all, cut short, a damaged or password-protected entry, a
    bad checksum, a compression method the plant does not unpack — refuses the submission with a
    :class:`SubmissionError` saying what is wrong and what to do; none escapes as another exception.
    """
    try:
        archive = zipfile.ZipFile(path)
    except _ZIP_DAMAGE as exc:
        raise SubmissionError(_unreadable_zip(path, exc), path=str(path)) from None
    with archive:
        try:
            return _unpack(path, archive)
        except SubmissionError:
            raise
        except _ZIP_DAMAGE as exc:  # anything the per-entry checks did not foresee
            log.warning("zip_unreadable", path=str(path), error=repr(exc))
            raise SubmissionError(
                f"{path} is a damaged .zip and cannot be unpacked; {_ZIP_AGAIN}.", path=str(path)
            ) from None


def _unreadable_zip(path: Path, exc: BaseException) -> str:
    """Why ``path`` does not open as a zip at all (zipfile raised ``exc``), and what to do."""
    log.warning("zip_unreadable", path=str(path), error=repr(exc))
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as error:  # the file itself cannot be read: not the sender's fault
        return (
            f"{path} cannot be read ({error.strerror or 'read error'}); check that it is there and readable, "
            "then try again."
        )
    if not head:
        return f"{path} is empty (0 bytes); upload the submission's .zip again."
    if head.startswith(b"PK\x03\x04"):
        return (
            f"{path} is an incomplete or damaged .zip: its table of contents at the end is missing or "
            f"broken, as when an upload stops early; {_ZIP_AGAIN}."
        )
    if head.startswith(b"%PDF-"):
        return (
            f"{path} is a PDF, not a submission; put the letters in a folder with a manifest.csv and send "
            "the folder or a .zip of it."
        )
    return (
        f"{path} is neither a folder nor a readable .zip (it is not a zip archive at all); send a submission "
        "folder or a .zip of one."
    )


def _entry_problem(path: Path, info: zipfile.ZipInfo) -> str | None:
    """What makes entry ``info`` unreadable before a byte of it is unpacked (password, method), or None."""
    if info.flag_bits & 0x1 or info.compress_type == _AES_METHOD:
        return (
            f"{path}: the entry {info.filename!r} is password-protected; zip the submission without a "
            "password (the plant cannot unlock it)."
        )
    if info.compress_type not in ZIP_METHODS:
        method = _OTHER_METHODS.get(info.compress_type, f"an unknown method (number {info.compress_type})")
        return (
            f"{path}: the entry {info.filename!r} is compressed with {method}, which the plant cannot "
            "unpack; zip the submission again with the standard Deflate compression (or none)."
        )
    return None


#: Unix file types a zip entry may record that are not a file's contents (``external_attr``'s high bits).
_ODD_FILE_TYPES = frozenset({stat.S_IFLNK, stat.S_IFIFO, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFSOCK})


def _entry_kind_problem(path: Path, info: zipfile.ZipInfo) -> str | None:
    """Why entry ``info`` is not a plain file (a symbolic link, a FIFO, a device: its Unix mode says so), or
    None. Such an entry is never unpacked as what it claims to be."""
    mode = info.external_attr >> 16
    if info.create_system != 3 or stat.S_IFMT(mode) not in _ODD_FILE_TYPES:
        return None  # not made on Unix, no file type recorded, or a plain file or folder
    return (
        f"{path}: the entry {info.filename!r} is {_kind(mode)}, not a regular file; zip the files themselves "
        "(not links to them) and upload the new .zip."
    )


def _read_entry(
    path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, room: int
) -> bytes | None:
    """The bytes of entry ``info``, or None when it unpacks to more than ``limit`` (its letter is too large).

    The entry is streamed to a temporary file :data:`READ_CHUNK_BYTES` at a time and counted on the way,
    whatever its header declares; it is read back only once it is whole, within ``limit`` and within ``room``
    (what is left of :data:`MAX_SUBMISSION_BYTES`, over which the submission is refused) and checked against
    its CRC.
    """
    try:
        with tempfile.TemporaryFile(prefix="plant-unzip-") as spool:
            written = 0
            with archive.open(info) as member:  # read no more than declared, whatever the entry claims
                while chunk := member.read(READ_CHUNK_BYTES):
                    written += len(chunk)
                    if written > limit:
                        return None
                    if written > room:
                        raise SubmissionError(_too_big(path), path=str(path), limit=MAX_SUBMISSION_BYTES)
                    spool.write(chunk)
            spool.seek(0)
            return spool.read()
    except _ZIP_DAMAGE as exc:
        log.warning("zip_entry_unreadable", path=str(path), entry=info.filename, error=repr(exc))
        if isinstance(exc, zipfile.BadZipFile) and "CRC" in str(exc):
            what = "is damaged: its contents do not match their checksum (CRC)"
        elif isinstance(exc, EOFError):
            what = "ends before its data does (the .zip is cut short)"
        else:
            what = "is damaged and cannot be unpacked"
        raise SubmissionError(
            f"{path}: the entry {info.filename!r} {what}; {_ZIP_AGAIN}.", path=str(path)
        ) from None


def _unpack(path: Path, archive: zipfile.ZipFile) -> tuple[dict[str, bytes], dict[str, int]]:
    infos = [i for i in archive.infolist() if not i.is_dir()]
    if sum(i.file_size for i in infos) > MAX_SUBMISSION_BYTES:  # as declared; what is unpacked is counted too
        raise SubmissionError(_too_big(path), path=str(path), limit=MAX_SUBMISSION_BYTES)
    for info in infos:
        problem = _entry_kind_problem(path, info)
        if problem is not None:
            raise SubmissionError(problem, path=str(path), entry=info.filename)
    names = [PurePosixPath(i.filename) for i in infos]
    if any(n.is_absolute() or ".." in n.parts for n in names):
        raise SubmissionError(
            f"{path} has entries with absolute paths or '..'; zip the folder's files only.",
            path=str(path),
        )
    prefixes = {n.parts[0] for n in names if len(n.parts) > 1}
    strip = 1 if not any(len(n.parts) == 1 for n in names) and len(prefixes) == 1 else 0
    files: dict[str, bytes] = {}
    too_large: dict[str, int] = {}
    total = 0
    for info, name in zip(infos, names, strict=True):
        if len(name.parts) != strip + 1 or not _wanted(name.parts[-1]):
            continue
        problem = _entry_problem(path, info)
        if problem is not None:
            raise SubmissionError(problem, path=str(path))
        leaf = name.parts[-1]
        limit = MAX_MANIFEST_BYTES if leaf in MANIFEST_NAMES else MAX_FILE_BYTES
        if info.file_size > limit:
            log.warning("file_too_large", file=f"{path}:{info.filename}", bytes=info.file_size)
            too_large[leaf] = info.file_size
            continue
        data = _read_entry(path, archive, info, limit, MAX_SUBMISSION_BYTES - total)
        if data is None:
            too_large[leaf] = info.file_size
            continue
        total += len(data)
        files[leaf] = data
    return files, too_large
