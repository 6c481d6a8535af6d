"""The real letters, built once per test session (all producers × pages × variants: ~50 PDFs in a few
seconds)."""

from __future__ import annotations

import time

import pytest

from tests.producers.make import LetterFile, real_letters


@pytest.fixture(scope="session")
def real_corpus(tmp_path_factory) -> dict[str, LetterFile]:
    """Every real letter by letter id (``<producer>-<pages>p-<variant>``), built once into a session temp
    dir (the build time is printed; ``-s`` shows it)."""
    started = time.monotonic()
    letters = real_letters(tmp_path_factory.mktemp("real-letters"))
    elapsed = time.monotonic() - started
    print(f"\nreal letters: {len(letters)} PDFs built in {elapsed:.1f} s")
    return {item.letter_id: item for item in letters}
