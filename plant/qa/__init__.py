"""The QA station: sampled pieces are scanned, each read back against the ledger and graded, and the verdict
recorded on the piece's history without moving it in its lifecycle (``plant qa``).

:mod:`plant.qa.judge` decides (pure), :mod:`plant.qa.station` reads images and writes the ledger,
:mod:`plant.qa.sampling` says which pieces to pull, :mod:`plant.qa.cli` is the command.
"""

from plant.errors import SampleUnreadable
from plant.qa.judge import FoundCode, Judgement, LedgerFacts, MarkFacts, PieceFacts, Verdict, judge
from plant.qa.sampling import SamplePick, sample_plan
from plant.qa.station import Inspection, inspect_sample, inspect_samples, record, zone_regions

__all__ = [
    "FoundCode",
    "Inspection",
    "Judgement",
    "LedgerFacts",
    "MarkFacts",
    "PieceFacts",
    "SamplePick",
    "SampleUnreadable",
    "Verdict",
    "inspect_sample",
    "inspect_samples",
    "judge",
    "record",
    "sample_plan",
    "zone_regions",
]
