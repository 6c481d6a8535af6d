"""Imposition benchmarks: ours with every mark against pdfimpose and bare pikepdf, and scaling to 10,000
letters.

One run, the same 1,000 generated letters (1–4 pages, about 2,500 pages):

* ours: 2-up cut and stack, duplex work-and-turn on A3, with all marks (control DataMatrix on every leaf side,
  OMR track, tracking Code 128 + text and a signed PM1 postage QR on each first page, crop marks);
* pdfimpose's ``wire`` schema, signature 2×1, no marks;
* bare pikepdf: each page as a Form XObject (``copy_foreign``), two to an A3 sheet, no marks, ``save``.

Goal (issue 4): ours ≥ 4× pdfimpose and ≥ 0.75× bare pikepdf. Each result's ``extra_info`` holds pages/s and
the ratios, and ours the copy paths its pieces took (issue 11: fast streaming copy or the qpdf fallback; the
generated letters should all take the fast one). ``test_scaling`` imposes 1,000 and 10,000 letters in child
processes and records time, peak RSS and copy paths: cost should grow linearly and memory stay flat.
Run: ``pytest benchmarks/test_imposition.py``.
"""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from pathlib import Path

import pikepdf
import pytest

from imposition import CopyPaths, Duplex, Layout, Marks, OmrSpec, PieceInput, Scheme, SheetSize, impose
from plant.demo import write_letter
from tracking import make_s10

#: Letters in the comparison run.
LETTERS = 1_000
#: Letters in the large scaling run (made by repeating the 1,000 files under new piece ids).
LARGE = 10_000
#: Results of this module's runs, so the last comparison can state the ratios.
RESULTS: dict[str, float] = {}
ROW = {
    "letter_id": "L",
    "name": "Anna Becker",
    "address_1": "Lindenweg 4",
    "address_2": "",
    "postcode": "10115",
    "city": "Berlin",
    "country": "DE",
}


@pytest.fixture(scope="module")
def letters(tmp_path_factory) -> list[Path]:
    """1,000 DIN 5008 letters of 1–4 pages (seeded), generated once."""
    folder = tmp_path_factory.mktemp("letters")
    rng = random.Random(4)
    paths = []
    for number in range(LETTERS):
        path = folder / f"{number:05d}.pdf"
        write_letter(path, {**ROW, "letter_id": f"L{number}"}, rng.randint(1, 4), rng)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def page_count(letters) -> int:
    """Pages in the 1,000 letters."""
    return sum(len(pikepdf.open(p).pages) for p in letters)


def pieces_with_marks(paths: list[Path], repeat: int = 1) -> list[PieceInput]:
    """Pieces with S10 tracking ids, feeder selects and real signed PM1 postage marks (signed before timing,
    as the plant issues marks before it imposes)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tracking.postage import MarkPayload, encode_mark

    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    pieces = []
    for number in range(len(paths) * repeat):
        piece_id, tracking = f"P{number:06d}", make_s10("RR", 10_000_000 + number, "ZZ")
        mark = encode_mark(
            MarkPayload(piece_id, tracking, "101000", "letter", 20.0, 20, 100, "XXX", 1_767_225_600), key
        )
        pieces.append(PieceInput(piece_id, paths[number % len(paths)], tracking, mark, selects="1"))
    return pieces


#: The layout under test: 2-up cut and stack, work-and-turn, on A3.
LAYOUT = Layout(Scheme.CUT_STACK, SheetSize.A3, Duplex.TURN)
#: Every mark the plant prints.
ALL_MARKS = Marks(omr=OmrSpec())


def bare_pikepdf(paths: list[Path], out: Path) -> None:
    """Place every page as a Form XObject two to an A3 sheet with pikepdf, no marks."""
    width, height = LAYOUT.sheet.points
    pdf, pending = pikepdf.new(), []

    def flush() -> None:
        sheet = pdf.add_blank_page(page_size=(width, height))
        names = pikepdf.Dictionary()
        content = b""
        for slot, form in enumerate(pending):
            names[f"/P{slot}"] = form
            content += b"q 1 0 0 1 %.3f 0 cm /P%d Do Q\n" % (slot * width / 2, slot)
        sheet.obj.Resources = pikepdf.Dictionary(XObject=names)
        sheet.obj.Contents = pdf.make_stream(content)
        pending.clear()

    for path in paths:
        source = pikepdf.open(io.BytesIO(path.read_bytes()))
        for page in source.pages:
            pending.append(pdf.copy_foreign(page.as_form_xobject()))
            if len(pending) == 2:
                flush()
    if pending:
        flush()
    pdf.save(out)


def record(benchmark, name: str, pages: int) -> None:
    """Put pages/s (from the best round) into ``extra_info`` and remember it for the ratios."""
    best = benchmark.stats.stats.min
    RESULTS[name] = pages / best
    benchmark.extra_info["pages"] = pages
    benchmark.extra_info["pages_per_s"] = round(pages / best)


def path_counts(paths: CopyPaths) -> dict[str, object]:
    """The copy paths the pieces took (fast streaming copy or the qpdf fallback), for ``extra_info``."""
    return {
        "fast_pieces": paths.fast,
        "fast_pages": paths.fast_pages,
        "fallback_pieces": paths.fallback,
        "fallback_pages": paths.fallback_pages,
        "fallback_reasons": dict(paths.reasons),
    }


@pytest.mark.benchmark(group="imposition-1000-letters")
def test_bare_pikepdf(benchmark, letters, page_count, tmp_path):
    """Bare pikepdf placement, 2 up on A3, no marks."""
    benchmark.pedantic(bare_pikepdf, args=(letters, tmp_path / "bare.pdf"), rounds=3, iterations=1)
    record(benchmark, "bare", page_count)


@pytest.mark.benchmark(group="imposition-1000-letters")
def test_pdfimpose_wire(benchmark, letters, page_count, tmp_path):
    """pdfimpose's wire schema, signature 2×1, no marks."""
    from pdfimpose.schema import wire

    benchmark.pedantic(
        lambda: wire.impose([str(p) for p in letters], str(tmp_path / "wire.pdf"), signature=(2, 1)),
        rounds=1,
        iterations=1,
    )
    record(benchmark, "pdfimpose", page_count)


@pytest.mark.benchmark(group="imposition-1000-letters")
def test_ours_all_marks(benchmark, letters, page_count, tmp_path):
    """Ours: 2-up cut and stack, duplex work-and-turn, A3, every mark; ratios to the two above in
    extra_info."""
    pieces = pieces_with_marks(letters)
    impose(pieces[:5], tmp_path / "warm.pdf", "J000000", LAYOUT, ALL_MARKS)  # JIT and imports outside timing
    sheet_map = benchmark.pedantic(
        impose, args=(pieces, tmp_path / "ours.pdf", "J000001", LAYOUT, ALL_MARKS), rounds=3, iterations=1
    )
    record(benchmark, "ours", page_count)
    benchmark.extra_info["paths"] = path_counts(sheet_map.paths)
    print(f"\ncopy paths of the 1,000 letters: {benchmark.extra_info['paths']}")
    for other, goal in (("pdfimpose", 4.0), ("bare", 0.75)):
        if other in RESULTS:
            benchmark.extra_info[f"ratio_to_{other}"] = round(RESULTS["ours"] / RESULTS[other], 2)
            benchmark.extra_info[f"goal_vs_{other}"] = goal


#: Child process of :func:`test_scaling`: impose N pieces, print seconds, pages and peak RSS as JSON.
CHILD = """
import json, sys, threading, time
from pathlib import Path
import psutil
sys.path.insert(0, {root!r})
from benchmarks.test_imposition import ALL_MARKS, LAYOUT, path_counts, pieces_with_marks
from imposition import impose
paths = sorted(Path({folder!r}).glob("*.pdf"))
pieces = pieces_with_marks(paths, {repeat})
impose(pieces[:5], Path({out!r}), "J0", LAYOUT, ALL_MARKS)
process, peak, done = psutil.Process(), [0], threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], process.memory_info().rss)
        time.sleep(0.005)
base = process.memory_info().rss
sampler = threading.Thread(target=sample)
sampler.start()
start = time.perf_counter()
sheet_map = impose(pieces, Path({out!r}), "J1", LAYOUT, ALL_MARKS)
seconds = time.perf_counter() - start
done.set()
sampler.join()
pages = sum(1 for r in sheet_map if r.page)
print(json.dumps({{"seconds": seconds, "pages": pages, "rss_before_mb": base / 2**20,
                  "peak_rss_mb": peak[0] / 2**20, "paths": path_counts(sheet_map.paths)}}))
"""


@pytest.mark.benchmark(group="imposition-scaling")
def test_scaling(benchmark, letters, tmp_path):
    """1,000 and 10,000 letters in fresh processes: pages/s and peak RSS; memory must not grow with the
    job."""
    root = str(Path(__file__).resolve().parents[1])
    runs = {}

    def run_all() -> None:
        for count in (LETTERS, LARGE):
            script = CHILD.format(
                root=root,
                folder=str(letters[0].parent),
                repeat=count // LETTERS,
                out=str(tmp_path / f"job{count}.pdf"),
            )
            done = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
            runs[count] = json.loads(done.stdout.strip().splitlines()[-1])

    benchmark.pedantic(run_all, rounds=1, iterations=1)
    for count, result in runs.items():
        benchmark.extra_info[f"{count}_letters"] = {
            "pages": result["pages"],
            "seconds": round(result["seconds"], 2),
            "pages_per_s": round(result["pages"] / result["seconds"]),
            "peak_rss_mb": round(result["peak_rss_mb"], 1),
            "rss_growth_mb": round(result["peak_rss_mb"] - result["rss_before_mb"], 1),
            "paths": result["paths"],
        }
    small, large = runs[LETTERS], runs[LARGE]
    benchmark.extra_info["time_ratio_10k_to_1k"] = round(large["seconds"] / small["seconds"], 2)
    benchmark.extra_info["peak_rss_ratio_10k_to_1k"] = round(large["peak_rss_mb"] / small["peak_rss_mb"], 2)


# -- letters from real producers (issue 11) ---------------------------------------------------------------
#: Times the 48 real-producer letters are repeated in the real-letters run (about 1,400 pages).
REAL_REPEAT = 20


@pytest.fixture(scope="module")
def real_letters(tmp_path_factory) -> list[Path]:
    """LibreOffice, Chromium, Ghostscript, pdfLaTeX, fpdf2 and pdf-lib letters of 1 and 2 pages, each as made,
    with object streams, linearized and owner-password encrypted by qpdf (tests/producers), repeated."""
    from tests.producers.make import real_letters as make_real_letters

    made = make_real_letters(tmp_path_factory.mktemp("real"))
    return [letter.path for letter in made] * REAL_REPEAT


@pytest.mark.benchmark(group="imposition-real-producers")
def test_bare_pikepdf_real_letters(benchmark, real_letters, tmp_path):
    """Bare pikepdf placement of the real-producer letters, 2 up on A3, no marks."""
    pages = sum(len(pikepdf.open(p).pages) for p in real_letters)
    benchmark.pedantic(bare_pikepdf, args=(real_letters, tmp_path / "bare.pdf"), rounds=3, iterations=1)
    record(benchmark, "bare-real", pages)


@pytest.mark.benchmark(group="imposition-real-producers")
def test_ours_all_marks_real_letters(benchmark, real_letters, tmp_path):
    """Ours on the real-producer letters with every mark; the copy path of each producer × variant, and the
    ratio to bare pikepdf, in extra_info (the owner-password files take the fallback: qpdf decrypts them)."""
    pages = sum(len(pikepdf.open(p).pages) for p in real_letters)
    pieces = pieces_with_marks(real_letters)
    impose(pieces[:5], tmp_path / "warm.pdf", "J000000", LAYOUT, ALL_MARKS)
    sheet_map = benchmark.pedantic(
        impose, args=(pieces, tmp_path / "ours.pdf", "J000001", LAYOUT, ALL_MARKS), rounds=3, iterations=1
    )
    record(benchmark, "ours-real", pages)
    benchmark.extra_info["paths"] = path_counts(sheet_map.paths)
    letters = len(real_letters) // REAL_REPEAT
    fast = sheet_map.paths.fast // REAL_REPEAT
    benchmark.extra_info["fast_path_letters"] = f"{fast} of {letters}"
    if "bare-real" in RESULTS:
        benchmark.extra_info["ratio_to_bare"] = round(RESULTS["ours-real"] / RESULTS["bare-real"], 2)
    print(f"\ncopy paths of the real-producer letters (×{REAL_REPEAT}): {benchmark.extra_info['paths']}")
