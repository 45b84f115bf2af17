"""A variable read where no path assigned it, and a function that can end without a return.
Found by an attack: compiled code read 0 (Numba zero-initialises it) and returned 0.0 for the
missing return, where Python raises; the generated Python named srcad's own `_ret`. Now both
raise in every mode, naming the variable and line, and the values where Python runs are
right. Writing these tests found a wrong gradient: a variable first assigned in an `if` in a
loop and read after the `if` (`read_in_the_next_trip`) was "recomputed" in the reverse sweep
where its `if` is reversed, which gave later reads of earlier trips the later trip's value;
it is now saved (transforms/saving.py `recomputable`)."""

import math

import numpy as np
import pytest

import srcad
from srcad import check


def made_in_a_branch(x):
    if x > 0:
        t = 2 * x
    return t * math.sin(x)


def made_in_a_loop(x, n):
    for i in range(n):
        last = x[i] * x[i]
    return last * i


def read_in_the_next_trip(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0:
            prev = x[i]
        s += prev * x[i]
    return s


def ends_without_a_return(x):
    if x > 0:
        return x * x


def _half_helper(x):
    for i in range(3):
        if x > i:
            return x * i


def calls_a_helper_that_may_end(x):
    return _half_helper(x) + x


def _doubled_if_positive(a):
    if a > 0:
        r = a * 2
    return r


def helper_in_a_loop(x):
    s = 0.0
    for i in range(2):
        s += _doubled_if_positive(x[i]) * x[i]
    return s


@pytest.mark.parametrize("jit", [False, True])
def test_values_where_every_read_is_assigned_and_errors_where_not(jit, rng):
    x = rng.uniform(0.5, 1.5)
    grad = srcad.grad(made_in_a_branch, jit=jit)(x)
    assert grad == pytest.approx(check.numeric_grad(made_in_a_branch, (x,), 0), rel=1e-6)
    with pytest.raises(UnboundLocalError, match=r"'t' at test_unassigned_reads.py:\d+"):
        srcad.grad(made_in_a_branch, jit=jit)(-x)
    v = rng.uniform(0.5, 1.5, 4)
    check.compare(made_in_a_loop, (v, 4), [0], [srcad.grad(made_in_a_loop, jit=jit)(v, 4)],
                  rtol=1e-6, atol=1e-8)
    with pytest.raises(UnboundLocalError, match="'last'"):
        srcad.grad(made_in_a_loop, jit=jit)(v, 0)
    check.compare(read_in_the_next_trip, (v,), [0],
                  [srcad.grad(read_in_the_next_trip, jit=jit)(v)], rtol=1e-6, atol=1e-8)
    with pytest.raises(UnboundLocalError, match="'prev'"):
        srcad.grad(read_in_the_next_trip, jit=jit)(-v)


def test_a_helper_called_in_a_loop_starts_unassigned_at_each_call(rng):
    """(found by an attack: its flag was set once per gradient call, so the second call read
    the first call's `r`)"""
    x = rng.uniform(0.5, 1.5, 2)
    grad = srcad.grad(helper_in_a_loop, jit=False)(x)
    assert grad == pytest.approx(4 * x, rel=1e-12)
    x[1] = -x[1]
    for call in (lambda: srcad.grad(helper_in_a_loop, jit=False)(x),
                 lambda: srcad.jvp(helper_in_a_loop, (x,), (np.ones(2),), jit=False)):
        with pytest.raises(UnboundLocalError, match=r"variable 'r' at test_unassigned_reads"):
            call()


def test_forward_mode_raises_too(rng):
    x = rng.uniform(0.5, 1.5)
    _, tangent = srcad.jvp(made_in_a_branch, (x,), (1.0,), jit=False)
    assert tangent == pytest.approx(check.numeric_grad(made_in_a_branch, (x,), 0), rel=1e-6)
    with pytest.raises(UnboundLocalError, match="'t'"):
        srcad.jvp(made_in_a_branch, (-x,), (1.0,), jit=False)


@pytest.mark.parametrize("fn", [ends_without_a_return, calls_a_helper_that_may_end])
def test_reaching_the_end_without_a_return_is_an_error(fn, rng):
    x = rng.uniform(3.5, 4.5)
    assert srcad.grad(fn, jit=False)(x) == pytest.approx(check.numeric_grad(fn, (x,), 0),
                                                            rel=1e-6)
    for jit in (False, True):
        with pytest.raises(TypeError, match="reached its end after the statement at "
                                            r"test_unassigned_reads.py:\d+ without a return"):
            srcad.grad(fn, jit=jit)(-x)


def test_names_assigned_on_every_path_get_no_flag(rng):
    def every_path(x, n):
        if x[0] > 0:
            t = x[0]
        else:
            t = -x[0]
        s = t
        for i in range(n):
            s = s + x[i] * t
        return s
    text = srcad.source(srcad.grad(every_path, jit=False), rng.random(3), 3)
    assert "_assigned" not in text


def first_assigned_in_the_first_trip(x):
    for i in range(x.shape[0]):
        if i > 0:
            s = s + x[i] * s  # noqa: F821 (assigned in the first trip)
        else:
            s = x[0]
    return s


def test_a_variable_first_assigned_in_an_earlier_trip_is_typed(rng):
    """Found by an attack: type inference read `s + ...` before the `else` assigning `s` and
    made its type unknown for good ("cannot infer the type"; mode="auto" ran the tape)."""
    x = rng.uniform(0.5, 1.5, 4)
    grad = srcad.grad(first_assigned_in_the_first_trip, mode="source", jit=False)
    check.compare(first_assigned_in_the_first_trip, (x,), [0], [grad(x)], rtol=1e-6, atol=1e-8)
    # (one check of s before its statement, though lowered it is two reading s)
    assert srcad.source(grad, x).count("if not s_assigned:") == 2  # (and one at the return)


def returns_none_when_large(x):
    if x > 5:
        return None
    return x * x


def test_an_explicit_return_of_none_is_an_error_where_it_is_taken(rng):
    """Found by an attack: it was refused on every input ("cannot infer the type of 'None'"),
    where a function reaching its end without a return raises only on that path."""
    x = float(rng.uniform(0.5, 1.5))
    assert srcad.grad(returns_none_when_large, mode="source", jit=False)(x) == \
        pytest.approx(2 * x, rel=1e-12)
    with pytest.raises(TypeError, match=r"returned None at test_unassigned_reads.py:\d+"):
        srcad.grad(returns_none_when_large, mode="source", jit=False)(x + 10)
