"""``plant audit [SUBMISSION|--all] [--json] [--verify-chain] [--stale-after S]``: the end-of-run audit.

Per submission, the letters taken in must equal those delivered digitally + dispatched + rejected +
cancelled + pulled + failed + unaccounted, exactly; no tracking id twice in the manifests; no device job
handed over twice; nothing left in a state that is not final past the stale age. A letter not final yet but
younger than the stale age is *in flight* (the plant is working on it): listed apart, not a finding, so an
audit of a running plant exits 0 while its letters move. The stale age is ``--stale-after``, by default
``[recovery] stale_after_s`` × (``max_rederive`` + 1), at least 3600 s (:func:`plant.ledger.audit.stale_age`).
``--verify-chain`` recomputes the hash chain of the ledger's events. Exit 0 when everything holds, 1 naming
what does not (:mod:`plant.ledger.audit`).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
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
    ("in_flight", "in flight"),
    ("stuck", "stuck"),
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
        help="seconds in a state that is not final before a letter, job or run is stuck (default: "
        "[recovery] stale_after_s x (max_rederive + 1), at least 3600); younger letters are in flight",
    )
    audit.set_defaults(func=cmd_audit)


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``plant audit``."""
    from plant.errors import NotFound
    from plant.ledger import schema as t
    from plant.ledger.audit import AuditReport, load_audit, load_chain, reconcile, stale_age
    from plant.ledger.store import now, open_ledger

    recovery = settings.recovery
    stale_after = (
        stale_age(recovery.stale_after_s, recovery.max_rederive)
        if args.stale_after is None
        else args.stale_after
    )
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
                report = AuditReport(
                    report.balances,
                    report.findings,
                    report.stale_after_s,
                    load_chain(conn),
                    in_flight=report.in_flight,
                )
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
            values = {"inputs": b.inputs, "in_flight": b.in_flight, "stuck": b.open - b.in_flight, **b.finals}
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
        if report.balanced and not report.in_flight:
            out(f"Balanced: {len(report.balances)} submissions, every letter in one final state.")
        elif report.balanced:
            states = Counter(i.state for i in report.in_flight)
            where = ", ".join(f"{state} {n}" for state, n in sorted(states.items()))
            out(
                f"Balanced so far: {len(report.balances)} submissions, {len(report.in_flight)} letter(s) "
                f"still in flight ({where}), none older than {report.stale_after_s:.0f} s; not findings: "
                "audit again when the plant is idle (`--json` lists them)."
            )
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
