"""Durable allocation of tracking ids from the configured S10 range.

The range's next serial lives in the ledger and moves by compare-and-set inside the same transaction that
creates the pieces holding the ids: a crash before commit allocates nothing, after commit the ids are the
pieces'. So an id is never handed out twice, not by two workers and not across a crash.
"""

from __future__ import annotations

import structlog
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from plant.config import IdRangeConfig
from plant.errors import IdRangeExhausted
from plant.ledger import schema as t
from tracking.ids import make_s10

log = structlog.get_logger(__name__)

#: Share of a range used at which every allocation logs a warning to order a new one.
WARN_AT = 0.9


def allocate(conn: Connection, ids: IdRangeConfig, count: int) -> list[str]:
    """Take ``count`` consecutive S10 ids from the range ``ids`` within the caller's transaction."""
    if count <= 0:
        return []
    key = (t.id_ranges.c.service == ids.service) & (t.id_ranges.c.country == ids.country) & \
          (t.id_ranges.c.first == ids.first)
    while True:
        row = conn.execute(select(t.id_ranges.c.next_serial, t.id_ranges.c.last).where(key)).first()
        if row is None:
            try:  # two first allocations may race to create the row: the loser reads the winner's
                with conn.begin_nested():
                    conn.execute(insert(t.id_ranges).values(service=ids.service, country=ids.country,
                                                            first=ids.first, last=ids.last, next_serial=ids.first))
            except IntegrityError:
                pass
            continue
        start, last = row.next_serial, max(row.last, ids.last)
        left = last - start + 1
        if count > left:
            raise IdRangeExhausted(ids.service, ids.country, ids.first, last, count, max(left, 0))
        moved = conn.execute(update(t.id_ranges).where(key, t.id_ranges.c.next_serial == start)
                             .values(next_serial=start + count, last=last)).rowcount
        if moved == 1:
            break
    used = (start + count - ids.first) / (last - ids.first + 1)
    if used >= WARN_AT:
        log.warning("id_range_nearly_used", service=ids.service, country=ids.country, used=round(used, 4),
                    left=left - count)
    return [make_s10(ids.service, serial, ids.country) for serial in range(start, start + count)]
