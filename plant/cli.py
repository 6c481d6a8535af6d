"""``plant …``: the command line of the plant.

Every command loads the settings once (``--config``, environment, defaults). Errors of the plant's error tree
print their message (which says what to do) and exit with the error's code.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from plant import logs
from plant.config import Settings, load_settings
from plant.errors import NotFound, PlantError

EPILOG = """commands:
  demo       generate synthetic letters and run them through the plant end to end
  run        accept a submission (folder or .zip) and run it to the end
  resume     finish whatever an interrupted run left
  status     the history of a letter (by letter id or tracking id)
  receipts   print a submission's receipt list
  worker     serve stage messages (join a shared Redis and database)
  serve      the web pages (queue, submissions, pieces, throughput), their JSON API and operators' actions
  plan       plan an instance of printers, inserters and jobs (JSON in, JSON plan out)
  ids        check tracking identifiers, allocate new ones
  accept     check a prepaid item's postage mark at acceptance
  postage    postage-mark signing key and mark expiry
  sweep      apply the timed rules now (mark expiry, digital fallback); a running plant does it every interval
  impose     impose a folder of letter PDFs onto marked press sheets
  scan       read and grade the codes on scanned pieces (QA station)
  qa         QA station: check sample pieces against the ledger, grade them, record the verdict; pick samples
  watch      take complete submissions from a drop folder
  digital    digital letters: record a read receipt, print those not opened in time
  consent    import a consent registry (CSV or JSON)
  hold       hold letters (by letter, tracking or submission id); `release` lets them go on
  cancel     cancel letters before any paper exists for them
  pull       pull letters so they are never dispatched (outsorted at the inserter, left out of the manifest)
  device     take a press or inserter out of the plan (`down`), back (`up`), or list them (`status`)

Environment: PLANT_STATE_DIR, PLANT_REDIS_URL, PLANT_DATABASE_URL override plant.toml."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="plant.toml to use")
    common.add_argument(
        "--state-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help="where the ledger, queue, spool and receipts live (default ./.plant)",
    )
    parser = argparse.ArgumentParser(
        prog="plant",
        parents=[common],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Print-and-mail production plant controller.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", parents=[common], help="run synthetic letters end to end")
    demo.add_argument("--letters", type=int, default=200, help="how many letters (default 200)")
    demo.add_argument("--seed", type=int, default=1, help="random seed of the generated batch")
    demo.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")

    run = sub.add_parser("run", parents=[common], help="accept a submission and run it to the end")
    run.add_argument("submission", type=Path, help="submission folder or .zip (manifest.csv + PDFs)")
    run.add_argument("--consents", type=Path, help="consent registry CSV to import before routing")
    run.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")

    resume = sub.add_parser("resume", parents=[common], help="finish what an interrupted run left")
    resume.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")

    status = sub.add_parser("status", parents=[common], help="a letter's history")
    status.add_argument("id", help="letter id or tracking id")
    status.add_argument("--json", action="store_true", help="print JSON")

    receipts = sub.add_parser("receipts", parents=[common], help="a submission's receipt list")
    receipts.add_argument("submission", help="submission id (S-…)")
    receipts.add_argument("--json", action="store_true", help="print JSON")

    serve = sub.add_parser("serve", parents=[common], help="the web pages, JSON API and operators' actions")
    serve.add_argument("--host", help="address to listen on (default web.host of plant.toml: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (default web.port: 8080; 0 takes any free port)")

    worker = sub.add_parser("worker", parents=[common], help="serve stage messages")
    worker.add_argument(
        "--no-sweeps",
        action="store_true",
        help="leave the timed sweeps (mark expiry, digital fallback) to another process",
    )

    from plant.scheduling.cli import add_parser as add_plan_parser

    add_plan_parser(sub, [common])

    from plant.scan_cli import add_parser as add_scan_parser

    add_scan_parser(sub, [common])

    from plant.qa.cli import add_parser as add_qa_parser

    add_qa_parser(sub, [common])

    ids = sub.add_parser("ids", parents=[common], help="tracking identifiers")
    ids_sub = ids.add_subparsers(dest="ids_command", required=True, metavar="IDS_COMMAND")
    check = ids_sub.add_parser("check", help="validate identifiers; exit 1 when any is invalid")
    check.add_argument("identifiers", nargs="+")
    next_ids = ids_sub.add_parser(
        "next", parents=[common], help="allocate ids from the configured ranges and print them"
    )
    next_ids.add_argument("--kind", choices=["s10", "ru14"], help="id kind (default: tracking.kind)")
    next_ids.add_argument("--count", type=int, default=1, help="how many ids (default 1)")

    from plant.acceptance import add_parser as add_accept_parser
    from plant.postage import add_parser as add_postage_parser

    add_accept_parser(sub, [common])
    add_postage_parser(sub, [common])

    from plant.impose_cli import add_parser as add_impose_parser

    add_impose_parser(sub, [common])

    from plant.intake.cli import add_parser as add_intake_parser

    add_intake_parser(sub, [common])

    from plant.sweeps import add_parser as add_sweep_parser

    add_sweep_parser(sub, [common])

    from plant.operator import add_parser as add_operator_parser

    add_operator_parser(sub, [common])

    from plant.web.auth import add_parser as add_web_parser

    add_web_parser(sub, [common])
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``plant`` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(getattr(args, "config", None))
        if getattr(args, "state_dir", None):
            settings = settings.with_state_dir(args.state_dir)
        logs.configure(settings.log_format)
        return COMMANDS[args.command](settings, args)
    except PlantError as exc:
        print(f"plant: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("plant: interrupted; run `plant resume` to finish.", file=sys.stderr)
        return 130


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Generate a batch and run it."""
    from plant.demo import generate

    print(f"Generating {args.letters} letters (seed {args.seed}) …", file=sys.stderr)
    batch = generate(settings.state_dir / "demo", args.letters, args.seed)
    return _run(settings, args, batch.submission, batch.consents)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Accept a submission and run it to the end."""
    return _run(settings, args, args.submission, args.consents)


def _run(settings: Settings, args: argparse.Namespace, submission: Path, consents: Path | None) -> int:
    from plant.intake.compose import Templates
    from plant.intake.consent import import_registry
    from plant.intake.submission import intake, read_submission
    from plant.session import Session
    from plant.stages.route import consent_index_dir

    # refuse a broken package before starting anything
    package = read_submission(submission, templates=Templates(settings.intake.template_dirs))
    started = time.monotonic()
    with Session(settings, config_path=getattr(args, "config", None)) as session:
        if consents:
            with session.plant.ledger.tx() as conn:
                version = import_registry(conn, consents, index_dir=consent_index_dir(settings))
            print(f"Consent registry version {version} from {consents}", file=sys.stderr)
        submission_id, new, *_ = intake(session.plant.ledger, settings, package)
        if not new:
            print(f"{submission_id} was accepted before; finishing it.", file=sys.stderr)
            session.resume()
        session.relay.wake.set()
        session.wait([submission_id], timeout=args.timeout)
        _summary(session.plant, settings, [submission_id], time.monotonic() - started)
    return 0


def cmd_resume(settings: Settings, args: argparse.Namespace) -> int:
    """Finish what an interrupted run left."""
    from plant.ledger import schema as t
    from plant.session import Session

    started = time.monotonic()
    with Session(settings, config_path=getattr(args, "config", None)) as session:
        with session.plant.ledger.read() as conn:
            open_ids = (
                conn.execute(
                    select(t.submissions.c.submission_id).where(t.submissions.c.finished_at.is_(None))
                )
                .scalars()
                .all()
            )
        count = session.resume()
        print(f"Resuming {len(open_ids)} unfinished submission(s) ({count} steps queued).", file=sys.stderr)
        if open_ids:
            session.wait(list(open_ids), timeout=args.timeout)
            _summary(session.plant, settings, list(open_ids), time.monotonic() - started)
    return 0


def _summary(plant, settings: Settings, submissions: list[str], elapsed: float) -> None:
    from plant.ledger import schema as t

    with plant.ledger.read() as conn:
        rows = conn.execute(
            select(t.letters.c.state, t.letters.c.channel, t.letters.c.pages).where(
                t.letters.c.submission_id.in_(submissions)
            )
        ).all()
    states = Counter(r.state for r in rows)
    printed_pages = sum(r.pages or 0 for r in rows if r.state == "DISPATCHED")
    print(f"\nDone in {elapsed:.1f} s: {len(rows)} letters")
    for state, count in sorted(states.items()):
        print(f"  {state:<18} {count}")
    print(f"  printed pages      {printed_pages}  ({printed_pages / elapsed:.1f} pages/s end to end)")
    for submission in submissions:
        print(f"Receipts:   {settings.receipts_dir / (submission + '.csv')}")
    print(f"Spool:      {settings.spool_dir}")
    print(f"Manifests:  {settings.manifests_dir}")
    print(f"Digital:    {settings.digital_outbox_dir}")


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    """Print the history of a letter."""
    from plant.history import letter_history

    history = letter_history(settings, args.id)
    if args.json:
        print(json.dumps(history, indent=1))
    else:
        for letter in history:
            print(
                f"{letter['submission_id']} {letter['letter_id']}  {letter['state']}  "
                f"tracking {letter['tracking_id'] or '-'}  {letter['reason'] or ''}".rstrip()
            )
            for event in letter["events"]:
                line = f"  {event['at']}  {event['event']:<16} {event['from_state'] or '':<12} → {event['to_state'] or ''}"
                print(line + (f"  {json.dumps(event['data'])}" if event["data"] else ""))
    return 0


def cmd_receipts(settings: Settings, args: argparse.Namespace) -> int:
    """Print a submission's receipts."""
    from plant.ledger import Ledger
    from plant.stages.receipts import RECEIPT_COLUMNS, receipt_rows

    ledger = Ledger(settings.ledger_url)
    with ledger.read() as conn:
        rows = receipt_rows(conn, args.submission)
    ledger.dispose()
    if not rows:
        raise NotFound(
            f"No submission {args.submission!r} in the ledger at {settings.ledger_url}; "
            "check the id printed by `plant run`.",
            submission=args.submission,
        )
    if args.json:
        print(json.dumps({"submission_id": args.submission, "letters": rows}, indent=1))
    else:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=RECEIPT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the web pages and JSON API until interrupted."""
    from plant.web import serve

    serve(settings, host=args.host, port=args.port)
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Serve stage messages until stopped."""
    from plant.worker import run_worker

    run_worker(settings, sweeps=not args.no_sweeps)
    return 0


def cmd_ids(settings: Settings, args: argparse.Namespace) -> int:
    """Validate identifiers (one line per id, exit 1 when any is invalid), or allocate new ones (``next``)."""
    if args.ids_command == "next":
        from plant.idalloc import cmd_next

        return cmd_next(settings, args)
    from tracking.errors import TrackingError
    from tracking.ids import validate

    bad = 0
    for identifier in args.identifiers:
        try:
            kind = validate(identifier)
            print(f"{identifier}\tvalid\t{getattr(kind, 'value', kind) or ''}".rstrip())
        except TrackingError as exc:
            bad += 1
            print(f"{identifier}\tinvalid\t{getattr(exc, 'reason', exc)}")
    return 1 if bad else 0


def cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    """Plan an instance file (see docs/scheduling.md)."""
    from plant.scheduling.cli import cmd_plan as plan_command

    return plan_command(settings, args)


COMMANDS = {
    "plan": cmd_plan,
    "demo": cmd_demo,
    "run": cmd_run,
    "resume": cmd_resume,
    "status": cmd_status,
    "receipts": cmd_receipts,
    "worker": cmd_worker,
    "serve": cmd_serve,
    "ids": cmd_ids,
    "accept": lambda s, a: _accept(s, a),
    "postage": lambda s, a: _postage(s, a),
    "impose": lambda s, a: _impose(s, a),
    "scan": lambda s, a: _scan(s, a),
    "qa": lambda s, a: _qa(s, a),
    "watch": lambda s, a: _intake_cli("cmd_watch", s, a),
    "digital": lambda s, a: _intake_cli("cmd_digital", s, a),
    "consent": lambda s, a: _intake_cli("cmd_consent", s, a),
    "sweep": lambda s, a: _sweep(s, a),
    "hold": lambda s, a: _operator("cmd_act", s, a),
    "release": lambda s, a: _operator("cmd_act", s, a),
    "cancel": lambda s, a: _operator("cmd_act", s, a),
    "pull": lambda s, a: _operator("cmd_act", s, a),
    "device": lambda s, a: _operator("cmd_device", s, a),
    "web": lambda s, a: _web(s, a),
}


def _web(settings: Settings, args: argparse.Namespace) -> int:
    from plant.web.auth import cmd_web

    return cmd_web(settings, args)


def _operator(name: str, settings: Settings, args: argparse.Namespace) -> int:
    from plant import operator

    return getattr(operator, name)(settings, args)


def _sweep(settings: Settings, args: argparse.Namespace) -> int:
    from plant.sweeps import cmd_sweep

    return cmd_sweep(settings, args)


def _intake_cli(name: str, settings: Settings, args: argparse.Namespace) -> int:
    from plant.intake import cli as intake_cli

    return getattr(intake_cli, name)(settings, args)


def _scan(settings: Settings, args: argparse.Namespace) -> int:
    from plant.scan_cli import cmd_scan

    return cmd_scan(settings, args)


def _qa(settings: Settings, args: argparse.Namespace) -> int:
    from plant.qa.cli import cmd_qa

    return cmd_qa(settings, args)


def _impose(settings: Settings, args: argparse.Namespace) -> int:
    from plant.impose_cli import cmd_impose

    return cmd_impose(settings, args)


def _accept(settings: Settings, args: argparse.Namespace) -> int:
    from plant.acceptance import cmd_accept

    return cmd_accept(settings, args)


def _postage(settings: Settings, args: argparse.Namespace) -> int:
    from plant.postage import cmd_postage

    return cmd_postage(settings, args)
