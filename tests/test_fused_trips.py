"""A top-level loop whose trips are independent and whose one value read after it is a sum
runs each trip and its reversal together in the forward sweep (reverse.loops_to_fuse): the
adjoints it adds into are private, taken with the sum's adjoint as 1, and scaled by the sum's
adjoint in the reverse sweep. Each case is checked against finite differences on random
inputs, with the sum's adjoint 1 and not 1."""

import math
import re

import numpy as np
import pytest

import srcad
from srcad import check


def squared_sum(x, w):  # the sum's adjoint is 2 s: not 1
    s = 0.0
    for i in range(x.shape[0]):
        s += w[i % 3] * math.tanh(x[i]) ** 2
    return s * s + np.sum(w * w)


def newton_roots(a, b):  # a while loop per trip
    s = 0.0
    for i in range(a.shape[0]):
        z, step = 1.0, 1.0
        while abs(step) > 1e-12 * (1.0 + abs(z)):
            residual = z ** 3 + a[i] * z - b[i]
            step = residual / (3.0 * z ** 2 + a[i])
            z -= step
        s += z * z
    return math.log(1.0 + s)


def nearest_centre(X, M, scale):  # a workspace every trip fills, a reduction per trip
    n, d = X.shape
    diff = np.empty(d)
    best = np.empty(M.shape[0])
    total = 0.0
    for i in range(n):
        for k in range(M.shape[0]):
            for r in range(d):
                diff[r] = X[i, r] - M[k, r]
            best[k] = -scale * np.sum(diff * diff)
        m = np.max(best)
        total -= m + math.log(np.sum(np.exp(best - m)))
    return 0.5 * total + scale ** 2


def rows_and_scalars(x, c):  # an argument read by rows, a scalar every trip reads
    total = 0.0
    for i in range(1, x.shape[0]):
        t = x[i] - c * x[i - 1]
        if t > 0.0:
            total += t * t
        else:
            total -= 0.5 * t
    return math.sqrt(total + 1.0)


def inputs(fn, rng):
    return {squared_sum: lambda: (rng.uniform(-1, 1, 7), rng.uniform(0.5, 1.5, 3)),
            newton_roots: lambda: (rng.uniform(1, 2, 9), rng.uniform(-1, 1, 9)),
            nearest_centre: lambda: (rng.uniform(-1, 1, (6, 3)), rng.uniform(-1, 1, (4, 3)),
                                     rng.uniform(0.5, 1.5)),
            rows_and_scalars: lambda: (rng.uniform(-1, 1, 11), rng.uniform(0.2, 0.8))}[fn]()


def _fused(source):
    return re.search(r"\bb\w+_trips\b", source) is not None


FUNCTIONS = [squared_sum, newton_roots, nearest_centre, rows_and_scalars]


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_fused_trips_against_finite_differences(fn, jit, rng):
    args = inputs(fn, rng)
    wrt = tuple(range(len(args)))
    g = srcad.value_and_grad(fn, wrt=wrt, jit=jit)
    assert _fused(srcad.source(g, *args))
    value, grads = g(*args)
    assert value == pytest.approx(fn(*args), rel=1e-14)  # (the primal's order of the sum)
    check.compare(fn, args, list(wrt), grads, rtol=1e-5, atol=1e-7)
    value, pullback = srcad.vjp(fn, *args, wrt=wrt, jit=jit)
    for k, (a, b) in enumerate(zip(pullback(-2.5), grads, strict=True)):
        np.testing.assert_allclose(a, -2.5 * np.asarray(b), rtol=1e-12, atol=1e-14,
                                   err_msg=f"argument {k}")


def rows_read_after(x):  # an array the trips write by rows, read after the loop: not fused
    y = np.empty(x.shape[0])
    s = 0.0
    for i in range(x.shape[0]):
        y[i] = math.sin(x[i])
        s += y[i]
    return s * np.sum(y * y)


def test_explain_names_the_loops_reversed_trip_by_trip(rng):
    text = srcad.explain(newton_roots, *inputs(newton_roots, rng), wrt=(0, 1))
    assert "the loop at line 26 is reversed trip by trip as it runs" in text
    assert "'s', a sum" in text


def test_a_loop_whose_rows_are_read_after_it_is_not_fused(rng):
    x = rng.uniform(-1, 1, 6)
    g = srcad.grad(rows_read_after)
    assert not _fused(srcad.source(g, x))
    check.compare(rows_read_after, (x,), [0], [g(x)], rtol=1e-5, atol=1e-7)
