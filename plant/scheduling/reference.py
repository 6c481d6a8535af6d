"""The reference instance of issue 6, generated from a seed, so tests, benchmarks and the docs plan the same
work.

200 jobs of 500–20,000 pieces with 1–8 sheets each; presses at 100, 150 and 300 sheets/min; inserters at
14,000, 12,000, 10,000 and 8,000 envelopes/h taking at most 6, 8, 10 and 12 sheets; due times uniform between
0.25 and 1.1 of the capacity lower bound (:func:`plant.scheduling.bounds.lower_bound` of the same jobs).
"""

from __future__ import annotations

import random

from plant.scheduling.bounds import lower_bound
from plant.scheduling.model import Inserter, Instance, Job, Printer

#: Press speeds of the reference plant, sheets per minute.
REFERENCE_PRESSES = (100, 150, 300)
#: Inserters of the reference plant: (envelopes per hour, most sheets per envelope).
REFERENCE_INSERTERS = ((14_000, 6), (12_000, 8), (10_000, 10), (8_000, 12))
#: Job size range of the reference instance, pieces.
REFERENCE_PIECES = (500, 20_000)
#: Sheets per piece range of the reference instance.
REFERENCE_SHEETS = (1, 8)
#: Due times are drawn uniformly in this range, as fractions of the capacity lower bound.
REFERENCE_DUE = (0.25, 1.1)


def reference_instance(seed: int = 0, jobs: int = 200) -> Instance:
    """The seeded reference instance (same seed, same instance, on every machine)."""
    rng = random.Random(seed)
    printers = tuple(Printer(f"press-{i + 1}", v) for i, v in enumerate(REFERENCE_PRESSES))
    inserters = tuple(Inserter(f"inserter-{i + 1}", e, s) for i, (e, s) in enumerate(REFERENCE_INSERTERS))
    sizes = [(rng.randint(*REFERENCE_PIECES), rng.randint(*REFERENCE_SHEETS)) for _ in range(jobs)]
    draft = Instance(
        printers, inserters, tuple(Job(f"J{i + 1:03d}", n, s, 0) for i, (n, s) in enumerate(sizes))
    )
    bound = lower_bound(draft)
    lo, hi = REFERENCE_DUE
    return Instance(
        printers,
        inserters,
        tuple(
            Job(f"J{i + 1:03d}", n, s, round(rng.uniform(lo, hi) * bound)) for i, (n, s) in enumerate(sizes)
        ),
    )
