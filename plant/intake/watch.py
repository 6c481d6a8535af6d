"""The drop folder: ``plant watch DIR`` picks up complete submissions atomically and hands them to intake.

A submission is complete when it is a ``*.zip`` (the sender uploads under another name, e.g. ``x.zip.part``,
and renames it: a rename is atomic) or a folder holding a file named ``READY`` (written last). Hidden names
(``.…``) are never picked up. Picking up is a rename into ``DIR/.claimed/``, so of two watchers only one gets
a submission. After intake it moves to ``DIR/done/``, or to ``DIR/failed/`` with ``<name>.error.txt`` saying
what to fix — a refused folder and a refused zip (not a zip, cut short, a damaged, password-protected or
unsupported entry) alike — and the watcher goes on with the next one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import structlog

from plant.errors import PlantError

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


def scan_once(drop: Path, take: Callable[[Path], str]) -> list[tuple[str, str | None]]:
    """Claim and take every complete submission in ``drop``; return (name, submission id or None) per item.

    ``take`` is the intake (path → submission id); a :class:`PlantError` it raises fails only that item.
    """
    results: list[tuple[str, str | None]] = []
    for item in ready(drop):
        claimed = claim(item)
        if claimed is None:
            continue
        try:
            submission_id = take(claimed)
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


def watch(drop: Path, take: Callable[[Path], str], interval_s: float, stop: threading.Event) -> None:
    """Scan ``drop`` every ``interval_s`` seconds until ``stop`` is set."""
    drop = Path(drop)
    drop.mkdir(parents=True, exist_ok=True)
    for leftover in sorted((drop / CLAIMED).glob("*")) if (drop / CLAIMED).exists() else []:
        os.rename(leftover, drop / leftover.name)  # claimed by a watcher that died: offer it again
    while not stop.is_set():
        scan_once(drop, take)
        stop.wait(interval_s)
