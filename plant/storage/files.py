"""Content-addressed storage of accepted bytes: every file is kept under its SHA-256."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path


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
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(temp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, target)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
