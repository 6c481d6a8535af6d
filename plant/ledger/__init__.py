"""The SQL ledger: the plant's single source of truth (SQLite by default, any SQLAlchemy URL by config).

The names below come from :mod:`plant.ledger.store`, loaded on first use: importing a part of the package (its
tables in ``schema``) does not load the engine code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plant.ledger.store import (
        Ledger,
        append_event,
        enqueue,
        move_entity,
        move_letter,
        move_letters,
        now,
        open_ledger,
    )

__all__ = [
    "Ledger",
    "append_event",
    "enqueue",
    "move_entity",
    "move_letter",
    "move_letters",
    "now",
    "open_ledger",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from plant.ledger import store

    value = getattr(store, name)
    globals()[name] = value
    return value
