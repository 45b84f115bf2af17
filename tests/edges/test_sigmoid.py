"""`1 / (1 + exp(-z))` is computed as written but differentiated through its result alone
(runtime.sigmoid): the same values bit for bit, float32 kept, a saturated sigmoid's derivative
0 (the three-step chain gave 0 * inf = nan), and a loop keeps one value per trip."""

import math

import numpy as np

import srcad
from srcad import check


def gates(x, w):
    s = 0.0
    h = x.copy()
    for t in range(w.shape[0]):
        g = 1.0 / (1.0 + np.exp(-(h * w[t])))
        h = h * g
        s += np.sum(g)
    return s + np.sum(h)


def scalar_gate(a, b):
    return a * (1 / (math.exp(-(a * b)) + 1))


def saturated(x):
    return np.sum(1.0 / (1.0 + np.exp(-x)))


def test_gates_in_a_loop(jit, rng):
    args = (rng.standard_normal(4), rng.standard_normal((3, 4)))
    check.compare(gates, args, [0, 1], srcad.grad(gates, wrt=(0, 1), mode="source",
                                                  jit=jit)(*args))


def test_the_loop_keeps_the_gate_only():
    text = srcad.source(srcad.grad(gates, mode="source"), np.ones(4), np.ones((3, 4)))
    assert "rt.sigmoid(" in text
    assert "np.exp" not in text.split("# reverse sweep")[0], text


def test_scalar_with_math_exp(jit):
    g = srcad.value_and_grad(scalar_gate, wrt=(0, 1), mode="source", jit=jit)
    assert "rt.sigmoid_math(" in srcad.source(g, 0.7, -1.3)
    value, grads = g(0.7, -1.3)
    assert value == scalar_gate(0.7, -1.3)
    check.compare(scalar_gate, (0.7, -1.3), [0, 1], grads)


def test_values_are_numpys_and_float32_stays_float32(jit):
    x = np.linspace(-5.0, 5.0, 7, dtype=np.float32)
    value, grad = srcad.value_and_grad(saturated, mode="source", jit=jit)(x)
    assert value == saturated(x)
    assert grad.dtype == np.float32
    s = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    np.testing.assert_allclose(grad, s * (1.0 - s), rtol=1e-5)


def test_a_saturated_sigmoid_has_derivative_zero(jit):
    x = np.array([-800.0, -30.0, 0.0, 800.0])
    with np.errstate(over="ignore"):
        grad = srcad.grad(saturated, mode="source", jit=jit)(x)
    np.testing.assert_allclose(grad, [0.0, math.exp(-30.0) / (1 + math.exp(-30.0)) ** 2,
                                      0.25, 0.0], rtol=1e-12, atol=0)
