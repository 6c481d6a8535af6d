"""Timed sweeps: the pure decision, the claim, both rules applied as of a sweep's time (once, however often or
concurrently swept), the sweeper thread on an injected clock, the `sweep` actor, `plant sweep` and its
setting."""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from plant.cli import main
from plant.config import load_settings
from plant.errors import ConfigError
from plant.intake.digital import DAY_S
from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.postage.marks import MarkState, move_mark
from plant.runtime.sweeps import Sweeper, claim, record_run, sweep_due, sweep_id
from plant.stages.context import install
from plant.stages.sweep import run_sweep, sweep
from tests.plant.sweeping import DIGITAL, event_counts, letter_states, mark_states, routed_plant

HOUR_S = 3600
#: Where the fixture's plant routed and issued marks: a month before the wall clock, so `plant sweep` (which
#: judges by the wall clock) finds everything due whatever the date the suite runs on.
T0 = float(int(time.time()) - 30 * DAY_S)
#: A time at which every mark on hold (72 h) and every digital letter (5 days) is due.
LATE = T0 + 5 * DAY_S + 1


@pytest.fixture
def plant(settings, small_batch, tmp_path):
    """The routed plant of :func:`routed_plant` on SQLite, with the first piece's mark paid at the counter."""
    current = routed_plant(settings, small_batch, tmp_path, T0)
    with current.ledger.tx() as conn:
        move_mark(conn, current.pieces[0], MarkState.ON_HOLD, MarkState.PAID, "accept", "paid", T0 + HOUR_S)
    yield current
    install(None)
    current.ledger.dispose()


def outbox(ledger, actor: str) -> list[list]:
    with ledger.read() as conn:
        return [
            r.args
            for r in conn.execute(
                select(t.outbox.c.args).where(t.outbox.c.actor == actor).order_by(t.outbox.c.id)
            )
        ]


# ---- the decision ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("at", "last", "due"),
    [
        (1000.0, None, True),  # never swept
        (1059.0, 1000.0, False),  # within the interval
        (1060.0, 1000.0, True),  # an interval later
        (1000.0, 1000.0, False),  # just claimed (by another plant)
        (990.0, 1000.0, False),  # another plant's clock a little ahead
        (900.0, 1000.0, True),  # the clock was set back by more than an interval
    ],
)
def test_sweep_due_from_the_clock_and_the_last_run(at, last, due):
    """A sweep is due when none ran, an interval has passed, or the clock went back more than an interval."""
    assert sweep_due(at, last, 60.0) is due


def test_sweep_id_carries_the_time_exactly():
    """The message id is the sweep's time, read back to the same float."""
    assert float(sweep_id(T0 + 0.1)) == T0 + 0.1


# ---- the setting -------------------------------------------------------------------------------------------
def test_sweep_interval_defaults_to_a_minute(settings):
    """Without a [sweeps] table the plant sweeps every 60 s."""
    assert settings.sweeps.interval_s == 60.0


@pytest.mark.parametrize("value", ["0", "-5", "0.5", "3601", "nan", "inf"])
def test_sweep_interval_out_of_range_is_refused(tmp_path, value):
    """An interval outside 1…3600 s is refused naming the key and the range."""
    path = tmp_path / "plant.toml"
    path.write_text(f"[sweeps]\ninterval_s = {value}\n")
    with pytest.raises(ConfigError, match=r"sweeps\.interval_s = .*from 1 to 3600") as caught:
        load_settings(path, environ={})
    assert caught.value.key == "sweeps.interval_s"


def test_sweep_interval_must_be_a_number(tmp_path):
    """A string interval is refused by the typed loader, naming the key."""
    path = tmp_path / "plant.toml"
    path.write_text('[sweeps]\ninterval_s = "60"\n')
    with pytest.raises(ConfigError, match=r"sweeps\.interval_s = '60': use a number"):
        load_settings(path, environ={})


@pytest.mark.parametrize("value", [1, 3600, 15.5])
def test_sweep_interval_within_range_is_taken(tmp_path, value):
    """1 s, 3600 s and anything between are taken as given."""
    path = tmp_path / "plant.toml"
    path.write_text(f"[sweeps]\ninterval_s = {value}\n")
    assert load_settings(path, environ={}).sweeps.interval_s == value


# ---- the rules, applied by a sweep -------------------------------------------------------------------------
def test_sweep_annuls_expired_marks_on_hold(plant):
    """Every mark on hold since T0 is annulled 72 h later, with the reason."""
    result = run_sweep(plant.ledger, plant.settings, T0 + 72 * HOUR_S + 1)
    assert sorted(result.annulled) == sorted(plant.pieces[1:])
    assert set(mark_states(plant.ledger).values()) == {MarkState.PAID, MarkState.ANNULLED}


def test_sweep_leaves_young_marks_and_undue_letters(plant):
    """Just before 72 h nothing is annulled and no digital letter moves."""
    result = run_sweep(plant.ledger, plant.settings, T0 + 72 * HOUR_S - 1)
    assert (result.annulled, result.to_print) == ((), ())
    assert letter_states(plant.ledger, plant.digital) == ["DELIVERED_DIGITAL"] * DIGITAL


def test_paid_marks_are_never_annulled(plant):
    """A mark paid at the counter stays paid however late the sweep, and gets no expire event."""
    run_sweep(plant.ledger, plant.settings, T0 + 365 * DAY_S)
    assert mark_states(plant.ledger)[plant.pieces[0]] == MarkState.PAID
    assert plant.pieces[0] not in event_counts(plant.ledger, "expire")


def test_sweep_sends_overdue_digital_letters_into_the_pipeline(plant):
    """Unopened letters past their fallback go PRINT_READY with a piece, and `plan` is asked for their
    submission: the running plant's relay publishes it and the paper is planned like any other."""
    plans_before = len(outbox(plant.ledger, "plan"))
    result = run_sweep(plant.ledger, plant.settings, LATE)
    assert sorted(result.to_print) == plant.digital
    assert letter_states(plant.ledger, plant.digital) == ["PRINT_READY"] * DIGITAL
    assert outbox(plant.ledger, "plan")[plans_before:] == [[plant.submission_id]]
    with plant.ledger.read() as conn:
        codes = set(
            conn.execute(select(t.letters.c.reason_code).where(t.letters.c.pk.in_(plant.digital))).scalars()
        )
        pieces = conn.execute(
            select(func.count()).select_from(t.pieces).where(t.pieces.c.letter_pk.in_(plant.digital))
        ).scalar()
    assert codes == {"DIGITAL_FALLBACK"} and pieces == DIGITAL


def test_a_sweep_run_twice_moves_each_item_once(plant):
    """The second sweep at the same time finds nothing; each mark and letter has one event, each letter one
    piece."""
    first = run_sweep(plant.ledger, plant.settings, LATE)
    second = run_sweep(plant.ledger, plant.settings, LATE)
    assert (second.annulled, second.to_print) == ((), ())
    assert event_counts(plant.ledger, "expire") == {p: 1 for p in first.annulled}
    assert event_counts(plant.ledger, "fallback_print") == {str(pk): 1 for pk in plant.digital}


def test_sweep_logs_its_counts(plant):
    """Each sweep logs one `swept` line with what it annulled and sent to print."""
    with capture_logs() as logs:
        run_sweep(plant.ledger, plant.settings, LATE)
    (line,) = [e for e in logs if e["event"] == "swept"]
    assert (line["annulled"], line["to_print"]) == (len(plant.pieces) - 1, DIGITAL)


@pytest.fixture
def shared_plant(settings, small_batch, tmp_path, database_url):
    """The routed plant on a fresh SQLite file or PostgreSQL database (marks all on hold)."""
    current = routed_plant(
        dataclasses.replace(settings, database_url=database_url), small_batch, tmp_path, T0
    )
    yield current
    install(None)
    current.ledger.dispose()


def in_parallel(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads released together; return their results (or raise their error)."""
    barrier, results, errors = threading.Barrier(count), [None] * count, []

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def test_concurrent_sweeps_move_each_item_once(shared_plant):
    """Two plants sweeping the same ledger at once (own connections) share the work: no mark or letter is
    moved twice, given two events or two pieces."""
    ledgers = [Ledger(shared_plant.ledger.url) for _ in range(2)]
    try:
        results = in_parallel(2, lambda i: run_sweep(ledgers[i], shared_plant.settings, LATE))
    finally:
        for ledger in ledgers:
            ledger.dispose()
    annulled = [p for r in results for p in r.annulled]
    to_print = [pk for r in results for pk in r.to_print]
    assert sorted(annulled) == sorted(shared_plant.pieces) and sorted(to_print) == shared_plant.digital
    assert event_counts(shared_plant.ledger, "expire") == {p: 1 for p in shared_plant.pieces}
    assert event_counts(shared_plant.ledger, "fallback_print") == {str(pk): 1 for pk in shared_plant.digital}
    with shared_plant.ledger.read() as conn:
        per_letter = conn.execute(
            select(func.count()).select_from(t.pieces).group_by(t.pieces.c.letter_pk)
        ).scalars()
        assert set(per_letter) == {1}


# ---- the claim ---------------------------------------------------------------------------------------------
def test_claim_sends_one_sweep_per_interval(plant):
    """A claim writes the `sweep(time)` message; within the interval no second one, an interval later
    another."""
    with plant.ledger.tx() as conn:
        claimed = [claim(conn, at, 60.0) for at in (LATE, LATE + 59, LATE + 60)]
    assert claimed == [True, False, True]
    assert outbox(plant.ledger, "sweep") == [[sweep_id(LATE)], [sweep_id(LATE + 60)]]


def test_concurrent_claims_send_one_sweep(shared_plant):
    """Two plants ticking at the same moment, first run and later ones: exactly one claims each sweep."""
    ledgers = [Ledger(shared_plant.ledger.url) for _ in range(2)]

    def tick(i, at):
        with ledgers[i].tx() as conn:
            return claim(conn, at, 60.0)

    try:
        first = in_parallel(2, lambda i: tick(i, LATE))
        later = in_parallel(2, lambda i: tick(i, LATE + 60))
    finally:
        for ledger in ledgers:
            ledger.dispose()
    assert sorted(first) == sorted(later) == [False, True]
    assert outbox(shared_plant.ledger, "sweep") == [[sweep_id(LATE)], [sweep_id(LATE + 60)]]


def test_sweeper_claims_by_its_injected_clock(plant):
    """The sweeper judges by the clock it is given and wakes the relay for each claimed sweep."""
    clock, woken = [LATE], []
    sweeper = Sweeper(plant.ledger, 60.0, clock=lambda: clock[0], notify=lambda: woken.append(clock[0]))
    ticks = []
    for at in (LATE, LATE + 30, LATE + 60):
        clock[0] = at
        ticks.append(sweeper.tick())
    assert ticks == [True, False, True] and woken == [LATE, LATE + 60]


def test_sweeper_thread_outlives_a_failing_tick(plant):
    """A tick that fails (here the clock) is logged and the next tick claims the sweep."""
    calls, stop = [], threading.Event()

    def clock():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("clock unreadable")
        stop.set()
        return LATE

    with capture_logs() as logs:
        Sweeper(plant.ledger, 1.0, clock=clock).run(stop)
    assert [e["log_level"] for e in logs if e["event"] == "sweep_tick_failed"] == ["error"]
    assert outbox(plant.ledger, "sweep") == [[sweep_id(LATE)]]


# ---- the actor ---------------------------------------------------------------------------------------------
def test_sweep_actor_judges_by_the_message_time(plant):
    """`sweep(id)` applies the rules as of the id's time, wakes the relay, and a redelivery moves nothing."""
    woken = []
    plant.notify = lambda: woken.append(1)
    sweep(sweep_id(T0 + 4 * DAY_S))  # marks expired, letters not yet due
    assert letter_states(plant.ledger, plant.digital) == ["DELIVERED_DIGITAL"] * DIGITAL and not woken
    sweep(sweep_id(LATE))
    sweep(sweep_id(LATE))
    assert letter_states(plant.ledger, plant.digital) == ["PRINT_READY"] * DIGITAL and woken == [1]
    assert set(event_counts(plant.ledger, "expire").values()) == {1}


# ---- `plant sweep` -----------------------------------------------------------------------------------------
def test_plant_sweep_runs_one_sweep_and_says_what_it_did(plant, capsys):
    """`plant sweep` annuls and prints by the wall clock, prints the counts, and records the run."""
    assert main(["sweep", "--state-dir", str(plant.settings.state_dir)]) == 0
    out = capsys.readouterr().out
    assert f"{len(plant.pieces) - 1} postage mark(s) annulled: not handed in within 72 h" in out
    assert f"{DIGITAL} digital letter(s) sent to print: not opened within 5 days" in out
    with plant.ledger.read() as conn:
        from plant.runtime.sweeps import last_sweep

        assert last_sweep(conn) is not None


def test_plant_sweep_json_names_tracking_and_letter_ids(plant, capsys):
    """`plant sweep --json` lists the annulled marks' tracking ids and the letters sent to print."""
    assert main(["sweep", "--json", "--state-dir", str(plant.settings.state_dir)]) == 0
    report = json.loads(capsys.readouterr().out)
    with plant.ledger.read() as conn:
        letters = (
            conn.execute(
                select(t.letters.c.letter_id)
                .where(t.letters.c.pk.in_(plant.digital))
                .order_by(t.letters.c.pk)
            )
            .scalars()
            .all()
        )
    assert [m["piece_id"] for m in report["annulled"]] == sorted(plant.pieces[1:])
    assert all(m["tracking_id"] for m in report["annulled"])
    assert [r["letter_id"] for r in report["to_print"]] == letters


def test_plant_sweep_twice_reports_nothing_the_second_time(plant, capsys):
    """A second `plant sweep` finds the work done."""
    main(["sweep", "--state-dir", str(plant.settings.state_dir)])
    capsys.readouterr()
    assert main(["sweep", "--state-dir", str(plant.settings.state_dir)]) == 0
    out = capsys.readouterr().out
    assert "0 postage mark(s) annulled" in out and "0 digital letter(s) sent to print" in out


def test_plant_sweep_on_an_unopenable_ledger_is_a_service_error(tmp_path, capsys):
    """A ledger that cannot be opened exits 69 (service unavailable) naming it."""
    state = tmp_path / "not-a-dir"
    state.write_text("a file where the state dir should be")
    assert main(["sweep", "--state-dir", str(state)]) == 69
    assert "cannot be opened" in capsys.readouterr().err


def test_plant_sweep_with_a_bad_interval_is_a_config_error(tmp_path, capsys):
    """A bad sweeps.interval_s stops every command with exit 78 and the key in the message."""
    config = tmp_path / "plant.toml"
    config.write_text("[sweeps]\ninterval_s = 0\n")
    assert main(["sweep", "--config", str(config), "--state-dir", str(tmp_path / "state")]) == 78
    assert "sweeps.interval_s = 0" in capsys.readouterr().err


def test_record_run_without_interval_always_claims(plant):
    """A sweep by hand records its run even right after another (interval 0)."""
    with plant.ledger.tx() as conn:
        assert [record_run(conn, at) for at in (LATE, LATE, LATE + 1)] == [True, True, True]
