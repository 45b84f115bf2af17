"""Assignment expressions (`while abs(d := step(x)) > tol`, `if (v := f(x)) > c`) are lowered to
an assignment where they stand (they ran on the tape, found by a helper's attack, helper-143);
inside a comprehension or an assignment's target, or after a read of their name in the same
statement (`s += (s := e)` too: found by helper-146), they are refused by name and run on the
tape. Values against the function's, gradients and tangents against finite differences,
compiled and as Python."""

import math
import warnings

import numpy as np
import pytest

import srcad
from srcad import check


def newton_sqrt(c):
    x = c
    while abs(d := (x * x - c) / (2.0 * x)) > 1e-12:
        x -= d
    return x


def skipping_steps(x, c):
    s = c
    k = 0
    while (k := k + 1) < x.shape[0]:
        if (t := x[k] * s) < 0.0:
            continue  # (the test assigns k again after a continue too)
        s = s * 0.5 + t
    return s


def branches(x):
    s = 0.0
    for i in range(x.shape[0]):
        if (v := x[i] * 2.0) > 0.5:
            s += v * v
        elif (w := math.sin(x[i])) < 0.1:
            s += w
    return s + ((t := s * 2.0) + t)


def short_circuit(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0.3 and (y := math.log(x[i])) < -0.5:  # (no log of x[i] <= 0.3)
            s += y * x[i]
    return s


def _square_twice(v):
    return (w := v * v) + w


def in_a_helper(x):
    return _square_twice(x[0]) * (z := x[1]) + z


CASES = [(newton_sqrt, lambda rng: (rng.uniform(1.0, 4.0),)),
         (skipping_steps, lambda rng: (rng.uniform(-1.0, 1.0, 8), rng.uniform(0.5, 1.0))),
         (branches, lambda rng: (rng.uniform(-1.0, 1.0, 8),)),
         (short_circuit, lambda rng: (rng.uniform(-0.5, 1.0, 8),)),
         (in_a_helper, lambda rng: (rng.uniform(0.5, 1.0, 2),))]


@pytest.mark.parametrize("jit", [False, True], ids=["python", "jit"])
@pytest.mark.parametrize("fn, make", CASES, ids=[fn.__name__ for fn, _ in CASES])
def test_assignment_expressions_are_compiled(fn, make, jit, rng):
    args = make(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        value, grad = srcad.value_and_grad(fn, jit=jit)(*args)
        tangents = (np.ones_like(args[0]),) + (None,) * (len(args) - 1)
        _, tangent = srcad.jvp(fn, args, tangents, jit=jit)
    assert value == pytest.approx(fn(*args), rel=1e-13)
    check.compare(fn, list(args), [0], [grad])
    np.testing.assert_allclose(tangent, check.along(fn, list(args), tangents), rtol=1e-6)


def read_before(x):
    a = x * 1.0
    return np.sum(a + (a := x * 3.0))


def in_a_comprehension(x):
    return sum(y * y for i in range(x.shape[0]) if (y := x[i] * 2.0) > 0.5)


def in_a_stored_target(x):  # (Python computes the value, then the target: the old k)
    y = np.zeros(x.shape[0] + 1)
    k = 0
    for i in range(x.shape[0]):
        y[(k := i + 1)] = x[i] * k
    return np.sum(y * y)


def updating_its_name(x):  # (`s += e` reads s before e)
    s = x * 1.0
    s += (s := s * 3.0)
    return np.sum(s)


@pytest.mark.parametrize("fn, message", [
    (read_before, "'a' read in the statement before 'a :=' assigns it"),
    (in_a_comprehension, "'y :=' inside a comprehension"),
    (in_a_stored_target, "'k :=' in an assignment's target"),
    (updating_its_name, "'s' read in the statement before 's :=' assigns it")],
    ids=["read_before", "comprehension", "stored_target", "augmented"])
def test_what_the_lowering_would_get_wrong_is_refused_and_runs_on_the_tape(fn, message, rng):
    x = rng.uniform(-1.0, 1.0, 5)
    with pytest.raises(srcad.UnsupportedError, match=message) as error:
        srcad.grad(fn, mode="source")(x)
    assert "test_assignment_expressions.py" in str(error.value)
    with pytest.warns(srcad.FallbackWarning, match=message):
        grad = srcad.grad(fn)(x)
    check.compare(fn, [x], [0], [grad])
