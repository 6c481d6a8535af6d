"""The status vocabulary of receipts: every status a sender can see for a letter, what it means, whether it is
final, and what the sender can do about it.

The names are the piece lifecycle's states (DESIGN.md), so a receipt says exactly what the ledger knows; this
table is the one place their meaning for a sender is written down (README's receipt section is generated from
the same words).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Status:
    """One receipt status."""

    name: str
    meaning: str
    final: bool
    sender_action: str = ""


#: Every receipt status, in lifecycle order.
STATUSES: tuple[Status, ...] = (
    Status("RECEIVED", "accepted by the plant, waiting for pre-flight and routing", False),
    Status(
        "REJECTED",
        "refused by pre-flight, intake or imposition; the reason says what is wrong",
        True,
        "fix what the reason names and submit the letter again",
    ),
    Status("DIGITAL", "being delivered to the recipient's digital mailbox", False),
    Status("DELIVERED_DIGITAL", "delivered to the recipient's digital mailbox", True),
    Status("PRINT_READY", "going to print; waiting to be planned into a print job", False),
    Status("PLANNED", "planned into a print job on a press", False),
    Status("IMPOSED", "placed on sheets with its codes; the print file is ready", False),
    Status("SPOOLED", "sent to the press", False),
    Status("PRINTED", "its printed sheets were read downstream", False),
    Status("INSERTED", "put in its envelope", False),
    Status("DISPATCHED", "handed to the post in a handover manifest; the tracking id follows it", True),
    Status(
        "HELD",
        "held for an operator (by one, or by the plant when its print job could not be made: code "
        "IMPOSE_FAILED); it resumes where it was when released",
        False,
    ),
    Status("CANCELLED", "cancelled before printing", True),
    Status("SPOILED", "spoiled in print or insertion; it is reprinted with the same tracking id", False),
    Status("PULLED", "taken out of production by an operator", True, "ask the plant's operators"),
    Status(
        "FAILED",
        "could not be produced; the reason says why",
        True,
        "read the reason; resubmit the letter once it is fixed",
    ),
    Status(
        "UNACCOUNTED",
        "not accounted for by the inserter; being reconciled by hand, never assumed delivered",
        True,
        "wait for the plant's reconciliation or ask its operators",
    ),
)

_BY_NAME = {s.name: s for s in STATUSES}


def status(name: str) -> Status:
    """The vocabulary entry for ``name``; KeyError names the unknown status."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown receipt status {name!r}; known: {', '.join(_BY_NAME)}") from None


def final_statuses() -> frozenset[str]:
    """Names of the statuses a letter never leaves."""
    return frozenset(s.name for s in STATUSES if s.final)
