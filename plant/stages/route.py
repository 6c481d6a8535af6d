"""Stage ``route(submission_id)``: consented recipients get the letter digitally, everyone else on paper.

The decision — registry version, time, sender, answer, and the rule that matched (the registry line) — is
recorded per letter, in ``routing_decisions`` and in the letter's route event. Digital letters are handed to
the mailbox (:mod:`plant.intake.digital`): delivered ones become DELIVERED_DIGITAL with a fallback time; a
recipient without a mailbox gets KEPT_FOR_SENDER (or print, by configuration). Print letters get their piece:
a tracking id from the configured ranges, its sheets (leaves: duplex letters take ⌈pages/2⌉) and mass.

Chunked: one message routes at most ``[queue] chunk_letters`` letters (the pre-flighted ones, oldest first),
each a compare-and-set from RECEIVED, and in the same transaction asks for itself again while pre-flighted
letters wait, or — once no letter of the submission is RECEIVED — for planning (when any is PRINT_READY) and
receipts. A message that moved nothing (another took the same letters) asks for nothing.

The fallback of unopened digital letters to print is not this stage's: the running plant's timed sweep applies
it (:mod:`plant.sweeps`), so no message waits days in the queue for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy import Connection, Row, func, insert, select

from plant.config import NoMailboxPolicy, Settings
from plant.intake.consent import Consent, ConsentIndex, Decision, newest_version
from plant.intake.digital import DAY_S, KEPT_FOR_SENDER, Delivery, OutboxMailbox
from plant.ledger import enqueue, move_letters, now
from plant.ledger import schema as t
from plant.ledger import schema_intake as ti
from plant.model import Channel, Event, State
from plant.postage.pieces import make_pieces
from plant.stages.context import current
from plant.storage.files import blob_path
from plant.storage.paths import consent_index_dir

log = structlog.get_logger(__name__)

#: Rule recorded when no registry was ever imported.
NO_REGISTRY = "no consent registry loaded"


def route(submission_id: str, clock: Callable[[], float] = now) -> None:
    """Route the next chunk of the submission's pre-flighted letters; then ask for the next chunk, or for
    planning when none is left."""
    plant = current()
    settings = plant.settings
    letters = t.letters.c
    with plant.ledger.read() as conn:
        rows = conn.execute(
            select(t.letters)
            .where(
                letters.submission_id == submission_id,
                letters.state == State.RECEIVED.value,
                letters.preflight_ok == 1,
            )
            .order_by(letters.pk)
            .limit(settings.queue.chunk_letters)
        ).all()
        if not rows:
            return
        sender = (
            conn.execute(
                select(ti.intake_submissions.c.sender_id).where(
                    ti.intake_submissions.c.submission_id == submission_id
                )
            ).scalar()
            or ""
        )
        version = newest_version(conn)
        at = clock()
        if version is None:
            decisions = {r.recipient_id: Decision("print", NO_REGISTRY) for r in rows}
        else:
            index = ConsentIndex.open(conn, version, consent_index_dir(settings))
            decisions = index.decide_many([r.recipient_id for r in rows], sender, at)
    digital = [r for r in rows if decisions[r.recipient_id].digital]
    paper = [r for r in rows if not decisions[r.recipient_id].digital]
    mailbox = OutboxMailbox(settings.digital_outbox_dir)
    deliveries = {
        r.pk: mailbox.deliver(
            r, _consent(decisions[r.recipient_id]), blob_path(settings.blobs_dir, r.pdf_sha256)
        )
        for r in digital
    }
    record = {r.pk: _record(decisions[r.recipient_id], version, at, sender) for r in rows}
    with plant.ledger.tx() as conn:
        moved = move_letters(
            conn,
            [r.pk for r in digital],
            Event.ROUTE_DIGITAL,
            State.RECEIVED,
            per_letter=record,
            extra={"channel": Channel.DIGITAL.value},
        )
        printed = move_letters(
            conn,
            [r.pk for r in paper],
            Event.ROUTE_PRINT,
            State.RECEIVED,
            per_letter=record,
            extra={"channel": Channel.PRINT.value},
        )
        if moved or printed:
            conn.execute(
                insert(ti.routing_decisions),
                [
                    {
                        "letter_pk": pk,
                        "registry_version": version,
                        "decided_at": at,
                        "sender_id": sender,
                        "answer": record[pk]["answer"],
                        "rule": record[pk]["rule"],
                        "entry_line": record[pk]["entry_line"],
                    }
                    for pk in moved + printed
                ],
            )
        by_pk = {r.pk: r for r in rows}
        delivered = [pk for pk in moved if deliveries[pk].delivered]
        kept = [pk for pk in moved if not deliveries[pk].delivered]
        _deliver(conn, settings, delivered, by_pk, deliveries, decisions, at)
        printed += _no_mailbox(conn, settings, kept, by_pk, decisions, at)
        if printed:
            make_pieces(conn, settings, [by_pk[pk] for pk in printed])
        if moved or printed:
            _next(conn, submission_id)
    log.info(
        "routed",
        submission=submission_id,
        digital=len(delivered),
        kept=len(kept),
        print=len(printed),
        registry_version=version,
    )
    plant.notify()


def _next(conn: Connection, submission_id: str) -> None:
    """Ask for the next chunk while pre-flighted letters wait; once no letter is RECEIVED (pre-flight has
    finished too), for planning when any letter is PRINT_READY, and for receipts."""
    letters = t.letters.c
    left = conn.execute(
        select(letters.preflight_ok, func.count())
        .where(letters.submission_id == submission_id, letters.state == State.RECEIVED.value)
        .group_by(letters.preflight_ok)
    ).all()
    if any(ok == 1 for ok, _ in left):
        enqueue(conn, "route", submission_id)
        return
    if left:
        return  # letters still to pre-flight: its last chunk asks for routing again
    ready = conn.execute(
        select(letters.pk)
        .where(letters.submission_id == submission_id, letters.state == State.PRINT_READY.value)
        .limit(1)
    ).first()
    if ready is not None:
        enqueue(conn, "plan", submission_id)
    enqueue(conn, "receipts", submission_id)


def _consent(decision: Decision) -> Consent:
    """The consent a digital decision rests on (every digital decision names one)."""
    if decision.consent is None:
        raise ValueError(f"a digital routing decision names no consent: {decision.rule}")
    return decision.consent


def _record(decision: Decision, version: int | None, at: float, sender: str) -> dict[str, Any]:
    """The decision as recorded with the letter's route event."""
    return {
        "registry_version": version,
        "decided_at": at,
        "sender_id": sender,
        "answer": decision.answer,
        "rule": decision.rule,
        "entry_line": decision.consent.line if decision.consent else None,
    }


def _deliver(
    conn: Connection,
    settings: Settings,
    pks: Sequence[int],
    by_pk: Mapping[int, Row[Any]],
    deliveries: Mapping[int, Delivery],
    decisions: Mapping[str, Decision],
    at: float,
) -> None:
    due = at + settings.intake.digital_fallback_days * DAY_S
    done = move_letters(
        conn,
        pks,
        Event.DELIVER_DIGITAL,
        State.DIGITAL,
        per_letter={
            pk: {"outbox": deliveries[pk].where, "delivered_at": at, "fallback_due_at": due} for pk in pks
        },
    )
    if done:
        conn.execute(
            insert(ti.digital_deliveries),
            [
                {
                    "letter_pk": pk,
                    "channel": _consent(decisions[by_pk[pk].recipient_id]).channel,
                    "address": _consent(decisions[by_pk[pk].recipient_id]).address,
                    "outbox_path": deliveries[pk].where,
                    "delivered_at": at,
                    "fallback_due_at": due,
                    "status": "delivered",
                }
                for pk in done
            ],
        )


def _no_mailbox(
    conn: Connection,
    settings: Settings,
    pks: Sequence[int],
    by_pk: Mapping[int, Row[Any]],
    decisions: Mapping[str, Decision],
    at: float,
) -> list[int]:
    """Letters whose recipient has no mailbox: kept for the sender (FAILED, KEPT_FOR_SENDER) or printed."""
    if not pks:
        return []
    consent = {pk: _consent(decisions[by_pk[pk].recipient_id]) for pk in pks}
    if settings.intake.no_mailbox is NoMailboxPolicy.PRINT:
        moved = move_letters(
            conn,
            pks,
            Event.FALLBACK_PRINT,
            State.DIGITAL,
            data={"rule": "no digital mailbox"},
            extra={"channel": Channel.PRINT.value},
        )
        status = "fallback"
    else:
        moved = move_letters(
            conn,
            pks,
            Event.FAIL,
            State.DIGITAL,
            data={"code": KEPT_FOR_SENDER},
            extra={
                "reason_code": KEPT_FOR_SENDER,
                "reason": "the recipient has no digital mailbox; the letter is kept for the "
                "sender: send it on paper (without digital consent) or update the "
                "consent registry",
            },
        )
        moved = []  # kept letters are not printed
        status = "kept"
    conn.execute(
        insert(ti.digital_deliveries),
        [
            {
                "letter_pk": pk,
                "channel": consent[pk].channel,
                "address": consent[pk].address,
                "status": status,
                "fallback_at": at if status == "fallback" else None,
            }
            for pk in pks
        ],
    )
    return moved
