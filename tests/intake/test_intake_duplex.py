"""Duplex is the letter's: the manifest (CSV column or JSON key) and XML letters may say ``duplex`` per
letter, bad values reject only that letter with a message naming it and the field, the choice is stored on the
letter, and pre-flight counts a duplex letter's page limit in leaves."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest
from sqlalchemy import select

from plant.config.sections import InserterConfig
from plant.intake.preflight import check_pdf
from plant.intake.submission import MANIFEST_COLUMNS, intake, read_submission
from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.stages.context import Plant, install
from plant.stages.preflight import preflight
from tests.intake.letters import ROW, write


@pytest.fixture
def ledger(settings):
    """An empty ledger in the settings' state dir (with its blob store)."""
    settings.blobs_dir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(settings.ledger_url)
    yield ledger
    ledger.dispose()


def rows_for(names) -> list[dict]:
    return [{**ROW, "letter_id": name, "recipient_id": f"R-{i}"} for i, name in enumerate(names)]


def csv_submission(tmp_path, duplex: dict[str, str] | None, pages: dict[str, int] | None = None, name="sub"):
    """A folder of PDF letters L1…; ``duplex`` maps letter ids to their ``duplex`` cell (None: no such
    column)."""
    letters = list((duplex or {"L1": "", "L2": ""}).keys())
    folder = tmp_path / name
    folder.mkdir()
    for letter in letters:
        write(folder / f"{letter}.pdf", pages=(pages or {}).get(letter, 2))
    with open(folder / "manifest.csv", "w", newline="") as fh:
        fields = [*MANIFEST_COLUMNS, *(["duplex"] if duplex is not None else [])]
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows_for(letters):
            writer.writerow({**row, **({"duplex": duplex[row["letter_id"]]} if duplex is not None else {})})
    return folder


def json_submission(tmp_path, duplex: dict[str, object]):
    """A manifest.json folder; ``duplex`` maps letter ids to their JSON ``duplex`` value (``...``: key left
    out)."""
    folder = tmp_path / "sub"
    folder.mkdir()
    letters = []
    for row in rows_for(duplex):
        write(folder / f"{row['letter_id']}.pdf")
        value = duplex[row["letter_id"]]
        letters.append(row if value is ... else {**row, "duplex": value})
    (folder / "manifest.json").write_text(json.dumps({"letters": letters}))
    return folder


def xml_letter(duplex: str | None) -> bytes:
    attribute = "" if duplex is None else f' duplex="{duplex}"'
    return (
        f'<letter template="business"{attribute}><date>2026-03-02</date><subject>Statement</subject>'
        "<body><p>Dear customer.</p></body></letter>"
    ).encode()


def test_the_csv_duplex_column_marks_the_duplex_letters(tmp_path):
    """``true`` in any case is duplex; ``false`` and an empty cell are the default, simplex."""
    package = read_submission(csv_submission(tmp_path, {"L1": "true", "L2": "false", "L3": "", "L4": "TRUE"}))
    assert package.duplex == {"L1", "L4"} and package.problems == {}


def test_the_json_duplex_key_marks_the_duplex_letters(tmp_path):
    """JSON booleans, the same words as strings, null and a missing key."""
    package = read_submission(
        json_submission(tmp_path, {"L1": True, "L2": False, "L3": None, "L4": "true", "L5": ...})
    )
    assert package.duplex == {"L1", "L4"} and package.problems == {}


@pytest.mark.parametrize("value", ["maybe", "1", "yes", "true false"])
def test_a_bad_csv_duplex_rejects_only_its_letter_naming_letter_and_field(tmp_path, settings, ledger, value):
    """A value that is neither true nor false rejects that letter (BAD_MANIFEST_ROW) with a message naming the
    letter, the field and the value; the other letters are received."""
    folder = csv_submission(tmp_path, {"L1": "true", "L2": value, "L3": ""})
    code, reason = read_submission(folder).problems["L2"]
    assert code == "BAD_MANIFEST_ROW"
    assert "letter L2" in reason and "manifest.csv line 3" in reason and f"duplex = {value!r}" in reason
    assert "true" in reason and "false" in reason
    result = intake(ledger, settings, folder)
    with ledger.read() as conn:
        states = dict(conn.execute(select(t.letters.c.letter_id, t.letters.c.state)).all())
        stored = conn.execute(
            select(t.letters.c.reason_code, t.letters.c.reason).where(t.letters.c.letter_id == "L2")
        ).one()
    assert result.rejected_at_intake == 1
    assert states == {"L1": "RECEIVED", "L2": "REJECTED", "L3": "RECEIVED"}
    assert tuple(stored) == (code, reason)


@pytest.mark.parametrize("value", [1, 0, "yes", [True], {"duplex": True}])
def test_a_bad_json_duplex_rejects_only_its_letter(tmp_path, value):
    """Numbers, other words, lists or objects are not a duplex choice: that letter is rejected, naming it."""
    package = read_submission(json_submission(tmp_path, {"L1": True, "L2": value}))
    code, reason = package.problems["L2"]
    assert code == "BAD_MANIFEST_ROW" and "letter L2" in reason and "manifest.json letter 2" in reason
    assert "duplex" in reason and set(package.problems) == {"L2"} and package.duplex == {"L1"}


def test_an_xml_letter_may_say_duplex_on_its_root(tmp_path):
    """``<letter duplex="true">`` makes a composed letter duplex; ``false`` or no attribute leave it
    simplex."""
    folder = tmp_path / "sub"
    folder.mkdir()
    for name, duplex in (("L1", "true"), ("L2", "false"), ("L3", None), ("L4", "True")):
        (folder / f"{name}.xml").write_bytes(xml_letter(duplex))
    with open(folder / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows_for(["L1", "L2", "L3", "L4"]))
    package = read_submission(folder)
    assert package.duplex == {"L1", "L4"} and package.problems == {}


def test_a_bad_xml_duplex_or_a_disagreement_rejects_the_letter(tmp_path):
    """A duplex attribute that is not true/false is XML_INVALID naming the file and the attribute; a manifest
    and an XML letter that disagree reject the letter naming both values; agreeing ones are fine."""
    folder = tmp_path / "sub"
    folder.mkdir()
    letters = {"L1": ("sometimes", ""), "L2": ("true", "false"), "L3": ("true", "true"), "L4": (None, "true")}
    for name, (attribute, _) in letters.items():
        (folder / f"{name}.xml").write_bytes(xml_letter(attribute))
    with open(folder / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*MANIFEST_COLUMNS, "duplex"])
        writer.writeheader()
        writer.writerows({**row, "duplex": letters[row["letter_id"]][1]} for row in rows_for(letters))
    package = read_submission(folder)
    code, reason = package.problems["L1"]
    assert code == "XML_INVALID" and reason.startswith("L1.xml:") and "duplex attribute" in reason
    code, reason = package.problems["L2"]
    assert code == "BAD_MANIFEST_ROW" and "letter L2" in reason and "duplex = false" in reason
    assert 'L2.xml says duplex="true"' in reason
    assert set(package.problems) == {"L1", "L2"} and package.duplex == {"L3", "L4"}


def test_the_choice_is_stored_on_the_letter(tmp_path, settings, ledger):
    """letters.duplex is 1 for the duplex letters, 0 for the others."""
    intake(ledger, settings, csv_submission(tmp_path, {"L1": "true", "L2": "false", "L3": ""}))
    with ledger.read() as conn:
        stored = dict(conn.execute(select(t.letters.c.letter_id, t.letters.c.duplex)).all())
    assert stored == {"L1": 1, "L2": 0, "L3": 0}


def test_submissions_without_duplex_letters_keep_their_id(tmp_path):
    """The submission id (intake's idempotency key) is the same without the column and with an all-false
    one, so a package sent before duplex existed is still recognised; a duplex letter makes it another
    submission."""
    plain = read_submission(csv_submission(tmp_path, None, name="a")).submission_id
    all_false = read_submission(csv_submission(tmp_path, {"L1": "false", "L2": ""}, name="b")).submission_id
    one_duplex = read_submission(csv_submission(tmp_path, {"L1": "true", "L2": ""}, name="c")).submission_id
    assert plain == all_false != one_duplex


@pytest.mark.parametrize(
    "pages, duplex, ok", [(8, True, True), (8, False, False), (9, True, False), (4, False, True)]
)
def test_preflight_counts_a_duplex_letters_limit_in_leaves(tmp_path, pages, duplex, ok):
    """With envelopes of 4 sheets, 8 pages fit duplex (4 leaves) but not simplex; 9 pages duplex are 5
    leaves."""
    verdict = check_pdf(write(tmp_path / "l.pdf", pages=pages), max_pages=4, duplex=duplex)
    assert verdict.ok is ok
    if not ok:
        assert verdict.code == "TOO_MANY_PAGES" and "4 sheets" in verdict.reason
        assert ("5 sheets printed duplex" in verdict.reason) is duplex


def test_the_preflight_stage_passes_the_letters_duplex_to_the_sandbox(tmp_path, settings):
    """Through the sandboxed pool: on a fleet whose envelopes take 4 sheets, an 8-page duplex letter passes
    and the same letter simplex is rejected TOO_MANY_PAGES."""
    settings = replace(settings, inserters=(InserterConfig("inserter-1", max_sheets=4),))
    for folder in (settings.blobs_dir, settings.receipts_dir):
        folder.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(settings.ledger_url)
    install(Plant(settings=settings, ledger=ledger, printers={}, inserters={}))
    try:
        result = intake(
            ledger,
            settings,
            csv_submission(tmp_path, {"L1": "true", "L2": "false"}, pages={"L1": 8, "L2": 8}),
        )
        preflight(result.submission_id)
        with ledger.read() as conn:
            rows = {r.letter_id: r for r in conn.execute(select(t.letters))}
    finally:
        install(None)
        ledger.dispose()
    assert rows["L1"].preflight_ok == 1 and rows["L1"].state == "RECEIVED"
    assert (rows["L2"].state, rows["L2"].reason_code) == ("REJECTED", "TOO_MANY_PAGES")
