"""The SQL ledger: the plant's single source of truth (SQLite by default, any SQLAlchemy URL by config)."""

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

__all__ = ["Ledger", "append_event", "enqueue", "move_entity", "move_letter", "move_letters", "now", "open_ledger"]
