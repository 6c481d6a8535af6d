"""A child process for the allocation crash tests: allocates ids in a loop and reports them on stdout.

``python alloc_child.py URL loop``: allocate blocks of 10 forever, printing ``committed <ids>`` after each
commit. ``python alloc_child.py URL hold``: allocate 10 ids, print ``pending <ids>`` inside the open
transaction, then wait on stdin forever, so the parent can kill it with the ids allocated but not committed.
"""

from __future__ import annotations

import sys

from plant.config import IdRangeConfig
from plant.ledger import Ledger
from plant.postage.ids import allocate

#: The range every crash test allocates from.
RANGE = IdRangeConfig(first=0, last=9_999_999)


def main(url: str, mode: str) -> None:
    """Allocate as ``mode`` says, reporting on stdout."""
    ledger = Ledger(url)
    if mode == "hold":
        with ledger.tx() as conn:
            ids = allocate(conn, RANGE, 10)
            print("pending", *ids, flush=True)
            sys.stdin.read()
        return
    while True:
        with ledger.tx() as conn:
            ids = allocate(conn, RANGE, 10)
        print("committed", *ids, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
