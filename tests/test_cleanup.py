"""Cleanup passes on generated code: what they drop must not change a derivative."""

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
    for k in range(x.size):
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
