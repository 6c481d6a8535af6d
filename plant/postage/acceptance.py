"""Acceptance of prepaid pieces: the postal counter's check of a piece's postage mark, tracking id and mass.

``plant accept SCAN… --mass-g M`` reads the codes on the scans of *one* item (front, back, close-ups: all
codes found are taken together) — in the postage and tracking zones of the plant's mark layout first, the
whole image only when those yield nothing — checks the mark and records the outcome as an event in the ledger:

========================================================  ==========  =================================
what the counter finds                                     verdict     mark state
========================================================  ==========  =================================
no mark, an unreadable one, a bad signature, an unknown     refused     unchanged ("mark failed the check")
mark, a mark not on hold, a mark of another tracking id
mark on hold, handed in later than ``hand_in_hours``        annulled    annulled ("not handed in within 72 h")
mark on hold, the counter refuses the item (``--refuse``)   annulled    annulled ("refused at the counter")
mark on hold, weighed mass in another band than declared    annulled    annulled ("incorrect mass")
mark on hold, all checks pass                               paid        paid
========================================================  ==========  =================================

The decision is pure (:func:`check_mark`, :func:`judge`); :func:`accept_item` only reads the mark's row and
writes the compare-and-set and the event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypedDict

import numpy as np
import structlog
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from PIL import Image, UnidentifiedImageError
from sqlalchemy import Connection, insert, select

from plant.config import Settings
from plant.errors import ScanUnreadable
from plant.ledger import Ledger, now
from plant.ledger import schema as t
from plant.ledger import schema_postage as tp
from plant.postage.marks import MarkState, move_mark, verification_keys, weight_bands
from tracking.errors import ScanError, TrackingError
from tracking.ids import validate
from tracking.postage import MassAboveTopBand, PostageError, VerifiedMark, WeightBand, band_for, verify_mark
from tracking.scan import CodeKind, Region, read_region

log = structlog.get_logger(__name__)

#: What the counter says when the mark cannot be relied on (the postal wording).
MARK_FAILED = "mark failed the check"
#: What the counter says when the weighed mass falls in another band than the mark declares.
INCORRECT_MASS = "annulled: incorrect mass"
#: Barcode kinds read from acceptance scans: the mark (QR) and the tracking id (Code 128).
SCAN_FORMATS = zxingcpp.BarcodeFormats([zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.Code128])
#: Play of an item on the counter's scanner around each zone of the mark layout (skew, shift), mm.
ROI_PLAY_MM = 4.0
#: Width of the A4 sheet the mark layout is drawn on, mm (gives a scan's resolution when its file has none).
A4_WIDTH_MM = 210.0


class Verdict(StrEnum):
    """The outcome of acceptance for the item."""

    PAID = "paid"
    REFUSED = "refused"
    ANNULLED = "annulled"


@dataclass(frozen=True)
class ScanReading:
    """Codes read from one item's scans: mark candidates (QR text starting ``PM``), tracking ids, the rest."""

    marks: tuple[str, ...] = ()
    tracking_ids: tuple[str, ...] = ()
    other: tuple[str, ...] = ()


@dataclass(frozen=True)
class MarkRow:
    """What the ledger knows of a mark, as :func:`judge` needs it."""

    piece_id: str
    tracking_id: str
    state: MarkState
    issued_at: float
    band_g: int
    mail_class: str


@dataclass(frozen=True)
class Outcome:
    """The acceptance outcome: verdict, the reason in the counter's words, and the item it concerns."""

    verdict: Verdict
    reason: str
    piece_id: str | None = None
    tracking_id: str | None = None
    declared_band_g: int | None = None
    weighed_band_g: int | None = None


class _MarkItem(TypedDict):
    """The item a verified mark names, as every :class:`Outcome` of :func:`judge` carries it."""

    piece_id: str
    tracking_id: str
    declared_band_g: int


def acceptance_regions(settings: Settings, play_mm: float = ROI_PLAY_MM) -> list[Region]:
    """The regions of interest of an acceptance scan: the plant's postage and tracking zones
    (``settings.mark_layout()``, mm from the sheet's top-left) widened by ``play_mm`` on every side."""
    from imposition.geometry import PT_PER_MM

    layout = settings.mark_layout()
    return [
        Region(
            kind,
            zone.x / PT_PER_MM - play_mm,
            zone.y / PT_PER_MM - play_mm,
            zone.w / PT_PER_MM + 2 * play_mm,
            zone.h / PT_PER_MM + 2 * play_mm,
            module / PT_PER_MM,
        )
        for kind, zone, module in (
            (CodeKind.POSTAGE, layout.postage_zone, layout.postage_module),
            (CodeKind.TRACKING, layout.tracking_zone, layout.tracking_module),
        )
    ]


def _scan_dpi(image: Image.Image) -> float:
    """The scan's resolution: the file's, else the one at which the image is an A4 sheet wide."""
    dpi = image.info.get("dpi")
    if dpi and float(dpi[0]) > 1:
        return float(dpi[0])
    return image.width * 25.4 / A4_WIDTH_MM


def _read_regions(pixels: np.ndarray, dpi: float, regions: Sequence[Region]) -> list[tuple[str, str]]:
    """(format, text) of the codes found in the regions of interest; none where a region is off the image."""
    found: list[tuple[str, str]] = []
    for region in regions:
        try:
            found.extend((code.format, code.text) for code in read_region(pixels, dpi, region))
        except ScanError:
            continue
    return found


def read_scans(paths: Sequence[Path], regions: Sequence[Region] | None = None) -> ScanReading:
    """Decode the QR and Code 128 symbols of every scan into one reading.

    With ``regions`` (see :func:`acceptance_regions`) each scan is read in its regions of interest first, so
    that codes elsewhere on the item (another piece's mark on an enclosure, a sender's own barcodes) do not
    take part; the whole image is read only when the regions yield no postage mark and no tracking id (a
    close-up, a piece far off the layout). Without regions the whole image is read (zxing-cpp).
    """
    marks: list[str] = []
    tracking: list[str] = []
    other: list[str] = []
    for path in paths:
        try:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("L"))
                dpi = _scan_dpi(image)
        except (OSError, UnidentifiedImageError) as exc:
            raise ScanUnreadable(
                f"Scan {path} cannot be read as an image ({exc}); scan the item again as PNG, PGM or JPEG.",
                path=str(path),
            ) from None
        found = _read_regions(pixels, dpi, regions) if regions else []
        if not any(_is_mark(fmt, text) or _is_tracking(fmt, text) for fmt, text in found):
            if regions:
                log.info(
                    "acceptance scan: nothing in the regions of interest, reading the whole image",
                    scan=str(path),
                )
            found = [
                (code.format.name, code.text) for code in zxingcpp.read_barcodes(pixels, formats=SCAN_FORMATS)
            ]
        for fmt, text in found:
            if _is_mark(fmt, text):
                marks.append(text)
            elif _is_tracking(fmt, text):
                tracking.append(text)
            else:
                other.append(text)
    return ScanReading(
        tuple(dict.fromkeys(marks)), tuple(dict.fromkeys(tracking)), tuple(dict.fromkeys(other))
    )


def _is_mark(fmt: str, text: str) -> bool:
    return fmt == zxingcpp.BarcodeFormat.QRCode.name and text.startswith("PM")


def _is_tracking(fmt: str, text: str) -> bool:
    return fmt == zxingcpp.BarcodeFormat.Code128.name and _is_tracking_id(text)


def _is_tracking_id(text: str) -> bool:
    try:
        validate(text)
    except TrackingError:
        return False
    return True


def check_mark(reading: ScanReading, keys: Mapping[str, Ed25519PublicKey]) -> VerifiedMark | Outcome:
    """The verified mark of the reading, or the refusal saying why there is none to rely on."""
    if not reading.marks:
        return Outcome(
            Verdict.REFUSED,
            f"{MARK_FAILED}: no postage mark found or it is unreadable",
            tracking_id=_one(reading.tracking_ids),
        )
    if len(reading.marks) > 1:
        return Outcome(
            Verdict.REFUSED,
            f"{MARK_FAILED}: {len(reading.marks)} different marks on one item",
            tracking_id=_one(reading.tracking_ids),
        )
    try:
        return verify_mark(reading.marks[0], keys)
    except PostageError as exc:
        return Outcome(
            Verdict.REFUSED,
            f"{MARK_FAILED}: {getattr(exc, 'reason', exc)}",
            tracking_id=_one(reading.tracking_ids),
        )


def _one(values: Sequence[str]) -> str | None:
    return values[0] if len(values) == 1 else None


def judge(
    mark: VerifiedMark,
    tracking_ids: Sequence[str],
    row: MarkRow | None,
    weighed_mass_g: float,
    bands: Sequence[WeightBand],
    at: float,
    hand_in_s: float,
    refused_because: str | None = None,
) -> Outcome:
    """Decide the outcome for an item carrying the verified ``mark``; pure.

    ``row`` is the ledger's record of the mark (None when none was issued), ``bands`` the tariff bands of the
    mark's mail class, ``at`` the time of acceptance.
    """
    payload = mark.payload
    base: _MarkItem = {
        "piece_id": payload.piece_id,
        "tracking_id": payload.tracking_id,
        "declared_band_g": payload.band_g,
    }
    if row is None or row.tracking_id != payload.tracking_id or row.band_g != payload.band_g:
        return Outcome(Verdict.REFUSED, f"{MARK_FAILED}: this plant issued no such mark", **base)
    if not tracking_ids:
        return Outcome(
            Verdict.REFUSED,
            f"{MARK_FAILED}: no tracking id read beside the mark; scan the address side with the mark",
            **base,
        )
    if list(tracking_ids) != [payload.tracking_id]:
        return Outcome(
            Verdict.REFUSED,
            f"{MARK_FAILED}: the mark belongs to {payload.tracking_id}, the item "
            f"carries {', '.join(tracking_ids)}",
            **base,
        )
    if row.state != MarkState.ON_HOLD:
        return Outcome(Verdict.REFUSED, f"{MARK_FAILED}: the mark is {row.state.value}, not on hold", **base)
    if at - row.issued_at > hand_in_s:
        return Outcome(Verdict.ANNULLED, f"annulled: not handed in within {hand_in_s / 3600:g} h", **base)
    if refused_because:
        return Outcome(Verdict.ANNULLED, f"annulled: refused at the counter: {refused_because}", **base)
    try:
        weighed = band_for(weighed_mass_g, bands, payload.mail_class).up_to_g
    except MassAboveTopBand:
        return Outcome(Verdict.ANNULLED, INCORRECT_MASS, **base)
    if weighed != payload.band_g:
        return Outcome(Verdict.ANNULLED, INCORRECT_MASS, **base, weighed_band_g=weighed)
    return Outcome(
        Verdict.PAID,
        "paid: mark on hold, signature valid, mass in the declared band",
        **base,
        weighed_band_g=weighed,
    )


def _mark_row(conn: Connection, piece_id: str) -> MarkRow | None:
    row = conn.execute(select(tp.postage_marks).where(tp.postage_marks.c.piece_id == piece_id)).first()
    if row is None:
        return None
    return MarkRow(
        row.piece_id, row.tracking_id, MarkState(row.state), row.issued_at, row.band_g, row.mail_class
    )


def accept_item(
    ledger: Ledger,
    settings: Settings,
    reading: ScanReading,
    weighed_mass_g: float,
    refused_because: str | None = None,
    at: float | None = None,
    keys: Mapping[str, Ed25519PublicKey] | None = None,
) -> Outcome:
    """Check one item and record the outcome in one transaction: the mark's compare-and-set and an event."""
    at = now() if at is None else at
    keys = verification_keys(settings) if keys is None else keys
    checked = check_mark(reading, keys)
    data = {"weighed_mass_g": weighed_mass_g, "tracking_ids": list(reading.tracking_ids)}
    with ledger.tx() as conn:
        if isinstance(checked, Outcome):
            outcome = checked
        else:
            while True:
                row = _mark_row(conn, checked.payload.piece_id)
                outcome = judge(
                    checked,
                    reading.tracking_ids,
                    row,
                    weighed_mass_g,
                    weight_bands(settings.postage, checked.payload.mail_class),
                    at,
                    settings.postage.hand_in_hours * 3600,
                    refused_because,
                )
                if outcome.verdict == Verdict.REFUSED:
                    break
                target = MarkState.PAID if outcome.verdict == Verdict.PAID else MarkState.ANNULLED
                event = "accept" if target == MarkState.PAID else "annul"
                if move_mark(
                    conn,
                    checked.payload.piece_id,  # the piece every outcome of judge() names
                    MarkState.ON_HOLD,
                    target,
                    event,
                    outcome.reason,
                    at,
                    {**data, "weighed_band_g": outcome.weighed_band_g},
                ):
                    break  # else another counter moved it first: judge again against the new state
        if outcome.verdict == Verdict.REFUSED:
            conn.execute(
                insert(t.events).values(
                    at=at,
                    entity="acceptance",
                    entity_id=outcome.piece_id or outcome.tracking_id or "unidentified",
                    event="refuse",
                    data={"reason": outcome.reason, **data, "tracking_id": outcome.tracking_id},
                )
            )
    log.info(
        "acceptance",
        verdict=outcome.verdict.value,
        reason=outcome.reason,
        piece=outcome.piece_id,
        tracking_id=outcome.tracking_id,
    )
    return outcome
