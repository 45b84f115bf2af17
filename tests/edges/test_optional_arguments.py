"""Optional arguments: a test `p is None` of a parameter is decided per call (a None argument
is part of the signature a gradient is generated for) and the branch it picks is the code;
a parameter given None and then assigned is a variable from there on. Helpers' optional
parameters likewise, given a constant, nothing, or an argument. Gradients against finite
differences, compiled and as Python; undecidable tests are refused by name."""

import numpy as np
import pytest

import srcad
from srcad import check


def weighted(x, w=None, scale=None):
    if w is None:
        w = np.ones_like(x)
    s = 1.0 if scale is None else scale
    if scale is not None and s > 0:
        s = s * 2.0
    if not (scale is None):  # (was refused as a test of unknown type)
        s = s + 0.25
    return s * np.sum(w * np.sin(x))


def penalty(v, lo=None, w=None):
    w = np.ones_like(v) if w is None else w
    out = np.sum(w * v * v)
    if lo is not None:
        out = out + np.sum(np.maximum(v, lo))
    return out


def calls_with_and_without(x, y):
    return penalty(x) + penalty(x, w=y) + penalty(x * 2.0, 0.3) + penalty(x, None, y[::-1])


def passes_its_optional_on(x, w=None):
    return penalty(x, 0.1, w)


@pytest.mark.parametrize("args", [(), ("w",), (None, 0.5), ("w", 0.5), ("w", -0.5)])
def test_a_none_test_of_a_parameter_is_decided_per_call(jit, rng, args):
    x, w = rng.uniform(0.1, 1.0, 4), rng.uniform(0.5, 1.5, 4)
    args = (x,) + tuple(w if a == "w" else a for a in args)
    value, g = srcad.value_and_grad(weighted, mode="source", jit=jit)(*args)
    assert value == pytest.approx(weighted(*args), rel=1e-12)
    check.compare(weighted, args, [0], [g])


def test_helpers_optional_parameters(jit, rng):
    x, y = rng.uniform(0.1, 1.0, 4), rng.uniform(0.5, 1.5, 4)
    g = srcad.grad(calls_with_and_without, wrt=(0, 1), mode="source", jit=jit)(x, y)
    check.compare(calls_with_and_without, (x, y), [0, 1], list(g))
    for args in [(x,), (x, y)]:
        g = srcad.grad(passes_its_optional_on, mode="source", jit=jit)(*args)
        check.compare(passes_its_optional_on, args, [0], [g])


def test_jvp_and_hvp_of_an_optional_argument(rng):
    x, v = rng.uniform(0.1, 1.0, 4), rng.standard_normal(4)
    _, tangent = srcad.jvp(lambda x: weighted(x, None, 0.5), (x,), (v,), mode="source")
    assert tangent == pytest.approx(check.along(lambda x: weighted(x, None, 0.5), [x], [v]),
                                    rel=1e-6)
    hv = srcad.hvp(penalty)(x, v)
    eps = 1e-6
    g = srcad.grad(penalty, mode="source", jit=False)
    np.testing.assert_allclose(hv, (g(x + eps * v) - g(x - eps * v)) / (2 * eps), rtol=1e-5,
                               atol=1e-6)


def assigned_before_its_test(x, w=None):
    if x[0] > 0.5:
        w = x * 2.0
    if w is None:
        w = x
    return np.sum(w * x)


def assigned_in_a_loop_that_tests(x, w=None):
    s = 0.0
    for i in range(3):
        if w is None:
            w = x * float(i)
        s += np.sum(w)
    return s


def optional_of(x, w=None):
    return np.sum(x) if w is None else np.sum(x) * w


def passes_on_what_it_may_assign(x, w=None):
    if x[0] > 0.5:
        w = 3.0
    return optional_of(x, w)  # (w may be None or 3.0 here: the helper's test is not decided)


def identity_of_arrays(x, y):
    return np.sum(x) if x is y else np.sum(y)


def equal_to_none(x, w=None):
    if w == None:  # (what is tested)
        return np.sum(x)
    return np.sum(x * w)


def test_equality_with_none_is_refused_by_name(rng):
    """Found by a helper's attack: compiled, `w == None` of an array was False where NumPy
    compares each element (and `if` of the result raises)."""
    x = rng.uniform(0.1, 1.0, 3)
    with pytest.raises(srcad.UnsupportedError, match=r"test_optional_arguments.py:\d+: a "
                                                     r"comparison with None by =="):
        srcad.grad(equal_to_none, mode="source")(x, x)


def helper_given_a_computed_value(x):
    return penalty(x, np.max(x))


@pytest.mark.parametrize("fn, args", [
    (assigned_before_its_test, 1), (assigned_in_a_loop_that_tests, 1),
    (identity_of_arrays, 2), (helper_given_a_computed_value, 1),
    (passes_on_what_it_may_assign, 1)])
def test_tests_that_cannot_be_decided_are_refused_by_name(rng, fn, args):
    x = rng.uniform(0.1, 1.0, 3)
    with pytest.raises(srcad.UnsupportedError, match=r"test_optional_arguments.py:\d+: an "
                                                     r"'is' test"):
        srcad.grad(fn, mode="source")(*[x] * args)
    with pytest.warns(srcad.FallbackWarning):
        g = srcad.grad(fn)(*[x] * args)
    check.compare(fn, [x] * args, [0], [g])
