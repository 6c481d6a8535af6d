"""Letters from real producers (issue 11): the same letter made by LibreOffice Writer, headless Chromium,
Ghostscript, pdfLaTeX, fpdf2 and pdf-lib, one and two pages, each as made and re-saved by qpdf with object
streams, linearized and owner-password encrypted (tests/producers/make.py).

Every one of them must pass the plant's pre-flight (the sandboxed pool the plant runs), go through a whole
plant session (Redis, worker, simulated press and inserter) to DISPATCHED with its address in the window, and
come out of imposition looking like it went in: each imposed page, rendered by pdftoppm at 100 dpi in grey,
matches the letter's page rendered the same way everywhere outside the zones the plant prints its codes into.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from imposition import SheetMap
from plant.config import load_settings
from plant.intake.pdfcheck import normalise
from plant.intake.preflight import preflight_letters
from plant.ledger import schema as t
from plant.model import FINAL_STATES
from plant.testing import configure, open_session, read_rows, submit
from tests.plant.helpers import reap_redis
from tests.producers.make import PRODUCER_NAMES, VARIANTS, LetterFile, plant_geometry, write_submission

pytestmark = pytest.mark.slow

#: Every real letter's id, as tests/producers/make.py names them.
LETTER_IDS = [f"{p}-{n}p-{v}" for p in PRODUCER_NAMES for n in (1, 2) for v in VARIANTS]

#: Rendering of the comparison: pdftoppm's resolution and greyscale.
COMPARE_DPI = 100
#: Left out of the comparison around every zone the plant prints into (it draws its codes there).
MASK_GAP_MM = 1.0
#: Most mean absolute difference, pixel by pixel, in grey levels (0–255) over the pixels compared.
#: Imposition centres a page that is A4 only within tolerance (Chromium's is 594.96 × 841.92 pt: moved by
#: 0.16 pt), and poppler places glyphs on a quarter-pixel grid, so antialiased edges move by a level step (64)
#: here and there: measured at most 1.14 (Chromium), 0.12 (Writer), under 0.05 for the others.
MAX_MEAN_ABS_DIFF = 2.0
#: A pixel "differs" when its grey level is more than DIFFERENT_LEVELS from every pixel within SHIFT_PX of the
#: same place in the other rendering, both ways (so a placement within a pixel, 0.25 mm, is no difference, but
#: a lost or added stroke is: measured at most 64 for any pixel of any real letter) …
SHIFT_PX = 1
DIFFERENT_LEVELS = 96
#: … and at most this share of the pixels compared may differ (0.01 %, ~100 pixels of a page; measured 0).
MAX_DIFFERING_SHARE = 0.0001

#: The fleet the real letters run on: one fast 1-up A4 press, one fast inserter; sweeps every second.
FLEET = dict(
    sweeps={"interval_s": 1},
    printers=[{"name": "press-1", "sheets_per_minute": 600}],
    inserters=[{"name": "ins-1", "envelopes_per_hour": 36000}],
)
#: Seconds the run may go without any letter moving before the test stops waiting (a crash or a refusal
#: leaves letters where they are); and the most it may take in all.
STALL_S = 60
RUN_LIMIT_S = 600


# -- pre-flight ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def verdicts(real_corpus, tmp_path_factory):
    """The plant's sandboxed pre-flight of every real letter, against the default plant's checks."""
    settings = load_settings(environ={"PLANT_STATE_DIR": str(tmp_path_factory.mktemp("preflight-state"))})
    return preflight_letters(
        settings, [(item.letter_id, item.path, item.address) for item in real_corpus.values()]
    )


@pytest.mark.parametrize("letter_id", LETTER_IDS)
def test_every_real_letter_passes_preflight(letter_id, real_corpus, verdicts):
    """Address in the window, clear zones white, fonts embedded (or standard), A4: the verdict is ok with the
    letter's page count."""
    item = real_corpus[letter_id]
    verdict = verdicts[letter_id]
    assert verdict.ok, f"{letter_id}: {verdict.code}: {verdict.reason}"
    assert verdict.pages == item.pages


# -- end to end ----------------------------------------------------------------------------------------------
class Run:
    """What a whole plant session made of the real letters: per letter its ledger row (state, reason, job,
    piece, print file), the run's time and how it ended."""

    def __init__(self, state: Path, letters: dict[str, dict], seconds: float, ending: str, log: str):
        self.state = state
        self.letters = letters
        self.seconds = seconds
        self.ending = ending
        self.log = log

    def why(self, letter_id: str) -> str:
        """A letter's standing, and what the worker logged about its job, for a failure message."""
        row = self.letters.get(letter_id)
        if row is None:
            return f"{letter_id} is not in the ledger ({self.ending})"
        text = (
            f"{letter_id}: {row['state']}"
            + (f" {row['reason_code']}: {row['reason']}" if row["reason_code"] else "")
            + (f"; job {row['job_id']} {row['job_state']}" if row["job_id"] else "")
            + f" (run {self.ending})"
        )
        errors = _logged_errors(self.log, row["job_id"]) if row["job_id"] else []
        return text + "".join(f"\n  worker: {e}" for e in errors)


def _logged_errors(log: str, job_id: str) -> list[str]:
    """The distinct exceptions (their last traceback line) the worker logged for messages about ``job_id``."""
    errors: dict[str, None] = {}
    lines = log.splitlines()
    for number, line in enumerate(lines):
        if job_id not in line or not re.search(r"error|exception", line, re.I):
            continue
        for following in lines[number + 1 : number + 80]:
            if re.match(r"[A-Za-z_][\w.]*(Error|Exception|Pdf|Warning)\b", following):
                errors[following[:500]] = None
                break
        else:
            errors[line[:500]] = None
    return list(errors)


@pytest.fixture(scope="module")
def plant_run(real_corpus, tmp_path_factory) -> Run:
    """All real letters in one submission through a running plant, until every letter is final (or none
    has moved for STALL_S seconds)."""
    root = tmp_path_factory.mktemp("real-run")
    submission = write_submission(root / "in", list(real_corpus.values()))
    config, settings = configure(root, **FLEET)
    letters, jobs, pieces = t.letters.c, t.print_jobs.c, t.pieces.c
    columns = (
        letters.letter_id,
        letters.state,
        letters.reason_code,
        letters.reason,
        letters.pages,
        pieces.piece_id,
        pieces.job_id,
        jobs.state.label("job_state"),
        jobs.pdf_path,
        jobs.duplex,
    )
    query = select(*columns).select_from(
        t.letters.outerjoin(t.pieces, pieces.letter_pk == letters.pk).outerjoin(
            t.print_jobs, jobs.job_id == pieces.job_id
        )
    )
    finals = {s.value for s in FINAL_STATES}
    started = time.monotonic()
    ending = "stalled"
    try:
        with open_session(settings, config) as session:
            submit(session, submission)
            seen, moved = None, time.monotonic()
            while time.monotonic() - started < RUN_LIMIT_S:
                rows = read_rows(session, query)
                states = sorted((r.letter_id, r.state, r.job_state) for r in rows)
                if len(rows) == len(real_corpus) and all(r.state in finals for r in rows):
                    ending = "finished"
                    break
                if states != seen:
                    seen, moved = states, time.monotonic()
                elif time.monotonic() - moved > STALL_S:
                    ending = f"stalled: nothing moved for {STALL_S} s"
                    break
                time.sleep(0.5)
            else:
                ending = f"stopped after {RUN_LIMIT_S} s"
            rows = read_rows(session, query)
    finally:
        reap_redis(settings.state_dir)
    seconds = time.monotonic() - started
    print(f"\nreal letters end to end: {len(rows)} letters, {ending}, {seconds:.1f} s")
    log_path = settings.state_dir / "logs" / "worker.log"
    return Run(
        settings.state_dir,
        {r.letter_id: r._asdict() for r in rows},
        seconds,
        ending,
        log_path.read_text(errors="replace") if log_path.exists() else "",
    )


def test_the_submission_of_all_real_letters_runs_to_the_end(plant_run, real_corpus):
    """Every letter of the submission DISPATCHED; the failure lists each one that is not, and why."""
    not_dispatched = [
        plant_run.why(letter_id)
        for letter_id in LETTER_IDS
        if plant_run.letters.get(letter_id, {}).get("state") != "DISPATCHED"
    ]
    assert not not_dispatched, f"{len(not_dispatched)} of {len(real_corpus)} not dispatched:\n" + "\n".join(
        not_dispatched
    )
    assert plant_run.ending == "finished"


def _imposed_pages(run: Run, letter_id: str) -> tuple[Path, list[int]]:
    """The print file of the letter's job and the indexes (from 0) of its pages in it, in page order."""
    row = run.letters[letter_id]
    pdf = Path(row["pdf_path"])
    sheet_map = SheetMap.from_json(Path(f"{pdf}.map.json").read_text())
    sides = [(r.sheet, r.side.value) for r in sheet_map]
    order = sorted(set(sides), key=sides.index)  # the print file's pages: one per printed sheet side
    mine = sorted(
        (r for r in sheet_map if r.piece_id == str(row["piece_id"]) and r.page), key=lambda r: r.page
    )
    return pdf, [order.index((r.sheet, r.side.value)) for r in mine]


@pytest.mark.parametrize("letter_id", LETTER_IDS)
def test_each_real_letter_is_dispatched_with_its_address_in_the_window(letter_id, plant_run, real_corpus):
    """The letter is DISPATCHED, and on its imposed first page the window field shows the manifest's name
    and address lines (read as pre-flight reads them)."""
    import pypdfium2 as pdfium

    row = plant_run.letters.get(letter_id)
    assert row is not None and row["state"] == "DISPATCHED", plant_run.why(letter_id)
    pdf_path, pages = _imposed_pages(plant_run, letter_id)
    assert len(pages) == real_corpus[letter_id].pages
    x, y, w, h = (v * 72 / 25.4 for v in plant_geometry().window)
    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        page = pdf[pages[0]]
        left, _bottom, _right, top = page.get_bbox()
        textpage = page.get_textpage()
        inside = normalise(textpage.get_text_bounded(left + x, top - y - h, left + x + w, top - y))
        textpage.close()
        page.close()
    finally:
        pdf.close()
    missing = [line for line in real_corpus[letter_id].address if normalise(line) not in inside]
    assert not missing, f"{letter_id}: the imposed window field does not show {missing}: {inside!r}"


def _render(pdf: Path, index: int, out: Path) -> np.ndarray:
    """Page ``index`` (from 0) of ``pdf`` by ``pdftoppm -r 100 -gray``, as grey levels."""
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(COMPARE_DPI),
            "-gray",
            "-f",
            str(index + 1),
            "-l",
            str(index + 1),
            "-singlefile",
            str(pdf),
            str(out),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    path = out.with_suffix(".pgm")
    with Image.open(path) as image:
        pixels = np.asarray(image, dtype=np.int16)
    path.unlink()
    return pixels


def _mask(shape: tuple[int, int], first_page: bool) -> np.ndarray:
    """True where the page is compared: everywhere but the zones the plant prints into (the control zone on
    every page; tracking barcode and postage mark on the first), each with MASK_GAP_MM around it."""
    geometry = plant_geometry()
    zones = geometry.mark_zones if first_page else {"control": geometry.control_zone}
    keep = np.ones(shape, dtype=bool)
    px = COMPARE_DPI / 25.4
    for x, y, w, h in zones.values():
        x0, y0 = int((x - MASK_GAP_MM) * px), int((y - MASK_GAP_MM) * px)
        x1, y1 = int(np.ceil((x + w + MASK_GAP_MM) * px)), int(np.ceil((y + h + MASK_GAP_MM) * px))
        keep[max(y0, 0) : y1, max(x0, 0) : x1] = False
    return keep


def _shift_tolerant_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pixel, the larger of: how far ``a`` is from the nearest grey level of ``b`` within SHIFT_PX, and
    the same from ``b`` to ``a`` (what is lost and what is added)."""
    rows, cols = a.shape
    reach = SHIFT_PX
    pad_a, pad_b = np.pad(a, reach, mode="edge"), np.pad(b, reach, mode="edge")
    lost = np.full(a.shape, 255, dtype=np.int16)
    added = lost.copy()
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            window = (slice(reach + dy, reach + dy + rows), slice(reach + dx, reach + dx + cols))
            lost = np.minimum(lost, np.abs(a - pad_b[window]))
            added = np.minimum(added, np.abs(b - pad_a[window]))
    return np.maximum(lost, added)


@pytest.mark.parametrize("letter_id", LETTER_IDS)
def test_each_imposed_page_looks_like_the_letters_page(letter_id, plant_run, real_corpus, tmp_path):
    """Each imposed page against the letter's page, both by pdftoppm at 100 dpi in grey, outside the plant's
    mark zones (+1 mm): mean absolute difference at most 2 grey levels, and at most 0.01 % of the pixels more
    than 96 levels from every pixel within 1 px in the other rendering."""
    row = plant_run.letters.get(letter_id)
    assert row is not None and row["pdf_path"], plant_run.why(letter_id)
    item: LetterFile = real_corpus[letter_id]
    pdf_path, pages = _imposed_pages(plant_run, letter_id)
    assert len(pages) == item.pages, f"{letter_id}: {len(pages)} pages imposed of {item.pages}"
    for number, index in enumerate(pages):
        source = _render(item.path, number, tmp_path / f"in-{number}")
        imposed = _render(pdf_path, index, tmp_path / f"out-{number}")
        assert source.shape == imposed.shape, (
            f"{letter_id} page {number + 1}: {source.shape} vs {imposed.shape}"
        )
        keep = _mask(source.shape, first_page=number == 0)
        mean = float(np.abs(source - imposed)[keep].mean())
        share = float((_shift_tolerant_diff(source, imposed)[keep] > DIFFERENT_LEVELS).mean())
        assert mean <= MAX_MEAN_ABS_DIFF and share <= MAX_DIFFERING_SHARE, (
            f"{letter_id} page {number + 1} (imposed page {index + 1} of {pdf_path.name}): mean abs diff "
            f"{mean:.3f} (max {MAX_MEAN_ABS_DIFF}), {share:.4%} of pixels differ by > {DIFFERENT_LEVELS} "
            f"within {SHIFT_PX} px (max {MAX_DIFFERING_SHARE:.2%})"
        )
