"""Stage ``dispatch(run_id)``: close a run's inserted pieces into the handover manifests and mark them
DISPATCHED.

A manifest is a row of the ledger (:data:`plant.ledger.schema_dispatch.manifests`): one per post office
(``postage.office``), mail class and collection. Today a collection is a UTC day: its cut-off is the next
00:00 UTC, and the first dispatch at or after the cut-off CLOSES it; a piece dispatched later goes into the
next collection's manifest, never into a closed one. The pieces are ``manifest_items`` rows, numbered in the
same transaction as their DISPATCHED state (a piece is in one manifest: ``piece_id`` is unique there).

The files — ``<manifest id>.csv`` and ``<manifest id>.json`` beside it — are rendered from the ledger's rows
and written atomically *under the manifest's lock* (``SELECT … FOR UPDATE`` of its row on PostgreSQL, the
writer lock of a small transaction on SQLite). Pieces are added under the same lock, so every file is rendered
from all the rows committed before it, and two dispatches of the same manifest write one after the other: the
later one never replaces a newer file with an older snapshot. A crash between the commit and the files is
repaired by the redelivered message (or the next dispatch), which writes them again; a closed manifest renders
to the same CSV bytes for ever.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from plant.crashpoints import crash_point
from plant.errors import DiskFull
from plant.ledger import enqueue, move_letters, now
from plant.ledger import schema as t
from plant.ledger import schema_dispatch as td
from plant.ledger.reads import manifest_rows
from plant.model import Event, State
from plant.stages.context import Plant, current
from plant.storage.files import atomic_write, disk_full_over, retry_when_room

log = structlog.get_logger(__name__)

#: Columns of a handover manifest (``tracking_id`` is what ``plant audit`` reads).
MANIFEST_COLUMNS = ("sequence", "tracking_id", "recipient", "postcode", "sheets", "weight_g")
#: Longest manifest id (the ledger's column).
ID_LENGTH = 64
#: Characters a manifest file's name keeps; any other is replaced (and the id's hash added).
_SAFE = re.compile(r"[^A-Za-z0-9._-]")
#: Collections a dispatch looks ahead for an open manifest when the current one was closed already (by a
#: plant whose clock is ahead).
_LOOK_AHEAD = 366


def collection_of(at: float) -> str:
    """The collection a piece dispatched at ``at`` belongs to: its UTC day, ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(at, UTC).date().isoformat()


def collection_window(collection: str) -> tuple[float, float]:
    """When ``collection`` opens and its cut-off (epoch seconds): 00:00 UTC of the day and of the next."""
    start = datetime.combine(date.fromisoformat(collection), datetime.min.time(), UTC)
    return start.timestamp(), (start + timedelta(days=1)).timestamp()


def manifest_id(office: str, mail_class: str, collection: str) -> str:
    """``<collection>-<mail class>-<office>``; the office's hash instead when that is longer than the
    ledger's column."""
    key = f"{collection}-{mail_class}-{office}"
    if len(key) > ID_LENGTH:
        key = f"{collection}-{mail_class}-{hashlib.sha256(office.encode()).hexdigest()[:12]}"
    return key


def manifest_path(folder: Path, key: str, suffix: str = ".csv") -> Path:
    """The file of manifest ``key``: its id, or — when the id holds characters unfit for a file name — the id
    with those replaced and its hash added, so two manifests never share a file."""
    stem = _SAFE.sub("_", key)
    if stem != key or stem.startswith("."):
        stem = f"{stem.lstrip('.')}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    return folder / f"{stem}{suffix}"


def dispatch(run_id: str) -> None:
    """Dispatch the run's INSERTED pieces."""
    plant = current()
    letters, pieces = t.letters.c, t.pieces.c
    submissions: set[str] = set()
    with plant.ledger.tx() as conn:
        rows = conn.execute(
            select(
                letters.pk,
                letters.submission_id,
                letters.name,
                letters.postcode,
                letters.mail_class,
                letters.state,
                pieces.piece_id,
                pieces.tracking_id,
                pieces.sheets,
                pieces.mass_g,
            )
            .select_from(t.pieces.join(t.letters, letters.pk == pieces.letter_pk))
            .where(pieces.run_id == run_id)
            .order_by(pieces.piece_id)
        ).all()
        pending = [r for r in rows if r.state == State.INSERTED.value]
        moved = set(
            move_letters(conn, [r.pk for r in pending], Event.DISPATCH, State.INSERTED, data={"run": run_id})
        )
        dispatched = [r for r in pending if r.pk in moved]
        closed: list[str] = []
        if dispatched:
            stamp = now()
            closed = close_expired(conn, stamp)
            office = plant.settings.postage.office
            chosen = {
                mail_class: open_manifest(conn, office, mail_class, stamp)
                for mail_class in sorted({r.mail_class for r in dispatched})
            }
            seqs = {key: _last_seq(conn, key) for key in chosen.values()}
            for row in dispatched:
                key = chosen[row.mail_class]
                seqs[key] += 1
                conn.execute(
                    insert(t.manifest_items).values(
                        manifest=key,
                        seq=seqs[key],
                        piece_id=row.piece_id,
                        tracking_id=row.tracking_id,
                        recipient=row.name,
                        postcode=row.postcode,
                        sheets=row.sheets,
                        mass_g=row.mass_g,
                    )
                )
                submissions.add(row.submission_id)
        # the manifests of every piece of the run (already dispatched ones too: a redelivered message writes
        # their files again, which repairs a crash between the commit and the files)
        touched = set(closed) | set(
            conn.execute(
                select(t.manifest_items.c.manifest)
                .where(t.manifest_items.c.piece_id.in_([r.piece_id for r in rows]))
                .distinct()
            ).scalars()
        )
        for submission in sorted(submissions):
            enqueue(conn, "receipts", submission)
    crash_point("dispatch.mid")  # the fault suite: pieces dispatched, their manifest files not written
    try:
        write_manifests(plant, touched)
    except DiskFull as exc:  # the pieces are dispatched; their files are written by the repeated message
        retry_when_room(
            exc,
            f"dispatch {run_id}",
            None if plant.sender is None else lambda delay: plant.send("dispatch", run_id, delay_ms=delay),
            run=run_id,
        )
        return
    disk_full_over(f"dispatch {run_id}")
    if moved:
        log.info(
            "run_dispatched", run=run_id, pieces=len(moved), manifests=sorted(touched), closed=sorted(closed)
        )
    plant.notify()


# -- the manifests in the ledger ----------------------------------------------------------------------------
def close_expired(conn: Connection, at: float) -> list[str]:
    """Close every OPEN manifest whose cut-off is at or before ``at``; their ids. The rows are locked in id
    order first (on PostgreSQL a row being filled by another dispatch is closed after that one commits)."""
    m = td.manifests.c
    expired = list(
        conn.execute(
            select(m.manifest_id)
            .where(m.state == td.OPEN, m.cutoff_at <= at)
            .order_by(m.manifest_id)
            .with_for_update()
        ).scalars()
    )
    if expired:
        conn.execute(
            update(td.manifests)
            .where(m.manifest_id.in_(expired), m.state == td.OPEN)
            .values(state=td.CLOSED, closed_at=at)
        )
    return expired


def open_manifest(conn: Connection, office: str, mail_class: str, at: float) -> str:
    """The id of the OPEN manifest a piece of ``mail_class`` dispatched at ``at`` goes into, its row made when
    missing and locked for this transaction: the collection of ``at``, or — when that one is closed already
    — the next open one."""
    m = td.manifests.c
    collection = collection_of(at)
    for _ in range(_LOOK_AHEAD):
        key = manifest_id(office, mail_class, collection)
        opens_at, cutoff_at = collection_window(collection)
        conn.execute(
            _insert_or_ignore(conn).values(
                manifest_id=key,
                office=office,
                mail_class=mail_class,
                collection=collection,
                opens_at=opens_at,
                cutoff_at=cutoff_at,
                state=td.OPEN,
                created_at=at,
            )
        )
        state = conn.execute(select(m.state).where(m.manifest_id == key).with_for_update()).scalar_one()
        if state == td.OPEN:
            return key
        collection = (date.fromisoformat(collection) + timedelta(days=1)).isoformat()
    raise RuntimeError(f"no open manifest for {mail_class!r} within {_LOOK_AHEAD} collections of {at}")


def _insert_or_ignore(conn: Connection) -> Any:
    """An INSERT of a manifest row that leaves an existing one (made by a concurrent dispatch) alone."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(td.manifests).on_conflict_do_nothing()
    return sqlite.insert(td.manifests).on_conflict_do_nothing()


def _last_seq(conn: Connection, key: str) -> int:
    """The highest sequence number of manifest ``key`` (0 when empty); call it with the manifest locked."""
    return int(
        conn.execute(
            select(func.max(t.manifest_items.c.seq)).where(t.manifest_items.c.manifest == key)
        ).scalar()
        or 0
    )


# -- the files -----------------------------------------------------------------------------------------------
def write_manifests(plant: Plant, keys: Iterable[str]) -> None:
    """Write each manifest in ``keys`` (CSV and JSON) from the ledger, atomically, under its lock."""
    for key in sorted(keys):
        write_manifest(plant, key)


def write_manifest(plant: Plant, key: str) -> None:
    """Lock manifest ``key``, render its files from every row committed and write those that changed.

    The lock is held until the files are in place, so of two writers the later renders the newer rows. A file
    holding more pieces than the ledger has is never replaced (logged): a file only ever grows."""
    folder = plant.settings.manifests_dir
    with plant.ledger.tx() as conn:
        head = conn.execute(
            select(td.manifests).where(td.manifests.c.manifest_id == key).with_for_update()
        ).first()
        items = manifest_rows(conn, key)
        csv_path = manifest_path(folder, key)
        held = _rows_in(csv_path)
        if held > len(items):
            log.error(
                "manifest_file_ahead_of_ledger",
                manifest=key,
                file=str(csv_path),
                held=held,
                ledger=len(items),
            )
            return
        _write_if_changed(csv_path, render_csv(items))
        if head is not None:  # a manifest from before the table existed has its CSV only
            _write_if_changed(manifest_path(folder, key, ".json"), render_json(head, items))


def render_csv(items: Iterable[Any]) -> bytes:
    """The CSV of a manifest's rows (:data:`MANIFEST_COLUMNS`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for item in items:
        writer.writerow(
            [item.seq, item.tracking_id, item.recipient, item.postcode, item.sheets, f"{item.mass_g:.1f}"]
        )
    return buffer.getvalue().encode()


def render_json(head: Any, items: list[Any]) -> bytes:
    """The JSON beside the CSV: the manifest's row (its state included) and its pieces."""

    def iso(stamp: float | None) -> str | None:
        return None if stamp is None else datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")

    document = {
        "manifest_id": head.manifest_id,
        "office": head.office,
        "mail_class": head.mail_class,
        "collection": head.collection,
        "opens_at": iso(head.opens_at),
        "cutoff_at": iso(head.cutoff_at),
        "state": head.state,
        "created_at": iso(head.created_at),
        "closed_at": iso(head.closed_at),
        "pieces": len(items),
        "sheets": sum(i.sheets for i in items),
        "weight_g": round(sum(i.mass_g for i in items), 1),
        "items": [
            {
                "sequence": i.seq,
                "tracking_id": i.tracking_id,
                "recipient": i.recipient,
                "postcode": i.postcode,
                "sheets": i.sheets,
                "weight_g": round(i.mass_g, 1),
            }
            for i in items
        ],
    }
    return (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode()


def _rows_in(path: Path) -> int:
    """Data rows of the manifest CSV at ``path`` (0 when there is none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return 0
    return max(0, sum(1 for _ in csv.reader(io.StringIO(text))) - 1)


def _write_if_changed(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically unless the file holds exactly that already."""
    try:
        if path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    atomic_write(path, data)
