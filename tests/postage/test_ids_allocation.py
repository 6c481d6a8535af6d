"""Tracking-id allocation from configured ranges: kinds, spanning, exhaustion, the 90 % warning, the retention
window, the carry-over of pre-series cursors, and the free-block search (a Hypothesis property)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select
from structlog.testing import capture_logs

from plant.cli import main
from plant.config import IdKind, IdRangeConfig, load_settings
from plant.errors import ConfigError, IdRangeExhausted, IdRangesExhausted
from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.ledger import schema_postage as tp
from plant.postage.ids import (
    DEFAULT_RETENTION_S,
    allocate,
    allocate_for,
    allocate_from,
    free_blocks,
    retention_seconds,
)
from tracking.ids import validate_ru14, validate_s10

#: A fixed clock for the ledger's allocation times.
T0 = 1_750_000_000.0
#: One day in seconds.
DAY = 86_400

RU = IdRangeConfig(kind=IdKind.RU14, office="101000", month_code="07", first=0, last=99)


@pytest.fixture
def ledger(database_url):
    """A ledger on SQLite and on a real PostgreSQL."""
    ledger = Ledger(database_url)
    yield ledger
    ledger.dispose()


def take(ledger, id_range, count, at=T0, **kwargs):
    with ledger.tx() as conn:
        return allocate(conn, id_range, count, at=at, **kwargs)


def test_ru14_range_hands_out_valid_consecutive_ids(ledger):
    """A ru14 range yields valid 14-digit ids carrying its office and month code, serials in order."""
    ids = take(ledger, RU, 3)
    for identifier in ids:
        validate_ru14(identifier)
    assert [i[:8] for i in ids] == ["10100007"] * 3
    assert [i[8:13] for i in ids] == ["00000", "00001", "00002"]


def test_allocation_spans_to_the_next_range(ledger):
    """When the first range runs out mid-request, the rest comes from the next range of the same kind."""
    a = IdRangeConfig(first=0, last=2)
    b = IdRangeConfig(service="RA", first=0, last=9)
    with ledger.tx() as conn:
        ids = allocate_from(conn, [a, b], 5, at=T0)
    assert [i[:2] for i in ids] == ["RR", "RR", "RR", "RA", "RA"]


def test_exhausted_ranges_raise_and_consume_nothing(ledger):
    """A demand larger than all ranges raises IdRangesExhausted; the rolled-back transaction took nothing."""
    with (
        pytest.raises(IdRangesExhausted, match="have 100 ids left but 101 are needed"),
        ledger.tx() as conn,
    ):
        allocate_from(conn, [RU], 101, at=T0)
    assert take(ledger, RU, 1)[0][8:13] == "00000"


def test_exhausted_is_still_the_plant_range_error(ledger):
    """The kind-level error is an IdRangeExhausted, so existing handlers keep catching it."""
    with pytest.raises(IdRangeExhausted), ledger.tx() as conn:
        allocate_from(conn, [RU], 1000, at=T0)


def test_warning_when_a_range_passes_ninety_percent(ledger):
    """The allocation that takes a range past 90 % logs id_range_nearly_used with what is left."""
    take(ledger, RU, 88)
    with capture_logs() as quiet:
        take(ledger, RU, 1)
    with capture_logs() as loud:
        take(ledger, RU, 1)
    assert not [e for e in quiet if e["event"] == "id_range_nearly_used"]
    assert [e["left"] for e in loud if e["event"] == "id_range_nearly_used"] == [10]


def test_re_added_range_skips_ids_issued_within_the_window(ledger):
    """A range configured again with an earlier start skips every id handed out in the last 12 months."""
    first = take(ledger, IdRangeConfig(first=100, last=199), 10)
    widened = take(ledger, IdRangeConfig(first=95, last=199), 10, at=T0 + 30 * DAY)
    assert not set(first) & set(widened)
    assert [i[2:10] for i in widened] == [f"{s:08d}" for s in (95, 96, 97, 98, 99, 110, 111, 112, 113, 114)]


def test_overlapping_ranges_never_share_an_id(ledger):
    """Two configured ranges of one series that overlap hand out disjoint ids."""
    low = take(ledger, IdRangeConfig(first=0, last=49), 30)
    high = take(ledger, IdRangeConfig(first=20, last=99), 30)
    assert not set(low) & set(high)


def test_ids_become_reusable_after_the_retention_window(ledger):
    """A range re-added after the window has passed may hand the old ids out again."""
    old = take(ledger, IdRangeConfig(first=100, last=199), 5)
    later = take(ledger, IdRangeConfig(first=99, last=150), 6, at=T0 + DEFAULT_RETENTION_S + 1)
    assert later[1:] == old


def test_retention_window_is_at_least_the_calendar_months():
    """Twelve retention months are never shorter than 366 days."""
    assert retention_seconds(12) >= 366 * DAY


def test_cursor_of_an_older_ledger_is_carried_over(ledger):
    """An S10 cursor from a ledger written before series existed continues where it stood."""
    with ledger.tx() as conn:
        conn.execute(
            insert(t.id_ranges).values(service="RR", country="ZZ", first=0, last=999, next_serial=40)
        )
    assert take(ledger, IdRangeConfig(first=0, last=999), 1)[0][2:10] == "00000040"


def test_carried_over_ids_are_protected_by_the_window(ledger):
    """The ids an older ledger handed out are recorded, so another range of the series skips them."""
    with ledger.tx() as conn:
        conn.execute(
            insert(t.id_ranges).values(service="RR", country="ZZ", first=0, last=999, next_serial=40)
        )
    take(ledger, IdRangeConfig(first=0, last=999), 1)
    assert take(ledger, IdRangeConfig(first=10, last=999), 1)[0][2:10] == "00000041"


def test_every_allocation_is_recorded_with_its_time(ledger):
    """Each block handed out is in id_allocations with the allocation's time."""
    take(ledger, RU, 4)
    with ledger.read() as conn:
        rows = conn.execute(select(tp.id_allocations)).all()
    assert [(r.series, r.first_serial, r.last_serial, r.allocated_at) for r in rows] == [
        ("ru14:101000/07", 0, 3, T0)
    ]


def test_settings_ranges_by_kind(tmp_path):
    """[[tracking.ranges]] lists ranges of both kinds; with no S10 range listed, [ids] is the S10 range."""
    path = tmp_path / "plant.toml"
    path.write_text(
        '[[tracking.ranges]]\nkind = "ru14"\noffice = "101000"\nmonth_code = "01"\nfirst = 0\nlast = 9\n'
    )
    settings = load_settings(path, environ={})
    assert [r.kind for r in settings.id_ranges(IdKind.RU14)] == [IdKind.RU14]
    assert settings.id_ranges(IdKind.S10) == (settings.ids,)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        (
            '[[tracking.ranges]]\nkind = "ru14"\noffice = "1010"\nmonth_code = "01"\nfirst = 0\nlast = 9\n',
            "tracking.ranges[0].office",
        ),
        (
            '[[tracking.ranges]]\nkind = "ru14"\noffice = "101000"\nmonth_code = "01"\n'
            "first = 0\nlast = 100000\n",
            "tracking.ranges[0].first",
        ),
        (
            '[[tracking.ranges]]\nkind = "s10"\nservice = "JA"\nfirst = 0\nlast = 9\ncountry = "d"\n',
            "tracking.ranges[0].country",
        ),
        ("[tracking]\nretention_months = 0\n", "tracking.retention_months"),
    ],
)
def test_bad_range_configuration_names_its_key(tmp_path, toml, key):
    """A range that cannot make valid ids is refused with the key to fix."""
    path = tmp_path / "plant.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as error:
        load_settings(path, environ={})
    assert error.value.key == key


def test_kind_without_a_range_is_a_configuration_error(tmp_path, ledger):
    """Asking for ru14 ids with no ru14 range configured says which table to add."""
    settings = load_settings(environ={"PLANT_STATE_DIR": str(tmp_path)})
    with (
        pytest.raises(ConfigError, match=r"\[\[tracking.ranges\]\] table with kind = \"ru14\""),
        ledger.tx() as conn,
    ):
        allocate_for(conn, settings, 1, IdKind.RU14)


def test_cli_ids_next_prints_valid_ids(tmp_path, capsys):
    """`plant ids next --kind s10 --count 3` prints three valid, distinct S10 ids, one per line."""
    assert main(["ids", "next", "--kind", "s10", "--count", "3", "--state-dir", str(tmp_path / "state")]) == 0
    ids = capsys.readouterr().out.split()
    assert len(set(ids)) == 3
    for identifier in ids:
        validate_s10(identifier)


def test_cli_ids_next_continues_after_the_last_call(tmp_path, capsys):
    """Two `plant ids next` runs on one state dir never print the same id."""
    state = str(tmp_path / "state")
    main(["ids", "next", "--count", "2", "--state-dir", state])
    main(["ids", "next", "--count", "2", "--state-dir", state])
    ids = capsys.readouterr().out.split()
    assert len(ids) == len(set(ids)) == 4


def test_cli_ids_next_exhausted_exits_with_tempfail(tmp_path, capsys):
    """An exhausted range makes `plant ids next` exit 75 with the fix in the message."""
    path = tmp_path / "plant.toml"
    path.write_text("[ids]\nfirst = 0\nlast = 1\n")
    code = main(
        ["ids", "next", "--count", "3", "--config", str(path), "--state-dir", str(tmp_path / "state")]
    )
    assert code == 75
    assert "add a new range" in capsys.readouterr().err


BLOCKS = st.lists(
    st.tuples(st.integers(0, 60), st.integers(0, 20)).map(lambda p: (p[0], p[0] + p[1])), max_size=6
)


@settings(max_examples=300, deadline=None)
@given(start=st.integers(0, 50), size=st.integers(0, 60), taken=BLOCKS, need=st.integers(0, 80))
def test_free_blocks_takes_the_lowest_free_serials(start, size, taken, need):
    """free_blocks returns exactly the lowest min(need, free) serials in [start, last] outside every taken
    block."""
    last = start + size - 1
    blocked = {s for lo, hi in taken for s in range(lo, hi + 1)}
    expected = [s for s in range(start, last + 1) if s not in blocked][:need]
    got = [s for lo, hi in free_blocks(start, last, taken, need) for s in range(lo, hi + 1)]
    assert got == expected
