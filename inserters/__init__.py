"""Inserter library: the Inserter protocol, mail run data files, the camera, collation and a simulated inserter.

Takes and returns plain values; never imports :mod:`plant`.
"""

from inserters.collation import Collated, collate
from inserters.errors import DuplicateRun, InserterError, MailRunFileError, UnknownRun, UnreadableStack
from inserters.mailrun import DEFAULT_LAYOUT, CsvLayout
from inserters.protocol import Inserter, MailRun, Outcome, PieceResult, RunRecord, RunResult
from inserters.simulated import SimulatedInserter

#: Inserter classes per kind, as named in the fleet configuration.
KINDS = {"simulated": SimulatedInserter}


def make_inserter(kind: str, name: str, **options) -> Inserter:
    """Build inserter ``name`` of ``kind``; ValueError names the known kinds."""
    if kind not in KINDS:
        raise ValueError(f"unknown inserter kind {kind!r}; known: {', '.join(KINDS)}")
    return KINDS[kind](name, **options)


__all__ = ["CsvLayout", "Collated", "DEFAULT_LAYOUT", "DuplicateRun", "Inserter", "InserterError", "MailRun",
           "MailRunFileError", "Outcome", "PieceResult", "RunRecord", "RunResult", "SimulatedInserter",
           "UnknownRun", "UnreadableStack", "collate", "make_inserter"]
