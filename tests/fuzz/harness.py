"""Run mutated letters through pre-flight and imposition as the plant does, and judge every outcome.

Seeds are the plant's own reportlab letters (:func:`tests.intake.letters.write`) and, once
``tests.producers.make.real_letters(folder)`` exists, the letters of real producers. Each variant goes through
the real sandboxed :class:`~plant.intake.sandbox.PreflightPool` with the plant's check and limits; a variant
pre-flight accepts is imposed as one piece by :class:`~tests.fuzz.imposer.Imposer` (a child per letter, a
timeout, an address-space limit). Two lanes (one pool child and one imposing server each) share the work.

Every variant must end *accepted* (imposed) or *rejected with a reason*: a pre-flight code and reason, or an
:class:`imposition.ImpositionError`. Anything else is a **finding**: another exception type, a crashed child,
a timeout or a sandbox limit hit, no reason, or a reason showing library internals.

``python -m tests.fuzz.harness [--per-class N] [--keep]`` runs a campaign from the command line and, with
``--keep``, rewrites the regression corpus (:data:`REGRESSIONS`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import random
import re
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from plant.config import load_settings
from plant.intake.pdfcheck import Code, Verdict
from plant.intake.preflight import check_spec, limits
from plant.intake.sandbox import PreflightPool, Task
from tests.fuzz.imposer import Imposer
from tests.fuzz.mutate import MUTATIONS
from tests.intake.letters import ROW, address_of, write

#: The regression corpus: one kept variant per class, and a reproducer per finding, with ``expected.json``.
REGRESSIONS = Path(__file__).parent / "regressions"
#: Pre-flight codes that mean a sandbox limit stopped the letter or its child died: findings here.
LIMIT_CODES = frozenset({Code.TIMEOUT, Code.CPU_LIMIT, Code.MEMORY_LIMIT, Code.CRASHED})
#: What a reason meant for a sender or an operator must not show: tracebacks, source files, exception class
#: names, the libraries' names, memory addresses, Python reprs.
INTERNALS = re.compile(
    r"Traceback|File \"|\.py\b|site-packages|\b[A-Z][A-Za-z]*(?:Error|Exception)\b"
    r"|(?i:\b(?:pdfium|pypdfium2|pikepdf|qpdf|reportlab|numpy|numba)\b)|0x[0-9a-fA-F]{6,}|<[\w.]+ object at"
)
#: Stages an outcome ends in.
ACCEPTED, PREFLIGHT, IMPOSITION = "accepted", "preflight", "imposition"


@dataclass(frozen=True)
class Seed:
    """A valid letter to mutate: its name, bytes, and the manifest address it shows."""

    name: str
    data: bytes
    address: tuple[str, ...]


@dataclass(frozen=True)
class Variant:
    """One mutated letter: ``cls`` the mutation class, ``name`` ``cls/seed/index``."""

    name: str
    cls: str
    seed: str
    data: bytes
    address: tuple[str, ...]


@dataclass
class Outcome:
    """How a variant ended: ``stage`` (accepted, preflight or imposition), the pre-flight code or the
    imposition error's code (its class name until it has one), the reason, times, the imposing process's peak
    RSS, and the findings (empty when the variant ended as it must)."""

    variant: str
    cls: str
    stage: str
    code: str | None
    reason: str
    preflight_s: float
    impose_s: float = 0.0
    rss_mb: float = 0.0
    error: str | None = None
    #: Pages pre-flight counted, and pages imposition placed (accepted variants).
    pages: int = 0
    imposed_pages: int = 0
    findings: list[str] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return self.preflight_s + self.impose_s


# ---- seeds and variants ---------------------------------------------------------------------------------
def seeds(folder: Path) -> list[Seed]:
    """The plant's reportlab letters (1, 2 and 3 pages) and, when ``tests.producers.make.real_letters``
    exists, the real producers' letters."""
    folder.mkdir(parents=True, exist_ok=True)
    found = [
        Seed(f"reportlab-{n}p", write(folder / f"reportlab-{n}p.pdf", pages=n).read_bytes(), address_of(ROW))
        for n in (1, 2, 3)
    ]
    return found + producer_seeds(folder / "producers")


def producer_seeds(folder: Path) -> list[Seed]:
    """The letters of ``tests.producers.make.real_letters(folder)``, when that module exists: its
    ``LetterFile`` items (``letter_id``, ``path``, ``address``), or plain paths addressed to the intake tests'
    row."""
    try:
        spec = importlib.util.find_spec("tests.producers.make")
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        return []
    make = importlib.import_module("tests.producers.make")
    if not hasattr(make, "real_letters"):
        return []
    folder.mkdir(parents=True, exist_ok=True)
    found = []
    for item in make.real_letters(folder):
        path = Path(getattr(item, "path", item))
        name = getattr(item, "letter_id", path.stem)
        found.append(
            Seed(f"producer-{name}", path.read_bytes(), tuple(getattr(item, "address", address_of(ROW))))
        )
    return sorted(found, key=lambda s: s.name)


def variants(seed_list: Sequence[Seed], per_class: int, classes: Iterable[str] = MUTATIONS) -> list[Variant]:
    """``per_class`` variants of every class, the seeds taken in turn, each from its own seeded RNG."""
    made = []
    for cls in classes:
        for index in range(per_class):
            seed = seed_list[index % len(seed_list)]
            name = f"{cls}/{seed.name}/{index:04d}"
            data = MUTATIONS[cls](seed.data, random.Random(name))
            made.append(Variant(name, cls, seed.name, data, seed.address))
    return made


# ---- judging ----------------------------------------------------------------------------------------------
def judge_preflight(verdict: Verdict) -> list[str]:
    """The findings in a pre-flight verdict (empty: it ended as it must)."""
    if verdict.ok:
        return []
    findings = []
    if not verdict.code or not verdict.reason:
        findings.append(f"pre-flight rejected without a code or reason ({verdict.code!r})")
    if verdict.code in LIMIT_CODES:
        findings.append(f"pre-flight hit a limit: {verdict.code}")
    leak = INTERNALS.search(verdict.reason or "")
    if leak:
        findings.append(f"pre-flight reason shows internals ({leak.group(0)!r})")
    return findings


def judge_imposition(answer: Mapping[str, Any], pages: int | None = None) -> list[str]:
    """The findings in the imposing server's answer; ``pages`` is the count pre-flight accepted the letter
    with (the piece's sheets, its mass and postage follow from it), which the pages imposed must match."""
    status = answer["status"]
    if status == "imposed":
        found = []
        if pages is not None and answer.get("pages") != pages:
            found.append(f"pre-flight counted {pages} pages, imposition placed {answer.get('pages')}")
        if answer.get("output"):
            found.append(f"imposed, but {answer['output']}")
        return found
    if status == "refused":
        findings = []
        if not answer.get("message"):
            findings.append(f"imposition refused without a reason ({answer['type']})")
        leak = INTERNALS.search(answer.get("message") or "")
        if leak:
            findings.append(f"imposition reason shows internals ({leak.group(0)!r})")
        return findings
    if status == "exception":
        return [f"imposition raised {answer['type']}"]
    if status == "timeout":
        return ["imposition timed out"]
    return [f"the imposing child crashed ({answer.get('how')})"]


# ---- running ----------------------------------------------------------------------------------------------
class Runner:
    """Lanes of (one pre-flight child, one imposing server), with the plant's check and limits."""

    def __init__(self, lanes: int = 2, impose_timeout_s: float = 20.0, impose_memory_mb: int = 1024) -> None:
        settings = load_settings(environ={})
        self.spec = check_spec(settings)
        self.limits = limits(settings)
        self._tmp = tempfile.TemporaryDirectory(prefix="fuzz-")
        self.tmp = Path(self._tmp.name)
        warm = write(self.tmp / "warm.pdf")
        self.lanes = [
            (
                PreflightPool(self.spec, self.limits, workers=1),
                Imposer(warm, impose_timeout_s, impose_memory_mb),
            )
            for _ in range(lanes)
        ]
        for pool, _ in self.lanes:
            pool.start()

    def close(self) -> None:
        for pool, imposer in self.lanes:
            pool.close()
            imposer.close()
        self._tmp.cleanup()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run_one(self, lane: int, variant: Variant) -> Outcome:
        """Pre-flight ``variant`` in lane ``lane``'s pool and, when accepted, impose it."""
        pool, imposer = self.lanes[lane]
        started = time.monotonic()
        verdict = pool.check([Task(variant.name, lambda: variant.data, variant.address)])[variant.name]
        checked = time.monotonic() - started
        if not verdict.ok:
            return Outcome(
                variant.name,
                variant.cls,
                PREFLIGHT,
                verdict.code,
                verdict.reason or "",
                checked,
                findings=judge_preflight(verdict),
            )
        digest = hashlib.sha256(variant.data).hexdigest()[:16]
        pdf = self.tmp / f"{digest}.pdf"
        pdf.write_bytes(variant.data)
        try:
            answer = imposer.impose(pdf, self.tmp / f"{digest}.out.pdf", verdict.pages)
        finally:
            pdf.unlink(missing_ok=True)
        status = answer["status"]
        stage = ACCEPTED if status == "imposed" else IMPOSITION
        code = (answer.get("code") or answer.get("type")) if status == "refused" else None
        reason = (answer.get("message") or answer.get("how") or status) if stage == IMPOSITION else ""
        return Outcome(
            variant.name,
            variant.cls,
            stage,
            code,
            reason,
            checked,
            impose_s=answer["wall_s"],
            rss_mb=answer["rss_mb"],
            error=answer.get("type") if status in ("refused", "exception") else status,
            pages=verdict.pages or 0,
            imposed_pages=answer.get("pages", 0),
            findings=judge_imposition(answer, verdict.pages),
        )

    def run(self, variant_list: Sequence[Variant]) -> list[Outcome]:
        """Every variant's outcome (in order), the lanes working in parallel; identical bytes run once."""
        unique: dict[bytes, int] = {}
        order = []
        for index, variant in enumerate(variant_list):
            key = hashlib.sha256(variant.data + repr(variant.address).encode()).digest()
            order.append(unique.setdefault(key, index))
        todo = sorted(set(order))
        results: dict[int, Outcome] = {}
        lock = threading.Lock()
        errors: list[BaseException] = []

        def work(lane: int) -> None:
            while True:
                with lock:
                    if not todo or errors:
                        return
                    index = todo.pop(0)
                try:
                    outcome = self.run_one(lane, variant_list[index])
                except BaseException as exc:  # the harness itself failed: stop and re-raise
                    with lock:
                        errors.append(exc)
                    return
                with lock:
                    results[index] = outcome

        threads = [threading.Thread(target=work, args=(lane,)) for lane in range(len(self.lanes))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return [
            results[first] if first == index else _copy(results[first], variant_list[index])
            for index, first in enumerate(order)
        ]


def _copy(outcome: Outcome, variant: Variant) -> Outcome:
    return Outcome(**{**asdict(outcome), "variant": variant.name, "cls": variant.cls})


# ---- reporting -------------------------------------------------------------------------------------------
def summary(outcomes: Sequence[Outcome]) -> str:
    """A table: per class the variants accepted, rejected by pre-flight, rejected by imposition, findings,
    the longest pre-flight, imposition and total time, and the largest peak RSS of an imposing child."""
    head = (
        f"{'class':<16}{'n':>6}{'accepted':>10}{'rej-pf':>8}{'rej-imp':>9}{'finding':>9}"
        f"{'max pf s':>10}{'max imp s':>11}{'max tot s':>11}{'max RSS MB':>12}"
    )
    rows = [head, "-" * len(head)]
    classes = list(dict.fromkeys(o.cls for o in outcomes))
    for cls in [*classes, "ALL"]:
        mine = [o for o in outcomes if cls in ("ALL", o.cls)]
        if cls == "ALL":
            rows.append("-" * len(head))
        rows.append(
            f"{cls:<16}{len(mine):>6}{sum(o.stage == ACCEPTED for o in mine):>10}"
            f"{sum(o.stage == PREFLIGHT for o in mine):>8}{sum(o.stage == IMPOSITION for o in mine):>9}"
            f"{sum(bool(o.findings) for o in mine):>9}"
            f"{max(o.preflight_s for o in mine):>10.2f}{max(o.impose_s for o in mine):>11.2f}"
            f"{max(o.total_s for o in mine):>11.2f}{max(o.rss_mb for o in mine):>12.0f}"
        )
    return "\n".join(rows)


def codes(outcomes: Sequence[Outcome]) -> str:
    """Per class, how often each outcome code occurred."""
    lines = []
    for cls in dict.fromkeys(o.cls for o in outcomes):
        counts: dict[str, int] = {}
        for o in outcomes:
            if o.cls == cls:
                key = f"{o.stage}:{o.code}" if o.stage != ACCEPTED else ACCEPTED
                counts[key] = counts.get(key, 0) + 1
        lines.append(
            f"{cls:<16}" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        )
    return "\n".join(lines)


def signature(finding: str, outcome: Outcome) -> str:
    """A finding with the variable parts of its reason taken out, to group the variants showing it."""
    reason = re.sub(r"/\S+", "PATH", outcome.reason)
    reason = re.sub(r"\d+", "N", reason)
    return f"{finding} | {outcome.cls} | {outcome.stage}:{outcome.code} | {reason[:200]}"


def findings(outcomes: Sequence[Outcome]) -> dict[str, list[Outcome]]:
    """The findings grouped by :func:`signature`, each with the variants showing it."""
    grouped: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        for finding in outcome.findings:
            grouped.setdefault(signature(finding, outcome), []).append(outcome)
    return grouped


def describe(outcomes: Sequence[Outcome]) -> str:
    """The findings, one block each: how many variants, of which classes, an example and its reason."""
    lines = []
    for sig, mine in sorted(findings(outcomes).items(), key=lambda kv: -len(kv[1])):
        classes = sorted({o.cls for o in mine})
        lines.append(
            f"[{len(mine)}] {sig}\n    classes: {', '.join(classes)}\n"
            f"    e.g. {mine[0].variant}: {mine[0].reason[:300]}"
        )
    return "\n".join(lines) or "no findings"


# ---- the regression corpus ------------------------------------------------------------------------------
def expected_outcome(outcome: Outcome) -> dict[str, Any]:
    """What a kept variant is expected to end as."""
    if outcome.stage == ACCEPTED:
        return {"outcome": ACCEPTED}
    if outcome.stage == PREFLIGHT:
        return {"outcome": PREFLIGHT, "code": outcome.code}
    return {"outcome": IMPOSITION, "error": outcome.error, "code": outcome.code}


def keep(variant_list: Sequence[Variant], outcomes: Sequence[Outcome], folder: Path = REGRESSIONS) -> None:
    """Write one small variant per class (a sound outcome; imposition refusals first, then acceptances, then
    the rarest pre-flight code) and one reproducer per finding (the smallest variant showing it), with
    ``expected.json``."""
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.pdf"):
        old.unlink()
    by_name = {v.name: v for v in variant_list}
    expected: dict[str, Any] = {}
    for cls in dict.fromkeys(o.cls for o in outcomes):
        sound = [
            o for o in outcomes if o.cls == cls and not o.findings and len(by_name[o.variant].data) < 8192
        ]
        if not sound:
            continue
        rarity: dict[str | None, int] = {}
        for o in sound:
            rarity[o.code] = rarity.get(o.code, 0) + 1
        rank = {IMPOSITION: 0, ACCEPTED: 1, PREFLIGHT: 2}
        chosen = min(
            sound, key=lambda o: (rank[o.stage], rarity[o.code], len(by_name[o.variant].data), o.variant)
        )
        name = f"{cls}.pdf"
        (folder / name).write_bytes(by_name[chosen.variant].data)
        expected[name] = {
            "class": cls,
            "variant": chosen.variant,
            "address": list(by_name[chosen.variant].address),
            **expected_outcome(chosen),
        }
    for number, (sig, mine) in enumerate(sorted(findings(outcomes).items()), start=1):
        small = min(mine, key=lambda o: (len(by_name[o.variant].data), o.variant))
        if len(by_name[small.variant].data) > 8192:
            continue
        name = f"finding-{number:02d}-{small.cls}.pdf"
        (folder / name).write_bytes(by_name[small.variant].data)
        expected[name] = {
            "class": small.cls,
            "variant": small.variant,
            "address": list(by_name[small.variant].address),
            "finding": sig,
            "seen_in": len(mine),
        }
    (folder / "expected.json").write_text(json.dumps(expected, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=int, default=150)
    parser.add_argument("--class", dest="classes", action="append", choices=sorted(MUTATIONS))
    parser.add_argument("--keep", action="store_true", help="rewrite tests/fuzz/regressions/")
    parser.add_argument("--json", type=Path, help="write every outcome here")
    args = parser.parse_args()
    with Runner() as runner:
        variant_list = variants(seeds(runner.tmp / "seeds"), args.per_class, args.classes or MUTATIONS)
        started = time.monotonic()
        outcomes = runner.run(variant_list)
        elapsed = time.monotonic() - started
    print(summary(outcomes))
    print(f"\n{len(outcomes)} variants in {elapsed:.1f} s\n")
    print(codes(outcomes) + "\n")
    print(describe(outcomes))
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    if args.keep:
        keep(variant_list, outcomes)


if __name__ == "__main__":
    main()
