"""An in-process test plant, for the plant's own tests and for yours (the way dramatiq ships a StubBroker).

Nothing here needs a test runner: use it from pytest fixtures, unittest's ``setUp`` or a script.

* :func:`write_config` writes a ``plant.toml`` (TOML text, or tables given as Python values);
  :func:`state_settings` loads settings with the state dir of your choice; :func:`configure` does both.
* :func:`open_plant` / :func:`close_plant` (or :func:`installed_plant`, a context manager) open a
  :class:`StubPlant` in this process and install it for the stage actors, so a test calls the stages
  itself (``preflight(submission_id)``, ``plan(submission_id)``, ``spool(job_id)`` …). A StubPlant records
  the messages a stage sends straight to the queue in :attr:`StubPlant.sent` instead of needing a broker.
* :func:`accept_batch` accepts a submission folder into it; :func:`plan_submission` pre-flights, routes and
  plans it; :func:`job_ids`, :func:`read_rows` and :func:`read_scalars` read the ledger back.
* :func:`open_session` runs the whole plant (Redis, a worker, the simulated devices) on your settings, with a
  :class:`Clock` you can move on; :func:`submit` hands it a submission.

Example::

    settings = configure(tmp_path, printers=[{"name": "press-1", "sheets_per_minute": 600}])[1]
    with installed_plant(settings) as plant:
        submission_id = plan_submission(accept_batch(plant, folder))
        assert job_ids(plant)
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import select

from plant.config import Settings, load_settings
from plant.intake.consent import import_registry
from plant.intake.submission import accept, intake, read_submission
from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.runtime.session import Session
from plant.stages.context import Plant, install
from plant.stages.plan import plan
from plant.stages.preflight import preflight
from plant.stages.route import route

__all__ = [
    "Clock",
    "StubPlant",
    "accept_batch",
    "close_plant",
    "configure",
    "device_name",
    "installed_plant",
    "job_ids",
    "open_plant",
    "open_session",
    "plan_submission",
    "plant_id",
    "read_rows",
    "read_scalars",
    "state_settings",
    "submit",
    "toml",
    "write_config",
]


# -- configuration -------------------------------------------------------------------------------------------
def toml(tables: Mapping[str, Any]) -> str:
    """``tables`` as TOML: plain values (str, int, float, bool, lists of them) as keys, a mapping as a
    ``[table]``, a list of mappings as an ``[[array]]`` of tables (``printers=[{"name": "press-1"}, …]``)."""
    plain = {k: v for k, v in tables.items() if not _is_table(v) and not _is_tables(v)}
    lines = [f"{key} = {_value(value)}" for key, value in plain.items()]
    for key, value in tables.items():
        if _is_table(value):
            lines += [f"[{key}]", toml(value).rstrip("\n")]
        elif _is_tables(value):
            for item in value:
                lines += [f"[[{key}]]", toml(item).rstrip("\n")]
    return "\n".join(line for line in lines if line) + "\n"


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_tables(value: Any) -> bool:
    return isinstance(value, list | tuple) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def write_config(folder: Path, text: str = "", **tables: Any) -> Path:
    """Write ``folder/plant.toml`` and return its path: ``text`` as it is (TOML), then ``tables`` rendered by
    :func:`toml` (keys of the file, ``[sweeps]``-like tables, ``[[printers]]``-like arrays of tables)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "plant.toml"
    path.write_text(text + (toml(tables) if tables else ""))
    return path


def state_settings(state_dir: Path, config: Path | None = None, **overrides: Any) -> Settings:
    """The settings of ``config`` (None: the embedded defaults) with their state dir at ``state_dir``, read
    without the process environment; ``overrides`` replace fields of the result (``printers=…``,
    ``database_url=…``)."""
    settings = load_settings(config, environ={"PLANT_STATE_DIR": str(state_dir)})
    return dataclasses.replace(settings, **overrides) if overrides else settings


def configure(folder: Path, text: str = "", **tables: Any) -> tuple[Path, Settings]:
    """:func:`write_config` in ``folder`` and the settings of that file with the state dir ``folder/state``:
    ``(config path, settings)``."""
    config = write_config(folder, text, **tables)
    return config, state_settings(folder / "state", config)


# -- a plant in this process ---------------------------------------------------------------------------------
@dataclass
class StubPlant(Plant):
    """A :class:`~plant.stages.context.Plant` whose queue is a list: what a stage sends straight to the queue
    (a follower's next look at a device) is recorded in :attr:`sent`, so no broker is needed. Messages written
    to the ledger's outbox stay there, as in every plant (read them with :func:`read_rows`)."""

    #: The messages sent straight to the queue, oldest first: ``(actor, args)``.
    sent: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    #: The submission :func:`accept_batch` accepted last (None before).
    submission_id: str | None = None

    def __post_init__(self) -> None:
        if self.sender is None:
            self.sender = self.record

    def record(self, actor: str, args: tuple[Any, ...], delay_ms: int = 0) -> None:
        """Record a message sent to the queue (the plant's ``sender``); the delay is not kept."""
        self.sent.append((actor, args))


def open_plant(
    settings: Settings, *, devices: bool = True, notify: Callable[[], None] | None = None
) -> StubPlant:
    """Open a :class:`StubPlant` on ``settings`` and install it for the stage actors of this process: the
    state dirs made, the ledger opened (and migrated), a driver for every configured device
    (``devices=False``: a plant without drivers, whatever the settings configure). No device runs; close it
    with :func:`close_plant`. ``notify`` is called after a stage commits outbox rows."""
    opened = StubPlant.open(
        settings if devices else dataclasses.replace(settings, printers=(), inserters=()), notify
    )
    plant = cast(StubPlant, opened)  # Plant.open builds the class it is called on
    plant.settings = settings
    install(plant)
    return plant


def close_plant(plant: Plant) -> None:
    """Uninstall ``plant`` and release its ledger's connections."""
    install(None)
    plant.close()


@contextmanager
def installed_plant(
    settings: Settings, *, devices: bool = True, notify: Callable[[], None] | None = None
) -> Iterator[StubPlant]:
    """:func:`open_plant` for a ``with`` block: the plant is closed and uninstalled when the block ends."""
    plant = open_plant(settings, devices=devices, notify=notify)
    try:
        yield plant
    finally:
        close_plant(plant)


def accept_batch(plant: Plant, submission: Path, consents: Path | None = None) -> str:
    """Accept the submission folder ``submission`` into ``plant``'s ledger (RECEIVED, nothing checked yet),
    after importing the consent registry ``consents`` when given; the submission id (also kept as
    ``plant.submission_id`` on a :class:`StubPlant`)."""
    if consents is not None:
        with plant.ledger.tx() as conn:
            import_registry(conn, consents)
    submission_id, _ = accept(plant.ledger.tx, plant.settings.blobs_dir, read_submission(submission))
    if isinstance(plant, StubPlant):
        plant.submission_id = submission_id
    return submission_id


def plan_submission(submission_id: str) -> str:
    """Pre-flight, route and plan ``submission_id`` through the installed plant's stages; returns the
    submission id."""
    preflight(submission_id)
    route(submission_id)
    plan(submission_id)
    return submission_id


# -- reading the ledger --------------------------------------------------------------------------------------
def read_rows(source: Any, statement: Any) -> list[Any]:
    """All rows of ``statement`` from the ledger of ``source``: a :class:`~plant.ledger.Ledger`, a plant, a
    running :class:`~plant.runtime.session.Session`, :class:`~plant.config.Settings` (a ledger is opened for
    the read and closed again), or anything with such a ``settings`` attribute."""
    ledger = _ledger(source)
    if ledger is not None:
        with ledger.read() as conn:
            return list(conn.execute(statement).all())
    settings = source if isinstance(source, Settings) else source.settings
    ledger = Ledger(settings.ledger_url)
    try:
        with ledger.read() as conn:
            return list(conn.execute(statement).all())
    finally:
        ledger.dispose()


def _ledger(source: Any) -> Ledger | None:
    if isinstance(source, Ledger):
        return source
    if isinstance(source, Plant):
        return source.ledger
    if isinstance(source, Session):
        return source.plant.ledger
    return None


def read_scalars(source: Any, statement: Any) -> list[Any]:
    """The first column of every row of ``statement`` (:func:`read_rows`)."""
    return [row[0] for row in read_rows(source, statement)]


def job_ids(source: Any, *where: Any) -> list[str]:
    """The ids of the print jobs matching ``where`` (all of them without), in plan order."""
    jobs = t.print_jobs.c
    return read_scalars(source, select(jobs.job_id).where(*where).order_by(jobs.number))


def plant_id(source: Any) -> str:
    """The plant id of ``source``'s ledger (what every device-visible name starts with): ``source`` is
    anything :func:`read_rows` reads, or the state dir (``Path``) of an embedded ledger."""
    from plant.ledger.schema_identity import plant_identity

    if isinstance(source, Path):
        source = state_settings(source)
    (found,) = read_scalars(source, select(plant_identity.c.plant_id))
    return str(found)


def device_name(source: Any, ledger_id: str) -> str:
    """The name a device knows job or run ``ledger_id`` of ``source``'s ledger by (``<plant id>-<ledger id>``,
    :func:`plant.model.device_name`): the stem of its files in a hot folder, a press's output, a cutter's or
    an inserter's folder. ``source`` as for :func:`plant_id`."""
    from plant.model import device_name as named

    return named(plant_id(source), ledger_id)


# -- the whole plant -----------------------------------------------------------------------------------------
class Clock:
    """The plant's clock in a test: the wall clock, ``offset`` seconds ahead; :meth:`advance` moves it on (so
    a sweep sees a device stopped for long enough without the test waiting)."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` on."""
        self.offset += seconds


def open_session(
    settings: Settings, config: Path | None = None, clock: Callable[[], float] | None = None
) -> Session:
    """The whole plant on ``settings`` (an embedded Redis unless the settings name one, a worker process,
    the simulated devices, the sweeps on ``clock``), without progress output; run it in a ``with`` block.
    ``config`` is the plant.toml the worker reads."""
    if clock is None:
        return Session(settings, config_path=config, progress=False)
    return Session(settings, config_path=config, progress=False, clock=clock)


def submit(session: Session, submission: Path) -> str:
    """Take the submission folder ``submission`` into a running session (as ``plant run`` does) and wake its
    relay; the submission id."""
    submission_id = intake(session.plant.ledger, session.settings, submission).submission_id
    session.relay.wake.set()
    return submission_id
