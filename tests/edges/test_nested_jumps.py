"""`return`, `break` and `continue` inside an `if` that may fall through (nested in another `if`,
in an `elif`, in a loop's `else`): the statements after the outer `if` must not run once the
jump is taken. Found by an attack: the source transform ran them (wrong values and derivatives
in every mode); they now run under a flag the jump sets. And a name rebound to another rank
after an early return (then in a branch of its own), refused before; a return under `if True:`
(its jvp did not compile)."""

import math
import warnings

import numpy as np
import pytest

import srcad
from srcad import check


def return_two_ifs_deep(x):
    s = x
    if x < 1:
        if x > -1:
            return -x * x
    return s * 10


def return_in_an_elif(x):
    if x > 2:
        y = x * 3
    elif x > 0:
        return x * x
    else:
        y = -x
    return y + math.sin(x)


def continue_two_ifs_deep(x):
    s = 0.0
    for v in x:
        if v < 5:
            if v > -0.5:
                continue
        s += 100 * v * v
    return s + x[0]


def break_two_ifs_deep(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i]
        if x[i] < 5:
            if x[i] > 0.5:
                break
        s += math.exp(x[i])
    return s


def continue_in_a_while(x):
    s, i = 0.0, 0
    while i < x.shape[0]:
        i += 1
        if i % 2 == 0:
            if x[i - 1] > 0:
                continue
        s = s * 0.5 + x[i - 1] ** 3
    return s


def return_in_a_loops_else_in_an_if(x):
    s = 0.0
    if x[0] > 0:
        for i in range(x.shape[0]):
            s += x[i] * x[i]
            if s > 100:
                break
        else:
            return s * x[0]
    return s + 7 * x[1]


def return_in_an_if_in_a_loop_in_an_if(x):
    s = 0.0
    if x[0] > -5:
        for i in range(x.shape[0]):
            if x[i] > 0.8:
                return s * x[i]
            s += math.sin(x[i])
        s = s * 2
    return s * s


SCALARS = [(return_two_ifs_deep, [0.3, -0.7, 1.5, -2.0]),
           (return_in_an_elif, [0.6, 2.5, -1.2])]
ARRAYS = [continue_two_ifs_deep, break_two_ifs_deep, continue_in_a_while,
          return_in_a_loops_else_in_an_if, return_in_an_if_in_a_loop_in_an_if]


@pytest.mark.parametrize("jit", [False, True])
def test_a_jump_in_an_if_that_may_fall_through_skips_what_follows(jit, rng):
    for fn, points in SCALARS:
        g = srcad.value_and_grad(fn, jit=jit)
        for x in points:
            value, grad = g(x)
            assert value == pytest.approx(fn(x), rel=1e-12)
            assert grad == pytest.approx(check.numeric_grad(fn, (x,), 0), rel=1e-6)
    for fn in ARRAYS:
        g = srcad.value_and_grad(fn, jit=jit)
        for _ in range(3):  # (one gradient object, inputs taking other paths)
            x = rng.uniform(-1.0, 1.2, 5)
            value, grad = g(x)
            assert value == pytest.approx(fn(x), rel=1e-12)
            check.compare(fn, (x,), [0], [grad], rtol=1e-6, atol=1e-8)


def test_forward_and_second_order_take_the_jump_too(rng):
    x = 0.3
    assert srcad.jvp(return_two_ifs_deep, (x,), (1.0,), jit=False) == \
        pytest.approx((-x * x, -2 * x))
    assert srcad.hvp(return_two_ifs_deep, jit=False)(x, 1.0) == pytest.approx(-2.0)
    x, t = rng.uniform(-1.0, 1.2, 5), rng.normal(size=5)
    value, tangent = srcad.jvp(continue_two_ifs_deep, (x,), (t,), jit=False)
    assert value == pytest.approx(continue_two_ifs_deep(x))
    assert tangent == pytest.approx(check.along(continue_two_ifs_deep, (x,), (t,)), rel=1e-6)


def rebound_after_an_early_return(x):
    if x[0] > 0:
        return np.sum(x ** 2)
    x = x[1]
    return x * x * 3.0


def rebound_after_a_loop_holding_a_return(x):
    a = x[0]
    while a < 10.0:
        a = a * 2.0 + x[1] ** 2
        if a < -5:
            return a
    a = np.array([a, x[2]])
    return np.sum(a * a)


def test_a_name_rebound_to_another_rank_after_an_early_return(rng):
    for fn in (rebound_after_an_early_return, rebound_after_a_loop_holding_a_return):
        g = srcad.value_and_grad(fn, mode="source", jit=False)
        for x in (rng.uniform(0.1, 1.0, 3), -rng.uniform(0.1, 1.0, 3)):
            value, grad = g(x)
            assert value == pytest.approx(fn(x), rel=1e-12)
            check.compare(fn, (x,), [0], [grad], rtol=1e-6, atol=1e-8)


def returns_under_a_constant_test(c, x):
    v = 0.1 * c
    for i in range(x.shape[0]):
        if True:
            return c * x[i] + v
        v = v * c
    if 0:
        v = np.inf
    return v


def test_a_constant_test_keeps_its_branch_only(rng):
    """(found by an attack, helper-143: Numba could not compile the jvp, whose branch not taken
    it pruned, and the generated Python ran instead)"""
    x, c = rng.uniform(-1.0, 1.0, 3), rng.uniform(0.5, 1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        value, tangent = srcad.jvp(returns_under_a_constant_test, (c, x), (1.0, None))
        grad = srcad.grad(returns_under_a_constant_test)(c, x)
    assert value == pytest.approx(returns_under_a_constant_test(c, x), rel=1e-14)
    expected = check.numeric_grad(returns_under_a_constant_test, (c, x), 0)
    assert tangent == pytest.approx(expected, rel=1e-6) and grad == pytest.approx(expected)
    assert srcad.jvp(returns_under_a_constant_test, (c, x[:0]), (1.0, None)) == (0.1 * c, 0.1)
