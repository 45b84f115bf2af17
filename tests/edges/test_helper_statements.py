"""A helper called as a statement, for what it writes into its arguments (`add_into(g, k, v)`),
is inlined as any helper is (it was refused as "an expression statement": found by an attack).
Gradients, tangents and Hessian-vector products against central finite differences on random
inputs, compiled and as Python; the caller's arrays are never changed."""

import numpy as np
import pytest

import srcad
from srcad import check


def add_into(g, k, v):
    g[k] += v


def scatter(x, idx):
    g = np.zeros(3)
    for i in range(x.shape[0]):
        add_into(g, idx[i], x[i] ** 2)
    return np.sum(g ** 3)


def add_rows(out, i, row):
    if row[0] < -10.0:
        return  # (a bare return: None)
    out[i, :] += row * row
    out[i, 0] -= row[1]


def rows(x, idx):
    out = np.ones((3, 2))
    for i in range(x.shape[0] // 2):
        add_rows(out, idx[i], x[2 * i:2 * i + 2])
    return np.sum(np.sin(out))


def scale_first(y, c):
    y[0] = y[0] * c
    return c * c  # (its result unused by the caller)


def shift_all(y, c):
    for k in range(y.shape[0]):
        y[k] += c * k
    scale_first(y, c)  # (a helper calling one as a statement)


def into_argument(x, idx):
    # writes into the caller's argument: the gradient's copy, never the caller's array
    shift_all(x, x[1])
    return np.sum(x ** 3) + idx[0]


def rebinds(y, c):
    y = y * c  # (a new array: the caller's is not changed)
    y[0] = 0.0
    return y


def rebinding(x, idx):
    rebinds(x, 2.0)
    return np.sum(x * x)


def closure(x, idx):
    acc = np.zeros(2)

    def push(k, v):
        acc[k % 2] += v * v

    for i in range(x.shape[0]):
        push(idx[i], x[i])
    return acc[0] * acc[1]


def accumulate(g, v):
    g += v  # (NumPy updates the caller's array: was refused as aliasing, found by an attack)


def scale(g, c):
    g *= c
    return g


def add_scalar(s, v):
    s += v  # (a number: the caller's is not changed)
    return s


def renew_then_add(g, v):
    g = g * 2.0  # (a new array: the update below is not the caller's)
    g += v
    return g


def updates_in_place(x, idx):
    g = np.zeros(2)
    s = 1.0
    for i in range(x.shape[0]):
        accumulate(g, x[i] * x[(i + 1) % 6])
        add_scalar(s, x[i])
        if x[i] > 0.0:
            scale(g, 1.0 + x[i])
        renew_then_add(g, x[i])
    return np.sum(g * g) + s * x[0]


PROGRAMS = [scatter, rows, into_argument, rebinding, closure, updates_in_place]


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
@pytest.mark.parametrize("fn", PROGRAMS, ids=[f.__name__ for f in PROGRAMS])
def test_helpers_called_for_what_they_write(fn, jit, rng):
    x = rng.uniform(-1.0, 1.0, 6)
    idx = np.array([0, 2, 1, 2, 0, 1])
    before = x.copy()
    value, g = srcad.value_and_grad(fn, mode="source", jit=jit)(x, idx)
    np.testing.assert_array_equal(x, before)
    assert value == pytest.approx(fn(x.copy(), idx), rel=1e-12)
    t = rng.normal(size=6)
    expected = check.along(fn, [x.copy(), idx], [t, None])
    assert np.sum(g * t) == pytest.approx(expected, rel=1e-6, abs=1e-9)
    _, tangent = srcad.jvp(fn, (x, idx), (t, None), mode="source", jit=jit)
    assert tangent == pytest.approx(expected, rel=1e-6, abs=1e-9)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("fn", [scatter, into_argument, updates_in_place])
def test_hvp_through_a_helper_statement(fn, rng):
    x = rng.uniform(-1.0, 1.0, 6)
    idx = np.array([0, 2, 1, 2, 0, 1])
    v = rng.normal(size=6)
    hv = srcad.hvp(fn)(x, idx, v)
    eps = 1e-5
    grad = srcad.grad(fn)
    fd = (grad(x + eps * v, idx) - grad(x - eps * v, idx)) / (2 * eps)
    np.testing.assert_allclose(hv, fd, rtol=1e-5, atol=1e-7)


def test_a_statement_calling_an_unknown_function_is_still_refused():
    def f(x):
        abs(x)  # (a call made for its effect, print(x), is made: tests/edges/test_side_effects)
        return x * 2.0
    with pytest.raises(srcad.UnsupportedError, match="an expression whose value is unused"):
        srcad.grad(f, mode="source")(1.0)


class Accumulator:
    def __init__(self):
        self.values = []

    def add(self, v):
        self.values.append(v)


def test_a_method_called_for_what_it_changes_is_named_so():
    # (found by an attack: the advice was "assign its result or remove it")
    def f(x):
        total = Accumulator()
        total.add(x)
        return x * 2.0
    with pytest.raises(srcad.UnsupportedError, match=r"a method called for what it changes "
                                                     r"\('total.add\(x\)'\)"):
        srcad.grad(f, mode="source")(1.0)
    with pytest.warns(srcad.FallbackWarning, match="a method called for what it changes"):
        assert srcad.grad(f)(1.5) == 2.0
