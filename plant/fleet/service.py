"""Whether each device is in the plan: taken down by an operator, or a press or inserter seen stopped for
longer than ``plan.replan_after_s`` by the timed sweep (:func:`observe` is the pure decision;
:func:`set_service` writes it, with a ``device`` event when the device leaves or rejoins the plan)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Connection, Row, insert, select, update

from plant.ledger import append_event, enqueue, now
from plant.ledger import schema_devices as td
from plant.ledger.jobs import waiting_submissions

log = structlog.get_logger(__name__)


# -- the decision --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """What the sweep concludes from a press's state: when it has been stopped since, and whether it is
    out."""

    stopped_since: float | None
    stopped_down: bool
    #: The row's (stopped_since, stopped_down) the sighting was judged from; :func:`set_service` writes the
    #: sighting only while the row still says so (None: unconditionally).
    seen_from: tuple[float | None, bool] | None = field(default=None, compare=False)


def observe(
    stopped: bool, stopped_since: float | None, stopped_down: bool, at: float, replan_after_s: float
) -> Observation:
    """The press's service state after seeing it ``stopped`` (or running) at ``at``.

    A press is out of the plan once it has been seen stopped for ``replan_after_s``; seen running, it is back.
    A first sighting later than ``at`` (a clock set back) restarts the count rather than waiting for the
    clock.
    """
    seen_from = (stopped_since, bool(stopped_down))
    if not stopped:
        return Observation(None, False, seen_from)
    since = at if stopped_since is None or stopped_since > at else stopped_since
    return Observation(since, stopped_down or at - since >= replan_after_s, seen_from)


# -- the ledger ----------------------------------------------------------------------------------------------
def _locked_row(conn: Connection, name: str, kind: str) -> Row[Any]:
    """Device ``name``'s service row, created (in service) when missing, and locked until the transaction
    ends: ``FOR UPDATE`` on PostgreSQL (a concurrent :func:`set_service` waits, then reads what this one
    wrote); SQLite's ``BEGIN IMMEDIATE`` already serialises writers."""
    table = td.device_service
    if conn.execute(select(table.c.name).where(table.c.name == name)).first() is None:
        fresh = {"name": name, "kind": kind, "operator_down": 0, "stopped_down": 0, "updated_at": now()}
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(pg_insert(table).values(**fresh).on_conflict_do_nothing(index_elements=["name"]))
        else:
            conn.execute(insert(table).values(**fresh))
    return conn.execute(select(table).where(table.c.name == name).with_for_update()).one()


def service_rows(conn: Connection) -> dict[str, Row[Any]]:
    """Every device's service row by name (devices without a row are in service)."""
    return {r.name: r for r in conn.execute(select(td.device_service))}


def out_of_service(conn: Connection) -> set[str]:
    """Names of the devices out of the plan: taken down by an operator, or a press stopped too long."""
    return {r.name for r in service_rows(conn).values() if r.operator_down or r.stopped_down}


def set_service(
    conn: Connection,
    name: str,
    kind: str,
    *,
    operator_down: bool | None = None,
    reason: str | None = None,
    observation: Observation | None = None,
    by: str | None = None,
) -> tuple[bool, bool]:
    """Write the device's service row: an operator's down/up (``operator_down``) or what a sweep saw of the
    press (``observation``). Returns (out of the plan before, out after). When the device left or rejoined the
    plan, a ``device`` event is appended; when it rejoined, ``plan`` is queued for every submission with
    waiting letters. An operator's "up" also restarts the stop count, so a press still stopped gets
    ``replan_after_s`` again. ``by`` names the operator in that event (``data.by``).
    """
    row = _locked_row(conn, name, kind)
    was_operator, was_stopped = bool(row.operator_down), bool(row.stopped_down)
    operator, stopped = was_operator, was_stopped
    why = row.reason
    # Only the columns this change is about are written, from the row as it is now (locked): an operator's
    # down and a sweep's sighting committed at the same moment both hold (docs/operations.md).
    values: dict[str, Any] = {}
    if operator_down is not None:
        operator, why = operator_down, reason if operator_down else None
        values.update(operator_down=int(operator), reason=why)
        if not operator_down:
            stopped = False
            values.update(stopped_since=None, stopped_down=0)
    if observation is not None and observation.seen_from not in (None, (row.stopped_since, was_stopped)):
        # Judged from a row changed since (an operator's "up" restarted the count): the next sweep judges
        # again from the row as it is, rather than this one undoing that change.
        log.info("device_sighting_outdated", device=name, seen_from=observation.seen_from)
        observation = None
    if observation is not None:
        stopped = observation.stopped_down
        values.update(stopped_since=observation.stopped_since, stopped_down=int(stopped))
    if values:
        conn.execute(
            update(td.device_service)
            .where(td.device_service.c.name == name)
            .values(**values, updated_at=now())
        )
    before, after = was_operator or was_stopped, operator or stopped
    if before != after:
        cause = "operator" if operator_down is not None else "stopped"
        append_event(
            conn,
            "device",
            name,
            "down" if after else "up",
            "IN_SERVICE" if after else "OUT_OF_SERVICE",
            "OUT_OF_SERVICE" if after else "IN_SERVICE",
            {"cause": cause, **({"reason": why} if why else {}), **({"by": by} if by else {})},
        )
        log.warning(
            "device_out_of_plan" if after else "device_back_in_plan", device=name, cause=cause, reason=why
        )
    if before and not after:
        for submission in waiting_submissions(conn):
            enqueue(conn, "plan", submission)
    return before, after
