"""Mixed mode (transforms/mixed.py): a gradient whose reverse sweep would save arrays on every
trip only because of the float numbers it differentiates takes their derivatives forward, by a
jvp along each. Every gradient against finite differences; where mixed mode must not be used
(the function draws random numbers, prints, writes into its arguments, or its arrays' gradient
saves arrays anyway) the generated code is checked to be the plain reverse one."""

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import srcad
from srcad import check

SRCAD_ROOT = os.path.dirname(os.path.dirname(srcad.__file__))


def heat(u0, kappa, steps):  # (linear in u: only kappa's adjoint needs the grids)
    u = u0.copy()
    for _ in range(steps):
        lap = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4.0 * u[1:-1, 1:-1]
        u[1:-1, 1:-1] = u[1:-1, 1:-1] + kappa * lap
    return 0.5 * np.sum(u * u)


def two_rates(x0, a, b, steps):
    x = x0.copy()
    for _ in range(steps):
        d = x[1:] - x[:-1]
        x[1:] = x[1:] - a * d
        x[:-1] = x[:-1] + b * d
    return np.sum(x ** 3)


def damped(x, params, rate, steps):  # (a dict of arrays before the number)
    y = x + params["w"]
    for _ in range(steps):
        y[1:] = y[1:] - rate * (y[1:] - y[:-1])
    return np.sum(y * y * params["v"])


def field(u0, kappa, steps):  # (an array output: its vjp)
    u = u0.copy()
    for _ in range(steps):
        u[1:-1] = u[1:-1] + kappa * (u[:-2] - 2.0 * u[1:-1] + u[2:])
    return u


def nonlinear(u0, kappa, steps):  # (tanh' needs each step's Laplacian whatever is differentiated)
    u = u0.copy()
    for _ in range(steps):
        lap = u[:-2] - 2.0 * u[1:-1] + u[2:]
        u[1:-1] = u[1:-1] + kappa * np.tanh(lap)
    return np.sum(u * u)


def writes_its_argument(u, kappa, steps):
    for _ in range(steps):
        u[1:-1] = u[1:-1] + kappa * (u[:-2] - 2.0 * u[1:-1] + u[2:])
    return np.sum(u * u)


def draws(u0, kappa, steps):  # (run twice, it would draw other numbers)
    u = u0.copy()
    for _ in range(steps):
        rate = kappa * float(np.random.rand())
        u[1:-1] = u[1:-1] + rate * (u[:-2] - 2.0 * u[1:-1] + u[2:])
    return np.sum(u * u)


WEIGHTS = np.linspace(0.5, 1.5, 7)
weighted_jvp = np.linspace(-1.0, 1.0, 7)  # (data named like the jvp srcad generates)


def weighted(u0, kappa, steps):  # (reads two global arrays: both passed as arguments)
    u = u0.copy()
    for _ in range(steps):
        u[1:-1] = u[1:-1] + kappa * WEIGHTS[1:-1] * (u[:-2] - 2.0 * u[1:-1] + u[2:])
    return np.sum(u * u * weighted_jvp)


def clashing_names(_value, _t0, _g0, steps):  # (its parameters named like the caller's locals)
    u = _value.copy()
    for _ in range(steps):
        u[1:-1] = u[1:-1] + _t0 * (u[:-2] - 2.0 * u[1:-1] + u[2:]) + _g0 * u[1:-1]
    return np.sum(u * u)


def indexed(u0, kappa, steps, i):
    u = u0.copy()
    for _ in range(steps):
        u[1:-1] = u[1:-1] + kappa * (u[:-2] - 2.0 * u[1:-1] + u[2:])
    return u[i] * u[i]


def _is_mixed(source):
    return re.search(r"= \w+_jvp_*\(", source) is not None


def _args(fn, rng):
    steps = 4
    if fn is heat:
        return (rng.standard_normal((6, 5)), 0.15, steps)
    if fn is two_rates:
        return (rng.standard_normal(7), 0.2, 0.1, steps)
    if fn is damped:
        return (rng.standard_normal(5), {"w": rng.uniform(0.5, 1.0, 5),
                                         "v": rng.standard_normal(5)}, 0.3, steps)
    if fn is clashing_names:
        return (rng.standard_normal(7), 0.2, 0.05, steps)
    return (rng.standard_normal(7), 0.2, steps)


MIXED = [(heat, (0, 1)), (heat, (1, 0)), (heat, (1,)), (two_rates, (0, 1, 2)),
         (two_rates, (2, 0)), (two_rates, (1, 2)), (weighted, (0, 1)),
         (clashing_names, (0, 1, 2))]


@pytest.mark.parametrize("fn, wrt", MIXED, ids=lambda c: getattr(c, "__name__", str(c)))
def test_numbers_carried_forward_match_finite_differences(fn, wrt, jit, rng):
    args = _args(fn, rng)
    g = srcad.value_and_grad(fn, wrt=wrt, mode="source", jit=jit)
    value, grads = g(*args)
    np.testing.assert_allclose(value, fn(*args), rtol=1e-12)
    check.compare(fn, args, wrt, grads, rtol=1e-6, atol=1e-8)
    assert _is_mixed(srcad.source(g, *args))


def test_a_dict_of_arrays_beside_a_number(rng):
    args = _args(damped, rng)
    for wrt in ((0, 1, 2), (2, 1)):
        g = srcad.value_and_grad(damped, wrt=wrt, mode="source")
        _, grads = g(*args)
        assert _is_mixed(srcad.source(g, *args))
        for index, grad in zip(wrt, grads, strict=True):
            if index == 1:
                for key in ("w", "v"):
                    def of_leaf(leaf, key=key):
                        return damped(args[0], {**args[1], key: leaf}, *args[2:])
                    check.compare(of_leaf, (args[1][key],), [0], [grad[key]])
            else:
                check.compare(damped, args, [index], [grad])


def test_the_vjp_of_an_array_output(rng):
    u0, kappa, steps = rng.standard_normal(7), 0.2, 4
    cotangent = rng.standard_normal(7)
    _, pullback = srcad.vjp(field, u0, kappa, steps, wrt=(0, 1), mode="source")
    g_u, g_kappa = pullback(cotangent)

    def projected(u0, kappa, steps):
        return np.dot(field(u0, kappa, steps), cotangent)
    check.compare(projected, (u0, kappa, steps), [0, 1], [g_u, g_kappa])


@pytest.mark.parametrize("fn", [nonlinear, writes_its_argument, draws],
                         ids=lambda f: f.__name__)
def test_reverse_mode_where_forward_does_not_pay_or_is_not_safe(fn, rng):
    args = _args(fn, rng)
    g = srcad.grad(fn, wrt=(0, 1), mode="source")
    assert not _is_mixed(srcad.source(g, *args))
    if fn is not draws:
        check.compare(fn, args, [0, 1], g(*[a.copy() if isinstance(a, np.ndarray) else a
                                             for a in args]))


def test_float32_arguments_keep_reverse_mode(rng):
    u0 = rng.standard_normal((6, 5)).astype(np.float32)
    g = srcad.grad(heat, wrt=(0, 1), mode="source")
    g_u, g_kappa = g(u0, np.float32(0.15), 4)
    expected = srcad.grad(heat, wrt=(0, 1), mode="tape")(u0.astype(float), 0.15, 4)
    np.testing.assert_allclose(g_u, expected[0], rtol=1e-4)
    np.testing.assert_allclose(g_kappa, expected[1], rtol=1e-4)


def test_an_index_error_names_the_users_line(jit, rng):
    with pytest.raises(IndexError, match=r"out of bounds .*\(u\[i\] at test_mixed.py:\d+\)"):
        srcad.grad(indexed, wrt=(0, 1), mode="source", jit=jit)(rng.standard_normal(7), 0.2,
                                                                   3, 9)


def test_explain_says_which_numbers_are_carried_forward(rng):
    # (weighted's gradient is mixed only when it assumes its arrays' shapes, as a call's first
    # attempt does: explain did not, and said nothing; found by an attack)
    for fn in (heat, weighted):
        text = srcad.explain(srcad.grad(fn, wrt=(0, 1)), *_args(fn, rng))
        assert "kappa: derivative carried forward (a jvp along it)" in text, text
    text = srcad.explain(srcad.grad(two_rates, wrt=(0, 1, 2)), *_args(two_rates, rng))
    assert "a, b: derivatives carried forward (a jvp along each)" in text, text


def three_rates(x0, a, b, c, steps):
    x = x0.copy()
    for _ in range(steps):
        x[1:] = x[1:] - a * (x[1:] - x[:-1]) + b * x[:-1] - c * x[1:]
    return np.sum(x ** 2)


def test_three_numbers_stay_in_reverse_mode(rng):
    # (three jvps, each recomputing the whole function, cost more than the saves they replace)
    args = (rng.standard_normal(6), 0.2, 0.1, 0.05, 3)
    g = srcad.grad(three_rates, wrt=(1, 2, 3), mode="source")
    assert not _is_mixed(srcad.source(g, *args))
    check.compare(three_rates, args, [1, 2, 3], g(*args))
    g = srcad.grad(three_rates, wrt=(0, 1, 2), mode="source")
    assert _is_mixed(srcad.source(g, *args))
    check.compare(three_rates, args, [0, 1, 2], g(*args))


def test_second_derivatives_through_a_mixed_gradient(rng):
    u0, kappa, steps = _args(heat, rng)
    second = srcad.hessian(heat, wrt=1)(u0, kappa, steps)

    def kappa_derivative(k):
        return srcad.grad(heat, wrt=1, mode="tape")(u0, k, steps)
    np.testing.assert_allclose(second, check.numeric_grad(kappa_derivative, (kappa,), 0),
                               rtol=1e-5)
    v = rng.standard_normal(u0.shape)
    hv = srcad.hvp(heat)(u0, kappa, steps, v)

    def u_gradient(u):
        return srcad.grad(heat, mode="tape")(u, kappa, steps)
    h = 1e-6
    np.testing.assert_allclose(hv, (u_gradient(u0 + h * v) - u_gradient(u0 - h * v)) / (2 * h),
                               rtol=1e-5, atol=1e-7)


SCRIPT = textwrap.dedent("""
    import numpy as np, srcad, model
    g = srcad.grad(model.heat, wrt=(0, 1), cache=True)
    u0 = np.sin(np.arange(30.0)).reshape(6, 5)
    g_u, g_kappa = g(u0, 0.15, 4)
    print(repr(float(g_u.sum())), repr(float(g_kappa)))
    print(sum(g._last.call.stats.cache_hits.values()))
""")


def test_a_later_process_reuses_the_cached_module_and_machine_code(tmp_path):
    (tmp_path / "model.py").write_text("import numpy as np\n\n\n" + textwrap.dedent(
        __import__("inspect").getsource(heat)))
    # (at NUMBA_OPT=0, the tests' level, the caller keeps a dead load of each function it
    # calls, a pointer Numba will not cache; any optimisation removes it)
    env = dict(os.environ, SRCAD_CACHE_DIR=str(tmp_path / "cache"), NUMBA_OPT="1",
               PYTHONPATH=os.pathsep.join([str(tmp_path), SRCAD_ROOT]))
    runs = [subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout.split("\n")
            for _ in range(2)]
    assert runs[0][0] == runs[1][0]
    assert (runs[0][1], runs[1][1]) == ("0", "1"), runs  # (the machine code loaded, not made)
    u0 = np.sin(np.arange(30.0)).reshape(6, 5)
    g_u, g_kappa = srcad.grad(heat, wrt=(0, 1), mode="tape")(u0, 0.15, 4)
    np.testing.assert_allclose([float(x) for x in runs[0][0].split()],
                               [g_u.sum(), g_kappa], rtol=1e-12)
