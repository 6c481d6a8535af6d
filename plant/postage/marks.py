"""Plant-side postage: piece mass and tariff from the settings, the signing key, and marks kept in the ledger.

The mark format and the maths are :mod:`tracking.postage`'s; this module feeds them the plant's configuration
and keeps each mark's state in the ledger (``postage_marks``): a mark is *on hold* from the moment it is
issued for a piece, then *paid* at acceptance or *annulled* (refused, wrong mass, or not handed in within
``postage.hand_in_hours``). Every state change is a compare-and-set with an appended ``mark`` event.
"""

from __future__ import annotations

import decimal
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, insert, select, update

from plant.config import PostageConfig, Settings
from plant.errors import PlantError, PostageKeyMissing
from plant.ledger import now
from plant.ledger import schema as t
from plant.ledger import schema_postage as tp
from tracking.postage import (
    MarkPayload,
    MassAboveTopBand,
    WeightBand,
    band_for,
    encode_mark,
    key_id,
    load_private_key,
    load_public_key,
    new_signing_key,
    private_key_pem,
)

log = structlog.get_logger(__name__)


class MarkState(StrEnum):
    """A postage mark's state: on hold until the piece is accepted (paid) or refused/expired (annulled)."""

    ON_HOLD = "on_hold"
    PAID = "paid"
    ANNULLED = "annulled"


def tariff_minor(tariff: str, minor_digits: int) -> int:
    """A configured decimal tariff ("29.50") in minor units (2950 with two minor digits)."""
    return int(decimal.Decimal(tariff).scaleb(minor_digits))


def weight_bands(postage: PostageConfig, mail_class: str) -> tuple[WeightBand, ...]:
    """The tariff bands of ``mail_class``: its own rows when it has any, else the rows for any class."""
    rows = [b for b in postage.bands if b.mail_class == mail_class] or [
        b for b in postage.bands if not b.mail_class
    ]
    return tuple(
        sorted(
            (WeightBand(b.up_to_g, tariff_minor(b.tariff, postage.minor_digits)) for b in rows),
            key=lambda b: b.up_to_g,
        )
    )


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The plant's postage signing key. Without a configured ``postage.key_path`` one is made in the state dir
    on first use (logged as ``postage_key_created``); a configured path that does not exist is an error."""
    path = settings.postage_key_path
    if not path.exists():
        if settings.postage.key_path is not None:
            raise PostageKeyMissing(
                f"postage.key_path {path} does not exist; create it with `plant postage keygen` "
                "or point postage.key_path at the plant's key.",
                key="postage.key_path",
            )
        write_new_key(path)
        log.warning("postage_key_created", path=str(path))
    return load_private_key(path.read_bytes())


def verification_keys(settings: Settings) -> dict[str, Ed25519PublicKey]:
    """Public keys acceptance trusts by key id: the signing key's (if present) and ``postage.public_keys``."""
    keys = []
    for path in settings.postage.public_keys:
        if not Path(path).exists():
            raise PostageKeyMissing(
                f"postage.public_keys lists {path}, which does not exist; copy the key there or "
                "remove it from the list.",
                key="postage.public_keys",
            )
        keys.append(load_public_key(Path(path).read_bytes()))
    if settings.postage_key_path.exists():
        keys.append(load_private_key(settings.postage_key_path.read_bytes()).public_key())
    if not keys:
        raise PostageKeyMissing(
            "No postage verification key is available; copy the plant's public key (`plant "
            "postage public-key`) here and list it in postage.public_keys.",
            key="postage.public_keys",
        )
    return {key_id(k): k for k in keys}


def write_new_key(path: Path, force: bool = False) -> Ed25519PrivateKey:
    """Make a new signing key and write it to ``path``, readable by the owner only.

    An existing key is kept unless ``force``: marks on hold were signed with it.
    """
    if path.exists() and not force:
        raise PlantError(
            f"{path} already holds a postage key; marks on hold were signed with it. Keep it, or pass "
            "--force after saving it for acceptance (postage.public_keys).",
            path=str(path),
        )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = new_signing_key()
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private_key_pem(key))
        out.flush()
        os.fsync(out.fileno())
    if force:
        temp.replace(path)
        return key
    try:  # a link refuses an existing name: of two processes making the first key, exactly one wins
        os.link(temp, path)
    except FileExistsError:
        return load_private_key(path.read_bytes())
    finally:
        temp.unlink(missing_ok=True)
    return key


@dataclass(frozen=True)
class IssuedMarks:
    """The outcome of :func:`issue_marks`: mark text per piece id, and the pieces refused with the reason."""

    marks: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


def make_payload(
    settings: Settings, piece_id: str, tracking_id: str, mail_class: str, mass_g: float, at: float
) -> MarkPayload:
    """The mark payload of one piece; :class:`~tracking.postage.MassAboveTopBand` when it is too heavy."""
    band = band_for(mass_g, weight_bands(settings.postage, mail_class), mail_class)
    return MarkPayload(
        piece_id=str(piece_id),
        tracking_id=tracking_id,
        office=settings.postage.office,
        mail_class=mail_class,
        mass_g=mass_g,
        band_g=band.up_to_g,
        tariff_minor=band.tariff_minor,
        currency=settings.postage.currency,
        issued_at=int(at),
    )


def issue_marks(
    conn: Connection,
    settings: Settings,
    piece_ids: Iterable[int | str],
    key: Ed25519PrivateKey,
    at: float | None = None,
) -> IssuedMarks:
    """Issue (or return the already issued) postage marks of ``piece_ids`` within the caller's transaction.

    A new mark is recorded *on hold* with an ``issue`` event; a piece whose mark is on hold already gets the
    same text again (a reprint carries the same mark). A piece heavier than the top band, or whose mark is no
    longer on hold, is refused with the reason; the caller decides what happens to it.
    """
    at = now() if at is None else at
    wanted = [str(p) for p in piece_ids]
    existing = (
        {
            r.piece_id: r
            for r in conn.execute(
                select(tp.postage_marks).where(tp.postage_marks.c.piece_id.in_(wanted))
            ).all()
        }
        if wanted
        else {}
    )
    rows = conn.execute(
        select(t.pieces.c.piece_id, t.pieces.c.tracking_id, t.pieces.c.mass_g, t.letters.c.mail_class)
        .select_from(t.pieces.join(t.letters, t.letters.c.pk == t.pieces.c.letter_pk))
        .where(t.pieces.c.piece_id.in_([int(p) for p in wanted if p.isdigit()]))
    ).all()
    result, new_rows = IssuedMarks(), []
    for row in rows:
        piece = str(row.piece_id)
        if (old := existing.get(piece)) is not None:
            if old.state == MarkState.ON_HOLD:
                result.marks[piece] = old.text
            else:
                result.refused[piece] = (
                    f"its postage mark is {old.state} ({old.reason}); the piece needs a new id"
                )
            continue
        try:
            payload = make_payload(settings, piece, row.tracking_id, row.mail_class, row.mass_g, at)
        except MassAboveTopBand as exc:
            result.refused[piece] = str(exc)
            continue
        text = encode_mark(payload, key)
        result.marks[piece] = text
        new_rows.append(_mark_row(payload, text, key_id(key.public_key()), at))
    for piece in set(wanted) - {str(r.piece_id) for r in rows}:
        result.refused[piece] = "no such piece in the ledger"
    if new_rows:
        conn.execute(insert(tp.postage_marks), new_rows)
        conn.execute(
            insert(t.events),
            [
                {
                    "at": at,
                    "entity": "mark",
                    "entity_id": r["piece_id"],
                    "event": "issue",
                    "from_state": None,
                    "to_state": MarkState.ON_HOLD.value,
                    "data": {
                        "tracking_id": r["tracking_id"],
                        "band_g": r["band_g"],
                        "tariff_minor": r["tariff_minor"],
                        "currency": r["currency"],
                        "key_id": r["key_id"],
                    },
                }
                for r in new_rows
            ],
        )
    return result


def _mark_row(payload: MarkPayload, text: str, kid: str, at: float) -> dict[str, Any]:
    return {
        "piece_id": payload.piece_id,
        "tracking_id": payload.tracking_id,
        "key_id": kid,
        "issued_at": at,
        "mass_g": payload.mass_g,
        "band_g": payload.band_g,
        "tariff_minor": payload.tariff_minor,
        "currency": payload.currency,
        "office": payload.office,
        "mail_class": payload.mail_class,
        "state": MarkState.ON_HOLD.value,
        "reason": None,
        "text": text,
        "updated_at": at,
    }


def move_mark(
    conn: Connection,
    piece_id: str,
    expect: MarkState,
    target: MarkState,
    event: str,
    reason: str,
    at: float,
    data: dict[str, Any] | None = None,
) -> bool:
    """Compare-and-set one mark's state; append its ``mark`` event when it moved. True when it moved."""
    moved = conn.execute(
        update(tp.postage_marks)
        .where(tp.postage_marks.c.piece_id == piece_id, tp.postage_marks.c.state == expect.value)
        .values(state=target.value, reason=reason, updated_at=at)
    ).rowcount
    if moved == 1:
        conn.execute(
            insert(t.events).values(
                at=at,
                entity="mark",
                entity_id=piece_id,
                event=event,
                from_state=expect.value,
                to_state=target.value,
                data={"reason": reason, **(data or {})},
            )
        )
    return moved == 1


#: Reason recorded on a mark annulled because its piece was not handed in in time.
EXPIRED_REASON = "annulled: not handed in within {hours:g} h"


def expire_marks(conn: Connection, settings: Settings, at: float | None = None) -> list[str]:
    """Annul every mark on hold longer than ``postage.hand_in_hours`` at ``at``; return their piece ids.

    A running plant calls this every ``sweeps.interval_s`` (:mod:`plant.sweeps`); each mark moves by
    compare-and-set, so a mark annulled (or paid) meanwhile by another sweep or at the counter is left alone.
    """
    at = now() if at is None else at
    hours = settings.postage.hand_in_hours
    stale = (
        conn.execute(
            select(tp.postage_marks.c.piece_id)
            .where(
                tp.postage_marks.c.state == MarkState.ON_HOLD.value,
                tp.postage_marks.c.issued_at < at - hours * 3600,
            )
            .order_by(tp.postage_marks.c.piece_id)
        )
        .scalars()
        .all()
    )  # one lock order: concurrent sweeps never deadlock
    reason = EXPIRED_REASON.format(hours=hours)
    return [
        p for p in stale if move_mark(conn, p, MarkState.ON_HOLD, MarkState.ANNULLED, "expire", reason, at)
    ]
