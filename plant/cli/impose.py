"""``plant impose LETTERS_DIR -o OUT``: impose a folder of letters from the command line.

Every PDF in LETTERS_DIR, in name order, is one mail piece named by its file stem. ``--marks all`` gives the
pieces tracking ids from the configured range (allocated for good in the ledger) and signed postage marks;
``--map`` writes the sheet map (sheet, side, slot → piece, page). The library work is
:func:`imposition.impose`; this module only turns options into its arguments and errors into the plant's exit
codes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from plant.errors import ImposeFailed

if TYPE_CHECKING:
    from imposition import PieceInput
    from plant.config import Settings

#: Mail class written into postage marks when ``--mail-class`` is not given.
DEFAULT_MAIL_CLASS = "letter"
#: Device resolution of ``--format pwg`` when ``--dpi`` is not given.
DEFAULT_DPI = 300
#: The choices of ``--layout``, ``--sheet`` and ``--duplex``: the values of :class:`imposition.Scheme`,
#: :class:`imposition.SheetSize` and :class:`imposition.Duplex`, spelled out so that ``plant --help`` need not
#: load the imposition library (tests/plant/test_cli_startup.py holds them equal).
LAYOUTS = ("1up", "2up-cutstack", "web-2up")
SHEETS = ("A4", "A3", "SRA3", "WEB520")
DUPLEX = ("none", "turn", "tumble")
#: Sheets per cut stack when ``--stack-depth`` is not given (:data:`imposition.DEFAULT_STACK_DEPTH`).
STACK_DEPTH = 500


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``impose LETTERS_DIR -o OUT [options]`` to ``subparsers``."""
    cmd = subparsers.add_parser(
        "impose", parents=parents, help="impose a folder of letter PDFs onto press sheets"
    )
    cmd.add_argument("letters", type=Path, metavar="LETTERS_DIR", help="folder of PDFs, one mail piece each")
    cmd.add_argument(
        "-o", "--output", type=Path, required=True, metavar="OUT", help="print-ready file to write"
    )
    cmd.add_argument("--layout", choices=LAYOUTS, default=LAYOUTS[0])
    cmd.add_argument(
        "--sheet",
        choices=SHEETS,
        default=None,
        help="press sheet (default: A4 for 1up, A3 for 2up-cutstack, WEB520 for web-2up)",
    )
    cmd.add_argument("--duplex", choices=DUPLEX, default=DUPLEX[0])
    cmd.add_argument(
        "--stack-depth",
        type=int,
        default=STACK_DEPTH,
        metavar="D",
        help=f"sheets per cut stack (default {STACK_DEPTH})",
    )
    cmd.add_argument(
        "--marks",
        choices=["none", "control", "all"],
        default="control",
        help="control: control codes (and crop marks); all: also tracking ids and postage marks",
    )
    cmd.add_argument("--omr", action="store_true", help="add the OMR track for older inserters")
    cmd.add_argument("--format", choices=["pdf", "pwg"], default="pdf", dest="output_format")
    cmd.add_argument(
        "--dpi", type=int, default=DEFAULT_DPI, help=f"PWG raster resolution (default {DEFAULT_DPI})"
    )
    cmd.add_argument("--map", type=Path, metavar="MAP.json", help="write the sheet map here")
    cmd.add_argument("--job", default=None, help="job id in the control codes (default: the folder's name)")
    cmd.add_argument("--scale-to-fit", action="store_true", help="scale pages that are not A4 onto A4")
    cmd.add_argument("--mail-class", default=DEFAULT_MAIL_CLASS, help="mail class in the postage marks")
    cmd.set_defaults(func=cmd_impose)


def _letters(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ImposeFailed(
            f"{folder} is not a folder; pass the folder that holds the letter PDFs.", folder=str(folder)
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".pdf" and p.is_file())
    if not files:
        raise ImposeFailed(
            f"{folder} holds no PDF files; put one PDF per mail piece in it.", folder=str(folder)
        )
    return files


def _tracking_ids(settings: Settings, count: int) -> list[str]:
    """Take ``count`` tracking ids from the configured ranges, for good (they are recorded in the ledger)."""
    from plant.ledger import Ledger
    from plant.postage.ids import allocate_for

    settings.state_dir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(settings.ledger_url)
    try:
        with ledger.tx() as conn:
            return allocate_for(conn, settings, count)
    finally:
        ledger.dispose()


def postage_payload(
    settings: Settings, piece_id: str, tracking_id: str, mail_class: str, sheets: int, at: float
) -> str:
    """The postage mark text of one piece: the plant's signed mark (``plant.postage``), whose mass comes from
    the piece's sheet count. This is the one hook to change when postage marks are issued through the
    ledger."""
    from plant.postage.marks import make_payload, signing_key
    from plant.postage.pieces import piece_mass
    from tracking.postage import encode_mark

    payload = make_payload(settings, piece_id, tracking_id, mail_class, piece_mass(settings.mass, sheets), at)
    return encode_mark(payload, signing_key(settings))


def _pieces(settings: Settings, args: argparse.Namespace, files: list[Path]) -> list[PieceInput]:
    from imposition import PieceInput

    if args.marks != "all":
        return [PieceInput(path.stem, path) for path in files]
    import pikepdf

    ids = _tracking_ids(settings, len(files))
    at = time.time()
    pieces = []
    for path, tracking_id in zip(files, ids, strict=True):
        with pikepdf.open(path) as pdf:
            pages = len(pdf.pages)
        sheets = -(-pages // 2) if args.duplex != "none" else pages
        text = postage_payload(settings, path.stem, tracking_id, args.mail_class, sheets, at)
        pieces.append(PieceInput(path.stem, path, tracking_id, text))
    return pieces


def cmd_impose(settings: Settings, args: argparse.Namespace) -> int:
    """Impose the folder; print a one-line summary to stderr. Library refusals exit 65 with their message."""
    from imposition import (
        Duplex,
        ImpositionError,
        Layout,
        Marks,
        Normalise,
        OmrSpec,
        Scheme,
        SheetSize,
        impose,
    )

    started = time.monotonic()
    files = _letters(args.letters)
    scheme = Scheme(args.layout)
    try:
        layout = Layout.for_scheme(
            scheme,
            SheetSize(args.sheet) if args.sheet else None,
            duplex=Duplex(args.duplex),
            stack_depth=args.stack_depth,
        )
        marks = Marks.none() if args.marks == "none" else Marks(omr=OmrSpec() if args.omr else None)
        pieces = _pieces(settings, args, files)
        job = args.job or args.letters.resolve().name
        normalise = Normalise(scale_to_fit=args.scale_to_fit)
        if args.output_format == "pwg":
            from imposition.pwg import impose_raster

            sheet_map = impose_raster(pieces, args.output, job, layout, marks, normalise, args.dpi)
        else:
            sheet_map = impose(pieces, args.output, job, layout, marks, normalise)
    except ImpositionError as exc:
        raise ImposeFailed(str(exc)) from None
    if args.map:
        args.map.write_text(sheet_map.to_json(), encoding="utf-8")
    print(
        f"Imposed {len(pieces)} pieces onto {sheet_map.sheet_count} sheets ({layout.scheme.value}, "
        f"{layout.sheet.value}, duplex {layout.duplex.value}) in {time.monotonic() - started:.1f} s: "
        f"{args.output}",
        file=sys.stderr,
    )
    return 0
