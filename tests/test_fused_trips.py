"""A top-level loop whose trips are independent and whose one value read after it is a sum
added into the output runs each trip and its reversal together in the forward sweep
(reverse.loops_to_fuse): the adjoints it adds into are private, each trip adding with the
sum's adjoint (plus or minus the output's seed), and added to the gradient's in the reverse
sweep. Each case is checked against finite differences on random inputs, with the output's
seed 1 and not 1."""

import math
import re

import numpy as np
import pytest

import srcad
from srcad import check


def squared_sum(x, w):  # the sum's adjoint is minus the output's seed
    s = 0.0
    for i in range(x.shape[0]):
        s += w[i % 3] * math.tanh(x[i]) ** 2
    return np.sum(w * w) - s


def newton_roots(a, b):  # a while loop per trip
    s = 0.0
    for i in range(a.shape[0]):
        z, step = 1.0, 1.0
        while abs(step) > 1e-12 * (1.0 + abs(z)):
            residual = z ** 3 + a[i] * z - b[i]
            step = residual / (3.0 * z ** 2 + a[i])
            z -= step
        s += z * z
    return s


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
    return total + scale ** 2


def rows_and_scalars(x, c):  # an argument read by rows, a scalar every trip reads
    total = 0.0
    for i in range(1, x.shape[0]):
        t = x[i] - c * x[i - 1]
        if t > 0.0:
            total += t * t
        else:
            total -= 0.5 * t
    return c * c + total


def sum_of_several_terms(x, c):  # (was kept serial: `s = s + a + b` is two additions)
    s = 0.0
    for i in range(x.shape[0] - 1):
        a = x[i + 1] - c * x[i] * x[i]
        b = 1.0 - x[i]
        s = s + 100.0 * a * a - b * b + x[i] * c
    return s


def inputs(fn, rng):
    return {squared_sum: lambda: (rng.uniform(-1, 1, 7), rng.uniform(0.5, 1.5, 3)),
            newton_roots: lambda: (rng.uniform(1, 2, 9), rng.uniform(-1, 1, 9)),
            nearest_centre: lambda: (rng.uniform(-1, 1, (6, 3)), rng.uniform(-1, 1, (4, 3)),
                                     rng.uniform(0.5, 1.5)),
            rows_and_scalars: lambda: (rng.uniform(-1, 1, 11), rng.uniform(0.2, 0.8)),
            sum_of_several_terms: lambda: (rng.uniform(-1, 1, 8), rng.uniform(0.5, 1.5))}[fn]()


def _fused(source):
    return re.search(r"\bb\w+_trips\b", source) is not None


FUNCTIONS = [squared_sum, newton_roots, nearest_centre, rows_and_scalars, sum_of_several_terms]


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


def overflowing_terms(a, w):  # (found by an attack: the terms summed unscaled overflowed)
    s = 0.0
    for i in range(a.shape[0]):
        s += math.exp(w * a[i])
    return math.log(s)


def square_root_of_a_sum(x, c):  # (found by an attack: inf * 0 where the loop adds nothing)
    s = 0.0
    for i in range(1, x.shape[0]):
        s += x[i] * c
    return np.sqrt(s) + x[0] + c


def test_a_sum_used_otherwise_than_added_into_the_output_is_not_fused():
    """Scaling the trips' sum by an adjoint of 1e-300 or inf is not scaling each trip: such
    loops keep the reverse sweep that scales trip by trip."""
    a, w = np.array([1e10, 0.99e10]), 6.9e-8
    g = srcad.grad(overflowing_terms, wrt=1)
    assert not _fused(srcad.source(g, a, w))
    terms = np.exp(w * a - np.max(w * a))
    assert g(a, w) == pytest.approx(np.sum(a * terms) / np.sum(terms), rel=1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.array([1.0, 0.5, -0.5])
        np.testing.assert_array_equal(srcad.grad(square_root_of_a_sum)(x, 1.0),
                                      [1.0, np.inf, np.inf])
        assert srcad.grad(square_root_of_a_sum, wrt=1)(np.array([2.0]), 1.0) == 1.0


def rows_read_after(x):  # an array the trips write by rows, read after the loop: not fused
    y = np.empty(x.shape[0])
    s = 0.0
    for i in range(x.shape[0]):
        y[i] = math.sin(x[i])
        s += y[i]
    return s * np.sum(y * y)


def test_explain_names_the_loops_reversed_trip_by_trip(rng):
    text = srcad.explain(newton_roots, *inputs(newton_roots, rng), wrt=(0, 1))
    line = newton_roots.__code__.co_firstlineno + 2
    assert f"the loop at line {line} is reversed trip by trip as it runs" in text
    assert "'s', a sum added into the output" in text


def test_a_loop_whose_rows_are_read_after_it_is_not_fused(rng):
    x = rng.uniform(-1, 1, 6)
    g = srcad.grad(rows_read_after)
    assert not _fused(srcad.source(g, x))
    check.compare(rows_read_after, (x,), [0], [g(x)], rtol=1e-5, atol=1e-7)


def large_terms(p, idx):
    total = 0.0
    for i in range(idx.shape[0]):
        total += 1e307 * p[idx[i]]
    return 1.0 - total


@pytest.mark.parametrize("parallel", [False, True])
def test_the_trips_add_with_the_cotangent_not_times_it_after(parallel):
    """(found by an attack: the trips summed with a seed of 1 overflowed to inf, then inf
    times a cotangent of 1e-3 stayed inf and times 0 gave NaN)"""
    p, idx = np.array([0.5, 2.0]), np.zeros(100, dtype=np.int64)
    _, pullback = srcad.vjp(large_terms, p, idx, parallel=parallel)
    assert _fused(srcad.source(srcad.grad(large_terms), p, idx))
    np.testing.assert_array_equal(pullback(0.0), [0.0, 0.0])
    np.testing.assert_allclose(pullback(1e-3), [-1e306, 0.0], rtol=1e-12)
    np.testing.assert_allclose(pullback(-1e-5), [1e304, 0.0], rtol=1e-12)


def sum_then_rebound(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i]
    t = s + 1.0
    if x[0] > 0.0:
        t = 3.0 * x[0]
    return t


def test_a_chain_to_the_output_rebound_after_is_not_fused(rng):
    """The sum's adjoint is the seed's only if nothing rebinds its chain to the output."""
    for x in (rng.uniform(0.1, 1, 5), rng.uniform(-1, -0.1, 5)):
        g = srcad.grad(sum_then_rebound)
        assert not _fused(srcad.source(g, x))
        check.compare(sum_then_rebound, (x,), [0], [g(x)], rtol=1e-5, atol=1e-7)


def sum_beside_an_array(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i]
    return 2.0 * x - s


def test_a_sum_added_into_an_array_output_is_not_fused(rng):
    """An array output's cotangent is an array: the sum's adjoint is its sum, not the seed."""
    x, cotangent = rng.uniform(-1, 1, 4), rng.uniform(-1, 1, 4)
    _, pullback = srcad.vjp(sum_beside_an_array, x)
    np.testing.assert_allclose(pullback(cotangent), 2 * cotangent - 2 * x * np.sum(cotangent),
                               rtol=1e-12)


def packed_rows(P, x):  # a counter indexes P; an index out of range at the last trip only
    total = 0.0
    for i in range(x.shape[0]):
        idx = 0
        for r in range(x.shape[0] - i):
            total += P[i, idx] * x[r] * x[i]
            idx += 1
    return total


def test_a_trips_reversal_is_not_checked_again_and_its_forward_part_is(jit, rng):
    x = rng.normal(size=4)
    text = srcad.source(srcad.grad(packed_rows, wrt=(0, 1)), rng.normal(size=(4, 4)), x)
    reversal = text[text.index("# line"):text.index("# reverse sweep")]  # (in the trips)
    assert reversal
    assert "check_index" in text[:text.index("# line")] and "check_index" not in reversal
    P = rng.normal(size=(4, 4))
    check.compare(packed_rows, (P, x), [0, 1], srcad.grad(packed_rows, wrt=(0, 1), jit=jit)(P, x),
                  rtol=1e-5, atol=1e-7)
    with pytest.raises(IndexError, match=r"index 4 is out of bounds for axis 1 with size 4"):
        srcad.grad(packed_rows, wrt=(0, 1), jit=jit)(P[:, :4], np.ones(5))


def damped_rows(x, w):  # an inner loop of as many trips every trip: its room is made once
    total = 0.0
    for i in range(x.shape[0]):
        t = 1.0
        for k in range(w.shape[0]):
            t = math.sin(t * w[k] + x[i])
        total += t * t
    return total


def ragged_rows(x, counts, w):  # an inner loop of a trip's own count: room made per trip
    total = 0.0
    for i in range(x.shape[0]):
        m = counts[i]
        t = 1.0
        for k in range(m):
            t = math.sin(t * w[k] + x[i])
        total += t * t
    return total


def test_room_for_an_inner_loops_saves_is_made_once_only_when_its_trips_do_not_vary(jit, rng):
    """The saves of an inner loop of a fused loop's trip go into buffers every trip reuses (a
    trip pops all it pushed): grown once before the trips where the inner loop's trip count is
    the same for every trip, else before the inner loop of each trip (counts rising trip after
    trip would outgrow a buffer made for the first)."""
    x, w = rng.uniform(-1, 1, 6), rng.uniform(0.5, 1.5, 9)
    g = srcad.grad(damped_rows, wrt=(0, 1), jit=jit)
    text = srcad.source(g, x, w)
    assert _fused(text) and text.index("rt.grow(") < text.index("for i in range(")
    check.compare(damped_rows, (x, w), [0, 1], g(x, w), rtol=1e-5, atol=1e-7)
    counts = np.array([0, 1, 2, 4, 7, 9])
    g = srcad.grad(ragged_rows, wrt=(0, 2), jit=jit)
    text = srcad.source(g, x, counts, w)
    assert _fused(text) and text.index("rt.grow(") > text.index("for i in range(")
    check.compare(ragged_rows, (x, counts, w), [0, 2], g(x, counts, w), rtol=1e-5, atol=1e-7)
