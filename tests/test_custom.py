"""srcad.custom_vjp: a user's derivative used by the source transform and by the tape."""

import math

import numpy as np
import pytest

import srcad
from srcad import check


@srcad.custom_vjp
def softplus(x):
    return np.log1p(np.exp(x))


@softplus.defvjp
def softplus_vjp(g, ans, x):
    return g / (1.0 + np.exp(-x))


@srcad.custom_vjp
def clipped_product(a, b):
    return a * b


@clipped_product.defvjp
def clipped_product_vjp(g, ans, a, b):
    return g * b, g * a




@srcad.custom_vjp
def opaque_square(a):
    return a * a


@opaque_square.defvjp
def opaque_square_vjp(g, ans, a):
    return 2.0 * g * a


def model(x, c):
    return np.sum(softplus(x * c)) + clipped_product(c, c * 2.0)


def uses_scalar(a, b):
    s = 0.0
    for _ in range(3):
        s += opaque_square(a + s * 0.1) * b
    return s


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_custom_vjp_is_used(mode, jit, rng):
    x, c = rng.standard_normal(4), 0.7
    grads = srcad.grad(model, wrt=(0, 1), mode=mode, jit=jit)(x, c)
    check.compare(model, (x, c), [0, 1], grads)
    g = srcad.grad(uses_scalar, wrt=(0, 1), mode=mode, jit=jit)(0.3, 1.2)
    check.compare(uses_scalar, (0.3, 1.2), [0, 1], g)


def test_the_rule_replaces_the_body():
    @srcad.custom_vjp
    def noisy(a):
        return math.sin(a)

    @noisy.defvjp
    def noisy_vjp(g, ans, a):
        return 100.0 * g  # deliberately not the derivative of sin: srcad must use it

    def f(a):
        return noisy(a) * 2.0
    assert srcad.grad(f, mode="source")(0.3) == pytest.approx(200.0)
    assert srcad.grad(f, mode="tape")(0.3) == pytest.approx(200.0)
    assert "noisy_vjp" in srcad.source(srcad.grad(f), 0.3)


def test_missing_vjp_is_an_error():
    @srcad.custom_vjp
    def bare(a):
        return a

    def f(a):
        return bare(a) * a
    with pytest.raises(TypeError, match="defvjp"):
        srcad.grad(f, mode="source")(1.0)


@srcad.custom_vjp
def narrowed(x):
    return x * 2.0


@narrowed.defvjp
def narrowed_vjp(g, ans, x):
    return np.sum(g) * 2.0 * x[:1]  # the wrong shape


@srcad.custom_vjp
def pair(x, y):
    return x * y


@pair.defvjp
def pair_vjp(g, ans, x, y):
    return g * y  # one adjoint for two arguments


@srcad.custom_vjp
def half_known(x, y):
    return x * y


@half_known.defvjp
def half_known_vjp(g, ans, x, y):
    return (g * y, None)


@pytest.mark.parametrize("mode", ["auto", "source", "tape"])
def test_a_vjp_with_the_wrong_shape_or_count_is_an_error(mode):
    with pytest.raises(ValueError, match="shape"):
        srcad.grad(lambda x: np.sum(narrowed(x)), mode=mode)(np.ones(2))
    with pytest.raises(TypeError, match="1 adjoint"):
        srcad.grad(lambda x: pair(x, 3.0), mode=mode)(2.0)


def test_a_vjp_returning_none_for_a_differentiated_argument_is_an_error(jit):
    with pytest.raises(TypeError, match="None for 'x'"):
        srcad.grad(lambda x: half_known(3.0, x), jit=jit, mode="source")(2.0)
    assert srcad.grad(lambda x: half_known(x, 3.0), jit=jit)(2.0) == 3.0  # None where unused


@softplus.defjvp
def softplus_jvp(t, ans, x):
    return t / (1.0 + np.exp(-x))


@clipped_product.defjvp
def clipped_product_jvp(t, ans, a, b):
    ta, tb = t
    return ta * b + a * tb


def test_forward_mode_takes_the_jvp(jit, rng):
    """defjvp gives forward mode its tangent: one argument (t) and several (a tuple), in a
    vectorised call and inside a loop, against directional differences."""
    x, c = rng.normal(size=4), float(rng.uniform(0.5, 1.5))
    t, tc = rng.normal(size=4), float(rng.normal())
    _, tangent = srcad.jvp(model, (x, c), (t, tc), jit=jit)
    assert tangent == pytest.approx(float(check.along(model, (x, c), (t, tc))), rel=1e-6)
    _, tangent = srcad.jvp(model, (x, c), (None, tc), jit=jit)
    assert tangent == pytest.approx(float(check.along(model, (x, c), (None, tc))), rel=1e-6)


def test_forward_mode_refuses_a_custom_function_without_a_jvp():
    with pytest.raises(srcad.UnsupportedError, match=r"no tangent.*@opaque_square.defjvp"):
        srcad.jvp(uses_scalar, (0.3, 1.5), (1.0, None))
