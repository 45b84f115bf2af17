"""Tests of an argument's class (`isinstance(x, np.floating)`, `type(x) == float`) are decided
when the gradient is generated, for the class the argument has: compiled code cannot tell a
Python float from a NumPy float64, and the generated Python was given each number as one kind,
so such a test took the other branch (silently wrong values and gradients, found by an attack).
Values and gradients against the function itself and central finite differences."""

import math

import numpy as np
import pytest

import srcad
from srcad import check


def numpy_floating(x):
    if isinstance(x, np.floating):
        return math.exp(x)
    return x ** 3


def exact_float(x):
    if type(x) == float:  # noqa: E721 (the test under test)
        return math.exp(x)
    return x ** 3


def exact_float_is_not(x):
    kind = type(x)
    if kind is not float:
        return x ** 3
    return math.sin(x)


def number_or_array(x):
    if isinstance(x, (int, float)):
        return x * math.exp(x)
    if isinstance(x, np.ndarray):
        return np.sum(x ** 3)
    return -x


def through_a_helper(x):
    return _scaled(x) + x


def _scaled(v):
    return 2.0 * v if isinstance(v, np.generic) else 3.0 * v * v


PROGRAMS = [numpy_floating, exact_float, exact_float_is_not, number_or_array, through_a_helper]
ARGUMENTS = {"python float": 0.7, "numpy float64": np.float64(0.7)}


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
@pytest.mark.parametrize("kind", ARGUMENTS)
@pytest.mark.parametrize("fn", PROGRAMS, ids=[f.__name__ for f in PROGRAMS])
def test_a_type_test_takes_the_branch_python_takes(fn, kind, jit, rng):
    x = type(ARGUMENTS[kind])(rng.uniform(0.3, 0.9))
    value, g = srcad.value_and_grad(fn, mode="source", jit=jit)(x)
    assert value == pytest.approx(fn(x), rel=1e-12)
    assert g == pytest.approx(check.numeric_grad(fn, [x], 0), rel=1e-6)


def test_an_array_argument_takes_its_branch(rng):
    x = rng.uniform(0.3, 0.9, 4)
    g = srcad.grad(number_or_array, mode="source")(x)
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-12)


def test_the_numpy_class_of_a_scalar_is_its_own():
    def exact_width(x):
        return x * 2.0 if isinstance(x, np.float64) else x * 3.0
    for x, slope in ((np.float64(0.5), 2.0), (np.float32(0.5), 3.0), (0.5, 3.0)):
        assert srcad.grad(exact_width, mode="source")(x) == pytest.approx(slope)


def test_a_singledispatch_function_is_refused_in_every_mode():
    import functools

    @functools.singledispatch
    def cube(v):
        return v ** 3

    @cube.register(float)
    def _(v):
        return math.exp(v)

    def f(x):
        return cube(x) + x
    for mode in ("auto", "source"):
        with pytest.raises(TypeError, match="singledispatch function 'cube'"):
            srcad.grad(f, mode=mode)(0.7)


def test_a_branch_decided_inside_a_loop(rng):
    def f(x, c):
        s = 0.0
        for i in range(x.shape[0]):
            if x[i] > 0.0:
                if isinstance(c, np.ndarray):
                    s += np.sum(c) * x[i]
            s += c * x[i] ** 2 if isinstance(c, float) else x[i]
        return s
    x = rng.uniform(-1.0, 1.0, 7)
    for c in (0.8, np.float64(0.8)):
        g = srcad.grad(f, wrt=(0, 1), mode="source")(x, c)
        check.compare(f, [x, c], [0, 1], g)


def not_an_array(x):
    if type(x) is not np.ndarray:  # (a class named by an attribute: a temporary in core form)
        return x * x
    return np.sum(np.sin(x))


def test_a_class_named_by_an_attribute_is_decided(rng):
    x = float(rng.uniform(0.3, 0.9))
    assert srcad.grad(not_an_array, mode="source")(x) == pytest.approx(2 * x, rel=1e-12)
    v = rng.uniform(0.3, 0.9, 3)
    np.testing.assert_allclose(srcad.grad(not_an_array, mode="source")(v), np.cos(v))


def _exact(v):
    return v * 2.0 if isinstance(v, np.float64) else v * 3.0


def of_an_expression(x):
    return _exact(x * 1.0) + _exact(x)


@pytest.mark.filterwarnings("ignore::srcad.FallbackWarning")
def test_a_numpy_class_test_of_an_expression_is_refused_compiled_and_right_on_the_tape():
    """(found probing this stage: Numba answered the test of `x * 1.0` as for a float64)"""
    with pytest.raises(srcad.UnsupportedError, match="NumPy scalar class"):
        srcad.grad(of_an_expression, mode="source")(0.5)
    for x, slope in ((0.5, 6.0), (np.float64(0.5), 4.0)):
        assert srcad.grad(of_an_expression)(x) == pytest.approx(slope)
