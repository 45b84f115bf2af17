"""Save buffers of loop nests: a nest over ranges fixed at entry grows its buffers once, before
the nest, to their final size (they grew by doubling at every trip of the loops around the
saving loop); a loop whose range changes in the loop around it (or is set after it), one
under an `if` or a `while` grow where they did, and a `for` that may `break` grows as it goes
(room for every trip of its range was made before it: `range(10**12)` ran out of memory).
Gradients against finite differences, compiled and as Python."""

import numpy as np
import pytest

import srcad
from srcad import check


def fixed_nest(x, W):
    s = 0.0
    for i in range(W.shape[0]):
        for k in range(W.shape[1]):
            for r in range(x.shape[0]):
                s = np.sin(s + W[i, k] * x[r])
    return s


def triangular_nest(x):
    s = 0.0
    for c in range(x.shape[0]):
        for r in range(c, x.shape[0]):
            s = np.cos(s) + x[r] * x[c]
    return s


def guarded_nest(x, W):
    s = 0.0
    for i in range(W.shape[0]):
        if W[i, 0] > 0.0:
            for r in range(x.shape[0]):
                s = np.tanh(s + W[i, 1] * x[r])
    return s


def nest_with_break(x, W):
    s = 0.0
    for i in range(W.shape[0]):
        for r in range(x.shape[0]):
            s = np.sin(s + W[i, 0] * x[r])
        if s > 0.5:
            break
    return s


def range_set_after_the_loop(x, W):
    s = 0.0
    n = 2
    for i in range(W.shape[0]):
        for r in range(n):  # (2 trips first, then len(x): its buffer grows at the second)
            s = np.sin(s + W[i, 0] * x[r])
        n = x.shape[0]
    return s


def range_from_an_element_written_in_the_nest(x, cnt, n):
    s = 0.0
    for i in range(n):
        for r in range(cnt[0]):  # (sized once from cnt[0] at entry, it wrote past the buffer)
            s = np.sin(s + x[r % x.shape[0]])
        cnt[0] += 2
    return s


def target_named_in_its_range(x, n, m):
    # (the reverse sweep re-read m + 2 after the loop: a trip too many, a write past bx's end)
    s = 0.0
    for i in range(n):
        for m in range(m + 2):  # noqa: B020, PLR1704
            s = np.sin(s + x[m % x.shape[0]])
    for m in range(m + 1):  # noqa: B020
        s = np.cos(s) * x[m % x.shape[0]]
    return s


def nest_with_while(x, W):
    s = 0.0
    for i in range(W.shape[0]):
        r = 0
        while r < x.shape[0]:
            s = np.sin(s + W[i, 0] * x[r])
            r += 1
    return s


def iterations_until_converged(x):
    s = 0.0
    for it in range(10 ** 12):
        s = 0.5 * s + np.sin(x[it % x.shape[0]]) * x[0]
        if it > 40:
            break
    return s


def inner_search_that_breaks(x, n):
    t = 0.0
    for j in range(x.shape[0]):
        s = x[j]
        for i in range(2, n, 3):
            s = s * 1.1 + x[(i + j) % x.shape[0]]
            if s > 2.5:
                break
        t = t + s * s
    return t


@pytest.mark.parametrize("fn, make_args", [
    (iterations_until_converged, lambda x: (x,)),
    (inner_search_that_breaks, lambda x: (x, 10 ** 12)),
    (inner_search_that_breaks, lambda x: (x, 200)),
    (inner_search_that_breaks, lambda x: (x, 2)),  # (no trip)
])
def test_a_loop_that_breaks_saves_only_the_trips_it_runs(fn, make_args, jit, rng):
    x = rng.uniform(0.2, 0.8, 4)
    value, g = srcad.value_and_grad(fn, mode="source", jit=jit)(*make_args(x))
    assert value == pytest.approx(fn(*make_args(x)), rel=1e-12)
    check.compare(lambda x: fn(*make_args(x)), (x,), [0], [g])


@pytest.mark.parametrize("fn, wrt", [(fixed_nest, (0, 1)), (guarded_nest, (0, 1)),
                                     (nest_with_break, (0, 1)), (nest_with_while, (0, 1)),
                                     (range_set_after_the_loop, (0, 1))])
def test_nests(fn, wrt, jit, rng):
    args = (rng.uniform(-1.0, 1.0, 4), rng.uniform(-1.0, 1.0, (5, 3)))
    value, grads = srcad.value_and_grad(fn, wrt=wrt, mode="source", jit=jit)(*args)
    assert value == pytest.approx(fn(*args), rel=1e-12)
    check.compare(fn, args, list(wrt), list(grads))


@pytest.mark.parametrize("fn, make_args", [
    (range_from_an_element_written_in_the_nest, lambda x: (x, np.array([2]), 6)),
    (target_named_in_its_range, lambda x: (x, 2, 1)),
])
def test_bounds_that_change_in_the_nest(fn, make_args, jit, rng):
    """Found by an attack: compiled, the first crashed the process (free(): invalid next size)
    and the second returned a shifted gradient."""
    x = rng.uniform(-1.0, 1.0, 5)
    value, g = srcad.value_and_grad(fn, mode="source", jit=jit)(*make_args(x))
    assert value == pytest.approx(fn(*make_args(x)), rel=1e-12)
    check.compare(lambda x: fn(*make_args(x)), (x,), [0], [g])


def test_triangular_nest(jit, rng):
    x = rng.uniform(-1.0, 1.0, 6)
    g = srcad.grad(triangular_nest, mode="source", jit=jit)(x)
    check.compare(triangular_nest, (x,), [0], [g])


def test_fixed_nest_grows_once_before_it(rng):
    x, W = rng.standard_normal(4), rng.standard_normal((5, 3))
    source = srcad.source(srcad.grad(fixed_nest, wrt=(0, 1)), x, W)
    forward = source[:source.index("# reverse sweep")]
    first_loop = forward.index("\n    for ")
    assert "rt.grow(" in forward[:first_loop]
    assert "rt.grow(" not in forward[first_loop:]
    # a range that changes with the loop around it: grown at each trip of that loop
    source = srcad.source(srcad.grad(triangular_nest), x)
    forward = source[:source.index("# reverse sweep")]
    assert "rt.grow(" in forward[forward.index("\n    for "):]
