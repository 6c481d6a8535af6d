"""Letters whose page boxes disagree: the PDFs that once passed pre-flight and then failed imposition.

:func:`box_variants` turns a sound one-page letter into variants that move, shrink, grow, invert, turn or
scale its boxes: trim and crop boxes smaller or larger than the media box, offset from it, outside it,
negative origins, inverted corners, ``/Rotate`` 90/270 (the content turned to read upright, and not),
``/UserUnit``, boxes and rotation inherited from the page tree, malformed boxes. Some are sound letters
printed from their trim box, some must be refused; pre-flight must accept only the ones imposition places
(tests/fuzz/test_page_boxes.py).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pikepdf
from pikepdf import Array, Name

#: A4 portrait in points.
W, H = 595.2756, 841.8898
#: A 3 mm bleed in points.
BLEED = 8.5039


def _content(page: pikepdf.Object, pdf: pikepdf.Pdf, before: bytes) -> None:
    """Draw the page's content under the matrix ``before`` (a ``cm`` operator), in its own q/Q."""
    contents = page.get("/Contents")
    parts = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
    page.Contents = Array(
        [pdf.make_stream(b"q " + before + b"\n"), *parts, pdf.make_stream(b"\nQ")]  # type: ignore[list-item]
    )


def _edit(data: bytes, change: Callable[[pikepdf.Pdf, pikepdf.Object], None]) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        change(pdf, pdf.pages[0].obj)
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()


def _boxes(**boxes: list[float]) -> Callable[[pikepdf.Pdf, pikepdf.Object], None]:
    def change(pdf: pikepdf.Pdf, page: pikepdf.Object) -> None:
        for key, box in boxes.items():
            page[f"/{key}"] = Array(box)

    return change


def _moved(dx: float, dy: float, flip: bool = False) -> Callable[[pikepdf.Pdf, pikepdf.Object], None]:
    """The letter drawn at (dx, dy), its media box there too (upper-right corner first with ``flip``)."""

    def change(pdf: pikepdf.Pdf, page: pikepdf.Object) -> None:
        _content(page, pdf, b"1 0 0 1 %.4f %.4f cm" % (dx, dy))
        box = [dx + W, dy + H, dx, dy] if flip else [dx, dy, dx + W, dy + H]
        page.MediaBox = Array(box)

    return change


def _turned(degrees: int, upright: bool = True) -> Callable[[pikepdf.Pdf, pikepdf.Object], None]:
    """A landscape media box shown portrait by ``/Rotate`` (content turned to read upright), or (not
    ``upright``) the portrait page given a ``/Rotate`` as it is."""

    def change(pdf: pikepdf.Pdf, page: pikepdf.Object) -> None:
        page.Rotate = degrees
        if not upright:
            return
        page.MediaBox = Array([0, 0, H, W])
        matrix = b"0 1 -1 0 %.4f 0 cm" % H if degrees == 90 else b"0 -1 1 0 0 %.4f cm" % W
        _content(page, pdf, matrix)

    return change


def _unit(unit: float, scaled: bool = True) -> Callable[[pikepdf.Pdf, pikepdf.Object], None]:
    """``/UserUnit`` ``unit``, the page and its content made 1/``unit`` as large (so it is A4 in points)."""

    def change(pdf: pikepdf.Pdf, page: pikepdf.Object) -> None:
        page.UserUnit = unit
        if scaled:
            _content(page, pdf, b"%.6f 0 0 %.6f 0 0 cm" % (1 / unit, 1 / unit))
            page.MediaBox = Array([0, 0, W / unit, H / unit])

    return change


def _inherited(key: str, value: object) -> Callable[[pikepdf.Pdf, pikepdf.Object], None]:
    """``key`` set on the page-tree root and removed from the page."""

    def change(pdf: pikepdf.Pdf, page: pikepdf.Object) -> None:
        pdf.Root.Pages[key] = value
        if key in page:
            del page[key]

    return change


def _both(
    *changes: Callable[[pikepdf.Pdf, pikepdf.Object], None],
) -> Callable[[pikepdf.Pdf, pikepdf.Object], None]:
    def change(pdf: pikepdf.Pdf, page: pikepdf.Object) -> None:
        for one in changes:
            one(pdf, page)

    return change


#: Every variant: name → change of the letter's first page.
CHANGES: dict[str, Callable[[pikepdf.Pdf, pikepdf.Object], None]] = {
    "trim-a5-on-a4": _boxes(TrimBox=[0, 0, 420, 595]),
    "trim-1mm-smaller": _boxes(TrimBox=[0, 0, W - 2.83, H - 2.83]),
    "trim-3mm-smaller": _boxes(TrimBox=[0, 0, W - 8.5, H - 8.5]),
    "trim-offset-inside": _boxes(TrimBox=[40, 40, W, H]),
    "trim-larger-than-media": _boxes(TrimBox=[-BLEED, -BLEED, W + BLEED, H + BLEED]),
    "trim-outside-media": _boxes(TrimBox=[W + 10, 0, 2 * W + 10, H]),
    "trim-inverted": _boxes(TrimBox=[W, H, 0, 0]),
    "trim-malformed": _boxes(TrimBox=[0, 0, W]),
    "bleed-media-a4-trim": _both(
        _boxes(MediaBox=[-BLEED, -BLEED, W + BLEED, H + BLEED]), _boxes(TrimBox=[0, 0, W, H])
    ),
    "bleed-media-no-trim": _boxes(MediaBox=[-BLEED, -BLEED, W + BLEED, H + BLEED]),
    "bleed-media-a4-crop": _both(
        _boxes(MediaBox=[-BLEED, -BLEED, W + BLEED, H + BLEED]), _boxes(CropBox=[0, 0, W, H])
    ),
    "crop-a5": _boxes(CropBox=[0, 0, 420, 595]),
    "crop-a4-trim-a5": _boxes(CropBox=[0, 0, W, H], TrimBox=[0, 0, 420, 595]),
    "crop-a5-trim-a4": _boxes(CropBox=[0, 0, 420, 595], TrimBox=[0, 0, W, H]),
    "crop-offset-half-outside": _boxes(CropBox=[W / 2, 0, W * 1.5, H]),
    "negative-origin": _moved(-W, -H),
    "negative-origin-inverted": _moved(-W, -H, flip=True),
    "offset-origin": _moved(1000, 2000),
    "inverted-media": _boxes(MediaBox=[W, H, 0, 0]),
    "rotate-90-upright": _turned(90),
    "rotate-270-upright": _turned(270),
    "rotate-90-portrait": _turned(90, upright=False),
    "rotate-180": _turned(180, upright=False),
    "rotate-45": _turned(45, upright=False),
    "rotate-real-90": _both(_turned(90), lambda pdf, page: page.__setitem__("/Rotate", 90.0)),
    "rotate-minus-270-upright": _both(_turned(90), lambda pdf, page: page.__setitem__("/Rotate", -270)),
    "userunit-2-scaled": _unit(2.0),
    "userunit-2-unscaled": _unit(2.0, scaled=False),
    "userunit-0": _unit(0, scaled=False),
    "userunit-half": _unit(0.5, scaled=False),
    "inherited-media": _inherited("/MediaBox", Array([0, 0, W, H])),
    "inherited-media-a5": _inherited("/MediaBox", Array([0, 0, 420, 595])),
    "inherited-crop-a5": _inherited("/CropBox", Array([0, 0, 420, 595])),
    "inherited-rotate-90": _both(_turned(90), _inherited("/Rotate", 90)),
    "inherited-trim-a5-not-inherited": _inherited("/TrimBox", Array([0, 0, 420, 595])),
    "no-media-box": lambda pdf, page: _no_media(pdf, page),
    "media-with-name": _boxes(MediaBox=[0, 0, W, Name.H]),  # type: ignore[list-item]
}


def box_variants(seed: bytes) -> dict[str, bytes]:
    """Every variant of the one-page letter ``seed``, by name."""
    return {name: _edit(seed, change) for name, change in CHANGES.items()}


def _no_media(pdf: pikepdf.Pdf, page: pikepdf.Object) -> None:
    for node in (page, pdf.Root.Pages):
        if "/MediaBox" in node:
            del node["/MediaBox"]
