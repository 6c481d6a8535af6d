"""The drop folder: ``plant watch DIR`` picks up complete submissions atomically and hands them to intake.

A submission is complete when it is a ``*.zip`` (the sender uploads under another name, e.g. ``x.zip.part``,
and renames it: a rename is atomic) or a folder holding a file named ``READY`` (written last). Hidden names
(``.…``) are never picked up. Picking up is a rename into ``DIR/.claimed/``, so of two watchers only one gets
a submission. After intake it moves to ``DIR/done/``, or to ``DIR/failed/`` with ``<name>.error.txt`` saying
what to fix — a refused folder and a refused zip (not a zip, cut short, a damaged, password-protected or
unsupported entry) alike — and the watcher goes on with the next one. A symbolic link dropped in the folder is
never followed: it is moved to ``failed/`` as it is, with the reason (a link could name another sender's
submission); links inside a submission are refused by the intake itself.

A full disk pauses the intake, it never fails a submission: while the state dir's disk has less than
``floor_bytes`` free (:data:`~plant.storage.files.FREE_FLOOR_BYTES`), or after the intake found no room for a
submission (which goes back into the drop folder as it was), nothing new is taken; ``intake_paused`` says
"disk full at PATH: N MB needed" once, and the watcher goes on by itself (``intake_resumed``) when there is
room.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import structlog

from plant.errors import DiskFull, PlantError, SubmissionError
from plant.storage.files import FREE_FLOOR_BYTES, is_disk_full, room_short

log = structlog.get_logger(__name__)

#: Marker file a sender writes last into a submission folder.
READY_MARKER = "READY"
#: Sub-folders of a drop folder.
CLAIMED, DONE, FAILED = ".claimed", "done", "failed"


def ready(drop: Path) -> list[Path]:
    """The complete submissions waiting in ``drop``, oldest name first."""
    found = []
    for item in sorted(Path(drop).iterdir()):
        if item.name.startswith(".") or item.name in (DONE, FAILED):
            continue
        if item.is_symlink():  # never followed: picked up only to be refused
            found.append(item)
            continue
        if (item.is_file() and item.suffix.lower() == ".zip") or (
            item.is_dir() and (item / READY_MARKER).is_file()
        ):
            found.append(item)
    return found


def claim(item: Path) -> Path | None:
    """Take ``item`` by renaming it into ``.claimed/`` (atomic); None when another watcher took it first."""
    target = item.parent / CLAIMED / item.name
    target.parent.mkdir(exist_ok=True)
    try:
        os.rename(item, target)
    except FileNotFoundError:
        return None
    return target


def settle(claimed: Path, error: str | None = None) -> Path:
    """Move a claimed submission to ``done/`` or, with ``error``, to ``failed/`` with the error beside it."""
    drop = claimed.parent.parent
    folder = drop / (FAILED if error else DONE)
    folder.mkdir(exist_ok=True)
    target = folder / claimed.name
    if target.exists():
        target = folder / f"{claimed.stem}-{os.getpid()}-{id(claimed)}{claimed.suffix}"
    os.rename(claimed, target)
    if error:
        (folder / f"{target.name}.error.txt").write_text(error + "\n", encoding="utf-8")
    return target


def scan_once(
    drop: Path,
    take: Callable[[Path], str],
    state_dir: Path | None = None,
    floor_bytes: int = FREE_FLOOR_BYTES,
) -> list[tuple[str, str | None]]:
    """Claim and take every complete submission in ``drop``; return (name, submission id or None) per item.

    ``take`` is the intake (path → submission id); a :class:`PlantError` it raises fails only that item.
    Raises :class:`DiskFull` (nothing more taken, the item in hand back in ``drop``) when ``state_dir``'s disk
    has less than ``floor_bytes`` free or ``take`` found no room.
    """
    results: list[tuple[str, str | None]] = []
    for item in ready(drop):
        short = room_short(state_dir, floor_bytes) if state_dir is not None else None
        if short is not None:
            raise short
        claimed = claim(item)
        if claimed is None:
            continue
        try:
            if claimed.is_symlink():
                raise SubmissionError(
                    f"{item.name} is a symbolic link; the drop folder takes only submission folders and "
                    ".zip files themselves (a link can point at another sender's submission): drop the "
                    "submission itself."
                )
            submission_id = take(claimed)
        except (DiskFull, OSError) as exc:
            if not is_disk_full(exc):
                raise
            os.rename(claimed, item)  # not refused: offered again when there is room
            if isinstance(exc, DiskFull):
                raise
            raise DiskFull(exc.filename or state_dir or item, _size(item)) from exc  # a write names no file
        except PlantError as exc:
            # Refused (a folder or a zip alike): the reason names the submission, not its claimed path.
            reason = str(exc).replace(str(claimed), item.name)
            log.warning("submission_refused", item=item.name, error=reason)
            settle(claimed, error=reason)
            results.append((item.name, None))
            continue
        settle(claimed)
        log.info("submission_taken", item=item.name, submission=submission_id)
        results.append((item.name, submission_id))
    return results


def _size(item: Path) -> int:
    """Bytes of a submission (a zip, or a folder's files)."""
    if item.is_file():
        return item.stat().st_size
    return sum(p.stat().st_size for p in item.rglob("*") if p.is_file() and not p.is_symlink())


def watch(
    drop: Path,
    take: Callable[[Path], str],
    interval_s: float,
    stop: threading.Event,
    state_dir: Path | None = None,
    floor_bytes: int = FREE_FLOOR_BYTES,
) -> None:
    """Scan ``drop`` every ``interval_s`` seconds until ``stop`` is set; paused while the disk is full."""
    drop = Path(drop)
    drop.mkdir(parents=True, exist_ok=True)
    for leftover in sorted((drop / CLAIMED).glob("*")) if (drop / CLAIMED).exists() else []:
        os.rename(leftover, drop / leftover.name)  # claimed by a watcher that died: offer it again
    full: DiskFull | None = None  # while paused: where the disk was full
    while not stop.is_set():
        if full is not None and room_short(Path(full.path), floor_bytes) is None:
            log.warning("intake_resumed", path=full.path)
            full = None
        if full is None:
            try:
                scan_once(drop, take, state_dir, floor_bytes)
            except DiskFull as exc:
                full = exc
                log.warning("intake_paused", path=exc.path, detail=str(exc))
        stop.wait(interval_s)
