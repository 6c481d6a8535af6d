"""The mutation fuzzer (issue 11): thousands of damaged letters through the sandboxed pre-flight and, when it
accepts them, through imposition — each must end accepted or rejected with a reason, in bounded time and
memory, with no traceback. Plus the regression corpus kept from its runs, one variant per class.

The run is deterministic (each variant from its own seeded RNG); ``python -m tests.fuzz.harness`` runs larger
campaigns and ``--keep`` rewrites ``tests/fuzz/regressions/``.
"""

from __future__ import annotations

import json

import pytest

from tests.fuzz.harness import (
    ACCEPTED,
    IMPOSITION,
    PREFLIGHT,
    REGRESSIONS,
    Runner,
    Variant,
    codes,
    describe,
    seeds,
    summary,
    variants,
)
from tests.fuzz.mutate import MUTATIONS
from tests.intake.letters import ROW, address_of

#: Variants per class in the CI run (13 classes: about 2,000 variants, under three minutes on two cores).
PER_CLASS = 155
#: The most one variant may take end to end (pre-flight wall limit 20 s plus the imposing timeout 20 s would
#: already be findings; a sound variant takes well under a second).
MAX_VARIANT_S = 25.0
#: The most an imposing child may hold (its address space is limited to the server's + 1 GiB).
MAX_RSS_MB = 1024.0

_EXPECTED_FILE = REGRESSIONS / "expected.json"
#: The regression corpus: file name → class, variant, address and expected outcome (or the finding it shows).
EXPECTED = json.loads(_EXPECTED_FILE.read_text()) if _EXPECTED_FILE.exists() else {}


@pytest.fixture(scope="module")
def runner():
    with Runner() as shared:
        yield shared


@pytest.fixture(scope="module")
def seed_list(runner):
    return seeds(runner.tmp / "seeds")


def test_every_seed_is_accepted_and_imposed(runner, seed_list):
    """The unmutated seeds pass pre-flight and impose, so every mutation starts from a sound letter."""
    outcomes = runner.run([Variant(f"seed/{s.name}", "seed", s.name, s.data, s.address) for s in seed_list])
    assert [o.stage for o in outcomes] == [ACCEPTED] * len(seed_list), [
        (o.variant, o.reason) for o in outcomes
    ]


def test_mutations_are_deterministic(seed_list):
    """The same seed, class and RNG seed give the same bytes; every class changes the letter."""
    import random

    for name, mutation in MUTATIONS.items():
        first = [mutation(seed_list[1].data, random.Random(f"{name}/{i}")) for i in range(5)]
        again = [mutation(seed_list[1].data, random.Random(f"{name}/{i}")) for i in range(5)]
        assert first == again, name
        assert any(v != seed_list[1].data for v in first), name


@pytest.mark.slow
def test_every_variant_ends_accepted_or_rejected_with_a_reason(runner, seed_list, capsys):
    """About 2,000 variants across every class: each ends accepted (imposed) or rejected with a reason —
    a pre-flight code and reason, or an ImpositionError — within bounded time and memory; another exception,
    a crash, a timeout, a sandbox limit or a reason showing library internals is a finding and fails."""
    variant_list = variants(seed_list, PER_CLASS)
    outcomes = runner.run(variant_list)
    with capsys.disabled():
        print(f"\n\nfuzz: {len(outcomes)} variants from {len(seed_list)} seeds\n{summary(outcomes)}\n")
        print(codes(outcomes) + "\n")
        print(describe(outcomes) + "\n")
    assert len(outcomes) == len(MUTATIONS) * PER_CLASS
    slow = [(o.variant, round(o.total_s, 1)) for o in outcomes if o.total_s > MAX_VARIANT_S]
    fat = [(o.variant, round(o.rss_mb)) for o in outcomes if o.rss_mb > MAX_RSS_MB]
    assert not slow and not fat, (slow, fat)
    assert all(o.reason for o in outcomes if o.stage != ACCEPTED)
    found = [(o.variant, o.findings, o.reason[:200]) for o in outcomes if o.findings]
    assert not found, f"{len(found)} findings:\n{describe(outcomes)}"


def _kept(kind: str) -> list[str]:
    return sorted(name for name, entry in EXPECTED.items() if ("finding" in entry) == (kind == "finding"))


def _one(runner, name: str):
    data = (REGRESSIONS / name).read_bytes()
    address = tuple(EXPECTED[name].get("address") or address_of(ROW))
    return runner.run([Variant(f"regression/{name}", EXPECTED[name]["class"], name, data, address)])[0]


def test_the_corpus_has_a_variant_of_every_class():
    """The regression corpus keeps one small variant per mutation class."""
    assert {EXPECTED[name]["class"] for name in _kept("class")} == set(MUTATIONS)
    assert all((REGRESSIONS / name).stat().st_size <= 8192 for name in EXPECTED)


@pytest.mark.parametrize("name", _kept("class"))
def test_kept_variant_ends_as_it_did(runner, name):
    """A kept variant ends exactly as when it was kept: accepted, or rejected with the same code (for an
    imposition refusal: the same error, and its ``code`` once ImpositionError carries one)."""
    expected = EXPECTED[name]
    outcome = _one(runner, name)
    assert outcome.stage == expected["outcome"], (outcome.stage, outcome.code, outcome.reason)
    assert not outcome.findings, outcome.findings
    if outcome.stage == PREFLIGHT:
        assert outcome.code == expected["code"] and outcome.reason
    elif outcome.stage == IMPOSITION:
        assert outcome.error == expected["error"] and outcome.reason
        if expected.get("code") and expected["code"] != expected["error"]:
            assert outcome.code == expected["code"]


@pytest.mark.parametrize("name", _kept("finding"))
def test_finding_is_fixed(runner, name):
    """A reproducer of a finding ends accepted or rejected with a reason, with no finding (fails until the
    finding it was kept for is fixed)."""
    outcome = _one(runner, name)
    assert not outcome.findings, f"{EXPECTED[name]['finding']}: {outcome.findings} ({outcome.reason[:300]})"
