"""Pre-flight measures the page box imposition places (issue 12): over letters whose trim, crop and media
boxes, /Rotate and /UserUnit disagree (:mod:`tests.fuzz.boxes`), every letter the plant's sandboxed pre-flight
accepts is imposed by the plant's imposition, and every one it refuses is refused for its page box, with the
box, its size and the fix in the reason."""

from __future__ import annotations

import pytest

from tests.fuzz.boxes import box_variants
from tests.fuzz.harness import ACCEPTED, PREFLIGHT, Runner, Variant
from tests.intake.letters import ROW, address_of, write

#: Variants that are sound letters, printed from their effective box: they must pass and impose.
SOUND = {
    "trim-1mm-smaller",
    "trim-larger-than-media",
    "trim-inverted",
    "bleed-media-a4-trim",
    "bleed-media-a4-crop",
    "crop-a5-trim-a4",
    "negative-origin",
    "negative-origin-inverted",
    "offset-origin",
    "inverted-media",
    "rotate-90-upright",
    "rotate-270-upright",
    "rotate-real-90",
    "rotate-minus-270-upright",
    "userunit-2-scaled",
    "inherited-media",
    "inherited-rotate-90",
    "inherited-trim-a5-not-inherited",
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    seed = write(tmp_path_factory.mktemp("boxes") / "letter.pdf", pages=1).read_bytes()
    variants = [
        Variant(f"boxes/{name}", "boxes", "reportlab-1p", data, address_of(ROW))
        for name, data in box_variants(seed).items()
    ]
    with Runner() as runner:
        return {o.variant.removeprefix("boxes/"): o for o in runner.run(variants)}


def test_every_letter_preflight_passes_is_imposed(outcomes):
    """Pre-flight PASS ⇒ imposition succeeds: no variant gets past pre-flight to be refused by imposition
    (before the fix, trim and crop boxes, /Rotate and /UserUnit variants did), and none is a finding."""
    late = {
        name: (o.code, o.reason[:160]) for name, o in outcomes.items() if o.stage not in (ACCEPTED, PREFLIGHT)
    }
    assert not late
    assert not {name: o.findings for name, o in outcomes.items() if o.findings}


def test_sound_letters_with_odd_boxes_pass_and_impose(outcomes):
    """A4 trim boxes on bleed media, negative, offset and inverted boxes, upright-turned pages and a scaled
    /UserUnit are letters: accepted and imposed."""
    refused = {
        name: (o.code, o.reason[:200])
        for name, o in outcomes.items()
        if name in SOUND and o.stage != ACCEPTED
    }
    assert not refused


def test_letters_imposition_cannot_place_are_refused_at_preflight_with_the_box(outcomes):
    """Every other variant is refused at pre-flight for its page geometry, and the reason names the page,
    the box measured, its size in mm and what to do; the address check reads the page as it is shown (turned
    by its /Rotate)."""
    refused = {name: o for name, o in outcomes.items() if name not in SOUND | {"rotate-180"}}
    assert refused and all(o.stage == PREFLIGHT for o in refused.values()), {
        n: o.stage for n, o in refused.items()
    }
    assert {o.code for o in refused.values()} <= {"PAGE_SIZE", "PAGE_LANDSCAPE"}, {
        n: o.code for n, o in refused.items()
    }
    for name, o in refused.items():
        named = ("mm", "four numbers", "/Rotate", "/UserUnit")
        assert "page 1" in o.reason and any(word in o.reason for word in named), (name, o.reason)
    trim = outcomes["trim-a5-on-a4"].reason
    assert "TrimBox" in trim and "148 × 210 mm" in trim and "A4" in trim, trim
    assert "CropBox" in outcomes["crop-a5"].reason
    assert "outside its MediaBox" in outcomes["trim-outside-media"].reason
    assert "/Rotate 45" in outcomes["rotate-45"].reason
    assert "/UserUnit 0" in outcomes["userunit-0"].reason
    assert "216 × 279 mm" in outcomes["no-media-box"].reason  # no MediaBox: US Letter, in every reader
    # turned upside down, the address is no longer in the window as the page is shown (and printed)
    assert outcomes["rotate-180"].code == "ADDRESS_OUTSIDE_WINDOW"
