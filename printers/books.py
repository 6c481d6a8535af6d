"""A device's own books: an append-only log of every job, sheet, leaf or envelope it handled.

A real press, cutter or inserter keeps its own accounting (impression counters, job logs) that does not come
from the host that drives it: when the host sends a job twice, or the device re-feeds sheets after a restart,
the device's books show it. The simulated devices keep theirs in ``<folder>/books.jsonl``: one JSON object per
line, appended with ``O_APPEND`` and fsynced before the device goes on, never rewritten. Each record has
``seq`` (1, 2, … in the file), ``at`` (Unix time), ``device`` and ``kind`` (``job``, ``sheet``, ``cut``,
``leaf``, ``run``, ``envelope``), plus what the device says about it.

A crash can cut the last line short; readers skip a line that is not a whole JSON object, and the next
append starts on a fresh line. Anyone may read the books (:func:`read_books`), e.g. an independent checker
that looks for a sheet fed twice; only the device appends.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

#: File name of a device's books inside its folder.
BOOKS_FILE = "books.jsonl"

Record = dict[str, object]


def read_books(path: Path | str, kind: str | None = None) -> list[Record]:
    """The records in the books at ``path`` (a folder: its ``books.jsonl``), oldest first; only ``kind``'s
    if given. A missing file has no records; a torn or foreign line is skipped."""
    path = Path(path)
    if path.is_dir():
        path = path / BOOKS_FILE
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    records: list[Record] = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and (kind is None or record.get("kind") == kind):
            records.append(record)
    return records


def tally(records: Iterable[Mapping[str, object]], *fields: str) -> Counter[tuple[object, ...]]:
    """How many records there are per value of ``fields`` (e.g. ``tally(sheets, "job", "sheet")``)."""
    return Counter(tuple(record.get(name) for name in fields) for record in records)


class Books:
    """The append side of a device's books (see the module docstring); safe across threads."""

    def __init__(self, folder: Path | str, device: str) -> None:
        """Books of ``device`` in ``folder`` (created if missing); the sequence goes on from the file."""
        self.path = Path(folder) / BOOKS_FILE
        self.device = device
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._seq = max((_as_seq(r.get("seq")) for r in read_books(self.path)), default=0)
        self._torn = _ends_torn(self.path)

    def append(self, kind: str, **fields: object) -> Record:
        """Write one record and fsync it before returning it (so the device acts only on what is booked)."""
        with self._lock:
            self._seq += 1
            record: Record = {"seq": self._seq, "at": round(time.time(), 6), "device": self.device}
            record.update(kind=kind, **fields)
            line = json.dumps(record, sort_keys=True).encode() + b"\n"
            if self._torn:  # a crash cut the last line short: start a fresh one
                line = b"\n" + line
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._torn = False
            return record

    def records(self, kind: str | None = None) -> list[Record]:
        """The records so far (see :func:`read_books`)."""
        return read_books(self.path, kind)


def _as_seq(value: object) -> int:
    return value if isinstance(value, int) else 0


def _ends_torn(path: Path) -> bool:
    """True when the file's last byte is not a newline (a crash cut its last record short)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() == 0:
                return False
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"
    except FileNotFoundError:
        return False
