"""Synthetic letters for ``plant demo`` and the tests: DIN 5008 form-B letters made with reportlab.

Each letter has 1–4 A4 pages, the return line and the recipient's address inside the window field, text that
keeps clear of the zones where the plant prints its codes, and a consent registry in which about 30 % of the
recipients agreed to digital delivery.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.pagesizes import A4, letter
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from plant.intake.submission import MANIFEST_COLUMNS

#: Share of recipients with a digital mailbox in the demo registry.
CONSENT_SHARE = 0.3
#: Every n-th demo letter is faulty (US Letter pages or not a PDF), so the demo shows rejections with reasons.
FAULTY_EVERY = 97
_FIRST = ("Anna", "Jonas", "Mila", "Lukas", "Sofia", "Emil", "Clara", "Noah", "Lea", "Paul", "Ida", "Felix")
_LAST = ("Becker", "Schmidt", "Novak", "Ivanova", "Larsen", "Moreau", "Rossi", "Keller", "Weber", "Horvat")
_STREETS = ("Lindenweg", "Hafenstraße", "Am Markt", "Gartenstraße", "Bergstraße", "Mühlenweg", "Ringstraße")
_CITIES = (
    ("10115", "Berlin"),
    ("20095", "Hamburg"),
    ("80331", "München"),
    ("50667", "Köln"),
    ("04109", "Leipzig"),
)
_WORDS = [
    "account",
    "statement",
    "invoice",
    "period",
    "balance",
    "payment",
    "due",
    "reference",
    "contract",
    "notice",
    "tariff",
    "meter",
    "reading",
    "customer",
    "service",
    "please",
    "note",
    "amount",
    "total",
    "adjustment",
    "enclosed",
    "regards",
]


@dataclass(frozen=True)
class DemoBatch:
    """Where a generated batch lies."""

    submission: Path
    consents: Path
    letters: int
    pages: int


def generate(folder: Path, letters: int, seed: int = 1) -> DemoBatch:
    """Write ``letters`` synthetic letters, their manifest and a consent registry under ``folder``."""
    rng = random.Random(seed)
    submission = Path(folder) / f"batch-{seed}-{letters}"
    submission.mkdir(parents=True, exist_ok=True)
    rows, consents, pages = [], [], 0
    for number in range(1, letters + 1):
        postcode, city = rng.choice(_CITIES)
        row = {
            "letter_id": f"L{number:06d}",
            "recipient_id": f"C{seed:03d}{number:07d}",
            "name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            "address_1": f"{rng.choice(_STREETS)} {rng.randint(1, 120)}",
            "address_2": rng.choice(["", "", "", f"Apt {rng.randint(1, 40)}"]),
            "postcode": postcode,
            "city": city,
            "country": "DE",
            "mail_class": rng.choice(["standard", "standard", "standard", "priority"]),
        }
        count = rng.randint(1, 4)
        path = submission / f"{row['letter_id']}.pdf"
        if number % FAULTY_EVERY == 0 and number % 2:
            path.write_text("<html>this letter was exported as HTML, not PDF</html>")
        else:
            write_letter(path, row, count, rng, pagesize=letter if number % FAULTY_EVERY == 0 else A4)
        pages += count
        rows.append(row)
        if rng.random() < CONSENT_SHARE:
            consents.append(
                {
                    "recipient_id": row["recipient_id"],
                    "channel": "e-mailbox",
                    "address": f"{row['recipient_id'].lower()}@mailbox.example",
                    "valid_from": "2020-01-01",
                    "valid_to": "",
                }
            )
    with open(submission / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    consent_path = Path(folder) / f"consents-{seed}-{letters}.csv"
    with open(consent_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=("recipient_id", "channel", "address", "valid_from", "valid_to")
        )
        writer.writeheader()
        writer.writerows(consents)
    return DemoBatch(submission=submission, consents=consent_path, letters=letters, pages=pages)


def write_letter(
    path: Path,
    row: Mapping[str, str],
    pages: int,
    rng: random.Random | None = None,
    pagesize: tuple[float, float] = A4,
) -> None:
    """One DIN 5008 form-B letter of ``pages`` pages (A4 unless ``pagesize`` says otherwise) for ``row``."""
    rng = rng or random.Random(0)
    width, height = pagesize

    def top(y_mm: float) -> float:
        """Distances from the top edge, DIN 5008 style (reportlab measures from the bottom)."""
        return float(height - y_mm * mm)

    c = canvas.Canvas(str(path), pagesize=pagesize, invariant=1)
    c.setTitle(f"Letter {row['letter_id']}")
    for page in range(1, pages + 1):
        if page == 1:
            c.setFont("Helvetica", 7)
            c.drawString(25 * mm, top(58), "Demo Utility GmbH · Postfach 100 · 10001 Berlin")
            c.setFont("Helvetica", 9)
            lines = [
                row["name"],
                row["address_1"],
                row["address_2"],
                f"{row['postcode']} {row['city']}",
                row["country"] if row["country"] != "DE" else "",
            ]
            y = 65.5
            for line in (x for x in lines if x):
                c.drawString(25 * mm, top(y), line)
                y += 3.6
            c.setFont("Helvetica-Bold", 11)
            c.drawString(25 * mm, top(105), f"Your statement {row['letter_id']}")
        c.setFont("Helvetica", 10)
        y_mm = 115 if page == 1 else 30
        while y_mm < 240:
            c.drawString(25 * mm, height - y_mm * mm, " ".join(rng.choice(_WORDS) for _ in range(12)))
            y_mm += 5
        c.setFont("Helvetica", 8)
        c.drawRightString(width - 20 * mm, 12 * mm, f"page {page} of {pages}")
        c.showPage()
    c.save()
