"""One dramatiq actor module per stage. Each handler takes the id it works on and is idempotent: it checks
the state it expects and exits quietly when the work is done already.
"""

from __future__ import annotations

from collections.abc import Callable

from plant.stages.dispatch import dispatch
from plant.stages.impose import impose
from plant.stages.insert import follow_insert, insert
from plant.stages.plan import plan
from plant.stages.preflight import preflight
from plant.stages.receipts import receipts
from plant.stages.replan import device_check, withdraw, withdraw_run
from plant.stages.route import route
from plant.stages.spool import follow_print, spool
from plant.stages.sweep import sweep


def _withdraw(job_id: str) -> None:
    """Actor ``withdraw``: :func:`plant.stages.replan.withdraw`; whether it withdrew the job is not needed."""
    withdraw(job_id)


def _withdraw_run(run_id: str) -> None:
    """Actor ``withdraw_run``: :func:`plant.stages.replan.withdraw_run`; whether it withdrew is not needed."""
    withdraw_run(run_id)


#: Actor name → handler. Messages carry submission, job or run ids only (a sweep: its time).
HANDLERS: dict[str, Callable[[str], None]] = {
    "preflight": preflight,
    "route": route,
    "plan": plan,
    "impose": impose,
    "spool": spool,
    "follow_print": follow_print,
    "insert": insert,
    "follow_insert": follow_insert,
    "dispatch": dispatch,
    "receipts": receipts,
    "sweep": sweep,
    "device_check": device_check,
    "withdraw": _withdraw,
    "withdraw_run": _withdraw_run,
}
