"""Functions srcad writes with those that have rules (srcad/compiler/compositions.py):
np.fliplr, np.flipud, np.rot90, np.rollaxis, np.matrix_transpose, np.ptp, np.nanmax, np.nanmin,
np.column_stack, np.dstack, np.inner, np.vdot, np.linalg.multi_dot, np.heaviside, np.select,
np.correlate, np.corrcoef, np.cumulative_sum, np.ediff1d, scipy.special's expm1, log1p, cbrt,
exp2, exp10 and softplus, scipy.linalg's solve, inv and det, math.prod, math.cbrt and
math.exp2 (each was "no derivative rule"), scipy.special.logsumexp with weights b, np.diff
with prepend or append. Values against the function's, gradients against
finite differences, compiled and as Python, and tangents against directional differences as
Python (the rules they are written with have their compiled tangents tested in
test_forward_rules); and the tape's, which takes each of them too."""

import contextlib
import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.special

import srcad
from srcad import check

WEIGHTS = np.linspace(-1.0, 2.0, 12)


def flips(x):
    m = x.reshape(3, 4)
    return np.sum(np.fliplr(m) * WEIGHTS.reshape(3, 4)) + np.sum(np.flipud(m) ** 2 * m) + \
        np.sum(np.flipud(x) * WEIGHTS)


def rotations(x):
    m, w = x.reshape(3, 4), WEIGHTS.reshape(3, 4)
    cube = x.reshape(2, 3, 2)
    return np.sum(np.rot90(m) * w.T) + np.sum(np.rot90(m, 2) * w) + \
        np.sum(np.rot90(m, -1) ** 3 * w.T) + np.sum(np.rot90(m, k=4) * w) + \
        np.sum(np.rot90(cube, 1, axes=(1, 2)) * WEIGHTS.reshape(2, 2, 3)) + \
        np.sum(np.rot90(cube, 3, (0, 2)) * WEIGHTS.reshape(2, 3, 2))


def peak_to_peak(x):
    m = x.reshape(3, 4)
    return np.ptp(x) + np.sum(np.ptp(m, axis=1) * WEIGHTS[:3]) + \
        np.sum(np.ptp(m, 0, keepdims=True) * m)


def rolled_axes(x):
    cube = x.reshape(2, 3, 2)
    return np.sum(np.rollaxis(cube, 2) * WEIGHTS.reshape(2, 2, 3)) + \
        np.sum(np.rollaxis(cube, 0, 2) ** 2 * WEIGHTS.reshape(3, 2, 2)) + \
        np.sum(np.rollaxis(cube, 0, 3) * WEIGHTS.reshape(3, 2, 2)) + \
        np.sum(np.rollaxis(cube, 1, 1) ** 3)


def matrix_transposes(x):  # (NumPy 2.0)
    cube = x.reshape(2, 3, 2)
    return np.sum(np.matrix_transpose(cube) * WEIGHTS.reshape(2, 2, 3)) + \
        np.sum(np.linalg.matrix_transpose(x.reshape(3, 4)) ** 2 * WEIGHTS.reshape(4, 3))


def linalg_diagonals(x):  # (NumPy 2.0)
    m = x.reshape(3, 4)
    return np.sum(np.linalg.diagonal(m) ** 2) + np.sum(np.linalg.diagonal(m, offset=1) * x[:3])


def stacks(x):
    m, w = x.reshape(4, 3), np.linspace(-1.0, 1.0, 24)
    return np.sum(np.column_stack((x[:4], m, x[4:8] ** 2)) * w[:20].reshape(4, 5)) + \
        np.sum(np.column_stack([x[:3]]) ** 3) + \
        np.sum(np.dstack((m, m ** 2)) * w.reshape(4, 3, 2)) + \
        np.sum(np.dstack((x[:4], x[4:8])) ** 3)


def inner_products(x):
    m = x.reshape(3, 4)
    return np.inner(x[:4], x[4:8]) + np.sum(np.inner(m, m) * WEIGHTS[:9].reshape(3, 3)) + \
        np.sum(np.inner(m, x[:4]) ** 2) + np.vdot(m, m * WEIGHTS.reshape(3, 4)) + \
        np.vdot(x[:3], x[3:6])


def chained_products(x):
    a, b = x[:6].reshape(2, 3), x[6:].reshape(3, 2)
    return np.sum(np.linalg.multi_dot([a, b, a])) + np.linalg.multi_dot((x[:2], a, b, x[2:4])) \
        + np.sum(np.linalg.multi_dot([b, a]) ** 2)


def steps_and_choices(x):
    h = np.heaviside(x - 0.5, 0.5) + np.heaviside(np.round(x * 4) / 4 - 0.5, x)  # (x2 at 0)
    chosen = np.select([x > 0.6, x < 0.3], [x ** 2, np.sin(x)], x * 3.0)
    first = np.select((x > 0.5,), (np.exp(x),))
    return np.sum(h * x) + np.sum(chosen) + np.sum(first)


def correlations(x):
    return np.sum(np.correlate(x, x[:3]) ** 2) + np.sum(np.correlate(x[:5], x[3:], "full") ** 3) \
        + np.sum(np.correlate(x[:3], x, mode="same") ** 2) + np.sum(np.correlate(x[:4], x[4:7]))


def correlation_coefficients(x):
    m = x.reshape(3, 4)
    return np.sum(np.corrcoef(m) * WEIGHTS[:9].reshape(3, 3)) + \
        np.sum(np.corrcoef(m, rowvar=False) ** 2 * np.outer(WEIGHTS[:4], WEIGHTS[4:8]))


def differences(x):
    m = x.reshape(3, 4)
    return np.sum(np.ediff1d(m) ** 2) + np.sum(np.ediff1d(x) * WEIGHTS[1:])


def cumulative_sums(x):  # (NumPy 2.1)
    m = x.reshape(3, 4)
    return np.sum(np.cumulative_sum(x) ** 2) + np.sum(np.cumulative_sum(m, axis=1) * m)


def scipy_elementwise(x):
    return np.sum(scipy.special.expm1(x) * scipy.special.log1p(x)) + \
        np.sum(scipy.special.cbrt(x - 0.5) ** 2) + np.sum(scipy.special.exp2(x)) + \
        np.sum(scipy.special.exp10(x) * x)


def scipy_softplus(x):  # (SciPy 1.15)
    return np.sum(scipy.special.softplus(3.0 * x - 1.0))


def scipy_linear_algebra(x):
    a = x[:9].reshape(3, 3) + 3.0 * np.eye(3)
    return np.sum(scipy.linalg.solve(a, x[9:])) + np.sum(scipy.linalg.inv(a) * a.T) + \
        scipy.linalg.det(a) + np.sum(scipy.linalg.solve(a.T, a))


def math_functions(x):
    return math.prod((x[0], x[1], x[2])) + math.prod([x[3], x[4]], start=x[5]) + \
        math.prod(()) + math.cbrt(x[6] - 0.5) ** 2 + math.exp2(x[7])


def least_squares(x):
    a = x.reshape(4, 3)
    coef = np.linalg.lstsq(a, x[8:] ** 2, rcond=None)[0]
    c, residuals, rank, s = np.linalg.lstsq(a, np.stack((x[:4], x[4:8] * 2.0), axis=1))
    wide = np.linalg.lstsq(a.T, x[:3])[0]  # (the least-norm solution; no residuals)
    return np.sum(coef ** 2) + np.sum(c * c[::-1]) + np.sum(residuals) * rank + np.sum(s) + \
        np.sum(wide * x[4:8])


def meshgrids(x):  # (weighted: a transposed grid has other sums; an attack found one)
    X, Y = np.meshgrid(x[:3], x[3:7])
    a, b, c = np.meshgrid(x[:2], x[2:5].reshape(3, 1), x[5:7], indexing="ij")  # (flattened)
    u, v = np.meshgrid(x[7:9], x[9:], sparse=True)
    p, q, r = np.meshgrid(x[:2], x[2:5], x[5:7])  # ('xy' swaps the first two axes only)
    return np.sum(X * Y ** 2 * WEIGHTS.reshape(4, 3)) + np.sum(np.sin(X)) + \
        np.sum(a * b * c ** 2 * WEIGHTS.reshape(2, 3, 2)) + \
        np.sum(u * v * WEIGHTS[:6].reshape(3, 2)) + \
        np.sum(p * q ** 2 * r ** 3 * WEIGHTS.reshape(3, 2, 2))


def cholesky_factors(x):
    a = np.outer(x[:4], x[:4]) + 3.0 * np.eye(4)
    factor = scipy.linalg.cho_factor(np.triu(a))  # (SciPy reads the triangle it is told to)
    return np.sum(scipy.linalg.cho_solve(factor, x[4:8] ** 2)) + \
        np.sum(scipy.linalg.cho_solve(scipy.linalg.cho_factor(np.tril(a), lower=True), x[8:]))


def splits(x):
    first, empty, rest = np.split(x[:6] * WEIGHTS[:6], [3, 1])  # (the last from 1: NumPy's)
    a, b = np.split(x, 2)
    m = x.reshape(3, 4)
    left, middle, right = np.split(m, [1, 3], axis=1)
    top, bottom = np.split(m.reshape(2, 2, 3), 2, axis=-2)
    return np.sum(a * b) + np.sum(left * right) + np.sum(np.sin(middle)) + \
        np.sum(top ** 2 * bottom) + np.sum(first ** 2) + np.sum(empty) + np.sum(rest ** 3)


def array_splits(x):
    parts = np.array_split(x[:7], 3)  # (lengths 3, 2, 2)
    columns = np.array_split(x.reshape(3, 4), 5, axis=1)  # (the last one empty)
    return np.sum(parts[0]) * np.sum(parts[2] ** 2) + np.sum(parts[1] ** 3) + \
        np.sum(columns[0] * columns[3]) + np.sum(columns[4])


def weighted_logsumexps(x):
    m, signs = x.reshape(3, 4), np.array([1.0, -0.25, 0.5, 2.0])
    return np.sum(scipy.special.logsumexp(m, axis=1, b=x[:4])) + \
        scipy.special.logsumexp(x[4:8], b=signs) + \
        np.sum(scipy.special.logsumexp(m, 0, m * m, True) ** 2) + \
        np.sum(scipy.special.logsumexp(x[:4], axis=0, b=m) ** 2)  # (a broadcast by b)


def padded_differences(x):
    m = x.reshape(3, 4)
    return np.sum(np.diff(x, prepend=0.0) ** 2) + np.sum(np.diff(x, append=x[0]) * x) + \
        np.sum(np.diff(m, 2, axis=0, prepend=m[2:], append=1.5) ** 3)


CASES = [weighted_logsumexps, padded_differences, flips, rotations, rolled_axes, peak_to_peak,
         stacks, inner_products, chained_products,
         steps_and_choices, correlations, correlation_coefficients, differences,
         scipy_elementwise, scipy_linear_algebra, math_functions, splits, array_splits,
         least_squares, meshgrids, cholesky_factors] + \
    ([cumulative_sums] if hasattr(np, "cumulative_sum") else []) + \
    ([matrix_transposes, linalg_diagonals] if hasattr(np, "matrix_transpose") else []) + \
    ([scipy_softplus] if hasattr(scipy.special, "softplus") else [])


# Run as generated Python only: compiled, each took 5-18 s, mostly Numba compiling its rules'
# kernels for one more signature, and tests/test_rules.py compiles every rule.
AS_PYTHON_ONLY = {weighted_logsumexps, least_squares, padded_differences, inner_products,
                  scipy_linear_algebra, cholesky_factors, rotations, correlations, meshgrids}


@pytest.mark.parametrize("fn,jit", [(fn, jit) for jit in (True, False) for fn in CASES
                                    if not (jit and fn in AS_PYTHON_ONLY)],
                         ids=lambda v: v.__name__ if callable(v) else "jit" if v else "python")
def test_compositions(fn, jit, rng):
    x = rng.uniform(0.1, 0.9, 12)
    value, g = srcad.value_and_grad(fn, mode="source", jit=jit)(x)
    assert value == pytest.approx(fn(x), rel=1e-12)
    check.compare(fn, (x,), [0], [g], rtol=1e-6, atol=1e-8)
    t = rng.standard_normal(12)
    value, tangent = srcad.jvp(fn, (x,), (t,), mode="source", jit=False)
    assert value == pytest.approx(fn(x), rel=1e-12)
    assert tangent == pytest.approx(check.along(fn, [x], [t]), rel=1e-6)


def correlated(a, v):
    weights = np.arange(1.0, 1.0 + a.shape[0] + v.shape[0])
    return np.sum(np.correlate(a, v, mode="same") * weights[:max(a.shape[0], v.shape[0])]) + \
        np.sum(np.correlate(a, v, "full") ** 2) + np.sum(np.correlate(a, v) ** 3)


def test_correlate_in_every_mode_and_length(jit, rng):
    # (an attack found mode 'same' shifted by one where v is longer and len(a) even: NumPy's
    # correlate centres that window unlike np.convolve's)
    g = srcad.value_and_grad(correlated, wrt=(0, 1), mode="source", jit=jit)
    for m, k in [(1, 1), (2, 3), (2, 7), (4, 5), (4, 8), (6, 7), (3, 2), (5, 5), (7, 4), (3, 6)]:
        a, v = rng.normal(size=m), rng.normal(size=k)
        value, grads = g(a, v)
        assert value == pytest.approx(correlated(a, v), rel=1e-12)
        check.compare(correlated, (a, v), [0, 1], list(grads), rtol=1e-6, atol=1e-8)


def nan_extremes(x):
    m = x.reshape(3, 4)
    return np.nanmax(x) * 2.0 + np.nanmin(x) + np.sum(np.nanmax(m, axis=1) * WEIGHTS[:3]) + \
        np.nansum(np.nanmin(m, 0, keepdims=True) * WEIGHTS.reshape(3, 4))


@pytest.mark.parametrize("missing", [[1, 6], [0, 4, 8]])  # (the second: a column of NaNs)
def test_nanmax_and_nanmin_ignore_nans(missing, jit, rng):
    x = rng.uniform(0.1, 0.9, 12)
    x[missing] = np.nan
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning) if len(missing) == 3 \
            else contextlib.nullcontext():
        expected = nan_extremes(x)
    value, g = srcad.value_and_grad(nan_extremes, mode="source", jit=jit)(x)
    assert value == pytest.approx(expected, rel=1e-12)
    present = ~np.isnan(x)
    assert np.all(g[~present] == 0.0)
    for k in np.flatnonzero(present):
        step = 1e-6 * np.eye(12)[k]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # (NumPy's of a slice of NaNs)
            fd = (nan_extremes(x + step) - nan_extremes(x - step)) / 2e-6
        assert g[k] == pytest.approx(fd, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("fn", CASES + [nan_extremes], ids=lambda f: f.__name__)
def test_the_tape_takes_every_composition(fn, rng):
    """(the tape refused np.correlate, np.vdot, np.select and seven more: a function using one
    that falls back to the tape, for recursion, failed)"""
    x = rng.uniform(0.1, 0.9, 12)
    if fn is nan_extremes:
        x[[0, 4, 8]] = np.nan  # (a column of NaNs: NaN's gradient is 0, as the source's)
        g = srcad.grad(fn, mode="tape")(x)
        np.testing.assert_allclose(g, srcad.grad(fn, mode="source", jit=False)(x), rtol=1e-13)
        x[[0, 4, 8]] = rng.uniform(0.1, 0.9, 3)
    g = srcad.grad(fn, mode="tape")(x)
    check.compare(fn, (x,), [0], [g], rtol=1e-6, atol=1e-8)


def correlated_on_the_tape(a, v):
    return correlated(a, v) + np.sum(np.ediff1d(a, to_begin=v[:1] * 2.0, to_end=[5.0]) ** 2) + \
        np.sum(np.ediff1d(v, to_begin=[a[0] * 2.0, 1.0], to_end=(v[0], a[-1])) ** 3)


def test_the_tapes_correlate_and_ediff1d_in_every_mode_and_length(rng):
    # (an attack found to_begin=[a[0] * 2.0] refused: a list holding a tensor)
    g = srcad.grad(correlated_on_the_tape, wrt=(0, 1), mode="tape")
    for m, k in [(1, 1), (2, 7), (4, 5), (4, 8), (5, 5), (7, 4), (3, 6)]:
        a, v = rng.normal(size=m), rng.normal(size=k)
        check.compare(correlated_on_the_tape, (a, v), [0, 1], list(g(a, v)), rtol=1e-6,
                      atol=1e-8)


def rot90_by_a_variable(x, k):
    return np.sum(np.rot90(x.reshape(3, 4), k))


def select_of_a_list_variable(x):
    conditions = [x > 0.5]
    return np.sum(np.select(conditions, [x]))


def ptp_into_out(x):
    out = np.empty(())
    return np.ptp(x, out=out)


def correlate_of_the_old_mode_name(x):
    return np.sum(np.correlate(x, x[:2], old_behavior=False))


def rollaxis_of_a_negative_axis(x):
    return np.sum(np.rollaxis(x.reshape(3, 4), -1))


def correlate_in_a_mode_variable(x, mode):
    return np.sum(np.correlate(x, x[:2], mode))


def split_into_a_variable_number(x, k):
    return np.sum(np.split(x, k)[0])


def least_squares_solution(a, b):
    return np.sum(np.linalg.lstsq(a, b)[0] ** 2)


def test_lstsq_drops_singular_values_where_numpy_does_and_computes_in_float64(rng):
    """(found by an attack: pinv's cutoff, 1e-15, kept a singular value lstsq's drops, and
    compiled float32 lstsq computed in float32 where NumPy computes in float64)"""
    u, v = np.linalg.qr(rng.normal(size=(5, 3)))[0], np.linalg.qr(rng.normal(size=(3, 3)))[0]
    for values, dtype in (([1.0, 0.5, 1.03e-15], np.float64), ([1.0, 0.5, 1e-3], np.float32)):
        a = (u @ np.diag(values) @ v.T).astype(dtype)
        b = rng.normal(size=5).astype(dtype)
        expected = least_squares_solution(a, b)
        for mode, jit in (("source", True), ("source", False), ("tape", True)):
            value = srcad.value_and_grad(least_squares_solution, mode=mode, jit=jit)(a, b)[0]
            assert value == pytest.approx(expected, rel=1e-6)


def lstsq_with_a_cutoff(x):
    return np.sum(np.linalg.lstsq(x.reshape(4, 3), x[:4], rcond=1e-3)[0])


def split_unequally(x):
    return np.sum(np.split(x[:5], 2)[0])


@pytest.mark.parametrize("fn, args, message", [
    (rot90_by_a_variable, (1,), "np.rot90 with k or axes other than integers written"),
    (select_of_a_list_variable, (), "np.select other than of as many conditions and choices"),
    (ptp_into_out, (), r"np.ptp\(x, out=out\) writes into an argument"),
    (correlate_of_the_old_mode_name, (), r"np.correlate other than np.correlate\(a, v, mode\)"),
    (correlate_in_a_mode_variable, ("same",), "np.correlate with a mode other than 'valid'"),
    (rollaxis_of_a_negative_axis, (), "np.rollaxis other than of an axis and a start written"),
    (split_into_a_variable_number, (2,), "np.split other than into a number of pieces or at"),
    (lstsq_with_a_cutoff, (), "np.linalg.lstsq with an rcond other than None"),
])
def test_what_a_composition_does_not_take_is_refused_by_name(fn, args, message, rng):
    with pytest.raises(srcad.UnsupportedError, match=message):
        srcad.grad(fn, mode="source")(rng.uniform(0.1, 0.9, 12), *args)


def test_split_into_unequal_pieces_raises_as_numpy_does(jit):
    with pytest.raises(ValueError, match="array split does not result in an equal division"):
        srcad.grad(split_unequally, mode="source", jit=jit)(np.ones(6))


def numpys_under_scipys_names(x):
    a = x[:9].reshape(3, 3) + 3.0 * np.eye(3)
    return np.sum(scipy.linalg.solve(a, x[9:])) + np.sum(scipy.linalg.inv(a)) + \
        scipy.linalg.det(a) + np.sum(scipy.special.expm1(x) * scipy.special.log1p(x)) + \
        np.sum(scipy.special.cbrt(x) + scipy.special.exp2(x)) + math.exp2(x[0])


def recursive_determinant(a, n):
    return scipy.linalg.det(a) if n == 0 else recursive_determinant(a * 1.01, n - 1)


def test_the_tape_takes_scipys_names_of_numpys_functions(rng):
    # (an attack found them refused on the tape, so in mode="auto" where a function falls back
    # to the tape for another reason: recursion)
    x = rng.uniform(0.1, 0.9, 12)
    g = srcad.grad(numpys_under_scipys_names, mode="tape")(x)
    check.compare(numpys_under_scipys_names, (x,), [0], [g], rtol=1e-6, atol=1e-8)
    a = rng.uniform(0.1, 0.9, (3, 3)) + np.eye(3)
    with pytest.warns(srcad.FallbackWarning, match="recursi"):
        g = srcad.grad(recursive_determinant)(a, 2)
    check.compare(recursive_determinant, (a, 2), [0], [g], rtol=1e-6, atol=1e-8)


def running_sums_of_a_number(x):
    return np.sum(np.cumsum(x) * 3.0) + np.sum(np.cumprod(x) * 2.0)


def test_running_sums_of_a_number_are_the_tapes():
    # (an attack found np.cumsum of a number with a 1-element array for its gradient, run as
    # Python: the source transform's kernels take arrays; NumPy's result is a 1-element array)
    with pytest.raises(srcad.UnsupportedError, match=r"np.cumsum\(x\) of arrays, not of a number"):
        srcad.grad(running_sums_of_a_number, mode="source")(2.0)
    with pytest.warns(srcad.FallbackWarning, match="not of a number"):
        g = srcad.grad(running_sums_of_a_number)(2.0)
    assert isinstance(g, float) and g == pytest.approx(5.0)


def product_of_arrays(x, y):
    return math.prod([x, y], start=2.0)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_math_prod_of_float32_arrays_stays_float32(mode, rng):
    # (an attack found the tape's math.prod giving float64, as math's functions of numbers do)
    x, y, dx, dy = (rng.uniform(0.1, 0.9, 3).astype(np.float32) for _ in range(4))
    value, tangent = srcad.jvp(product_of_arrays, (x, y), (dx, dy), mode=mode, jit=False)
    assert value.dtype == tangent.dtype == np.float32
    np.testing.assert_allclose(value, 2.0 * x * y, rtol=1e-6)
    np.testing.assert_allclose(tangent, 2.0 * (dx * y + x * dy), rtol=1e-6)
