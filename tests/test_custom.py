"""srcad.custom_vjp: a user's derivative used by the source transform and by the tape."""

import functools
import math
import warnings

import numba
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
    with pytest.raises(TypeError, match="defvjp"):  # (the tape differentiated its body)
        srcad.grad(f, mode="tape")(1.0)
    assert bare(2.0) == bare.fn(2.0)


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


@srcad.custom_vjp
def wave(x):
    return np.sin(x)


@wave.defvjp
def wave_vjp(g, ans, x):
    return g * np.cos(x)


@wave.defjvp
def wave_jvp(t, ans, x):  # (the wrong shape: a number for an array; found by a helper's attack)
    return np.sum(t * np.cos(x))


@srcad.custom_vjp
def cube(x):
    return x ** 3


@cube.defvjp
def cube_vjp(g, ans, x):
    return [g * 3.0 * x ** 2]  # (a list, not the adjoint)


@cube.defjvp
def cube_jvp(t, ans, x):
    return (t * 3.0 * x ** 2, 1.0)  # (a tuple, not the tangent)


@srcad.custom_vjp
def cube_zero(x):
    return x ** 3


@cube_zero.defvjp
def cube_zero_vjp(g, ans, x):
    return 0  # (a zero adjoint, as a Python int)


def test_a_jvp_or_vjp_returning_another_shape_or_a_sequence_is_an_error(jit, rng):
    # (a custom jvp's result was not checked: jvp, hvp and Hessians took a number for an
    # array's tangent, a tuple for a number's; a vjp's list was the gradient, compiled)
    x = rng.normal(size=3)
    with pytest.raises(ValueError, match=r"the tangent from wave_jvp .* has shape \(\), its "
                                         r"argument \(3,\)"):
        srcad.jvp(lambda x: np.sum(wave(x) ** 2), (x,), (np.ones(3),), jit=jit)
    with pytest.raises(ValueError, match="the tangent from wave_jvp"):
        srcad.hvp(lambda x: np.sum(wave(x) ** 2), jit=jit)(x, np.ones(3))
    with pytest.raises(ValueError, match="the tangent from cube_jvp"):
        srcad.jvp(cube, (2.0,), (1.0,), jit=jit)
    with pytest.raises(ValueError, match="the adjoint of 'x' from cube_vjp"):
        srcad.grad(lambda x: cube(x), mode="source", jit=jit)(2.0)


def test_a_vjp_returning_a_number_for_zero_runs_on_the_tape(rng):
    # (the tape raised AttributeError: 'int' object has no attribute 'shape')
    x = float(rng.normal())
    for mode in ("tape", "source"):
        assert srcad.grad(lambda x: cube_zero(x) + 2.0 * x, mode=mode)(x) == 2.0


def test_forward_mode_of_a_custom_function_without_a_jvp_runs_on_the_tape(rng):
    """The source transform has no tangent for it; the tape differentiates its vjp (linear in
    g) once more."""
    with pytest.raises(srcad.UnsupportedError, match=r"no tangent.*@opaque_square.defjvp"):
        srcad.jvp(uses_scalar, (0.3, 1.5), (1.0, None), mode="source")
    a, b, t = rng.uniform(0.2, 1.0), rng.uniform(0.5, 2.0), rng.normal()
    with pytest.warns(srcad.FallbackWarning, match=r"no tangent.*@opaque_square.defjvp"):
        value, tangent = srcad.jvp(uses_scalar, (a, b), (t, None))
    assert value == uses_scalar(a, b)
    assert tangent == pytest.approx(check.along(uses_scalar, [a, b], [t, None]), rel=1e-6)


# ---- values a custom_vjp's code reads from outside (found by an attack: Numba compiles them
# in at the first compile, and every later gradient, value included, kept them silently) -----

CUSTOM_SCALE = 2.0
CUSTOM_WEIGHTS = np.array([1.0, 2.0])
READ_ONLY_WEIGHTS = np.array([1.0, 2.0])
READ_ONLY_WEIGHTS.setflags(write=False)
WRITEABLE_BASE = np.array([1.0, 2.0])
READ_ONLY_VIEW = WRITEABLE_BASE[:]
READ_ONLY_VIEW.setflags(write=False)


@srcad.custom_vjp
def scaled_by_a_global(x):
    return x * CUSTOM_SCALE


@scaled_by_a_global.defvjp
def _scaled_by_a_global_vjp(g, ans, x):
    return g * CUSTOM_SCALE


def square_of_scaled(x):
    return scaled_by_a_global(x) ** 2


@srcad.custom_vjp
def weighted_by_a_global(x):
    return x * CUSTOM_WEIGHTS


@weighted_by_a_global.defvjp
def _weighted_by_a_global_vjp(g, ans, x):
    return g * CUSTOM_WEIGHTS


def squares_of_weighted(x):
    return np.sum(weighted_by_a_global(x) ** 2)


@srcad.custom_vjp
def weighted_read_only(x):
    return x * READ_ONLY_WEIGHTS


@weighted_read_only.defvjp
def _weighted_read_only_vjp(g, ans, x):
    return g * READ_ONLY_WEIGHTS


def squares_of_read_only_weighted(x):
    return np.sum(weighted_read_only(x) ** 2)


@srcad.custom_vjp
def weighted_by_a_view(x):
    return x * READ_ONLY_VIEW


@weighted_by_a_view.defvjp
def _weighted_by_a_view_vjp(g, ans, x):
    return g * READ_ONLY_VIEW


def squares_of_view_weighted(x):
    return np.sum(weighted_by_a_view(x) ** 2)


def test_a_read_only_view_of_a_writeable_array_is_not_a_constant(rng):
    """Its base can still change it: compiled in, a write into the base was not seen (an
    attack found it); it runs on the tape as a writeable array does."""
    x = rng.uniform(0.5, 1.5, 2)
    g = srcad.grad(squares_of_view_weighted)
    with pytest.warns(srcad.FallbackWarning, match="a view of a writeable array"):
        np.testing.assert_allclose(g(x), 2 * x * READ_ONLY_VIEW ** 2)
    WRITEABLE_BASE[0] = 100.0
    try:
        np.testing.assert_allclose(g(x), 2 * x * np.array([100.0, 2.0]) ** 2)
    finally:
        WRITEABLE_BASE[0] = 1.0


def test_a_global_number_a_custom_vjp_reads_is_followed_or_refused(monkeypatch):
    assert srcad.value_and_grad(square_of_scaled)(1.5) == pytest.approx((9.0, 12.0))
    monkeypatch.setitem(globals(), "CUSTOM_SCALE", 3.0)
    with pytest.warns(srcad.FallbackWarning, match="reads 'CUSTOM_SCALE', changed since"):
        assert srcad.value_and_grad(square_of_scaled)(1.5) == pytest.approx((20.25, 27.0))
    with pytest.raises(srcad.UnsupportedError, match="pass it as an argument"):
        srcad.grad(square_of_scaled, mode="source")(1.5)
    assert srcad.grad(square_of_scaled, jit=False)(1.5) == pytest.approx(27.0)


def test_a_global_array_a_custom_vjp_reads_must_be_read_only():
    x = np.ones(2)
    g = srcad.grad(squares_of_weighted)
    with pytest.warns(srcad.FallbackWarning, match=r"CUSTOM_WEIGHTS.setflags\(write=False\)"):
        np.testing.assert_allclose(g(x), 2 * x * CUSTOM_WEIGHTS ** 2)
    CUSTOM_WEIGHTS[:] = 5.0
    try:
        np.testing.assert_allclose(g(x), 2 * x * CUSTOM_WEIGHTS ** 2)  # (the tape's: 50, 50)
    finally:
        CUSTOM_WEIGHTS[:] = (1.0, 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", srcad.FallbackWarning)
        np.testing.assert_allclose(srcad.grad(squares_of_read_only_weighted)(x),
                                   2 * x * READ_ONLY_WEIGHTS ** 2)


@srcad.custom_vjp
def passed_through(x):
    return x


@passed_through.defvjp
def _passed_through_vjp(g, ans, x):
    return g


def writes_into_the_result(x):
    z = x * 1.0
    y = passed_through(z)  # (y is z: the write below changes z)
    y[0] = 10.0
    return np.sum(z * x)


def test_a_custom_function_returning_its_argument_is_an_error_not_a_wrong_gradient():
    """(found by an attack: both transforms took the result to be new memory and returned
    [10.5, 4, 6] and [1, 4, 6] where the derivative is [10, 4, 6])"""
    x = np.array([0.5, 2.0, 3.0])
    with pytest.raises(srcad.AliasingError):
        srcad.grad(writes_into_the_result, mode="source")(x)
    with pytest.raises(srcad.UnsupportedError, match="returned \\(a view of\\) its argument"):
        srcad.grad(writes_into_the_result, mode="tape")(x)


@srcad.custom_vjp
def scaled_by_default(x, c=3.0):
    return x * c


@scaled_by_default.defvjp
def _scaled_by_default_vjp(g, ans, x, c):
    return g * c, g * x


def square_at_the_default(x):
    return scaled_by_default(x) ** 2


@srcad.custom_vjp
def product_of_a_pair(p):
    return p[0] * p[1]


@product_of_a_pair.defvjp
def _product_of_a_pair_vjp(g, ans, p):
    return (g * p[1], g * p[0])


def twice_the_product(x, y):
    return product_of_a_pair((x, y)) * 2.0


@srcad.custom_vjp
def product_without_a_second_adjoint(x, y):
    return x * y


@product_without_a_second_adjoint.defvjp
def _product_without_a_second_adjoint_vjp(g, ans, x, y):
    return g * y, None


def calls_the_product(x, y):
    return product_without_a_second_adjoint(x, y)


def test_calls_srcad_does_not_differentiate_in_source_are_named():
    """(found by an attack: keywords were refused in a plain call, a default left out made the
    tape call the vjp without it, a tuple argument crashed the transform as a bug, and a vjp's
    None for an argument needing a gradient was an AttributeError of the tape's)"""
    assert scaled_by_default(2.0, c=4.0) == 8.0
    with pytest.raises(srcad.UnsupportedError, match="left at their defaults"):
        srcad.grad(square_at_the_default, mode="source")(0.7)
    with pytest.warns(srcad.FallbackWarning):
        assert srcad.grad(square_at_the_default)(0.7) == pytest.approx(2 * 0.7 * 9.0)
    with pytest.raises(srcad.UnsupportedError, match="custom_vjp function of a tuple"):
        srcad.grad(twice_the_product, wrt=(0, 1), mode="source")(2.0, 3.0)
    with pytest.warns(srcad.FallbackWarning):
        assert srcad.grad(twice_the_product, wrt=(0, 1))(2.0, 3.0) == pytest.approx((6.0, 4.0))
    with pytest.raises(TypeError, match="gives None for its argument 1, which needs a gradient"):
        srcad.grad(calls_the_product, wrt=1, mode="tape")(2.0, 3.0)


@srcad.custom_vjp
def scaled_sine(x, *, c=2.0):
    return c * np.sin(x)


@scaled_sine.defvjp
def _scaled_sine_vjp(g, ans, x, *, c=2.0):
    return g * c * np.cos(x)


def sum_of_scaled_sines(x, c):
    return np.sum(scaled_sine(x)) + np.sum(scaled_sine(x, c=c))


def test_keyword_only_arguments_reach_fn_and_vjp_on_the_tape(rng):
    """(found by an attack: the tape passed them to its op, which took positional ones only)"""
    x = rng.uniform(-1.0, 1.0, 3)
    with pytest.warns(srcad.FallbackWarning):
        np.testing.assert_allclose(srcad.grad(sum_of_scaled_sines)(x, 3.0), 5.0 * np.cos(x))
    with pytest.raises(TypeError, match="keyword-only argument 'c' is a tensor"):
        srcad.grad(lambda v: np.sum(scaled_sine(v, c=v)), mode="tape")(x)


@srcad.custom_vjp
def softplus_direct(x, scale=1.0):
    return np.log1p(np.exp(x * scale))


@softplus_direct.defvjp
def _softplus_direct_vjp(g, ans, x, scale=1.0):
    return g * scale / (1.0 + np.exp(-x * scale)), None


@softplus_direct.defjvp
def softplus_direct_jvp(t, ans, x, scale=1.0):  # (named as srcad names a jvp of softplus_direct)
    return (t[0] * scale + t[1] * x) / (1.0 + np.exp(-x * scale))


def test_a_custom_vjp_function_differentiated_directly(rng):
    """srcad.grad(softplus) of a custom_vjp object raised a TypeError about *args; and a
    generated jvp named like a function it calls (`softplus_direct_jvp`) replaced it (both
    found by an attack)."""
    x = rng.normal(size=3)
    s = 1.0 / (1.0 + np.exp(-x))
    for jit in (True, False):
        assert srcad.grad(softplus_direct, jit=jit)(0.3) == pytest.approx(1 / (1 + np.exp(-0.3)))
        value, tangent = srcad.jvp(softplus_direct, (x,), (np.ones(3),), jit=jit)
        np.testing.assert_allclose(tangent, s, rtol=1e-12)
        np.testing.assert_allclose(srcad.jacobian(softplus_direct, jit=jit)(x), np.diag(s),
                                   rtol=1e-12)
    assert srcad.grad(softplus_direct, mode="tape")(0.3) == pytest.approx(1 / (1 + np.exp(-0.3)))
    assert srcad.grad(softplus_direct)(0.3, 2.0) == pytest.approx(2 / (1 + np.exp(-0.6)))


@srcad.custom_vjp
def softsign(x):
    return x / (1.0 + np.abs(x))


softsign.defvjp(lambda g, ans, x: (g / (1.0 + np.abs(x)) ** 2,))  # (a 1-tuple, as JAX asks)


@srcad.custom_vjp
def cubic_poly(x):
    return np.polyval([1.0, 0.0, 2.0, 0.0], x)  # (Numba has no np.polyval: Python runs)


cubic_poly.defvjp(lambda g, ans, x: (g * np.polyval([3.0, 0.0, 2.0], x),))


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_a_vjp_of_one_argument_may_return_a_one_tuple(mode, jit, rng):
    """The source transform took a vjp's 1-tuple for the adjoint itself: Numba refused it and
    the generated Python raised a shape error (1, n) (found by an attack); its type is read
    where it can be inferred, else the call tells."""
    x = rng.uniform(-1, 1, 4)
    np.testing.assert_allclose(
        srcad.grad(lambda x: np.sum(softsign(x) * x), mode=mode, jit=jit)(x),
        x / (1 + np.abs(x)) + x / (1 + np.abs(x)) ** 2, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", srcad.FallbackWarning)
        np.testing.assert_allclose(
            srcad.grad(lambda x: np.sum(cubic_poly(x)), mode=mode, jit=jit)(x), 3 * x**2 + 2,
            rtol=1e-12)


@srcad.custom_vjp
def sine_by_math(a):
    return math.sin(a)


@sine_by_math.defvjp
def sine_by_math_vjp(g, ans, a):
    return g * math.cos(a)  # (math.* and float() in a vjp the tape differentiates again)


@srcad.custom_vjp
def cube_by_float(a):
    return a ** 3


@cube_by_float.defvjp
def cube_by_float_vjp(g, ans, a):
    return 3.0 * g * float(a) ** 2


def test_second_derivatives_through_a_vjp_using_math_and_float(rng):
    """Found by an attack: without a jvp, second derivatives run on the tape, whose backward
    pass runs the vjp: math.cos and float() there took a tensor's value (a constant), and the
    second derivative was 0."""
    a = float(rng.uniform(0.2, 1.0))
    with pytest.warns(srcad.FallbackWarning):
        assert srcad.grad(srcad.grad(sine_by_math))(a) == pytest.approx(-math.sin(a))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", srcad.FallbackWarning)
        assert srcad.hessian(cube_by_float)(a) == pytest.approx(6.0 * a)
        assert srcad.hvp(sine_by_math)(a, 2.0) == pytest.approx(-2.0 * math.sin(a))
        third = srcad.grad(srcad.grad(srcad.grad(sine_by_math)))(a)
    assert third == pytest.approx(-math.cos(a))


@srcad.custom_vjp
def sine_filled(x):
    return np.sin(x)


@sine_filled.defvjp
def sine_filled_vjp(g, ans, x):
    out = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = g[i] * np.cos(x[i])  # (a tensor written into an array the vjp made)
    return out


def test_a_jvp_through_a_vjp_filling_an_array(rng):
    """Found by an attack: the tape's jvp runs the vjp on tensors; its writes into np.zeros
    raised a bare ValueError (an array made outside the recorded context)."""
    x, t = rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 3)
    with pytest.warns(srcad.FallbackWarning):
        value, tangent = srcad.jvp(lambda x: np.sum(sine_filled(x) * x), (x,), (t,))
    assert value == pytest.approx(np.sum(np.sin(x) * x), rel=1e-12)
    assert tangent == pytest.approx(np.sum((np.cos(x) * x + np.sin(x)) * t), rel=1e-12)


@numba.njit
def _twice_cos(x):
    return 2.0 * math.cos(x)


@srcad.custom_vjp
def _twice_sin(x):
    return 2.0 * math.sin(x)


@_twice_sin.defvjp
def _twice_sin_vjp(g, ans, x):
    return g * _twice_cos(x)  # (an njit helper taking a number: found by an attack)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_a_rule_gets_numbers_as_numbers_in_every_mode(mode, rng):
    def f(x):
        return _twice_sin(x) * x
    x = float(rng.uniform(-1, 1))
    assert srcad.grad(f, mode=mode)(x) == pytest.approx(check.numeric_grad(f, [x], 0), rel=1e-7)


@srcad.custom_vjp
def _doubled_in_place(x):
    x *= 2.0
    return x * 1.0


@_doubled_in_place.defvjp
def _doubled_in_place_vjp(g, ans, x):
    return 2.0 * g


@srcad.custom_vjp
def _squared(x):
    return x * x


@_squared.defvjp
def _squared_vjp(g, ans, x):
    x *= 2.0  # (into the caller's array: it changed it)
    return g * x


def test_a_custom_function_writing_into_its_array_argument_is_refused(rng):
    """Found by an attack: the source transform took the function for one that only reads its
    argument, and a write into it was a wrong gradient, silently; a rule writing into the
    argument changed the caller's array. A number updated (`x *= 2.0`
    of a float) is a new binding, not a write; a callable that is not a function is refused when
    decorated (it was an AttributeError later)."""
    def f(x):
        y = x + 0.0
        return np.sum(_doubled_in_place(y)) + np.sum(y ** 2)

    with pytest.raises(srcad.UnsupportedError, match="writes into its argument 'x'"):
        srcad.grad(f, mode="source", jit=False)(rng.random(3))
    x = float(rng.uniform(0.5, 1.5))
    assert srcad.grad(lambda v: _doubled_in_place(v) * v, jit=False)(x) == \
        pytest.approx(4 * x, rel=1e-12)
    with pytest.raises(TypeError, match="decorates a function"):
        srcad.custom_vjp(functools.partial(max, 1.0))
    x = rng.random(3)
    with pytest.raises(srcad.UnsupportedError, match="_squared_vjp writes into its argument"):
        srcad.grad(lambda v: np.sum(_squared(v)), mode="source", jit=False)(x)



def test_a_python_pullback_refuses_to_run_after_what_it_captured_changed(rng, monkeypatch):
    """Found by an attack: a pullback of generated Python read a custom rule's global as it
    was when it ran (30 for 12 here), where compiled code has it as the vjp call read it."""
    x = float(rng.uniform(0.5, 1.5))
    _, pullback = srcad.vjp(lambda v: scaled_by_a_global(v) * v, x, jit=False)
    assert pullback(1.0) == pytest.approx(4 * x, rel=1e-12)
    monkeypatch.setitem(globals(), "CUSTOM_SCALE", 5.0)
    with pytest.raises(srcad.UnsupportedError, match="reads 'CUSTOM_SCALE' as it is now"):
        pullback(1.0)
    _, pullback = srcad.vjp(lambda v: scaled_by_a_global(v) * v, x, jit=False)
    assert pullback(1.0) == pytest.approx(10 * x, rel=1e-12)


@srcad.custom_vjp
def _polar(x, y):
    return math.hypot(x, y), math.atan2(y, x)


@_polar.defvjp
def _polar_vjp(g, ans, x, y):
    (gr, gt), (r, _) = g, ans
    return gr * x / r - gt * y / r ** 2, gr * y / r + gt * x / r ** 2


def test_a_custom_function_of_a_tuple_is_refused_by_what_it_is_and_runs_on_the_tape(rng):
    """Found by an attack: the refusal said 'no derivative rule for polar', which has one."""
    def f(x, y):
        r, t = _polar(x, y)
        return r * math.sin(t) + r ** 2 * t

    x, y = (float(v) for v in rng.uniform(0.5, 1.5, 2))
    with pytest.raises(srcad.UnsupportedError, match="custom_vjp function '_polar' returns a "
                                                     "tuple"):
        srcad.grad(f, wrt=(0, 1), mode="source", jit=False)(x, y)
    with pytest.warns(srcad.FallbackWarning):
        grads = srcad.grad(f, wrt=(0, 1), jit=False)(x, y)
    check.compare(f, (x, y), [0, 1], list(grads), rtol=1e-6, atol=1e-8)


@srcad.custom_vjp
def _product(x, y):
    return x * y


@_product.defvjp
def _product_vjp(g, ans, x, y):
    return [g * y, g * x]  # (a list, not a tuple)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_a_vjp_returning_a_list_of_adjoints_is_taken_in_every_mode(mode, rng):
    """Found by an attack: the tape said it returned 1 adjoint for 2 arguments."""
    x, y = (float(v) for v in rng.uniform(0.5, 1.5, 2))
    grads = srcad.grad(lambda a, b: _product(a, b) * a, wrt=(0, 1), mode=mode, jit=False)(x, y)
    assert grads == (pytest.approx(2 * x * y, rel=1e-12), pytest.approx(x * x, rel=1e-12))


@srcad.custom_vjp
def clipped_cotangent(u):
    return u * 1.0


@clipped_cotangent.defvjp
def clipped_cotangent_vjp(g, ans, u):
    return np.clip(g, -0.01, 0.01)


@clipped_cotangent.defjvp
def clipped_cotangent_jvp(t, ans, u):
    return t


def diffused_with_clipping(u0, D):
    u = u0.copy()
    for _k in range(12):
        lap = np.zeros_like(u)
        lap[1:-1] = u[2:] - 2.0 * u[1:-1] + u[:-2]
        u = clipped_cotangent(np.tanh(u + D * lap))
    return np.sum(u * u)


def test_a_gradient_uses_the_vjp_where_the_jvp_differs(rng):
    """A gradient w.r.t. a stencil's number (whose derivative srcad would carry forward, a jvp)
    calls the vjp, not the jvp (found by an attack, helper-150: the gradient w.r.t. D alone
    was the unclipped jvp's, w.r.t. (u0, D) the vjp's)."""
    u0, D = rng.uniform(-1.0, 1.0, 16), float(rng.uniform(0.1, 0.3))
    on_tape = srcad.grad(diffused_with_clipping, wrt=(0, 1), mode="tape")(u0, D)
    alone = srcad.grad(diffused_with_clipping, wrt=1)(u0, D)
    both = srcad.grad(diffused_with_clipping, wrt=(0, 1))(u0, D)
    assert alone == pytest.approx(on_tape[1], rel=1e-10)
    assert both[1] == pytest.approx(on_tape[1], rel=1e-10)
    np.testing.assert_allclose(both[0], on_tape[0], rtol=1e-10)


@srcad.custom_vjp
def scaled_product(a, b):
    return a * b


@scaled_product.defvjp
def _(g, ans, a, b):  # (the throwaway name a reversed while loop's trip counter had)
    return g * b, g * a


def grows_past_ten(x):
    s = x
    while s < 10.0:
        s = scaled_product(s, 1.5)
    return s


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_a_vjp_named_underscore_in_a_while_loop(jit, rng):
    """(found by an attack, helper-150: the reversed while loop's counter `_` shadowed the vjp
    it called: TypeError 'int' object is not callable)"""
    x = float(rng.uniform(0.5, 0.9))
    trips = math.ceil(math.log(10.0 / x, 1.5))
    assert srcad.grad(grows_past_ten, jit=jit)(x) == pytest.approx(1.5 ** trips, rel=1e-13)


@srcad.custom_vjp
def straight_through(x):
    return np.round(x)


@straight_through.defvjp
def straight_through_vjp(g, ans, x):
    return g


@straight_through.defjvp
def straight_through_jvp(t, ans, x):
    return t


def rounded_products(x):
    return np.sum(straight_through(x) * x * x)


def test_second_derivatives_use_the_rules_of_the_custom_function(jit, rng):
    """(found by an attack: hvp, hessian and grad of grad differentiated a custom function's
    body, np.round, where its value is used in the tangent code: by the rules, whose slope is
    1, the Hessian of sum(round(x) x^2) is 2 round(x) + 4 x; they gave 2 round(x))"""
    x, v = rng.uniform(0.6, 3.0, 4), rng.normal(size=4)
    expected = np.diag(2 * np.round(x) + 4 * x)
    np.testing.assert_allclose(srcad.hessian(rounded_products, jit=jit)(x), expected,
                               rtol=1e-13)
    np.testing.assert_allclose(srcad.hvp(rounded_products, jit=jit)(x, v), expected @ v,
                               rtol=1e-13)
    scalar = lambda s: straight_through(s) * s * s  # noqa: E731
    second = srcad.grad(srcad.grad(scalar, jit=jit), jit=jit)(x[0])
    assert second == pytest.approx(2 * np.round(x[0]) + 4 * x[0], rel=1e-13)


@srcad.custom_vjp
def sine_times(x, s):
    return np.sin(x) * s


@sine_times.defvjp
def sine_times_vjp(g, ans, x, s):
    return g * np.cos(x) * s, 0.0  # (s held constant, by a number)


def squared_sines_times(x, s):
    return np.sum(sine_times(x, s) ** 2)


def test_a_number_as_an_adjoint_in_a_second_derivative_on_the_tape(rng):
    """(found by an attack: with no jvp, hvp and jvp run the vjp on the tape, which raised
    'no derivative for numpy.result_type' where the vjp returned 0.0 for an argument)"""
    x, s, v = rng.normal(size=3), 1.5, rng.normal(size=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", srcad.FallbackWarning)
        hv = srcad.hvp(squared_sines_times)(x, s, v)
        tangent = srcad.jvp(squared_sines_times, (x, s), (v, None))[1]
    np.testing.assert_allclose(hv, 2 * s * s * np.cos(2 * x) * v, rtol=1e-12)
    assert tangent == pytest.approx(np.sum(s * s * np.sin(2 * x) * v), rel=1e-12)


@srcad.custom_vjp
def rounded(x):
    return np.round(x)


@rounded.defvjp
def rounded_vjp(g, ans, x):
    return g * 2.0


def test_an_auto_jacobian_of_a_custom_function_without_a_jvp_compiles_in_reverse(jit, rng):
    """(found by an attack: mode='auto' of a square Jacobian planned forward mode, warned that
    it ran on the tape, then took reverse mode, which compiles)"""
    x = rng.uniform(0.5, 3.0, 3)
    J = srcad.jacobian(lambda v: rounded(v) * v, jit=jit)(x)  # (no FallbackWarning: an error)
    np.testing.assert_allclose(J, np.diag(2.0 * x + np.round(x)), rtol=1e-14)


@srcad.custom_vjp
def line_through(p, x):
    return p[0] * x + p[1]


@line_through.defvjp
def line_through_vjp(g, ans, p, x):
    return (np.sum(g * x) * 2.0, np.sum(g) * 2.0), g * p[0]  # (twice the true slope in p)


def test_a_tuple_argument_of_a_custom_function_gets_the_rules_tuple_on_the_tape(rng):
    """(found by an attack: 'the adjoint of argument 0 has shape (2,), its argument (2,)'; the
    source transform refuses such a function, the tape takes the rule's tuple as its adjoint)"""
    p, x = (1.5, -0.5), rng.normal(size=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", srcad.FallbackWarning)
        gp, gx = srcad.grad(lambda p, x: np.sum(line_through(p, x)), wrt=(0, 1))(p, x)
    np.testing.assert_allclose(gp, [2.0 * np.sum(x), 2.0 * x.size], rtol=1e-14)
    np.testing.assert_allclose(gx, np.full(3, p[0]), rtol=1e-14)
