"""Where the plant keeps files: one storage interface (:mod:`.store`) with a folder backend (:mod:`.local`)
and a backend on the shared SQL database (:mod:`.database`, imported when chosen), and :func:`make_store`
choosing between them; content-addressed letter blobs and atomic writes (:mod:`.files`), and the folders of
the state directory that more than one area uses (:mod:`.paths`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plant.storage.local import LocalStore
from plant.storage.store import AREAS, CHUNK_SIZE, InvalidKey, Store, StoredObject

if TYPE_CHECKING:
    from plant.config import Settings

__all__ = ["AREAS", "CHUNK_SIZE", "InvalidKey", "LocalStore", "Store", "StoredObject", "make_store"]


def make_store(settings: Settings) -> Store:
    """The store ``settings`` ask for: the state directory's folders (``[storage] backend = "local"``, the
    default), or the ledger's database (``"database"``: PostgreSQL for machines that share it, SQLite on one
    machine) with the local copies of :meth:`Store.local_path` in ``<state_dir>/cache/storage``. (Here, not in
    :mod:`.store`, because it names both backends and they import :mod:`.store`.)"""
    from plant.config import StorageBackend

    if settings.storage.backend is StorageBackend.DATABASE:
        from plant.storage.database import DatabaseStore, database_engine

        return DatabaseStore(
            database_engine(settings.ledger_url), cache_dir=settings.state_dir / "cache" / "storage"
        )
    return LocalStore(settings.state_dir)
