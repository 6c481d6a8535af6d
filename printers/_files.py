"""Crash-safe file writes shared by the hot-folder driver and the simulated press.

A device (or RIP) that watches a folder reacts the moment a name appears, so a file must never be visible
under its final name before its last byte is on disk: we write a hidden temp file in the same directory,
fsync it, `os.replace` it into place and fsync the directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

#: Suffix of temp files; with the leading dot it keeps them out of every `*.pdf` / `*.json` a device globs.
TEMP_SUFFIX = ".part"


def _temp_path(path: Path) -> Path:
    """A hidden, unique temp name next to `path` (same directory, so the final rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry change (a rename or unlink) to disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """Write a complete, fsynced temp file next to `path` and return its name (`write`'s result is unused)."""
    temp = _temp_path(path)
    try:
        with open(temp, "xb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Create or replace `path` with what `write` puts into a file handle, all or nothing (its result is
    unused)."""
    temp = _write_temp(path, write)
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_json(path: Path, data: object) -> None:
    """Create or replace `path` with `data` as JSON, all or nothing."""
    payload = json.dumps(data, indent=1, sort_keys=True).encode()
    atomic_write(path, lambda handle: handle.write(payload))


def atomic_copy(source: Path, target: Path) -> None:
    """Copy `source` to `target`, all or nothing (the source may be large: it is streamed)."""
    with open(source, "rb") as src:
        atomic_write(target, lambda handle: shutil.copyfileobj(src, handle))


def create_json_exclusive(path: Path, data: object) -> bool:
    """Create `path` with `data` as JSON unless it exists; return False if it did.

    A hard link refuses an existing name, so two writers racing for the same name get exactly one winner.
    """
    return create_exclusive(path, json.dumps(data, indent=1, sort_keys=True).encode())


def create_exclusive(path: Path, payload: bytes) -> bool:
    """Create `path` holding `payload` unless the name exists; False (nothing written) if it did.

    The bytes go to a complete, fsynced temp file first, then a hard link gives it the final name: a link
    never replaces, so of two writers racing for the name exactly one wins, and no reader sees half a file.
    """
    temp = _write_temp(path, lambda handle: handle.write(payload))
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


def filesystem_now(directory: Path) -> float:
    """The time by the clock that stamps files in `directory` (a shared folder may be served by another
    machine whose clock differs from ours): the modification time of a probe file created there."""
    temp = _write_temp(directory / ".clock", lambda handle: None)
    try:
        return temp.stat().st_mtime
    finally:
        temp.unlink(missing_ok=True)


def read_json(path: Path) -> object | None:
    """The JSON in `path`, or None if there is no such file (ValueError if it is not valid JSON)."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    data: object = json.loads(text)
    return data


def remove(*paths: Path) -> None:
    """Remove files that may already be gone, then flush their directories."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    for directory in {path.parent for path in paths}:
        with contextlib.suppress(FileNotFoundError):
            fsync_dir(directory)
