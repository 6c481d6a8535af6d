"""The scan pre-processing kernels (integral image, box mean, adaptive threshold, orientation, rotation)
against their NumPy references, bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tracking.scan import _kernels, _reference

GRAYS = arrays(np.uint8, st.tuples(st.integers(1, 30), st.integers(1, 40)))


@settings(max_examples=50, deadline=None)
@given(GRAYS)
def test_integral_kernel_matches_reference(gray):
    """The Numba summed-area table equals the NumPy one."""
    assert np.array_equal(_kernels.integral(gray), _reference.integral(gray))


@settings(max_examples=50, deadline=None)
@given(GRAYS, st.integers(0, 12))
def test_box_mean_kernel_matches_reference(gray, radius):
    """The Numba box mean equals the NumPy one, edges clipped the same way."""
    assert np.array_equal(_kernels.box_mean(gray, radius), _reference.box_mean(gray, radius))


@settings(max_examples=50, deadline=None)
@given(GRAYS, st.integers(0, 12), st.integers(-20, 40))
def test_adaptive_dark_kernel_matches_reference(gray, radius, offset):
    """The Numba adaptive threshold equals the NumPy one."""
    assert np.array_equal(
        _kernels.adaptive_dark(gray, radius, offset), _reference.adaptive_dark(gray, radius, offset)
    )


@settings(max_examples=50, deadline=None)
@given(GRAYS)
def test_orientation_moment_kernel_matches_reference(gray):
    """The Numba orientation moment equals the NumPy one exactly (integer sums)."""
    assert tuple(_kernels.orientation_moment(gray)) == _reference.orientation_moment(gray)


@settings(max_examples=50, deadline=None)
@given(GRAYS, st.floats(-45, 45, allow_nan=False), st.integers(0, 255))
def test_rotate_nearest_kernel_matches_reference(gray, angle, fill):
    """The Numba fixed-point rotation equals the NumPy one."""
    c, s = round(np.cos(np.radians(angle)) * 65536), round(np.sin(np.radians(angle)) * 65536)
    assert np.array_equal(
        _kernels.rotate_nearest(gray, c, s, fill), _reference.rotate_nearest(gray, c, s, fill)
    )
