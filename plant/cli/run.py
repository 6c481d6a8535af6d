"""Commands that run the plant and read what it did: ``demo``, ``run``, ``resume``, ``worker``, ``serve``,
``status``, ``receipts``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from plant.cli import out, say
from plant.errors import NotFound

if TYPE_CHECKING:
    from plant.config import Settings
    from plant.intake.submission import IntakeResult, Package
    from plant.ledger import Ledger

#: Seconds between looks at a full disk while ``plant run`` waits for room to take its submission.
ROOM_POLL_S = 1.0


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the commands that run the plant."""
    demo = sub.add_parser(
        "demo", parents=parents, help="generate synthetic letters and run them through the plant end to end"
    )
    demo.add_argument("--letters", type=int, default=200, help="how many letters (default 200)")
    demo.add_argument("--seed", type=int, default=1, help="random seed of the generated batch")
    demo.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    _add_stall(demo)
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser(
        "run", parents=parents, help="accept a submission (folder or .zip) and run it to the end"
    )
    run.add_argument("submission", type=Path, help="submission folder or .zip (manifest.csv + PDFs)")
    run.add_argument("--consents", type=Path, help="consent registry CSV to import before routing")
    run.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    _add_stall(run)
    run.set_defaults(func=cmd_run)

    resume = sub.add_parser("resume", parents=parents, help="finish whatever an interrupted run left")
    resume.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    _add_stall(resume)
    resume.set_defaults(func=cmd_resume)

    status = sub.add_parser(
        "status", parents=parents, help="the history of a letter (by letter id or tracking id)"
    )
    status.add_argument("id", help="letter id or tracking id")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=cmd_status)

    receipts = sub.add_parser("receipts", parents=parents, help="print a submission's receipt list")
    receipts.add_argument("submission", help="submission id (S-…)")
    receipts.add_argument("--json", action="store_true", help="print JSON")
    receipts.set_defaults(func=cmd_receipts)

    worker = sub.add_parser(
        "worker", parents=parents, help="serve stage messages (join a shared Redis and database)"
    )
    worker.add_argument(
        "--no-sweeps",
        action="store_true",
        help="leave the timed sweeps (mark expiry, digital fallback) to another process",
    )
    worker.set_defaults(func=cmd_worker)

    serve = sub.add_parser(
        "serve",
        parents=parents,
        help="the web pages (queue, submissions, pieces, throughput), their JSON API and operators' actions",
    )
    serve.add_argument("--host", help="address to listen on (default web.host of plant.toml: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (default web.port: 8080; 0 takes any free port)")
    serve.set_defaults(func=cmd_serve)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Generate a batch and run it."""
    from plant.demo import generate

    say(f"Generating {args.letters} letters (seed {args.seed}) …")
    batch = generate(settings.state_dir / "demo", args.letters, args.seed)
    return _run(settings, args, batch.submission, batch.consents)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Accept a submission and run it to the end."""
    return _run(settings, args, args.submission, args.consents)


def _run(settings: Settings, args: argparse.Namespace, submission: Path, consents: Path | None) -> int:
    from plant.intake.compose import Templates
    from plant.intake.consent import import_registry
    from plant.intake.submission import read_submission
    from plant.runtime.session import Session
    from plant.storage.paths import consent_index_dir

    # refuse a broken package before starting anything
    package = read_submission(submission, templates=Templates(settings.intake.template_dirs))
    started = time.monotonic()
    with Session(settings, config_path=getattr(args, "config", None)) as session:
        if consents:
            with session.plant.ledger.tx() as conn:
                version = import_registry(conn, consents, index_dir=consent_index_dir(settings))
            say(f"Consent registry version {version} from {consents}")
        timeout = args.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        waiting = time.monotonic()
        submission_id, new, *_ = _intake_when_room(session.plant.ledger, settings, package, deadline)
        if timeout is not None:  # --timeout bounds the wait for room too
            timeout = max(0.0, timeout - (time.monotonic() - waiting))
        if not new:
            say(f"{submission_id} was accepted before; finishing it.")
            session.resume()
        session.relay.wake.set()
        session.wait([submission_id], timeout=timeout, **_stall(args))
        _summary(session.plant.ledger, settings, [submission_id], time.monotonic() - started)
    return 0


def _intake_when_room(
    ledger: Ledger, settings: Settings, package: Package, deadline: float | None
) -> IntakeResult:
    """Take ``package``, waiting for room when the disk of the blobs is full: "disk full at PATH: N MB
    needed; …" is said once (and logged as ``intake_paused``), the intake is tried again every
    :data:`ROOM_POLL_S` while there is room for what it stores, and it goes on by itself (``intake_resumed``).
    Nothing is recorded before its letters' files are stored, so a try that found no room left nothing behind
    but whole blobs (kept, content-addressed). Past ``deadline`` (the run's ``--timeout``) a
    :class:`ServiceError` says what to do."""
    import structlog

    from plant.errors import DiskFull, ServiceError
    from plant.intake.submission import intake
    from plant.storage.files import free_bytes, room_short

    log = structlog.get_logger(__name__)
    said: DiskFull | None = None
    while True:
        needed = _bytes_to_store(package, settings.blobs_dir)
        short = room_short(settings.blobs_dir, needed)
        if short is None:
            try:
                result = intake(ledger, settings, package)
            except DiskFull as exc:  # the files take a little more than their bytes (blocks, temp names)
                more = needed - free_bytes(Path(exc.path))
                short = DiskFull(exc.path, more if more > 0 else exc.needed_bytes)
            else:
                if said is not None:
                    log.warning("intake_resumed", path=said.path)
                    say(f"There is room again at {said.path}; taking {package.submission_id}.")
                return result
        if said is None:
            said = short
            log.warning("intake_paused", path=short.path, needed_bytes=short.needed_bytes, detail=str(short))
            say(str(short))
        if deadline is not None and time.monotonic() > deadline:
            needed_mb = max(1, -(-short.needed_bytes // 1_000_000))
            raise ServiceError(
                f"disk full at {short.path}: {needed_mb} MB needed, and no room came within --timeout; "
                f"nothing of {package.submission_id} was recorded. Free space there, then run `plant run` "
                "again.",
                path=short.path,
                needed_bytes=short.needed_bytes,
            )
        time.sleep(ROOM_POLL_S)


def _bytes_to_store(package: Package, blobs_dir: Path) -> int:
    """Bytes of ``package``'s files not yet among the blobs (one stored by an earlier try needs no room)."""
    import hashlib

    from plant.storage.files import blob_path

    needed = 0
    for files, suffix in ((package.files, ".pdf"), (package.sources, ".xml")):
        for data in files.values():
            if not blob_path(blobs_dir, hashlib.sha256(data).hexdigest(), suffix).exists():
                needed += len(data)
    return needed


def cmd_resume(settings: Settings, args: argparse.Namespace) -> int:
    """Finish what an interrupted run left."""
    from plant.ledger.reads import unfinished_submissions
    from plant.runtime.session import Session

    started = time.monotonic()
    with Session(settings, config_path=getattr(args, "config", None)) as session:
        with session.plant.ledger.read() as conn:
            open_ids = unfinished_submissions(conn)
        count = session.resume()
        say(f"Resuming {len(open_ids)} unfinished submission(s) ({count} steps queued).")
        if open_ids:
            session.wait(open_ids, timeout=args.timeout, **_stall(args))
            _summary(session.plant.ledger, settings, open_ids, time.monotonic() - started)
    return 0


def _add_stall(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stall",
        type=float,
        default=None,
        help="stop with the cause when no letter moved for this many seconds while letters wait on an "
        "operator (held, a job that cannot be imposed, a stopped printer; default 30)",
    )


def _stall(args: argparse.Namespace) -> dict[str, float]:
    """``stall_s`` for :meth:`Session.wait` when ``--stall`` was given."""
    stall = getattr(args, "stall", None)
    return {} if stall is None else {"stall_s": stall}


def _summary(ledger: Ledger, settings: Settings, submissions: list[str], elapsed: float) -> None:
    from plant.ledger.reads import letter_outcomes

    with ledger.read() as conn:
        rows = letter_outcomes(conn, submissions)
    states = Counter(r.state for r in rows)
    printed_pages = sum(r.pages or 0 for r in rows if r.state == "DISPATCHED")
    out(f"\nDone in {elapsed:.1f} s: {len(rows)} letters")
    for state, count in sorted(states.items()):
        out(f"  {state:<18} {count}")
    out(f"  printed pages      {printed_pages}  ({printed_pages / elapsed:.1f} pages/s end to end)")
    for submission in submissions:
        out(f"Receipts:   {settings.receipts_dir / (submission + '.csv')}")
    out(f"Spool:      {settings.spool_dir}")
    out(f"Manifests:  {settings.manifests_dir}")
    out(f"Digital:    {settings.digital_outbox_dir}")


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    """Print the history of a letter."""
    from plant.ledger.reads import letter_history

    history = letter_history(settings, args.id)
    if args.json:
        out(json.dumps(history, indent=1))
        return 0
    for letter in history:
        out(
            f"{letter['submission_id']} {letter['letter_id']}  {letter['state']}  "
            f"tracking {letter['tracking_id'] or '-'}  {letter['reason'] or ''}".rstrip()
        )
        for event in letter["events"]:
            line = (
                f"  {event['at']}  {event['event']:<16} {event['from_state'] or '':<12} → "
                f"{event['to_state'] or ''}"
            )
            out(line + (f"  {json.dumps(event['data'])}" if event["data"] else ""))
    return 0


def cmd_receipts(settings: Settings, args: argparse.Namespace) -> int:
    """Print a submission's receipts."""
    from plant.ledger import open_ledger
    from plant.ledger.reads import RECEIPT_COLUMNS, receipt_rows

    ledger = open_ledger(settings, read_only=True)
    try:
        with ledger.read() as conn:
            rows = receipt_rows(conn, args.submission)
    finally:
        ledger.dispose()
    if not rows:
        raise NotFound(
            f"No submission {args.submission!r} in the ledger at {settings.ledger_url}; "
            "check the id printed by `plant run`.",
            submission=args.submission,
        )
    if args.json:
        out(json.dumps({"submission_id": args.submission, "letters": rows}, indent=1))
    else:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=RECEIPT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the web pages and JSON API until interrupted."""
    from plant.web import serve

    serve(settings, host=args.host, port=args.port, announce=say)
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Serve stage messages until stopped."""
    from plant.runtime.worker import run_worker

    run_worker(settings, sweeps=not args.no_sweeps)
    return 0
