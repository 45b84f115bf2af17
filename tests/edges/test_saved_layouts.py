"""Arrays a loop saves for its reverse sweep whatever their memory layout: a transpose (which
Numba keeps in Fortran order, also through arithmetic), a 3-D axis permutation, a strided or
reversed view. Saved row by row and read back in C order (a Fortran array copied in memory
order came back transposed: found by an attack). Compiled and as Python, against finite
differences."""

import numpy as np
import pytest

import srcad
from srcad import check


def previous_transpose(x):
    prev = x.T
    s = 0.0
    for _ in range(2):
        s += np.sum(x * prev)
        prev = x.T
    return s


def scaled_transpose(x):
    y = x.T
    s = 0.0
    for _ in range(3):
        y = y * 1.5
        s += np.sum(y * x)
    return s


def transpose_of_a_trips_square(x):
    prev = x.T
    s = 0.0
    for i in range(3):
        a = x * (i + 1) + 0.5
        b = a * a
        s += np.sum(b * prev)
        prev = b.T
    return s


def permuted_axes(x):
    y = np.transpose(x.reshape(3, 2, 2), (2, 0, 1))
    s = 0.0
    for _ in range(3):
        y = np.sin(y) * 1.5
        s += np.sum(y * y)
    return s


def strided_and_reversed(x):
    y = x[:, ::2]
    z = x[::-1]
    s = 0.0
    for _ in range(2):
        y = np.cos(y) * 1.1
        z = z * z[::-1]
        s += np.sum(y) + np.sum(z)
    return s


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
@pytest.mark.parametrize("fn", [previous_transpose, scaled_transpose,
                                transpose_of_a_trips_square, permuted_axes,
                                strided_and_reversed], ids=lambda f: f.__name__)
def test_saved_arrays_of_any_layout(fn, jit, rng):
    square = fn in (previous_transpose, scaled_transpose, transpose_of_a_trips_square)
    x = rng.uniform(-1, 1, (3, 3) if square else (3, 4))
    value, grad = srcad.value_and_grad(fn, mode="source", jit=jit)(x)
    np.testing.assert_allclose(value, fn(x), rtol=1e-12)
    check.compare(fn, (x,), [0], (grad,), rtol=1e-6, atol=1e-8)
