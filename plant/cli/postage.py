"""Tracking ids and postage: ``plant ids check|next``, ``plant accept`` (the acceptance counter) and ``plant
postage keygen|public-key|expire``."""

from __future__ import annotations

import argparse
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from plant.cli import out
from plant.errors import ConfigError, PlantError, PostageKeyMissing

if TYPE_CHECKING:
    from plant.config import Settings


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``ids``, ``accept`` and ``postage``."""
    ids = sub.add_parser("ids", parents=parents, help="check tracking identifiers, allocate new ones")
    ids.set_defaults(func=cmd_ids)
    ids_sub = ids.add_subparsers(dest="ids_command", required=True, metavar="IDS_COMMAND")
    check = ids_sub.add_parser("check", help="validate identifiers; exit 1 when any is invalid")
    check.add_argument("identifiers", nargs="+")
    next_ids = ids_sub.add_parser(
        "next", parents=parents, help="allocate ids from the configured ranges and print them"
    )
    next_ids.add_argument("--kind", choices=["s10", "ru14"], help="id kind (default: tracking.kind)")
    next_ids.add_argument("--count", type=int, default=1, help="how many ids (default 1)")

    accept = sub.add_parser(
        "accept",
        parents=parents,
        help="check a prepaid item's postage mark at acceptance and record the outcome",
    )
    accept.add_argument(
        "scans",
        nargs="+",
        type=Path,
        metavar="SCAN",
        help="image(s) of one item showing its postage mark and tracking barcode",
    )
    accept.add_argument("--mass-g", type=float, required=True, help="the item's weighed mass in grams")
    accept.add_argument("--refuse", metavar="REASON", help="the counter refuses the item: annul its mark")
    accept.add_argument("--json", action="store_true", help="print the outcome as JSON")
    accept.set_defaults(func=cmd_accept)

    postage = sub.add_parser("postage", parents=parents, help="postage-mark signing key and mark expiry")
    postage.set_defaults(func=cmd_postage)
    postage_sub = postage.add_subparsers(dest="postage_command", required=True, metavar="POSTAGE_COMMAND")
    keygen = postage_sub.add_parser("keygen", parents=parents, help="make the plant's Ed25519 signing key")
    keygen.add_argument("--force", action="store_true", help="replace an existing key (save it first)")
    postage_sub.add_parser(
        "public-key", parents=parents, help="print the public key (PEM) for acceptance stations"
    )
    postage_sub.add_parser(
        "expire",
        parents=parents,
        help="annul marks not handed in within postage.hand_in_hours (a running plant does "
        "this every sweeps.interval_s; `plant sweep` runs both timed rules)",
    )


def cmd_ids(settings: Settings, args: argparse.Namespace) -> int:
    """Validate identifiers (one line per id, exit 1 when any is invalid), or allocate new ones (``next``)."""
    if args.ids_command == "next":
        return _next_ids(settings, args)
    from tracking.errors import TrackingError
    from tracking.ids import validate

    bad = 0
    for identifier in args.identifiers:
        try:
            kind = validate(identifier)
            out(f"{identifier}\tvalid\t{getattr(kind, 'value', kind) or ''}".rstrip())
        except TrackingError as exc:
            bad += 1
            out(f"{identifier}\tinvalid\t{getattr(exc, 'reason', exc)}")
    return 1 if bad else 0


def _next_ids(settings: Settings, args: argparse.Namespace) -> int:
    """``plant ids next --kind s10|ru14 [--count N]``: allocate ids for good and print one per line."""
    from plant.config import IdKind
    from plant.ledger import Ledger
    from plant.postage.ids import allocate_for

    if args.count < 1:
        raise ConfigError(f"--count {args.count}: ask for at least 1 id.", key="--count")
    if settings.database_url is None:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(settings.ledger_url)
    try:
        with ledger.tx() as conn:
            ids = allocate_for(conn, settings, args.count, IdKind(args.kind) if args.kind else None)
    finally:
        ledger.dispose()
    sys.stdout.write("".join(f"{i}\n" for i in ids))
    return 0


def cmd_accept(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``plant accept``: print the outcome; exit 0 when paid, 1 when refused or annulled."""
    from dataclasses import asdict  # here, not at the top: it loads inspect, which `plant --help` need not

    from plant.ledger import Ledger
    from plant.postage.acceptance import Verdict, accept_item, acceptance_regions, read_scans

    if not args.mass_g >= 0:
        raise PlantError(
            f"--mass-g {args.mass_g}: give the weighed mass in grams (0 or more).", mass_g=args.mass_g
        )
    reading = read_scans(args.scans, acceptance_regions(settings))
    ledger = Ledger(settings.ledger_url)
    try:
        outcome = accept_item(ledger, settings, reading, args.mass_g, args.refuse)
    finally:
        ledger.dispose()
    if args.json:
        out(json.dumps({k: (v.value if isinstance(v, StrEnum) else v) for k, v in asdict(outcome).items()}))
    else:
        out(f"{outcome.verdict.value}\t{outcome.tracking_id or '-'}\t{outcome.reason}")
    return 0 if outcome.verdict == Verdict.PAID else 1


def cmd_postage(settings: Settings, args: argparse.Namespace) -> int:
    """Run a ``plant postage`` subcommand."""
    from tracking.postage import key_id, load_private_key, public_key_pem

    if args.postage_command == "keygen":
        from plant.postage.marks import write_new_key

        key = write_new_key(settings.postage_key_path, force=args.force)
        out(f"{settings.postage_key_path}\tkey id {key_id(key.public_key())}")
    elif args.postage_command == "public-key":
        if not settings.postage_key_path.exists():
            raise PostageKeyMissing(
                f"No signing key at {settings.postage_key_path}; run `plant postage keygen` first.",
                key="postage.key_path",
            )
        key = load_private_key(settings.postage_key_path.read_bytes())
        sys.stdout.write(public_key_pem(key.public_key()).decode("ascii"))
    else:
        from plant.ledger import Ledger
        from plant.postage.marks import expire_marks

        ledger = Ledger(settings.ledger_url)
        try:
            with ledger.tx() as conn:
                annulled = expire_marks(conn, settings)
        finally:
            ledger.dispose()
        out(f"{len(annulled)} mark(s) annulled: not handed in within {settings.postage.hand_in_hours:g} h")
    return 0
