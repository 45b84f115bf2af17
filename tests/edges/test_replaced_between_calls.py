"""What a derivative was made from, replaced between its calls: a callable object's `__call__`,
a custom_vjp's function or the defaults of its rules, a decorator's wrapped function's defaults.
Every transform follows the change or says it cannot (found by an attack: each of these gave
the numbers of the old function, silently)."""

import functools
import math
import types

import numpy as np
import pytest

import srcad

pytestmark = pytest.mark.filterwarnings("ignore::srcad.FallbackWarning")


def along(f, x, t, eps=1e-6):
    return (f(x + eps * t) - f(x - eps * t)) / (2 * eps)


class Objective:
    def __call__(self, x):
        return np.sum(np.sin(x))


def test_a_callable_objects_replaced_call_is_what_every_transform_differentiates(rng):
    objective = Objective()
    x, v = rng.normal(size=3), rng.normal(size=3)
    derivatives = (srcad.grad(objective), srcad.jacobian(objective, mode="fwd"),
                   srcad.jacobian(objective, mode="rev"), srcad.hessian(objective),
                   srcad.hvp(objective))
    for d in derivatives[:4]:
        d(x)
    derivatives[4](x, v)
    srcad.jvp(objective, (x,), (v,))
    old = Objective.__call__
    try:
        Objective.__call__ = lambda self, x: np.sum(x ** 3)
        grad, jac_fwd, jac_rev, hessian, hvp = derivatives
        np.testing.assert_allclose(grad(x), 3 * x ** 2)
        np.testing.assert_allclose(jac_fwd(x), 3 * x ** 2)
        np.testing.assert_allclose(jac_rev(x), 3 * x ** 2)
        np.testing.assert_allclose(hessian(x), np.diag(6 * x))
        np.testing.assert_allclose(hvp(x, v), 6 * x * v)
        assert srcad.jvp(objective, (x,), (v,))[1] == pytest.approx(along(objective, x, v))
    finally:
        Objective.__call__ = old


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_a_custom_vjps_replaced_function_is_the_one_called(jit, rng):
    @srcad.custom_vjp
    def wave(x):
        return np.sin(x)

    @wave.defvjp
    def wave_vjp(g, ans, x):
        return g * np.cos(x)

    @wave.defjvp
    def wave_jvp(t, ans, x):
        return t * np.cos(x)

    def f(x):
        return wave(x) * x

    x = rng.uniform(0.2, 1.0)
    srcad.value_and_grad(f, jit=jit)(x)
    srcad.jvp(f, (x,), (1.0,), jit=jit)
    wave.fn = lambda x: 3.0 * np.sin(x)  # (the vjp stays: the gradient is the rules')
    value, grad = srcad.value_and_grad(f, jit=jit)(x)
    assert value == pytest.approx(f(x)) == pytest.approx(3.0 * np.sin(x) * x)
    assert grad == pytest.approx(3.0 * np.sin(x) + x * np.cos(x))
    assert srcad.jvp(f, (x,), (1.0,), jit=jit)[0] == pytest.approx(f(x))


def test_replaced_defaults_of_a_custom_vjps_rules_are_used_or_refused(rng):
    """Numba compiles a rule's defaults in: changed, the gradient runs on the tape (with the
    new ones); forward mode, which has no tape, says why it cannot."""
    @srcad.custom_vjp
    def wave(x):
        return np.sin(x)

    @wave.defvjp
    def wave_vjp(g, ans, x, k=1.0):
        return g * np.cos(x) * k

    @wave.defjvp
    def wave_jvp(t, ans, x, k=1.0):
        return t * np.cos(x) * k

    def f(x):
        return wave(x) * x

    x = rng.uniform(0.2, 1.0)
    g = srcad.grad(f)
    assert g(x) == pytest.approx(np.sin(x) + x * np.cos(x))
    srcad.jvp(f, (x,), (1.0,))
    wave_vjp.__defaults__ = wave_jvp.__defaults__ = (3.0,)
    expected = np.sin(x) + 3.0 * x * np.cos(x)
    with pytest.warns(srcad.FallbackWarning, match=r"the defaults \(__defaults__\) of wave_vjp"):
        assert g(x) == pytest.approx(expected)
    assert srcad.grad(f, jit=False)(x) == pytest.approx(expected)
    with pytest.raises(srcad.UnsupportedError, match="defaults"):
        srcad.jvp(f, (x,), (1.0,), mode="source")
    with pytest.warns(srcad.FallbackWarning, match="defaults"):  # (the tape reads them)
        assert srcad.jvp(f, (x,), (1.0,))[1] == pytest.approx(expected)


def test_a_global_named_like_an_attribute_a_rule_reads_is_not_read(rng):
    @srcad.custom_vjp
    def softplus(x):
        return np.log1p(np.exp(x))

    @softplus.defjvp
    def softplus_jvp(t, ans, x):
        return t / (1.0 + np.exp(-x))

    x, t = rng.normal(size=3), rng.normal(size=3)
    globals()["exp"] = np.ones(3)  # (np.exp names `exp`; this global is no value it reads)
    try:
        assert not any(ref.key == "exp" for ref in softplus.captured())
        _, tangent = srcad.jvp(lambda x: np.sum(softplus(x) * x), (x,), (t,))
        assert tangent == pytest.approx(along(lambda x: np.sum(softplus.fn(x) * x), x, t))
    finally:
        del globals()["exp"]


settings = types.ModuleType("settings")  # (a user's module of constants)
settings.SCALE = 2.0


@srcad.custom_vjp
def scaled_square(v):
    return settings.SCALE * v * v


@scaled_square.defvjp
def scaled_square_vjp(g, ans, v):
    return g * 2.0 * settings.SCALE * v


def test_a_changed_attribute_of_a_module_a_custom_vjp_reads_is_seen(rng):
    """Numba compiles `settings.SCALE` into the custom function: changed, the gradient runs
    on the tape with the new value (it kept the first, silently)."""
    x = rng.uniform(0.5, 1.5)
    g = srcad.grad(lambda v: scaled_square(v) * 3.0)
    assert g(x) == pytest.approx(12.0 * x)
    settings.SCALE = 5.0
    try:
        assert g(x) == pytest.approx(30.0 * x)
    finally:
        settings.SCALE = 2.0


def forwarding(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)
    return wrapper


@forwarding
def scaled_cosines(x, a=1.0):
    return np.sum(np.cos(x) * a)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_a_wrappers_call_binds_the_wrapped_functions_current_defaults(jit, rng):
    x = rng.normal(size=3)
    g = srcad.grad(scaled_cosines, jit=jit)
    np.testing.assert_allclose(g(x), -np.sin(x))
    scaled_cosines.__wrapped__.__defaults__ = (4.0,)
    try:
        np.testing.assert_allclose(g(x), -4.0 * np.sin(x))
    finally:
        scaled_cosines.__wrapped__.__defaults__ = (1.0,)
    with pytest.raises(srcad.UnsupportedError, match=r"wrapper\(\*args, \*\*kwargs\)"):
        srcad.jacobian(scaled_cosines)


def cubed_sum(x, *, c=1.5):
    return np.sum(x ** 3 * c)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_jvp_takes_keyword_only_parameters_at_their_defaults(jit, rng):
    x, t = rng.normal(size=3), rng.normal(size=3)
    for c in (1.5, 2.5):
        cubed_sum.__kwdefaults__["c"] = c
        assert srcad.jvp(cubed_sum, (x,), (t,), jit=jit)[1] == \
            pytest.approx(np.sum(3 * c * x ** 2 * t))
    cubed_sum.__kwdefaults__["c"] = 1.5


COUNTER = np.zeros(1)
WEIGHTS = np.array([1.0, 2.0, 3.0])


def counted(x):
    COUNTER[0] += 1.0  # (a running state: each call sees the last one's)
    return x ** 2 * COUNTER[0] * WEIGHTS


def weighted(x):
    return x ** 2 * WEIGHTS  # (reads the global array, writes nothing)


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "python"])
def test_a_jacobian_of_a_function_writing_a_global_array_is_refused(jit, rng):
    """A Jacobian's (Hessian's) columns are runs of the function: each saw the state the one
    before left (found by an attack: numbers that match no call of f)."""
    x = rng.normal(size=3)
    for derivative in (srcad.jacobian(counted, mode="fwd", jit=jit),
                       srcad.jacobian(counted, mode="rev", jit=jit),
                       srcad.hessian(lambda x: np.sum(counted(x)), jit=jit)):
        with pytest.raises(srcad.UnsupportedError, match="writes into an array it reads"):
            derivative(x)
    np.testing.assert_allclose(srcad.jacobian(weighted, jit=jit)(x), np.diag(2 * x * WEIGHTS))
    np.testing.assert_allclose(srcad.hessian(lambda x: np.sum(weighted(x)), jit=jit)(x),
                               np.diag(2 * WEIGHTS))


def times_cube(c, x):
    return c * np.sum(x ** 3)


def times_square(c, x):
    return c * np.sum(x ** 2)


def test_a_partials_replaced_function_and_arguments_are_followed(rng):
    """Found by an attack: partial.__setstate__ replacing the function or the positional
    arguments kept the gradient of the old ones (the fast call path never looked)."""
    x, v = rng.uniform(0.5, 1.5, 3), rng.normal(size=3)
    partial = functools.partial(times_square, 2.0)
    grad, hvp = srcad.grad(partial), srcad.hvp(partial)
    for _ in range(2):  # (the second call takes the fast path)
        np.testing.assert_allclose(grad(x), 4.0 * x)
        np.testing.assert_allclose(srcad.jvp(partial, (x,), (v,))[1], np.dot(4.0 * x, v))
        np.testing.assert_allclose(hvp(x, v), 4.0 * v)
    partial.__setstate__((times_cube, (3.0,), {}, None))
    for _ in range(2):
        np.testing.assert_allclose(grad(x), 9.0 * x ** 2)
        np.testing.assert_allclose(srcad.jvp(partial, (x,), (v,))[1], np.dot(9.0 * x ** 2, v))
        np.testing.assert_allclose(hvp(x, v), 18.0 * x * v)
    partial.__setstate__((np.sum, (), {}, None))
    with pytest.raises(srcad.UnsupportedError, match=r"replaced \(partial.__setstate__\)"):
        grad(x)


def sines(x):
    return np.sum(np.sin(x)) + math.sin(x[0])


@pytest.mark.parametrize("module, name, other", [(np, "sin", np.tanh), (math, "sin", math.cos)])
def test_a_library_function_replaced_between_calls_is_refused(monkeypatch, rng, module, name,
                                                              other):
    # (found by an attack: np.sin = np.tanh after the first call kept sin's value and derivative,
    # in that gradient object and in new ones; the rules call library functions by name)
    x, t = rng.normal(size=3), rng.normal(size=3)
    g, vg = srcad.grad(sines), srcad.value_and_grad(sines)
    for _ in range(2):  # (the second time through the fast path of a repeated call)
        np.testing.assert_allclose(g(x), along_each(sines, x), rtol=1e-6, atol=1e-8)
        vg(x)
    monkeypatch.setattr(module, name, other)
    with pytest.raises(srcad.UnsupportedError, match=f"{module.__name__}.{name} was replaced"):
        srcad.grad(sines, mode="source")(x)
    with pytest.raises(srcad.UnsupportedError, match="was replaced"):
        srcad.jvp(sines, (x,), (t,))
    for derivative in (g, vg, srcad.grad(sines, mode="tape")):  # (the tape too)
        with pytest.raises(srcad.UnsupportedError, match="was replaced"):
            derivative(x)
    monkeypatch.undo()
    np.testing.assert_allclose(g(x), along_each(sines, x), rtol=1e-6, atol=1e-8)


def along_each(f, x):
    return np.array([along(f, x, e) for e in np.eye(x.size)])
