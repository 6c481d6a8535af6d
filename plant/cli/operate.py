"""The shift operator's commands: ``plant hold|release|cancel|pull ID…``, ``plant device down|up|status``,
``plant job parked|reprint|printed`` (jobs the spool stage parked) and ``plant sweep`` (the timed rules now,
as a running plant applies them every interval)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from plant.cli import out

if TYPE_CHECKING:
    from plant.config import Settings
    from plant.runtime.sweeps import SweepResult

#: The letter actions and their help, in the order ``plant --help`` lists them.
ACTIONS = {
    "hold": "hold letters (by letter, tracking or submission id; not yet spooled: taken out of their job)",
    "release": "release held letters (planned again)",
    "cancel": "cancel letters before any paper exists for them",
    "pull": "pull letters so they are never dispatched (outsorted at the inserter, left out of the manifest)",
}


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the operator's commands."""
    for action, text in ACTIONS.items():
        command = sub.add_parser(action, parents=parents, help=text)
        command.add_argument("ids", nargs="+", metavar="ID", help="letter id, tracking id or submission id")
        command.add_argument("--reason", default="", help="why (recorded in the events and the receipt)")
        command.set_defaults(func=cmd_act)
    device = sub.add_parser(
        "device",
        parents=parents,
        help="take a press or inserter out of the plan (`down`), back (`up`), or list them (`status`)",
    )
    device.set_defaults(func=cmd_device)
    device_sub = device.add_subparsers(dest="device_command", required=True, metavar="DEVICE_COMMAND")
    down = device_sub.add_parser("down", parents=parents, help="out of service: its work not yet on it moves")
    down.add_argument("name")
    down.add_argument("--reason", default="", help="why (recorded)")
    up = device_sub.add_parser("up", parents=parents, help="back in service")
    up.add_argument("name")
    device_sub.add_parser("status", parents=parents, help="which devices are in the plan")
    job = sub.add_parser(
        "job",
        parents=parents,
        help="print jobs parked because their printer has no record of them (`parked`): print again "
        "(`reprint`) or mark printed after inspection (`printed`)",
    )
    job.set_defaults(func=cmd_job)
    job_sub = job.add_subparsers(dest="job_command", required=True, metavar="JOB_COMMAND")
    job_sub.add_parser("parked", parents=parents, help="the parked jobs with what is known of each")
    reprint = job_sub.add_parser(
        "reprint", parents=parents, help="submit a parked job again (same pieces and tracking ids)"
    )
    reprint.add_argument("job_id", metavar="JOB")
    reprint.add_argument("--reason", default="", help="why (recorded)")
    printed = job_sub.add_parser(
        "printed", parents=parents, help="its sheets were found: the job goes on to insertion"
    )
    printed.add_argument("job_id", metavar="JOB")
    printed.add_argument("--reason", required=True, help="what the inspection found (recorded)")
    sweep = sub.add_parser(
        "sweep",
        parents=parents,
        help="apply the timed rules now (mark expiry, digital fallback); a running plant does it every "
        "interval",
    )
    sweep.add_argument("--json", action="store_true", help="print what was moved as JSON")
    sweep.set_defaults(func=cmd_sweep)


def cmd_act(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``plant hold|release|cancel|pull``: one line per id; exit 0 when every id was done, else 1."""
    from plant.ledger import open_ledger
    from plant.operator import Action, act

    ledger = open_ledger(settings)
    try:
        outcomes = act(ledger, Action(args.command), args.ids, args.reason)
    finally:
        ledger.dispose()
    for outcome in outcomes:
        out(outcome.line())
    return 0 if all(o.done for o in outcomes) else 1


def cmd_device(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``plant device down|up|status``."""
    from plant.ledger import open_ledger
    from plant.operator import device_down, device_status, device_up

    ledger = open_ledger(settings)
    try:
        if args.device_command == "down":
            outcomes = [device_down(ledger, settings, args.name, args.reason)]
        elif args.device_command == "up":
            outcomes = [device_up(ledger, settings, args.name)]
        else:
            outcomes = device_status(ledger, settings)
    finally:
        ledger.dispose()
    for outcome in outcomes:
        out(outcome.line())
    return 0 if args.device_command == "status" or all(o.done for o in outcomes) else 1


def cmd_job(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``plant job parked|reprint|printed``: one line per job; exit 1 when an action was refused."""
    from plant.ledger import open_ledger
    from plant.operator import job_printed, job_reprint, parked

    ledger = open_ledger(settings)
    try:
        if args.job_command == "reprint":
            outcomes = [job_reprint(ledger, args.job_id, args.reason)]
        elif args.job_command == "printed":
            outcomes = [job_printed(ledger, settings, args.job_id, args.reason)]
        else:
            outcomes = parked(ledger)
    finally:
        ledger.dispose()
    for outcome in outcomes:
        out(outcome.line())
    return 0 if args.job_command == "parked" or all(o.done for o in outcomes) else 1


def cmd_sweep(settings: Settings, args: argparse.Namespace) -> int:
    """Run one sweep now, in this process, and print what it did (a running plant does this every
    interval)."""
    from plant.ledger import open_ledger
    from plant.ledger.reads import sweep_ids
    from plant.runtime.sweeps import sweep_now

    ledger = open_ledger(settings)
    try:
        result = sweep_now(ledger, settings)
        if args.json:
            with ledger.read() as conn:
                ids = sweep_ids(conn, result.annulled, result.to_print)
            out(json.dumps({"at": _iso(result.at), **ids}, indent=1))
        else:
            out(summary(settings, result))
    finally:
        ledger.dispose()
    return 0


def summary(settings: Settings, result: SweepResult) -> str:
    """The sweep's outcome in words, for the operator."""
    lines = [
        f"Sweep at {_iso(result.at)}:",
        f"  {len(result.annulled)} postage mark(s) annulled: not handed in within "
        f"{settings.postage.hand_in_hours:g} h",
        f"  {len(result.to_print)} digital letter(s) sent to print: not opened within "
        f"{settings.intake.digital_fallback_days:g} days",
    ]
    if result.to_print:
        lines.append("  A running plant prints them; if none runs, `plant resume` does.")
    return "\n".join(lines)


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")
