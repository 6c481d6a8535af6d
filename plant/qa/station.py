"""The QA station's effects: read a sample image, look its codes up in the ledger, record the verdict.

A sample image is the address side of a piece's first sheet (taken out of its envelope, or seen through a
window large enough to show all three codes): the plant's control DataMatrix, the tracking Code 128 and the
postage mark, where ``[marks]`` puts them. Each zone, widened by :data:`ZONE_PLAY_MM`, is read with
:func:`tracking.scan.scan_piece` (regions first, the pre-processing path for poor scans, every DataMatrix
graded ISO/IEC 15415-style); only when the zones yield no code at all (a sample placed far off the layout) is
the whole image read, as at acceptance.

The verdict is :func:`plant.qa.judge.judge`'s; :func:`record` writes it in one transaction: a
``qa_results`` row and a ``qa`` event on the history of every piece the sample's codes name, with no change
of lifecycle state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from PIL import Image, UnidentifiedImageError
from sqlalchemy import Connection, insert, or_, select

from plant.config import Settings
from plant.errors import NotFound, SampleUnreadable
from plant.ledger import Ledger, now
from plant.ledger import schema as t
from plant.ledger import schema_postage as tp
from plant.ledger import schema_qa as tq
from plant.qa.judge import FoundCode, Judgement, LedgerFacts, MarkFacts, PieceFacts, judge, wanted_ids
from tracking.errors import ScanError
from tracking.scan import CodeKind, Grade, Region, scan_piece

log = structlog.get_logger(__name__)

#: Play of a sample on the scanner glass around each zone of the mark layout (shift, skew), mm.
ZONE_PLAY_MM = 4.0
#: Width of the A4 sheet the mark layout is drawn on, mm: gives a scan's resolution when its file has none.
A4_WIDTH_MM = 210.0
#: Name of the event the QA station appends to a piece's history.
QA_EVENT = "qa"


@dataclass(frozen=True)
class Inspection:
    """One inspected sample: the image, the codes read, the verdict, and its row id in the ledger."""

    image: str
    dpi: float
    codes: tuple[FoundCode, ...]
    judgement: Judgement
    min_grade: Grade
    at: float
    qa_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON report of ``plant qa --json``."""
        j = self.judgement
        return {
            "image": self.image,
            "qa_id": self.qa_id,
            "verdict": j.verdict.value,
            "reasons": list(j.reasons),
            "piece": None if j.piece is None else _piece_dict(j.piece),
            "tracking_id": j.tracking_id,
            "grade": None if j.grade is None else j.grade.name,
            "min_grade": self.min_grade.name,
            "dpi": self.dpi,
            "codes": codes_as_dicts(self.codes, j.code_pieces),
        }


def _piece_dict(piece: PieceFacts) -> dict[str, Any]:
    return {
        "piece_id": piece.piece_id,
        "tracking_id": piece.tracking_id,
        "letter_id": piece.letter_id,
        "submission_id": piece.submission_id,
        "job_id": piece.job_id,
        "sheets": piece.sheets,
        "state": piece.state,
    }


def codes_as_dicts(codes: Sequence[FoundCode], pieces: Sequence[int | None]) -> list[dict[str, Any]]:
    """The codes of a sample as JSON-ready dicts (what the ``qa_results.codes`` column holds)."""
    return [
        {
            "kind": c.kind,
            "format": c.format,
            "text": c.text,
            "grade": None if c.grade is None else c.grade.name,
            "grading": c.grading,
            "preprocessed": c.preprocessed,
            "piece_id": piece,
        }
        for c, piece in zip(codes, pieces, strict=True)
    ]


def zone_regions(settings: Settings, play_mm: float = ZONE_PLAY_MM) -> list[Region]:
    """The control, tracking and postage zones of the plant's mark layout (mm from the sheet's top-left), each
    widened by ``play_mm`` on every side."""
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
            (CodeKind.CONTROL, layout.control_zone, layout.control_module),
            (CodeKind.TRACKING, layout.tracking_zone, layout.tracking_module),
            (CodeKind.POSTAGE, layout.postage_zone, layout.postage_module),
        )
    ]


def load_sample(path: Path, dpi: float | None = None) -> tuple[np.ndarray, float]:
    """The image as 8-bit gray and its resolution: ``dpi``, else the file's, else the one at which the image
    is an A4 sheet wide (pdftoppm's PGM carries none)."""
    try:
        with Image.open(path) as image:
            file_dpi = image.info.get("dpi")
            gray = np.asarray(image.convert("L"))
            width = image.width
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise SampleUnreadable(
            f"Sample {path} cannot be opened as an image ({exc}); scan the sample again as PNG, "
            "TIFF, PGM or JPEG.",
            image=str(path),
        ) from None
    if dpi is None:
        dpi = (
            round(float(file_dpi[0]), 1)
            if file_dpi and float(file_dpi[0]) > 1
            else width * 25.4 / A4_WIDTH_MM
        )
    return gray, dpi


def read_sample(gray: np.ndarray, dpi: float, regions: Sequence[Region]) -> tuple[FoundCode, ...]:
    """Every code in the zones (the whole image only when the zones yield none), DataMatrix symbols graded."""
    try:
        result = scan_piece(gray, dpi, regions)
    except ScanError:  # a zone off the image: a close-up or a sample much smaller than a sheet
        result = None
    if result is None or not result.codes:
        log.info("qa sample: nothing in the zones of the mark layout, reading the whole image")
        result = scan_piece(gray, dpi, None)
    return tuple(
        FoundCode(
            code.kind.value,
            code.format,
            code.text,
            None if grading is None else grading.overall,
            None if grading is None else grading.as_dict(),
            code.preprocessed,
        )
        for code, grading in zip(result.codes, result.gradings, strict=True)
    )


def ledger_facts(conn: Connection, codes: Sequence[FoundCode]) -> LedgerFacts:
    """The pieces and issued marks the sample's codes name, read from the ledger."""
    tracking_ids, piece_ids = wanted_ids(codes)
    if not tracking_ids and not piece_ids:
        return LedgerFacts()
    p, letters = t.pieces.c, t.letters.c
    rows = conn.execute(
        select(
            p.piece_id,
            p.tracking_id,
            p.job_id,
            p.sheets,
            letters.pk,
            letters.letter_id,
            letters.submission_id,
            letters.state,
        )
        .select_from(t.pieces.join(t.letters, letters.pk == p.letter_pk))
        .where(or_(p.tracking_id.in_(sorted(tracking_ids)), p.piece_id.in_(sorted(piece_ids))))
    ).all()
    pieces = [
        PieceFacts(r.piece_id, r.tracking_id, r.job_id, r.sheets, r.pk, r.letter_id, r.submission_id, r.state)
        for r in rows
    ]
    m = tp.postage_marks.c
    marks = conn.execute(
        select(m.piece_id, m.tracking_id, m.key_id, m.state).where(
            m.piece_id.in_(sorted({str(x.piece_id) for x in pieces} | {str(i) for i in piece_ids}))
        )
    ).all()
    return LedgerFacts(
        by_tracking={x.tracking_id: x for x in pieces},
        by_piece={x.piece_id: x for x in pieces},
        marks={r.piece_id: MarkFacts(r.piece_id, r.tracking_id, r.key_id, r.state) for r in marks},
    )


def record(conn: Connection, inspection: Inspection) -> int:
    """Write one inspection: its ``qa_results`` row and a ``qa`` event on every named piece's letter. Returns
    the row's id. No letter changes state."""
    j = inspection.judgement
    key = conn.execute(
        insert(tq.qa_results).values(
            at=inspection.at,
            image=inspection.image,
            piece_id=None if j.piece is None else j.piece.piece_id,
            tracking_id=j.tracking_id,
            verdict=j.verdict.value,
            grade=None if j.grade is None else j.grade.name,
            min_grade=inspection.min_grade.name,
            reasons=list(j.reasons),
            codes=codes_as_dicts(inspection.codes, j.code_pieces),
        )
    ).inserted_primary_key
    if key is None:  # SQLAlchemy gives one for every single-row INSERT; refuse to record without it
        raise RuntimeError("the database returned no id for the new qa_results row")
    qa_id: int = key[0]
    if j.named:
        conn.execute(
            insert(t.events),
            [
                {
                    "at": inspection.at,
                    "entity": "letter",
                    "entity_id": str(piece.letter_pk),
                    "event": QA_EVENT,
                    "from_state": None,
                    "to_state": None,
                    "data": {
                        "qa_id": qa_id,
                        "verdict": j.verdict.value,
                        "sampled": j.piece is piece,
                        "image": inspection.image,
                        "tracking_id": j.tracking_id,
                        "grade": None if j.grade is None else j.grade.name,
                        "reasons": list(j.reasons),
                    },
                }
                for piece in j.named
            ],
        )
    return qa_id


def inspect_sample(
    ledger: Ledger,
    settings: Settings,
    path: Path,
    keys: Mapping[str, Ed25519PublicKey],
    *,
    dpi: float | None = None,
    clock: Callable[[], float] = now,
) -> Inspection:
    """Read one sample image, judge it against the ledger and record the result; :class:`SampleUnreadable`
    when the file is no image (then nothing is recorded)."""
    gray, dpi = load_sample(path, dpi)
    codes = read_sample(gray, dpi, zone_regions(settings))
    min_grade = Grade[settings.qa.min_grade.value]
    with ledger.tx() as conn:
        judgement = judge(codes, ledger_facts(conn, codes), keys, min_grade)
        inspection = Inspection(str(path), dpi, codes, judgement, min_grade, clock())
        qa_id = record(conn, inspection)
    inspection = dataclasses.replace(inspection, qa_id=qa_id)
    log.info(
        "qa_result",
        qa_id=qa_id,
        image=str(path),
        verdict=judgement.verdict.value,
        piece=None if judgement.piece is None else judgement.piece.piece_id,
        tracking_id=judgement.tracking_id,
        grade=None if judgement.grade is None else judgement.grade.name,
        reasons=list(judgement.reasons),
    )
    return inspection


def open_ledger(settings: Settings) -> Ledger:
    """The plant's ledger; a missing SQLite ledger is an error (QA never starts an empty plant)."""
    url = settings.ledger_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise NotFound(
            f"No ledger at {url.removeprefix('sqlite:///')}; run `plant qa` with the plant's --state-dir "
            "(or PLANT_STATE_DIR / PLANT_DATABASE_URL) so samples are checked against its pieces.",
            url=url,
        )
    return Ledger(url)


def inspect_samples(
    settings: Settings,
    paths: Iterable[Path],
    keys: Mapping[str, Ed25519PublicKey] | None = None,
    dpi: float | None = None,
) -> Iterable[Inspection | SampleUnreadable]:
    """Inspect every sample in turn (each recorded as it is judged); a file that is no image yields its error.

    ``keys`` are the postage verification keys (default: the plant's,
    :func:`plant.postage.verification_keys`).
    """
    from plant.postage.marks import verification_keys

    ledger = open_ledger(settings)
    try:
        keys = verification_keys(settings) if keys is None else keys
        for path in paths:
            try:
                yield inspect_sample(ledger, settings, path, keys, dpi=dpi)
            except SampleUnreadable as exc:
                yield exc
    finally:
        ledger.dispose()
