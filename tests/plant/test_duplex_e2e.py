"""End to end with duplex letters: a manifest mixing duplex and simplex letters runs through a real plant
session (`plant run`: Redis, workers, simulated presses and inserter) on a fleet of one simplex and one duplex
press. Every duplex letter is printed on the duplex press two pages a leaf, every simplex letter one page a
sheet on either press; sheets, masses, tariff bands and what the inserter reads are the leaves; all go out
once."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pikepdf
import pytest

from imposition import SheetMap
from plant.config import load_settings
from plant.postage.pieces import leaves, piece_mass
from tests.plant.helpers import query, read_csv, reap_redis, run_plant
from tests.plant.test_duplex_letters import submission

pytestmark = pytest.mark.slow

#: id → (pages, duplex). The inserter takes 4 sheets: the 5–8 page letters go only as duplex (3–4 leaves).
LETTERS = {
    f"L{n:02d}": spec
    for n, spec in enumerate(
        [
            (1, True),
            (2, False),
            (3, True),
            (4, False),
            (5, True),
            (6, True),
            (7, True),
            (8, True),
            (1, False),
            (2, True),
            (3, False),
            (4, True),
            (2, False),
            (4, True),
            (3, False),
            (1, True),
        ],
        start=1,
    )
}

#: Bands 5 g apart, so one leaf more or less is another band (a 4-page letter: 2 leaves ≈ 15 g, 4 ≈ 25 g).
#: ``{simplex_speed}``: the simplex press's sheets per minute.
CONFIG = """
[[printers]]
name = "press-simplex"
sheets_per_minute = {simplex_speed}

[[printers]]
name = "press-duplex"
sheets_per_minute = 600
duplex = "turn"

[[inserters]]
name = "ins"
max_sheets = 4
""" + "".join(f'\n[[postage.bands]]\nup_to_g = {g}\ntariff = "{g / 10:.2f}"\n' for g in range(10, 45, 5))


@pytest.fixture(scope="module", params=[600, 1], ids=["even-presses", "slow-simplex-press"])
def state(request, tmp_path_factory) -> Path:
    """The state dir after `plant run` of the mixed batch to its end; presses of the same speed, or a simplex
    press so slow that the planner puts the simplex letters on the duplex press too."""
    root = tmp_path_factory.mktemp("duplex-e2e")
    config = root / "plant.toml"
    config.write_text(CONFIG.replace("{simplex_speed}", str(request.param)))
    state = root / "state"
    try:
        result = run_plant(
            ["run", str(submission(root / "in", LETTERS)), "--timeout", "300"], state, config=config
        )
    finally:
        reap_redis(state)
    assert result.returncode == 0, result.stderr[-3000:]
    return state


@pytest.fixture(scope="module")
def pieces(state) -> dict[str, dict]:
    """Per letter: its piece, the job it was printed in (the last, were it reprinted) and that job's press."""
    rows = query(
        state,
        "SELECT l.letter_id, l.duplex, l.pages, l.state, p.piece_id, p.sheets, p.mass_g, "
        "j.job_id, j.printer, j.duplex, j.pdf_path FROM letters l JOIN pieces p ON p.letter_pk = l.pk "
        "JOIN print_jobs j ON j.job_id = p.job_id",
    )
    keys = (
        "duplex",
        "pages",
        "state",
        "piece_id",
        "sheets",
        "mass_g",
        "job_id",
        "printer",
        "job_duplex",
        "pdf",
    )
    return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}


def test_every_letter_is_dispatched_once(state, pieces):
    """All 16 letters DISPATCHED, one dispatch event each, each tracking id once in the manifests."""
    assert query(state, "SELECT state, count(*) FROM letters GROUP BY state") == [
        ("DISPATCHED", len(LETTERS))
    ]
    dispatches = Counter(e for (e,) in query(state, "SELECT entity_id FROM events WHERE event = 'dispatch'"))
    assert len(dispatches) == len(LETTERS) and set(dispatches.values()) == {1}
    manifest = Counter(r["tracking_id"] for m in (state / "manifests").glob("*.csv") for r in read_csv(m))
    assert set(manifest.values()) == {1} and len(manifest) == len(LETTERS)


def test_the_ledger_keeps_each_letters_choice(pieces):
    """letters.duplex is what the manifest said."""
    assert {lid: bool(p["duplex"]) for lid, p in pieces.items()} == {
        lid: d for lid, (_, d) in LETTERS.items()
    }


def test_duplex_letters_print_on_the_duplex_press_in_duplex_jobs(pieces):
    """Every duplex letter's job is a duplex job on press-duplex; every simplex letter's job is a simplex
    job."""
    for letter_id, (_, duplex) in LETTERS.items():
        assert bool(pieces[letter_id]["job_duplex"]) is duplex, letter_id
        if duplex:
            assert pieces[letter_id]["printer"] == "press-duplex", letter_id


def test_simplex_letters_print_anywhere_but_duplex_ones_never_on_the_simplex_press(request, pieces):
    """The simplex press gets no duplex job; with it at one sheet a minute the planner puts the simplex
    letters on the duplex press (printed one-sided there: see the sheet and press checks below)."""
    assert {p["job_duplex"] for p in pieces.values() if p["printer"] == "press-simplex"} <= {0}
    if request.node.callspec.params["state"] == 1:
        assert {p["printer"] for p in pieces.values() if not p["duplex"]} == {"press-duplex"}


def test_sheets_masses_and_bands_are_the_leaves(state, pieces):
    """A piece's sheets are ⌈pages/2⌉ duplex and its pages simplex; its mass and its postage mark's band
    follow."""
    settings = load_settings(state.parent / "plant.toml", environ={"PLANT_STATE_DIR": str(state)})
    bands = dict(query(state, "SELECT piece_id, band_g FROM postage_marks"))
    for letter_id, (pages, duplex) in LETTERS.items():
        piece, expected = pieces[letter_id], leaves(pages, duplex)
        mass = piece_mass(settings.mass, expected)
        assert (piece["pages"], piece["sheets"]) == (pages, expected), letter_id
        assert piece["mass_g"] == pytest.approx(mass), letter_id
        assert bands[str(piece["piece_id"])] == min(g for g in range(10, 45, 5) if mass <= g), letter_id


def test_the_spooled_pdfs_have_a_sheet_per_leaf_and_backs_only_when_duplex(pieces):
    """Each job's print file: its sheet map has one sheet per leaf of its pieces; a duplex job's PDF has a
    back page per sheet, a simplex job's none (a simplex letter is never put two pages to a leaf)."""
    for job_id in {p["job_id"] for p in pieces.values()}:
        members = [p for p in pieces.values() if p["job_id"] == job_id]
        duplex, pdf = members[0]["job_duplex"], members[0]["pdf"]
        sheet_map = SheetMap.from_json(Path(f"{pdf}.map.json").read_text())
        with pikepdf.open(pdf) as printed:
            pages = len(printed.pages)
        total = sum(p["sheets"] for p in members)
        assert sheet_map.sheet_count == total, job_id
        assert pages == (2 if duplex else 1) * total, job_id
        assert {int(r.piece_id): r.sheets_in_piece for r in sheet_map} == {
            p["piece_id"]: p["sheets"] for p in members
        }


def test_each_press_printed_the_sheets_of_its_jobs(state):
    """The presses count sheets from the ticket's sides: each printed exactly its jobs' sheets, so duplex jobs
    went two-sided and simplex jobs one-sided, also on the duplex press."""
    for press in ("press-simplex", "press-duplex"):
        status = state / "devices" / "printers" / press / "state" / "press.json"
        printed = json.loads(status.read_text())["lifetime_sheets"] if status.exists() else 0
        assert (
            printed
            == (
                query(state, f"SELECT coalesce(sum(sheets), 0) FROM print_jobs WHERE printer = '{press}'")[0][
                    0
                ]
            )
        ), press


def test_the_inserter_read_each_pieces_leaves(state, pieces):
    """The inserter's camera read ⌈pages/2⌉ sheets of every duplex piece and one a page of every simplex
    piece, and enveloped each once."""
    results = [
        r
        for path in (state / "devices" / "inserters" / "ins" / "results").glob("*.csv")
        for r in read_csv(path)
    ]
    assert Counter(int(r["piece_id"]) for r in results if r["outcome"] == "inserted") == Counter(
        p["piece_id"] for p in pieces.values()
    )
    read = {int(r["piece_id"]): int(r["sheets_read"]) for r in results}
    assert read == {p["piece_id"]: leaves(*LETTERS[lid]) for lid, p in pieces.items()}
