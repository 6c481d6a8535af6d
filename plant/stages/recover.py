"""The recovery sweep: work left stranded is re-derived from the ledger, then ended with a reason; dead
letters raise an alert.

A message can be lost for good: dead-lettered after its retries (a persistent error, a device that forgot a
finished job, a missing spool PDF, a document the device refused), or gone with a Redis that lost its data.
Its submission, job or run then stands still for ever — ``plant resume`` re-derives it, but nothing in a
running plant would. Every timed sweep (:mod:`plant.stages.sweep`) therefore also applies this rule:

- **Stranded** is work that still has a next step (the same mapping as ``plant resume``:
  :data:`JOB_NEXT`, :data:`RUN_NEXT`, :data:`SUBMISSION_NEXT`), has not moved for ``[recovery]
  stale_after_s`` by the sweep's clock, and has *no message* for it anywhere: none in the outbox waiting for
  the relay, none queued, delayed or in a worker's hands in Redis (a follower polling a slow press keeps a
  message in the delay queue, so a long job is never stranded). Dead-lettered messages do not count.
- A stranded entity gets its next message(s) written to the outbox (the actors are idempotent), with an event
  ``rederive`` (``count``, ``actors``, the sweep's time ``at`` and ``since``, the time it last moved), at most
  ``[recovery] max_rederive`` times since it last moved and at most once per stale age.
- One still stranded after that is ended, once (event ``stranded`` with the reason), by the lifecycle's own
  edges: a job or run whose paper's fate is unknown (SPOOLED, WITHDRAWING, at or past its inserter) → its
  pieces UNACCOUNTED (``LOSE``, reason code ``STRANDED``) for the operators' reconciliation, the job FAILED,
  the run RECONCILED; a SPOOLING job with a submission attempt on record is PARKED with the facts, like a job
  its printer forgot (:func:`plant.ledger.jobs.park_job`); work that cannot start (a PLANNED, IMPOSED or never
  attempted SPOOLING job, letters never checked or routed) → FAILED (``FAIL``) with the reason. Letters
  waiting PRINT_READY are only re-derived, never failed: they wait for a press by design. Job states this
  module does not know (PARKED and any later one) are not its business. A SPOOLED job its printer forgot
  never reaches this rule: ``follow_print`` parks it (or, on a printer that proves absence, sends it again)
  at once, the same decision as for a SPOOLING job (:func:`plant.stages.spool._forgotten`).

Dead letters: dramatiq's Redis broker keeps a dead-lettered message in the sorted set
``<namespace>:<queue>.XQ`` (its id) and the hash ``<namespace>:<queue>.XQ.msgs`` (its body) for a week. Every
sweep counts them per actor; when a count grows it logs ``dead_letters`` at warning with the actors and the
ids the messages named, and whenever the counts change it appends an event ``dead_letters`` (entity ``queue``,
``data.counts``), which ``/metrics`` reads as ``plant_dead_letters{actor}`` without Redis.

The queue is read through the broker of the dramatiq worker running the sweep (:func:`queue_view`); a sweep
run anywhere else (``plant sweep`` by hand) cannot tell work in flight from work stranded, and leaves both
rules to the running plant.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import Connection, and_, func, or_, select

from plant.config import Settings
from plant.ledger import Ledger, append_event, enqueue, move_entity, move_letters
from plant.ledger import schema as t
from plant.ledger.jobs import open_attempt, park_job
from plant.ledger.reads import DEAD_LETTERS_EVENT, dead_letter_counts
from plant.model import FINAL_STATES, Event, JobState, RunState, State

log = structlog.get_logger(__name__)

#: Next actor per job state (``plant resume`` and the recovery sweep).
JOB_NEXT = {
    JobState.PLANNED: "impose",
    JobState.IMPOSED: "spool",
    JobState.SPOOLING: "spool",
    JobState.SPOOLED: "follow_print",
    JobState.WITHDRAWING: "withdraw",
}
#: Next actor per run state.
RUN_NEXT = {
    RunState.CREATED: "insert",
    RunState.SUBMITTING: "insert",
    RunState.SUBMITTED: "follow_insert",
    RunState.WITHDRAWING: "withdraw_run",
    RunState.RECONCILED: "dispatch",
}
#: The messages of an unfinished submission (each actor finds its own work, or none).
SUBMISSION_NEXT = ("preflight", "route", "plan", "receipts")

#: Reason code of letters the recovery sweep ended.
STRANDED = "STRANDED"
#: Events of the rule (entity ``submission``, ``job`` or ``run``) and of the dead-letter count (``queue``).
REDERIVE = "rederive"
GAVE_UP = "stranded"
DEAD_LETTERS = DEAD_LETTERS_EVENT
QUEUE_ENTITY = "queue"

#: Letters of a submission its own actors move on (preflight and route; plan).
_SUBMISSION_WORK = (State.RECEIVED, State.PRINT_READY)
#: The final letter states' values.
_FINAL = frozenset(s.value for s in FINAL_STATES)
#: Piece states in which paper may exist: a stranded job's or run's pieces here become UNACCOUNTED.
_PAPER = (State.SPOOLED, State.PRINTED, State.INSERTED)
#: Piece states of work that never reached a press: a stranded job's pieces here become FAILED.
_NO_PAPER = (State.RECEIVED, State.PLANNED, State.IMPOSED)


# -- the queue -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeadLetter:
    """A dead-lettered message: its id, its actor and the id it named (a submission, job or run)."""

    message_id: str
    actor: str
    target: str


class QueueView(Protocol):
    """What the sweep needs to know of the queue."""

    def live_targets(self) -> set[str]:
        """The ids named by every message queued, delayed or in a worker's hands (not dead-lettered)."""

    def dead_letters(self) -> list[DeadLetter]:
        """Every dead-lettered message still kept."""


class RedisQueueView:
    """:class:`QueueView` over dramatiq's Redis broker keys (``<namespace>:<queue>.msgs`` holds a queue's
    messages until they are acknowledged, ``….XQ.msgs`` its dead letters)."""

    def __init__(self, client: Any, namespace: str, queues: Iterable[str]) -> None:
        self.client = client
        self.namespace = namespace
        self.queues = sorted(set(queues))

    @classmethod
    def of_broker(cls, broker: Any) -> RedisQueueView:
        """The view of a dramatiq ``RedisBroker``'s queues."""
        return cls(broker.client, broker.namespace, {*broker.queues, *getattr(broker, "delay_queues", ())})

    def _messages(self, key: str) -> Iterable[tuple[str, Any]]:
        from dramatiq import Message

        for message_id, body in self.client.hscan_iter(key):
            try:
                message = Message.decode(body)
            except Exception:  # a body of another program's: not ours to count
                continue
            yield (message_id.decode() if isinstance(message_id, bytes) else str(message_id)), message

    def live_targets(self) -> set[str]:
        return {
            str(message.args[0])
            for queue in self.queues
            for _, message in self._messages(f"{self.namespace}:{queue}.msgs")
            if message.args
        }

    def dead_letters(self) -> list[DeadLetter]:
        canonical = sorted({q.removesuffix(".DQ") for q in self.queues})  # a delayed queue dies in its own
        return [
            DeadLetter(message_id, message.actor_name, str(message.args[0]) if message.args else "")
            for queue in canonical
            for message_id, message in self._messages(f"{self.namespace}:{queue}.XQ.msgs")
        ]


def queue_view() -> QueueView | None:
    """The queue of the dramatiq worker thread running this sweep, or None outside one (its threads carry
    their broker; the plant never uses dramatiq's global one)."""
    broker = getattr(threading.current_thread(), "broker", None)
    if broker is None or not hasattr(broker, "client") or not hasattr(broker, "namespace"):
        return None
    return RedisQueueView.of_broker(broker)


# -- the rule ------------------------------------------------------------------------------------------------
@dataclass
class RecoveryResult:
    """What one recovery sweep did: entity ids re-derived and ended, and the dead letters per actor."""

    rederived: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    dead_letters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Candidate:
    entity: str  # submission, job or run
    entity_id: str
    state: str
    since: float  # when it last moved (the ledger's stamp)
    submission_id: str
    actors: tuple[str, ...]
    #: A submission's letter states (empty for jobs and runs).
    states: frozenset[str] = frozenset()


def run_recovery(ledger: Ledger, settings: Settings, at: float, queue: QueueView | None) -> RecoveryResult:
    """Apply the recovery rule and the dead-letter alert as of ``at``; nothing without a ``queue`` to tell
    work in flight from work stranded. Safe to repeat: each step is a compare-and-set or judged from
    events."""
    result = RecoveryResult()
    if queue is None:
        return result
    dead = queue.dead_letters()
    with ledger.tx() as conn:
        result.dead_letters = _record_dead_letters(conn, dead, at)
    stale_after, most = settings.recovery.stale_after_s, settings.recovery.max_rederive
    with ledger.read() as conn:
        candidates = _stale(conn, at - stale_after)
        pending = _outbox_targets(conn)
    if not candidates:
        return result
    live = queue.live_targets() | pending  # read after the ledger: a message sent meanwhile is seen
    dead_by_target: dict[str, list[str]] = {}
    for letter in dead:
        dead_by_target.setdefault(letter.target, []).append(letter.actor)
    for candidate in candidates:
        if candidate.entity_id in live:
            continue
        with ledger.tx() as conn:
            tries = _tries(conn, candidate)
            if tries["ended"] or (tries["last_at"] is not None and at - tries["last_at"] < stale_after):
                continue
            if tries["count"] < most:
                _rederive(conn, candidate, tries["count"] + 1, at)
                result.rederived.append(candidate.entity_id)
            elif _end(conn, candidate, tries["count"], dead_by_target.get(candidate.entity_id, []), at):
                result.ended.append(candidate.entity_id)
    return result


def _stale(conn: Connection, cutoff: float) -> list[_Candidate]:
    """Unfinished work not moved since ``cutoff``: jobs, runs of open submissions, open submissions whose own
    actors have work (letters to check, route or plan; or receipts to finish)."""
    jobs, runs, subs = t.print_jobs.c, t.insert_runs.c, t.submissions.c
    found = [
        _Candidate("job", r.job_id, r.state, r.updated_at, r.submission_id, (JOB_NEXT[JobState(r.state)],))
        for r in conn.execute(
            select(jobs.job_id, jobs.state, jobs.updated_at, jobs.submission_id).where(
                jobs.state.in_([s.value for s in JOB_NEXT]), jobs.updated_at < cutoff
            )
        )
    ]
    open_runs = conn.execute(
        select(runs.run_id, runs.state, runs.updated_at, jobs.submission_id)
        .select_from(t.insert_runs.join(t.print_jobs, jobs.job_id == runs.job_id))
        .join(t.submissions, subs.submission_id == jobs.submission_id)
        .where(
            runs.state.in_([s.value for s in RUN_NEXT]),
            runs.updated_at < cutoff,
            subs.finished_at.is_(None),
        )
    ).all()
    for r in open_runs:
        if r.state == RunState.RECONCILED.value and not _run_letters(conn, r.run_id, (State.INSERTED,)):
            continue  # dispatched: nothing left to do
        actors = (RUN_NEXT[RunState(r.state)],)
        found.append(_Candidate("run", r.run_id, r.state, r.updated_at, r.submission_id, actors))
    for submission_id, states, last in _open_submissions(conn):
        if last >= cutoff:
            continue
        if states & {s.value for s in _SUBMISSION_WORK} or states <= _FINAL:
            found.append(
                _Candidate("submission", submission_id, "OPEN", last, submission_id, SUBMISSION_NEXT, states)
            )
    return found


def _open_submissions(conn: Connection) -> list[tuple[str, frozenset[str], float]]:
    letters, subs = t.letters.c, t.submissions.c
    rows = conn.execute(
        select(letters.submission_id, letters.state, func.max(letters.updated_at))
        .join(t.submissions, subs.submission_id == letters.submission_id)
        .where(subs.finished_at.is_(None))
        .group_by(letters.submission_id, letters.state)
    ).all()
    grouped: dict[str, tuple[set[str], float]] = {}
    for submission_id, state, last in rows:
        states, newest = grouped.get(submission_id, (set(), 0.0))
        states.add(state)
        grouped[submission_id] = (states, max(newest, last or 0.0))
    return [(k, frozenset(v[0]), v[1]) for k, v in grouped.items()]


def _outbox_targets(conn: Connection) -> set[str]:
    """Ids named by outbox rows the relay has not published yet (or claimed and not finished)."""
    out = t.outbox.c
    rows = conn.execute(select(out.args).where(or_(out.published_at.is_(None), out.published_at < 0)))
    return {str(args[0]) for (args,) in rows if args}


def _tries(conn: Connection, candidate: _Candidate) -> dict[str, Any]:
    """The rule's earlier steps on ``candidate`` since it last moved: re-derivations, last one's sweep time,
    and whether it was ended already."""
    ev = t.events.c
    rows = conn.execute(
        select(ev.event, ev.data).where(
            ev.entity == candidate.entity,
            ev.entity_id == candidate.entity_id,
            ev.event.in_([REDERIVE, GAVE_UP]),
        )
    ).all()
    count, last_at, ended = 0, None, False
    for event, data in rows:
        data = data or {}
        if abs(float(data.get("since", -1.0)) - candidate.since) > 1e-6:
            continue  # a step taken before the entity last moved
        if event == GAVE_UP:
            ended = True
        else:
            count += 1
            last_at = max(last_at or 0.0, float(data.get("at", 0.0)))
    return {"count": count, "last_at": last_at, "ended": ended}


def _rederive(conn: Connection, candidate: _Candidate, count: int, at: float) -> None:
    for actor in candidate.actors:
        enqueue(conn, actor, candidate.entity_id)
    append_event(
        conn,
        candidate.entity,
        candidate.entity_id,
        REDERIVE,
        candidate.state,
        candidate.state,
        {"count": count, "actors": list(candidate.actors), "at": at, "since": candidate.since},
    )
    log.warning(
        "stranded_rederived",
        entity=candidate.entity,
        id=candidate.entity_id,
        state=candidate.state,
        actors=list(candidate.actors),
        count=count,
        still_since=_iso(candidate.since),
    )


def _end(conn: Connection, candidate: _Candidate, count: int, dead: Sequence[str], at: float) -> bool:
    """End ``candidate`` with a reason (see the module's docstring); True when something was ended."""
    cause = f"; its dead-lettered messages: {', '.join(sorted(dead))}" if dead else ""
    reason = (
        f"stranded: {candidate.entity} {candidate.entity_id} ({candidate.state}) has not moved since "
        f"{_iso(candidate.since)} and its next step ({', '.join(candidate.actors)}) was re-derived {count} "
        f"times without progress{cause}"
    )
    data = {
        "reason": reason,
        "at": at,
        "since": candidate.since,
        "rederived": count,
        "dead_letters": list(dead),
    }
    ended = False
    if candidate.entity == "submission":
        if State.RECEIVED.value not in candidate.states and not candidate.states <= _FINAL:
            return False  # letters waiting PRINT_READY wait for a press by design: never failed for it
        pks = _submission_letters(conn, candidate.entity_id, (State.RECEIVED,))
        ended = bool(_move(conn, pks, Event.FAIL, State.RECEIVED, reason))
        append_event(conn, "submission", candidate.entity_id, GAVE_UP, None, None, data)
    elif candidate.entity == "job":
        ended = _end_job(conn, candidate, reason, data)
    else:
        ended = _end_run(conn, candidate, reason, data)
    if ended:
        enqueue(conn, "receipts", candidate.submission_id)
        log.error("stranded_ended", entity=candidate.entity, id=candidate.entity_id, reason=reason)
    elif candidate.entity == "submission":  # its receipts cannot be finished: said once, for an operator
        log.error("stranded_unfinished", entity=candidate.entity, id=candidate.entity_id, reason=reason)
    return ended


def _end_job(conn: Connection, candidate: _Candidate, reason: str, data: dict[str, Any]) -> bool:
    job_id = candidate.entity_id
    if candidate.state == JobState.SPOOLING.value:
        facts = open_attempt(conn, job_id)
        if facts is not None:  # a submission was attempted: paper may exist, the operator decides
            return park_job(conn, job_id, {**facts, "stranded": reason})
    if not move_entity(
        conn,
        t.print_jobs,
        t.print_jobs.c.job_id,
        job_id,
        candidate.state,
        JobState.FAILED.value,
        GAVE_UP,
        "job",
        data,
    ):
        return False
    for state in _PAPER:
        _move(conn, _job_letters(conn, job_id, (state,)), Event.LOSE, state, reason)
    for state in _NO_PAPER:
        _move(conn, _job_letters(conn, job_id, (state,)), Event.FAIL, state, reason)
    return True


def _end_run(conn: Connection, candidate: _Candidate, reason: str, data: dict[str, Any]) -> bool:
    run_id = candidate.entity_id
    if candidate.state != RunState.RECONCILED.value and not move_entity(
        conn,
        t.insert_runs,
        t.insert_runs.c.run_id,
        run_id,
        candidate.state,
        RunState.RECONCILED.value,
        GAVE_UP,
        "run",
        data,
    ):
        return False
    if candidate.state == RunState.RECONCILED.value:
        append_event(conn, "run", run_id, GAVE_UP, candidate.state, candidate.state, data)
    for state in _PAPER:
        _move(conn, _run_letters(conn, run_id, (state,)), Event.LOSE, state, reason)
    return True


def _move(conn: Connection, pks: list[int], event: Event, expect: State, reason: str) -> list[int]:
    if not pks:
        return []
    return move_letters(
        conn,
        pks,
        event,
        expect,
        data={"by": "plant", "reason": reason},
        extra={"reason_code": STRANDED, "reason": reason},
    )


def _job_letters(conn: Connection, job_id: str, states: Sequence[State]) -> list[int]:
    return list(
        conn.execute(
            select(t.letters.c.pk)
            .select_from(
                t.job_pieces.join(t.pieces, t.pieces.c.piece_id == t.job_pieces.c.piece_id).join(
                    t.letters, t.letters.c.pk == t.pieces.c.letter_pk
                )
            )
            .where(t.job_pieces.c.job_id == job_id, t.letters.c.state.in_([s.value for s in states]))
        ).scalars()
    )


def _run_letters(conn: Connection, run_id: str, states: Sequence[State]) -> list[int]:
    return list(
        conn.execute(
            select(t.letters.c.pk)
            .select_from(t.pieces.join(t.letters, t.letters.c.pk == t.pieces.c.letter_pk))
            .where(t.pieces.c.run_id == run_id, t.letters.c.state.in_([s.value for s in states]))
        ).scalars()
    )


def _submission_letters(conn: Connection, submission_id: str, states: Sequence[State]) -> list[int]:
    letters = t.letters.c
    return list(
        conn.execute(
            select(letters.pk).where(
                and_(letters.submission_id == submission_id, letters.state.in_([s.value for s in states]))
            )
        ).scalars()
    )


# -- dead letters --------------------------------------------------------------------------------------------
def _record_dead_letters(conn: Connection, dead: Sequence[DeadLetter], at: float) -> dict[str, int]:
    """Count ``dead`` per actor; warn when a count grew, record the counts when they changed. An actor that
    had dead letters stays listed (at 0) so the gauge falls back."""
    counts = dict(Counter(letter.actor for letter in dead))
    last = dead_letter_counts(conn)
    for actor in last:
        counts.setdefault(actor, 0)
    grown = sorted(actor for actor, n in counts.items() if n > last.get(actor, 0))
    if grown:
        log.warning(
            DEAD_LETTERS,
            actors={actor: counts[actor] for actor in grown},
            ids={actor: sorted({d.target for d in dead if d.actor == actor}) for actor in grown},
            messages=sorted(d.message_id for d in dead if d.actor in grown),
            total=sum(counts.values()),
        )
    if counts != last:
        data = {"counts": counts, "at": at}
        append_event(conn, QUEUE_ENTITY, DEAD_LETTERS, DEAD_LETTERS, None, None, data)
    return counts


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")
