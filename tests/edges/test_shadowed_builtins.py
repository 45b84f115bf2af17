"""A user's name for a builtin the generated code calls (len, range, max): a local, a parameter,
a global of the function's module or of a helper's. Found by an attack: the generated code
called the user's function (wrong numbers, silently) or number (an internal error); such a
name is now renamed in the generated code."""

import importlib.util
import textwrap

import numpy as np
import pytest

import srcad
from srcad import check


def local_len(x):
    len = 2.0
    s = 0.0
    for i in np.arange(x.shape[0]):
        s += x[i] * len
    return s


def parameter_range_local_max(x, range):
    max = range * 0.5
    d = x[1:] - x[:-1]
    return np.sum(d * d) * max


def global_len(x):
    s = 0.0
    for i in np.arange(x.shape[0]):
        s += x[i] * x[i]
    return s * len(x)


def global_max(x):
    d = x[1:] - x[:-1]
    return np.sum(d * d) + max(x[0], x[1])


def two(a):
    return 2


def smaller(a, b):
    return a if a < b else b


HELPER = textwrap.dedent("""
    import numpy as np

    def len(a):
        return 2

    def max(a, b):
        return a if a < b else b

    def helper(x):
        d = x[1:] - x[:-1]
        return np.sum(d * d) * len(x) + max(x[0], x[1])
""")


def _module(tmp_path, name, text):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _checked(fn, x, jit, *rest):
    grad = srcad.grad(fn, mode="source", jit=jit)(x, *rest)
    check.compare(fn, (x, *rest), [0], [grad], rtol=1e-6, atol=1e-8)
    t = np.linspace(-1.0, 1.0, x.size)
    value, tangent = srcad.jvp(fn, (x, *rest), (t, *(None for _ in rest)), jit=jit)
    assert value == pytest.approx(fn(x, *rest))
    assert tangent == pytest.approx(check.along(fn, (x, *rest), (t, *(None for _ in rest))),
                                    rel=1e-6)


@pytest.mark.parametrize("jit", [False, True])
def test_a_local_or_parameter_named_like_a_builtin(jit, rng):
    x = rng.uniform(0.5, 1.5, 4)
    _checked(local_len, x, jit)
    _checked(parameter_range_local_max, x, jit, 3.0)


def test_a_modules_own_len_and_max(monkeypatch, rng, tmp_path):
    x = np.array([0.5, 1.0, 1.5, 0.7])
    monkeypatch.setitem(global_len.__globals__, "len", two)
    monkeypatch.setitem(global_len.__globals__, "max", smaller)
    _checked(global_len, rng.uniform(0.5, 1.5, 4), False)
    _checked(global_max, x, False)
    monkeypatch.undo()
    helper = _module(tmp_path, "shadowing_helper", HELPER).helper

    def calls_helper(x):
        s = 0.0
        for i in np.arange(x.shape[0]):
            s += x[i] * x[i]
        return s + helper(x)

    _checked(calls_helper, x, False)


SHADOWED_LATER = textwrap.dedent("""
    import numpy as np

    def through_abs(x):
        return np.sum(abs(x) * x)

    def through_pow(x):
        return np.sum(pow(x, 2))
""")


def test_a_builtin_shadowed_after_the_gradient_was_made(tmp_path, rng):
    """(found by an attack: a module's `abs = ...` defined after the gradient of a function
    calling abs was made left the gradient of the builtin, value and all, also from the disk
    cache in another process: normalize writes abs as np.abs, so no check saw the name)"""
    module = _module(tmp_path, "shadowed_later", SHADOWED_LATER)
    x = rng.uniform(-1.0, 1.0, 3)
    grads = {name: srcad.value_and_grad(getattr(module, name))
             for name in ("through_abs", "through_pow")}
    for g in grads.values():
        g(x)
    module.abs = lambda v: v * v
    module.pow = lambda a, b: a ** 3
    for name, g in grads.items():
        value, grad = g(x)
        assert value == pytest.approx(np.sum(x ** 3), rel=1e-12), name
        np.testing.assert_allclose(grad, 3 * x ** 2, rtol=1e-12, err_msg=name)
