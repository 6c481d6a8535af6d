"""Helpers for the web tests: ledgers filled through the plant's own machinery, ``plant serve`` in a child
process on a free loopback port, and a small reader for the rendered HTML."""

from __future__ import annotations

import csv
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from sqlalchemy import select, update
from starlette.testclient import TestClient

from plant import testing
from plant.config import Settings
from plant.demo import generate, write_letter
from plant.fleet.service import observe, set_service
from plant.intake.submission import accept, read_submission
from plant.ledger import Ledger, append_event, move_letters
from plant.ledger import schema as t
from plant.ledger.jobs import job_pieces
from plant.model import Event, JobState, State
from plant.operator import Action, act, device_down
from plant.stages.impose import impose
from plant.stages.plan import plan
from plant.stages.spool import reprint_or_fail, spool
from plant.testing import installed_plant, job_ids, plan_submission, read_scalars, state_settings
from plant.web import create_app
from tests.plant.helpers import plant_env, reap_redis, run_plant

#: A recipient name a sender could put in a manifest: markup that would run if the pages did not escape it.
HOSTILE_NAME = '<script>window.__pwned = 1</script>Eve & "Co"'
#: Why the staged piece was spoiled (the reason the inserter would give).
SPOIL_REASON = "diverted in R999999: sheet 2 of 2 not read"
#: Why the operator took press-2 and inserter-2 down, and why a letter was held (markup, to be shown as text).
PRESS_DOWN_REASON = "fuser fault"
INSERTER_DOWN_REASON = "belt torn"
HOLD_REASON = '<img src=x id=held-markup>address to check & "confirm"'
#: The printer-state-reason recorded with the job waiting on the stopped press.
STOP_REASON = "media-jam-error"
#: Seconds to wait for `plant serve` to say where it listens.
SERVER_START_S = 60


@dataclass
class FilledPlant:
    """A state dir whose ledger holds a finished demo batch and a batch staged mid-production."""

    state: Path
    settings: Settings
    #: `plant demo` ran it end to end: printed, inserted and dispatched events for the dashboard.
    demo_submission: str
    #: Pre-flighted, routed, planned, imposed and spooled in this process; then one piece spoiled, one lost
    #: (the
    #: one with the hostile name, its event quoting it as device text), one failed; one letter is not a PDF.
    queue_submission: str
    hostile_letter: str
    failed_letter: str
    rejected_letter: str
    reprint_letter: str


def fill(state: Path, workdir: Path) -> FilledPlant:
    """Run a 12-letter demo into ``state``, then stage an 8-letter batch through the real stage functions."""
    result = run_plant(["demo", "--letters", "12", "--seed", "7", "--timeout", "300"], state)
    reap_redis(state)
    assert result.returncode == 0, result.stderr[-3000:]
    settings = state_settings(state)
    (demo_submission,) = read_scalars(settings, select(t.submissions.c.submission_id))
    batch = generate(workdir / "queue", 8, seed=99)
    rows = _manifest(batch.submission)
    rows[0]["name"] = HOSTILE_NAME
    write_letter(batch.submission / f"{rows[0]['letter_id']}.pdf", rows[0], 1)  # the address on paper matches
    (batch.submission / f"{rows[1]['letter_id']}.pdf").write_text("exported as HTML, not a PDF")
    _write_manifest(batch.submission, rows)
    hostile, rejected, reprinted, failed = (r["letter_id"] for r in rows[:4])

    with installed_plant(settings) as plant:
        submission_id = plan_submission(testing.accept_batch(plant, batch.submission))
        jobs = job_ids(plant, t.print_jobs.c.submission_id == submission_id)
        for job_id in jobs:
            impose(job_id)
            spool(job_id)
        with plant.ledger.tx() as conn:
            pieces = {r.letter_id: r for job_id in jobs for r in job_pieces(conn, job_id)}
            reprint_or_fail(conn, [pieces[reprinted]], Event.SPOIL, State.SPOOLED, SPOIL_REASON)
            move_letters(
                conn,
                [pieces[hostile].pk],
                Event.LOSE,
                State.SPOOLED,
                data={"device_text": HOSTILE_NAME},
                extra={"reason_code": "UNACCOUNTED", "reason": "the inserter gave no result"},
            )
            move_letters(
                conn,
                [pieces[failed].pk],
                Event.FAIL,
                State.SPOOLED,
                extra={"reason_code": "SPOILED_REPEATEDLY", "reason": "spoiled 3 times"},
            )
    return FilledPlant(state, settings, demo_submission, submission_id, hostile, failed, rejected, reprinted)


@dataclass
class DevicesPlant:
    """A state dir whose ledger has devices out of the plan, re-planned jobs and a held letter."""

    state: Path
    settings: Settings
    submission: str
    #: Jobs of press-2 released when the operator took it down (REPLANNED), and of the hold (on press-1).
    replanned: list[str]
    #: The spooled job on press-1 that waits STOPPED, with :data:`STOP_REASON` recorded.
    stopped_job: str
    #: When the sweeps first saw press-1 and inserter-1 stopped (the sweep's clock); press-1 left the plan
    #: `replan_after_s` later.
    stopped_since: float
    #: The letter held with :data:`HOLD_REASON`, and one held and released again (not held any more).
    held_letter: str
    released_letter: str


def fill_devices(state: Path, workdir: Path) -> DevicesPlant:
    """Plan a 12-letter batch on both presses through the stage functions, then: the operator takes press-2
    down (its jobs REPLANNED) and the batch is planned again on press-1; one press-1 job is imposed and
    spooled and waits STOPPED, and the sweeps see press-1 stopped longer than `replan_after_s` (out of the
    plan by the plant) and inserter-1 just stopped (still in it); the operator takes inserter-2 down, holds
    one letter and holds and releases another."""
    settings = state_settings(state)
    submission_id = accept_batch(settings, workdir / "devices", letters=12, seed=3)
    with installed_plant(settings) as plant:
        plan_submission(submission_id)
        device_down(plant.ledger, settings, "press-2", PRESS_DOWN_REASON)
        plan(submission_id)
        jobs = t.print_jobs.c
        planned = job_ids(plant, jobs.printer == "press-1", jobs.state == JobState.PLANNED.value)
        stopped_job, held_job = planned[0], planned[1]
        impose(stopped_job)
        plant.printers["press-1"].layout.make_dirs()  # what the press does when it starts
        spool(stopped_job)
        with plant.ledger.tx() as conn:  # what the spool stage's follower records of a job waiting on a jam
            conn.execute(
                update(t.print_jobs).where(jobs.job_id == stopped_job).values(device_state="STOPPED")
            )
            append_event(
                conn, "job", stopped_job, "device_state", "PENDING", "STOPPED", {"reasons": [STOP_REASON]}
            )
        limit = settings.plan.replan_after_s
        stopped_since = 1_800_000_000.0
        for at in (stopped_since, stopped_since + limit):
            with plant.ledger.tx() as conn:
                seen = observe(True, None if at == stopped_since else stopped_since, False, at, limit)
                set_service(conn, "press-1", "printer", observation=seen)
        with plant.ledger.tx() as conn:  # inserter-1 just seen stopped: still in the plan
            set_service(
                conn, "inserter-1", "inserter", observation=observe(True, None, False, stopped_since, limit)
            )
        device_down(plant.ledger, settings, "inserter-2", INSERTER_DOWN_REASON)
        in_job = read_scalars(
            plant,
            select(t.letters.c.letter_id)
            .select_from(t.letters.join(t.pieces, t.pieces.c.letter_pk == t.letters.c.pk))
            .where(t.pieces.c.job_id == held_job)
            .order_by(t.letters.c.pk),
        )
        held, released = in_job[0], in_job[1]
        outcomes = act(plant.ledger, Action.HOLD, [held, released], HOLD_REASON)
        outcomes += act(plant.ledger, Action.RELEASE, [released])
        assert all(o.done for o in outcomes), outcomes
        replanned = job_ids(plant, jobs.state == JobState.REPLANNED.value)
    return DevicesPlant(state, settings, submission_id, replanned, stopped_job, stopped_since, held, released)


def accept_batch(settings: Settings, workdir: Path, letters: int = 3, seed: int = 5) -> str:
    """Accept a small generated batch into ``settings``' ledger (RECEIVED, nothing run); return its id."""
    batch = generate(workdir, letters, seed=seed)
    settings.blobs_dir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(settings.ledger_url)
    try:
        submission_id, _ = accept(ledger.tx, settings.blobs_dir, read_submission(batch.submission))
    finally:
        ledger.dispose()
    return submission_id


@contextmanager
def client_on_a_broken_ledger(state: Path) -> Iterator[TestClient]:
    """A client on the web application of a fresh plant in ``state`` whose ledger file is no database any more
    (it turned into garbage after the application started)."""
    settings = state_settings(state)
    settings.state_dir.mkdir()
    with TestClient(create_app(settings)) as http:
        for path in settings.state_dir.glob("ledger.sqlite*"):
            path.unlink()
        (settings.state_dir / "ledger.sqlite").write_bytes(b"this is no database" * 100)
        yield http


def _manifest(folder: Path) -> list[dict]:
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write_manifest(folder: Path, rows: list[dict]) -> None:
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


class Server:
    """``plant serve --port 0`` on ``state`` in a child process; :meth:`start` returns the URL it printed. As
    a context manager: started on entry (the URL is the value of the ``with``), stopped on exit."""

    def __init__(self, state: Path, config: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.state, self.config, self.env = state, config, env or {}
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []

    def start(self) -> str:
        command = [sys.executable, "-m", "plant"] + (["--config", str(self.config)] if self.config else [])
        command += ["serve", "--port", "0"]
        self.proc = subprocess.Popen(
            command,
            env={**plant_env(self.state), **self.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        found: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._drain, args=(found,), daemon=True).start()
        try:
            url = found.get(timeout=SERVER_START_S)
        except queue.Empty:
            url = None
        if url is None:
            self.stop()
            raise AssertionError("plant serve did not start:\n" + "".join(self.lines))
        return url

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _drain(self, found: queue.Queue) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            match = re.search(r"serving (http://\S+/)", line)
            if match:
                found.put(match.group(1))
        found.put(None)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class _Elements(HTMLParser):
    """Collects the text of every element carrying a given attribute (``data-state``, ``data-event``, …)."""

    def __init__(self, attribute: str) -> None:
        super().__init__(convert_charrefs=True)
        self.attribute = attribute
        self.stack: list[tuple[str, dict, list[str]]] = []
        self.found: list[tuple[dict, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("meta", "link", "br", "img", "input"):
            return
        self.stack.append((tag, dict(attrs), []))

    def handle_endtag(self, tag):
        while self.stack:
            open_tag, attrs, text = self.stack.pop()
            if self.attribute in attrs:
                inside = {
                    k: v for _, outer, _ in self.stack for k, v in outer.items() if k.startswith("data-")
                }
                self.found.append(({**inside, **attrs}, " ".join("".join(text).split())))
            if self.stack:
                self.stack[-1][2].extend(text)
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self.stack:
            self.stack[-1][2].append(data)


def elements(html: str, attribute: str) -> list[tuple[dict, str]]:
    """(attributes, text) of every element of ``html`` that carries ``attribute``, in closing order; the
    attributes include the ``data-*`` ones of the enclosing elements (a cell knows its row's)."""
    parser = _Elements(attribute)
    parser.feed(html)
    return parser.found
