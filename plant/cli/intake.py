"""The intake's commands: ``plant watch DIR``, ``plant digital opened|fallback``, ``plant consent import``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from plant.errors import PlantError


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the intake's commands to the ``plant`` parser."""
    watch = sub.add_parser("watch", parents=parents, help="take complete submissions from a drop folder")
    watch.add_argument("folder", type=Path, help="drop folder (*.zip, or folders with a READY file)")
    watch.add_argument("--once", action="store_true", help="take what is there, finish it, and exit")
    watch.add_argument("--sender", help="sender id for submissions whose manifest names none")
    watch.add_argument("--consents", type=Path, help="consent registry (CSV or JSON) to import first")
    watch.add_argument(
        "--timeout", type=float, default=None, help="with --once: give up after this many seconds"
    )
    watch.set_defaults(func=cmd_watch)

    digital = sub.add_parser("digital", parents=parents, help="digital letters: read receipts and fallback")
    digital.set_defaults(func=cmd_digital)
    digital_sub = digital.add_subparsers(dest="digital_command", required=True, metavar="DIGITAL_COMMAND")
    opened = digital_sub.add_parser("opened", parents=parents, help="record that a digital letter was opened")
    opened.add_argument("letter_id")
    opened.add_argument("--submission", help="submission id, when the letter id is in several")
    opened.add_argument("--at", help="when it was opened (ISO 8601; default now)")
    fallback = digital_sub.add_parser(
        "fallback", parents=parents, help="print the digital letters not opened in time"
    )
    fallback.add_argument("--at", help="the time to judge by (ISO 8601; default now)")

    consent = sub.add_parser("consent", parents=parents, help="the consent registry")
    consent.set_defaults(func=cmd_consent)
    consent_sub = consent.add_subparsers(dest="consent_command", required=True, metavar="CONSENT_COMMAND")
    load = consent_sub.add_parser("import", parents=parents, help="import a registry file as a new version")
    load.add_argument("file", type=Path, help="consent registry, CSV or JSON")


def _when(value: str | None) -> float | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PlantError(
            f"--at {value!r} is not an ISO 8601 time; use e.g. 2026-02-01T09:00:00+00:00."
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def cmd_digital(settings, args: argparse.Namespace) -> int:
    """``plant digital opened LETTER_ID`` / ``plant digital fallback``."""
    from plant.intake.digital import fall_back_due, record_opened
    from plant.ledger import Ledger

    ledger = Ledger(settings.ledger_url)
    try:
        if args.digital_command == "opened":
            print(json.dumps(record_opened(ledger, args.letter_id, _when(args.at), args.submission)))
        else:
            moved = fall_back_due(ledger, settings, at=_when(args.at))
            print(
                f"{len(moved)} digital letter(s) not opened in time go to print; run `plant resume` to print "
                "them."
                if moved
                else "No digital letter is due for fallback."
            )
    finally:
        ledger.dispose()
    return 0


def cmd_consent(settings, args: argparse.Namespace) -> int:
    """``plant consent import FILE``."""
    from plant.intake.consent import import_registry
    from plant.ledger import Ledger
    from plant.storage.paths import consent_index_dir

    ledger = Ledger(settings.ledger_url)
    try:
        with ledger.tx() as conn:
            version = import_registry(conn, args.file, index_dir=consent_index_dir(settings))
    finally:
        ledger.dispose()
    print(f"Consent registry version {version} from {args.file}")
    return 0


def cmd_watch(settings, args: argparse.Namespace) -> int:
    """Run the plant and feed it the drop folder's submissions (``--once``: what is there now, to the end)."""
    from plant.intake.consent import import_registry
    from plant.intake.submission import intake
    from plant.intake.watch import scan_once, watch
    from plant.runtime.session import Session
    from plant.storage.paths import consent_index_dir

    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with Session(settings, config_path=getattr(args, "config", None), progress=args.once) as session:
        if args.consents:
            with session.plant.ledger.tx() as conn:
                import_registry(conn, args.consents, index_dir=consent_index_dir(settings))

        def take(path: Path) -> str:
            """Intake of one claimed submission; its id."""
            result = intake(session.plant.ledger, settings, path, sender_id=args.sender, channel="watch")
            session.relay.wake.set()
            print(
                f"{path.name}: {result.submission_id} ({result.letters} letters"
                f"{'' if result.new else ', seen before'})",
                file=sys.stderr,
            )
            return result.submission_id

        if args.once:
            taken = [sid for _, sid in scan_once(folder, take, settings.state_dir) if sid]
            if taken:
                session.wait(taken, timeout=args.timeout)
            print(f"Took {len(taken)} submission(s) in {time.monotonic() - started:.1f} s.", file=sys.stderr)
            return 0
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        print(f"Watching {folder} (Ctrl-C to stop) …", file=sys.stderr)
        watch(folder, take, settings.intake.watch_interval_s, stop, settings.state_dir)
    return 0
