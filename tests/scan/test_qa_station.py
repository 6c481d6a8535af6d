"""``plant qa`` on real samples: sheets the plant itself imposed (pre-flight, route, plan and impose stages,
postage marks issued on hold), rendered by pdftoppm at 300 dpi, then scanned as they are or altered like the
faults QA exists to catch — another piece's sheet, a forged or foreign postage mark, a faded control code, an
unreadable file. Every inspection is recorded in the ledger and on the piece's history; no piece changes
state."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from plant.cli import main
from plant.demo import generate
from plant.ledger import Ledger, move_letters
from plant.ledger import schema as t
from plant.ledger import schema_postage as tp
from plant.ledger import schema_qa as tq
from plant.ledger.jobs import job_pieces
from plant.model import Event, State
from plant.stages.impose import impose
from plant.testing import accept_batch, installed_plant, job_ids, plan_submission, state_settings
from tracking import qr
from tracking.postage import MARK_PREFIX, new_signing_key
from tracking.raster import Stamp, mm_to_px, render_symbol, stamp_gray
from tracking.scan.synthetic import Degradation, degrade

#: Resolution of the QA station's scans.
DPI = 300
#: A flatbed scan of a sheet: a fraction of a degree of skew, sensor noise, a little optical blur.
SCANNER = Degradation(rotation_deg=0.3, noise_sigma=8.0, blur_px=0.7)
#: Module of the plant's postage QR (the default mark layout), mm, and its quiet modules.
POSTAGE_MODULE_MM, POSTAGE_QUIET = 0.33, 2


def _box(zone_mm, margin_mm: float) -> tuple[slice, slice]:
    """Pixel slices of a zone (x, y, w, h mm) widened by ``margin_mm``, at :data:`DPI`."""
    x, y, w, h = zone_mm
    return (
        slice(round(mm_to_px(y - margin_mm, DPI)), round(mm_to_px(y + h + margin_mm, DPI))),
        slice(round(mm_to_px(x - margin_mm, DPI)), round(mm_to_px(x + w + margin_mm, DPI))),
    )


def _forge(genuine: str) -> str:
    """The genuine mark with its weight band raised, re-signed by a forger who kept the plant's key id."""
    body32 = genuine[len(MARK_PREFIX) :]
    raw = base64.b32decode(body32 + "=" * (-len(body32) % 8))[:-64]
    body = raw[:15] + (100).to_bytes(4, "big") + raw[19:]  # band: after magic, version, key id, time, mass
    return MARK_PREFIX + base64.b32encode(body + new_signing_key().sign(body)).decode().rstrip("=")


def _first_sheets(state_dir, workdir) -> dict[int, np.ndarray]:
    """The first sheet of every imposed piece, rendered from its job's print-ready PDF by pdftoppm."""
    ledger = Ledger(f"sqlite:///{state_dir / 'ledger.sqlite'}")
    with ledger.read() as conn:
        jobs = conn.execute(select(t.print_jobs.c.job_id, t.print_jobs.c.pdf_path)).all()
    ledger.dispose()
    sheets = {}
    for job_id, pdf in jobs:
        sheet_map = json.loads(Path(f"{pdf}.map.json").read_text())["sheets"]
        for page, entry in enumerate(sheet_map, start=1):
            if entry["sheet_of_piece"] == 1 and entry["side"] == "front":
                prefix = workdir / f"{job_id}-{page}"
                subprocess.run(
                    ["pdftoppm", "-r", str(DPI), "-gray", "-f", str(page), "-l", str(page), pdf, str(prefix)],
                    check=True,
                )
                (rendered,) = workdir.glob(f"{job_id}-{page}-*.pgm")
                sheets[int(entry["piece_id"])] = np.asarray(Image.open(rendered))
    return sheets


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A template plant with four letters imposed by the plant's own stages (three then printed and inserted,
    the last one left imposed), and one sample image per scenario; each test gets a copy of the ledger."""
    root = tmp_path_factory.mktemp("qa")
    settings = state_settings(root / "template")
    batch = generate(root / "in", 4, seed=11)
    with installed_plant(settings) as plant:
        submission_id = plan_submission(accept_batch(plant, batch.submission))
        jobs = job_ids(plant)
        for job_id in jobs:
            impose(job_id)
        with plant.ledger.tx() as conn:
            rows = [r for job_id in jobs for r in job_pieces(conn, job_id)]
            produced = [r.pk for r in rows[:-1]]
            move_letters(conn, [r.pk for r in rows], Event.SPOOL, State.IMPOSED)
            move_letters(conn, produced, Event.READ_DOWNSTREAM, State.SPOOLED)
            move_letters(conn, produced, Event.INSERT, State.PRINTED)
            marks = dict(conn.execute(select(tp.postage_marks.c.piece_id, tp.postage_marks.c.text)).all())
    assert len(rows) == 4, "the generated batch should give four printed pieces"
    sheets = _first_sheets(settings.state_dir, root)
    a, b = rows[0].piece_id, rows[1].piece_id
    layout = settings.marks
    images = {"good": degrade(sheets[a], SCANNER, 1), "clean_b": sheets[b]}

    wrong = sheets[a].copy()  # A's window and mark, B's control code: B's sheet in A's envelope
    zone = _box(layout.control_zone_mm, 2)
    wrong[zone] = sheets[b][zone]
    images["wrong_piece"] = wrong

    for name, text in (("forged_mark", _forge(marks[str(a)])), ("foreign_mark", marks[str(b)])):
        sheet = sheets[a].copy()
        sheet[_box(layout.postage_zone_mm, 0)] = 255
        x, y = layout.postage_zone_mm[:2]
        bitmap = render_symbol(qr(text), DPI, POSTAGE_MODULE_MM, quiet_modules=POSTAGE_QUIET)
        images[name] = stamp_gray(
            sheet, [Stamp(bitmap, round(mm_to_px(y, DPI)), round(mm_to_px(x, DPI)))], ink=0, paper=255
        )

    faded = sheets[
        a
    ].copy()  # worn-out toner: the control code still reads but prints at a third of the contrast
    zone = _box(layout.control_zone_mm, 3)
    faded[zone] = (150 + faded[zone].astype(np.float32) * (235 - 150) / 255).astype(np.uint8)
    images["faded"] = degrade(faded, Degradation(noise_sigma=4.0), 2)
    images["blank"] = np.full_like(sheets[a], 250)
    pad = round(mm_to_px(40, DPI))  # laid 40 mm off the corner of the glass: every code outside its zone
    images["off_layout"] = np.pad(sheets[a], ((pad, 0), (pad, 0)), constant_values=255)
    top, left = round(mm_to_px(30, DPI)), round(mm_to_px(15, DPI))  # a close-up of the address field only
    images["closeup"] = sheets[a][
        top : top + round(mm_to_px(70, DPI)), left : left + round(mm_to_px(95, DPI))
    ].copy()
    enclosure = sheets[
        a
    ].copy()  # B's mark printed elsewhere on A's sheet (an enclosure, a sender's own code)
    bitmap = render_symbol(qr(marks[str(b)]), DPI, POSTAGE_MODULE_MM, quiet_modules=POSTAGE_QUIET)
    images["extra_mark"] = stamp_gray(
        enclosure, [Stamp(bitmap, round(mm_to_px(150, DPI)), round(mm_to_px(140, DPI)))], ink=0, paper=255
    )

    paths = {}
    for name, pixels in images.items():
        paths[name] = root / f"{name}.png"
        Image.fromarray(pixels).save(paths[name], dpi=(DPI, DPI))
    paths["wrong_dpi"] = root / "wrong_dpi.png"  # the good scan, its file claiming 150 dpi
    Image.fromarray(images["good"]).save(paths["wrong_dpi"], dpi=(150, 150))
    paths["not_an_image"] = root / "not_an_image.png"
    paths["not_an_image"].write_text("a scanner error page, not an image")
    return {
        "template": settings.state_dir,
        "images": paths,
        "a": a,
        "b": b,
        "submission": submission_id,
        "tracking": {r.piece_id: r.tracking_id for r in rows},
        "order": [r.piece_id for r in rows],
        "root": root,
    }


@pytest.fixture
def state(world, tmp_path):
    """A fresh copy of the template plant's state dir."""
    copy = tmp_path / "state"
    shutil.copytree(world["template"], copy)
    return copy


def qa(state, *args, config=None):
    """Run ``plant qa ARGS --json`` in-process; (exit code, the JSON reports)."""
    argv = [
        "--state-dir",
        str(state),
        *(["--config", str(config)] if config else []),
        "qa",
        *map(str, args),
        "--json",
    ]
    code = main(argv)
    return code


def reports(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def ledger_rows(state, statement):
    ledger = Ledger(f"sqlite:///{state / 'ledger.sqlite'}")
    try:
        with ledger.read() as conn:
            return conn.execute(statement).all()
    finally:
        ledger.dispose()


def letters(state):
    return ledger_rows(
        state, select(t.letters.c.pk, t.letters.c.state, t.letters.c.updated_at).order_by(t.letters.c.pk)
    )


def qa_events(state, piece_id):
    pk = ledger_rows(state, select(t.pieces.c.letter_pk).where(t.pieces.c.piece_id == piece_id))[0][0]
    return [
        e.data
        for e in ledger_rows(
            state,
            select(t.events).where(
                t.events.c.entity == "letter", t.events.c.entity_id == str(pk), t.events.c.event == "qa"
            ),
        )
    ]


def test_a_scanned_sheet_of_the_plant_passes_and_is_recorded(world, state, capsys):
    """A scan of a piece's first sheet names one piece in all three codes, verifies and grades well: exit 0,
    one QA row for the piece, a qa event on its history."""
    assert qa(state, world["images"]["good"]) == 0
    (report,) = reports(capsys)
    assert (report["verdict"], report["reasons"], report["piece"]["piece_id"]) == ("pass", [], world["a"])
    assert report["tracking_id"] == world["tracking"][world["a"]]
    assert {c["kind"] for c in report["codes"]} == {"control", "tracking", "postage"}
    assert report["grade"] in ("A", "B", "C") and report["min_grade"] == "C"
    (row,) = ledger_rows(state, select(tq.qa_results))
    assert (row.qa_id, row.piece_id, row.verdict, row.grade, row.reasons) == (
        report["qa_id"],
        world["a"],
        "pass",
        report["grade"],
        [],
    )
    assert [e["qa_id"] for e in qa_events(state, world["a"])] == [row.qa_id]


def test_qa_never_changes_a_pieces_state(world, state, capsys):
    """Inspecting passing and failing samples leaves every letter's state and update time as they were."""
    before = letters(state)
    qa(state, world["images"]["good"], world["images"]["wrong_piece"], world["images"]["faded"])
    assert letters(state) == before


def test_another_pieces_sheet_fails_and_shows_on_both_histories(world, state, capsys):
    """A's tracking id and mark with B's control code fail as another piece's sheet; the result is A's, and
    B's history also gets the qa event (its sheet is in the wrong envelope)."""
    assert qa(state, world["images"]["wrong_piece"]) == 1
    (report,) = reports(capsys)
    assert report["verdict"] == "fail" and report["piece"]["piece_id"] == world["a"]
    (reason,) = report["reasons"]
    assert f"names piece {world['b']}" in reason and "another piece's sheet" in reason
    assert [(e["qa_id"], e["sampled"]) for e in qa_events(state, world["a"])] == [(report["qa_id"], True)]
    assert [(e["qa_id"], e["sampled"]) for e in qa_events(state, world["b"])] == [(report["qa_id"], False)]
    codes = {c["kind"]: c["piece_id"] for c in report["codes"]}
    assert codes == {"control": world["b"], "tracking": world["a"], "postage": world["a"]}


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("forged_mark", "postage mark fails verification: the signature does not match the payload"),
        ("foreign_mark", "postage mark names piece {b}"),
    ],
)
def test_a_mark_that_is_not_this_pieces_fails(world, state, capsys, image, expected):
    """A mark re-signed by a forger (the plant's key id kept) fails verification; another piece's genuine mark
    on the sheet names the wrong piece and tracking id."""
    assert qa(state, world["images"][image]) == 1
    (report,) = reports(capsys)
    assert report["verdict"] == "fail" and report["piece"]["piece_id"] == world["a"]
    assert any(r.startswith(expected.format(b=world["b"])) for r in report["reasons"]), report["reasons"]
    if image == "foreign_mark":
        assert any(f"names tracking id {world['tracking'][world['b']]}" in r for r in report["reasons"])


def test_a_faded_control_code_fails_on_its_grade(world, state, capsys):
    """A control code printed at a third of the contrast still reads but grades D: below the minimum C, it
    fails with the grade as the only reason."""
    assert qa(state, world["images"]["faded"]) == 1
    (report,) = reports(capsys)
    assert (report["grade"], report["piece"]["piece_id"]) == ("D", world["a"])
    assert report["reasons"] == [f"control DataMatrix '{_control(report)}' grades D, below the minimum C"]
    (control,) = [c for c in report["codes"] if c["kind"] == "control"]
    assert control["grading"]["symbol_contrast"]["grade"] == "D"


def test_the_minimum_grade_comes_from_the_configuration(world, state, capsys, tmp_path):
    """With ``[qa] min_grade = "D"`` the same faded sample passes, and the row records the minimum it met."""
    config = tmp_path / "plant.toml"
    config.write_text('[qa]\nmin_grade = "D"\n')
    assert qa(state, world["images"]["faded"], config=config) == 0
    (report,) = reports(capsys)
    assert (report["verdict"], report["grade"], report["min_grade"]) == ("pass", "D", "D")
    assert ledger_rows(state, select(tq.qa_results.c.min_grade))[0][0] == "D"


def test_a_minimum_grade_that_is_no_grade_is_refused(world, state, capsys, tmp_path):
    """``min_grade = "E"`` is refused before anything is read, naming the key and the grades allowed."""
    config = tmp_path / "plant.toml"
    config.write_text('[qa]\nmin_grade = "E"\n')
    assert qa(state, world["images"]["good"], config=config) == 78
    assert "qa.min_grade = 'E' is not allowed; use one of: A, B, C, D, F" in capsys.readouterr().err
    assert ledger_rows(state, select(tq.qa_results)) == []


def test_a_file_that_is_no_image_is_an_error_and_the_others_are_still_inspected(world, state, capsys):
    """A file that cannot be opened says so (and how to fix it), is not recorded, and makes the exit 1; the
    good sample after it is still inspected and recorded."""
    assert qa(state, world["images"]["not_an_image"], world["images"]["good"]) == 1
    out = capsys.readouterr()
    first, second = [json.loads(line) for line in out.out.splitlines()]
    assert "cannot be opened as an image" in first["error"] and "scan the sample again" in first["error"]
    assert f"Sample {world['images']['not_an_image']} cannot be opened as an image" in out.err
    assert second["verdict"] == "pass"
    assert [r.image for r in ledger_rows(state, select(tq.qa_results))] == [str(world["images"]["good"])]


def test_a_sample_with_no_code_readable_is_a_recorded_failure(world, state, capsys):
    """An image with no code at all is recorded as a failure of no piece, with a reason for each missing
    code."""
    assert qa(state, world["images"]["blank"]) == 1
    (report,) = reports(capsys)
    assert (report["piece"], report["grade"], report["codes"]) == (None, None, [])
    assert report["reasons"] == [
        "no tracking id read in the window",
        "no control code read",
        "no postage mark read",
    ]
    (row,) = ledger_rows(state, select(tq.qa_results))
    assert (row.piece_id, row.verdict) == (None, "fail")


def test_a_sample_far_off_the_layout_is_read_whole(world, state, capsys):
    """A sheet laid 40 mm off the corner has no code in any zone: the whole image is read and it passes."""
    assert qa(state, world["images"]["off_layout"]) == 0
    (report,) = reports(capsys)
    assert (report["verdict"], report["piece"]["piece_id"]) == ("pass", world["a"])


def test_codes_outside_the_zones_take_no_part(world, state, capsys):
    """Another piece's mark printed elsewhere on the sheet is not read: the zones hold one mark, and it passes
    (read whole, the sheet would carry two marks)."""
    assert qa(state, world["images"]["extra_mark"]) == 0
    (report,) = reports(capsys)
    assert [c["piece_id"] for c in report["codes"] if c["kind"] == "postage"] == [world["a"]]


def test_a_close_up_of_the_window_is_still_put_on_its_piece(world, state, capsys):
    """A close-up of the address field (the control zone lies off the image) is read whole: it fails for the
    missing control code, recorded against the piece its window names."""
    assert qa(state, world["images"]["closeup"], "--dpi", DPI) == 1
    (report,) = reports(capsys)
    assert report["reasons"] == ["no control code read"] and report["piece"]["piece_id"] == world["a"]


def test_dpi_overrides_what_the_file_says(world, state, capsys):
    """A file claiming 150 dpi puts the zones in the wrong place; --dpi 300 reads it right."""
    assert qa(state, world["images"]["wrong_dpi"], "--dpi", DPI) == 0
    assert reports(capsys)[0]["dpi"] == DPI
    qa(state, world["images"]["wrong_dpi"])
    assert reports(capsys)[0]["dpi"] == 150


def test_human_output_lists_each_reason(world, state, capsys):
    """Without --json: one line per sample with verdict, piece and grade, then its reasons."""
    assert (
        main(
            [
                "--state-dir",
                str(state),
                "qa",
                str(world["images"]["good"]),
                str(world["images"]["wrong_piece"]),
            ]
        )
        == 1
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(
        f"PASS  {world['images']['good']}  piece {world['a']} {world['tracking'][world['a']]}"
    )
    assert lines[1].startswith("FAIL") and lines[2].lstrip().startswith("- control code")


def test_qa_without_a_ledger_is_refused_and_creates_none(world, tmp_path, capsys):
    """No ledger in the state dir: exit 66 with what to do; no empty ledger is made."""
    state = tmp_path / "empty"
    assert main(["--state-dir", str(state), "qa", str(world["images"]["good"])]) == 66
    assert "No ledger at" in capsys.readouterr().err
    assert not (state / "ledger.sqlite").exists()


def _control(report) -> str:
    return next(c["text"] for c in report["codes"] if c["kind"] == "control")


# -- the sampling plan ---------------------------------------------------------------------------------------
def sample(state, *args, capsys) -> tuple[int, list[dict]]:
    code = main(["--state-dir", str(state), "qa", "sample", *map(str, args), "--json"])
    return code, reports(capsys)


def test_sample_takes_every_nth_inserted_piece_in_production_order(world, state, capsys):
    """--every 2 takes positions 0 and 2 of the production order (job, then sequence), and the same twice."""
    code, picks = sample(state, world["submission"], "--every", 2, capsys=capsys)
    assert code == 0
    assert [(p["position"], p["piece_id"]) for p in picks] == [(0, world["order"][0]), (2, world["order"][2])]
    assert all(p["state"] == "INSERTED" for p in picks)
    assert sample(state, world["submission"], "--every", 2, capsys=capsys)[1] == picks


def test_sample_leaves_out_pieces_not_yet_in_an_envelope(world, state, capsys):
    """With --offset 1 the positions are 1 and 3; the piece at 3 is only imposed, so only position 1 is
    listed."""
    _, picks = sample(state, world["submission"], "--every", 2, "--offset", 1, capsys=capsys)
    assert [(p["position"], p["piece_id"]) for p in picks] == [(1, world["order"][1])]


def test_sample_prints_a_table_without_json(world, state, capsys):
    """Without --json: a header line and one tab-separated row per piece to pull, the plan on stderr."""
    assert main(["--state-dir", str(state), "qa", "sample", world["submission"], "--every", "2"]) == 0
    out = capsys.readouterr()
    header, *rows = out.out.splitlines()
    assert header.split("\t")[:3] == ["position", "piece", "tracking_id"]
    assert [r.split("\t")[1] for r in rows] == [str(world["order"][0]), str(world["order"][2])]
    assert "1 in 2 of 4 pieces from position 0; 2 to pull" in out.err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["S-nope", "--every", "2"], 66, "No submission 'S-nope'"),
        (["{submission}", "--every", "0"], 1, "--every 0 --offset 0: take every N-th piece"),
        (["{submission}", "--every", "3", "--offset", "3"], 1, "an offset from 0 to N − 1"),
        (["{submission}"], 2, "usage: plant qa sample SUBMISSION --every N"),
    ],
)
def test_sample_refuses_what_it_cannot_plan(world, state, capsys, args, code, message):
    """An unknown submission, N < 1, an offset outside 0..N−1 or a missing --every is refused with the fix."""
    argv = [a.format(submission=world["submission"]) for a in args]
    assert main(["--state-dir", str(state), "qa", "sample", *argv]) == code
    assert message in capsys.readouterr().err


def test_every_belongs_to_sample(world, state, capsys):
    """--every with image paths is a usage error, not silently ignored."""
    assert main(["--state-dir", str(state), "qa", str(world["images"]["good"]), "--every", "5"]) == 2
    assert "--every belongs to `plant qa sample" in capsys.readouterr().err
