"""Fused loops over rows and slices whose bounds are not constants (`h[i]`, `w[b:2 * b]`), in
gradients that assume arrays combined elementwise have one shape: a view of each is taken
before the loop and checked with the others at its entry; a mismatch runs the gradient
generated without assumptions. The reverse sweep's restores (`c = rt.saved_array(...)`) run
before or after the loop, and a view of a row the loop writes is read where it is written.
Every case: the numbers against finite differences, compiled and as the generated Python, on
random inputs, with shapes that match and shapes that broadcast."""

import numpy as np
import pytest

import srcad
from srcad import check


def cell(params, state, seq):
    b = seq.shape[1]
    h = state[0].copy()
    c = state[1].copy()
    total = 0.0
    for t in range(seq.shape[0]):
        x = seq[t]
        f = 1.0 / (1.0 + np.exp(-(x * params[0:b] + h * params[b:2 * b])))
        g = np.tanh(x * params[2 * b:3 * b] + c)
        c = c * f + g
        h = np.tanh(c) * f
        total += np.sum(h * x)
    return total


def layers(w, hs):
    """Rows of a state written in place, read again through a view of the row."""
    n, b = hs.shape
    h = hs.copy()
    s = 0.0
    for t in range(3):
        for i in range(n):
            a = h[i] * w[i * b:(i + 1) * b] + h[i - 1]
            h[i] = np.sin(a) + 0.5 * h[i]
            y = h[i]
            s += np.sum(y * y * w[0:b])
    return s


def stacked(w, x):
    """Rows of a matrix the function makes, accumulated into (their adjoints too)."""
    n, b = x.shape
    acc = np.zeros((n, b))
    s = 0.0
    for i in range(n):
        z = x[i] * w[b:2 * b] + w[0:b]
        acc[i] += np.exp(-z * z)
        acc[n - 1 - i] -= 0.5 * z
        s += np.sum(acc[i] * acc[n - 1 - i])
    return s


def into_a_slice(x, v, n):
    y = np.zeros(x.shape[0])
    z = v * 2.0
    y[1:n] += z * z + x[1:n]
    return np.sum(np.sin(y) * x)


def grads(fn, args, wrt, jit):
    return srcad.grad(fn, wrt=wrt, mode="source", jit=jit)(*args)


def test_an_lstm_cell_is_fused_over_its_slices(jit, rng):
    b, steps = 5, 4
    args = rng.standard_normal(3 * b) * 0.5, rng.standard_normal((2, b)), \
        rng.standard_normal((steps, b))
    source = srcad.source(srcad.grad(cell, wrt=(0, 1, 2)), *args)
    assert "_view" in source and "rt.assumption_failed()" in source
    check.compare(cell, args, [0, 1, 2], grads(cell, args, (0, 1, 2), jit=jit))


@pytest.mark.parametrize("shape", [(3, 4), (1, 4), (2, 1)])
def test_rows_written_in_place_and_read_through_a_view(shape, jit, rng):
    n, b = shape
    args = rng.standard_normal(n * b) * 0.5, rng.standard_normal(shape)
    check.compare(layers, args, [0, 1], grads(layers, args, (0, 1), jit=jit))


@pytest.mark.parametrize("shape", [(4, 3), (1, 3), (3, 1)])
def test_rows_added_into_from_both_ends(shape, jit, rng):
    args = rng.standard_normal(2 * shape[1]), rng.standard_normal(shape)
    check.compare(stacked, args, [0, 1], grads(stacked, args, (0, 1), jit=jit))


@pytest.mark.parametrize("order", ["same first", "broadcasting first"])
def test_a_store_into_a_slice_that_broadcasts_runs_without_the_assumption(order, jit, rng):
    x = rng.standard_normal(6)
    same, broadcasting = (x, rng.standard_normal(3), 4), (x, rng.standard_normal(1), 4)
    g = srcad.grad(into_a_slice, wrt=(0, 1), mode="source", jit=jit)
    calls = [same, broadcasting] if order == "same first" else [broadcasting, same]
    for args in calls + calls:
        check.compare(into_a_slice, args, [0, 1], g(*args))
