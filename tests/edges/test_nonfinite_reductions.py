"""NaN, inf and empty axes in norms, logsumexp, max and powers: the compiled gradient and the
Python one give NumPy's values, and the same derivatives (found by a helper's attack comparing
the two, helper-144: Numba's inf, -inf, 1 and -1 norms skip NaN, its -inf matrix norm of rows of
infinite sums was the largest float, its logsumexp of an empty axis raised, and the Python max's
adjoint multiplied an infinite adjoint by 0). Values against NumPy's, gradients where finite
against finite differences."""

import warnings

import numpy as np
import pytest
import scipy.special

import srcad
from srcad import check


def _both(fn, x):
    """(value, gradient) compiled and as Python, with NumPy's warnings silenced."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return [srcad.value_and_grad(fn, jit=jit)(x) for jit in (True, False)]


def _same(a, b):
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(np.nan_to_num(a), np.nan_to_num(b), rtol=1e-12)


VECTOR_ORDERS = [np.inf, -np.inf]
MATRIX_ORDERS = [1, -1, np.inf, -np.inf]


@pytest.mark.parametrize("order", VECTOR_ORDERS + MATRIX_ORDERS)
def test_norms_of_arrays_holding_nan_are_nan(order, rng):
    x = rng.uniform(-1.0, 1.0, (3, 4))
    x[1, 2] = np.nan
    if order in VECTOR_ORDERS:
        norms = [lambda a: np.linalg.norm(a[0], order) + np.linalg.norm(a[1], order),
                 lambda a: np.sum(np.linalg.norm(a, order, axis=1))]
    else:
        norms = [lambda a: np.linalg.norm(a, order)]
    for fn in norms:
        for value, grad in _both(fn, x):
            assert np.isnan(value) and np.isnan(fn(x))
            assert np.isnan(grad[1]).all()
        for value, grad in _both(fn, np.nan_to_num(x)):  # (and the finite ones still right)
            assert value == pytest.approx(fn(np.nan_to_num(x)), rel=1e-14)


def test_the_smallest_row_sum_of_infinite_rows_is_inf():
    y = np.array([[np.inf, 1.0], [-np.inf, 2.0]])
    for fn in (lambda a: np.linalg.norm(a, -np.inf), lambda a: np.linalg.norm(a, -1)):
        (value, grad), (value_py, grad_py) = _both(fn, y)
        assert value == value_py == fn(y)
        _same(grad, grad_py)


def test_empty_axes_and_matrices():
    lse = lambda a: np.sum(scipy.special.logsumexp(a, axis=1))
    for value, grad in _both(lse, np.zeros((3, 0))):
        assert value == -np.inf and grad.shape == (3, 0)
    for order in (2, "nuc"):
        fn = lambda a: np.linalg.norm(a, order)  # noqa: B023
        for value, grad in _both(fn, np.zeros((0, 4))):
            assert value == 0.0 and grad.shape == (0, 4)
    for order, shape in ((-1, (3, 0)), (-np.inf, (0, 4))):  # (no sums to take the least of)
        with pytest.raises(ValueError, match="zero-size array"):
            np.linalg.norm(np.zeros(shape), order)
        for jit in (True, False):
            with pytest.raises(ValueError, match="zero-size array"):
                srcad.grad(lambda a: np.linalg.norm(a, order), jit=jit)(  # noqa: B023
                    np.zeros(shape))


def test_an_infinite_adjoint_of_a_max_goes_to_the_max_only(rng):
    x = np.array([2.5, -0.4, np.inf])
    fns = [lambda a: np.max(a) ** 2, lambda a: np.ptp(a) ** 2,
           lambda a: np.sum(np.max(a, axis=-1, keepdims=True) * a)]
    for fn in fns:
        (_, grad), (_, grad_py) = _both(fn, x)
        _same(grad, grad_py)
        assert not np.isnan(grad).any()
    x = rng.uniform(-1.0, 1.0, 5)
    for fn in fns:
        check.compare(fn, [x], [0], [_both(fn, x)[1][1]])


def test_the_half_power_of_an_array_is_numpy_s_square_root(rng):
    x = np.array([-np.inf, -0.0, 4.0, 0.25])
    for fn in (lambda a: np.sum(a ** 0.5 * a), lambda a: np.sum(np.power(a, 0.5))):
        with np.errstate(invalid="ignore"):
            expected = fn(x)
        (value, grad), (value_py, grad_py) = _both(fn, x)
        assert np.isnan(expected) and np.isnan(value) and np.isnan(value_py)
        _same(grad, grad_py)
        y = rng.uniform(0.5, 2.0, 4)
        check.compare(fn, [y], [0], [_both(fn, y)[0][1]])
    assert srcad.grad(lambda v: v ** 0.5)(-np.inf) == 0.0  # (a number's: Python's power)
