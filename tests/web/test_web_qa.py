"""The QA page and /api/qa over real QA results: first sheets of the demo's dispatched pieces, rendered from
the spooled job PDFs by pdftoppm and inspected by the QA station (two good samples, another piece's sheet, a
faded control code, a control code whose text is markup). Over HTTP, and in headless Chromium (a page left
open picks up a new result, and text read from a sample is shown as text, never run)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from markupsafe import escape
from PIL import Image
from sqlalchemy import select
from starlette.testclient import TestClient

from plant.config import load_settings
from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.ledger import schema_qa as tq
from plant.qa import Inspection, inspect_samples, record
from plant.qa.judge import Judgement, Verdict
from plant.testing import read_rows as ledger_rows
from plant.web import create_app
from tests.web.test_web_browser import wait_for
from tests.web.webplant import Server, elements
from tracking import datamatrix
from tracking.raster import Stamp, mm_to_px, render_symbol, stamp_gray
from tracking.scan import Grade

#: Resolution of the QA station's scans.
DPI = 300
#: Seconds between two refreshes of the open QA page in the browser tests.
REFRESH_S = 0.3
#: A control code a saboteur could print: it must read as text on the QA page and never run.
HOSTILE_CODE = "<script>window.__pwned = 1</script>"


def _first_sheets(state: Path, workdir: Path, count: int) -> list[tuple[int, np.ndarray]]:
    """(piece id, first sheet) of the first ``count`` dispatched pieces, rendered from their jobs' PDFs."""
    ledger = Ledger(f"sqlite:///{state / 'ledger.sqlite'}")
    with ledger.read() as conn:
        jobs = conn.execute(
            select(t.print_jobs.c.job_id, t.print_jobs.c.pdf_path).order_by(t.print_jobs.c.number)
        ).all()
        dispatched = set(
            conn.execute(
                select(t.pieces.c.piece_id)
                .select_from(t.pieces.join(t.letters, t.letters.c.pk == t.pieces.c.letter_pk))
                .where(t.letters.c.state == "DISPATCHED")
            ).scalars()
        )
    ledger.dispose()
    sheets = []
    for job_id, pdf in jobs:
        if not pdf or not Path(f"{pdf}.map.json").exists():
            continue
        for page, entry in enumerate(json.loads(Path(f"{pdf}.map.json").read_text())["sheets"], start=1):
            if (
                entry["sheet_of_piece"] == 1
                and entry["side"] == "front"
                and int(entry["piece_id"]) in dispatched
                and len(sheets) < count
            ):
                prefix = workdir / f"{job_id}-{page}"
                subprocess.run(
                    ["pdftoppm", "-r", str(DPI), "-gray", "-f", str(page), "-l", str(page), pdf, str(prefix)],
                    check=True,
                )
                (rendered,) = workdir.glob(f"{job_id}-{page}-*.pgm")
                sheets.append((int(entry["piece_id"]), np.asarray(Image.open(rendered))))
    assert len(sheets) == count, "the demo batch should have dispatched enough pieces"
    return sheets


def _zone(zone_mm, margin_mm: float) -> tuple[slice, slice]:
    x, y, w, h = zone_mm
    return (
        slice(round(mm_to_px(y - margin_mm, DPI)), round(mm_to_px(y + h + margin_mm, DPI))),
        slice(round(mm_to_px(x - margin_mm, DPI)), round(mm_to_px(x + w + margin_mm, DPI))),
    )


@pytest.fixture(scope="module")
def qa_plant(filled, tmp_path_factory):
    """A copy of the web tests' plant with five samples inspected by the QA station; its settings (refreshing
    every :data:`REFRESH_S`), the inspections by name and the config file."""
    root = tmp_path_factory.mktemp("webqa")
    state = root / "state"
    shutil.copytree(filled.state, state, ignore=shutil.ignore_patterns("redis"))
    config = root / "plant.toml"
    config.write_text(f"[web]\nrefresh_s = {REFRESH_S}\n")
    settings = load_settings(config, environ={"PLANT_STATE_DIR": str(state)})
    (a, sheet_a), (b, sheet_b) = _first_sheets(state, root, 2)
    control = settings.marks.control_zone_mm
    wrong = sheet_a.copy()
    wrong[_zone(control, 2)] = sheet_b[_zone(control, 2)]
    faded = sheet_a.copy()
    faded[_zone(control, 3)] = (150 + faded[_zone(control, 3)].astype(np.float32) * (85 / 255)).astype(
        np.uint8
    )
    hostile = sheet_b.copy()
    hostile[_zone(control, 0)] = 255
    stamp_gray(
        hostile,
        [
            Stamp(
                render_symbol(datamatrix(HOSTILE_CODE), DPI, 0.5, quiet_modules=1),
                round(mm_to_px(control[1], DPI)),
                round(mm_to_px(control[0], DPI)),
            )
        ],
        ink=0,
        paper=255,
    )
    samples = {"good_a": sheet_a, "good_b": sheet_b, "wrong_piece": wrong, "faded": faded, "hostile": hostile}
    paths = []
    for name, pixels in samples.items():
        paths.append(root / f"{name}.png")
        Image.fromarray(pixels).save(paths[-1], dpi=(DPI, DPI))
    inspections = dict(zip(samples, inspect_samples(settings, paths), strict=True))
    assert [i.judgement.verdict.value for i in inspections.values()] == [
        "pass",
        "pass",
        "fail",
        "fail",
        "fail",
    ]
    return {"settings": settings, "inspections": inspections, "config": config, "a": a, "b": b}


@pytest.fixture(scope="module")
def qa_client(qa_plant):
    with TestClient(create_app(qa_plant["settings"])) as http:
        yield http


def test_api_counts_the_ledgers_qa_results(qa_client, qa_plant):
    """Results, passes, failures, pass rate and grade distribution equal the ledger's qa_results rows."""
    rows = ledger_rows(qa_plant["settings"], select(tq.qa_results.c.verdict, tq.qa_results.c.grade))
    data = qa_client.get("/api/qa").json()
    verdicts = Counter(r.verdict for r in rows)
    assert (data["results"], data["passed"], data["failed"]) == (
        len(rows),
        verdicts["pass"],
        verdicts["fail"],
    )
    assert data["pass_rate"] == round(verdicts["pass"] / len(rows), 4) == 0.4
    grades = Counter(r.grade or "none" for r in rows)
    assert data["grades"] == {g: grades[g] for g in ("A", "B", "C", "D", "F", "none")}
    assert data["grades"]["D"] == 1 and data["min_grade"] == "C"


def test_api_lists_failures_with_their_reasons_and_pieces(qa_client, qa_plant):
    """Each failure carries the station's reasons and the piece it was found to be; the latest come first."""
    data = qa_client.get("/api/qa").json()
    failures = {f["qa_id"]: f for f in data["failures"]}
    wrong = qa_plant["inspections"]["wrong_piece"]
    assert failures[wrong.qa_id]["reasons"] == list(wrong.judgement.reasons)
    assert (
        failures[wrong.qa_id]["piece_id"] == qa_plant["a"]
        and "another piece's sheet" in wrong.judgement.reasons[0]
    )
    assert [r["qa_id"] for r in data["recent"]] == sorted(
        (i.qa_id for i in qa_plant["inspections"].values()), reverse=True
    )
    assert {f["qa_id"] for f in data["failures"]} == {
        r["qa_id"] for r in data["recent"] if r["verdict"] == "fail"
    }


def test_results_older_than_the_window_are_left_out(qa_plant, tmp_path):
    """A result recorded two days ago is not in the last 24 hours, and is within ?hours=72."""
    state = tmp_path / "state"
    shutil.copytree(qa_plant["settings"].state_dir, state)
    settings = load_settings(qa_plant["config"], environ={"PLANT_STATE_DIR": str(state)})
    ledger = Ledger(settings.ledger_url)
    old = Inspection(
        "old.png",
        DPI,
        (),
        Judgement(Verdict.FAIL, ("no tracking id read in the window",), None, (), None, None),
        Grade.C,
        time.time() - 48 * 3600,
    )
    with ledger.tx() as conn:
        record(conn, old)
    ledger.dispose()
    with TestClient(create_app(settings)) as http:
        assert http.get("/api/qa").json()["results"] == 5
        assert http.get("/api/qa?hours=72").json()["results"] == 6


@pytest.mark.parametrize("hours", ["0", "745", "soon"])
def test_a_bad_window_is_a_400(qa_client, hours):
    """?hours= outside 1..744 is refused with what to use."""
    answer = qa_client.get(f"/api/qa?hours={hours}")
    assert answer.status_code == 400 and "use a whole number from 1 to 744" in answer.json()["error"]


def test_qa_page_shows_the_figures_failures_and_grades(qa_client):
    """The page shows the pass rate and counts, every failure with each of its reasons, and the grade
    table."""
    data = qa_client.get("/api/qa").json()
    text = qa_client.get("/qa").text
    figures = {attrs["id"]: shown for attrs, shown in elements(text, "id")}
    assert figures["pass-rate"].startswith("40.0 %") and figures["qa-failed"].startswith(str(data["failed"]))
    section = text[text.index('id="failures"') : text.index('id="recent"')]
    shown = {attrs["data-qa"]: row for attrs, row in elements(section, "data-qa")}
    for failure in data["failures"]:
        for reason in failure["reasons"]:
            assert " ".join(reason.split()) in shown[str(failure["qa_id"])]
    grades = {attrs["data-grade"]: row for attrs, row in elements(text, "data-grade")}
    assert {g: int(row.split()[-1]) for g, row in grades.items()} == data["grades"]
    assert 'href="/api/qa"' in text


def test_failures_link_the_piece_whose_history_shows_the_inspection(qa_client, qa_plant):
    """A failure links its piece's page, and that page's history has the qa event."""
    tracking_id = qa_plant["inspections"]["wrong_piece"].judgement.piece.tracking_id
    assert f'href="/pieces/{tracking_id}"' in qa_client.get("/qa").text
    (letter,) = qa_client.get(f"/api/pieces/{tracking_id}").json()["letters"]
    qa_events = [e for e in letter["events"] if e["event"] == "qa"]
    assert {e["data"]["qa_id"] for e in qa_events} >= {qa_plant["inspections"]["wrong_piece"].qa_id}
    assert all(e["from_state"] is None and e["to_state"] is None for e in qa_events)


def test_text_read_from_a_sample_is_escaped(qa_client, qa_plant):
    """A control code that reads as markup appears on the QA page only escaped."""
    assert any(HOSTILE_CODE in r for r in qa_plant["inspections"]["hostile"].judgement.reasons)
    text = qa_client.get("/qa").text
    assert str(escape(HOSTILE_CODE)) in text and HOSTILE_CODE not in text


# -- in the browser ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def qa_served(qa_plant):
    """`plant serve` on the QA plant, refreshing open pages every :data:`REFRESH_S` seconds."""
    with Server(qa_plant["settings"].state_dir, config=qa_plant["config"]) as url:
        yield url


def figure(driver, element_id: str) -> str:
    """The shown text of an element, read in one script call (the open page swaps its content every refresh,
    so a held element reference would go stale)."""
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : ''", element_id
    )


@pytest.mark.slow
def test_browser_shows_the_qa_figures_and_sample_text_never_runs(browser, qa_served, qa_client):
    """In Chromium the QA page shows the API's figures and failure reasons; the markup control code is literal
    text and never ran."""
    data = qa_client.get("/api/qa").json()
    browser.get(qa_served + "qa")
    assert figure(browser, "pass-rate").startswith("40.0 %")
    assert figure(browser, "qa-results").startswith(str(data["results"]))
    reasons = browser.execute_script(
        "return Array.from(document.querySelectorAll('#failures ul.reasons li'), e => e.innerText)"
    )
    assert reasons == [r for f in data["failures"] for r in f["reasons"]]
    assert any(HOSTILE_CODE in r for r in reasons)
    assert browser.execute_script("return typeof window.__pwned") == "undefined"


@pytest.mark.slow
def test_an_open_qa_page_picks_up_a_new_result(browser, qa_served, qa_plant):
    """A sample inspected after the page was loaded shows in the open page without a reload."""
    browser.get(qa_served + "qa")
    before = int(figure(browser, "qa-failed").split()[0])
    browser.execute_script("window.loadedOnce = true")
    settings = qa_plant["settings"]
    ledger = Ledger(settings.ledger_url)
    late = Inspection(
        "late.png",
        DPI,
        (),
        Judgement(Verdict.FAIL, ("no control code read",), None, (), None, None),
        Grade.C,
        time.time(),
    )
    with ledger.tx() as conn:
        record(conn, late)
    ledger.dispose()
    wait_for(
        browser,
        lambda d: figure(d, "qa-failed").split()[:1] == [str(before + 1)],
        "the open QA page never showed the new failure",
    )
    assert browser.execute_script("return window.loadedOnce") is True, (
        "the page reloaded instead of refreshing"
    )
