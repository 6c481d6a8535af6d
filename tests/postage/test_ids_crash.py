"""Allocation with real processes: many allocators at once never share an id, and ``kill -9`` in the middle of
an allocation loses no part of the range and makes no id come out twice. On SQLite and a real PostgreSQL."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from plant.config import IdKind, IdRangeConfig
from plant.ledger import Ledger
from plant.ledger import schema_postage as tp
from plant.postage.ids import allocate, allocate_from

pytestmark = pytest.mark.slow

#: The child process the crash tests kill.
CHILD = Path(__file__).with_name("alloc_child.py")
#: Committed batches the looping child reports before it is killed.
BATCHES_BEFORE_KILL = 15
#: The range the child allocates from (must match alloc_child.RANGE).
RANGE = IdRangeConfig(first=0, last=9_999_999)
#: Two overlapping ranges of one S10 series and one ru14 range, as the concurrent allocators use them.
OVERLAPPING = [IdRangeConfig(first=0, last=5_000), IdRangeConfig(first=2_000, last=9_000)]
RU = IdRangeConfig(kind=IdKind.RU14, office="190000", month_code="12", first=0, last=99_999)


def _allocate_many(url: str, worker: int, rounds: int, queue) -> None:
    ledger = Ledger(url)
    got = []
    for n in range(rounds):
        with ledger.tx() as conn:
            ranges = OVERLAPPING if (worker + n) % 2 else OVERLAPPING[::-1]
            got.extend(allocate_from(conn, ranges, 1 + (worker + n) % 7))
            got.extend(allocate_from(conn, [RU], 3))
    ledger.dispose()
    queue.put(got)


def test_concurrent_processes_on_overlapping_ranges_never_share_an_id(database_url):
    """Four processes allocating from overlapping S10 ranges and a ru14 range at once get disjoint ids."""
    Ledger(database_url).dispose()  # create the schema once, before the race
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_allocate_many, args=(database_url, w, 15, queue)) for w in range(4)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=180) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    everything = [i for r in results for i in r]
    assert len(everything) == sum(sum(1 + (w + n) % 7 + 3 for n in range(15)) for w in range(4))
    assert len(set(everything)) == len(everything)


def _child(url: str, mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(CHILD), url, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stdout.close()
    proc.stdin.close()


def _recorded(url: str) -> set[int]:
    ledger = Ledger(url)
    with ledger.read() as conn:
        rows = conn.execute(select(tp.id_allocations.c.first_serial, tp.id_allocations.c.last_serial)).all()
    ledger.dispose()
    return {s for lo, hi in rows for s in range(lo, hi + 1)}


def _next_ids(url: str, count: int) -> list[str]:
    ledger = Ledger(url)
    with ledger.tx() as conn:
        ids = allocate(conn, RANGE, count)
    ledger.dispose()
    return ids


def test_kill_during_an_open_allocation_loses_no_range(database_url):
    """Killed with 10 ids allocated but not committed, the allocator left nothing behind: the next allocation
    hands out exactly those ids (none lost), and nothing is recorded as issued."""
    Ledger(database_url).dispose()
    proc = _child(database_url, "hold")
    pending = proc.stdout.readline().split()[1:]
    _kill(proc)
    assert _recorded(database_url) == set()
    assert _next_ids(database_url, 10) == pending


def test_kill_while_allocating_in_a_loop_reuses_no_id(database_url):
    """kill -9 at an arbitrary point of a fast allocation loop: every reported id is recorded as issued, and
    the next allocation starts right after the last recorded one, so no id comes out twice and none is
    skipped."""
    Ledger(database_url).dispose()
    proc = _child(database_url, "loop")
    reported = [proc.stdout.readline().split()[1:] for _ in range(BATCHES_BEFORE_KILL)]
    _kill(proc)
    issued = {i for batch in reported for i in batch}
    recorded = _recorded(database_url)
    after = _next_ids(database_url, 10)
    assert {int(i[2:10]) for i in issued} <= recorded
    assert recorded == set(range(len(recorded)))  # committed blocks are contiguous from the range's start
    assert [int(i[2:10]) for i in after] == list(range(len(recorded), len(recorded) + 10))
