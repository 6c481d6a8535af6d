"""Letters made by real producers: the same DIN 5008 letter written by LibreOffice Writer, headless Chromium,
Ghostscript (from PostScript), pdfLaTeX, fpdf2 and pdf-lib, each re-saved by qpdf the ways senders' tools do.

Everything is placed from the plant's own defaults (:func:`plant_geometry`): the recipient's address inside
the window field pre-flight checks, below the postage-mark zone and above the tracking-barcode zone that
imposition prints into the window, the sender's block, subject and body outside the window, and every clear
zone (control code, tracking barcode, postage mark) left white. Only the inner margin of the address field
(5 mm, DIN 5008) and the letter's own furniture (sender block, body, footer) are this module's choices.

``real_letters(folder)`` builds all producers × page counts × variants once into ``folder`` and returns a
:class:`LetterFile` per PDF with its manifest row; :func:`write_submission` writes them as a submission. The
producers are installed by scripts/setup.sh (Debian packages, fpdf2 from the test extra, pdf-lib by npm into
``tests/producers/node_modules``).
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: pdf-lib's package folder (``npm install --prefix tests/producers``, run by scripts/setup.sh).
NODE_MODULES = HERE / "node_modules"
#: Millimetres per PDF point.
MM_PER_PT = 25.4 / 72
#: Seconds one producer run may take (LibreOffice's first start on a cold profile is the slowest, ~10 s).
PRODUCER_TIMEOUT_S = 180

#: DIN 5008: the address starts 5 mm inside the address field's left edge.
ADDRESS_INNER_MARGIN_MM = 5.0
#: Gap kept between the letter's ink and the zones the plant prints into.
ZONE_GAP_MM = 1.0
#: The address's font size (pt) and line pitch (mm).
ADDRESS_PT = 10.0
ADDRESS_PITCH_MM = 4.2
#: The return line's font size (pt): small, on the line above the address, inside the field.
RETURN_PT = 6.0
BODY_PT = 10.0
BODY_LEADING_MM = 5.0

#: The recipient every real letter is addressed to (the manifest row, less the letter and recipient ids).
RECIPIENT = {
    "name": "Anna Becker",
    "address_1": "Hafenstraße 12",
    "address_2": "",
    "postcode": "20095",
    "city": "Hamburg",
    "country": "DE",
    "mail_class": "standard",
}
SENDER_LINES = ("Muster AG", "Kundenservice", "Postfach 10 01", "10001 Berlin", "Tel. 030 123456-0")
RETURN_LINE = "Muster AG · Postfach 10 01 · 10001 Berlin"
DATE_LINE = "Berlin, 2. März 2026"
SUBJECT = "Ihre Jahresabrechnung 2025"
LOGO_TEXT = "MUSTER AG"
PARAGRAPHS = (
    "Sehr geehrte Frau Becker,",
    "vielen Dank für Ihre Nachricht vom 14. Februar. Mit diesem Schreiben erhalten Sie Ihre Jahresabrechnung "
    "für 2025. Die Beträge sind nach Monaten aufgeschlüsselt; Änderungen gegenüber dem Vorjahr haben wir "
    "gekennzeichnet.",
    "Bitte prüfen Sie die Angaben zu Ihrer Anschrift und Ihrem Zählerstand. Sollte etwas nicht stimmen, "
    "genügt eine kurze Nachricht an unseren Kundenservice; wir korrigieren die Abrechnung dann umgehend und "
    "ohne weitere Kosten für Sie.",
    "Ein Guthaben überweisen wir innerhalb von vierzehn Tagen auf das bei uns hinterlegte Konto. Eine "
    "Nachzahlung buchen wir zusammen mit dem nächsten Abschlag ab, sofern Sie uns ein Lastschriftmandat "
    "erteilt haben.",
)
PARAGRAPHS_2 = (
    "Erläuterungen zur Abrechnung",
    "Der Grundpreis deckt die Kosten für Messung, Abrechnung und den Betrieb des Netzes. Der Arbeitspreis "
    "richtet sich nach Ihrem tatsächlichen Verbrauch im Abrechnungszeitraum; Zwischenablesungen haben wir "
    "anteilig berücksichtigt.",
    "Abschläge für das kommende Jahr: Aus Ihrem Verbrauch ergibt sich ein monatlicher Abschlag von 48,00 "
    "Euro, fällig jeweils zum Ersten eines Monats. Sie können ihn jederzeit an Ihren Bedarf anpassen lassen.",
    "Mit freundlichen Grüßen",
    "Ihre Muster AG",
)
FOOTER = "Muster AG · Sitz Berlin · Amtsgericht Charlottenburg HRB 12345 · Seite {page} von {pages}"

#: Producers, in the order they are built (the keys of :data:`PRODUCERS`).
PRODUCER_NAMES = ("writer", "chromium", "ghostscript", "pdflatex", "fpdf2", "pdflib")
#: How senders' tools re-save a PDF: as made, object streams, linearized ("fast web view"), owner password.
VARIANTS = ("asmade", "objstm", "linear", "ownerpw")
#: The owner password of the ``ownerpw`` variant (the user password is empty: anyone may open and print it).
OWNER_PASSWORD = "ownerpw"


# -- where things go -----------------------------------------------------------------------------------------
Box = tuple[float, float, float, float]  # x, y, w, h in mm from the page's top-left


@dataclass(frozen=True)
class Geometry:
    """The plant's places on an A4 letter, in mm from the top-left: the window field pre-flight reads the
    address from, and the zones imposition prints into."""

    window: Box
    control_zone: Box
    tracking_zone: Box
    postage_zone: Box
    #: Clear zones pre-flight checks (name → box; the tracking zone is on page 1 only).
    clear_zones: dict[str, Box] = field(default_factory=dict, hash=False)

    @property
    def mark_zones(self) -> dict[str, Box]:
        """Everywhere the plant prints on a letter's first page (every zone on page 1, the control zone on
        every page)."""
        return {"control": self.control_zone, "tracking": self.tracking_zone, "postage": self.postage_zone}

    @property
    def address_x(self) -> float:
        return self.window[0] + ADDRESS_INNER_MARGIN_MM

    @property
    def address_top(self) -> float:
        """Top of the address block: below the postage mark (which sits in the field's top right corner)."""
        return max(self.window[1], _bottom(self.postage_zone)) + ZONE_GAP_MM

    @property
    def address_bottom(self) -> float:
        """Lowest the address's ink may go: above the tracking barcode, inside the field."""
        return min(_bottom(self.window), self.tracking_zone[1]) - ZONE_GAP_MM

    @property
    def return_baseline(self) -> float:
        """Baseline of the return line, the line just above the address."""
        return self.address_top - ZONE_GAP_MM

    def address_baselines(self, lines: int) -> list[float]:
        """Baselines of ``lines`` address lines; raises if they do not fit between the plant's zones."""
        first = self.address_top + ADDRESS_PT * MM_PER_PT * 0.8
        baselines = [first + i * ADDRESS_PITCH_MM for i in range(lines)]
        if baselines[-1] + ADDRESS_PT * MM_PER_PT * 0.25 > self.address_bottom:
            raise ValueError(
                f"{lines} address lines from {self.address_top:.1f} mm do not fit above "
                f"{self.address_bottom:.1f} mm (the plant's window field and tracking zone)"
            )
        return baselines


def _bottom(box: Box) -> float:
    return box[1] + box[3]


def _mm(rect: object) -> Box:
    """An ``imposition.Rect`` (points) as an mm box."""
    return tuple(round(v * MM_PER_PT, 4) for v in (rect.x, rect.y, rect.w, rect.h))  # type: ignore[attr-defined,return-value]


def plant_geometry(settings: object | None = None) -> Geometry:
    """The places of the plant described by ``settings`` (default: the embedded defaults, read without the
    process environment): pre-flight's window and clear zones, imposition's mark layout."""
    from plant.config import load_settings
    from plant.intake.preflight import check_spec

    settings = settings or load_settings(environ={})
    spec = check_spec(settings)  # type: ignore[arg-type]
    layout = settings.mark_layout()  # type: ignore[attr-defined]
    to_mm = lambda box: tuple(round(v * MM_PER_PT, 4) for v in box)  # noqa: E731
    return Geometry(
        window=to_mm(spec.window),
        control_zone=_mm(layout.control_zone),
        tracking_zone=_mm(layout.tracking_zone),
        postage_zone=_mm(layout.postage_zone),
        clear_zones={zone.name: to_mm(zone.rect) for zone in spec.zones},
    )


# -- the letter ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Text:
    """A line of text: its left end and baseline in mm from the top-left, size in pt."""

    x: float
    baseline: float
    size: float
    text: str
    bold: bool = False


@dataclass(frozen=True)
class Letter:
    """One letter of one or two pages, laid out in mm from the plant's geometry: the absolutely placed lines
    (``fixed[page]``), the body column (``body_x``, ``body_top[page]``, ``body_width``) and its paragraphs,
    the logo box and the fold marks."""

    row: dict[str, str]
    pages: int
    fixed: tuple[tuple[Text, ...], ...]
    body_x: float
    body_width: float
    body_top: tuple[float, ...]
    paragraphs: tuple[tuple[str, ...], ...]
    logo: Box
    logo_text: str
    fold_marks: tuple[float, ...]
    fold_x: tuple[float, float]
    footer_baseline: float

    @property
    def address(self) -> tuple[str, ...]:
        """The lines pre-flight looks for in the window."""
        r = self.row
        return tuple(v for v in (r["name"], r["address_1"], r["address_2"], r["postcode"], r["city"]) if v)

    def address_lines(self) -> tuple[str, ...]:
        """The address as printed: name, street, extra line, postcode and city."""
        r = self.row
        return tuple(
            v for v in (r["name"], r["address_1"], r["address_2"], f"{r['postcode']} {r['city']}") if v
        )

    def footer(self, page: int) -> str:
        return FOOTER.format(page=page + 1, pages=self.pages)

    def to_json(self) -> str:
        """The layout for the JavaScript producer (tests/producers/pdflib_letter.mjs)."""
        return json.dumps(
            {
                "pages": self.pages,
                "fixed": [[t.__dict__ for t in page] for page in self.fixed],
                "bodyX": self.body_x,
                "bodyWidth": self.body_width,
                "bodyTop": list(self.body_top),
                "bodyPt": BODY_PT,
                "leading": BODY_LEADING_MM,
                "paragraphs": [list(p) for p in self.paragraphs],
                "logo": list(self.logo),
                "logoText": self.logo_text,
                "foldMarks": list(self.fold_marks),
                "foldX": list(self.fold_x),
                "footers": [self.footer(p) for p in range(self.pages)],
                "footerBaseline": self.footer_baseline,
            },
            ensure_ascii=False,
        )


def letter(row: dict[str, str], pages: int, geometry: Geometry | None = None) -> Letter:
    """The letter to ``row`` with ``pages`` pages (1 or 2), placed on ``geometry`` (the plant's defaults)."""
    if pages not in (1, 2):
        raise ValueError("the real letters have one or two pages")
    g = geometry or plant_geometry()
    lines = [
        r for r in (row["name"], row["address_1"], row["address_2"], f"{row['postcode']} {row['city']}") if r
    ]
    baselines = g.address_baselines(len(lines))
    window_right = g.window[0] + g.window[2]
    sender_x = window_right + 20  # DIN 5008's information block: 125 mm from the left with the default field
    first = [
        Text(g.address_x, g.return_baseline, RETURN_PT, RETURN_LINE),
        *(Text(g.address_x, y, ADDRESS_PT, line) for y, line in zip(baselines, lines, strict=True)),
        *(Text(sender_x, g.window[1] + 5 + 4.5 * i, 9, s, bold=i == 0) for i, s in enumerate(SENDER_LINES)),
        Text(sender_x, _bottom(g.window) - 2, 9, DATE_LINE),
        Text(g.address_x, _bottom(g.window) + 10, 11, SUBJECT, bold=True),
    ]
    body_x = g.address_x  # the body's left edge lines up with the address, clear of the control zone
    assert body_x >= g.control_zone[0] + g.control_zone[2] + ZONE_GAP_MM
    return Letter(
        row=dict(row),
        pages=pages,
        fixed=(
            tuple(first),
            (Text(body_x, 25, 9, "Muster AG · Jahresabrechnung 2025 · Seite 2", bold=True),),
        )[:pages],
        body_x=body_x,
        body_width=210 - body_x - 20,
        body_top=(_bottom(g.window) + 18, 35.0)[:pages],
        paragraphs=(PARAGRAPHS, PARAGRAPHS_2)[:pages],
        logo=(sender_x, 15.0, 210 - 20 - sender_x, 14.0),
        logo_text=LOGO_TEXT,
        fold_marks=(105.0, 210.0),
        fold_x=(4.0, 9.0),
        footer_baseline=285.0,
    )


@dataclass(frozen=True)
class LetterFile:
    """One real letter: who made it, how it was re-saved, its file and its manifest row."""

    letter_id: str
    producer: str
    variant: str
    pages: int
    path: Path
    row: dict[str, str]

    @property
    def address(self) -> tuple[str, ...]:
        """The manifest's address lines pre-flight looks for in the window."""
        r = self.row
        return tuple(v for v in (r["name"], r["address_1"], r["address_2"], r["postcode"], r["city"]) if v)


# -- the producers -------------------------------------------------------------------------------------------
def _run(args: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=PRODUCER_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:3])}… exited {result.returncode}: {(result.stderr or result.stdout)[-2000:]}"
        )


def _xml(text: str) -> str:
    return html.escape(text, quote=True)


def make_writer(letter_: Letter, out: Path) -> Path:
    """LibreOffice Writer: a flat ODT (page-anchored frames for the address, sender block and logo; the body
    in the text flow) converted by ``soffice --headless --convert-to pdf``."""
    return make_writer_many([(letter_, out)])[0]


def make_writer_many(letters: Sequence[tuple[Letter, Path]]) -> list[Path]:
    """:func:`make_writer` for several letters in one LibreOffice start (it takes seconds to start)."""
    with tempfile.TemporaryDirectory(prefix="writer-") as tmp:
        work = Path(tmp)
        sources = []
        for index, (item, _) in enumerate(letters):
            source = work / f"letter{index}.fodt"
            source.write_text(_fodt(item), encoding="utf-8")
            sources.append(source)
        env = {**os.environ, "HOME": str(work)}
        _run(
            [
                "soffice",
                f"-env:UserInstallation=file://{work}/profile",
                "--headless",
                "--norestore",
                "--convert-to",
                "pdf",
                "--outdir",
                str(work / "out"),
                *map(str, sources),
            ],
            cwd=work,
            env=env,
        )
        made = []
        for source, (_, out) in zip(sources, letters, strict=True):
            pdf = work / "out" / f"{source.stem}.pdf"
            if not pdf.exists():
                raise RuntimeError(f"soffice wrote no {pdf.name}")
            shutil.move(pdf, out)
            made.append(out)
        return made


def _fodt(item: Letter) -> str:
    frames = []
    for page, texts in enumerate(item.fixed):
        for n, t in enumerate(texts):
            size = t.size * MM_PER_PT
            top = t.baseline - size * 0.9  # the frame's top: the line's ascent above its baseline
            frames.append(
                f'<draw:frame draw:style-name="fr" draw:name="t{page}-{n}" text:anchor-type="page" '
                f'text:anchor-page-number="{page + 1}" svg:x="{t.x}mm" svg:y="{top:.2f}mm" '
                f'svg:width="{min(80, 200 - t.x):.1f}mm" svg:height="{size * 1.3:.2f}mm">'
                f'<draw:text-box><text:p text:style-name="{"B" if t.bold else "P"}{t.size:g}">'
                f"{_xml(t.text)}</text:p></draw:text-box></draw:frame>"
            )
    x, y, w, h = item.logo
    frames.append(
        f'<draw:frame draw:style-name="logo" draw:name="logo" text:anchor-type="page" '
        f'text:anchor-page-number="1" '
        f'svg:x="{x}mm" svg:y="{y}mm" svg:width="{w}mm" svg:height="{h}mm"><draw:text-box>'
        f'<text:p text:style-name="Logo">{_xml(item.logo_text)}</text:p></draw:text-box></draw:frame>'
    )
    for n, fold in enumerate(item.fold_marks):
        frames.append(
            f'<draw:line draw:style-name="rule" draw:name="fold{n}" text:anchor-type="page" '
            f'text:anchor-page-number="1" svg:x1="{item.fold_x[0]}mm" svg:y1="{fold}mm" '
            f'svg:x2="{item.fold_x[1]}mm" svg:y2="{fold}mm"/>'
        )
    sizes = sorted({t.size for page in item.fixed for t in page})
    text_styles = "".join(
        f'<style:style style:name="{kind}{s:g}" style:family="paragraph"><style:paragraph-properties '
        f'fo:margin-top="0mm" fo:margin-bottom="0mm" fo:line-height="100%"/><style:text-properties '
        f'style:font-name="Liberation Sans" fo:font-size="{s:g}pt"{weight}/></style:style>'
        for s in sizes
        for kind, weight in (("P", ""), ("B", ' fo:font-weight="bold"'))
    )
    body = []
    for page, paragraphs in enumerate(item.paragraphs):
        for n, text in enumerate(paragraphs):
            style = "BodyBreak" if page and n == 0 else "Body"
            body.append(f'<text:p text:style-name="{style}">{_xml(text)}</text:p>')
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
 xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">
<office:font-face-decls>
 <style:font-face style:name="Liberation Sans" svg:font-family="'Liberation Sans'"
  style:font-family-generic="swiss"/>
</office:font-face-decls>
<office:styles>
 <style:style style:name="Frame" style:family="graphic"/>
 <style:style style:name="Standard" style:family="paragraph">
  <style:text-properties style:font-name="Liberation Sans" fo:font-size="{BODY_PT:g}pt" fo:language="de"
   fo:country="DE"/>
 </style:style>
</office:styles>
<office:automatic-styles>
 <style:style style:name="fr" style:family="graphic" style:parent-style-name="Frame">
  <style:graphic-properties draw:stroke="none" fo:border="none" fo:padding="0mm" style:wrap="run-through"
   style:run-through="foreground" fo:background-color="transparent" draw:fill="none"
   style:vertical-pos="from-top" style:vertical-rel="page" style:horizontal-pos="from-left"
   style:horizontal-rel="page"/>
 </style:style>
 <style:style style:name="logo" style:family="graphic" style:parent-style-name="Frame">
  <style:graphic-properties draw:stroke="none" fo:border="none" fo:padding="2mm" style:wrap="run-through"
   style:run-through="foreground" draw:fill="solid" draw:fill-color="#b0b0b0" fo:background-color="#b0b0b0"
   style:vertical-pos="from-top" style:vertical-rel="page" style:horizontal-pos="from-left"
   style:horizontal-rel="page" draw:textarea-vertical-align="middle"/>
 </style:style>
 <style:style style:name="rule" style:family="graphic">
  <style:graphic-properties draw:stroke="solid" svg:stroke-width="0.2mm" svg:stroke-color="#000000"
   style:wrap="run-through" style:run-through="foreground" style:vertical-pos="from-top"
   style:vertical-rel="page" style:horizontal-pos="from-left" style:horizontal-rel="page"/>
 </style:style>
 {text_styles}
 <style:style style:name="Logo" style:family="paragraph">
  <style:paragraph-properties fo:text-align="center"/>
  <style:text-properties style:font-name="Liberation Sans" fo:font-size="16pt" fo:font-weight="bold"/>
 </style:style>
 <style:style style:name="Body" style:family="paragraph" style:parent-style-name="Standard">
  <style:paragraph-properties fo:margin-top="0mm" fo:margin-bottom="{BODY_LEADING_MM:g}mm"
   fo:line-height="{BODY_LEADING_MM:g}mm" fo:text-align="justify"/>
 </style:style>
 <style:style style:name="BodyBreak" style:family="paragraph" style:parent-style-name="Body"
  style:master-page-name="Following">
  <style:paragraph-properties fo:break-before="page"/>
 </style:style>
 <style:style style:name="First" style:family="paragraph" style:parent-style-name="Body"
  style:master-page-name="FirstPage"/>
 <style:page-layout style:name="pmFirst">
  <style:page-layout-properties fo:page-width="210mm" fo:page-height="297mm"
   style:print-orientation="portrait"
   fo:margin-top="{item.body_top[0] - 3:.1f}mm" fo:margin-bottom="10mm" fo:margin-left="{item.body_x}mm"
   fo:margin-right="{210 - item.body_x - item.body_width:.1f}mm"/>
  <style:footer-style>
   <style:header-footer-properties fo:min-height="8mm" fo:margin-top="2mm"/>
  </style:footer-style>
 </style:page-layout>
 <style:page-layout style:name="pmFollowing">
  <style:page-layout-properties fo:page-width="210mm" fo:page-height="297mm"
   style:print-orientation="portrait"
   fo:margin-top="{item.body_top[-1] - 3:.1f}mm" fo:margin-bottom="10mm" fo:margin-left="{item.body_x}mm"
   fo:margin-right="{210 - item.body_x - item.body_width:.1f}mm"/>
  <style:footer-style>
   <style:header-footer-properties fo:min-height="8mm" fo:margin-top="2mm"/>
  </style:footer-style>
 </style:page-layout>
 <style:style style:name="Foot" style:family="paragraph">
  <style:text-properties style:font-name="Liberation Sans" fo:font-size="7pt"/>
 </style:style>
</office:automatic-styles>
<office:master-styles>
 <style:master-page style:name="FirstPage" style:page-layout-name="pmFirst" style:next-style-name="Following">
  <style:footer><text:p text:style-name="Foot">{_xml(item.footer(0))}</text:p></style:footer>
 </style:master-page>
 <style:master-page style:name="Following" style:page-layout-name="pmFollowing">
  <style:footer><text:p text:style-name="Foot">{_xml(item.footer(item.pages - 1))}</text:p></style:footer>
 </style:master-page>
</office:master-styles>
<office:body><office:text>
{"".join(frames)}
{body[0].replace('"Body"', '"First"', 1)}
{"".join(body[1:])}
</office:text></office:body>
</office:document>
"""


def make_chromium(letter_: Letter, out: Path) -> Path:
    """Headless Chromium's print to PDF of an HTML page per sheet, placed in mm by CSS (``@page`` A4, no
    margins, no header or footer)."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as tmp:
        work = Path(tmp)
        page = work / "letter.html"
        page.write_text(_html(letter_), encoding="utf-8")
        _run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={work / 'profile'}",
                f"--print-to-pdf={out}",
                "--no-pdf-header-footer",
                page.as_uri(),
            ],
            cwd=work,
            env={**os.environ, "HOME": str(work)},
        )
    if not out.exists():
        raise RuntimeError("chromium wrote no PDF")
    return out


def _html(item: Letter) -> str:
    sheets = []
    for page in range(item.pages):
        parts = []
        for t in item.fixed[page]:
            size = t.size * MM_PER_PT
            weight = "bold" if t.bold else "normal"
            parts.append(
                f'<div class="t" style="left:{t.x}mm;top:{t.baseline - size:.2f}mm;font-size:{t.size:g}pt;'
                f'line-height:{size * 1.25:.2f}mm;font-weight:{weight}">{html.escape(t.text)}</div>'
            )
        if page == 0:
            x, y, w, h = item.logo
            parts.append(
                f'<div class="logo" style="left:{x}mm;top:{y}mm;width:{w}mm;height:{h}mm;line-height:{h}mm">'
                f"{html.escape(item.logo_text)}</div>"
            )
            for fold in item.fold_marks:
                parts.append(
                    f'<div class="fold" style="left:{item.fold_x[0]}mm;top:{fold}mm;'
                    f'width:{item.fold_x[1] - item.fold_x[0]}mm"></div>'
                )
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in item.paragraphs[page])
        parts.append(
            f'<div class="body" style="left:{item.body_x}mm;top:{item.body_top[page] - 4:.1f}mm;'
            f'width:{item.body_width}mm">{paragraphs}</div>'
        )
        parts.append(
            f'<div class="t foot" style="left:{item.body_x}mm;top:{item.footer_baseline - 3}mm">'
            f"{html.escape(item.footer(page))}</div>"
        )
        sheets.append(f'<section class="sheet">{"".join(parts)}</section>')
    return f"""<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>Brief</title><style>
@page {{ size: A4; margin: 0; }}
html, body {{ margin: 0; padding: 0; }}
body {{ font-family: "Liberation Sans", sans-serif; color: #000; }}
.sheet {{ position: relative; width: 210mm; height: 297mm; overflow: hidden; break-after: page; }}
.sheet:last-child {{ break-after: auto; }}
.t {{ position: absolute; white-space: nowrap; }}
.foot {{ font-size: 7pt; }}
.logo {{ position: absolute; background: #b0b0b0; text-align: center; font-weight: bold; font-size: 16pt;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }}
.fold {{ position: absolute; border-top: 0.2mm solid #000; height: 0; }}
.body {{ position: absolute; font-size: {BODY_PT:g}pt; line-height: {BODY_LEADING_MM:g}mm;
  text-align: justify; }}
.body p {{ margin: 0 0 {BODY_LEADING_MM:g}mm 0; }}
</style></head><body>{"".join(sheets)}</body></html>
"""


def make_ghostscript(letter_: Letter, out: Path) -> Path:
    """Ghostscript's pdfwrite from hand-written PostScript (Helvetica re-encoded to ISO Latin-1; Ghostscript
    embeds its URW clone)."""
    with tempfile.TemporaryDirectory(prefix="gs-") as tmp:
        source = Path(tmp) / "letter.ps"
        source.write_bytes(_postscript(letter_))
        _run(
            [
                "gs",
                "-q",
                "-dNOPAUSE",
                "-dBATCH",
                "-dSAFER",
                "-sDEVICE=pdfwrite",
                "-dPDFSETTINGS=/printer",
                f"-sOutputFile={out}",
                str(source),
            ]
        )
    return out


def _ps_string(text: str) -> bytes:
    data = text.encode("latin-1")
    escaped = data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    return b"(" + escaped + b")"


def _postscript(item: Letter) -> bytes:
    height = 297 / MM_PER_PT
    pt = lambda v: f"{v / MM_PER_PT:.2f}"  # noqa: E731
    lines = [
        b"%!PS-Adobe-3.0",
        b"%%Creator: tests/producers/make.py",
        b"%%Title: Brief",
        f"%%Pages: {item.pages}".encode(),
        b"%%DocumentMedia: a4 595.28 841.89 80 white ()",
        b"%%EndComments",
        b"/latin { dup length dict begin { 1 index /FID ne { def } { pop pop } ifelse } forall",
        b"  /Encoding ISOLatin1Encoding def currentdict end definefont pop } def",
        b"/F /Helvetica findfont /F-L exch latin /FB /Helvetica-Bold findfont /FB-L exch latin",
        b"/F-L findfont pop",
        b"<< /PageSize [595.28 841.89] >> setpagedevice",
    ]
    chars_per_line = int(item.body_width / (BODY_PT * MM_PER_PT * 0.5))
    for page in range(item.pages):
        lines += [f"%%Page: {page + 1} {page + 1}".encode(), b"save"]
        for t in item.fixed[page]:
            font = "/FB-L" if t.bold else "/F-L"
            lines.append(
                f"{font} findfont {t.size:g} scalefont setfont "
                f"{pt(t.x)} {height - t.baseline / MM_PER_PT:.2f} moveto ".encode()
                + _ps_string(t.text)
                + b" show"
            )
        if page == 0:
            x, y, w, h = item.logo
            lines.append(
                f"0.69 setgray {pt(x)} {height - (y + h) / MM_PER_PT:.2f} {pt(w)} {pt(h)} rectfill "
                "0 setgray".encode()
            )
            lines.append(
                f"/FB-L findfont 16 scalefont setfont "
                f"{pt(x + w / 2)} {height - (y + h / 2 + 2) / MM_PER_PT:.2f} moveto ".encode()
                + _ps_string(item.logo_text)
                + b" dup stringwidth pop 2 div neg 0 rmoveto show"
            )
            for fold in item.fold_marks:
                lines.append(
                    f"0.57 setlinewidth {pt(item.fold_x[0])} {height - fold / MM_PER_PT:.2f} moveto "
                    f"{pt(item.fold_x[1])} {height - fold / MM_PER_PT:.2f} lineto stroke".encode()
                )
        y = item.body_top[page]
        lines.append(f"/F-L findfont {BODY_PT:g} scalefont setfont".encode())
        for paragraph in item.paragraphs[page]:
            for row in textwrap.wrap(paragraph, chars_per_line):
                lines.append(
                    f"{pt(item.body_x)} {height - y / MM_PER_PT:.2f} moveto ".encode()
                    + _ps_string(row)
                    + b" show"
                )
                y += BODY_LEADING_MM
            y += BODY_LEADING_MM
        lines.append(
            f"/F-L findfont 7 scalefont setfont "
            f"{pt(item.body_x)} {height - item.footer_baseline / MM_PER_PT:.2f} moveto ".encode()
            + _ps_string(item.footer(page))
            + b" show"
        )
        lines += [b"restore", b"showpage"]
    lines.append(b"%%EOF")
    return b"\n".join(lines) + b"\n"


def make_pdflatex(letter_: Letter, out: Path) -> Path:
    """pdfLaTeX, with only what texlive-latex-base ships: geometry for the body, the kernel's shipout hook
    for the absolutely placed lines (Computer Modern Sans in OT1, Type 1, embedded: T1 would need cm-super,
    else bitmap fonts)."""
    with tempfile.TemporaryDirectory(prefix="latex-") as tmp:
        work = Path(tmp)
        (work / "letter.tex").write_text(_latex(letter_), encoding="utf-8")
        _run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "letter.tex"],
            cwd=work,
            env={**os.environ, "HOME": str(work), "TEXMFVAR": str(work / "texmf-var")},
        )
        shutil.move(work / "letter.pdf", out)
    return out


_LATEX_SPECIAL = {c: "\\" + c for c in "&%$#_{}"} | {
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
    "\\": r"\textbackslash{}",
}


def _tex(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text).replace("·", r"$\cdot$")


def _latex(item: Letter) -> str:
    def put(t: Text) -> str:
        size = f"\\fontsize{{{t.size:g}}}{{{t.size * 1.2:.1f}}}\\selectfont "
        series = r"\bfseries " if t.bold else ""
        return f"\\put({t.x}mm,-{t.baseline}mm){{{size}{series}{_tex(t.text)}}}"

    pages = []
    for page in range(item.pages):
        puts = [put(t) for t in item.fixed[page]]
        puts.append(put(Text(item.body_x, item.footer_baseline, 7, item.footer(page))))
        if page == 0:
            x, y, w, h = item.logo
            puts.append(
                f"\\put({x}mm,-{y + h}mm){{\\textcolor[gray]{{0.69}}{{\\rule{{{w}mm}}{{{h}mm}}}}}}"
                f"\\put({x + w / 2}mm,-{y + h / 2 + 2}mm){{\\makebox[0pt]{{\\fontsize{{16}}{{19}}\\selectfont"
                f"\\bfseries {_tex(item.logo_text)}}}}}"
            )
            for fold in item.fold_marks:
                puts.append(
                    f"\\put({item.fold_x[0]}mm,-{fold}mm)"
                    f"{{\\rule{{{item.fold_x[1] - item.fold_x[0]}mm}}{{0.2mm}}}}"
                )
        body = "\n\n".join(_tex(p) for p in item.paragraphs[page])
        top = f"\\vspace*{{{item.body_top[page] - item.body_top[0]:.1f}mm}}" if page else ""
        pages.append(
            f"\\AddToHookNext{{shipout/background}}{{{''.join(puts)}}}\n"
            f"{top}\\noindent {body}\n" + ("\\newpage\n" if page + 1 < item.pages else "")
        )
    return rf"""\documentclass[10pt]{{article}}
\input{{glyphtounicode}}\pdfgentounicode=1
\usepackage{{color}}
\usepackage[a4paper,left={item.body_x}mm,width={item.body_width}mm,top={item.body_top[0] - 3:.1f}mm,
  bottom=30mm,nohead,nofoot]{{geometry}}
\renewcommand{{\familydefault}}{{\sfdefault}}
\pagestyle{{empty}}
\setlength{{\parindent}}{{0pt}}
\setlength{{\parskip}}{{{BODY_LEADING_MM:g}mm}}
\setlength{{\baselineskip}}{{{BODY_LEADING_MM:g}mm}}
\pdfinfo{{/Title (Brief) /Author (Muster AG)}}
\begin{{document}}
{"".join(pages)}\end{{document}}
"""


def make_fpdf2(letter_: Letter, out: Path) -> Path:
    """fpdf2 with DejaVu Sans (a TrueType subset, embedded) and its ``multi_cell`` for the body."""
    from fpdf import FPDF

    font_dir = Path("/usr/share/fonts/truetype/dejavu")
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(item_left := letter_.body_x, 10, 210 - item_left - letter_.body_width)
    pdf.add_font("DejaVu", "", str(font_dir / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(font_dir / "DejaVuSans-Bold.ttf"))
    pdf.set_title("Brief")
    pdf.set_creator("tests/producers/make.py")
    for page in range(letter_.pages):
        pdf.add_page()
        for t in letter_.fixed[page]:
            pdf.set_font("DejaVu", "B" if t.bold else "", t.size)
            pdf.text(t.x, t.baseline, t.text)
        if page == 0:
            x, y, w, h = letter_.logo
            pdf.set_fill_color(176)
            pdf.rect(x, y, w, h, style="F")
            pdf.set_font("DejaVu", "B", 16)
            pdf.set_xy(x, y)
            pdf.cell(w, h, letter_.logo_text, align="C")
            pdf.set_line_width(0.2)
            for fold in letter_.fold_marks:
                pdf.line(letter_.fold_x[0], fold, letter_.fold_x[1], fold)
        pdf.set_font("DejaVu", "", BODY_PT)
        pdf.set_xy(letter_.body_x, letter_.body_top[page] - 3.5)
        for paragraph in letter_.paragraphs[page]:
            pdf.multi_cell(letter_.body_width, BODY_LEADING_MM, paragraph, align="J")
            pdf.ln(BODY_LEADING_MM)
        pdf.set_font("DejaVu", "", 7)
        pdf.text(letter_.body_x, letter_.footer_baseline, letter_.footer(page))
    pdf.output(str(out))
    return out


def make_pdflib(letter_: Letter, out: Path) -> Path:
    """pdf-lib (Node.js) with the standard Helvetica (not embedded: one of the 14 fonts every RIP has),
    driven by tests/producers/pdflib_letter.mjs."""
    if not (NODE_MODULES / "pdf-lib").is_dir():
        raise RuntimeError(f"pdf-lib is not installed in {NODE_MODULES}; run scripts/setup.sh")
    with tempfile.TemporaryDirectory(prefix="pdflib-") as tmp:
        spec = Path(tmp) / "letter.json"
        spec.write_text(letter_.to_json(), encoding="utf-8")
        _run(["node", str(HERE / "pdflib_letter.mjs"), str(spec), str(out)], cwd=HERE)
    return out


#: Producer name → the function writing one letter.
PRODUCERS: dict[str, Callable[[Letter, Path], Path]] = {
    "writer": make_writer,
    "chromium": make_chromium,
    "ghostscript": make_ghostscript,
    "pdflatex": make_pdflatex,
    "fpdf2": make_fpdf2,
    "pdflib": make_pdflib,
}


# -- the variants --------------------------------------------------------------------------------------------
def resave(source: Path, out: Path, variant: str) -> Path:
    """``source`` re-saved by qpdf as ``variant`` (one of :data:`VARIANTS`)."""
    options = {
        "asmade": None,
        "objstm": ["--object-streams=generate"],
        "linear": ["--linearize"],
        "ownerpw": ["--encrypt", "", OWNER_PASSWORD, "256", "--print=full", "--"],
    }[variant]
    if options is None:
        shutil.copyfile(source, out)
        return out
    result = subprocess.run(
        ["qpdf", *options, str(source), str(out)], capture_output=True, text=True, timeout=PRODUCER_TIMEOUT_S
    )
    if result.returncode not in (0, 3):  # 3: written, with warnings
        raise RuntimeError(
            f"qpdf {variant} of {source.name} exited {result.returncode}: {result.stderr[-2000:]}"
        )
    return out


# -- the corpus ----------------------------------------------------------------------------------------------
def real_letters(
    folder: Path, producers: Sequence[str] = PRODUCER_NAMES, geometry: Geometry | None = None
) -> list[LetterFile]:
    """Every producer's one- and two-page letter, in every variant, written to ``folder`` as
    ``<letter_id>.pdf`` (letter ids ``<producer>-<pages>p-<variant>``); the producers' own files are kept in
    ``folder/made``. One manifest row each (same recipient, own recipient id)."""
    folder = Path(folder)
    made_dir = folder / "made"
    made_dir.mkdir(parents=True, exist_ok=True)
    g = geometry or plant_geometry()
    letters = {pages: letter(RECIPIENT | {"letter_id": "", "recipient_id": ""}, pages, g) for pages in (1, 2)}
    made: dict[tuple[str, int], Path] = {}
    for producer in producers:
        jobs = [(letters[pages], made_dir / f"{producer}-{pages}p.pdf") for pages in (1, 2)]
        if producer == "writer":
            paths = make_writer_many(jobs)
        else:
            paths = [PRODUCERS[producer](item, out) for item, out in jobs]
        for pages, path in zip((1, 2), paths, strict=True):
            made[(producer, pages)] = path
    result = []
    for (producer, pages), source in made.items():
        for variant in VARIANTS:
            letter_id = f"{producer}-{pages}p-{variant}"
            path = resave(source, folder / f"{letter_id}.pdf", variant)
            row = {"letter_id": letter_id, "recipient_id": f"R-{letter_id}", **RECIPIENT}
            result.append(LetterFile(letter_id, producer, variant, pages, path, row))
    return result


MANIFEST_COLUMNS = (
    "letter_id",
    "recipient_id",
    "name",
    "address_1",
    "address_2",
    "postcode",
    "city",
    "country",
    "mail_class",
)


def write_submission(folder: Path, letters: Sequence[LetterFile]) -> Path:
    """A submission folder of ``letters``: manifest.csv and a copy of each PDF; its path."""
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        for item in letters:
            writer.writerow({k: item.row[k] for k in MANIFEST_COLUMNS})
            shutil.copyfile(item.path, folder / f"{item.letter_id}.pdf")
    return folder


def versions() -> dict[str, str]:
    """The version of every producer and of qpdf, as they report it."""

    def first_line(args: list[str]) -> str:
        try:
            result = subprocess.run(args, capture_output=True, text=True, timeout=60)
        except OSError as exc:
            return f"missing ({exc})"
        return (result.stdout or result.stderr).strip().splitlines()[0] if result.returncode == 0 else "?"

    try:
        import fpdf

        fpdf_version = fpdf.__version__
    except ImportError:
        fpdf_version = "missing"
    package = NODE_MODULES / "pdf-lib" / "package.json"
    pdflib = json.loads(package.read_text())["version"] if package.exists() else "missing"
    return {
        "writer": first_line(["soffice", "--version"]),
        "chromium": first_line(["chromium", "--version"]),
        "ghostscript": "Ghostscript " + first_line(["gs", "--version"]),
        "pdflatex": first_line(["pdflatex", "--version"]),
        "fpdf2": f"fpdf2 {fpdf_version}",
        "pdflib": f"pdf-lib {pdflib} on Node.js {first_line(['node', '--version'])}",
        "qpdf": first_line(["qpdf", "--version"]),
    }
