"""Content-addressed storage of accepted bytes: every file is kept under its SHA-256."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import structlog

from plant.errors import DiskFull

log = structlog.get_logger(__name__)

#: The errors of a write that found no room: the disk is full, or the user's quota is.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: Free bytes below which a disk counts as full for new work (intake pauses, the session says so).
FREE_FLOOR_BYTES = 64 * 2**20
#: Back-off of a stage tried again because its disk was full: first delay, doubled per try up to the last.
DISK_FULL_RETRY_MS = (1_000, 60_000)


def blob_path(blobs_dir: Path, sha256: str, suffix: str = ".pdf") -> Path:
    """Where the blob with digest ``sha256`` lives."""
    return Path(blobs_dir) / sha256[:2] / sha256[2:4] / f"{sha256}{suffix}"


def store_blob(blobs_dir: Path, data: bytes, suffix: str = ".pdf") -> str:
    """Store ``data`` durably under its SHA-256 (written once; a second store of the same bytes is free)."""
    digest = hashlib.sha256(data).hexdigest()
    target = blob_path(blobs_dir, digest, suffix)
    if target.exists():
        return digest
    atomic_write(target, data)
    return digest


def atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so a reader sees the whole file or none: temp file, fsync, rename."""
    target = Path(target)
    temp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, target)
    except OSError as exc:  # never leave a partial temp file behind (it would only fill the disk further)
        temp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise DiskFull(target, len(data)) from exc
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that found no room (:class:`DiskFull`, or an OSError ENOSPC/EDQUOT)."""
    return isinstance(exc, DiskFull) or (isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS)


def free_bytes(path: Path) -> int:
    """Free bytes (for an unprivileged user) on the filesystem holding ``path`` (or its nearest existing
    parent)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def room_short(path: Path, floor_bytes: int = FREE_FLOOR_BYTES) -> DiskFull | None:
    """A :class:`DiskFull` saying how much is missing when ``path``'s disk has less than ``floor_bytes``
    free; None when there is room."""
    free = free_bytes(path)
    return DiskFull(path, floor_bytes - free) if free < floor_bytes else None


_retries: dict[str, int] = {}
_retries_lock = threading.Lock()


def disk_full_delay_ms(key: str) -> int:
    """The back-off before trying ``key`` (a stage and its id) again after a full disk: doubled per try
    (:data:`DISK_FULL_RETRY_MS`); :func:`disk_full_over` starts it afresh."""
    first, last = DISK_FULL_RETRY_MS
    with _retries_lock:
        tries = _retries[key] = _retries.get(key, 0) + 1
    return int(min(last, first * 2 ** min(tries - 1, 16)))


def disk_full_over(key: str) -> None:
    """``key`` went through: its next full disk backs off from the start again."""
    with _retries_lock:
        _retries.pop(key, None)


def retry_when_room(exc: DiskFull, key: str, send: Callable[[int], object] | None, **about: object) -> None:
    """A stage (``key``: its name and id) found its disk full: warn with the plain message and have it tried
    again after a back-off through ``send(delay_ms)`` — a fresh message, so a full disk never uses up the
    queue's retries and ends in the dead letters. Without ``send`` (no broker here) ``exc`` is raised for the
    queue's own retries."""
    delay = disk_full_delay_ms(key)
    log.warning(
        "disk_full",
        path=exc.path,
        needed_bytes=exc.needed_bytes,
        retry_in_s=delay / 1000,
        detail=str(exc),
        work=key,
        **about,
    )
    if send is None:
        raise exc
    send(delay)
