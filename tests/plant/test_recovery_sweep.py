"""The recovery sweep (issue 12, hole 1): work whose message was lost or dead-lettered is re-derived by the
running plant after the stale age, then ended with a reason; dead letters show in the log and in /metrics.
Real Redis (the embedded server), real stages, a real worker; the plant's clock is injected."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from plant.errors import ConfigError
from plant.ledger import schema as t
from plant.ledger.reads import dead_letter_counts as dead_letter_figures
from plant.model import FINAL_STATES, JobState, State
from plant.runtime.broker import EmbeddedRedis, declare_actors, make_broker
from plant.stages import HANDLERS
from plant.stages.impose import impose
from plant.stages.recover import GAVE_UP, REDERIVE, STRANDED, RedisQueueView, run_recovery
from plant.stages.spool import spool
from plant.testing import Clock, configure, open_session, read_rows, state_settings, write_config
from plant.web.metrics import exposition
from plant.web.queries import metrics
from printers.drivers.hotfolder import HotFolderLayout
from tests.plant.helpers import wait_for
from tests.plant.operating import jobs, operating, planned

STALE_S = 600
#: Two presses (fast), one inserter, small jobs; a sweep a second; no retries, so a failing message is
#: dead-lettered at once; two re-derivations before stranded work is ended.
TABLES = dict(
    job_max_pieces=2,
    printers=[
        {"name": "press-1", "sheets_per_minute": 6000},
        {"name": "press-2", "sheets_per_minute": 6000},
    ],
    inserters=[{"name": "ins-1", "envelopes_per_hour": 360000}],
    sweeps={"interval_s": 1},
    recovery={"stale_after_s": STALE_S, "max_rederive": 2},
    queue={"max_retries": 0},
)


def events(ledger, entity: str, entity_id: str, name: str) -> list:
    with ledger.read() as conn:
        return conn.execute(
            select(t.events.c.data).where(
                t.events.c.entity == entity, t.events.c.entity_id == entity_id, t.events.c.event == name
            )
        ).all()


def job_letters(ledger, job_id: str) -> list:
    with ledger.read() as conn:
        return conn.execute(
            select(t.letters.c.pk, t.letters.c.state, t.letters.c.reason_code, t.letters.c.reason)
            .select_from(
                t.job_pieces.join(t.pieces, t.pieces.c.piece_id == t.job_pieces.c.piece_id).join(
                    t.letters, t.letters.c.pk == t.pieces.c.letter_pk
                )
            )
            .where(t.job_pieces.c.job_id == job_id)
        ).all()


def lose_messages(ledger, target: str) -> None:
    """The outbox rows naming ``target`` count as published: their messages are lost."""
    with ledger.tx() as conn:
        ids = [r.id for r in conn.execute(select(t.outbox.c.id, t.outbox.c.args)) if r.args[:1] == [target]]
        conn.execute(update(t.outbox).where(t.outbox.c.id.in_(ids)).values(published_at=1.0))


def strand(plant, settings) -> str:
    """A job SPOOLED on its press whose ``follow_print`` message was lost and whose press then lost its files
    but for a damaged report on the job (its status file unreadable: every look fails the same way; a press
    that forgot the job outright is dealt with by ``follow_print`` itself, test_follow_forgotten.py); the
    batch's other jobs planned."""
    planned(plant)
    job = jobs(plant)[0]
    impose(job.job_id)
    spool(job.job_id)
    assert jobs(plant, t.print_jobs.c.job_id == job.job_id)[0].state == JobState.SPOOLED.value
    lose_messages(plant.ledger, job.job_id)
    folder = settings.printer_folder(settings.printer(job.printer))
    for path in [p for p in folder.rglob("*") if p.is_file() and job.job_id in p.name]:
        path.unlink()
    name = plant.printers[job.printer].device_name(job.job_id)
    report = HotFolderLayout(folder).status(name)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("{ not json")
    return job.job_id


@pytest.mark.slow
@pytest.mark.usefixtures("no_leftover_redis")
def test_stranded_job_is_rederived_then_its_pieces_unaccounted(tmp_path, small_batch):
    """The running plant re-derives a stranded SPOOLED job's ``follow_print`` once a stale age has passed (not
    before), twice; the press knows nothing of the job, so each dies (a dead letter, warned of in the log and
    counted in ``plant_dead_letters``); then its pieces are UNACCOUNTED with the reason and the job FAILED."""
    config, settings = configure(tmp_path, **TABLES)
    with operating(settings, small_batch, fleet=False) as plant:
        job_id = strand(plant, settings)
    clock = Clock()
    with open_session(settings, config, clock) as session:
        ledger = session.plant.ledger
        mine = {r.pk for r in job_letters(ledger, job_id)}
        others = select(t.letters.c.state).where(t.letters.c.pk.not_in(mine))
        wait_for(
            lambda: {r.state for r in read_rows(ledger, others)} <= FINAL_STATES,
            "the batch's other jobs",
        )
        assert not events(ledger, "job", job_id, REDERIVE)  # not stale yet: left alone

        for count in (1, 2):
            clock.advance(STALE_S + 1)
            wait_for(lambda c=count: len(events(ledger, "job", job_id, REDERIVE)) == c, f"rederive {count}")
            wait_for(
                lambda c=count: dead_letter_figures_of(ledger).get("follow_print") == c,
                f"dead letter {count} counted",
            )
        assert [e.data["count"] for e in events(ledger, "job", job_id, REDERIVE)] == [1, 2]
        assert {r.state for r in job_letters(ledger, job_id)} == {State.SPOOLED.value}  # two sweeps later

        clock.advance(STALE_S + 1)
        wait_for(lambda: len(events(ledger, "job", job_id, GAVE_UP)) == 1, "the job ended")
        letters = job_letters(ledger, job_id)
        assert {r.pk for r in letters} == mine
        assert {r.state for r in letters} == {State.UNACCOUNTED.value}
        assert {r.reason_code for r in letters} == {STRANDED}
        assert all("re-derived 2 times" in r.reason and "follow_print" in r.reason for r in letters)
        job = read_rows(ledger, select(t.print_jobs.c.state).where(t.print_jobs.c.job_id == job_id))[0]
        assert job.state == JobState.FAILED.value
        clock.advance(STALE_S + 1)  # ended once: later sweeps leave it
        wait_for(lambda: len(events(ledger, "queue", "dead_letters", "dead_letters")) >= 2, "the counts")
        assert len(events(ledger, "job", job_id, GAVE_UP)) == 1

        with ledger.read() as conn:
            body, _ = exposition(metrics(conn, settings, clock()), None, dead_letter_figures(conn))
        assert 'plant_dead_letters{actor="follow_print"} 2.0' in body.decode()

    warnings = [
        line
        for line in (settings.state_dir / "logs" / "worker.log").read_text().splitlines()
        if '"dead_letters"' in line and line.startswith("{")
    ]
    assert warnings
    record = json.loads(warnings[-1])
    assert record["level"] == "warning" and record["actors"] == {"follow_print": 2}
    assert record["ids"] == {"follow_print": [job_id]}


def dead_letter_figures_of(ledger) -> dict[str, int]:
    with ledger.read() as conn:
        return dead_letter_figures(conn)


def test_work_with_a_message_in_the_queue_is_never_stranded(tmp_path, small_batch):
    """A stale SPOOLED job whose follower's next look waits in Redis's delay queue (a long print) is left
    alone; once that message is gone, it is re-derived, once per stale age."""
    config, settings = configure(tmp_path, **TABLES)
    embedded = EmbeddedRedis(settings.redis_dir)
    broker = make_broker(embedded.start(), settings.queue)
    try:
        actors = declare_actors(broker, HANDLERS, settings.queue)
        view = RedisQueueView.of_broker(broker)
        with operating(settings, small_batch, fleet=False) as plant:
            job_id = strand(plant, settings)
            with plant.ledger.tx() as conn:  # the batch's other work has its messages in the outbox: sent
                conn.execute(update(t.outbox).values(published_at=1.0))
            spooled_at = select(t.print_jobs.c.updated_at).where(t.print_jobs.c.job_id == job_id)
            late = read_rows(plant.ledger, spooled_at)[0].updated_at + STALE_S + 1
            actors["follow_print"].send_with_options(args=(job_id,), delay=3_600_000)
            assert job_id in view.live_targets()
            assert job_id not in run_recovery(plant.ledger, settings, late, view).rederived
            assert not events(plant.ledger, "job", job_id, REDERIVE)

            broker.flush_all()
            assert job_id in run_recovery(plant.ledger, settings, late, view).rederived
            assert job_id not in run_recovery(plant.ledger, settings, late + 1, view).rederived  # pending
            lose_messages(plant.ledger, job_id)
            assert job_id not in run_recovery(plant.ledger, settings, late + 1, view).rederived  # too soon
            assert job_id in run_recovery(plant.ledger, settings, late + STALE_S, view).rederived
            assert [e.data["count"] for e in events(plant.ledger, "job", job_id, REDERIVE)] == [1, 2]
    finally:
        broker.close()
        embedded.stop()


def test_recovery_settings_default_and_are_checked(tmp_path):
    """``[recovery]`` defaults to 600 s and 3 re-derivations; values out of range are refused, naming the
    key."""
    settings = state_settings(tmp_path / "state")
    assert (settings.recovery.stale_after_s, settings.recovery.max_rederive) == (600.0, 3)
    for table, key in (
        ({"stale_after_s": 0}, "recovery.stale_after_s"),
        ({"stale_after_s": float("nan")}, "recovery.stale_after_s"),
        ({"max_rederive": -1}, "recovery.max_rederive"),
        ({"max_rederive": 101}, "recovery.max_rederive"),
    ):
        with pytest.raises(ConfigError) as caught:
            state_settings(tmp_path / "state", write_config(tmp_path, recovery=table))
        assert caught.value.key == key
