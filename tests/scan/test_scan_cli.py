"""``plant scan``: one JSON object per image with codes, grades and the piece from the ledger."""

from __future__ import annotations

import json

from PIL import Image

from plant.cli import main
from tracking.scan.synthetic import MODERATE, dl_envelope_scan


def _seed_ledger(state_dir, tracking_id: str) -> int:
    """A ledger with one piece (and the submission and letter it needs); returns its piece id."""
    from sqlalchemy import insert

    from plant.ledger import Ledger
    from plant.ledger import schema as t

    ledger = Ledger(f"sqlite:///{state_dir / 'ledger.sqlite'}")
    with ledger.tx() as conn:
        conn.execute(
            insert(t.submissions).values(submission_id="S-1", source="test", received_at=0, letters=1)
        )
        pk = conn.execute(
            insert(t.letters).values(
                submission_id="S-1",
                letter_id="L1",
                recipient_id="R1",
                name="n",
                address_1="a",
                address_2="",
                postcode="1",
                city="c",
                country="DE",
                mail_class="standard",
                state="PRINTED",
                received_at=0,
                updated_at=0,
            )
        ).inserted_primary_key[0]
        piece = conn.execute(
            insert(t.pieces).values(letter_pk=pk, tracking_id=tracking_id, sheets=1, mass_g=5, prints=1)
        ).inserted_primary_key[0]
    ledger.dispose()
    return piece


def test_scan_json_names_codes_grades_and_piece(tmp_path, capsys):
    """A scanned envelope's control code is reported with its grade and the piece it names in the ledger."""
    state = tmp_path / "state"
    state.mkdir()
    piece = _seed_ledger(state, "RR473124829DE")
    image = tmp_path / "envelope.png"
    Image.fromarray(dl_envelope_scan(f"J000001|{piece}|1/1", 300, MODERATE, 3)).save(image, dpi=(300, 300))
    assert (
        main(["--state-dir", str(state), "scan", str(image), "--json", "--region", "control:146,66,22,22"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    code = report["codes"][0]
    assert (code["kind"], code["text"], code["piece"], code["grade"]["overall"] in "ABCD") == (
        "control",
        f"J000001|{piece}|1/1",
        {"piece_id": piece, "tracking_id": "RR473124829DE"},
        True,
    )


def test_scan_without_a_code_exits_1(tmp_path, capsys):
    """An image where the expected code is missing prints it as missing, grade F, and exits 1."""
    image = tmp_path / "blank.png"
    Image.new("L", (2598, 1299), 235).save(image, dpi=(300, 300))
    assert (
        main(
            [
                "--state-dir",
                str(tmp_path / "s"),
                "scan",
                str(image),
                "--json",
                "--region",
                "control:146,66,22,22",
            ]
        )
        == 1
    )
    report = json.loads(capsys.readouterr().out)
    assert (report["missing"], report["overall"]) == (["control"], "F")
