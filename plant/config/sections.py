"""The sections of the plant's configuration: the fleet, id ranges, masses, postage, intake, marks, sweeps,
plan, SLA, reprint, queue, web and qa.

Each is a frozen dataclass whose defaults are the embedded ones; :mod:`plant.config.loader` builds them from
TOML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class PrinterDriver(StrEnum):
    """Printer drivers the plant can use."""

    SIMULATED = "simulated"
    HOTFOLDER = "hotfolder"
    CUPS = "cups"
    IPP = "ipp"


class InserterDriver(StrEnum):
    """Inserter drivers the plant can use."""

    SIMULATED = "simulated"


class LogFormat(StrEnum):
    """How log lines are written: ``auto`` is JSON when stderr is not a terminal."""

    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


class PrinterLayout(StrEnum):
    """How the impose stage puts a printer's jobs on its sheets (docs/imposition.md)."""

    #: One A4 leaf per A4 sheet.
    ONE_UP = "1up"
    #: Two A4 leaves on an A3 or SRA3 sheet in cut-and-stack order; the inserter line cuts them apart.
    CUT_STACK = "2up-cutstack"
    #: Two A4 lanes across a 520 mm continuous-feed web, cut into leaves before the inserter.
    WEB_2UP = "web-2up"


class SheetName(StrEnum):
    """Press sheets a printer can be loaded with."""

    A4 = "A4"
    A3 = "A3"
    SRA3 = "SRA3"
    #: One A4-long frame of a 520 mm web.
    WEB520 = "WEB520"


class DuplexMode(StrEnum):
    """Whether a printer prints sheet backs, and how the sheet turns between the sides."""

    SIMPLEX = "simplex"
    #: Work and turn: turned about the vertical axis.
    TURN = "turn"
    #: Work and tumble: tumbled about the horizontal axis.
    TUMBLE = "tumble"


#: Sheets each layout can print on; the first is the default.
LAYOUT_SHEETS = {
    PrinterLayout.ONE_UP: (SheetName.A4,),
    PrinterLayout.CUT_STACK: (SheetName.A3, SheetName.SRA3),
    PrinterLayout.WEB_2UP: (SheetName.WEB520,),
}
#: Default most press sheets in one cut stack: one guillotine lift of 80 g/m² paper, about 5 cm.
DEFAULT_STACK_DEPTH = 500
#: Fewest seconds a hot-folder printer's abandoned claim may be left before another submit takes it over.
ABANDONED_CLAIM_MIN_S = 1.0
#: Most seconds a hot-folder printer's abandoned claim may be left (a day).
ABANDONED_CLAIM_MAX_S = 86400.0


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
    #: CUPS server of a ``driver = "cups"`` printer: ``host:port`` or cupsd's socket path; required, no
    #: default.
    server: str | None = None
    #: CUPS queue of a ``driver = "cups"`` printer; default the printer's name.
    queue: str | None = None
    #: IPP printer of a ``driver = "ipp"`` printer: ``ipp://host:port/ipp/print``; required, no default.
    uri: str | None = None
    #: How the printer's jobs are imposed; N-up work is cut and stacked in front of the inserter.
    layout: PrinterLayout = PrinterLayout.ONE_UP
    #: Press sheet; default the layout's first (A4, A3, WEB520). See LAYOUT_SHEETS.
    sheet: SheetName | None = None
    #: Whether the press can print sheet backs and how it turns the sheet between sides. A capability:
    #: whether a job is printed duplex is its letters' choice (manifest ``duplex``); a duplex press prints
    #: simplex jobs one-sided, and only a duplex press gets duplex jobs.
    duplex: DuplexMode = DuplexMode.SIMPLEX
    #: Most press sheets in one cut stack (N-up layouts); stacks close on a piece boundary.
    stack_depth: int = DEFAULT_STACK_DEPTH
    #: IPP ``sides`` sent with duplex jobs (device-specific); default two-sided-long-edge for turn,
    #: -short-edge for tumble.
    sides: str | None = None
    #: Hot-folder and simulated printers: seconds after which a job claimed in the folder whose ticket was
    #: never written (its submitter died on another host) is taken over by the next submit; none = the
    #: driver's own default (120 s). From 1 to 86400.
    abandoned_claim_s: float | None = None

    @property
    def sheet_name(self) -> SheetName:
        """The press sheet in use: the configured one, else the layout's default."""
        return self.sheet or LAYOUT_SHEETS[self.layout][0]

    @property
    def can_duplex(self) -> bool:
        """Whether the press prints both sides of a sheet (turn or tumble), so duplex jobs may go to it."""
        return self.duplex is not DuplexMode.SIMPLEX


@dataclass(frozen=True)
class InserterConfig:
    """One envelope inserter of the fleet."""

    name: str
    driver: InserterDriver = InserterDriver.SIMULATED
    envelopes_per_hour: float = 6000.0
    #: Most sheets one envelope of this inserter takes.
    max_sheets: int = 6
    folder: Path | None = None
    #: Speed of the cutter/stacker in front of the inserter, which cuts N-up work into leaves: press
    #: sheets/minute.
    cutter_sheets_per_minute: float = 300.0
    #: Simulated cutter: its lifetime sheet numbers that misfeed and are destroyed by the knife.
    cutter_destroys: tuple[int, ...] = ()
    #: Simulated cutter: its lifetime sheet numbers that misfeed and land out of sequence in their stack.
    cutter_misfeeds: tuple[int, ...] = ()


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
    """One tariff row: pieces up to ``up_to_g`` grams (inclusive) of ``mail_class`` ("" = any class) cost
    ``tariff``."""

    up_to_g: int
    #: Price in the postage currency as a decimal string, e.g. "29.50".
    tariff: str
    mail_class: str = ""


#: Example tariff table shipped as the default; currency XXX ("no currency") until a real one is configured.
DEFAULT_WEIGHT_BANDS = (
    WeightBandConfig(20, "1.00"),
    WeightBandConfig(50, "1.50"),
    WeightBandConfig(100, "2.00"),
    WeightBandConfig(250, "3.00"),
    WeightBandConfig(500, "4.50"),
    WeightBandConfig(1000, "6.00"),
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
    """Intake: the pre-flight sandbox's limits and checks, the digital channel and the drop folder
    (docs/intake.md)."""

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

    The tracking barcode and the postage mark must show in the window of the envelope stock in use (DIN 680
    DL/C5 window: 90 × 45 mm, 20 mm from the left and 15 mm from the bottom), inside the letter's address
    field.
    """

    #: The per-sheet control DataMatrix (left margin near the bottom by default).
    control_zone_mm: tuple[float, ...] = (6.0, 250.0, 12.0, 12.0)
    #: The tracking Code 128 with its text, under the address in the DIN 5008 form-B field.
    tracking_zone_mm: tuple[float, ...] = (24.0, 81.0, 70.0, 8.5)
    #: The postage mark, at the right end of the address field clear of the return line.
    postage_zone_mm: tuple[float, ...] = (88.0, 45.5, 16.5, 16.5)


#: Fewest seconds between two timed sweeps (a sweep is two indexed queries; more often only loads the ledger).
SWEEP_INTERVAL_MIN_S = 1.0
#: Most seconds between two timed sweeps: a mark is annulled, a letter printed, at most this late.
SWEEP_INTERVAL_MAX_S = 3600.0


@dataclass(frozen=True)
class SweepsConfig:
    """The timed rules a running plant applies by itself (:mod:`plant.sweeps`): the postage marks' hand-in
    expiry and the digital letters' fallback to print."""

    #: Seconds between two sweeps of the ledger, from 1 to 3600.
    interval_s: float = 60.0


#: Fewest seconds a submission, job or run must stand still before the recovery sweep calls it stranded (work
#: with a message in the queue is never stranded; a re-derived message is harmless, but counted towards
#: :attr:`RecoveryConfig.max_rederive`).
STALE_AFTER_MIN_S = 1.0
#: Most seconds work may stand still before it is re-derived (a day).
STALE_AFTER_MAX_S = 86400.0
#: Most re-derivations of one stranded submission, job or run before it is ended with a reason.
MAX_REDERIVE_MAX = 100


@dataclass(frozen=True)
class RecoveryConfig:
    """The recovery sweep (:mod:`plant.stages.recover`): work left stranded — its message lost or
    dead-lettered after its retries — is re-derived from the ledger, then ended with a reason."""

    #: Seconds a submission, job or run with no message in the queue may stand still before its next message
    #: is re-derived (and between two re-derivations), from 1 to 86400.
    stale_after_s: float = 600.0
    #: Re-derivations of one stranded submission, job or run (since it last moved) before the sweep ends it:
    #: its pieces UNACCOUNTED when paper may exist, FAILED when its work cannot start; 0 ends it at once.
    max_rederive: int = 3


#: Fewest seconds a press must stay stopped before its work not yet on it is planned elsewhere.
REPLAN_AFTER_MIN_S = 1.0
#: Most seconds a stopped press may keep its work before the plant plans it elsewhere (a day).
REPLAN_AFTER_MAX_S = 86400.0


#: Fewest seconds the plan stage's scheduler may search for a plan.
PLAN_TIME_LIMIT_MIN_S = 0.01
#: Most seconds the plan stage's scheduler may search (a stage holds a worker thread that long).
PLAN_TIME_LIMIT_MAX_S = 60.0


@dataclass(frozen=True)
class PlanConfig:
    """The plan stage's search budget and re-planning rules (docs/operations.md)."""

    #: Seconds a press may report itself stopped before the plant takes it out of the plan: its jobs not yet
    #: on the press are planned again on the presses that are up, and new work avoids it until it runs again.
    replan_after_s: float = 300.0
    #: Seconds the scheduler may search for a better plan of one submission's pieces, from 0.01 to 60.
    time_limit_s: float = 0.2


#: Most hours a service level may allow from receipt to dispatch (a year).
SLA_HOURS_MAX = 8760.0


@dataclass(frozen=True)
class SlaTarget:
    """The service level of one kind of piece (today: one mail class); later also its daily cut-off."""

    #: Hours from a letter's receipt to the collection its piece must make (its due time), > 0 and ≤ 8760.
    hours: float


@dataclass(frozen=True)
class SlaConfig:
    """Service levels: when a piece is due, counted from its letter's receipt (the plan stage plans to meet
    it).

    A piece takes its mail class's entry in ``mail_class``, else ``default_hours``. Per-sender levels and
    cut-offs are meant to join as further tables beside ``mail_class``.
    """

    #: Hours from receipt to dispatch of a piece whose mail class has no entry below, > 0 and ≤ 8760.
    default_hours: float = 24.0
    #: Per mail class (as the manifest's ``mail_class`` column writes it): its own service level.
    mail_class: dict[str, SlaTarget] = field(
        default_factory=lambda: {"priority": SlaTarget(hours=8.0)}, hash=False
    )

    def due_after_s(self, mail_class: str) -> int:
        """Seconds from receipt within which a piece of ``mail_class`` must be dispatched."""
        target = self.mail_class.get(mail_class)
        return round(3600 * (target.hours if target is not None else self.default_hours))


#: Most times the plant prints one piece when it may reprint at all.
MAX_PRINTS_MAX = 10


@dataclass(frozen=True)
class ReprintConfig:
    """What the plant does with a spoiled piece: print it again with the same ids, up to a limit."""

    #: Most prints of one piece (its first print and the reprints), from 1 (never reprint) to 10; a piece
    #: spoiled that often is FAILED (``SPOILED_REPEATEDLY``) for an operator to look at.
    max_prints: int = 3


@dataclass(frozen=True)
class QueueConfig:
    """The stage messages on Redis (dramatiq) and the outbox relay that publishes them (docs/operations.md).

    ``worker_threads`` and ``queue_prefetch`` stay top-level keys of plant.toml.
    """

    #: Seconds without a heartbeat after which a dead worker's un-acknowledged messages are queued again,
    #: from 5 to 3600.
    heartbeat_timeout_s: float = 15.0
    #: Times a stage that raised is retried before its message is dead-lettered, from 0 to 1000.
    max_retries: int = 20
    #: Seconds before the first retry of a failed stage, from 0.001 up to ``max_backoff_s``.
    min_backoff_s: float = 0.2
    #: Most seconds between two retries (the back-off doubles up to this), up to 86400.
    max_backoff_s: float = 10.0
    #: Seconds after which an outbox row claimed by a relay that then died is claimed again, from 1 to 3600.
    relay_reclaim_s: float = 30.0
    #: Most outbox rows one relay pass publishes, from 1 to 100000.
    relay_batch: int = 500
    #: Attempts at a job-level error of no one letter's making (a job that cannot be imposed) before the job
    #: is FAILED and its letters are held for an operator, from 1 to 100.
    job_attempts: int = 3
    #: Most letters one pre-flight or route message handles; the stage then asks for itself again (with the
    #: same transaction) until none are left, from 1 to 100000.
    chunk_letters: int = 500


#: Fewest seconds between two refreshes of an open page (each refresh is a few indexed reads of the ledger).
WEB_REFRESH_MIN_S = 0.2
#: Most seconds between two refreshes of an open page.
WEB_REFRESH_MAX_S = 3600.0


@dataclass(frozen=True)
class WebConfig:
    """``plant serve``: the pages and JSON API (:mod:`plant.web`), and who may act from them."""

    #: Address to listen on; loopback by default, since the pages have no login yet.
    host: str = "127.0.0.1"
    #: TCP port; 0 takes any free port (printed on start).
    port: int = 8080
    #: Seconds between two refreshes of an open queue, submission or dashboard page.
    refresh_s: float = 3.0
    #: Operators who may act from the pages (hold, release, cancel, pull, device down/up) and their scrypt
    #: password hashes, one ``name:hash`` a line, written by ``plant web add-operator NAME``; empty = no
    #: actions at all.
    operators_file: Path | None = None
    #: Whether the operators' session cookie is sent over HTTPS only (its ``Secure`` flag): set true when the
    #: pages are served behind TLS; false (the default) lets the login work on plain http://127.0.0.1.
    cookie_https_only: bool = False


class QaGrade(StrEnum):
    """An ISO/IEC 15415 letter grade, as the QA station's minimum is written in plant.toml (``"C"``)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    F = "F"


@dataclass(frozen=True)
class QaConfig:
    """The QA station (``plant qa``, :mod:`plant.qa`): what a sampled piece must meet."""

    #: Lowest print-quality grade a DataMatrix on a sample may have and pass (C: the usual floor for
    #: production symbols read by machines downstream).
    min_grade: QaGrade = QaGrade.C


class StorageBackend(StrEnum):
    """Where the plant keeps its files (docs/storage.md)."""

    #: Folders of the state directory: the embedded default, for a plant on one machine.
    LOCAL = "local"
    #: Tables of the ledger's database: PostgreSQL for machines that share it (no shared filesystem), or
    #: SQLite on one machine.
    DATABASE = "database"


@dataclass(frozen=True)
class StorageConfig:
    """The plant's storage of letter blobs, print files, overlays, receipts, manifests and the digital outbox
    (:mod:`plant.storage.store`)."""

    #: ``"local"`` (the state directory) or ``"database"`` (the ledger's database, shared by every machine).
    backend: StorageBackend = StorageBackend.LOCAL
