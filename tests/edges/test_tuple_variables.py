"""A tuple variable holding values that carry derivatives and read by constant indices
(`d = divmod(x, y); d[0]`, `r = helper(x); r[1]`, `t = (t[1], t[0] * t[1])` in a loop) is a
name per item in every transform, also passed to a helper or measured with len() (it was
refused: found by a helper's attack). Gradients, tangents and Hessian-vector products against
finite differences; one read another way (a builtin sum of it) is still refused by name."""

import warnings

import numpy as np
import pytest

import srcad
from srcad import check


def _scaled_and_sine(x):
    return x * 2.0, np.sin(x)


def of_arrays_and_a_helper(x):
    t = (x * 2.0, np.cos(x))
    r = _scaled_and_sine(x)
    return t[0] @ t[1] + np.sum(r[0] * r[-1])


def carried_through_a_loop(x):
    t = (x[0], x[1])
    for _ in range(4):
        t = (t[1], t[0] * t[1] + 0.5)  # (a swap: each item is read before either is written)
    return t[0] + t[1]


def divmod_in_a_loop(x):
    s = 0.0
    for i in range(x.shape[0]):
        d = divmod(x[i], 0.3)
        s += d[1] * d[1] + d[0] * x[i]
    return s


def _product_of_items(p):
    return p[0] * p[1]


def rebound_in_a_branch_copied_and_passed(x):
    t = (x[0], x[1] * x[2], 3)
    if x[3] > 0.5:
        t = (x[2] * 3.0, x[0], 4)
    u = t
    a, b, k = u
    return t[-3] * u[1] + a * b * k * len(t) + _product_of_items(u)


CASES = [of_arrays_and_a_helper, carried_through_a_loop, divmod_in_a_loop,
         rebound_in_a_branch_copied_and_passed]


@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__name__)
def test_gradient_tangent_and_hvp(fn, jit, rng):
    x = rng.uniform(0.1, 1.0, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        value, g = srcad.value_and_grad(fn, mode="source", jit=jit)(x)
        assert value == pytest.approx(fn(x), rel=1e-12)
        check.compare(fn, (x,), [0], [g], rtol=1e-6, atol=1e-8)
        t = rng.normal(size=4)
        _, tangent = srcad.jvp(fn, (x,), (t,), mode="source", jit=jit)
        assert tangent == pytest.approx(check.along(fn, [x], [t]), rel=1e-6, abs=1e-8)
        fd = check.along(srcad.grad(fn, jit=False), [x], [t])
        np.testing.assert_allclose(srcad.hvp(fn, jit=jit)(x, t), fd, rtol=1e-5, atol=1e-6)


def with_its_pair_as_aux(x):
    t = (x[0] * x[1], np.sin(x))
    return t[0] * 2.0 + np.sum(t[1]), t


def test_a_tuple_variable_returned_as_aux(jit, rng):
    # (refused: found by a helper's attack)
    x = rng.uniform(0.1, 1.0, 4)
    (value, aux), g = srcad.value_and_grad(with_its_pair_as_aux, has_aux=True, jit=jit)(x)
    assert value == pytest.approx(with_its_pair_as_aux(x)[0], rel=1e-12)
    assert aux[0] == pytest.approx(x[0] * x[1], rel=1e-12)
    np.testing.assert_allclose(aux[1], np.sin(x), rtol=1e-12)
    check.compare(lambda v: with_its_pair_as_aux(v)[0], (x,), [0], [g], rtol=1e-6, atol=1e-8)


def summed_by_the_builtin(x):
    t = (x[0], x[1] * 2.0)
    return sum(t) * x[2]


def test_a_tuple_read_otherwise_is_refused_by_name():
    with pytest.raises(srcad.UnsupportedError, match=r"tuple variable .* constant indices"):
        srcad.grad(summed_by_the_builtin, mode="source")(np.ones(3))
