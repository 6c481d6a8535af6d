"""The running plant: settings, ledger and device drivers composed once per process.

Stage actors reach the plant through :func:`current`, installed by the process that runs them (a worker, or a
test). Nothing here starts a device or a server by itself: it only opens what the settings name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import dramatiq.errors
import redis
import structlog

from inserters import Inserter
from plant.config import Settings
from plant.ledger import Ledger, enqueue
from printers import Printer

log = structlog.get_logger(__name__)

#: What a send raises while Redis is away.
REDIS_AWAY = (redis.ConnectionError, redis.TimeoutError, dramatiq.errors.BrokerConnectionError)


@dataclass
class Plant:
    """What a stage needs: the settings, the ledger, and a driver per printer and inserter."""

    settings: Settings
    ledger: Ledger
    printers: dict[str, Printer]
    inserters: dict[str, Inserter]
    #: Called after a stage commits outbox rows, so an in-process relay publishes them at once.
    notify: Callable[[], None] = field(default=lambda: None)
    #: Sends a message straight to the queue (only for polls, which change no state): (actor, args, delay_ms);
    #: what it returns (the broker's message) is not used.
    sender: Callable[[str, tuple[str, ...], int], object] | None = None
    #: The ledger's plant id: every name a device sees is ``<plant id>-<ledger id>`` (the drivers made by
    #: :meth:`open` translate; :mod:`plant.fleet.naming`). Empty in a plant made without :meth:`open`.
    plant_id: str = ""

    def send(self, actor: str, *args: str, delay_ms: int = 0) -> None:
        """Send ``actor(*args)`` now, bypassing the outbox: only for follow-up polls that change no state.

        While Redis is away (killed, restarting) the poll goes to the outbox instead, which the relay
        publishes when Redis is back: a poll lost there would break its chain until a quiet re-derive."""
        if self.sender is None:  # pragma: no cover - programmer error
            raise RuntimeError("this process has no broker; polls can only be sent from a worker")
        try:
            self.sender(actor, args, delay_ms)
        except REDIS_AWAY as exc:
            with self.ledger.tx() as conn:
                enqueue(conn, actor, *args, delay_ms=delay_ms)
            log.warning("poll_to_outbox", actor=actor, args=list(args), error=str(exc))
            self.notify()

    @classmethod
    def open(cls, settings: Settings, notify: Callable[[], None] | None = None) -> Plant:
        """Create the state dirs, open (and migrate) the ledger, and make the device drivers, which name every
        job and run on their devices with the ledger's plant id (created on the ledger's first start)."""
        from plant.fleet.devices import make_inserter_drivers, make_printer_drivers
        from plant.ledger.jobs import ensure_plant_id

        for folder in (
            settings.state_dir,
            settings.blobs_dir,
            settings.spool_dir,
            settings.receipts_dir,
            settings.manifests_dir,
            settings.digital_outbox_dir,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        ledger = Ledger(settings.ledger_url)
        plant_id = ensure_plant_id(ledger)
        return cls(
            settings=settings,
            ledger=ledger,
            printers=make_printer_drivers(settings, plant_id),
            inserters=make_inserter_drivers(settings, plant_id),
            notify=notify or (lambda: None),
            plant_id=plant_id,
        )

    def close(self) -> None:
        """Release the ledger's connections."""
        self.ledger.dispose()


_current: Plant | None = None


def install(plant: Plant | None) -> None:
    """Make ``plant`` the one the stage actors of this process use."""
    global _current
    _current = plant


def current() -> Plant:
    """The plant installed in this process."""
    if _current is None:  # pragma: no cover - programmer error
        raise RuntimeError("no plant installed in this process; call plant.runtime.install() first")
    return _current
