"""Mail run data (host → inserter) and results (inserter → host) as files, and the results held against
the run data (:func:`check_results`: duplicate rows, unknown pieces, "inserted" without every sheet read).

Record layouts are vendor-specific, so a layout is a small format object with ``write``/``read``; the CSV
layout below is the default. Files are written atomically (temp file in the same directory, fsync, rename),
and readers refuse malformed files naming the file, the line and the field.
"""

from __future__ import annotations

import csv
import io
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from inserters.errors import MailRunFileError
from inserters.protocol import Outcome, PieceResult, RunRecord

#: Columns of the CSV mail run data.
RUN_COLUMNS = ("piece_id", "sheets", "feeder_selects", "divert", "envelope_text")
#: Columns of the CSV result file.
RESULT_COLUMNS = ("piece_id", "outcome", "reason", "sheets_read")


def atomic_write(path: Path, data: bytes, exclusive: bool = False) -> bool:
    """Write ``data`` so a reader sees all of it or nothing (temp file in the same folder, fsync, rename).

    With ``exclusive`` the file is only created, never replaced: returns False (writing nothing) when it
    exists already, so two writers racing for one name cannot both win.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(temp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            try:
                os.link(temp, path)
            except FileExistsError:
                return False
        else:
            os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return True


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable: fsync the folder that holds it (where the platform allows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class MailRunLayout(Protocol):
    """A vendor's record layout: how mail run data and per-piece results look on disk.

    Implement the four methods for a vendor and hand the object to the driver (``layout=``); the CSV layout
    below is the default. Readers raise :class:`MailRunFileError` naming the file, line and field.
    """

    def write_run(self, path: Path, records: tuple[RunRecord, ...]) -> None:
        """Write the mail run data atomically."""

    def read_run(self, path: Path) -> tuple[RunRecord, ...]:
        """Read mail run data."""

    def write_results(self, path: Path, results: tuple[PieceResult, ...]) -> None:
        """Write per-piece results atomically."""

    def read_results(self, path: Path) -> tuple[PieceResult, ...]:
        """Read per-piece results."""


class CsvLayout:
    """The default layout: CSV with a header row; feeder selects joined by ``;``, divert as 0/1."""

    def write_run(self, path: Path, records: tuple[RunRecord, ...]) -> None:
        """Write the mail run data."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(RUN_COLUMNS)
        for r in records:
            writer.writerow(
                [r.piece_id, r.sheets, ";".join(map(str, r.feeder_selects)), int(r.divert), r.envelope_text]
            )
        atomic_write(path, buffer.getvalue().encode())

    def read_run(self, path: Path) -> tuple[RunRecord, ...]:
        """Read mail run data; MailRunFileError names what is wrong."""
        records: list[RunRecord] = []
        lines: dict[str, int] = {}  # piece id -> the file line it is on
        for line, row in _rows(path, RUN_COLUMNS):
            piece = _required(row, "piece_id", path, line)
            if piece in lines:
                raise MailRunFileError(
                    path,
                    line,
                    "piece_id",
                    f"piece {piece!r} is listed again (first on line "
                    f"{lines[piece]}); every piece goes in a run once",
                )
            lines[piece] = line
            sheets = _int(row, "sheets", path, line, minimum=1)
            selects_text = row["feeder_selects"].strip()
            try:
                selects = tuple(int(s) for s in selects_text.split(";")) if selects_text else ()
                if any(s < 1 for s in selects):
                    raise ValueError
            except ValueError:
                raise MailRunFileError(
                    path,
                    line,
                    "feeder_selects",
                    f"{selects_text!r} is not a ';'-separated list of feeder numbers",
                ) from None
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
                raise MailRunFileError(
                    path, line, "outcome", f"{row['outcome']!r} is not one of {allowed}"
                ) from None
            results.append(
                PieceResult(piece, outcome, row["reason"], _int(row, "sheets_read", path, line, 0))
            )
        return tuple(results)


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row) of every data row, ``line`` being the file line the row ends on."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MailRunFileError(path, 1, "-", f"not UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise MailRunFileError(path, 0, "-", f"cannot be read ({exc.strerror})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in columns if c not in header]
    if missing:
        raise MailRunFileError(path, 1, missing[0], f"header lacks column(s) {', '.join(missing)}")
    for row in reader:
        line = reader.line_num
        if None in row or any(row[c] is None for c in columns):
            raise MailRunFileError(path, line, "-", "wrong number of fields")
        yield line, row


def _required(row: Mapping[str, str], field: str, path: Path, line: int) -> str:
    value = row[field].strip()
    if not value:
        raise MailRunFileError(path, line, field, "empty")
    return value


def _int(row: Mapping[str, str], field: str, path: Path, line: int, minimum: int) -> int:
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


@dataclass(frozen=True, slots=True)
class CheckedResults:
    """An inserter's results held against the run data (:func:`check_results`).

    ``single`` has the one result of each piece of the run that has exactly one; ``duplicates`` every row of a
    piece that has more than one (in file order); ``unknown`` the rows naming no piece of the run; ``short``
    the pieces whose one result says inserted while the sheets read differ from the piece's sheets (fewer:
    the envelope may lack a sheet; more: another piece's sheet may be in it). Pieces of the run with no row
    at all are in none of them.
    """

    single: Mapping[str, PieceResult]
    duplicates: Mapping[str, tuple[PieceResult, ...]]
    unknown: tuple[PieceResult, ...]
    short: Mapping[str, PieceResult]

    @property
    def clean(self) -> bool:
        """True when no row is duplicated or unknown and every "inserted" has all its sheets read."""
        return not (self.duplicates or self.unknown or self.short)

    def inserted(self, piece_id: str) -> bool:
        """Whether the piece is proven enveloped: one result, "inserted", with every sheet read."""
        found = self.single.get(piece_id)
        return found is not None and found.outcome is Outcome.INSERTED and piece_id not in self.short


def check_results(sheets: Mapping[str, int], results: Iterable[PieceResult]) -> CheckedResults:
    """Hold per-piece ``results`` against the run data's ``sheets`` (piece id → sheets in its envelope).

    Nothing is dropped: every row lands in ``single``, ``duplicates`` or ``unknown``, so a host can account
    for each (see :class:`CheckedResults`)."""
    rows: dict[str, list[PieceResult]] = {}
    unknown: list[PieceResult] = []
    for result in results:
        if result.piece_id in sheets:
            rows.setdefault(result.piece_id, []).append(result)
        else:
            unknown.append(result)
    single = {piece: found[0] for piece, found in rows.items() if len(found) == 1}
    return CheckedResults(
        single=single,
        duplicates={piece: tuple(found) for piece, found in rows.items() if len(found) > 1},
        unknown=tuple(unknown),
        short={
            piece: r
            for piece, r in single.items()
            if r.outcome is Outcome.INSERTED and r.sheets_read != sheets[piece]
        },
    )
