"""The end-of-run audit: every letter accounted for exactly once, and the history of events untouched.

Two questions an auditor asks of the ledger, answered by pure functions over plain rows (:func:`reconcile`,
:func:`verify_chain`) with one thin loader each (:func:`load_audit`, :func:`load_chain`):

* **Does it balance?** Per submission, the letters taken in equal those delivered digitally + dispatched
  + rejected + cancelled + pulled + failed + unaccounted, exactly: every letter in one final state, none
  missing.
  Beside it: no tracking id twice in the handover manifests (the CSV files an operator hands to the post, and
  the ledger's manifest rows), no dispatched piece in none, no device job handed over twice (a print job
  spooled, an insert run submitted, more often than the device proved it gave one back), and nothing — letter,
  job or run — left in a state that is not final past a stale age.
  A letter not yet final but younger than the stale age is *in flight*: the plant is still working on it, so
  it is reported apart (:class:`InFlight`) and is no finding; past the stale age it is ``stuck``, a finding.
  The default stale age (:func:`stale_age`) is the time a running plant's recovery sweep takes to re-derive
  and then end stranded work (``[recovery] stale_after_s`` × (``max_rederive`` + 1)), at least
  :data:`STALE_AFTER_S`: past it, nothing not final is merely under way.
* **Is the history the one written?** Every event carries its place in the plant's one chain and SHA-256 over
  its fields and the hash of the event before it (:func:`event_hash`, written by :func:`plant.ledger.store.
  chain_events` in the transaction that appends it); recomputing the chain finds any edited, removed or
  reordered event, and the daily anchors (the last hash of each UTC day) let a copy kept off-site check the
  chain was not recomputed as a whole.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from plant.ledger import schema as t
from plant.model import FINAL_STATES, JobState, RunState, State

#: The hash "before" the first event of a chain.
GENESIS = "0" * 64
#: Fewest seconds a letter, job or run may stay in a state that is not final before the audit calls it stuck.
STALE_AFTER_S = 3600.0


def stale_age(recovery_stale_after_s: float, max_rederive: int) -> float:
    """The audit's default stale age for a plant whose recovery sweep re-derives work standing still for
    ``recovery_stale_after_s`` up to ``max_rederive`` times before it ends it: by then a running plant has
    moved or ended everything stranded (at least :data:`STALE_AFTER_S`)."""
    return max(STALE_AFTER_S, recovery_stale_after_s * (max_rederive + 1))


#: The final states of a letter as the balance counts them, in the order of its columns.
BALANCE_STATES = (
    State.DELIVERED_DIGITAL,
    State.DISPATCHED,
    State.REJECTED,
    State.CANCELLED,
    State.PULLED,
    State.FAILED,
    State.UNACCOUNTED,
)
#: Job and run states that hold no more work.
FINAL_JOB_STATES = frozenset({JobState.DONE.value, JobState.REPLANNED.value, JobState.FAILED.value})
FINAL_RUN_STATES = frozenset({RunState.RECONCILED.value})
#: Moves of a device job that take it back from its device (entity, from, to): it may be handed over again.
_GIVEN_BACK = frozenset(
    {
        ("run", RunState.WITHDRAWING.value, RunState.CREATED.value),
        ("job", JobState.SPOOLED.value, JobState.SPOOLING.value),
        ("job", JobState.PARKED.value, JobState.SPOOLING.value),
    }
)
#: The column of a manifest CSV that holds the tracking id.
TRACKING_COLUMN = "tracking_id"
#: Events chained per batch (an upgraded ledger chains its whole history in one migration).
CHAIN_BATCH = 5000

assert set(BALANCE_STATES) == FINAL_STATES


# -- the chain ---------------------------------------------------------------------------------------------
def event_hash(prev_hash: str, seq: int, row: Any) -> str:
    """SHA-256 (hex) of an event row's canonical encoding: its place ``seq`` in the chain, its id, time,
    entity, entity id, event, states and data (JSON with sorted keys), and ``prev_hash``."""
    payload = [
        seq,
        int(row.id),
        float(row.at),
        row.entity,
        row.entity_id,
        row.event,
        row.from_state,
        row.to_state,
        row.data,
        prev_hash,
    ]
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify_chain` found: ``ok``, the events checked, and for a broken chain the first bad
    event's id (None when the break is an event missing at the end with no id left to name) and why."""

    ok: bool
    events: int
    first_bad_event: int | None = None
    problem: str = ""


def verify_chain(rows: Iterable[Any], head: Any | None, anchors: Sequence[Any] = ()) -> ChainReport:
    """Recompute the chain over event ``rows`` (every event, in ``chain_seq`` order, events not chained
    last) against the chain ``head`` row and the daily ``anchors``; the first event that does not hold.

    An event whose own fields were edited fails its hash; a removed event leaves a gap in the places and a
    ``prev_hash`` that names a hash no event has; two events swapped fail their hashes (each covers its place
    and id); an event removed from the end leaves the head pointing past the last one."""
    prev, count, last_id = GENESIS, 0, None
    hashes: dict[int, str] = {}
    for row in rows:
        if row.chain_seq is None:
            return ChainReport(False, count, row.id, f"event {row.id} is not in the chain")
        expected = count + 1
        if row.chain_seq != expected:
            what = "missing" if row.chain_seq > expected else "repeated"
            return ChainReport(
                False, count, row.id, f"event {row.id} has place {row.chain_seq}, {expected} expected: {what}"
            )
        if row.prev_hash != prev:
            return ChainReport(
                False, count, row.id, f"event {row.id} does not follow the event before it (removed or moved)"
            )
        if event_hash(prev, expected, row) != row.hash:
            return ChainReport(False, count, row.id, f"event {row.id} was changed after it was written")
        prev, count, last_id = row.hash, expected, row.id
        hashes[expected] = row.hash
    head_seq = 0 if head is None else head.seq
    head_hash = GENESIS if head is None else head.hash
    if head_seq != count or head_hash != prev:
        bad = head.event_id if head is not None and head_seq > count else last_id
        return ChainReport(
            False, count, bad, f"the chain ends at place {count}, its head says {head_seq}: events removed"
        )
    for anchor in anchors:
        if hashes.get(anchor.seq) != anchor.hash:
            return ChainReport(
                False,
                count,
                anchor.event_id,
                f"the anchor of {anchor.day} (event {anchor.event_id}) does not match the chain",
            )
    return ChainReport(True, count)


def load_chain(conn: Connection, external_anchors: Sequence[Any] = ()) -> ChainReport:
    """:func:`verify_chain` over the ledger's events, chain head and anchors (and ``external_anchors``, rows
    with ``day``, ``seq``, ``event_id`` and ``hash``, e.g. a copy kept off-site)."""
    e = t.events.c
    columns = (e.id, e.at, e.entity, e.entity_id, e.event, e.from_state, e.to_state, e.data)
    head = conn.execute(select(t.event_chain).where(t.event_chain.c.id == 1)).first()
    anchors = list(conn.execute(select(t.event_anchors).order_by(t.event_anchors.c.seq)).all())

    def rows() -> Iterable[Any]:
        query = select(*columns, e.chain_seq, e.prev_hash, e.hash)
        yield from conn.execute(query.where(e.chain_seq.is_not(None)).order_by(e.chain_seq)).yield_per(
            CHAIN_BATCH
        )
        yield from conn.execute(query.where(e.chain_seq.is_(None)).order_by(e.id))

    return verify_chain(rows(), head, [*anchors, *external_anchors])


# -- the balance ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One thing that does not balance: its ``kind``, the offending ``id``, its submission, and what."""

    kind: str
    id: str
    submission: str | None
    detail: str


@dataclass(frozen=True)
class InFlight:
    """A letter not final yet but younger than the stale age: still under way, not a finding."""

    id: str
    submission: str
    state: str
    age_s: float
    tracking_id: str | None


@dataclass(frozen=True)
class Balance:
    """One submission's letters: declared at intake, recorded in the ledger, by final state, and not final
    (``open``: of which ``in_flight`` younger than the stale age, the rest stuck)."""

    submission: str
    inputs: int
    recorded: int
    finals: dict[str, int]
    open: int
    in_flight: int = 0

    @property
    def balanced(self) -> bool:
        """Every letter recorded, each in one final state or still in flight (none stuck)."""
        return (
            self.recorded == self.inputs
            and self.open == self.in_flight
            and sum(self.finals.values()) + self.in_flight == self.inputs
        )

    @property
    def settled(self) -> bool:
        """Balanced with every letter in a final state (nothing in flight)."""
        return self.balanced and self.open == 0


@dataclass(frozen=True)
class AuditInput:
    """The rows an audit decides on (:func:`load_audit`): plain tuples with named fields."""

    submissions: Sequence[Any]  # submission_id, letters
    letters: Sequence[Any]  # pk, letter_id, submission_id, state, updated_at, tracking_id
    jobs: Sequence[Any]  # job_id, submission_id, state, updated_at
    runs: Sequence[Any]  # run_id, job_id, submission_id, state, updated_at
    device_events: Sequence[Any]  # entity, entity_id, from_state, to_state
    manifest_rows: Sequence[Any]  # source, tracking_id: the ledger's manifest items and the CSV files' rows


@dataclass(frozen=True)
class AuditReport:
    """The balance of every submission audited and what does not hold; ``balanced`` when nothing."""

    balances: list[Balance]
    findings: list[Finding]
    stale_after_s: float
    chain: ChainReport | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: Letters still under way (younger than the stale age): reported, not findings.
    in_flight: list[InFlight] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.findings and all(b.balanced for b in self.balances)

    @property
    def ok(self) -> bool:
        return self.balanced and (self.chain is None or self.chain.ok)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-able data (``plant audit --json``)."""
        return {
            "ok": self.ok,
            "balanced": self.balanced,
            "stale_after_s": self.stale_after_s,
            "submissions": [{**asdict(b), "balanced": b.balanced} for b in self.balances],
            "findings": [asdict(f) for f in self.findings],
            "in_flight": [asdict(i) for i in self.in_flight],
            "chain": None if self.chain is None else asdict(self.chain),
        }


def reconcile(data: AuditInput, now: float, stale_after_s: float = STALE_AFTER_S) -> AuditReport:
    """Decide whether ``data`` balances as of ``now``: the balance per submission and every finding."""
    findings: list[Finding] = []
    by_submission: dict[str, list[Any]] = defaultdict(list)
    for letter in data.letters:
        by_submission[letter.submission_id].append(letter)
    stuck, in_flight = letters_not_final(data.letters, now, stale_after_s)
    flying = Counter(i.submission for i in in_flight)
    balances = []
    for submission in data.submissions:
        letters = by_submission.get(submission.submission_id, [])
        states = Counter(letter.state for letter in letters)
        finals = {state.value: states.get(state.value, 0) for state in BALANCE_STATES}
        balance = Balance(
            submission.submission_id,
            submission.letters,
            len(letters),
            finals,
            len(letters) - sum(finals.values()),
            flying.get(submission.submission_id, 0),
        )
        balances.append(balance)
        if balance.recorded != balance.inputs:
            findings.append(
                Finding(
                    "missing",
                    submission.submission_id,
                    submission.submission_id,
                    f"{balance.inputs} letters taken in, {balance.recorded} in the ledger",
                )
            )
    findings += stuck
    findings += stuck_work(data.jobs, data.runs, now, stale_after_s)
    findings += duplicate_device_jobs(data.device_events, _job_submissions(data))
    findings += manifest_findings(data.letters, data.manifest_rows)
    return AuditReport(balances, findings, stale_after_s, in_flight=in_flight)


def letters_not_final(
    letters: Iterable[Any], now: float, stale_after_s: float
) -> tuple[list[Finding], list[InFlight]]:
    """Letters in a state that is not final: ``stuck`` findings past the stale age (not moved for longer),
    and the others in flight (the plant is still working on them: no finding)."""
    stuck: list[Finding] = []
    in_flight: list[InFlight] = []
    for letter in letters:
        if State(letter.state) in FINAL_STATES:
            continue
        age = now - letter.updated_at
        if age <= stale_after_s:
            in_flight.append(
                InFlight(
                    letter.letter_id, letter.submission_id, letter.state, round(age, 1), letter.tracking_id
                )
            )
            continue
        tracking = f", tracking id {letter.tracking_id}" if letter.tracking_id else ""
        stuck.append(
            Finding(
                "stuck",
                letter.letter_id,
                letter.submission_id,
                f"letter {letter.letter_id} (#{letter.pk}{tracking}) {letter.state} for {age:.0f} s, past "
                f"the stale age ({stale_after_s:.0f} s): see `plant status {letter.letter_id}` and the "
                "workers' log",
            )
        )
    return stuck, in_flight


def stuck_work(jobs: Iterable[Any], runs: Iterable[Any], now: float, stale_after_s: float) -> list[Finding]:
    """Print jobs and insert runs left in a state that is not final past the stale age."""
    found = []
    for job in jobs:
        if job.state not in FINAL_JOB_STATES and now - job.updated_at > stale_after_s:
            age = now - job.updated_at
            found.append(
                Finding(
                    "stuck_job",
                    job.job_id,
                    job.submission_id,
                    f"job {job.job_id} {job.state} for {age:.0f} s",
                )
            )
    for run in runs:
        if run.state not in FINAL_RUN_STATES and now - run.updated_at > stale_after_s:
            age = now - run.updated_at
            found.append(
                Finding(
                    "stuck_run",
                    run.run_id,
                    run.submission_id,
                    f"insert run {run.run_id} (job {run.job_id}) {run.state} for {age:.0f} s",
                )
            )
    return found


def duplicate_device_jobs(events: Iterable[Any], submission_of: Mapping[str, str | None]) -> list[Finding]:
    """Device jobs handed over more often than their device gave them back: a print job spooled
    (SPOOLING → SPOOLED) more often than it was sent again after its printer lost it (SPOOLED → SPOOLING on a
    printer that proves it never had it, PARKED → SPOOLING by an operator who found no sheets) plus one, an
    insert run submitted (→ SUBMITTED) more often than it was proven withdrawn (WITHDRAWING → CREATED) plus
    one."""
    handed: Counter[tuple[str, str]] = Counter()
    withdrawn: Counter[tuple[str, str]] = Counter()
    for event in events:
        key = (event.entity, event.entity_id)
        if (event.entity, event.to_state) in (
            ("job", JobState.SPOOLED.value),
            ("run", RunState.SUBMITTED.value),
        ):
            handed[key] += 1
        elif (event.entity, event.from_state, event.to_state) in _GIVEN_BACK:
            withdrawn[key] += 1
    found = []
    for (entity, entity_id), times in sorted(handed.items()):
        if times > 1 + withdrawn[(entity, entity_id)]:
            what = "print job" if entity == "job" else "insert run"
            found.append(
                Finding(
                    "duplicate_device_job",
                    entity_id,
                    submission_of.get(entity_id),
                    f"{what} {entity_id} handed to its device {times} times",
                )
            )
    return found


def manifest_findings(letters: Iterable[Any], manifest_rows: Iterable[Any]) -> list[Finding]:
    """Tracking ids of the audited letters twice in the manifests (the same source or two), and dispatched
    pieces in no manifest file."""
    ours = {letter.tracking_id: letter for letter in letters if letter.tracking_id}
    where: dict[str, list[str]] = defaultdict(list)
    in_files: set[str] = set()
    for row in manifest_rows:
        if row.tracking_id in ours:
            where[row.tracking_id].append(row.source)
            if row.source != "ledger":
                in_files.add(row.tracking_id)
    found = []
    for tracking_id, sources in sorted(where.items()):
        in_ledger = sources.count("ledger")
        if in_ledger > 1 or len(sources) - in_ledger > 1:
            letter = ours[tracking_id]
            found.append(
                Finding(
                    "duplicate_tracking",
                    tracking_id,
                    letter.submission_id,
                    f"tracking id {tracking_id} (letter {letter.letter_id}) in manifests: "
                    f"{', '.join(sources)}",
                )
            )
    for tracking_id, letter in sorted(ours.items()):
        if letter.state == State.DISPATCHED.value and tracking_id not in in_files:
            found.append(
                Finding(
                    "unmanifested",
                    tracking_id,
                    letter.submission_id,
                    f"letter {letter.letter_id} DISPATCHED, tracking id {tracking_id} in no manifest file",
                )
            )
    return found


def _job_submissions(data: AuditInput) -> dict[str, str | None]:
    out: dict[str, str | None] = {job.job_id: job.submission_id for job in data.jobs}
    out.update({run.run_id: run.submission_id for run in data.runs})
    return out


# -- the loader ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ManifestRow:
    """One tracking id in a manifest: ``source`` is ``ledger`` or the CSV file's name and line."""

    source: str
    tracking_id: str


def read_manifest_files(folder: Path) -> list[ManifestRow]:
    """Every tracking id in the manifest CSV files under ``folder`` (any depth; the column
    :data:`TRACKING_COLUMN`), each with its file and line."""
    rows: list[ManifestRow] = []
    if not folder.is_dir():
        return rows
    for path in sorted(folder.rglob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or TRACKING_COLUMN not in reader.fieldnames:
                continue
            name = path.relative_to(folder).as_posix()
            for line, item in enumerate(reader, start=2):
                if item.get(TRACKING_COLUMN):
                    rows.append(ManifestRow(f"{name}:{line}", item[TRACKING_COLUMN]))
    return rows


def load_audit(conn: Connection, manifests_dir: Path, submission: str | None = None) -> AuditInput:
    """The rows :func:`reconcile` decides on, for ``submission`` (None: every submission)."""
    s, letters, pieces, jobs, runs, e = (
        t.submissions.c,
        t.letters.c,
        t.pieces.c,
        t.print_jobs.c,
        t.insert_runs.c,
        t.events.c,
    )
    subs_q = select(s.submission_id, s.letters).order_by(s.received_at, s.submission_id)
    letters_q = (
        select(letters.pk, letters.letter_id, letters.submission_id, letters.state, letters.updated_at)
        .add_columns(pieces.tracking_id)
        .select_from(t.letters.outerjoin(t.pieces, pieces.letter_pk == letters.pk))
        .order_by(letters.pk)
    )
    jobs_q = select(jobs.job_id, jobs.submission_id, jobs.state, jobs.updated_at).order_by(jobs.number)
    runs_q = (
        select(runs.run_id, runs.job_id, jobs.submission_id, runs.state, runs.updated_at)
        .select_from(t.insert_runs.join(t.print_jobs, jobs.job_id == runs.job_id))
        .order_by(runs.number)
    )
    if submission is not None:
        subs_q = subs_q.where(s.submission_id == submission)
        letters_q = letters_q.where(letters.submission_id == submission)
        jobs_q = jobs_q.where(jobs.submission_id == submission)
        runs_q = runs_q.where(jobs.submission_id == submission)
    job_rows = list(conn.execute(jobs_q).all())
    run_rows = list(conn.execute(runs_q).all())
    events_q = select(e.entity, e.entity_id, e.from_state, e.to_state).where(
        e.entity.in_(["job", "run"]),
        e.to_state.in_(
            [
                JobState.SPOOLED.value,
                JobState.SPOOLING.value,
                RunState.SUBMITTED.value,
                RunState.CREATED.value,
            ]
        ),
    )
    wanted = {("job", j.job_id) for j in job_rows} | {("run", r.run_id) for r in run_rows}
    device_events = [
        row
        for row in conn.execute(events_q.order_by(e.id)).all()
        if submission is None or (row.entity, row.entity_id) in wanted
    ]
    manifest = [
        ManifestRow("ledger", row.tracking_id)
        for row in conn.execute(select(t.manifest_items.c.tracking_id).order_by(t.manifest_items.c.seq))
    ]
    return AuditInput(
        submissions=list(conn.execute(subs_q).all()),
        letters=list(conn.execute(letters_q).all()),
        jobs=job_rows,
        runs=run_rows,
        device_events=device_events,
        manifest_rows=manifest + read_manifest_files(manifests_dir),
    )
