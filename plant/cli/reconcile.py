"""The manual reconciliation queue: ``plant reconcile list`` and ``plant reconcile found|reprint|lost ID
--reason TEXT`` (:mod:`plant.reconcile`)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from plant.cli import out

if TYPE_CHECKING:
    from plant.config import Settings

#: The resolutions and their help, in the order ``plant reconcile --help`` lists them.
RESOLUTIONS = {
    "found": "the envelope was found whole: dispatched with its run, into the handover manifest",
    "reprint": "the envelope was destroyed: printed again with the same tracking id",
    "lost": "gone for good: FAILED (LOST), its postage mark annulled",
}


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``plant reconcile``."""
    reconcile = sub.add_parser(
        "reconcile",
        parents=parents,
        help="the UNACCOUNTED pieces (`list`) and ending each: found, reprint or lost, with a reason",
    )
    reconcile.set_defaults(func=cmd_reconcile)
    actions = reconcile.add_subparsers(dest="resolution", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=parents, help="the pieces waiting, oldest first")
    listing.add_argument("--json", action="store_true", help="print the queue as JSON")
    for name, text in RESOLUTIONS.items():
        action = actions.add_parser(name, parents=parents, help=text)
        action.add_argument("id", metavar="ID", help="tracking id or letter id")
        action.add_argument("--reason", required=True, help="why (recorded with the event and the receipt)")


def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``plant reconcile list|found|reprint|lost``: the queue, or one line (id, outcome, message); exit 0
    when done, else 1."""
    from plant.ledger import open_ledger
    from plant.reconcile import Resolution, queue, resolve

    ledger = open_ledger(settings)
    try:
        if args.resolution == "list":
            with ledger.read() as conn:
                pieces = queue(conn)
        else:
            outcome = resolve(ledger, Resolution(args.resolution), args.id, args.reason)
    finally:
        ledger.dispose()
    if args.resolution != "list":
        out(outcome.line())
        return 0 if outcome.done else 1
    if args.json:
        out(json.dumps([p.as_dict() for p in pieces], indent=1))
        return 0
    if not pieces:
        out("No piece waits for reconciliation.")
    for p in pieces:
        since = datetime.fromtimestamp(p.since, UTC).isoformat(timespec="seconds")
        out(f"{p.tracking_id or '-'}\t{p.letter_id}\t{p.run_id or p.job_id or '-'}\t{since}\t{p.reason}")
    return 0
