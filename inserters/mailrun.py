"""Mail run data (host → inserter) and results (inserter → host) as files.

Record layouts are vendor-specific, so a layout is a small format object with ``write``/``read``; the CSV
layout below is the default. Files are written atomically (temp file in the same directory, fsync, rename),
and readers refuse malformed files naming the file, the line and the field.
"""

from __future__ import annotations

import csv
import io
import os
import threading
from pathlib import Path

from inserters.errors import MailRunFileError
from inserters.protocol import Outcome, PieceResult, RunRecord

#: Columns of the CSV mail run data.
RUN_COLUMNS = ("piece_id", "sheets", "feeder_selects", "divert", "envelope_text")
#: Columns of the CSV result file.
RESULT_COLUMNS = ("piece_id", "outcome", "reason", "sheets_read")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` so a reader sees all of it or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(temp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, path)


class CsvLayout:
    """The default layout: CSV with a header row."""

    def write_run(self, path: Path, records: tuple[RunRecord, ...]) -> None:
        """Write the mail run data."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(RUN_COLUMNS)
        for r in records:
            writer.writerow([r.piece_id, r.sheets, ";".join(map(str, r.feeder_selects)), int(r.divert),
                             r.envelope_text])
        atomic_write(path, buffer.getvalue().encode())

    def read_run(self, path: Path) -> tuple[RunRecord, ...]:
        """Read mail run data; MailRunFileError names what is wrong."""
        records = []
        for line, row in _rows(path, RUN_COLUMNS):
            piece = _required(row, "piece_id", path, line)
            sheets = _int(row, "sheets", path, line, minimum=1)
            selects_text = row["feeder_selects"].strip()
            try:
                selects = tuple(int(s) for s in selects_text.split(";")) if selects_text else ()
            except ValueError:
                raise MailRunFileError(path, line, "feeder_selects", f"{selects_text!r} is not a ';'-separated "
                                       "list of feeder numbers") from None
            divert = row["divert"].strip()
            if divert not in ("0", "1"):
                raise MailRunFileError(path, line, "divert", f"{divert!r} must be 0 or 1")
            records.append(RunRecord(piece, sheets, selects, divert == "1", row["envelope_text"]))
        return tuple(records)

    def write_results(self, path: Path, results: tuple[PieceResult, ...]) -> None:
        """Write the per-piece results."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(RESULT_COLUMNS)
        for r in results:
            writer.writerow([r.piece_id, r.outcome.value, r.reason, r.sheets_read])
        atomic_write(path, buffer.getvalue().encode())

    def read_results(self, path: Path) -> tuple[PieceResult, ...]:
        """Read per-piece results; MailRunFileError names what is wrong."""
        results = []
        for line, row in _rows(path, RESULT_COLUMNS):
            piece = _required(row, "piece_id", path, line)
            try:
                outcome = Outcome(row["outcome"].strip())
            except ValueError:
                allowed = ", ".join(o.value for o in Outcome)
                raise MailRunFileError(path, line, "outcome", f"{row['outcome']!r} is not one of {allowed}") from None
            results.append(PieceResult(piece, outcome, row["reason"], _int(row, "sheets_read", path, line, 0)))
        return tuple(results)


def _rows(path: Path, columns: tuple[str, ...]):
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise MailRunFileError(path, 1, "-", f"not UTF-8 (byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in columns if c not in header]
    if missing:
        raise MailRunFileError(path, 1, missing[0], f"header lacks column(s) {', '.join(missing)}")
    for line, row in enumerate(reader, start=2):
        if None in row or any(row[c] is None for c in columns):
            raise MailRunFileError(path, line, "-", "wrong number of fields")
        yield line, row


def _required(row: dict, field: str, path: Path, line: int) -> str:
    value = row[field].strip()
    if not value:
        raise MailRunFileError(path, line, field, "empty")
    return value


def _int(row: dict, field: str, path: Path, line: int, minimum: int) -> int:
    text = row[field].strip()
    try:
        value = int(text)
    except ValueError:
        raise MailRunFileError(path, line, field, f"{text!r} is not a whole number") from None
    if value < minimum:
        raise MailRunFileError(path, line, field, f"{value} is below {minimum}")
    return value


#: The layout used when none is configured.
DEFAULT_LAYOUT = CsvLayout()
