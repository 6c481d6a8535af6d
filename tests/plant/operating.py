"""Helpers for the re-planning and operator tests: a plant in this process whose stages the test calls itself,
with the configured drivers (hot-folder presses nobody runs unless the test steps them), and ledger readers."""

from __future__ import annotations

import dataclasses
from collections import Counter

from sqlalchemy import select

from plant.config.sections import InserterConfig, PrinterConfig
from plant.fleet.devices import make_inserter_drivers, make_printer_drivers
from plant.intake.consent import import_registry
from plant.intake.submission import accept, read_submission
from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.stages.context import Plant, install
from plant.stages.plan import plan
from plant.stages.preflight import preflight
from plant.stages.route import route

#: Two presses and one inserter; small jobs so a batch makes several on each press.
FLEET = dict(
    printers=(
        PrinterConfig("press-1", sheets_per_minute=150.0),
        PrinterConfig("press-2", sheets_per_minute=150.0),
    ),
    inserters=(InserterConfig("ins-1", envelopes_per_hour=8000.0),),
    job_max_pieces=2,
)


def open_plant(settings, batch, fleet: bool = True) -> Plant:
    """A plant in this process with the batch accepted (not yet checked): drivers made, no device running.

    ``fleet``: use :data:`FLEET` instead of the settings' own devices. Messages a stage sends directly (a
    follower's next look) are recorded in ``plant.sent``.
    """
    settings = dataclasses.replace(settings, **FLEET) if fleet else settings
    for folder in (
        settings.blobs_dir,
        settings.spool_dir,
        settings.receipts_dir,
        settings.manifests_dir,
        settings.digital_outbox_dir,
    ):
        folder.mkdir(parents=True, exist_ok=True)
    for printer in settings.printers:
        (settings.printer_folder(printer)).mkdir(parents=True, exist_ok=True)
    ledger = Ledger(settings.ledger_url)
    current = Plant(
        settings=settings,
        ledger=ledger,
        printers=make_printer_drivers(settings),
        inserters=make_inserter_drivers(settings),
    )
    current.sent = []
    current.sender = lambda actor, args, delay: current.sent.append((actor, args))
    install(current)
    with ledger.tx() as conn:
        import_registry(conn, batch.consents)
    current.submission_id, _ = accept(ledger.tx, settings.blobs_dir, read_submission(batch.submission))
    return current


def close_plant(current: Plant) -> None:
    install(None)
    current.ledger.dispose()


def planned(current: Plant) -> str:
    """Check, route and plan the batch; return its submission id."""
    preflight(current.submission_id)
    route(current.submission_id)
    plan(current.submission_id)
    return current.submission_id


def rows(current: Plant, statement) -> list:
    with current.ledger.read() as conn:
        return conn.execute(statement).all()


def jobs(current: Plant, *where) -> list:
    """Print jobs (all columns), oldest first."""
    return rows(current, select(t.print_jobs).where(*where).order_by(t.print_jobs.c.number))


def pieces(current: Plant, *where) -> list:
    """Print pieces with their letter's pk, letter id, state and job."""
    return rows(
        current,
        select(
            t.pieces.c.piece_id,
            t.pieces.c.tracking_id,
            t.pieces.c.job_id,
            t.pieces.c.prints,
            t.letters.c.pk,
            t.letters.c.letter_id,
            t.letters.c.state,
            t.letters.c.reason_code,
            t.letters.c.reason,
        )
        .select_from(t.pieces.join(t.letters, t.letters.c.pk == t.pieces.c.letter_pk))
        .where(*where)
        .order_by(t.pieces.c.piece_id),
    )


def job_members(current: Plant, job_id: str) -> list[int]:
    """Piece ids of a job, in sheet order."""
    return [
        r.piece_id
        for r in rows(
            current,
            select(t.job_pieces.c.piece_id)
            .where(t.job_pieces.c.job_id == job_id)
            .order_by(t.job_pieces.c.seq),
        )
    ]


def events(current: Plant, pk: int) -> list[str]:
    """A letter's event names, in order."""
    return [
        r.event
        for r in rows(
            current,
            select(t.events.c.event)
            .where(t.events.c.entity == "letter", t.events.c.entity_id == str(pk))
            .order_by(t.events.c.id),
        )
    ]


def outbox(current: Plant, actor: str) -> Counter:
    """How often each argument tuple was queued for ``actor``."""
    return Counter(
        tuple(r.args) for r in rows(current, select(t.outbox.c.args).where(t.outbox.c.actor == actor))
    )
