"""Intake: pre-flight pages/s in the sandbox pool, and consent lookups/s against a 1,000,000-recipient
registry.

Goals (issue 5): pre-flight ≥ 1,000 pages/s on the 2-core machine over 1,000 generated letters (every check:
page size, page count, address in the window, clear zones rendered at 72 dpi, fonts); consent decisions ≥
100,000/s against 1,000,000 recipients. Letters, pool start-up and the index build are outside the timed part.
"""

from __future__ import annotations

import csv
import os
import random
import time

import pytest

from plant.demo import generate
from plant.intake.consent import Consent, ConsentIndex, build_index
from plant.intake.preflight import address_lines, check_spec
from plant.intake.sandbox import Limits, PreflightPool, Task

#: Letters pre-flighted per round.
LETTERS = 1000
#: Recipients in the benchmark registry.
RECIPIENTS = 1_000_000
#: Lookups per round (routing asks in chunks, one submission at a time).
LOOKUPS = 200_000
#: Recipients routed per batch, like one submission.
BATCH = 1000


@pytest.fixture(scope="module")
def letters(tmp_path_factory):
    """1,000 demo letters (1–4 pages each) with their manifest address lines, read into memory."""
    batch = generate(tmp_path_factory.mktemp("bench"), LETTERS, seed=5)
    with open(batch.submission / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [
        (
            r["letter_id"],
            (batch.submission / f"{r['letter_id']}.pdf").read_bytes(),
            address_lines(r["name"], r["address_1"], r["address_2"], r["postcode"], r["city"]),
        )
        for r in rows
    ]


def test_preflight_pages_per_second(benchmark, letters):
    """The sandbox pool (one child per CPU) checks 1,000 letters; figure: pages/s."""
    with PreflightPool(check_spec(max_pages=6), Limits(), workers=0) as pool:
        pool.check([Task(k, lambda d=d: d, a) for k, d, a in letters[:8]])  # warm the children
        runs = []

        def run():
            start = time.perf_counter()
            verdicts = pool.check([Task(k, lambda d=d: d, a) for k, d, a in letters])
            runs.append((verdicts, time.perf_counter() - start))

        benchmark.pedantic(run, rounds=3, iterations=1)
    verdicts, seconds = min(runs, key=lambda r: r[1])
    pages = sum(v.pages for v in verdicts.values())
    benchmark.extra_info.update(
        {
            "letters": len(verdicts),
            "pages": pages,
            "seconds": round(seconds, 3),
            "pages_per_s": round(pages / seconds),
            "workers": pool.size,
            "cpus": os.cpu_count(),
            "rejected": sum(not v.ok for v in verdicts.values()),
        }
    )
    assert len(verdicts) == LETTERS


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """An index of 1,000,000 recipients: 90 % for all senders, 10 % scoped to two senders, 5 % revoked."""
    rng = random.Random(1)
    path = tmp_path_factory.mktemp("consent") / "consent-bench.sqlite"
    entries = (
        Consent(
            f"R{n:08d}",
            "e-mailbox",
            f"r{n}@box.example",
            1.6e9,
            None,
            ("S1", "S2") if n % 10 == 0 else None,
            1.7e9 if n % 20 == 1 else None,
            n + 2,
        )
        for n in range(RECIPIENTS)
    )
    start = time.perf_counter()
    build_index(entries, path)
    build_s = time.perf_counter() - start
    ids = [f"R{rng.randrange(RECIPIENTS * 2):08d}" for _ in range(LOOKUPS)]  # half of them unknown
    return ConsentIndex(path, 1), ids, build_s


def test_consent_decisions_per_second(benchmark, registry):
    """Routing decisions in batches of 1,000 recipients (one submission) against 1,000,000; figure: per
    second."""
    index, ids, build_s = registry
    runs = []

    def run():
        start = time.perf_counter()
        for i in range(0, len(ids), BATCH):
            index.decide_many(ids[i : i + BATCH], "S1", 1.65e9)
        runs.append(time.perf_counter() - start)

    benchmark.pedantic(run, rounds=3, iterations=1)
    seconds = min(runs)
    benchmark.extra_info.update(
        {
            "recipients": RECIPIENTS,
            "lookups": len(ids),
            "seconds": round(seconds, 3),
            "lookups_per_s": round(len(ids) / seconds),
            "index_build_s": round(build_s, 1),
        }
    )


def test_consent_single_decisions_per_second(benchmark, registry):
    """One recipient per call (the worst case); figure: decisions per second."""
    index, ids, _ = registry
    sample = ids[:50_000]
    runs = []

    def run():
        start = time.perf_counter()
        for rid in sample:
            index.decide(rid, "S1", 1.65e9)
        runs.append(time.perf_counter() - start)

    benchmark.pedantic(run, rounds=3, iterations=1)
    benchmark.extra_info.update({"lookups": len(sample), "lookups_per_s": round(len(sample) / min(runs))})
