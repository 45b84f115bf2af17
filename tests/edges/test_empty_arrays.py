"""NumPy functions of empty arrays (no entries along the reduced axis, a 0 x 0
matrix) have values (det 1, a norm 0, a median NaN); their derivatives are empty, beside the
derivatives of the arguments that are not (found raising inside srcad's kernels by a helper's
attack, helper-142; the compiled median of no entries read past the row, a number or NaN by
chance). Values against the function's, gradients and tangents against finite differences,
compiled and as Python."""

import warnings

import numpy as np
import pytest

import srcad
from srcad import check


def det(a, w):
    return w * np.linalg.det(a) + w * w


def solve(a, w):
    return w * np.sum(np.linalg.solve(a, np.ones(0))) + w * w


def lstsq(a, w):
    return w * np.sum(np.linalg.lstsq(a, np.ones(3), rcond=None)[0]) + w * w


def tensordot(x, w):
    return w * np.sum(np.tensordot(x, x, 1)) + w * w


def trapezoid(x, w):
    return w * np.trapezoid(x) + w * w


def norms_of_empty_rows(a, w):
    return w * np.sum(np.linalg.norm(a, axis=1)) + w * np.linalg.norm(a[0], 3.0) + w * w


def norms_of_no_rows(a, w):
    return w * (np.sum(np.linalg.norm(a, axis=0)) + np.linalg.norm(a, "fro")) + w * w


def median(a, w):
    return w * np.sum(np.median(a, axis=1)) + w * w  # (NaN, as NumPy's)


CASES = [(det, (0, 0)), (solve, (0, 0)), (lstsq, (3, 0)), (tensordot, (0,)),
         (trapezoid, (0,)), (norms_of_empty_rows, (3, 0)), (norms_of_no_rows, (0, 3)),
         (median, (2, 0))]
COMPILED = {det, trapezoid, norms_of_empty_rows, median}


@pytest.mark.parametrize("jit", [False, True], ids=["python", "jit"])
@pytest.mark.parametrize("fn, shape", CASES, ids=[fn.__name__ for fn, _ in CASES])
def test_a_function_of_an_empty_array(fn, shape, jit, rng):
    if jit and fn not in COMPILED:
        pytest.skip("compiled for a few of them: each kernel compiles in about a second")
    args = (np.zeros(shape), float(rng.uniform(0.5, 2.0)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (NumPy's "mean of empty slice")
        expected = fn(*args)
        value, grads = srcad.value_and_grad(fn, wrt=(0, 1), jit=jit)(*args)
        _, tangent = srcad.jvp(fn, args, (np.zeros(shape), 1.0), jit=jit)
        np.testing.assert_allclose(value, expected, rtol=1e-12)
        assert grads[0].shape == shape
        if fn is median:
            assert np.isnan(grads[1]) and np.isnan(tangent)
        else:
            check.compare(fn, list(args), (0, 1), grads)
            np.testing.assert_allclose(tangent, grads[1], rtol=1e-12)


def quantiles(a):
    return np.sum(np.quantile(a, 0.3, axis=1)) + np.sum(np.percentile(a, [10.0, 50.0], axis=1))


@pytest.mark.parametrize("jit", [False, True], ids=["python", "jit"])
def test_the_median_of_no_entries_is_nan_and_a_quantile_of_none_numpy_s_error(jit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for shape in [(0,), (3, 0), (0, 3)]:
            value, grad = srcad.value_and_grad(lambda a: np.median(a), jit=jit)(np.zeros(shape))
            assert np.isnan(value) and grad.shape == shape
        value, grad = srcad.value_and_grad(median, jit=jit)(np.zeros((4, 0)), 1.5)
        assert np.isnan(value) and grad.shape == (4, 0)
        with pytest.raises(IndexError, match="out of bounds"):
            quantiles(np.zeros((3, 0)))
        with pytest.raises(IndexError, match="out of bounds"):
            srcad.grad(quantiles, jit=jit)(np.zeros((3, 0)))
