"""Cleanup passes on generated code: what they drop must not change a derivative."""

import math
import re

import numpy as np
import pytest

import srcad


def rk4_energy(x, v, c, k, steps):
    h, total = 0.01, 0.0
    for _ in range(steps):
        k1x, k1v = v, -c * v - k * x ** 3
        x2, v2 = x + 0.5 * h * k1x, v + 0.5 * h * k1v
        k2x, k2v = v2, -c * v2 - k * x2 ** 3
        x3, v3 = x + h * k2x, v + h * k2v
        k3x, k3v = v3, -c * v3 - k * x3 ** 3
        x = x + h / 6.0 * (k1x + 4.0 * k2x + k3x)
        v = v + h / 6.0 * (k1v + 4.0 * k2v + k3v)
        total += x * x
    return total


def rewritten_between(x):
    y = x * 1.0
    t = y[0] * 2.0
    u = t * x[1]
    y[0] = x[2]  # (t = y[0] * 2.0 again is another value now)
    t = y[0] * 2.0
    return u + t * x[1]


def aliased_between(x):
    a = x * 2.0
    b = a
    b[0] = x[1] * x[2]  # (changes a too: a = x * 2.0 again is a new array, b keeps the old)
    a = x * 2.0
    return np.sum(a * b)


def fd(f, x, *rest, eps=1e-6):
    out = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[k] = eps
        out[k] = (f(x + e, *rest) - f(x - e, *rest)) / (2 * eps)
    return out


@pytest.mark.parametrize("fn", [rewritten_between, aliased_between])
def test_a_value_assigned_again_after_what_it_reads_changed_is_recomputed(fn, rng):
    x = rng.normal(size=3)
    for jit in (False, True):
        np.testing.assert_allclose(srcad.grad(fn, jit=jit)(x), fd(fn, x), rtol=1e-7, atol=1e-8)


def test_a_trip_recomputes_each_value_once(rng):
    x, v, c, k = rng.uniform(0.5, 1.0, 4)
    g = srcad.grad(rk4_energy, wrt=(2, 3), jit=False)
    reverse = srcad.source(g, x, v, c, k, 5).split("# reverse sweep")[1]
    # the reverse loop needs x3 (the last stage) for three adjoints; it recomputes it once
    assert len(re.findall(r"^ *x3 = ", reverse, re.MULTILINE)) == 1
    expected = fd(lambda q: rk4_energy(x, v, q[0], q[1], 5), np.array([c, k]))
    np.testing.assert_allclose(g(x, v, c, k, 5), expected, rtol=1e-6)


def layer_rows(params, x, steps):
    """A row of `params` per layer, its slices read elementwise (an LSTM's weights)."""
    h = x.copy()
    total = 0.0
    for _ in range(steps):
        for i in range(params.shape[0] // 2):
            w = params[2 * i]
            bias = params[2 * i + 1]
            h = np.tanh(h * w[:3] + bias[:3]) + w[3:] * bias[3:]
        total += np.sum(h * h)
    return total


def rows_that_may_be_one(params, x):
    """Two rows picked by the trip: on every third trip they are the same row."""
    h = x.copy()
    total = 0.0
    for k in range(5):
        w = params[k % 3]
        v = params[2 * k % 3]
        h = np.tanh(h * w[:2] + v[2:]) + w[2:] * v[:2]
        total += np.sum(h * h)
    return total


def row_then_break(params, x):
    """A loop that leaves between a row's use and the next trip."""
    total = 0.0
    for i in range(params.shape[0]):
        w = params[i]
        total += np.sum(w * w * x)
        if total > 2.0:
            break
        total = total * 0.5
    return total


def row_of_a_rewritten_array(params, x):
    """`q` is written after its row is read: its adjoint is read between."""
    q = params * 1.0
    total = 0.0
    for i in range(q.shape[0] - 1):
        w = q[i]
        total += np.sum(np.cos(w) * x)
        q[i + 1] = q[i + 1] + w * 0.5
    return total


def _grad_fd(fn, params, rest):
    return fd(lambda p: fn(p, *rest), params)


@pytest.mark.parametrize("fn, make", [
    (layer_rows, lambda rng: (rng.normal(size=(4, 6)), (rng.normal(size=3), 3))),
    (rows_that_may_be_one, lambda rng: (rng.normal(size=(3, 4)), (rng.normal(size=2),))),
    (row_then_break, lambda rng: (rng.uniform(0.2, 0.7, size=(6, 3)),
                                  (rng.uniform(0.5, 1.0, 3),))),
    (row_of_a_rewritten_array, lambda rng: (rng.normal(size=(4, 3)), (rng.normal(size=3),))),
])
def test_a_rows_adjoint_summed_where_it_ends_up_keeps_the_gradient(fn, make, rng):
    params, rest = make(rng)
    expected = _grad_fd(fn, params, rest)
    for jit in (False, True):
        np.testing.assert_allclose(srcad.grad(fn, jit=jit)(params, *rest), expected,
                                   rtol=1e-6, atol=1e-8)


def test_a_rows_adjoint_is_a_view_of_the_arrays_adjoint(rng):
    params, (x, steps) = rng.normal(size=(4, 6)), (rng.normal(size=3), 2)
    reverse = srcad.source(srcad.grad(layer_rows), params, x, steps).split("# reverse sweep")[1]
    assert re.search(r"^ *bw = bparams\[2 \* i\]$", reverse, re.MULTILINE)
    assert re.search(r"^ *bbias = bparams\[2 \* i \+ 1\]$", reverse, re.MULTILINE)
    assert "+= bw\n" not in reverse and "+= bbias\n" not in reverse


def rotated(x, y, theta):
    c = math.cos(theta)
    s = math.sin(theta)
    u = (c * x - s * y) / (1.0 + theta * theta)
    return u * u + s * np.exp(y)


def sines_of_changing_values(x, n):
    s = math.sin(x)
    total = s
    x = x * 2.0  # (np.sin(x) is another value from here)
    total += np.sin(x)
    for _ in range(n):
        x = x + 1.0  # (and in each trip)
        total += np.sin(x) * s
    return total + math.sin(x)


def test_a_function_called_again_on_the_same_number_is_called_once(rng):
    """The tangent of cos(t) calls sin(t), which the primal computes next: the code calls each
    once; the tangent of a quotient divides once."""
    x, y, theta = rng.normal(size=3)
    text = srcad.source(srcad.jvp, rotated, (x, y, theta), (1.0, 1.0, 1.0))
    assert text.count("sin(") == 1 and text.count("cos(") == 1, text
    assert text.count(" / ") == 2, text  # (u's value and u's tangent)
    eps = 1e-6
    for jit in (False, True):
        for t in rng.normal(size=(3, 3)):
            _, tangent = srcad.jvp(rotated, (x, y, theta), tuple(t), jit=jit)
            fd_ = (rotated(*((x, y, theta) + eps * t)) - rotated(*((x, y, theta) - eps * t)))
            assert tangent == pytest.approx(fd_ / (2 * eps), rel=1e-6)
        grads = srcad.grad(rotated, wrt=(0, 1, 2), jit=jit)(x, y, theta)
        assert np.allclose(grads, [fd(lambda v: rotated(*v), np.array([x, y, theta]))[k]
                                   for k in range(3)], rtol=1e-6)


def test_a_call_on_a_value_written_since_is_not_reused(rng):
    x = rng.normal()
    expected = (sines_of_changing_values(x + 1e-6, 3) - sines_of_changing_values(x - 1e-6, 3)) \
        / 2e-6
    for jit in (False, True):
        assert srcad.grad(sines_of_changing_values, jit=jit)(x, 3) == pytest.approx(expected,
                                                                                   rel=1e-6)
        assert srcad.jvp(sines_of_changing_values, (x, 3), (1.0, None), jit=jit)[1] == \
            pytest.approx(expected, rel=1e-6)


def newton_roots(a, b):
    s = 0.0
    for i in range(a.shape[0]):
        z, dz = 1.0, 1.0
        while abs(dz) > 1e-12:
            dz = (z * z * z + a[i] * z - b[i]) / (3.0 * z * z + a[i])
            z = z - dz
        s += z * z / (1.0 + a[i])
    return s


def test_the_adjoints_of_a_quotient_share_one_reciprocal_of_its_denominator(rng):
    """x / y's adjoints (g / y, -g * ans / y) multiply by 1 / y, computed once, so no division
    sits on the chain of adjoints the loop carries from trip to trip."""
    a, b = rng.uniform(0.5, 2.0, 6), rng.uniform(-3.0, 3.0, 6)
    text = srcad.source(srcad.grad(newton_roots, wrt=(0, 1)), a, b)
    code = "\n".join(line for line in text.splitlines() if not line.strip().startswith("#"))
    assert code.count(" / ") == 4 and code.count("1.0 / ") == 2, text  # (and the primal's two)
    for jit in (False, True):
        ga, gb = srcad.grad(newton_roots, wrt=(0, 1), jit=jit)(a, b)
        np.testing.assert_allclose(ga, fd(newton_roots, a, b), rtol=1e-6)
        np.testing.assert_allclose(gb, fd(lambda v: newton_roots(a, v), b), rtol=1e-6)
