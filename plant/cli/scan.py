"""``plant scan IMAGE… [--json]``: read and grade the codes on scanned pieces, and name the piece each belongs
to.

The images are read with :mod:`tracking.scan` (regions of the known layout first, the pre-processing path for
poor scans), every DataMatrix is graded ISO/IEC 15415-style, and when the plant's ledger exists each code is
looked up in it read-only: a tracking id or a postage mark by the tracking id, a control code by its piece id.
One JSON object per image (JSON Lines) with ``--json``; the exit code is 1 when any image could not be read or
lacks an expected code.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plant.config import Settings


#: Resolution assumed when an image file carries none and no --dpi is given.
DEFAULT_DPI = 300.0
#: Play added around each zone of the sheet layout, mm: a sheet moves and skews on the scanner glass.
SHEET_PLAY_MM = 4.0
#: Candidate tracking ids inside a postage mark's text: an S10 or a 14-digit domestic id.
_TRACKING_IN_TEXT = re.compile(r"[A-Z]{2}\d{9}[A-Z]{2}|\d{14}")


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``scan IMAGE… [--json] [--dpi N] [--layout full|sheet] [--region …] [--no-grade]`` to
    ``subparsers``."""
    cmd = subparsers.add_parser("scan", parents=parents, help="read and grade the codes on scanned pieces")
    cmd.add_argument("images", nargs="+", type=Path, help="scans (PNG, TIFF, PGM, JPEG…), gray or colour")
    cmd.add_argument("--json", action="store_true", help="one JSON object per image (JSON Lines)")
    cmd.add_argument(
        "--dpi", type=float, default=None, help=f"scan resolution (default: the file's, else {DEFAULT_DPI:g})"
    )
    cmd.add_argument(
        "--layout",
        choices=("full", "sheet"),
        default="full",
        help="where to look: the whole image (default) or the A4 sheet's mark zones",
    )
    cmd.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="KIND:X,Y,W,H[,MODULE]",
        help="a region in mm from the top-left (kind control|tracking|postage); repeatable",
    )
    cmd.add_argument("--no-grade", action="store_true", help="skip DataMatrix grading")
    cmd.set_defaults(func=cmd_scan)


def _parse_region(text: str) -> Any:
    """``control:146,66,22,22`` → a :class:`tracking.scan.Region`."""
    from tracking.errors import ScanError
    from tracking.scan import CodeKind, Region

    try:
        kind, numbers = text.split(":", 1)
        values = [float(v) for v in numbers.split(",")]
        return Region(CodeKind(kind), *values)
    except (ValueError, TypeError):
        raise ScanError(
            "--region", text, "must read KIND:X,Y,W,H[,MODULE] in mm, KIND one of control, tracking, postage"
        ) from None


def _sheet_regions(settings) -> list[Any]:
    """The A4 sheet's control and tracking zones (the plant's mark layout) widened by
    :data:`SHEET_PLAY_MM`."""
    from imposition.geometry import PT_PER_MM
    from tracking.scan import CodeKind, Region

    layout = settings.mark_layout()
    out = []
    for kind, zone, module in (
        (CodeKind.CONTROL, layout.control_zone, layout.control_module),
        (CodeKind.TRACKING, layout.tracking_zone, layout.tracking_module),
    ):
        out.append(
            Region(
                kind,
                zone.x / PT_PER_MM - SHEET_PLAY_MM,
                zone.y / PT_PER_MM - SHEET_PLAY_MM,
                zone.w / PT_PER_MM + 2 * SHEET_PLAY_MM,
                zone.h / PT_PER_MM + 2 * SHEET_PLAY_MM,
                module / PT_PER_MM,
            )
        )
    return out


def _load(path: Path, dpi: float | None) -> tuple[Any, float]:
    """The image as 8-bit gray and its resolution (``--dpi``, else the file's, else the default)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from tracking.errors import ScanError

    try:
        with Image.open(path) as image:
            file_dpi = image.info.get("dpi")
            gray = np.asarray(image.convert("L"))
    except (OSError, UnidentifiedImageError) as exc:
        raise ScanError(
            "image", str(path), f"cannot be opened ({exc}); pass a PNG, TIFF, PGM or JPEG scan"
        ) from None
    if dpi is None:
        dpi = round(float(file_dpi[0]), 1) if file_dpi and file_dpi[0] > 1 else DEFAULT_DPI
    return gray, dpi


class _PieceLookup:
    """Read-only lookups of codes in the plant's ledger, when there is one."""

    def __init__(self, settings: Settings) -> None:
        self.ledger = None
        url = settings.ledger_url
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            return  # no plant here: never create a ledger just to look something up
        from plant.ledger import Ledger

        self.ledger = Ledger(url)

    def piece(self, kind: str, text: str) -> dict[str, Any] | None:
        """The piece a code belongs to (``piece_id``, ``tracking_id``), or None when unknown or no ledger."""
        if self.ledger is None:
            return None
        from sqlalchemy import select

        from plant.ledger import schema as t
        from tracking.control_code import parse_control
        from tracking.errors import TrackingError

        if kind == "control":
            try:
                key = parse_control(text).piece
            except TrackingError:
                return None
            if not key.isdigit():
                return None
            where = t.pieces.c.piece_id == int(key)
        else:
            candidates = [text] if kind == "tracking" else _TRACKING_IN_TEXT.findall(text)
            if not candidates:
                return None
            where = t.pieces.c.tracking_id.in_(candidates)
        with self.ledger.read() as conn:
            row = conn.execute(select(t.pieces.c.piece_id, t.pieces.c.tracking_id).where(where)).first()
        return None if row is None else {"piece_id": row.piece_id, "tracking_id": row.tracking_id}

    def close(self) -> None:
        """Release the ledger's connections."""
        if self.ledger is not None:
            self.ledger.dispose()


def scan_report(path: Path, args: argparse.Namespace, lookup: _PieceLookup, settings) -> dict[str, Any]:
    """The JSON-ready report of one image: codes (kind, text, grade, piece), missing kinds, overall grade."""
    from tracking.scan import scan_piece

    regions = [_parse_region(r) for r in args.region] or (
        _sheet_regions(settings) if args.layout == "sheet" else None
    )
    gray, dpi = _load(path, args.dpi)
    result = scan_piece(gray, dpi, regions, grade=not args.no_grade)
    codes = []
    for code, grading in zip(result.codes, result.gradings, strict=True):
        codes.append(
            {
                "kind": code.kind.value,
                "format": code.format,
                "text": code.text,
                "preprocessed": code.preprocessed,
                "corners": [[round(x, 1), round(y, 1)] for x, y in code.corners],
                "grade": None if grading is None else grading.as_dict(),
                "piece": lookup.piece(code.kind.value, code.text),
            }
        )
    overall = result.overall
    return {
        "image": str(path),
        "dpi": dpi,
        "codes": codes,
        "missing": [k.value for k in result.missing],
        "overall": None if overall is None else overall.name,
    }


def cmd_scan(settings: Settings, args: argparse.Namespace) -> int:
    """Scan every image; print one report per image; exit 1 when any image failed or lacks a code."""
    from tracking.errors import TrackingError

    lookup = _PieceLookup(settings)
    failed = False
    try:
        for path in args.images:
            try:
                report = scan_report(path, args, lookup, settings)
            except TrackingError as exc:
                report = {"image": str(path), "error": str(exc)}
            failed |= "error" in report or bool(report.get("missing")) or not report.get("codes")
            print(json.dumps(report) if args.json else _human(report))
    finally:
        lookup.close()
    return 1 if failed else 0


def _human(report: dict[str, Any]) -> str:
    """One readable block per image."""
    if "error" in report:
        return f"{report['image']}: {report['error']}"
    lines = [f"{report['image']}: {len(report['codes'])} code(s), overall {report['overall'] or '-'}"]
    for code in report["codes"]:
        grade = code["grade"]["overall"] if code["grade"] else "-"
        piece = code["piece"]["piece_id"] if code["piece"] else "-"
        lines.append(f"  {code['kind']:<8} {code['format']:<10} grade {grade}  piece {piece}  {code['text']}")
    lines.extend(f"  {kind:<8} missing" for kind in report["missing"])
    return "\n".join(lines)
