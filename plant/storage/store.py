"""One storage interface for everything a second machine of the plant needs: letter blobs, print files,
overlays, receipts, manifests and the digital outbox (docs/storage.md).

A :class:`Store` keeps objects under keys: relative paths under one of the :data:`AREAS`
(``blobs/ab/cd/<sha256>.pdf``, ``spool/<job>.pdf``, ``receipts/<submission>.csv`` …). Two backends
implement it: the state directory's folder (:class:`~plant.storage.local.LocalStore`, the embedded default)
and tables of the SQL database the machines share (:class:`~plant.storage.database.DatabaseStore`);
:func:`plant.storage.make_store` picks one from ``[storage] backend``.

Every put is streamed in :data:`CHUNK_SIZE` pieces (never the whole object in memory), atomic (a reader sees
the whole new object or the old one, never part of one) and idempotent (the same bytes again change nothing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

#: The first part of every key: where in the plant an object belongs.
AREAS = frozenset({"blobs", "spool", "overlays", "receipts", "manifests", "outbox"})
#: Bytes read from a source, written to a file or kept in one database row at a time.
CHUNK_SIZE = 2**20
#: Longest key taken (bytes of UTF-8), well inside every filesystem's path limit.
MAX_KEY_BYTES = 1024

#: What ``put`` takes: the bytes themselves, or a binary file object read to its end in chunks.
Source = bytes | bytearray | memoryview | BinaryIO


class InvalidKey(ValueError):
    """A storage key that is not a relative path under one of the :data:`AREAS` (a programming error: keys are
    made by the plant, never typed by a user)."""


@dataclass(frozen=True)
class StoredObject:
    """What a put stored: the key, its size in bytes and the SHA-256 of its bytes (hex)."""

    key: str
    size: int
    sha256: str


@runtime_checkable
class Store(Protocol):
    """Objects under keys (see the module's docstring). Every method validates its key (:func:`check_key`) and
    raises :class:`~plant.errors.StoredObjectMissing` for a key that names nothing, except ``exists`` and
    ``delete``."""

    def put(self, key: str, data: Source) -> StoredObject:
        """Store ``data`` under ``key`` (replacing what was there), streamed, all or nothing."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the object; close it (or use ``with``) when done."""
        ...

    def read(self, key: str) -> bytes:
        """The whole object as bytes: for small objects (receipts, envelopes, manifests)."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    def size(self, key: str) -> int:
        """The object's size in bytes."""
        ...

    def delete(self, key: str) -> bool:
        """Remove the object; False when there was none."""
        ...

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with ``prefix`` (plain string prefix), in sorted order, streamed page by page."""
        ...

    def local_path(self, key: str) -> AbstractContextManager[Path]:
        """A local file holding the object, for consumers that need a path (CUPS submits a file). Do not
        write to it."""
        ...


def check_key(key: str) -> str:
    """``key`` when it is a relative path ``<area>/<name>[/<name>…]`` under one of the :data:`AREAS`, else
    :class:`InvalidKey` saying what is wrong."""
    if not isinstance(key, str):
        raise InvalidKey(f"storage key {key!r} is not a string")
    problem = _key_problem(key)
    if problem:
        raise InvalidKey(
            f"storage key {key!r} {problem}; use a relative path <area>/<name> under one of "
            f"{', '.join(sorted(AREAS))}, parts joined by '/'"
        )
    return key


def _key_problem(key: str) -> str | None:
    if not key:
        return "is empty"
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return f"is longer than {MAX_KEY_BYTES} bytes"
    if key.startswith("/") or (len(key) > 1 and key[1] == ":"):
        return "is an absolute path"
    if "\\" in key or "\x00" in key or any(ord(c) < 32 for c in key):
        return "holds a backslash or a control character"
    parts = key.split("/")
    if ".." in parts:
        return "climbs out of its area with '..'"
    if any(part == "" for part in parts):
        return "has an empty part ('//' or a trailing '/')"
    if any(part.startswith(".") for part in parts):
        return "has a part starting with '.' (kept for temporary files)"
    if parts[0] not in AREAS:
        return f"is in no area ({parts[0]!r})"
    if len(parts) < 2:
        return "names an area, not an object in it"
    return None


def check_prefix(prefix: str) -> str:
    """``prefix`` when it can start a key: empty (everything), or ``<area>…`` without '..' or a leading
    '/'."""
    if prefix == "":
        return prefix
    if "/" not in prefix and any(a.startswith(prefix) for a in AREAS):
        return prefix
    problem = _key_problem(prefix + "x" if prefix.endswith("/") else prefix)
    if problem:
        raise InvalidKey(f"storage prefix {prefix!r} {problem}; list under one of {', '.join(sorted(AREAS))}")
    return prefix


def chunks_of(data: Source, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes | memoryview]:
    """``data`` in pieces of at most ``chunk_size`` bytes: slices of bytes in memory, or reads of a binary
    file object until its end (only one piece is held at a time)."""
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data).cast("B")
        for start in range(0, len(view), chunk_size):
            yield view[start : start + chunk_size]
        return
    read = data.read
    while True:
        piece = read(chunk_size)
        if not piece:
            return
        if not isinstance(piece, bytes | bytearray | memoryview):
            raise TypeError(f"put() needs bytes or a binary file object; read() gave {type(piece).__name__}")
        yield piece


def file_digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 (hex) of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while piece := fh.read(CHUNK_SIZE):
            digest.update(piece)
            size += len(piece)
    return size, digest.hexdigest()
