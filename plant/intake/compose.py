"""XML letters: data plus a template id, composed into a DIN 5008 form-B PDF with reportlab.

The XML is parsed with defusedxml with DTDs forbidden outright, so entity expansion (billion laughs), external
entities and DTD fetches are refused before anything is read. A letter looks like::

    <letter template="business" duplex="true">   (duplex optional: true = both sides of a leaf, default one)
      <sender><line>ACME Ltd</line>…</sender>      (optional: the template's sender block otherwise)
      <date>2026-01-31</date>
      <subject>Your invoice</subject>
      <body>
        <p>Dear customer, …</p>
        <table><row><cell>Item</cell><cell>Amount</cell></row>…</table>
      </body>
    </letter>

The recipient's address is the manifest row's (the manifest is what pre-flight checks the window against).
Every piece of data is plain text: element text is taken with ``itertext()`` and escaped (``&``, ``<``, ``>``)
before it reaches reportlab's Paragraph markup, so ``<img src=…>`` or ``<b>`` in the data print literally and
reportlab never opens a file or a URL for them. Templates are TOML files (``<id>.toml``) in the configured
template folders and :mod:`plant.intake.templates`; a template id is a plain name, never a path.
"""

from __future__ import annotations

import io
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

import defusedxml
import defusedxml.ElementTree as SafeET

from plant.errors import CompositionError

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas
    from reportlab.platypus import BaseDocTemplate

#: Largest XML letter taken, bytes.
MAX_XML_BYTES = 1024 * 1024
#: Most paragraphs plus table rows in one letter (keeps composition time bounded).
MAX_BLOCKS = 2_000
#: Most pages a composed letter may have before composition stops.
MAX_COMPOSED_PAGES = 20
#: Template ids: plain names only.
TEMPLATE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: The templates shipped with the plant.
BUILTIN_TEMPLATES = Path(__file__).parent / "templates"
#: DIN 5008 form B, mm from the top-left: return line, first address line, line pitch, subject, body start.
RETURN_LINE_Y, ADDRESS_Y, ADDRESS_PITCH, SUBJECT_Y, BODY_TOP = 58.0, 65.5, 3.6, 98.5, 106.0
#: Left edge of the address and the body, mm (inside the window with the insert's play).
LEFT_MM = 25.0
#: Right margin, mm.
RIGHT_MM = 20.0
#: Lowest text line from the top, mm (the control-code zone's band starts at 250 mm; the left margin
#: clears it).
BOTTOM_MM = 272.0
#: Where the sender block and the date sit, mm from the left.
INFO_X_MM = 125.0

#: One block of a letter's body: ("p", a paragraph's text) or ("table", its rows of cells).
Block = tuple[str, str | list[list[str]]]


@dataclass(frozen=True)
class Template:
    """A letter template: the sender block, return line, place, footer and fonts."""

    template_id: str
    name: str = ""
    sender_lines: tuple[str, ...] = ()
    return_line: str = ""
    place: str = ""
    footer: str = ""
    font: str = "Helvetica"
    font_bold: str = "Helvetica-Bold"
    font_size: float = 10.0


@dataclass
class Templates:
    """Template lookup over folders (configured first, built-in last), cached by id."""

    folders: Sequence[Path] = ()
    _cache: dict[str, Template] = field(default_factory=dict)

    def get(self, template_id: str) -> Template:
        """The template ``template_id``; :class:`CompositionError` when there is none by that name."""
        if not TEMPLATE_ID.match(template_id or ""):
            raise CompositionError(
                "UNKNOWN_TEMPLATE",
                f"template id {template_id!r} is not a plain name; use one of {', '.join(self.names())}.",
            )
        if template_id not in self._cache:
            for folder in [*self.folders, BUILTIN_TEMPLATES]:
                path = Path(folder) / f"{template_id}.toml"
                if path.is_file():
                    raw = tomllib.loads(path.read_text(encoding="utf-8"))
                    raw["sender_lines"] = tuple(raw.get("sender_lines", ()))
                    self._cache[template_id] = Template(template_id=template_id, **raw)
                    break
            else:
                raise CompositionError(
                    "UNKNOWN_TEMPLATE", f"no template {template_id!r}; use one of {', '.join(self.names())}."
                )
        return self._cache[template_id]

    def names(self) -> list[str]:
        """Every template id available."""
        return sorted(
            {p.stem for folder in [*self.folders, BUILTIN_TEMPLATES] for p in Path(folder).glob("*.toml")}
        )


@dataclass(frozen=True)
class LetterData:
    """What an XML letter says (all plain text)."""

    template_id: str
    sender: tuple[str, ...]
    date: str
    subject: str
    #: ("p", text) or ("table", rows of cells).
    blocks: tuple[Block, ...]
    #: ``<letter duplex="…">``: True to print both sides of each leaf, False one side, None when not said.
    duplex: bool | None = None


class Composed(NamedTuple):
    """A composed XML letter: its PDF, the template it was composed in, and what it says about duplex."""

    pdf: bytes
    template_id: str
    duplex: bool | None = None


def parse_letter(data: bytes) -> LetterData:
    """Parse an XML letter safely; :class:`CompositionError` (XML_REFUSED / XML_INVALID) when it cannot be."""
    if len(data) > MAX_XML_BYTES:
        raise CompositionError(
            "XML_TOO_LARGE",
            f"the XML letter is {len(data)} bytes; the plant takes up to {MAX_XML_BYTES} bytes per letter.",
        )
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise CompositionError(
            "XML_REFUSED",
            f"the XML letter has a DTD or entity declarations ({type(exc).__name__});"
            " remove the DOCTYPE: the plant takes plain XML only.",
        ) from None
    except ParseError as exc:
        raise CompositionError("XML_INVALID", f"the XML letter is not well-formed ({exc}); fix it.") from None
    if root.tag != "letter":
        raise CompositionError(
            "XML_INVALID", f"the XML root is <{root.tag}>; an XML letter's root is <letter>."
        )
    blocks: list[Block] = []
    body = root.find("body")
    for element in body if body is not None else []:
        if element.tag == "p":
            blocks.append(("p", _text(element)))
        elif element.tag == "table":
            blocks.append(
                (
                    "table",
                    [
                        [_text(cell) for cell in row if cell.tag == "cell"]
                        for row in element
                        if row.tag == "row"
                    ],
                )
            )
    if sum(1 if kind == "p" else len(rows) for kind, rows in blocks) > MAX_BLOCKS:
        raise CompositionError(
            "XML_TOO_LARGE", f"the XML letter has more than {MAX_BLOCKS} paragraphs and table rows; split it."
        )
    sender = root.find("sender")
    return LetterData(
        template_id=root.get("template", ""),
        sender=tuple(_text(line) for line in sender.findall("line")) if sender is not None else (),
        date=_text(root.find("date")),
        subject=_text(root.find("subject")),
        blocks=tuple(blocks),
        duplex=_duplex(root.get("duplex")),
    )


def _duplex(value: str | None) -> bool | None:
    """The ``duplex`` attribute of ``<letter>``: true or false (case aside), or None when it is absent."""
    if value is None:
        return None
    word = value.strip().lower()
    if word not in ("true", "false"):
        raise CompositionError(
            "XML_INVALID",
            f'the duplex attribute of <letter> is {value!r}; write duplex="true" '
            '(printed on both sides of each leaf) or duplex="false" (one side, the '
            "default), or leave it out.",
        )
    return word == "true"


def _text(element: Element | None) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def compose(data: bytes, row: Mapping[str, str], templates: Templates) -> tuple[bytes, str]:
    """Compose the XML letter ``data`` for manifest ``row``; return (PDF bytes, template id)."""
    composed = compose_letter(data, row, templates)
    return composed.pdf, composed.template_id


def compose_letter(data: bytes, row: Mapping[str, str], templates: Templates) -> Composed:
    """Compose the XML letter ``data`` for manifest ``row``: its PDF bytes, template id and duplex wish."""
    letter = parse_letter(data)
    template = templates.get(letter.template_id)
    return Composed(render(letter, template, row), template.template_id, letter.duplex)


def render(letter: LetterData, template: Template, row: Mapping[str, str]) -> bytes:
    """The PDF of ``letter`` in ``template`` addressed to ``row`` (deterministic bytes)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Paragraph, Spacer, Table, TableStyle

    width, height = A4
    style = ParagraphStyle(
        "body",
        fontName=template.font,
        fontSize=template.font_size,
        leading=template.font_size * 1.35,
        spaceAfter=template.font_size * 0.6,
    )
    cell = ParagraphStyle("cell", parent=style, spaceAfter=0)
    story: list[Paragraph | Table | Spacer] = []
    for _kind, content in letter.blocks:
        if isinstance(content, str):  # a paragraph ("p"); a table's content is its rows
            story.append(Paragraph(escape(content), style))
        elif content:
            table = Table(
                [[Paragraph(escape(c), cell) for c in r] for r in content],
                hAlign="LEFT",
                colWidths=None,
                repeatRows=0,
            )
            table.setStyle(
                TableStyle(
                    [("GRID", (0, 0), (-1, -1), 0.4, (0.4, 0.4, 0.4)), ("VALIGN", (0, 0), (-1, -1), "TOP")]
                )
            )
            story += [table, Spacer(1, template.font_size)]
    buffer = io.BytesIO()
    frame_width = width - (LEFT_MM + RIGHT_MM) * mm
    first = Frame(
        LEFT_MM * mm,
        height - BOTTOM_MM * mm,
        frame_width,
        (BOTTOM_MM - BODY_TOP) * mm,
        id="first",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    later = Frame(
        LEFT_MM * mm,
        height - BOTTOM_MM * mm,
        frame_width,
        (BOTTOM_MM - 25) * mm,
        id="later",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )

    def first_page(canvas: Canvas, doc: BaseDocTemplate) -> None:
        _letterhead(canvas, letter, template, row, height)
        _footer(canvas, template, doc, width)

    def later_page(canvas: Canvas, doc: BaseDocTemplate) -> None:
        _footer(canvas, template, doc, width)

    doc = BaseDocTemplate(
        buffer,
        pagesize=A4,
        invariant=1,
        title=letter.subject or "Letter",
        pageTemplates=[
            PageTemplate("first", [first], onPage=first_page, autoNextPageTemplate="later"),
            PageTemplate("later", [later], onPage=later_page),
        ],
    )
    doc.build(story or [Spacer(1, 1)], canvasmaker=_limited_canvas())
    return buffer.getvalue()


def _letterhead(
    canvas: Canvas, letter: LetterData, template: Template, row: Mapping[str, str], height: float
) -> None:
    from reportlab.lib.units import mm

    def top(y_mm: float) -> float:
        """DIN 5008 measures from the top edge; reportlab from the bottom."""
        return float(height - y_mm * mm)

    canvas.setFont(template.font, 9)
    for number, line in enumerate(letter.sender or template.sender_lines):
        canvas.drawString(INFO_X_MM * mm, top(20 + number * 4.2), line)
    canvas.setFont(template.font, 7)
    canvas.drawString(LEFT_MM * mm, top(RETURN_LINE_Y), template.return_line)
    canvas.setFont(template.font, 9)
    lines = [
        row.get("name", ""),
        row.get("address_1", ""),
        row.get("address_2", ""),
        f"{row.get('postcode', '')} {row.get('city', '')}".strip(),
    ]
    y = ADDRESS_Y
    for line in (x for x in lines if x):
        canvas.drawString(LEFT_MM * mm, top(y), line)
        y += ADDRESS_PITCH
    if letter.date:
        canvas.drawString(
            INFO_X_MM * mm, top(90), f"{template.place}, {letter.date}" if template.place else letter.date
        )
    canvas.setFont(template.font_bold, template.font_size + 1)
    canvas.drawString(LEFT_MM * mm, top(SUBJECT_Y), letter.subject)


def _footer(canvas: Canvas, template: Template, doc: BaseDocTemplate, width: float) -> None:
    from reportlab.lib.units import mm

    canvas.setFont(template.font, 7)
    canvas.drawString(LEFT_MM * mm, 12 * mm, template.footer)
    canvas.drawRightString(width - RIGHT_MM * mm, 12 * mm, f"page {doc.page}")


def _limited_canvas() -> type[Canvas]:
    """A canvas class that stops composition beyond :data:`MAX_COMPOSED_PAGES` pages."""
    from reportlab.pdfgen.canvas import Canvas

    class LimitedCanvas(Canvas):  # type: ignore[misc]  # reportlab ships no type hints: Canvas is Any
        """A reportlab canvas that refuses to go past the page limit."""

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            """End the page, or stop the composition when the letter is too long."""
            if self.getPageNumber() > MAX_COMPOSED_PAGES:
                raise CompositionError(
                    "XML_TOO_LONG",
                    f"the composed letter runs past {MAX_COMPOSED_PAGES} pages; shorten or split it.",
                )
            super().showPage()

    return LimitedCanvas
