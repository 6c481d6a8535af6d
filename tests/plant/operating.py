"""Helpers for the re-planning and operator tests: a plant in this process whose stages the test calls
itself, with the configured drivers (hot-folder presses nobody runs unless the test steps them), and ledger
readers (on :mod:`plant.testing`)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select

from plant import testing
from plant.config.sections import InserterConfig, PrinterConfig
from plant.ledger import schema as t
from plant.stages.context import Plant
from plant.testing import StubPlant, accept_batch, close_plant, plan_submission, read_rows, read_scalars

#: Two presses and one inserter; small jobs so a batch makes several on each press.
FLEET = dict(
    printers=(
        PrinterConfig("press-1", sheets_per_minute=150.0),
        PrinterConfig("press-2", sheets_per_minute=150.0),
    ),
    inserters=(InserterConfig("ins-1", envelopes_per_hour=8000.0),),
    job_max_pieces=2,
)

#: The plant.toml tables of the re-planning session tests: small jobs, a sweep every second, a device out of
#: the plan after 300 s stopped (by the plant's clock); :data:`PRESS_1` and :data:`INS_1` to build fleets of.
SESSION = dict(job_max_pieces=2, sweeps={"interval_s": 1}, plan={"replan_after_s": 300})
PRESS_1 = {"name": "press-1", "sheets_per_minute": 600}
INS_1 = {"name": "ins-1", "envelopes_per_hour": 36000}


def open_plant(settings, batch, fleet: bool = True) -> StubPlant:
    """A plant in this process with the batch accepted (not yet checked): drivers made, no device running.

    ``fleet``: use :data:`FLEET` instead of the settings' own devices. Messages a stage sends directly (a
    follower's next look) are recorded in ``plant.sent``.
    """
    settings = dataclasses.replace(settings, **FLEET) if fleet else settings
    for printer in settings.printers:
        (settings.printer_folder(printer)).mkdir(parents=True, exist_ok=True)
    current = testing.open_plant(settings)
    accept_batch(current, batch.submission, batch.consents)
    return current


@contextmanager
def operating(settings, batch, fleet: bool = True) -> Iterator[StubPlant]:
    """:func:`open_plant` for a ``with`` block (a fixture's body): closed when the block ends."""
    current = open_plant(settings, batch, fleet)
    try:
        yield current
    finally:
        close_plant(current)


def planned(current: Plant) -> str:
    """Check, route and plan the batch; return its submission id."""
    return plan_submission(current.submission_id)


def rows(current: Plant, statement) -> list:
    """All rows of ``statement`` from the plant's ledger."""
    return read_rows(current, statement)


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
    members = t.job_pieces.c
    return read_scalars(
        current, select(members.piece_id).where(members.job_id == job_id).order_by(members.seq)
    )


def events(current: Plant, pk: int) -> list[str]:
    """A letter's event names, in order."""
    letter = (t.events.c.entity == "letter", t.events.c.entity_id == str(pk))
    return read_scalars(current, select(t.events.c.event).where(*letter).order_by(t.events.c.id))


def outbox(current: Plant, actor: str) -> Counter:
    """How often each argument tuple was queued for ``actor``."""
    return Counter(
        tuple(r.args) for r in rows(current, select(t.outbox.c.args).where(t.outbox.c.actor == actor))
    )
