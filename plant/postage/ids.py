"""Durable allocation of tracking ids (UPU S10 and Russian 14-digit) from the configured ranges.

Everything happens inside the caller's transaction, so a crash before commit allocates nothing and after
commit the ids are the caller's. Per allocation, for each range used:

1. the range's *series* row (its kind and fixed parts, e.g. ``s10:RR/ZZ``) is updated first: every
   allocator of that series, on any machine, queues behind that row until the transaction ends;
2. the range's cursor is read, and the serials from it up to the range's end are searched for free blocks,
   skipping every block of the series handed out within the retention window (so a range restarted, re-added
   with other bounds, or overlapping another never repeats a recent id);
3. the cursor moves by compare-and-set and the blocks taken are recorded in ``id_allocations`` with
   their time.

A range whose use crosses :data:`WARN_AT` logs ``id_range_nearly_used``; a demand no range can meet raises
:class:`IdRangesExhausted` (an :class:`~plant.errors.IdRangeExhausted`) naming the ranges and what to do.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from plant.config import IdKind, IdRangeConfig, Settings
from plant.errors import ConfigError, IdRangeExhausted, IdRangesExhausted, PlantError
from plant.ledger import now
from plant.ledger import schema as t
from plant.ledger import schema_postage as tp
from tracking.ids import make_ru14, make_s10

log = structlog.get_logger(__name__)

#: Share of a range used at which every allocation logs a warning to order a new one.
WARN_AT = 0.9
#: Seconds counted per month of retention: 31 days, so the window is never shorter than the calendar months.
SECONDS_PER_RETENTION_MONTH = 31 * 86_400
#: Retention window used when the caller gives none: 12 months (UPU S10's minimum).
DEFAULT_RETENTION_S = 12 * SECONDS_PER_RETENTION_MONTH


def series_of(id_range: IdRangeConfig) -> str:
    """The series a range belongs to: its kind and fixed parts. Two ranges of one series share serials."""
    if id_range.kind == IdKind.RU14:
        return f"ru14:{id_range.office}/{id_range.month_code}"
    return f"s10:{id_range.service}/{id_range.country}"


def format_id(id_range: IdRangeConfig, serial: int) -> str:
    """The tracking id of ``serial`` in ``id_range``."""
    if id_range.kind == IdKind.RU14:
        return make_ru14(id_range.office, id_range.month_code, serial)
    return make_s10(id_range.service, serial, id_range.country)


def describe(id_range: IdRangeConfig) -> str:
    """A range as an operator reads it: its first and last id."""
    return f"{format_id(id_range, id_range.first)}–{format_id(id_range, id_range.last)}"


def retention_seconds(months: int) -> int:
    """The retention window in seconds for ``months`` months (31 days each)."""
    return months * SECONDS_PER_RETENTION_MONTH


def free_blocks(start: int, last: int, taken: Sequence[tuple[int, int]], need: int) -> list[tuple[int, int]]:
    """Up to ``need`` free serials, lowest first, from ``start`` to ``last`` (inclusive) outside ``taken``.

    ``taken`` holds inclusive ``(first, last)`` pairs in any order, possibly overlapping. Returns inclusive
    blocks; their sizes add up to ``need`` unless the range has fewer free serials.
    """
    blocks: list[tuple[int, int]] = []
    position = start
    for lo, hi in sorted(taken) + [(last + 1, last + 1)]:
        if need <= 0 or position > last:
            break
        if lo > position:
            end = min(lo - 1, last, position + need - 1)
            blocks.append((position, end))
            need -= end - position + 1
        position = max(position, hi + 1)
    return blocks


def _lock_series(conn: Connection, series: str) -> None:
    """Take the series row's lock for the rest of the transaction (creating the row on first use)."""
    bump = (
        update(tp.id_series).where(tp.id_series.c.series == series).values(version=tp.id_series.c.version + 1)
    )
    while conn.execute(bump).rowcount != 1:
        try:  # first use: two allocators may race to create the row; the loser then waits on the winner's
            with conn.begin_nested():
                conn.execute(insert(tp.id_series).values(series=series, version=0))
        except IntegrityError:
            pass


def _cursor(conn: Connection, id_range: IdRangeConfig, series: str, at: float) -> int:
    """The range's next serial, creating its cursor on first use (carrying over a pre-series S10 cursor)."""
    key = (tp.id_cursors.c.series == series) & (tp.id_cursors.c.first == id_range.first)
    row = conn.execute(select(tp.id_cursors.c.next_serial).where(key)).first()
    if row is not None:
        return int(row.next_serial)
    start = id_range.first
    if id_range.kind == IdKind.S10:  # ledgers written before series existed kept S10 cursors in id_ranges
        legacy = conn.execute(
            select(t.id_ranges.c.next_serial).where(
                t.id_ranges.c.service == id_range.service,
                t.id_ranges.c.country == id_range.country,
                t.id_ranges.c.first == id_range.first,
            )
        ).scalar()
        if legacy is not None and legacy > start:
            conn.execute(
                insert(tp.id_allocations).values(
                    series=series, first_serial=start, last_serial=legacy - 1, allocated_at=at
                )
            )
            start = legacy
    conn.execute(
        insert(tp.id_cursors).values(
            series=series, first=id_range.first, last=id_range.last, next_serial=start
        )
    )
    return start


def _take(
    conn: Connection, id_range: IdRangeConfig, need: int, at: float, retention_s: float, partial: bool
) -> list[tuple[int, int]]:
    """Take up to ``need`` free serials from one range (all or nothing unless ``partial``); record them."""
    series = series_of(id_range)
    _lock_series(conn, series)
    start = _cursor(conn, id_range, series, at)
    allocations = tp.id_allocations.c
    taken = conn.execute(
        select(allocations.first_serial, allocations.last_serial).where(
            allocations.series == series,
            allocations.last_serial >= start,
            allocations.first_serial <= id_range.last,
            allocations.allocated_at >= at - retention_s,
        )
    ).all()
    blocks = free_blocks(start, id_range.last, [tuple(r) for r in taken], need)
    got = sum(hi - lo + 1 for lo, hi in blocks)
    if got < need and not partial:
        if id_range.kind == IdKind.S10:
            raise IdRangeExhausted(
                id_range.service, id_range.country, id_range.first, id_range.last, need, got
            )
        raise IdRangesExhausted(id_range.kind.value, describe(id_range), need, got)
    if not blocks:
        return []
    key = (tp.id_cursors.c.series == series) & (tp.id_cursors.c.first == id_range.first)
    moved = conn.execute(
        update(tp.id_cursors)
        .where(key, tp.id_cursors.c.next_serial == start)
        .values(next_serial=blocks[-1][1] + 1, last=id_range.last)
    ).rowcount
    if moved != 1:  # the series lock makes this impossible; refuse rather than risk handing an id out twice
        raise PlantError(
            f"The cursor of id range {describe(id_range)} moved under a held lock; "
            "retry, and report it if it repeats.",
            range=describe(id_range),
        )
    conn.execute(
        insert(tp.id_allocations),
        [{"series": series, "first_serial": lo, "last_serial": hi, "allocated_at": at} for lo, hi in blocks],
    )
    used = (blocks[-1][1] + 1 - id_range.first) / (id_range.last - id_range.first + 1)
    if used >= WARN_AT:
        log.warning(
            "id_range_nearly_used",
            range=describe(id_range),
            used=round(used, 4),
            left=id_range.last - blocks[-1][1],
        )
    return blocks


def allocate(
    conn: Connection,
    id_range: IdRangeConfig,
    count: int,
    *,
    at: float | None = None,
    retention_s: float = DEFAULT_RETENTION_S,
) -> list[str]:
    """Take ``count`` ids from the one range ``id_range`` within the caller's transaction (all or none)."""
    if count <= 0:
        return []
    blocks = _take(conn, id_range, count, now() if at is None else at, retention_s, partial=False)
    return [format_id(id_range, s) for lo, hi in blocks for s in range(lo, hi + 1)]


def allocate_from(
    conn: Connection,
    ranges: Sequence[IdRangeConfig],
    count: int,
    *,
    at: float | None = None,
    retention_s: float = DEFAULT_RETENTION_S,
) -> list[str]:
    """Take ``count`` ids from ``ranges`` in order, moving to the next range when one runs out.

    Raises :class:`IdRangesExhausted` when all of them together cannot supply ``count``; the caller's
    transaction must then roll back (``Ledger.tx`` does), so nothing is consumed.
    """
    if count <= 0:
        return []
    at = now() if at is None else at
    ids: list[str] = []
    for id_range in ranges:
        blocks = _take(conn, id_range, count - len(ids), at, retention_s, partial=True)
        ids.extend(format_id(id_range, s) for lo, hi in blocks for s in range(lo, hi + 1))
        if len(ids) == count:
            return ids
    kind = ranges[0].kind.value if ranges else "?"
    raise IdRangesExhausted(kind, ", ".join(describe(r) for r in ranges) or "(none)", count, len(ids))


def allocate_for(
    conn: Connection, settings: Settings, count: int, kind: IdKind | None = None, at: float | None = None
) -> list[str]:
    """Take ``count`` ids of ``kind`` (default: the print pieces' kind) from the plant's configured ranges."""
    kind = kind or settings.tracking.kind
    ranges = settings.id_ranges(kind)
    if not ranges:
        raise ConfigError(
            f"No {kind.value} id range is configured; add a [[tracking.ranges]] table with "
            f'kind = "{kind.value}" to plant.toml.',
            key="tracking.ranges",
        )
    return allocate_from(
        conn, ranges, count, at=at, retention_s=retention_seconds(settings.tracking.retention_months)
    )
