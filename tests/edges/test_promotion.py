"""An element of a derivative array a loop adds into at an index the loop does not change is
summed in a local and added after the loop (compiler/promotion.py): gradients and tangents
against finite differences, compiled and as Python, for the forms that must be held (a
triangular loop's adjoint, a matrix-vector product's tangent) and those that must not (the
element read or written at another index in the loop, the adjoint of a view, a loop that
returns, a loop that runs no trip at an index out of range); the function's own arrays keep
Python's order of additions (found by an attack: their value changed)."""

import re

import numpy as np
import pytest

import srcad
from srcad import check


def matvec_loss(A, x):
    n, m = A.shape
    y = np.zeros(n)
    for i in range(n):
        for j in range(m):
            y[i] += A[i, j] * x[j]
    s = 0.0
    for i in range(n):
        s += np.sin(y[i])
    return s


def triangular(x, y, d):
    s = 0.0
    for c in range(d):  # (d may exceed len(y): the inner loop then runs no trip)
        for r in range(c + 1, y.shape[0]):
            s -= y[r] * x[c] * (1.0 + c)
    return s


def same_element_read_in_loop(x):
    y = np.zeros(3)
    for i in range(3):
        for j in range(x.shape[0]):
            y[i] += x[j] * y[i] + x[j]  # (y[i] is read in the loop: held too, exactly)
    return np.sum(y * y)


def other_index_in_loop(x):
    s = 0.0
    for c in range(x.shape[0]):
        for r in range(x.shape[0]):
            s += x[r] * x[c] * x[r]  # (bx[r] and bx[c] in one loop: bx[c] is not held)
    return s


def row_of_parameters(P, x):
    w = P[1]  # (its adjoint is a row of P's)
    s = 0.0
    for i in range(w.shape[0]):
        for j in range(x.shape[0]):
            s += w[i] * x[j] * x[j]
    return s


def returns_inside(x):
    s = 0.0
    for c in range(x.shape[0]):
        for r in range(x.shape[0]):
            s += x[c] * np.cos(x[r])
            if s > 2.0:
                return s
    return s


@pytest.mark.parametrize("fn, make_args, wrt", [
    (matvec_loss, lambda rng: (rng.standard_normal((4, 5)), rng.standard_normal(5)), (0, 1)),
    (triangular, lambda rng: (rng.standard_normal(6), rng.standard_normal(6), 6), (0, 1)),
    (other_index_in_loop, lambda rng: (rng.standard_normal(5),), (0,)),
    (row_of_parameters, lambda rng: (rng.standard_normal((3, 4)), rng.standard_normal(5)),
     (0, 1)),
    (returns_inside, lambda rng: (rng.uniform(0.1, 0.5, 6),), (0,)),
    (returns_inside, lambda rng: (rng.uniform(0.5, 1.0, 6),), (0,)),
])
def test_gradients(fn, make_args, wrt, jit, rng):
    args = make_args(rng)
    value, grads = srcad.value_and_grad(fn, wrt=wrt, mode="source", jit=jit)(*args)
    assert value == pytest.approx(fn(*args), rel=1e-12)
    check.compare(fn, args, list(wrt), list(grads))


def test_held_in_a_local(rng):
    """A triangular loop's adjoint holds x's element, a matrix-vector product's tangent y's;
    the product itself (the primal) is not held."""
    A, x = rng.standard_normal((4, 5)), rng.standard_normal(5)
    assert re.search(r"_bx\w*_acc \+=", srcad.source(srcad.grad(triangular), x, x, 5))
    assert "_acc" not in srcad.source(srcad.grad(other_index_in_loop), x)
    assert "_y_acc" not in srcad.source(srcad.grad(matvec_loss, wrt=(0, 1)), A, x)
    assert "_acc +=" in srcad.source(srcad.jvp, matvec_loss, (A, x), (A, x))


def negative_zero_kept(x):
    y = -np.zeros(2)  # y[0] is -0.0, and -0.0 + 0.0 is 0.0
    for j in range(x.shape[0]):
        y[0] += x[j] * 0.0
    return np.arctan2(y[0], -1.0) + x[0]  # pi, not -pi


def cancelling_terms(x):
    y = np.ones(2)
    for j in range(x.shape[0]):
        y[0] += x[j] * 1e16  # (1 + 1e16) - 1e16 is 0.0
    return y[0] + y[1] + x[2]


@pytest.mark.parametrize("fn, x", [(negative_zero_kept, [0.3, -0.7, 1.1, 0.2]),
                                   (cancelling_terms, [1.0, -1.0, 0.0])])
def test_values_keep_pythons_order(fn, x, jit):
    x = np.array(x)
    value, g = srcad.value_and_grad(fn, mode="source", jit=jit)(x)
    assert value == fn(x)
    assert srcad.jvp(fn, (x,), (np.ones_like(x),), jit=jit)[0] == fn(x)
    check.compare(fn, (x,), [0], [g])


def test_element_read_in_the_loop(jit, rng):
    x = rng.uniform(-0.3, 0.3, 5)
    g = srcad.grad(same_element_read_in_loop, mode="source", jit=jit)(x)
    check.compare(same_element_read_in_loop, (x,), [0], [g])


def test_no_trip_at_an_index_out_of_range(jit, rng):
    """c runs past x's end where the inner loop is empty: the held element is never touched
    (reading bx[c] before the loop would read past the array)."""
    x, y = rng.standard_normal(4), rng.standard_normal(4)
    g = srcad.grad(triangular, mode="source", jit=jit)(x, y, 40)
    expected = [-(1.0 + c) * np.sum(y[c + 1:]) for c in range(4)]
    np.testing.assert_allclose(g, expected, rtol=1e-12)


def test_tangents(jit, rng):
    A, x = rng.standard_normal((4, 5)), rng.standard_normal(5)
    dA, dx = rng.standard_normal((4, 5)), rng.standard_normal(5)
    value, tangent = srcad.jvp(matvec_loss, (A, x), (dA, dx), jit=jit)
    eps = 1e-6
    expected = (matvec_loss(A + eps * dA, x + eps * dx) -
                matvec_loss(A - eps * dA, x - eps * dx)) / (2 * eps)
    assert value == pytest.approx(matvec_loss(A, x), rel=1e-12)
    assert tangent == pytest.approx(expected, rel=1e-6)
