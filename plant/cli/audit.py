"""``plant audit [SUBMISSION|--all] [--json] [--verify-chain] [--stale-after S]``: the end-of-run audit.

Per submission, the letters taken in must equal those delivered digitally + dispatched + rejected +
cancelled + pulled + failed + unaccounted, exactly; no tracking id twice in the manifests; no device job
handed over twice; nothing left in a state that is not final past the stale age. ``--verify-chain``
recomputes the hash chain of the ledger's events. Exit 0 when everything holds, 1 naming what does not
(:mod:`plant.ledger.audit`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from plant.cli import out

if TYPE_CHECKING:
    from plant.config import Settings
    from plant.ledger.audit import AuditReport

#: Column heads of the balance table, after the submission's.
COLUMNS = (
    ("inputs", "inputs"),
    ("DELIVERED_DIGITAL", "digital"),
    ("DISPATCHED", "dispatched"),
    ("REJECTED", "rejected"),
    ("CANCELLED", "cancelled"),
    ("PULLED", "pulled"),
    ("FAILED", "failed"),
    ("UNACCOUNTED", "unaccounted"),
    ("open", "open"),
)


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    """The ``plant audit`` command."""
    audit = sub.add_parser(
        "audit",
        parents=list(parents),
        help="end-of-run reconciliation: every letter in one final state; --verify-chain: the event history",
        description="Reconcile submissions against the ledger, the manifests and the device jobs, and "
        "with --verify-chain recompute the hash chain of the ledger's events. Without SUBMISSION every "
        "submission is audited (--all says so explicitly); --verify-chain alone checks only the chain. "
        "Exit 0 when everything holds, 1 naming the offending ids.",
    )
    which = audit.add_mutually_exclusive_group()
    which.add_argument("submission", nargs="?", metavar="SUBMISSION", help="the submission to audit")
    which.add_argument("--all", action="store_true", help="audit every submission")
    audit.add_argument("--json", action="store_true", help="print the report as JSON")
    audit.add_argument(
        "--verify-chain", action="store_true", help="recompute the hash chain of the ledger's events"
    )
    audit.add_argument(
        "--stale-after",
        type=float,
        default=None,
        metavar="S",
        help="seconds in a state that is not final before a letter, job or run is stuck (default 3600)",
    )
    audit.set_defaults(func=cmd_audit)


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``plant audit``."""
    from plant.errors import NotFound
    from plant.ledger import schema as t
    from plant.ledger.audit import STALE_AFTER_S, AuditReport, load_audit, load_chain, reconcile
    from plant.ledger.store import now, open_ledger

    stale_after = STALE_AFTER_S if args.stale_after is None else args.stale_after
    reconciling = bool(args.all or args.submission or not args.verify_chain)
    ledger = open_ledger(settings, read_only=True)
    try:
        with ledger.read() as conn:
            if args.submission is not None:
                found = conn.execute(
                    t.submissions.select().where(t.submissions.c.submission_id == args.submission)
                ).first()
                if found is None:
                    raise NotFound(
                        f"No submission {args.submission} in the ledger; `plant audit --all` audits every "
                        "one.",
                        submission=args.submission,
                    )
            if reconciling:
                report = reconcile(
                    load_audit(conn, settings.manifests_dir, args.submission), now(), stale_after
                )
            else:
                report = AuditReport([], [], stale_after)
            if args.verify_chain:
                report = AuditReport(report.balances, report.findings, report.stale_after_s, load_chain(conn))
    finally:
        ledger.dispose()
    if args.json:
        out(json.dumps(report.as_dict(), indent=1))
    else:
        _print(report, reconciling)
    return 0 if report.ok else 1


def _print(report: AuditReport, reconciling: bool) -> None:
    if reconciling:
        rows = [["submission", *(head for _, head in COLUMNS), "balanced"]]
        for b in report.balances:
            values = {"inputs": b.inputs, "open": b.open, **b.finals}
            rows.append(
                [b.submission, *(str(values[key]) for key, _ in COLUMNS), "yes" if b.balanced else "NO"]
            )
        _table(rows)
        if report.findings:
            out()
            _table(
                [["finding", "id", "submission", "detail"]]
                + [[f.kind, f.id, f.submission or "-", f.detail] for f in report.findings]
            )
        out()
        if report.balanced:
            out(f"Balanced: {len(report.balances)} submissions, every letter in one final state.")
        else:
            out(f"NOT balanced: {len(report.findings)} findings.")
    if report.chain is not None:
        chain = report.chain
        if chain.ok:
            out(f"Event chain intact: {chain.events} events.")
        else:
            out(f"Event chain BROKEN at event {chain.first_bad_event}: {chain.problem}.")


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
