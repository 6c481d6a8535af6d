"""Submissions: manifest.json, XML letters composed from templates (hostile XML refused, injected text printed
literally), oversized files, the drop folder, and receipts that carry reason and overlay path."""

from __future__ import annotations

import csv
import json
import socket
import zipfile

import pypdfium2 as pdfium
import pytest
from sqlalchemy import select

from plant.errors import CompositionError
from plant.intake.compose import Templates, compose
from plant.intake.submission import MANIFEST_COLUMNS, intake, read_submission
from plant.intake.watch import scan_once
from plant.ledger import Ledger
from plant.ledger import schema as t
from plant.ledger import schema_intake as ti
from plant.ledger.reads import receipt_rows
from plant.stages.context import Plant, install
from plant.stages.preflight import preflight
from tests.intake import hostile
from tests.intake.letters import ROW, write

#: Template data that must print literally.
INJECTED = ["AT&T", "a < b", "<b>", '<img src="http://127.0.0.1:9/x"/>', '<img src="/etc/passwd"/>']


def xml_letter(paragraphs=(), subject="Your statement", doctype="") -> bytes:
    from xml.sax.saxutils import escape

    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    cells = "".join(f"<cell>{escape(p)}</cell>" for p in paragraphs[:2])
    return (
        f'{doctype}<letter template="business"><date>2026-03-02</date><subject>{escape(subject)}</subject>'
        f"<body>{body}<table><row>{cells}</row></table></body></letter>"
    ).encode()


def text_of(pdf: bytes) -> str:
    doc = pdfium.PdfDocument(pdf)
    try:
        return "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    finally:
        doc.close()


def folder_with(tmp_path, letters: dict[str, bytes], rows=None, manifest="csv", sender=None):
    folder = tmp_path / "sub"
    folder.mkdir()
    rows = rows or [
        {**ROW, "letter_id": name.rsplit(".", 1)[0], "recipient_id": f"R-{i}"}
        for i, name in enumerate(letters)
    ]
    for name, data in letters.items():
        (folder / name).write_bytes(data)
    if manifest == "csv":
        with open(folder / "manifest.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    else:
        (folder / "manifest.json").write_text(json.dumps({"sender_id": sender, "letters": rows}))
    return folder


def test_injected_text_prints_literally(tmp_path):
    """Data with &, <, <b> and <img …> tags appears literally in the composed PDF's text."""
    pdf, _ = compose(xml_letter(INJECTED, subject="AT&T <b>"), ROW, Templates())
    text = text_of(pdf)
    assert all(item in text for item in INJECTED) and "AT&T <b>" in text


def test_img_tags_in_data_read_no_file(tmp_path):
    """An <img> pointing at a local file is text, not an image: the file's content is nowhere in the PDF."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-CANARY")
    pdf, _ = compose(xml_letter([f'<img src="{secret}"/>']), ROW, Templates())
    assert b"TOPSECRET" not in pdf and f'<img src="{secret}"/>' in text_of(pdf)


@pytest.mark.parametrize(
    ("name", "doctype"),
    [
        (
            "billion_laughs",
            '<!DOCTYPE letter [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>',
        ),
        ("external_entity", '<!DOCTYPE letter [<!ENTITY x SYSTEM "file:///etc/passwd">]>'),
    ],
)
def test_xml_with_a_dtd_is_refused(name, doctype):
    """Entity bombs and external entities are refused (XML_REFUSED) before anything expands or is read."""
    with pytest.raises(CompositionError) as info:
        compose(
            xml_letter(["&c;" if name == "billion_laughs" else "x"], doctype=doctype).replace(
                b"&amp;c;", b"&c;"
            ),
            ROW,
            Templates(),
        )
    assert info.value.code == "XML_REFUSED"


def test_dtd_fetch_makes_no_connection():
    """A DOCTYPE naming an external DTD on a local listener is refused without connecting to it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    doctype = f'<!DOCTYPE letter SYSTEM "http://127.0.0.1:{listener.getsockname()[1]}/evil.dtd">'
    with pytest.raises(CompositionError):
        compose(xml_letter(["x"], doctype=doctype), ROW, Templates())
    with pytest.raises(BlockingIOError):
        listener.accept()
    listener.close()


def test_unknown_template_is_named():
    """A template id that is no file names the templates there are."""
    with pytest.raises(CompositionError, match="no template 'nope'; use one of business"):
        compose(xml_letter(["x"]).replace(b'"business"', b'"nope"'), ROW, Templates())


def test_template_id_cannot_be_a_path():
    """A template id with a path is refused, not looked up."""
    with pytest.raises(CompositionError, match="not a plain name"):
        compose(xml_letter(["x"]).replace(b'"business"', b'"../../etc/passwd"'), ROW, Templates())


def test_hostile_xml_rejects_only_its_letter(tmp_path):
    """A batch with a billion-laughs letter, an external-entity letter and good ones: only the bad are
    refused."""
    bomb = b'<!DOCTYPE letter [<!ENTITY a "lol">]><letter template="business"><subject>&a;</subject></letter>'
    folder = folder_with(
        tmp_path,
        {
            "L1.xml": xml_letter(INJECTED),
            "L2.xml": bomb,
            "L3.pdf": write(tmp_path / "l3.pdf").read_bytes(),
            "L4.xml": b"<letter><subject>unclosed</letter>",
        },
    )
    package = read_submission(folder)
    assert set(package.files) == {"L1", "L3"}
    assert package.problems["L2"][0] == "XML_REFUSED" and package.problems["L4"][0] == "XML_INVALID"


def test_manifest_json_reads_like_csv(tmp_path):
    """manifest.json with a sender id gives the same rows, and its sender."""
    folder = folder_with(
        tmp_path, {"L1.pdf": write(tmp_path / "l1.pdf").read_bytes()}, manifest="json", sender="ACME"
    )
    package = read_submission(folder)
    assert package.manifest_format == "json" and package.sender_id == "ACME"
    assert package.rows[0].values["name"] == ROW["name"]


def test_200_mb_letter_is_rejected_unread(tmp_path, settings):
    """A 200 MB letter file is rejected FILE_TOO_LARGE at intake; the rest of the batch is received."""
    folder = folder_with(tmp_path, {"L1.pdf": write(tmp_path / "l1.pdf").read_bytes(), "L2.pdf": b""})
    hostile.write_sparse(folder / "L2.pdf", 200 * 2**20)
    settings.state_dir.mkdir(parents=True)
    ledger = Ledger(settings.ledger_url)
    try:
        result = intake(ledger, settings, folder)
        with ledger.read() as conn:
            rows = dict(conn.execute(select(t.letters.c.letter_id, t.letters.c.reason_code)).all())
    finally:
        ledger.dispose()
    assert result.rejected_at_intake == 1 and rows == {"L1": None, "L2": "FILE_TOO_LARGE"}


# ---- through the stages ------------------------------------------------------------------------------------
@pytest.fixture
def plant(settings):
    for folder in (settings.blobs_dir, settings.receipts_dir, settings.digital_outbox_dir):
        folder.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(settings.ledger_url)
    current = Plant(settings=settings, ledger=ledger, printers={}, inserters={})
    install(current)
    yield current
    install(None)
    ledger.dispose()


def test_rejection_receipt_has_reason_and_overlay(plant, tmp_path):
    """A letter with ink in the control-code zone is REJECTED; its receipt row has code, reason and the
    overlay path, and the overlay exists beside the receipts."""
    folder = folder_with(
        tmp_path,
        {
            "L1.pdf": write(tmp_path / "ok.pdf").read_bytes(),
            "L2.pdf": write(tmp_path / "bad.pdf", marks=((1, 8, 256, "ink"),)).read_bytes(),
        },
    )
    result = intake(plant.ledger, plant.settings, folder)
    preflight(result.submission_id)
    with plant.ledger.read() as conn:
        rows = {r["letter_id"]: r for r in receipt_rows(conn, result.submission_id)}
    bad = rows["L2"]
    assert bad["status"] == "REJECTED" and bad["code"] == "CONTROL_ZONE_NOT_CLEAR" and "mm" in bad["reason"]
    assert bad["overlay"].startswith(str(plant.settings.receipts_dir)) and pdfium.PdfDocument(bad["overlay"])
    assert rows["L1"]["status"] == "RECEIVED" and not rows["L1"]["overlay"]


def test_xml_letter_passes_preflight_and_keeps_its_source(plant, tmp_path):
    """A composed XML letter passes pre-flight; its XML source and template are on record."""
    folder = folder_with(tmp_path, {"L1.xml": xml_letter(INJECTED)})
    result = intake(plant.ledger, plant.settings, folder)
    preflight(result.submission_id)
    with plant.ledger.read() as conn:
        letter = conn.execute(select(t.letters)).one()
        source = conn.execute(select(ti.intake_letters)).one()
    assert letter.preflight_ok == 1 and (source.source_kind, source.template_id) == ("xml", "business")


def test_drop_folder_takes_complete_submissions_only(plant, tmp_path):
    """The watcher takes a .zip and a folder with READY, leaves a folder without READY and a .part upload."""
    drop = tmp_path / "drop"
    drop.mkdir()
    ready = folder_with(tmp_path, {"L1.pdf": write(tmp_path / "a.pdf").read_bytes()})
    (ready / "READY").write_text("")
    ready.rename(drop / "batch-a")
    with zipfile.ZipFile(drop / "batch-b.zip", "w") as archive:
        archive.writestr("manifest.csv", (drop / "batch-a" / "manifest.csv").read_text())
        archive.writestr("L1.pdf", write(tmp_path / "b.pdf", pages=1).read_bytes())
    (drop / "batch-c").mkdir()
    (drop / "batch-d.zip.part").write_bytes(b"partial")
    taken = scan_once(
        drop, lambda path: intake(plant.ledger, plant.settings, path, channel="watch").submission_id
    )
    assert sorted(name for name, sid in taken if sid) == ["batch-a", "batch-b.zip"]
    assert sorted(p.name for p in (drop / "done").iterdir()) == ["batch-a", "batch-b.zip"]
    assert (drop / "batch-c").exists() and (drop / "batch-d.zip.part").exists()


def test_drop_folder_refusal_is_explained(plant, tmp_path):
    """A complete submission without a manifest goes to failed/ with the reason beside it."""
    drop = tmp_path / "drop"
    (drop / "empty").mkdir(parents=True)
    (drop / "empty" / "READY").write_text("")
    scan_once(drop, lambda path: intake(plant.ledger, plant.settings, path).submission_id)
    assert "has no manifest.csv" in (drop / "failed" / "empty.error.txt").read_text()
