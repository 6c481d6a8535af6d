"""Acceptance of prepaid items from real scans: marks and tracking barcodes stamped into a PDF, rendered with
pdftoppm, read back with zxing-cpp, and every outcome recorded in the ledger (paid, annulled for mass, time or
refusal, refused when the mark fails the check: missing, unreadable, forged, foreign, already used)."""

from __future__ import annotations

import base64
import shutil
import subprocess
import time

import numpy as np
import pikepdf
import pytest
from sqlalchemy import insert, select

from imposition import marks
from imposition.geometry import A4_HEIGHT, A4_WIDTH, Rect
from plant.cli import main
from plant.config import load_settings
from plant.demo import generate
from plant.intake.submission import accept, read_submission
from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.ledger import schema_postage as tp
from plant.postage.acceptance import (
    INCORRECT_MASS,
    MARK_FAILED,
    Verdict,
    accept_item,
    acceptance_regions,
    read_scans,
)
from plant.postage.marks import MarkState, issue_marks, signing_key, write_new_key
from tracking import code128, qr
from tracking.postage import MARK_PREFIX, new_signing_key

#: Issue time of every mark in the template ledger (now, so the CLI's real clock is within the 72 h).
T_ISSUE = float(int(time.time()))
#: An hour in seconds.
HOUR = 3600.0
#: Mass that falls in the declared 20 g band of piece A (2 sheets: 15.0 g).
GOOD_MASS = 15.2
#: Mass in the 50 g band instead.
HEAVY_MASS = 35.0

#: Scan pages of the rendered PDF, by name; each is one item's scan.
PAGES = ("good", "forged", "no_mark", "unreadable", "foreign", "no_tracking", "crowded")


#: Where the plant prints the mark and the tracking barcode (the default mark layout): x, y of the top-left,
#: mm.
POSTAGE_AT_MM = (88.0, 45.5)
TRACKING_AT_MM = (24.0, 81.0)
#: Module sizes of the default mark layout: postage QR 0.33 mm (2 quiet modules), Code 128 0.25 mm (10 quiet).
POSTAGE_MODULE_MM, TRACKING_MODULE_MM = 0.33, 0.25


def _page(
    pdf: pikepdf.Pdf,
    mark: str | None,
    tracking: str | None,
    damage: bool = False,
    extra: tuple[tuple[str, str, float, float], ...] = (),
) -> None:
    """One scan page: the mark and the tracking barcode where the plant's layout prints them, and ``extra``
    codes (kind ``mark`` or ``tracking``, text, x mm, y mm) anywhere else."""
    page = pdf.add_blank_page(page_size=(A4_WIDTH, A4_HEIGHT))
    xobjects, content = pikepdf.Dictionary(), b""
    placed = []
    if mark is not None:
        placed.append(("mark", mark, *POSTAGE_AT_MM))
    if tracking is not None:
        placed.append(("tracking", tracking, *TRACKING_AT_MM))
    for i, (kind, text, x, y) in enumerate((*placed, *extra)):
        name = f"/C{i}"
        if kind == "mark":
            matrix = qr(text)
            if (
                damage and text == mark
            ):  # ink over the middle third: more than QR's error correction can restore
                n = matrix.shape[0]
                matrix[n // 3 : 2 * n // 3, :] = True
            bitmap = marks.symbol_bitmap(matrix, 2)
            rect = Rect.from_mm(
                x, y, bitmap.shape[1] * POSTAGE_MODULE_MM, bitmap.shape[0] * POSTAGE_MODULE_MM
            )
        else:
            bitmap = marks.linear_bitmap(code128(text), 10)
            rect = Rect.from_mm(x, y, bitmap.shape[1] * TRACKING_MODULE_MM, 6)
        xobjects[name] = marks.image_xobject(pdf, bitmap)
        content += marks.draw_image(name, rect, A4_HEIGHT)
    page.obj.Resources = pikepdf.Dictionary(XObject=xobjects)
    page.obj.Contents = pdf.make_stream(content)


def _forge(genuine: str) -> str:
    """The genuine mark with its band raised to 100 g, re-signed by a forger who kept the real key id."""
    body32 = genuine[len(MARK_PREFIX) :]
    raw = base64.b32decode(body32 + "=" * (-len(body32) % 8))[:-64]
    body = (
        raw[:15] + (100).to_bytes(4, "big") + raw[19:]
    )  # band field: after magic, version, key id, time, mass
    return MARK_PREFIX + base64.b32encode(body + new_signing_key().sign(body)).decode().rstrip("=")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A template ledger with two pieces (A: 2 sheets, B: 1 sheet) whose marks are on hold, the plant's key,
    and one rendered scan per scenario; built once, copied per test."""
    root = tmp_path_factory.mktemp("acceptance")
    key_path = root / "signing-key.pem"
    write_new_key(key_path)
    config = root / "plant.toml"
    config.write_text(f'[postage]\nkey_path = "{key_path}"\noffice = "101000"\n')
    settings = load_settings(config, environ={"PLANT_STATE_DIR": str(root / "template")})
    settings.state_dir.mkdir()
    ledger = Ledger(settings.ledger_url)
    batch = generate(root / "in", 2, seed=3)
    accept(ledger.tx, root / "blobs", read_submission(batch.submission))
    with ledger.tx() as conn:
        pks = conn.execute(select(t.letters.c.pk).order_by(t.letters.c.pk)).scalars().all()
        conn.execute(t.letters.update().values(mail_class="standard"))
        for pk, tid, sheets, mass in zip(
            pks, ("RR100000017ZZ", "RR100000025ZZ"), (2, 1), (15.0, 10.0), strict=True
        ):
            conn.execute(
                insert(t.pieces).values(letter_pk=pk, tracking_id=tid, sheets=sheets, prints=0, mass_g=mass)
            )
        ids = conn.execute(select(t.pieces.c.piece_id).order_by(t.pieces.c.piece_id)).scalars().all()
        issued = issue_marks(conn, settings, ids, signing_key(settings), at=T_ISSUE)
    ledger.dispose()
    mark_a, mark_b = issued.marks[str(ids[0])], issued.marks[str(ids[1])]
    pdf = pikepdf.new()
    _page(pdf, mark_a, "RR100000017ZZ")
    _page(pdf, _forge(mark_a), "RR100000017ZZ")
    _page(pdf, None, "RR100000017ZZ")
    _page(pdf, mark_a, "RR100000017ZZ", damage=True)
    _page(pdf, mark_b, "RR100000017ZZ")
    _page(pdf, mark_a, None)
    # A's codes in their zones, and B's mark and tracking barcode elsewhere on the sheet (an enclosure showing
    # through, a sender's own labels): the whole image holds two marks and two tracking ids.
    _page(
        pdf,
        mark_a,
        "RR100000017ZZ",
        extra=(("mark", mark_b, 140.0, 150.0), ("tracking", "RR100000025ZZ", 30.0, 200.0)),
    )
    pdf.save(root / "scans.pdf")
    subprocess.run(
        ["pdftoppm", "-r", "200", "-gray", str(root / "scans.pdf"), str(root / "scan")], check=True
    )
    scans = dict(zip(PAGES, sorted(root.glob("scan-*.pgm")), strict=True))
    return {"config": config, "template": settings.state_dir, "scans": scans, "pieces": [str(i) for i in ids]}


@pytest.fixture
def plant(world, tmp_path):
    """(settings, ledger) on a fresh copy of the template ledger."""
    state = tmp_path / "state"
    shutil.copytree(world["template"], state)
    settings = load_settings(world["config"], environ={"PLANT_STATE_DIR": str(state)})
    ledger = Ledger(settings.ledger_url)
    yield settings, ledger
    ledger.dispose()


def check(plant, world, page, mass=GOOD_MASS, at=T_ISSUE + HOUR, refuse=None):
    settings, ledger = plant
    reading = read_scans([world["scans"][page]], acceptance_regions(settings))
    return accept_item(ledger, settings, reading, mass, refuse, at=at)


def mark_state(plant, piece):
    with plant[1].read() as conn:
        return conn.execute(
            select(tp.postage_marks.c.state).where(tp.postage_marks.c.piece_id == piece)
        ).scalar()


def test_scan_reads_the_mark_and_the_tracking_id_together(world):
    """One rendered scan yields the mark text and the tracking id beside it."""
    reading = read_scans([world["scans"]["good"]])
    assert reading.tracking_ids == ("RR100000017ZZ",) and reading.marks[0].startswith("PM1:")


def test_valid_mark_on_hold_is_paid(plant, world):
    """A genuine mark on hold, in time and in its band: the item is accepted and the mark is paid."""
    outcome = check(plant, world, "good")
    assert outcome.verdict == Verdict.PAID
    assert mark_state(plant, world["pieces"][0]) == MarkState.PAID


def test_acceptance_is_recorded_as_a_mark_event(plant, world):
    """Payment appends an `accept` event on the mark, on_hold → paid, with the weighed mass."""
    check(plant, world, "good")
    with plant[1].read() as conn:
        event = conn.execute(
            select(t.events).where(t.events.c.entity == "mark", t.events.c.event == "accept")
        ).one()
    assert (event.from_state, event.to_state, event.data["weighed_mass_g"]) == ("on_hold", "paid", GOOD_MASS)


def test_paid_mark_presented_again_fails_the_check(plant, world):
    """A mark already paid is not on hold: the second item is refused and the mark stays paid."""
    check(plant, world, "good")
    outcome = check(plant, world, "good")
    assert (outcome.verdict, outcome.reason) == (
        Verdict.REFUSED,
        f"{MARK_FAILED}: the mark is paid, not on hold",
    )
    assert mark_state(plant, world["pieces"][0]) == MarkState.PAID


def test_weighed_mass_in_another_band_annuls_for_incorrect_mass(plant, world):
    """Weighed at 35 g against a declared 20 g band: annulled, incorrect mass."""
    outcome = check(plant, world, "good", mass=HEAVY_MASS)
    assert (outcome.verdict, outcome.reason, outcome.weighed_band_g) == (Verdict.ANNULLED, INCORRECT_MASS, 50)
    assert mark_state(plant, world["pieces"][0]) == MarkState.ANNULLED


def test_mass_above_every_band_annuls_for_incorrect_mass(plant, world):
    """Weighed above the top band: annulled, incorrect mass."""
    assert check(plant, world, "good", mass=5000).reason == INCORRECT_MASS


def test_item_handed_in_after_72_hours_is_annulled(plant, world):
    """Presented 72 h and one second after its mark was issued: annulled, and the mark is annulled."""
    outcome = check(plant, world, "good", at=T_ISSUE + 72 * HOUR + 1)
    assert (outcome.verdict, outcome.reason) == (Verdict.ANNULLED, "annulled: not handed in within 72 h")
    assert mark_state(plant, world["pieces"][0]) == MarkState.ANNULLED


def test_item_handed_in_at_exactly_72_hours_is_paid(plant, world):
    """72 h to the second is still within 72 h."""
    assert check(plant, world, "good", at=T_ISSUE + 72 * HOUR).verdict == Verdict.PAID


def test_item_refused_at_the_counter_annuls_its_mark(plant, world):
    """The counter refuses the item (damaged): its mark is annulled, with the counter's reason."""
    outcome = check(plant, world, "good", refuse="envelope torn")
    assert (outcome.verdict, outcome.reason) == (
        Verdict.ANNULLED,
        "annulled: refused at the counter: envelope torn",
    )
    assert mark_state(plant, world["pieces"][0]) == MarkState.ANNULLED


def test_forged_mark_fails_the_check_and_leaves_the_real_mark_alone(plant, world):
    """A mark altered to a heavier band and re-signed by another key: refused, the genuine mark stays on
    hold."""
    outcome = check(plant, world, "forged")
    assert (outcome.verdict, outcome.reason) == (
        Verdict.REFUSED,
        f"{MARK_FAILED}: the signature does not match the payload",
    )
    assert mark_state(plant, world["pieces"][0]) == MarkState.ON_HOLD


def test_missing_mark_fails_the_check(plant, world):
    """An item with a tracking id but no mark is refused: mark failed the check."""
    outcome = check(plant, world, "no_mark")
    assert (outcome.verdict, outcome.reason) == (
        Verdict.REFUSED,
        f"{MARK_FAILED}: no postage mark found or it is unreadable",
    )


def test_unreadable_mark_fails_the_check(plant, world):
    """A mark inked over beyond its error correction cannot be read: refused, mark failed the check."""
    outcome = check(plant, world, "unreadable")
    assert (outcome.verdict, outcome.reason) == (
        Verdict.REFUSED,
        f"{MARK_FAILED}: no postage mark found or it is unreadable",
    )


def test_mark_of_another_piece_fails_the_check(plant, world):
    """B's genuine mark on A's envelope: refused, and B's mark stays on hold."""
    outcome = check(plant, world, "foreign")
    assert (
        outcome.reason == f"{MARK_FAILED}: the mark belongs to RR100000025ZZ, the item carries RR100000017ZZ"
    )
    assert mark_state(plant, world["pieces"][1]) == MarkState.ON_HOLD


def test_mark_without_a_readable_tracking_id_is_refused(plant, world):
    """The mark alone is not enough: without the tracking id beside it the item is refused."""
    assert check(plant, world, "no_tracking").verdict == Verdict.REFUSED


def test_refusals_are_recorded_as_events(plant, world):
    """A refusal appends a `refuse` acceptance event with the reason."""
    check(plant, world, "no_mark")
    with plant[1].read() as conn:
        event = conn.execute(select(t.events).where(t.events.c.entity == "acceptance")).one()
    assert (event.event, event.entity_id, event.data["reason"].startswith(MARK_FAILED)) == (
        "refuse",
        "RR100000017ZZ",
        True,
    )


def test_cli_accept_pays_and_exits_zero(plant, world, capsys):
    """`plant accept SCAN --mass-g M` prints the verdict and exits 0 when the mark is paid."""
    settings = plant[0]
    code = main(
        [
            "accept",
            str(world["scans"]["good"]),
            "--mass-g",
            str(GOOD_MASS),
            "--config",
            str(world["config"]),
            "--state-dir",
            str(settings.state_dir),
        ]
    )
    assert (code, capsys.readouterr().out.split("\t")[0]) == (0, "paid")


def test_cli_accept_refusal_exits_one(plant, world, capsys):
    """`plant accept` exits 1 and says why when the item is refused."""
    settings = plant[0]
    code = main(
        [
            "accept",
            str(world["scans"]["forged"]),
            "--mass-g",
            "15",
            "--config",
            str(world["config"]),
            "--state-dir",
            str(settings.state_dir),
            "--json",
        ]
    )
    assert code == 1 and '"verdict": "refused"' in capsys.readouterr().out


def test_codes_outside_the_regions_of_interest_do_not_take_part(plant, world):
    """A sheet with A's mark and tracking id in their zones and B's elsewhere: read whole, it shows two marks
    and is refused; read by the layout's regions of interest it is judged on A's codes and paid."""
    whole = read_scans([world["scans"]["crowded"]])
    assert len(whole.marks) == 2 and set(whole.tracking_ids) == {"RR100000017ZZ", "RR100000025ZZ"}
    reading = read_scans([world["scans"]["crowded"]], acceptance_regions(plant[0]))
    assert reading.tracking_ids == ("RR100000017ZZ",) and len(reading.marks) == 1
    outcome = check(plant, world, "crowded")
    assert (outcome.verdict, outcome.piece_id) == (Verdict.PAID, world["pieces"][0])
    assert mark_state(plant, world["pieces"][1]) == MarkState.ON_HOLD


def test_cli_accept_judges_a_crowded_sheet_by_its_layout(plant, world, capsys):
    """`plant accept` reads the regions of the configured mark layout: the crowded sheet is paid."""
    settings = plant[0]
    code = main(
        [
            "accept",
            str(world["scans"]["crowded"]),
            "--mass-g",
            str(GOOD_MASS),
            "--config",
            str(world["config"]),
            "--state-dir",
            str(settings.state_dir),
        ]
    )
    assert (code, capsys.readouterr().out.split("\t")[:2]) == (0, ["paid", "RR100000017ZZ"])


def test_scan_without_codes_in_the_regions_falls_back_to_the_whole_image(world, tmp_path):
    """A close-up (the mark alone, nowhere near the sheet's zones) is still read: whole image as the
    fallback."""
    from PIL import Image

    from plant.config import load_settings as load
    from plant.postage.acceptance import acceptance_regions as regions_of

    settings = load(world["config"], environ={"PLANT_STATE_DIR": str(tmp_path)})
    sheet = np.asarray(Image.open(world["scans"]["good"]))
    dpi = sheet.shape[1] * 25.4 / 210
    top, left = int(POSTAGE_AT_MM[1] * dpi / 25.4) - 20, int(POSTAGE_AT_MM[0] * dpi / 25.4) - 20
    close_up = np.full((600, 600), 255, np.uint8)
    close_up[300:470, 300:470] = sheet[top : top + 170, left : left + 170]
    path = tmp_path / "close-up.png"
    Image.fromarray(close_up).save(path, dpi=(dpi, dpi))
    reading = read_scans([path], regions_of(settings))
    assert len(reading.marks) == 1 and reading.tracking_ids == ()
