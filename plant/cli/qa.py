"""``plant qa IMAGE… [--json]`` and ``plant qa sample SUBMISSION --every N``: the QA station's command.

``plant qa IMAGE…`` inspects sample images and records one QA result per image (exit 0 when all pass, 1 when
any fails or cannot be opened); ``plant qa sample`` lists the pieces to pull (:mod:`plant.qa.sampling`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from plant.errors import QaUsageError

if TYPE_CHECKING:
    from plant.config import Settings

USAGE = (
    "plant qa IMAGE… [--json] [--dpi DPI]\n       plant qa sample SUBMISSION --every N [--offset K] [--json]"
)


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    """The ``plant qa`` command."""
    qa = sub.add_parser(
        "qa",
        parents=list(parents),
        usage=USAGE,
        help="QA station: check sample pieces against the ledger and grade them; pick samples",
        description="Inspect scanned samples (the address side of a piece's first sheet): the "
        "tracking id, control code and postage mark must name the same piece, the mark "
        "must verify, and every DataMatrix must grade at least qa.min_grade. One QA "
        "result per image is recorded on the piece's history. `plant qa sample "
        "SUBMISSION --every N` lists the pieces to pull.",
    )
    qa.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="sample scans (PNG, TIFF, PGM, JPEG), or `sample SUBMISSION` to list pieces to pull",
    )
    qa.add_argument("--json", action="store_true", help="one JSON object per image or piece (JSON Lines)")
    qa.add_argument(
        "--dpi",
        type=float,
        default=None,
        help="scan resolution (default: the file's, else the one at which the image is A4 wide)",
    )
    qa.add_argument(
        "--every", type=int, metavar="N", help="sample: take every N-th piece in production order"
    )
    qa.add_argument(
        "--offset",
        type=int,
        default=0,
        metavar="K",
        help="sample: start at position K (0 to N − 1; default 0, the first piece)",
    )
    qa.set_defaults(func=cmd_qa)


def cmd_qa(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``plant qa``: inspect images, or list the sample of a submission."""
    if args.images[0] == "sample":
        if len(args.images) != 2 or args.every is None:
            raise QaUsageError(
                f"usage: plant qa sample SUBMISSION --every N [--offset K]; got "
                f"{' '.join(args.images)}{'' if args.every is None else f' --every {args.every}'}."
            )
        return _sample(settings, args.images[1], args.every, args.offset, args.json)
    if args.every is not None:
        raise QaUsageError(
            "--every belongs to `plant qa sample SUBMISSION --every N`; to inspect images give only "
            "their paths (a file named 'sample' as ./sample)."
        )
    return _inspect(settings, [Path(p) for p in args.images], args.dpi, args.json)


def _inspect(settings: Settings, paths: list[Path], dpi: float | None, as_json: bool) -> int:
    from plant.errors import SampleUnreadable
    from plant.qa.station import inspect_samples

    failed = 0
    for outcome in inspect_samples(settings, paths, dpi=dpi):
        if isinstance(outcome, SampleUnreadable):
            failed += 1
            print(f"plant qa: {outcome}", file=sys.stderr)
            if as_json:
                print(json.dumps({"image": outcome.image, "error": str(outcome)}), flush=True)
            continue
        report = outcome.as_dict()
        failed += report["verdict"] != "pass"
        print(json.dumps(report) if as_json else _human(report), flush=True)
    return 1 if failed else 0


def _human(report: dict) -> str:
    """One line per sample, then one line per reason."""
    piece = report["piece"]
    who = f"piece {piece['piece_id']} {piece['tracking_id']} ({piece['letter_id']})" if piece else "no piece"
    grade = f"grade {report['grade'] or '-'} (min {report['min_grade']})"
    lines = [f"{report['verdict'].upper():<4}  {report['image']}  {who}  {grade}  qa {report['qa_id']}"]
    lines.extend(f"      - {reason}" for reason in report["reasons"])
    return "\n".join(lines)


def _sample(settings: Settings, submission_id: str, every: int, offset: int, as_json: bool) -> int:
    from plant.ledger import Ledger
    from plant.qa.sampling import sample_plan
    from plant.qa.station import open_ledger

    ledger: Ledger = open_ledger(settings)
    try:
        with ledger.read() as conn:
            picks, counted = sample_plan(conn, submission_id, every, offset)
    finally:
        ledger.dispose()
    if as_json:
        for pick in picks:
            print(json.dumps(pick.as_dict()))
        return 0
    print(
        f"# {submission_id}: 1 in {every} of {counted} pieces from position {offset}; "
        f"{len(picks)} to pull (inserted or dispatched)",
        file=sys.stderr,
    )
    print("position\tpiece\ttracking_id\tletter\tjob\tseq\trun\tstate")
    for p in picks:
        print(
            f"{p.position}\t{p.piece_id}\t{p.tracking_id}\t{p.letter_id}\t{p.job_id}\t{p.seq}\t"
            f"{p.run_id or '-'}\t{p.state}"
        )
    return 0
