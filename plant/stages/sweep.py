"""Actor ``sweep(sweep_id)``: apply the timed rules (postage-mark expiry, digital fallback, handover
manifests past their cut-off, presses and inserters stopped longer than ``plan.replan_after_s``, and the
recovery of stranded work with the dead-letter alert, :mod:`plant.stages.recover`) as of the sweep's time.

A manifest is closed at its cut-off by the sweep, not only by the next dispatch after it (there may be none
until the next day: the day's last collection would stay OPEN): every OPEN manifest whose cut-off is at or
before the sweep's time is CLOSED (:func:`plant.stages.dispatch.close_expired`, by compare-and-set, so a
dispatch and a sweep closing it at once close it once) and its files are written again atomically under its
lock, their JSON saying CLOSED. A manifest closed whose files were not written (a full disk, a crash between
the two) is written by the next sweep: the JSON of every manifest closed within :data:`REWRITE_WINDOW_S` is
checked.

A running plant's :class:`plant.runtime.sweeps.Sweeper` claims a sweep every ``sweeps.interval_s`` and writes
this message; the id is the sweep's time, so a redelivered message judges by the same time and finds its work
done (both rules move by compare-and-set). Letters sent to print leave ``plan`` and ``receipts`` messages in
the outbox.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog
from sqlalchemy import select

from plant.config import Settings
from plant.errors import DiskFull
from plant.intake.digital import fall_back_due
from plant.ledger import Ledger
from plant.ledger import schema_dispatch as td
from plant.postage.marks import expire_marks
from plant.stages.context import Plant, current
from plant.stages.dispatch import close_expired, manifest_path, write_manifests
from plant.stages.recover import queue_view, run_recovery
from plant.stages.replan import watch_devices

log = structlog.get_logger(__name__)

#: Seconds after its cut-off a CLOSED manifest's JSON is still checked by each sweep (and written again when
#: it does not say CLOSED): a week.
REWRITE_WINDOW_S = 7 * 86400.0


def sweep(sweep_id: str) -> None:
    """Apply the timed rules as of ``float(sweep_id)``; wake the relay when letters went to print."""
    plant = current()
    result = run_sweep(plant.ledger, plant.settings, float(sweep_id))
    if result.to_print:
        plant.notify()
    watch_devices(plant, float(sweep_id))  # a device stopped too long: its work not yet on it goes elsewhere
    recovered = run_recovery(plant.ledger, plant.settings, float(sweep_id), queue_view())
    if recovered.rederived or recovered.ended:  # stranded work re-derived or ended: its messages to the relay
        plant.notify()


# -- the rules -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepResult:
    """What one sweep did: the pieces whose marks it annulled, the digital letters (pks) it sent to print
    and the manifests it closed at their cut-off."""

    at: float
    annulled: tuple[str, ...] = ()
    to_print: tuple[int, ...] = ()
    closed: tuple[str, ...] = ()


def run_sweep(ledger: Ledger, settings: Settings, at: float) -> SweepResult:
    """Apply the timed rules of the ledger as of ``at`` and log the counts; safe to repeat and to run
    concurrently."""
    with ledger.tx() as conn:
        annulled = expire_marks(conn, settings, at=at)
    to_print = fall_back_due(ledger, settings, at=at)
    closed = close_manifests(ledger, settings, at)
    log.info("swept", at=_iso(at), annulled=len(annulled), to_print=len(to_print), closed=len(closed))
    return SweepResult(at, tuple(annulled), tuple(to_print), closed)


def close_manifests(ledger: Ledger, settings: Settings, at: float) -> tuple[str, ...]:
    """Close every OPEN manifest whose cut-off is at or before ``at`` and write its files (CSV and JSON,
    atomically, under its lock); also write again those of a manifest closed earlier whose JSON does not say
    so yet. The ids this sweep closed. A full disk leaves the files to the next sweep (logged)."""
    m = td.manifests.c
    with ledger.tx() as conn:
        closed = close_expired(conn, at)
        recent = list(
            conn.execute(
                select(m.manifest_id)
                .where(m.state == td.CLOSED, m.cutoff_at > at - REWRITE_WINDOW_S)
                .order_by(m.manifest_id)
            ).scalars()
        )
    folder = settings.manifests_dir
    unwritten = [key for key in recent if key in closed or not _says_closed(folder, key)]
    if unwritten:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            write_manifests(Plant(settings=settings, ledger=ledger, printers={}, inserters={}), unwritten)
        except DiskFull as exc:
            log.error("manifest_files_not_written", manifests=unwritten, error=str(exc))
    if closed:
        log.info("manifests_closed", at=_iso(at), manifests=closed)
    return tuple(closed)


def _says_closed(folder: Path, key: str) -> bool:
    """Whether manifest ``key``'s JSON file is there and says CLOSED."""
    try:
        document = json.loads(manifest_path(folder, key, ".json").read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and document.get("state") == td.CLOSED


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")
