"""Input checks in the function: `assert` and `raise` of a builtin exception run in the forward
sweep (compiled too) and raise what the function raises; where they do not fire the derivative
is the function's. Gradients, jvp and hvp are checked against finite differences. (The
functions live in a test module, whose asserts pytest rewrites: srcad reads them as written.)"""

import math
import pickle
import warnings

import numpy as np
import pytest

import srcad
from srcad import check


def below(v, lo):
    if np.any(v < lo):
        raise ValueError("an entry below", lo)
    return np.sum(v * v)


def checked_loops(x, n):
    assert x.ndim == 1, "x must be 1-D"
    if x.shape[0] != n:
        raise ValueError(f"expected {n} entries, got {x.shape[0]}")
    s, k = 0.0, 0
    while s < 5.0:
        if k > 100:
            raise RuntimeError("no convergence")
        s += np.exp(x[k % n])
        k += 1
    for i in range(n):
        assert x[i] < 10.0, ("too large at", i)
        s += np.sin(x[i]) * x[i]
    return s * below(x, -5.0)


def ends_with_a_raise(x):
    if x > 0:
        return x * x
    raise ValueError


@pytest.mark.parametrize("x, n, error, message", [
    ([0.5, 0.7, 0.2, 0.9], 3, ValueError, "expected 3 entries, got 4"),
    ([0.5, 20.0, 0.2, 0.9], 4, AssertionError, r"\('too large at', 1\)"),
    ([0.5, -6.0, 0.2, 0.9], 4, ValueError, r"\('an entry below', -5.0\)"),
    ([-50.0, -50.0, -50.0, -50.0], 4, RuntimeError, "no convergence"),
])
def test_checks_raise_as_the_function_does(jit, x, n, error, message):
    x = np.array(x)
    g = srcad.grad(checked_loops, mode="source", jit=jit)
    with pytest.raises(error, match=message):
        checked_loops(x, n)
    with pytest.raises(error, match=message):
        g(x, n)


def test_checks_that_pass_leave_the_derivatives(jit, rng):
    x, v = rng.uniform(0.1, 1.0, 4), rng.standard_normal(4)
    g = srcad.grad(checked_loops, mode="source", jit=jit)
    check.compare(checked_loops, (x, 4), [0], [g(x, 4)])
    value, tangent = srcad.jvp(lambda x: checked_loops(x, 4), (x,), (v,), mode="source",
                               jit=jit)
    eps = 1e-6
    fd = (checked_loops(x + eps * v, 4) - checked_loops(x - eps * v, 4)) / (2 * eps)
    assert value == pytest.approx(checked_loops(x, 4), rel=1e-12)
    assert tangent == pytest.approx(fd, rel=1e-6)
    hv = srcad.hvp(lambda x: checked_loops(x, 4), jit=jit)(x, v)
    np.testing.assert_allclose(hv, (g(x + eps * v, 4) - g(x - eps * v, 4)) / (2 * eps),
                               rtol=1e-5, atol=1e-6)
    assert srcad.grad(ends_with_a_raise, mode="source", jit=jit)(1.5) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        srcad.grad(ends_with_a_raise, mode="source", jit=jit)(-1.5)


def checked_in_parallel(x, w):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] < 0.0:
            raise ValueError("negative entry", i)
        s += np.sin(x[i] * w)
    return s


def test_a_check_in_a_parallel_loop(rng):
    x = rng.uniform(0.1, 1.0, 40)
    g = srcad.grad(checked_in_parallel, wrt=(0, 1), parallel=True)
    check.compare(checked_in_parallel, (x, 0.7), [0, 1], list(g(x, 0.7)))
    x[17] = -1.0
    with pytest.raises(ValueError, match="negative entry"):
        g(x, 0.7)


def formatted_message(x):
    for i in range(x.shape[0]):
        if x[i] < 0:
            raise ValueError(f"x[{i}] = {x[i]:.3f} ({x[i]}) is negative {{!}}")
    return np.sum(x ** 3)


def test_messages_are_formatted_as_python_formats_them(jit, rng):
    """Found by a helper's attack: compiled, Numba printed a float as '<object type:float64>'
    (and refused format specs); the values now leave compiled code to be formatted."""
    x = rng.uniform(0.1, 1.0, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)  # (compiled, no fallback)
        g = srcad.grad(formatted_message, mode="source", jit=jit)
        check.compare(formatted_message, (x,), [0], [g(x)])
        with pytest.raises(ValueError, match=r"^x\[1\] = -0.500 \(-0.5\) is negative \{!\}$") \
                as raised:
            g(np.array([1.0, -0.5, 1.0]))
    # (found by a helper's attack: the error did not pickle, as a Dask worker's must)
    unpickled = pickle.loads(pickle.dumps(raised.value))
    assert type(unpickled) is ValueError and str(unpickled) == str(raised.value)


class OwnError(Exception):
    pass


def raises_its_own_class(x):
    if x < 0:
        raise OwnError("negative")
    return x * x


def reraises(x):
    if x < 0:
        raise  # noqa: PLE0704 (refused by srcad: what it tests)
    return x * x


def raises_from(x):
    if x < 0:
        raise ValueError("negative") from None
    return x * x


@pytest.mark.parametrize("fn", [raises_its_own_class, reraises, raises_from])
def test_other_raises_are_refused_by_name_and_run_on_the_tape(fn):
    with pytest.raises(srcad.UnsupportedError, match=r"test_input_checks.py:\d+: only `raise "
                                                     r"E\(...\)` of a builtin exception"):
        srcad.grad(fn, mode="source")(2.0)
    with pytest.warns(srcad.FallbackWarning):
        assert srcad.grad(fn)(2.0) == pytest.approx(4.0)


def checked_in_nested_loops(x):
    s = 0.0
    for i in range(3):
        for j in range(3):
            assert x[i] < 5, "big"
            s += x[i] * x[j]
        k = 0
        while s < 10.0 * (i + 1):
            if k > 50:
                raise RuntimeError("stuck")
            s += math.exp(x[i]) + 1.0
            k += 1
    return s


def guards_its_indices(x, n):
    s = 0.0
    for i in range(n):
        assert i < len(x), "n too large"
        if x[i] < 0:
            raise ValueError("negative")
        s += x[i] ** 2
    return s


def test_checks_in_nested_loops_and_before_an_index(jit, rng):
    """Found by a helper's attack: a check in a nested loop crashed the transform (the cost
    model of checkpointing read it as an assignment); an index check hoisted out of the loop
    raised IndexError where the function's own check raises first."""
    x = rng.uniform(0.1, 1.0, 3)
    g = srcad.grad(checked_in_nested_loops, mode="source", jit=jit)(x)
    check.compare(checked_in_nested_loops, (x,), [0], [g])
    hv = srcad.hvp(checked_in_nested_loops, jit=jit)(x, np.ones(3))
    assert hv.shape == (3,)
    guarded = srcad.grad(guards_its_indices, mode="source", jit=jit)
    check.compare(guards_its_indices, (x, 3), [0], [guarded(x, 3)])
    with pytest.raises(AssertionError, match="n too large"):
        guarded(x, 5)
    with pytest.raises(ValueError, match="negative"):
        guarded(np.array([1.0, -1.0, 2.0]), 5)


def needs_w(x, w=None):
    if w is None:
        raise ValueError("need w")
    return np.sum(x) * w


def asserts_w(x, w=None):
    assert w is not None, "need w"
    return np.sum(x) * w


def only_raises(x):
    raise NotImplementedError("later")


def test_a_required_optional_argument_and_a_function_that_only_raises(jit):
    """Found by a helper's attack: with w None the code after the raise was typed with w None
    (refused: 'cannot infer the type'); a function that only raises had 'no return'."""
    x = np.ones(3)
    for fn, error in [(needs_w, ValueError), (asserts_w, AssertionError)]:
        g = srcad.grad(fn, mode="source", jit=jit)
        with pytest.raises(error, match="need w"):
            g(x)
        np.testing.assert_allclose(g(x, 2.0), [2.0, 2.0, 2.0])
    with pytest.raises(NotImplementedError, match="later"):
        srcad.grad(only_raises, mode="source", jit=jit)(x)
