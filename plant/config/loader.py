"""A typed TOML loader: builds frozen dataclasses from tables, refusing unknown keys and ill-typed values with
a
:class:`~plant.errors.ConfigError` that names the key and what is allowed."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from plant.errors import ConfigError


def _build(cls: type, raw: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from the mapping ``raw``, refusing unknown keys and ill-typed values."""
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{prefix.rstrip('.') or 'the file'} must be a table of keys.", key=prefix.rstrip(".")
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"Unknown key {prefix}{unknown[0]!s} in the configuration; allowed keys here: "
            f"{', '.join(sorted(fields))}.",
            key=f"{prefix}{unknown[0]}",
        )
    missing = [
        name
        for name, f in fields.items()
        if name not in raw and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(
            f"{prefix.rstrip('.')} needs the key {missing[0]}; required here: {', '.join(missing)}.",
            key=f"{prefix}{missing[0]}",
        )
    values = {name: _coerce(hints[name], value, f"{prefix}{name}") for name, value in raw.items()}
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Turn the TOML/environment ``value`` into ``hint``'s type or raise a ConfigError naming ``key``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or value == "":
            return None
        return _coerce(options[0], value, key)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list (an array in TOML).", key=key)
        return tuple(_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        item = typing.get_args(hint)[1]
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a table of names (a [{key}] table in TOML).", key=key)
        return {name: _coerce(item, v, f"{key}.{name}") for name, v in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, prefix=f"{key}.")
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        try:
            return hint(value)
        except ValueError:
            allowed = ", ".join(m.value for m in hint)
            raise ConfigError(f"{key} = {value!r} is not allowed; use one of: {allowed}.", key=key) from None
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key} must be a path (a non-empty string).", key=key)
        return Path(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} = {value!r}: use true or false.", key=key)
        return value
    if hint in (int, float):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (hint is int and isinstance(value, float))
        ):
            kind = "a whole number" if hint is int else "a number"
            raise ConfigError(f"{key} = {value!r}: use {kind}.", key=key)
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} = {value!r}: use a string.", key=key)
        return value
    raise ConfigError(
        f"{key} has an unsupported type {hint}.", key=key
    )  # pragma: no cover - programmer error
