"""Submissions: a folder (or a .zip of one) with ``manifest.csv`` and one ``<letter_id>.pdf`` per row.

:func:`read_submission` reads and checks the whole package without touching the ledger; :func:`accept` stores
the bytes content-addressed and records every letter (RECEIVED, or REJECTED with a reason when its own row is
unusable) in one transaction, with the outbox row that starts pre-flight. A problem with the package as a
whole refuses all of it with a :class:`~plant.errors.SubmissionError` saying what to fix; nothing is stored.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import structlog
from sqlalchemy import insert, select

from plant.errors import SubmissionError
from plant.intake.blobs import store_blob
from plant.ledger import append_event, enqueue, move_letters, now
from plant.ledger import schema as t
from plant.model import Event, State

log = structlog.get_logger(__name__)

#: Columns of manifest.csv, in the documented order.
MANIFEST_COLUMNS = ("letter_id", "recipient_id", "name", "address_1", "address_2", "postcode", "city", "country",
                    "mail_class")
#: Columns a row must fill in (address_2 may stay empty).
REQUIRED_VALUES = ("recipient_id", "name", "address_1", "postcode", "city", "country", "mail_class")
#: Largest file accepted inside a submission, bytes.
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Largest whole .zip accepted (uncompressed), bytes.
MAX_ZIP_BYTES = 2 * 1024 * 1024 * 1024
#: Threads storing a submission's files (their fsyncs overlap, so 1,000 letters do not cost 1,000 disk flushes).
STORE_THREADS = 16
#: Letter ids become file names and appear on receipts: keep them to a safe alphabet.
LETTER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Row:
    """One manifest row, with its line number for messages."""

    line: int
    values: dict[str, str]

    @property
    def letter_id(self) -> str:
        return self.values["letter_id"]


@dataclass(frozen=True)
class Package:
    """A read submission: its id, the manifest rows and the PDF bytes by letter id."""

    submission_id: str
    source: str
    rows: tuple[Row, ...]
    files: dict[str, bytes]


def read_submission(path: Path) -> Package:
    """Read a submission folder or .zip and check it as a whole; raise SubmissionError on any package fault."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path} does not exist; give the path of a submission folder or .zip.", path=str(path))
    files = _read_zip(path) if path.is_file() else _read_folder(path)
    if "manifest.csv" not in files:
        raise SubmissionError(f"{path} has no manifest.csv; add one with the columns {', '.join(MANIFEST_COLUMNS)}.",
                              path=str(path))
    rows = _parse_manifest(files.pop("manifest.csv"), path)
    pdfs = {name[:-4]: data for name, data in files.items() if name.lower().endswith(".pdf")}
    listed = {row.letter_id for row in rows}
    for extra in sorted(set(pdfs) - listed):
        log.warning("unlisted_file", submission=str(path), file=f"{extra}.pdf")
    digest = hashlib.sha256()
    digest.update(_manifest_fingerprint(rows))
    for letter_id in sorted(listed & set(pdfs)):
        digest.update(letter_id.encode() + b"\0" + hashlib.sha256(pdfs[letter_id]).digest())
    return Package(submission_id=f"S-{digest.hexdigest()[:16]}", source=str(path.resolve()), rows=tuple(rows),
                   files={k: v for k, v in pdfs.items() if k in listed})


def accept(conn_factory, blobs_dir: Path, package: Package) -> tuple[str, bool]:
    """Store and record ``package``; return (submission id, True when it is new, False when seen before).

    ``conn_factory`` is the ledger's ``tx``. The PDFs are stored before the transaction (content-addressed
    writes are idempotent), then submission, letters, their events and the pre-flight message commit together.
    """
    with conn_factory() as conn:
        if conn.execute(select(t.submissions.c.submission_id)
                        .where(t.submissions.c.submission_id == package.submission_id)).first():
            return package.submission_id, False
    with ThreadPoolExecutor(max_workers=STORE_THREADS) as pool:  # concurrent fsyncs share journal commits
        stored = pool.map(lambda item: (item[0], store_blob(blobs_dir, item[1])), package.files.items())
        digests = dict(stored)
    stamp = now()
    with conn_factory() as conn:
        conn.execute(insert(t.submissions).values(submission_id=package.submission_id, source=package.source,
                                                  received_at=stamp, letters=len(package.rows)))
        records = [_letter_record(package.submission_id, row, digests.get(row.letter_id), stamp)
                   for row in package.rows]
        conn.execute(insert(t.letters), records)
        pks = dict(conn.execute(select(t.letters.c.letter_id, t.letters.c.pk)
                                .where(t.letters.c.submission_id == package.submission_id)).all())
        conn.execute(insert(t.events), [
            {"at": stamp, "entity": "letter", "entity_id": str(pk), "event": "receive", "from_state": None,
             "to_state": State.RECEIVED.value, "data": {"submission": package.submission_id, "letter_id": lid}}
            for lid, pk in pks.items()
        ])
        for row in package.rows:
            problem = _row_problem(row, row.letter_id in digests)
            if problem:
                code, reason = problem
                move_letters(conn, [pks[row.letter_id]], Event.REJECT, State.RECEIVED, data={"code": code},
                             extra={"reason_code": code, "reason": reason})
        append_event(conn, "submission", package.submission_id, "accept", data={"letters": len(package.rows)})
        enqueue(conn, "preflight", package.submission_id)
    log.info("submission_accepted", submission=package.submission_id, letters=len(package.rows))
    return package.submission_id, True


def _letter_record(submission_id: str, row: Row, digest: str | None, stamp: float) -> dict:
    values = {column: row.values.get(column, "") for column in MANIFEST_COLUMNS}
    return {**values, "submission_id": submission_id, "pdf_sha256": digest, "state": State.RECEIVED.value,
            "received_at": stamp, "updated_at": stamp}


def _row_problem(row: Row, has_pdf: bool) -> tuple[str, str] | None:
    """Why this row's letter cannot go on (code, reason), or None."""
    empty = [c for c in REQUIRED_VALUES if not row.values.get(c, "").strip()]
    if empty:
        return ("BAD_MANIFEST_ROW", f"manifest line {row.line}: {', '.join(empty)} empty; fill "
                f"{'it' if len(empty) == 1 else 'them'} in and submit the letter again.")
    if not has_pdf:
        return ("MISSING_PDF", f"no file {row.letter_id}.pdf in the submission; add it and submit the letter again.")
    return None


def _parse_manifest(data: bytes, path: Path) -> list[Row]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{path}/manifest.csv is not UTF-8 (byte {exc.start}); save it as UTF-8.",
                              path=str(path)) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        raise SubmissionError(f"{path}/manifest.csv lacks the column(s) {', '.join(missing)}; the header must be: "
                              f"{','.join(MANIFEST_COLUMNS)}.", path=str(path), missing=missing)
    unknown = [c for c in header if c not in MANIFEST_COLUMNS]
    if unknown:
        raise SubmissionError(f"{path}/manifest.csv has unknown column(s) {', '.join(unknown)}; allowed: "
                              f"{','.join(MANIFEST_COLUMNS)}.", path=str(path), unknown=unknown)
    reader.fieldnames = header
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for line, record in enumerate(reader, start=2):
        if None in record:
            raise SubmissionError(f"{path}/manifest.csv line {line} has more fields than the header; quote values "
                                  "that contain commas.", path=str(path), line=line)
        values = {k: (v or "").strip() for k, v in record.items()}
        letter_id = values["letter_id"]
        if not LETTER_ID.match(letter_id):
            raise SubmissionError(f"{path}/manifest.csv line {line}: letter_id {letter_id!r} is empty or has "
                                  "characters other than letters, digits, '.', '_' and '-'; fix it.",
                                  path=str(path), line=line)
        if letter_id in seen:
            raise SubmissionError(f"{path}/manifest.csv: letter_id {letter_id!r} appears on lines {seen[letter_id]} "
                                  f"and {line}; letter ids must be unique within a submission.",
                                  path=str(path), letter_id=letter_id)
        seen[letter_id] = line
        rows.append(Row(line=line, values=values))
    if not rows:
        raise SubmissionError(f"{path}/manifest.csv has no letters; add one row per letter.", path=str(path))
    return rows


def _manifest_fingerprint(rows: list[Row]) -> bytes:
    return "\n".join("\x1f".join(r.values[c] for c in MANIFEST_COLUMNS) for r in rows).encode()


def _read_folder(path: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for item in sorted(path.iterdir()):
        if item.is_file() and (item.name == "manifest.csv" or item.suffix.lower() == ".pdf"):
            size = item.stat().st_size
            if size > MAX_FILE_BYTES:
                # Too big to take: leave it out, so its letter is rejected (missing PDF) and the rest goes on.
                log.warning("file_too_large", file=str(item), bytes=size)
                continue
            files[item.name] = item.read_bytes()
    return files


def _read_zip(path: Path) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise SubmissionError(f"{path} is neither a folder nor a readable .zip; send a folder or a zip of one.",
                              path=str(path)) from None
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
            raise SubmissionError(f"{path} unpacks to more than {MAX_ZIP_BYTES // 2**20} MiB; split the submission.",
                                  path=str(path))
        names = [PurePosixPath(i.filename) for i in infos]
        if any(n.is_absolute() or ".." in n.parts for n in names):
            raise SubmissionError(f"{path} has entries with absolute paths or '..'; zip the folder's files only.",
                                  path=str(path))
        # Accept the files at the top level, or inside one top folder (a zipped folder).
        prefixes = {n.parts[0] for n in names if len(n.parts) > 1}
        strip = 1 if not any(len(n.parts) == 1 for n in names) and len(prefixes) == 1 else 0
        files: dict[str, bytes] = {}
        for info, name in zip(infos, names):
            if len(name.parts) != strip + 1:
                continue
            leaf = name.parts[-1]
            if leaf == "manifest.csv" or leaf.lower().endswith(".pdf"):
                if info.file_size > MAX_FILE_BYTES:
                    log.warning("file_too_large", file=f"{path}:{info.filename}", bytes=info.file_size)
                    continue
                files[leaf] = archive.read(info)
        return files
