"""Named crash points for the fault suite (``tests/faults/test_fault_points.py``); inert in production.

A crash point marks a place where a process dying would hurt most — after a device accepted a job and before
the ledger recorded it, after a commit and before its messages were published, … . With the environment
variable :data:`CRASH_AT` unset (production) :func:`crash_point` is one dictionary lookup and nothing else.

``PLANT_CRASH_AT=name`` (or ``name:N``) makes the process end the Nth time (default the first) it reaches
``crash_point(name)``, with ``os._exit(137)``: no ``finally``, no ``atexit``, no flush, no ack to the queue —
what ``kill -9`` leaves behind. Before it ends it creates the marker file named by :data:`CRASH_ONCE`
exclusively (``O_EXCL``); a process that finds the marker there does not crash, so the worker a session
starts again (which inherits the environment) and any sibling process carry on. Without ``PLANT_CRASH_ONCE``
every process that counts to N crashes.
"""

from __future__ import annotations

import os
import threading

#: Environment variable naming the crash point (``name`` or ``name:N``).
CRASH_AT = "PLANT_CRASH_AT"
#: Environment variable naming the marker file: created by the crash, it stops any further crash.
CRASH_ONCE = "PLANT_CRASH_ONCE"
#: Exit status of the crash: what a shell reports for a process killed by SIGKILL.
CRASH_EXIT = 137

_hits: dict[str, int] = {}
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """End this process at once, like ``kill -9``, when ``PLANT_CRASH_AT`` names this point and this is its
    Nth hit; otherwise nothing."""
    target = os.environ.get(CRASH_AT)
    if not target:
        return
    point, _, nth = target.partition(":")
    if point != name:
        return
    with _lock:  # the stage actors run on several threads of one process
        hits = _hits[name] = _hits.get(name, 0) + 1
    if hits != (int(nth) if nth else 1):
        return
    marker = os.environ.get(CRASH_ONCE)
    if marker:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return  # crashed here once already (an earlier process of this run)
        os.write(fd, f"{name} {hits} {os.getpid()}\n".encode())
        os.close(fd)
    os._exit(CRASH_EXIT)
