"""Inserter library: the Inserter protocol, mail run data files, the camera, collation and a simulated
inserter, and the cutter/stacker in front of it for N-up work (the Cutter protocol, cut order and a simulated
cutter).

Takes and returns plain values; never imports :mod:`plant`. The plant builds its inserters with
:func:`make_inserter` and talks to them only through the :class:`Inserter` protocol.
"""

import importlib
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING

from inserters.collation import NO_FAULTS, Collated, Faults, collate
from inserters.cutter import (
    BadCutId,
    CutJob,
    CutResult,
    Cutter,
    CutterError,
    DuplicateCut,
    SimulatedCutter,
    UnknownCut,
)
from inserters.cutting import NO_CUT_FAULTS, Backs, CutFaults, CutPlan, CutSpec, cut_order
from inserters.errors import (
    BadRunId,
    DuplicateRun,
    InserterError,
    InserterStopped,
    MachineStatusUnreadable,
    MailRunFileError,
    RunRejected,
    UnknownInserterKind,
    UnknownRun,
    UnreadableStack,
    remedy_for,
)
from inserters.mailrun import DEFAULT_LAYOUT, CsvLayout, MailRunLayout
from inserters.protocol import (
    Inserter,
    InserterState,
    InserterStatus,
    MailRun,
    Outcome,
    PieceResult,
    RunRecord,
    RunResult,
    Withdrawable,
)

if TYPE_CHECKING:
    from inserters.simulated import SimulatedInserter


class InserterKind(Enum):
    """The inserter implementations this library ships, as named in the fleet configuration."""

    SIMULATED = "simulated"


#: Module and class implementing each kind (imported on first use, so ``python -m inserters.simulated`` runs
#: its module only once).
KINDS = {InserterKind.SIMULATED: ("inserters.simulated", "SimulatedInserter")}


def make_inserter(kind: InserterKind | str, name: str, **options: object) -> Inserter:
    """Build inserter ``name`` of ``kind`` with its ``options``; UnknownInserterKind names the known kinds."""
    try:
        kind = InserterKind(kind)
    except ValueError:
        raise UnknownInserterKind(str(kind), tuple(k.value for k in InserterKind)) from None
    module, cls = KINDS[kind]
    factory: Callable[..., Inserter] = getattr(importlib.import_module(module), cls)
    return factory(name, **options)


def __getattr__(name: str) -> object:
    """Re-export :class:`~inserters.simulated.SimulatedInserter` lazily (see KINDS)."""
    if name == "SimulatedInserter":
        from inserters.simulated import SimulatedInserter

        return SimulatedInserter
    raise AttributeError(f"module 'inserters' has no attribute {name!r}")


__all__ = [
    "Backs",
    "BadCutId",
    "BadRunId",
    "Collated",
    "CsvLayout",
    "CutFaults",
    "CutJob",
    "CutPlan",
    "CutResult",
    "CutSpec",
    "Cutter",
    "CutterError",
    "DEFAULT_LAYOUT",
    "DuplicateCut",
    "DuplicateRun",
    "Faults",
    "Inserter",
    "InserterError",
    "InserterKind",
    "InserterState",
    "InserterStatus",
    "InserterStopped",
    "MachineStatusUnreadable",
    "MailRun",
    "MailRunFileError",
    "MailRunLayout",
    "NO_CUT_FAULTS",
    "NO_FAULTS",
    "Outcome",
    "PieceResult",
    "RunRecord",
    "RunRejected",
    "RunResult",
    "SimulatedCutter",
    "SimulatedInserter",
    "UnknownCut",
    "UnknownInserterKind",
    "UnknownRun",
    "UnreadableStack",
    "Withdrawable",
    "collate",
    "cut_order",
    "make_inserter",
    "remedy_for",
]
