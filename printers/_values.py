"""Typed reads of values that arrive untyped: JSON files a device writes, IPP attributes a printer answers.

Each function takes what the builtin it stands for (``int()``, iteration, indexing) takes and raises TypeError
for a value of the wrong kind, as that builtin would: a malformed file or answer fails as it always did, and
the static type says what a value is once read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import SupportsIndex, SupportsInt


def as_int(value: object) -> int:
    """``int(value)``: an integer, bool or float, or digits as text or bytes (TypeError for anything else)."""
    if isinstance(value, (str, bytes, bytearray, SupportsInt, SupportsIndex)):
        return int(value)
    raise TypeError(
        f"int() argument must be a string, a bytes-like object or a real number, not {type(value).__name__!r}"
    )


def as_items(value: object) -> Iterable[object]:
    """``value`` as the iterable it must be (a JSON array, an IPP 1setOf; TypeError for anything else)."""
    if isinstance(value, Iterable):
        return value
    raise TypeError(f"{type(value).__name__!r} object is not iterable")


def as_record(value: object) -> Mapping[str, object]:
    """``value`` as the mapping it must be (a JSON object; TypeError for anything else)."""
    if isinstance(value, Mapping):
        return value
    raise TypeError(f"expected a JSON object, got {type(value).__name__!r}")
