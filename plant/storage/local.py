"""The folder backend of :class:`~plant.storage.store.Store`: every key is a file under one root (the state
directory, so ``blobs/…`` is ``<state_dir>/blobs/…`` as before). The embedded default; machines do not share
it."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from plant.errors import DiskFull, StoredObjectMissing
from plant.storage.files import is_disk_full
from plant.storage.store import AREAS, Source, StoredObject, check_key, check_prefix, chunks_of


class LocalStore:
    """Objects as files under ``root``; a put writes a temp file beside the target, fsyncs it and renames it
    over the target (then fsyncs the folder), so a reader sees the old file or the new one, never part of
    one."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def path(self, key: str) -> Path:
        """The file of ``key`` (which need not exist)."""
        return self.root / check_key(key)

    def _existing(self, key: str) -> Path:
        path = self.path(key)
        if not path.is_file():
            raise StoredObjectMissing(key, self.root)
        return path

    def put(self, key: str, data: Source) -> StoredObject:
        target = self.path(key)
        temp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        digest = hashlib.sha256()
        size = 0
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(temp, "wb") as fh:
                for piece in chunks_of(data):
                    fh.write(piece)
                    digest.update(piece)
                    size += len(piece)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, target)
        except BaseException as exc:  # a failing source or disk: no partial file, the old one stays
            temp.unlink(missing_ok=True)
            if isinstance(exc, OSError) and is_disk_full(exc):
                raise DiskFull(target, size) from exc
            raise
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return StoredObject(key, size, digest.hexdigest())

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self.path(key), "rb")  # noqa: SIM115 — the caller closes the stream
        except (FileNotFoundError, IsADirectoryError):
            raise StoredObjectMissing(key, self.root) from None

    def read(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int:
        return self._existing(key).stat().st_size

    def delete(self, key: str) -> bool:
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        check_prefix(prefix)
        folder, _, start = prefix.rpartition("/")
        yield from self._walk(
            self.root / folder if folder else self.root, f"{folder}/" if folder else "", start
        )

    def _walk(self, folder: Path, base: str, start: str) -> Iterator[str]:
        """Keys under ``folder`` (named ``base``…) whose first part starts with ``start``, in string order: a
        sub-folder sorts as its name + '/', so its keys come exactly where their strings do."""
        try:
            with os.scandir(folder) as entries:
                found = [
                    (e.name + "/" if e.is_dir(follow_symlinks=False) else e.name, e.is_file())
                    for e in entries
                    if e.name.startswith(start) and not e.name.startswith(".")
                ]
        except (FileNotFoundError, NotADirectoryError):
            return
        for name, is_file in sorted(found):
            if name.endswith("/"):
                if base or name[:-1] in AREAS:
                    yield from self._walk(folder / name[:-1], base + name, "")
            elif is_file and base:
                yield base + name

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        yield self._existing(key)
