"""A numba-compiled helper keeps, in its machine code, the global and closure numbers it read
when Numba compiled it; srcad differentiates its source, which reads them as they are now. When
one has changed since (found by an attack: value and gradient silently those of the new number,
on the source transform and on the tape), the gradient is refused by name in every mode."""

import math
import warnings

import numba
import numpy as np
import pytest

import srcad
from srcad import check

SCALE = 2.0
TABLE = np.array([1.0, 2.0, 3.0])


@numba.njit
def scaled_tanh(x):
    return math.tanh(x) * SCALE


@numba.njit
def weighted(x):
    return np.sum(TABLE * x * x)


def through_scaled(x):
    return scaled_tanh(x) + x


def through_weighted(x):
    return weighted(x) + np.sum(x)


def test_an_unchanged_global_is_differentiated(rng):
    x = rng.uniform(-1, 1, 3)
    through_weighted(x)  # (compiled by Numba first)
    check.compare(through_weighted, [x], [0], [srcad.grad(through_weighted)(x)])
    y = float(rng.uniform(-1, 1))
    through_scaled(y)
    assert srcad.grad(through_scaled)(y) == pytest.approx(check.numeric_grad(through_scaled,
                                                                             [y], 0), rel=1e-7)


@pytest.mark.parametrize("mode", ["auto", "source", "tape"])
def test_a_number_changed_since_numba_compiled_is_refused(mode):
    global SCALE
    through_scaled(0.3)
    saved, SCALE = SCALE, 7.0
    try:
        # (auto: no FallbackWarning, found by an attack: it said the tape would run it, and the
        # tape refuses it too; the suite's warnings filter turns one into an error)
        with pytest.raises(srcad.UnsupportedError, match="'SCALE' was 2.0 .* it is 7.0 now"):
            srcad.value_and_grad(through_scaled, mode=mode)(0.3)
        scaled_tanh.recompile()  # (the advice the message gives)
        value, g = srcad.value_and_grad(through_scaled, mode=mode)(0.3)
        assert value == pytest.approx(through_scaled(0.3), rel=1e-12)
        assert g == pytest.approx(check.numeric_grad(through_scaled, [0.3], 0), rel=1e-7)
    finally:
        SCALE = saved
        scaled_tanh.recompile()


def test_an_array_rebound_since_numba_compiled_is_refused(rng):
    global TABLE
    x = rng.uniform(-1, 1, 3)
    through_weighted(x)
    saved, TABLE = TABLE, np.array([7.0, 7.0, 7.0])
    try:
        with warnings.catch_warnings(), \
                pytest.raises(srcad.UnsupportedError, match="'TABLE' was an array"):
            warnings.simplefilter("ignore", srcad.FallbackWarning)
            srcad.grad(through_weighted)(x)
        with pytest.raises(srcad.UnsupportedError, match="'TABLE' was an array"):
            srcad.jvp(through_weighted, (x,), (x,), mode="source")
    finally:
        TABLE = saved
        weighted.recompile()
