"""The digital channel: delivery into the recipient's digital mailbox, read receipts, the fallback to print.

Lifecycle (docs/intake.md, "Digital letters"): routing moves a consented letter RECEIVED → DIGITAL and records
the decision; the mailbox then takes it, which is the legal delivery: DIGITAL → DELIVERED_DIGITAL with a
delivery record whose ``fallback_due_at`` is the delivery time plus the configured days (default 5). That
state is final for the submission's run, with one timed exit: a letter still unopened when its fallback falls
due moves DELIVERED_DIGITAL → PRINT_READY on ``fallback_print``, gets its piece and tracking id, carries the
code ``DIGITAL_FALLBACK`` on its receipt, and its submission is re-opened until the paper is dispatched. The
running plant applies the fallback on its own every ``sweeps.interval_s`` (:mod:`plant.sweeps`);
``plant sweep`` and ``plant digital fallback`` apply it by hand. ``plant digital opened LETTER_ID`` records
the read receipt, which ends any fallback. A recipient whose consent names no mailbox is reported with the
code ``KEPT_FOR_SENDER`` (DIGITAL → FAILED) — or printed, when ``intake.no_mailbox = "print"``.

The mailbox is a Protocol; :class:`OutboxMailbox` is the plant's own: it writes the PDF and a JSON envelope
into the digital outbox, where the provider's connector picks them up.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

import structlog
from sqlalchemy import Connection, Row, or_, select, update

from plant.config import Settings
from plant.errors import NotDigital, NotFound
from plant.intake.consent import Consent
from plant.ledger import append_event, enqueue, move_letters, now
from plant.ledger import schema as t
from plant.ledger import schema_intake as ti
from plant.model import Channel, Event, State
from plant.storage.files import atomic_write

if TYPE_CHECKING:
    from plant.ledger import Ledger

log = structlog.get_logger(__name__)

#: Seconds per day.
DAY_S = 86_400
#: Receipt code of a letter whose recipient has no digital mailbox.
KEPT_FOR_SENDER = "KEPT_FOR_SENDER"
#: Receipt code of a digital letter printed because it was not opened in time.
DIGITAL_FALLBACK = "DIGITAL_FALLBACK"

#: What gives print letters their pieces (:func:`plant.postage.pieces.make_pieces`; tests pass their own).
MakePieces = Callable[[Connection, Settings, Sequence[Row[Any]]], None]


class Opened(TypedDict):
    """A recorded read receipt: the letter, its submission, when it was first opened and its state."""

    letter_id: str
    submission_id: str
    opened_at: float
    state: str


@dataclass(frozen=True)
class Delivery:
    """The mailbox's answer: delivered (with where it lies) or not, with a code when not."""

    delivered: bool
    where: str = ""
    code: str = ""


class Mailbox(Protocol):
    """A digital mailbox provider."""

    def deliver(self, letter: Row[Any], consent: Consent, pdf: Path) -> Delivery:
        """Deliver ``letter`` (a ledger row) to the mailbox named by ``consent``; idempotent per letter."""


class OutboxMailbox:
    """The plant's digital outbox: ``<outbox>/<submission>/<letter>.pdf`` and ``.json`` (the envelope).

    A consent without an address names no mailbox: the letter is not delivered (``KEPT_FOR_SENDER``).
    """

    def __init__(self, outbox_dir: Path) -> None:
        self.outbox_dir = Path(outbox_dir)

    def deliver(self, letter: Row[Any], consent: Consent, pdf: Path) -> Delivery:
        """Write the PDF and its envelope (same names, same bytes when repeated)."""
        if not consent.address:
            return Delivery(False, code=KEPT_FOR_SENDER)
        folder = self.outbox_dir / letter.submission_id
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{letter.letter_id}.pdf"
        if not target.exists():
            temp = folder / f".{letter.letter_id}.pdf.tmp"
            shutil.copyfile(pdf, temp)
            temp.replace(target)
        envelope = {
            "submission_id": letter.submission_id,
            "letter_id": letter.letter_id,
            "recipient_id": letter.recipient_id,
            "channel": consent.channel,
            "address": consent.address,
            "pdf": target.name,
            "pdf_sha256": letter.pdf_sha256,
        }
        atomic_write(folder / f"{letter.letter_id}.json", json.dumps(envelope, indent=1).encode())
        return Delivery(True, where=str(target))


def record_opened(
    ledger: Ledger, letter_id: str, at: float | None = None, submission_id: str | None = None
) -> Opened:
    """Record the read receipt of digital letter ``letter_id`` (idempotent: the first opening counts)."""
    letters, deliveries = t.letters.c, ti.digital_deliveries.c
    stamp = now() if at is None else at
    with ledger.tx() as conn:
        query = (
            select(letters.pk, letters.submission_id, letters.state, deliveries.status, deliveries.opened_at)
            .select_from(t.letters.outerjoin(ti.digital_deliveries, deliveries.letter_pk == letters.pk))
            .where(letters.letter_id == letter_id)
        )
        if submission_id:
            query = query.where(letters.submission_id == submission_id)
        rows = conn.execute(query).all()
        if not rows:
            raise NotFound(
                f"No letter {letter_id!r} in the ledger; check the id on the receipt.", letter_id=letter_id
            )
        if len(rows) > 1:
            raise NotFound(
                f"Letter id {letter_id!r} is in {len(rows)} submissions; name one with --submission.",
                letter_id=letter_id,
            )
        row = rows[0]
        if row.status not in ("delivered", "opened", "fallback"):
            raise NotDigital(
                f"Letter {letter_id} was not delivered digitally (state {row.state}); only digital "
                "letters have read receipts.",
                letter_id=letter_id,
            )
        if row.opened_at is None:
            conn.execute(
                update(ti.digital_deliveries)
                .where(deliveries.letter_pk == row.pk)
                .values(opened_at=stamp, status="opened" if row.status == "delivered" else row.status)
            )
            append_event(conn, "letter", str(row.pk), "opened", data={"opened_at": stamp})
        return {
            "letter_id": letter_id,
            "submission_id": row.submission_id,
            "opened_at": row.opened_at or stamp,
            "state": row.state,
        }


def fall_back_due(
    ledger: Ledger,
    settings: Settings,
    at: float | None = None,
    submission_id: str | None = None,
    make_pieces: MakePieces | None = None,
) -> list[int]:
    """Move every digital letter unopened past its fallback time to print; return the letters (pks) moved.

    Each moved letter gets its piece (tracking id), its submission is re-opened, and ``plan`` and ``receipts``
    messages are written to the outbox in the same transaction: whichever relay runs (a session's, a worker's)
    publishes them and the letter is planned, imposed and printed like any other. ``at`` is the clock (tests
    freeze it); ``submission_id`` limits the sweep to one submission. A running plant calls this for all
    submissions every ``sweeps.interval_s`` (:mod:`plant.sweeps`); letters move by compare-and-set, so one
    moved by a concurrent sweep is neither moved again nor given a second piece or event.
    """
    from plant.postage.pieces import make_pieces as default_make_pieces

    make_pieces = make_pieces or default_make_pieces
    stamp = now() if at is None else at
    letters, deliveries = t.letters.c, ti.digital_deliveries.c
    with ledger.tx() as conn:
        query = (
            select(t.letters)
            .join(ti.digital_deliveries, deliveries.letter_pk == letters.pk)
            .where(
                deliveries.status == "delivered",
                deliveries.opened_at.is_(None),
                deliveries.fallback_due_at <= stamp,
                letters.state == State.DELIVERED_DIGITAL.value,
            )
            .order_by(letters.pk)
        )  # one lock order: concurrent sweeps never deadlock
        if submission_id:
            query = query.where(letters.submission_id == submission_id)
        rows = conn.execute(query).all()
        if not rows:
            return []
        days = settings.intake.digital_fallback_days
        moved = move_letters(
            conn,
            [r.pk for r in rows],
            Event.FALLBACK_PRINT,
            State.DELIVERED_DIGITAL,
            data={"rule": f"not opened within {days:g} days of delivery", "decided_at": stamp},
            extra={
                "channel": Channel.PRINT.value,
                "reason_code": DIGITAL_FALLBACK,
                "final_at": None,
                "reason": f"not opened in the digital mailbox within {days:g} days; printed "
                "and posted instead",
            },
        )
        conn.execute(
            update(ti.digital_deliveries)
            .where(deliveries.letter_pk.in_(moved))
            .values(status="fallback", fallback_at=stamp)
        )
        by_pk = {r.pk: r for r in rows}
        make_pieces(conn, settings, [by_pk[pk] for pk in moved])
        for submission in sorted({by_pk[pk].submission_id for pk in moved}):
            conn.execute(
                update(t.submissions)
                .where(t.submissions.c.submission_id == submission)
                .values(finished_at=None)
            )
            append_event(conn, "submission", submission, "reopen", data={"reason": DIGITAL_FALLBACK})
            enqueue(conn, "plan", submission)
            enqueue(conn, "receipts", submission)
    log.info("digital_fallback", letters=len(moved))
    return moved


def digital_status(ledger: Ledger, letter_id: str) -> list[dict[str, Any]]:
    """The delivery records of ``letter_id`` (one per submission it appears in)."""
    letters, deliveries = t.letters.c, ti.digital_deliveries.c
    with ledger.read() as conn:
        rows = conn.execute(
            select(letters.submission_id, letters.state, ti.digital_deliveries)
            .join(ti.digital_deliveries, deliveries.letter_pk == letters.pk)
            .where(or_(letters.letter_id == letter_id))
        ).all()
    return [dict(r._mapping) for r in rows]
