"""Conversions users write at the top of a function: `np.asarray(x)`, `np.asarray(x,
dtype=float)`, `np.array(x, dtype=np.float64)`, `np.array(x, copy=False)`, `x.astype(...)`:
the array itself or a converted copy, differentiated as such (gradients, jvp and hvp against
finite differences, compiled and as Python)."""

import numpy as np
import pytest

import srcad
from srcad import check


def asarray_first(x):
    x = np.asarray(x)
    return np.sum(x * x * x)


def asarray_with_a_dtype(x):
    y = np.asarray(x, dtype=float)
    return np.sum(np.sin(y) * x)


def array_copies(x):
    a = np.array(x, dtype=np.float64)
    a[0] = 2.0 * a[1]  # (a copy: x is not written)
    return np.sum(a * x)


def array_without_a_copy(x):
    a = np.array(x, copy=False)
    return np.sum(np.exp(a)) + np.sum(x)


def astype_and_dtype_names(x):
    y = x.astype("float64") * np.asarray(x, np.float64) + np.array(x, int)
    return np.sum(y * x)


def written_after_asarray(x):
    y = np.asarray(x, float)
    y[0] = 3.0  # (y is x itself: srcad copies an argument the function writes into)
    return np.sum(y * y)


def its_own_dtype(x):
    y = np.asarray(x, dtype=x.dtype) * x.astype(x.dtype)
    return np.sum(np.sin(y))


def matrix_from_a_flat_vector(x):
    a = np.asarray(x, dtype=np.float64).reshape(2, 2)
    return np.sum(a @ a)


CASES = [asarray_first, asarray_with_a_dtype, array_copies, array_without_a_copy,
         astype_and_dtype_names, written_after_asarray, its_own_dtype,
         matrix_from_a_flat_vector]


@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__name__)
def test_conversions_are_differentiated(fn, jit, rng):
    x = rng.uniform(0.2, 1.0, 4)
    g = srcad.grad(fn, mode="source", jit=jit)(x)
    check.compare(fn, (x,), [0], [g], rtol=1e-6, atol=1e-8)
    v = rng.standard_normal(4)
    _, tangent = srcad.jvp(fn, (x,), (v,), jit=jit)
    assert np.isclose(tangent, g @ v, rtol=1e-10, atol=1e-12)
    if not jit:  # (the hvp's compiled form is the same code: CI time)
        eps = 1e-6
        numeric = (srcad.grad(fn, mode="source", jit=False)(x + eps * v) -
                   srcad.grad(fn, mode="source", jit=False)(x - eps * v)) / (2 * eps)
        np.testing.assert_allclose(srcad.hvp(fn, jit=False)(x, v), numeric, rtol=1e-5,
                                   atol=1e-6)


def test_a_float32_array_converted_to_float64(rng):
    x32 = rng.uniform(0.2, 1.0, 4).astype(np.float32)
    g = srcad.grad(asarray_with_a_dtype, mode="source")(x32)
    check.compare(asarray_with_a_dtype, (x32.astype(np.float64),), [0], [g], rtol=1e-5,
                  atol=1e-6)


def order(x):
    return np.sum(np.array(x, order="F"))


def test_other_arguments_are_refused_by_name():
    with pytest.raises(srcad.UnsupportedError, match=r"test_conversions.py:\d+: an array made "
                                                     r"of an array with arguments other than"):
        srcad.grad(order, mode="source")(np.ones(3))
