"""Benchmarks of the tracking library: symbol encoding against bare libzint, the page raster path against a
plain copy of the page, and QA reading of generated DL envelope scans (moderate and harsh).

Goals (issue 3): encoding overhead ≤ 20 % over bare zint-bindings (one text per call, and the batch API);
threshold + stamp three codes + pack of a 600-dpi A4 page ≤ 2× a NumPy copy of it; moderate scans ≥ 1,000
reads/s at 100 %; harsh scans ≥ 99 % read at ≥ 200 images/s. Every figure lands in ``extra_info``; JIT
compilation is warmed up before timing.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import zint

from tracking import code128, code128_many, datamatrix, datamatrix_many, qr, qr_many
from tracking.raster import Stamp, render_symbol, stamp_packed, threshold_pack
from tracking.scan import read_codes
from tracking.scan.synthetic import CONTROL_REGION, HARSH, MODERATE, Degradation, dl_envelope_scan

#: Distinct texts encoded per benchmark round.
TEXTS = 200
#: 600-dpi A4 page in pixels (rows, columns).
A4_600 = (7016, 4961)
#: Generated moderate and harsh scans (distinct seeds, skew alternating ±3°).
MODERATE_SCANS = 100
HARSH_SCANS = 200
#: The control code in the generated scans: 41 characters, a 24 × 24 DataMatrix.
CONTROL_TEXT = "J000042|RR473124829DE|12/13|F1-2-3|DIVERT"

KINDS = {
    "datamatrix": (datamatrix, zint.Symbology.DATAMATRIX, lambda n: f"J{n:06d}|{1000 + n}|1/3"),
    "code128": (code128, zint.Symbology.CODE128, lambda n: f"RR{47312482 + n:08d}9DE"),
    "qr": (qr, zint.Symbology.QRCODE, lambda n: f"plant-mark/1;RR{n:09d}DE;standard;20g;2025-01-01"),
}


def _bare(symbology: zint.Symbology, square: bool, texts: list[str]) -> None:
    """Encode with zint-bindings alone: what our symbol functions wrap."""
    for text in texts:
        symbol = zint.Symbol()
        symbol.symbology = symbology
        symbol.input_mode = zint.InputMode.UNICODE
        if square:
            symbol.option_3 = zint.DataMatrixOptions.SQUARE.value
        symbol.encode(text)


def _bare_reused(symbology: zint.Symbology, square: bool, texts: list[str]) -> None:
    """Bare zint-bindings with one symbol reused for all texts (cleared before each): the floor our wrappers,
    which also reuse their symbol, can approach; reported for information next to the goal's yardstick."""
    symbol = zint.Symbol()
    symbol.symbology = symbology
    symbol.input_mode = zint.InputMode.UNICODE
    if square:
        symbol.option_3 = zint.DataMatrixOptions.SQUARE.value
    for text in texts:
        symbol.clear()
        symbol.encode(text)


def _interleaved(fns: dict[str, object], rounds: int = 15) -> dict[str, float]:
    """Best wall time of each function over ``rounds`` rounds that run them all in turn (so a busy moment of
    the shared machine hits every contender alike, not only the one measured then)."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def _best(fn, repeat: int = 5) -> float:
    """Best wall time of ``repeat`` calls (the reference figure next to a benchmark)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


@pytest.mark.benchmark(group="tracking-symbols")
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_symbols_per_second(benchmark, kind):
    """Symbols/s of our text → module matrix (one call per text) against bare zint-bindings encoding; goal
    overhead ≤ 20 %. Both figures come from interleaved rounds, so a busy moment of the machine hits both."""
    encode, symbology, make = KINDS[kind]
    texts = [make(n) for n in range(TEXTS)]

    def ours() -> list[object]:
        return [encode(t) for t in texts]

    ours()
    t = _interleaved({"bare": lambda: _bare(symbology, kind == "datamatrix", texts), "ours": ours})
    benchmark.pedantic(ours, rounds=7, iterations=1, warmup_rounds=1)
    mine, bare = t["ours"], t["bare"]
    benchmark.extra_info.update(
        {
            "symbols_per_s": round(TEXTS / mine),
            "bare_zint_symbols_per_s": round(TEXTS / bare),
            "overhead_pct": round((mine / bare - 1) * 100, 1),
            "goal_overhead_pct": 20,
        }
    )


MANY = {"datamatrix": datamatrix_many, "code128": code128_many, "qr": qr_many}


@pytest.mark.benchmark(group="tracking-symbols")
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_symbols_batch_per_second(benchmark, kind):
    """Symbols/s of the batch API (one call for all texts) against bare zint-bindings; goal overhead ≤ 20 %.

    Also reports the single-call path and bare zint with a reused symbol, measured in the same test, so the
    three figures share the machine's state."""
    encode, symbology, make = KINDS[kind]
    many = MANY[kind]
    texts = [make(n) for n in range(TEXTS)]
    square = kind == "datamatrix"
    many(texts)
    t = _interleaved(
        {
            "bare": lambda: _bare(symbology, square, texts),
            "bare_reused": lambda: _bare_reused(symbology, square, texts),
            "single": lambda: [encode(x) for x in texts],
            "many": lambda: many(texts),
        }
    )
    benchmark.pedantic(lambda: many(texts), rounds=7, iterations=1, warmup_rounds=1)
    mine, bare = t["many"], t["bare"]  # both from the interleaved rounds
    benchmark.extra_info.update(
        {
            "symbols_per_s": round(TEXTS / mine),
            "bare_zint_symbols_per_s": round(TEXTS / bare),
            "overhead_pct": round((mine / bare - 1) * 100, 1),
            "goal_overhead_pct": 20,
            "single_call_overhead_pct": round((t["single"] / bare - 1) * 100, 1),
            "bare_zint_reused_symbol_per_s": round(TEXTS / t["bare_reused"]),
            "overhead_vs_reused_bare_pct": round((mine / t["bare_reused"] - 1) * 100, 1),
            "us_per_symbol": round(mine / TEXTS * 1e6, 2),
            "bare_us_per_symbol": round(bare / TEXTS * 1e6, 2),
            "single_us_per_symbol": round(t["single"] / TEXTS * 1e6, 2),
        }
    )


@pytest.fixture(scope="module")
def a4_page():
    """A 600-dpi A4 gray page: paper with a band of text-like noise."""
    page = np.full(A4_600, 245, np.uint8)
    page[1000:5000] = np.random.default_rng(1).integers(0, 256, (4000, A4_600[1]), dtype=np.uint8)
    return page


def _page_path(page: np.ndarray) -> np.ndarray:
    """Threshold + pack the page, then stamp a control DataMatrix, a tracking Code 128 and a QR mark into
    it."""
    stamps = [
        Stamp(render_symbol(datamatrix("J000042|1234|2/3"), 600, 0.5), 5900, 140),
        Stamp(render_symbol(code128("RR473124829DE"), 600, 0.25, bar_height_mm=6), 1910, 570),
        Stamp(
            render_symbol(qr("plant-mark/1;RR473124829DE;standard;20g"), 600, 0.5, quiet_modules=4), 400, 3900
        ),
    ]
    return stamp_packed(threshold_pack(page), page.shape[1], stamps)


@pytest.mark.benchmark(group="tracking-page")
def test_page_threshold_stamp_pack(benchmark, a4_page):
    """600-dpi A4: threshold + stamp three codes + pack, against a plain NumPy copy; goal ≤ 2× the copy."""
    _page_path(a4_page)
    copy = _best(lambda: a4_page.copy(), repeat=11)
    benchmark.pedantic(lambda: _page_path(a4_page), rounds=11, iterations=1, warmup_rounds=1)
    ours = benchmark.stats.stats.min
    benchmark.extra_info.update(
        {
            "ms": round(ours * 1e3, 2),
            "numpy_copy_ms": round(copy * 1e3, 2),
            "ratio_to_copy": round(ours / copy, 2),
            "goal_ratio": 2.0,
        }
    )


@pytest.mark.benchmark(group="tracking-page")
def test_page_numpy_copy(benchmark, a4_page):
    """The yardstick: a plain NumPy copy of the 600-dpi A4 page."""
    benchmark.pedantic(lambda: a4_page.copy(), rounds=11, iterations=1, warmup_rounds=1)


def _scans(degradation: Degradation, count: int) -> list[np.ndarray]:
    """``count`` generated 300-dpi DL envelope scans, seeds 0…count−1, skew alternating in sign."""
    out = []
    for seed in range(count):
        sign = -1 if seed % 2 else 1
        out.append(
            dl_envelope_scan(
                CONTROL_TEXT,
                300,
                Degradation(sign * degradation.rotation_deg, degradation.noise_sigma, degradation.blur_px),
                seed,
            )
        )
    return out


def _read_all(scans: list[np.ndarray]) -> int:
    """Read the control region of every scan; return how many gave the exact text."""
    return sum(any(c.text == CONTROL_TEXT for c in read_codes(s, 300, [CONTROL_REGION])) for s in scans)


@pytest.mark.benchmark(group="tracking-qa")
@pytest.mark.parametrize(
    ("name", "degradation", "count", "goal_rate", "goal_per_s"),
    [
        ("moderate", MODERATE, MODERATE_SCANS, 1.0, 1000),
        ("harsh", HARSH, HARSH_SCANS, 0.99, 200),
    ],
)
def test_qa_reading(benchmark, name, degradation, count, goal_rate, goal_per_s):
    """QA reads of generated DL envelope scans with a 24 × 24 DataMatrix: images/s and the share read."""
    scans = _scans(degradation, count)
    _read_all(scans[:2])
    read = benchmark.pedantic(lambda: _read_all(scans), rounds=3, iterations=1)
    per_s = count / benchmark.stats.stats.mean
    benchmark.extra_info.update(
        {
            "scans": count,
            "read_rate": round(read / count, 4),
            "images_per_s": round(per_s),
            "goal_read_rate": goal_rate,
            "goal_images_per_s": goal_per_s,
        }
    )
