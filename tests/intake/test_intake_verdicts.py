"""Pre-flight verdicts depend on the letter alone, and every reason is written for a sender.

PDFium's last error is set only when a load fails and never cleared, and pypdfium2 reads it for a document
that opened fine with no pages: a child that had just checked another sender's encrypted letter called the
next sender's empty PDF ENCRYPTED. Here the same letters go through one child in different orders and get the
same verdicts, an empty page tree is NO_PAGES, a PDF with only an owner password passes while one that needs
a password to open is refused, and no reason over every reachable path carries library text ("PDFium",
"Success", error numbers, exception names) or a doubled word.
"""

from __future__ import annotations

import io
import random
import re

import pikepdf
import pytest
from reportlab.lib.pagesizes import A4, A5, landscape

from plant.intake.pdfcheck import Code, Verdict, check, sniff
from plant.intake.preflight import check_spec
from plant.intake.sandbox import Limits, PreflightPool, Task
from tests.intake import hostile
from tests.intake.letters import ROW, address_of, write

#: Limits small enough to keep the tests quick, large enough for every good letter.
TEST_LIMITS = Limits(memory_mb=512, cpu_s=4, wall_s=5.0)
SPEC = check_spec(max_pages=6)


# ---- letters -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good(tmp_path_factory) -> bytes:
    """A sound two-page letter."""
    return write(tmp_path_factory.mktemp("good") / "good.pdf").read_bytes()


def encrypt(data: bytes, user: str, allow: pikepdf.Permissions | None = None) -> bytes:
    """``data`` encrypted (AES-256) with owner password "owner" and ``user`` ("" = opens without one)."""
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        pdf.save(
            out, encryption=pikepdf.Encryption(owner="owner", user=user, allow=allow or pikepdf.Permissions())
        )
    return out.getvalue()


def empty_page_tree() -> bytes:
    """A sound, unencrypted PDF whose page tree has no kids."""
    return hostile.pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])


@pytest.fixture(scope="module")
def one_child():
    """One sandboxed child: every letter of a batch goes through the same PDFium."""
    with PreflightPool(SPEC, TEST_LIMITS, workers=1) as pool:
        yield pool


def run_in_order(pool: PreflightPool, letters: list[tuple[str, bytes]]) -> dict[str, Verdict]:
    verdicts = pool.check([Task(name, lambda data=data: data, address_of(ROW)) for name, data in letters])
    return {str(key): verdict for key, verdict in verdicts.items()}


# ---- independence ------------------------------------------------------------------------------------------
def test_verdicts_do_not_depend_on_the_letters_before(one_child, good):
    """Encrypted → empty page tree → normal, and the reverse, through one child: the same verdicts."""
    letters = [("encrypted", encrypt(good, user="user")), ("empty", empty_page_tree()), ("normal", good)]
    forward = run_in_order(one_child, letters)
    backward = run_in_order(one_child, letters[::-1])
    twice = run_in_order(one_child, letters + [(f"{name}-again", data) for name, data in letters])
    assert forward["encrypted"].code == Code.ENCRYPTED
    assert forward["empty"].code == Code.NO_PAGES
    assert forward["normal"].ok and forward["normal"].pages == 2
    for name in ("encrypted", "empty", "normal"):
        expected = (forward[name].ok, forward[name].code, forward[name].reason)
        assert (backward[name].ok, backward[name].code, backward[name].reason) == expected
        assert (
            twice[f"{name}-again"].ok,
            twice[f"{name}-again"].code,
            twice[f"{name}-again"].reason,
        ) == expected


def test_every_order_of_failures_gives_the_same_verdicts(one_child, good):
    """Letters that fail PDFium's load in different ways, shuffled: each keeps its verdict."""
    letters = [
        ("encrypted", encrypt(good, user="user")),
        ("empty", empty_page_tree()),
        ("truncated", hostile.truncated(good)),
        ("xref_prev_loop", hostile.xref_prev_loop()),
        ("owner_only", encrypt(good, user="")),
        ("normal", good),
    ]
    first = run_in_order(one_child, letters)
    rng = random.Random(11)
    for _ in range(3):
        shuffled = letters[:]
        rng.shuffle(shuffled)
        again = run_in_order(one_child, shuffled)
        assert {k: (v.code, v.reason) for k, v in again.items()} == {
            k: (v.code, v.reason) for k, v in first.items()
        }


def test_empty_page_tree_is_no_pages_in_a_fresh_process(good):
    """In-process too (no earlier failure at all): NO_PAGES, never a "PDFium: Success" BROKEN_PDF."""
    verdict = check(empty_page_tree(), SPEC)
    assert verdict.code == Code.NO_PAGES and "no pages" in verdict.reason


def test_owner_password_only_pdf_passes(one_child, good):
    """A PDF that opens without a password and allows printing passes pre-flight."""
    verdict = run_in_order(one_child, [("owner", encrypt(good, user=""))])["owner"]
    assert verdict.ok and verdict.pages == 2


def test_user_password_pdf_is_refused_saying_to_send_it_without(one_child, good):
    """A PDF that needs a password to open is ENCRYPTED, and the reason says to send it without a password."""
    verdict = run_in_order(one_child, [("locked", encrypt(good, user="user"))])["locked"]
    assert verdict.code == Code.ENCRYPTED and "without a password" in verdict.reason


def test_pdf_forbidding_print_is_refused(good):
    """A PDF whose security settings forbid printing is ENCRYPTED, with the reason."""
    no_print = pikepdf.Permissions(print_lowres=False, print_highres=False)
    verdict = check(encrypt(good, user="", allow=no_print), SPEC)
    assert verdict.code == Code.ENCRYPTED and "do not allow printing" in verdict.reason


def test_a_damaged_pdf_after_an_encrypted_one_is_broken_not_encrypted(good):
    """In one process, right after an encrypted letter: a damaged PDF is BROKEN_PDF, an empty one NO_PAGES
    (bytes without /Encrypt are never called ENCRYPTED, whatever PDFium said before)."""
    assert check(encrypt(good, user="user"), SPEC).code == Code.ENCRYPTED
    assert check(hostile.truncated(empty_page_tree()), SPEC).code == Code.BROKEN_PDF
    assert check(encrypt(good, user="user"), SPEC).code == Code.ENCRYPTED
    assert check(empty_page_tree(), SPEC).code == Code.NO_PAGES


# ---- reasons -----------------------------------------------------------------------------------------------
#: What must never reach a sender: library names, library status words, error numbers, exception names.
LIBRARY_TEXT = [
    re.compile(r"pdfium", re.I),
    re.compile(r"\bsuccess\b", re.I),
    re.compile(r"error\s*code", re.I),
    re.compile(r"errno|\[err", re.I),
    re.compile(r"\berror\s*[-#:]?\s*\d", re.I),
    re.compile(r"\bexit\s*(code\s*)?-?\d", re.I),
    re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b"),
    re.compile(r"Traceback|FPDF_|0x[0-9a-f]{4,}", re.I),
]
#: The same word twice in a row (case aside, punctuation between), and the old "no PDF, not a PDF".
DOUBLED = re.compile(r"\b([^\W\d_]+)[\s,;:]+\1\b", re.I)


def assert_for_a_sender(name: str, verdict: Verdict) -> None:
    texts = [verdict.reason, *(f.message for f in verdict.findings)]
    for text in texts:
        for pattern in LIBRARY_TEXT:
            assert not pattern.search(text), f"{name}: {pattern.pattern!r} in {text!r}"
        doubled = DOUBLED.search(text)
        assert doubled is None, f"{name}: doubled {doubled.group(0)!r} in {text!r}"
        assert "no PDF" not in text, f"{name}: {text!r}"
    if not verdict.ok:
        assert verdict.code and verdict.reason, name
        assert ";" in verdict.reason, f"{name}: says what is wrong but not what to do: {verdict.reason!r}"


def geometric_letters(tmp_path) -> dict[str, tuple[bytes, tuple[str, ...], bool]]:
    """Letters failing each check that reads the pages: (bytes, address, duplex)."""

    def letter(name: str, **knobs) -> bytes:
        return write(tmp_path / f"{name}.pdf", **knobs).read_bytes()

    other = {**ROW, "name": "Carl Dorn", "address_1": "Ring 1", "postcode": "10115", "city": "Berlin"}
    return {
        "too_many_pages": (letter("many", pages=7), address_of(ROW), False),
        "too_many_duplex": (letter("many_duplex", pages=13), address_of(ROW), True),
        "landscape": (letter("landscape", pagesize=landscape(A4)), address_of(ROW), False),
        "a5": (letter("a5", pagesize=A5), address_of(ROW), False),
        "control_zone": (letter("ink", marks=((1, 8, 256, "ink"),)), address_of(ROW), False),
        "address_outside": (letter("outside", address_at=(120, 200)), address_of(ROW), False),
        "address_mismatch": (letter("mismatch", row=other), address_of(ROW), False),
        "font_not_embedded": (
            hostile.one_page(
                b"BT /F1 12 Tf 72 400 Td (hello) Tj ET",
                extra_objects=(),
            ).replace(b"/BaseFont /Helvetica", b"/BaseFont /ArialNova"),
            (),
            False,
        ),
    }


def hostile_letters(good: bytes) -> dict[str, bytes]:
    """Every hostile input of tests/intake/hostile.py that ends quickly, the ways not to be a PDF, and the
    ways to be locked."""
    zip_head = hostile.zip_as_pdf()
    return {
        "flate_bomb": hostile.flate_bomb(2**30),
        "huge_length": hostile.huge_length(),
        "xref_prev_loop": hostile.xref_prev_loop(),
        "xref_stream_loop": hostile.xref_stream_loop(),
        "pages_loop": hostile.pages_loop(),
        "truncated": hostile.truncated(good),
        "truncated_empty": hostile.truncated(empty_page_tree()),
        "html": hostile.html_as_pdf(),
        "zip": zip_head,
        "empty_file": b"",
        "text": b"Dear customer, this is not a PDF at all.",
        "png": b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
        "jpeg": b"\xff\xd8\xff\xe0" + b"\0" * 64,
        "ole": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64,
        "header_only": b"%PDF-1.7\n",
        "garbage_after_header": b"%PDF-1.7\n" + bytes(range(256)) * 8,
        "empty_page_tree": empty_page_tree(),
        "encrypted": encrypt(good, user="user"),
        "owner_only": encrypt(good, user=""),
        "no_print": encrypt(
            good, user="", allow=pikepdf.Permissions(print_lowres=False, print_highres=False)
        ),
        "calls_home": hostile.calls_home("http://127.0.0.1:9/x", "/etc/passwd"),
    }


def mutants(good: bytes, count: int, seed: int) -> dict[str, bytes]:
    """``count`` copies of ``good`` with random byte runs overwritten, cut or repeated (seeded)."""
    rng = random.Random(seed)
    found = {}
    for number in range(count):
        data = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            at, length = rng.randrange(len(data)), rng.randint(1, 64)
            kind = rng.choice(("overwrite", "cut", "repeat"))
            if kind == "overwrite":
                data[at : at + length] = bytes(rng.randrange(256) for _ in range(length))
            elif kind == "cut":
                del data[at : at + length]
            else:
                data[at:at] = data[at : at + length] * rng.randint(2, 5)
        found[f"mutant-{number}"] = bytes(data)
    return found


def test_no_reason_carries_library_text_or_doubled_words(tmp_path, good):
    """Every reason pre-flight can give — the hostile corpus, not-a-PDF files, locked PDFs, each geometric
    check, 60 randomly damaged letters, and the sandbox's own limits — reads as a sentence for a sender."""
    tasks = [
        Task(name, lambda data=data: data, address_of(ROW)) for name, data in hostile_letters(good).items()
    ]
    tasks += [
        Task(name, lambda data=data: data, address_of(ROW)) for name, data in mutants(good, 60, 5).items()
    ]
    tasks += [
        Task(name, lambda data=data: data, address, duplex)
        for name, (data, address, duplex) in geometric_letters(tmp_path).items()
    ]

    def unreadable() -> bytes:
        raise FileNotFoundError(2, "No such file or directory", "/var/plant/blobs/ab/cd")

    tasks.append(Task("stored_file_gone", unreadable))
    with PreflightPool(SPEC, TEST_LIMITS, workers=2) as pool:
        verdicts = pool.check(tasks)
    with PreflightPool(SPEC, Limits(memory_mb=2048, cpu_s=60, wall_s=0.5), workers=1) as pool:
        verdicts["wall_clock"] = pool.check([Task("x", lambda: hostile.form_laughs(6))])["x"]
    with PreflightPool(SPEC, Limits(memory_mb=2048, cpu_s=1, wall_s=60), workers=1) as pool:
        verdicts["cpu"] = pool.check([Task("x", lambda: hostile.form_laughs(6))])["x"]
    with PreflightPool(SPEC, Limits(memory_mb=256, cpu_s=20, wall_s=30), workers=1) as pool:
        verdicts["memory"] = pool.check([Task("x", lambda: hostile.flate_bomb(2**30))])["x"]

    codes = {str(name): v.code for name, v in verdicts.items()}
    assert codes["empty_page_tree"] == Code.NO_PAGES and codes["encrypted"] == Code.ENCRYPTED
    assert verdicts["owner_only"].ok and codes["no_print"] == Code.ENCRYPTED
    assert codes["pages_loop"] == Code.BROKEN_PDF and codes["stored_file_gone"] == Code.BROKEN_PDF
    assert codes["wall_clock"] == Code.TIMEOUT and codes["cpu"] == Code.CPU_LIMIT
    assert codes["memory"] in {Code.CRASHED, Code.MEMORY_LIMIT, Code.BROKEN_PDF}
    expected_geometric = {
        "too_many_pages": Code.TOO_MANY_PAGES,
        "too_many_duplex": Code.TOO_MANY_PAGES,
        "landscape": Code.PAGE_LANDSCAPE,
        "a5": Code.PAGE_SIZE,
        "control_zone": Code.CONTROL_ZONE_NOT_CLEAR,
        "address_outside": Code.ADDRESS_OUTSIDE_WINDOW,
        "address_mismatch": Code.ADDRESS_MISMATCH,
        "font_not_embedded": Code.FONT_NOT_EMBEDDED,
    }
    assert {name: codes[name] for name in expected_geometric} == expected_geometric
    assert {codes[n] for n in ("html", "zip", "empty_file", "text", "png", "jpeg", "ole")} == {Code.NOT_PDF}
    for name, verdict in verdicts.items():
        assert_for_a_sender(str(name), verdict)


@pytest.mark.parametrize(
    ("head", "says"),
    [
        (b"", "empty"),
        (b"PK\x03\x04rest", "ZIP archive"),
        (b"<!doctype html><html>", "HTML page"),
        (b"\x89PNG\r\n\x1a\n", "PNG image"),
        (b"just words", "does not start like a PDF"),
    ],
)
def test_not_a_pdf_names_what_the_file_is(head, says):
    """NOT_PDF says what the file is instead, once ("the file is no PDF, not a PDF" is gone)."""
    verdict = sniff(head)
    assert verdict is not None and verdict.code == Code.NOT_PDF and says in verdict.reason
    assert_for_a_sender(repr(head), verdict)
